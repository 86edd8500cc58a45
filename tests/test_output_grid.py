"""Layers without a grid of their own (tile services) and chosen grids: EXTENT and PIXEL_SIZE."""

import os

import numpy as np
import pytest
from osgeo import gdal, osr
from qgis.core import QgsProcessingException

from palettize.palettes.palette import builtin_palette
from rasters import SAMPLE_MAP, drawn_on_map, quantize, read_indices

VGA = builtin_palette("vga16").colours.tolist()
TILE_COLOURS = {(0, 0): 12, (1, 0): 10, (0, 1): 9, (1, 1): 14}  # (x, y) of zoom-1 tiles -> VGA index
HALF_WORLD = 20037508.342789244


@pytest.fixture
def tile_layer(qgis_app, tmp_path):
    """An XYZ tile layer (QGIS's 'wms' provider) served from local files: solid zoom-1 tiles."""
    from qgis.core import QgsRasterLayer

    for (x, y), index in TILE_COLOURS.items():
        folder = tmp_path / "tiles" / "1" / str(x)
        folder.mkdir(parents=True, exist_ok=True)
        tile = gdal.GetDriverByName("MEM").Create("", 256, 256, 3, gdal.GDT_Byte)
        for band, value in enumerate(VGA[index], 1):
            tile.GetRasterBand(band).Fill(value)
        gdal.GetDriverByName("PNG").CreateCopy(str(folder / "{}.png".format(y)), tile)
    uri = "type=xyz&url=file://{}/tiles/{{z}}/{{x}}/{{y}}.png&zmin=1&zmax=1".format(tmp_path)
    layer = QgsRasterLayer(uri, "tiles", "wms")
    assert layer.isValid()
    return layer


def test_layer_without_a_grid_asks_for_extent_and_pixel_size(tile_layer, tmp_path):
    with pytest.raises(QgsProcessingException, match="has no grid of its own.*set EXTENT and PIXEL_SIZE"):
        quantize({"INPUT": tile_layer, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})
    assert not os.path.exists(tmp_path / "out.tif")


