"""Every raster format QGIS offers for the output is either written right (one band of exactly the
indices, the input's geotransform, the palette as colour table or beside the file) or refused
before any work, with a message saying which format to choose."""

import os
from contextlib import closing

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException

from palettize.palettes.formats import read_palette
from palettize.palettes.palette import builtin_palette
from rasters import listing, NORTH_UP, quantize, random_rgba, read_indices, write_raster

ROTATED = (500000.0, 24.0, 7.0, 7500000.0, 7.0, -24.0)
#: Typed by users though not in the dialog's list on every QGIS (formats GDAL only copies to).
TYPED = ["png", "gif", "jpg", "asc", "xyz", "vrt", "nc", "sdat", "rst", "gpkg", "mbtiles", "pdf", "bmp"]
CASES = {"Byte": ("vga16", NORTH_UP), "UInt16": ("win256", NORTH_UP), "rotated": ("vga16", ROTATED)}


def offered_extensions():
    from qgis.core import QgsRasterFileWriter

    return sorted(set(QgsRasterFileWriter.supportedFormatExtensions()) | set(TYPED))


@pytest.fixture(scope="module")
def algorithm(qgis_app):
    return QgsApplication.processingRegistry().algorithmById("palettize:quantize")


def test_the_walk_covers_the_extensions_of_the_output_dialog(qgis_app, algorithm):
    dialog = algorithm.parameterDefinition("OUTPUT").supportedOutputRasterLayerExtensions()
    assert "tif" in dialog
    assert set(dialog) <= set(offered_extensions())


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("extension", offered_extensions())
def test_output_format_is_written_right_or_refused_before_any_work(qgis_app, algorithm, tmp_path, extension, case):
    palette, geotransform = CASES[case]
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4), geotransform=geotransform, alpha=True)
    folder = tmp_path / "out"
    params = {"INPUT": source, "PALETTE": palette, "OUTPUT": str(folder / ("classes." + extension))}
    ok, message = algorithm.checkParameterValues(params, QgsProcessingContext())
    if not ok:
        assert "Choose a GeoTIFF (.tif)" in message
        with pytest.raises(QgsProcessingException, match="Choose a GeoTIFF"):
            quantize(params)
        assert not os.path.exists(folder)
        return
    output = quantize(params)["OUTPUT"]
    reference = quantize(dict(params, OUTPUT=str(tmp_path / "reference.tif")))["OUTPUT"]
    dataset = gdal.Open(output)
    assert dataset is not None and dataset.RasterCount == 1
    assert np.array_equal(read_indices(output).astype(np.int64), read_indices(reference).astype(np.int64))
    assert np.allclose(dataset.GetGeoTransform(), geotransform, rtol=1e-9)
    table = dataset.GetRasterBand(1).GetColorTable()
    colours = builtin_palette(palette).colours
    if table is None or table.GetCount() < len(colours):  # none, or one cut short (.rst): the palette beside it
        assert read_palette(output + ".palette.csv")[0] == builtin_palette(palette)
    else:
        assert [table.GetColorEntry(i)[:3] for i in range(len(colours))] == [tuple(c) for c in colours.tolist()]
    assert not [name for name in os.listdir(folder) if name.startswith(".palettize-")]


def test_the_format_probe_prints_nothing_when_gdal_exceptions_are_on(tmp_path):
    """The probe's GeoPackage raster, closed without a geotransform, failed in its destructor: with
    GDAL exceptions on (another plugin, the console) Python printed "Exception ignored in
    delete_Dataset ... RuntimeError: Raster table probe not correctly initialized" before the
    refusal. A new process: the probe's answers are kept for the process."""
    import subprocess
    import sys

    import palettize

    script = ("import sys; sys.path.insert(0, {!r}); from osgeo import gdal; gdal.UseExceptions(); "
              "from palettize.engine import gdal_io; "
              "print(gdal_io.own_nodata('GPKG', 'gpkg', gdal.GDT_Byte))").format(
                  os.path.dirname(os.path.dirname(palettize.__file__)))
    probe = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
    assert (probe.returncode, probe.stderr) == (0, "")


def test_a_format_that_cuts_the_colour_table_after_the_largest_index_gets_the_palette_beside_it(qgis_app, tmp_path):
    """Idrisi (.rst) keeps only the entries up to the largest index written: black and dark red
    to win256 left a table of 2 entries, with no word."""
    from rasters import feedback_log

    image = np.zeros((3, 2, 4), np.uint8)
    image[0, :, 1::2] = 128  # black and dark red: win256 entries 0 and 1
    source = write_raster(str(tmp_path / "in.tif"), image)
    log = feedback_log()
    output = quantize({"INPUT": source, "PALETTE": "win256", "OUTPUT": str(tmp_path / "classes.rst")}, feedback=log)["OUTPUT"]
    assert read_indices(output).tolist() == [[0, 1, 0, 1]] * 2
    assert gdal.Open(output).GetRasterBand(1).GetColorTable().GetCount() == 2
    assert read_palette(output + ".palette.csv")[0] == builtin_palette("win256")
    assert ("The RST format kept only 2 of the palette's 256 colours in its colour table: the palette was written "
            "beside it as {}.palette.csv.".format(output)) in log.warnings


def test_a_format_that_keeps_fewer_colours_than_the_palette_gets_the_palette_beside_it(qgis_app, tmp_path):
    """PCIDSK keeps 256 entries of a 300-colour palette's table: the whole palette goes beside it."""
    from rasters import feedback_log

    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4)[:3])
    log = feedback_log()
    output = quantize({"INPUT": source, "PALETTE": "mpl:viridis", "N_COLORS": 300,
                       "OUTPUT": str(tmp_path / "classes.pix")}, feedback=log)["OUTPUT"]
    assert gdal.Open(output).GetRasterBand(1).GetColorTable().GetCount() == 256
    assert len(read_palette(output + ".palette.csv")[0]) == 300
    assert ("The PCIDSK format kept only 256 of the palette's 300 colours in its colour table: the palette was written "
            "beside it as {}.palette.csv.".format(output)) in log.warnings


