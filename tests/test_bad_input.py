"""Bad input stops the run with a message that says what to fix, and leaves no file behind."""

import os
import re

import numpy as np
import pytest
from qgis.core import QgsProcessingContext, QgsProcessingException

from rasters import leftovers, listing, qgis_process, quantize, random_rgba, read_indices, write_raster

BAD_PALETTES = {
    "missing": (None, "does not exist"),
    "empty": ("", "holds no colours"),
    "not numeric": ("10,20,30\nred,green,blue\n", "line 2: 'red' is not a number"),
    "two columns": ("10,20\n", "line 1: 2 column"),
    "out of range": ("10,20,256\n", "line 1: 10,20,256 is out of range"),
    "negative": ("10,-20,30\n", "line 1: 10,-20,30 is out of range"),
    "too many colours": ("0,0,0\n" * 65536, "65536 colours; at most 65535"),
}


@pytest.fixture
def rgba(tmp_path):
    return write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7), alpha=True)


def refused(params, tmp_path):
    """The message of the QgsProcessingException, after checking nothing was written."""
    with pytest.raises(QgsProcessingException) as error:
        quantize(params)
    output = params["OUTPUT"]
    assert not os.path.exists(output)
    assert not leftovers(os.path.dirname(output) if os.path.isdir(os.path.dirname(output)) else str(tmp_path))
    return str(error.value)


