"""NODATA_INDEX puts nodata on the palette index a user chooses: transparent and nodata pixels are
written as that index, the output's nodata value is that index, and a palette entry there is kept
for nodata (no pixel gets it as its colour), so 256 colours with nodata on 0 or 255 stay Byte."""

import subprocess

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException

from palettize.engine.nearest import brute_force_indices
from palettize.palettes.palette import builtin_palette
from rasters import listing, ROOT, feedback_log, qgis_process, quantize, random_rgba, read_indices, write_raster

PALETTIZE = ROOT + "/scripts/palettize"


def band_facts(path):
    """(data type name, nodata, colour table entries as RGBA)."""
    dataset = gdal.Open(path)
    band = dataset.GetRasterBand(1)
    table = band.GetColorTable()
    entries = [table.GetColorEntry(i) for i in range(table.GetCount())]
    return gdal.GetDataTypeName(band.DataType), band.GetNoDataValue(), entries


def expected_indices(rgba, palette_colours, nodata_index):
    """The brute-force nearest entry of every opaque pixel among all entries but ``nodata_index``
    (when it is one), and ``nodata_index`` where the pixel is transparent."""
    usable = [i for i in range(len(palette_colours)) if i != nodata_index]
    rgb = np.transpose(rgba[:3], (1, 2, 0)).reshape(-1, 3)
    nearest = np.asarray(usable)[brute_force_indices(rgb, palette_colours[usable], "rgb")]
    return np.where(rgba[3].ravel() >= 128, nearest, nodata_index).reshape(rgba.shape[1:])


@pytest.mark.parametrize("nodata_index", [0, 255])
def test_256_colours_with_nodata_on_an_entry_are_byte_and_that_entry_is_kept_for_nodata(
        qgis_app, tmp_path, nodata_index):
    rgba = random_rgba(30, 40, seed=11)
    path = write_raster(str(tmp_path / "in.tif"), rgba, alpha=True)
    log = feedback_log()
    out = quantize({"INPUT": path, "PALETTE": "win256", "NODATA_INDEX": nodata_index,
                    "OUTPUT": str(tmp_path / "out.tif")}, feedback=log)["OUTPUT"]
    win256 = builtin_palette("win256")
    data_type, nodata, table = band_facts(out)
    assert (data_type, nodata) == ("Byte", float(nodata_index))
    indices = read_indices(out)
    assert np.array_equal(indices, expected_indices(rgba, win256.colours, nodata_index))
    assert (indices[rgba[3] == 0] == nodata_index).all() and (indices[rgba[3] == 255] != nodata_index).all()
    r, g, b = win256.colours[nodata_index].tolist()
    assert table[nodata_index] == (r, g, b, 0)  # the entry's colour, transparent
    assert [entry for i, entry in enumerate(table) if i != nodata_index] == [
        tuple(c) + (255,) for i, c in enumerate(win256.colours.tolist()) if i != nodata_index]
    assert ("Nodata index (NODATA_INDEX) = {0}: nodata pixels are written as {0} (palette entry {0}, #{1:02x}{2:02x}{3:02x}, "
            "is kept for nodata and never chosen as a pixel's colour); 256 colours: writing Byte with nodata {0}.").format(
                nodata_index, r, g, b) in log.infos