@pytest.mark.parametrize("data_type", [gdal.GDT_Byte, gdal.GDT_UInt16])
@pytest.mark.parametrize("geotransform", [NORTH_UP, ROTATED, (500000.0, 24.0, 0.0, 7400000.0, 0.0, 24.0), None])
def test_geotiff_which_runs_do_not_probe_passes_the_format_probe_on_every_grid(data_type, geotransform):
    from palettize.engine import gdal_io

    grid = gdal_io.RasterGrid(3, 2, geotransform, "")
    colours = 256 if data_type == gdal.GDT_Byte else 300
    for nodata in (None, gdal_io.free_nodata(data_type)):
        assert gdal_io.indexed_format_problem(gdal_io.KNOWN_GOOD_DRIVER, "tif", data_type, grid, colours, nodata) == ""
        assert gdal_io._probe_format(gdal_io.KNOWN_GOOD_DRIVER, "tif", data_type, colours, nodata, grid, []) == ""


def test_a_format_without_nodata_gets_a_warning_naming_the_value_nodata_pixels_hold(qgis_app, tmp_path):
    """An ASCII grid for OpendTect (.xyz) keeps the indices but not the nodata value."""
    from rasters import feedback_log

    image = random_rgba(6, 9, seed=4)
    source = write_raster(str(tmp_path / "in.tif"), image, alpha=True)
    log = feedback_log()
    output = quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.xyz")}, feedback=log)
    assert gdal.Open(output["OUTPUT"]).GetRasterBand(1).GetNoDataValue() is None
    assert (read_indices(output["OUTPUT"])[image[3] == 0] == 255).all()
    assert ("The XYZ format cannot hold a nodata value: transparent and nodata pixels hold 255 in classes.xyz; treat "
            "that value as nodata where you use it.") in log.warnings
    opaque = quantize({"INPUT": write_raster(str(tmp_path / "rgb.tif"), image[:3]), "PALETTE": "vga16",
                       "OUTPUT": str(tmp_path / "opaque.xyz")}, feedback=log)
    assert not [w for w in log.warnings if "opaque.xyz;" in w]  # no nodata, nothing lost
    assert os.path.exists(opaque["OUTPUT"])


def _nodata(path):
    dataset = gdal.Open(path)
    return dataset.GetRasterBand(1).GetNoDataValue()


@pytest.mark.parametrize("extension", ["rsw", "sdat"])
def test_an_opaque_output_in_a_format_that_marks_a_nodata_value_of_its_own_keeps_every_class(qgis_app, tmp_path,
                                                                                           extension):
    """RMF (.rsw) marks 0 as nodata when a raster is given none, SAGA (.sdat) 255: class 0 or 255 would read as
    nodata in QGIS. An opaque output there gets a nodata value outside the palette instead."""
    image = random_rgba(6, 9, seed=4)[:3]
    source = write_raster(str(tmp_path / "in.tif"), image, srs=None)  # RMF writes UTM zone 35N as 1N: refused
    palette = "vga16" if extension == "rsw" else "win256"
    params = {"INPUT": source, "PALETTE": palette, "OUTPUT": str(tmp_path / ("classes." + extension))}
    if extension == "sdat":  # 256 colours: no Byte value is left for nodata
        ok, message = qgis_app.processingRegistry().algorithmById("palettize:quantize").checkParameterValues(
            params, QgsProcessingContext())
        assert not ok
        assert message == ("Cannot write classes.sdat as SAGA (.sdat): it marks 255 as nodata, which is class 255: its "
                           "pixels would read as nodata. Choose a GeoTIFF (.tif), or set Nodata index (NODATA_INDEX) "
                           "to 255 (entry 255 then holds nodata, and its colour goes to no pixel).")
        assert not [name for name in os.listdir(tmp_path) if name.startswith(("classes", ".palettize-"))]
        params["NODATA_INDEX"] = 255  # as the message says: every other class is kept
    output = quantize(params)["OUTPUT"]
    reference = quantize(dict(params, OUTPUT=str(tmp_path / "reference.tif")))["OUTPUT"]
    assert np.array_equal(read_indices(output), read_indices(reference))
    assert _nodata(output) == 255
    if extension == "sdat":
        return
    output = quantize(params)["OUTPUT"]
    reference = quantize(dict(params, OUTPUT=str(tmp_path / "reference.tif")))["OUTPUT"]
    assert np.array_equal(read_indices(output), read_indices(reference))
    assert _nodata(output) == 255


def test_a_format_that_marks_class_0_as_nodata_whatever_it_is_told_is_refused_before_any_work(qgis_app, tmp_path):
    """ISIS3 (.lbl) stores 8- and 16-bit rasters with 0 as nodata, whatever nodata value it is given."""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4), alpha=True)
    folder = tmp_path / "out"
    params = {"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(folder / "classes.lbl")}
    algorithm = qgis_app.processingRegistry().algorithmById("palettize:quantize")
    ok, message = algorithm.checkParameterValues(params, QgsProcessingContext())
    assert not ok
    assert message == ("Cannot write classes.lbl as ISIS3 (.lbl): it marks 0 as nodata, which is class 0: its "
                       "pixels would read as nodata. Choose a GeoTIFF (.tif).")  # NODATA_INDEX=0: its UTM is refused
    with pytest.raises(QgsProcessingException, match="it marks 0 as nodata"):
        quantize(params)
    assert not os.path.exists(folder)


def test_a_format_that_marks_0_as_nodata_writes_when_nodata_index_0_asks_for_just_that(qgis_app, tmp_path):
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4), srs=None, alpha=True)
    params = {"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.lbl")}
    algorithm = qgis_app.processingRegistry().algorithmById("palettize:quantize")
    assert algorithm.checkParameterValues(params, QgsProcessingContext()) == (False, (
        "Cannot write classes.lbl as ISIS3 (.lbl): it marks 0 as nodata, which is class 0: its pixels would read as "
        "nodata. Choose a GeoTIFF (.tif), or set Nodata index (NODATA_INDEX) to 0 (entry 0 then holds nodata, and its "
        "colour goes to no pixel)."))
    params["NODATA_INDEX"] = 0
    output = quantize(params)["OUTPUT"]
    reference = quantize(dict(params, OUTPUT=str(tmp_path / "reference.tif")))["OUTPUT"]
    assert np.array_equal(read_indices(output), read_indices(reference))
    assert _nodata(output) == 0


