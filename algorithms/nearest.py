"""Exact nearest-palette-colour mapping (QGIS-free).

Distances (Euclidean in RGB, CIE76 or CIEDE2000) are computed by brute force over the whole
palette, once per distinct colour, and ties go to the lowest palette index (numpy's argmin), so
the result equals a per-pixel brute-force argmin. A lookup table over all 2^24 packed RGB colours caches every answer,
which makes the per-pixel work one packing and one table look-up.
"""

import numpy as np

from .colorspace import srgb_to_lab
from .colour_difference import ciede2000

#: Metric name -> converts 0-255 RGB (K x 3) into the space where distances are measured.
METRIC_SPACES = {
    "rgb": lambda rgb: np.asarray(rgb, dtype=np.float64),  # Euclidean in RGB: the seed's method
    "cielab": srgb_to_lab,  # CIE76 delta E: Euclidean in CIELAB
    "ciede2000": srgb_to_lab,  # CIEDE2000 delta E, measured between CIELAB colours
}
METRICS = tuple(METRIC_SPACES)

_UNKNOWN = np.uint16(0xFFFF)  # palettes have at most 65535 colours: 0xFFFF is never an index
_RGB = np.uint32(0xFFFFFF)
_STEP = 1 << 18  # pixels per mapping step (see NearestColourMapper.map_codes)
_PAIRS_PER_CHUNK = 1 << 21
_TIE_TOLERANCE = 1e-6  # far above the rounding error of the fast distance formula


def distances(points, targets, metric):
    """Distances (or squared distances: same order) between K points and N targets -> K x N."""
    if metric == "ciede2000":
        return ciede2000(points[:, None, :], targets[None, :, :])
    diff = points[:, None, :] - targets[None, :, :]
    return (diff * diff).sum(axis=2)


