"""The output is Byte whenever Byte can hold every value: an opaque map quantized to 256 colours
is a Byte raster without nodata, as rgb2pct and OpendTect expect; a map with transparent pixels
keeps a nodata value outside the palette."""

import os
import zipfile

import numpy as np
import pytest
from osgeo import gdal

from palettize.engine.nearest import brute_force_indices
from palettize.palettes.palette import builtin_palette
from rasters import feedback_log, quantize, random_rgba, read_indices, write_raster



def _band(path):
    """(data type name, nodata, colour table entries as RGB)."""
    dataset = gdal.Open(path)
    band = dataset.GetRasterBand(1)
    table = band.GetColorTable()
    colours = [table.GetColorEntry(i)[:3] for i in range(table.GetCount())]
    return gdal.GetDataTypeName(band.DataType), band.GetNoDataValue(), colours


def test_a_one_colour_palette_is_told_as_one_colour(qgis_app, tmp_path):
    """The log said "1 colours" (and the report "Quantized to 1 colours")."""
    (tmp_path / "one.csv").write_text("red,green,blue,label\n200,10,10,granite\n")
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(4, 5, seed=3), alpha=True)
    log = feedback_log()
    out = quantize({"INPUT": path, "PALETTE_FILE": str(tmp_path / "one.csv"), "OUTPUT": str(tmp_path / "out.tif"),
                    "OUTPUT_REPORT": str(tmp_path / "report.html")}, feedback=log)["OUTPUT"]
    assert set(np.unique(read_indices(out))) == {0, 255}
    assert any(line.startswith("Palette: 1 colour (palette file ") for line in log.infos)
    assert any(line.startswith("1 colour + nodata fit in 256 values: writing Byte with nodata 255") for line in log.infos)
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Quantized to 1 colour: out.tif" in report and "(1 colour)," in report and "1 colours" not in report


def test_an_opaque_rgb_map_quantized_to_256_colours_is_byte_without_nodata(qgis_app, tmp_path):
    rgb = random_rgba(40, 50, seed=3)[:3]
    path = write_raster(str(tmp_path / "in.tif"), rgb)
    log = feedback_log()
    out = quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")}, feedback=log)["OUTPUT"]
    data_type, nodata, table = _band(out)
    assert (data_type, nodata) == ("Byte", None)
    win256 = builtin_palette("win256").colours
    assert table == [tuple(c) for c in win256.tolist()]
    expected = brute_force_indices(np.transpose(rgb, (1, 2, 0)), win256, "rgb").reshape(40, 50)
    assert np.array_equal(read_indices(out), expected)
    assert "256 colours and an opaque input (no alpha band, mask or nodata): writing Byte without nodata." in log.infos


