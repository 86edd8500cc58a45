"""Exact nearest-palette-colour mapping (QGIS-free).

Each distinct colour is searched once, and ties go to the lowest palette index, so the result equals
a per-pixel brute-force argmin (brute_force_indices). Euclidean RGB and CIE76 search large batches
through candidate lists per cell of their space (engine/candidate_cells.py): a colour is measured
against the few entries that can be nearest anywhere in its cell; a batch of few colours is
measured against every entry, which costs less than the cells' set-up. CIEDE2000, which has no
such bound here, measures every entry. A lookup table over all 2^24 packed RGB colours caches every
answer, which makes the per-pixel work one packing and one table look-up. Dithering, which meets new
colours a few at a time, uses the same table and searches (see NearestColourMapper.indices_of and
fill_table).
"""

import functools
import time
from threading import RLock

import numpy as np

from .candidate_cells import CandidateCells, depth_for
from .colorspace import levels_to_lab
from .metrics import METRIC_SPACES, METRICS, REGISTRY, metric as registered_metric
from .runs import value_totals

__all__ = ["METRIC_SPACES", "METRICS"]  # the registry's (engine.metrics), here for old imports

#: Table entry of a colour not searched yet: palettes have at most 65535 colours, so 0xFFFF is
#: never an index.
UNKNOWN = np.uint16(0xFFFF)
_SMALL_SEARCH = 256  # fewer colours than this are sorted as they come (see distinct_codes)
#: A batch of at most this many colour-entry pairs is measured directly against every entry, which
#: costs less than candidate cells and their set-up: about 0.4 ns a pair for RGB in the mapper (an
#: exact matrix product, see _rgb_scores), 5 ns for CIELAB. Mapping a 6-megapixel map meets its
#: 9,400 colours in a few batches of a few thousand: 1 ms measured against win256, 27 ms through cells.
_DIRECT_PAIRS = {"rgb": 1 << 22, "cielab": 1 << 18}
#: Pairs measured at once: temporaries stay in the CPU cache; RGB's matrix products no larger than
#: OpenBLAS multiplies in one thread (in threads, 1.6 times as long on two cores: their start and wait).
_DIRECT_CHUNK = {"rgb": 1 << 16, "cielab": 1 << 17}
#: The colour bits of a packed code (see pack_rgba), and the lowest code of an opaque pixel.
RGB_BITS = np.uint32(0xFFFFFF)
OPAQUE = np.uint32(0xFF000000)
#: Pixels per mapping step (see NearestColourMapper.map_codes) when every colour is in the table
#: already: a step's codes, table indices and answers (448 KB) stay in a core's L2 cache; 2^18
#: pixels (3.5 MB) map a 6-megapixel sheet 14% and an 8-megapixel strip 23% slower (2 MB per core).
_STEP = 1 << 15
#: Pixels per step when a step may hold colours not met before: each step's are searched in one
#: batch, and batches of 2^15 pixels' colours make a scanned sheet's CIELAB search 60% slower.
_SEARCHING_STEP = 1 << 18
_PAIRS_PER_CHUNK = 1 << 18  # CIEDE2000 colour-entry pairs measured at once
#: The table and scratch flags of a finished mapper, kept for the next one (see
#: NearestColourMapper.release), with the codes it answered (None: too many to list): 48 MB of new
#: memory cost a run 5 to 25 ms of page faults, refilling the kept table 1 ms, clearing the few
#: thousand answers of a map a few microseconds. One set at most is kept.
_SPARE_TABLES = []
#: A mapper lists the codes it writes into its table up to this many; beyond, the next mapper
#: refills the whole table, which then costs less than clearing them one by one.
_LISTED_ANSWERS = 1 << 20
#: A mapper maps its first pixels by sorting them, without a table, up to this many: a small sheet
#: then costs no table at all (5 ms and more in a new process).
_SMALL_LOOKUP = 1 << 16
#: A block with at most one transparent run in 2^10 pixels gives them nodata a run (a slice) at a
#: time instead of testing every pixel's alpha: a map's transparent margins, 800 runs of a strip of
#: 1.25 million pixels, in 0.2 ms instead of 0.37.
_SPANS_PER_PIXEL_BITS = 10


