"""A geologist quantizes a map: every pixel holds exactly its nearest palette index,
in a raster of the right type whose colour table is the palette."""

import re

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import QgsProcessingException

from palettize.engine import blocks, gdal_io
from palettize.engine.nearest import METRICS, brute_force_indices
from palettize.palettes.palette import Palette, builtin_palette
from rasters import SAMPLE_MAP, quantize, random_rgba, read_indices, write_raster


def brute_force_image(rgb, palette, metric):
    """Per-pixel reference, computed once per distinct colour to stay fast."""
    pixels = rgb.reshape(3, -1).T
    distinct, inverse = np.unique(pixels, axis=0, return_inverse=True)
    return brute_force_indices(distinct, palette.colours, metric)[inverse.ravel()].reshape(rgb.shape[1:])


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("source", ["rendered", "bands"])
def test_random_image_matches_brute_force(qgis_app, tmp_path, metric, source):
    image = random_rgba(seed=3)
    path = write_raster(str(tmp_path / "in.tif"), image, alpha=True)
    out = quantize({"INPUT": path, "SOURCE": source, "METRIC": metric, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    expected = brute_force_image(image[:3], builtin_palette("win256"), metric)
    expected[image[3] == 0] = 65535
    assert np.array_equal(read_indices(out), expected)


@pytest.mark.parametrize("layout", [
    ["TILED=YES", "BLOCKXSIZE=16", "BLOCKYSIZE=16"],  # uncompressed tiles: read past GDAL's block cache
    ["INTERLEAVE=BAND"],
    ["TILED=YES", "BLOCKXSIZE=32", "BLOCKYSIZE=16", "COMPRESS=DEFLATE"],
    ["COMPRESS=LZW", "INTERLEAVE=BAND", "BLOCKYSIZE=5"],
])
def test_every_file_layout_gives_the_same_exact_indices(qgis_app, tmp_path, layout):
    image = random_rgba(rows=45, cols=70, seed=8)
    path = write_raster(str(tmp_path / "in.tif"), image, alpha=True, options=layout)
    out = quantize({"INPUT": path, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    expected = brute_force_image(image[:3], builtin_palette("win256"), "rgb")
    expected[image[3] == 0] = 65535
    assert np.array_equal(read_indices(out), expected)


@pytest.mark.parametrize("source", ["rendered", "bands"])
def test_the_chosen_table_of_a_geopackage_with_several_rasters_is_the_one_quantized(qgis_app, tmp_path, source):
    """QGIS names such a layer GPKG:maps.gpkg:table; the file alone holds no bands, only its tables."""
    from qgis.core import QgsRasterLayer

    images = {"north": random_rgba(12, 15, seed=1)[:3], "south": random_rgba(12, 15, seed=2)[:3]}
    geopackage = str(tmp_path / "maps.gpkg")
    for number, (table, image) in enumerate(sorted(images.items())):
        plain = write_raster(str(tmp_path / (table + ".tif")), image)
        gdal.Translate(geopackage, plain, format="GPKG",
                       creationOptions=["RASTER_TABLE=" + table] + (["APPEND_SUBDATASET=YES"] if number else []))
    layer = QgsRasterLayer("GPKG:{}:south".format(geopackage), "south", "gdal")
    assert layer.isValid()
    out = quantize({"INPUT": layer, "SOURCE": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})
    expected = brute_force_image(images["south"], builtin_palette("vga16"), "rgb")
    assert np.array_equal(read_indices(out["OUTPUT"]), expected)
    assert gdal.Open(out["OUTPUT"]).GetGeoTransform() == gdal.Open(str(tmp_path / "south.tif")).GetGeoTransform()


@pytest.mark.parametrize("metric", METRICS)
def test_sample_map_matches_brute_force(qgis_app, tmp_path, metric):
    out = quantize({"INPUT": SAMPLE_MAP, "METRIC": metric, "PALETTE": "websafe216",
                    "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    image = gdal.Open(SAMPLE_MAP).ReadAsArray()
    expected = brute_force_image(image[:3], builtin_palette("websafe216"), metric)
    expected[image[3] < 128] = 255
    assert np.array_equal(read_indices(out), expected)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("rows, cols", [(40, 50), (260, 300)])  # the mapper's look-up by sorting, and its table
def test_a_kmeans_palette_built_from_the_image_gets_every_pixel_its_exact_nearest_entry(
        qgis_app, tmp_path, metric, rows, cols):
    """The palette's build finds the nearest entries of the image's colours and hands them on to
    the mapper: they are the brute-force answers, ties (many, on this coarse grid) to the lowest index."""
    image = random_rgba(rows=rows, cols=cols, seed=5)
    image[:3] = image[:3] // 32 * 32
    path = write_raster(str(tmp_path / "in.tif"), image, alpha=True)
    out = quantize({"INPUT": path, "PALETTE": "kmeans", "N_COLORS": 24, "METRIC": metric,
                    "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    dataset = gdal.Open(out)
    table = dataset.GetRasterBand(1).GetColorTable()
    palette = Palette([table.GetColorEntry(i)[:3] for i in range(24)])
    expected = brute_force_image(image[:3], palette, metric)
    expected[image[3] == 0] = 255
    assert np.array_equal(read_indices(out), expected)


@pytest.mark.parametrize("params", [{}, {"CLEANUP": "seams"}, {"CLEANUP": "sieve", "MIN_REGION": 5},
                                    {"DITHER": "floyd-steinberg", "METRIC": "cielab"}])
def test_a_small_image_read_once_for_its_palette_and_its_indices_gets_what_two_reads_give(
        qgis_app, tmp_path, monkeypatch, params):
    """A small image is held in memory while its histogram is counted and mapped from there, in
    blocks of other sizes (with margins, whole rows) than it was read in."""
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(rows=60, cols=70, seed=11), alpha=True)
    monkeypatch.setattr(gdal_io, "BLOCK_PIXELS", 70 * 8)  # 8-row blocks
    outputs = []
    for hold in (blocks.HOLD_PIXELS, 0):
        monkeypatch.setattr(blocks, "HOLD_PIXELS", hold)
        outputs.append(read_indices(quantize(dict(params, INPUT=path, PALETTE="kmeans", N_COLORS=16,
                                                  OUTPUT=str(tmp_path / "out{}.tif".format(hold))))["OUTPUT"]))
    assert np.array_equal(outputs[0], outputs[1])


def map_sheet(rows, cols):
    """Regions of five colours with blended edges and a transparent corner, like a rendered sheet."""
    y, x = np.indices((rows, cols))
    colours = np.array([[230, 200, 140], [120, 170, 90], [180, 215, 235], [200, 90, 70], [250, 250, 250]])
    rgb = colours[(x // 37 + y // 53 + (x * y) // 4000) % 5].astype(float)
    rgb = (rgb + np.roll(rgb, 1, axis=0) + np.roll(rgb, 1, axis=1)) / 3  # edge pixels blend two regions
    alpha = np.where((x < 40) & (y < 90), 0, 255)
    return np.concatenate([np.moveaxis(np.rint(rgb), -1, 0), alpha[None]]).astype(np.uint8)


@pytest.mark.parametrize("options", [{}, {"cleanup": "seams"}, {"cleanup": "sieve"}, {"dither": "floyd-steinberg"}])
def test_a_sheet_that_fits_in_one_block_is_quantized_in_strips_with_the_indices_of_one_block(tmp_path, monkeypatch,
                                                                                             options):
    """Strips one tile row high let reading, mapping and compressing overlap; the indices are
    those of the whole sheet in one block, cleaned or dithered alike."""
    from palettize.engine import run
    from palettize.engine.options import CleanupOptions, QuantizeOptions

    rows = 2 * gdal_io.TILE + 77  # three strips
    path = write_raster(str(tmp_path / "sheet.tif"), map_sheet(rows, 150), alpha=True)
    settings = QuantizeOptions(cleanup=CleanupOptions(options.get("cleanup", "none")),
                               dither=options.get("dither", "none"))
    source, grid = run.open_file(path)
    assert run.source_windows(source, grid, strips=True) == [
        (0, 0, 150, gdal_io.TILE), (0, gdal_io.TILE, 150, gdal_io.TILE), (0, 2 * gdal_io.TILE, 150, 77)]
    source.close()
    steps = []
    in_strips = run.quantize_file(path, str(tmp_path / "strips.tif"), settings, progress=steps.append)
    monkeypatch.setattr(run, "STRIP_ROWS", None)
    in_one_block = run.quantize_file(path, str(tmp_path / "one.tif"), settings)
    assert len(steps) >= 3
    assert np.array_equal(read_indices(in_strips.output), read_indices(in_one_block.output))
    assert np.array_equal(in_strips.counts, in_one_block.counts)


def test_a_sieve_whose_margin_reaches_past_a_strip_reads_a_sheet_that_fits_in_one_block_once(tmp_path, monkeypatch):
    """MIN_REGION=1000 reads each block with 2000 rows around it: strips one tile row high would each
    read and sieve the whole sheet again (twice the time, three to four times the CPU and twice the
    memory on an 8-megapixel sheet), so such a sheet is sieved in one block."""
    from palettize.engine import run
    from palettize.engine.options import CleanupOptions, QuantizeOptions

    rows = 2 * gdal_io.TILE + 77
    path = write_raster(str(tmp_path / "sheet.tif"), map_sheet(rows, 150), alpha=True)
    read = gdal_io.BandSource.read
    pixels = []
    monkeypatch.setattr(gdal_io.BandSource, "read", lambda self, window: pixels.append(window[2] * window[3]) or
                        read(self, window))
    settings = QuantizeOptions(cleanup=CleanupOptions("sieve", min_region=1000))
    sieved = run.quantize_file(path, str(tmp_path / "sieved.tif"), settings)
    assert sum(pixels) == rows * 150
    monkeypatch.setattr(run, "STRIP_ROWS", None)
    in_one_block = run.quantize_file(path, str(tmp_path / "one.tif"), settings)
    assert np.array_equal(read_indices(sieved.output), read_indices(in_one_block.output))
    assert np.array_equal(sieved.counts, in_one_block.counts)


@pytest.mark.parametrize("palette, data_type, nodata", [
    ("win256", gdal.GDT_UInt16, 65535), ("gray256", gdal.GDT_UInt16, 65535),
    ("websafe216", gdal.GDT_Byte, 255), ("vga16", gdal.GDT_Byte, 255),
])
def test_colour_table_is_the_palette_and_nodata_lies_outside_it(qgis_app, tmp_path, palette, data_type, nodata):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(8, 8), alpha=True)
    out = quantize({"INPUT": path, "PALETTE": palette, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    dataset = gdal.Open(out)
    band = dataset.GetRasterBand(1)
    colours = builtin_palette(palette).colours
    table = band.GetColorTable()
    assert band.DataType == data_type
    assert band.GetNoDataValue() == nodata
    assert band.GetColorInterpretation() == gdal.GCI_PaletteIndex
    assert table.GetCount() >= len(colours)
    assert [table.GetColorEntry(i)[:3] for i in range(len(colours))] == [tuple(c) for c in colours.tolist()]
    assert read_indices(out).max() == nodata or read_indices(out).max() < len(colours)


def test_palette_file_wins_over_palette_and_log_says_how_values_were_read(qgis_app, tmp_path):
    from qgis.core import QgsProcessingFeedback

    class Log(QgsProcessingFeedback):
        lines = []

        def pushInfo(self, text):
            self.lines.append(text)

    csv = tmp_path / "legend.csv"
    csv.write_text("red,green,blue,unit\n1.0,0,0,Granite\n0,0,1.0,Basalt\n")
    image = np.array([[[250, 10]], [[0, 0]], [[5, 240]], [[255, 255]]], dtype=np.uint8)
    path = write_raster(str(tmp_path / "in.tif"), image, alpha=True)
    log = Log()
    out = quantize({"INPUT": path, "PALETTE": "vga16", "PALETTE_FILE": str(csv),
                    "OUTPUT": str(tmp_path / "out.tif")}, feedback=log)["OUTPUT"]
    assert read_indices(out).tolist() == [[0, 1]]
    assert any("0-1 floats" in line for line in log.lines)
    assert any("writing Byte without nodata" in line for line in log.lines)  # its alpha band: 255 everywhere


@pytest.mark.parametrize("width, height, tile", [(8, 8, [16, 16]), (600, 40, [512, 48]), (1100, 520, [512, 512])])
def test_tiled_deflate_geotiff_by_default_with_tiles_no_larger_than_the_raster(qgis_app, tmp_path, width, height,
                                                                                tile):
    image = random_rgba(rows=height, cols=width, seed=6)
    path = write_raster(str(tmp_path / "in.tif"), image, alpha=True)
    out = quantize({"INPUT": path, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    dataset = gdal.Open(out)
    assert dataset.GetMetadata("IMAGE_STRUCTURE").get("COMPRESSION") == "DEFLATE"
    assert dataset.GetRasterBand(1).GetBlockSize() == tile  # 512, or the raster's side rounded up to 16
    expected = brute_force_image(image[:3], builtin_palette("win256"), "rgb")
    expected[image[3] == 0] = 65535
    assert np.array_equal(read_indices(out), expected)


@pytest.mark.parametrize("size, data_type, nodata", [
    (255, gdal.GDT_Byte, 255), (256, gdal.GDT_UInt16, 65535), (65535, gdal.GDT_UInt16, 65535),
])
def test_byte_only_while_palette_plus_nodata_fit_in_256_values(qgis_app, tmp_path, size, data_type, nodata):
    codes = np.arange(size) * (2 ** 24 // size)
    colours = np.stack([codes >> 16, (codes >> 8) & 255, codes & 255], axis=1)
    csv = tmp_path / "palette.csv"
    csv.write_text("".join("{},{},{}\n".format(*c) for c in colours.tolist()))
    image = random_rgba(4, 5)
    path = write_raster(str(tmp_path / "in.tif"), image, alpha=True)
    out = quantize({"INPUT": path, "PALETTE_FILE": str(csv), "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    dataset = gdal.Open(out)
    assert dataset.GetRasterBand(1).DataType == data_type
    assert dataset.GetRasterBand(1).GetNoDataValue() == nodata
    palette = Palette(colours)
    expected = brute_force_image(image[:3], palette, "rgb")
    expected[image[3] == 0] = nodata
    assert np.array_equal(read_indices(out), expected)


def test_enum_parameters_take_an_index_as_well_as_the_option_string(qgis_app, tmp_path):
    """Scripts may pass METRIC=1 and models saved on QGIS 3.22 hold indices, while the enums of
    QGIS 3.24 and later hold the option strings: both forms give the same run."""
    from palettize.algorithms.layer_source import SOURCES
    from palettize.algorithms.quantize import PALETTES

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4), alpha=True)
    names = {"PALETTE": "vga16", "METRIC": "cielab", "SOURCE": "bands"}
    reference = read_indices(quantize(dict(names, INPUT=path, OUTPUT=str(tmp_path / "names.tif")))["OUTPUT"])
    indices = {"PALETTE": PALETTES.index("vga16"), "METRIC": METRICS.index("cielab"), "SOURCE": SOURCES.index("bands")}
    for kind, values in (("ints", indices), ("digits", {k: str(v) for k, v in indices.items()})):
        out = quantize(dict(values, INPUT=path, OUTPUT=str(tmp_path / (kind + ".tif"))))["OUTPUT"]
        assert np.array_equal(read_indices(out), reference), kind


def test_enum_parameters_given_as_qgis_properties_take_the_option_they_evaluate_to(qgis_app, tmp_path):
    """A data-defined value (QgsProperty: a model's expression, a script's fromValue) was read as
    a number, and every property is 1: PALETTE=vga16 ran as websafe216, METRIC=rgb as cielab."""
    from qgis.core import QgsProperty

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4), alpha=True)
    names = {"PALETTE": "vga16", "METRIC": "rgb"}
    reference = read_indices(quantize(dict(names, INPUT=path, OUTPUT=str(tmp_path / "names.tif")))["OUTPUT"])
    for kind, values in (("values", {"PALETTE": QgsProperty.fromValue(2), "METRIC": QgsProperty.fromValue(0)}),
                         ("expressions", {"PALETTE": QgsProperty.fromExpression("'vga' || '16'"),
                                          "METRIC": QgsProperty.fromExpression("'rgb'")})):
        out = quantize(dict(values, INPUT=path, OUTPUT=str(tmp_path / (kind + ".tif"))))["OUTPUT"]
        assert np.array_equal(read_indices(out), reference), kind
    for expression in ("no_such_function()", "NULL"):  # never the default palette without a word
        with pytest.raises(QgsProcessingException, match=r"Palette \(PALETTE\) is given as {}, which gives no value: "
                                                         r"give one of win256, ".format(re.escape(expression))):
            quantize({"INPUT": path, "PALETTE": QgsProperty.fromExpression(expression),
                      "OUTPUT": str(tmp_path / "none.tif")})
    assert not (tmp_path / "none.tif").exists()


def test_number_parameters_given_as_qgis_properties_are_checked_as_typed_numbers_are(qgis_app, tmp_path):
    """The dialog's data-defined override (a QgsProperty) skipped the checks: NODATA_INDEX = NULL
    reserved entry 0 (black pixels got other classes, exit 0), 2.5 was rounded, text read as the
    default, and NULL PIXEL_SIZE, EXTENT or ALPHA_BAND were refused as values nobody gave."""
    from qgis.core import QgsProperty

    image = random_rgba(6, 9, seed=4)
    image[:3, 0] = 0  # a row of black, entry 0 of vga16
    path = write_raster(str(tmp_path / "in.tif"), image[:3])
    unset = read_indices(quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "unset.tif")})["OUTPUT"])
    assert (unset[0] == 0).all()
    for name in ("NODATA_INDEX", "PIXEL_SIZE", "EXTENT", "ALPHA_BAND"):
        output = str(tmp_path / (name + ".tif"))
        quantize({"INPUT": path, "PALETTE": "vga16", "SOURCE": "bands", name: QgsProperty.fromExpression("NULL"),
                  "OUTPUT": output})
        assert np.array_equal(read_indices(output), unset), name
        assert gdal.Open(output).GetRasterBand(1).GetNoDataValue() is None, name
    for name, expression, message in (
            ("NODATA_INDEX", "2.5", r"Nodata index \(NODATA_INDEX\) must be a whole number, not 2.5\."),
            ("N_COLORS", "2.5", r"Number of colours \(N_COLORS\) must be a whole number, not 2.5\."),
            ("N_COLORS", "'abc'", r"Number of colours \(N_COLORS\) must be a number, not 'abc'\."),
            ("ALPHA_THRESHOLD", "'x'", r"Alpha threshold \(ALPHA_THRESHOLD\) must be a number, not 'x'\."),
            ("ALPHA_BAND", "1.5", r"\(ALPHA_BAND\) must be a whole number, not 1.5\."),
            ("RED_BAND", "'abc'", r"\(RED_BAND\) must be a number, not 'abc'\."),
            ("N_COLORS", "NULL", r"Number of colours \(N_COLORS\) is given as NULL, which gives no value: give a "
                                 r"number\.")):
        with pytest.raises(QgsProcessingException, match=message):
            quantize({"INPUT": path, "PALETTE": "frequent", "SOURCE": "bands", name: QgsProperty.fromExpression(expression),
                      "OUTPUT": str(tmp_path / "refused.tif")})
    assert not (tmp_path / "refused.tif").exists()


def test_a_model_step_given_text_for_a_number_is_refused_not_run_with_the_default(qgis_app, tmp_path):
    """QGIS 3.22 does not check a model step's values: N_COLORS = 'abc' ran with 256 colours."""
    import processing
    from qgis.core import (QgsProcessingFeedback, QgsProcessingModelAlgorithm, QgsProcessingModelChildAlgorithm,
                           QgsProcessingModelChildParameterSource as Source, QgsProcessingModelOutput)

    class Errors(QgsProcessingFeedback):
        said = []

        def reportError(self, error, fatal_error=False):  # noqa: N802 (QGIS API)
            self.said.append(error)

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4), alpha=True)
    model = QgsProcessingModelAlgorithm("classes", "palettize tests")
    step = QgsProcessingModelChildAlgorithm("palettize:quantize")
    step.setChildId("quantize")
    for name, source in (("INPUT", Source.fromStaticValue(path)), ("PALETTE", Source.fromStaticValue("frequent")),
                         ("N_COLORS", Source.fromExpression("'abc'"))):
        step.addParameterSources(name, [source])
    output = QgsProcessingModelOutput("classes")
    output.setChildOutputName("OUTPUT")
    step.setModelOutputs({"classes": output})
    model.addChildAlgorithm(step)
    errors = Errors()
    with pytest.raises(QgsProcessingException):
        processing.run(model, {"quantize:classes": str(tmp_path / "out.tif")}, feedback=errors)
    assert "Number of colours (N_COLORS) must be a number, not 'abc'." in errors.said
    assert not (tmp_path / "out.tif").exists()


@pytest.mark.parametrize("static_strings", [False, True], ids=["QGIS 3.22", "QGIS 3.24+"])
def test_qgis_checks_enum_values_in_the_form_its_enum_holds(qgis_app, monkeypatch, static_strings):
    from palettize.algorithms import compat

    class NoParameters:
        def parameterDefinitions(self):  # noqa: N802 (QGIS API)
            return []

    monkeypatch.setattr(compat, "STATIC_ENUM_STRINGS", static_strings)
    enums = {"METRIC": METRICS}
    for value in ("cielab", 1, "1"):
        checked = compat.checkable_parameters(NoParameters(), {"METRIC": value}, enums)["METRIC"]
        assert checked == ("cielab" if static_strings else 1 if value == "cielab" else value)
        assert compat.enum_value({"METRIC": value}, "METRIC", METRICS, "rgb") == "cielab"
    for value in ("lab", 3, -1, "-1", True, 1.5):  # left for QGIS to refuse; never taken as an option
        assert compat.checkable_parameters(NoParameters(), {"METRIC": value}, enums)["METRIC"] == value
        with pytest.raises(ValueError):
            compat.enum_value({"METRIC": value}, "METRIC", METRICS, "rgb")
