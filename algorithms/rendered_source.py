"""RGBA blocks of a QGIS layer as QGIS draws it, and the layer's grid as QGIS places it.

The QGIS end of a run: everything else (band reading, writing) is in engine.gdal_io.
"""

import math
import os

import numpy as np
from osgeo import gdal
from qgis.core import (
    QgsContrastEnhancement,
    QgsCoordinateReferenceSystem,
    QgsProviderRegistry,
    QgsRasterLayer,
    QgsRectangle,
    QgsSingleBandGrayRenderer,
)

from ..engine.gdal_io import RasterGrid, SourceError
from ..engine.nearest import pack_rgba


def gdal_path(layer):
    """The path GDAL opens for a layer, or None when the layer is not a GDAL raster."""
    if layer.providerType() != "gdal":
        return None
    path = QgsProviderRegistry.instance().decodeUri("gdal", layer.source()).get("path") or layer.source()
    try:
        return path if gdal.OpenEx(path, gdal.OF_RASTER) is not None else None
    except RuntimeError:  # GDAL exceptions switched on by someone else in this process
        return None


def layer_grid(layer, path):
    """The layer's own grid: from GDAL when it opens the source at ``path`` (keeps rotation; see
    gdal_path), else from QGIS."""
    if path is not None:
        return RasterGrid.of_dataset(gdal.Open(path))
    provider = layer.dataProvider()
    if not provider.capabilities() & provider.Size or layer.width() <= 0:
        raise SourceError(
            "Layer '{}' has no grid of its own (a web or tile service?): set EXTENT and PIXEL_SIZE to choose "
            "the output grid.".format(layer.name())
        )
    extent = layer.extent()
    geotransform = (
        extent.xMinimum(), extent.width() / layer.width(), 0.0,
        extent.yMaximum(), 0.0, -extent.height() / layer.height(),
    )
    return RasterGrid(layer.width(), layer.height(), geotransform, crs_wkt(layer.crs()))


def requested_grid(extent, crs, pixel_size):
    """A north-up grid with its top-left corner at the extent's and square pixels of pixel_size."""
    width = max(1, int(math.ceil(extent.width() / pixel_size - 1e-9)))
    height = max(1, int(math.ceil(extent.height() / pixel_size - 1e-9)))
    geotransform = (extent.xMinimum(), pixel_size, 0.0, extent.yMaximum(), 0.0, -pixel_size)
    return RasterGrid(width, height, geotransform, crs_wkt(crs))


def crs_wkt(crs):
    return crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL) if crs.isValid() else ""


def direct_read_plan(layer, path):
    """(bands, alpha band or None, nodata per band) when drawing cannot change
    the band values (plain Byte RGB(A), no stretch, no colour filters), else None.
    ``path``: the layer's GDAL path (gdal_path)."""
    renderer = layer.renderer()
    if path is None or renderer is None or renderer.type() != "multibandcolor":
        return None
    bands = [renderer.redBand(), renderer.greenBand(), renderer.blueBand()]
    alpha = renderer.alphaBand() if renderer.alphaBand() > 0 else None
    dataset = gdal.Open(path)
    used = bands + ([alpha] if alpha else [])
    if min(bands) < 1 or any(dataset.GetRasterBand(b).DataType != gdal.GDT_Byte for b in used):
        return None
    enhancements = (renderer.redContrastEnhancement(), renderer.greenContrastEnhancement(),
                    renderer.blueContrastEnhancement())
    if any(e is not None and e.contrastEnhancementAlgorithm() != QgsContrastEnhancement.NoEnhancement
           for e in enhancements):
        return None
    transparency = renderer.rasterTransparency()
    if transparency is not None and (transparency.transparentThreeValuePixelList()
                                     or transparency.transparentSingleValuePixelList()):
        return None
    if not _filters_are_neutral(layer):
        return None
    provider = layer.dataProvider()
    if any(provider.userNoDataValues(b) for b in bands):
        return None
    nodata = [
        provider.sourceNoDataValue(b) if provider.sourceHasNoDataValue(b) and provider.useSourceNoDataValue(b) else None
        for b in bands
    ]
    return bands, alpha, (nodata if any(v is not None for v in nodata) else None)


def _filters_are_neutral(layer):
    brightness, hue = layer.brightnessFilter(), layer.hueSaturationFilter()
    if brightness is not None and (brightness.brightness() != 0 or brightness.contrast() != 0
                                   or getattr(brightness, "gamma", lambda: 1.0)() != 1.0):
        return False
    if hue is not None and (hue.saturation() != 0 or hue.grayscaleMode() != hue.GrayscaleOff
                            or hue.colorizeOn() or getattr(hue, "invertColors", lambda: False)()):
        return False
    return True


