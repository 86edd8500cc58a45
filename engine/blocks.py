"""One quantization pass: blocks of RGBA pixels in, blocks of palette indices out (QGIS-free)."""

import contextlib
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from .options import CleanupOptions
from .nearest import RGB_BITS, NearestColourMapper, nearest_palette_indices, unpack_rgb
from .pointwise import any_of, look_up
from .runs import RunFinder, value_totals


class Cancelled(Exception):
    """The user cancelled the run."""


class TransparentAfterAll(Exception):
    """A source guessed to be opaque (quantize_blocks with ``check_opaque``) has a transparent
    pixel: its output needs nodata, so the pass must be run again with ``opaque`` false."""


#: Blocks handed to the writing thread and not written yet, at most (the one being written, and the
#: next): a block mapped before the previous one is written waits in the queue instead of holding
#: up the mapping of the one after it. With the count done by the writing thread after each write,
#: and each block handed over only once the previous was written, the writes of a 6-megapixel
#: sheet waited 1 to 4 ms each for the mapping: 3% of the run.
WRITES_QUEUED = 2


def output_type(palette_size, opaque=False, nodata_index=None):
    """(numpy dtype, nodata value or None) for a palette. Nodata is outside the palette; a
    source with no transparent pixel needs none, so up to 256 colours fit in a Byte, which is what
    GDAL's rgb2pct, OpendTect and most readers expect of 256 classes. A ``nodata_index`` chosen by
    the user is the nodata value whatever the source (inside the palette, that entry is kept for
    nodata: reserved_entry), and the output is Byte when it and every palette index fit in one."""
    if nodata_index is not None:
        return (np.uint8 if max(palette_size - 1, nodata_index) <= 255 else np.uint16), nodata_index
    if opaque and palette_size <= 256:
        return np.uint8, None
    if palette_size <= 255:
        return np.uint8, 255
    return np.uint16, 65535


def absent_index(palette_size, nodata):
    """An index no pixel of an output of ``palette_size`` colours with ``nodata`` (see output_type)
    holds as a colour: its nodata, else the palette's size."""
    return palette_size if nodata is None else nodata


def reserved_entry(palette_size, nodata):
    """The palette entry kept for nodata (never a pixel's nearest colour), or None."""
    return nodata if nodata is not None and nodata < palette_size else None


def _read_ahead(source, windows, read=None, meanwhile=None):
    """(window, block) pairs, in order, of ``read`` (default ``source.read``). A source whose
    ``reads_in_background`` is true reads the next block in a thread (GDAL and numpy release the
    GIL) while the caller works on the current one; a single block has nothing to overlap with.
    ``meanwhile()``: called once, while the first block is read (or before it, when nothing is
    read in the background)."""
    read = read or source.read
    if not getattr(source, "reads_in_background", False) or len(windows) < 2:
        if meanwhile is not None:
            meanwhile()
        for window in windows:
            yield window, read(window)
        return
    with ThreadPoolExecutor(max_workers=1) as reading:
        upcoming = reading.submit(read, windows[0])
        if meanwhile is not None:
            meanwhile()
        for i, window in enumerate(windows):
            block = upcoming.result()
            if i + 1 < len(windows):
                upcoming = reading.submit(read, windows[i + 1])
            yield window, block


def _reads_sharing_rows(source, windows, reads, meanwhile=None):
    """(read, block) pairs of ``reads``, the ``windows`` grown by a cleanup's margin, in order, when
    the windows are strips of whole rows (see _shares_rows): each strip is read once, into the
    block of its own read (in place where the source can, ``reads_into``), and the margins are
    copied from the blocks of the strips they belong to. Reading a margin again would read whole
    tiles of the source for a few rows of them: twice the reading on the provinces map.
    ``meanwhile`` as for _read_ahead."""
    def read_strip(j):
        (_, top, cols, rows), (_, y, _, height) = reads[j], windows[j]
        block = np.empty((rows, cols), dtype=np.uint32)
        strip = block[y - top:y - top + height]
        if getattr(source, "reads_into", False):
            source.read(windows[j], out=strip)
        else:
            strip[...] = source.read(windows[j])
        return block

    held, strips = {}, _read_ahead(source, list(range(len(windows))), read_strip, meanwhile)
    try:
        for k, (_, top, _, rows) in enumerate(reads):
            while len(held) == 0 or (max(held) + 1 < len(windows) and windows[max(held) + 1][1] < top + rows):
                j, held[j] = next(strips)
            block = held[k]
            for j, other in held.items():  # the margins: the rows of other strips within this read
                start, end = max(top, windows[j][1]), min(top + rows, windows[j][1] + windows[j][3])
                if j != k and start < end:
                    block[start - top:end - top] = other[start - reads[j][1]:end - reads[j][1]]
            if k + 1 < len(reads):  # strips that end above the next read are done with
                for j in [j for j in held if windows[j][1] + windows[j][3] <= reads[k + 1][1]]:
                    del held[j]
            yield reads[k], block
    finally:  # a read in flight ends before the caller closes the source
        strips.close()


