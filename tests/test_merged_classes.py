"""A palette that merges two units of a map into one class says so, in the log and in the report."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from palettize.engine.merged import MergedColourFinder
from palettize.engine.nearest import nearest_entries
from palettize.palettes.palette import Palette
from rasters import ROOT, SAMPLE_MAP, feedback_log, quantize, read_indices, write_raster



def _stripes(colours, widths, rows=10):
    """An RGB image of vertical stripes, ``widths[i]`` columns of ``colours[i]``."""
    row = np.concatenate([np.tile(np.array(c, dtype=np.uint8), (w, 1)) for c, w in zip(colours, widths)])
    return np.transpose(np.tile(row, (rows, 1, 1)), (2, 0, 1))


def _nearest(palette):
    """What a run gives MergedColourFinder.merged: the palette's entry nearest to each colour."""
    return lambda codes: nearest_entries(codes, palette.colours, "rgb")


def test_the_sample_maps_two_blues_become_one_win256_entry_and_the_log_says_so(qgis_app, tmp_path):
    log = feedback_log()
    quantize({"INPUT": SAMPLE_MAP, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif"),
              "OUTPUT_REPORT": str(tmp_path / "report.html")}, feedback=log)
    merged = [w for w in log.warnings if w.startswith("Merged classes")]
    blues = [w for w in merged if "#b2d8e8" in w and "#8bc5e0" in w]
    assert len(blues) == 1, merged
    assert "entry 9 " in blues[0] and "set Palette (PALETTE) = frequent" in blues[0]
    shares = dict(re.findall(r"(#[0-9a-f]{6}) \((\d+\.\d+)%\)", blues[0]))
    assert abs(float(shares["#b2d8e8"]) - 8.85) < 0.1 and abs(float(shares["#8bc5e0"]) - 6.76) < 0.1
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert '<ul id="merged">' in report and "#b2d8e8" in report and 'data-entry="9"' in report


def test_the_report_of_merged_colours_gives_no_advice_the_run_has_followed(qgis_app, tmp_path):
    """Its note advised a palette built from the image to a run that had built one."""
    log = feedback_log()
    quantize({"INPUT": SAMPLE_MAP, "PALETTE": "frequent", "N_COLORS": 4, "OUTPUT": str(tmp_path / "out.tif"),
              "OUTPUT_REPORT": str(tmp_path / "report.html")}, feedback=log)
    assert any(w.startswith("Merged classes") and "set Number of colours (N_COLORS) higher" in w for w in log.warnings)
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert '<ul id="merged">' in report and "(frequent)" not in report
    assert "palette entry; the run's log says how to keep them apart." in report


def test_a_palette_built_from_the_map_keeps_its_units_apart_and_says_nothing(qgis_app, tmp_path):
    log = feedback_log()
    quantize({"INPUT": SAMPLE_MAP, "PALETTE": "frequent", "N_COLORS": 32, "OUTPUT": str(tmp_path / "out.tif"),
              "OUTPUT_REPORT": str(tmp_path / "report.html")}, feedback=log)
    assert not [w for w in log.warnings if w.startswith("Merged classes")]
    assert '<ul id="merged">' not in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_rare_colours_that_share_an_entry_are_not_units_of_the_map(qgis_app, tmp_path):
    # 1000 columns: red 60%, dark red 39.6%, and a near-red at 0.4%, under the 0.5% share.
    image = _stripes([(255, 0, 0), (120, 0, 0), (250, 0, 0)], [600, 396, 4])
    path = write_raster(str(tmp_path / "in.tif"), image)
    legend = tmp_path / "legend.csv"
    legend.write_text("255,0,0,Red\n120,0,0,Dark red\n")
    log = feedback_log()
    quantize({"INPUT": path, "PALETTE_FILE": str(legend), "OUTPUT": str(tmp_path / "out.tif")}, feedback=log)
    assert not [w for w in log.warnings if w.startswith("Merged classes")]
    image[:, :, 990:] = np.array([200, 0, 0], dtype=np.uint8)[:, None, None]  # 1% of the pixels: now a unit
    write_raster(path, image)
    quantize({"INPUT": path, "PALETTE_FILE": str(legend), "OUTPUT": str(tmp_path / "out2.tif")}, feedback=log)
    # The palette file wins over PALETTE: its entries are what to change (the advice was to set PALETTE).
    assert [w for w in log.warnings if w.startswith("Merged classes")] == [
        "Merged classes: #ff0000 (60.00%), #c80000 (1.00%) both become entry 0 (#ff0000, Red). To keep them "
        "apart, give each its own entry in the palette file legend.csv (a palette extracted from the map: extract "
        "more colours), or clear Palette file (PALETTE_FILE) and set Palette (PALETTE) = frequent (a palette built "
        "from the image)."]
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "palettize"), "quantize", path, "--palette",
                             str(legend), "-o", str(tmp_path / "out3.tif")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert [line for line in result.stderr.splitlines() if "Merged" in line] == [
        "warning: Merged classes: #ff0000 (60.00%), #c80000 (1.00%) both become entry 0 (#ff0000, Red). To keep "
        "them apart, give each its own entry in the palette file legend.csv (a palette extracted from the map: "
        "extract more colours), or set --palette=frequent (a palette built from the image)."]


