"""Palettize: quantize any raster layer to a palette (QGIS plugin entry point)."""


def classFactory(iface):  # noqa: N802 (name required by QGIS)
    from .plugin import PalettizePlugin

    return PalettizePlugin(iface)