@pytest.mark.parametrize("case", sorted(BAD_PALETTES))
def test_bad_palette_file_is_refused(qgis_app, tmp_path, rgba, case):
    text, message = BAD_PALETTES[case]
    palette = tmp_path / "palette.csv"
    if text is not None:
        palette.write_text(text)
    error = refused({"INPUT": rgba, "PALETTE_FILE": str(palette), "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
    assert message in error
    assert "palette.csv" in error


@pytest.mark.parametrize("band", ["RED_BAND", "GREEN_BAND", "BLUE_BAND", "ALPHA_BAND"])
def test_band_the_layer_does_not_have_is_refused(qgis_app, tmp_path, rgba, band):
    error = refused({"INPUT": rgba, "SOURCE": "bands", band: 9, "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
    label = {"RED_BAND": "Red band", "GREEN_BAND": "Green band", "BLUE_BAND": "Blue band", "ALPHA_BAND": "Alpha band"}
    assert "{} ({}) is 9 but layer".format(label[band], band) in error  # what the dialog shows, and the id
    assert "choose a band from 1 to 4" in error


@pytest.mark.parametrize("content, reason", [
    (b"this is not a raster", "(not recognized as "),  # GDAL 3.10: "as being in a supported file format"
    (b"", "(not recognized as "),
    (b"II*\x00\x08\x00\x00\x00", "(TIFF"),
], ids=["text", "empty", "cut TIFF header"])
def test_a_file_gdal_cannot_open_is_refused_as_such_not_as_missing(qgis_app, tmp_path, content, reason):
    """QGIS's own check said such a file, which is there, was "not found"."""
    not_a_raster = tmp_path / "notes.tif"
    not_a_raster.write_bytes(content)
    parameters = {"INPUT": str(not_a_raster), "OUTPUT": str(tmp_path / "out.tif")}
    from_console = refused(parameters, tmp_path)
    from_command_line = qgis_process("run", "palettize:quantize", "--", *("{}={}".format(*p) for p in parameters.items()))
    assert from_command_line.returncode != 0
    for error in (from_console, from_command_line.stdout):
        assert "Input raster layer (INPUT) ({}) is there, but GDAL cannot open it as a raster {}".format(
            not_a_raster, reason) in error, error
        assert "it may be empty, damaged or no raster. Repair or replace it, or choose another file." in error
        assert "not found" not in error
    assert os.listdir(str(tmp_path)) == ["notes.tif"]


def test_a_layer_whose_file_was_deleted_is_refused_naming_the_file(qgis_app, tmp_path):
    """SOURCE=bands said the layer was no file GDAL reads and to choose rendered, which failed too."""
    from qgis.core import QgsRasterLayer

    path = write_raster(str(tmp_path / "sheet.tif"), random_rgba(20, 30, seed=1)[:3])
    layer = QgsRasterLayer(path, "sheet")
    os.remove(path)
    error = refused({"INPUT": layer, "SOURCE": "bands", "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
    assert error.endswith("layer 'sheet' cannot be read so: GDAL cannot open its source {} (moved or deleted?). "
                          "Choose rendered.".format(path))


def test_a_vector_layer_or_file_given_as_input_is_refused_as_such(qgis_app, tmp_path):
    """QGIS's own check said a GeoPackage of polygons that is there was "not found", and a vector
    layer given as such an "invalid value"."""
    from osgeo import ogr
    from qgis.core import QgsProject, QgsVectorLayer

    path = str(tmp_path / "parcels.gpkg")
    source = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    source.CreateLayer("parcels", geom_type=ogr.wkbPolygon)
    source = None
    layer = QgsVectorLayer(path, "parcels", "ogr")
    QgsProject.instance().addMapLayer(layer)
    try:
        for given, shown in ((path, path), (layer, "parcels"), (layer.id(), "parcels")):
            error = refused({"INPUT": given, "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
            assert error.endswith("Input raster layer (INPUT) ({}) is a vector layer (features), not a raster: choose "
                                  "a raster layer or file.".format(shown)), error
    finally:
        QgsProject.instance().removeMapLayer(layer.id())


def test_a_virtual_raster_whose_input_was_deleted_names_the_layer_and_its_source_readably(qgis_app, tmp_path):
    """The message gave the raster calculator's URI in percent codes (%3Fcrs%3DEPSG%3A32635%26...)."""
    from qgis.core import QgsRasterDataProvider, QgsRasterLayer

    path = write_raster(str(tmp_path / "depth.tif"), random_rgba(20, 30, seed=1)[:1])
    base = QgsRasterLayer(path, "depth", "gdal")
    calc = QgsRasterDataProvider.VirtualRasterParameters()
    calc.crs, calc.extent, calc.width, calc.height, calc.formula = base.crs(), base.extent(), 30, 20, '"depth@1" + 1'
    entry = QgsRasterDataProvider.VirtualRasterInputLayers()
    entry.name, entry.provider, entry.uri = "depth", "gdal", path
    calc.rInputLayers = [entry]
    layer = QgsRasterLayer(QgsRasterDataProvider.encodeVirtualRasterProviderUri(calc), "depth plus one", "virtualraster")
    assert layer.isValid()
    os.remove(path)
    with pytest.raises(QgsProcessingException) as error:
        quantize({"INPUT": layer, "OUTPUT": str(tmp_path / "out.tif")})
    message = str(error.value)
    assert "QGIS could not open layer 'depth plus one' (?crs=" in message and "depth:uri={}".format(path) in message
    assert message.endswith("a file it reads moved or deleted?")
    assert os.listdir(str(tmp_path)) == []


def test_output_inside_a_file_is_refused(qgis_app, tmp_path, rgba):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    error = refused({"INPUT": rgba, "OUTPUT": str(blocker / "out.tif")}, tmp_path)
    assert "{} is a file, not a folder".format(blocker) in error


def test_output_format_gdal_cannot_write_is_refused(qgis_app, tmp_path, rgba):
    error = refused({"INPUT": rgba, "OUTPUT": str(tmp_path / "out.docx")}, tmp_path)
    assert "Cannot write '.docx' rasters" in error


def test_qgis_process_refuses_bad_input_with_the_same_message(qgis_app, tmp_path, rgba):
    result = qgis_process("run", "palettize:quantize", "--", "INPUT=" + rgba, "SOURCE=bands", "RED_BAND=7",
                          "OUTPUT=" + str(tmp_path / "out.tif"))
    assert result.returncode != 0
    assert "Red band (RED_BAND) is 7 but layer" in result.stdout
    assert not os.path.exists(tmp_path / "out.tif")


@pytest.mark.parametrize("name, value, message", [
    ("N_COLORS", 2.5, "Number of colours (N_COLORS) must be a whole number, not 2.5"),
    ("N_COLORS", "2.5", "Number of colours (N_COLORS) must be a whole number, not 2.5"),
    ("SEAM_TOLERANCE", float("nan"), "(SEAM_TOLERANCE) must be a finite number"),
    ("ALPHA_THRESHOLD", 127.5, "Alpha threshold (ALPHA_THRESHOLD) must be a whole number"),
    ("MIN_REGION", 4.5, "(MIN_REGION) must be a whole number"),
    ("PIXEL_SIZE", float("nan"), "Output pixel size (PIXEL_SIZE) must be a finite number"),
])
def test_numbers_that_would_be_rounded_or_are_not_numbers_are_refused(qgis_app, tmp_path, rgba, name, value, message):
    params = {"INPUT": rgba, "PALETTE": "frequent", "CLEANUP": "seams", name: value, "OUTPUT": str(tmp_path / "out.tif")}
    assert message in refused(params, tmp_path)


@pytest.mark.parametrize("name, value, message", [
    ("N_COLORS", 1, "Number of colours (N_COLORS) must be a whole number from 2 to 65535, not 1."),
    ("N_COLORS", 65536, "Number of colours (N_COLORS) must be a whole number from 2 to 65535, not 65536."),
    ("N_COLORS", "many", "Number of colours (N_COLORS) must be a number, not 'many'."),
    ("ALPHA_THRESHOLD", 256, "Alpha threshold (ALPHA_THRESHOLD) must be a whole number from 0 to 255, not 256."),
    ("MIN_REGION", 1, "Sieve: minimum region (pixels) (MIN_REGION) must be a whole number from 2 to 1000, not 1."),
    ("SEAM_TOLERANCE", -1, "Seam tolerance (ΔE) (SEAM_TOLERANCE) must be a number from 0 up, not -1."),
    ("SEAM_TOLERANCE", float("inf"), "Seam tolerance (ΔE) (SEAM_TOLERANCE) must be a finite number, not inf."),
    ("PIXEL_SIZE", -5, "Output pixel size (PIXEL_SIZE) must be greater than 0."),
    ("PIXEL_SIZE", "10m", "Output pixel size (PIXEL_SIZE) must be a number, not '10m'."),  # QGIS would read 0
])
def test_numbers_outside_their_range_are_refused_with_the_range(qgis_app, tmp_path, rgba, name, value, message):
    """QGIS's own check would only say "Incorrect parameter value for N_COLORS"."""
    params = {"INPUT": rgba, "PALETTE": "kmeans", "CLEANUP": "sieve", name: value, "OUTPUT": str(tmp_path / "out.tif")}
    assert refused(params, tmp_path).endswith(message)


def test_qgis_process_and_extract_palette_give_the_range_too(qgis_app, tmp_path, rgba):
    import processing

    result = qgis_process("run", "palettize:extractpalette", "--", "INPUT=" + rgba, "N_COLORS=1",
                          "OUTPUT_PALETTE=" + str(tmp_path / "legend.csv"))
    assert result.returncode not in (0, 134, -6), result.stdout
    assert "Number of colours (N_COLORS) must be a whole number from 2 to 65535, not 1." in result.stdout
    with pytest.raises(QgsProcessingException, match=r"\(N_COLORS\) must be a whole number from 2 to 65535, not 1\."):
        processing.run("palettize:extractpalette", {"INPUT": rgba, "N_COLORS": 1,
                                                    "OUTPUT_PALETTE": str(tmp_path / "legend.csv")})
    assert not os.path.exists(tmp_path / "legend.csv") and not leftovers(str(tmp_path))


@pytest.mark.parametrize("extent", ["Kevitsa", "500000,510000,7490000"])
def test_an_extent_qgis_cannot_read_is_refused_with_its_form(qgis_app, tmp_path, rgba, extent):
    error = refused({"INPUT": rgba, "EXTENT": extent, "PIXEL_SIZE": 25, "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
    assert error.endswith("Output extent (EXTENT) must be xmin,xmax,ymin,ymax and optionally its CRS, e.g. "
                          "500000,510000,7490000,7500000 [EPSG:32635], not {!r}.".format(extent))


@pytest.mark.parametrize("algorithm, output, label", [("quantize", "OUTPUT", "Indexed raster"),
                                                     ("extractpalette", "OUTPUT_PALETTE", "Palette file")])
@pytest.mark.parametrize("value", [None, ""])
def test_a_required_output_left_empty_is_asked_for_by_name(qgis_app, tmp_path, rgba, algorithm, output, label, value):
    import processing

    parameters = {"INPUT": rgba, "PALETTE": "vga16"}
    if value is not None:
        parameters[output] = value
    with pytest.raises(QgsProcessingException) as error:
        processing.run("palettize:" + algorithm, parameters)
    assert str(error.value).endswith(
        "{} ({}) needs a value: a file path, or TEMPORARY_OUTPUT for a temporary file.".format(label, output))
    assert os.listdir(tmp_path) == ["in.tif"]



def test_an_extent_naming_a_crs_qgis_does_not_know_is_refused(qgis_app, tmp_path, rgba):
    error = refused({"INPUT": rgba, "EXTENT": "500000,500100,7499900,7500000 [EPSG:999999]", "PIXEL_SIZE": 25,
                     "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
    assert error.endswith("Output extent (EXTENT) names the CRS EPSG:999999, which QGIS does not know: choose "
                          "another, e.g. [EPSG:32635], or leave it out for the layer's own CRS.")

@pytest.mark.parametrize("pixel_size, message", [
    (0.0002, "1,000,000 x 750,000 pixels, 750,000,000,000 pixels in all, up to 750.0 GB (750,000,000,000 bytes)"),
    (1e-9, "GDAL writes at most 2,147,483,647 pixels per side"),
    (1e-300, "The output grid would have no end"),
    (1e-320, "The output grid would have no end"),
])
def test_an_output_grid_no_disk_or_gdal_can_hold_is_refused_at_once(qgis_app, tmp_path, rgba, pixel_size, message):
    error = refused({"INPUT": rgba, "PALETTE": "vga16", "EXTENT": "0,200,0,150 [EPSG:32635]", "PIXEL_SIZE": pixel_size,
                     "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
    assert message in error
    assert "a larger Output pixel size (PIXEL_SIZE) or a smaller Output extent (EXTENT)" in error


def paletted_geotiff(path):
    """A 300 x 200 GeoTIFF of 16 classes with a colour table."""
    import numpy as np
    from osgeo import gdal

    memory = gdal.GetDriverByName("MEM").Create("", 300, 200, 1, gdal.GDT_Byte)
    memory.GetRasterBand(1).WriteArray(np.random.default_rng(2).integers(0, 16, (200, 300), dtype=np.uint8))
    table = gdal.ColorTable()
    for i in range(16):
        table.SetColorEntry(i, (i * 15, 255 - i * 15, i * 7, 255))
    memory.GetRasterBand(1).SetRasterColorTable(table)
    memory.SetGeoTransform((500000.0, 25.0, 0.0, 7500000.0, 0.0, -25.0))
    gdal.GetDriverByName("GTiff").CreateCopy(path, memory)
    return path


def truncated_geotiff(path, paletted):
    """A GeoTIFF cut off at 60 % of its length, as a broken download leaves it."""
    if paletted:
        paletted_geotiff(path)
    else:
        write_raster(path, random_rgba(200, 300), alpha=True)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) * 6 // 10)
    return path


@pytest.mark.parametrize("case", ["rgba bands", "rgba rendered", "paletted rendered"])
def test_a_truncated_geotiff_is_reported_as_damaged(qgis_app, tmp_path_factory, tmp_path, case, gdal_error_style):
    source = truncated_geotiff(str(tmp_path_factory.mktemp("input") / "broken.tif"), case.startswith("paletted"))
    error = refused({"INPUT": source, "SOURCE": case.split()[1], "PALETTE": "vga16",
                     "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
    assert "Could not read the input: GDAL could not read pixels" in error
    assert "broken.tif" in error and "truncated or damaged" in error
    assert os.listdir(tmp_path) == []


def test_gdal_does_not_print_the_read_errors_the_run_tells(tmp_path, gdal_error_style):
    """The run's message gives GDAL's reason for a damaged input: GDAL's own handler printed it
    before that as well, as "ERROR 1: ..." lines (qgis_process)."""
    from osgeo import gdal

    from palettize.engine.gdal_io import BandSource, SourceError

    whole = write_raster(str(tmp_path / "whole.tif"), random_rgba(300, 400), alpha=True)
    path = str(tmp_path / "broken.tif")
    gdal.Translate(path, whole, creationOptions=["TILED=YES", "COMPRESS=DEFLATE"])  # GDAL's decoder fails aloud
    with open(path, "r+b") as broken:
        broken.truncate(os.path.getsize(path) // 2)
    source = BandSource(path, [1, 2, 3], 4)
    printed = []
    gdal.PushErrorHandler(lambda kind, number, message: printed.append(message))
    try:
        with pytest.raises(SourceError, match="truncated or damaged"):
            source.read((0, 0, 400, 300))
    finally:
        gdal.PopErrorHandler()
        source.close()
    assert printed == []


@pytest.mark.parametrize("output, message", [
    ("in.tif", r"\(OUTPUT\) would replace Input raster layer \(INPUT\)"),
    ("legend.tif", r"\(OUTPUT\) would replace Palette file \(PALETTE_FILE\)"),
])
def test_an_output_that_would_replace_an_input_is_refused(qgis_app, tmp_path, rgba, output, message):
    legend = paletted_geotiff(str(tmp_path / "legend.tif"))
    before = {name: (tmp_path / name).read_bytes() for name in ("in.tif", "legend.tif")}
    with pytest.raises(QgsProcessingException, match=message):
        quantize({"INPUT": rgba, "PALETTE_FILE": legend, "OUTPUT": str(tmp_path / output)})
    assert {name: (tmp_path / name).read_bytes() for name in before} == before


@pytest.mark.parametrize("report", ["out.tif", "out.qml", "report.pdf"])
def test_a_report_not_named_as_a_web_page_is_refused(qgis_app, tmp_path, rgba, report):
    """A report named like the output, its style or another kind of file would replace it or mislead."""
    error = refused({"INPUT": rgba, "OUTPUT": str(tmp_path / "out.tif"), "OUTPUT_REPORT": str(tmp_path / report)},
                    tmp_path)
    assert "give Report (OUTPUT_REPORT) a name ending in .html, not {}".format(report) in error
    assert not os.path.exists(tmp_path / report)


def test_a_table_under_a_file_is_refused_before_any_work(qgis_app, tmp_path, rgba):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    error = refused({"INPUT": rgba, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif"),
                     "OUTPUT_TABLE": str(tmp_path / "notes.txt" / "table.csv")}, tmp_path)
    assert "Cannot write Palette table (OUTPUT_TABLE) {}: {} is a file, not a folder. Choose another place.".format(
        tmp_path / "notes.txt" / "table.csv", tmp_path / "notes.txt") in error



@pytest.mark.parametrize("extension, label", [("tab", "granite" + ", coarse-grained" * 20), ("xlsx", "water\x07"),
                                              ("tab", "granite" + ", coarse-grained" * 20 + "\x07")])
def test_a_table_whose_format_would_change_a_label_is_refused_before_any_work(qgis_app, tmp_path, rgba, extension,
                                                                              label):
    """A legend's long description in a MapInfo .tab (254 bytes), a control character in a
    spreadsheet: the table, written once the raster was done, failed the run at its end with the
    full disk's "row 2 is not as written"."""
    legend = tmp_path / "legend.csv"
    legend.write_text("red,green,blue,label\n255,0,0,schist\n0,0,255,\"{}\"\n".format(label), encoding="utf-8")
    table = tmp_path / ("table." + extension)
    error = refused({"INPUT": rgba, "PALETTE_FILE": str(legend), "OUTPUT": str(tmp_path / "out.tif"),
                     "OUTPUT_TABLE": str(table)}, tmp_path)
    shown = label.replace("\x07", "?") if len(label) <= 80 else label[:79] + "…"
    if extension == "tab":
        assert "Could not write the table {}: its format does not keep the label of entry 1 ('{}', {} characters), " \
            "which it gives back as '".format(table, shown, len(label)) in error
        assert "shorten that label or take out its control characters, or write the table as .csv or .gpkg" in error
    else:
        assert "Could not write the table {}: it does not hold its labels as written: the label of entry 1 ('{}') " \
            "holds characters its format cannot hold (control characters, U+FFFE, U+FFFF): take them out, or write " \
            "the table as .csv or .gpkg".format(table, shown) in error
    assert not table.exists() and not (tmp_path / "out.tif").exists()
    for good in ("csv", "gpkg"):
        quantize({"INPUT": rgba, "PALETTE_FILE": str(legend), "OUTPUT": str(tmp_path / "out.tif"),
                  "OUTPUT_TABLE": str(tmp_path / ("table." + good))})
        assert (tmp_path / ("table." + good)).exists()

def test_a_spreadsheet_table_that_loses_its_rows_over_a_label_names_that_label(qgis_app, tmp_path, rgba, gdal_error_style):
    """An .ods table with U+FFFF in a label loses rows: the run said only "it holds 1 of its 2 rows"
    (with GDAL exceptions on: "failed unexpectedly", OGR's XML parse error of the table read back)."""
    legend = tmp_path / "legend.csv"
    legend.write_text("red,green,blue,label\n255,0,0,schist\n0,0,255,wa\uffffter\n", encoding="utf-8")
    table = tmp_path / "table.ods"
    error = refused({"INPUT": rgba, "PALETTE_FILE": str(legend), "OUTPUT": str(tmp_path / "out.tif"),
                     "OUTPUT_TABLE": str(table)}, tmp_path)
    assert "Could not write the table {}: it holds ".format(table) in error
    assert "of its 2 rows; the label of entry 1 ('wa\uffffter') holds characters its format cannot hold (control " \
        "characters, U+FFFE, U+FFFF): take them out, or write the table as .csv or .gpkg" in error
    assert not table.exists() and not (tmp_path / "out.tif").exists()
    table = tmp_path / "table.xlsx"  # its rows kept, the label read back as the place of a broken string ('1')
    error = refused({"INPUT": rgba, "PALETTE_FILE": str(legend), "OUTPUT": str(tmp_path / "out.tif"),
                     "OUTPUT_TABLE": str(table)}, tmp_path)
    assert "Could not write the table {}: it does not hold its labels as written: the label of entry 1 " \
        "('wa\uffffter') holds characters its format cannot hold".format(table) in error
    assert not table.exists() and not (tmp_path / "out.tif").exists()


def test_a_table_of_another_format_missing_rows_blames_no_label(qgis_app, tmp_path):
    """A table read back with rows missing named a label with characters XML cannot hold whatever
    its format: a .csv cut short (a full disk) blamed a label it keeps as it is."""
    import numpy as np

    from palettize.algorithms.palette_table import unwritten_rows
    from palettize.palettes.palette import Palette

    palette = Palette(np.array([[255, 0, 0], [0, 0, 255]], dtype=np.uint8), ["schist", "wa\x07ter"])
    table = tmp_path / "table.csv"
    table.write_text("index,red,green,blue,hex,label,pixels,share\n0,255,0,0,#ff0000,schist,3,0.5\n",
                     encoding="utf-8")
    assert unwritten_rows(str(table), None, palette, [3, 3]) == "it holds 1 of its 2 rows"


def test_complex_bands_are_refused_with_source_bands(qgis_app, tmp_path):
    from osgeo import gdal

    source = write_raster(str(tmp_path / "complex.tif"), [[[3 + 4j] * 5] * 4] * 3, gdal_type=gdal.GDT_CFloat32)
    error = refused({"INPUT": source, "SOURCE": "bands", "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
    assert "Band 1 of layer 'complex' holds complex numbers, which are no colours: set Pixel source (SOURCE) to " \
        "rendered." in error


@pytest.mark.parametrize("source", ["bands", "rendered"])
def test_a_mosaic_missing_one_of_its_files_names_it_however_gdal_reports_errors(
        qgis_app, tmp_path_factory, tmp_path, source, gdal_error_style):
    """With GDAL exceptions on, GDAL's reason was dropped: an intact .vrt "may be truncated or damaged",
    and the file it lacks went unnamed."""
    from osgeo import gdal

    folder = tmp_path_factory.mktemp("input")
    halves = []
    for name, xoff in (("a.tif", 0), ("b.tif", 300)):
        path = write_raster(str(folder / name), random_rgba(200, 300, seed=xoff), alpha=True)
        dataset = gdal.Open(path, gdal.GA_Update)
        dataset.SetGeoTransform((xoff, 1, 0, 0, 0, -1))
        dataset = None
        halves.append(path)
    mosaic = str(folder / "mosaic.vrt")
    gdal.BuildVRT(mosaic, halves).FlushCache()
    os.remove(halves[1])
    error = refused({"INPUT": mosaic, "SOURCE": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")},
                    tmp_path)
    assert "GDAL could not read pixels" in error and "of {} ({}: No such file or directory)".format(
        mosaic, halves[1]) in error


@pytest.mark.parametrize("bands", [{}, {"RED_BAND": 1, "GREEN_BAND": 1, "BLUE_BAND": 1}], ids=["default", "1,1,1"])
def test_a_paletted_raster_read_as_bands_is_refused_saying_to_read_it_as_drawn(qgis_app, tmp_path, bands):
    """SOURCE=bands on a paletted PNG said the layer had one band, and band 1 three times then read
    its indices 0-3 as the greys #000000-#030303: a four-colour map became one class."""
    from osgeo import gdal

    source = gdal.GetDriverByName("MEM").Create("", 6, 4, 1, gdal.GDT_Byte)
    table = gdal.ColorTable()
    for index, colour in enumerate([(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200)]):
        table.SetColorEntry(index, colour + (255,))
    source.GetRasterBand(1).SetColorTable(table)
    source.GetRasterBand(1).WriteArray(np.arange(24, dtype=np.uint8).reshape(4, 6) % 4)
    path = str(tmp_path / "legend.png")
    gdal.GetDriverByName("PNG").CreateCopy(path, source)
    error = refused(dict(bands, INPUT=path, SOURCE="bands", OUTPUT=str(tmp_path / "out.tif")), tmp_path)
    assert ("Layer 'legend' is a paletted raster (band 1 holds indices into a colour table, not colours): set Pixel "
            "source (SOURCE) to rendered, which reads the colours QGIS draws.") in error


def test_a_grey_raster_read_as_bands_is_refused_saying_which_bands_read_it(qgis_app, tmp_path):
    """The command line says a grey image is read with --bands=1,1,1; the plugin said only which bands exist."""
    from palettize.engine.nearest import nearest_palette_indices
    from palettize.palettes.palette import builtin_palette
    from rasters import read_indices

    path = write_raster(str(tmp_path / "grey.tif"), np.arange(24, dtype=np.uint8).reshape(1, 4, 6))
    error = refused({"INPUT": path, "SOURCE": "bands", "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
    assert ("Green band (GREEN_BAND) is 2 but layer 'grey' has 1 band(s): choose a band from 1 to 1; a grey image is "
            "read with Red band (RED_BAND), Green band (GREEN_BAND), Blue band (BLUE_BAND) set to 1.") in error
    indices = read_indices(quantize({"INPUT": path, "SOURCE": "bands", "RED_BAND": 1, "GREEN_BAND": 1, "BLUE_BAND": 1,
                                     "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"])
    grey = np.arange(24).reshape(4, 6)
    assert indices.tolist() == nearest_palette_indices(np.stack([grey] * 3, axis=-1).reshape(-1, 3),
                                                       builtin_palette("vga16").colours, "rgb").reshape(4, 6).tolist()


def test_a_64_bit_integer_band_qgis_cannot_draw_is_refused_saying_how_to_convert_it(qgis_app, tmp_path):
    """QGIS 3.22 opens an Int64 GeoTIFF as a valid layer of an unknown data type and draws nothing of
    it: the run stopped with "QGIS could not draw block (0, 0, 20, 15)", no reason, no way out.
    (QGIS 3.40 draws it: the run goes on.)"""
    from osgeo import gdal
    from qgis.core import Qgis, QgsRasterLayer

    path = str(tmp_path / "int64.tif")
    dataset = gdal.GetDriverByName("GTiff").Create(path, 20, 15, 1, gdal.GDT_Int64)
    dataset.SetGeoTransform((0, 1, 0, 15, 0, -1))
    dataset.GetRasterBand(1).WriteArray(np.arange(300).reshape(15, 20))
    dataset = None
    layer = QgsRasterLayer(path, "int64")
    drawable, layer = layer.dataProvider().dataType(1) != Qgis.DataType.UnknownDataType, None
    if drawable:
        assert os.path.exists(quantize({"INPUT": path, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"])
        return
    error = refused({"INPUT": path, "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
    assert ("Layer 'int64' has band 1 of a data type this QGIS cannot draw (Int64): convert it first, e.g. "
            "gdal_translate -ot Float64 (Raster > Conversion > Translate), or set Pixel source (SOURCE) to bands and ") in error
    assert error.count("(RED_BAND), ") == 1 and "(BLUE_BAND) to 1 (its values read as grey levels)." in error
    # followed, the advice works
    bands = {"SOURCE": "bands", "RED_BAND": 1, "GREEN_BAND": 1, "BLUE_BAND": 1}
    output = quantize(dict({"INPUT": path, "OUTPUT": str(tmp_path / "out.tif")}, **bands))["OUTPUT"]
    assert read_indices(output).shape == (15, 20)


@pytest.mark.parametrize("style", ["multiband", "grey"])
def test_a_style_taking_its_transparency_from_a_band_the_layer_lacks_is_refused_saying_so(qgis_app, tmp_path, style):
    """A style saved for an RGBA raster given to an RGB one: QGIS draws nothing of the layer, and the
    run stopped with "QGIS could not draw block (0, 0, 30, 20)"."""
    from qgis.core import QgsMultiBandColorRenderer, QgsRasterLayer, QgsSingleBandGrayRenderer

    layer = QgsRasterLayer(write_raster(str(tmp_path / "rgb.tif"), random_rgba(20, 30)[:3]), "rgb")
    renderer = QgsMultiBandColorRenderer(layer.dataProvider(), 1, 2, 3) if style == "multiband" else \
        QgsSingleBandGrayRenderer(layer.dataProvider(), 1)
    renderer.setAlphaBand(4)
    layer.setRenderer(renderer)
    error = refused({"INPUT": layer, "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
    assert ("Layer 'rgb' has 3 band(s), and its style takes the transparency from band 4: QGIS draws nothing of it. "
            "Set the style's transparency band to one of the layer's, or to none (Layer Properties > Transparency), "
            "or set Pixel source (SOURCE) to bands.") in error


def test_a_negative_band_of_a_paletted_raster_is_refused_naming_it(qgis_app, tmp_path):
    """The paletted-raster check looked a negative band up: "Palettize failed unexpectedly"."""
    path = paletted_geotiff(str(tmp_path / "legend.tif"))
    error = refused({"INPUT": path, "SOURCE": "bands", "RED_BAND": -2, "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
    assert "Red band (RED_BAND) is -2 but layer 'legend' has 1 band(s): choose a band from 1 to 1." in error


@pytest.mark.parametrize("argument, message", [
    ("PIXEL_SIZE=nan", "Output pixel size (PIXEL_SIZE) must be a finite number"),
    ("PIXEL_SIZE=10m", "Output pixel size (PIXEL_SIZE) must be a number, not '10m'."),
    ("N_COLORS=2.5", "Number of colours (N_COLORS) must be a whole number"),
    ("OUTPUT_REPORT=.", "is a folder"),
])
def test_qgis_process_shows_the_message_instead_of_aborting(qgis_app, tmp_path, rgba, argument, message):
    result = qgis_process("run", "palettize:quantize", "--", "INPUT=" + rgba, "PALETTE=frequent", argument,
                          "OUTPUT=" + str(tmp_path / "out.tif"))
    assert result.returncode not in (0, 134, -6), result.stdout
    assert message in result.stdout
    assert not os.path.exists(tmp_path / "out.tif")


def test_extract_palette_refuses_a_palette_file_type_it_cannot_write_before_scanning(qgis_app, tmp_path, rgba):
    import processing

    with pytest.raises(QgsProcessingException, match=r"Cannot write a palette as '\.docx': choose a file ending in"):
        processing.run("palettize:extractpalette", {"INPUT": rgba, "OUTPUT_PALETTE": str(tmp_path / "legend.docx"),
                                                    "OUTPUT_REPORT": str(tmp_path / "report.html")})
    assert not {"legend.docx", "report.html"} & set(os.listdir(tmp_path))
    assert not leftovers(str(tmp_path))


@pytest.mark.parametrize("style_there", [True, False], ids=["user-style", "no-style-yet"])
def test_extract_palette_refuses_to_write_the_style_qgis_opens_the_input_with(qgis_app, tmp_path, rgba, style_there):
    """in.qml is how QGIS draws in.tif: a palette written there would replace the user's style, or
    give the input a paletted style of its own where it had none."""
    import processing

    style = tmp_path / "in.qml"
    if style_there:
        style.write_text("<!DOCTYPE qgis><qgis><!-- the user's style --></qgis>")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(QgsProcessingException, match=(
            r"Palette file \(OUTPUT_PALETTE\) \({}\) would be the style QGIS opens the input in\.tif with, which QGIS "
            r"would then draw with this palette").format(re.escape(str(style)))):
        processing.run("palettize:extractpalette", {"INPUT": rgba, "OUTPUT_PALETTE": str(style)})
    assert sorted(set(os.listdir(tmp_path)) - {"in.tif.aux.xml"}) == before  # the .aux.xml: QGIS's statistics
    if style_there:
        assert style.read_text() == "<!DOCTYPE qgis><qgis><!-- the user's style --></qgis>"


def test_qgis_process_reports_a_truncated_geotiff_instead_of_a_traceback(qgis_app, tmp_path_factory, tmp_path):
    source = truncated_geotiff(str(tmp_path_factory.mktemp("input") / "broken.tif"), paletted=False)
    result = qgis_process("run", "palettize:quantize", "--", "INPUT=" + source, "SOURCE=bands",
                          "OUTPUT=" + str(tmp_path / "out.tif"))
    assert result.returncode not in (0, 134, -6), result.stdout
    assert "broken.tif" in result.stdout and "truncated or damaged" in result.stdout
    assert "Traceback" not in result.stdout
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("spelling", ["as OUTPUT", "through a link to its folder"])
@pytest.mark.parametrize("earlier_run", [False, True], ids=["new GeoPackage", "GeoPackage of an earlier run"])
def test_a_table_saved_into_the_geopackage_the_raster_replaces_is_refused_before_any_work(qgis_app, tmp_path, rgba,
                                                                                         spelling, earlier_run):
    """OUTPUT x.gpkg, and the table saved into x.gpkg as the dialog's Save to GeoPackage gives it: the
    table went into the file, then the raster's new file went into place over it, and the run
    reported a table that was not there. The console, qgis_process and the dialog's check refuse it."""
    output = tmp_path / "x.gpkg"
    if earlier_run:
        quantize({"INPUT": rgba, "OUTPUT": str(output)})
    (tmp_path / "link").symlink_to(tmp_path)
    table_file = tmp_path / "link" / "x.gpkg" if spelling != "as OUTPUT" else output
    names = listing(tmp_path)
    assert names == (["in.tif", "link", "x.gpkg", "x.gpkg.palette.csv", "x.qml"] if earlier_run else ["in.tif", "link"])
    before = {name: (tmp_path / name).read_bytes() for name in names if (tmp_path / name).is_file()}
    params = {"INPUT": rgba, "OUTPUT": str(output),
              "OUTPUT_TABLE": "ogr:dbname='{}' table=\"legend\" (geom)".format(table_file)}
    message = ("Palette table (OUTPUT_TABLE) would go into {}, which Indexed raster (OUTPUT) replaces with a new file: "
               "the table would be lost with the old one. Choose another GeoPackage or file for Palette table "
               "(OUTPUT_TABLE).".format(table_file))
    algorithm = qgis_app.processingRegistry().algorithmById("palettize:quantize")
    assert algorithm.checkParameterValues(params, QgsProcessingContext()) == (False, message)
    with pytest.raises(QgsProcessingException) as error:
        quantize(params)
    assert str(error.value).endswith(message)
    if spelling == "as OUTPUT":
        from_command_line = qgis_process("run", "palettize:quantize", "--", *("{}={}".format(*p) for p in params.items()))
        assert from_command_line.returncode not in (0, 134, -6) and message in from_command_line.stdout
    assert listing(tmp_path) == names and not leftovers(str(tmp_path))
    assert {name: (tmp_path / name).read_bytes() for name in names if (tmp_path / name).is_file()} == before


def test_extract_palette_refuses_a_table_saved_into_its_own_palette_file(qgis_app, tmp_path, rgba):
    """The palette file goes into place over a table saved into it, as the raster does."""
    import processing

    palette = tmp_path / "legend.gpkg.csv"
    with pytest.raises(QgsProcessingException, match=re.escape(
            "Palette table (OUTPUT_TABLE) would go into {}, which Palette file (OUTPUT_PALETTE) replaces with a new "
            "file".format(palette))):
        processing.run("palettize:extractpalette", {
            "INPUT": rgba, "OUTPUT_PALETTE": str(palette),
            "OUTPUT_TABLE": "ogr:dbname='{}' table=\"legend\" (geom)".format(palette)})
    assert listing(tmp_path) == ["in.tif"] and not leftovers(str(tmp_path))
