"""The colour metrics in one registry: adding a metric is adding one entry to ``REGISTRY``.

Every part of the engine that measures colours (the mapper, palettes built from the image, seams,
dithering, the report, the options' checks) looks its metric up here.
"""

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .colorspace import srgb_to_lab
from .colour_difference import ciede2000


def _rgb(rgb):
    return np.asarray(rgb, dtype=np.float64)


@dataclass(frozen=True)
class Metric:
    name: str
    #: How reports name it.
    title: str
    #: 0-255 RGB (K x 3) -> points in the space where distances are measured.
    to_space: Callable
    #: The Euclidean space ("rgb" or "cielab") palettes for this metric are built and dithered in.
    space: str
    #: (points, targets) -> distances, broadcasting; None: Euclidean in ``to_space`` (compared squared).
    distance: Optional[Callable] = None
    #: Cost of one distance relative to a Euclidean one (sizes the mapper's chunks).
    cost: int = 1
    #: Seconds of searching colours a few at a time after which dithering fills the mapper's whole
    #: table at once; None: never (too slow for the metric).
    fill_after: Optional[float] = None
    #: (low, high) corners of a box holding every 0-255 sRGB colour in ``to_space``, searched through
    #: candidate cells (engine.candidate_cells); None: every colour is measured against every entry.
    cell_box: Optional[tuple] = None


REGISTRY = {metric.name: metric for metric in (
    Metric("rgb", "RGB (Euclidean)", _rgb, "rgb", fill_after=3.0,  # the seed's method
           cell_box=((0.0, 0.0, 0.0), (255.0, 255.0, 255.0))),
    # CIELAB of all 2^24 colours: L 0 to 100.0000039, a -86.19 to 98.24, b -107.87 to 94.48; padded.
    Metric("cielab", "CIE76 ΔE (CIELAB)", srgb_to_lab, "cielab", fill_after=3.0,
           cell_box=((-0.01, -86.5, -108.0), (100.01, 98.5, 94.75))),
    Metric("ciede2000", "CIEDE2000 ΔE", srgb_to_lab, "cielab", distance=ciede2000, cost=8),
)}
#: Metric names, in the order the METRIC enum lists them.
METRICS = tuple(REGISTRY)
#: Metric name -> its conversion into the space where distances are measured.
METRIC_SPACES = {name: metric.to_space for name, metric in REGISTRY.items()}


def metric(name):
    """The registered Metric called ``name``; ValueError naming the choices otherwise."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError("unknown metric {!r}; choose one of {}".format(name, ", ".join(METRICS)))