def utm_zone_rmf_writes_for_35n(folder):
    """The UTM zone GDAL's RMF driver writes for a raster in UTM zone 35N (EPSG:32635)."""
    from osgeo import osr

    utm35 = osr.SpatialReference()
    utm35.ImportFromEPSG(32635)
    dataset = gdal.GetDriverByName("RMF").Create(str(folder / "probe.rsw"), 3, 2, 1, gdal.GDT_Byte)
    dataset.SetGeoTransform(NORTH_UP)
    dataset.SetProjection(utm35.ExportToWkt())
    dataset = None
    return gdal.Open(str(folder / "probe.rsw")).GetSpatialRef().GetUTMZone()


def test_a_format_that_writes_another_crs_than_the_input_s_is_refused_before_any_work(qgis_app, tmp_path):
    """RMF (.rsw) of GDAL 3.6 writes UTM zone 35N as zone 1N: a grid in the wrong place, which is worse
    than none (GDAL 3.10 writes zone 35N: the output is then written, in the input's CRS)."""
    extension = "rsw"
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4), alpha=True)
    folder = tmp_path / "out"
    params = {"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(folder / ("classes." + extension))}
    algorithm = qgis_app.processingRegistry().algorithmById("palettize:quantize")
    ok, message = algorithm.checkParameterValues(params, QgsProcessingContext())
    if utm_zone_rmf_writes_for_35n(tmp_path) == 35:
        assert ok, message
        assert gdal.Open(quantize(params)["OUTPUT"]).GetSpatialRef().GetUTMZone() == 35
        return
    assert not ok
    assert message.startswith("Cannot write classes.{} as {} (.{}): it writes the CRS WGS 84 / UTM zone 35N as ".format(
        extension, "RMF", extension))
    assert message.endswith(". Choose a GeoTIFF (.tif).")
    with pytest.raises(QgsProcessingException, match="it writes the CRS WGS 84 / UTM zone 35N as"):
        quantize(params)
    assert not os.path.exists(folder)


def test_a_format_without_a_crs_gets_a_warning_naming_the_crs_to_assign(qgis_app, tmp_path):
    """An ASCII grid for OpendTect (.xyz) keeps the grid but not its CRS: the log says which CRS it had."""
    from rasters import feedback_log

    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4)[:3])
    log = feedback_log()
    output = quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.xyz")}, feedback=log)
    assert gdal.Open(output["OUTPUT"]).GetSpatialRef() is None
    assert ("The XYZ format cannot hold a CRS: classes.xyz has none; its coordinates are in WGS 84 / UTM zone 35N "
            "(EPSG:32635), which you assign where you use it.") in log.warnings
    log = feedback_log()
    quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.png")}, feedback=log)
    assert not [w for w in log.warnings if "CRS" in w]


@pytest.mark.parametrize("extension", ["jpg", "jpeg"])
def test_a_jpeg_output_is_refused_because_its_compression_changes_class_indices(qgis_app, tmp_path, extension):
    """Not with GDAL's advice for gdal_translate (-expand), which a run cannot follow."""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4)[:3])
    folder = tmp_path / "out"
    params = {"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(folder / ("classes." + extension))}
    ok, message = qgis_app.processingRegistry().algorithmById("palettize:quantize").checkParameterValues(
        params, QgsProcessingContext())
    assert (ok, message) == (False, "Cannot write classes.{0} as JPEG (.{0}): its compression is lossy and would change "
                                    "class indices into others. Choose a GeoTIFF (.tif).".format(extension))
    with pytest.raises(QgsProcessingException, match="its compression is lossy"):
        quantize(params)
    assert not os.path.exists(folder)


@pytest.mark.parametrize("grid", ["south-up", "ungeoreferenced"])
def test_a_format_that_turns_a_grid_north_up_is_refused_for_what_it_does(qgis_app, tmp_path, grid):
    """An ASCII grid (.asc) stores rows from north to south: a south-up grid or one without georeferencing
    would come back upside down. The message says so, not that it cannot keep a Byte raster's indices."""
    path, image = str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4)[:3]
    if grid == "south-up":
        write_raster(path, image, geotransform=(500000.0, 25.0, 0.0, 7400000.0, 0.0, 25.0))
    else:
        dataset = gdal.GetDriverByName("GTiff").Create(path, 9, 6, 3, gdal.GDT_Byte, ["PHOTOMETRIC=RGB"])
        for number, values in enumerate(image, 1):
            dataset.GetRasterBand(number).WriteArray(values)
        dataset = None
    params = {"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out" / "classes.asc")}
    ok, message = qgis_app.processingRegistry().algorithmById("palettize:quantize").checkParameterValues(
        params, QgsProcessingContext())
    assert (ok, message) == (False, "Cannot write classes.asc as AAIGrid (.asc): it stores rows from north to south, and "
                                    "would turn this {} grid upside down. Choose a GeoTIFF (.tif).".format(grid))


