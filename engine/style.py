"""The indexed raster's QGIS style as text: a paletted renderer with one class per palette entry.

GeoTIFF pads colour tables to 256 or 65,536 entries, which QGIS would show as that many classes;
the style keeps exactly the palette, with its labels (an entry's index where it has none). Written
beside the output as <output>.qml, which QGIS loads whenever the file is opened, by the plugin and
the command line alike; the text is the palette file format's .qml (palettes.formats).
"""

import os

from ..palettes.formats import write_palette
from ..palettes.palette import Palette


def style_path(raster_path):
    return os.path.splitext(raster_path)[0] + ".qml"


def write_style(raster_path, palette):
    """Write <output>.qml for the indexed raster at ``raster_path``; returns the style's path."""
    labelled = Palette(palette.colours, [palette.label(i) for i in range(len(palette))], palette.name)
    path = style_path(raster_path)
    write_palette(labelled, path)
    return path
