"""Floyd-Steinberg error diffusion onto a palette: serpentine, exact, vectorised (QGIS-free).

What is computed (``reference_floyd_steinberg`` does the same, pixel by pixel). The textbook scan
visits the rows top to bottom, even rows (counting from the raster's first row) left to right
and odd rows right to left. Each pixel's wanted colour is its own colour plus the error it
received; it gets the palette entry of that wanted colour and passes the difference on: 7/16 to
the next pixel in the row, 3/16, 5/16 and 1/16 to the pixels below (behind, under, ahead).
Errors live in the space of the metric: RGB for "rgb", CIELAB for "cielab" and "ciede2000".
Nodata pixels neither receive nor pass on error.

Arithmetic is fixed-point, so nothing depends on the order of additions:
  * colours and received errors are integers in 1/4096 of a unit (a level of 0-255 RGB, or one
    CIELAB unit). The wanted colour is clamped to the space's box (RGB 0-255; L 0-100, a and b
    -128..127), which bounds the errors;
  * a pixel's error is rounded (half up) to 1/16 of a unit, so 7/16, 5/16, 3/16 and 1/16 of it
    are exact. The rounding is far below what 8-bit output can show.
Quantisation of a wanted colour: for "rgb", round it to 0-255 integers and take the exact nearest
palette entry of that colour (the mapper's answer). For the CIELAB metrics, convert it to sRGB,
round and clip each channel to 0-255 (by counting the sRGB rounding thresholds, in linear light,
below it) and take the nearest entry (CIE76 or CIEDE2000) of that colour: an approximation of the
nearest entry of the unrounded Lab colour, off by no more than the rounding to 8-bit sRGB.

How it is fast and still exact. A right-to-left row starts where the previous row ended, so rows
are strictly sequential; the work is vectorised within a row. The row is cut into chunks of K
pixels that are scanned together, one numpy operation per position for all of them. The state
entering a chunk (7/16 of the error of the pixel before) is not known yet, so each chunk is
scanned from several guesses, each starting M pixels early (a warm-up): zero, and the errors the
row two above (scanned in the same direction) had around there. A pixel keeps only 7/16 of its
predecessor's error, and errors are rounded, so guesses tend to end the warm-up in one state, and
that is usually the true one. Guesses that end the warm-up in the same state agree from there on,
so each chunk is then scanned once per distinct state (a "track"), usually one or two. A walk from
the first chunk (whose entering state is known: zero) then follows the true state: the scan of
a row is a first-order recurrence, so if the state a chunk ends in is the starting state of one
of the next chunk's tracks, that track is the true scan of the next chunk. If none is, the chunk
is scanned from the true state in plain Python, one pixel at a time, until its error equals a
track's error at the same pixel (from there on they agree). Every pixel of the result therefore
comes from a scan that started from the true state: it is identical to the pixel-by-pixel scan,
whatever K, M and the guesses; those only change the speed (``misses`` counts the chunks the
guesses missed, ``fallback_pixels`` the pixels scanned in plain Python).

Palette searches. Dithering meets new colours all the time (on a photo, at about every other
pixel position of a row), a few at a time. They are looked up in the mapper's table of all 2^24
sRGB codes, which the mapper searches by its own rule, small batches by direct formulas (see
NearestColourMapper.indices_of). Once searching has taken 3 s (RGB or CIELAB), the whole table is
filled at once, which takes about as long (NearestColourMapper.fill_table).

Errors are carried from block to block in ``FloydSteinbergDither``, so the result does not depend
on the block size.
"""

from bisect import bisect_left, bisect_right

import numpy as np

from .colorspace import D65_WHITE, LAB_EPSILON, LAB_KAPPA, XYZ_TO_SRGB, levels_to_lab, srgb_to_linear
from .metrics import metric as registered_metric
from .nearest import UNKNOWN

DITHER_METHODS = ("none", "floyd-steinberg")

