"""After a run the user reads the report: palette usage, areas, colour error and thumbnails."""

from pathlib import Path
import re

import numpy as np
import pytest
from osgeo import gdal

from rasters import SAMPLE_MAP, UTM35N, feedback_log, quantize, read_indices, write_raster


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


def report_images(path):
    """The report's embedded images by their alt text, as rows x cols x channels uint8 arrays."""
    import base64
    import io

    from matplotlib.image import imread

    text = Path(path).read_text(encoding="utf-8")
    return {alt: np.rint(imread(io.BytesIO(base64.b64decode(data)), format="png") * 255).astype(np.uint8)
            for alt, data in re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', text)}


@pytest.mark.parametrize("geotransform", [
    pytest.param((500000.0, 25.0, 0.0, 7400000.0, 0.0, 25.0), id="south-up"),
    pytest.param((501000.0, -25.0, 0.0, 7400000.0, 0.0, 25.0), id="south-up and mirrored"),
])
def test_a_south_up_map_is_shown_north_up_in_the_report(qgis_app, tmp_path, geotransform):
    # Raster rows run north on a south-up grid: its first rows are the south of the map, which
    # the report's thumbnails show at the bottom, as QGIS draws the map; the west on the left.
    red, blue, green = (170, 0, 0), (0, 0, 170), (0, 170, 0)
    bands = np.zeros((3, 30, 40), dtype=np.uint8)
    bands[:] = np.array(blue, dtype=np.uint8)[:, None, None]
    bands[:, :10, :] = np.array(red, dtype=np.uint8)[:, None, None]  # the southern 10 rows
    bands[:, :, -5:] = np.array(green, dtype=np.uint8)[:, None, None]  # the last 5 columns
    path = write_raster(str(tmp_path / "south-up.tif"), bands, geotransform=geotransform)
    result = quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.tif"),
                       "OUTPUT_REPORT": str(tmp_path / "report.html")})
    columns_run_west = geotransform[1] < 0
    expected = np.empty((30, 40, 3), dtype=np.uint8)
    expected[:] = blue
    expected[-10:] = red  # south at the bottom
    expected[:, slice(0, 5) if columns_run_west else slice(-5, None)] = green
    images = report_images(result["OUTPUT_REPORT"])
    assert np.array_equal(images["original"], expected)
    assert np.array_equal(images["quantized"], expected)


def test_areas_of_a_raster_without_crs_are_in_its_map_units_not_pixels(qgis_app, tmp_path):
    # A scan with a world file and no CRS: 2-unit pixels of unknown units, each 4 units² (not 1 pixel).
    bands = np.zeros((3, 10, 12), dtype=np.uint8)
    bands[:, :, 6:] = 170
    path = write_raster(str(tmp_path / "scan.tif"), bands, geotransform=(1000.0, 2.0, 0.0, 5000.0, 0.0, -2.0), srs=None)
    result = quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.tif"),
                       "OUTPUT_REPORT": str(tmp_path / "report.html")})
    text, rows, _, _ = report_numbers(result["OUTPUT_REPORT"])
    assert {int(row["index"]): (int(row["pixels"]), float(row["area"])) for row in rows} == {0: (60, 240.0),
                                                                                             7: (60, 240.0)}
    assert "<th>Area (map units²)</th>" in text and "pixel" not in re.search(r"<thead>.*?</thead>", text).group(0)


def test_the_log_gives_no_colour_error_when_no_pixel_got_a_colour(qgis_app, tmp_path):
    bands = np.zeros((4, 6, 8), dtype=np.uint8)  # fully transparent
    path = write_raster(str(tmp_path / "empty.tif"), bands, alpha=True)
    log = feedback_log()
    report = str(tmp_path / "report.html")
    quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.tif"), "OUTPUT_REPORT": report},
             feedback=log)
    assert [line for line in log.infos if line.startswith("Report:")] == [
        "Report: {} (no pixel got a palette colour: no colour error).".format(report)]
    assert "No pixel got a palette colour." in Path(report).read_text(encoding="utf-8")


@pytest.mark.parametrize("placed", ["nothing", "ground control points in UTM"])
def test_areas_of_a_raster_without_geotransform_are_in_pixels(qgis_app, tmp_path, placed):
    """A scan placed by ground control points in UTM, or not placed at all: its areas were headed
    'map units²' (or m², with km² beside them) though each was a count of pixels."""
    from osgeo import gdal

    path = str(tmp_path / "scan.tif")
    dataset = gdal.GetDriverByName("GTiff").Create(path, 12, 10, 3, gdal.GDT_Byte, ["PHOTOMETRIC=RGB"])
    for band in range(1, 4):
        dataset.GetRasterBand(band).WriteArray(np.where(np.arange(12) < 6, 0, 170)[None, :].repeat(10, 0).astype(np.uint8))
    if placed != "nothing":
        corners = [(0, 0, 500000.0, 7500000.0), (12, 0, 500300.0, 7500000.0), (0, 10, 500000.0, 7499750.0)]
        dataset.SetGCPs([gdal.GCP(x, y, 0, px, py) for px, py, x, y in corners], UTM35N.ExportToWkt())
    dataset = None
    result = quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.tif"),
                       "OUTPUT_REPORT": str(tmp_path / "report.html")})
    text, rows, _, _ = report_numbers(result["OUTPUT_REPORT"])
    assert {int(row["index"]): (int(row["pixels"]), float(row["area"])) for row in rows} == {0: (60, 60.0), 7: (60, 60.0)}
    assert "<th>Area (pixels)</th>" in text and "km²" not in text
