"""One quantization pass: blocks of RGBA pixels in, blocks of palette indices out (QGIS-free)."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .nearest import NearestColourMapper, nearest_palette_indices, unpack_rgb
from .runs import RunFinder


class Cancelled(Exception):
    """The user cancelled the run."""


def output_type(palette_size):
    """(numpy dtype, nodata value) for a palette: nodata is always outside the palette."""
    if palette_size <= 255:
        return np.uint8, 255
    return np.uint16, 65535


def _read_ahead(source, windows):
    """(window, block) pairs; a source whose ``reads_in_background`` is true reads the next block
    in a thread (GDAL releases the GIL) while the caller works on the current one."""
    if not getattr(source, "reads_in_background", False):
        for window in windows:
            yield window, source.read(window)
        return
    with ThreadPoolExecutor(max_workers=1) as reading:
        upcoming = reading.submit(source.read, windows[0]) if windows else None
        for i, window in enumerate(windows):
            block = upcoming.result()
            if i + 1 < len(windows):
                upcoming = reading.submit(source.read, windows[i + 1])
            yield window, block


class QuantizeResult:
    """What a pass found: pixels per palette entry, and how many distinct colours were searched."""

    def __init__(self, counts, distinct_colours):
        self.counts, self.distinct_colours = counts, distinct_colours


def quantize_blocks(source, writer, windows, palette, metric, alpha_threshold,
                    progress=lambda fraction: None, is_cancelled=lambda: False, observers=(),
                    dither="none", cleanup="none", cleanup_options=None, grid_size=None):
    """Map every window of ``source`` to palette indices and hand them to ``writer``.

    ``source.read(window)`` gives packed RGBA codes (see nearest.pack_rgba). Pixels whose
    alpha is below ``alpha_threshold`` become nodata. ``dither="floyd-steinberg"`` diffuses the
    colour error (windows must then be whole rows, in order); ``cleanup`` ("seams" or "sieve",
    with ``cleanup_options``) reads each window with a margin of overlap, cleans it and keeps
    the centre, so results do not depend on block boundaries (``grid_size`` = raster size).
    Each observer's ``add(window, rgba, indices, runs)`` sees every block (e.g. to build a
    report) without a second read; ``runs`` (runs.Runs) cut the block where colour or index changes.
    """
    dtype, nodata = output_type(len(palette))
    mapper = NearestColourMapper(palette.colours, metric)
    counts = np.zeros(nodata + 1, dtype=np.int64)
    windows = list(windows)
    map_block = _block_mapper(mapper, palette, metric, dither, cleanup, cleanup_options or {}, windows)
    margin = cleanup_margin(cleanup, cleanup_options or {})
    reads = [expand_window(window, margin, grid_size) for window in windows] if margin else windows

    finder = RunFinder()
    colour_decides = map_block is None  # each index depends on its pixel's colour code alone

    def finish(window, rgba, indices):
        writer.write(window, indices)
        flat = indices.ravel()
        if observers:  # one cut into runs serves the count and every observer
            runs = finder.find([rgba.ravel()] if colour_decides else [rgba.ravel(), flat])
        else:  # counting alone: runs pay off only when they are long
            runs = finder.find([flat], worth_it=0.125)
        counts[:] += runs.count(flat, nodata + 1)
        for observer in observers:
            observer.add(window, rgba, indices, runs)

    # One block is finished (written, compressed with the GIL released, counted) in a thread
    # while the next one is read and mapped.
    opaque = np.uint32(alpha_threshold << 24)
    with ThreadPoolExecutor(max_workers=1) as finishing:
        pending = None
        for done, (read, rgba) in enumerate(_read_ahead(source, reads)):
            if is_cancelled():
                raise Cancelled()
            window = windows[done]
            if map_block is None:  # plain nearest colour: the fast path
                indices = mapper.map_codes(rgba, dtype, alpha_threshold, nodata)
            else:
                indices = map_block(rgba, rgba >= opaque)
                rgba, indices = centre(rgba, read, window), centre(indices, read, window)
                indices = indices.astype(dtype)
                np.copyto(indices, nodata, where=rgba < opaque)
            if pending is not None:
                pending.result()
            pending = finishing.submit(finish, window, rgba, indices)
            progress((done + 1) / len(windows))
        if pending is not None:
            pending.result()
    return QuantizeResult(counts[:len(palette)], mapper.distinct_colours)


def _block_mapper(mapper, palette, metric, dither, cleanup, options, windows):
    """None for plain nearest colours, else a function (rgba, valid) -> indices for one read."""
    if dither == "floyd-steinberg":
        from .dither import FloydSteinbergDither

        width = windows[0][2] if windows else 0
        if any(w[0] != 0 or w[2] != width for w in windows):
            raise ValueError("dithering needs windows of whole rows")
        return FloydSteinbergDither(mapper, metric, width).dither
    if cleanup == "seams":
        from .cleanup import clean_seams

        return lambda rgba, valid: clean_seams(
            mapper.map_codes(rgba), rgba, palette.colours, metric, valid, in_place=True, **options.get("seams", {}))
    if cleanup == "sieve":
        from .cleanup import sieve

        return lambda rgba, valid: sieve(mapper.map_codes(rgba), valid, options["min_region"],
                                         options["connectedness"], in_place=True)
    return None


def cleanup_margin(cleanup, options):
    """Pixels of overlap a cleanup needs around each block (0 without cleanup)."""
    if cleanup in (None, "none"):
        return 0
    from .cleanup import margin

    return margin(cleanup, options.get("min_region"))


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


def colour_histogram(source, windows, alpha_threshold, progress=lambda fraction: None,
                     is_cancelled=lambda: False, on_block=None):
    """Distinct colour codes (uint32, ascending) of the valid pixels and their pixel counts.

    Counts live in one table over all 2^24 colours, so memory does not grow with the raster.
    ``on_block(window, rgba)`` sees every block as it is read (e.g. for report thumbnails).
    """
    counts = np.zeros(1 << 24, dtype=np.int64)
    windows = list(windows)
    for done, (window, rgba) in enumerate(_read_ahead(source, windows)):
        if is_cancelled():
            raise Cancelled()
        if on_block is not None:
            on_block(window, rgba)
        if alpha_threshold > 0:
            rgba = rgba[rgba >= np.uint32(alpha_threshold << 24)]
        counts += np.bincount((rgba & np.uint32(0xFFFFFF)).ravel(), minlength=1 << 24)
        progress((done + 1) / len(windows))
    codes = np.flatnonzero(counts).astype(np.uint32)
    return codes, counts[codes]


def palette_usage(codes, counts, palette, metric):
    """(entry of each histogram colour, pixels per palette entry) under ``metric``."""
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(len(palette), dtype=np.int64)
    entries = nearest_palette_indices(unpack_rgb(codes), palette.colours, metric)
    return entries, np.bincount(entries, weights=counts, minlength=len(palette)).astype(np.int64)