def test_what_dithering_or_the_sieve_does_is_not_blamed_on_the_palette(qgis_app, tmp_path):
    """The warnings named the entry most of a colour's pixels got: a dithered fill "became" the
    entry a third of its pixels got, merged with that entry's own colour; and with the map's exact
    legend, specks the sieve (as asked) gave to their surroundings "became" their neighbour's class,
    the warning saying to give the legend that was given. A colour's entry is its nearest now."""
    from rasters import write_file

    image = _stripes([(0x68, 0xA4, 0x8C), (0x79, 0x83, 0xC1)], [100, 100], rows=100)
    path = write_raster(str(tmp_path / "fill.tif"), image)
    palette = write_file(tmp_path, "palette.csv", "121,131,193\n0,0,0\n255,255,255\n96,170,130\n")
    log = feedback_log()
    quantize({"INPUT": path, "PALETTE_FILE": palette, "DITHER": 1, "OUTPUT": str(tmp_path / "dithered.tif")},
             feedback=log)
    assert not [w for w in log.warnings if w.startswith("Merged classes")]

    classes = np.zeros((100, 100), dtype=np.int64)
    classes[:, 50:], classes[50:] = 1, 2
    for y in range(5, 95, 10):
        for x in range(5, 95, 10):
            classes[y:y + 2, x:x + 2] = 3  # specks of four pixels of the fourth unit (3.24% of the map)
    legend = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (240, 240, 0)]
    path = write_raster(str(tmp_path / "specks.tif"), np.array(legend, dtype=np.uint8)[classes].transpose(2, 0, 1))
    legend_file = write_file(tmp_path, "legend.csv", "".join("{},{},{}\n".format(*colour) for colour in legend))
    log = feedback_log()
    out = quantize({"INPUT": path, "PALETTE_FILE": legend_file, "CLEANUP": 2, "OUTPUT": str(tmp_path / "sieved.tif")},
                   feedback=log)
    assert not (read_indices(out["OUTPUT"]) == 3).any()  # the sieve did what it was asked
    assert not [w for w in log.warnings if w.startswith("Merged classes")]


def test_shares_are_exact_on_small_rasters_and_do_not_depend_on_the_blocks():
    palette = Palette([(0, 0, 0), (255, 255, 255)])
    rng = np.random.default_rng(1)
    codes = rng.choice(np.array([0x000010, 0x000020, 0xF0F0F0, 0xFFFFFF], dtype=np.uint32), (60, 80))
    rgba = codes | np.uint32(0xFF000000)
    results = []
    for cut in (60, 7, 1):
        finder = MergedColourFinder(80, 60, 128)
        for y in range(0, 60, cut):
            window = (0, y, 80, min(cut, 60 - y))
            finder.add(window, rgba[y:y + cut])
        results.append([(m.entry, m.colours) for m in finder.merged(_nearest(palette))])
    assert results[0] == results[1] == results[2]
    expected = {0: {(0x10, 0, 0), (0x20, 0, 0)}, 1: {(0xF0, 0xF0, 0xF0), (255, 255, 255)}}
    assert {entry: {c for c, _ in colours} for entry, colours in results[0]} == expected
    for entry, colours in results[0]:
        for (r, g, b), share in colours:
            code = r | g << 8 | b << 16
            assert share == np.count_nonzero(codes == code) / codes.size
    described = [m.describe(palette) for m in finder.merged(_nearest(palette))]
    assert sorted(d[d.index("both become"):] for d in described) == [
        "both become entry 0 (#000000)", "both become entry 1 (#ffffff)"]


