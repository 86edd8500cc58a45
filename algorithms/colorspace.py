"""Colour conversions used by the metrics (QGIS-free)."""

import numpy as np

# sRGB (D65) to CIE XYZ, IEC 61966-2-1.
_SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])


def srgb_to_lab(rgb):
    """CIELAB (D65) of 0-255 sRGB colours, shape (..., 3) -> float64 (..., 3)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _SRGB_TO_XYZ.T / _D65_WHITE
    epsilon, kappa = 216.0 / 24389.0, 24389.0 / 27.0
    f = np.where(xyz > epsilon, np.cbrt(xyz), (kappa * xyz + 16.0) / 116.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


_XYZ_TO_SRGB = np.linalg.inv(_SRGB_TO_XYZ)


def lab_to_srgb(lab):
    """0-255 sRGB of CIELAB (D65) colours, shape (..., 3) -> float64 (..., 3): the inverse of srgb_to_lab.

    Values are neither rounded nor clipped, so a Lab colour outside the sRGB gamut gives components
    below 0 or above 255 (the linear segment of the sRGB curve is extended below 0); round and clip
    them to get displayable bytes.
    """
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    epsilon, kappa = 216.0 / 24389.0, 24389.0 / 27.0
    xyz = np.where(f ** 3 > epsilon, f ** 3, (116.0 * f - 16.0) / kappa) * _D65_WHITE
    linear = xyz @ _XYZ_TO_SRGB.T
    encoded = np.where(linear <= 0.0031308, 12.92 * linear,
                       1.055 * np.abs(linear) ** (1.0 / 2.4) - 0.055)
    return encoded * 255.0
