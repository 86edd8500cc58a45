"""The indexed raster's QGIS style: a paletted renderer with one class per palette entry.

GeoTIFF pads colour tables to 256 or 65,536 entries, which QGIS would show as that many classes;
the style keeps exactly the palette, with its labels. It is saved beside the output as a .qml
(QGIS loads it whenever the file is opened) and applied to the layer Processing loads.
"""

import os

from qgis.core import QgsPalettedRasterRenderer, QgsProcessingLayerPostProcessorInterface, QgsRasterLayer
from qgis.PyQt.QtGui import QColor


def paletted_renderer(layer, palette):
    classes = [
        QgsPalettedRasterRenderer.Class(index, QColor(r, g, b), palette.label(index))
        for index, (r, g, b) in enumerate(palette.colours.tolist())
    ]
    return QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes)


def style_path(raster_path):
    return os.path.splitext(raster_path)[0] + ".qml"


def save_style(raster_path, palette):
    """Write <output>.qml; returns an error message, or '' when it was written."""
    layer = QgsRasterLayer(raster_path, "palettize", "gdal")
    if not layer.isValid():
        return "QGIS cannot open {}".format(raster_path)
    layer.setRenderer(paletted_renderer(layer, palette))
    message, ok = layer.saveNamedStyle(style_path(raster_path))
    return "" if ok else message


class PaletteStyler(QgsProcessingLayerPostProcessorInterface):
    """Gives the layer that Processing loads the palette's renderer."""

    _alive = []  # QGIS keeps no Python reference to post-processors

    def __init__(self, palette):
        super().__init__()
        self.palette = palette
        PaletteStyler._alive.append(self)

    def postProcessLayer(self, layer, context, feedback):
        layer.setRenderer(paletted_renderer(layer, self.palette))
        layer.triggerRepaint()
