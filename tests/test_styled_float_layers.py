"""Styled Float32 layers (pseudocolour of every ramp type, stretched grey, paletted) are quantized
exactly as QGIS draws them, whether each block is drawn or the values are classified into the
pieces of one colour that QGIS's own drawing of chosen values reveals."""

import numpy as np
import pytest
from osgeo import gdal

from rasters import feedback_log, quantize, read_indices, write_raster

NODATA = -9999.0
ITEMS = [100.0, 250.5, 400.1, 555.0, 700.0, 0.1, 1200.0]


def _around(values):
    values = np.asarray(values, dtype=np.float32)
    with np.errstate(over="ignore"):
        return np.concatenate([values, np.nextafter(values, np.float32(-np.inf)),
                               np.nextafter(values, np.float32(np.inf))])


def _values():
    """Random values beyond the styles' range, every break and its float32 neighbours, nodata,
    NaN, infinities, zeros of both signs, a subnormal and huge values."""
    rng = np.random.default_rng(7)
    values = rng.uniform(-300, 1500, (41, 53)).astype(np.float32)
    special = np.concatenate([
        _around(ITEMS + [0.0, 1200.0 / 7, 240.0, 960.0, 3.0, 5.0]),
        np.array([NODATA, np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40, 1e30, -1e30, 3e9, 1e12, 3.4e38],
                 dtype=np.float32)])
    values.ravel()[:len(special)] = special
    return values


def _pseudocolour(layer, kind, clip=False):
    from qgis.core import QgsColorRampShader, QgsRasterShader, QgsSingleBandPseudoColorRenderer
    from qgis.PyQt.QtGui import QColor

    ramp = QgsColorRampShader(0, 1200, None, getattr(QgsColorRampShader.Type, kind))
    ramp.setColorRampItemList([QgsColorRampShader.ColorRampItem(v, QColor(37 * i % 256, 250 - 31 * i, 40 + 29 * i))
                               for i, v in enumerate(sorted(ITEMS))])
    ramp.setClip(clip)
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    layer.setRenderer(QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader))


def _grey(layer, algorithm="StretchToMinimumMaximum"):
    from qgis.core import QgsContrastEnhancement, QgsSingleBandGrayRenderer

    renderer = QgsSingleBandGrayRenderer(layer.dataProvider(), 1)
    enhancement = QgsContrastEnhancement(layer.dataProvider().dataType(1))
    enhancement.setContrastEnhancementAlgorithm(getattr(QgsContrastEnhancement.ContrastEnhancementAlgorithm, algorithm))
    enhancement.setMinimumValue(1200.0 / 7)
    enhancement.setMaximumValue(960.0)
    renderer.setContrastEnhancement(enhancement)
    layer.setRenderer(renderer)


def _paletted(layer):
    from qgis.core import QgsPalettedRasterRenderer
    from qgis.PyQt.QtGui import QColor

    classes = [QgsPalettedRasterRenderer.Class(v, QColor(60 * i % 256, 200, 30 * i), str(v))
               for i, v in enumerate([0.0, 3.0, 5.0, 100.0, 250.5])]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))


STYLES = {
    "discrete pseudocolour": lambda layer: _pseudocolour(layer, "Discrete"),
    "exact pseudocolour": lambda layer: _pseudocolour(layer, "Exact"),
    "interpolated pseudocolour": lambda layer: _pseudocolour(layer, "Interpolated"),
    "clipped interpolated pseudocolour": lambda layer: _pseudocolour(layer, "Interpolated", clip=True),
    "stretched grey": _grey,
    "clipped grey": lambda layer: _grey(layer, "ClipToMinimumMaximum"),
    "paletted": _paletted,
}


def _run_both_ways(tmp_path, monkeypatch, layer_for, looks_up=True):
    """Indices through the pieces and through drawing every block; whether the first run said it
    classified the values."""
    from palettize.algorithms import rendered_source

    results, classified = [], None
    for lookup in (True, False):
        if not lookup:
            monkeypatch.setattr(rendered_source, "lookup_plan", lambda *args: None)
        log = feedback_log()
        out = quantize({"INPUT": layer_for(), "PALETTE": "win256", "OUTPUT": str(tmp_path / "out-{}.tif".format(lookup))},
                       feedback=log)
        if lookup:
            classified = any(" of its values found by drawing" in line for line in log.infos)
        results.append(read_indices(out["OUTPUT"]))
    monkeypatch.undo()
    return results, classified