@pytest.mark.parametrize("extension", ["img", "asc", "sdat", "bil"])
@pytest.mark.parametrize("crs", ["EPSG:2393", "+proj=lcc +lat_1=60 +lat_2=70 +lat_0=65 +lon_0=25 +x_0=500000 +y_0=0 "
                                               "+ellps=GRS80 +units=m +no_defs"])
def test_a_format_that_writes_the_same_crs_in_other_words_is_not_refused(qgis_app, tmp_path, extension, crs):
    """KKJ loses its datum shift (TOWGS84) in these formats and a custom CRS its name: the same
    projection, which puts the grid in the same place, so the output is written."""
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.SetFromUserInput(crs)
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4)[:3], srs=srs)
    output = quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / ("classes." + extension))})
    assert np.array_equal(read_indices(output["OUTPUT"]), read_indices(
        quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "reference.tif")})["OUTPUT"]))


def test_a_byte_only_format_refused_for_256_colours_and_nodata_names_nodata_index(qgis_app, tmp_path):
    """256 colours and transparent pixels need UInt16, which PNG cannot hold: NODATA_INDEX keeps an
    entry for nodata and the output Byte, which the message says (it spoke of "more than 255 colours"
    only)."""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4), alpha=True)
    params = {"INPUT": source, "PALETTE": "gray256", "OUTPUT": str(tmp_path / "out" / "classes.png")}
    algorithm = qgis_app.processingRegistry().algorithmById("palettize:quantize")
    ok, message = algorithm.checkParameterValues(params, QgsProcessingContext())
    assert not ok
    assert message.startswith("Cannot write classes.png as PNG (.png): GDAL cannot write a UInt16 (over 256 colours, "
                              "or 256 and nodata) indexed raster in this format (")
    assert message.endswith("Choose a GeoTIFF (.tif), or set Nodata index (NODATA_INDEX) to an entry kept for "
                            "nodata (its colour is then given to no pixel), which makes the output Byte.")
    output = quantize(dict(params, NODATA_INDEX=0))["OUTPUT"]
    assert gdal.Open(output).GetRasterBand(1).DataType == gdal.GDT_Byte


def folder_state(folder):
    """Every file of ``folder`` with its bytes (QGIS's .aux.xml of an input's statistics aside)."""
    def content(name):
        with open(os.path.join(folder, name), "rb") as f:
            return f.read()
    return {name: content(name) for name in sorted(os.listdir(folder)) if not name.endswith(".aux.xml")}


def test_an_output_whose_format_writes_a_header_by_an_inputs_name_is_refused_before_any_work(algorithm, tmp_path):
    """EHdr writes scan.hdr beside scan.bil: over an ENVI input's header (scan.dat + scan.hdr) it
    left the input a one-band EHdr raster; the output was written and the run said nothing."""
    envi = gdal.GetDriverByName("ENVI").Create(str(tmp_path / "scan.dat"), 9, 6, 3, gdal.GDT_Byte)
    envi.SetGeoTransform(NORTH_UP)
    for band, values in enumerate(random_rgba(6, 9, seed=4)[:3], 1):
        envi.GetRasterBand(band).WriteArray(values)
    envi = None
    before = folder_state(str(tmp_path))
    params = {"INPUT": str(tmp_path / "scan.dat"), "PALETTE": "vga16", "OUTPUT": str(tmp_path / "scan.bil")}
    assert algorithm.checkParameterValues(params, QgsProcessingContext()) == (False, (
        "The EHdr format's side file scan.hdr of Indexed raster (OUTPUT) would replace {}, a file of Input raster layer "
        "(INPUT) ({}): choose another path for Indexed raster (OUTPUT).".format(tmp_path / "scan.hdr",
                                                                              tmp_path / "scan.dat")))
    with pytest.raises(QgsProcessingException):
        quantize(params)
    assert folder_state(str(tmp_path)) == before


@pytest.mark.parametrize("start, taken_for", [(b"II*\0", "GeoTIFF"), (b"<VRTDataset ", "Virtual Raster")])
def test_a_raw_output_whose_first_indices_read_as_another_format_is_refused_for_that_reason(
        qgis_app, tmp_path, capfd, gdal_error_style, start, taken_for):
    """Indices 73, 73, 42 and 0 are the bytes "II*\\0" that begin a TIFF: GDAL, and QGIS with it,
    takes such a .bil for a broken TIFF. The run failed, said only that GDAL could not read the
    file back (TIFFReadDirectory ...), and GDAL's two errors were printed before it; a VRT's start
    ended, with GDAL exceptions on, in "Palettize failed unexpectedly (UnicodeDecodeError ...)"."""
    colours = builtin_palette("win256").colours
    indices = list(start) + [1, 2]
    image = np.repeat(colours[indices].T[:, None, :], 2, axis=1)  # (3, 2 rows, len(indices) cols)
    source = write_raster(str(tmp_path / "in.tif"), image)
    capfd.readouterr()
    with pytest.raises(QgsProcessingException) as error:
        quantize({"INPUT": source, "PALETTE": "win256", "OUTPUT": str(tmp_path / "classes.bil")})
    assert "GDAL cannot read back {}: its first pixels read as the start of a {} file, and GDAL (QGIS with it) " \
        "takes it for one. Choose a GeoTIFF (.tif)".format(tmp_path / "classes.bil", taken_for) in str(error.value)
    assert "ERROR" not in capfd.readouterr().err
    assert listing(tmp_path) == ["in.tif"]
    # A format that names its own driver in a header is read back as what it is.
    output = quantize({"INPUT": source, "PALETTE": "win256", "OUTPUT": str(tmp_path / "classes.img")})["OUTPUT"]
    assert read_indices(output).tolist() == [indices] * 2


