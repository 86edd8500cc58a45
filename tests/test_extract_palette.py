"""A user builds the palette from the map itself: its legend, its exact colours, or the best N."""

import os

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import (
    QgsProcessingException,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource as Source,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterRasterLayer,
    QgsRasterLayer,
    QgsVectorLayer,
)

from palettize.palettes.formats import read_palette
from palettize.palettes.palette import builtin_palette
from rasters import (ROOT, SAMPLE_MAP, geopackage_tables, geopackage_with_a_table, qgis_process, quantize,
                     read_indices, write_raster)


def extract(params):
    import processing

    return processing.run("palettize:extractpalette", params)


def legend_of_sample_map():
    import sys

    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from render_map import legend_colours

    return {tuple(entry[:3]) for entry in legend_colours()}  # outlines are thinner than a pixel: blended


def test_frequent_recovers_the_legend_colours_of_a_rendered_map(qgis_app, tmp_path):
    legend = legend_of_sample_map()
    result = extract({"INPUT": SAMPLE_MAP, "METHOD": "frequent", "N_COLORS": len(legend),
                      "OUTPUT_PALETTE": str(tmp_path / "legend.gpl")})
    palette, _ = read_palette(result["OUTPUT_PALETTE"])
    assert {tuple(c) for c in palette.colours.tolist()} == legend


def test_an_extracted_gimp_palette_is_named_after_its_file_not_after_the_method(qgis_app, tmp_path):
    # GIMP, Inkscape and QGIS list palettes by this name: two maps' legends must not both be "frequent".
    for name in ("north_sheet", "south_sheet"):
        extract({"INPUT": SAMPLE_MAP, "METHOD": "frequent", "N_COLORS": 8,
                 "OUTPUT_PALETTE": str(tmp_path / (name + ".gpl"))})
        assert (tmp_path / (name + ".gpl")).read_text(encoding="utf-8").splitlines()[:2] == [
            "GIMP Palette", "Name: " + name]


def test_table_lists_every_entry_with_its_pixels_and_share(qgis_app, tmp_path):
    result = extract({"INPUT": SAMPLE_MAP, "METHOD": "kmeans", "N_COLORS": 8, "METRIC": "cielab",
                      "OUTPUT_PALETTE": str(tmp_path / "palette.csv"), "OUTPUT_TABLE": str(tmp_path / "table.csv")})
    palette, _ = read_palette(result["OUTPUT_PALETTE"])
    table = QgsVectorLayer(result["OUTPUT_TABLE"], "table", "ogr")
    rows = [f.attributes() for f in table.getFeatures()]
    assert [f.name() for f in table.fields()][:8] == ["index", "red", "green", "blue", "hex", "label", "pixels",
                                                    "share"]
    assert [[int(v) for v in row[:4]] for row in rows] == [[i] + c for i, c in enumerate(palette.colours.tolist())]
    assert rows[0][4] == "#{:02x}{:02x}{:02x}".format(*palette.colours[0])
    alpha = gdal.Open(SAMPLE_MAP).ReadAsArray()[3]
    assert sum(int(row[6]) for row in rows) == int((alpha >= 128).sum())
    assert sum(float(row[7]) for row in rows) == pytest.approx(1.0)
    # The pixel counts are what quantizing with this palette gives.
    indices = read_indices(quantize({"INPUT": SAMPLE_MAP, "PALETTE_FILE": result["OUTPUT_PALETTE"],
                                     "METRIC": "cielab", "OUTPUT": str(tmp_path / "q.tif")})["OUTPUT"])
    assert [int(row[6]) for row in rows] == np.bincount(indices[alpha >= 128], minlength=8).tolist()


