"""After a run the user reads the report: palette usage, areas, colour error and thumbnails."""

from pathlib import Path
import re

import numpy as np
import pytest
from osgeo import gdal

from rasters import SAMPLE_MAP, quantize, read_indices


def report_numbers(path):
    text = Path(path).read_text(encoding="utf-8")
    rows = [dict(re.findall(r'data-(\w+)="([^"]*)"', row)) for row in re.findall(r"<tr [^>]*data-index=[^>]*>", text)]
    swatches = int(re.search(r'id="swatches" data-swatches="(\d+)"', text).group(1))
    mean = float(re.search(r'id="mean-delta-e" data-value="([^"]+)"', text).group(1))
    return text, rows, swatches, mean


def test_quantize_report_for_the_sample_map(qgis_app, tmp_path):
    result = quantize({"INPUT": SAMPLE_MAP, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.tif"),
                       "OUTPUT_REPORT": str(tmp_path / "report.html")})
    text, rows, swatches, mean = report_numbers(result["OUTPUT_REPORT"])
    indices = read_indices(result["OUTPUT"])
    valid = indices != 255
    assert swatches == 16
    assert sum(int(row["pixels"]) for row in rows) == int(valid.sum())
    assert {int(row["index"]): int(row["pixels"]) for row in rows} == {
        i: int(n) for i, n in enumerate(np.bincount(indices[valid], minlength=16)) if n}
    for row in rows:  # 25 m pixels in UTM: 625 m² each
        assert float(row["area"]) == int(row["pixels"]) * 625.0
        assert float(row["km2"]) == pytest.approx(int(row["pixels"]) * 625.0 / 1e6, rel=1e-12)
    assert "src=\"http" not in text and "<img" in text
    assert 0 < mean < 100


def test_extract_report_counts_what_quantizing_with_the_palette_gives(qgis_app, tmp_path):
    import processing

    result = processing.run("palettize:extractpalette", {
        "INPUT": SAMPLE_MAP, "METHOD": "frequent", "N_COLORS": 12, "OUTPUT_PALETTE": str(tmp_path / "legend.csv"),
        "OUTPUT_REPORT": str(tmp_path / "report.html")})
    _, rows, swatches, _ = report_numbers(result["OUTPUT_REPORT"])
    indices = read_indices(quantize({"INPUT": SAMPLE_MAP, "PALETTE_FILE": result["OUTPUT_PALETTE"],
                                     "OUTPUT": str(tmp_path / "q.tif")})["OUTPUT"])
    alpha = gdal.Open(SAMPLE_MAP).ReadAsArray()[3]
    assert swatches == 12
    assert {int(row["index"]): int(row["pixels"]) for row in rows} == {
        i: int(n) for i, n in enumerate(np.bincount(indices[alpha >= 128], minlength=12)) if n}
