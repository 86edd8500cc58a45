"""In QGIS Desktop the result opens with a paletted renderer showing the palette and its labels."""

import os

import pytest
from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputLayerDefinition,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)

from palettize.palettes.palette import builtin_palette
from rasters import quantize, random_rgba, write_raster


def test_loaded_output_gets_a_paletted_renderer_with_labels(qgis_app, tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 6), alpha=True)
    output = str(tmp_path / "out.tif")
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": QgsProcessingOutputLayerDefinition(output, QgsProject.instance())},
             context=context)
    details = context.layerToLoadOnCompletionDetails(output)
    layer = QgsRasterLayer(output, "classes")
    details.postProcessor().postProcessLayer(layer, context, QgsProcessingFeedback())  # as QGIS Desktop does
    renderer = layer.renderer()
    vga = builtin_palette("vga16")
    assert renderer.type() == "paletted"
    assert [c.value for c in renderer.classes()] == list(range(16))
    assert [c.label for c in renderer.classes()] == list(vga.labels)
    assert [c.color.getRgb()[:3] for c in renderer.classes()] == [tuple(c) for c in vga.colours.tolist()]


def test_a_session_of_runs_keeps_no_styler_once_its_layer_is_styled(qgis_app, tmp_path):
    """A run that loads nothing (processing.run) makes no styler, and one that styled the layer it
    loaded goes when the next run makes one: a session of runs does not pile up palettes (20
    processing.run calls kept 20, after the plugin was unloaded too)."""
    from palettize.algorithms.styling import PaletteStyler

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 6), alpha=True)
    before = list(PaletteStyler._alive)
    for run in range(3):
        quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "plain{}.tif".format(run))})
    assert PaletteStyler._alive == before
    waiting = [styler for styler in before if not styler.done]  # earlier tests' layers never loaded
    for run in range(3):
        output, context = str(tmp_path / "loaded{}.tif".format(run)), QgsProcessingContext()
        quantize({"INPUT": path, "PALETTE": "vga16",
                  "OUTPUT": QgsProcessingOutputLayerDefinition(output, QgsProject.instance())}, context=context)
        styler = context.layerToLoadOnCompletionDetails(output).postProcessor()
        styler.postProcessLayer(QgsRasterLayer(output, "classes"), context, QgsProcessingFeedback())
    assert PaletteStyler._alive == waiting + [styler]


def test_stylers_made_by_runs_at_once_all_wait_for_their_layers(qgis_app):
    """Runs in task threads make their stylers at once; the list that keeps them alive for QGIS was
    rebuilt without a lock, and one run's styler could be lost before its layer loaded."""
    import sys
    import threading

    from palettize.algorithms.styling import PaletteStyler

    palette, before, interval = builtin_palette("vga16"), list(PaletteStyler._alive), sys.getswitchinterval()
    made = [[] for _ in range(4)]
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=lambda mine: mine.extend(PaletteStyler(palette) for _ in range(500)),
                                    args=(mine,)) for mine in made]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        kept = set(map(id, PaletteStyler._alive))
        assert all(id(styler) in kept for mine in made for styler in mine)
    finally:
        sys.setswitchinterval(interval)
        PaletteStyler._alive = before


def test_palette_without_labels_labels_classes_by_index(qgis_app, tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 6), alpha=True)
    output = str(tmp_path / "out.tif")
    context = QgsProcessingContext()
    quantize({"INPUT": path, "OUTPUT": QgsProcessingOutputLayerDefinition(output, QgsProject.instance())},
             context=context)
    layer = QgsRasterLayer(output, "classes")
    context.layerToLoadOnCompletionDetails(output).postProcessor().postProcessLayer(
        layer, context, QgsProcessingFeedback())
    assert [c.label for c in layer.renderer().classes()][:3] == ["0", "1", "2"]


