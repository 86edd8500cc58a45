"""Drawn layers come out cell for cell on the input's own grid, whatever its geotransform: north-up,
south-up, rotated, or none at all (a PNG or GIF without georeferencing)."""

import numpy as np
import pytest
from osgeo import gdal

from palettize.palettes.palette import builtin_palette
from rasters import NORTH_UP, UTM35N, quantize, read_indices

GEOTRANSFORMS = {
    "north-up": NORTH_UP,
    "south-up": (500000.0, 25.0, 0.0, 7400000.0, 0.0, 25.0),
    "rotated": (500000.0, 24.0, 7.0, 7500000.0, 7.0, -24.0),
    "mirrored": (500000.0, -25.0, 0.0, 7500000.0, 0.0, -25.0),
    "south-up and mirrored": (500000.0, -25.0, 0.0, 7400000.0, 0.0, 25.0),
}
COLOURS = np.random.default_rng(5).integers(0, 256, (16, 3), dtype=np.uint8)


def save(path, driver, values, geotransform=None, colours=None):
    """A raster (bands, rows, cols) written through a MEM copy, as other programs write them."""
    values = np.asarray(values)
    kind = gdal.GDT_Byte if values.dtype == np.uint8 else gdal.GDT_UInt16
    memory = gdal.GetDriverByName("MEM").Create("", values.shape[2], values.shape[1], len(values), kind)
    for i, band in enumerate(values, 1):
        memory.GetRasterBand(i).WriteArray(band)
    if geotransform is not None:
        memory.SetGeoTransform(geotransform)
        memory.SetSpatialRef(UTM35N)
    if colours is not None:
        table = gdal.ColorTable()
        for index, (r, g, b) in enumerate(colours.tolist()):
            table.SetColorEntry(index, (r, g, b, 255))
        memory.GetRasterBand(1).SetRasterColorTable(table)
    gdal.GetDriverByName(driver).CreateCopy(path, memory)
    return path


def nearest_vga16(colours):
    """Brute force: the lowest vga16 index at the smallest RGB distance from each colour."""
    palette = builtin_palette("vga16").colours.astype(np.int64)
    distances = ((colours.astype(np.int64)[..., None, :] - palette) ** 2).sum(axis=-1)
    return distances.argmin(axis=-1)


def paletted_values(rows=9, cols=13):
    return np.random.default_rng(rows * cols).integers(0, 16, (1, rows, cols), dtype=np.uint8)


def output_geotransform(path):
    return gdal.Open(path).GetGeoTransform(can_return_null=True)


@pytest.mark.parametrize("kind", sorted(GEOTRANSFORMS))
def test_paletted_geotiff_gives_the_brute_force_indices_cell_for_cell(qgis_app, tmp_path, kind):
    values = paletted_values()
    path = save(str(tmp_path / "in.tif"), "GTiff", values, GEOTRANSFORMS[kind], COLOURS)
    output = quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert np.array_equal(read_indices(output), nearest_vga16(COLOURS[values[0]]))
    assert output_geotransform(output) == GEOTRANSFORMS[kind]


@pytest.mark.parametrize("kind", sorted(GEOTRANSFORMS))
def test_an_rgb_geotiff_without_alpha_gives_the_brute_force_indices_cell_for_cell(qgis_app, tmp_path, kind):
    """QGIS 3.40 styles a raster that is not north-up with the alpha band of the warped view it
    draws it in (band 4 of a 3-band file): drawn on the file's own grid, the run failed ("QGIS
    could not draw block ... of layer unrotated.vrt")."""
    values = np.random.default_rng(9).integers(0, 256, (3, 9, 13), dtype=np.uint8)
    path = save(str(tmp_path / "in.tif"), "GTiff", values, GEOTRANSFORMS[kind])
    output = quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert np.array_equal(read_indices(output), nearest_vga16(np.moveaxis(values, 0, -1)))
    assert output_geotransform(output) == GEOTRANSFORMS[kind]
    assert gdal.Open(output).GetRasterBand(1).GetNoDataValue() is None  # opaque: no nodata (QGIS 3.40 gave 255)