def test_a_nodata_index_outside_the_palette_pads_the_colour_table_up_to_it(qgis_app, tmp_path):
    rgba = random_rgba(20, 30, seed=12)
    path = write_raster(str(tmp_path / "in.tif"), rgba, alpha=True)
    out = quantize({"INPUT": path, "PALETTE": "vga16", "NODATA_INDEX": 200, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    vga16 = builtin_palette("vga16")
    data_type, nodata, table = band_facts(out)
    assert (data_type, nodata) == ("Byte", 200.0)
    assert np.array_equal(read_indices(out), expected_indices(rgba, vga16.colours, 200))
    assert table[:16] == [tuple(c) + (255,) for c in vga16.colours.tolist()]
    assert table[16:200] == [(0, 0, 0, 255)] * 184 and table[200] == (0, 0, 0, 0)


def test_a_nodata_index_beyond_byte_makes_uint16(qgis_app, tmp_path):
    rgba = random_rgba(20, 30, seed=13)
    path = write_raster(str(tmp_path / "in.tif"), rgba, alpha=True)
    out = quantize({"INPUT": path, "PALETTE": "vga16", "NODATA_INDEX": 300, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert band_facts(out)[:2] == ("UInt16", 300.0)
    assert np.array_equal(read_indices(out), expected_indices(rgba, builtin_palette("vga16").colours, 300))


def test_an_opaque_input_still_gets_the_chosen_nodata_and_its_entry_stays_unused(qgis_app, tmp_path):
    rgba = random_rgba(20, 30, seed=14, transparent_share=0.0)
    path = write_raster(str(tmp_path / "in.tif"), rgba[:3])
    log = feedback_log()
    out = quantize({"INPUT": path, "PALETTE": "vga16", "NODATA_INDEX": 0, "OUTPUT": str(tmp_path / "out.tif")},
                   feedback=log)["OUTPUT"]
    assert band_facts(out)[:2] == ("Byte", 0.0)
    assert any("(palette entry 0, black #000000, is kept for nodata" in line for line in log.infos)
    indices = read_indices(out)
    assert np.array_equal(indices, expected_indices(rgba, builtin_palette("vga16").colours, 0))
    assert indices.min() >= 1


def test_a_palette_built_from_the_image_keeps_n_colors_entries_with_nodata_inside(qgis_app, tmp_path):
    rgba = random_rgba(30, 40, seed=15)
    path = write_raster(str(tmp_path / "in.tif"), rgba, alpha=True)
    out = quantize({"INPUT": path, "PALETTE": "mediancut", "N_COLORS": 8, "NODATA_INDEX": 0,
                    "OUTPUT_TABLE": str(tmp_path / "table.csv"), "OUTPUT_REPORT": str(tmp_path / "report.html"),
                    "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    data_type, nodata, table = band_facts(out)
    assert (data_type, nodata) == ("Byte", 0.0)
    assert table[0] == (0, 0, 0, 0)
    colours = np.array([entry[:3] for entry in table[:8]], dtype=np.uint8)
    indices = read_indices(out)
    assert np.array_equal(indices, expected_indices(rgba, colours, 0))
    assert set(np.unique(indices[rgba[3] == 255])) <= set(range(1, 8))
    rows = (tmp_path / "table.csv").read_text().splitlines()
    assert len(rows) == 9 and rows[1].replace("\"", "") == "0,0,0,0,#000000,nodata,0,0"
    valid = int((rgba[3] == 255).sum())
    assert "{:,} nodata".format(rgba[3].size - valid) in (tmp_path / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("nodata_index", [0, 3, 7])
def test_a_kmeans_palette_hands_on_nearest_entries_that_step_around_the_nodata_one(qgis_app, tmp_path, nodata_index):
    """kmeans finds each colour's nearest entry while it builds the palette and hands them to the
    mapper: with the nodata entry inserted among them, they still skip it, ties to the lowest index."""
    rgba = random_rgba(30, 40, seed=16)
    rgba[:3] = rgba[:3] // 32 * 32  # a coarse grid of colours: many ties
    path = write_raster(str(tmp_path / "in.tif"), rgba, alpha=True)
    out = quantize({"INPUT": path, "PALETTE": "kmeans", "N_COLORS": 8, "NODATA_INDEX": nodata_index,
                    "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    _, _, table = band_facts(out)
    colours = np.array([entry[:3] for entry in table[:8]], dtype=np.uint8)
    assert np.array_equal(read_indices(out), expected_indices(rgba, colours, nodata_index))


def test_an_exact_palette_with_nodata_inside_says_how_many_colours_n_colors_must_hold(qgis_app, tmp_path):
    """N_COLORS counts the entry kept for nodata: the message names the N_COLORS the user gave."""
    rgba = random_rgba(6, 8, seed=17)
    rgba[:3] = (np.arange(48).reshape(6, 8) % 3 * 80)[None]  # three greys, in every row
    rgba[3, :, :3] = 255
    path = write_raster(str(tmp_path / "in.tif"), rgba, alpha=True)  # 3 colours
    message = (r"^The image has 3 distinct colours, and Number of colours \(N_COLORS\) = 3 keeps one entry for "
               r"Nodata index \(NODATA_INDEX\) = 0: raise Number of colours \(N_COLORS\) to 4, choose a Nodata index "
               r"\(NODATA_INDEX\) of 3 or more \(outside the palette\), or use 'frequent' or 'kmeans'\.$")
    with pytest.raises(QgsProcessingException, match=message):
        quantize({"INPUT": path, "PALETTE": "exact", "N_COLORS": 3, "NODATA_INDEX": 0,
                  "OUTPUT": str(tmp_path / "out.tif")})
    assert listing(tmp_path) == ["in.tif"]
    out = quantize({"INPUT": path, "PALETTE": "exact", "N_COLORS": 4, "NODATA_INDEX": 0,
                    "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    _, _, table = band_facts(out)
    assert np.array_equal(read_indices(out), expected_indices(rgba, np.array([e[:3] for e in table[:4]]), 0))


@pytest.mark.parametrize("value, message", [
    (-1, "Nodata index (NODATA_INDEX) must be a whole number from 0 to 65535, not -1."),
    (65536, "Nodata index (NODATA_INDEX) must be a whole number from 0 to 65535, not 65536."),
    (2.5, "Nodata index (NODATA_INDEX) must be a whole number, not 2.5."),
])
def test_a_nodata_index_out_of_range_is_refused_naming_the_parameter(qgis_app, tmp_path, value, message):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(8, 8, seed=1), alpha=True)
    algorithm = QgsApplication.processingRegistry().algorithmById("palettize:quantize")
    ok, text = algorithm.checkParameterValues(
        {"INPUT": path, "NODATA_INDEX": value, "OUTPUT": str(tmp_path / "out.tif")}, QgsProcessingContext())
    assert (ok, text) == (False, message)


def test_the_only_colour_of_a_palette_cannot_be_kept_for_nodata(qgis_app, tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(8, 8, seed=1), alpha=True)
    palette = tmp_path / "one.csv"
    palette.write_text("red,green,blue\n10,20,30\n")
    algorithm = QgsApplication.processingRegistry().algorithmById("palettize:quantize")
    ok, text = algorithm.checkParameterValues(
        {"INPUT": path, "PALETTE_FILE": str(palette), "NODATA_INDEX": 0, "OUTPUT": str(tmp_path / "out.tif")},
        QgsProcessingContext())
    assert not ok
    assert text == ("Nodata index (NODATA_INDEX) = 0 is the palette's only colour: choose an index of 1 or more "
                    "(outside the palette).")
    assert not (tmp_path / "out.tif").exists()


def test_qgis_process_and_the_command_line_write_what_processing_run_writes(qgis_app, tmp_path):
    rgba = random_rgba(24, 32, seed=16)
    path = write_raster(str(tmp_path / "in.tif"), rgba, alpha=True)
    reference = quantize({"INPUT": path, "SOURCE": "bands", "PALETTE": "win256", "NODATA_INDEX": 255,
                          "OUTPUT": str(tmp_path / "plugin.tif")})["OUTPUT"]
    result = qgis_process("run", "palettize:quantize", "--", "INPUT=" + path, "PALETTE=win256", "NODATA_INDEX=255",
                          "OUTPUT=" + str(tmp_path / "qgis_process.tif"))
    assert result.returncode == 0, result.stdout
    cli = subprocess.run([PALETTIZE, "quantize", path, "-o", str(tmp_path / "cli.tif"), "--palette", "win256",
                          "--nodata-index", "255"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    mosaic = subprocess.run([PALETTIZE, "quantize", path, "-o", str(tmp_path / "mosaic.vrt"), "--palette", "win256",
                             "--nodata-index", "255"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=300)  # tiles and a mosaic, as on a cluster
    assert mosaic.returncode == 0, mosaic.stderr
    for other in ("qgis_process.tif", "cli.tif", "mosaic.vrt"):
        output = str(tmp_path / other)
        assert np.array_equal(read_indices(output), read_indices(reference)), other
        assert band_facts(output)[:2] == ("Byte", 255.0), other
        assert band_facts(output)[2][:256] == band_facts(reference)[2][:256], other


def test_the_command_line_refuses_a_nodata_index_in_its_own_words(tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(8, 8, seed=1), alpha=True)
    cli = subprocess.run([PALETTIZE, "quantize", path, "-o", str(tmp_path / "cli.tif"), "--nodata-index", "70000"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert cli.returncode == 2
    assert cli.stderr == "palettize: error: --nodata-index must be a whole number from 0 to 65535, not 70000.\n"
    assert not (tmp_path / "cli.tif").exists()


@pytest.mark.parametrize("settings", [{"DITHER": "floyd-steinberg"}, {"CLEANUP": "seams"}, {"CLEANUP": "sieve"},
                                      {"METRIC": "ciede2000"}], ids=["dither", "seams", "sieve", "ciede2000"])
def test_dithering_cleanup_and_every_metric_leave_the_kept_entry_to_nodata(qgis_app, tmp_path, settings):
    rgba = random_rgba(30, 40, seed=17)
    rgba[:3, :, :20] = 0  # black, entry 0 of vga16: its pixels must take another entry
    path = write_raster(str(tmp_path / "in.tif"), rgba, alpha=True)
    out = quantize(dict(settings, INPUT=path, PALETTE="vga16", NODATA_INDEX=0,
                        OUTPUT=str(tmp_path / "out.tif")))["OUTPUT"]
    indices = read_indices(out)
    assert (indices[rgba[3] == 0] == 0).all()
    assert indices[rgba[3] == 255].min() >= 1


def test_an_output_with_its_nodata_inside_the_palette_is_its_palette_again_only_with_that_nodata_index(
        qgis_app, tmp_path):
    """An output made with NODATA_INDEX=0, given back as the palette file (or its style, or the
    .palette.csv an .xyz output gets): its nodata entry (black, transparent, 'nodata') was read as a
    colour, and every black pixel became 'nodata' (exit 0)."""
    rgba = random_rgba(30, 40, seed=12)
    rgba[:3, :5] = 0  # five rows of black, a class of their own
    path = write_raster(str(tmp_path / "in.tif"), rgba, alpha=True)
    first = quantize({"INPUT": path, "PALETTE": "frequent", "N_COLORS": 16, "NODATA_INDEX": 0,
                      "OUTPUT": str(tmp_path / "first.tif")})["OUTPUT"]
    with pytest.raises(QgsProcessingException, match=r"Palette file .*first\.tif keeps entry 0 for nodata \(the "
                       r"raster's nodata value\), not for a colour: set Nodata index \(NODATA_INDEX\) = 0 to keep"):
        quantize({"INPUT": path, "PALETTE_FILE": first, "OUTPUT": str(tmp_path / "second.tif")})
    assert not (tmp_path / "second.tif").exists()
    again = quantize({"INPUT": path, "PALETTE_FILE": first, "NODATA_INDEX": 0,
                      "OUTPUT": str(tmp_path / "again.tif")})["OUTPUT"]
    assert np.array_equal(read_indices(again), read_indices(first)) and band_facts(again) == band_facts(first)
    # Its style beside it, read as a palette: the entry is known by its label, "nodata"
    with pytest.raises(QgsProcessingException, match=r"Palette file .*first\.qml keeps entry 0 for nodata \(labelled "
                                                     r'"nodata"\), not for a colour'):
        quantize({"INPUT": path, "PALETTE_FILE": str(tmp_path / "first.qml"), "OUTPUT": str(tmp_path / "third.tif")})
    styled = quantize({"INPUT": path, "PALETTE_FILE": str(tmp_path / "first.qml"), "NODATA_INDEX": 0,
                       "OUTPUT": str(tmp_path / "styled.tif")})["OUTPUT"]
    assert np.array_equal(read_indices(styled), read_indices(first))
    black = read_indices(first)[:5][rgba[3, :5] == 255]
    assert black.size and (black != 0).all() and len(set(black.tolist())) == 1