def _shares_rows(windows, reads):
    """Whether the reads (``windows`` grown by a margin) are strips of whole rows, top to bottom,
    that overlap: the windows' widths were not grown, so they span the raster."""
    return reads is not windows and len(windows) > 1 and all(
        read[0] == 0 and read[2] == window[2] == windows[0][2] for read, window in zip(reads, windows)) and all(
        after[1] == before[1] + before[3] for before, after in zip(windows, windows[1:]))


class _Inline:
    """An executor that runs what it is given at once, in the caller's thread."""

    def submit(self, function, *args):
        future = Future()
        future.set_result(function(*args))
        return future

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Progress:
    """A pass's progress, never shown going back: each block finished moves it (``done``), and a
    long search within a block (a palette of thousands of entries; CIEDE2000) moves it within that
    block's share (``searched``: the first block of a 65,535-entry CIEDE2000 run sat at 0% for 13 to
    24 s). Only searches in the thread that made it are shown (a plain run maps its blocks there):
    the caller's progress callback (a QGIS feedback, a terminal's line) is called from that thread
    alone, as before, never from the threads that clean blocks at once."""

    def __init__(self, show, blocks):
        self._show, self._share = show, 1.0 / max(1, blocks)
        self._done = self._shown = 0.0
        self._thread = threading.get_ident()

    def done(self, fraction):
        self._done = max(self._done, fraction)
        self._to(fraction)

    def searched(self, fraction):
        if threading.get_ident() == self._thread:
            self._to(self._done + self._share * fraction)

    def _to(self, fraction):
        if fraction > self._shown:
            self._shown = fraction
            self._show(fraction)


class QuantizeResult:
    """What a pass found: pixels per palette entry, and how many distinct colours were searched."""

    def __init__(self, counts, distinct_colours):
        self.counts, self.distinct_colours = counts, distinct_colours


