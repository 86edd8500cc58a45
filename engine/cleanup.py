"""Edge cleanup after exact nearest-colour mapping (QGIS-free).

Anti-aliased maps hold pixels that no palette colour represents: blends of two neighbouring fills,
or of a fill and an outline colour that is not in the palette. Their exact nearest palette colour is
often a third class found nowhere near them on the map. ``clean_seams`` gives such pixels the class
of their neighbourhood that best explains them; ``sieve`` removes regions smaller than a number of
pixels. Both only ever assign a class present around a pixel, never change a nodata pixel and never
count one as a neighbour.

Both work on a window: a block plus ``margin(method, ...)`` pixels on every side, clipped at the
raster's edges. A block pixel's result depends only on the window within that margin of it, so
cropping the block out of the result gives the same classes whatever the block boundaries.
"""

from threading import Lock

import numpy as np

from .metrics import METRIC_SPACES, REGISTRY
from .nearest import OPAQUE, pack_rgb, unpack_rgb
from .runs import RunFinder, flatnonzero_sparse, pixels_of_runs

#: The CLEANUP choices, in the order of the enum.
METHODS = ("none", "seams", "sieve")

#: Colour difference (CIELAB delta E, CIE76, whatever the metric) up to which a pixel inside a
#: region of its class counts as well represented by its palette colour. One unit for every metric:
#: RGB distances run about twice as large as delta E, so no single default would fit both.
DEFAULT_SEAM_TOLERANCE = 5.0
#: Seam pixels take a class found within this many pixels (a square window).
DEFAULT_SEAM_RADIUS = 2
#: A seam pixel is a mix of two neighbouring classes when its premultiplied RGBA colour is within
#: this distance (0-255 units) of their best mix.
DEFAULT_BLEND_TOLERANCE = 6.0
#: As gdal_sieve's defaults: regions under 10 pixels, 4-connected.
DEFAULT_MIN_REGION = 10
DEFAULT_CONNECTEDNESS = 4
#: The settings' ranges. Blocks are read with margins of twice MIN_REGION and seams look at (2 x
#: SEAM_RADIUS + 1)^2 neighbours of each seam pixel: beyond these, a run's time and memory grow
#: without bound (a seam radius of 40: 3 GB on 1.5 megapixels) for nothing a map's edges need.
MIN_REGION_RANGE = (2, 1000)
SEAM_RADIUS_RANGE = (1, 10)

_CROSS = ((-1, 0), (0, -1), (0, 1), (1, 0))
_RING = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
_SIEVE_GROUP = 1 << 18  # pixels of small regions joined at once, and runs paired at once (see sieve)


def margin(method, min_region=DEFAULT_MIN_REGION, radius=DEFAULT_SEAM_RADIUS):
    """Pixels of overlap a block needs on every side for ``method`` to give its pixels the classes
    of a run over the whole raster."""
    if method == "none":
        return 0
    if method == "seams":
        # A seam pixel looks at pixels within radius, whose standing depends on their 4 neighbours.
        # Pixels over a background read the drawing order from seam pixels within _ORDER_RADIUS.
        return max(1, int(radius), _ORDER_RADIUS) + 1
    if method == "sieve":
        # A region under min_region pixels spans less than min_region; whether a region next to it
        # reaches min_region is seen within min_region more.
        return 2 * max(1, int(min_region))
    raise ValueError("unknown cleanup method {!r}; choose one of {}".format(method, ", ".join(METHODS)))


# ----------------------------------------------------------------------------------------- seams

_CHUNK = 1 << 14  # seam pixels whose neighbours are found at once: small temporaries stay in the CPU caches
#: Seam pixels decided at once: a block's in one go on a map (fewer numpy calls, each releasing the
#: GIL for longer: blocks cleaned in two threads wait less for each other), bounded on a scan.
_DECIDED = 1 << 17
_UNSURE_ORDER = 0.05  # shares adding up to one within this for both drawing orders: order unknown
_ORDER_FIT = 0.05  # shares adding up to one within this for one drawing order: a mix over a background
_LEAN_CLEAR = 0.1  # shares this clear about the drawing order and giving one class: no curve fit needed
_ON_LINE = 1.0  # squared distance from the line between two fills within which a pixel is their plain mix
_LOOSE_FIT = 0.15  # within this, a background is retried on the drawing orders' curves
_FEW_CLASSES = 64  # palettes up to this size get a vote column per class, larger ones per class present
_BAND = 1 << 20  # pixels mapped and compared with their palette colour at once: fewer numpy calls (see _DECIDED)
_RUNS_WORTH_IT = 0.25  # more runs per pixel than this: pixels are compared one by one
_ORDER_RADIUS = 4  # over a background, seam pixels this near tell the drawing order of two classes
_ORDER_CLEAR = 16.0  # squared distances to the two orders' curves this far apart: the pixel's own order
_ON_CURVE = 4.0  # squared distance (0-255 units) within which a pixel lies on a drawing order's curve
_RETRIED = 3  # background colours tried on the curves where the least-squares shares rule all out
_CURVE_SAMPLES = np.linspace(0.0, 1.0, 17)  # coverages tried along a curve before Newton steps refine the best


