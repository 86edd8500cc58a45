"""The output is Byte whenever Byte can hold every value: an opaque map quantized to 256 colours
is a Byte raster without nodata, as rgb2pct and OpendTect expect; a map with transparent pixels
keeps a nodata value outside the palette."""

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
    assert any("writing UInt16 with nodata 65535 (the input can have transparent pixels" in line for line in log.infos)


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