def quantize_blocks(source, writer, windows, palette, metric, alpha_threshold,
                    progress=lambda fraction: None, is_cancelled=lambda: False, observers=(),
                    dither="none", cleanup=None, grid_size=None, opaque=False, nodata_index=None,
                    nearest=None, check_opaque=False, while_writing=None):
    """Map every window of ``source`` to palette indices and hand them to ``writer``.

    ``source.read(window)`` gives packed RGBA codes (see nearest.pack_rgba). Pixels whose
    alpha is below ``alpha_threshold`` become nodata; ``opaque``: the source has no transparent
    pixel (see output_type), so there is no nodata and no alpha to test; ``nodata_index``: the
    user's nodata value (see output_type). ``dither="floyd-steinberg"``
    diffuses the colour error (windows must then be whole rows, in order); ``cleanup``
    (options.CleanupOptions, method "seams" or "sieve") reads each window with its ``margin`` of
    overlap, cleans it and keeps
    the centre, so results do not depend on block boundaries (``grid_size`` = raster size).
    A writer's ``open()``, when it has one, is called while the first block is read (see
    gdal_io.IndexedRasterWriter.open). Each observer's ``add(window, rgba, indices, runs)`` sees every block (e.g. to build a
    report) without a second read; ``runs`` (runs.Runs) cut the block where colour or index changes,
    or are None when no observer needs them (``needs_runs`` false) and the block was not cut by
    colour as it was mapped.
    ``nearest``: (codes, entries) already known to be the exact nearest entries of those colours
    as this pass's mapper finds them (never a kept nodata entry; see NearestColourMapper.remember),
    or None. ``check_opaque``: ``opaque`` is a guess (a scan of the whole source to be sure would
    cost a read of it before writing); every block is checked and TransparentAfterAll raised at
    the first pixel of an output without nodata whose alpha is below ``alpha_threshold``.
    ``while_writing()``: called once every block is mapped and counted; for blocks of colours
    written in a thread of their own, while the last ones are still being written (GDAL compressing
    them: the end of a small sheet's run, one core idle), else after the last write.
    """
    dtype, nodata = output_type(len(palette), opaque, nodata_index)
    # the smallest colour code a guessed-opaque source may hold, else None
    lowest = np.uint32(alpha_threshold << 24) if check_opaque and nodata is None else None
    if nodata is None:
        alpha_threshold = 0
    reserved = reserved_entry(len(palette), nodata)

    halted = []  # the run is leaving with an error (a Ctrl-C): see _halting

    def check():  # between chunks of the mapper's long searches, in the threads that map blocks too
        if halted or is_cancelled():
            raise Cancelled()

    windows = list(windows)
    steps = _Progress(progress, len(windows))
    mapper = NearestColourMapper(palette.colours, metric, reserved, check, steps.searched)
    if nearest is not None:
        mapper.remember(*nearest)
    counts = np.zeros(len(palette) if nodata is None else max(len(palette), nodata + 1), dtype=np.int64)
    cleanup = cleanup or CleanupOptions()
    map_block = _block_mapper(mapper, palette, metric, dither, cleanup, windows, alpha_threshold, check)
    margin = cleanup.margin
    reads = [expand_window(window, margin, grid_size) for window in windows] if margin else windows

    finder = RunFinder()
    colour_decides = map_block is None  # each index depends on its pixel's colour code alone
    cut_runs = any(getattr(observer, "needs_runs", True) for observer in observers)

    def finish(window, rgba, indices, colour_runs=None):
        """Write a block and tally it."""
        writer.write(window, indices)
        tally(window, rgba, indices, colour_runs)

    def tally(window, rgba, indices, colour_runs=None):
        """Count a block and show it to the observers; ``colour_runs``: the runs of its colour
        codes, found as it was mapped (plain nearest colours), or None."""
        flat = indices.ravel()
        if colour_runs is not None and (colour_runs.starts is not None or cut_runs):
            runs = colour_runs  # the cut [rgba] below would make again (one colour along a run: one index)
        elif cut_runs:  # one cut into runs serves the count and every observer that needs runs
            runs = finder.find([rgba.ravel()] if colour_decides else [rgba.ravel(), flat])
        else:  # counting alone: runs pay off only when they are long
            runs = finder.find([flat], worth_it=0.125)
        counts[:] += runs.count(flat, len(counts))
        shown = runs if cut_runs or runs is colour_runs else None  # index runs cut for the count alone: not shown
        for observer in observers:
            observer.add(window, rgba, indices, shown)

    open_writer = getattr(writer, "open", None)
    if map_block is None and getattr(source, "read_codes", None) is not None:
        _quantize_codes(source, writer, windows, mapper, dtype, alpha_threshold, nodata, finish, counts, observers,
                        steps.done, is_cancelled, lowest, halted, open_writer, while_writing)
    else:
        _quantize_colours(source, windows, reads, mapper, map_block, dtype, alpha_threshold, nodata, writer.write, tally,
                          steps.done, is_cancelled, lowest, halted, open_writer, while_writing)
    if is_cancelled():  # asked while the last blocks were mapped or finished, after the last check
        raise Cancelled()
    mapper.release()
    if reserved is not None:
        counts[reserved] = 0  # its pixels are nodata
    return QuantizeResult(counts[:len(palette)], mapper.distinct_colours)