_FRACTION_BITS = 12
_FRACTION = 1 << _FRACTION_BITS  # colours and received errors: integers in 1/4096 of a unit
_HALF = _FRACTION // 2
_ERROR_BITS = 8  # a pixel's error, e, is rounded to 2**8 / 4096 = 1/16 of a unit
_ERROR_ROUND = 1 << (_ERROR_BITS - 1)
# what e (in 1/16 units) gives, in 1/4096 units: 7/16 of it to the next pixel (the "carry"),
# 3/16, 5/16 and 1/16 to the pixels below behind, under and ahead
_UNIT = 1 << (_ERROR_BITS - 4)
_RIGHT, _BEHIND, _UNDER, _AHEAD = 7 * _UNIT, 3 * _UNIT, 5 * _UNIT, 1 * _UNIT

# Lab -> sRGB with elementwise operations only, like colorspace's sRGB -> Lab (no matrix products,
# whose rounding may depend on array shapes through BLAS), once for arrays and once for Python
# floats, with the same operations in the same order, so both give the same bits.
# Lab's t = f^3 (or its linear part) to linear sRGB: the inverse matrix, white point folded in
_T_TO_LINEAR = tuple(tuple(float(v) * w for v, w in zip(row, D65_WHITE.tolist())) for row in XYZ_TO_SRGB.tolist())
_T_TO_LINEAR_COLUMNS = [np.array(column)[:, None] for column in zip(*_T_TO_LINEAR)]

_THRESHOLDS = srgb_to_linear((np.arange(255) + 0.5) / 255.0)  # linear light where rounding moves up a level
_THRESHOLD_LIST = _THRESHOLDS.tolist()
# Counting the thresholds at or below a linear value (np.searchsorted(_THRESHOLDS, v, "right")) by
# table: a value in bin b = floor(v * 2^16) is above the thresholds of earlier bins, and a bin
# holds at most one threshold (they are at least 3e-4 apart).
_BINS = 1 << 16
_BIN_OF_THRESHOLD = np.floor(_THRESHOLDS * _BINS).astype(np.intp)
assert (np.diff(_BIN_OF_THRESHOLD) > 0).all()
_LEVELS_BEFORE_BIN = np.searchsorted(_BIN_OF_THRESHOLD, np.arange(_BINS)).astype(np.intp)
_THRESHOLD_IN_BIN = np.full(_BINS, np.inf)
_THRESHOLD_IN_BIN[_BIN_OF_THRESHOLD] = _THRESHOLDS
_BELOW_ONE = 1.0 - 2.0 ** -20


def _srgb_to_lab(red, green, blue):
    """CIELAB (3 x ...) of 0-255 integer sRGB channels: colorspace's, bit for bit, by table."""
    return np.stack(levels_to_lab(red, green, blue))


def _srgb_levels(linear):
    """Rounded, clipped 0-255 sRGB levels of linear-light values (any shape)."""
    clipped = np.maximum(linear, 0.0)
    np.minimum(clipped, _BELOW_ONE, out=clipped)
    clipped *= _BINS
    bins = clipped.astype(np.intp)
    return _LEVELS_BEFORE_BIN[bins] + (linear >= _THRESHOLD_IN_BIN[bins])


def _lab_codes(wanted):
    """Packed 0-255 sRGB codes (n) of fixed-point Lab colours (3 x n int32)."""
    lab = wanted * (1.0 / _FRACTION)
    fy = (lab[0] + 16.0) / 116.0
    f = np.stack([fy + lab[1] / 500.0, fy, fy - lab[2] / 200.0])
    cube = f * f * f
    t = np.where(cube > LAB_EPSILON, cube, (116.0 * f - 16.0) / LAB_KAPPA)
    columns = _T_TO_LINEAR_COLUMNS
    levels = _srgb_levels(columns[0] * t[0] + columns[1] * t[1] + columns[2] * t[2])
    return levels[0] | (levels[1] << 8) | (levels[2] << 16)


