"""The settings of a run, as one typed object every front end builds and the engine reads.

Frozen dataclasses, checked once when they are made: a value the engine cannot use raises
``OptionsError`` whose ``setting`` names it with the word the algorithms and the command line
share (``CLEANUP``, ``N_COLORS``, ...), so each front end can show it in its own terms. The engine
derives everything else from here: the block margin from ``CleanupOptions.margin``, the palette
from ``PaletteOptions``, whole-row windows from ``dither``.
"""

import math
import numbers
import os
from dataclasses import dataclass, field
from typing import Optional, Tuple

from ..palettes.palette import BUILTIN_NAMES, MATPLOTLIB_PREFIX, MAX_COLOURS
from . import cleanup
from .adaptive import METHODS as IMAGE_METHODS
from .metrics import METRICS

CLEANUPS = cleanup.METHODS
DITHERS = ("none", "floyd-steinberg")


class OptionsError(ValueError):
    """A setting the engine cannot use; ``setting`` names it (e.g. "CLEANUP"), the message says
    what to choose instead."""

    def __init__(self, setting, message):
        super().__init__(message)
        self.setting = setting


def _choice(setting, value, choices):
    if value not in choices:
        raise OptionsError(setting, "{} must be one of {}, not {!r}.".format(setting, ", ".join(choices), value))


def _integer(setting, value, low, high=None):
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)) and \
            float(value).is_integer() and low <= value and (high is None or value <= high):
        raise OptionsError(setting, "{} must be an int, not {!r}: give {}.".format(setting, float(value), int(value)))
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or (high is not None and value > high):
        raise OptionsError(setting, "{} must be a whole number from {}{}, not {!r}.".format(
            setting, low, " to {}".format(high) if high is not None else " up", value))


def whole_number(setting, value):
    """``value`` (a number, or its text as a front end receives it) as an int; OptionsError when it
    is not a whole number, which a front end would otherwise round or cut (2.5 to 2) without a word."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not number.is_integer():
        raise OptionsError(setting, "{} must be a whole number, not {}.".format(setting, value))
    return int(number)


def finite_number(setting, value):
    """``value`` (a number or its text) as a float; OptionsError when it is NaN, infinite or no number."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise OptionsError(setting, "{} must be a finite number, not {}.".format(setting, value))
    return number


def nodata_index(value):
    """NODATA_INDEX (a number or its text) as an int from 0 to MAX_COLOURS, else OptionsError."""
    number = whole_number("NODATA_INDEX", value)
    _integer("NODATA_INDEX", number, 0, MAX_COLOURS)
    return number


def _bands(setting, bands):
    """None, or a tuple of 3 (red, green, blue) or 4 (with alpha) band numbers from 1 (ints, also
    when given as numpy integers, which GDAL's bindings refuse)."""
    if bands is None:
        return None
    if isinstance(bands, (str, bytes, numbers.Number)):
        raise OptionsError(setting, "{} takes 3 band numbers (red, green, blue) or 4 (with alpha), not {!r}.".format(
            setting, bands))
    bands = tuple(bands)
    if len(bands) not in (3, 4):
        raise OptionsError(setting, "{} takes 3 band numbers (red, green, blue) or 4 (with alpha), not {}.".format(
            setting, len(bands)))
    for band in bands:
        _integer(setting, band, 1)
    return tuple(int(band) for band in bands)


def file_path(setting, value):
    """None, or a file path as text (a str, or an os.PathLike such as pathlib.Path); OptionsError
    for anything else (bytes, numbers)."""
    if value is None:
        return None
    path = os.fspath(value) if isinstance(value, (str, os.PathLike)) else None
    if not isinstance(path, str):
        raise OptionsError(setting, "{} must be a file path (text or pathlib.Path), not {!r}.".format(setting, value))
    return path


def _instance(setting, value, kind):
    if not isinstance(value, kind):
        raise OptionsError(setting, "{} must be a {} (engine.options), not {!r}.".format(setting, kind.__name__, value))


@dataclass(frozen=True)
class PaletteOptions:
    """Where the palette comes from: ``file`` (a palette file) wins over ``name``, which is a
    built-in palette (BUILTIN_NAMES), a method building it from the image (exact, frequent,
    kmeans, mediancut) or a matplotlib colormap as "mpl:<name>"; ``n_colours`` sizes the last two."""

    name: str = "win256"
    file: Optional[str] = None
    n_colours: int = 256

    def __post_init__(self):
        object.__setattr__(self, "file", file_path("PALETTE_FILE", self.file))
        if not self.file and not (self.name in BUILTIN_NAMES or self.name in IMAGE_METHODS or (
                isinstance(self.name, str) and self.name.startswith(MATPLOTLIB_PREFIX)
                and len(self.name) > len(MATPLOTLIB_PREFIX))):
            raise OptionsError("PALETTE", "PALETTE must be a built-in palette ({}), a method ({}) or "
                               "'mpl:<colormap>', not {!r}.".format(", ".join(BUILTIN_NAMES),
                                                                    ", ".join(IMAGE_METHODS), self.name))
        _integer("N_COLORS", self.n_colours, 2, MAX_COLOURS)
        object.__setattr__(self, "n_colours", int(self.n_colours))

    @property
    def kind(self):
        """"file", "image" (built from the pixels), "matplotlib" or "builtin"."""
        if self.file:
            return "file"
        if self.name in IMAGE_METHODS:
            return "image"
        if self.name.startswith(MATPLOTLIB_PREFIX):
            return "matplotlib"
        return "builtin"

    @property
    def from_image(self):
        return self.kind == "image"


