"""A palette: N colours (N x 3 uint8) with optional labels, and the shipped palettes."""

import functools
import os
import re

import numpy as np

#: Largest palette: indices 0..65534 leave 65535 free for nodata in a UInt16 raster.
MAX_COLOURS = 65535

BUILTIN_DIR = os.path.join(os.path.dirname(__file__), "builtin")
#: Shipped palettes, in the order the PALETTE enum lists them (win256 is the seed's palette).
BUILTIN_NAMES = ("win256", "websafe216", "vga16", "gray256")


#: Characters of a label a log line shows as '?', and its longest length there.
_CONTROL = re.compile("[\\x00-\\x1f\\x7f-\\x9f]")
SHOWN_LABEL = 80


def shown_text(text):
    """A label as a message quotes it: control characters (a terminal's escape sequences) as '?', a
    long description cut."""
    text = _CONTROL.sub("?", text)
    return text if len(text) <= SHOWN_LABEL else text[:SHOWN_LABEL - 1] + "…"


def colour_count(count):
    """'1 colour', '16 colours': a count of colours as a message says it."""
    return "1 colour" if count == 1 else "{} colours".format(count)


class Palette:
    """Colours and labels of one palette; index i is colour ``colours[i]``."""

    def __init__(self, colours, labels=None, name=""):
        colours = np.asarray(colours)
        if colours.ndim != 2 or colours.shape[1] != 3:
            raise ValueError("a palette needs N rows of red, green, blue")
        if not 1 <= len(colours) <= MAX_COLOURS:
            raise ValueError(
                "a palette needs 1 to {} colours, this one has {}".format(MAX_COLOURS, len(colours))
            )
        if colours.min() < 0 or colours.max() > 255:
            raise ValueError("palette colours must be 0-255")
        self.colours = colours.astype(np.uint8)
        if labels is not None:  # on one line, as every format writes them (a form feed or U+2028 too)
            labels = tuple(" ".join(str(label).splitlines()) for label in labels)
            if len(labels) != len(colours):
                raise ValueError("a palette needs one label per colour")
            if not any(labels):
                labels = None
        self.labels = labels
        self.name = name
        #: The entry a raster read as a palette keeps for its nodata (its pixels of that value are
        #: nodata): not a colour of the palette; None for none.
        self.nodata_index = None

    def __len__(self):
        return len(self.colours)

    def label(self, index):
        """The entry's label, or its index when the palette has no labels."""
        if self.labels and self.labels[index]:
            return self.labels[index]
        return str(index)

    def shown_label(self, index):
        """The entry's label as a log line quotes it (see shown_text), '' when it has none."""
        return shown_text(self.labels[index]) if self.labels else ""

    def __eq__(self, other):
        return (
            isinstance(other, Palette)
            and np.array_equal(self.colours, other.colours)
            and self.labels == other.labels
        )

    def __repr__(self):
        return "Palette({!r}, {} colours)".format(self.name, len(self))


def builtin_palette(name):
    """One of the shipped palettes by name (see BUILTIN_NAMES): a new Palette each time."""
    if name not in BUILTIN_NAMES:
        raise ValueError("unknown palette {!r}; choose one of {}".format(name, ", ".join(BUILTIN_NAMES)))
    colours, labels = _builtin_entries(name)
    return Palette(colours, labels, name=name)


@functools.lru_cache(maxsize=None)
def _builtin_entries(name):
    """(colours, labels) of a shipped palette, its file read once per process: parsing it costs
    about 10 ms, and a run asks for it twice (checks, then the run itself)."""
    from .formats import read_palette

    palette, _ = read_palette(os.path.join(BUILTIN_DIR, name + ".csv"))
    palette.colours.flags.writeable = False  # Palette copies it (astype); never changed in place
    return palette.colours, palette.labels


#: Matplotlib colormaps offered in the PALETTE list; any other name works as "mpl:<name>" too.
MATPLOTLIB_NAMES = (
    "viridis", "plasma", "inferno", "magma", "cividis", "turbo", "twilight", "terrain", "gist_earth",
    "ocean", "cubehelix", "gray", "Greys", "Blues", "Greens", "Reds", "YlOrBr", "YlGnBu", "RdYlBu",
    "RdYlGn", "Spectral", "coolwarm", "bwr", "seismic", "BrBG", "PuOr", "jet", "rainbow", "hsv",
    "tab10", "tab20", "Set1", "Set2", "Set3", "Paired", "Accent", "Dark2", "Pastel1",
)
MATPLOTLIB_PREFIX = "mpl:"


class MatplotlibMissingError(ValueError):
    """An ``mpl:`` palette asked for where matplotlib cannot be imported (it is optional)."""


def matplotlib_palette(name, n_colours):
    """A matplotlib colormap sampled at ``n_colours`` evenly spaced points (name without 'mpl:')."""
    try:
        import matplotlib
        from matplotlib import cm
    except ImportError as problem:
        raise MatplotlibMissingError(
            "the palette {}{} needs matplotlib, which this Python cannot import ({}); install it (Debian or "
            "Ubuntu: sudo apt install python3-matplotlib; pip: python3 -m pip install matplotlib) or choose "
            "another palette".format(MATPLOTLIB_PREFIX, name, problem)) from problem

    try:  # matplotlib.colormaps exists from matplotlib 3.5
        colormap = matplotlib.colormaps[name] if hasattr(matplotlib, "colormaps") else cm.get_cmap(name)
    except (KeyError, ValueError):
        raise ValueError("matplotlib has no colormap {!r}; e.g. {}".format(
            name, ", ".join(MATPLOTLIB_PREFIX + n for n in MATPLOTLIB_NAMES[:5])))
    rgba = colormap(np.linspace(0.0, 1.0, n_colours))
    return Palette(np.round(rgba[:, :3] * 255.0), name=MATPLOTLIB_PREFIX + name)
