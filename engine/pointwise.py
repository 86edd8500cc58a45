"""Styles that colour each pixel from its own value alone (QGIS-free): a band's values become small
colour codes, one table of colours serves every pixel, and the engine maps that table once.

For a Float32 band the colour is a step function of the value: the float32 line falls into pieces
of one colour each. ``find_pieces`` finds them exactly with the style itself as the oracle (it
draws chosen values, nothing is assumed about the style's arithmetic except that, between two of
the style's own break values, each colour channel only rises or only falls); ``PieceClassifier``
then gives every pixel its piece's colour code with a bucket table and, for the few pixels whose
bucket holds a break, a binary search.
"""

import functools

import numpy as np

_SIGN = np.uint32(0x80000000)
#: Buckets of PieceClassifier: 2^12 consecutive float32 bit patterns each, cut in 2^8 fine buckets
#: of 2^4 where a piece starts inside.
_BUCKET_SHIFT, _FINE_BITS, _FINE_SHIFT = 12, 8, 4
STEP = 1 << 18  # pixels per step of a look-up: temporaries stay in the CPU cache
#: Points drawn between two of different colours per round of the search (see find_pieces).
_SPLIT = 16
#: More pieces than this: the style is not worth classifying (a colour per value or nearly).
MAX_PIECES = 60000


class NotPiecewise(Exception):
    """The style's colours could not be pinned to pieces of the value line: draw the layer instead."""


def float_keys(values):
    """uint32 keys of float32 values that sort as the values do: -inf lowest, -0.0 just below 0.0,
    +inf highest of the numbers (NaNs beyond)."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    return np.where(bits & _SIGN, ~bits, bits | _SIGN).astype(np.uint32)


def key_values(keys):
    """The float32 values of float_keys."""
    keys = np.asarray(keys, dtype=np.uint32)
    return np.where(keys & _SIGN, keys & ~_SIGN, ~keys).astype(np.uint32).view(np.float32)


def float32_neighbourhood(values):
    """Every finite value's nearest float32 values on either side, itself when it is one, 0 and
    -0, and the infinities: the points where a style's own break values can change a colour."""
    with np.errstate(over="ignore", invalid="ignore"):
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        nearest = values.astype(np.float32)
        points = [nearest, np.nextafter(nearest, np.float32(-np.inf)), np.nextafter(nearest, np.float32(np.inf)),
                  np.array([-np.inf, np.inf, 0.0, -0.0], dtype=np.float32)]
    points = np.concatenate(points)
    return points[~np.isnan(points)]


