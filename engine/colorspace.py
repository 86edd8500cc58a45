"""Colour conversions used by the metrics (QGIS-free)."""

import numpy as np

# sRGB (D65) to CIE XYZ, IEC 61966-2-1.
SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
XYZ_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ)
D65_WHITE = np.array([0.95047, 1.0, 1.08883])
LAB_EPSILON, LAB_KAPPA = 216.0 / 24389.0, 24389.0 / 27.0


def srgb_to_linear(encoded):
    """Linear light of sRGB-encoded values in 0..1 (any shape)."""
    encoded = np.asarray(encoded, dtype=np.float64)
    return np.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)


def linear_to_lab(red, green, blue):
    """CIELAB (D65) (L, a, b) of linear-light sRGB channels (arrays of one shape).

    Elementwise operations only, no matrix product (whose rounding may depend on the array's
    shape through BLAS): a colour gets the same bits in whatever batch it is converted, so the
    nearest palette entry of a colour never depends on the batch it is searched in.
    """
    f = []
    for row, white in zip(SRGB_TO_XYZ.tolist(), D65_WHITE.tolist()):
        t = (row[0] * red + row[1] * green + row[2] * blue) / white
        f.append(np.where(t > LAB_EPSILON, np.cbrt(t), (LAB_KAPPA * t + 16.0) / 116.0))
    return 116.0 * f[1] - 16.0, 500.0 * (f[0] - f[1]), 200.0 * (f[1] - f[2])


#: Linear light of each 8-bit level: what srgb_to_linear gives for level / 255, bit for bit.
LINEAR_OF_LEVEL = srgb_to_linear(np.arange(256) / 255.0)


def levels_to_lab(red, green, blue):
    """CIELAB (L, a, b) of 0-255 integer sRGB channels (arrays of one shape), by table: the same
    bits as srgb_to_lab, without the power function."""
    return linear_to_lab(LINEAR_OF_LEVEL[red], LINEAR_OF_LEVEL[green], LINEAR_OF_LEVEL[blue])


def srgb_to_lab(rgb):
    """CIELAB (D65) of 0-255 sRGB colours, shape (..., 3) -> float64 (..., 3)."""
    rgb = np.asarray(rgb)
    if np.issubdtype(rgb.dtype, np.integer):
        lab = levels_to_lab(rgb[..., 0], rgb[..., 1], rgb[..., 2])
    else:
        linear = srgb_to_linear(rgb.astype(np.float64) / 255.0)
        lab = linear_to_lab(linear[..., 0], linear[..., 1], linear[..., 2])
    return np.stack(lab, axis=-1)


def lab_to_srgb(lab):
    """0-255 sRGB of CIELAB (D65) colours, shape (..., 3) -> float64 (..., 3): the inverse of srgb_to_lab.

    Values are neither rounded nor clipped, so a Lab colour outside the sRGB gamut gives components
    below 0 or above 255 (the linear segment of the sRGB curve is extended below 0); round and clip
    them to get displayable bytes.
    """
    lab = np.asarray(lab, dtype=np.float64)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = np.where(f ** 3 > LAB_EPSILON, f ** 3, (116.0 * f - 16.0) / LAB_KAPPA) * D65_WHITE
    linear = xyz @ XYZ_TO_SRGB.T
    encoded = np.where(linear <= 0.0031308, 12.92 * linear,
                       1.055 * np.abs(linear) ** (1.0 / 2.4) - 0.055)
    return encoded * 255.0
