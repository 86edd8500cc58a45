"""The two ends of a run: RGBA pixel blocks from a QGIS layer, and the indexed raster written by GDAL.

Sources read windows of the layer's own pixel grid as packed RGBA codes (uint32, see
nearest.pack_rgba): one array per block, alpha 0 where a pixel is transparent or nodata. The
writer puts index blocks into a raster in a private temporary folder and moves it into place only when complete.
"""

import math
import os
import shutil
import tempfile

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

from ..palettes.formats import write_palette_csv
from .nearest import pack_rgba

#: Pixels per block: a few megapixels keep memory flat and numpy efficient.
BLOCK_PIXELS = 1 << 23
#: Wider rasters are cut into columns too; 512 rows of this width still fit in a block.
MAX_STRIP_WIDTH = 1 << 14
TILE = 512
GTIFF_OPTIONS = ["TILED=YES", "BLOCKXSIZE=%d" % TILE, "BLOCKYSIZE=%d" % TILE, "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER", "NUM_THREADS=ALL_CPUS"]


class SourceError(Exception):
    """A layer or band that cannot be read as asked; the message says what to change."""


class RasterGrid:
    """Size, geotransform (rotation terms included) and CRS (WKT, '' for none) of a raster."""

    def __init__(self, width, height, geotransform, wkt):
        self.width, self.height = width, height
        self.geotransform = tuple(geotransform)
        self.wkt = wkt

    @property
    def is_rotated(self):
        return self.geotransform[2] != 0 or self.geotransform[4] != 0