def _quantize_colours(source, windows, reads, mapper, map_block, dtype, alpha_threshold, nodata, write, tally, progress,
                      is_cancelled, lowest=None, halted=None, meanwhile=None, while_writing=None):
    """The pass of quantize_blocks for a source of RGBA codes (``reads``: the windows grown by the
    cleanup's margin). Blocks are written (compressed by GDAL with the GIL released) in a thread of
    their own while the next ones are read and mapped, and counted and shown to the observers
    (``tally``) in this thread meanwhile: the writes, the longest part of a small sheet's run, then
    follow one another without a wait (see WRITES_QUEUED); a single block has nothing to overlap with.
    A cleanup (``map_block.parallel``) cleans two blocks at once: each block's result depends on
    its own read alone, and most of a cleanup's time is spent in numpy, which releases the GIL. A
    third block waits its turn: blocks are finished in order, and a thread done before the other
    starts it at once instead of idling (the provinces map with outlines: 7% sooner, for one block
    more in memory). ``meanwhile``: see _read_ahead; ``while_writing``: see quantize_blocks."""
    opaque = np.uint32(alpha_threshold << 24)
    colour_runs = RunFinder()  # of the thread that maps plain nearest colours (one: see cleaners)
    cleaners = 2 if getattr(map_block, "parallel", False) and len(windows) > 1 else 1
    in_flight = cleaners + 1 if cleaners > 1 else 1

    def check_opaque(codes):
        if lowest is not None and codes.size and codes.min() < lowest:
            raise TransparentAfterAll()

    def mapped(read, rgba, window):
        if map_block is None:  # plain nearest colour: the fast path, whose runs serve the count too
            runs = colour_runs.find([rgba.ravel()])
            check_opaque(runs.firsts(rgba.ravel()))  # a run's pixels are alike: its first speaks for all
            return rgba, mapper.map_codes(rgba, dtype, alpha_threshold, nodata, runs=runs), runs
        check_opaque(rgba)
        valid = rgba >= opaque
        indices = map_block(rgba, valid)
        rgba, indices = centre(rgba, read, window), centre(indices, read, window)
        indices = indices.astype(dtype, copy=False)  # the block's own array: changed in place below
        if nodata is not None:
            np.copyto(indices, nodata, where=np.logical_not(centre(valid, read, window)))
        return rgba, indices, None

    with ThreadPoolExecutor(max_workers=1) if len(windows) > 1 else _Inline() as finishing, \
            ThreadPoolExecutor(max_workers=cleaners) if cleaners > 1 else _Inline() as mapping, _halting(halted):
        maps, writes = deque(), deque()

        def finish_first():
            done, window, future = maps.popleft()
            rgba, indices, runs = future.result()
            writes.append(finishing.submit(write, window, indices))
            tally(window, rgba, indices, runs)
            while len(writes) > WRITES_QUEUED:
                writes.popleft().result()
            progress((done + 1) / len(windows))

        for done, (read, rgba) in enumerate(_reads_sharing_rows(source, windows, reads, meanwhile)
                                            if _shares_rows(windows, reads) else _read_ahead(source, reads,
                                                                                             meanwhile=meanwhile)):
            if is_cancelled():
                raise Cancelled()
            maps.append((done, windows[done], mapping.submit(mapped, read, rgba, windows[done])))
            if len(maps) >= in_flight:
                finish_first()
        while maps:  # the blocks still being mapped once the last is read
            if is_cancelled():
                raise Cancelled()
            finish_first()
        if while_writing is not None:
            while_writing()
        while writes:
            writes.popleft().result()


def _quantize_codes(source, writer, windows, mapper, dtype, alpha_threshold, nodata, finish, counts, observers, progress,
                    is_cancelled, lowest=None, halted=None, meanwhile=None, while_writing=None):
    """The pass of quantize_blocks for a source whose pixels are codes into a table of colours
    (``source.read_codes(window)`` -> (codes, colours), see engine.pointwise): each table is mapped
    once, each pixel is one look-up. Observers with an ``add_codes`` see the codes; the others
    get the colours of every pixel, as from any source. ``lowest``: the smallest colour code of a
    source guessed to be opaque (see quantize_blocks), or None; ``meanwhile``: see _read_ahead;
    ``while_writing``: see quantize_blocks."""
    colours_of_pixels = not all(hasattr(observer, "add_codes") for observer in observers)
    finder = RunFinder()

    def finish_codes(window, codes, colours, indices):
        if colours_of_pixels:
            return finish(window, look_up(colours, codes), indices)
        writer.write(window, indices)

    mapped = [None, None, None]  # (colours, their indices, which are transparent): the last table mapped

    def read_indices(window):
        """In the reading thread, which alone uses the mapper, the counts and the observers here:
        the finishing thread, which waits for GDAL to compress each block, only writes."""
        codes, colours = source.read_codes(window)
        if mapped[0] is not colours:
            transparent = (colours < lowest).view(np.uint8) if lowest is not None else None
            mapped[:] = colours, mapper.map_codes(colours, dtype, alpha_threshold, nodata), transparent
        if mapped[2] is not None and any_of(codes, mapped[2]):
            raise TransparentAfterAll()
        indices = look_up(mapped[1], codes)
        if not colours_of_pixels:
            flat = indices.ravel()
            counts[:] += finder.find([flat], worth_it=0.125).count(flat, len(counts))
            for observer in observers:
                observer.add_codes(window, codes, colours, indices)
        return codes, colours, indices

    with ThreadPoolExecutor(max_workers=1) if len(windows) > 1 else _Inline() as finishing, _halting(halted):
        pending = None
        for done, (window, (codes, colours, indices)) in enumerate(_read_ahead(source, windows, read_indices, meanwhile)):
            if is_cancelled():
                raise Cancelled()
            if pending is not None:
                pending.result()
            pending = finishing.submit(finish_codes, window, codes, colours, indices)
            progress((done + 1) / len(windows))
        if pending is not None:
            pending.result()
        if while_writing is not None:  # after the last write, which counts its block where colours_of_pixels
            while_writing()