def test_output_opened_later_shows_exactly_the_palette_classes(qgis_app, tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 6), alpha=True)
    output = quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.tif")})["OUTPUT"]
    assert (tmp_path / "classes.qml").exists()
    layer = QgsRasterLayer(output, "opened from the browser")
    assert layer.renderer().type() == "paletted"
    assert [c.label for c in layer.renderer().classes()] == list(builtin_palette("vga16").labels)


def test_geotiff_carries_a_raster_attribute_table_and_the_table_output_the_same_rows(qgis_app, tmp_path):
    import numpy as np
    from osgeo import gdal

    from rasters import SAMPLE_MAP

    result = quantize({"INPUT": SAMPLE_MAP, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.tif"),
                       "OUTPUT_TABLE": str(tmp_path / "classes.csv")})
    dataset = gdal.Open(result["OUTPUT"])
    band = dataset.GetRasterBand(1)
    counts = np.bincount(band.ReadAsArray().ravel(), minlength=256)[:16]
    rat = band.GetDefaultRAT()
    vga = builtin_palette("vga16")
    assert [rat.GetNameOfCol(i) for i in range(rat.GetColumnCount())] == ["value", "red", "green", "blue", "label",
                                                                         "count"]
    rows = [[rat.GetValueAsString(row, col) for col in range(5)] + [rat.GetValueAsDouble(row, 5)]
            for row in range(rat.GetRowCount())]
    assert rows == [[str(i), str(r), str(g), str(b), vga.labels[i], float(counts[i])]
                    for i, (r, g, b) in enumerate(vga.colours.tolist())]
    table = QgsVectorLayer(result["OUTPUT_TABLE"], "table", "ogr")
    assert [int(f["pixels"]) for f in table.getFeatures()] == counts.tolist()
    assert [f["label"] for f in table.getFeatures()] == list(vga.labels)


def test_style_the_engine_writes_as_text_opens_in_qgis_with_the_palettes_colours_and_labels(qgis_app, tmp_path):
    # The command line writes the same .qml without QGIS: QGIS must read it as a paletted renderer.
    from palettize.engine.options import PaletteOptions, QuantizeOptions
    from palettize.engine.run import quantize_file
    from palettize.palettes.formats import write_palette_csv
    from palettize.palettes.palette import Palette

    labels = ["Sand & gravel <fine>", "", 'Clay "blue"', "Till\tgrey"]
    colours = [(250, 240, 200), (10, 20, 30), (40, 90, 200), (128, 128, 128)]
    write_palette_csv(Palette(colours, labels), str(tmp_path / "legend.csv"))
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 6), alpha=True)
    output = quantize_file(path, str(tmp_path / "classes.tif"),
                           QuantizeOptions(palette=PaletteOptions(file=str(tmp_path / "legend.csv")))).output
    layer = QgsRasterLayer(output, "opened later")
    renderer = layer.renderer()
    assert renderer.type() == "paletted"
    assert [c.value for c in renderer.classes()] == [0, 1, 2, 3]
    assert [c.color.getRgb()[:3] for c in renderer.classes()] == colours
    assert [c.label for c in renderer.classes()] == ["Sand & gravel <fine>", "1", 'Clay "blue"', "Till\tgrey"]


def test_a_table_named_as_a_shapefile_is_refused(qgis_app, tmp_path):
    """A table without geometry is a shapefile's .dbf alone: OUTPUT_TABLE=table.shp returned a path
    that did not exist (and table.dbf became table.dbf.dbf)."""
    from qgis.core import QgsProcessingException

    from rasters import SAMPLE_MAP

    for name in ("table.shp", "table.dbf"):
        with pytest.raises(QgsProcessingException, match=r"QGIS writes \.{} files as ESRI Shapefile, which cannot hold a "
                                                         r"table without geometry".format(name[-3:])):
            quantize({"INPUT": SAMPLE_MAP, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.tif"),
                      "OUTPUT_TABLE": str(tmp_path / name)})
    assert os.listdir(str(tmp_path)) == []