def test_an_output_whose_format_writes_its_colours_over_the_palette_file_is_refused(algorithm, tmp_path):
    """EHdr writes legend.clr beside legend.bil: it replaced the user's palette of that name, labels lost."""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4)[:3])
    (tmp_path / "legend.clr").write_text("0 255 0 0 Granite\n1 0 255 0 Gabbro\n")
    params = {"INPUT": source, "PALETTE_FILE": str(tmp_path / "legend.clr"), "OUTPUT": str(tmp_path / "legend.bil")}
    ok, message = algorithm.checkParameterValues(params, QgsProcessingContext())
    assert (ok, message) == (False, (
        "The EHdr format's side file legend.clr of Indexed raster (OUTPUT) would replace Palette file (PALETTE_FILE) "
        "({}): choose another path for Indexed raster (OUTPUT).".format(tmp_path / "legend.clr")))


def test_an_ers_output_is_refused_where_its_data_file_would_be_the_input(algorithm, tmp_path):
    """ERS writes its pixels to the name without .ers: map.tif.ers wrote over map.tif."""
    source = write_raster(str(tmp_path / "map.tif"), random_rgba(6, 9, seed=4)[:3])
    before = folder_state(str(tmp_path))
    params = {"INPUT": source, "PALETTE": "vga16", "OUTPUT": source + ".ers"}
    ok, message = algorithm.checkParameterValues(params, QgsProcessingContext())
    assert not ok and message.startswith("The ERS format's side file map.tif of Indexed raster (OUTPUT) would replace")
    with pytest.raises(QgsProcessingException):
        quantize(params)
    assert folder_state(str(tmp_path)) == before


def test_a_file_by_the_name_a_format_writes_beside_a_new_output_is_kept_and_the_run_refused(algorithm, tmp_path):
    """roads.asc beside a shapefile's roads.prj would replace it (or, without a CRS, be read with
    it as its CRS): a file the output does not own yet is left alone, and the message says why
    (it said "remove it", which would take the CRS from the raster or shapefile it belongs to)."""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4)[:3])
    (tmp_path / "roads.prj").write_text('GEOGCS["WGS 84"]')
    params = {"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "roads.asc")}
    assert algorithm.checkParameterValues(params, QgsProcessingContext()) == (False, (
        "{} is there already, and GDAL would read it as part of Indexed raster (OUTPUT) (AAIGrid writes and reads a "
        "file by that name beside it). It is not a file of Indexed raster (OUTPUT) written earlier (it may be another "
        "raster's, or a shapefile's), so it is kept: choose another path for Indexed raster (OUTPUT).".format(
            tmp_path / "roads.prj")))
    assert (tmp_path / "roads.prj").read_text() == 'GEOGCS["WGS 84"]'


@pytest.mark.parametrize("extension", ["asc", "sdat", "bil"])
def test_an_output_written_again_without_a_crs_loses_the_crs_file_of_the_one_it_replaces(tmp_path, extension):
    """The earlier output's .prj stayed, and GDAL read it as the new output's CRS."""
    pixels = random_rgba(6, 9, seed=4)[:3]
    output = str(tmp_path / ("classes." + extension))
    quantize({"INPUT": write_raster(str(tmp_path / "utm.tif"), pixels), "PALETTE": "vga16", "OUTPUT": output})
    assert gdal.Open(output).GetSpatialRef() is not None
    quantize({"INPUT": write_raster(str(tmp_path / "plain.tif"), pixels, srs=None), "PALETTE": "vga16",
              "OUTPUT": output})
    assert gdal.Open(output).GetSpatialRef() is None
    assert not os.path.exists(str(tmp_path / "classes.prj"))


@pytest.mark.parametrize("default", ["gpkg", "vrt", "sdat"])
def test_a_temporary_output_is_a_geotiff_whatever_processings_default_raster_format(qgis_app, tmp_path, default):
    """With Processing's default raster format set to gpkg (or vrt), TEMPORARY_OUTPUT was refused:
    "Cannot write OUTPUT.gpkg as GPKG", for a file the user never named."""
    from processing.core.ProcessingConfig import ProcessingConfig

    setting = ProcessingConfig.settings[ProcessingConfig.DEFAULT_OUTPUT_RASTER_LAYER_EXT]
    before = ProcessingConfig.getSetting(ProcessingConfig.DEFAULT_OUTPUT_RASTER_LAYER_EXT)
    ProcessingConfig.setSettingValue(ProcessingConfig.DEFAULT_OUTPUT_RASTER_LAYER_EXT, setting.options.index(default))
    try:
        source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4)[:3])
        output = quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": "TEMPORARY_OUTPUT"})["OUTPUT"]
    finally:
        ProcessingConfig.setSettingValue(ProcessingConfig.DEFAULT_OUTPUT_RASTER_LAYER_EXT, before)
    assert output.endswith(".tif") and gdal.Open(output).GetDriver().ShortName == "GTiff"
    rgb = gdal.Open(source).ReadAsArray().reshape(3, -1).T
    from palettize.engine.nearest import nearest_palette_indices
    assert read_indices(output).ravel().tolist() == nearest_palette_indices(
        rgb, builtin_palette("vga16").colours, "rgb").tolist()


def test_a_crs_file_in_capitals_beside_an_ascii_grid_is_kept_and_the_run_refused(algorithm, tmp_path):
    """AAIGrid reads classes.PRJ when there is no classes.prj: a grid without a CRS came out in WGS 84."""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4)[:3], srs=None)
    (tmp_path / "classes.PRJ").write_text('GEOGCS["WGS 84"]')
    ok, message = algorithm.checkParameterValues({"INPUT": source, "PALETTE": "vga16",
                                                  "OUTPUT": str(tmp_path / "classes.asc")}, QgsProcessingContext())
    assert not ok and message.startswith("{} is there already, and GDAL would read it as part of".format(
        tmp_path / "classes.PRJ"))


