"""Palettes built from the image itself (QGIS-free).

Every method starts from the image's colour histogram: its distinct colours as packed codes
``red | green << 8 | blue << 16`` (uint32, see ``algorithms.nearest.pack_rgb``; the alpha byte is
ignored) and the number of pixels of each. Methods:

exact      the image's own distinct colours, lossless; fails when there are more than n_colours.
frequent   the n_colours most frequent colours.
mediancut  weighted median cut in the metric's space (RGB, or CIELAB for cielab and ciede2000).
kmeans     weighted k-means in the metric's space (numpy, with SciPy's KD-tree to find nearest
           centres), started from the median cut, on the colours merged into cells that are small
           where the image has many pixels; then refined as the palette will be used (rounded to
           bytes). See _kmeans_palette.

build_palette_and_nearest also hands on, where the method found them anyway (kmeans under rgb
and cielab), the nearest entry of every distinct colour, exactly as the mapper would find it, so
the mapper need not search them again.

Every palette lists its colours by frequency, most frequent first, ties by code (exact and
frequent: the colour's pixels; mediancut: its box's pixels; kmeans: the pixels mapped to it) and
holds no colour twice. mediancut and kmeans return all the distinct colours, like exact, when the
image has no more than n_colours of them; otherwise n_colours colours (fewer only in the rare case
that the image's colours, merged as _points describes, leave fewer cells than that).
All methods are deterministic: the same histogram always gives the same palette.
"""

import heapq

import numpy as np

from .colorspace import lab_to_srgb
from .metrics import METRIC_SPACES, REGISTRY
from .nearest import RGB_BITS, distances, nearest_palette_indices, pack_rgb, unpack_rgb
from ..palettes.palette import MAX_COLOURS, Palette

METHODS = ("exact", "frequent", "kmeans", "mediancut")

#: Metric -> the space a palette for it is built in, with Euclidean distances there (CIE76 for
#: CIELAB). CIEDE2000 is not a Euclidean distance, so its palettes are built as CIELAB's are.
_SPACES = {name: metric.space for name, metric in REGISTRY.items()}

#: mediancut runs on at most this many points: histograms with more distinct colours are merged
#: first into cells of 2x2x2 RGB values (7 bits per channel), then 4x4x4 (6 bits), ... (see _points).
#: kmeans orders its palette by the pixels nearest to each entry among as many points.
MAX_POINTS = 1 << 21
#: kmeans merges the colours into at most this many cells (or 8 per palette colour, if more) for its
#: median-cut start and its Lloyd iterations, and into at most KMEANS_FINE_POINTS (or 32 per
#: palette colour) for the last iterations and the refinement; see _merge_cells.
KMEANS_COARSE_POINTS = 1 << 13
KMEANS_FINE_POINTS = 1 << 15
#: Lloyd iterations on the coarse cells, then on the fine ones: at most this many, while each
#: lowers the error by at least KMEANS_MIN_GAIN of it.
KMEANS_MAX_ITER = 30
KMEANS_FINE_ITER = 15
KMEANS_MIN_GAIN = 1e-4
#: Each Lloyd iteration compares a point with this many candidate centres, its nearest when they
#: were last found, every KMEANS_REFRESH iterations (see _lloyd).
KMEANS_CANDIDATES = 4
KMEANS_REFRESH = 16
#: The fine cells' first candidates are this many centres nearest to the coarse cell they were
#: merged into (one search among the coarse cells instead of all the fine ones).
KMEANS_INHERITED_CANDIDATES = 6
#: The refinement on the rounded palette: at most this many rounds, while each lowers the error by
#: at least this fraction.
REFINE_MAX_ITER = 5
REFINE_MIN_GAIN = 1e-3
_TIE_TOLERANCE = 1e-6  # squared distances this close count as a tie
_RELATIVE_MARGIN = 1e-9
_THREADED_QUERY = 1 << 16  # KD-tree queries of at least this many points run in threads
_PAIRS_PER_CHUNK = 1 << 18  # point-entry distances measured at once (see _tied_entries)
_CHECK_SPLITS = 1024  # median-cut splits between two checks for a cancel (65,535 splits: 3 s)
_MOVERS = 16  # entries measured directly between two rounds of the refinement (see _assign)

_INSTALL_SCIPY = (
    "the 'kmeans' palette needs SciPy: install it with 'apt install python3-scipy' "
    "(Debian, Ubuntu) or 'pip install scipy' (in the Python QGIS uses), "
    "or use the 'mediancut' palette, which needs nothing more"
)


class PaletteBuildError(ValueError):
    """A palette cannot be built from this image with these settings (the message says why)."""


class SciPyMissingError(PaletteBuildError, ImportError):
    """The kmeans method needs SciPy (its KD-tree), which is not installed."""