@pytest.mark.parametrize("source", ["rendered", "bands"])
def test_an_opaque_map_inside_a_zip_file_is_read_as_its_bands_like_the_map_itself(qgis_app, tmp_path, source):
    """A layer QGIS opens through GDAL's /vsizip/ is read with GDAL too: the same Byte raster
    without nodata as from the unzipped map (not drawn as possibly transparent), and SOURCE=bands works."""
    from qgis.core import QgsRasterLayer

    rgb = random_rgba(20, 30, seed=4)[:3]
    path = write_raster(str(tmp_path / "map.tif"), rgb)
    with zipfile.ZipFile(str(tmp_path / "maps.zip"), "w") as archive:
        archive.write(path, "sheets/map.tif")
    layer = QgsRasterLayer("/vsizip/{}/sheets/map.tif".format(tmp_path / "maps.zip"), "zipped", "gdal")
    assert layer.isValid()
    out = quantize({"INPUT": layer, "SOURCE": source, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")})
    assert _band(out["OUTPUT"])[:2] == ("Byte", None)
    expected = brute_force_indices(np.transpose(rgb, (1, 2, 0)), builtin_palette("win256").colours, "rgb")
    assert np.array_equal(read_indices(out["OUTPUT"]), expected.reshape(20, 30))
    assert gdal.Open(out["OUTPUT"]).GetGeoTransform() == gdal.Open(path).GetGeoTransform()


def test_a_map_with_an_alpha_band_keeps_uint16_and_nodata_65535_for_256_colours(qgis_app, tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(20, 30, seed=4), alpha=True)
    log = feedback_log()
    out = quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")}, feedback=log)["OUTPUT"]
    assert _band(out)[:2] == ("UInt16", 65535.0)
    assert "256 colours + nodata need more than 256 values: writing UInt16 with nodata 65535 (the input may have " \
           "transparent pixels: alpha band 4)." in log.infos


def test_the_log_says_what_may_leave_pixels_transparent_where_it_writes_nodata(qgis_app, tmp_path):
    """An opaque RGB layer drawn on a grid of its own (PIXEL_SIZE) was said to have an alpha band, a
    mask or nodata, which it has not: it is drawn by QGIS, which may leave pixels transparent."""
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(20, 30, seed=4)[:3])
    log = feedback_log()
    quantize({"INPUT": path, "PALETTE": "win256", "PIXEL_SIZE": 20, "OUTPUT": str(tmp_path / "out.tif")}, feedback=log)
    assert "256 colours + nodata need more than 256 values: writing UInt16 with nodata 65535 (the input may have " \
           "transparent pixels: a layer QGIS draws, whose style, nodata or a grid beyond it may leave some)." \
           in log.infos


def _rgba_map(path, alpha, tile=16):
    """A tiled RGBA GeoTIFF of random colours with this alpha band (the scan reads it tile by tile)."""
    rgba = random_rgba(*alpha.shape, seed=8)
    rgba[3] = alpha
    return write_raster(path, rgba, alpha=True,
                        options=["TILED=YES", "BLOCKXSIZE={}".format(tile), "BLOCKYSIZE={}".format(tile)]), rgba


def _nearest_win256(rgba):
    return brute_force_indices(np.transpose(rgba[:3], (1, 2, 0)), builtin_palette("win256").colours,
                               "rgb").reshape(rgba.shape[1:])


@pytest.mark.parametrize("alpha", [255, 200], ids=["opaque", "partly-above-threshold"])
def test_a_map_whose_alpha_band_leaves_no_pixel_transparent_is_byte_without_nodata_like_an_rgb_map(
        qgis_app, tmp_path, alpha):
    """An alpha band, but no pixel below ALPHA_THRESHOLD: 256 colours fit in a Byte, as for an RGB map."""
    path, rgba = _rgba_map(str(tmp_path / "in.tif"), np.full((40, 50), alpha, np.uint8))
    log = feedback_log()
    out = quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")}, feedback=log)["OUTPUT"]
    assert _band(out)[:2] == ("Byte", None)
    assert np.array_equal(read_indices(out), _nearest_win256(rgba))
    assert ("256 colours and an opaque input (no transparent pixel where sampled; every block is checked): writing "
            "Byte without nodata.") in log.infos


def test_a_print_layout_exported_as_tiff_is_quantized_to_byte_without_nodata(qgis_app, tmp_path):
    """QGIS exports a print layout as a georeferenced RGBA TIFF whose alpha is 255 everywhere."""
    from qgis.core import (QgsApplication, QgsCoordinateReferenceSystem, QgsLayoutExporter, QgsLayoutItemMap,
                           QgsLayoutPoint, QgsLayoutSize, QgsPrintLayout, QgsProject, QgsRectangle, QgsVectorLayer)

    countries = os.path.join(QgsApplication.pkgDataPath(), "resources", "data", "world_map.gpkg")
    project = QgsProject()
    layer = QgsVectorLayer(countries + "|layername=countries", "countries", "ogr")
    assert layer.isValid()
    project.addMapLayer(layer)
    project.setCrs(QgsCoordinateReferenceSystem("EPSG:4326"))
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    item = QgsLayoutItemMap(layout)
    item.attemptMove(QgsLayoutPoint(0, 0))
    item.attemptResize(QgsLayoutSize(297, 210))
    item.setExtent(QgsRectangle(0, 35, 30, 60))
    item.setLayers([layer])
    layout.addLayoutItem(item)
    layout.setReferenceMap(item)
    settings = QgsLayoutExporter.ImageExportSettings()
    settings.dpi = 40
    path = str(tmp_path / "layout.tif")
    assert QgsLayoutExporter(layout).exportToImage(path, settings) == QgsLayoutExporter.ExportResult.Success
    rgba = gdal.Open(path).ReadAsArray()
    assert rgba.shape[0] == 4 and rgba[3].min() == 255
    out = quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert _band(out)[:2] == ("Byte", None)
    assert np.array_equal(read_indices(out), _nearest_win256(rgba))
    assert gdal.Open(out).GetGeoTransform() == gdal.Open(path).GetGeoTransform()


def test_a_single_transparent_pixel_in_the_last_tile_keeps_uint16_and_becomes_nodata(qgis_app, tmp_path):
    alpha = np.full((40, 50), 255, np.uint8)
    alpha[-1, -1] = 0
    path, rgba = _rgba_map(str(tmp_path / "in.tif"), alpha)
    out = quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert _band(out)[:2] == ("UInt16", 65535.0)
    expected = _nearest_win256(rgba)
    expected[-1, -1] = 65535
    assert np.array_equal(read_indices(out), expected)


def test_a_transparent_pixel_where_the_guess_did_not_look_has_the_map_written_again_with_nodata(qgis_app, tmp_path):
    """The alpha band is sampled along both diagonals before writing; a transparent pixel elsewhere
    is found as its block is mapped, and the run writes the output again with nodata."""
    alpha = np.full((1100, 600), 255, np.uint8)
    alpha[1050, 300] = 0  # in no window along either diagonal, in the last of three blocks
    path, rgba = _rgba_map(str(tmp_path / "in.tif"), alpha, tile=128)
    log = feedback_log()
    shown = []
    log.progressChanged.connect(shown.append)
    out = quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")}, feedback=log)["OUTPUT"]
    assert shown == sorted(set(shown)) and shown[-1] == 100  # the bar goes on from where the first pass stopped
    assert _band(out)[:2] == ("UInt16", 65535.0)
    expected = _nearest_win256(rgba)
    expected[1050, 300] = 65535
    assert np.array_equal(read_indices(out), expected)
    assert any("transparent pixels after all" in line for line in log.infos)
    assert sorted(name for name in os.listdir(str(tmp_path)) if not name.startswith("in.")) == [
        "out.qml", "out.tif", "out.tif.aux.xml"]  # nothing left of the first pass


@pytest.mark.parametrize("extension", ["gif", "bmp"])
def test_a_map_whose_alpha_band_is_opaque_can_be_written_in_a_byte_only_format(qgis_app, tmp_path, extension):
    """The check before the run guesses as the run does: 256 colours without nodata fit a GIF or BMP."""
    path, rgba = _rgba_map(str(tmp_path / "in.tif"), np.full((40, 50), 255, np.uint8))
    out = quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(tmp_path / ("out." + extension))})["OUTPUT"]
    assert _band(out)[:2] == ("Byte", None)
    assert np.array_equal(read_indices(out), _nearest_win256(rgba))