@pytest.mark.parametrize("output, world_file", [("out.tif", "out.tfw"), ("out.png", "out.wld"), ("out.png", "out.PGW")])
def test_a_world_file_beside_an_output_without_georeferencing_is_kept_and_the_run_refused(algorithm, tmp_path, output,
                                                                                         world_file):
    """GDAL reads out.tfw (out.wld, ...) as the georeferencing of an output that has none of its own:
    a picture without georeferencing came out placed where another raster is."""
    picture = gdal.GetDriverByName("MEM").Create("", 9, 6, 3, gdal.GDT_Byte)
    for band, values in enumerate(random_rgba(6, 9, seed=4)[:3], 1):
        picture.GetRasterBand(band).WriteArray(values)
    source = str(tmp_path / "in.png")
    gdal.GetDriverByName("PNG").CreateCopy(source, picture)
    picture = None
    (tmp_path / world_file).write_text("25\n0\n0\n-25\n300000\n7500000\n")
    params = {"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / output)}
    assert algorithm.checkParameterValues(params, QgsProcessingContext()) == (False, (
        "{} is there already, and GDAL would read it as part of Indexed raster (OUTPUT) (as its georeferencing, and "
        "Indexed raster (OUTPUT) has none). It is not a file of Indexed raster (OUTPUT) written earlier (it may be "
        "another raster's, or a shapefile's), so it is kept: choose another path for Indexed raster (OUTPUT).".format(
            tmp_path / world_file)))


def wkt_of(definition):
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.SetFromUserInput(definition)
    return srs.ExportToWkt()


@pytest.mark.parametrize("driver, extension, geotransform, crs, problem", [
    ("RST", "rst", (20.0, 1e-9, 0.0, 60.0, 0.0, -1e-9), "EPSG:4326", "it does not keep the input grid's geotransform"),
    ("RST", "rst", (1000.0, 30.0, 0.0, 5000.0, 0.0, -30.0),
     'PROJCS["My custom LCC",GEOGCS["My datum GCS",DATUM["my_datum",SPHEROID["my sph",6378000,298.1]],'
     'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic_2SP"],'
     'PARAMETER["standard_parallel_1",33],PARAMETER["standard_parallel_2",45],PARAMETER["latitude_of_origin",39],'
     'PARAMETER["central_meridian",-96],PARAMETER["false_easting",0],PARAMETER["false_northing",0],UNIT["metre",1]]',
     ("it writes the CRS My custom LCC as Unknown",  # where QGIS runs, GDAL refuses it as it writes:
      "GDAL cannot write a Byte indexed raster in this format (Unsupported SRS)")),
], ids=["pixels of 1e-9 degrees written as 0", "a custom CRS as a local one"])
def test_a_format_that_changes_the_grid_or_crs_it_is_given_is_refused(driver, extension, geotransform, crs, problem):
    """Written with exit 0 and no word: the probe let pixels of 1e-9 degrees through as 0 (its
    tolerance went by the coordinates' size), and took any CRS it could not compare for kept (a
    compound CRS without its vertical part is written, with a warning: see test_georeferencing)."""
    from palettize.engine import gdal_io

    grid = gdal_io.RasterGrid(3, 2, geotransform, wkt_of(crs))
    assert gdal_io.indexed_format_problem(driver, extension, gdal.GDT_Byte, grid, 3, 255) in \
        (problem if isinstance(problem, tuple) else (problem,))


def test_an_output_name_too_long_for_the_files_beside_it_is_refused_and_one_that_fits_is_written(algorithm, tmp_path):
    """A 251-byte name left GDAL's .aux.xml (the attribute table) unwritten, with a warning naming the
    staging folder; a 240-byte .xyz failed on the name of a work file of Palettize's own. A name
    with nothing written beside it may take all 255 bytes."""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4)[:3])
    long_name = "b" * 247 + ".tif"
    ok, message = algorithm.checkParameterValues({"INPUT": source, "PALETTE": "vga16",
                                                  "OUTPUT": str(tmp_path / long_name)}, QgsProcessingContext())
    assert (ok, message) == (False, "Cannot write Indexed raster (OUTPUT) {}: the name of {}.aux.xml, written beside "
                                    "it, is 4 bytes longer than the 255 bytes a name may have in its folder: shorten the "
                                    "name by 4 bytes.".format(tmp_path / long_name, long_name))
    for name in ("c" * 251 + ".csv", "d" * 250 + ".html"):  # nothing is written beside a table or a report
        assert algorithm.checkParameterValues({"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "o.tif"),
                                               "OUTPUT_TABLE" if name.endswith("csv") else "OUTPUT_REPORT":
                                               str(tmp_path / name)}, QgsProcessingContext()) == (True, "")
    output = quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / ("a" * 236 + ".xyz"))})["OUTPUT"]
    assert read_indices(output).shape == (6, 9) and os.path.exists(output + ".palette.csv")


def test_idrisi_keeps_a_grid_of_one_arc_second_pixels():
    """Idrisi writes its corners to 7 decimals: over the probe's 3 pixels that is 4e-5 of a pixel
    of 1/3600 degree, which a tolerance of a millionth refused (the whole raster's error is 8e-13)."""
    from palettize.engine import gdal_io

    grid = gdal_io.RasterGrid(3, 2, (24.0, 1 / 3600, 0.0, 61.0, 0.0, -1 / 3600), wkt_of("EPSG:4326"))
    assert gdal_io.indexed_format_problem("RST", "rst", gdal.GDT_Byte, grid, 3, 255) == ""


