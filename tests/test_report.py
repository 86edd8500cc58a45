"""The run report: counts, areas and colour error of the sample map, checked against direct computations.

QGIS-free: the sample map is read with GDAL, mapped with the engine's mapper and fed to the report
collector block by block, as the engine does.
"""

from pathlib import Path
import html.parser
import os
import subprocess
import sys

import numpy as np
import pytest
from osgeo import gdal

from palettize.engine.colorspace import srgb_to_lab
from palettize.engine.nearest import NearestColourMapper, pack_rgba
from palettize.engine.report import BIN_WIDTH, ReportCollector, png_bytes, write_report
from palettize.palettes.palette import Palette, builtin_palette
from rasters import SAMPLE_MAP

THRESHOLD = 128  # alpha below this: nodata


def sample_map():
    """(rgba codes, red-green-blue-alpha bands, pixel area) of the sample map."""
    dataset = gdal.Open(SAMPLE_MAP)
    bands = dataset.ReadAsArray()
    geotransform = dataset.GetGeoTransform()
    pixel_area = abs(geotransform[1] * geotransform[5] - geotransform[2] * geotransform[4])
    return pack_rgba(*bands), bands, pixel_area


def quantize(rgba, palette, metric="rgb"):
    nodata = 255 if len(palette) <= 255 else 65535
    indices = NearestColourMapper(palette.colours, metric).map_codes(rgba)
    indices = indices.astype(np.uint8 if nodata == 255 else np.uint16)
    indices[rgba < np.uint32(THRESHOLD << 24)] = nodata
    return indices, nodata


def blocks(height, width, rows, cols):
    for yoff in range(0, height, rows):
        for xoff in range(0, width, cols):
            yield xoff, yoff, min(cols, width - xoff), min(rows, height - yoff)


def collect(rgba, indices, palette, nodata, rows=None, cols=None, thumbnail_size=400):
    height, width = rgba.shape
    collector = ReportCollector(palette, width, height, nodata, thumbnail_size=thumbnail_size)
    for window in blocks(height, width, rows or height, cols or width):
        xoff, yoff, w, h = window
        collector.add(window, rgba[yoff:yoff + h, xoff:xoff + w], indices[yoff:yoff + h, xoff:xoff + w])
    return collector


def direct_delta_e(bands, indices, palette, nodata):
    """CIE76 delta E of every valid pixel to its palette colour, computed pixel by pixel."""
    valid = indices != nodata
    colours = bands[:3].transpose(1, 2, 0)[valid]
    difference = srgb_to_lab(colours) - srgb_to_lab(palette.colours[indices[valid]])
    return np.sqrt((difference ** 2).sum(axis=1))


class ReportParser(html.parser.HTMLParser):
    """Elements with an id, the entries table's rows, swatch cells and every src/href."""

    def __init__(self):
        super().__init__()
        self.by_id, self.rows, self.links, self.swatch_cells = {}, [], [], 0
        self._in_entries = self._in_grid = False
        self.text = {}
        self._current_id = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.by_id[attrs["id"]] = attrs
            self._current_id = attrs["id"]
        if tag == "table":
            self._in_entries = attrs.get("id") == "entries"
            self._in_grid = attrs.get("class") == "grid"
        if tag == "tr" and self._in_entries and "data-index" in attrs:
            self.rows.append(attrs)
        if tag == "td" and self._in_grid:
            self.swatch_cells += 1
        for name in ("src", "href"):
            if name in attrs:
                self.links.append(attrs[name])

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_entries = self._in_grid = False

    def handle_data(self, data):
        if self._current_id:
            self.text.setdefault(self._current_id, data)
            self._current_id = None


def parse(path):
    parser = ReportParser()
    with open(path, encoding="utf-8") as f:
        parser.feed(f.read())
    return parser


@pytest.fixture(scope="module")
def vga16_report(tmp_path_factory):
    rgba, bands, pixel_area = sample_map()
    palette = builtin_palette("vga16")
    indices, nodata = quantize(rgba, palette)
    collector = collect(rgba, indices, palette, nodata, rows=96, cols=250)
    path = str(tmp_path_factory.mktemp("report") / "report.html")
    write_report(path, collector, palette, pixel_area, "m²", km2_factor=1e-6, title="Sample map",
                 extra_lines=["Input: sample_map.tif"])
    return dict(rgba=rgba, bands=bands, pixel_area=pixel_area, palette=palette, indices=indices,
                nodata=nodata, collector=collector, path=path, html=parse(path))


def test_the_swatch_grid_shows_every_palette_entry(vga16_report):
    parsed = vga16_report["html"]
    assert int(parsed.by_id["swatches"]["data-swatches"]) == len(vga16_report["palette"]) == 16
    assert parsed.swatch_cells == 16
    used = np.unique(vga16_report["indices"][vga16_report["indices"] != vga16_report["nodata"]])
    assert int(parsed.by_id["swatches"]["data-used"]) == len(used)


