"""One quantization pass: blocks of RGBA pixels in, blocks of palette indices out (QGIS-free)."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .nearest import NearestColourMapper, nearest_palette_indices, unpack_rgb


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
                    progress=lambda fraction: None, is_cancelled=lambda: False, observers=()):
    """Map every window of ``source`` to palette indices and hand them to ``writer``.

    ``source.read(window)`` gives packed RGBA codes (see nearest.pack_rgba). Pixels whose
    alpha is below ``alpha_threshold`` become nodata. Each observer's ``add(window, rgba,
    indices)`` sees every block (e.g. to build a report) without a second read.
    """
    dtype, nodata = output_type(len(palette))
    mapper = NearestColourMapper(palette.colours, metric)
    counts = np.zeros(nodata + 1, dtype=np.int64)

    def finish(window, rgba, indices):
        writer.write(window, indices)
        counts[:] += np.bincount(indices.ravel(), minlength=nodata + 1)
        for observer in observers:
            observer.add(window, rgba, indices)

    windows = list(windows)
    # One block is finished (written, compressed with the GIL released, counted) in a thread
    # while the next one is read and mapped.
    with ThreadPoolExecutor(max_workers=1) as finishing:
        pending = None
        for done, (window, rgba) in enumerate(_read_ahead(source, windows)):
            if is_cancelled():
                raise Cancelled()
            indices = mapper.map_codes(rgba).astype(dtype, copy=False)
            if alpha_threshold > 0:
                indices[rgba < np.uint32(alpha_threshold << 24)] = nodata
            if pending is not None:
                pending.result()
            pending = finishing.submit(finish, window, rgba, indices)
            progress((done + 1) / len(windows))
        if pending is not None:
            pending.result()
    return QuantizeResult(counts[:len(palette)], mapper.distinct_colours)


def colour_histogram(source, windows, alpha_threshold, progress=lambda fraction: None,
                     is_cancelled=lambda: False):
    """Distinct colour codes (uint32, ascending) of the valid pixels and their pixel counts.

    Counts live in one table over all 2^24 colours, so memory does not grow with the raster.
    """
    counts = np.zeros(1 << 24, dtype=np.int64)
    windows = list(windows)
    for done, (window, rgba) in enumerate(_read_ahead(source, windows)):
        if is_cancelled():
            raise Cancelled()
        if alpha_threshold > 0:
            rgba = rgba[rgba >= np.uint32(alpha_threshold << 24)]
        counts += np.bincount((rgba & np.uint32(0xFFFFFF)).ravel(), minlength=1 << 24)
        progress((done + 1) / len(windows))
    codes = np.flatnonzero(counts).astype(np.uint32)
    return codes, counts[codes]


def palette_usage(codes, counts, palette, metric):
    """Pixels that quantization assigns to each palette entry, from a colour histogram."""
    if len(codes) == 0:
        return np.zeros(len(palette), dtype=np.int64)
    indices = nearest_palette_indices(unpack_rgb(codes), palette.colours, metric)
    return np.bincount(indices, weights=counts, minlength=len(palette)).astype(np.int64)