def test_xpm_is_refused_for_a_palette_it_would_renumber_and_written_for_one_it_holds(qgis_app, algorithm, tmp_path):
    """GDAL's XPM writer merges a colour table of over 86 entries, renumbering the pixels: 100 colours
    with NODATA_INDEX=0 were written with 255 of 1,200 pixels in other classes and exit 0 (the
    format was judged on a 3-colour test raster); vga16 on an opaque map was refused (judged with a
    256-entry table that such a run does not write)."""
    from palettize.palettes.formats import write_palette_csv
    from palettize.palettes.palette import Palette

    source = write_raster(str(tmp_path / "in.tif"), random_rgba(30, 40, seed=1)[:3])
    hundred = str(tmp_path / "hundred.csv")
    write_palette_csv(Palette(np.array([(i, 255 - i, (7 * i) % 256) for i in range(0, 200, 2)], np.uint8)), hundred)
    params = {"INPUT": source, "PALETTE_FILE": hundred, "NODATA_INDEX": 0, "OUTPUT": str(tmp_path / "out" / "classes.xpm")}
    ok, message = algorithm.checkParameterValues(params, QgsProcessingContext())
    assert not ok and message.startswith("Cannot write classes.xpm as XPM (.xpm): it does not keep the class indices of "
                                         "a Byte raster. Choose a GeoTIFF (.tif)"), message
    with pytest.raises(QgsProcessingException, match="does not keep the class indices"):
        quantize(params)
    assert not os.path.exists(str(tmp_path / "out"))
    params = {"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.xpm")}
    output = quantize(params)["OUTPUT"]
    reference = quantize(dict(params, OUTPUT=str(tmp_path / "reference.tif")))["OUTPUT"]
    assert np.array_equal(read_indices(output), read_indices(reference))


@pytest.mark.parametrize("case", ["boreholes alone", "boreholes beside an earlier raster", "in WAL mode"])
def test_a_raster_into_a_geopackage_holding_the_users_layers_is_refused_and_they_are_kept(qgis_app, algorithm, tmp_path,
                                                                                         case):
    """project.gpkg held the user's boreholes: the raster's new file went into place over it, and the
    boreholes were gone, with exit 0 and no word. The dialog's check, the console and the engine's
    command line refuse it before any work, naming the layers (not the raster a run wrote there),
    and leave nothing beside it (SQLite reads a GeoPackage in WAL mode, as QGIS may leave one,
    through a -wal and a -shm file it makes and leaves)."""
    import sqlite3
    import subprocess

    from rasters import ROOT, geopackage_tables, geopackage_with_a_table, leftovers

    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4), alpha=True)
    project = str(tmp_path / "project.gpkg")
    if case == "boreholes beside an earlier raster":  # win256 and nodata: UInt16, which a GeoPackage holds
        quantize({"INPUT": source, "PALETTE": "win256", "OUTPUT": project})
    geopackage_with_a_table(project, "boreholes")
    if case == "in WAL mode":
        with closing(sqlite3.connect(project)) as database:
            assert database.execute("PRAGMA journal_mode=WAL").fetchall() == [("wal",)]
    names, before = listing(tmp_path), (tmp_path / "project.gpkg").read_bytes()
    message = ("Cannot write {} {}: it is a GeoPackage holding other layers (boreholes), which writing the raster "
               "would delete. Choose another file, or remove them first.")
    params = {"INPUT": source, "PALETTE": "win256", "OUTPUT": project}
    assert algorithm.checkParameterValues(params, QgsProcessingContext()) == (
        False, message.format("Indexed raster (OUTPUT)", project))
    assert listing(tmp_path) == names
    with pytest.raises(QgsProcessingException) as error:
        quantize(params)
    assert str(error.value).endswith(message.format("Indexed raster (OUTPUT)", project))
    command_line = subprocess.run([os.path.join(ROOT, "scripts", "palettize"), "quantize", source, "-o", project,
                                   "--palette", "win256", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  universal_newlines=True, timeout=300)
    assert (command_line.returncode, command_line.stderr) == (
        1, "palettize: error: {}: {}\n".format(source, message.format("the output", project)))
    assert (tmp_path / "project.gpkg").read_bytes() == before
    assert geopackage_tables(project) == {"boreholes": 1}
    assert listing(tmp_path) == names and not leftovers(str(tmp_path))


def test_a_geopackage_holding_only_the_raster_of_an_earlier_run_is_written_again(qgis_app, tmp_path):
    """Running the quantization again into its own .gpkg replaces the earlier raster, as for any
    other format: only layers of others make a GeoPackage worth keeping."""
    import sqlite3

    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4), alpha=True)
    output = str(tmp_path / "classes.gpkg")
    for palette in ("mpl:viridis", "win256", "win256"):  # another palette, then the same run again
        assert quantize({"INPUT": source, "PALETTE": palette, "N_COLORS": 300, "OUTPUT": output})["OUTPUT"] == output
    reference = quantize({"INPUT": source, "PALETTE": "win256", "OUTPUT": str(tmp_path / "reference.tif")})["OUTPUT"]
    assert np.array_equal(read_indices(output), read_indices(reference))
    with sqlite3.connect(output) as database:
        assert database.execute("SELECT table_name FROM gpkg_contents").fetchall() == [("classes",)]


HOLDER = r"""
import sqlite3, sys
database = sqlite3.connect(sys.argv[1], isolation_level=None)
database.execute("PRAGMA journal_mode=WAL")
database.execute("PRAGMA wal_autocheckpoint=0")
database.execute("CREATE TABLE notes (note TEXT)")
database.execute("INSERT INTO notes VALUES ('of the earlier file')")
database.execute("BEGIN")
database.execute("SELECT count(*) FROM notes").fetchone()
print("edited", flush=True)
sys.stdin.readline()
database.execute("COMMIT")
database.close()
"""


@pytest.mark.parametrize("table, removed", [(False, False), (True, False), (False, True)],
                         ids=["raster", "table", "raster removed by the user"])
