"""RGBA blocks of a QGIS layer as QGIS draws it, and the layer's grid as QGIS places it.

The QGIS end of a run: everything else (band reading, writing) is in engine.gdal_io.
"""

import functools
import math
import os
import struct
import threading

import numpy as np
from osgeo import gdal
from qgis.core import (
    Qgis,
    QgsContrastEnhancement,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCsException,
    QgsGeometry,
    QgsHillshadeRenderer,
    QgsPalettedRasterRenderer,
    QgsProviderRegistry,
    QgsRasterDataProvider,
    QgsRasterLayer,
    QgsRasterResampleFilter,
    QgsRectangle,
    QgsSingleBandGrayRenderer,
)

from qgis.PyQt.QtCore import QUrl

from ..engine import gdal_io, pointwise
from ..engine.gdal_io import RasterGrid, SourceError, grid_size_problem, read_array, unreadable
from ..engine.nearest import OPAQUE, RGB_BITS, pack_rgba


def layer_file(layer):
    """The file (GDAL's name for it) a GDAL layer reads, its open options left out, or None for
    another provider: what no output may replace."""
    if layer.providerType() != "gdal":
        return None
    parts = _decoded(layer.source())
    path = parts.get("path") or layer.source()
    if parts.get("path") and parts.get("vsiPrefix"):  # a file inside an archive: /vsizip/x.zip/inner.tif
        path = parts["vsiPrefix"] + path + (parts.get("vsiSuffix") or "")
    if parts.get("layerName"):  # one table or subdataset of a file (GPKG:maps.gpkg:sheet): GDAL's own name
        path = layer.source()
    return path


def gdal_path(layer):
    """The path GDAL opens for a layer, or None when the layer is not a GDAL raster read as GDAL
    opens the path (see why_not_gdal)."""
    path = layer_file(layer)
    if path is None or _open_options(layer):
        return None  # open options: a world file's georeferencing, a PDF's DPI give another grid than the path's
    try:
        dataset = gdal.OpenEx(path, gdal.OF_RASTER)
    except RuntimeError:  # GDAL exceptions switched on by someone else in this process
        return None
    return path if dataset is not None and dataset.RasterCount > 0 else None  # not a container of subdatasets


def _open_options(layer):
    """The GDAL open options a GDAL layer's source gives (|option:...), none when it gives none."""
    return _decoded(layer.source()).get("openOptions") or []


@functools.lru_cache(maxsize=8)
def _decoded(source):
    """The parts of a GDAL layer's source (QGIS's decodeUri, not to be changed): a run asks for them
    three times, 0.1 ms each."""
    return QgsProviderRegistry.instance().decodeUri("gdal", source)


def why_not_gdal(layer):
    """Why gdal_path gives no path for ``layer``, as the end of a sentence."""
    if layer.providerType() != "gdal":
        return "it is a {} layer, not a file".format(layer.providerType())
    options = _open_options(layer)
    if options:
        return "it is opened with GDAL open options ({}), which change what it holds".format(", ".join(options))
    return "GDAL cannot open its source {} (moved or deleted?)".format(layer.source())


def layer_grid(layer, path):
    """The layer's own grid: from GDAL when it opens the source at ``path`` (keeps rotation; see
    gdal_path), in the CRS QGIS gives the layer (a file without one can be given one), else from QGIS."""
    if path is not None:
        grid = RasterGrid.of_dataset(gdal.Open(path))
        if grid.has_geotransform and layer.crs().isValid() and (
                not grid.wkt or QgsCoordinateReferenceSystem.fromWkt(grid.wkt) != layer.crs()):
            grid.wkt, grid.epoch = crs_wkt(layer.crs()), 0.0  # the file's epoch was of the file's CRS
        return grid
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


def grid_extent(grid):
    """The extent (QgsRectangle) of a grid with a geotransform: its corners' bounds."""
    x0, a, b, y0, d, e = grid.geotransform
    corners = [(x0 + a * x + b * y, y0 + d * x + e * y) for x in (0, grid.width) for y in (0, grid.height)]
    xs, ys = zip(*corners)
    return QgsRectangle(min(xs), min(ys), max(xs), max(ys))


def requested_grid(extent, crs, pixel_size):
    """A north-up grid with its top-left corner at the extent's and pixels of pixel_size (a number
    for square pixels, or (width, height)); SourceError when GDAL cannot hold such a grid (see
    grid_size_problem)."""
    size_x, size_y = pixel_size if isinstance(pixel_size, tuple) else (pixel_size, pixel_size)
    columns, rows = (max(1.0, math.ceil(side / size - 1e-9) if math.isfinite(side / size) else math.inf)
                     for side, size in ((extent.width(), size_x), (extent.height(), size_y)))
    problem = grid_size_problem(columns, rows, resizable=True)
    if problem:
        raise SourceError(problem)
    width, height = int(columns), int(rows)
    geotransform = (extent.xMinimum(), size_x, 0.0, extent.yMaximum(), 0.0, -size_y)
    return RasterGrid(width, height, geotransform, crs_wkt(crs))


def crs_wkt(crs):
    return crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL) if crs.isValid() else ""


def direct_read_plan(layer, path, stretched=False):
    """(bands, alpha band or None, nodata per band) when drawing cannot change
    the band values (plain Byte RGB(A), no stretch, no colour filters), else None.
    ``path``: the layer's GDAL path (gdal_path). ``stretched``: also when some bands are stretched
    from their minimum to their maximum (without alpha band), which changes each band's values on
    their own (see StretchedBandSource)."""
    renderer = layer.renderer()
    if path is None or renderer is None or renderer.type() != "multibandcolor":
        return None
    bands = [renderer.redBand(), renderer.greenBand(), renderer.blueBand()]
    alpha = renderer.alphaBand() if renderer.alphaBand() > 0 else None
    dataset = gdal.Open(path)
    if alpha == dataset.RasterCount + 1 and _warped_by_qgis(dataset) and all(
            dataset.GetRasterBand(b).GetMaskFlags() == gdal.GMF_ALL_VALID for b in range(1, dataset.RasterCount + 1)):
        alpha = None  # QGIS 3.40's alpha of the view it warps the file into: no pixel of the file's own grid is beyond it
    used = bands + ([alpha] if alpha else [])
    # A band beyond the file's is the mask QGIS shows as a band (and draws as alpha): drawn.
    if min(bands) < 1 or max(used) > dataset.RasterCount or any(
            dataset.GetRasterBand(b).DataType != gdal.GDT_Byte or not _values_as_stored(dataset.GetRasterBand(b))
            for b in used):
        return None
    enhancements = (renderer.redContrastEnhancement(), renderer.greenContrastEnhancement(),
                    renderer.blueContrastEnhancement())
    allowed = (QgsContrastEnhancement.NoEnhancement,) + (
        (QgsContrastEnhancement.StretchToMinimumMaximum,) if stretched and alpha is None else ())
    if any(e is not None and e.contrastEnhancementAlgorithm() not in allowed for e in enhancements):
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


def _layer_of(source, provider_key, ours):
    """A QGIS layer of ``source``; ``ours``: a file Palettize made (the VRT of the user's file on its
    pixel grid, the file's twin, values drawn to learn a style's colours). The default style QGIS
    gives a new layer, replaced at once, computes statistics: GDAL would save them beside the user's
    file (<file>.aux.xml) when the layer is freed, and QGIS 3.40 printed GDAL's complaints about bands
    all one value or all nodata ("ERROR 5: values-1.tif, band 1: dfMax should be strictly greater
    than dfMin") in runs that went well."""
    if not ours:
        return QgsRasterLayer(source, "palettize source", provider_key)
    with gdal_io.thread_config("GDAL_PAM_ENABLED", "NO"), gdal_io.quiet_errors():
        return QgsRasterLayer(source, "palettize source", provider_key)


def drawn_in_map_tiles(layer, target_crs):
    """Whether the layer is drawn in the tiles of a map (see RenderedSource._draw_in_map_tiles): a
    style that colours a pixel from its neighbours, or a resampling onto a requested grid."""
    provider, nearest = layer.dataProvider(), QgsRasterDataProvider.ResamplingMethod.Nearest
    resampler = layer.resampleFilter()
    resampled = target_crs is not None and (resampler is not None and (
        resampler.zoomedInResampler() is not None or resampler.zoomedOutResampler() is not None)
        or layer.resamplingStage() == Qgis.RasterResamplingStage.Provider
        and (provider.zoomedInResamplingMethod(), provider.zoomedOutResamplingMethod()) != (nearest, nearest))
    return resampled or layer.renderer().type() not in POINTWISE_STYLES + ("multibandcolor",)