class RenderedSource:
    """Pixels as QGIS draws the layer with its style (layer opacity ignored), read through a copy
    of its raster pipe so the worker thread never touches the project's layer.

    A rotated GDAL raster is drawn by QGIS on a warped north-up grid; to keep the file's own
    grid, such a raster is opened through a VRT that only drops the rotation. With a
    ``target_crs`` (a requested grid in another CRS), QGIS reprojects while drawing.

    QGIS draws premultiplied 8-bit colours, which lose the exact colour of partly transparent
    pixels. For an RGB layer with an alpha band (a map exported by QGIS), the colours are
    therefore drawn opaque and the alpha band is drawn separately, as grey.
    """

    def __init__(self, layer, path, grid, workdir, target_crs=None, transform_context=None):
        self.description = "the layer as drawn with its style"
        source, provider_key = layer.source(), layer.providerType()
        self._unrotated = grid.is_rotated and path is not None
        if self._unrotated:
            source = os.path.join(workdir, "unrotated.vrt")
            vrt = gdal.Translate(source, path, format="VRT")
            vrt.SetGeoTransform((0.0, 1.0, 0.0, 0.0, 0.0, -1.0))
            vrt.SetProjection("")
            vrt = None
        self._source, self._provider_key, self._grid = source, provider_key, grid
        self._renderer = layer.renderer().clone()
        self._renderer.setOpacity(1.0)
        self._alpha_renderer = None
        if self._renderer.type() == "multibandcolor" and self._renderer.alphaBand() > 0:
            self._alpha_renderer = QgsSingleBandGrayRenderer(None, self._renderer.alphaBand())
            self._renderer.setAlphaBand(-1)
        self._filters = [f.clone() for f in (layer.brightnessFilter(), layer.hueSaturationFilter()) if f is not None]
        self._target_crs, self._transform_context = target_crs, transform_context
        self._layers = None

    def read(self, window):
        if self._layers is None:
            self._layers = [self._open(self._renderer, self._filters)]
            if self._alpha_renderer is not None:
                self._layers.append(self._open(self._alpha_renderer, []))
        red, green, blue, alpha = unpremultiply(self._draw(self._layers[0], window))
        if self._alpha_renderer is not None:
            grey = (self._draw(self._layers[1], window) >> 16) & 255
            alpha = np.where(alpha == 0, 0, grey).astype(np.uint8)
        return pack_rgba(red, green, blue, alpha)

    def _draw(self, layer, window):
        """Premultiplied ARGB32 pixels of one window as QGIS draws ``layer``."""
        xoff, yoff, width, height = window
        block = layer.pipe().last().block(1, self._extent(window), width, height)
        if block is None or block.width() != width or block.height() != height:
            raise SourceError("QGIS could not draw block {} of layer '{}'".format(window, layer.source()))
        return np.frombuffer(bytes(block.data()), dtype="<u4").reshape(height, width)

    def _open(self, renderer, filters):
        layer = QgsRasterLayer(self._source, "palettize source", self._provider_key)
        if not layer.isValid():
            raise SourceError("QGIS could not open '{}'".format(self._source))
        layer.setRenderer(renderer.clone())
        for interface in filters:
            layer.pipe().set(interface.clone())
        if self._target_crs is not None and self._target_crs.isValid() and self._target_crs != layer.crs():
            layer.pipe().projector().setCrs(layer.crs(), self._target_crs, self._transform_context)
        return layer

    def _extent(self, window):
        xoff, yoff, width, height = window
        if self._unrotated:
            return QgsRectangle(xoff, -(yoff + height), xoff + width, -yoff)
        x0, dx, _, y0, _, dy = self._grid.geotransform
        return QgsRectangle(x0 + xoff * dx, y0 + (yoff + height) * dy, x0 + (xoff + width) * dx, y0 + yoff * dy)

    def close(self):
        self._layers = None


def unpremultiply(argb):
    """Straight 0-255 red, green, blue and alpha of premultiplied ARGB32 pixels."""
    alpha = (argb >> 24).astype(np.uint8)
    channels = [((argb >> shift) & 255).astype(np.uint16) for shift in (16, 8, 0)]
    partial = (alpha > 0) & (alpha < 255)
    if partial.any():
        a = alpha[partial].astype(np.uint16)
        for c in channels:
            c[partial] = np.minimum(255, (c[partial] * 255 + a // 2) // a)
    red, green, blue = (c.astype(np.uint8) for c in channels)
    return red, green, blue, alpha