def test_the_table_counts_sum_to_the_valid_pixels(vga16_report):
    parsed, indices, nodata = vga16_report["html"], vga16_report["indices"], vga16_report["nodata"]
    valid = int((vga16_report["bands"][3] >= THRESHOLD).sum())
    assert sum(int(row["data-pixels"]) for row in parsed.rows) == valid == vga16_report["collector"].valid_pixels
    assert int(parsed.by_id["valid-pixels"]["data-value"]) == valid
    expected = np.bincount(indices[indices != nodata], minlength=16)
    assert {int(row["data-index"]): int(row["data-pixels"]) for row in parsed.rows} == {
        i: int(c) for i, c in enumerate(expected) if c}


def test_areas_are_pixel_counts_times_the_pixel_area(vga16_report):
    pixel_area = vga16_report["pixel_area"]
    assert pixel_area == 625.0
    for row in vga16_report["html"].rows:
        assert float(row["data-area"]) == int(row["data-pixels"]) * pixel_area
        assert float(row["data-km2"]) == pytest.approx(int(row["data-pixels"]) * pixel_area * 1e-6, rel=1e-12)


def test_shares_sum_to_one_hundred_percent(vga16_report):
    assert sum(float(row["data-share"]) for row in vga16_report["html"].rows) == pytest.approx(100.0, abs=1e-9)


def test_mean_colour_error_equals_the_direct_computation(vga16_report):
    direct = direct_delta_e(vga16_report["bands"], vga16_report["indices"], vga16_report["palette"],
                            vga16_report["nodata"])
    collector = vga16_report["collector"]
    assert collector.mean_delta_e == pytest.approx(direct.mean(), rel=1e-6)
    assert float(vga16_report["html"].by_id["mean-delta-e"]["data-value"]) == collector.mean_delta_e


def test_the_95th_percentile_is_within_one_histogram_bin(vga16_report):
    direct = direct_delta_e(vga16_report["bands"], vga16_report["indices"], vga16_report["palette"],
                            vga16_report["nodata"])
    collector = vga16_report["collector"]
    assert abs(collector.p95_delta_e - np.percentile(direct, 95)) <= BIN_WIDTH
    assert float(vga16_report["html"].by_id["p95-delta-e"]["data-value"]) == collector.p95_delta_e
    assert collector.delta_e_histogram.sum() == len(direct)


def test_the_report_needs_no_other_file(vga16_report):
    links = vga16_report["html"].links
    assert len(links) >= 3  # original, quantized, heat map
    assert all(link.startswith("data:image/png;base64,") for link in links)
    with open(vga16_report["path"], encoding="utf-8") as f:
        text = f.read()
    assert "http://" not in text and "https://" not in text and "url(" not in text


def test_the_html_escapes_labels_and_titles(tmp_path):
    palette = Palette([[0, 0, 0], [255, 255, 255]], labels=["<b>black</b>", "white & grey"], name="a<b>")
    rgba = pack_rgba(*np.array([[[0, 255]], [[0, 255]], [[0, 255]], [[255, 255]]], dtype=np.uint8))
    indices, nodata = quantize(rgba, palette)
    path = str(tmp_path / "report.html")
    write_report(path, collect(rgba, indices, palette, nodata), palette, 1.0, "m²", title="<script>")
    text = Path(path).read_text(encoding="utf-8")
    assert "<b>black" not in text and "<script>" not in text and "&lt;b&gt;black&lt;/b&gt;" in text
    assert "white &amp; grey" in text
    assert "Area (km²)" not in text  # no km² column without a conversion


def test_cutting_into_blocks_does_not_change_the_report(tmp_path):
    rgba, _, pixel_area = sample_map()
    palette = builtin_palette("win256")
    indices, nodata = quantize(rgba, palette, "cielab")
    whole = collect(rgba, indices, palette, nodata)
    pieces = collect(rgba, indices, palette, nodata, rows=37, cols=101)
    assert np.array_equal(whole.counts, pieces.counts)
    assert np.array_equal(whole.delta_e_histogram, pieces.delta_e_histogram)
    assert whole.mean_delta_e == pieces.mean_delta_e and whole.p95_delta_e == pieces.p95_delta_e
    assert np.array_equal(whole.thumbnail_rgba, pieces.thumbnail_rgba)
    assert np.array_equal(whole.thumbnail_indices, pieces.thumbnail_indices)
    assert np.array_equal(whole.thumbnail_delta_e, pieces.thumbnail_delta_e, equal_nan=True)
    paths = [str(tmp_path / name) for name in ("whole.html", "pieces.html")]
    for path, collector in zip(paths, (whole, pieces)):
        write_report(path, collector, palette, pixel_area, "m²", km2_factor=1e-6)
    assert Path(paths[0]).read_bytes() == Path(paths[1]).read_bytes()


def test_thumbnail_pixels_are_raster_pixels_at_the_stride():
    rgba, _, _ = sample_map()
    palette = builtin_palette("vga16")
    indices, nodata = quantize(rgba, palette)
    collector = collect(rgba, indices, palette, nodata, rows=50, cols=77, thumbnail_size=150)
    s = collector.stride
    assert s == 4 and collector.thumbnail_rgba.shape == (100, 150)
    assert np.array_equal(collector.thumbnail_rgba, rgba[::s, ::s])
    assert np.array_equal(collector.thumbnail_indices, indices[::s, ::s])


