"""One quantization pass: blocks of RGBA pixels in, blocks of palette indices out (QGIS-free)."""

import numpy as np

from .nearest import NearestColourMapper


class Cancelled(Exception):
    """The user cancelled the run."""


def output_type(palette_size):
    """(numpy dtype, nodata value) for a palette: nodata is always outside the palette."""
    if palette_size <= 255:
        return np.uint8, 255
    return np.uint16, 65535


def quantize_blocks(source, writer, windows, palette, metric, alpha_threshold,
                    progress=lambda fraction: None, is_cancelled=lambda: False):
    """Map every window of ``source`` to palette indices and hand them to ``writer``.

    ``source.read(window)`` gives packed RGBA codes (see nearest.pack_rgba). Pixels whose
    alpha is below ``alpha_threshold`` become nodata. Returns the mapper, whose
    ``distinct_colours`` tells how many nearest-colour searches were needed.
    """
    dtype, nodata = output_type(len(palette))
    mapper = NearestColourMapper(palette.colours, metric)
    windows = list(windows)
    for done, window in enumerate(windows):
        if is_cancelled():
            raise Cancelled()
        rgba = source.read(window)
        indices = mapper.map_codes(rgba).astype(dtype, copy=False)
        if alpha_threshold > 0:
            indices[rgba < np.uint32(alpha_threshold << 24)] = nodata
        writer.write(window, indices)
        progress((done + 1) / len(windows))
    return mapper