@pytest.mark.parametrize("kind", ["RGB", "paletted"])
def test_a_map_too_large_to_count_pixel_by_pixel_is_measured_exactly_from_its_runs(qgis_app, tmp_path, kind):
    """Above a quarter of a megapixel shares were measured on sample pixels: 9.17% for a unit
    covering 9.19% of this map. A map's blocks are cut into runs of one colour (or of one code
    into its colour table) as they are mapped, and each run counts its pixels."""
    from osgeo import gdal

    rng = np.random.default_rng(5)
    side = 600
    rows, cols = np.mgrid[:side, :side]
    codes = np.zeros((side, side), np.uint8)
    for k in range(40):  # discs of two blues that win256 merges
        y, x, radius = rng.integers(0, side, 2).tolist() + [int(rng.integers(5, 40))]
        codes[(rows - y) ** 2 + (cols - x) ** 2 < radius * radius] = 1 if k % 3 else 2
    colours = np.array([(255, 255, 255), (0xB2, 0xD8, 0xE8), (0x8B, 0xC5, 0xE0)], np.uint8)
    if kind == "RGB":
        source = write_raster(str(tmp_path / "map.tif"), np.moveaxis(colours[codes], 2, 0))
    else:
        source = write_raster(str(tmp_path / "map.tif"), codes[None])
        dataset = gdal.Open(source, gdal.GA_Update)
        table = gdal.ColorTable()
        for index, colour in enumerate(colours.tolist()):
            table.SetColorEntry(index, tuple(colour) + (255,))
        dataset.GetRasterBand(1).SetColorTable(table)
        dataset = None
    log = feedback_log()
    quantize({"INPUT": source, "PALETTE": "win256", "OUTPUT": str(tmp_path / "out.tif")}, feedback=log)
    assert ["{:.2%}".format(np.mean(codes == code)) for code in (1, 2)] == ["9.19%", "5.24%"]
    assert [w[:w.index(" both")] for w in log.warnings if w.startswith("Merged classes")] == [
        "Merged classes: #b2d8e8 (9.19%), #8bc5e0 (5.24%)"]


class ArraySource:
    """A source of packed RGBA codes held in memory, as engine.blocks reads them."""

    def __init__(self, rgba):
        self.rgba = rgba

    def read(self, window):
        x, y, cols, rows = window
        return self.rgba[y:y + rows, x:x + cols].copy()


