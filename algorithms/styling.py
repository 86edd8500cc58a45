"""The paletted renderer Processing gives the indexed raster it loads: one class per palette entry.

GeoTIFF pads colour tables to 256 or 65,536 entries, which QGIS would show as that many classes;
the renderer keeps exactly the palette, with its labels. The same classes are saved beside the
output as a .qml by the engine (engine.style), for the file opened later.
"""

import threading

from qgis.core import QgsDataProvider, QgsPalettedRasterRenderer, QgsProcessingLayerPostProcessorInterface
from qgis.PyQt.QtGui import QColor


def paletted_renderer(layer, palette):
    classes = [
        QgsPalettedRasterRenderer.Class(index, QColor(r, g, b), palette.label(index))
        for index, (r, g, b) in enumerate(palette.colours.tolist())
    ]
    return QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes)


class PaletteStyler(QgsProcessingLayerPostProcessorInterface):
    """Gives the layer that Processing loads the palette's renderer."""

    _alive = []  # QGIS keeps no Python reference to post-processors
    _lock = threading.Lock()

    def __init__(self, palette):
        super().__init__()
        self.palette, self.done = palette, False
        # Those that styled their layer go once another is made: QGIS is done with them by then
        # (kept until their layer loads, they would pile up over a session). Runs in task threads
        # make them at once: the list is rebuilt under a lock, or one run's styler could be lost.
        with PaletteStyler._lock:
            PaletteStyler._alive = [styler for styler in PaletteStyler._alive if not styler.done] + [self]

    def postProcessLayer(self, layer, context, feedback):
        # A run into the output of one whose result is still loaded: QGIS hands that layer back,
        # which read the file the run replaced (the new palette drew the old pixels). Opened again:
        # reloaded, it kept the replaced file's data type, CRS and extent.
        layer.setDataSource(layer.source(), layer.name(), layer.providerType(), QgsDataProvider.ProviderOptions())
        layer.setRenderer(paletted_renderer(layer, self.palette))
        layer.triggerRepaint()
        self.done = True