def _warped_by_qgis(dataset):
    """Whether QGIS draws the GDAL raster ``dataset`` through a view warped from it: a rotated or
    mirrored geotransform (not a north-up or south-up one), or ground control points instead of one."""
    own = dataset.GetGeoTransform(can_return_null=True)
    if own is None:
        return bool(dataset.GetGCPCount())
    return own[2] != 0 or own[4] != 0 or own[1] < 0


def empty_style_problem(layer):
    """Why the layer's style draws no pixel at all, as a sentence ('' when it draws): a paletted
    style whose classes were never made (QGIS draws the layer transparent), a pseudocolour style
    without a colour ramp."""
    renderer = layer.renderer()
    if renderer.type() == "paletted" and not renderer.classes():
        return "its paletted style has no classes (Symbology, Classify makes them)"
    if renderer.type() == "singlebandpseudocolor" and (renderer.shader() is None or
                                                       renderer.shader().rasterShaderFunction() is None):
        return "its pseudocolour style has no colour ramp (Symbology, Classify makes one)"
    return ""


def own_grid_problem(layer, grid, path):
    """Why ``layer`` cannot be drawn on its own ``grid`` as QGIS draws it (None: it can): a
    multidirectional hillshade shades in directions fixed to the map, which the grid of a rotated
    or mirrored raster, drawn on its pixel grid, cannot keep (a single light is turned instead)."""
    renderer = layer.renderer()
    georeferencing = _georeferencing(grid)
    if not (isinstance(renderer, QgsHillshadeRenderer) and renderer.multiDirectional() and path is not None
            and georeferencing is not None and not grid.is_north_up):
        return None
    if grid.is_south_up:
        return None  # drawn north-up as QGIS draws it, turned back
    if all(abs((_azimuth_on_grid(azimuth, georeferencing) - azimuth + 180.0) % 360.0 - 180.0) < 0.5
           for azimuth in (225.0, 270.0, 315.0, 360.0)):
        return None  # turned by a hair
    return ("Layer '{}' is a multidirectional hillshade, whose light directions QGIS fixes to the map, of a "
            "rotated or mirrored raster: on the raster's own grid its shades would differ from what QGIS draws. "
            "Set PIXEL_SIZE to write it on a north-up grid as QGIS draws it, or turn multidirectional shading "
            "off in its style.").format(layer.name())


def _georeferencing(grid):
    """A raster grid's geotransform, or the one its ground control points fit best by least squares
    (None: neither; GDAL 3.10's GCPsToGeoTransform gives none for a turned grid)."""
    if grid.has_geotransform:
        return grid.geotransform
    design = np.array([[1.0, gcp.GCPPixel, gcp.GCPLine] for gcp in grid.gcps]).reshape(-1, 3)
    ground = np.array([[gcp.GCPX, gcp.GCPY] for gcp in grid.gcps]).reshape(-1, 2)
    solution, _, rank, _ = np.linalg.lstsq(design, ground, rcond=None)
    if rank < 3:
        return None
    (x0, y0), (a, d), (b, e) = solution.tolist()
    spread = float(np.ptp(ground, axis=0).max())
    if min(math.hypot(a, d), math.hypot(b, e)) <= 1e-6 * spread or spread == 0:
        return None  # points on one spot or one line: they place no grid (GDAL: "not solvable")
    return x0, a, b, y0, d, e


def _azimuth_on_grid(azimuth, geotransform):
    """The light's azimuth (degrees clockwise from north) as seen on a raster's own pixel grid drawn
    north-up (columns to the east, rows to the south), for a raster of this geotransform."""
    _, a, b, _, d, e = geotransform
    east, north = math.sin(math.radians(azimuth)), math.cos(math.radians(azimuth))
    along_columns = (east * a + north * d) / math.hypot(a, d)
    up_rows = -(east * b + north * e) / math.hypot(b, e)
    return math.degrees(math.atan2(along_columns, up_rows)) % 360.0


def _values_as_stored(band):
    """Whether QGIS takes a band's values as stored: no scale or offset (QGIS draws value x scale +
    offset) and not signed bytes (a Byte band marked SIGNEDBYTE holds -128 to 127)."""
    return band.GetScale() in (None, 1.0) and band.GetOffset() in (None, 0.0) and not _signed_bytes(band)


def _signed_bytes(band):
    """Whether a band is Byte marked SIGNEDBYTE (before GDAL 3.7's Int8): values -128 to 127. GDAL
    3.7 and later read such bands as Int8, and warn whoever asks ("change your code")."""
    return not _INT8 and band.GetMetadataItem("PIXELTYPE", "IMAGE_STRUCTURE") == "SIGNEDBYTE"