def distances(points, targets, metric):
    """Distances (or squared distances: same order) between K points and N targets -> K x N."""
    distance = REGISTRY[metric].distance
    if distance is not None:
        return distance(points[:, None, :], targets[None, :, :])
    total = np.zeros((len(points), len(targets)))
    for channel in range(3):  # term by term: no K x N x 3 temporary, and the same sum, bit for bit
        difference = points[:, channel, None] - targets[None, :, channel]
        difference *= difference
        total += difference
    return total


def nearest_palette_indices(colours, palette_colours, metric, check=None, progress=None):
    """Index of the nearest palette colour for each of K colours (K x 3, 0-255): the answer of
    brute_force_indices, through candidate cells where the metric has them and there are more
    than _DIRECT_PAIRS colour-entry pairs (a run's few frequent colours: 0.4 ms of cutting cells
    for microseconds of measuring). ``check``: called between chunks (CIEDE2000: a block of a
    scan's millions of colours takes minutes; 65,535 CIELAB entries tens of seconds), to stop by
    raising (a cancel); ``progress``: called there too with the share of the colours done."""
    to_space = METRIC_SPACES[metric]
    points = to_space(np.asarray(colours).reshape(-1, 3))
    targets = to_space(np.asarray(palette_colours).reshape(-1, 3))
    box = REGISTRY[metric].cell_box
    if box is not None and len(points) * len(targets) > _DIRECT_PAIRS.get(metric, 0):
        return CandidateCells(targets, *box, depth_for(len(points)), check).nearest(points, check, progress)
    result = np.empty(len(points), dtype=np.int64)
    step = max(1, (_PAIRS_PER_CHUNK // REGISTRY[metric].cost) // len(targets))
    for start in range(0, len(points), step):
        if check is not None:
            check()
        if progress is not None:
            progress(start / len(points))
        result[start:start + step] = np.argmin(distances(points[start:start + step], targets, metric), axis=1)
    return result


def nearest_entries(codes, palette_colours, metric, reserved=None):
    """The palette index nearest to each colour code (uint32), never ``reserved``: what a
    NearestColourMapper answers, without its table (for a few colours)."""
    entries = np.arange(len(palette_colours))
    if reserved is not None:
        entries = np.delete(entries, reserved)
    return entries[nearest_palette_indices(unpack_rgb(codes), np.asarray(palette_colours)[entries], metric)]


@functools.lru_cache(maxsize=2)
def _rgb_scores(colours):
    """The 4 x entries float32 matrix W of palette ``colours`` (RGB bytes) whose product with a colour
    [r, g, b, 1] gives, for each entry p, |p|^2 - 2 c.p: the squared distance |c - p|^2 less |c|^2, in the
    same order, ties alike. Every term and partial sum is an integer below 2^24 in size, which float32
    holds exactly in any order of summation: the nearest entry is the exact one, at the speed of a
    matrix product (a sixth to half the time of per-level tables for a few hundred entries, about the
    same for thousands). Kept for the next run with the same palette."""
    entries = np.frombuffer(colours, dtype=np.uint8).reshape(-1, 3).astype(np.float32)
    scores = np.vstack([-2 * entries.T, (entries ** 2).sum(axis=1)[None, :]])
    scores.flags.writeable = False
    return scores


def brute_force_indices(colours, palette_colours, metric):
    """The reference: for each colour, argmin over the plain distances to every entry (slow)."""
    to_space = METRIC_SPACES[metric]
    points = to_space(np.asarray(colours).reshape(-1, 3))
    targets = to_space(np.asarray(palette_colours).reshape(-1, 3))
    step = max(1, (1 << 20) // len(targets))  # colours at once: a row's argmin is that colour's
    return np.concatenate([np.argmin(distances(points[start:start + step], targets, metric), axis=1)
                           for start in range(0, len(points), step)] or [np.zeros(0, dtype=np.int64)])


def pack_rgba(red, green, blue, alpha=None):
    """Pack 0-255 arrays into uint32 colour codes: red | green << 8 | blue << 16 | alpha << 24,
    the value of RGBA bytes read as a little-endian uint32 (alpha defaults to 255)."""
    alpha = OPAQUE if alpha is None else alpha.astype(np.uint32) << 24
    return red.astype(np.uint32) | (green.astype(np.uint32) << 8) | (blue.astype(np.uint32) << 16) | alpha


def pack_rgb(rgb):
    """Colours (..., 3) of 0-255 red, green, blue -> uint32 colour codes without alpha: the
    inverse of unpack_rgb."""
    rgb = np.asarray(rgb, dtype=np.uint32)
    return rgb[..., 0] | (rgb[..., 1] << 8) | (rgb[..., 2] << 16)


def unpack_rgb(codes):
    """K colour codes -> K x 3 uint8 red, green, blue (alpha ignored)."""
    codes = np.asarray(codes, dtype=np.uint32)
    return np.stack([codes & 255, (codes >> 8) & 255, (codes >> 16) & 255], axis=-1).astype(np.uint8)


def distinct_codes(codes, bitmap):
    """The distinct values of uint32 colour ``codes``. Rendered maps repeat each colour along runs,
    so dropping repeats leaves few to sort (by radix: a third of np.unique's time on a strip's
    9,000); photographs, with few repeats, are marked in ``bitmap`` (2^24 booleans, all False, left
    all False) instead of being sorted."""
    if len(codes) > _SMALL_SEARCH:
        codes = codes[np.concatenate(([True], codes[1:] != codes[:-1]))]
    if len(codes) < 1 << 18:
        return value_totals(codes)[0]
    bitmap[codes] = True
    distinct = np.flatnonzero(bitmap).astype(np.uint32)
    bitmap[distinct] = False
    return distinct


class NearestColourMapper:
    """Maps pixels to palette indices, computing each distinct colour's answer only once.

    ``table`` holds the answers found so far over all 2^24 RGB codes (UNKNOWN where a colour has
    not been met); ``distinct_colours`` counts the colours searched one batch at a time and
    ``search_seconds`` the time that took (a whole-table fill not included). The table is made
    once more than _SMALL_LOOKUP pixels have been mapped; the first ones are mapped by sorting.
    ``reserved``: a palette index never given to a colour (the entry kept for nodata, see
    blocks.output_type). ``check``: called between chunks of long searches, to stop them by
    raising (a cancel; see nearest_palette_indices); ``progress``: called there too with the share
    of the search done (a palette of thousands of entries measured with CIEDE2000: minutes).
    """

    def __init__(self, palette_colours, metric, reserved=None, check=None, progress=None):
        registered_metric(metric)  # ValueError naming the choices
        self._check, self._progress = check, progress
        self.palette_colours = np.asarray(palette_colours, dtype=np.uint8)
        self._entries = None  # palette index of each searched colour, where an entry is reserved
        self._searched = self.palette_colours
        if reserved is not None:
            self._entries = np.delete(np.arange(len(self.palette_colours)), reserved)
            self._searched = self.palette_colours[self._entries]
        self.metric = metric
        self._table = self._new = None  # the table and scratch flags that mark unseen colours
        self._answered = []  # arrays of the codes written into the table (None: too many to list)
        self._listed = 0
        # Codes searched before the table is made (ascending) and their entries.
        self._sorted = (np.zeros(0, np.uint32), np.zeros(0, np.uint16))
        self._pixels = 0  # pixels mapped before the table
        self.complete = False  # True once fill_table has run
        self._palette_space = METRIC_SPACES[metric](self._searched.reshape(-1, 3))
        self._cells = None  # candidate cells of the palette, made at the first large search
        self.distinct_colours = 0
        self.search_seconds = 0.0
        #: Held while the mapper learns (searches, writes its table): threads may map blocks at once,
        #: their look-ups only reading the table (see _look_up).
        self._lock = RLock()
        self._writes = 0  # odd while answers are written into the table (see _write)

    @property
    def table(self):
        if self._table is None:
            with self._lock:
                return self._made_table()
        return self._table

    def _made_table(self):
        """The table, made now unless another thread made it first (see ``table``). It is set up
        before it is shown: a thread that finds ``_table`` set reads it without the lock, and a
        kept table still holds the previous mapper's answers until it is cleared."""
        if self._table is None:
            try:
                table, self._new, answered = _SPARE_TABLES.pop()
                if answered is None:
                    table.fill(UNKNOWN)
                else:  # only the previous mapper's answers are not UNKNOWN
                    for codes in answered:
                        table[codes] = UNKNOWN
            except IndexError:
                table = np.full(1 << 24, UNKNOWN, dtype=np.uint16)
                self._new = np.zeros(1 << 24, dtype=bool)  # all False between searches
            table[self._sorted[0]] = self._sorted[1]
            self._note_answers(self._sorted[0])
            self._table = table
        return self._table

    def _note_answers(self, codes):
        """Remember that the table now answers ``codes`` (for the next mapper, see release)."""
        if self._answered is not None:
            self._listed += len(codes)
            self._answered = None if self._listed > _LISTED_ANSWERS else self._answered + [codes]

    def release(self):
        """Leave the mapper's table and scratch flags to the next mapper made in this process: a
        run calls it once it has mapped every block."""
        if self._table is not None and not _SPARE_TABLES:
            _SPARE_TABLES.append((self._table, self._new, self._answered))
        self._table = self._new = None

    def map_codes(self, codes, dtype=np.uint16, alpha_threshold=0, nodata=None, runs=None):
        """Palette indices (``dtype``, same shape) of packed colour codes (see pack_rgba); codes
        whose alpha is below ``alpha_threshold`` get ``nodata``, and their colours are not searched
        (nor counted among the distinct colours) unless opaque pixels have them too. ``runs``:
        None, or runs.Runs of equal codes (of the flattened codes), whose colours are then searched
        before any pixel is looked up: a fresh table's misses cost a look-up per run instead of
        masks over every step (on a 6-megapixel map 1% of the pixels start a run, and the first
        blocks miss often); the runs then know the index of each (Runs.know), except for the first
        pixels a mapper maps, by sorting, before its table is made.

        Works in steps (_STEP, _SEARCHING_STEP) so that every temporary stays in the CPU cache:
        about twice as fast as whole-block numpy operations on a 100-megapixel raster.
        """
        flat = np.ravel(np.asarray(codes, dtype=np.uint32))
        opaque = np.uint32(alpha_threshold << 24)
        if self._table is None and self._pixels + flat.size <= _SMALL_LOOKUP:
            with self._lock:
                if self._table is None:
                    self._pixels += flat.size
                    if alpha_threshold == 0:
                        return self._sorted_lookup(flat & RGB_BITS).astype(dtype, copy=False).reshape(np.shape(codes))
                    kept = flat >= opaque
                    found = np.full(flat.size, nodata, dtype=dtype)
                    found[kept] = self._sorted_lookup(flat[kept] & RGB_BITS)
                    return found.reshape(np.shape(codes))
        known = runs is not None and runs.starts is not None  # then every colour but transparent ones' is in the table
        some_transparent = alpha_threshold > 0
        indices = np.empty(flat.size, dtype)
        spans = ()  # (start, end) of the transparent runs, given nodata after the look-ups
        if known:
            firsts = runs.firsts(flat)  # every code of the block: an opaque block is seen here
            kept = firsts >= opaque
            some_transparent = some_transparent and not kept.all()
            run_indices = np.empty(len(firsts), dtype)
            run_indices[kept] = self.indices_of(firsts[kept] & RGB_BITS)  # transparent ones' colours not searched
            if some_transparent:
                gone = np.flatnonzero(np.logical_not(kept))
                run_indices[gone] = nodata
                if len(gone) <= flat.size >> _SPANS_PER_PIXEL_BITS:  # a margin: a slice for each run beats a mask
                    starts = runs.starts[gone]
                    spans, some_transparent = zip(starts.tolist(), (starts + runs.lengths[gone]).tolist()), False
            runs.know(indices, run_indices)
        step = _STEP if known else _SEARCHING_STEP
        # Indices of the table as numpy's take wants them (intp): taking through uint32 codes
        # converts them on every call, which costs more than the conversion done here.
        rgb_scratch = np.empty(min(step, flat.size), np.intp)
        found_scratch = None if indices.dtype == np.uint16 else np.empty(len(rgb_scratch), np.uint16)
        transparent_scratch = np.empty(len(rgb_scratch), bool) if some_transparent else None
        transparent = None
        for start in range(0, flat.size, step):
            part = flat[start:start + step]
            rgb = np.bitwise_and(part, RGB_BITS, out=rgb_scratch[:len(part)])
            found = indices[start:start + len(part)] if found_scratch is None else found_scratch[:len(part)]
            self._look_up(rgb, found, "wrap")  # codes < 2^24: "wrap" never wraps
            if some_transparent:
                transparent = np.less(part, opaque, out=transparent_scratch[:len(part)])
            if not known and found.max() == UNKNOWN:
                self._complete(rgb, found, transparent)
            if some_transparent:
                np.copyto(found, nodata, where=transparent)
            if found_scratch is not None:
                indices[start:start + len(part)] = found
        for start, end in spans:
            indices[start:end] = nodata
        return indices.reshape(np.shape(codes))

    def indices_of(self, codes):
        """Palette indices (uint16) of 24-bit RGB codes (integers, any shape), searching the
        colours not met before: the look-up for callers that meet colours a few at a time."""
        codes = np.asarray(codes)
        indices = self._look_up(codes)  # a new array: its flat view is written in place
        if indices.size and indices.max() == UNKNOWN:
            self._complete(codes.reshape(-1), indices.reshape(-1))
        return indices

    def remember(self, codes, indices):
        """Take the nearest entries of distinct colour ``codes`` found elsewhere (a kmeans palette
        finds them while it is built: adaptive.build_palette_and_nearest), so they are not searched
        again. They must be this mapper's own answers, ties to the lowest index; they count as
        searched colours. Before the table is made they are kept sorted, as searched colours are."""
        codes = np.asarray(codes, dtype=np.uint32) & RGB_BITS
        indices = np.asarray(indices).astype(np.uint16)
        if self._table is None and len(self._sorted[0]) == 0:
            order = np.argsort(codes, kind="stable") if (codes[1:] <= codes[:-1]).any() else slice(None)
            self._sorted = (codes[order], indices[order])
        else:
            self._write(codes, indices)
            self._note_answers(codes)
        self.distinct_colours += len(codes)

    def _complete(self, codes, found, skipped=None):
        """Fill in ``found`` (the table's entries of ``codes``, 24-bit colour codes of any integer
        type; both 1-D) where it holds UNKNOWN, searching those colours; except where ``skipped``
        (None or flags like ``codes``), left UNKNOWN."""
        unknown = np.flatnonzero(found == UNKNOWN)  # positions: a map's step misses a few of its pixels
        if skipped is not None:
            unknown = unknown[np.logical_not(skipped[unknown])]
            if not len(unknown):
                return
        missing = codes[unknown].astype(np.uint32, copy=False)
        with self._lock:
            answers = self._table[missing]  # some maybe found by another thread since ``found`` was looked up
            learn = answers == UNKNOWN
            if learn.any():
                self._learn(missing[learn])
                answers = self._table[missing]
        found[unknown] = answers

    def _look_up(self, codes, out=None, mode="raise"):
        """The table's entries of 24-bit ``codes`` (np.take, into ``out``), read without the lock,
        and read again under it when answers were written meanwhile: numpy 2 copies uint16 items
        byte by byte, so a look-up beside a write could see half an answer (0x00ff, or 0xff08 for
        entry 8), a wrong class that no check would catch."""
        table = self.table
        writes = self._writes
        found = np.take(table, codes, out=out, mode=mode)
        if writes % 2 or self._writes != writes:
            with self._lock:
                found = np.take(table, codes, out=out, mode=mode)
        return found

    def _write(self, codes, entries):
        """table[codes] = entries, under the lock, counted for readers (see _look_up)."""
        with self._lock:
            self._writes += 1
            try:
                self.table[codes] = entries
            finally:
                self._writes += 1

    def _learn(self, codes):
        """Find and remember the nearest palette entry of every distinct colour among ``codes``."""
        started = time.perf_counter()
        new = distinct_codes(codes, self._new)
        self._write(new, self._search(new))
        self._note_answers(new)
        self.distinct_colours += len(new)
        self.search_seconds += time.perf_counter() - started

    def _sorted_lookup(self, codes):
        """Entries (uint16) of 24-bit codes, found by sorting them, before the table is made: the
        colours not met before are searched and kept, in order, for the table."""
        started = time.perf_counter()
        distinct, where = np.unique(codes, return_inverse=True)
        known, entries = self._sorted
        at = np.searchsorted(known, distinct)
        met = np.zeros(len(distinct), dtype=bool)
        inside = at < len(known)
        met[inside] = known[at[inside]] == distinct[inside]
        found = np.empty(len(distinct), dtype=np.uint16)
        found[met] = entries[at[met]]
        new = distinct[~met]
        if len(new):
            found[~met] = self._search(new)
            known = np.concatenate([known, new])
            order = np.argsort(known, kind="stable")
            self._sorted = (known[order], np.concatenate([entries, found[~met]])[order])
            self.distinct_colours += len(new)
            self.search_seconds += time.perf_counter() - started
        return found[where]

    def _search(self, codes):
        """Palette index of the nearest searched entry of each of these distinct colour codes."""
        nearest = self._search_searched(codes)
        return nearest if self._entries is None else self._entries[nearest]

    def _search_searched(self, codes):
        """Nearest entry of each of these distinct colour codes among the searched colours, by the
        rule of nearest_palette_indices: batches of up to _DIRECT_PAIRS colour-entry pairs measured
        directly against every entry, larger ones through the mapper's candidate cells, cut finer
        as more colours come (see candidate_cells.depth_for)."""
        if REGISTRY[self.metric].cell_box is None:
            return nearest_palette_indices(unpack_rgb(codes), self._searched, self.metric, self._check, self._progress)
        if len(codes) * len(self._searched) > _DIRECT_PAIRS.get(self.metric, 0):
            cells = self._candidate_cells(self.distinct_colours + len(codes))
            return cells.nearest(METRIC_SPACES[self.metric](unpack_rgb(codes)), self._check, self._progress)
        result = np.empty(len(codes), dtype=np.int64)
        step = max(1, _DIRECT_CHUNK.get(self.metric, 1 << 17) // len(self._searched))
        for start in range(0, len(codes), step):
            result[start:start + step] = self._measure_all(codes[start:start + step])
        return result

    def _measure_all(self, codes):
        """Nearest entry of each code, measured against every entry: exact integer scores for RGB
        (see _rgb_scores), plain squared differences (``distances``) otherwise."""
        if self.metric == "rgb":
            levels = np.empty((len(codes), 4), dtype=np.float32)
            for channel in range(3):  # straight into float32: unpack_rgb's bytes took 15% longer
                np.bitwise_and(codes >> np.uint32(8 * channel), np.uint32(255), out=levels[:, channel],
                               casting="unsafe")
            levels[:, 3] = 1
            return (levels @ _rgb_scores(self._searched.tobytes())).argmin(axis=1)
        lab = np.stack(levels_to_lab(codes & 255, (codes >> 8) & 255, (codes >> 16) & 255), axis=-1)
        return distances(lab, self._palette_space, self.metric).argmin(axis=1)

    def _candidate_cells(self, colours):
        """The palette's candidate cells, cut as fine as pays for searching this many colours."""
        if self._cells is None:
            self._cells = CandidateCells(self._palette_space, *REGISTRY[self.metric].cell_box, check=self._check)
        self._cells.refine(depth_for(colours), self._check)
        return self._cells

    def fill_table(self):
        """Search every colour not met yet, all at once: it pays when colours keep coming a few at a
        time (dithering a photograph). Through candidate cells cut as fine as they go, 2 to 3 s (RGB,
        CIELAB) with 256 entries; CIEDE2000 measures every entry (about half an hour)."""
        if REGISTRY[self.metric].cell_box is not None:
            self._candidate_cells(1 << 24)
        unknown = np.flatnonzero(self.table == UNKNOWN).astype(np.uint32)
        for start in range(0, len(unknown), 1 << 16):
            if self._check is not None:  # a cancel: 88 s with 65,535 CIELAB entries
                self._check()
            part = unknown[start:start + (1 << 16)]
            self._write(part, self._search(part))
        self._answered = None
        self.complete = True

    def map_rgb(self, red, green, blue):
        """Palette indices of pixels given as three 0-255 arrays of one shape."""
        return self.map_codes(pack_rgba(red, green, blue))
