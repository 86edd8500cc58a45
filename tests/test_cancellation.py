"""Cancelling a long run stops it promptly and leaves no output file."""

import os

import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback

from palettize.engine import gdal_io
from rasters import quantize, random_rgba, write_raster


@pytest.mark.parametrize("source", ["rendered", "bands"])
def test_cancel_during_the_run_writes_nothing(qgis_app, tmp_path, monkeypatch, source):
    monkeypatch.setattr(gdal_io, "BLOCK_PIXELS", 64 * 4)  # 4 rows per block: many blocks
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(64, 64), alpha=True)
    feedback = QgsProcessingFeedback()
    progress = []
    feedback.progressChanged.connect(lambda value: (progress.append(value), feedback.cancel()))
    output = tmp_path / "out" / "classes.tif"
    with pytest.raises(QgsProcessingException, match="Cancelled: no output was written"):
        quantize({"INPUT": path, "SOURCE": source, "OUTPUT": str(output)}, feedback=feedback)
    assert len(progress) == 1
    assert not os.path.exists(tmp_path / "out")  # the folder the run made is gone too


@pytest.mark.parametrize("cleanup", ["seams", "sieve"])
def test_cancel_while_the_last_strips_are_cleaned_writes_nothing(qgis_app, tmp_path, cleanup):
    """A cleanup cleans two strips at once, so the last strip is read before the one above it is
    written: a cancel then (the progress bar at two thirds of a three-strip sheet) still stops the
    run, and no output, report or table is left."""
    image = random_rgba(2 * gdal_io.TILE + 40, 60, seed=4)
    path = write_raster(str(tmp_path / "in.tif"), image, alpha=True)
    feedback = QgsProcessingFeedback()
    progress = []
    feedback.progressChanged.connect(lambda value: (progress.append(value), value > 50 and feedback.cancel()))
    output = tmp_path / "out"
    with pytest.raises(QgsProcessingException, match="Cancelled: no output was written"):
        quantize({"INPUT": path, "SOURCE": "bands", "CLEANUP": cleanup, "OUTPUT": str(output / "classes.tif"),
                  "OUTPUT_REPORT": str(output / "report.html"), "OUTPUT_TABLE": str(output / "table.csv")},
                 feedback=feedback)
    assert int(progress[-1]) == 66
    assert not os.path.exists(str(output))