def _lab_code(w0, w1, w2):
    """_lab_codes of one fixed-point Lab colour given as Python ints."""
    scale = 1.0 / _FRACTION
    fy = (w0 * scale + 16.0) / 116.0
    t = []
    for f in (fy + (w1 * scale) / 500.0, fy, fy - (w2 * scale) / 200.0):
        cube = f * f * f
        t.append(cube if cube > LAB_EPSILON else (116.0 * f - 16.0) / LAB_KAPPA)
    code = 0
    for shift, row in zip((0, 8, 16), _T_TO_LINEAR):
        code |= bisect_right(_THRESHOLD_LIST, row[0] * t[0] + row[1] * t[1] + row[2] * t[2]) << shift
    return code


class _Quantizer:
    """The metric's colour space in fixed point, and the palette entry of a wanted colour."""

    _SHIFTS = np.array([[0], [8], [16]], dtype=np.int32)
    def __init__(self, mapper, metric):
        # Once the mapper has spent fill_after seconds searching colours a few at a time, its whole
        # table is filled at once (which takes about as long): the cost stays within twice the
        # better of the two. CIEDE2000 is never filled (that would take hours).
        self.fill_after = registered_metric(mapper.metric).fill_after
        self.mapper, self.lab = mapper, registered_metric(metric).space == "cielab"
        self.table = mapper.table  # the mapper's answers, filled in place: always this array
        colours = np.asarray(mapper.palette_colours, dtype=np.int64).reshape(-1, 3)
        self.palette = self.target_of_rgb(colours[:, 0], colours[:, 1], colours[:, 2])  # 3 x N
        self.palette_list = self.palette.T.tolist()
        if self.lab:
            low, high = (0.0, -128.0, -128.0), (100.0, 127.0, 127.0)
        else:
            low, high = (0.0, 0.0, 0.0), (255.0, 255.0, 255.0)
        self.low = (np.array(low) * _FRACTION).astype(np.int32)[:, None]
        self.high = (np.array(high) * _FRACTION).astype(np.int32)[:, None]
        self.low_list, self.high_list = self.low[:, 0].tolist(), self.high[:, 0].tolist()

    def target_of_rgb(self, red, green, blue):
        """Colours (3 x ...) in the metric's space, fixed point (int32), of 0-255 channels."""
        if self.lab:
            return np.rint(_srgb_to_lab(red, green, blue) * _FRACTION).astype(np.int32)
        return np.stack([red, green, blue]).astype(np.int32) * np.int32(_FRACTION)

    def target(self, rgba):
        """Fixed-point colours of packed RGBA codes (rows x cols) -> rows x 3 x cols int32."""
        rgba = np.asarray(rgba, dtype=np.uint32)
        channels = [((rgba >> np.uint32(shift)) & np.uint32(255)).astype(np.intp) for shift in (0, 8, 16)]
        return np.ascontiguousarray(self.target_of_rgb(*channels).transpose(1, 0, 2))

    def _fill(self, codes):
        """Indices of packed codes, searching those not seen yet (the whole table once searching
        has taken long enough)."""
        mapper = self.mapper
        indices = mapper.indices_of(codes)
        if not mapper.complete and self.fill_after is not None and mapper.search_seconds > self.fill_after:
            mapper.fill_table()
        return indices

    def quantize(self, wanted, weight):
        """Palette indices (n, uint16) of wanted colours (3 x n int32, 1/4096 units; clamped in
        place), and their errors rounded to 1/16 units, times ``weight`` (broadcast over n)."""
        np.maximum(wanted, self.low, out=wanted)
        np.minimum(wanted, self.high, out=wanted)
        if self.lab:
            codes = _lab_codes(wanted)
        else:
            levels = wanted + np.int32(_HALF)
            levels >>= _FRACTION_BITS
            levels <<= self._SHIFTS
            codes = levels[0] | levels[1]
            codes |= levels[2]
        indices = self.table[codes]
        try:
            chosen = self.palette.take(indices, axis=1)  # raises if an index is still unknown
        except IndexError:
            indices = self._fill(codes)
            chosen = self.palette.take(indices, axis=1)
        error = wanted - chosen
        error += np.int32(_ERROR_ROUND)
        error >>= _ERROR_BITS
        error *= weight
        return indices, error

    def quantize_one(self, w0, w1, w2):
        """quantize of one wanted colour given as Python ints, weight 1: (index, e0, e1, e2)."""
        low, high = self.low_list, self.high_list
        w0 = low[0] if w0 < low[0] else high[0] if w0 > high[0] else w0
        w1 = low[1] if w1 < low[1] else high[1] if w1 > high[1] else w1
        w2 = low[2] if w2 < low[2] else high[2] if w2 > high[2] else w2
        if self.lab:
            code = _lab_code(w0, w1, w2)
        else:
            code = ((w0 + _HALF) >> _FRACTION_BITS) | (((w1 + _HALF) >> _FRACTION_BITS) << 8) \
                | (((w2 + _HALF) >> _FRACTION_BITS) << 16)
        index = int(self.table[code])
        if index == UNKNOWN:
            index = int(self._fill(np.array([code], dtype=np.int64))[0])
        p = self.palette_list[index]
        return (index, (w0 - p[0] + _ERROR_ROUND) >> _ERROR_BITS, (w1 - p[1] + _ERROR_ROUND) >> _ERROR_BITS,
                (w2 - p[2] + _ERROR_ROUND) >> _ERROR_BITS)


