"""The Processing provider 'palettize': registers the algorithms under one icon."""

import os

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from .extract_palette import ExtractPaletteAlgorithm
from .quantize import QuantizeAlgorithm

PLUGIN_DIR = os.path.dirname(os.path.dirname(__file__))
ICON = os.path.join(PLUGIN_DIR, "resources", "icon.svg")


def plugin_version():
    """The version in metadata.txt, shown by QGIS next to the provider."""
    with open(os.path.join(PLUGIN_DIR, "metadata.txt"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("version="):
                return line.split("=", 1)[1].strip()
    return ""


class PalettizeProvider(QgsProcessingProvider):
    def id(self):
        return "palettize"

    def name(self):
        return "Palettize"

    def longName(self):
        return "Palettize {}".format(self.versionInfo())

    def versionInfo(self):
        return plugin_version()

    def icon(self):
        return QIcon(ICON)

    def svgIconPath(self):
        return ICON

    def defaultRasterFileExtension(self):  # noqa: N802 (QGIS API)
        """A temporary output is a GeoTIFF, whatever Processing's default format: the format that
        keeps the colour table, nodata and CRS (a default of gpkg or vrt, which cannot hold an
        indexed raster of ours, had TEMPORARY_OUTPUT refused)."""
        return "tif"

    def loadAlgorithms(self):
        self.addAlgorithm(QuantizeAlgorithm())
        self.addAlgorithm(ExtractPaletteAlgorithm())
