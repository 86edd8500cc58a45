"""Styled 8- and 16-bit layers (paletted, pseudocolour, grey) are quantized exactly as QGIS draws
them, whether each block is drawn or each possible value is drawn once and looked up."""

import os

import numpy as np
import pytest
from osgeo import gdal

from palettize.engine.nearest import nearest_palette_indices
from palettize.palettes.palette import builtin_palette
from rasters import feedback_log, quantize, read_indices, write_raster

TYPES = {"Byte": (gdal.GDT_Byte, 0, 255), "UInt16": (gdal.GDT_UInt16, 0, 65535), "Int16": (gdal.GDT_Int16, -32768, 32767)}


def _values(gdal_type):
    _, low, high = TYPES[gdal_type]
    rng = np.random.default_rng(5)
    values = rng.integers(low, high + 1, (37, 53))
    values[:3] = np.arange(low, low + 3 * 53).reshape(3, 53) if high - low > 200 else values[:3]
    values[-1, :10] = [low, high, 0, 1, 2, 3, 4, 5, 6, 7]
    return values


def _paletted(layer, low):
    from qgis.core import QgsPalettedRasterRenderer
    from qgis.PyQt.QtGui import QColor

    classes = [QgsPalettedRasterRenderer.Class(low + i, QColor(40 * i % 256, 255 - 30 * i % 256, 17 * i % 256), str(i))
               for i in range(0, 9, 2)]  # odd values have no class: QGIS leaves them transparent
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))


def _pseudocolour(layer, low, high, interpolated=False):
    from qgis.core import QgsColorRampShader, QgsRasterShader, QgsSingleBandPseudoColorRenderer
    from qgis.PyQt.QtGui import QColor

    kind = QgsColorRampShader.Type.Interpolated if interpolated else QgsColorRampShader.Type.Discrete
    ramp = QgsColorRampShader(low, high, None, kind)
    step = (high - low) / 7.0
    ramp.setColorRampItemList([QgsColorRampShader.ColorRampItem(low + step * (i + 1), QColor(30 * i, 200 - 25 * i, 90))
                               for i in range(6)])
    ramp.setClip(True)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    layer.setRenderer(QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader))


def _grey(layer, low, high):
    from qgis.core import QgsContrastEnhancement, QgsSingleBandGrayRenderer

    renderer = QgsSingleBandGrayRenderer(layer.dataProvider(), 1)
    enhancement = QgsContrastEnhancement(layer.dataProvider().dataType(1))
    enhancement.setContrastEnhancementAlgorithm(QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum)
    enhancement.setMinimumValue(low + (high - low) * 0.2)
    enhancement.setMaximumValue(low + (high - low) * 0.7)
    renderer.setContrastEnhancement(enhancement)
    layer.setRenderer(renderer)


STYLES = {
    "paletted": lambda layer, low, high: _paletted(layer, low),
    "discrete pseudocolour": lambda layer, low, high: _pseudocolour(layer, low, high),
    "interpolated pseudocolour": lambda layer, low, high: _pseudocolour(layer, low, high, interpolated=True),
    "stretched grey": _grey,
}


def _run_both_ways(tmp_path, monkeypatch, layer_for, name, palette="win256"):
    from palettize.algorithms import rendered_source

    results = []
    for lookup in (True, False):
        if not lookup:
            monkeypatch.setattr(rendered_source, "lookup_plan", lambda *args: None)
        log = feedback_log()
        out = quantize({"INPUT": layer_for(), "PALETTE": palette,
                        "OUTPUT": str(tmp_path / "{}-{}.tif".format(name, lookup))}, feedback=log)
        assert any("possible values drawn once" in line for line in log.infos) == lookup
        results.append(read_indices(out["OUTPUT"]))
    monkeypatch.undo()
    return results


@pytest.mark.parametrize("gdal_type", sorted(TYPES))
@pytest.mark.parametrize("style", sorted(STYLES))
def test_each_value_drawn_once_gives_the_indices_of_the_layer_as_drawn(qgis_app, tmp_path, monkeypatch, gdal_type, style):
    from qgis.core import QgsRasterLayer

    kind, low, high = TYPES[gdal_type]
    path = write_raster(str(tmp_path / "in.tif"), _values(gdal_type)[None], gdal_type=kind, nodata=low + 4)

    def layer_for():
        layer = QgsRasterLayer(path, "styled", "gdal")
        STYLES[style](layer, low, high)
        return layer

    looked_up, drawn = _run_both_ways(tmp_path, monkeypatch, layer_for, "out")
    assert np.array_equal(looked_up, drawn)
    assert (looked_up == 65535).any() and (looked_up != 65535).any()  # nodata and classes both present