def test_exact_palette_is_lossless(qgis_app, tmp_path):
    rng = np.random.default_rng(4)
    colours = rng.integers(0, 256, (40, 3))
    picks = rng.integers(0, 40, (30, 50))
    image = colours[picks].transpose(2, 0, 1).astype(np.uint8)
    path = write_raster(str(tmp_path / "in.tif"), image)
    out = quantize({"INPUT": path, "PALETTE": "exact", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    dataset = gdal.Open(out)
    table = dataset.GetRasterBand(1).GetColorTable()
    indices = dataset.GetRasterBand(1).ReadAsArray()
    rebuilt = np.array([[table.GetColorEntry(int(i))[:3] for i in row] for row in indices]).transpose(2, 0, 1)
    assert np.array_equal(rebuilt, image)
    counts = np.bincount(indices.ravel())
    assert list(counts) == sorted(counts, reverse=True)  # ordered by frequency


@pytest.mark.parametrize("extension", ["csv", "xlsx", "ods", "gpkg", "geojson", "gml", "tab"])
def test_every_table_format_taken_holds_every_row_where_it_was_asked(qgis_app, tmp_path, extension):
    """A .fgb table came out empty (GDAL 3.6 drops rows without geometry), a .geojsons one under
    another name, a .sqlite one not listed: the formats taken are those QGIS reads back whole at
    the path returned."""
    result = extract({"INPUT": SAMPLE_MAP, "METHOD": "frequent", "N_COLORS": 8,
                      "OUTPUT_PALETTE": str(tmp_path / "palette.csv"), "OUTPUT_TABLE": str(tmp_path / ("t." + extension))})
    table = QgsVectorLayer(result["OUTPUT_TABLE"], "table", "ogr")
    assert result["OUTPUT_TABLE"] == str(tmp_path / ("t." + extension)) and table.isValid()
    assert [int(f["index"]) for f in table.getFeatures()] == list(range(8))


def test_a_table_saved_into_a_geopackage_of_other_tables_is_added_to_it(qgis_app, tmp_path):
    """The dialog's "Save to GeoPackage..." into a project's GeoPackage: the table was read back
    from the GeoPackage's first table, the user's own, and the run failed ("it holds 0 of its 8
    rows") with the table left in it."""
    project = geopackage_with_a_table(tmp_path / "project.gpkg", "boreholes")
    result = extract({"INPUT": SAMPLE_MAP, "METHOD": "frequent", "N_COLORS": 8, "OUTPUT_PALETTE": str(tmp_path / "p.csv"),
                      "OUTPUT_TABLE": "ogr:dbname='{}' table=\"legend\" (geom)".format(project)})
    assert result["OUTPUT_TABLE"] == "{}|layername=legend".format(project)
    assert geopackage_tables(project) == {"boreholes": 1, "legend": 8}
    # A new GeoPackage in a new folder: the folder is made, as for the other outputs (SQLite could not open it).
    new = tmp_path / "new" / "legend.gpkg"
    extract({"INPUT": SAMPLE_MAP, "METHOD": "frequent", "N_COLORS": 8, "OUTPUT_PALETTE": str(tmp_path / "q.csv"),
             "OUTPUT_TABLE": "ogr:dbname='{}' table=\"legend\" (geom)".format(new)})
    assert geopackage_tables(new) == {"legend": 8}
    # A layer name after '|' is not taken for an output: QGIS 3.40 wrote a file by that whole name.
    with pytest.raises(QgsProcessingException, match=r"an output takes no layer name after '\|'. To add the table to "
                                                     r"a GeoPackage, give ogr:dbname='.*project.gpkg' table=\"legend\""):
        extract({"INPUT": SAMPLE_MAP, "METHOD": "frequent", "N_COLORS": 8, "OUTPUT_PALETTE": str(tmp_path / "r.csv"),
                 "OUTPUT_TABLE": "{}|layername=legend".format(project)})
    assert sorted(os.listdir(str(tmp_path))) == ["new", "p.csv", "project.gpkg", "q.csv"]


def test_a_table_replaced_in_a_geopackage_leaves_no_copy_of_the_users_table_behind(qgis_app, tmp_path):
    """The user's table, copied before QGIS replaces it (to be put back if the run fails), was left
    in QGIS's temporary folder, a copy for each run, until QGIS ended."""
    from qgis.core import QgsProcessingUtils

    project = geopackage_with_a_table(tmp_path / "project.gpkg", "legend")

    def copies():
        return [os.path.join(folder, name) for folder, _, names in os.walk(QgsProcessingUtils.tempFolder())
                for name in names if name == "table.gpkg"]

    before = copies()
    for run in range(2):
        extract({"INPUT": SAMPLE_MAP, "METHOD": "frequent", "N_COLORS": 8, "OUTPUT_PALETTE": str(tmp_path / "p.csv"),
                 "OUTPUT_TABLE": "ogr:dbname='{}' table=\"legend\" (geom)".format(project)})
        assert geopackage_tables(project) == {"legend": 8}
    assert copies() == before


def test_exact_refuses_an_image_with_more_colours_than_asked(qgis_app, tmp_path):
    message = r"4896 distinct colours, more than Number of colours \(N_COLORS\) = 256.*frequent.*kmeans"
    with pytest.raises(QgsProcessingException, match=message):
        extract({"INPUT": SAMPLE_MAP, "METHOD": "exact", "OUTPUT_PALETTE": str(tmp_path / "p.csv")})
    assert not (tmp_path / "p.csv").exists()


def test_exact_refuses_an_image_with_more_colours_than_any_palette_without_saying_to_ask_for_more(qgis_app, tmp_path):
    """At N_COLORS=65535 the message said to raise it, which is then refused."""
    noise = write_raster(str(tmp_path / "noise.tif"), np.random.default_rng(2).integers(0, 256, (3, 300, 300),
                                                                                        dtype=np.uint8))
    with pytest.raises(QgsProcessingException) as error:
        extract({"INPUT": noise, "METHOD": "exact", "N_COLORS": 65535, "OUTPUT_PALETTE": str(tmp_path / "p.csv")})
    assert str(error.value).endswith("distinct colours, more than Number of colours (N_COLORS) = 65535: no palette "
                                     "holds more: use 'frequent', 'kmeans' or 'mediancut'")
    assert not (tmp_path / "p.csv").exists()


def test_quantize_to_a_matplotlib_colormap(qgis_app, tmp_path):
    out = quantize({"INPUT": SAMPLE_MAP, "PALETTE": "mpl:gnuplot", "N_COLORS": 32,
                    "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    dataset = gdal.Open(out)
    table = dataset.GetRasterBand(1).GetColorTable()
    import matplotlib

    expected = np.round(matplotlib.colormaps["gnuplot"](np.linspace(0, 1, 32))[:, :3] * 255).astype(int)
    assert [table.GetColorEntry(i)[:3] for i in range(32)] == [tuple(c) for c in expected.tolist()]


def test_extract_then_quantize_in_a_model_run_by_qgis_process(qgis_app, tmp_path):
    model = QgsProcessingModelAlgorithm("legend_classes", "palettize tests")
    model.addModelParameter(QgsProcessingParameterRasterLayer("map", "Map"), QgsProcessingModelParameter("map"))
    extract_step = QgsProcessingModelChildAlgorithm("palettize:extractpalette")
    extract_step.setChildId("extract")
    extract_step.addParameterSources("INPUT", [Source.fromModelParameter("map")])
    extract_step.addParameterSources("METHOD", [Source.fromStaticValue("frequent")])
    extract_step.addParameterSources("N_COLORS", [Source.fromStaticValue(12)])
    model.addChildAlgorithm(extract_step)
    quantize_step = QgsProcessingModelChildAlgorithm("palettize:quantize")
    quantize_step.setChildId("quantize")
    quantize_step.addParameterSources("INPUT", [Source.fromModelParameter("map")])
    quantize_step.addParameterSources("PALETTE_FILE", [Source.fromChildOutput("extract", "OUTPUT_PALETTE")])
    output = QgsProcessingModelOutput("classes")
    output.setChildOutputName("OUTPUT")
    quantize_step.setModelOutputs({"classes": output})
    model.addChildAlgorithm(quantize_step)
    model_path = str(tmp_path / "legend_classes.model3")
    assert model.toFile(model_path)

    classes = str(tmp_path / "classes.tif")
    result = qgis_process("run", model_path, "--", "map=" + SAMPLE_MAP, "quantize:classes=" + classes)
    assert result.returncode == 0, result.stdout
    legend = legend_of_sample_map()
    dataset = gdal.Open(classes)
    band = dataset.GetRasterBand(1)
    assert band.DataType == gdal.GDT_Byte
    assert {band.GetColorTable().GetColorEntry(i)[:3] for i in range(12)} == legend


def test_a_legend_raster_given_as_a_layer_is_the_palette_file_in_a_model_and_a_script(qgis_app, tmp_path):
    """A model's raster-layer input feeding Palette file (PALETTE_FILE), or a layer given to it in
    a script: QGIS gives no path for a layer, and the run went on with win256 without a word."""
    import processing

    legend = quantize({"INPUT": SAMPLE_MAP, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "legend.tif")})["OUTPUT"]
    by_path = read_indices(quantize({"INPUT": SAMPLE_MAP, "PALETTE_FILE": legend, "OUTPUT": str(tmp_path / "a.tif")})["OUTPUT"])
    assert set(np.unique(by_path)) <= set(range(16)) | {255}  # 255: nodata, where the map is transparent
    model = QgsProcessingModelAlgorithm("classes", "palettize tests")
    for name in ("map", "legend"):
        model.addModelParameter(QgsProcessingParameterRasterLayer(name, name), QgsProcessingModelParameter(name))
    step = QgsProcessingModelChildAlgorithm("palettize:quantize")
    step.setChildId("quantize")
    step.addParameterSources("INPUT", [Source.fromModelParameter("map")])
    step.addParameterSources("PALETTE_FILE", [Source.fromModelParameter("legend")])
    output = QgsProcessingModelOutput("classes")
    output.setChildOutputName("OUTPUT")
    step.setModelOutputs({"classes": output})
    model.addChildAlgorithm(step)
    layer, vga16 = QgsRasterLayer(legend, "legend"), builtin_palette("vga16").colours
    processing.run(model, {"map": SAMPLE_MAP, "legend": layer, "quantize:classes": str(tmp_path / "b.tif")})
    scripted = quantize({"INPUT": SAMPLE_MAP, "PALETTE_FILE": layer, "OUTPUT": str(tmp_path / "c.tif")})["OUTPUT"]
    for output in (str(tmp_path / "b.tif"), scripted):
        assert (read_indices(output) == by_path).all()
        dataset = gdal.Open(output)
        table = dataset.GetRasterBand(1).GetColorTable()
        assert [table.GetColorEntry(i)[:3] for i in range(16)] == [tuple(c) for c in vga16.tolist()]
    memory = QgsVectorLayer("None?field=red:integer", "colours", "memory")
    with pytest.raises(QgsProcessingException, match=r"Palette file \(PALETTE_FILE\) is layer 'colours', a memory layer "
                                                    r"that reads no file: give the palette file's path\."):
        quantize({"INPUT": SAMPLE_MAP, "PALETTE_FILE": memory, "OUTPUT": str(tmp_path / "d.tif")})



def test_a_legend_table_given_as_a_filtered_layer_is_refused_not_read_whole(qgis_app, tmp_path):
    """A legend CSV loaded as a layer and filtered to some of its rows: the palette file is read
    whole, so the rows the user filtered out would have become palette entries without a word."""
    legend = tmp_path / "legend.csv"
    legend.write_text("red,green,blue,label\n0,0,255,water\n255,0,0,granite\n0,128,0,schist\n")
    layer = QgsVectorLayer(str(legend), "legend", "ogr")
    whole = read_indices(quantize({"INPUT": SAMPLE_MAP, "PALETTE_FILE": layer, "OUTPUT": str(tmp_path / "a.tif")})["OUTPUT"])
    assert set(np.unique(whole)) == {0, 1, 2, 255}  # 255: nodata, where the map is transparent
    assert layer.setSubsetString("\"label\" <> 'water'")
    with pytest.raises(QgsProcessingException, match=r"Palette file \(PALETTE_FILE\) is layer 'legend', filtered "
                                                    r"\(\"label\" <> 'water'\): the palette file is read whole"):
        quantize({"INPUT": SAMPLE_MAP, "PALETTE_FILE": layer, "OUTPUT": str(tmp_path / "b.tif")})
    assert not (tmp_path / "b.tif").exists()

def test_report_thumbnails_take_each_colours_entry_from_the_scan():
    from palettize.engine.run import EXTRACT_NODATA as NODATA, histogram_entries

    codes, entries = np.array([5, 9, 300], dtype=np.uint32), np.array([2, 0, 1])
    opaque, faint = np.uint32(255 << 24), np.uint32(10 << 24)
    rgba = np.array([[9 | opaque, 300 | opaque], [5 | opaque, 77 | faint]], dtype=np.uint32)
    assert histogram_entries(rgba, codes, entries, 128).tolist() == [[0, 1], [2, NODATA]]
    assert (histogram_entries(rgba, codes[:0], entries[:0], 128) == NODATA).all()