def colour_histogram(codes):
    """(distinct codes ascending as uint32, their pixel counts as int64) of an array of packed codes.

    The alpha byte is dropped, so leave transparent pixels out before calling. Meant for tests and
    small images: it sorts every pixel.
    """
    codes = np.asarray(codes, dtype=np.uint32).ravel() & RGB_BITS
    distinct, counts = np.unique(codes, return_counts=True)
    return distinct.astype(np.uint32), counts.astype(np.int64)


def build_palette(method, codes, counts, n_colours, metric="rgb", seed=0):
    """A Palette of at most n_colours colours for an image with this colour histogram.

    method: one of METHODS. codes: the image's distinct packed colours (uint32); counts: pixels of
    each (both as from colour_histogram or a block-wise scan). metric: "rgb", "cielab" or
    "ciede2000", the metric the palette will be used with. seed: kept for callers that pass one;
    no method has a random step (kmeans starts from the median cut), so every result is
    deterministic and the seed changes nothing. Raises PaletteBuildError when it cannot.
    """
    return build_palette_and_nearest(method, codes, counts, n_colours, metric)[0]


def build_palette_and_nearest(method, codes, counts, n_colours, metric="rgb", check=None):
    """(palette, nearest) for build_palette's arguments: ``nearest`` is None, or (codes, entries)
    with the index of the nearest palette entry of every distinct colour of the histogram, ties to
    the lowest index: nearest.nearest_palette_indices's answers, for a mapper to take
    (NearestColourMapper.remember) instead of searching them again. ``check``: called between the
    steps of a build, to stop it by raising (a cancel: 65,535 colours of a scan take tens of seconds)."""
    check = check or _go_on
    if method not in METHODS:
        raise PaletteBuildError("unknown palette method {!r}; choose one of {}".format(method, ", ".join(METHODS)))
    if metric not in _SPACES:
        raise PaletteBuildError("unknown metric {!r}; choose one of {}".format(metric, ", ".join(_SPACES)))
    n_colours = int(n_colours)
    if not 1 <= n_colours <= MAX_COLOURS:
        raise PaletteBuildError("the number of colours must be 1 to {}, not {}".format(MAX_COLOURS, n_colours))
    codes, counts = _clean_histogram(codes, counts)
    if len(codes) == 0:
        raise PaletteBuildError("the image has no pixels to build a palette from "
                                "(are all of them transparent or nodata?)")

    if method == "exact":
        if len(codes) > n_colours:
            advice = ("raise N_COLORS or use 'frequent' or 'kmeans'" if n_colours < MAX_COLOURS else
                      "no palette holds more: use 'frequent', 'kmeans' or 'mediancut'")
            raise PaletteBuildError("the image has {} distinct colours, more than N_COLORS={}: {}".format(
                len(codes), n_colours, advice))
        return _palette_by_frequency(codes, counts, method), None
    if method == "frequent" or len(codes) <= n_colours:
        order = _frequency_order(codes, counts)[:n_colours]
        return Palette(unpack_rgb(codes[order]), name=method), None

    space = _SPACES[metric]
    if method == "mediancut":
        _, points, weights = _points(codes, counts, space, MAX_POINTS, check=check)
        centres, totals = _median_cut(points, weights, n_colours, space, check)
        return _palette_by_frequency(pack_rgb(centres), totals, method), None
    palette, entries = _kmeans_palette(codes, counts, n_colours, space, check)
    # The entries are the mapper's answers where its metric is the Euclidean distance of the space the
    # palette was built in (not CIEDE2000) and every distinct colour was a point (see _points).
    exact = REGISTRY[metric].distance is None and len(codes) <= MAX_POINTS
    return palette, (codes, entries) if exact else None


# --------------------------------------------------------------------------------------- helpers

def _go_on():
    """The ``check`` of a build nobody can cancel."""


def _clean_histogram(codes, counts):
    """Codes without alpha, ascending and distinct, with positive int64 counts."""
    codes = np.asarray(codes, dtype=np.uint32).ravel() & RGB_BITS
    counts = np.asarray(counts).ravel()
    if codes.shape != counts.shape:
        raise PaletteBuildError("the histogram needs one count per colour ({} colours, {} counts)"
                                .format(codes.size, counts.size))
    counts = counts.astype(np.int64)
    if (counts < 0).any():
        raise PaletteBuildError("colour counts cannot be negative")
    keep = counts > 0
    codes, counts = codes[keep], counts[keep]
    if len(codes) > 1 and not (np.diff(codes.astype(np.int64)) > 0).all():
        codes, inverse = np.unique(codes, return_inverse=True)
        counts = np.bincount(inverse, weights=counts, minlength=len(codes)).astype(np.int64)
    return codes, counts


def _frequency_order(codes, counts):
    """Indices ordering colours by count, descending, ties by code ascending."""
    return np.lexsort((codes, -np.asarray(counts)))


def _palette_by_frequency(codes, counts, name):
    order = _frequency_order(codes, counts)
    return Palette(unpack_rgb(codes[order]), name=name)


