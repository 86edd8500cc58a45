"""CIEDE2000 colour difference (QGIS-free), after Sharma, Wu and Dalal (2005)."""

import numpy as np

_25_POW_7 = 25.0 ** 7


def ciede2000(lab1, lab2):
    """Delta E 2000 between CIELAB colours; the two arrays broadcast against each other (..., 3)."""
    L1, a1, b1 = (np.asarray(lab1, dtype=np.float64)[..., i] for i in range(3))
    L2, a2, b2 = (np.asarray(lab2, dtype=np.float64)[..., i] for i in range(3))
    c_mean7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2.0) ** 7
    g = 0.5 * (1.0 - np.sqrt(c_mean7 / (c_mean7 + _25_POW_7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360.0
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360.0
    chroma_zero = (c1p * c2p) == 0

    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(chroma_zero, 0.0, dh)
    d_l, d_c = L2 - L1, c2p - c1p
    d_h = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2.0)

    l_mean, c_mean = (L1 + L2) / 2.0, (c1p + c2p) / 2.0
    h_sum, h_gap = h1p + h2p, np.abs(h1p - h2p)
    h_mean = np.where(h_gap <= 180.0, h_sum / 2.0, np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0))
    h_mean = np.where(chroma_zero, h_sum, h_mean)

    t = (1.0 - 0.17 * np.cos(np.radians(h_mean - 30.0)) + 0.24 * np.cos(np.radians(2.0 * h_mean))
         + 0.32 * np.cos(np.radians(3.0 * h_mean + 6.0)) - 0.20 * np.cos(np.radians(4.0 * h_mean - 63.0)))
    d_theta = 30.0 * np.exp(-(((h_mean - 275.0) / 25.0) ** 2))
    c_mean7p = c_mean ** 7
    r_c = 2.0 * np.sqrt(c_mean7p / (c_mean7p + _25_POW_7))
    s_l = 1.0 + 0.015 * (l_mean - 50.0) ** 2 / np.sqrt(20.0 + (l_mean - 50.0) ** 2)
    s_c = 1.0 + 0.045 * c_mean
    s_h = 1.0 + 0.015 * c_mean * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c
    term_c, term_h = d_c / s_c, d_h / s_h
    return np.sqrt((d_l / s_l) ** 2 + term_c ** 2 + term_h ** 2 + r_t * term_c * term_h)
