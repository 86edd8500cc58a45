"""SOURCE=rendered quantizes the layer as QGIS draws it: pseudocolour, paletted and RGB layers."""

import os
import re

import numpy as np
import pytest
from osgeo import gdal

from palettize.engine.nearest import brute_force_indices
from palettize.palettes.palette import builtin_palette
from rasters import drawn_on_map, feedback_log, quantize, random_rgba, read_indices, write_raster

VGA = builtin_palette("vga16").colours.tolist()


def identity_stretched(path):
    """The RGB(A) file as a layer whose style is a 0-255 stretch: the same pixels, but drawn by
    QGIS's renderer instead of read directly."""
    from qgis.core import Qgis, QgsContrastEnhancement, QgsRasterLayer

    layer = QgsRasterLayer(path, "stretched", "gdal")
    renderer = layer.renderer().clone()
    for setter in (renderer.setRedContrastEnhancement, renderer.setGreenContrastEnhancement,
                   renderer.setBlueContrastEnhancement):
        enhancement = QgsContrastEnhancement(Qgis.DataType.Byte)
        enhancement.setContrastEnhancementAlgorithm(QgsContrastEnhancement.StretchToMinimumMaximum)
        enhancement.setMinimumValue(0)
        enhancement.setMaximumValue(255)
        setter(enhancement)
    layer.setRenderer(renderer)
    return layer


def test_pseudocolour_layer_is_quantized_as_drawn(qgis_app, tmp_path):
    from qgis.core import QgsColorRampShader, QgsRasterShader, QgsRasterLayer, QgsSingleBandPseudoColorRenderer
    from qgis.PyQt.QtGui import QColor

    values = np.array([[0.0, 1.0, 2.0], [2.5, 1.2, 0.1]], dtype=np.float32)
    path = write_raster(str(tmp_path / "depth.tif"), values[None], gdal_type=gdal.GDT_Float32)
    layer = QgsRasterLayer(path, "depth", "gdal")
    ramp = QgsColorRampShader(0, 3, None, QgsColorRampShader.Discrete)
    ramp.setColorRampItemList([
        QgsColorRampShader.ColorRampItem(0.5, QColor(*VGA[4]), "shallow"),
        QgsColorRampShader.ColorRampItem(1.5, QColor(*VGA[10]), "middle"),
        QgsColorRampShader.ColorRampItem(3.0, QColor(*VGA[9]), "deep"),
    ])
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    layer.setRenderer(QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader))
    out = quantize({"INPUT": layer, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert read_indices(out).tolist() == [[4, 10, 9], [9, 10, 4]]
    # Saved as the file's default style (depth.qml), it is the style a run given the file's path draws,
    # as QGIS draws the file when it is opened (Processing alone would open it in grey).
    assert layer.saveDefaultStyle()[1]
    out = quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "from_path.tif")})["OUTPUT"]
    assert read_indices(out).tolist() == [[4, 10, 9], [9, 10, 4]]