@pytest.mark.parametrize("style", sorted(STYLES))
def test_classified_float_values_give_the_indices_of_the_layer_as_drawn(qgis_app, tmp_path, monkeypatch, style):
    from qgis.core import QgsRasterLayer

    path = write_raster(str(tmp_path / "in.tif"), _values()[None], gdal_type=gdal.GDT_Float32, nodata=NODATA)

    def layer_for():
        layer = QgsRasterLayer(path, "styled", "gdal")
        STYLES[style](layer)
        return layer

    (classified, drawn), said = _run_both_ways(tmp_path, monkeypatch, layer_for)
    assert said
    assert np.array_equal(classified, drawn)
    assert (classified == 65535).any() and (classified != 65535).any()  # nodata and classes both present


def test_user_nodata_ranges_and_transparent_values_are_classified_as_drawn(qgis_app, tmp_path, monkeypatch):
    from qgis.core import QgsRasterLayer, QgsRasterRange, QgsRasterTransparency

    path = write_raster(str(tmp_path / "in.tif"), _values()[None], gdal_type=gdal.GDT_Float32)

    def layer_for():
        layer = QgsRasterLayer(path, "styled", "gdal")
        _pseudocolour(layer, "Interpolated")
        layer.dataProvider().setUserNoDataValue(1, [QgsRasterRange(250.5, 400.1)])
        transparent = QgsRasterTransparency.TransparentSingleValuePixel()
        transparent.min, transparent.max = 555.0, 700.0
        if hasattr(transparent, "percentTransparent"):  # QGIS < 3.30; later ones say opacity
            transparent.percentTransparent = 100.0
        else:
            transparent.opacity = 0.0
        transparency = QgsRasterTransparency()
        transparency.setTransparentSingleValuePixelList([transparent])
        layer.renderer().setRasterTransparency(transparency)
        return layer

    (classified, drawn), said = _run_both_ways(tmp_path, monkeypatch, layer_for)
    assert said
    assert np.array_equal(classified, drawn)
    values = _values().astype(np.float64)  # as QGIS compares them
    assert (classified[(values >= 250.5) & (values <= 400.1)] == 65535).all()
    assert (classified[(values >= 555.0) & (values <= 700.0)] == 65535).all()


def test_partly_transparent_ramp_colours_are_drawn_block_by_block(qgis_app, tmp_path, monkeypatch):
    from qgis.core import QgsRasterLayer

    path = write_raster(str(tmp_path / "in.tif"), _values()[None], gdal_type=gdal.GDT_Float32, nodata=NODATA)

    def layer_for():
        layer = QgsRasterLayer(path, "styled", "gdal")
        _pseudocolour(layer, "Interpolated")
        function = layer.renderer().shader().rasterShaderFunction()
        items = function.colorRampItemList()
        for i, item in enumerate(items):
            item.color.setAlpha(255 - 30 * i)
        function.setColorRampItemList(items)
        return layer

    (first, drawn), said = _run_both_ways(tmp_path, monkeypatch, layer_for)
    assert not said  # QGIS draws premultiplied colours: un-premultiplied, a channel can fall and rise
    assert np.array_equal(first, drawn)


def test_a_band_with_a_scale_and_offset_is_classified_by_the_values_qgis_shows(qgis_app, tmp_path, monkeypatch):
    from qgis.core import QgsRasterLayer

    with np.errstate(over="ignore"):  # the largest values become infinities
        raw = (_values() - 100.0) * 2.0  # shown as raw * 0.5 + 100: the values of the other tests
    path = write_raster(str(tmp_path / "in.tif"), raw[None], gdal_type=gdal.GDT_Float32, nodata=NODATA)
    dataset = gdal.Open(path, gdal.GA_Update)
    dataset.GetRasterBand(1).SetScale(0.5)
    dataset.GetRasterBand(1).SetOffset(100.0)
    dataset = None

    def layer_for():
        layer = QgsRasterLayer(path, "scaled", "gdal")
        _pseudocolour(layer, "Discrete")
        return layer

    (classified, drawn), said = _run_both_ways(tmp_path, monkeypatch, layer_for)
    assert said
    assert np.array_equal(classified, drawn)
    assert len(np.unique(classified)) > 3