def test_a_unit_just_under_its_share_is_not_reported_whatever_the_blocks(qgis_app):
    """Counted from runs in blocks with fewer runs than sample pixels and sampled in the others, a
    near-red covering 0.4977% of a map (stripes above, red below) was reported at 0.5056% when the
    engine read 64-row strips, and not at all in one block."""
    from palettize.engine.blocks import quantize_blocks

    side, red, near, green, blue = 1000, 0xFF0000FF, 0xFF0000FA, 0xFF00FF00, 0xFFFF0000
    rgba = np.full((side, side), red, np.uint32)
    rgba[:500] = np.where((np.arange(side) // 3) % 2 == 0, green, blue).astype(np.uint32)  # 333 runs a row
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, 500, 1666), rng.integers(0, 333, 1666) * 3
    for dx in range(3):
        rgba[rows, cols + dx] = near
    assert "{:.4%}".format(np.mean(rgba == near)) == "0.4977%"
    palette = Palette([(255, 0, 0), (0, 255, 0), (0, 0, 255)])

    class Writer:
        def write(self, window, indices):
            pass

    cuts = {"one block": [(0, 0, side, side)], "64-row strips": [(0, y, side, min(64, side - y)) for y in range(0, side, 64)],
            "256 x 256 tiles": [(x, y, min(256, side - x), min(256, side - y)) for y in range(0, side, 256)
                                for x in range(0, side, 256)]}
    for cut, windows in cuts.items():
        finder = MergedColourFinder(side, side, 128)
        quantize_blocks(ArraySource(rgba), Writer(), windows, palette, "rgb", 128, observers=[finder])
        assert finder.merged(_nearest(palette)) == [], cut


def test_merged_classes_are_found_while_the_last_blocks_are_still_being_written():
    """A run looks for merged classes once every block is counted, while GDAL still compresses the
    last blocks (quantize_blocks' while_writing): found after the writes, they kept a small sheet's
    run waiting with a core idle."""
    import threading

    from palettize.engine.blocks import quantize_blocks

    side = 300
    rgba = np.where(np.arange(side)[:, None] < side // 2, np.uint32(0xFF0000FF), np.uint32(0xFF00FF00))
    rgba = np.broadcast_to(rgba, (side, side)).copy()
    windows = [(0, y, side, 50) for y in range(0, side, 50)]
    finding, events = threading.Event(), []

    class Writer:
        def write(self, window, indices):
            if window == windows[-1]:  # the last block: still being written when the classes are found
                events.append(("found while written", finding.wait(timeout=5)))

    class Counted:
        needs_runs = False

        def add(self, window, rgba, indices=None, runs=None):
            events.append(("counted", window))

    def while_writing():
        events.append(("found", None))
        finding.set()

    quantize_blocks(ArraySource(rgba), Writer(), windows, Palette([(255, 0, 0), (0, 255, 0)]), "rgb", 128,
                    observers=[Counted()], while_writing=while_writing)
    found = events.index(("found", None))
    assert events[:found] == [("counted", window) for window in windows]
    assert events[found + 1:] == [("found while written", True)]


def test_three_colours_merged_into_one_entry_are_all_named():
    from palettize.engine.merged import MergedEntry

    palette = Palette([(0, 0, 0)], ["Black"])
    merged = MergedEntry(0, [((1, 2, 3), 0.5), ((4, 5, 6), 0.25), ((7, 8, 9), 0.125)])
    assert merged.describe(palette) == ("#010203 (50.00%), #040506 (25.00%), #070809 (12.50%) all become entry 0 "
                                        "(#000000, Black)")


def test_nodata_pixels_count_for_no_colour_and_no_share():
    rng = np.random.default_rng(2)
    codes = rng.choice(np.array([0x000010, 0x000020, 0xF0F0F0, 0x0000F0], dtype=np.uint32), (60, 80))
    transparent = rng.random((60, 80)) < 0.3
    partly = rng.random((60, 80)) < 0.2  # alpha 200: valid, the same colours as opaque pixels of them
    rgba = np.where(transparent, codes, codes | np.where(partly, np.uint32(0xC8000000), np.uint32(0xFF000000)))
    finder = MergedColourFinder(80, 60, 128)
    finder.add((0, 0, 80, 60), rgba)
    merged = finder.merged(_nearest(Palette([(0, 0, 0), (240, 120, 120)])))
    assert sorted(m.entry for m in merged) == [0, 1]
    valid = codes[~transparent]
    for m in merged:
        for (r, g, b), share in m.colours:
            assert share == np.count_nonzero(valid == (r | g << 8 | b << 16)) / valid.size


def test_a_colour_drawn_in_thin_lines_is_measured_at_its_share_whatever_their_period():
    """A million-pixel map is sampled (one pixel in four): a colour in 1-pixel lines on every other
    row (10% of the map) was missed altogether, or counted as 20%, and lines covering 0.3% were
    reported as 0.6% and merged. Lines along rows or columns, of any period, are measured at their
    share now, and the estimate does not depend on how the blocks cut the map."""
    side = 1000
    red, dark_red, green = 0xFF0000FF, 0xFF0000FA, 0xFF00FF00  # packed RGBA: red is the low byte
    cases = {"odd rows": (np.s_[451:651:2, :], 0.10), "even rows": (np.s_[450:650:2, :], 0.10),
             "every other column": (np.s_[450:, 1::2], 0.275), "every fourth column": (np.s_[:, 3::4], 0.25),
             "three rows": (np.s_[450:456:2, :], 0.003)}
    for name, (lines, share) in cases.items():
        rgba = np.full((side, side), green, dtype=np.uint32)
        rgba[:450] = red
        rgba[lines] = dark_red
        found = []
        for rows in (side, 512, 37):
            finder = MergedColourFinder(side, side, 128)
            for y in range(0, side, rows):
                finder.add((0, y, side, min(rows, side - y)), rgba[y:y + rows])
            found.append([(m.entry, m.colours) for m in finder.merged(_nearest(Palette([(255, 0, 0), (0, 255, 0)])))])
        assert found[0] == found[1] == found[2], name
        shares = {colour: measured for entry, colours in found[0] for colour, measured in colours}
        if share < 0.005:
            assert shares == {}, name
        else:
            assert abs(shares[(0xFA, 0, 0)] - share) < 0.003, (name, shares)
            assert abs(shares[(0xFF, 0, 0)] - np.count_nonzero(rgba == red) / rgba.size) < 0.003, (name, shares)


def test_extracting_too_few_colours_says_which_units_share_an_entry_in_the_log_and_the_report(qgis_app, tmp_path):
    """Six colours in three close pairs, extracted as three: each pair becomes one entry. The log
    warns and the report lists them, with their exact shares (the scan counts every pixel), as
    quantizing with that palette does; the extract report said nothing."""
    import processing

    colours = [(255, 0, 0), (250, 0, 0), (0, 255, 0), (0, 250, 0), (0, 0, 255), (0, 0, 250)]
    path = write_raster(str(tmp_path / "in.tif"), _stripes(colours, [40, 10, 30, 5, 11, 4]))
    log = feedback_log()
    processing.run("palettize:extractpalette", {
        "INPUT": path, "METHOD": "mediancut", "N_COLORS": 3, "OUTPUT_PALETTE": str(tmp_path / "legend.csv"),
        "OUTPUT_REPORT": str(tmp_path / "report.html")}, feedback=log)
    merged = sorted(w for w in log.warnings if w.startswith("Merged classes"))
    assert [re.findall(r"#[0-9a-f]{6} \(\d+\.\d+%\)", w)[:2] for w in merged] == [
        ["#0000ff (11.00%)", "#0000fa (4.00%)"], ["#00ff00 (30.00%)", "#00fa00 (5.00%)"],
        ["#ff0000 (40.00%)", "#fa0000 (10.00%)"]]
    assert all(w.endswith("To keep them apart, set Number of colours (N_COLORS) higher, or Method (METHOD) = frequent "
                          "(the image's most frequent colours: a map's legend colours).") for w in merged), merged
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert report.count("<li data-entry=") == 3 and "#fa0000 (10.00%)" in report



def test_a_label_with_a_terminals_escape_sequence_or_a_page_of_text_is_logged_on_one_readable_line(qgis_app,
                                                                                                   tmp_path):
    """A palette file's label went into the warning as it was: an escape sequence cleared the
    terminal of a qgis_process run, a long description made a line of 10,000 characters."""
    from rasters import write_file

    path = write_raster(str(tmp_path / "in.tif"), _stripes([(250, 0, 0), (255, 10, 10)], [30, 30]))
    legend = write_file(tmp_path, "legend.csv", "255,0,0,\x1b[2Jgranite\x07 {}\n0,0,255,water\n".format("x" * 10000))
    log = feedback_log()
    quantize({"INPUT": path, "PALETTE_FILE": legend, "OUTPUT": str(tmp_path / "out.tif")}, feedback=log)
    assert [w for w in log.warnings if w.startswith("Merged classes")] == [
        "Merged classes: #fa0000 (50.00%), #ff0a0a (50.00%) both become entry 0 (#ff0000, ?[2Jgranite? {}…). To keep "
        "them apart, give each its own entry in the palette file legend.csv (a palette extracted from the map: "
        "extract more colours), or clear Palette file (PALETTE_FILE) and set Palette (PALETTE) = frequent (a palette "
        "built from the image).".format("x" * 66)]

def test_colours_merged_because_nodata_index_keeps_their_entry_are_told_to_change_it(qgis_app, tmp_path):
    """The map's own two colours as the palette, entry 0 kept for nodata (NODATA_INDEX=0): red goes to
    blue's entry. The warning said to give the map's legend, which was given; it names NODATA_INDEX."""
    from rasters import write_file

    path = write_raster(str(tmp_path / "in.tif"), _stripes([(255, 0, 0), (0, 0, 255)], [30, 30]))
    legend = write_file(tmp_path, "legend.csv", "255,0,0,red\n0,0,255,blue\n")
    log = feedback_log()
    quantize({"INPUT": path, "PALETTE_FILE": legend, "NODATA_INDEX": 0, "OUTPUT": str(tmp_path / "out.tif")},
             feedback=log)
    assert [w for w in log.warnings if w.startswith("Merged classes")] == [
        "Merged classes: #ff0000 (50.00%), #0000ff (50.00%) both become entry 1 (#0000ff, blue). To keep them apart, "
        "choose another Nodata index (NODATA_INDEX), or none: entry 0 is kept for nodata, and the colours nearest to "
        "it go to other entries."]


def test_a_palette_built_from_the_map_with_nodata_kept_inside_it_is_told_what_frees_an_entry(qgis_app, tmp_path):
    """Three units, N_COLORS=3 and NODATA_INDEX=0: the image's colours get two entries. The warning said
    to set PALETTE=frequent, then (with frequent) to choose another NODATA_INDEX, and neither kept the
    units apart: any index inside the palette takes one of its entries."""
    rgba = np.zeros((4, 20, 30), dtype=np.uint8)
    rgba[:3] = np.array([10, 200, 30])[:, None, None]
    rgba[:3, :, 20:] = np.array([220, 20, 20])[:, None, None]
    rgba[:3, 15:] = np.array([0, 0, 250])[:, None, None]
    rgba[3] = 255
    rgba[3, :2, :2] = 0  # transparent pixels: nodata
    path = write_raster(str(tmp_path / "in.tif"), rgba)
    for method, index in (("kmeans", 0), ("frequent", 0), ("frequent", 2)):
        log = feedback_log()
        quantize({"INPUT": path, "PALETTE": method, "N_COLORS": 3, "NODATA_INDEX": index,
                  "OUTPUT": str(tmp_path / "{}{}.tif".format(method, index))}, feedback=log)
        merged = [w for w in log.warnings if w.startswith("Merged classes")]
        assert len(merged) == 1 and "or leave Nodata index (NODATA_INDEX) out or set it to 3 or more (entry {} is kept " \
            "for nodata, wherever it is: the image's colours get 2 of the 3 entries), or give the map's legend as " \
            "Palette file (PALETTE_FILE).".format(index) in merged[0], merged
    for index in (None, 3):  # as it says
        log = feedback_log()
        quantize({"INPUT": path, "PALETTE": "frequent", "N_COLORS": 3, "NODATA_INDEX": index,
                  "OUTPUT": str(tmp_path / "apart{}.tif".format(index))}, feedback=log)
        assert not [w for w in log.warnings if w.startswith("Merged classes")]


def test_a_palette_built_from_the_map_too_small_for_its_units_is_told_to_grow(qgis_app, tmp_path):
    """PALETTE=frequent with too few colours merged two units, and the warning said to set
    PALETTE=frequent, which was set: it says to set N_COLORS higher (and frequent, for kmeans)."""
    colours = [(255, 0, 0), (250, 0, 0), (0, 255, 0), (0, 0, 255)]
    path = write_raster(str(tmp_path / "in.tif"), _stripes(colours, [40, 10, 30, 20]))
    for method, besides in (("frequent", ""), ("kmeans", ", or Palette (PALETTE) = frequent (the image's most "
                                                          "frequent colours: a map's legend colours)")):
        log = feedback_log()
        quantize({"INPUT": path, "PALETTE": method, "N_COLORS": 3, "OUTPUT": str(tmp_path / (method + ".tif"))},
                 feedback=log)
        merged = [w for w in log.warnings if w.startswith("Merged classes")]
        assert len(merged) == 1 and merged[0].endswith(
            "To keep them apart, set Number of colours (N_COLORS) higher{}, or give the map's legend as Palette file "
            "(PALETTE_FILE).".format(besides)), merged