@pytest.mark.parametrize("kind", ["rotated", "mirrored"])
def test_drawing_a_raster_on_its_own_grid_writes_nothing_beside_it(qgis_app, tmp_path, kind):
    """Drawn on its own grid through a VRT of it, its default style's statistics were saved by GDAL
    beside the user's file (in.tif.aux.xml, QGIS 3.40)."""
    import os

    folder = tmp_path / "maps"
    folder.mkdir()
    values = np.random.default_rng(11).integers(0, 256, (3, 9, 13), dtype=np.uint8)
    path = save(str(folder / "in.tif"), "GTiff", values, GEOTRANSFORMS[kind])
    quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})
    assert os.listdir(str(folder)) == ["in.tif"]


@pytest.mark.parametrize("kind", sorted(set(GEOTRANSFORMS) - {"north-up"}))
def test_a_grey_geotiff_is_drawn_as_its_north_up_twin_with_the_same_style(qgis_app, tmp_path, kind):
    """The style QGIS gives a grey raster: stretched by the statistics of the view it draws it in
    (QGIS 3.22: the warped view's, its empty corners included), with that view's alpha band (3.40)."""
    from qgis.core import QgsRasterLayer

    values = np.random.default_rng(10).integers(0, 256, (1, 11, 17), dtype=np.uint8)
    layer = QgsRasterLayer(save(str(tmp_path / "in.tif"), "GTiff", values, GEOTRANSFORMS[kind]), "grey")
    twin = QgsRasterLayer(save(str(tmp_path / "twin.tif"), "GTiff", values, NORTH_UP), "twin")
    style = layer.renderer().clone()
    style.setAlphaBand(-1)  # the twin has no band 2
    twin.setRenderer(style)
    output = quantize({"INPUT": layer, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    reference = quantize({"INPUT": twin, "PALETTE": "win256", "OUTPUT": str(tmp_path / "ref.tif")})["OUTPUT"]
    assert np.array_equal(read_indices(output), read_indices(reference))
    assert output_geotransform(output) == GEOTRANSFORMS[kind]


@pytest.mark.parametrize("driver,extension", [("PNG", "png"), ("GIF", "gif")])
def test_paletted_image_without_georeferencing_gives_the_brute_force_indices(qgis_app, tmp_path, driver, extension):
    values = paletted_values()
    path = save(str(tmp_path / ("in." + extension)), driver, values, colours=COLOURS)
    output = quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert np.array_equal(read_indices(output), nearest_vga16(COLOURS[values[0]]))
    assert output_geotransform(output) is None


@pytest.mark.parametrize("case", ["grey png", "uint16 rgb tiff"])
def test_image_without_georeferencing_is_drawn_as_its_georeferenced_twin(qgis_app, tmp_path, case):
    """Stretched renderers have no brute-force reference of their own: the same pixels with a
    north-up geotransform are drawn on their own grid (checked above), so must give the same indices."""
    rng = np.random.default_rng(8)
    if case == "grey png":
        values, driver, extension = rng.integers(0, 256, (1, 11, 17), dtype=np.uint8), "PNG", "png"
    else:
        values, driver, extension = rng.integers(0, 4000, (3, 11, 17), dtype=np.uint16), "GTiff", "tif"
    plain = save(str(tmp_path / ("plain." + extension)), driver, values)
    twin = save(str(tmp_path / "twin.tif"), "GTiff", values, NORTH_UP)
    output = quantize({"INPUT": plain, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    reference = quantize({"INPUT": twin, "PALETTE": "win256", "OUTPUT": str(tmp_path / "ref.tif")})["OUTPUT"]
    indices = read_indices(output)
    assert np.array_equal(indices, read_indices(reference))
    assert len(np.unique(indices)) > 10  # drawn, not all nodata
    assert output_geotransform(output) is None


@pytest.mark.parametrize("kind", ["south-up"])
def test_a_hillshade_of_a_flipped_raster_is_shaded_as_qgis_draws_it(qgis_app, tmp_path, kind):
    """A south-up elevation raster (as NetCDF files often are) styled as a hillshade: QGIS shades it
    turned north-up, with its own pixel size; the output has the same shades, each on its own cell
    of the input's grid. (A mirrored one is drawn on its pixel grid: QGIS versions place it apart.)"""
    from qgis.core import QgsHillshadeRenderer, QgsRasterLayer

    from palettize.engine.nearest import brute_force_indices
    from rasters import drawn_on_map

    rows, columns = np.mgrid[0:60, 0:50]
    heights = (np.sin(columns / 7.0) * 80 + np.cos(rows / 9.0) * 60 + rows * 3.0).astype(np.float32)
    path = str(tmp_path / "dem.tif")
    dataset = gdal.GetDriverByName("GTiff").Create(path, 50, 60, 1, gdal.GDT_Float32)
    dataset.SetGeoTransform(GEOTRANSFORMS[kind])
    dataset.SetSpatialRef(UTM35N)
    dataset.GetRasterBand(1).WriteArray(heights)
    dataset = None
    layer = QgsRasterLayer(path, "dem", "gdal")
    layer.setRenderer(QgsHillshadeRenderer(layer.dataProvider(), 1, 315, 45))
    out = quantize({"INPUT": layer, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert output_geotransform(out) == GEOTRANSFORMS[kind]
    drawn, alpha = drawn_on_map(layer, layer.extent(), 50, 60)
    assert (alpha == 255).all()
    north_up = brute_force_indices(drawn.reshape(-1, 3), builtin_palette("win256").colours, "rgb").reshape(60, 50)
    x_step, y_step = GEOTRANSFORMS[kind][1], GEOTRANSFORMS[kind][5]
    assert read_indices(out).tolist() == north_up[::1 if y_step < 0 else -1, ::1 if x_step > 0 else -1].tolist()


def terrain():
    rows, columns = np.mgrid[0:40, 0:50]
    return (np.sin(columns / 5.0) * 30 + np.cos(rows / 7.0) * 20 + rows * 2.0).astype(np.float32)


def hillshade_layer(path, values, name, geotransform=None, gcps=None, multidirectional=False):
    """A Float32 elevation raster at ``path`` (10 m pixels), as a layer styled as a hillshade."""
    from qgis.core import QgsHillshadeRenderer, QgsRasterLayer

    dataset = gdal.GetDriverByName("GTiff").Create(path, values.shape[1], values.shape[0], 1, gdal.GDT_Float32)
    if gcps is not None:
        dataset.SetGCPs(gcps, UTM35N.ExportToWkt())
    else:
        dataset.SetGeoTransform(geotransform)
        dataset.SetSpatialRef(UTM35N)
    dataset.GetRasterBand(1).WriteArray(np.ascontiguousarray(values))
    dataset = None
    layer = QgsRasterLayer(path, name, "gdal")
    renderer = QgsHillshadeRenderer(layer.dataProvider(), 1, 315, 45)
    renderer.setMultiDirectional(multidirectional)
    layer.setRenderer(renderer)
    return layer


QUARTER_TURN = (500000.0 + 10.0 * 50, 0.0, -10.0, 7500000.0, -10.0, 0.0)  # rows run west, columns south
NORTH_UP_10M = (500000.0, 10.0, 0.0, 7500000.0, 0.0, -10.0)


def test_a_multidirectional_hillshade_of_a_rotated_raster_is_refused_saying_what_to_do(qgis_app, tmp_path):
    """Multidirectional shading lights the map from directions fixed to it, which a quarter-turned
    raster's own grid cannot keep (its shades differed from QGIS's in 9,626 of 9,976 pixels). On a
    north-up grid (PIXEL_SIZE) it comes out as the same terrain north-up does."""
    from qgis.core import QgsProcessingException

    heights = terrain()
    turned = hillshade_layer(str(tmp_path / "turned.tif"), heights[:, ::-1].T, "turned", QUARTER_TURN,
                             multidirectional=True)
    with pytest.raises(QgsProcessingException, match="multidirectional hillshade.*Set PIXEL_SIZE"):
        quantize({"INPUT": turned, "PALETTE": "gray256", "OUTPUT": str(tmp_path / "out.tif")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["turned.tif"]
    north_up = hillshade_layer(str(tmp_path / "north.tif"), heights, "north", NORTH_UP_10M, multidirectional=True)
    drawn = quantize({"INPUT": turned, "PALETTE": "gray256", "PIXEL_SIZE": 10, "OUTPUT": str(tmp_path / "a.tif")})
    twin = quantize({"INPUT": north_up, "PALETTE": "gray256", "OUTPUT": str(tmp_path / "b.tif")})
    assert output_geotransform(drawn["OUTPUT"]) == NORTH_UP_10M
    assert np.array_equal(read_indices(drawn["OUTPUT"]), read_indices(twin["OUTPUT"]))


def test_a_hillshade_of_a_raster_placed_by_ground_control_points_is_shaded_as_its_terrain_north_up(qgis_app,
                                                                                                    tmp_path):
    """Points that place a quarter-turned grid of 10 m pixels: shaded on its pixel grid, it was lit
    as if its pixels were one unit wide and not turned (4,165 of 4,256 pixels off by more than 2)."""
    heights = terrain()
    x0, y0 = 500000.0, 7500000.0
    corners = [(0, 0), (40, 0), (0, 50), (40, 50), (20, 25)]  # (column, row) of the turned raster
    gcps = [gdal.GCP(x0 + 10.0 * (50 - row), y0 - 10.0 * column, 0.0, column, row) for column, row in corners]
    placed = hillshade_layer(str(tmp_path / "placed.tif"), heights[:, ::-1].T, "placed", gcps=gcps)
    north_up = hillshade_layer(str(tmp_path / "north.tif"), heights, "north", NORTH_UP_10M)
    shaded = read_indices(quantize({"INPUT": placed, "PALETTE": "gray256", "OUTPUT": str(tmp_path / "a.tif")})["OUTPUT"])
    twin = read_indices(quantize({"INPUT": north_up, "PALETTE": "gray256", "OUTPUT": str(tmp_path / "b.tif")})["OUTPUT"])
    assert np.abs(shaded.astype(int) - twin[:, ::-1].T).max() <= 1


@pytest.mark.parametrize("turn", ["a quarter turn", "a hair"])
def test_a_hillshade_of_a_rotated_raster_is_shaded_as_the_same_terrain_north_up(qgis_app, tmp_path, turn):
    """A rotated elevation raster is drawn on its own grid: with its pixels' size (10 m here; drawn as
    1 unit wide, its slopes came out ten times as steep) and the light turned with the grid. The
    same terrain turned a quarter (rows running west) gives the north-up shades cell for cell."""
    from qgis.core import QgsHillshadeRenderer, QgsRasterLayer

    rows, columns = np.mgrid[0:40, 0:50]
    heights = (np.sin(columns / 5.0) * 30 + np.cos(rows / 7.0) * 20 + rows * 2.0).astype(np.float32)
    x0, y0 = 500000.0, 7500000.0
    if turn == "a quarter turn":  # pixel (row r, column c) is the north-up pixel (c, 49 - r)
        rotated, geotransform = heights[:, ::-1].T, (x0 + 10.0 * 50, 0.0, -10.0, y0, -10.0, 0.0)
    else:
        rotated, geotransform = heights, (x0, 10.0, 1e-6, y0, 1e-6, -10.0)
    outputs = []
    for name, values, transform in (("north-up", heights, (x0, 10.0, 0.0, y0, 0.0, -10.0)),
                                    ("rotated", rotated, geotransform)):
        path = str(tmp_path / (name + ".tif"))
        dataset = gdal.GetDriverByName("GTiff").Create(path, values.shape[1], values.shape[0], 1, gdal.GDT_Float32)
        dataset.SetGeoTransform(transform)
        dataset.SetSpatialRef(UTM35N)
        dataset.GetRasterBand(1).WriteArray(np.ascontiguousarray(values))
        dataset = None
        layer = QgsRasterLayer(path, name, "gdal")
        layer.setRenderer(QgsHillshadeRenderer(layer.dataProvider(), 1, 315, 45))
        out = quantize({"INPUT": layer, "PALETTE": "gray256", "OUTPUT": str(tmp_path / (name + "-shades.tif"))})
        outputs.append(read_indices(out["OUTPUT"]).astype(int))
    north_up, shaded = outputs
    expected = north_up[:, ::-1].T if turn == "a quarter turn" else north_up
    assert len(np.unique(north_up)) > 50
    assert np.array_equal(shaded, expected)