def test_the_run_takes_the_opacity_guess_of_its_check_instead_of_sampling_the_alpha_band_again(
        qgis_app, tmp_path, monkeypatch):
    """The check before a run samples the alpha band to choose the output type (see above); the run
    goes on with that guess, checked on every block, instead of reading the same windows again."""
    from palettize.engine import gdal_io

    path, rgba = _rgba_map(str(tmp_path / "in.tif"), np.full((300, 200), 255, np.uint8))
    sampled = []
    sample = gdal_io.BandSource._none_below
    monkeypatch.setattr(gdal_io.BandSource, "_none_below",
                        lambda source, threshold, windows: sampled.append(threshold) or sample(source, threshold, windows))
    out = quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert sampled == [128]
    assert _band(out)[:2] == ("Byte", None)
    assert np.array_equal(read_indices(out), _nearest_win256(rgba))


def test_a_sheet_smaller_than_a_sampling_window_has_its_alpha_band_read_once_for_the_guess(
        qgis_app, tmp_path, monkeypatch):
    """The guess reads windows along both diagonals; on a small sheet they are all the whole sheet,
    which was read ten times."""
    from palettize.engine import gdal_io

    path, rgba = _rgba_map(str(tmp_path / "in.tif"), np.full((64, 48), 255, np.uint8))
    read, sample = [], gdal_io.BandSource._none_below

    def sampled(source, threshold, windows):
        windows = list(windows)
        read.extend(windows)
        return sample(source, threshold, windows)
    monkeypatch.setattr(gdal_io.BandSource, "_none_below", sampled)
    out = quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert read == [(0, 0, 48, 64)]
    assert _band(out)[:2] == ("Byte", None)
    assert np.array_equal(read_indices(out), _nearest_win256(rgba))


def test_a_transparent_pixel_the_guess_missed_refuses_a_byte_only_format_and_leaves_nothing(qgis_app, tmp_path):
    from qgis.core import QgsProcessingException

    alpha = np.full((1100, 600), 255, np.uint8)
    alpha[1050, 300] = 0  # in no window along either diagonal, in the last of three blocks
    path, _rgba = _rgba_map(str(tmp_path / "in.tif"), alpha, tile=128)
    with pytest.raises(QgsProcessingException, match="Cannot write out.gif as GIF .* Choose a GeoTIFF"):
        quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.gif")})
    assert not [name for name in os.listdir(str(tmp_path)) if name.startswith("out")]