def find_pieces(draw, break_values):
    """(starts, colours): the float32 line from -inf to +inf cut where the colour a style draws
    changes; piece i holds the values from starts[i] (float32, ascending, starts[0] = -inf) up to
    the next start, all drawn colours[i] (uint32 codes). ``draw(values)`` -> the style's colour
    codes of a 1-D float32 array; ``break_values``: the style's own breaks (class values, ramp
    items, stretch limits, nodata values and ranges). Between two neighbouring breaks every channel
    of the colour must only rise or only fall, so two equal colours mean one colour between them:
    where the colours of two neighbouring points differ, points are drawn between them until every
    change lies between two adjacent float32 values."""
    keys = np.unique(float_keys(float32_neighbourhood(break_values)))
    colours = np.asarray(draw(key_values(keys)), dtype=np.uint32)
    while True:
        gap = keys[1:].astype(np.int64) - keys[:-1].astype(np.int64)
        open_ = (colours[1:] != colours[:-1]) & (gap > 1)
        if not open_.any():
            break
        if open_.sum() > MAX_PIECES:
            raise NotPiecewise("more than {} colour changes".format(MAX_PIECES))
        low, span = keys[:-1][open_].astype(np.int64), gap[open_]
        inside = (low[:, None] + (span[:, None] * np.arange(1, _SPLIT)) // _SPLIT).ravel()
        inside = np.unique(inside).astype(np.uint32)
        inside = inside[~np.isin(inside, keys)]
        keys = np.concatenate([keys, inside])
        colours = np.concatenate([colours, np.asarray(draw(key_values(inside)), dtype=np.uint32)])
        order = np.argsort(keys, kind="stable")
        keys, colours = keys[order], colours[order]
    if len(keys) and colours[keys == float_keys(np.float32(-0.0))] != colours[keys == float_keys(np.float32(0.0))]:
        raise NotPiecewise("-0 and 0 are drawn in different colours")
    change = np.concatenate([[True], colours[1:] != colours[:-1]])
    if change.sum() > MAX_PIECES:
        raise NotPiecewise("more than {} pieces".format(MAX_PIECES))
    return key_values(keys[change]), colours[change]


class PieceClassifier:
    """Colour codes of float32 values, given the pieces of find_pieces: ``colours`` (uint32, one
    per code, the last for NaN) and ``classify(values)`` -> codes (uint8 when they fit).

    A table over the top 20 bits of each value's bit pattern (2^20 buckets, each a run of 4096
    consecutive float32 values) holds the code of every bucket that lies within one piece; a
    bucket that a piece starts inside has a finer table of its own (256 buckets of 16 values), and
    only values in a fine bucket that a piece starts inside are searched among the starts."""

    def __init__(self, starts, piece_colours, nan_colour):
        self.starts = np.asarray(starts, dtype=np.float32)
        colours, piece_codes = np.unique(np.append(np.asarray(piece_colours, np.uint32), np.uint32(nan_colour)),
                                         return_inverse=True)
        self.colours = colours.astype(np.uint32)
        self.dtype = np.uint8 if len(colours) < 255 else np.uint16
        self.mark = np.iinfo(self.dtype).max  # a bucket to look into further
        self.piece_codes = piece_codes[:-1].astype(self.dtype)
        self.nan_code = self.dtype(piece_codes[-1])
        first = np.arange(1 << (32 - _BUCKET_SHIFT), dtype=np.uint32) << np.uint32(_BUCKET_SHIFT)
        self.table = self._codes_of_runs(first, (1 << _BUCKET_SHIFT) - 1)
        mixed = np.flatnonzero(self.table == self.mark).astype(np.uint32)
        self.slot = np.zeros(len(self.table), np.int64)  # a mixed bucket's place among the fine tables
        self.slot[mixed] = np.arange(len(mixed)) << _FINE_BITS
        fine_first = ((mixed[:, None] << np.uint32(_BUCKET_SHIFT))
                      | (np.arange(1 << _FINE_BITS, dtype=np.uint32) << np.uint32(_FINE_SHIFT))).ravel()
        self.fine = self._codes_of_runs(fine_first, (1 << _FINE_SHIFT) - 1)

    def _codes_of_runs(self, first, length):
        """The code of each run of float32 bit patterns from ``first`` to ``first + length``, or the
        mark where the run holds values of more than one piece."""
        ends = [first.view(np.float32), (first + np.uint32(length)).view(np.float32)]
        pieces = [self._pieces(end) for end in ends]
        nan = [np.isnan(end) for end in ends]
        codes = np.where(nan[0], self.nan_code, self.piece_codes[pieces[0]])
        same = (nan[0] == nan[1]) & ((pieces[0] == pieces[1]) | nan[0])  # a run of bit patterns: one value range
        return np.where(same, codes, self.mark).astype(self.dtype)

    def _pieces(self, values):
        return np.maximum(np.searchsorted(self.starts, values, side="right") - 1, 0)

    def _finer(self, bits, values):
        """Codes of values whose bucket is mixed: from the fine tables, else searched."""
        places = self.slot[bits >> np.uint32(_BUCKET_SHIFT)]
        places |= (bits >> np.uint32(_FINE_SHIFT)) & np.uint32((1 << _FINE_BITS) - 1)
        codes = self.fine[places]
        search = np.flatnonzero(codes == self.mark)
        if len(search):
            values = values[search]
            found = self.piece_codes[self._pieces(values)]
            found[np.isnan(values)] = self.nan_code
            codes[search] = found
        return codes

    def classify(self, values):
        """Colour codes (self.dtype, same shape) of float32 values."""
        flat = np.ravel(np.asarray(values, dtype=np.float32))
        bits = flat.view(np.uint32)
        codes = np.empty(flat.size, self.dtype)
        scratch = np.empty(min(STEP, flat.size), np.uint32)
        for start in range(0, flat.size, STEP):
            part = bits[start:start + STEP]
            bucket = np.right_shift(part, np.uint32(_BUCKET_SHIFT), out=scratch[:len(part)])
            found = codes[start:start + len(part)]
            np.take(self.table, bucket, out=found, mode="wrap")  # buckets < 2^20: "wrap" never wraps
            if found.max() == self.mark:
                mixed = np.flatnonzero(found == self.mark)
                found[mixed] = self._finer(part[mixed], flat[start:start + STEP][mixed])
        return codes.reshape(np.shape(values))


def look_up(table, codes):
    """table[codes] for small integer codes, in steps that keep numpy's index temporaries in the
    CPU cache (a byte table of byte codes two bytes at a time, see _byte_pairs)."""
    codes = np.asarray(codes)
    if table.dtype == np.uint8 and codes.dtype == np.uint8 and len(table) <= 256:
        return _look_up_bytes(table, codes)
    flat = np.ravel(codes)
    result = np.empty(flat.size, table.dtype)
    for start in range(0, flat.size, STEP):
        np.take(table, flat[start:start + STEP], out=result[start:start + STEP])
    return result.reshape(codes.shape)


def any_of(codes, flags):
    """Whether the flag (uint8, one per code) of any code is set: looked up only when the codes'
    range holds a flag (a map's block holds a few codes, often far from every flagged one)."""
    if not codes.size:
        return False
    low, high = int(codes.min()), int(codes.max())
    return bool(flags[low:high + 1].any()) and bool(look_up(flags, codes).any())


def _look_up_bytes(table, codes):
    """table[codes] for a byte table of up to 256 entries and byte codes: each pair of codes (read
    as one uint16) through a table of every pair (_byte_pairs), with the GIL released, so the
    thread that writes the previous block never waits for it (bytes.translate holds the GIL). On a
    raster's codes, whose neighbours repeat, about a fifth faster than bytes.translate and twice
    as fast as numpy's own indexing; on codes without order (noise over 256 values), whose pairs
    miss the CPU cache, about 1.4 times as slow as bytes.translate."""
    if len(table) < 256:  # codes index the table: the entries beyond it are never looked up
        table = np.concatenate([table, np.zeros(256 - len(table), np.uint8)])
    flat = np.ravel(codes)
    result = np.empty(flat.size, np.uint8)
    even = flat.size & ~1
    if even < _PAIRS_WORTH_IT:
        result[:] = np.frombuffer(flat.tobytes().translate(table.tobytes()), dtype=np.uint8)
        return result.reshape(codes.shape)
    pairs, found = np.ascontiguousarray(flat[:even]).view(np.uint16), result[:even].view(np.uint16)
    np.take(_byte_pairs(table.tobytes()), pairs, out=found, mode="wrap")  # every uint16 is in the table
    result[even:] = table[flat[even:]]
    return result.reshape(codes.shape)


#: Fewer codes than this: bytes.translate, whose table costs nothing to make.
_PAIRS_WORTH_IT = 1 << 16


@functools.lru_cache(maxsize=4)
def _byte_pairs(table):
    """The uint16 table of every pair of byte codes, each byte of a pair looked up on its own (so
    it holds whatever the byte order of the uint16 view); ``table``: 256 bytes (cached: a run looks
    up through one table block after block)."""
    bytes_ = np.frombuffer(table, dtype=np.uint8).astype(np.uint16)
    every = np.arange(1 << 16, dtype=np.uint16)
    return bytes_[every & np.uint16(255)] | (bytes_[every >> np.uint16(8)] << np.uint16(8))