def test_a_layer_a_script_styled_and_keeps_in_its_context_is_drawn_with_that_style(qgis_app, tmp_path):
    """A script chaining algorithms keeps its styled layer in the context's temporary layer store:
    the run took it for a file Processing had opened from its path, gave it the default style
    saved beside the file (grey), changing the script's layer, and quantized that instead. Named
    by its file's path, it is the layer QGIS finds in the store: the run did the same then."""
    from qgis.core import QgsProcessingContext, QgsProject, QgsRasterLayer

    path = _depth_file(tmp_path)
    assert QgsRasterLayer(path, "grey", "gdal").saveDefaultStyle()[1]  # depth.qml: grey
    layer = _depth_in_colours(path)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    context.temporaryLayerStore().addMapLayer(layer)
    for given in (layer, layer.id(), path):
        out = quantize({"INPUT": given, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")}, context=context)
        assert read_indices(out["OUTPUT"]).tolist() == [[4, 10, 9], [9, 10, 4]]
        assert layer.renderer().type() == "singlebandpseudocolor"


def test_paletted_layer_from_a_colour_table_is_quantized_as_drawn(qgis_app, tmp_path):
    classes = np.array([[0, 1, 2], [2, 2, 0]], dtype=np.uint8)
    path = write_raster(str(tmp_path / "units.tif"), classes[None])
    dataset = gdal.Open(path, gdal.GA_Update)
    table = gdal.ColorTable()
    for value, colour in enumerate([VGA[12], VGA[1], VGA[14]]):
        table.SetColorEntry(value, tuple(colour) + (255,))
    dataset.GetRasterBand(1).SetRasterColorTable(table)
    dataset = None
    out = quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert read_indices(out).tolist() == [[12, 1, 14], [14, 14, 12]]


def test_reading_plain_rgb_directly_gives_what_qgis_draws(qgis_app, tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(70, 90, seed=5), alpha=True)
    direct = quantize({"INPUT": path, "METRIC": "cielab", "OUTPUT": str(tmp_path / "direct.tif")})["OUTPUT"]
    drawn = quantize({"INPUT": identity_stretched(path), "METRIC": "cielab", "OUTPUT": str(tmp_path / "drawn.tif")})
    assert np.array_equal(read_indices(direct), read_indices(drawn["OUTPUT"]))


def test_a_plain_rgb_run_gives_gdal_no_reason_to_warn(qgis_app, tmp_path):
    """GDAL 3.7 and later (QGIS 3.40 on Debian 13) warned six times a run, on the console and
    qgis_process's stderr, that asking a Byte band whether it is signed "is no longer used"."""
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(20, 20), alpha=True)
    warnings = []
    gdal.PushErrorHandler(lambda kind, number, message: warnings.append(message))
    try:
        quantize({"INPUT": path, "OUTPUT": str(tmp_path / "out.tif")})
    finally:
        gdal.PopErrorHandler()
    assert warnings == []


def test_layer_opacity_does_not_turn_pixels_into_nodata(qgis_app, tmp_path):
    from qgis.core import QgsRasterLayer

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(10, 10, seed=6, transparent_share=0), alpha=True)
    layer = identity_stretched(path)
    layer.renderer().setOpacity(0.3)
    log = feedback_log()
    faded = read_indices(quantize({"INPUT": layer, "OUTPUT": str(tmp_path / "faded.tif")}, feedback=log)["OUTPUT"])
    plain = read_indices(quantize({"INPUT": QgsRasterLayer(path), "OUTPUT": str(tmp_path / "plain.tif")})["OUTPUT"])
    assert np.array_equal(faded, plain)
    # documented, and said in the run's log: the opacity set on the map is not the output's
    assert "Layer '{}' is drawn at 30% opacity on the map; the opacity is ignored: its pixels are classified as drawn " \
           "opaque.".format(layer.name()) in log.warnings