def test_a_geopackage_another_program_has_open_with_changes_not_yet_in_it_is_replaced_whole(qgis_app, tmp_path, table,
                                                                                           removed):
    """QGIS keeps a GeoPackage's changes in its write-ahead log (<name>-wal) while the layer is
    open: the log stayed beside the run's new GeoPackage, which SQLite then read as part of it (a
    table "malformed" for good, or a raster GeoPackage holding the earlier file's tables), exit 0."""
    import sqlite3
    import subprocess
    import sys

    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4), alpha=True)
    output = str(tmp_path / "classes.gpkg")
    runs = [{"OUTPUT": str(tmp_path / "classes.tif"), "OUTPUT_TABLE": output} if table else {"OUTPUT": output}
            for _ in range(2)]
    quantize(dict(runs[0], INPUT=source, PALETTE="mpl:viridis", N_COLORS=300))  # UInt16: a GeoPackage holds it
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, output], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              universal_newlines=True)
    try:
        assert holder.stdout.readline() == "edited\n"
        assert os.path.getsize(output + "-wal") > 0
        if removed:  # its log stays beside the name, for the file the program still has open
            os.remove(output)
        quantize(dict(runs[1], INPUT=source, PALETTE="win256"))
    finally:
        holder.communicate("\n", timeout=60)
    with closing(sqlite3.connect(output)) as database:
        assert database.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert not database.execute("SELECT name FROM sqlite_master WHERE name = 'notes'").fetchall()
        tables = [row[0] for row in database.execute("SELECT table_name FROM gpkg_contents")]
        if table:
            labels = [row[0] for row in database.execute('SELECT label FROM "{}"'.format(tables[0]))]
            assert len(labels) == 256
    if not table:
        assert tables == ["classes"]
        reference = quantize({"INPUT": source, "PALETTE": "win256", "OUTPUT": str(tmp_path / "reference.tif")})
        assert np.array_equal(read_indices(output), read_indices(reference["OUTPUT"]))


@pytest.mark.parametrize("setting, suffix", [("OUTPUT", "-wal"), ("OUTPUT", "-journal"), ("OUTPUT_TABLE", "-wal"),
                                             ("OUTPUT", "-shm")])
def test_a_geopackage_beside_a_folder_sqlite_takes_for_its_log_is_refused_before_any_work(qgis_app, tmp_path, setting,
                                                                                        suffix):
    """A folder named classes.gpkg-wal (or -journal) beside the output: SQLite could not open the
    GeoPackage the run put in place ("unable to open database file", "disk I/O error"), exit 0.
    (-shm: the file opens until QGIS edits it in WAL mode.)"""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4), alpha=True)
    geopackage = str(tmp_path / "classes.gpkg")
    os.mkdir(geopackage + suffix)
    parameters = {"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.tif")}
    parameters[setting] = geopackage
    with pytest.raises(QgsProcessingException, match=r"the folder .*classes\.gpkg{} is beside it, where SQLite keeps "
                       r"the file's .*remove or rename that folder".format(suffix)):
        quantize(parameters)
    assert sorted(name for name in os.listdir(str(tmp_path)) if not name.endswith(".aux.xml")) == [
        "classes.gpkg" + suffix, "in.tif"]  # nothing written
    assert os.listdir(geopackage + suffix) == []


@pytest.mark.parametrize("extension, kept", [("rst", False), ("nc", False), ("bil", False), ("img", True), ("png", True)])
def test_a_format_that_keeps_no_pixel_counts_says_so(qgis_app, tmp_path, extension, kept):
    """Idrisi kept its legend's names and colours but dropped the counts of the attribute table,
    netCDF and EHdr kept no table: the log said nothing, and the counts were only in a GeoTIFF's."""
    from rasters import feedback_log

    image = random_rgba(6, 9, seed=4)
    source = write_raster(str(tmp_path / "in.tif"), image, alpha=True)
    log = feedback_log()
    output = quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / ("classes." + extension))},
                      feedback=log)["OUTPUT"]
    said = [w for w in log.warnings if "pixel counts" in w]
    if kept:
        dataset = gdal.Open(output)  # held: its table goes with it
        rat = dataset.GetRasterBand(1).GetDefaultRAT()
        column = next(c for c in range(rat.GetColumnCount()) if rat.GetUsageOfCol(c) == gdal.GFU_PixelCount)
        indices = read_indices(output)
        counts = np.bincount(indices[indices != 255], minlength=16)
        assert [int(rat.GetValueAsDouble(row, column)) for row in range(16)] == counts.tolist()
        assert said == []
    else:
        assert said == ["The {} format keeps no pixel counts with classes.{} (no raster attribute table of them): "
                        "Palette table (OUTPUT_TABLE) or Report (OUTPUT_REPORT) gives them.".format(
                            gdal.Open(output).GetDriver().ShortName, extension)]


def test_a_format_that_keeps_no_pixel_counts_names_the_table_that_holds_them(qgis_app, tmp_path):
    """With OUTPUT_TABLE set, the note still told the user to set it."""
    from rasters import feedback_log

    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4), alpha=True)
    log = feedback_log()
    table = str(tmp_path / "counts.csv")
    quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.nc"), "OUTPUT_TABLE": table},
             feedback=log)
    said = [w for w in log.warnings if "pixel counts" in w]
    assert said == ["The netCDF format keeps no pixel counts with classes.nc (no raster attribute table of them): "
                    "{} holds them.".format(table)]
    with open(table) as written:
        assert written.readline().startswith("index,")


def test_a_vrt_output_in_processing_is_refused_saying_where_vrt_mosaics_are_written(qgis_app, tmp_path):
    """OUTPUT=x.vrt was refused with GDAL's "Writing through VRTSourcedRasterBand is not supported"."""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4), alpha=True)
    with pytest.raises(QgsProcessingException) as error:
        quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.vrt")})
    assert ("Cannot write classes.vrt as VRT (.vrt): a .vrt holds no pixels of its own, only a mosaic of other "
            "rasters (the command line writes one of GeoTIFF tiles: palettize quantize map.tif -o map.vrt). Choose a "
            "GeoTIFF (.tif).") in str(error.value)
    assert sorted(os.listdir(str(tmp_path))) == ["in.tif"]