def test_user_nodata_ranges_and_colour_filters_are_drawn_as_the_user_set_them(qgis_app, tmp_path, monkeypatch):
    from qgis.core import QgsRasterLayer, QgsRasterRange

    path = write_raster(str(tmp_path / "in.tif"), _values("UInt16")[None], gdal_type=gdal.GDT_UInt16)

    def layer_for():
        layer = QgsRasterLayer(path, "styled", "gdal")
        _grey(layer, 0, 65535)
        layer.dataProvider().setUserNoDataValue(1, [QgsRasterRange(1000, 20000)])
        layer.brightnessFilter().setBrightness(30)
        layer.hueSaturationFilter().setColorizeOn(True)
        return layer

    looked_up, drawn = _run_both_ways(tmp_path, monkeypatch, layer_for, "filtered")
    assert np.array_equal(looked_up, drawn)
    values = _values("UInt16")
    assert (looked_up[(values >= 1000) & (values <= 20000)] == 65535).all()


SEE_THROUGH_CLASSES = [(1, (200, 100, 50, 150)), (2, (13, 77, 201, 200)), (3, (250, 250, 3, 129))]


def _colours_given(path):
    """The colours of the classes the output's pixels got."""
    dataset = gdal.Open(path)
    table = dataset.GetRasterBand(1).GetColorTable()
    return {table.GetColorEntry(int(i))[:3] for i in np.unique(read_indices(path))}


@pytest.mark.parametrize("gdal_type", ["Byte", "UInt16"])
def test_partly_transparent_classes_of_a_paletted_style_give_their_own_colours_back(qgis_app, tmp_path, gdal_type):
    """A land-cover style drawn see-through, PALETTE=exact: the palette was the classes' colours a
    level or two off ((200, 100, 50) came back as (201, 100, 49)), as QGIS draws them premultiplied
    in 8 bits; it is the style's legend. Layer opacity in the style (renderer opacity) keeps the
    class colours; a brightness filter changes them, and the drawn colours are kept."""
    from qgis.core import QgsPalettedRasterRenderer, QgsRasterLayer
    from qgis.PyQt.QtGui import QColor

    values = np.repeat(np.arange(1, 4), 100).reshape(10, 30)
    path = write_raster(str(tmp_path / "in.tif"), values[None], gdal_type=TYPES[gdal_type][0])
    legend = {colour[:3] for _, colour in SEE_THROUGH_CLASSES}

    def run(name, opacity=1.0, brightness=0):
        layer = QgsRasterLayer(path, "land cover", "gdal")
        renderer = QgsPalettedRasterRenderer(layer.dataProvider(), 1, [
            QgsPalettedRasterRenderer.Class(value, QColor(*colour), str(value)) for value, colour in SEE_THROUGH_CLASSES])
        renderer.setOpacity(opacity)
        layer.setRenderer(renderer)
        layer.brightnessFilter().setBrightness(brightness)
        return quantize({"INPUT": layer, "PALETTE": "exact", "N_COLORS": 10, "ALPHA_THRESHOLD": 1,
                         "OUTPUT": str(tmp_path / (name + ".tif"))})["OUTPUT"]

    assert _colours_given(run("as styled")) == legend
    assert _colours_given(run("half opaque", opacity=0.5)) == legend
    brighter = _colours_given(run("brighter", brightness=40))
    assert len(brighter) == 3 and not brighter & legend