def test_indices_other_than_the_nearest_still_get_their_own_colour_error():
    # Dithering or cleanup give a colour different entries in different places: each pixel's error
    # is measured to the entry it got, whatever entry the cache met first.
    rgba, bands, _ = sample_map()
    palette = builtin_palette("vga16")
    indices, nodata = quantize(rgba, palette)
    rng = np.random.default_rng(3)
    changed = (rng.random(indices.shape) < 0.3) & (indices != nodata)
    indices[changed] = rng.integers(0, 16, int(changed.sum()))
    collector = collect(rgba, indices, palette, nodata, rows=64, cols=128)
    direct = direct_delta_e(bands, indices, palette, nodata)
    assert collector.mean_delta_e == pytest.approx(direct.mean(), rel=1e-6)
    assert abs(collector.p95_delta_e - np.percentile(direct, 95)) <= BIN_WIDTH
    assert np.array_equal(collector.counts, np.bincount(indices[indices != nodata], minlength=16))


def test_a_block_with_over_a_million_pixels_away_from_their_colours_first_entry_gets_its_colour_error():
    """A cleanup or dithering gives a colour different entries in different places: a block can
    hold more such pixels than are measured at once (report._CHUNK; CLEANUP=seams on a narrow sheet
    of 4 megapixels read in one block did), and each chunk of them is measured the same way."""
    rng = np.random.default_rng(11)
    colours = rng.integers(0, 256, (3, 40), dtype=np.uint8)
    bands = colours[:, rng.integers(0, 40, (1400, 1000))]
    bands = np.concatenate([bands, np.full((1, 1400, 1000), 255, dtype=np.uint8)])
    rgba = pack_rgba(*bands)
    palette = builtin_palette("vga16")
    indices = rng.integers(0, 16, rgba.shape).astype(np.uint8)  # entries as error diffusion scatters them
    collector = collect(rgba, indices, palette, 255)
    direct = direct_delta_e(bands, indices, palette, 255)
    assert collector.mean_delta_e == pytest.approx(direct.mean(), rel=1e-6)
    assert abs(collector.p95_delta_e - np.percentile(direct, 95)) <= BIN_WIDTH


def test_photographs_without_runs_are_counted_pixel_by_pixel():
    rng = np.random.default_rng(5)
    bands = rng.integers(0, 256, (4, 120, 90), dtype=np.uint8)
    rgba = pack_rgba(*bands)
    palette = builtin_palette("websafe216")
    indices, nodata = quantize(rgba, palette)
    collector = collect(rgba, indices, palette, nodata, rows=40, cols=90)
    direct = direct_delta_e(bands, indices, palette, nodata)
    assert collector.valid_pixels == len(direct)
    assert collector.mean_delta_e == pytest.approx(direct.mean(), rel=1e-6)


def test_large_palettes_get_a_swatch_image_and_uint16_nodata(tmp_path):
    rgba, bands, pixel_area = sample_map()
    rng = np.random.default_rng(7)
    palette = Palette(rng.integers(0, 256, (300, 3)), name="random300")
    indices, nodata = quantize(rgba, palette)
    assert nodata == 65535
    collector = collect(rgba, indices, palette, nodata, rows=100, cols=300)
    path = str(tmp_path / "report.html")
    write_report(path, collector, palette, pixel_area, "m²")
    parsed = parse(path)
    assert int(parsed.by_id["swatches"]["data-swatches"]) == 300
    assert sum(int(row["data-pixels"]) for row in parsed.rows) == int((bands[3] >= THRESHOLD).sum())
    direct = direct_delta_e(bands, indices, palette, nodata)
    assert collector.mean_delta_e == pytest.approx(direct.mean(), rel=1e-6)


def test_a_raster_without_valid_pixels_still_gets_a_report(tmp_path):
    palette = builtin_palette("vga16")
    rgba = np.zeros((10, 12), dtype=np.uint32)  # fully transparent
    indices, nodata = quantize(rgba, palette)
    collector = collect(rgba, indices, palette, nodata)
    assert collector.valid_pixels == 0 and collector.mean_delta_e is None and collector.p95_delta_e is None
    path = str(tmp_path / "report.html")
    write_report(path, collector, palette, 1.0, "m²")
    assert parse(path).rows == []


def test_embedded_images_are_valid_png(tmp_path):
    from matplotlib.image import imread

    image = np.random.default_rng(2).integers(0, 256, (7, 5, 4), dtype=np.uint8)
    path = tmp_path / "image.png"
    path.write_bytes(png_bytes(image))
    assert np.array_equal(np.rint(imread(str(path)) * 255).astype(np.uint8), image)


def test_the_report_module_imports_without_qgis(tmp_path):
    import palettize

    (tmp_path / "qgis.py").write_text("raise ImportError('the report must not import QGIS')\n")
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(palettize.__file__)))
    code = "import sys\nsys.path[:0] = [{!r}, {!r}]\nimport palettize.engine.report\n".format(
        str(tmp_path), package_dir)
    result = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    assert result.returncode == 0, result.stdout