@pytest.mark.parametrize("gdal_type", [gdal.GDT_Byte, gdal.GDT_UInt16, gdal.GDT_Float32], ids=["Byte", "UInt16", "Float32"])
@pytest.mark.parametrize("alpha_band", [1, 2])
def test_a_single_band_style_with_a_transparency_band_hides_what_that_band_hides(qgis_app, tmp_path, gdal_type,
                                                                                  alpha_band):
    """The transparency band of the layer's Transparency panel: a grey style of one band, made
    transparent by another band (before or after it), as QGIS draws it."""
    from qgis.core import QgsContrastEnhancement, QgsRasterLayer, QgsSingleBandGrayRenderer

    grey = np.array([[0, 128, 255, 60, 192], [200, 30, 90, 255, 128]])
    alpha = np.array([[255, 0, 255, 0, 255], [0, 255, 255, 0, 255]])
    bands = [grey, alpha] if alpha_band == 2 else [alpha, grey]
    path = write_raster(str(tmp_path / "masked.tif"), np.stack(bands), gdal_type=gdal_type)
    layer = QgsRasterLayer(path, "masked", "gdal")
    renderer = QgsSingleBandGrayRenderer(layer.dataProvider(), 3 - alpha_band)
    enhancement = QgsContrastEnhancement(layer.dataProvider().dataType(1))
    enhancement.setContrastEnhancementAlgorithm(QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum)
    enhancement.setMinimumValue(0)
    enhancement.setMaximumValue(255)
    renderer.setContrastEnhancement(enhancement)
    renderer.setAlphaBand(alpha_band)
    layer.setRenderer(renderer)
    out = quantize({"INPUT": layer, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    nearest = brute_force_indices(np.repeat(grey.reshape(-1, 1), 3, axis=1), np.array(VGA), "rgb").reshape(grey.shape)
    assert read_indices(out).tolist() == np.where(alpha == 0, 255, nearest).tolist()


def _hills(rows, cols):
    """A Float32 landscape with a hole of nodata."""
    y, x = np.mgrid[0:rows, 0:cols]
    heights = (np.sin(x / 7.0) * 80 + np.cos(y / 23.0) * 60 + y * 0.3).astype(np.float32)
    heights[100:110, 10:20] = -9999
    return heights


@pytest.mark.parametrize("style", ["hillshade", "contours"])
def test_a_style_drawn_from_neighbouring_pixels_is_quantized_as_qgis_draws_it_on_a_map(qgis_app, tmp_path, style):
    """Hillshade and contours colour a pixel from its neighbours: a layer taller than one block
    (512 rows) has no seams where the blocks meet, but the pixels QGIS draws on a map."""
    from qgis.core import QgsHillshadeRenderer, QgsRasterContourRenderer, QgsRasterLayer

    path = write_raster(str(tmp_path / "dem.tif"), _hills(600, 40)[None], gdal_type=gdal.GDT_Float32, nodata=-9999)
    layer = QgsRasterLayer(path, "dem", "gdal")
    if style == "hillshade":
        layer.setRenderer(QgsHillshadeRenderer(layer.dataProvider(), 1, 315, 45))
    else:
        renderer = QgsRasterContourRenderer(layer.dataProvider())
        renderer.setInputBand(1)
        renderer.setContourInterval(20)
        layer.setRenderer(renderer)
    out = quantize({"INPUT": layer, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    indices = read_indices(out)
    drawn, alpha = drawn_on_map(layer, layer.extent(), 40, 600)
    expected = brute_force_indices(drawn.reshape(-1, 3), np.array(VGA), "rgb").reshape(600, 40)
    opaque = alpha == 255  # contour lines are drawn antialiased over transparency
    assert np.array_equal(indices[opaque], expected[opaque])
    assert (indices[alpha < 128] == 255).all() and (indices[alpha >= 128] != 255).all()


def test_drawn_pixels_are_unpremultiplied_exactly_for_every_alpha():
    from palettize.algorithms.rendered_source import argb_to_rgba, unpremultiply
    from palettize.engine.nearest import pack_rgba

    rng = np.random.default_rng(7)
    alpha = np.repeat(np.arange(256, dtype=np.uint32), 64).reshape(128, 128)
    channels = [np.minimum(rng.integers(0, 256, alpha.shape), alpha).astype(np.uint32) for _ in range(3)]
    argb = (alpha << 24) | (channels[0] << 16) | (channels[1] << 8) | channels[2]
    assert np.array_equal(argb_to_rgba(argb), pack_rgba(*unpremultiply(argb)))


def test_bands_chosen_for_a_rendered_run_are_warned_of_as_unused(qgis_app, tmp_path):
    """RED_BAND, GREEN_BAND, BLUE_BAND and ALPHA_BAND are read with SOURCE=bands only: a run that
    reads the layer as drawn says so, instead of reading other bands than the ones given without a word."""
    from rasters import feedback_log

    image = random_rgba(20, 30, seed=8)
    path = write_raster(str(tmp_path / "five.tif"), np.concatenate([image, image[:1]]))
    log = feedback_log()
    quantize({"INPUT": path, "PALETTE": "vga16", "RED_BAND": 5, "GREEN_BAND": 3, "BLUE_BAND": 1, "ALPHA_BAND": 4,
              "OUTPUT": str(tmp_path / "drawn.tif")}, feedback=log)
    assert ("Red band (RED_BAND), Green band (GREEN_BAND), Blue band (BLUE_BAND) = 5, 3, 1 and Alpha band (ALPHA_BAND) "
            "= 4 are read with Pixel source (SOURCE) = bands only: this run reads the layer as drawn with its "
            "style. Set Pixel source (SOURCE) to bands to read those bands.") in log.warnings
    log = feedback_log()
    quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "plain.tif")}, feedback=log)
    assert not [w for w in log.warnings if "RED_BAND" in w]


@pytest.mark.parametrize("alpha_band, percent", [(255, 60.0), (200, 50.0), (200, 20.0), (255, 30.0)])
def test_an_rgba_layer_with_a_transparency_list_takes_the_alpha_qgis_draws_the_product_of_both(
        qgis_app, tmp_path, alpha_band, percent):
    """QGIS multiplies a transparency list entry's opacity by the alpha band's value: the run took
    the alpha band's value alone, and classified pixels QGIS draws mostly transparent (alpha 102
    for a 60 % entry over an alpha band of 255)."""
    from qgis.core import QgsRasterLayer, QgsRasterTransparency

    bands = np.zeros((4, 5, 7), dtype=np.uint8)
    bands[:3] = np.array([200, 40, 40])[:, None, None]
    bands[:3, 2:] = np.array([30, 30, 220])[:, None, None]
    bands[3] = alpha_band
    path = write_raster(str(tmp_path / "rgba.tif"), bands, alpha=True)
    layer = QgsRasterLayer(path, "rgba", "gdal")
    pixel = QgsRasterTransparency.TransparentThreeValuePixel()
    pixel.red, pixel.green, pixel.blue, pixel.percentTransparent = 200.0, 40.0, 40.0, percent
    transparency = QgsRasterTransparency()
    transparency.setTransparentThreeValuePixelList([pixel])
    layer.renderer().setRasterTransparency(transparency)
    assert layer.renderer().alphaBand() == 4
    _, alpha = drawn_on_map(layer, layer.extent(), 7, 5)
    out = quantize({"INPUT": layer, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    indices = read_indices(out)
    dataset = gdal.Open(out)
    nodata = dataset.GetRasterBand(1).GetNoDataValue()
    dataset = None
    expected = np.where(alpha < 128, nodata, np.where(np.arange(5)[:, None] < 2, 4, 1))
    assert indices.tolist() == expected.tolist()
    assert (alpha[:2] < 128).all() == (percent == 60.0 or alpha_band == 200 and percent == 50.0)


@pytest.mark.parametrize("style, said", [("paletted", "its paletted style has no classes"),
                                         ("pseudocolour", "its pseudocolour style has no colour ramp")])
def test_a_style_that_draws_nothing_is_refused_saying_what_to_do(qgis_app, tmp_path, style, said):
    """A paletted style never classified (QGIS draws the layer transparent) failed 'unexpectedly',
    naming a temporary file of the run."""
    from qgis.core import (QgsPalettedRasterRenderer, QgsProcessingException, QgsRasterLayer,
                           QgsSingleBandPseudoColorRenderer)

    path = write_raster(str(tmp_path / "units.tif"), (np.arange(35).reshape(1, 5, 7) % 5).astype(np.uint8))
    layer = QgsRasterLayer(path, "units", "gdal")
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, []) if style == "paletted" else
                      QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, None))
    with pytest.raises(QgsProcessingException, match=re.escape("Layer 'units' draws nothing: {}".format(said))):
        quantize({"INPUT": layer, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})
    assert sorted(os.listdir(tmp_path)) == ["units.tif"]