@dataclass(frozen=True)
class CleanupOptions:
    """Edge cleanup: ``method`` none, seams (``seam_tolerance`` delta E, ``seam_radius`` pixels)
    or sieve (regions under ``min_region`` pixels, ``connectedness`` 4 or 8)."""

    method: str = "none"
    seam_tolerance: float = cleanup.DEFAULT_SEAM_TOLERANCE
    seam_radius: int = cleanup.DEFAULT_SEAM_RADIUS
    min_region: int = cleanup.DEFAULT_MIN_REGION
    connectedness: int = cleanup.DEFAULT_CONNECTEDNESS

    def __post_init__(self):
        _choice("CLEANUP", self.method, CLEANUPS)
        tolerance = self.seam_tolerance
        if not isinstance(tolerance, bool) and isinstance(tolerance, numbers.Real) and not math.isfinite(tolerance):
            raise OptionsError("SEAM_TOLERANCE", "SEAM_TOLERANCE must be a finite number, not {}.".format(tolerance))
        if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real) or tolerance < 0:
            raise OptionsError("SEAM_TOLERANCE", "SEAM_TOLERANCE must be a number of 0 or more, not {!r}.".format(
                tolerance))
        _integer("SEAM_RADIUS", self.seam_radius, *cleanup.SEAM_RADIUS_RANGE)
        _integer("MIN_REGION", self.min_region, *cleanup.MIN_REGION_RANGE)
        if isinstance(self.connectedness, bool) or not isinstance(self.connectedness, numbers.Integral) or \
                self.connectedness not in (4, 8):
            raise OptionsError("CONNECTEDNESS", "CONNECTEDNESS must be 4 or 8, not {}.".format(self.connectedness))

    @property
    def margin(self):
        """Pixels of overlap each block is read with, so results do not depend on block boundaries."""
        return cleanup.margin(self.method, self.min_region, self.seam_radius)

    @property
    def busy(self):
        """Whether the pass keeps every core busy: a cleanup cleans blocks in two threads (see
        blocks.quantize_blocks), and the output is best compressed without threads of GDAL's own."""
        return self.method != "none"


@dataclass(frozen=True)
class QuantizeOptions:
    """Everything ``run.quantize_file`` and ``run.quantize_source`` need besides the pixels.

    ``bands``: (red, green, blue[, alpha]) band numbers of a file, None for 1, 2, 3 with the file's
    alpha band or mask. ``report``: an HTML report path; ``table``: a CSV of the palette entries
    with their pixels; ``style``: write the QGIS style (.qml) beside the output. ``nodata_index``:
    the index nodata pixels get and the output's nodata value (None: chosen outside the palette,
    see blocks.output_type); inside the palette, that entry is kept for nodata.
    """

    palette: PaletteOptions = field(default_factory=PaletteOptions)
    metric: str = "rgb"
    cleanup: CleanupOptions = field(default_factory=CleanupOptions)
    dither: str = "none"
    alpha_threshold: int = 128
    bands: Optional[Tuple[int, ...]] = None
    report: Optional[str] = None
    table: Optional[str] = None
    style: bool = True
    nodata_index: Optional[int] = None

    def __post_init__(self):
        _instance("PALETTE", self.palette, PaletteOptions)
        _instance("CLEANUP", self.cleanup, CleanupOptions)
        _choice("METRIC", self.metric, METRICS)
        if self.nodata_index is not None:
            _integer("NODATA_INDEX", self.nodata_index, 0, MAX_COLOURS)
            object.__setattr__(self, "nodata_index", int(self.nodata_index))
        _choice("DITHER", self.dither, DITHERS)
        _integer("ALPHA_THRESHOLD", self.alpha_threshold, 0, 255)
        object.__setattr__(self, "bands", _bands("BANDS", self.bands))
        object.__setattr__(self, "report", file_path("OUTPUT_REPORT", self.report))
        object.__setattr__(self, "table", file_path("OUTPUT_TABLE", self.table))
        if not isinstance(self.style, bool) and not (getattr(getattr(self.style, "dtype", None), "kind", None) == "b"
                                                     and getattr(self.style, "shape", None) == ()):
            raise OptionsError("STYLE", "STYLE must be True or False, not {!r}.".format(self.style))
        object.__setattr__(self, "style", bool(self.style))  # numpy's bool too
        if self.cleanup.method != "none" and self.dither != "none":
            raise OptionsError("CLEANUP", "CLEANUP={} would undo DITHER={}: choose one of them.".format(
                self.cleanup.method, self.dither))

    @property
    def full_rows(self):
        """Dithering carries errors along rows in order, so its blocks must be whole rows."""
        return self.dither != "none"

    @property
    def margin(self):
        return self.cleanup.margin


@dataclass(frozen=True)
class ExtractOptions:
    """Everything ``run.extract_palette_files`` needs: a palette of ``n_colours`` built by
    ``method`` under ``metric`` from the pixels whose alpha reaches ``alpha_threshold``."""

    method: str = "frequent"
    n_colours: int = 256
    metric: str = "rgb"
    alpha_threshold: int = 128
    bands: Optional[Tuple[int, ...]] = None
    report: Optional[str] = None

    def __post_init__(self):
        _choice("METHOD", self.method, IMAGE_METHODS)
        _integer("N_COLORS", self.n_colours, 2, MAX_COLOURS)
        _choice("METRIC", self.metric, METRICS)
        _integer("ALPHA_THRESHOLD", self.alpha_threshold, 0, 255)
        object.__setattr__(self, "bands", _bands("BANDS", self.bands))
        object.__setattr__(self, "report", file_path("OUTPUT_REPORT", self.report))

    @property
    def palette(self):
        """The same palette choice as a QuantizeOptions palette (a method, built from the image)."""
        return PaletteOptions(name=self.method, n_colours=self.n_colours)