def test_tile_layer_is_quantized_on_the_requested_grid(tile_layer, tmp_path):
    extent = "-5000000,5000000,-3000000,3000000 [EPSG:3857]"
    out = quantize({"INPUT": tile_layer, "PALETTE": "vga16", "EXTENT": extent, "PIXEL_SIZE": 100000,
                    "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    dataset = gdal.Open(out)
    assert dataset.GetGeoTransform() == (-5000000.0, 100000.0, 0.0, 3000000.0, 0.0, -100000.0)
    assert (dataset.RasterXSize, dataset.RasterYSize) == (100, 60)
    web_mercator = osr.SpatialReference()
    web_mercator.ImportFromEPSG(3857)
    assert dataset.GetSpatialRef().IsSame(web_mercator)
    indices = read_indices(out)
    expected = np.empty((60, 100), dtype=int)
    expected[:30, :50], expected[:30, 50:] = TILE_COLOURS[(0, 0)], TILE_COLOURS[(1, 0)]
    expected[30:, :50], expected[30:, 50:] = TILE_COLOURS[(0, 1)], TILE_COLOURS[(1, 1)]
    assert np.array_equal(indices, expected)


def test_extent_and_pixel_size_on_the_layer_grid_reproduce_a_window(qgis_app, tmp_path):
    # The sample map: origin (500000, 7500000), 25 m pixels. Ask for columns 100-299, rows 40-189.
    extent = "502500,507500,7495250,7499000 [EPSG:32635]"
    out = quantize({"INPUT": SAMPLE_MAP, "EXTENT": extent, "PIXEL_SIZE": 25,
                    "OUTPUT": str(tmp_path / "window.tif")})["OUTPUT"]
    whole = quantize({"INPUT": SAMPLE_MAP, "OUTPUT": str(tmp_path / "whole.tif")})["OUTPUT"]
    dataset = gdal.Open(out)
    assert dataset.GetGeoTransform() == (502500.0, 25.0, 0.0, 7499000.0, 0.0, -25.0)
    assert np.array_equal(read_indices(out), read_indices(whole)[40:190, 100:300])


def test_pixel_size_alone_resamples_the_whole_layer(qgis_app, tmp_path):
    out = quantize({"INPUT": SAMPLE_MAP, "PIXEL_SIZE": 100, "OUTPUT": str(tmp_path / "coarse.tif")})["OUTPUT"]
    dataset = gdal.Open(out)
    assert dataset.GetGeoTransform() == (500000.0, 100.0, 0.0, 7500000.0, 0.0, -100.0)
    assert (dataset.RasterXSize, dataset.RasterYSize) == (150, 100)


def test_extent_is_refused_for_raw_bands(qgis_app, tmp_path):
    with pytest.raises(QgsProcessingException, match=r"set Pixel source \(SOURCE\) to rendered"):
        quantize({"INPUT": SAMPLE_MAP, "SOURCE": "bands", "PIXEL_SIZE": 50, "OUTPUT": str(tmp_path / "o.tif")})


@pytest.mark.parametrize("layer, extent, reason", [
    ("rotated", "500000,501000,7499000,7500000 [EPSG:32635]",
     "the layer's own pixels are rotated, and the output's are not"),
    ("sample map", "27,27.1,67.5,67.6 [EPSG:4326]", "the layer's own pixel size does not apply to this extent's CRS"),
])
def test_an_extent_without_pixel_size_says_why_the_layers_pixel_size_does_not_apply(
        qgis_app, tmp_path, layer, extent, reason):
    from rasters import random_rgba, write_raster

    inputs = {"sample map": SAMPLE_MAP,
              "rotated": write_raster(str(tmp_path / "rotated.tif"), random_rgba(8, 9),
                                      geotransform=(500000.0, 20.0, 5.0, 7500000.0, 4.0, -22.0), alpha=True)}
    with pytest.raises(QgsProcessingException) as error:
        quantize({"INPUT": inputs[layer], "EXTENT": extent, "OUTPUT": str(tmp_path / "out.tif")})
    assert str(error.value).endswith("Set Output pixel size (PIXEL_SIZE): {}.".format(reason))
    assert not os.path.exists(tmp_path / "out.tif")


def reprojected_extent(layer, crs, rows_per_layer_height, times_taller):
    """An extent in ``crs`` as wide as the layer there and ``times_taller`` times as tall around it,
    and its pixel size: ``rows_per_layer_height`` rows over the layer's own height."""
    from qgis.core import QgsCoordinateTransform, QgsProject

    bounds = QgsCoordinateTransform(layer.crs(), crs, QgsProject.instance()).transformBoundingBox(layer.extent())
    middle, half = bounds.center().y(), bounds.height() * times_taller / 2
    return (bounds.xMinimum(), bounds.xMaximum(), middle - half, middle + half), bounds.height() / rows_per_layer_height


def under_the_centres(classes_path, output_path):
    """The classes of ``classes_path`` (one band, 255 for none) under the centres of the pixels of
    the output at ``output_path``, as gdalwarp's nearest neighbour picks them with exact transforms;
    and where a centre is closer than 1e-5 of a pixel to a pixel edge (either may be taken there)."""
    out = gdal.Open(output_path)
    x0, dx, _, y0, _, dy = out.GetGeoTransform()
    width, height = out.RasterXSize, out.RasterYSize
    expected = gdal.Warp("", classes_path, format="MEM", dstSRS=out.GetProjectionRef(), resampleAlg="near",
                         errorThreshold=0, outputBounds=(x0, y0 + height * dy, x0 + width * dx, y0), width=width,
                         height=height, dstNodata=255).ReadAsArray()
    source = gdal.Open(classes_path)
    sx, sdx, _, sy, _, sdy = source.GetGeoTransform()
    target = out.GetSpatialRef()
    target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    layer_crs = source.GetSpatialRef()
    layer_crs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    rows, cols = np.mgrid[0:height, 0:width]
    centres = np.column_stack([(x0 + (cols + 0.5) * dx).ravel(), (y0 + (rows + 0.5) * dy).ravel()])
    points = np.array(osr.CoordinateTransformation(target, layer_crs).TransformPoints(centres))
    fractions = np.stack([(points[:, 0] - sx) / sdx, (points[:, 1] - sy) / sdy])
    on_edge = (np.abs(fractions - np.round(fractions)) < 1e-5).any(axis=0).reshape(height, width)
    return expected, on_edge


def classes_and_colours(tmp_path, rows, cols, seed, alpha=False, geotransform=None, epsg=None):
    """A map of random VGA colours (and a tenth of its pixels transparent, with ``alpha``) and the
    file of its classes (255 where transparent), on the same grid (UTM zone 35, at 67.6 N, unless
    ``geotransform`` and ``epsg`` say otherwise)."""
    from rasters import NORTH_UP, UTM35N, write_raster

    geotransform = geotransform or NORTH_UP

    rng = np.random.default_rng(seed)
    classes = rng.integers(0, 16, (rows, cols))
    colours = np.array(VGA, dtype=np.uint8)[classes].transpose(2, 0, 1)
    if alpha:
        opaque = rng.random((rows, cols)) >= 0.1
        colours = np.concatenate([colours, np.where(opaque, 255, 0)[None].astype(np.uint8)])
        classes = np.where(opaque, classes, 255)
    srs = UTM35N
    if epsg:
        srs = osr.SpatialReference()
        srs.ImportFromEPSG(epsg)
    return (write_raster(str(tmp_path / "map.tif"), colours, geotransform=geotransform, srs=srs, alpha=alpha),
            write_raster(str(tmp_path / "classes.tif"), classes[None].astype(np.uint8), geotransform=geotransform,
                         srs=srs))


def test_an_extent_in_another_crs_reaching_beyond_the_layer_is_nodata_there(qgis_app, tmp_path):
    from qgis.core import QgsCoordinateReferenceSystem, QgsRasterLayer

    path, classes = classes_and_colours(tmp_path, 40, 40, seed=2)
    layer = QgsRasterLayer(path, "map")
    layer.renderer().setOpacity(0.9)  # drawn by QGIS, not read as bands
    geographic = QgsCoordinateReferenceSystem("EPSG:4326")
    (west, east, south, north), pixel = reprojected_extent(layer, geographic, 40, 15)  # 600 rows: a block misses the layer
    out = quantize({"INPUT": layer, "PALETTE": "vga16", "EXTENT": "{},{},{},{} [EPSG:4326]".format(west, east, south, north),
                    "PIXEL_SIZE": pixel, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert gdal.Open(out).GetGeoTransform() == (west, pixel, 0.0, north, 0.0, -pixel)
    expected, on_edge = under_the_centres(classes, out)
    assert (expected == 255).any() and (expected != 255).any()
    assert np.array_equal(read_indices(out)[~on_edge], expected[~on_edge])


@pytest.mark.parametrize("crs, pixel_size, alpha", [
    ("EPSG:32634", 25, False),    # the next UTM zone, the layer's pixel size
    ("EPSG:32634", 18, True),     # finer pixels; the alpha band drawn too
    ("EPSG:32634", 220, False),   # coarser
    ("EPSG:3857", 66, False),     # about the layer's pixel size there (25 m at 67.6 N)
])
def test_an_extent_in_another_crs_takes_the_layer_pixel_under_each_centre(qgis_app, tmp_path, crs, pixel_size, alpha):
    """QGIS's own reprojection picked a pixel up to two away: in the zone next to a UTM map's,
    nearly two thirds of the pixels were another class than gdalwarp's nearest neighbour gives."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsRasterLayer

    path, classes = classes_and_colours(tmp_path, 300, 300, seed=5, alpha=alpha)
    (west, east, south, north), _ = reprojected_extent(QgsRasterLayer(path, "map"), QgsCoordinateReferenceSystem(crs), 1, 0.8)
    out = quantize({"INPUT": path, "PALETTE": "vga16", "EXTENT": "{},{},{},{} [{}]".format(west, east, south, north, crs),
                    "PIXEL_SIZE": pixel_size, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    expected, on_edge = under_the_centres(classes, out)
    indices = read_indices(out)
    assert indices.shape[0] > 20 and (expected != 255).mean() > 0.75 and on_edge.mean() < 0.01
    assert np.array_equal(indices[~on_edge], expected[~on_edge])


def test_an_extent_in_another_crs_missing_the_layer_gives_nodata_with_a_warning(qgis_app, tmp_path):
    from rasters import feedback_log, random_rgba, write_raster

    path = write_raster(str(tmp_path / "map.tif"), random_rgba(40, 40, seed=2)[:3])  # near 27.0 E, 67.61 N
    log = feedback_log()
    out = quantize({"INPUT": path, "PALETTE": "vga16", "EXTENT": "27.0,27.02,67.5,67.51 [EPSG:4326]",
                    "PIXEL_SIZE": 0.001, "OUTPUT": str(tmp_path / "out.tif")}, feedback=log)["OUTPUT"]
    assert read_indices(out).tolist() == [[255] * 20] * 10
    # named as the dialog names its settings, as errors are
    assert ("No pixel got a palette entry: the output is all nodata. Check Alpha threshold (ALPHA_THRESHOLD), the "
            "input's nodata and alpha band, and the extent asked for.") in log.warnings


@pytest.mark.parametrize("pixel_size, warned", [(25, True), (0.001, False)])
def test_a_pixel_size_meant_in_metres_for_an_extent_in_degrees_is_warned_of(qgis_app, tmp_path, pixel_size, warned):
    from rasters import feedback_log, random_rgba, write_raster

    path = write_raster(str(tmp_path / "map.tif"), random_rgba(40, 40, seed=2)[:3])  # near 27.0 E, 67.61 N
    log = feedback_log()
    quantize({"INPUT": path, "PALETTE": "vga16", "EXTENT": "26.99,27.02,67.6,67.62 [EPSG:4326]",
              "PIXEL_SIZE": pixel_size, "OUTPUT": str(tmp_path / "out.tif")}, feedback=log)
    degrees = [w for w in log.warnings if "is in the units of the extent's CRS" in w]
    assert bool(degrees) == warned
    if warned:
        assert degrees[0].startswith("Output pixel size (PIXEL_SIZE) = 25 is in the units of the extent's CRS "
                                     "(EPSG:4326): pixels of 25 degrees, a grid of 1 x 1.")


def test_an_extent_alone_keeps_the_layers_pixel_width_and_height_when_they_differ(qgis_app, tmp_path):
    from rasters import random_rgba, write_raster

    path = write_raster(str(tmp_path / "tall_pixels.tif"), random_rgba(20, 30, seed=4)[:3],
                        geotransform=(500000.0, 25.0, 0.0, 7500000.0, 0.0, -50.0))
    whole = read_indices(quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "whole.tif")})["OUTPUT"])
    # Columns 4-13 and rows 2-9 of the layer's own grid.
    out = quantize({"INPUT": path, "PALETTE": "vga16", "EXTENT": "500100,500350,7499500,7499900 [EPSG:32635]",
                    "OUTPUT": str(tmp_path / "window.tif")})["OUTPUT"]
    assert gdal.Open(out).GetGeoTransform() == (500100.0, 25.0, 0.0, 7499900.0, 0.0, -50.0)
    assert np.array_equal(read_indices(out), whole[2:10, 4:14])


@pytest.mark.parametrize("pixel_size", [50.0, 12.5, 10.0, 1.25])
def test_pixel_size_resamples_with_the_layers_own_resampling_as_qgis_draws_it(qgis_app, tmp_path, pixel_size):
    """A layer styled with bilinear resampling is drawn smooth on a coarser or finer grid: the output
    is the nearest colours of what the map shows, not of a nearest-neighbour resampling (which
    differed in a fifth of the pixels), also on a grid taller than one block (1.25: 800 rows, where
    drawing each block resampled it otherwise). Compared where the map is opaque: QGIS's own drawing
    leaves some pixels at its edges partly transparent."""
    from qgis.core import QgsBilinearRasterResampler, QgsRasterLayer

    from rasters import write_raster

    rows, columns = np.mgrid[0:40, 0:50]
    image = np.stack([(columns * 5) % 256, (rows * 6) % 256, ((columns + rows) * 3) % 256]).astype(np.uint8)
    layer = QgsRasterLayer(write_raster(str(tmp_path / "in.tif"), image), "smooth")
    layer.resampleFilter().setZoomedInResampler(QgsBilinearRasterResampler())
    layer.resampleFilter().setZoomedOutResampler(QgsBilinearRasterResampler())
    assert_quantized_as_the_map_draws_it(layer, pixel_size, tmp_path)


@pytest.mark.parametrize("method", ["Bilinear", "Cubic"])
@pytest.mark.parametrize("pixel_size", [62.5, 10.0])
def test_pixel_size_resamples_early_as_the_layer_is_set_to(qgis_app, tmp_path, method, pixel_size):
    """Early resampling (Symbology > Resampling > Early resampling: the data provider resamples the
    values before they are styled) is kept: the output has the nearest colours of what the map shows,
    not of a nearest-neighbour drawing (which differed in nine pixels of ten)."""
    from qgis.core import Qgis, QgsRasterDataProvider, QgsRasterLayer

    from rasters import random_rgba, write_raster

    layer = QgsRasterLayer(write_raster(str(tmp_path / "in.tif"), random_rgba(40, 50, seed=3)[:3]), "early")
    layer.setResamplingStage(Qgis.RasterResamplingStage.Provider)
    resampling = getattr(QgsRasterDataProvider.ResamplingMethod, method)
    layer.dataProvider().setZoomedInResamplingMethod(resampling)
    layer.dataProvider().setZoomedOutResamplingMethod(resampling)
    assert_quantized_as_the_map_draws_it(layer, pixel_size, tmp_path)


def assert_quantized_as_the_map_draws_it(layer, pixel_size, tmp_path):
    """Quantized at ``pixel_size`` (win256), the layer's opaque pixels get the nearest entries of the
    colours a QGIS map of the output's grid shows."""
    from qgis.core import QgsRectangle

    from palettize.engine.nearest import brute_force_indices

    out = quantize({"INPUT": layer, "PALETTE": "win256", "PIXEL_SIZE": pixel_size,
                    "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    indices = read_indices(out)
    height, width = indices.shape
    x0, y0 = layer.extent().xMinimum(), layer.extent().yMaximum()
    drawn, alpha = drawn_on_map(layer, QgsRectangle(x0, y0 - height * pixel_size, x0 + width * pixel_size, y0),
                                width, height)
    expected = brute_force_indices(drawn.reshape(-1, 3), builtin_palette("win256").colours, "rgb").reshape(height, width)
    opaque = alpha == 255
    assert opaque.mean() > 0.9
    assert np.array_equal(indices[opaque], expected[opaque])


@pytest.mark.parametrize("pixel_size", [0.9, 2.3])
def test_a_grid_across_the_layers_pixels_and_edge_takes_the_pixel_under_each_centre_in_every_block(
        qgis_app, tmp_path, pixel_size):
    """An EXTENT reaching off the layer, on pixels finer or coarser than the layer's and not on its
    pixel edges: every output pixel holds the class of the layer's pixel under its centre (nodata
    where that is transparent or off the layer), and a taller extent over the same grid gives the
    same classes where the two meet. QGIS draws a block reaching off the layer, or on coarser
    pixels, from where it rounds the block's corner to: pixels up to one away, differently in each
    block (9,863 of 498,147 pixels changed when the extent grew by 300 rows)."""
    from rasters import write_raster

    rng = np.random.default_rng(5)
    classes = rng.integers(0, 16, (700, 650))
    alpha = np.where(rng.random(classes.shape) < 0.01, 0, 255).astype(np.uint8)
    bands = np.concatenate([np.array(VGA, dtype=np.uint8)[classes].transpose(2, 0, 1), alpha[None]])
    x0, y0 = 500000.0, 7500000.0
    path = write_raster(str(tmp_path / "in.tif"), bands, geotransform=(x0, 1.0, 0.0, y0, 0.0, -1.0), alpha=True)
    outputs = {}
    for name, top in (("short", 20.0), ("tall", 20.0 + 300 * pixel_size)):  # metres above the layer
        outputs[name] = read_indices(quantize({
            "INPUT": path, "PALETTE": "vga16", "PIXEL_SIZE": pixel_size, "OUTPUT": str(tmp_path / (name + ".tif")),
            "EXTENT": "{},{},{},{} [EPSG:32635]".format(x0 - 50, x0 + 600, y0 - 600, y0 + top)})["OUTPUT"])
        height, width = outputs[name].shape
        rows = np.floor((np.arange(height) + 0.5) * pixel_size - top).astype(int)  # the layer's, under each centre
        columns = np.floor((np.arange(width) + 0.5) * pixel_size - 50).astype(int)
        rows, columns = np.meshgrid(rows, columns, indexing="ij")
        on_layer = (rows >= 0) & (rows < 700) & (columns >= 0) & (columns < 650)
        under = (np.clip(rows, 0, 699), np.clip(columns, 0, 649))
        expected = np.where(on_layer & (alpha[under] == 255), classes[under], 255)
        assert np.array_equal(outputs[name], expected)
    short, tall = outputs["short"], outputs["tall"]
    assert np.array_equal(tall[300:300 + short.shape[0]], short)


def test_centres_on_the_edges_between_the_layers_pixels_pick_the_right_and_lower_one_throughout(qgis_app, tmp_path):
    """PIXEL_SIZE twice the layer's 0.1 m pixels, from its own corner far from the origin: every
    centre is on an edge between two of the layer's pixels, and each takes the right or lower one,
    every second pixel; the last digits of the coordinates took now one side, now the other."""
    from rasters import write_raster

    rng = np.random.default_rng(7)
    classes = rng.integers(0, 16, (300, 400))
    bands = np.array(VGA, dtype=np.uint8)[classes].transpose(2, 0, 1)
    path = write_raster(str(tmp_path / "in.tif"), bands, geotransform=(431234.57, 0.1, 0.0, 7512345.63, 0.0, -0.1))
    out = quantize({"INPUT": path, "PALETTE": "vga16", "PIXEL_SIZE": 0.2, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert np.array_equal(read_indices(out), classes[1::2, 1::2])


@pytest.mark.parametrize("placed,extent_crs,pixel_size", [
    ("geotransform", "the layer's", "10 m"), ("geotransform", "the layer's", "twice the view's"),
    ("geotransform", "EPSG:4326", "0.0002 degrees"), ("ground control points", "the layer's", "10 m")])
def test_a_rotated_raster_on_a_chosen_grid_is_nodata_beyond_the_file_never_black(qgis_app, tmp_path, placed,
                                                                                extent_crs, pixel_size):
    """QGIS draws a rotated raster in a north-up view warped from it, whose corners beyond the file
    QGIS 3.22 draws black (3.40 transparent): an all-white map came out with 4,910 pixels of class 0.
    Which pixels QGIS took from beyond the file depends on how it draws them (a view's pixel picked
    by the centre, a map tile, QGIS's own approximate reprojection): a twin of the file drawn the same
    way tells."""
    from rasters import UTM35N, write_raster

    geotransform = (500000.0, 10.0, 3.0, 7500000.0, 3.0, -10.0)  # turned about 17 degrees
    white = np.full((3, 80, 100), 255, dtype=np.uint8)
    path = write_raster(str(tmp_path / "rotated.tif"), white, geotransform=geotransform)
    if placed == "ground control points":
        dataset = gdal.Open(path, gdal.GA_Update)
        gcps = [gdal.GCP(geotransform[0] + c * geotransform[1] + r * geotransform[2],
                         geotransform[3] + c * geotransform[4] + r * geotransform[5], 0.0, c, r)
                for c, r in ((0, 0), (100, 0), (0, 80), (100, 80))]
        dataset.SetGCPs(gcps, UTM35N.ExportToWkt())  # in place of the geotransform
        dataset = None
        assert gdal.Open(path).GetGeoTransform(can_return_null=True) is None
    parameters = {"INPUT": path, "PALETTE": "vga16", "PIXEL_SIZE": 10, "OUTPUT": str(tmp_path / "out.tif")}
    if pixel_size == "twice the view's":  # centres on the edges between the view's pixels
        from qgis.core import QgsRasterLayer

        view = QgsRasterLayer(path, "view")
        parameters["PIXEL_SIZE"] = 2 * view.extent().width() / view.width()
    if extent_crs != "the layer's":
        parameters.update(EXTENT="26.99765,27.03295,67.60655,67.62001 [EPSG:4326]", PIXEL_SIZE=0.0002)
    out = quantize(parameters)["OUTPUT"]
    dataset = gdal.Open(out)
    indices, (x0, dx, _, y0, _, dy) = dataset.ReadAsArray(), dataset.GetGeoTransform()
    # Each output pixel's centre in the file's own pixels: well inside it is white, well outside nodata.
    rows, columns = np.mgrid[0:indices.shape[0], 0:indices.shape[1]] + 0.5
    x, y = x0 + columns * dx, y0 + rows * dy
    if extent_crs != "the layer's":
        wgs84 = osr.SpatialReference()
        wgs84.ImportFromEPSG(4326)
        utm = UTM35N.Clone()
        for srs in (wgs84, utm):
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        points = np.array(osr.CoordinateTransformation(wgs84, utm).TransformPoints(
            np.column_stack([x.ravel(), y.ravel()])))
        x, y = points[:, 0].reshape(x.shape), points[:, 1].reshape(x.shape)
    (f0, f1, f2, f3, f4, f5), det = geotransform, geotransform[1] * geotransform[5] - geotransform[2] * geotransform[4]
    u = (f5 * (x - f0) - f2 * (y - f3)) / det
    v = (f1 * (y - f3) - f4 * (x - f0)) / det
    depth = np.minimum.reduce([u, 100 - u, v, 80 - v])  # pixels inside the file's edge (negative: outside)
    assert (indices[depth > 1.5] == 15).all() and (indices[depth < -1.5] == 255).all()
    assert np.isin(indices, [15, 255]).all()  # at the file's edge too
    assert (depth > 1.5).sum() > 1000 and (depth < -1.5).sum() > 1000


def test_a_mirrored_raster_on_a_chosen_pixel_size_is_resampled(qgis_app, tmp_path):
    """QGIS 3.40 gives a mirrored raster an inverted (empty) extent and draws nothing of it on another
    grid: the run said "Output extent (EXTENT) is empty", a setting the user never gave (then it was
    refused, naming the cause). Its own pixels are drawn and picked now, on every version."""
    from rasters import write_raster

    values = np.random.default_rng(14).integers(0, 256, (3, 30, 40), dtype=np.uint8)
    path = write_raster(str(tmp_path / "mirrored.tif"), values, geotransform=(500000.0, -20.0, 0.0, 7500000.0, 0.0,
                                                                              -20.0))
    parameters = {"INPUT": path, "PALETTE": "vga16", "PIXEL_SIZE": 20, "OUTPUT": str(tmp_path / "out.tif")}
    out = quantize(parameters)["OUTPUT"]
    palette = builtin_palette("vga16").colours.astype(np.int64)
    colours = np.moveaxis(values, 0, -1)[:, ::-1].astype(np.int64)  # turned east-west: north-up
    expected = ((colours[..., None, :] - palette) ** 2).sum(axis=-1).argmin(axis=-1)
    assert gdal.Open(out).GetGeoTransform() == (499200.0, 20.0, 0.0, 7500000.0, 0.0, -20.0)
    assert np.array_equal(read_indices(out), expected)


@pytest.mark.parametrize("geotransform", [
    (500000.0, 20.0, 5.0, 7500000.0, 4.0, -22.0),   # rotated
    (500000.0, 20.0, 0.0, 7500000.0, 0.0, 22.0),    # south-up
    (500000.0, -20.0, 0.0, 7500000.0, 0.0, -22.0),  # mirrored
])
@pytest.mark.parametrize("crs, pixel_size", [(None, 7), (None, 23), ("EPSG:3857", 40)])
def test_a_raster_that_is_not_north_up_on_a_chosen_grid_takes_its_pixel_under_each_centre(
        qgis_app, tmp_path, geotransform, crs, pixel_size):
    """QGIS draws such a raster as a north-up view it warps it into, and picking from that view took
    a neighbour of the pixel under the centre for a quarter to a third of the pixels."""
    path, classes = classes_and_colours(tmp_path, 150, 200, seed=6, alpha=True, geotransform=geotransform)
    grid = {"PIXEL_SIZE": pixel_size}
    if crs:  # the raster's bounds there (QGIS 3.40 gives a mirrored raster an empty extent)
        view = gdal.Warp("", classes, format="VRT", dstSRS=crs)
        west, size, _, north, _, _ = view.GetGeoTransform()
        grid["EXTENT"] = "{},{},{},{} [{}]".format(west, west + size * view.RasterXSize,
                                                   north - size * view.RasterYSize, north, crs)
    out = quantize(dict({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")}, **grid))["OUTPUT"]
    expected, on_edge = under_the_centres(classes, out)
    indices = read_indices(out)
    assert (expected != 255).mean() > 0.5 and on_edge.mean() < 0.01
    assert np.array_equal(indices[~on_edge], expected[~on_edge])


@pytest.mark.parametrize("layer, rows, cols, crs, extent, pixel_size", [
    # 170 E to 170 W, written as 170..190: picked across the antimeridian as gdalwarp wraps longitudes
    ((170.0, 0.1, 0.0, 10.0, 0.0, -0.1), 100, 200, "EPSG:3832", None, 10000),
    # 0..360, asked for in -180..180 in its own CRS: the western half wrapped too
    ((0.0, 1.0, 0.0, 60.0, 0.0, -1.0), 120, 360, "EPSG:4326", (-180, 180, -60, 60), 0.73),
    # a polar cap, onto a grid holding the pole, where the interpolation between samples misses most
    ((-180.0, 0.15, 0.0, 90.0, 0.0, -0.15), 600, 2400, "EPSG:3413", (-450000, 450000, -900000, -112500), 2250),
])
def test_a_geographic_layer_is_picked_across_the_antimeridian_and_around_the_pole(
        qgis_app, tmp_path, layer, rows, cols, crs, extent, pixel_size):
    """Longitudes come back from PROJ in -180..180: a layer reaching past 180 was nodata beyond it.
    Near the pole the positions interpolated between exact samples missed by more than the margin
    the interpolation was trusted with (0.19 pixel), and pixels took a neighbour's class."""
    path, classes = classes_and_colours(tmp_path, rows, cols, seed=8, geotransform=layer, epsg=4326)
    if extent is None:
        view = gdal.Warp("", classes, format="VRT", dstSRS=crs)
        west, size, _, north, _, _ = view.GetGeoTransform()
        extent = (west, west + size * view.RasterXSize, north - size * view.RasterYSize, north)
    out = quantize({"INPUT": path, "PALETTE": "vga16", "EXTENT": "{},{},{},{} [{}]".format(*extent, crs),
                    "PIXEL_SIZE": pixel_size, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    expected, on_edge = under_the_centres(classes, out)
    indices = read_indices(out)
    assert (expected != 255).mean() > 0.5 and on_edge.mean() < 0.01
    assert np.array_equal(indices[~on_edge], expected[~on_edge])