@contextlib.contextmanager
def _halting(halted):
    """Listed after the thread pools of a pass (left first): an error leaving the pass (a Ctrl-C)
    appends to ``halted`` (None: nothing), which the mapper's checks in the threads still mapping
    read, before the pools wait for them to end: a CIEDE2000 search of a noisy block went on for
    half a minute after a Ctrl-C."""
    try:
        yield
    except BaseException:
        if halted is not None:
            halted.append(True)
        raise


def _block_mapper(mapper, palette, metric, dither, cleanup, windows, alpha_threshold=0, check=None):
    """None for plain nearest colours, else a function (rgba, valid) -> indices for one read (of
    any class where not valid: alpha below ``alpha_threshold``); ``check`` stops a long block by
    raising (a cancel)."""
    if dither == "floyd-steinberg":
        from .dither import FloydSteinbergDither

        width = windows[0][2] if windows else 0
        if any(w[0] != 0 or w[2] != width for w in windows):
            raise ValueError("dithering needs windows of whole rows")
        return FloydSteinbergDither(mapper, metric, width, check=check).dither
    if cleanup.method == "seams":
        from .cleanup import classes_type, clean_seams, no_vote_class

        classes = classes_type(len(palette))

        def clean(rgba, valid):  # mapped band by band as the seams are found (see clean_seams)
            return clean_seams(np.empty(rgba.shape, classes), rgba, palette.colours, metric, valid,
                               tolerance=cleanup.seam_tolerance, radius=cleanup.seam_radius, in_place=True,
                               map_codes=lambda codes, runs: mapper.map_codes(codes, classes, alpha_threshold,
                                                                              no_vote_class(classes), runs=runs),
                               check=check)
    elif cleanup.method == "sieve":
        from .cleanup import sieve

        classes = np.uint8 if len(palette) <= 256 else np.uint16  # the narrower, the faster a sieve reads them

        def clean(rgba, valid):  # class 0 where transparent: the sieve never reads it
            return sieve(mapper.map_codes(rgba, classes, alpha_threshold, 0), valid, cleanup.min_region,
                         cleanup.connectedness, in_place=True)
    else:
        return None
    clean.parallel = True
    return clean


def expand_window(window, margin, grid_size):
    """The window grown by ``margin`` pixels on every side, clipped to the raster."""
    xoff, yoff, cols, rows = window
    width, height = grid_size
    x0, y0 = max(0, xoff - margin), max(0, yoff - margin)
    x1, y1 = min(width, xoff + cols + margin), min(height, yoff + rows + margin)
    return x0, y0, x1 - x0, y1 - y0


def centre(array, read, window):
    """The part of a block read over ``read`` that lies in ``window``."""
    dx, dy = window[0] - read[0], window[1] - read[1]
    return array[dy:dy + window[3], dx:dx + window[2]]


#: A histogram of up to this many valid pixels is counted by sorting them; up to
#: TABLE_HISTOGRAM_PIXELS, by marking their colours among all 2^24 (see _count_distinct); beyond
#: it, pixels go into a table of counts of all 2^24 colours this many at a time.
SORTED_HISTOGRAM_PIXELS = 1 << 19
TABLE_HISTOGRAM_PIXELS = 1 << 23
#: A source of up to this many pixels is held in memory as its histogram is counted (HeldPixels),
#: so the pass that maps it does not read (decode, draw) it again.
HOLD_PIXELS = 1 << 23