def _depth_file(tmp_path):
    """depth.tif: Float32 depths, [[0, 1, 2], [2.5, 1.2, 0.1]]."""
    values = np.array([[0.0, 1.0, 2.0], [2.5, 1.2, 0.1]], dtype=np.float32)
    return write_raster(str(tmp_path / "depth.tif"), values[None], gdal_type=gdal.GDT_Float32)


def _depth_in_colours(path):
    """The depths as a layer in three classes of VGA colours, entries [[4, 10, 9], [9, 10, 4]]."""
    from qgis.core import QgsColorRampShader, QgsRasterLayer, QgsRasterShader, QgsSingleBandPseudoColorRenderer
    from qgis.PyQt.QtGui import QColor

    layer = QgsRasterLayer(path, "depth", "gdal")
    ramp = QgsColorRampShader(0, 3, None, QgsColorRampShader.Discrete)
    ramp.setColorRampItemList([QgsColorRampShader.ColorRampItem(limit, QColor(*VGA[entry]))
                               for limit, entry in ((0.5, 4), (1.5, 10), (3.0, 9))])
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    layer.setRenderer(QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader))
    return layer


def _depth_with_its_default_style(tmp_path):
    """depth.tif and, beside it, depth.qml: the pseudocolour style QGIS draws it with."""
    path = _depth_file(tmp_path)
    assert _depth_in_colours(path).saveDefaultStyle()[1]
    return path


def test_a_file_another_step_opened_into_the_context_is_still_drawn_with_its_default_style(qgis_app, tmp_path):
    """Another algorithm given the same path in the same context (a script, a model's earlier
    step) opened the file into the context's store without the style saved beside it; the run
    took that layer for the caller's own and quantized it in grey."""
    import processing
    from qgis.core import QgsProcessingContext, QgsProject

    path = _depth_with_its_default_style(tmp_path)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    processing.run("native:rasterlayerstatistics", {"INPUT": path, "BAND": 1}, context=context)
    out = quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")}, context=context)
    assert read_indices(out["OUTPUT"]).tolist() == [[4, 10, 9], [9, 10, 4]]


def test_a_file_given_to_a_model_is_drawn_with_its_default_style(qgis_app, tmp_path):
    """The model's own check opens its raster input into the store before the step runs."""
    import processing
    from qgis.core import (QgsProcessingModelAlgorithm, QgsProcessingModelChildAlgorithm,
                           QgsProcessingModelChildParameterSource, QgsProcessingModelOutput,
                           QgsProcessingModelParameter, QgsProcessingParameterRasterLayer)

    path = _depth_with_its_default_style(tmp_path)
    model = QgsProcessingModelAlgorithm("depths", "palettize tests")
    model.addModelParameter(QgsProcessingParameterRasterLayer("raster", "raster"), QgsProcessingModelParameter("raster"))
    step = QgsProcessingModelChildAlgorithm("palettize:quantize")
    step.setChildId("quantize")
    step.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromModelParameter("raster")])
    step.addParameterSources("PALETTE", [QgsProcessingModelChildParameterSource.fromStaticValue("vga16")])
    output = QgsProcessingModelOutput("classes")
    output.setChildId("quantize")
    output.setChildOutputName("OUTPUT")
    step.setModelOutputs({"classes": output})
    model.addChildAlgorithm(step)
    processing.run(model, {"raster": path, "quantize:classes": str(tmp_path / "out.tif")})
    assert read_indices(str(tmp_path / "out.tif")).tolist() == [[4, 10, 9], [9, 10, 4]]