def _to_bytes(points, space):
    """Points of the space -> nearest displayable sRGB bytes (rounded, clipped), K x 3 uint8."""
    rgb = lab_to_srgb(points) if space == "cielab" else np.asarray(points, dtype=np.float64)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _weighted_means(labels, points, weights, k):
    """Per-label weighted mean of the points (k x 3; NaN for empty labels) and total weights (k)."""
    totals = np.bincount(labels, weights=weights, minlength=k)
    sums = np.stack([np.bincount(labels, weights=weights * points[:, axis], minlength=k)
                     for axis in range(points.shape[1])], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / totals[:, None], totals


# ------------------------------------------------------------------------------------ median cut

class _Box:
    """Indices of the points in one box, with their total weight, weighted sums and weighted sums
    of squares per axis, and from these the weighted mean and squared error (per axis and total)."""

    def __init__(self, index, weight, sums, squares):
        self.index, self.weight, self.sums, self.squares = index, weight, sums, squares
        self.mean = sums / weight
        self.axis_errors = np.maximum(squares - sums * self.mean, 0.0)
        self.error = self.axis_errors.sum()

    @classmethod
    def of(cls, index, points, weights, w=None):
        """The box of these points (``w``: their weights, if already taken)."""
        w = weights[index] if w is None else w
        p = points[index]
        weighted = w[:, None] * p
        return cls(index, w.sum(), weighted.sum(axis=0), (weighted * p).sum(axis=0))

    def split(self, points, weights, columns):
        """Two boxes, cut across the axis of largest variance at the weighted median, or None. The
        first box's sums are summed, the second's are this box's less those. ``columns``: the
        points' coordinates, an array per axis. (Array methods rather than NumPy functions: a
        median cut makes hundreds of small calls, where dispatching costs as much as the work.)"""
        if len(self.index) < 2 or self.error <= 0:
            return None
        values = columns[int(self.axis_errors.argmax())][self.index]
        order = values.argsort(kind="stable")
        values = values[order]
        boundaries = (values[1:] > values[:-1]).nonzero()[0] + 1  # cut before these positions
        if len(boundaries) == 0:
            return None
        ordered = self.index[order]
        w = weights[ordered]
        cumulative = w.cumsum()
        cut = boundaries[abs(cumulative[boundaries - 1] - cumulative[-1] / 2.0).argmin()]
        first = _Box.of(ordered[:cut], points, weights, w[:cut])
        return first, _Box(ordered[cut:], self.weight - first.weight, self.sums - first.sums,
                           self.squares - first.squares)


def _median_cut_boxes(points, weights, n_boxes, check=_go_on):
    """Split the box with the largest weighted squared error until there are n_boxes (or no more
    can be split). Returns the boxes, in the order they were made; ``check``: called every
    _CHECK_SPLITS splits."""
    boxes = [_Box.of(np.arange(len(points)), points, weights)]
    columns = [np.ascontiguousarray(points[:, axis]) for axis in range(points.shape[1])]
    heap = [(-boxes[0].error, 0)]
    live = 1
    while heap and live < n_boxes:
        _, i = heapq.heappop(heap)
        if live % _CHECK_SPLITS == 0:
            check()
        halves = boxes[i].split(points, weights, columns)
        if halves is None:
            continue  # a single colour: stays as it is
        boxes[i] = None
        live += 1
        for box in halves:
            boxes.append(box)
            heapq.heappush(heap, (-box.error, len(boxes) - 1))
    return [box for box in boxes if box is not None][:n_boxes]


def _median_cut(points, weights, n_colours, space, check=_go_on):
    """Median-cut centres as sRGB bytes (K x 3 uint8, distinct) and the pixels of each box.

    When two boxes' means round to the same bytes they are merged and more boxes are cut, so the
    palette has n_colours colours whenever the image has that many.
    """
    n_boxes = n_colours
    while True:
        boxes = _median_cut_boxes(points, weights, n_boxes, check)
        rgb = _to_bytes(np.array([box.mean for box in boxes]), space)
        codes, inverse = np.unique(pack_rgb(rgb), return_inverse=True)
        if len(codes) >= n_colours or len(boxes) < n_boxes:
            break
        n_boxes += n_colours - len(codes)
    totals = np.bincount(inverse, weights=[box.weight for box in boxes], minlength=len(codes))
    keep = _frequency_order(codes, totals)[:n_colours]
    return unpack_rgb(codes[keep]), totals[keep]


def _median_cut_centres(points, weights, n_colours, check=_go_on):
    """Weighted means of the median-cut boxes, in the points' space (float, K x 3)."""
    return np.array([box.mean for box in _median_cut_boxes(points, weights, n_colours, check)])


# ---------------------------------------------------------------------------------------- k-means

def _points(codes, counts, space, max_points, points=None, check=_go_on):
    """(sRGB bytes K x 3, points in the space K x 3, weights K) of the colours; when there are more
    than max_points, they are merged into RGB cells of 2x2x2 values (7 bits per channel), or 4x4x4
    (6 bits), ... until at most max_points cells are left, and each cell becomes the count-weighted
    mean of its colours' points (bytes: the mean rounded). ``points``, if given, are the colours'
    points already; otherwise they are computed a chunk at a time, so memory stays small. ``check``:
    called between steps, to stop by raising (a cancel: 2 s for a photograph's 11.7 million colours)."""
    if len(codes) <= max_points:
        rgb = unpack_rgb(codes)
        return rgb, METRIC_SPACES[space](rgb) if points is None else points, counts.astype(np.float64)
    red, green, blue = ((codes >> np.uint32(shift)) & np.uint32(255) for shift in (0, 8, 16))
    for bits in range(1, 8):
        check()
        side = np.uint32(256 >> bits)
        keys = ((red >> np.uint32(bits)) * side + (green >> np.uint32(bits))) * side + (blue >> np.uint32(bits))
        occupied = np.flatnonzero(np.bincount(keys, minlength=int(side) ** 3))
        if len(occupied) <= max_points:
            break
    cell_of_key = np.zeros(int(side) ** 3, dtype=np.int64)
    cell_of_key[occupied] = np.arange(len(occupied))
    cells = cell_of_key[keys]
    del red, green, blue, keys
    weights = np.asarray(counts, dtype=np.float64)
    totals = np.bincount(cells, weights=weights, minlength=len(occupied))
    sums = np.zeros((len(occupied), 3))
    step = 1 << 20
    for start in range(0, len(codes), step):
        check()
        chunk = slice(start, start + step)
        chunk_points = METRIC_SPACES[space](unpack_rgb(codes[chunk])) if points is None else points[chunk]
        for axis in range(3):
            sums[:, axis] += np.bincount(cells[chunk], weights=weights[chunk] * chunk_points[:, axis],
                                         minlength=len(occupied))
    means = sums / totals[:, None]
    return _to_bytes(means, space), means, totals


def _kmeans_palette(codes, counts, n_colours, space, check=_go_on):
    """k-means palette; see build_palette and the module docstring (``check``: see
    build_palette_and_nearest).

    1. The distinct colours (merged into 2x2x2 cells ... only beyond MAX_POINTS, see _points) are
       merged into cells that are small where there are many pixels and large where there are few
       (see _merge_cells): at most KMEANS_FINE_POINTS fine cells, and these (as their mean colours)
       into at most KMEANS_COARSE_POINTS coarse ones. Every step below is deterministic: no
       sampling, no random start.
    2. Weighted median cut of the coarse cells, then weighted Lloyd iterations in RGB or CIELAB on
       the coarse cells (at most KMEANS_MAX_ITER) and on the fine cells (KMEANS_FINE_ITER), each
       while it lowers the error by KMEANS_MIN_GAIN.
    3. Refinement on the fine cells as the palette will be used: the centres are rounded to bytes,
       every cell is assigned to its nearest entry (exactly: bounds from the triangle inequality
       where they settle it, a KD-tree where not; CIE76 for both CIELAB metrics), and
       each entry moves to its cells' weighted mean, while the total error goes down by more than
       REFINE_MIN_GAIN (at most REFINE_MAX_ITER times). An entry that duplicates another after
       rounding, or serves no cell, is moved onto the cell with the largest weighted error, so the
       palette keeps n_colours distinct colours.
    The palette is ordered by the pixels nearest to each entry (all distinct colours, exactly),
    ties to the lower index as the mapper settles them (for ciede2000: nearest by CIE76).
    Returns the Palette and the index of the nearest entry of each of _points's points.
    """
    rgb, points, weights = _points(codes, counts, space, MAX_POINTS, check=check)
    fine_points, fine_weights, fine_cells = _merge_cells(rgb, points, weights, max(KMEANS_FINE_POINTS, 32 * n_colours),
                                                         check)
    fine_rgb = _to_bytes(fine_points, space)
    coarse_points, coarse_weights, coarse_cells = _merge_cells(fine_rgb, fine_points, fine_weights,
                                                               max(KMEANS_COARSE_POINTS, 8 * n_colours), check)
    if len(coarse_points) < n_colours:  # too few cells for a start: the colours themselves
        coarse_points, coarse_weights = fine_points, fine_weights = points, weights
        fine_rgb, fine_cells, coarse_cells = rgb, None, None
    centres = _median_cut_centres(coarse_points, coarse_weights, n_colours, check)
    centres = _lloyd(coarse_points, coarse_weights, centres, KMEANS_MAX_ITER, check=check)
    groups = None if coarse_cells is None else (coarse_points, coarse_cells)
    centres = _lloyd(fine_points, fine_weights, centres, KMEANS_FINE_ITER, groups, check)
    palette, fine_labels, fine_bound = _refine(_to_bytes(centres, space), fine_rgb, fine_points, fine_weights,
                                               space, groups, check)
    guess, bound = fine_labels, fine_bound
    if fine_labels is not None and fine_cells is not None:
        # A colour is as far from every other entry as its cell is, less its distance to the cell.
        guess = fine_labels[fine_cells]
        bound = fine_bound[fine_cells] - np.sqrt(((points - fine_points[fine_cells]) ** 2).sum(axis=1))
    palette, labels = _order_by_use(palette, points, weights, space, guess, bound, check)
    return Palette(palette, name="kmeans"), labels


def _cell_levels(rgb, weights, check=_go_on):
    """For each level of RGB cells, finest first: (cell number of each colour, number of cells,
    pixels in each colour's cell). Level 0 is the colour itself; level b (1 to 7) cells of 2^b
    values a side. ``check``: called between levels (see _points)."""
    levels = [(np.arange(len(rgb)), len(rgb), weights)]
    channels = [rgb[:, axis].copy() for axis in range(3)]
    for bits in range(1, 8):
        check()
        side_bits = 8 - bits
        for channel in channels:
            channel >>= 1
        keys = ((channels[0].astype(np.int32) << 2 * side_bits) | (channels[1].astype(np.int32) << side_bits)
                | channels[2])
        size = 1 << 3 * side_bits
        levels.append((keys, size, np.bincount(keys, weights=weights, minlength=size)[keys]))
    return levels


def _merge_cells(rgb, points, weights, max_points, check=_go_on):
    """At most max_points weighted points (the weighted means of the colours of each cell, and the
    cell's pixels) from colours (``rgb``: their bytes) at these points: each colour joins the
    smallest cell around it, of the levels of _cell_levels, that holds at least a threshold of
    pixels (else the largest). So colours stay apart where the image has many pixels, which is
    where a palette needs its detail (the dark sky of a deep-field photograph), and are merged
    where it has few. The threshold is the smallest, to within 10%, that leaves at most max_points
    cells. Also returns the cell of each colour (None: each colour is its own cell)."""
    if len(points) <= max_points:
        return points, weights, None
    levels = _cell_levels(rgb, weights, check)
    # Every cell of every level gets one number: the levels one after another, finest first.
    offsets = np.cumsum([0] + [size for _, size, _ in levels[:-1]])
    numbers = np.stack([keys.astype(np.int32) + np.int32(offset) for (keys, _, _), offset in zip(levels, offsets)])
    occupied = np.zeros(int(offsets[-1]) + levels[-1][1], dtype=bool)
    colours = np.arange(len(points))

    def choose(threshold):
        """The number of the cell each colour joins, and the number of cells."""
        check()
        level = np.zeros(len(points), dtype=np.intp)  # cells nest, so pixels grow with the level
        for _, _, pixels in levels[:-1]:
            level += pixels < threshold
        cells = numbers[level, colours]
        occupied[cells] = True
        count = int(np.count_nonzero(occupied))
        occupied[cells] = False
        return cells, count

    # Bracket the threshold between a low one (too many cells) and a high one (few enough), then
    # halve the bracket. Below the smallest count, every colour is its own cell: too many.
    threshold = weights.sum() / max_points
    cells, count = choose(threshold)
    if count > max_points:
        low, high = threshold, None
    else:
        low, high = None, threshold
    while low is None or high is None:
        threshold = threshold * 2.0 if high is None else threshold / 2.0
        threshold_cells, count = choose(threshold)
        if count > max_points:
            low = threshold
        else:
            high, cells = threshold, threshold_cells
    while high > 1.1 * low:
        middle = (low + high) / 2.0
        middle_cells, middle_count = choose(middle)
        if middle_count <= max_points:
            high, cells = middle, middle_cells
        else:
            low = middle
    occupied[cells] = True
    kept = np.flatnonzero(occupied)
    dense = np.empty(len(occupied), dtype=np.int64)
    dense[kept] = np.arange(len(kept))
    cells = dense[cells]
    return _weighted_means(cells, points, weights, len(kept)) + (cells,)


def _lloyd(points, weights, centres, max_iter, groups=None, check=_go_on):
    """Weighted Lloyd iterations while each lowers the total squared error by at least
    KMEANS_MIN_GAIN of it. Each point's KMEANS_CANDIDATES nearest centres are found with a KD-tree
    every KMEANS_REFRESH iterations; in between, a point is assigned to the nearest of those (late
    iterations move centres little, so a point's nearest centre stays among them). A point is
    measured against all its candidates only where it is not clearly nearer to its own centre than
    to the others when last measured, less the furthest any of them has moved since (the triangle
    inequality); elsewhere its centre stays, as measuring would find. A centre that loses all its
    points stays where it is (the refinement moves it). ``groups``: None, or (points, the group of
    each point) whose KMEANS_INHERITED_CANDIDATES nearest centres are the points' first
    candidates (the coarse cells the fine ones were merged into)."""
    total = None
    columns = [np.ascontiguousarray(points[:, axis]) for axis in range(points.shape[1])]
    weighted = [weights * column for column in columns]  # the sums _weighted_means would form each time
    previous = centres
    for iteration in range(max_iter):
        check()
        if iteration % KMEANS_REFRESH == 0:
            searched, k, group = points, KMEANS_CANDIDATES, slice(None)
            if groups is not None and iteration == 0:
                (searched, group), k = groups, KMEANS_INHERITED_CANDIDATES
            _, candidates = _query(_kd_tree(centres), searched, min(k, len(centres)))
            # A row per rank (k x N): NumPy reduces along the first axis ten times faster.
            by_rank = np.ascontiguousarray(candidates.reshape(len(searched), -1)[group].T)
            labels, own, others = _nearest_candidates(columns, centres, by_rank)
        else:
            others -= np.take(np.sqrt(((centres - previous) ** 2).sum(axis=1)), by_rank).max(axis=0)
            own = _squared_distances(columns, centres, labels[:, None])[:, 0]
            measure = np.flatnonzero(own >= _below(others))
            if len(measure):
                labels[measure], own[measure], others[measure] = _nearest_candidates(
                    [column[measure] for column in columns], centres, by_rank[:, measure])
        new_total = (weights * own).sum()
        if total is not None and total - new_total <= KMEANS_MIN_GAIN * total:
            break
        total = new_total
        sums = np.stack([np.bincount(labels, weights=values, minlength=len(centres)) for values in weighted], axis=1)
        totals = np.bincount(labels, weights=weights, minlength=len(centres))
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / totals[:, None]
        empty = np.isnan(means).any(axis=1)
        means[empty] = centres[empty]
        centres, previous = means, centres
    return centres


def _nearest_candidates(columns, centres, by_rank):
    """(nearest candidate centre, its squared distance, the distance to the next nearest) of each
    point (its coordinates: ``columns``, one array per axis) among its candidates (``by_rank``: a
    row per rank, k x points), ties to the lower rank, as argmin would settle them."""
    centre_columns = [np.ascontiguousarray(centres[:, axis]) for axis in range(centres.shape[1])]
    label = best = runner = None
    for ranked in by_rank:
        squared = None
        for column, centre_column in zip(columns, centre_columns):
            difference = np.take(centre_column, ranked)
            np.subtract(column, difference, out=difference)
            difference *= difference
            squared = difference if squared is None else np.add(squared, difference, out=squared)
        if best is None:
            label, best, runner = ranked.copy(), squared, np.full(len(squared), np.inf)
            continue
        np.minimum(runner, np.maximum(best, squared), out=runner)
        closer = squared < best
        label[closer] = ranked[closer]
        np.minimum(best, squared, out=best)
    return label, best, np.sqrt(runner)


def _squared_distances(columns, centres, candidates):
    """Squared distances of each point (its coordinates: ``columns``, one array per axis) to its
    candidate centres (an index array, a row per point), axis after axis."""
    distances = None
    for axis, column in enumerate(columns):
        difference = np.take(np.ascontiguousarray(centres[:, axis]), candidates)
        np.subtract(column[:, None], difference, out=difference)
        difference *= difference
        distances = difference if distances is None else np.add(distances, difference, out=distances)
    return distances


def _kd_tree(targets):
    """SciPy's KD-tree of the targets (SciPy is kmeans's one optional dependency)."""
    try:
        from scipy.spatial import cKDTree
    except ImportError as error:
        raise SciPyMissingError("{} ({})".format(_INSTALL_SCIPY, error)) from error
    return cKDTree(targets)


def _query(tree, points, k):
    """The tree's k nearest targets of the points: (distances, indices), in threads for many points
    (for a few, starting threads costs more than it saves)."""
    return tree.query(points, k=k, workers=-1 if len(points) >= _THREADED_QUERY else 1)


def _order_by_use(palette, points, weights, space, guess=None, bound=None, check=_go_on):
    """The palette ordered by the pixels nearest to each entry, most first, ties by code, and the
    index of the nearest entry of each point in that order. Ties between entries go to the lower
    index, so reordering can move the few tied colours: their tied entries are listed once, and
    each order gives them the first of these, until the order holds. ``guess``, ``bound``: see
    _nearest_exactly."""
    targets = METRIC_SPACES[space](palette)
    labels, contested = _nearest_exactly(targets, points, guess, bound)
    check()
    starts, tied = _tied_entries(targets, points[contested], check)
    position = np.arange(len(palette))  # of each entry of the first order in the current one
    for _ in range(10):
        totals = np.bincount(labels, weights=weights, minlength=len(palette))
        order = _frequency_order(pack_rgb(palette), totals)
        if (order == np.arange(len(order))).all():
            break
        palette = palette[order]
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        labels = rank[labels]
        position = rank[position]
        if len(contested):
            labels[contested] = np.minimum.reduceat(position[tied], starts)
    return palette, labels


def _tied_entries(targets, points, check=_go_on):
    """(where each point's entries start, the entries at exactly its least distance, point after
    point), measured as the mapper measures (nearest.distances, term by term); ``check``: called
    before each chunk."""
    starts, tied = [np.zeros(0, dtype=np.intp)], [np.zeros(0, dtype=np.intp)]
    step = max(1, _PAIRS_PER_CHUNK // len(targets))
    found = 0
    for start in range(0, len(points), step):
        check()
        exact = distances(points[start:start + step], targets, "rgb")
        rows, entries = np.nonzero(exact == exact.min(axis=1)[:, None])
        starts.append(found + np.flatnonzero(np.diff(rows, prepend=-1)))
        tied.append(entries)
        found += len(entries)
    return np.concatenate(starts), np.concatenate(tied)


def _nearest_exactly(targets, points, guess=None, bound=None):
    """(index of the nearest target of each point, indices of the points with a near tie): the
    answers of nearest.nearest_palette_indices (Euclidean), ties to the lowest index. A point
    closer to its ``guess`` (a target index per point, or None) than half the distance from that
    target to any other is nearest to it, with no tie (the triangle inequality); so is a point
    closer to it than its ``bound`` (None, or a lower bound per point on its distance to every
    target but its guess). For the others,
    the KD-tree's two nearest decide where they lie clearly apart; where they are within
    _TIE_TOLERANCE, its eight nearest are measured again as the mapper measures (term by term, see
    nearest.distances); where all eight are that close, every target is."""
    if len(targets) == 1:
        return np.zeros(len(points), dtype=np.int64), np.zeros(0, dtype=np.int64)
    tree = _kd_tree(targets)
    if guess is None:
        return _searched(tree, targets, points)
    radius = _query(tree, targets, 2)[0][:, 1] / 2.0  # half the distance to the nearest other target
    squared = np.zeros(len(points))
    for axis in range(3):
        difference = points[:, axis] - targets[guess, axis]
        difference *= difference
        squared += difference
    limit = _below(radius)[guess]
    if bound is not None:
        np.maximum(limit, _below(bound), out=limit)
    labels = np.asarray(guess, dtype=np.int64).copy()
    search = np.flatnonzero(squared >= limit)
    if len(search) == 0:
        return labels, search
    labels[search], contested = _searched(tree, targets, points[search])
    return labels, search[contested]


def _below(distances):
    """Squared distances a point must stay under to be clearly nearer than these: far above
    rounding errors (-inf where a distance is not positive)."""
    limit = np.square(distances)
    limit *= 1.0 - _RELATIVE_MARGIN  # an infinite distance stays infinite
    limit -= _TIE_TOLERANCE
    limit[~(distances > 0)] = -np.inf
    return limit


def _searched(tree, targets, points):
    """_nearest_exactly without a guess: through the KD-tree ``tree`` of the targets."""
    distances, labels = _query(tree, points, 2)
    contested = np.flatnonzero(distances[:, 1] ** 2 - distances[:, 0] ** 2 <= _TIE_TOLERANCE)
    labels = labels[:, 0]
    if len(contested) == 0:
        return labels, contested
    k = min(8, len(targets))
    distances, candidates = _query(tree, points[contested], k)
    close = distances ** 2 <= distances[:, :1] ** 2 + _TIE_TOLERANCE  # holds every target that can be nearest
    exact = np.zeros(candidates.shape)
    for axis in range(3):
        difference = points[contested, axis, None] - targets[candidates, axis]
        difference *= difference
        exact += difference
    exact[~close] = np.inf
    nearest = exact == exact.min(axis=1)[:, None]
    labels[contested] = np.where(nearest, candidates, len(targets)).min(axis=1)
    if k < len(targets):
        crowded = contested[close[:, -1]]
        if len(crowded):
            labels[crowded] = nearest_palette_indices(points[crowded], targets, "rgb")  # plain Euclidean
    return labels, contested


def _assign(palette, points, weights, space, before=None, groups=None):
    """Nearest entry of every point, the weighted squared error of each point, the total, and the
    state for the next call: (entries in the space, labels, a lower bound on each point's distance
    to every entry but its own). ``before``: that state of the last call. Between two calls most
    entries move by a unit or none, a few further: each point is measured against its entry and
    the _MOVERS entries that moved furthest, and every other entry is at least the old bound less
    the furthest any of them moved away (the triangle inequality). A point clearly nearest to one
    of those it was measured against keeps it, unsearched (the KD-tree would find the same entry);
    the others are searched. ``groups`` (first call only): None, or (points, the group of each
    point): each point is measured against the KMEANS_INHERITED_CANDIDATES entries nearest to its
    group, and every other entry is at least as far as the last of those from the group, less the
    point's distance to the group."""
    targets = METRIC_SPACES[space](palette)
    if before is None and groups is None:
        search = np.arange(len(points))
        labels, nearest, second = (np.empty(len(points), dtype=np.intp), np.empty(len(points)),
                                   np.empty(len(points)))
    elif before is None:
        group_points, group = groups
        k = min(KMEANS_INHERITED_CANDIDATES, len(targets))
        distances, ranked = _query(_kd_tree(targets), group_points, k)
        distances, ranked = distances.reshape(len(group_points), -1), ranked.reshape(len(group_points), -1)
        columns = [np.ascontiguousarray(points[:, axis]) for axis in range(points.shape[1])]
        labels, squared, runner_up = _nearest_candidates(columns, targets, np.ascontiguousarray(ranked[group].T))
        nearest = np.sqrt(squared)
        if k < len(targets):
            away = np.sqrt(((points - group_points[group]) ** 2).sum(axis=1))
            second = np.minimum(runner_up, distances[group, -1] - away)
        else:
            second = runner_up
        search = np.flatnonzero(squared >= _below(second))
    else:
        old_targets, labels, second = before
        moves = np.sqrt(((targets - old_targets) ** 2).sum(axis=1))
        order = np.argsort(-moves, kind="stable")
        # Up to _MOVERS of them, cut where the moves drop (a mover more that moved as far as the
        # rest would not lower their bound).
        ranked, most = np.append(moves[order], 0.0), min(_MOVERS, len(order))
        drops = np.flatnonzero(ranked[1:most + 1] < ranked[:most]) + 1
        count = drops[-1] if len(drops) else most
        movers, rest = order[:count], ranked[count]
        others = second - rest  # bound on the distance to every entry but the point's own and the movers
        columns = [np.ascontiguousarray(points[:, axis]) for axis in range(points.shape[1])]
        nearest = np.sqrt(_squared_distances(columns, targets, labels[:, None])[:, 0])
        first, runner_up, closest = _two_nearest(columns, targets, movers, labels)
        stays = nearest ** 2 < _below(np.minimum(others, first))
        moves_to = ~stays & (first ** 2 < _below(np.minimum(np.minimum(others, nearest), runner_up)))
        second = np.where(stays, np.minimum(others, first), np.minimum(np.minimum(others, nearest), runner_up))
        labels = np.where(moves_to, closest, labels)
        nearest = np.where(moves_to, first, nearest)
        search = np.flatnonzero(~(stays | moves_to))
    if len(search):
        distances, found = _query(_kd_tree(targets), points[search], 2)
        labels[search], nearest[search], second[search] = found[:, 0], distances[:, 0], distances[:, 1]
    error = weights * nearest ** 2
    return labels, error, error.sum(), (targets, labels, second)


def _two_nearest(columns, targets, entries, labels):
    """Distance of each point (its coordinates: ``columns``, one array per axis) to the nearest and
    the second-nearest of ``entries`` other than its own label, and that nearest entry (inf, inf
    and -1 where there are none)."""
    first = np.full(len(labels), np.inf)
    second = first.copy()
    closest = np.full(len(labels), -1, dtype=np.intp)
    for entry in entries:
        squared = None
        for axis, column in enumerate(columns):
            difference = column - targets[entry, axis]
            difference *= difference
            squared = difference if squared is None else np.add(squared, difference, out=squared)
        squared[labels == entry] = np.inf
        np.minimum(second, np.maximum(first, squared), out=second)
        closest[squared < first] = entry
        np.minimum(first, squared, out=first)
    return np.sqrt(first), np.sqrt(second), closest


def _fix_dead_entries(palette, labels, error, rgb):
    """Move duplicated and unused entries onto the worst-served colours (a copy; None if none)."""
    used = np.bincount(labels, minlength=len(palette)) > 0
    _, first = np.unique(pack_rgb(palette), return_index=True)
    unique = np.zeros(len(palette), dtype=bool)
    unique[first] = True
    dead = np.flatnonzero(~(used & unique))
    if len(dead) == 0:
        return None
    worst = np.argsort(-error, kind="stable")[:len(dead)]
    worst = worst[error[worst] > 0]
    if len(worst) == 0:
        return None
    palette = palette.copy()
    palette[dead[:len(worst)]] = rgb[worst]
    return palette


def _refine(palette, rgb, points, weights, space, groups=None, check=_go_on):
    """Lloyd iterations on the rounded palette while the total error goes down; returns the last
    palette that lowered it (distinct colours), the nearest entry of each point and a lower bound
    on its distance to every other entry (both None if duplicates had to be dropped). ``groups``:
    see _assign."""
    labels, error, total, state = _assign(palette, points, weights, space, groups=groups)
    for _ in range(REFINE_MAX_ITER):
        check()
        candidate = _fix_dead_entries(palette, labels, error, rgb)
        fixing = candidate is not None
        if not fixing:
            means, _ = _weighted_means(labels, points, weights, len(palette))
            candidate = palette.copy()
            moved = ~np.isnan(means).any(axis=1)
            candidate[moved] = _to_bytes(means[moved], space)
            if np.array_equal(candidate, palette):
                break
        new_labels, new_error, new_total, new_state = _assign(candidate, points, weights, space, state)
        if not fixing and new_total >= total:
            break
        gain = (total - new_total) / total if total > 0 else 0.0
        palette, labels, error, total, state = candidate, new_labels, new_error, new_total, new_state
        if not fixing and gain < REFINE_MIN_GAIN:
            break
    _, first = np.unique(pack_rgb(palette), return_index=True)
    if len(first) == len(palette):
        return palette, labels, state[2]
    return palette[np.sort(first)], None, None  # drops duplicates only when the refinement could not separate them