def test_a_style_that_draws_every_value_opaque_gives_byte_without_nodata_for_256_colours(qgis_app, tmp_path):
    from qgis.core import QgsRasterLayer

    path = write_raster(str(tmp_path / "in.tif"), _values("Byte")[None], gdal_type=gdal.GDT_Byte)
    layer = QgsRasterLayer(path, "grey", "gdal")
    _grey(layer, 0, 255)
    out = quantize({"INPUT": layer, "PALETTE": "gray256", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    dataset = gdal.Open(out)
    band = dataset.GetRasterBand(1)
    assert (gdal.GetDataTypeName(band.DataType), band.GetNoDataValue()) == ("Byte", None)
    # gray256 entry i is grey level i: the stretch from 51 to 178.5 drawn by QGIS, looked up.
    values = _values("Byte").astype(float)
    stretched = np.clip(np.round((values - 51.0) * 255.0 / (178.5 - 51.0)), 0, 255)
    assert np.abs(band.ReadAsArray().astype(int) - stretched).max() <= 1


@pytest.mark.parametrize("palette", ["win256", "frequent"])
@pytest.mark.parametrize("classless_pixel", [None, (-1, 0), (300, -1)], ids=["none", "bottom-left", "right-edge"])
def test_a_paletted_byte_layer_needs_nodata_only_when_a_pixel_has_no_class(qgis_app, tmp_path, monkeypatch,
                                                                           classless_pixel, palette):
    """A pixel without class in a corner is seen before writing (windows along the band's
    diagonals); one halfway down the right edge only while writing, which starts again (after the
    scan that builds a palette from the image too)."""
    from qgis.core import QgsRasterLayer

    values = np.arange(0, 9, 2, dtype=np.uint8)[np.random.default_rng(2).integers(0, 5, (600, 600))]
    if classless_pixel is not None:
        values[classless_pixel] = 3  # 3 has no class: QGIS leaves it transparent
    path = write_raster(str(tmp_path / "in.tif"), values[None], gdal_type=gdal.GDT_Byte)

    def layer_for():
        layer = QgsRasterLayer(path, "classes", "gdal")
        _paletted(layer, 0)
        return layer

    log = feedback_log()
    out = quantize({"INPUT": layer_for(), "PALETTE": palette, "OUTPUT": str(tmp_path / "out.tif")}, feedback=log)
    dataset = gdal.Open(out["OUTPUT"])  # kept alive while its band is read
    band = dataset.GetRasterBand(1)
    nodata = 65535 if palette == "win256" else 255  # the 5 classes' palette and nodata fit in a Byte
    expected = ("Byte", None) if classless_pixel is None else ("UInt16" if nodata > 255 else "Byte", nodata)
    assert (gdal.GetDataTypeName(band.DataType), band.GetNoDataValue()) == expected
    written_again = any("transparent pixels after all" in line for line in log.infos)
    assert written_again == (classless_pixel == (300, -1))
    assert sum(line.startswith("Palette: ") for line in log.infos) == 1  # said once, even when written again
    looked_up, drawn = _run_both_ways(tmp_path, monkeypatch, layer_for, "classes", palette)
    assert np.array_equal(looked_up, drawn)
    assert np.array_equal(looked_up == nodata, values == 3)


def test_a_paletted_layer_written_again_with_nodata_is_refused_when_the_disk_cannot_hold_its_wider_type(
        qgis_app, tmp_path, small_disk):
    """The disk was checked for a Byte output; a pixel without class found only while writing needs
    UInt16 with nodata, twice the bytes: refused as the first check would have, nothing left."""
    from qgis.core import QgsProcessingException, QgsRasterLayer

    values = np.arange(0, 9, 2, dtype=np.uint8)[np.random.default_rng(3).integers(0, 5, (1100, 1100))]
    values[550, -1] = 3  # no class, halfway down the right edge: missed by the diagonal windows
    layer = QgsRasterLayer(write_raster(str(tmp_path / "in.tif"), values[None], gdal_type=gdal.GDT_Byte), "classes",
                           "gdal")
    _paletted(layer, 0)
    log = feedback_log()
    with pytest.raises(QgsProcessingException, match="2.4 MB .* Free disk space or write the output elsewhere"):
        quantize({"INPUT": layer, "PALETTE": "win256", "OUTPUT": str(small_disk / "out.tif")}, feedback=log)
    assert any("transparent pixels after all" in line for line in log.infos)
    assert os.listdir(str(small_disk)) == []


def test_a_signed_byte_band_is_drawn_as_qgis_reads_it_negative_values_and_all(qgis_app, tmp_path):
    """A Byte band marked SIGNEDBYTE holds -128 to 127: a pseudocolour style from -100 up leaves the
    values below it transparent on the map, and those pixels are nodata. Each value drawn once gave
    them real classes (its table was drawn from 0-255)."""
    from qgis.core import QgsRasterLayer

    from rasters import drawn_on_map

    values = np.random.default_rng(6).integers(-128, 128, (40, 60))
    path = str(tmp_path / "signed.tif")
    dataset = gdal.GetDriverByName("GTiff").Create(path, 60, 40, 1, gdal.GDT_Byte, ["PIXELTYPE=SIGNEDBYTE"])
    dataset.SetGeoTransform((500000.0, 25.0, 0.0, 7500000.0, 0.0, -25.0))
    band = dataset.GetRasterBand(1)  # Int8 itself from GDAL 3.7 on
    band.WriteArray(values.astype(np.int8) if band.DataType != gdal.GDT_Byte else values.astype(np.int8).view(np.uint8))
    band = None
    dataset = None
    layer = QgsRasterLayer(path, "signed", "gdal")
    _pseudocolour(layer, -100, 127)
    out = quantize({"INPUT": layer, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    _, alpha = drawn_on_map(layer, layer.extent(), 60, 40)
    indices = read_indices(out)
    assert (alpha == 0).sum() > 100
    assert (indices[alpha == 0] == 65535).all() and (indices[alpha == 255] != 65535).all()


def test_rgb_byte_bands_with_a_scale_and_offset_are_quantized_as_drawn(qgis_app, tmp_path):
    """Byte bands whose metadata scale them (0.5 x value + 20), styled without contrast enhancement:
    QGIS draws the scaled values, and they were read raw (58,049 of 60,000 pixels in other classes)."""
    from qgis.core import QgsRasterLayer

    from palettize.engine.nearest import brute_force_indices
    from palettize.palettes.palette import builtin_palette
    from rasters import drawn_on_map

    path = write_raster(str(tmp_path / "scaled.tif"), np.random.default_rng(1).integers(0, 256, (3, 50, 60)))
    dataset = gdal.Open(path, gdal.GA_Update)
    for number in (1, 2, 3):
        dataset.GetRasterBand(number).SetScale(0.5)
        dataset.GetRasterBand(number).SetOffset(20.0)
    dataset = None
    layer = QgsRasterLayer(path, "scaled", "gdal")
    renderer = layer.renderer()
    for set_enhancement in (renderer.setRedContrastEnhancement, renderer.setGreenContrastEnhancement,
                            renderer.setBlueContrastEnhancement):
        set_enhancement(None)
    out = quantize({"INPUT": layer, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    drawn, alpha = drawn_on_map(layer, layer.extent(), 60, 50)
    expected = brute_force_indices(drawn.reshape(-1, 3), builtin_palette("win256").colours, "rgb").reshape(50, 60)
    assert (alpha == 255).all()
    assert np.array_equal(read_indices(out), expected)


def _drawn_argb(renderer, layer, extent=None, width=None, height=None):
    """QGIS's premultiplied ARGB32 drawing by ``renderer`` of the layer's pixels (or of ``extent`` in
    ``width`` x ``height`` pixels), as a uint32 array."""
    width, height = width or layer.width(), height or layer.height()
    block = renderer.block(1, extent or layer.extent(), width, height)
    return np.frombuffer(bytes(block.data()), dtype=np.uint32).reshape(height, width)


def _grey_with_alpha(path, values_below=256, nodata=None):
    """A grey picture with an alpha band of values 0, 1, 128, 129, 200, 254 and 255 (a PNG, or a
    GeoTIFF with ``nodata`` on both bands, as gdal_translate -a_nodata gives it); its grey values."""
    rng = np.random.default_rng(7)
    grey = rng.integers(0, values_below, (48, 64)).astype(np.uint8)
    alpha = rng.choice(np.array([0, 1, 128, 129, 200, 254, 255], np.uint8), grey.shape)
    memory = gdal.GetDriverByName("MEM").Create("", 64, 48, 2, gdal.GDT_Byte)
    memory.SetGeoTransform((500000.0, 10.0, 0.0, 7000000.0, 0.0, -10.0))
    for number, (values, interpretation) in enumerate([(grey, gdal.GCI_GrayIndex), (alpha, gdal.GCI_AlphaBand)], 1):
        memory.GetRasterBand(number).WriteArray(values)
        memory.GetRasterBand(number).SetColorInterpretation(interpretation)
        if nodata is not None:
            memory.GetRasterBand(number).SetNoDataValue(nodata)
    gdal.GetDriverByName("PNG" if path.endswith(".png") else "GTiff").CreateCopy(path, memory)
    memory = None
    return grey


def _expected(colours, drawn, threshold):
    """(indices of win256 nearest to the colours of ``colours``, a drawing with the style's alpha
    band off; the pixels kept: drawn with alpha at least ``threshold`` in ``drawn``; those of them
    whose colour is known exactly: opaque in ``colours``)."""
    rgb = np.stack([(colours >> shift) & 255 for shift in (16, 8, 0)], axis=-1).reshape(-1, 3)
    expected = nearest_palette_indices(rgb, builtin_palette("win256").colours, "rgb").reshape(colours.shape)
    kept = drawn >> 24 >= threshold
    return expected, kept, kept & (colours >> 24 == 255)


def _opaque(layer):
    """The layer's style with its alpha band off, drawing through the layer's pipe."""
    opaque = layer.renderer().clone()
    opaque.setInput(layer.renderer().input())
    opaque.setAlphaBand(-1)
    return opaque


@pytest.mark.parametrize("style", ["default (a grey picture with alpha)", "default, nodata 255 on both bands"] +
                         sorted(STYLES))
@pytest.mark.parametrize("threshold", [128, 0])
def test_a_band_with_an_alpha_band_is_judged_by_its_straight_colour_whatever_its_style(qgis_app, tmp_path, style,
                                                                                       threshold):
    """A grey picture with alpha (a 2-band PNG, drawn by QGIS's grey style with its alpha band), or a
    band styled as paletted or pseudocolour with an alpha band: its partly transparent pixels were
    judged by the colour QGIS draws premultiplied, rebuilt from 8 bits (at alpha 1 a grey came back
    as 0 or 255), and at ALPHA_THRESHOLD=0 its transparent pixels took black's class; the same
    pixels as an RGBA picture were exact. Now as for RGBA: the colour the style draws for the band,
    opaque, and nodata where the alpha QGIS draws is below the threshold (QGIS takes a nodata value
    of the alpha band for an alpha like any other)."""
    from qgis.core import QgsProject, QgsRasterLayer

    path = str(tmp_path / ("grey_alpha.tif" if "nodata" in style else "grey_alpha.png"))
    _grey_with_alpha(path, 9 if style == "paletted" else 256, 255 if "nodata" in style else None)  # even values: classes
    layer = QgsRasterLayer(path, "grey with alpha")
    assert layer.renderer().alphaBand() == 2
    if style in STYLES:
        STYLES[style](layer, 0, 255)
        layer.renderer().setAlphaBand(2)
    QgsProject.instance().addMapLayer(layer)
    try:
        colours, drawn = _drawn_argb(_opaque(layer), layer), _drawn_argb(layer.renderer(), layer)
        indices = read_indices(quantize({"INPUT": layer.id(), "PALETTE": "win256", "ALPHA_THRESHOLD": threshold,
                                         "OUTPUT": str(tmp_path / "classes.tif")})["OUTPUT"])
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    expected, kept, exact = _expected(colours, drawn, threshold)
    assert exact.sum() > colours.size // 3 and (threshold == 0 or not kept.all())
    assert indices[exact].tolist() == expected[exact].tolist()
    if threshold:  # with 0, every pixel has a class, as documented (nodata none)
        assert (indices != 65535).tolist() == kept.tolist()


def test_a_grey_picture_with_alpha_resampled_onto_a_finer_grid_has_the_alpha_a_qgis_map_draws(qgis_app, tmp_path):
    """With bilinear resampling and PIXEL_SIZE, the alpha band drawn apart was not resampled: a
    quarter of the pixels were nodata where a map draws them opaque, or the other way round."""
    from qgis.core import QgsBilinearRasterResampler, QgsProject, QgsRasterLayer, QgsRectangle

    path = str(tmp_path / "grey_alpha.png")
    _grey_with_alpha(path)
    layer = QgsRasterLayer(path, "grey with alpha")
    layer.resampleFilter().setZoomedInResampler(QgsBilinearRasterResampler())
    QgsProject.instance().addMapLayer(layer)
    try:
        output = quantize({"INPUT": layer.id(), "PALETTE": "win256", "PIXEL_SIZE": 2.5,
                           "OUTPUT": str(tmp_path / "classes.tif")})["OUTPUT"]
        extent, width, height = QgsRectangle(500000, 6999520, 500640, 7000000), 256, 192
        opaque = layer.clone()
        opaque.setRenderer(_opaque(layer))
        colours = _drawn_argb(opaque.pipe().last(), layer, extent, width, height)
        drawn = _drawn_argb(layer.pipe().last(), layer, extent, width, height)
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    indices = read_indices(output)
    expected, kept, exact = _expected(colours, drawn, 128)
    assert indices.shape == (192, 256) and 0 < kept.sum() < kept.size and exact.sum() > kept.sum() * 0.9
    assert (indices != 65535).tolist() == kept.tolist()
    assert indices[exact].tolist() == expected[exact].tolist()