def nearest_palette_indices(colours, palette_colours, metric):
    """Index of the nearest palette colour for each of K colours (K x 3, 0-255).

    For the Euclidean metrics, squared distances come from |p|^2 - 2 c.p (one matrix product);
    rows whose best and second-best distances are within rounding error of each other are
    recomputed from the plain differences, so the answer always equals brute_force_indices.
    """
    to_space = METRIC_SPACES[metric]
    points = to_space(np.asarray(colours).reshape(-1, 3))
    targets = to_space(np.asarray(palette_colours).reshape(-1, 3))
    target_norms = (targets * targets).sum(axis=1)
    result = np.empty(len(points), dtype=np.int64)
    step = max(1, (_PAIRS_PER_CHUNK // (8 if metric == "ciede2000" else 1)) // len(targets))
    for start in range(0, len(points), step):
        chunk = points[start:start + step]
        if metric == "ciede2000":
            result[start:start + step] = np.argmin(distances(chunk, targets, metric), axis=1)
            continue
        fast = target_norms - 2.0 * (chunk @ targets.T)
        best = np.argmin(fast, axis=1)
        margin = fast[np.arange(len(chunk)), best] + _TIE_TOLERANCE
        close = np.flatnonzero((fast <= margin[:, None]).sum(axis=1) > 1)
        if len(close):
            best[close] = np.argmin(distances(chunk[close], targets, metric), axis=1)
        result[start:start + step] = best
    return result


def brute_force_indices(colours, palette_colours, metric):
    """The reference: argmin over the plain distances, pixel by pixel (slow)."""
    to_space = METRIC_SPACES[metric]
    points = to_space(np.asarray(colours).reshape(-1, 3))
    targets = to_space(np.asarray(palette_colours).reshape(-1, 3))
    return np.array([np.argmin(distances(point[None], targets, metric)[0]) for point in points])


def pack_rgba(red, green, blue, alpha=None):
    """Pack 0-255 arrays into uint32 colour codes: red | green << 8 | blue << 16 | alpha << 24,
    the value of RGBA bytes read as a little-endian uint32 (alpha defaults to 255)."""
    alpha = np.uint32(255 << 24) if alpha is None else alpha.astype(np.uint32) << 24
    return red.astype(np.uint32) | (green.astype(np.uint32) << 8) | (blue.astype(np.uint32) << 16) | alpha


def unpack_rgb(codes):
    """K colour codes -> K x 3 uint8 red, green, blue (alpha ignored)."""
    codes = np.asarray(codes, dtype=np.uint32)
    return np.stack([codes & 255, (codes >> 8) & 255, (codes >> 16) & 255], axis=-1).astype(np.uint8)


def distinct_codes(codes, bitmap):
    """The distinct values of uint32 colour ``codes``. Rendered maps repeat each colour along runs,
    so dropping repeats leaves few to sort; photographs, with few repeats, are marked in
    ``bitmap`` (2^24 booleans, all False, left all False) instead of being sorted."""
    codes = codes[np.concatenate(([True], codes[1:] != codes[:-1]))]
    if len(codes) < 1 << 18:
        return np.unique(codes)
    bitmap[codes] = True
    distinct = np.flatnonzero(bitmap).astype(np.uint32)
    bitmap[distinct] = False
    return distinct


class NearestColourMapper:
    """Maps pixels to palette indices, computing each distinct colour's answer only once."""

    def __init__(self, palette_colours, metric):
        if metric not in METRIC_SPACES:
            raise ValueError("unknown metric {!r}; choose one of {}".format(metric, ", ".join(METRICS)))
        self.palette_colours = np.asarray(palette_colours, dtype=np.uint8)
        self.metric = metric
        self._lut = np.full(1 << 24, _UNKNOWN, dtype=np.uint16)
        self._new = np.zeros(1 << 24, dtype=bool)  # scratch: marks unseen colours without sorting
        self.distinct_colours = 0

    def map_codes(self, codes, dtype=np.uint16, alpha_threshold=0, nodata=None):
        """Palette indices (``dtype``, same shape) of packed colour codes (see pack_rgba); codes
        whose alpha is below ``alpha_threshold`` get ``nodata``.

        Works in steps of _STEP pixels so that every temporary stays in the CPU cache: about
        twice as fast as whole-block numpy operations on a 100-megapixel raster.
        """
        flat = np.ravel(np.asarray(codes, dtype=np.uint32))
        indices = np.empty(flat.size, dtype)
        rgb_scratch = np.empty(min(_STEP, flat.size), np.uint32)
        found_scratch = None if indices.dtype == np.uint16 else np.empty(len(rgb_scratch), np.uint16)
        opaque = np.uint32(alpha_threshold << 24)
        for start in range(0, flat.size, _STEP):
            part = flat[start:start + _STEP]
            rgb = np.bitwise_and(part, _RGB, out=rgb_scratch[:len(part)])
            found = indices[start:start + len(part)] if found_scratch is None else found_scratch[:len(part)]
            np.take(self._lut, rgb, out=found, mode="wrap")  # codes < 2^24: "wrap" never wraps
            if found.max() == _UNKNOWN:
                unknown = found == _UNKNOWN
                new = rgb[unknown]
                self._learn(new)
                found[unknown] = self._lut[new]
            if alpha_threshold > 0:
                np.copyto(found, nodata, where=part < opaque)
            if found_scratch is not None:
                indices[start:start + len(part)] = found
        return indices.reshape(np.shape(codes))

    def _learn(self, codes):
        """Find and remember the nearest palette entry of every distinct colour among ``codes``."""
        new = distinct_codes(codes, self._new)
        self._lut[new] = nearest_palette_indices(unpack_rgb(new), self.palette_colours, self.metric)
        self.distinct_colours += len(new)

    def map_rgb(self, red, green, blue):
        """Palette indices of pixels given as three 0-255 arrays of one shape."""
        return self.map_codes(pack_rgba(red, green, blue))