def test_alpha_threshold_decides_whether_a_partly_transparent_pixel_needs_nodata(qgis_app, tmp_path):
    alpha = np.full((40, 50), 255, np.uint8)
    alpha[20, 30] = 100
    path, rgba = _rgba_map(str(tmp_path / "in.tif"), alpha)
    strict = quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(tmp_path / "strict.tif")})["OUTPUT"]
    assert _band(strict)[:2] == ("UInt16", 65535.0)
    assert read_indices(strict)[20, 30] == 65535
    lenient = quantize({"INPUT": path, "PALETTE": "win256", "ALPHA_THRESHOLD": 100,
                        "OUTPUT": str(tmp_path / "lenient.tif")})["OUTPUT"]
    assert _band(lenient)[:2] == ("Byte", None)
    assert np.array_equal(read_indices(lenient), _nearest_win256(rgba))


def test_a_map_whose_mask_is_valid_everywhere_read_as_bands_is_byte_without_nodata(qgis_app, tmp_path):
    """Read as bands (SOURCE=bands, or the command line): QGIS shows a mask as a fourth band, and a
    layer drawn through it counts as possibly transparent."""
    rgb = random_rgba(40, 50, seed=9)[:3]
    path = write_raster(str(tmp_path / "in.tif"), rgb)
    dataset = gdal.Open(path, gdal.GA_Update)
    dataset.CreateMaskBand(gdal.GMF_PER_DATASET)
    dataset.GetRasterBand(1).GetMaskBand().Fill(255)
    dataset = None
    assert gdal.Open(path).GetRasterBand(1).GetMaskFlags() == gdal.GMF_PER_DATASET
    out = quantize({"INPUT": path, "SOURCE": "bands", "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert _band(out)[:2] == ("Byte", None)
    assert np.array_equal(read_indices(out), _nearest_win256(np.concatenate([rgb, rgb[:1]])))


def test_a_map_with_a_nodata_value_keeps_uint16_for_256_colours(qgis_app, tmp_path):
    rgb = random_rgba(20, 30, seed=5)[:3]
    rgb[:, :5, :5] = 0
    path = write_raster(str(tmp_path / "in.tif"), rgb, nodata=0)
    out = quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert _band(out)[:2] == ("UInt16", 65535.0)
    assert (read_indices(out)[:5, :5] == 65535).all()


def test_an_opaque_map_with_fewer_colours_is_byte_without_nodata_and_more_colours_stay_uint16(qgis_app, tmp_path):
    rgb = random_rgba(20, 30, seed=6)[:3]
    path = write_raster(str(tmp_path / "in.tif"), rgb)
    out = quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "vga.tif")})["OUTPUT"]
    assert _band(out)[:2] == ("Byte", None)
    out = quantize({"INPUT": path, "PALETTE": "exact", "N_COLORS": 600, "OUTPUT": str(tmp_path / "exact.tif")})["OUTPUT"]
    assert _band(out)[:2] == ("UInt16", 65535.0)
    assert read_indices(out).max() < 600


@pytest.mark.parametrize("data_type", [gdal.GDT_UInt16, gdal.GDT_Int16, gdal.GDT_Int32])
def test_integer_bands_without_nodata_mask_or_alpha_are_opaque_and_256_colours_are_byte(qgis_app, tmp_path, data_type):
    """16- and 32-bit integer bands read with SOURCE=bands have no value that could be transparent (a
    float band has NaN): the output is Byte without nodata, as from Byte bands, not UInt16."""
    rgb = random_rgba(20, 30, seed=7)[:3].astype(np.int32)
    rgb[0, 0, :4] = [-5, 300, 70000 if data_type == gdal.GDT_Int32 else 255, 0]  # clipped to 0-255
    if data_type == gdal.GDT_UInt16:
        rgb[0, 0, 0] = 0
    path = write_raster(str(tmp_path / "in.tif"), rgb, gdal_type=data_type)
    log = feedback_log()
    out = quantize({"INPUT": path, "SOURCE": "bands", "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")},
                   feedback=log)["OUTPUT"]
    assert _band(out)[:2] == ("Byte", None)
    expected = brute_force_indices(np.transpose(np.clip(rgb, 0, 255), (1, 2, 0)), builtin_palette("win256").colours,
                                   "rgb").reshape(20, 30)
    assert np.array_equal(read_indices(out), expected)
    assert "256 colours and an opaque input (no alpha band, mask or nodata): writing Byte without nodata." in log.infos