def colour_histogram(source, windows, alpha_threshold, progress=lambda fraction: None,
                     is_cancelled=lambda: False, on_block=None):
    """Distinct colour codes (uint32, ascending) of the valid pixels and their pixel counts.

    An image of up to TABLE_HISTOGRAM_PIXELS (photographs, sheets) is counted all at once
    (_count_distinct); a larger one in one table over all 2^24 colours, TABLE_HISTOGRAM_PIXELS
    pixels at a time, so memory does not grow with the raster. ``on_block(window, rgba)`` sees
    every block as it is read (e.g. for report thumbnails, or HeldPixels.hold).
    """
    counts = None  # the table, once there are too many pixels to sort
    pending, pending_pixels = [], 0
    windows = list(windows)
    for done, (window, rgba) in enumerate(_read_ahead(source, windows)):
        if is_cancelled():
            raise Cancelled()
        if on_block is not None:
            on_block(window, rgba)
        if alpha_threshold > 0:
            rgba = rgba[rgba >= np.uint32(alpha_threshold << 24)]
        pending.append(np.bitwise_and(rgba, RGB_BITS).ravel())
        pending_pixels += pending[-1].size
        if pending_pixels >= TABLE_HISTOGRAM_PIXELS:
            counts = _count_into_table(counts, pending)
            pending, pending_pixels = [], 0
        progress((done + 1) / len(windows))
    if counts is None:
        return _count_distinct(np.concatenate(pending) if pending else np.zeros(0, np.uint32))
    counts = _count_into_table(counts, pending)
    codes = np.flatnonzero(counts).astype(np.uint32)
    return codes, counts[codes]


def _count_into_table(counts, parts):
    """The 2^24-entry table of pixel counts (made if None) with the codes of ``parts`` added."""
    added = np.bincount(np.concatenate(parts), minlength=1 << 24) if parts else None
    if counts is None:
        return np.zeros(1 << 24, dtype=np.int64) if added is None else added.astype(np.int64, copy=False)
    if added is not None:
        counts += added
    return counts


def _count_distinct(codes):
    """(distinct codes ascending, their counts) of uint32 codes below 2^24: by one radix sort for up
    to SORTED_HISTOGRAM_PIXELS codes (runs.value_totals; 0.25 Mpx: 7 ms against 16 ms for np.sort);
    for more, whose sort costs more, by marking the codes among all 2^24 and numbering the marked ones."""
    if len(codes) <= SORTED_HISTOGRAM_PIXELS:
        return value_totals(codes)
    seen = np.zeros(1 << 24, dtype=bool)
    seen[codes] = True
    distinct = np.flatnonzero(seen).astype(np.uint32)
    number = np.empty(1 << 24, dtype=np.int32)
    number[distinct] = np.arange(len(distinct), dtype=np.int32)
    return distinct, np.bincount(number[codes], minlength=len(distinct)).astype(np.int64)


class HeldPixels:
    """A source's blocks kept in memory as they are read (``hold(window, rgba)``, e.g. while its
    histogram is counted) and read again from there, in any windows (a source, for quantize_blocks)."""

    def __init__(self, width, height):
        self.pixels = np.empty((height, width), dtype=np.uint32)

    @classmethod
    def if_small(cls, width, height):
        """HeldPixels for a source of this size, or None if it has more than HOLD_PIXELS pixels."""
        return cls(width, height) if width * height <= HOLD_PIXELS else None

    def hold(self, window, rgba):
        xoff, yoff, cols, rows = window
        self.pixels[yoff:yoff + rows, xoff:xoff + cols] = rgba

    def read(self, window):
        xoff, yoff, cols, rows = window
        return self.pixels[yoff:yoff + rows, xoff:xoff + cols].copy()  # a block of its own, as a source reads it


def palette_usage(codes, counts, palette, metric, entries=None):
    """(entry of each histogram colour, pixels per palette entry) under ``metric``; ``entries``:
    the colours' nearest entries when already known (found while the palette was built)."""
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(len(palette), dtype=np.int64)
    if entries is None:
        entries = nearest_palette_indices(unpack_rgb(codes), palette.colours, metric)
    return entries, np.bincount(entries, weights=counts, minlength=len(palette)).astype(np.int64)
