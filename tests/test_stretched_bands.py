"""Multiband Byte layers whose bands are stretched from a minimum to a maximum are quantized exactly
as QGIS draws them, whether each block is drawn or the bands are read and stretched through
tables of what QGIS draws for each of their 256 values."""

import numpy as np
import pytest
from osgeo import gdal

from rasters import feedback_log, quantize, random_rgba, read_indices, write_raster


def _stretch(layer, bands, limits, algorithm="StretchToMinimumMaximum"):
    """A multiband style of ``bands`` (red, green, blue) with a stretch per band from ``limits``
    (low, high), or None for a band drawn as it is."""
    from qgis.core import Qgis, QgsContrastEnhancement, QgsMultiBandColorRenderer

    renderer = QgsMultiBandColorRenderer(layer.dataProvider(), *bands)
    for setter, limit in zip((renderer.setRedContrastEnhancement, renderer.setGreenContrastEnhancement,
                              renderer.setBlueContrastEnhancement), limits):
        if limit is None:
            continue
        enhancement = QgsContrastEnhancement(Qgis.DataType.Byte)
        enhancement.setContrastEnhancementAlgorithm(getattr(QgsContrastEnhancement.ContrastEnhancementAlgorithm,
                                                            algorithm))
        enhancement.setMinimumValue(limit[0])
        enhancement.setMaximumValue(limit[1])
        setter(enhancement)
    layer.setRenderer(renderer)


def _run_both_ways(tmp_path, monkeypatch, layer_for):
    """Indices through the stretch tables and through drawing every block; whether the first run
    said it used the tables."""
    from palettize.algorithms import rendered_source
    from palettize.engine.pointwise import NotPiecewise

    def refuse(*args):
        raise NotPiecewise("drawn for the comparison")

    results, tabled = [], None
    for tables in (True, False):
        if not tables:
            monkeypatch.setattr(rendered_source, "StretchedBandSource", refuse)
        log = feedback_log()
        out = quantize({"INPUT": layer_for(), "PALETTE": "win256", "METRIC": "cielab",
                        "OUTPUT": str(tmp_path / "out-{}.tif".format(tables))}, feedback=log)
        if tables:
            tabled = any("256 values drawn once" in line for line in log.infos)
        results.append(read_indices(out["OUTPUT"]))
    monkeypatch.undo()
    return results, tabled


CASES = {
    "every band stretched": ((1, 2, 3), [(20, 230), (0, 100), (77.5, 255)], None),
    "bands in another order, one as it is": ((3, 1, 2), [(10, 20), None, (200, 201)], None),
    "one band for two colours, with nodata": ((2, 2, 1), [(50, 150), (0, 255), (30, 31)], 7),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bands_stretched_through_tables_give_the_indices_of_the_layer_as_drawn(qgis_app, tmp_path, monkeypatch, case):
    from qgis.core import QgsRasterLayer

    bands, limits, nodata = CASES[case]
    values = random_rgba(61, 47, seed=9)[:3]
    values[:, 0, :] = np.arange(47)  # values at and around the limits
    path = write_raster(str(tmp_path / "in.tif"), values, nodata=nodata)

    def layer_for():
        layer = QgsRasterLayer(path, "stretched", "gdal")
        _stretch(layer, bands, limits)
        return layer

    (tabled, drawn), said = _run_both_ways(tmp_path, monkeypatch, layer_for)
    assert said
    assert np.array_equal(tabled, drawn)
    if nodata is not None:
        assert (tabled == 65535).any() and (tabled != 65535).any()


def test_bands_clipped_to_their_limits_are_drawn_block_by_block(qgis_app, tmp_path, monkeypatch):
    from qgis.core import QgsRasterLayer

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(33, 29, seed=4)[:3], gdal_type=gdal.GDT_Byte)

    def layer_for():
        layer = QgsRasterLayer(path, "clipped", "gdal")
        _stretch(layer, (1, 2, 3), [(20, 230)] * 3, algorithm="ClipToMinimumMaximum")
        return layer

    (first, drawn), said = _run_both_ways(tmp_path, monkeypatch, layer_for)
    assert not said  # values outside the limits make the whole pixel transparent: not a table per band
    assert np.array_equal(first, drawn)