def test_a_float_layer_with_colour_filters_is_drawn_block_by_block(qgis_app, tmp_path, monkeypatch):
    from qgis.core import QgsRasterLayer

    path = write_raster(str(tmp_path / "in.tif"), _values()[None], gdal_type=gdal.GDT_Float32, nodata=NODATA)

    def layer_for():
        layer = QgsRasterLayer(path, "styled", "gdal")
        _pseudocolour(layer, "Interpolated")
        layer.hueSaturationFilter().setGrayscaleMode(layer.hueSaturationFilter().GrayscaleLightness)
        return layer

    (first, drawn), said = _run_both_ways(tmp_path, monkeypatch, layer_for)
    assert not said  # a grey made of rising and falling channels can return: not classified
    assert np.array_equal(first, drawn)


def _ramp_oracle(values):
    """A stand-in style: a grey stretch from -3.5 to 1e6 in double arithmetic, an exact class at 2,
    transparent NaN and infinities."""
    with np.errstate(invalid="ignore"):  # signalling NaNs among the values
        values = np.asarray(values, dtype=np.float64)
        grey = np.clip(((values - -3.5) / (1e6 - -3.5) * 255.0), 0, 255)
        grey = np.where(np.isfinite(values), grey, 0).astype(np.uint32)
    colours = grey * np.uint32(0x010101) | np.uint32(0xFF000000)
    colours[values == 2.0] = 0xFF0000FF
    colours[~np.isfinite(values)] = 0
    return colours


def test_pieces_found_by_drawing_classify_every_float32_as_the_style_draws_it():
    from palettize.engine.pointwise import PieceClassifier, find_pieces

    drawn = []
    starts, colours = find_pieces(lambda v: drawn.append(len(v)) or _ramp_oracle(v), [-3.5, 1e6, 2.0])
    assert len(starts) == 256 + 4  # 256 greys, the class at 2 and the grey after it, transparent infinities
    classifier = PieceClassifier(starts, colours, _ramp_oracle([np.nan])[0])
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.integers(0, 1 << 32, 1 << 20, dtype=np.uint64).astype(np.uint32).view(np.float32),
                             rng.uniform(-10, 1.1e6, 1 << 20).astype(np.float32), _around(starts[1:]),
                             np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 2.0], np.float32)])
    assert np.array_equal(classifier.colours[classifier.classify(values)], _ramp_oracle(values))
    assert sum(drawn) < 20000  # a search, not a sweep


@pytest.mark.parametrize("gdal_type", [gdal.GDT_Float32, gdal.GDT_Int16], ids=["Float32", "Int16"])
def test_a_style_on_another_band_than_the_first_runs_without_gdal_errors_about_palettizes_own_files(
        qgis_app, tmp_path, capfd, gdal_type):
    """A pseudocolour style on band 2 of three: the values drawn to learn its colours go into band 2
    of a file of Palettize's own, the other bands all 0. QGIS 3.40 computed the default style's
    statistics of those bands and printed GDAL's "ERROR 5: values-1.tif, band 1: dfMax should be
    strictly greater than dfMin", 14 lines in a run that went well."""
    from qgis.core import QgsColorRampShader, QgsRasterLayer, QgsRasterShader, QgsSingleBandPseudoColorRenderer
    from qgis.PyQt.QtGui import QColor

    rows, cols = np.mgrid[0:150, 0:200]
    bands = np.stack([rows + cols, cols * 2 - 100 + rows * 0.5, rows * 3 - cols])
    path = write_raster(str(tmp_path / "in.tif"), bands, gdal_type=gdal_type)
    layer = QgsRasterLayer(path, "band 2", "gdal")
    ramp = QgsColorRampShader(-100, 1000, None, QgsColorRampShader.Type.Discrete)
    ramp.setColorRampItemList([QgsColorRampShader.ColorRampItem(value, QColor(*colour)) for value, colour in
                               [(0, (200, 30, 30)), (150, (30, 200, 30)), (1000, (30, 30, 200))]])
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    layer.setRenderer(QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 2, shader))
    capfd.readouterr()
    indices = read_indices(quantize({"INPUT": layer, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"])
    assert "ERROR" not in capfd.readouterr().err
    values = bands[1]
    expected_colours = np.where((values <= 0)[..., None], [200, 30, 30], np.where((values <= 150)[..., None],
                                                                                   [30, 200, 30], [30, 30, 200]))
    from palettize.engine.nearest import nearest_palette_indices
    from palettize.palettes.palette import builtin_palette
    expected = nearest_palette_indices(expected_colours.reshape(-1, 3), builtin_palette("vga16").colours, "rgb")
    assert indices.ravel().tolist() == expected.tolist()