def _spread_below(errors, forward):
    """Error (3 x width, 1/4096 units) the next row receives from a row's errors (1/16 units),
    given in raster order; the row was scanned left to right if ``forward``."""
    below = errors * np.int32(_UNDER)
    if forward:
        below[:, :-1] += errors[:, 1:] * np.int32(_BEHIND)
        below[:, 1:] += errors[:, :-1] * np.int32(_AHEAD)
    else:
        below[:, 1:] += errors[:, :-1] * np.int32(_BEHIND)
        below[:, :-1] += errors[:, 1:] * np.int32(_AHEAD)
    return below


# A chunk and the state entering one of its pixels packed into an int64 key, sorted by chunk
# first: 13 bits a channel hold the error in 1/16 units (|error| <= 16 * 255 in every space).
_KEY_BITS = 13
_KEY_OFFSET = 1 << (_KEY_BITS - 1)
_KEY_CHUNK_SHIFT = 3 * _KEY_BITS
_KEY_SHIFTS = (2 * _KEY_BITS, _KEY_BITS, 0)


def _state_keys(chunks, carries):
    """Keys (int64) of chunks and carries (3 x ..., 1/4096 units) broadcast together."""
    key = np.asarray(chunks, dtype=np.int64) << _KEY_CHUNK_SHIFT
    for carry, shift in zip(carries, _KEY_SHIFTS):
        key = key | (((carry // _RIGHT).astype(np.int64) + _KEY_OFFSET) << shift)
    return key


def _state_key(chunk, carries):
    """_state_keys of one chunk and state given as Python ints."""
    key = chunk << _KEY_CHUNK_SHIFT
    for carry, shift in zip(carries, _KEY_SHIFTS):
        key |= (carry // _RIGHT + _KEY_OFFSET) << shift
    return key


def _key_carries(keys):
    """The carries (3 x n int32) of keys."""
    mask = (1 << _KEY_BITS) - 1
    return np.stack([(((keys >> shift) & mask) - _KEY_OFFSET) * _RIGHT for shift in _KEY_SHIFTS]).astype(np.int32)


class FloydSteinbergDither:
    """Serpentine Floyd-Steinberg dithering of a raster given as successive blocks of full rows.

    ``dither(rgba, valid)`` takes the next rows (packed RGBA codes, rows x width; ``valid`` false
    at nodata) and returns their palette indices (uint16; 0 at nodata, which the caller replaces).
    The error and the row parity carry over to the next call, so any cut into blocks gives the
    same result as one call with the whole raster.

    ``chunk``, ``warmup`` and ``offsets`` (where the guesses are taken from the row two above,
    relative to the start of a chunk's warm-up) and ``plain_width`` (default PLAIN_WIDTH) only
    change the speed (see the module's notes).
    """

    _MERGE_EVERY = 8  # warm-up pixels between two merges of the tracks that agree
    #: Rows up to this wide are scanned one pixel at a time in Python: the chunked scan's fixed cost
    #: of a few hundred numpy calls a row outweighs it there (a 2 x 100,000 raster took a minute).
    PLAIN_WIDTH = 256

    def __init__(self, mapper, metric, width, chunk=None, warmup=16, offsets=(-2, -1, 0, 1, 2), plain_width=None,
                 check=None):
        self.width = int(width)
        self._check = check  # called between rows, to stop by raising (a cancel: a block's rows took seconds)
        self.plain = self.width <= (self.PLAIN_WIDTH if plain_width is None else plain_width)
        self._quantizer = _Quantizer(mapper, metric)
        self._below = np.zeros((3, self.width), dtype=np.int32)
        self._history = [np.zeros((3, self.width), dtype=np.int32)] * 2  # last rows' errors, scan order
        self._row = 0
        self.warmup = int(warmup)
        if chunk is None:  # numpy's cost per call against the warm-up's share of the work
            chunk = int(np.clip(round(np.sqrt(self.width / 4.0)), 16, 64))
        self.chunk = max(1, min(int(chunk), self.width))
        count = -(-self.width // self.chunk)
        starts = np.arange(count) * self.chunk
        self._windows = starts[None, :] + np.arange(self.warmup + self.chunk)[:, None]  # into padded rows
        offsets = np.asarray(offsets, dtype=np.intp)
        self._seed_positions = np.clip(starts[1:, None] - self.warmup - 1 + offsets[None, :], 0, self.width - 1)
        self.misses = 0  # chunks whose entering state no track had
        self.fallback_pixels = 0  # pixels scanned one at a time in Python

    def dither(self, rgba, valid):
        """Palette indices (rows x width uint16) of the next rows of the raster."""
        rgba = np.asarray(rgba, dtype=np.uint32)
        rows, cols = rgba.shape
        if cols != self.width:
            raise ValueError("a block must hold full rows of {} pixels, not {}".format(self.width, cols))
        valid = np.asarray(valid, dtype=bool).reshape(rows, cols)
        targets = self._quantizer.target(rgba)
        if self.plain:  # (the chunked scan's history of rows is not kept: it is never used)
            return self._dither_plainly(targets, valid)
        result = np.empty((rows, cols), dtype=np.uint16)
        for r in range(rows):
            if self._check is not None:
                self._check()
            forward = self._row % 2 == 0
            base = targets[r] + self._below
            ok = valid[r]
            if not forward:
                base, ok = base[:, ::-1], ok[::-1]
            errors, indices = self._scan_row(np.ascontiguousarray(base), np.ascontiguousarray(ok))
            indices *= ok
            self._history = [self._history[1], errors]
            if not forward:
                errors, indices = errors[:, ::-1], indices[::-1]
            result[r] = indices
            self._below = _spread_below(errors, forward)
            self._row += 1
        return result

    def _scan_row(self, base, valid):
        """Errors (3 x width int32, 1/16 units) and indices of one row in scan order; ``base`` is
        each pixel's colour plus the error received from the row above (3 x width, 1/4096 units)."""
        quantizer, width, chunk, warmup = self._quantizer, self.width, self.chunk, self.warmup
        count = self._windows.shape[1]
        padded = np.zeros((3, warmup + count * chunk), dtype=np.int32)
        padded[:, warmup:warmup + width] = base
        padded_weight = np.zeros(warmup + count * chunk, dtype=np.int32)
        padded_weight[warmup:warmup + width] = valid
        padded_weight *= np.int32(_RIGHT)  # a pixel's carry: 7/16 of its error, none at nodata
        windows = np.ascontiguousarray(padded[:, self._windows].transpose(1, 0, 2))  # step x 3 x chunk
        window_weight = padded_weight[self._windows]  # step x chunk

        # tracks: distinct (chunk, entering state) pairs, as sorted keys. They start as the guesses
        # at the start of each chunk's warm-up, and are scanned a few pixels at a time, merging
        # those that arrive at the same state. Chunk 0 has a single track, zero: it starts
        # with the row (its warm-up is all padding).
        guesses = np.zeros((3, count, self._seed_positions.shape[1] + 1), dtype=np.int32)
        guesses[:, 1:, 1:] = self._history[0][:, self._seed_positions] * np.int32(_RIGHT)
        keys = np.unique(_state_keys(np.arange(count)[:, None], guesses))
        for begin in range(0, warmup, self._MERGE_EVERY):
            end = min(begin + self._MERGE_EVERY, warmup)
            track_chunk = keys >> _KEY_CHUNK_SHIFT
            bases = windows[begin:end][:, :, track_chunk]
            weights = window_weight[begin:end][:, track_chunk]
            carry = _key_carries(keys)
            for step in range(end - begin):
                carry = quantizer.quantize(bases[step] + carry, weights[step])[1]
            keys = np.unique(_state_keys(track_chunk, carry))

        # each track through its chunk
        track_chunk = (keys >> _KEY_CHUNK_SHIFT).astype(np.intp)
        first = np.searchsorted(track_chunk, np.arange(count + 1)).tolist()
        bases = windows[warmup:][:, :, track_chunk]
        weights = window_weight[warmup:][:, track_chunk]
        carries = np.empty((chunk, 3, len(keys)), dtype=np.int32)
        indices = np.empty((chunk, len(keys)), dtype=np.uint16)
        carry = _key_carries(keys)
        for step in range(chunk):
            index, carry = quantizer.quantize(bases[step] + carry, weights[step])
            carries[step] = carry
            indices[step] = index

        # follow the true state from chunk to chunk: following[t] is the track of the next chunk
        # that starts where track t ends, or -1
        ends = _state_keys(track_chunk + 1, carries[-1])
        found = np.minimum(np.searchsorted(keys, ends), len(keys) - 1)
        following = np.where(keys[found] == ends, found, -1).tolist()
        key_list = None
        chosen = [0] * count
        redone = []  # (chunk, (indices, carries...) of its first pixels, scanned one at a time)
        track, state = 0, None
        for j in range(1, count):
            if track >= 0:
                track = following[track]
                if track >= 0:
                    chosen[j] = track
                    continue
                state = tuple(carries[-1][:, chosen[j - 1]].tolist())
            else:
                if key_list is None:
                    key_list = keys.tolist()
                key = _state_key(j, state)
                at = bisect_left(key_list, key)
                if at < len(key_list) and key_list[at] == key:
                    chosen[j] = track = at
                    continue
            self.misses += 1
            track, state, done = self._fallback(base, valid, carries, j, first[j], first[j + 1], state)
            chosen[j] = max(track, first[j])
            redone.append((j, done))

        scanned = carries[:, :, chosen].transpose(1, 2, 0).reshape(3, -1)[:, :width].copy()
        picked = indices[:, chosen].T.reshape(-1)[:width].copy()
        for j, done in redone:
            start = j * chunk
            stop = start + len(done[0])
            scanned[:, start:stop] = np.array(done[1:], dtype=np.int32).reshape(3, -1)
            picked[start:stop] = done[0]
        scanned //= np.int32(_RIGHT)
        return scanned, picked

    def _dither_plainly(self, targets, valid):
        """dither() of narrow rows (see PLAIN_WIDTH), one pixel at a time in Python with the
        quantizer's arithmetic for one colour; ``targets``: rows x 3 x width fixed-point colours."""
        quantize_one, width = self._quantizer.quantize_one, self.width
        rows = targets.shape[0]
        result = np.empty((rows, width), dtype=np.uint16)
        below = self._below.tolist()
        for r, (row, ok) in enumerate(zip(targets.tolist(), valid.tolist())):
            if self._check is not None:
                self._check()
            forward = self._row % 2 == 0
            step = 1 if forward else -1
            received, below = below, [[0] * width for _ in range(3)]
            indices = [0] * width
            e0 = e1 = e2 = 0
            for x in range(width) if forward else range(width - 1, -1, -1):
                if not ok[x]:
                    e0 = e1 = e2 = 0
                    continue
                index, e0, e1, e2 = quantize_one(row[0][x] + received[0][x] + _RIGHT * e0,
                                                 row[1][x] + received[1][x] + _RIGHT * e1,
                                                 row[2][x] + received[2][x] + _RIGHT * e2)
                indices[x] = index
                for dx, weight in ((-step, _BEHIND), (0, _UNDER), (step, _AHEAD)):
                    if 0 <= x + dx < width:
                        below[0][x + dx] += weight * e0
                        below[1][x + dx] += weight * e1
                        below[2][x + dx] += weight * e2
            result[r] = indices
            self._row += 1
        self._below = np.array(below, dtype=np.int32).reshape(3, width)
        return result

    def _fallback(self, base, valid, carries, j, first, last, state):
        """Scan chunk j from its true entering state, one pixel at a time, until the carry equals
        that of one of the chunk's tracks (``first`` to ``last``) at the same pixel. Returns that
        track or -1, the end state if no track matched, and (indices, carries...) of the pixels
        scanned."""
        quantize_one, chunk = self._quantizer.quantize_one, self.chunk
        start = j * chunk
        stop = min(start + chunk, self.width)
        b0, b1, b2 = base[:, start:stop].tolist()
        ok = valid[start:stop].tolist()
        tracks = carries[:stop - start, :, first:last].transpose(0, 2, 1).tolist()  # pixel x track x 3
        c0, c1, c2 = state
        done = ([], [], [], [])
        for k in range(stop - start):
            if ok[k]:
                index, e0, e1, e2 = quantize_one(b0[k] + c0, b1[k] + c1, b2[k] + c2)
                c0, c1, c2 = _RIGHT * e0, _RIGHT * e1, _RIGHT * e2
            else:
                index = c0 = c1 = c2 = 0
            done[0].append(index)
            done[1].append(c0)
            done[2].append(c1)
            done[3].append(c2)
            here = tracks[k]
            if [c0, c1, c2] in here:
                self.fallback_pixels += k + 1
                return first + here.index([c0, c1, c2]), None, done
        self.fallback_pixels += stop - start
        return -1, (c0, c1, c2), done


def reference_floyd_steinberg(rgba, valid, mapper, metric):
    """The textbook serpentine scan, pixel by pixel in Python, with the same fixed-point arithmetic,
    clamping and quantiser as FloydSteinbergDither (slow: for tests on small images)."""
    quantizer = _Quantizer(mapper, metric)
    rgba = np.asarray(rgba, dtype=np.uint32)
    rows, cols = rgba.shape
    valid = np.asarray(valid, dtype=bool).reshape(rows, cols)
    targets = quantizer.target(rgba).tolist()
    result = np.zeros((rows, cols), dtype=np.uint16)
    below = [[0, 0, 0] for _ in range(cols)]
    for y in range(rows):
        step = 1 if y % 2 == 0 else -1
        received, below = below, [[0, 0, 0] for _ in range(cols)]
        error = [0, 0, 0]  # of the previous pixel in the scan, 1/16 units
        for x in range(cols) if step == 1 else range(cols - 1, -1, -1):
            if not valid[y, x]:
                error = [0, 0, 0]
                continue
            wanted = [[targets[y][c][x] + received[x][c] + _RIGHT * error[c]] for c in range(3)]
            index, error = quantizer.quantize(np.array(wanted, dtype=np.int32), 1)
            error = error[:, 0].tolist()
            result[y, x] = index[0]
            for dx, weight in ((-step, _BEHIND), (0, _UNDER), (step, _AHEAD)):
                if 0 <= x + dx < cols:
                    below[x + dx] = [b + weight * e for b, e in zip(below[x + dx], error)]
    return result