def iter_windows(width, height, block_pixels=None, full_rows=False):
    """(xoff, yoff, xsize, ysize) windows covering the grid: strips of whole output tile rows,
    cut into columns when the raster is very wide (unless ``full_rows``), in raster order."""
    block_pixels = block_pixels or BLOCK_PIXELS
    cols = width if full_rows else min(width, MAX_STRIP_WIDTH)
    rows = max(1, min(height, block_pixels // cols))
    if rows > TILE:
        rows -= rows % TILE
    for yoff in range(0, height, rows):
        for xoff in range(0, width, cols):
            yield xoff, yoff, min(cols, width - xoff), min(rows, height - yoff)


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
        dataset = gdal.Open(path)
        return RasterGrid(
            dataset.RasterXSize, dataset.RasterYSize, dataset.GetGeoTransform(), dataset.GetProjectionRef() or ""
        )
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


def _to_bytes(values):
    """Raw band values as 0-255 bytes (clipped, rounded); also whether any value was clipped."""
    if values.dtype == np.uint8:
        return values, False
    clipped = bool((values < 0).any() or (values > 255).any())
    return np.rint(np.clip(values, 0, 255)).astype(np.uint8), clipped


_RGB = np.uint32(0xFFFFFF)
_OPAQUE = np.uint32(0xFF000000)


class BandSource:
    """Values of three bands, read with GDAL; alpha from an alpha band, else (``use_masks``) the
    dataset's masks, and 0 where a band holds its ``nodata`` value."""

    reads_in_background = True  # only GDAL calls: safe in another thread

    def __init__(self, path, bands, alpha_band=None, nodata=None, use_masks=True):
        self.dataset = open_for_strip_reads(path)
        self.bands, self.alpha_band, self.nodata = list(bands), alpha_band, nodata
        used = self.bands + ([alpha_band] if alpha_band else [])
        # All-Byte bands are read in one call straight into RGBA byte order: the fast path.
        self._interleaved = all(self.dataset.GetRasterBand(b).DataType == gdal.GDT_Byte for b in used)
        masks = {}
        if use_masks and not alpha_band:
            for band in (self.dataset.GetRasterBand(b) for b in self.bands):
                flags = band.GetMaskFlags()
                if flags != gdal.GMF_ALL_VALID:
                    masks.setdefault("dataset" if flags & gdal.GMF_PER_DATASET else id(band), band.GetMaskBand())
        self.masks = list(masks.values())
        self.clipped = False
        self.description = "bands {} (red, green, blue){}".format(
            ", ".join(str(b) for b in self.bands),
            ", alpha band {}".format(alpha_band) if alpha_band else ", mask" if self.masks else "",
        )

    def read(self, window):
        xoff, yoff, width, height = window
        if self._interleaved:
            order = self.bands + [self.alpha_band or self.bands[0]]
            raw = self.dataset.ReadRaster(xoff, yoff, width, height, band_list=order,
                                          buf_pixel_space=4, buf_line_space=4 * width, buf_band_space=1)
            self.dataset.FlushCache()  # GDAL would otherwise keep every block read so far
            rgba = np.frombuffer(raw, dtype="<u4").reshape(height, width)
            if not self.alpha_band:
                rgba = rgba | _OPAQUE
        else:
            channels = [self._read(self.dataset.GetRasterBand(b), window)
                        for b in self.bands + ([self.alpha_band] if self.alpha_band else [])]
            rgba = pack_rgba(*channels)
        if self.masks:
            alpha = self._read(self.masks[0], window)
            for mask in self.masks[1:]:
                alpha = np.minimum(alpha, self._read(mask, window))
            rgba = (rgba & _RGB) | (alpha.astype(np.uint32) << 24)
        if self.nodata:
            transparent = np.zeros(rgba.shape, dtype=bool)
            for shift, value in zip((0, 8, 16), self.nodata):
                if value is not None:
                    transparent |= ((rgba >> shift) & 255) == value
            rgba = np.where(transparent, rgba & _RGB, rgba)
        return rgba

    def _read(self, band, window):
        values, clipped = _to_bytes(band.ReadAsArray(*window))
        self.clipped |= clipped
        return values

    def close(self):
        self.dataset = self.masks = None


def open_for_strip_reads(path):
    """The GDAL dataset at ``path``, opened so that an uncompressed GeoTIFF is read straight from
    the file, past GDAL's block cache (GTIFF_DIRECT_IO, set for this thread only): about twice
    as fast for reads of whole strips, and ignored for compressed files and other formats."""
    get_local = getattr(gdal, "GetThreadLocalConfigOption", None)
    if get_local is None:  # bindings of an older GDAL: reads go through the block cache
        return gdal.Open(path)
    previous = get_local("GTIFF_DIRECT_IO", None)
    gdal.SetThreadLocalConfigOption("GTIFF_DIRECT_IO", "YES")
    try:
        return gdal.Open(path)
    finally:
        gdal.SetThreadLocalConfigOption("GTIFF_DIRECT_IO", previous)


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


def attribute_table(palette, counts):
    """GDAL raster attribute table: value, red, green, blue, label, count per palette entry."""
    table = gdal.RasterAttributeTable()
    for name, kind, usage in (("value", gdal.GFT_Integer, gdal.GFU_MinMax), ("red", gdal.GFT_Integer, gdal.GFU_Red),
                              ("green", gdal.GFT_Integer, gdal.GFU_Green), ("blue", gdal.GFT_Integer, gdal.GFU_Blue),
                              ("label", gdal.GFT_String, gdal.GFU_Name), ("count", gdal.GFT_Real, gdal.GFU_PixelCount)):
        table.CreateColumn(name, kind, usage)
    table.SetRowCount(len(palette))
    for index, (r, g, b) in enumerate(palette.colours.tolist()):
        for column, value in enumerate((index, r, g, b)):
            table.SetValueAsInt(index, column, value)
        table.SetValueAsString(index, 4, palette.label(index))
        table.SetValueAsDouble(index, 5, float(counts[index]))
    return table


class IndexedRasterWriter:
    """Writes a single-band indexed raster with a colour table and nodata, all or nothing.

    Everything is written in a temporary folder beside the output and moved into place by
    ``commit()``; ``discard()`` (or leaving a ``with`` block by an exception) removes it.
    Drivers that cannot create rasters block by block (e.g. XYZ) get a GeoTIFF copy at the end.
    """

    def __init__(self, path, driver_name, grid, palette, data_type, nodata):
        self.path, self.palette = os.path.abspath(path), palette
        folder = os.path.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        self._tmpdir = tempfile.mkdtemp(prefix=".palettize-", dir=folder)
        self._driver = gdal.GetDriverByName(driver_name)
        direct = self._driver.GetMetadataItem(gdal.DCAP_CREATE) == "YES"
        name = os.path.basename(self.path)
        self._final = os.path.join(self._tmpdir, name)
        self._work = self._final if direct else os.path.join(self._tmpdir, "work.tif")
        driver = self._driver if direct else gdal.GetDriverByName("GTiff")
        options = GTIFF_OPTIONS if driver.ShortName == "GTiff" else []
        self._dataset = driver.Create(self._work, grid.width, grid.height, 1, data_type, options)
        if self._dataset is None:
            raise OSError("GDAL could not create {}: {}".format(self.path, gdal.GetLastErrorMsg()))
        self._dataset.SetGeoTransform(grid.geotransform)
        if grid.wkt:
            self._dataset.SetProjection(grid.wkt)
        self._band = self._dataset.GetRasterBand(1)
        self._band.SetNoDataValue(nodata)
        table = gdal.ColorTable()
        for index, (r, g, b) in enumerate(palette.colours.tolist()):
            table.SetColorEntry(index, (r, g, b, 255))
        self._band.SetRasterColorTable(table)
        self._band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
        self.has_colour_table = True

    def write(self, window, indices):
        self._band.WriteArray(indices, window[0], window[1])
        self._band.FlushCache()  # keeps GDAL's block cache from growing with the raster

    def commit(self, counts=None):
        """Finish the raster (with a raster attribute table when ``counts`` per entry are given)
        and move it and any side files into place."""
        if counts is not None:
            self._band.SetDefaultRAT(attribute_table(self.palette, counts))
        self._dataset.FlushCache()
        self._band = None
        if self._work != self._final:
            copy = self._driver.CreateCopy(self._final, self._dataset)
            if copy is None:
                raise OSError("GDAL could not write {}: {}".format(self.path, gdal.GetLastErrorMsg()))
            copy = None
        self._dataset = None
        if self._work != self._final:
            gdal.GetDriverByName("GTiff").Delete(self._work)
        check = gdal.Open(self._final)
        self.has_colour_table = check is not None and check.GetRasterBand(1).GetColorTable() is not None
        check = None
        if not self.has_colour_table:
            write_palette_csv(self.palette, self._final + ".palette.csv")
        for name in os.listdir(self._tmpdir):
            os.replace(os.path.join(self._tmpdir, name), os.path.join(os.path.dirname(self.path), name))
        os.rmdir(self._tmpdir)

    def discard(self):
        self._band = self._dataset = None
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.discard()
        return False
