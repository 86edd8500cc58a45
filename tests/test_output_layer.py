"""In QGIS Desktop the result opens with a paletted renderer showing the palette and its labels."""

from qgis.core import (
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingOutputLayerDefinition,
    QgsProject,
    QgsRasterLayer,
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