_INT8 = int(gdal.VersionInfo()) >= 3070000


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

    QGIS draws a rotated GDAL raster on a warped north-up grid, a south-up or mirrored one
    flipped, and one without georeferencing where its own provider places it; to keep the file's
    own grid, cell for cell, a rotated or mirrored raster or one without georeferencing is opened
    through a VRT that only replaces the georeferencing by its pixel grid, and a south-up one is
    drawn north-up as QGIS draws it, each block turned back onto the file's grid. With a
    ``target_crs`` (a requested grid in another CRS), the layer is drawn in its own CRS and each
    pixel picked by its centre's exact position (_draw_at_exact_centres), as is a raster that is not
    north-up on a requested grid; QGIS reprojects while drawing only a layer drawn in map tiles or
    one without pixels of its own.

    QGIS draws premultiplied 8-bit colours, which lose the exact colour of partly transparent
    pixels. For a layer whose style has an alpha band (a map exported by QGIS, a grey picture with
    alpha), the colours are therefore drawn with the style's alpha band switched off, and the alpha
    taken from a drawing with it, whose alpha is exact.

    Blocks are drawn in a thread of the engine's while it maps the previous one; each thread that
    draws has its own copy of the layer (a QGIS layer and its GDAL dataset belong to one thread).
    Drawing several blocks at once in several threads gained nothing (one thread took 0.65-1.13
    times as long): the Python calls into QGIS hold the GIL. Pointwise styles are not drawn block
    by block at all (LookupSource, StretchedBandSource). A style that colours a pixel from its
    neighbours (hillshade, contours), or a resampling onto another grid, is drawn in the tiles a QGIS
    map draws it in, so that blocks show no seams a map does not show (see _draw_in_map_tiles).
    """

    reads_in_background = True

    def __init__(self, layer, path, grid, workdir, target_crs=None, transform_context=None, draw_path=None):
        """``draw_path``: a GDAL raster to draw with the layer's style instead of the layer's own
        source (see LookupSource)."""
        self.description = "the layer as drawn with its style"
        self.transparency = "a layer QGIS draws, whose style, nodata or a grid beyond it may leave some"
        source, provider_key = layer.source(), layer.providerType()
        if draw_path is not None:
            source, provider_key = draw_path, "gdal"
        self._south_up = path is not None and grid.is_south_up
        if self._south_up:
            # QGIS draws it turned north-up, cell for cell (a hillshade with its own pixel size and
            # light direction); drawn so, each block is turned back. (A mirrored raster is not: QGIS
            # 3.40 draws it elsewhere than 3.22 does; it keeps the pixel-grid path below.)
            x0, dx, _, y0, _, dy = grid.geotransform
            grid = RasterGrid(grid.width, grid.height, (x0, dx, 0.0, y0 + dy * grid.height, 0.0, -dy), grid.wkt)
        self._unrotated = path is not None and not grid.is_north_up
        dataset = gdal.Open(path) if path is not None else None
        own = dataset.GetGeoTransform(can_return_null=True) if dataset is not None else None
        self._in_map_tiles = drawn_in_map_tiles(layer, target_crs)
        #: The inverse of the geotransform of a raster that is not north-up, whose own pixels are picked
        #: on another grid (PIXEL_SIZE, EXTENT) by the centres' exact positions (_draw_at_exact_centres):
        #: QGIS draws the north-up view it warps such a raster into, and picking from that took a
        #: neighbour of the pixel under the centre for a third of the pixels.
        self._file_pixels = None
        if target_crs is not None and own is not None and not self._in_map_tiles and \
                not RasterGrid(1, 1, own, "").is_north_up:
            self._file_pixels = gdal.InvGeoTransform(own)
        #: The layer's west edge, in its CRS.
        self._west = (grid_extent(RasterGrid(dataset.RasterXSize, dataset.RasterYSize, own, "")) if self._file_pixels
                      else layer.extent()).xMinimum()
        georeferencing = _georeferencing(grid) if self._unrotated else None
        #: The grid's geotransform where the layer is drawn: its own, or the unrotated VRT's, whose
        #: pixels keep their size (a hillshade's slopes depend on it).
        self._view = grid.geotransform
        #: Whether the layer is drawn through a VRT of the file on its pixel grid (see above).
        self._on_pixel_grid = self._unrotated or self._file_pixels is not None
        if self._on_pixel_grid:
            _, a, b, _, d, e = georeferencing or (own if self._file_pixels else None) or (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
            pixel_grid = (0.0, math.hypot(a, d), 0.0, 0.0, 0.0, -math.hypot(b, e))
            if self._unrotated:
                self._view = pixel_grid
            source = os.path.join(workdir, "unrotated.vrt")
            vrt = gdal.Translate(source, path, format="VRT")
            vrt.SetGeoTransform(pixel_grid)
            vrt.SetProjection("")
            vrt = None
        self._source, self._provider_key, self._grid, self._name = source, provider_key, grid, layer.name()
        self._ours = self._on_pixel_grid or draw_path is not None  # the source is a file Palettize made
        self._renderer = layer.renderer().clone()
        if self._on_pixel_grid and max(self._renderer.usesBands() or [0]) > dataset.RasterCount:
            # QGIS 3.40 styles a raster that is not north-up by the bands of its own warped view (one
            # more, alpha): the file's bands are drawn with the style QGIS gives them on their grid.
            self._styled = _layer_of(source, provider_key, True)  # alive with its renderer
            self._renderer = self._styled.renderer().clone()
        if self._on_pixel_grid and self._renderer.alphaBand() > dataset.RasterCount:
            # QGIS 3.40's style of a raster that is not north-up takes its alpha from the warped
            # view (an RGB or grey raster without one has band 4 or 2): the file's grid has no
            # pixel off the layer, so the style is kept without it.
            self._renderer.setAlphaBand(-1)
        if georeferencing and isinstance(self._renderer, QgsHillshadeRenderer):
            # QGIS shades the north-up view it warps the raster into: on the file's grid, the light
            # comes from where it comes on a map (multidirectional shading: see own_grid_problem).
            self._renderer.setAzimuth(_azimuth_on_grid(self._renderer.azimuth(), georeferencing))
        self._renderer.setOpacity(1.0)
        #: The style with its alpha band, drawn for the alpha QGIS draws (exact in its premultiplied drawing,
        #: resampled, at the layer's edges and of nodata values alike), beside the style without it, drawn
        #: for the colours (see above); None for a style without an alpha band.
        self._alpha_renderer = None
        if self._renderer.alphaBand() > 0:
            self._alpha_renderer = self._renderer.clone()
            self._renderer.setAlphaBand(-1)
        # The layer's resampling too: on another grid (PIXEL_SIZE, EXTENT) QGIS draws with it.
        self._filters = [f.clone() for f in (layer.resampleFilter(), layer.brightnessFilter(),
                                             layer.hueSaturationFilter()) if f is not None]
        provider = layer.dataProvider()
        self._nodata_settings = [(b, provider.useSourceNoDataValue(b), provider.userNoDataValues(b))
                                 for b in range(1, provider.bandCount() + 1)]
        # Early resampling (by the data provider, before the style): on another grid QGIS draws with it.
        self._early_resampling = (layer.resamplingStage(), provider.zoomedInResamplingMethod(),
                                  provider.zoomedOutResamplingMethod(), provider.maxOversampling())
        self._target_crs, self._transform_context = target_crs, transform_context
        self._crs = layer.crs()  # as the user set it: a file without a CRS can be given one in QGIS
        self._reprojected = target_crs is not None and target_crs.isValid() and target_crs != layer.crs()
        #: Whether QGIS's reprojection draws the layer (see _open).
        self._qgis_reprojects = self._reprojected and (self._in_map_tiles or not _own_pixels(layer))
        # Picked by the centres' exact positions: in another CRS, a raster that is not north-up, or a
        # geographic layer on a grid reaching west of it or a turn east of it (its longitudes wrapped).
        x0, dx = grid.geotransform[0], grid.geotransform[1]
        self._exact_centres = self._reprojected or self._file_pixels is not None or (
            target_crs is not None and self._crs.isGeographic() and grid.has_geotransform
            and not self._west <= min(x0, x0 + dx * grid.width) <= max(x0, x0 + dx * grid.width) <= self._west + 360)
        # A raster placed by ground control points, or a rotated one drawn in map tiles, on another grid
        # (PIXEL_SIZE, EXTENT): QGIS draws the north-up view it warps it into, whose corners beyond the file QGIS
        # 3.22 draws black (3.40 transparent). A twin of the file, all one value, is drawn beside it,
        # through the same pipe: where the twin is not drawn, the layer's pixel came from beyond the file.
        self._coverage = None
        if dataset is not None and not self._on_pixel_grid and not self._south_up and _warped_by_qgis(dataset):
            self._coverage = os.path.join(workdir, "coverage.vrt")
            gdal.Translate(self._coverage, path, format="VRT", bandList=[1], outputType=gdal.GDT_Byte,
                           scaleParams=[[0, 1, 255, 255]], noData=0)  # 255 wherever the file has a value
        self._local, self._opened, self._lock = threading.local(), [], threading.Lock()
        # One output tile row per block: QGIS draws each into an image of its own.
        self.block_pixels = gdal_io.TILE * min(grid.width, gdal_io.MAX_STRIP_WIDTH)

    def _thread_layers(self):
        """This thread's copies of the layer: colours, the style with its alpha band if it has one
        (see _alpha_renderer), and the file's twin (see _coverage) if any."""
        layers = getattr(self._local, "layers", None)
        if layers is None:
            layers = [self._open(self._renderer, self._filters)]
            resampling = [f for f in self._filters if isinstance(f, QgsRasterResampleFilter)]
            if self._alpha_renderer is not None:  # resampled as the layer is (colour filters keep the alpha)
                layers.append(self._open(self._alpha_renderer, resampling))
            if self._coverage is not None:  # resampled as the layer is, nothing else
                layers.append(self._open(QgsSingleBandGrayRenderer(None, 1), resampling, self._coverage))
            self._local.layers = layers
            with self._lock:
                self._opened.append(layers)
        return layers

    def read(self, window):
        if self._south_up:  # the window's rows as drawn north-up, turned back
            xoff, yoff, width, height = window
            return np.ascontiguousarray(self._read((xoff, self._grid.height - yoff - height, width, height))[::-1])
        return self._read(window)

    def _read(self, window):
        layers = self._thread_layers()
        draw = (self._draw_in_map_tiles if self._in_map_tiles else self._draw_at_exact_centres if self._exact_centres
                else self._draw_at_centres)
        rgba = argb_to_rgba(draw(layers[0], window))
        if self._alpha_renderer is not None:  # the colours drawn opaque, with the alpha QGIS draws
            rgba = (rgba & RGB_BITS) | (draw(layers[1], window) & ~RGB_BITS)
        if self._coverage is not None:  # nodata where the drawing took a pixel from beyond the file
            twin = draw(layers[-1], window)
            beyond = (twin < _ALPHA_HALF) | ((twin >> np.uint32(16)) & np.uint32(255) < 128)
            rgba = np.where(beyond, rgba & RGB_BITS, rgba)
        return rgba

    def _draw(self, layer, window):
        """Premultiplied ARGB32 pixels of one window as QGIS draws ``layer``."""
        return self._drawn(layer, self._extent(window), window[2], window[3], window)

    def _drawn(self, layer, extent, width, height, window):
        """Premultiplied ARGB32 pixels of ``extent`` drawn ``width`` x ``height`` (for ``window`` of the grid)."""
        gdal.ErrorReset()
        block = layer.pipe().last().block(1, extent, width, height)
        if self._provider_key == "gdal" and gdal.GetLastErrorType() >= gdal.CE_Failure:
            # QGIS draws what it could not read as transparent, with only a log message; GDAL's
            # error state (per thread, shared with QGIS's GDAL provider) tells.
            raise unreadable(layer.source(), window)
        if self._qgis_reprojects and block is not None and block.isEmpty():
            # QGIS's reprojection gives no block where the window misses the layer or its pixels are
            # larger than the layer, and a map then shows nothing of the layer there: transparent.
            return np.zeros((height, width), dtype="<u4")
        if block is None or block.width() != width or block.height() != height:
            raise SourceError("QGIS could not draw block {} of layer '{}'".format(window, layer.source()))
        return np.frombuffer(bytes(block.data()), dtype="<u4").reshape(height, width)

    def _draw_at_centres(self, layer, window):
        """_draw, with every pixel the colour QGIS draws for the layer's own pixel under its centre,
        or transparent where its centre is off the layer. QGIS draws a block on another grid than the
        layer's from where it rounds the block's corner, or the layer's edge, to the layer's pixels:
        pixels up to one pixel away from their centres, differently for each block (an EXTENT or
        PIXEL_SIZE). The layer's own pixels under the window are therefore drawn, at the layer's
        resolution, and picked by the centres (a part of the window at a time, for a much coarser grid)."""
        if not _own_pixels(layer):  # a web service: as it comes
            return self._draw(layer, window)
        xoff, yoff, width, height = window
        left, top, right, bottom = self._layer_span(layer)
        (x0, x1), (y0, y1) = _centred(xoff, width, left, right), _centred(yoff, height, top, bottom)
        if (x0, y0, x1 - x0, y1 - y0) == window and self._on_layer_pixels(layer):
            return self._draw(layer, window)  # the layer's own pixels (or a window of them): drawn as they are
        argb = np.zeros((height, width), dtype="<u4")
        if x0 < x1:
            rows = max(1, (1 << 22) // self._layer_pixels(layer, x1 - x0, 1))
            for top_row in range(y0, y1, rows):
                end = min(y1, top_row + rows)
                argb[top_row - yoff:end - yoff, x0 - xoff:x1 - xoff] = self._draw_layer_pixels(
                    layer, (x0, top_row, x1 - x0, end - top_row))
        return argb

    def _draw_layer_pixels(self, layer, window):
        """_draw of a window whose pixels' centres are all on the layer: the layer's own pixels under
        them, drawn at the layer's resolution, each picked by the pixel's centre (a centre on the
        edge between two, as on a grid of twice the layer's pixels, picks the right or lower one).
        On a coarser grid only the rows its centres pick are drawn."""
        xoff, yoff, width, height = window
        extent, size_x, size_y = _layer_pixel_size(layer)
        columns, rows = layer.width(), layer.height()
        x0, dx, y0, dy = self._draw_geotransform()
        # In the layer's pixels, from the grid's corner: no large coordinates in the sums, whose last
        # digits would put centres on an edge now on one side of it, now on the other.
        cols = (x0 - extent.xMinimum()) / size_x + (np.arange(xoff, xoff + width) + 0.5) * (dx / size_x)
        rows_of = (extent.yMaximum() - y0) / size_y + (np.arange(yoff, yoff + height) + 0.5) * (-dy / size_y)
        cols = np.clip(np.floor(cols + _EDGE_TOLERANCE), 0, columns - 1).astype(np.int64)
        rows_of = np.clip(np.floor(rows_of + _EDGE_TOLERANCE), 0, rows - 1).astype(np.int64)
        c0, c1 = int(cols.min()), int(cols.max()) + 1
        picked = np.unique(rows_of)
        spans = [(int(picked[0]), int(picked[-1]) + 1)] if picked[-1] - picked[0] < 2 * len(picked) else \
            [(int(row), int(row) + 1) for row in picked]  # a coarser grid: the picked rows alone
        drawn = np.concatenate([self._drawn(layer, QgsRectangle(
            extent.xMinimum() + c0 * size_x, extent.yMaximum() - r1 * size_y, extent.xMinimum() + c1 * size_x,
            extent.yMaximum() - r0 * size_y), c1 - c0, r1 - r0, window) for r0, r1 in spans])
        drawn_rows = np.concatenate([np.arange(r0, r1) for r0, r1 in spans])
        return drawn[np.ix_(np.searchsorted(drawn_rows, rows_of), cols - c0)]

    def _draw_at_exact_centres(self, layer, window):
        """_draw on a grid in another CRS than the layer's, or of a raster that is not north-up (see
        _file_pixels), with every pixel the colour QGIS draws for the layer's own pixel under its
        centre (as gdalwarp's nearest neighbour picks it), or transparent where its centre is off the
        layer. QGIS's reprojection draws the layer onto a grid of its own in the layer's CRS first,
        then picks from that: up to a pixel or two away (most pixels of a map, in a zone next to the
        layer's). The layer's own pixels under the window are drawn in its CRS (or on its pixel
        grid) instead, a part of the window at a time, and picked by the centres' exact positions
        (see CentrePositions)."""
        if not _own_pixels(layer):  # a web service: as it comes
            return self._draw(layer, window)
        extent, size_x, size_y = _layer_pixel_size(layer)
        argb = np.zeros((window[3], window[2]), dtype="<u4")
        for (top, left), (columns, rows, inside) in self._parts_on_layer(layer, window):
            height, width = inside.shape
            picked = np.zeros(int(inside.sum()), dtype="<u4")
            columns, rows = columns[inside], rows[inside]
            for cluster in _column_clusters(columns):  # a part across the antimeridian: both ends of the layer
                c0, c1, r0, r1 = (int(columns[cluster].min()), int(columns[cluster].max()) + 1,
                                  int(rows[cluster].min()), int(rows[cluster].max()) + 1)
                drawn = self._drawn(layer, QgsRectangle(
                    extent.xMinimum() + c0 * size_x, extent.yMaximum() - r1 * size_y, extent.xMinimum() + c1 * size_x,
                    extent.yMaximum() - r0 * size_y), c1 - c0, r1 - r0, window)
                picked[cluster] = drawn[rows[cluster] - r0, columns[cluster] - c0]
            argb[top:top + height, left:left + width][inside] = picked
        return argb

    def _parts_on_layer(self, layer, window):
        """[((top, left), (columns, rows, inside))]: the parts of the window, each about
        _REPROJECTED_PART of the layer's pixels a side, and the layer's pixels under the centres
        of their pixels; for this thread's last window (the colours, the alpha band and the twin
        are drawn for the same one)."""
        kept = getattr(self._local, "parts", None)
        if kept is not None and kept[0] == window:
            return kept[1]
        xoff, yoff, width, height = window
        x0, dx, y0, dy = self._draw_geotransform()
        extent, size_x, size_y = _layer_pixel_size(layer)
        transform = QgsCoordinateTransform(self._target_crs, self._crs, self._transform_context) \
            if self._reprojected else None
        inverse = self._file_pixels or (-extent.xMinimum() / size_x, 1 / size_x, 0.0, extent.yMaximum() / size_y, 0.0,
                                        -1 / size_y)  # the layer's CRS -> its pixels
        # Longitudes come back in -180..180: those of a layer reaching past 180 (or of 0..360) are
        # brought east of its west edge, as gdalwarp does (a grid in the layer's CRS is wrapped too).
        west = self._west if self._crs.isGeographic() else None

        def to_layer(x, y):  # grid coordinates -> the layer's pixels, fractional (arrays of x's shape)
            shape = np.shape(x)
            if transform is not None:
                x, y = transform_points(transform, x, y)
            x, y = np.reshape(x, shape), np.reshape(y, shape)
            if west is not None:
                x = west + np.mod(x - west, 360.0)
            return inverse[0] + inverse[1] * x + inverse[2] * y, inverse[3] + inverse[4] * x + inverse[5] * y

        centres = CentrePositions(to_layer, x0 + (np.arange(xoff, xoff + width) + 0.5) * dx,
                                  y0 + (np.arange(yoff, yoff + height) + 0.5) * dy)
        side = max(1, int(_REPROJECTED_PART / max(1.0, centres.scale)))
        parts = []
        for top in range(0, height, side):
            for left in range(0, width, side):
                columns, rows = centres.part(left, min(width, left + side), top, min(height, top + side))
                with np.errstate(invalid="ignore"):  # NaN: a centre the transform cannot take to the layer's CRS
                    columns, rows = np.floor(columns + _EDGE_TOLERANCE), np.floor(rows + _EDGE_TOLERANCE)
                    inside = (columns >= 0) & (columns < layer.width()) & (rows >= 0) & (rows < layer.height())
                parts.append(((top, left), (np.where(inside, columns, 0).astype(np.int64),
                                            np.where(inside, rows, 0).astype(np.int64), inside)))
        self._local.parts = (window, parts)
        return parts

    def _on_layer_pixels(self, layer):
        """Whether the grid's pixels are the layer's own (same size, edges on the layer's pixel edges)."""
        x0, dx, y0, dy = self._draw_geotransform()
        extent, size_x, size_y = _layer_pixel_size(layer)
        offset_x, offset_y = (x0 - extent.xMinimum()) / size_x, (extent.yMaximum() - y0) / size_y
        same_size = abs(abs(dx) / size_x - 1) < 1e-9 and abs(abs(dy) / size_y - 1) < 1e-9
        return same_size and dx > 0 > dy and abs(offset_x - round(offset_x)) < 1e-6 and \
            abs(offset_y - round(offset_y)) < 1e-6

    def _layer_pixels(self, layer, columns, rows):
        """About how many of the layer's own pixels ``columns`` x ``rows`` pixels of the grid cover."""
        _, dx, _, dy = self._draw_geotransform()
        _, size_x, size_y = _layer_pixel_size(layer)
        return int((columns * abs(dx) / size_x + 2) * (rows * abs(dy) / size_y + 2))

    def _draw_geotransform(self):
        """(x0, dx, y0, dy) of the grid in the coordinates the layer is drawn in."""
        x0, dx, _, y0, _, dy = self._view
        return x0, dx, y0, dy

    def _draw_in_map_tiles(self, layer, window):
        """_draw, for a style that colours a pixel from its neighbours (hillshade, contours) or a
        resampling onto another grid: QGIS draws the pixels of each tile of a map (MAP_TILE pixels a
        side, from the top-left corner of the layer's part of the map) from that tile alone, and
        each block otherwise. The tiles a window meets are drawn once and kept for the next windows
        while they meet them too (at most two rows of tiles across a window's width)."""
        xoff, yoff, width, height = window
        left, top, right, bottom = self._map_area(layer)
        tiles = getattr(self._local, "tiles", None)
        if tiles is None:
            tiles = self._local.tiles = {}
        argb = np.zeros((height, width), dtype="<u4")
        for tile_top in range(top + max(0, (yoff - top) // MAP_TILE) * MAP_TILE, min(bottom, yoff + height), MAP_TILE):
            for tile_left in range(left + max(0, (xoff - left) // MAP_TILE) * MAP_TILE, min(right, xoff + width),
                                   MAP_TILE):
                tile = (id(layer), tile_left, tile_top, min(MAP_TILE, right - tile_left), min(MAP_TILE, bottom - tile_top))
                if tile not in tiles:
                    for kept in [k for k in tiles if k[0] == id(layer) and not (
                            k[1] < xoff + width and xoff < k[1] + k[3] and k[2] < yoff + height and yoff < k[2] + k[4])]:
                        del tiles[kept]  # away from this window: windows come in raster order
                    tiles[tile] = self._draw(layer, tile[1:])
                x0, y0 = max(xoff, tile_left), max(yoff, tile_top)
                x1, y1 = min(xoff + width, tile_left + tile[3]), min(yoff + height, tile_top + tile[4])
                argb[y0 - yoff:y1 - yoff, x0 - xoff:x1 - xoff] = tiles[tile][y0 - tile_top:y1 - tile_top,
                                                                             x0 - tile_left:x1 - tile_left]
        return argb

    def _map_area(self, layer):
        """(left, top, right, bottom) grid pixels of the layer's part of the grid, as QGIS places it
        on a map: its extent (in the grid's CRS) widened to whole pixels, within the grid."""
        left, top, right, bottom = self._layer_span(layer)
        left, top = (max(0, math.floor(v + 1e-6)) for v in (left, top))
        right = min(self._grid.width, math.ceil(right - 1e-6))
        bottom = min(self._grid.height, math.ceil(bottom - 1e-6))
        return left, top, max(left, right), max(top, bottom)

    def _layer_span(self, layer):
        """(left, top, right, bottom): the layer's extent (in the grid's CRS) in grid pixels, not rounded."""
        extent = layer.extent()
        if self._reprojected:
            transform = QgsCoordinateTransform(layer.crs(), self._target_crs, self._transform_context)
            extent = transform.transformBoundingBox(extent)
        x0, dx, y0, dy = self._draw_geotransform()
        return ((extent.xMinimum() - x0) / dx, (extent.yMaximum() - y0) / dy,
                (extent.xMaximum() - x0) / dx, (extent.yMinimum() - y0) / dy)

    def _open(self, renderer, filters, source=None):
        """A layer of this thread drawing the source (or ``source``: the file's twin, drawn without
        the user's nodata settings) with ``renderer`` and ``filters``, as QGIS would draw the layer."""
        layer = _layer_of(source or self._source, self._provider_key, self._ours or source is not None)
        if not layer.isValid():  # a file gone since it was loaded; a virtual raster's input gone (its URI in % codes)
            raise SourceError("QGIS could not open layer '{}' ({}): a file it reads moved or deleted?".format(
                self._name, QUrl.fromPercentEncoding(self._source.encode("utf-8"))))
        layer.setRenderer(renderer.clone())
        if not self._on_pixel_grid and self._crs.isValid():
            layer.setCrs(self._crs)
        provider = layer.dataProvider()
        for band, use_source, user_ranges in self._nodata_settings if source is None else ():  # the user's own
            if band <= provider.bandCount():
                provider.setUseSourceNoDataValue(band, use_source)
                provider.setUserNoDataValue(band, user_ranges)
        for interface in filters:
            layer.pipe().set(interface.clone())
        stage, zoomed_in, zoomed_out, oversampling = self._early_resampling
        layer.setResamplingStage(stage)
        provider.setZoomedInResamplingMethod(zoomed_in)
        provider.setZoomedOutResamplingMethod(zoomed_out)
        provider.setMaxOversampling(oversampling)
        if self._qgis_reprojects:  # other layers are drawn in their CRS (_draw_at_exact_centres)
            layer.pipe().projector().setCrs(layer.crs(), self._target_crs, self._transform_context)
        return layer

    def _extent(self, window):
        xoff, yoff, width, height = window
        x0, dx, y0, dy = self._draw_geotransform()
        return QgsRectangle(x0 + xoff * dx, y0 + (yoff + height) * dy, x0 + (xoff + width) * dx, y0 + yoff * dy)

    def close(self):
        with self._lock:
            self._opened = []
        self._local = threading.local()


_ALPHA_ONE = np.uint32(1 << 24)
_ALPHA_HALF = np.uint32(128 << 24)
#: Pixel centres nearer than this (in pixels) to an edge are taken as on it (on the layer at its first
#: edge, off it at its last, in the right or lower pixel between two): coordinates computed two ways
#: differ in their last digits.
_EDGE_TOLERANCE = 1e-6


def _own_pixels(layer):
    """Whether the layer has pixels of its own (a web service has none)."""
    return layer.width() > 0 and layer.height() > 0


def _layer_pixel_size(layer):
    """(extent, pixel width, pixel height) of a layer with pixels of its own, in its CRS units."""
    extent = layer.extent()
    return extent, extent.width() / layer.width(), extent.height() / layer.height()


def _centred(offset, size, low, high):
    """(first, end) of the grid pixels offset..offset+size whose centres are within low..high: a
    centre on the low edge is on the layer, one on the high edge is not (as GDAL counts pixels)."""
    first = min(max(offset, math.ceil(low - 0.5 - _EDGE_TOLERANCE)), offset + size)
    return first, max(first, min(offset + size, math.ceil(high - 0.5 - _EDGE_TOLERANCE)))


#: The side, in grid pixels, of the parts of a window drawn at once on a grid in another CRS (see
#: RenderedSource._draw_at_exact_centres), for a grid as fine as the layer or finer.
_REPROJECTED_PART = 512
#: Grid pixels a side between the centres whose positions on the layer are transformed exactly
#: (see CentrePositions), at first.
_SAMPLE_STEP = 16
#: The largest error, in the layer's pixels, of positions interpolated between exact ones.
_INTERPOLATION_ERROR = 0.01


def _column_clusters(columns, gap=4 * _REPROJECTED_PART):
    """Index arrays of ``columns`` in groups apart by more than ``gap`` columns (one group, mostly)."""
    if columns.size == 0:
        return []
    order = np.argsort(columns, kind="stable")
    breaks = np.flatnonzero(np.diff(columns[order]) > gap) + 1
    return np.split(order, breaks) if breaks.size else [slice(None)]


class CentrePositions:
    """The fractional positions in the layer's pixels (``to_layer(x, y)`` of arrays, NaN where a
    point cannot be transformed) of the grid pixels' centres at ``xs`` (one row's) by ``ys`` (one
    column's), as exact as transforming each. Transforming every centre costs about a microsecond a
    pixel (PROJ's own cost): only every _SAMPLE_STEP-th is, the others are interpolated between them.
    Each cell of samples is checked at its middle and the middles of its sides (where bilinear
    interpolation of a conformal projection's coordinates misses most: at the middle the misses of
    its two axes cancel); a cell missing by more than _INTERPOLATION_ERROR somewhere (near a pole,
    across the antimeridian, off the projection's reach) has all its centres transformed, and in the
    others the centres closer to a pixel edge than a few times their cell's miss."""

    def __init__(self, to_layer, xs, ys):
        self._to_layer, self._xs, self._ys = to_layer, xs, ys
        width, height = len(xs), len(ys)
        self._at_x = np.unique(np.r_[np.arange(0, width, _SAMPLE_STEP), width - 1])
        self._at_y = np.unique(np.r_[np.arange(0, height, _SAMPLE_STEP), height - 1])
        if len(self._at_x) < 2 or len(self._at_y) < 2:  # one row or column: every centre transformed
            self._at_x, self._at_y = np.arange(width), np.arange(height)
        self._sampled = to_layer(*np.meshgrid(xs[self._at_x], ys[self._at_y]))
        mid_x, mid_y = (self._at_x[:-1] + self._at_x[1:]) // 2, (self._at_y[:-1] + self._at_y[1:]) // 2
        misses = [self._misses(mid_x, mid_y), self._misses(mid_x, self._at_y), self._misses(self._at_x, mid_y)]
        if len(mid_x) and len(mid_y):
            middle, across, down = misses
            self._cell_miss = np.maximum.reduce([middle, across[:-1], across[1:], down[:, :-1], down[:, 1:]])
        else:  # a sample at every centre
            self._cell_miss = np.zeros((max(1, len(mid_y)), max(1, len(mid_x))))
        #: About how many of the layer's pixels a grid pixel spans (most of the grid's).
        with np.errstate(invalid="ignore"):
            spans = [np.hypot(*(np.diff(values, axis=axis) for values in self._sampled)) / np.diff(at)[
                (slice(None), None) if axis == 0 else (None, slice(None))]
                for axis, at in ((0, self._at_y), (1, self._at_x)) if len(at) > 1]
            spans = np.concatenate([span.ravel() for span in spans]) if spans else np.zeros(0)
            spans = spans[np.isfinite(spans)]
        self.scale = float(np.median(spans)) if spans.size else 1.0

    def _misses(self, x, y):
        """How far the interpolated positions of the centres x by y miss their exact ones (the larger
        of column and row; infinite where either is NaN)."""
        exact = self._to_layer(*np.meshgrid(self._xs[x], self._ys[y]))
        with np.errstate(invalid="ignore"):
            miss = np.maximum(*(np.abs(e - self._interpolated(values, x, y)) for e, values in zip(exact, self._sampled)))
        return np.where(np.isnan(miss), np.inf, miss)

    def part(self, left, right, top, bottom):
        """(columns, rows) of the centres of the grid pixels left..right-1 by top..bottom-1."""
        x, y = np.arange(left, right), np.arange(top, bottom)
        columns, rows = (self._interpolated(values, x, y) for values in self._sampled)
        miss = self._cell_miss[np.ix_(self._cells(self._at_y, y), self._cells(self._at_x, x))]
        with np.errstate(invalid="ignore"):
            margin = 4 * miss + 1e-7
            redo = (miss > _INTERPOLATION_ERROR) | np.isnan(columns) | np.isnan(rows) | (
                np.abs(columns - np.round(columns)) < margin) | (np.abs(rows - np.round(rows)) < margin)
        if redo.any():
            at_y, at_x = np.nonzero(redo)
            columns[redo], rows[redo] = self._to_layer(self._xs[x[at_x]], self._ys[y[at_y]])
        return columns, rows

    @staticmethod
    def _cells(at, positions):
        """The cell of samples ``at`` each of ``positions`` falls in."""
        return np.clip(np.searchsorted(at, positions, side="right") - 1, 0, max(0, len(at) - 2))

    def _interpolated(self, values, x, y):
        """``values`` given at the samples, bilinearly interpolated at the grid pixels x by y."""
        def weights(at, positions):
            cell = self._cells(at, positions)
            following = np.minimum(cell + 1, len(at) - 1)
            span = np.maximum(at[following] - at[cell], 1)
            return cell, following, (positions - at[cell]) / span

        (cx, nx, tx), (cy, ny, ty) = weights(self._at_x, x), weights(self._at_y, y)
        across = values[:, cx] + (values[:, nx] - values[:, cx]) * tx
        return across[cy] + (across[ny] - across[cy]) * ty[:, None]


def transform_points(transform, x, y):
    """(x, y) arrays of the points at ``x``, ``y`` (arrays) transformed by ``transform`` (a
    QgsCoordinateTransform: the operation QGIS chooses, in the project's transform context), NaN
    where one cannot be. In one call, as a line string's vertices (QGIS has no array call in Python)."""
    x, y = np.ravel(x).astype(np.float64), np.ravel(y).astype(np.float64)
    if x.size == 0:
        return x, y
    points = np.column_stack([x, y] if x.size > 1 else [np.r_[x, x], np.r_[y, y]])  # a line has 2 points
    line = QgsGeometry()
    line.fromWkb(struct.pack("<BII", 1, 2, len(points)) + points.astype("<f8").tobytes())
    try:
        line.transform(transform)
        done = np.frombuffer(bytes(line.asWkb()), dtype="<f8", offset=9).reshape(-1, 2)[:x.size].copy()
    except QgsCsException:  # some point is beyond the operation's reach: point by point
        done = np.full((x.size, 2), np.nan)
        for i in range(x.size):
            try:
                point = transform.transform(float(x[i]), float(y[i]))
                done[i] = point.x(), point.y()
            except QgsCsException:
                pass
    with np.errstate(invalid="ignore"):
        done[~np.isfinite(done).all(axis=1)] = np.nan
    return done[:, 0], done[:, 1]


#: The side of the tiles QGIS draws a raster layer of a map in (QgsRasterIterator's largest tile).
MAP_TILE = 2000


def argb_to_rgba(argb):
    """Packed RGBA codes (see nearest.pack_rgba) of premultiplied ARGB32 pixels, un-premultiplied
    as ``unpremultiply`` does. Opaque pixels only swap their red and blue bytes, so this is done on
    whole uint32 words, and the division only where alpha is partial."""
    rgba = argb & np.uint32(0xFF00FF00)
    swapped = argb & np.uint32(0xFF)
    swapped <<= np.uint32(16)
    rgba |= swapped
    np.right_shift(argb, np.uint32(16), out=swapped)
    swapped &= np.uint32(0xFF)
    rgba |= swapped
    np.right_shift(argb, np.uint32(24), out=swapped)
    swapped -= np.uint32(1)  # alpha 0 wraps around: only 1-254 fall below 254
    partial = np.flatnonzero(swapped.ravel() < 254)
    if len(partial):
        flat = rgba.reshape(-1)
        red, green, blue, alpha = unpremultiply(argb.reshape(-1)[partial])
        flat[partial] = pack_rgba(red, green, blue, alpha)
    return rgba


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


class StretchedBandSource:
    """Byte bands that the layer's style stretches each on its own (see direct_read_plan with
    ``stretched``), read with GDAL and stretched through tables of what QGIS draws: every value
    0-255 of each band drawn once. NotPiecewise when QGIS draws a value transparent or a few
    windows of the layer otherwise than the tables give, and the layer is then drawn."""

    reads_in_background = True  # only GDAL calls and numpy after construction: safe in another thread

    def __init__(self, layer, path, plan, grid, workdir):
        self._bands = gdal_io.BandSource(path, *plan, use_masks=False)
        self.description = "the layer as drawn with its style (each band's 256 values drawn once)"
        renderer = layer.renderer()
        used = [renderer.redBand(), renderer.greenBand(), renderer.blueBand()]
        every = np.arange(256, dtype=np.uint8)
        drawn = _ValueDrawer(layer, path, max(used), gdal.GDT_Byte, workdir, all_bands=True).draw(every)
        if drawn.min() < OPAQUE:
            raise pointwise.NotPiecewise("a value is drawn transparent")
        levels = np.arange(1 << 16, dtype=np.uint32)
        red, green, blue = ((drawn >> np.uint32(shift)) & np.uint32(255) for shift in (0, 8, 16))
        # A colour code's low half holds red and green, its high half blue and alpha.
        self._low = red[levels & np.uint32(255)] | (green[levels >> np.uint32(8)] << np.uint32(8))
        self._high = (blue[levels & np.uint32(255)] << np.uint32(16)) | ((levels >> np.uint32(8)) << np.uint32(24))
        self.opaque, self.transparency = self._bands.opaque, self._bands.transparency
        self._check(layer, path, grid, workdir)

    def _check(self, layer, path, grid, workdir):
        drawn = RenderedSource(layer, path, grid, workdir)
        try:
            for window in gdal_io.diagonal_windows(grid.width, grid.height, _CHECK_WINDOW, (0.0, 0.5, 1.0)):
                if not np.array_equal(drawn.read(window), self.read(window)):
                    raise pointwise.NotPiecewise("a window is drawn in other colours than its bands stretched")
        finally:
            drawn.close()

    def read(self, window):
        raw = self._bands.read(window)
        halves = raw.view(np.uint16).reshape(raw.shape + (2,))  # little-endian: the low half first
        rgba = np.empty(raw.shape, np.uint32)
        flat, low, high = rgba.reshape(-1), halves[..., 0].reshape(-1), halves[..., 1].reshape(-1)
        step = pointwise.STEP
        for start in range(0, flat.size, step):
            part = flat[start:start + step]
            np.take(self._low, low[start:start + step], out=part)
            part |= np.take(self._high, high[start:start + step])
        if not self.opaque:  # QGIS draws nodata pixels fully transparent: no colour either
            rgba[rgba < _ALPHA_ONE] = 0
        return rgba

    def close(self):
        self._bands.close()


#: GDAL types whose every value can be drawn once: (smallest value, number of values).
LOOKUP_TYPES = {gdal.GDT_Byte: (0, 1 << 8), gdal.GDT_UInt16: (0, 1 << 16), gdal.GDT_Int16: (-(1 << 15), 1 << 16)}
#: Styles that colour a pixel from its own value alone (on the layer's own grid).
POINTWISE_STYLES = ("paletted", "singlebandpseudocolor", "singlebandgray")
#: Band values of a Float32 band that are drawn to check its pieces (see LookupSource), per window read.
_CHECK_WINDOW = 256


def lookup_plan(layer, path, target_crs):
    """The band to look colours up in, when every pixel's colour as QGIS draws the layer depends
    on its own value alone: a paletted, pseudocolour or grey style of an 8- or 16-bit integer or a
    Float32 band, drawn on its own grid, without a transparency band (another band's value). Else None."""
    renderer = layer.renderer()
    if path is None or target_crs is not None or renderer is None or renderer.type() not in POINTWISE_STYLES:
        return None
    if renderer.alphaBand() > 0:
        return None
    bands = renderer.usesBands()
    if len(bands) != 1:
        return None
    dataset = gdal.Open(path)
    band = dataset.GetRasterBand(bands[0]) if 1 <= bands[0] <= dataset.RasterCount else None
    if band is None or band.DataType not in LOOKUP_TYPES and band.DataType != gdal.GDT_Float32:
        return None
    if _signed_bytes(band):  # its table would be of 0-255
        return None
    if band.GetMaskFlags() not in (gdal.GMF_ALL_VALID, gdal.GMF_NODATA):
        return None
    return bands[0]


class LookupSource:
    """A pointwise-styled band (see lookup_plan) as QGIS draws it, read with GDAL as codes into a
    table of the colours QGIS draws (see engine.pointwise): exactly what drawing each block gives,
    at the speed of reading the band; and when no value is drawn transparent, the output needs no
    nodata.

    An 8- or 16-bit band has every possible value drawn once, through the layer's own style,
    filters and nodata settings: its values are the codes (a paletted style's partly transparent
    classes with their own colours, which drawing loses: see class_colours). A Float32 band has its value line cut
    into pieces of one colour by drawing values around the style's breaks (pointwise.find_pieces),
    checked by drawing values of the band itself and more; NotPiecewise when anything disagrees
    (or colour filters could bend the style's ramps), and the layer is then drawn block by block."""

    reads_in_background = True  # only GDAL calls and numpy after construction: safe in another thread

    def __init__(self, layer, path, band, workdir):
        self.dataset = gdal_io.open_for_strip_reads(path)
        self.band = self.dataset.GetRasterBand(band)
        drawn = _ValueDrawer(layer, path, band, self.band.DataType, workdir)
        if self.band.DataType in LOOKUP_TYPES:
            low, count = LOOKUP_TYPES[self.band.DataType]
            values = np.arange(low, low + count)
            self.table = class_colours(layer, band, values, drawn.draw(values))
            self._codes = _integer_codes
            self.description = "the layer as drawn with its style (each of its {:,} possible values drawn once)".format(
                count)
        else:
            classifier = self._pieces(layer, band, drawn)
            self.table, self._codes = classifier.colours, classifier.classify
            pieces = len(classifier.starts)
            self.description = ("the layer as drawn with its style ({:,} colour{}, {:,} piece{} of its values found by "
                                "drawing {:,} values)").format(len(classifier.colours), "" if len(classifier.colours) == 1
                                                              else "s", pieces, "" if pieces == 1 else "s", drawn.count)
        self.opaque = bool(self.table.min() >= OPAQUE)
        self.transparency = "values its style draws transparent (without a class, nodata)"
        self._seems_opaque = not self.opaque and self._guess_opaque()

    def seems_opaque(self, alpha_threshold):
        """Whether the band seems to hold no value drawn transparent (see _guess_opaque; a colour
        drawn partly transparent counts as transparent, whatever ``alpha_threshold``)."""
        return self._seems_opaque

    def _guess_opaque(self):
        """Whether a Byte band, some of whose values are drawn transparent (a paletted style leaves
        values without a class so, and a band's nodata value), seems to hold none of them: then the
        output needs no nodata, and 256 colours fit in a Byte. The engine checks the guess on every
        block it writes and writes the output again with nodata when a pixel proves it wrong, instead
        of a read of the whole band before writing (a tenth of a run, in QGIS's main thread); a few
        windows along the band's two diagonals, where nodata borders and corners show, are read here."""
        transparent = self.table < OPAQUE
        if self.band.DataType != gdal.GDT_Byte or transparent.all():
            return False
        flags = transparent.astype(np.uint8)
        windows = gdal_io.diagonal_windows(self.band.XSize, self.band.YSize, _CHECK_WINDOW, both=True)
        found = any(pointwise.any_of(self._read(window), flags) for window in windows)
        self.dataset.FlushCache()
        return not found

    def _pieces(self, layer, band, drawn):
        if not _filters_are_neutral(layer):
            raise pointwise.NotPiecewise("colour filters")
        starts, colours = pointwise.find_pieces(drawn.draw, style_breaks(layer, band, self.band))
        alpha = colours >> np.uint32(24)
        if ((alpha > 0) & (alpha < 255)).any():  # un-premultiplied, their channels can wobble
            raise pointwise.NotPiecewise("partly transparent colours")
        nan_colour = drawn.draw(np.array([np.nan, 0.0], np.float32))[0]  # (a raster of NaN alone: GDAL complains)
        classifier = pointwise.PieceClassifier(starts, colours, nan_colour)
        check = np.concatenate([self._sample_values(), _around(starts), _random_values(starts)])
        if not np.array_equal(drawn.draw(check), classifier.colours[classifier.classify(check)]):
            raise pointwise.NotPiecewise("a value is drawn in another colour than its piece's")
        return classifier

    def _sample_values(self):
        """Values of a few windows of the band, along its diagonal."""
        values = [self._read(window).ravel()
                  for window in gdal_io.diagonal_windows(self.band.XSize, self.band.YSize, _CHECK_WINDOW)]
        self.dataset.FlushCache()
        return np.concatenate(values).astype(np.float32)

    def _read(self, window):
        return read_array(self.band, window, self.dataset.GetDescription())

    def read_codes(self, window):
        """(codes, colours) of a window: see engine.pointwise."""
        values = self._read(window)
        self.dataset.FlushCache()  # GDAL would otherwise keep every block read so far
        return self._codes(values), self.table

    def read(self, window):
        codes, colours = self.read_codes(window)
        return pointwise.look_up(colours, codes)

    def close(self):
        self.band = self.dataset = None


def class_colours(layer, band, values, colours):
    """``colours`` (RGBA codes QGIS drew for ``values`` of ``band``), where a paletted style draws a
    class partly transparent, replaced by the class's own colour when that colour, premultiplied as
    Qt does, is what was drawn: QGIS draws 8-bit premultiplied colours, which un-premultiplied are a
    level or two off the style's (PALETTE=exact gave no legend back). Anything else that changes a
    class's colour (filters, opacity) makes the check fail, and the drawn colour stays."""
    renderer = layer.renderer()
    alpha = colours >> np.uint32(24)
    partial = np.flatnonzero((alpha > 0) & (alpha < 255))
    if not len(partial) or not isinstance(renderer, QgsPalettedRasterRenderer) or renderer.band() != band:
        return colours
    classes = {entry.value: entry.color for entry in renderer.classes()}
    colours = colours.copy()
    for at in partial:
        colour = classes.get(float(values[at]))
        if colour is None:
            continue
        a, straight = int(alpha[at]), (colour.red(), colour.green(), colour.blue())
        red, green, blue = ((c * a + ((c * a) >> 8) + 0x80) >> 8 for c in straight)  # qPremultiply's rounding
        if pack_rgba(*unpremultiply(np.array([a << 24 | red << 16 | green << 8 | blue], np.uint32)))[0] == colours[at]:
            colours[at] = straight[0] | straight[1] << 8 | straight[2] << 16 | a << 24
    return colours


def _integer_codes(values):
    """Codes of 8- and 16-bit values: their place among the type's values (Int16 offset by 2^15)."""
    if values.dtype == np.int16:
        return values.view(np.uint16) ^ np.uint16(0x8000)
    return values


def _around(starts):
    """Each piece's start and the float32 value below it."""
    finite = starts[np.isfinite(starts)]
    with np.errstate(over="ignore"):
        return np.concatenate([finite, np.nextafter(finite, np.float32(-np.inf))]).astype(np.float32)


def _random_values(starts, count=1 << 16):
    """Random float32 values from the lowest to the highest finite start, 0 and -0."""
    finite = starts[np.isfinite(starts)]
    if not len(finite):
        return np.array([0.0, -0.0], np.float32)
    low, high = pointwise.float_keys(finite[[0, -1]]).astype(np.int64)
    keys = np.random.default_rng(0).integers(low, high + 1, count).astype(np.uint32)
    return np.concatenate([pointwise.key_values(keys), np.array([0.0, -0.0], np.float32)])


def style_breaks(layer, band_number, band):
    """Values of a Float32 band where its pointwise style can change colour otherwise than by
    rising or falling steadily: class values, ramp items, stretch limits, nodata values and ranges,
    transparent values (and, for a band with a scale or offset, the raw values that give them)."""
    renderer = layer.renderer()
    values = []
    kind = renderer.type()
    if kind == "paletted":
        values += [c.value for c in renderer.classes()]
    elif kind == "singlebandpseudocolor":
        function = renderer.shader().rasterShaderFunction() if renderer.shader() is not None else None
        if function is not None:
            values += [function.minimumValue(), function.maximumValue()]
            values += [item.value for item in getattr(function, "colorRampItemList", lambda: [])()]
        values += [renderer.classificationMin(), renderer.classificationMax()]
    elif renderer.contrastEnhancement() is not None:
        values += [renderer.contrastEnhancement().minimumValue(), renderer.contrastEnhancement().maximumValue()]
    provider = layer.dataProvider()
    if provider.sourceHasNoDataValue(band_number):
        values.append(provider.sourceNoDataValue(band_number))
    values += [v for r in provider.userNoDataValues(band_number) for v in (r.min(), r.max())]
    transparency = renderer.rasterTransparency()
    if transparency is not None:
        values += [_number(pixel.min) for pixel in transparency.transparentSingleValuePixelList()]
        values += [_number(pixel.max) for pixel in transparency.transparentSingleValuePixelList()]
    values = np.array([v for v in values if v is not None], dtype=np.float64)
    # QGIS takes values within a few 1e-16 of a nodata value (and maybe within some relative
    # tolerance of a break) as equal to it: breaks on either side as well.
    values = np.concatenate([values, values * (1 + 2.0 ** -20), values * (1 - 2.0 ** -20), values + 1e-12,
                             values - 1e-12])
    scale, offset = band.GetScale() or 1.0, band.GetOffset() or 0.0
    if (scale, offset) != (1.0, 0.0):
        with np.errstate(all="ignore"):
            values = np.concatenate([values, (values - offset) / scale])
    return values


def _number(value):
    return value() if callable(value) else value


class _ValueDrawer:
    """Draws chosen values of one band through a layer's style (the layer's own filters and
    nodata settings too): a small raster of those values, with the band's number, type, nodata,
    scale and offset, drawn as the layer would draw it."""

    def __init__(self, layer, path, band_number, data_type, workdir, all_bands=False):
        """``all_bands``: the values go into every band up to ``band_number``, not that band alone,
        and without nodata (a value that is nodata in one band is not in another)."""
        self.layer, self.path, self.band_number, self.data_type = layer, path, band_number, data_type
        self.workdir, self.count, self._files, self._all_bands = workdir, 0, 0, all_bands

    def draw(self, values):
        """RGBA codes (see nearest.pack_rgba) of a 1-D array of values, as QGIS draws them."""
        values = np.asarray(values).ravel()
        if not len(values):
            return np.zeros(0, np.uint32)
        width = min(len(values), 256)
        rows = -(-len(values) // width)
        padded = np.concatenate([values, np.repeat(values[-1:], rows * width - len(values))]).reshape(rows, width)
        self._files += 1
        drawn_path = os.path.join(self.workdir, "values-{}.tif".format(self._files))
        original = gdal.Open(self.path)
        dataset = gdal.GetDriverByName("GTiff").Create(drawn_path, width, rows, self.band_number, self.data_type)
        dataset.SetGeoTransform((0.0, 1.0, 0.0, float(rows), 0.0, -1.0))
        for number in range(1, self.band_number + 1):  # the style's band keeps its number
            source_band, target = original.GetRasterBand(number), dataset.GetRasterBand(number)
            if number == self.band_number or self._all_bands:
                target.WriteArray(padded)
            for getter, setter in ((source_band.GetNoDataValue, target.SetNoDataValue),
                                   (source_band.GetScale, target.SetScale), (source_band.GetOffset, target.SetOffset)):
                if getter() is not None and not (self._all_bands and setter == target.SetNoDataValue):
                    setter(getter())
        dataset = original = None
        grid = RasterGrid(width, rows, (0.0, 1.0, 0.0, float(rows), 0.0, -1.0), "")
        drawn = RenderedSource(self.layer, drawn_path, grid, self.workdir, draw_path=drawn_path)
        try:
            colours = drawn.read((0, 0, width, rows)).ravel()[:len(values)]
        finally:
            drawn.close()
        os.remove(drawn_path)
        self.count += len(values)
        return colours