def _seam_offsets(radius):
    """(dy, dx) of the neighbours within ``radius`` and their votes: 40 for the 4 nearest, 28 for the
    diagonal ones, 10 / (ring - 1) (at least 1) for farther rings. Whole numbers, so ties are exact."""
    offsets, weights = [], []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            ring = max(abs(dy), abs(dx))
            if ring == 0:
                continue
            offsets.append((dy, dx))
            weights.append((40 if dy == 0 or dx == 0 else 28) if ring == 1 else max(1, 10 // (ring - 1)))
    return offsets, np.array(weights, dtype=np.float64)


def classes_type(palette_size):
    """The narrowest unsigned type of the classes clean_seams works on: one value above the
    palette's indices is left for no_vote_class."""
    return np.uint8 if palette_size < 256 else np.uint16


def no_vote_class(dtype):
    """The class a neighbour that does not vote reads as (nodata, a seam pixel): the type's largest
    value, above every class, so the lowest class around is a plain minimum."""
    return np.iinfo(dtype).max


def _metric_distance(rgb, palette_rgb, metric):
    """Colour difference under ``metric`` between K colours and K palette colours (K x 3, 0-255)."""
    space, distance = METRIC_SPACES[metric], REGISTRY[metric].distance
    if distance is not None:
        return distance(space(rgb), space(palette_rgb))
    diff = space(rgb) - space(palette_rgb)
    return np.sqrt((diff * diff).sum(axis=1))


def _dot(x, y):
    """Row-wise dot products of two n x 4 arrays: added in the order ``(x * y).sum(axis=1)`` adds them,
    column by column (a reduction over 4 elements is slow in numpy)."""
    return x[:, 0] * y[:, 0] + x[:, 1] * y[:, 1] + x[:, 2] * y[:, 2] + x[:, 3] * y[:, 3]


def _pair_blend(colour, ka, kb, palette4, under4=None):
    """Squared residual and winning class of the best mix of classes ``ka`` and ``kb`` for pixels of
    premultiplied colour ``colour`` (n x 4, see _best_blend), drawn over ``under4`` (premultiplied
    colours, one per pixel; None: transparency); then how much better drawing ``ka`` first fits
    than drawing it second (> 0: first), whether ``ka`` wins if drawn first, whether it wins if
    drawn second, and how far the better order's shares are from adding up to one."""
    ca, cb = palette4[ka], palette4[kb]
    if under4 is not None:  # the colour under both fills is the origin: as transparency is
        colour, ca, cb = colour - under4, ca - under4, cb - under4
    res, lean, a_if_first, a_if_second, misfit = _mix(_dot(colour, ca), _dot(colour, cb), _dot(ca, ca), _dot(cb, cb),
                                                      _dot(ca, cb), _dot(colour, colour))
    return res, np.where(np.where(lean >= 0, a_if_first, a_if_second), ka, kb), lean, a_if_first, a_if_second, misfit


def _mix(pa, pb, aa, bb, ab, pp):
    """_pair_blend's answers but the winner, from the dot products of the pixel (p) and the two
    classes' colours (a, b)."""
    det = np.maximum(aa * bb - ab * ab, 1e-9)
    u = np.clip((pa * bb - pb * ab) / det, 0.0, 1.0)
    v = np.clip((pb * aa - pa * ab) / det, 0.0, 1.0)
    res = pp - 2 * (u * pa + v * pb) + u * u * aa + v * v * bb + 2 * u * v * ab
    a_under = u / np.maximum(1.0 - v, 1e-9)  # a's share if a was drawn first (b's share: v)
    b_under = v / np.maximum(1.0 - u, 1e-9)  # b's share if b was drawn first (a's share: u)
    a_first, b_first = np.abs(a_under + v - 1.0), np.abs(u + b_under - 1.0)
    return res, b_first - a_first, a_under >= v, u >= b_under, np.minimum(a_first, b_first)


def _best_under(rgba4, low, high, palette4, blend_tolerance):
    """For opaque seam pixels between classes ``low`` and ``high``: the palette colour drawn under
    both (the map's background; -1 where none fits) and _pair_blend's answers over it.

    Over an opaque background G a renderer leaves f*f*A + (1 - f)*B + f*(1 - f)*G where A (coverage f)
    was drawn first: with G as the origin the pixel is the transparent case again. The colour
    (other than A and B) over which the pixel is closest to a mix of the two whose shares add up
    to one within _ORDER_FIT for one drawing order, the lower index on ties, counts as G when that
    mix is within ``blend_tolerance``. Every colour is tried at once, in single precision,
    from dot products ((x - g).(y - g) = x.y - x.g - y.g + g.g); the chosen one again exactly.

    Such a mix holds at most 0.28 of G (f * (1 - f) with the shares' slack), so a pixel farther from
    the line through A and B than 0.3 times the farthest colour, plus the tolerance, has no G: most
    pixels of an outline, which a few tests leave out. A pixel within 1 unit of that line is a plain
    mix of A and B (a coast against the background itself): no G is sought for it either."""
    n = len(low)
    under, fit = np.full(n, -1, dtype=np.int64), (np.full(n, np.inf), low.copy(), np.zeros(n), np.zeros(n, dtype=bool),
                                                  np.zeros(n, dtype=bool))
    a, b = palette4[low], palette4[high]
    line = b - a
    offset = rgba4 - a
    along = _dot(offset, line)
    away = _dot(offset, offset) - along * along / np.maximum(_dot(line, line), 1e-9)
    reach = 0.3 * _farthest_from_lines(palette4)[low, high] + blend_tolerance + 0.5
    near = np.flatnonzero((away <= reach * reach) & (away > _ON_LINE))
    if len(near) == 0:
        return under, fit
    found, near_fit = _fit_under(rgba4[near], low[near], high[near], palette4, blend_tolerance,
                                 away[near] > _ON_CURVE)
    under[near] = found
    for kept, new in zip(fit, near_fit):
        kept[near] = new
    return under, fit


_MEMO_BITS = 19  # slots of each memo (see _memo): 22 MB at most (the pair memo), written only where used; the
# hundred-megapixel provinces map meets some 230,000 (colour, two classes) keys, which 2^17 slots kept evicting
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # a key times this, top bits: its slot (Fibonacci hashing)
_MEMOS = {}  # the memos of the last palette and blend tolerance asked for (kept, as _PAIR_TABLES)


class _Memo:
    """Answers (arrays of ``dtypes``) for uint64 keys (never 0), in a table of 2^bits slots: each key
    in the slot its hash picks, a newer key taking an older one's, so that a look-up is a few numpy
    steps and memory is bounded. A lock keeps a key and its answers together when threads
    cleaning other blocks look up and add at the same time."""

    def __init__(self, bits, dtypes):
        self.shift = np.uint64(64 - bits)
        self.keys = np.zeros(1 << bits, dtype=np.uint64)  # 0: an empty slot
        self.answers = [np.zeros(1 << bits, dtype=dtype) for dtype in dtypes]
        self.lock = Lock()

    def answer(self, keys, compute):
        """The answers for ``keys``: those held, and ``compute(rows)`` (answers for those rows of
        ``keys``) once for each distinct key missing, kept for next time."""
        slots = (keys * _GOLDEN) >> self.shift
        with self.lock:
            known = self.keys[slots] == keys
            answers = [answer[slots] for answer in self.answers]
        new = np.flatnonzero(~known)
        if len(new):
            fresh, first, again = np.unique(keys[new], return_index=True, return_inverse=True)
            computed = compute(new[first])
            for kept, answer in zip(answers, computed):
                kept[new] = answer[again]
            slots, first = np.unique(slots[new[first]], return_index=True)  # one key per slot
            with self.lock:
                self.keys[slots] = fresh[first]
                for kept, answer in zip(self.answers, computed):
                    kept[slots] = answer[first]
        return answers


def forget_remembered_fits():
    """Drop what seams remembered of earlier runs (see _memo): a benchmark times each run as a
    session's first, which a later run with the same palette would otherwise beat."""
    _MEMOS.clear()


def _memo(kind, palette4, blend_tolerance, dtypes):
    """The memo of ``kind`` for this palette and blend tolerance (dropping those of any other).

    What is remembered must depend on nothing but its key (a pixel's packed code and two classes):
    every step works row by row, so remembered answers are those a new batch would give."""
    name = (palette4.tobytes(), blend_tolerance)
    memos = _MEMOS.get(name)
    if memos is None:
        memos = {}
        _MEMOS.clear()
        _MEMOS[name] = memos
    memo = memos.get(kind)
    if memo is None:
        memo = memos.setdefault(kind, _Memo(_MEMO_BITS, dtypes))
    return memo


def _key(codes, first, second):
    """uint64 keys of packed codes and two classes (< 65536), never 0 where the classes differ."""
    return (codes.astype(np.uint64) << np.uint64(32)) | (first.astype(np.int64) << 16 | second).astype(np.uint64)


def _may_mix(rgb, alpha, palette_rgb, blend_tolerance):
    """False for pixels (colours ``rgb``, n x 3, and ``alpha``, whole numbers 0-255, not
    premultiplied) that no mix of palette colours explains within ``blend_tolerance``: an exact
    test of this would be _pair_fits itself, for every two classes; this one is a bound, the same
    for any two.

    A mix of two palette colours over transparency (u*A + v*B, premultiplied, within the tolerance
    t) has the colour of a point M of the segment AB give or take (|M| + 255) * t / alpha, |M| the
    distance of M's colour from black (at most 255 * sqrt(3)): at most 697 * t / alpha. A mix over
    a background colour (opaque, see _best_under) is a combination of three palette colours whose
    weights add up to one, none below -_ORDER_FIT, give or take t (or a point of a drawing order's
    curve, give or take its sqrt(_ON_CURVE)). Either lies within the
    range of the palette's colours along any direction, widened by those margins: tested along
    the red, green and blue axes and brightness, which leave out dark outlines between light fills."""
    palette_rgb = np.asarray(palette_rgb, dtype=np.float64)
    # Along red, green, blue and (1, 1, 1) (the sum of the channels: sqrt(3) times the distance).
    red, green, blue = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    values = (red, green, blue, red + green + blue)
    palette_values = np.column_stack([palette_rgb, palette_rgb.sum(axis=1)])
    lengths = (1.0, 1.0, 1.0, 3 ** 0.5)
    # The margins depend on alpha alone: worked out for its 256 values, then looked up per pixel.
    alphas = np.arange(256.0)
    over_transparency = np.full(256, np.inf)
    np.divide(697.0 * blend_tolerance, alphas, out=over_transparency, where=alphas > 0)
    alpha = np.asarray(alpha).astype(np.intp)
    inside = np.ones(len(alpha), dtype=bool)
    # Element-wise on purpose: a matrix product would wake BLAS threads, which spin for the CPU
    # that the other block's cleaning needs. The margin over a background is granted to every
    # pixel: wider than need be for some partly transparent ones, never narrower.
    for value, low, high, length in zip(values, palette_values.min(axis=0), palette_values.max(axis=0), lengths):
        over_background = _ORDER_FIT * (high - low) + length * max(blend_tolerance, _ON_CURVE ** 0.5)
        margin = np.maximum(length * over_transparency, over_background)
        margin += (high - low) / 2 + length  # length: rounding
        inside &= np.abs(value - (high + low) / 2) <= margin[alpha]
    return inside


def _pair_fits(codes, rgba4, low, high, palette4, blend_tolerance):
    """For seam pixels of packed ``codes`` (premultiplied ``rgba4``) and two classes each, ``low``
    and ``high``: the squared residual and winning class of their best mix, how much better
    drawing ``low`` first fits (> 0: first), whether ``low`` wins if drawn first, whether it wins if
    drawn second, and the background colour under both (-1: transparency), see _pair_blend.

    Opaque pixels of a legend may be such mixes over a background colour (see _best_under): the
    closer fit explains them (every entry is tried as the background, which in a large palette
    would fit by chance). Each distinct (code, low, high) is computed once for the last palette and
    tolerance asked for: on the hundred-megapixel provinces map with outlines a triple is looked
    up some four times. (The float32 matrix product in _fit_under multiplies and adds whole numbers
    below 2^24, so exactly, whatever the batch.)"""
    def compute(rows):
        colour, a, b = rgba4[rows], low[rows], high[rows]
        residual, winner, lean, a_if_first, a_if_second = _pair_blend(colour, a, b, palette4)[:5]
        under = np.full(len(rows), -1, dtype=np.int64)
        opaque = np.flatnonzero(colour[:, 3] == 255) if len(palette4) <= _FEW_CLASSES else ()
        if len(opaque):
            found, fit = _best_under(colour[opaque], a[opaque], b[opaque], palette4, blend_tolerance)
            better = (found >= 0) & ((residual[opaque] > blend_tolerance * blend_tolerance) |
                                     (fit[0] < residual[opaque]))
            kept = opaque[better]
            under[kept] = found[better]
            for answer, new in zip((residual, winner, lean, a_if_first, a_if_second), fit):
                answer[kept] = new[better]
        return residual, winner, lean, a_if_first, a_if_second, under

    return _memo("pair", palette4, blend_tolerance, (np.float64, np.int64, np.float64, bool, bool, np.int64)
                 ).answer(_key(codes, low, high), compute)


def _own_mixes(codes, rgba4, own, other, palette4, blend_tolerance):
    """Whether seam pixels of packed ``codes`` are mixes of their own class and ``other`` covered
    mostly by their own (see _choose), once per distinct (code, own, other) for the last palette
    and tolerance asked for: on 80 megapixels of the provinces map 163 of the 277,386 pixels tested
    are, and about five pixels share each triple."""
    def compute(rows):
        residual, blend_class = _pair_blend(rgba4[rows], own[rows], other[rows], palette4)[:2]
        return ((residual <= blend_tolerance * blend_tolerance) & (blend_class == own[rows]),)

    return _memo("own", palette4, blend_tolerance, (bool,)).answer(_key(codes, own, other), compute)[0]


_FARTHEST = {}


def _farthest_from_lines(palette4):
    """For every two palette colours, how far the farthest palette colour is from the line through
    them (N x N, for palettes of up to _FEW_CLASSES colours; the last palette asked for is kept)."""
    key = palette4.tobytes()
    farthest = _FARTHEST.get(key)
    if farthest is None:
        to_g = palette4[None, None, :, :] - palette4[:, None, None, :]
        line = (palette4[None, :, :] - palette4[:, None, :])[:, :, None, :]
        along = (to_g * line).sum(axis=3)
        away = (to_g * to_g).sum(axis=3) - along * along / np.maximum((line * line).sum(axis=3), 1e-9)
        farthest = np.sqrt(np.maximum(away, 0.0).max(axis=2))
        _FARTHEST.clear()
        _FARTHEST[key] = farthest
    return farthest


_PAIR_TABLES = {}


def _pair_tables(palette4):
    """The Gram matrix of the palette colours and, for every two classes (rows low * N + high) and
    background colour g (columns), the dot products aa, bb, ab of the two colours less g and the
    determinant of their 2 x 2 system, in single precision, as _fit_under computed them per pixel
    (the last palette asked for is kept)."""
    key = palette4.tobytes()
    tables = _PAIR_TABLES.get(key)
    if tables is None:
        colours = palette4.astype(np.float32)
        n = len(colours)
        gram = colours @ colours.T
        gg = np.diag(gram)
        low, high = np.repeat(np.arange(n), n), np.tile(np.arange(n), n)
        ag, bg = gram[low], gram[high]
        aa = gram[low, low][:, None] + gg - 2 * ag
        bb = gram[high, high][:, None] + gg - 2 * bg
        ab = gram[low, high][:, None] + gg - ag - bg
        tables = (gram, aa, bb, ab, np.maximum(aa * bb - ab * ab, 1e-3))
        _PAIR_TABLES.clear()
        _PAIR_TABLES[key] = tables
    return tables


def _fit_under(rgba4, low, high, palette4, blend_tolerance, off_line):
    """_best_under for pixels that may have a background (``off_line``: not a plain mix of the two,
    which any background would explain)."""
    colours, pixels = palette4.astype(np.float32), rgba4.astype(np.float32)
    gram, pair_aa, pair_bb, pair_ab, pair_det = _pair_tables(palette4)
    gg = np.diag(gram)
    pg, ag, bg = pixels @ colours.T, gram[low], gram[high]
    pa = _dot(pixels, colours[low])[:, None] + gg - pg - ag
    pb = _dot(pixels, colours[high])[:, None] + gg - pg - bg
    pair = low * len(colours) + high
    aa, bb, ab, det = pair_aa[pair], pair_bb[pair], pair_ab[pair], pair_det[pair]
    pp = _dot(pixels, pixels)[:, None] + gg - 2 * pg
    u = np.clip((pa * bb - pb * ab) / det, 0.0, 1.0)
    v = np.clip((pb * aa - pa * ab) / det, 0.0, 1.0)
    res = pp - 2 * (u * pa + v * pb) + u * u * aa + v * v * bb + 2 * u * v * ab
    a_under = u / np.maximum(1.0 - v, 1e-6)
    b_under = v / np.maximum(1.0 - u, 1e-6)
    misfit = np.minimum(np.abs(a_under + v - 1.0), np.abs(u + b_under - 1.0))
    rows = np.arange(len(low))
    res[rows, low] = res[rows, high] = np.inf
    loose = np.where(misfit <= _LOOSE_FIT, res, np.inf)  # shares near adding up to one
    res[misfit > _ORDER_FIT] = np.inf
    under = np.argmin(res, axis=1)
    res, _winner, lean, a_if_first, a_if_second, misfit = fit = _pair_blend(rgba4, low, high, palette4,
                                                                           palette4[under])
    found = (res <= blend_tolerance * blend_tolerance) & (misfit <= _ORDER_FIT) & (under != low) & (under != high)
    # The shares of the least-squares mix are a noisy test of the drawing order where the two orders'
    # curves cross: a pixel lying on either curve over one of the _RETRIED nearest planes' colours
    # has it as background. The curves lie in the planes: none is nearer than its plane's patch.
    retry = np.flatnonzero(~found & off_line & (loose.min(axis=1) <= _ON_CURVE + 1.0))
    if len(retry):
        ranked = np.argsort(loose[retry], axis=1, kind="stable")[:, :_RETRIED]
        row, rank = np.nonzero(loose[retry[:, None], ranked] <= _ON_CURVE + 1.0)  # best ranks first
        colour = ranked[row, rank]
        on_curve = _order_fits(rgba4[retry[row]], low[retry[row]], high[retry[row]], colour, palette4)[1] <= _ON_CURVE
        row, colour = row[on_curve], colour[on_curve]
        row, first = np.unique(row, return_index=True)
        hit = retry[row]
        under[hit] = colour[first]
        found[hit] = True
        again = _pair_blend(rgba4[hit], low[hit], high[hit], palette4, palette4[under[hit]])
        for kept, new in zip(fit, again):
            kept[hit] = new
    return np.where(found, under, -1), fit[:5]


def _best_blend(codes, rgba4, candidates, counts, palette4, blend_tolerance=DEFAULT_BLEND_TOLERANCE):
    """Residual and winning class of the best two-class mix for each pixel.

    ``codes``: packed colours (n); ``rgba4``: premultiplied colour and alpha (n x 4, 0-255);
    ``candidates``: n x m classes, the first ``counts`` of each row in use. Renderers draw polygons
    one after another: where X covers a share x of a pixel and Y, drawn later, a share y, the pixel
    holds y*Y + (1 - y)*x*X (premultiplied, on a transparent background, so alpha < 255 at seams).
    The least-squares weights (u, v) of the two colours give the shares for either drawing order;
    the order whose shares add up closer to one is taken, and the class with the larger share holds
    the pixel's centre. Opaque blends (u + v = 1) come out as plain mixes.
    """
    n, m = candidates.shape
    # Every pair (a < b) of each row's candidates, row by row.
    pair_a, pair_b = np.triu_indices(m, 1)
    rows, pair = np.nonzero(counts[:, None] > pair_b[None, :])
    ka, kb = candidates[rows, pair_a[pair]], candidates[rows, pair_b[pair]]
    res, winner = _pair_fits(codes[rows], rgba4[rows], ka, kb, palette4, blend_tolerance)[:2]

    # The best pair of each row: its smallest residual, the first pair on ties.
    starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
    least = np.minimum.reduceat(res, starts)
    at_least = np.flatnonzero(res <= np.repeat(least, np.diff(np.append(starts, len(rows)))))
    at_least = at_least[np.concatenate(([True], rows[at_least][1:] != rows[at_least][:-1]))]
    return np.sqrt(np.maximum(res[at_least], 0.0)), winner[at_least]


def _drawing_order(around4, low, high, under, palette4, blend_tolerance):
    """+1 where the seam pixels around (k x n x 4, NaN where none) that mix ``low`` and ``high``
    (over palette colour ``under``, or transparency where -1) say ``low`` was drawn first, -1 where
    they say ``high`` was, 0 where they do not tell."""
    k, n = around4.shape[:2]
    rows = np.tile(np.arange(n), k)
    colours = around4.reshape(k * n, 4)
    over = under[rows] >= 0
    # Seam pixels (NaN elsewhere): partly transparent ones over transparency, opaque ones over a colour.
    known = np.where(over, colours[:, 3] == 255, colours[:, 3] < 255)
    under4 = np.where(over[:, None], palette4[under[rows]], 0.0)
    res, _winner, lean = _pair_blend(np.where(known[:, None], colours, 0.0), low[rows],
                                     high[rows], palette4, under4)[:3]
    mixing = known & (np.sqrt(np.maximum(res, 0.0)) <= blend_tolerance)
    # Each says how much better one order fits it: unsure pixels say little, sure ones decide.
    return np.sign(np.bincount(rows[mixing], weights=lean[mixing], minlength=n)).astype(int)


def _curve_fit(aa, ab, bb, ap, bp, pp):
    """Squared distance from pixels p to the colours f*f*a + (1 - f)*b (``a`` drawn with coverage f,
    then ``b`` with coverage 1 - f, over the origin), and the best f, from the dot products of p, a
    and b. The distance is a quartic in f: sampled, then refined by Newton steps on its slope."""
    ac, bc, cc = ab - ap, bb - bp, bb - 2 * bp + pp  # c = b - p
    quadratic = bb + 2 * ac

    def distance(f):
        return (((aa * f - 2 * ab) * f + quadratic) * f - 2 * bc) * f + cc

    sampled = distance(_CURVE_SAMPLES[:, None])
    best = np.argmin(sampled, axis=0)
    f, least = _CURVE_SAMPLES[best], sampled[best, np.arange(len(best))]
    for _ in range(2):
        slope = ((4 * aa * f - 6 * ab) * f + 2 * quadratic) * f - 2 * bc
        curvature = (12 * aa * f - 12 * ab) * f + 2 * quadratic
        step = np.clip(f - slope / np.where(curvature > 0, curvature, np.inf), 0.0, 1.0)
        reached = distance(step)
        closer = reached < least
        f, least = np.where(closer, step, f), np.where(closer, reached, least)
    return np.maximum(least, 0.0), f


def _order_fits(colour, low, high, under, palette4):
    """For opaque pixels mixing classes ``low`` and ``high`` over palette colour ``under``: how much
    closer (squared) the pixel lies to the curve of ``low`` drawn first than to that of ``high``
    drawn first (> 0: low first), the nearer curve's squared distance, and the class each order
    gives the pixel (the fill covering more than half of it)."""
    g = palette4[under]
    a, b, p = palette4[low] - g, palette4[high] - g, colour - g
    aa, ab, bb = _dot(a, a), _dot(a, b), _dot(b, b)
    ap, bp, pp = _dot(a, p), _dot(b, p), _dot(p, p)
    # Both orders at once: low first, then high first (a and b swapped).
    distance, f = _curve_fit(np.concatenate((aa, bb)), np.concatenate((ab, ab)), np.concatenate((bb, aa)),
                             np.concatenate((ap, bp)), np.concatenate((bp, ap)), np.concatenate((pp, pp)))
    n = len(colour)
    low_first, high_first = distance[:n], distance[n:]
    return (high_first - low_first, np.minimum(low_first, high_first), np.where(f[:n] > 0.5, low, high),
            np.where(f[n:] > 0.5, high, low))


def _over_background(rgba4, low, high, under, palette4, order_neighbours):
    """The class of opaque seam pixels mixing ``low`` and ``high`` over background ``under`` (-1
    where the drawing-order model does not fit within _ON_CURVE).

    Both drawing orders are fitted exactly (see _curve_fit). Where they give the same class, that
    is it; else the pixel's own order where one curve is clearly nearer (_ORDER_CLEAR); else the
    order that the seam pixels within _ORDER_RADIUS lying on either curve of the same two classes
    and background, and the pixel itself, prefer in sum (a polygon pair is drawn in one order along
    its whole border; near the crossing of the two curves a pixel alone cannot tell). A seam pixel
    near several of them is fitted once for each pair of classes and background."""
    lean, near, if_low, if_high = _order_fits(rgba4, low, high, under, palette4)
    fits = near <= _ON_CURVE
    chosen = np.where(fits, np.where(lean > 0, if_low, if_high), -1)
    ask = np.flatnonzero(fits & (if_low != if_high) & (np.abs(lean) <= _ORDER_CLEAR))
    if len(ask):
        voter, positions, colours = order_neighbours(ask)
        rows = ask[voter]
        size = len(palette4)
        key = ((positions * size + low[rows]) * size + high[rows]) * size + under[rows]
        _unique, first, again = np.unique(key, return_index=True, return_inverse=True)
        votes, reach = _order_fits(colours[first], low[rows[first]], high[rows[first]], under[rows[first]],
                                   palette4)[:2]
        votes, reach = votes[again], reach[again]
        counted = reach <= _ON_CURVE
        total = np.clip(lean[ask], -50.0, 50.0) + np.bincount(
            voter[counted], weights=np.clip(votes[counted], -50.0, 50.0), minlength=len(ask))
        chosen[ask] = np.where(total > 0, if_low[ask], if_high[ask])
    return chosen


def _choose(neighbour_classes, weights, codes, seam_rgb, rgba4, palette_rgb, palette4, metric, blend_tolerance,
            neighbour_rgba4=None, own=None, classes_around=None, order_neighbours=None):
    """The class each seam pixel takes (-1: no voter around), from its neighbours' classes (k x n,
    unsigned; the type's largest value where a neighbour does not vote, see no_vote_class) and their
    votes (``weights``: k); the seam pixels' packed ``codes``, colours (``seam_rgb``) and
    premultiplied colours (``rgba4``).

    Most seam pixels lie between one or two classes: those are decided from the lowest and highest
    class voting around them, without a vote table; the others go to _choose_among_many. Both give
    the classes the vote table would."""
    n = neighbour_classes.shape[1]
    chosen = np.full(n, -1, dtype=np.int64)
    no_vote = no_vote_class(neighbour_classes.dtype)
    low = neighbour_classes.min(axis=0)  # no_vote where none votes
    high = neighbour_classes + neighbour_classes.dtype.type(1)  # no_vote wraps to 0, below every class
    high = high.max(axis=0) - neighbour_classes.dtype.type(1)
    is_low = neighbour_classes == low
    is_high = neighbour_classes == high
    many = (~is_low & ~is_high & (neighbour_classes != no_vote)).any(axis=0)
    has = low != no_vote
    one = np.flatnonzero(has & (low == high))
    chosen[one] = low[one]
    if own is not None and len(one):
        # A sliver too thin for a pixel of its own colour: the pixel is a mix of its own (nearest)
        # class, which a valid pixel around has too, and the one around it, covered mostly by its own.
        rows = one[own[one] != low[one]]
        rows = rows[_may_mix(seam_rgb[rows], rgba4[rows, 3], palette_rgb, blend_tolerance)]
        rows = rows[_own_mixes(codes[rows], rgba4[rows], own[rows].astype(np.int64), low[rows].astype(np.int64),
                               palette4, blend_tolerance)]  # remembered: the cheapest test first
        if len(rows):
            around, inside = classes_around(rows)
            rows = rows[((around == own[rows]) & inside).any(axis=0)]
            chosen[rows] = own[rows]
    two = np.flatnonzero(has & (low != high) & ~many)
    if len(two):
        # Whole-number votes as bytes, summed in 32 bits: exact, and no float copy of the masks.
        votes = weights.astype(np.uint8)[:, None]
        # Where a class votes (``two``), those equal to it are voting neighbours.
        low_votes = np.add.reduce(is_low.view(np.uint8) * votes, axis=0, dtype=np.uint32)[two]
        high_votes = np.add.reduce(is_high.view(np.uint8) * votes, axis=0, dtype=np.uint32)[two]
        low, high = low[two].astype(np.int64), high[two].astype(np.int64)
        chosen[two] = np.where(low_votes >= high_votes, low, high)
        tied = np.flatnonzero(low_votes == high_votes)
        if len(tied):  # the nearer colour, then the lower class
            rgb = seam_rgb[two[tied]]
            nearer_high = (_metric_distance(rgb, palette_rgb[high[tied]], metric) <
                           _metric_distance(rgb, palette_rgb[low[tied]], metric))
            chosen[two[tied[nearer_high]]] = high[tied[nearer_high]]
        # On a map with outlines most seam pixels mix no two fills (an outline's core): those that
        # cannot be mixes are left out before their fits are looked up. The rest are mixes where
        # their best fit is close enough (over transparency or a background colour, see _pair_fits).
        maybe = np.flatnonzero(_may_mix(seam_rgb[two], rgba4[two, 3], palette_rgb, blend_tolerance))
        residual, blend_class, lean, a_if_first, a_if_second, under = _pair_fits(
            codes[two[maybe]], rgba4[two[maybe]], low[maybe], high[maybe], palette4, blend_tolerance)
        mixed = (residual <= blend_tolerance * blend_tolerance) | (under >= 0)
        mix = maybe[mixed]  # rows of ``two``
        blend_class, lean, a_if_first, a_if_second, under = (
            blend_class[mixed], lean[mixed], a_if_first[mixed], a_if_second[mixed], under[mixed])
        chosen[two[mix]] = blend_class
        colour = rgba4[two[mix]]
        if order_neighbours is not None:
            over = np.flatnonzero((under >= 0) & ((a_if_first != a_if_second) | (np.abs(lean) < _LEAN_CLEAR)))
            if len(over):
                on_curves = _over_background(colour[over], low[mix[over]], high[mix[over]], under[over], palette4,
                                             lambda picked: order_neighbours(two[mix[over[picked]]]))
                fits = on_curves >= 0
                chosen[two[mix[over[fits]]]] = on_curves[fits]
        unsure = np.flatnonzero((np.abs(lean) < _UNSURE_ORDER) & (a_if_first != a_if_second) & (colour[:, 3] < 255) &
                                (under < 0))  # over transparency
        if len(unsure) and neighbour_rgba4 is not None:
            # Either drawing order explains the pixel, each giving it another class: the seam pixels
            # around it that mix the same two classes tell which polygon was drawn first.
            rows = mix[unsure]
            order = _drawing_order(neighbour_rgba4(two[rows]), low[rows], high[rows], under[unsure], palette4,
                                   blend_tolerance)
            decided = order != 0
            a_wins = np.where(order > 0, a_if_first[unsure], a_if_second[unsure])
            chosen[two[rows[decided]]] = np.where(a_wins[decided], low[rows[decided]], high[rows[decided]])
    rest = np.flatnonzero(many)
    if len(rest):
        chosen[rest] = _choose_among_many(neighbour_classes[:, rest].T, np.tile(weights, len(rest)), codes[rest],
                                          seam_rgb[rest], rgba4[rest], palette_rgb, palette4, metric, blend_tolerance)
    return chosen


def _choose_among_many(neighbour_classes, weights, codes, seam_rgb, rgba4, palette_rgb, palette4, metric,
                       blend_tolerance):
    """_choose with a vote table: ``weights`` (k, repeated n times) summed per class around each pixel
    (``neighbour_classes``: n x k, no_vote_class where a neighbour does not vote). Vote tables hold 2
    columns per class: fewer pixels at once with more classes."""
    n = len(neighbour_classes)
    step = max(64, _CHUNK * 32 // max(32, min(len(palette_rgb), 256)))
    if n > step:
        return np.concatenate([_choose_among_many(neighbour_classes[start:start + step], weights,
                                                  codes[start:start + step], seam_rgb[start:start + step],
                                                  rgba4[start:start + step], palette_rgb, palette4, metric,
                                                  blend_tolerance)
                               for start in range(0, n, step)])
    blocked = neighbour_classes == no_vote_class(neighbour_classes.dtype)
    chosen = np.full(n, -1, dtype=np.int64)
    if len(palette_rgb) <= _FEW_CLASSES:  # a column per palette class
        present = np.arange(len(palette_rgb))
        slot = neighbour_classes.astype(np.int32)
        np.minimum(slot, len(present) - 1, out=slot)  # nodata may hold any index (it does not vote)
    else:  # a column per class around these pixels
        present = np.flatnonzero(np.bincount(neighbour_classes[~blocked]))
        if len(present) == 0:
            return chosen
        compact = np.zeros(int(neighbour_classes.max()) + 1, dtype=np.int32)
        compact[present] = np.arange(len(present), dtype=np.int32)
        slot = compact[neighbour_classes]
    # Row i's votes land in columns [2ci, 2ci + c); those that do not count, in the c after them.
    c = len(present)
    slot += np.multiply(blocked, c, dtype=np.int32)
    slot += (np.arange(n, dtype=np.int32) * (2 * c))[:, None]
    votes = np.bincount(slot.ravel(), weights=weights[:slot.size], minlength=n * 2 * c).reshape(n, 2 * c)[:, :c]
    around = votes > 0
    counts = around.sum(axis=1)
    has = counts > 0

    # Most votes; ties go to the nearest colour, then to the lower class (argmax/argmin take the first).
    top = votes.max(axis=1)
    best = np.argmax(votes, axis=1)
    tied = np.flatnonzero(((votes == top[:, None]).sum(axis=1) > 1) & has)
    if len(tied):
        rows, cols = np.nonzero(votes[tied] == top[tied, None])
        gap = np.full((len(tied), c), np.inf)
        gap[rows, cols] = _metric_distance(seam_rgb[tied[rows]], palette_rgb[present[cols]], metric)
        best[tied] = np.argmin(gap, axis=1)
    chosen[has] = present[best[has]]

    several = np.flatnonzero((counts >= 2) & _may_mix(seam_rgb, rgba4[:, 3], palette_rgb, blend_tolerance))
    if len(several):
        m = int(counts.max())
        rows, cols = np.nonzero(around[several])
        candidates = np.zeros((len(several), m), dtype=np.int64)
        first = np.cumsum(counts[several]) - counts[several]
        candidates[rows, np.arange(len(rows)) - first[rows]] = present[cols]
        residual, blend_class = _best_blend(codes[several], rgba4[several], candidates, counts[several], palette4,
                                            blend_tolerance)
        mixed = residual <= blend_tolerance
        chosen[several[mixed]] = blend_class[mixed]
    return chosen


def _inexact_pixels(indices, rgba, valid, table, map_codes=None, check=None):
    """Flat positions of the valid pixels whose colour (alpha aside) is not ``table[index]``; with
    ``map_codes`` (see clean_seams), ``indices`` (contiguous) is first filled with the classes it
    gives each band.

    Tested a band at a time, just after it is mapped, so that temporaries stay bounded and a band
    is read from memory once; once per run of one colour, class and validity where runs are long (a
    rendered map: one pixel in fifty starts a run), else pixel by pixel (a photograph). Classes that
    ``map_codes`` gives follow from the colours: those runs are cut by colour and validity alone."""
    codes, classes, valid = rgba.ravel(), indices.reshape(-1), valid.ravel()
    finder = RunFinder()
    found = [np.zeros(0, dtype=np.int64)]
    for start in range(0, len(codes), _BAND):
        if check is not None:  # a cancel: a noisy 8-megapixel block's bands took 1.8 s
            check()
        band = codes[start:start + _BAND]
        band_classes, band_valid = classes[start:start + len(band)], valid[start:start + len(band)]
        if map_codes is not None:  # classes to come from the colours: the runs of colour are theirs
            runs = finder.find([band, band_valid.view(np.uint8)], worth_it=_RUNS_WORTH_IT)
            band_classes[:] = map_codes(band, runs)
        else:
            runs = finder.find([band, band_classes, band_valid.view(np.uint8)], worth_it=_RUNS_WORTH_IT)
        if runs.starts is not None:
            band, band_classes, band_valid = band[runs.starts], band_classes[runs.starts], band_valid[runs.starts]
        # Valid pixels' classes lie in the palette; the others' wrap to any colour, and do not count.
        differ = np.take(table, band_classes, mode="wrap")  # "wrap" costs less than "clip"
        differ ^= band
        differ <<= np.uint32(8)  # alpha out
        wrong = differ != 0
        wrong &= band_valid
        wrong = np.flatnonzero(wrong)
        if runs.starts is not None:  # every pixel of the runs found
            wrong = pixels_of_runs(runs.starts[wrong], runs.lengths[wrong])
        found.append(wrong + start)
    return np.concatenate(found)


def clean_seams(indices, rgba, palette_colours, metric, valid, tolerance=DEFAULT_SEAM_TOLERANCE,
                radius=DEFAULT_SEAM_RADIUS, blend_tolerance=DEFAULT_BLEND_TOLERANCE, in_place=False, map_codes=None,
                check=None):
    """Classes of a window with its seam pixels reassigned: a new array of ``indices``' dtype, or
    ``indices`` itself, changed, when ``in_place`` (for callers that own it: saves a copy).

    ``indices``: (rows, cols) exact nearest palette indices (any value where not ``valid``);
    ``rgba``: the window's packed pixels (nearest.pack_rgba); ``valid``: False where nodata.
    ``map_codes``: None, or the function ``map_codes(codes, runs)`` giving the exact nearest
    indices of packed codes (``runs``: runs.Runs of equal codes, see NearestColourMapper.map_codes),
    and no_vote_class of the type for the codes of pixels not valid,
    when ``indices`` is an empty array of type classes_type(palette size) still to be filled with
    them (``in_place`` then; nodata pixels keep that value): the window is mapped band by band as
    the pixels not of their class's colour are found, each band while it is in the CPU caches.

    A valid pixel is *well represented* when its colour is exactly its class's palette colour; or
    within ``tolerance`` of it (CIELAB delta E, whatever the metric) while its four neighbours are of
    its class too; or of the same colour as its four neighbours (a fill the palette does not match
    exactly, a wide line). Every other valid pixel is a seam pixel: a blend of neighbouring fills, of
    a fill and an outline, or noise. It takes one of the classes of the well represented pixels
    within ``radius`` (a square):

    - the only one, when there is one; but the pixel's own (nearest) class when a valid pixel
      within ``radius`` has it too and the pixel is a mix of the two covered mostly by its own (a
      sliver of a polygon thinner than a pixel, beside the sea);
    - else, when its colour is a mix of two of them (premultiplied RGBA within ``blend_tolerance``,
      0-255 units, of the best mix of a pair), the one covering more of the pixel (see _best_blend).
      An opaque pixel may be such a mix drawn over a background colour (any entry of a palette of
      up to _FEW_CLASSES colours, see _best_under): for each pair, the better fit counts.
      Over transparency, where a pixel fits both drawing orders about as well and each order gives
      the other class, the order that the seam pixels within ``radius`` mixing the same two classes
      fit better decides (see _drawing_order); over a background both orders are fitted exactly and
      the seam pixels within _ORDER_RADIUS decide where the pixel alone cannot (see _over_background);
    - else the one with most votes around it (4-neighbours 40, diagonal ones 28, farther rings 10 /
      (ring - 1)), ties going to the class nearest in colour under ``metric``, then to the lower index.

    Seam pixels with no well represented pixel within ``radius`` keep their class. Nodata pixels
    (``valid`` False) never change and never vote, whatever index they hold.
    """
    indices = np.asarray(indices)
    rgba = np.asarray(rgba, dtype=np.uint32)
    valid = np.asarray(valid, dtype=bool)
    if metric not in METRIC_SPACES:
        raise ValueError("unknown metric {!r}".format(metric))
    if indices.shape != rgba.shape or indices.shape != valid.shape or indices.ndim != 2:
        raise ValueError("indices, rgba and valid must be 2-D arrays of one shape")
    radius = int(radius)
    if radius < 1:
        raise ValueError("the seam radius must be at least 1 pixel")
    if map_codes is not None and not (in_place and indices.flags.c_contiguous):
        raise ValueError("indices to be filled by map_codes must be a contiguous array cleaned in place")
    palette_rgb = np.asarray(palette_colours, dtype=np.float64).reshape(-1, 3)
    palette = palette_rgb.astype(np.uint32)
    dtype = classes_type(len(palette))
    no_vote = no_vote_class(dtype)
    if map_codes is None:  # the classes read around pixels: nodata does not vote
        work = np.where(valid, indices, no_vote).astype(dtype)
    elif indices.dtype != dtype:
        raise ValueError("indices to be filled by map_codes must be of type {} for {} colours".format(
            np.dtype(dtype).name, len(palette)))
    else:
        work = indices  # map_codes gives nodata pixels no_vote

    # Valid pixels not exactly of their class's colour: few in a rendered map, and the only ones
    # that may change.
    table = pack_rgb(palette)
    rows, cols = indices.shape
    inexact = _inexact_pixels(work, rgba, valid, table, map_codes, check)
    out = indices if in_place else indices.copy()  # changed only at the very end
    if len(inexact) == 0:
        return out
    ys, xs = np.divmod(inexact, cols)

    # Only the inexact pixels' neighbourhoods are read, so the arrays are not padded: neighbours
    # outside the window do not vote, as nodata and, below, seam pixels do not (their class reads
    # as ``no_vote`` while they are looked at).
    classes = work.ravel()
    rgba_flat, valid_flat = rgba.ravel(), valid.ravel()
    codes = rgba_flat[inexact]
    own = classes[inexact]

    # Standing of the inexact pixels: inside a patch of one colour (a fill the palette does not
    # match exactly, a wide line), or inside their class and near its colour: they vote; else seams.
    # A band of them at a time: a noisy block's millions took seconds, deaf to a cancel.
    seam = np.zeros(len(inexact), dtype=bool)
    for start in range(0, len(inexact), _BAND):
        if check is not None:
            check()
        part = slice(start, start + _BAND)
        (cross_codes, cross_classes), outside = _around((rgba_flat, classes), ys[part], xs[part], _CROSS, rows, cols)
        ignored = (cross_classes == no_vote) | outside
        flat = (((cross_codes ^ codes[part]) << np.uint32(8) == 0) | ignored).all(axis=0)
        band_seam = ((cross_classes != own[part]) & ~ignored).any(axis=0) & ~flat
        inside = np.flatnonzero(~band_seam & ~flat)
        band_seam[inside] = _metric_distance(unpack_rgb(codes[part][inside]).astype(np.float64),
                                             palette_rgb[own[part][inside]], "cielab") > tolerance
        seam[part] = band_seam
    seam = np.flatnonzero(seam)
    if len(seam) == 0:
        return out
    classes[inexact[seam]] = no_vote  # seam pixels do not vote (their classes back below)

    offsets, weights = _seam_offsets(radius)
    order_offsets = _seam_offsets(_ORDER_RADIUS)[0]
    palette4 = np.concatenate([palette_rgb, np.full((len(palette_rgb), 1), 255.0)], axis=1)
    changed, chosen_classes = [], []
    for start in range(0, len(seam), _DECIDED):
        if check is not None:  # a cancel: a noisy block's seams took seconds
            check()
        part = seam[start:start + _DECIDED]
        (around_classes,), outside = _around((classes,), ys[part], xs[part], offsets, rows, cols)
        np.copyto(around_classes, no_vote, where=outside)
        seam_rgb = unpack_rgb(codes[part]).astype(np.float64)
        alpha = ((codes[part] >> 24) & 255).astype(np.float64)
        rgba4 = np.concatenate([seam_rgb * (alpha / 255.0)[:, None], alpha[:, None]], axis=1)

        def around(picked):
            return _neighbours(ys[part[picked]], xs[part[picked]], offsets, rows, cols)

        def seam_colours(picked):
            return _seam_colours(*around(picked), rgba_flat, valid_flat, classes, no_vote)

        def classes_around(picked):  # seam pixels' own classes too; which are valid pixels in the window
            positions, outside = around(picked)
            found = classes[positions]
            hidden = np.flatnonzero((found == no_vote) & valid_flat[positions])
            found.flat[hidden] = own[seam[np.searchsorted(inexact[seam], positions.flat[hidden])]]
            return found, valid_flat[positions] & ~outside

        def order_neighbours(picked):
            return _opaque_seam_neighbours(*_neighbours(ys[part[picked]], xs[part[picked]], order_offsets, rows, cols),
                                           rgba_flat, valid_flat, classes, no_vote)

        chosen = _choose(around_classes, weights, codes[part], seam_rgb, rgba4, palette_rgb, palette4,
                         metric, blend_tolerance, seam_colours, own[part], classes_around, order_neighbours)
        keep = chosen >= 0
        changed.append(part[keep])
        chosen_classes.append(chosen[keep])
    classes[inexact[seam]] = own[seam]  # ``work`` may be ``out``
    changed = np.concatenate(changed)
    out[ys[changed], xs[changed]] = np.concatenate(chosen_classes)
    return out


def _seam_colours(around, outside, rgba_flat, valid_flat, classes, no_vote):
    """Premultiplied RGBA (k x n x 4) of the seam pixels at ``around``, NaN elsewhere (seam pixels:
    valid pixels whose class reads as ``no_vote``)."""
    codes = rgba_flat[around]
    colour = unpack_rgb(codes.ravel()).astype(np.float64).reshape(around.shape + (3,))
    alpha = ((codes >> 24) & 255).astype(np.float64)
    out = np.concatenate([colour * (alpha / 255.0)[..., None], alpha[..., None]], axis=-1)
    out[~((classes[around] == no_vote) & valid_flat[around] & ~outside)] = np.nan
    return out


def _opaque_seam_neighbours(around, outside, rgba_flat, valid_flat, classes, no_vote):
    """The opaque seam pixels among ``around`` (k x n flat positions): for each, the column (the pixel
    it is near), its flat position and its colour (premultiplied RGBA, m x 4), offset by offset."""
    codes = rgba_flat[around]
    seam = (classes[around] == no_vote) & valid_flat[around] & ~outside & (codes >= OPAQUE)
    found = np.flatnonzero(seam)
    codes = codes.ravel()[found]
    colours = np.empty((len(found), 4))
    colours[:, :3] = unpack_rgb(codes)
    colours[:, 3] = 255.0
    return found % around.shape[1], around.ravel()[found], colours


def _around(arrays, ys, xs, offsets, rows, cols):
    """The values (k x n) that each of the flat ``arrays`` holds at the neighbours at ``offsets`` of the
    pixels at ``ys``, ``xs`` (clipped into the window), and which of these neighbours lie outside it.
    Gathered an offset at a time for _CHUNK pixels, so that their positions stay in the CPU caches;
    the few pixels near the window's edges again, clipped (see _neighbours)."""
    gathered = [np.empty((len(offsets), len(ys)), dtype=array.dtype) for array in arrays]
    outside = np.zeros((len(offsets), len(ys)), dtype=bool)
    positions = ys * cols + xs
    steps = [dy * cols + dx for dy, dx in offsets]
    reach = max(max(abs(dy), abs(dx)) for dy, dx in offsets)
    edge = np.flatnonzero((ys < reach) | (ys >= rows - reach) | (xs < reach) | (xs >= cols - reach))
    # In a window a few rows high (a raster of one row), every pixel is near an edge: gather them
    # once, clipped, not twice.
    for start in range(0, len(ys) if len(edge) < len(ys) else 0, _CHUNK):
        end = min(start + _CHUNK, len(ys))
        for row, step in enumerate(steps):
            at = positions[start:end] + step
            for array, values in zip(arrays, gathered):
                np.take(array, at, out=values[row, start:end], mode="clip")
    if len(edge) == len(ys):
        near, outside = _neighbours(ys, xs, offsets, rows, cols)
        for array, values in zip(arrays, gathered):
            np.take(array, near, out=values)
    elif len(edge):
        near, outside[:, edge] = _neighbours(ys[edge], xs[edge], offsets, rows, cols)
        for array, values in zip(arrays, gathered):
            values[:, edge] = array[near]
    return gathered, outside


def _neighbours(ys, xs, offsets, rows, cols):
    """Flat positions (k x n, clipped into the window) of the neighbours at ``offsets`` ((dy, dx))
    of the pixels at rows ``ys``, columns ``xs``; and which of them lie outside the window. One row
    per offset, so that reductions over the neighbours run along contiguous rows."""
    dys = np.array([dy for dy, _dx in offsets])
    dxs = np.array([dx for _dy, dx in offsets])
    reach_y, reach_x = int(np.abs(dys).max()), int(np.abs(dxs).max())
    # Only pixels near the window's edges have neighbours outside it: clip those alone.
    edge = np.flatnonzero((ys < reach_y) | (ys >= rows - reach_y) | (xs < reach_x) | (xs >= cols - reach_x))
    if len(edge) < len(ys):
        around = (dys * cols + dxs)[:, None] + (ys * cols + xs)
    else:
        around = np.empty((len(dys), len(ys)), dtype=np.result_type(dys, ys, xs, int))
    outside = np.zeros(around.shape, dtype=bool)
    if len(edge):
        # Rows and columns are clipped once per distinct dy and dx (a radius of 10 has 21 of each
        # for 440 offsets), then combined: a window a few rows high has every pixel near an edge.
        ey, ex = ys[edge], xs[edge]
        uy, iy = np.unique(dys, return_inverse=True)
        ux, ix = np.unique(dxs, return_inverse=True)
        ny, nx = uy[:, None] + ey, ux[:, None] + ex
        out_y, out_x = (ny < 0) | (ny >= rows), (nx < 0) | (nx >= cols)
        np.maximum(ny, 0, out=ny)
        np.minimum(ny, rows - 1, out=ny)
        ny *= cols
        np.maximum(nx, 0, out=nx)
        np.minimum(nx, cols - 1, out=nx)
        if len(edge) == len(ys):
            np.add(ny[iy], nx[ix], out=around)
            np.logical_or(out_y[iy], out_x[ix], out=outside)
        else:
            outside[:, edge] = out_y[iy] | out_x[ix]
            around[:, edge] = ny[iy] + nx[ix]
    return around, outside


# ----------------------------------------------------------------------------------------- sieve

def _runs(classes, valid):
    """Horizontal runs of one class among valid pixels, never across rows: (flat start, length) of
    each, in raster order. Only flags and the runs themselves are built, no per-pixel numbers."""
    rows, cols = classes.shape
    flat, ok = classes.ravel(), valid.ravel()
    n = flat.size
    flags = np.zeros(-(-n // 8) * 8, dtype=bool)  # whole words for flatnonzero_sparse
    change, other = flags[:n], np.empty(n, dtype=bool)
    np.not_equal(flat[1:], flat[:-1], out=change[1:])
    np.not_equal(ok[1:], ok[:-1], out=other[1:])
    change |= other
    change[::cols] = True
    starts = flatnonzero_sparse(flags)
    lengths = np.diff(np.append(starts, n))
    keep = ok[starts]
    return starts[keep], lengths[keep]


def _run_at(starts, lengths, positions):
    """The run holding each flat position, -1 where none does (nodata)."""
    run = np.searchsorted(starts, positions, side="right") - 1
    inside = run >= 0
    inside[inside] = positions[inside] < starts[run[inside]] + lengths[run[inside]]
    return np.where(inside, run, -1)


def _components(parent_pairs, count):
    """Connected components of ``count`` nodes joined by pairs (two arrays): root id per node."""
    parent = np.arange(count)
    first, second = parent_pairs
    while True:
        while True:  # pointer jumping until every node points at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        a, b = parent[first], parent[second]
        differ = a != b
        if not differ.any():
            return parent
        a, b = a[differ], b[differ]
        np.minimum.at(parent, np.maximum(a, b), np.minimum(a, b))


def _region_pairs(starts, lengths, run_class, cols, n, connectedness):
    """Pairs of same-class runs in consecutive rows that touch (4- or 8-connected).

    Two runs touch when their column ranges overlap (or, 8-connected, meet at a corner), which can
    be seen at the first column of one of them: the pixel above or below it, or diagonally before it.
    """
    found_mine, found_other = [], []
    checks = [(-1, 0), (1, 0)] + ([(-1, -1), (1, -1)] if connectedness == 8 else [])
    for begin in range(0, len(starts), _SIEVE_GROUP):  # a group of runs at a time: temporaries per run
        own = starts[begin:begin + _SIEVE_GROUP]
        first_column = own % cols == 0
        for dy, dx in checks:
            positions = own + dy * cols + dx
            ok = (positions >= 0) & (positions < n)
            if dx:
                ok &= ~first_column
            mine = np.flatnonzero(ok)
            other = _run_at(starts, lengths, positions[mine])
            mine += begin
            same = other >= 0
            same[same] = run_class[other[same]] == run_class[mine[same]]
            found_mine.append(mine[same])
            found_other.append(other[same])
    return np.concatenate(found_mine), np.concatenate(found_other)


def sieve(indices, valid, min_region=DEFAULT_MIN_REGION, connectedness=DEFAULT_CONNECTEDNESS, in_place=False):
    """Classes of a window after regions smaller than ``min_region`` pixels join a neighbour region.

    Regions are connected pixels of one class (``connectedness`` 4 or 8); nodata pixels belong to no
    region. As in GDAL's sieve filter a small region takes the class of a neighbouring region, and
    only of one with at least ``min_region`` pixels; a small region with no such neighbour keeps its
    class. GDAL picks the neighbour that is largest over the whole raster (and follows chains of small
    neighbours), which no window can see; here the small region joins the class whose large
    neighbour regions share the longest border with it in total (pixel pairs adjacent under
    ``connectedness``), ties going to the lower class, so the result never depends on where blocks
    start. The sum is per class, not per region, because a window (see ``margin``) may cut a large
    region into pieces that join only outside it: each piece touching a small region still holds
    ``min_region`` connected pixels inside the window, so it is seen as large, but only the sum of
    their borders is the same in every window. ``in_place``: change and return ``indices`` itself
    (for callers that own it: saves a copy).
    """
    indices = np.asarray(indices)
    valid = np.asarray(valid, dtype=bool)
    if connectedness not in (4, 8):
        raise ValueError("connectedness must be 4 or 8, not {!r}".format(connectedness))
    if indices.shape != valid.shape or indices.ndim != 2:
        raise ValueError("indices and valid must be 2-D arrays of one shape")
    out = indices if in_place else indices.copy()
    min_region = int(min_region)
    if min_region <= 1 or not valid.any():
        return out
    rows, cols = indices.shape
    n = indices.size
    flat = indices.ravel()

    starts, lengths = _runs(indices, valid)
    run_class = flat[starts]
    n_runs = len(starts)
    root = _components(_region_pairs(starts, lengths, run_class, cols, n, connectedness), n_runs)
    size = np.bincount(root, weights=lengths, minlength=n_runs).astype(np.int64)
    small_run = np.flatnonzero(size[root] < min_region)
    if len(small_run) == 0:
        return out
    # The small regions' runs, region by region, a group of regions of about _SIEVE_GROUP pixels at a
    # time: their pixels and the pixel pairs across their borders take memory per pixel (150 bytes a
    # pixel of noise, all of it small regions, when taken at once).
    small_run = small_run[np.argsort(root[small_run], kind="stable")]
    first_runs = np.flatnonzero(np.concatenate(([True], root[small_run[1:]] != root[small_run[:-1]])))
    pixels_before = np.concatenate(([0], np.cumsum(lengths[small_run])))[first_runs]
    cuts = first_runs[np.unique(np.searchsorted(pixels_before, np.arange(
        0, pixels_before[-1] + 1, _SIEVE_GROUP), side="left"))]
    del first_runs, pixels_before
    classes = int(run_class.max()) + 1
    target = np.full(n_runs, -1, dtype=np.int64)  # the class each small region joins, by its root (-1: none)
    for group in np.split(small_run, cuts[1:]):
        _join_small_regions(out, group, (starts, lengths, run_class, root, size), target, classes, min_region,
                            connectedness)
    return out


def _join_small_regions(out, small_run, runs, target, classes, min_region, connectedness):
    """The sieve's joins of the small regions whose runs are ``small_run`` (every run of each), of
    the window's ``runs`` (starts, lengths, class, root and size of the region of each), written
    into ``out``; ``target`` (by root, -1 where not decided) gets their decisions."""
    starts, lengths, run_class, root, size = runs
    rows, cols = out.shape
    # Pixels of small regions, and the classes of their neighbours in large regions.
    run_lengths = lengths[small_run]
    positions = pixels_of_runs(starts[small_run], run_lengths)
    mine = np.repeat(root[small_run], run_lengths)
    ys, xs = np.divmod(positions, cols)
    # Each pixel pair across a small region's border, as small region * classes + the class of the
    # large region beyond: made per direction, so no larger temporaries than one direction's.
    keys = []
    for dy, dx in (_CROSS if connectedness == 4 else _RING):
        y, x = ys + dy, xs + dx
        ok = np.flatnonzero((y >= 0) & (y < rows) & (x >= 0) & (x < cols))
        del y, x
        run = _run_at(starts, lengths, positions[ok] + (dy * cols + dx))
        seen = run >= 0  # not nodata
        ok, run = ok[seen], run[seen]
        large = size[root[run]] >= min_region  # never the pixel's own region, which is small
        key = mine[ok[large]] * classes
        key += run_class[run[large]]
        keys.append(key)
    del positions
    keys = np.concatenate(keys)
    if len(keys) == 0:
        return

    # Border length per (small region, class of large neighbours), summed over that class's regions
    # (a window may cut a large region in two, never change the sum). The most border wins, then the
    # lower class: the highest border * classes + (classes - 1 - class).
    pairs, border = np.unique(keys, return_counts=True)
    del keys
    small_of, class_of = np.divmod(pairs, classes)
    first = np.flatnonzero(np.concatenate(([True], small_of[1:] != small_of[:-1])))
    best = np.maximum.reduceat(border * classes + (classes - 1 - class_of), first)
    target[small_of[first]] = classes - 1 - best % classes

    new = target[mine]
    change = new >= 0
    out[ys[change], xs[change]] = new[change]
