"""The `palettize` command line, run as users run it: scripts/palettize from the clone (Debian's
python3, no QGIS) or the console script `pip install .` makes; its outputs against the plugin's."""

import configparser
import os
import pty
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from osgeo import gdal

from palettize.engine.nearest import nearest_palette_indices
from palettize.palettes.formats import read_palette
from rasters import ROOT, SAMPLE_MAP, leftovers, quantize, random_rgba, read_indices, write_raster

SCRIPT = os.path.join(ROOT, "scripts", "palettize")


def palettize(*args, **kwargs):
    """scripts/palettize with these arguments; CompletedProcess with text stdout and stderr."""
    return subprocess.run([SCRIPT] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300, **kwargs)


def colour_table(path):
    dataset = gdal.Open(path)
    table = dataset.GetRasterBand(1).GetColorTable()
    entries = [table.GetColorEntry(i) for i in range(table.GetCount())]
    dataset = None
    return entries


def two_sheets(tmp_path):
    """Two map sheets with different colours (each misses some of the other's)."""
    sample = gdal.Open(SAMPLE_MAP).ReadAsArray()
    first = write_raster(str(tmp_path / "north.tif"), sample[:, :200, :300], alpha=True)
    second = write_raster(str(tmp_path / "south.tif"), sample[:, 200:, 300:], alpha=True)
    return first, second


@pytest.mark.parametrize("flags, parameters", [
    (["--palette", "websafe216", "--metric", "cielab"], {"PALETTE": "websafe216", "METRIC": "cielab"}),
    (["--palette", "frequent", "--n-colors", "12", "--cleanup", "seams"],
     {"PALETTE": "frequent", "N_COLORS": 12, "CLEANUP": "seams"}),
    (["--palette", "vga16", "--cleanup", "sieve", "--min-region", "20", "--connectedness", "8"],
     {"PALETTE": "vga16", "CLEANUP": "sieve", "MIN_REGION": 20, "CONNECTEDNESS": 8}),
    (["--dither", "floyd-steinberg", "--alpha-threshold", "200"], {"DITHER": "floyd-steinberg", "ALPHA_THRESHOLD": 200}),
    (["--palette", "mpl:viridis", "--n-colors", "300"], {"PALETTE": "mpl:viridis", "N_COLORS": 300}),
], ids=["websafe-cielab", "frequent-seams", "vga16-sieve", "dither", "viridis-uint16"])
def test_the_command_line_writes_the_indices_and_colour_table_of_the_plugin_reading_bands(
        qgis_app, tmp_path, flags, parameters):
    result = palettize("quantize", SAMPLE_MAP, "-o", tmp_path / "cli.tif", *flags)
    assert result.returncode == 0, result.stderr
    plugin = quantize(dict(parameters, INPUT=SAMPLE_MAP, SOURCE="bands", OUTPUT=str(tmp_path / "plugin.tif")))["OUTPUT"]
    cli = str(tmp_path / "cli.tif")
    assert read_indices(cli).dtype == read_indices(plugin).dtype
    assert np.array_equal(read_indices(cli), read_indices(plugin))
    assert colour_table(cli) == colour_table(plugin)
    assert gdal.Open(cli).GetGeoTransform() == gdal.Open(plugin).GetGeoTransform()
    assert read_palette(str(tmp_path / "cli.qml"))[0] == read_palette(str(tmp_path / "plugin.qml"))[0]


def test_a_palette_file_and_explicit_bands_work_as_in_the_plugin(qgis_app, tmp_path):
    bgra = random_rgba(30, 40, seed=4)[[2, 1, 0, 3]]
    path = write_raster(str(tmp_path / "bgra.tif"), bgra)
    palette = tmp_path / "legend.csv"
    palette.write_text("red,green,blue,label\n255,0,0,red\n0,255,0,green\n0,0,255,blue\n20,20,20,dark\n")
    result = palettize("quantize", path, "-o", tmp_path / "cli.tif", "--palette", palette, "--bands", "3,2,1,4")
    assert result.returncode == 0, result.stderr
    plugin = quantize({"INPUT": path, "SOURCE": "bands", "RED_BAND": 3, "GREEN_BAND": 2, "BLUE_BAND": 1,
                       "ALPHA_BAND": 4, "PALETTE_FILE": str(palette), "OUTPUT": str(tmp_path / "plugin.tif")})["OUTPUT"]
    assert np.array_equal(read_indices(str(tmp_path / "cli.tif")), read_indices(plugin))
    assert colour_table(str(tmp_path / "cli.tif")) == colour_table(plugin)


def test_an_esri_colour_map_named_txt_is_read_as_one_when_its_values_count_else_refused(tmp_path):
    # Red, green / blue, yellow pixels and ESRI colour maps (value red green blue) saved as .txt.
    image = write_raster(str(tmp_path / "in.tif"), np.array([[[255, 0], [0, 255]], [[0, 255], [0, 255]],
                                                             [[0, 0], [255, 0]]], dtype=np.uint8))
    counting = tmp_path / "classes.txt"
    counting.write_text("0 255 0 0\n1 0 255 0\n2 0 0 255\n3 255 255 0\n")
    result = palettize("quantize", image, "-o", tmp_path / "classes.tif", "--palette", counting)
    assert result.returncode == 0, result.stderr
    assert read_indices(str(tmp_path / "classes.tif")).tolist() == [[0, 1], [2, 3]]
    assert colour_table(str(tmp_path / "classes.tif"))[:4] == [(255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255),
                                                               (255, 255, 0, 255)]

    values = tmp_path / "landcover.txt"
    values.write_text("11 255 0 0\n21 0 255 0\n31 0 0 255\n41 255 255 0\n")
    result = palettize("quantize", image, "-o", tmp_path / "landcover.tif", "--palette", values)
    assert result.returncode == 1
    assert "palette file landcover.txt, line 1: '11 255 0 0' could be value red green blue" in result.stderr
    assert "rename an ESRI colour map to .clr" in result.stderr
    assert not os.path.exists(str(tmp_path / "landcover.tif"))


def test_out_dir_gives_every_input_its_output_and_one_palette_built_from_all_inputs(tmp_path):
    first, second = two_sheets(tmp_path)
    result = palettize("quantize", first, second, "--out-dir", tmp_path / "out", "--palette", "frequent",
                       "--n-colors", "8", "--table", tmp_path / "out" / "{stem}.csv")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(str(tmp_path / "out"))) == [
        "north.csv", "north.qml", "north.tif", "north.tif.aux.xml", "south.csv", "south.qml", "south.tif",
        "south.tif.aux.xml"]
    # The shared palette is the one extracted from both sheets together...
    assert palettize("extract", first, second, "-o", tmp_path / "both.csv", "--method", "frequent",
                     "--n-colors", "8").returncode == 0
    shared, _ = read_palette(str(tmp_path / "both.csv"))
    for name in ("north", "south"):
        assert read_palette(str(tmp_path / "out" / (name + ".tif")))[0].colours.tolist() == shared.colours.tolist()
    # ...which is the palette of one raster holding both sheets' pixels.
    sheets = [gdal.Open(path).ReadAsArray() for path in (first, second)]
    mosaic = write_raster(str(tmp_path / "mosaic.tif"), np.concatenate(sheets, axis=1), alpha=True)
    assert palettize("extract", mosaic, "-o", tmp_path / "mosaic.csv", "--n-colors", "8").returncode == 0
    assert read_palette(str(tmp_path / "mosaic.csv"))[0].colours.tolist() == shared.colours.tolist()


def test_a_failed_file_gets_one_error_line_no_output_and_exit_status_1(tmp_path):
    good = write_raster(str(tmp_path / "good.tif"), random_rgba(10, 12, seed=1), alpha=True)
    missing = str(tmp_path / "missing.tif")
    out = tmp_path / "out"
    result = palettize("quantize", missing, good, "--out-dir", out, "--keep-going", "-q")
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["palettize: error: {}: Cannot open {} as a raster: no such file".format(
        missing, missing)]
    assert sorted(os.listdir(str(out))) == ["good.qml", "good.tif", "good.tif.aux.xml"]

    stopped = palettize("quantize", missing, good, "--out-dir", tmp_path / "stopped", "-q")
    assert stopped.returncode == 1
    assert not os.path.exists(str(tmp_path / "stopped" / "good.tif"))


def test_a_geopackage_beside_a_folder_named_as_its_write_ahead_log_is_refused_with_exit_status_1(tmp_path):
    """SQLite could not open the GeoPackage put in place beside a folder classes.gpkg-wal: the run
    ended with exit 0 and an output nothing could read."""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(10, 12, seed=1), alpha=True)
    output = str(tmp_path / "classes.gpkg")
    os.mkdir(output + "-wal")
    result = palettize("quantize", source, "-o", output, "-q")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "palettize: error: {}: Cannot write the output {}: the folder {}-wal is beside it, where SQLite keeps the "
        "file's write-ahead log: SQLite, and QGIS with it, could not open or edit the file written there (remove or "
        "rename that folder). Choose another path.".format(source, output, output)]
    assert sorted(os.listdir(str(tmp_path))) == ["classes.gpkg-wal", "in.tif"]


def test_a_batch_left_with_one_file_prints_its_warnings_naming_it_as_a_batch_does(tmp_path):
    """With one of two inputs unopenable (--keep-going), the other was reported as a single run:
    every note, and warnings that did not name the file."""
    missing = str(tmp_path / "missing.tif")
    result = palettize("quantize", SAMPLE_MAP, missing, "--out-dir", tmp_path / "out", "--keep-going")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "palettize: error: {0}: Cannot open {0} as a raster: no such file".format(missing),
        "warning: {}: Merged classes: #b2d8e8 (8.85%), #8bc5e0 (6.76%) both become entry 9 (#a6caf0). To keep them "
        "apart, set --palette=frequent (a palette built from the image) or give the map's legend as --palette."
        .format(SAMPLE_MAP)]


def test_a_file_that_is_no_raster_gets_one_error_line_without_gdals_own(tmp_path):
    good = write_raster(str(tmp_path / "good.tif"), random_rgba(10, 12, seed=1), alpha=True)
    junk = tmp_path / "junk.tif"
    junk.write_text("no raster")
    for args in (["quantize", junk, good, "--out-dir", tmp_path / "out", "--keep-going", "-q"],
                 ["extract", junk, "-o", tmp_path / "legend.csv", "-q"]):
        result = palettize(*args)
        assert result.returncode == 1
        assert len(result.stderr.splitlines()) == 1
        assert result.stderr.startswith("palettize: error: ")
        assert "Cannot open {} as a raster: ".format(junk) in result.stderr
        reason = result.stderr.split("Cannot open {} as a raster: ".format(junk), 1)[1]
        assert "not recognized as" in reason and "supported file format" in reason  # GDAL's words, per version


def test_a_file_failing_while_it_runs_leaves_nothing_behind(tmp_path):
    many = write_raster(str(tmp_path / "many.tif"), random_rgba(20, 20, seed=3), alpha=True)
    out = tmp_path / "out"
    out.mkdir()
    result = palettize("quantize", many, "-o", out / "many.tif", "--palette", "exact", "--n-colors", "16", "-q")
    assert result.returncode == 1
    assert result.stderr.startswith("palettize: error: ")
    assert "16" in result.stderr and len(result.stderr.splitlines()) == 1
    assert os.listdir(str(out)) == [] and leftovers(str(out)) == []


@pytest.mark.parametrize("signal_name, status, word", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated")])
def test_a_run_stopped_by_ctrl_c_or_kill_leaves_no_unfinished_output_and_says_so(tmp_path, signal_name, status, word):
    big = str(tmp_path / "big.tif")
    gdal.Translate(big, SAMPLE_MAP, width=3000, height=2000)
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.Popen([SCRIPT, "quantize", big, "--out-dir", str(out), "--metric", "ciede2000", "--cleanup", "seams",
                            "-q"], stderr=subprocess.PIPE, universal_newlines=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while not leftovers(str(out)) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # until the output is being written
    assert run.poll() is None, "the run ended before it could be stopped"
    run.send_signal(getattr(signal, signal_name))
    stderr = run.communicate(timeout=60)[1]
    assert run.returncode == status
    assert stderr == "palettize: {}: outputs not finished were removed\n".format(word)
    assert os.listdir(str(out)) == []


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_stop_that_lands_in_a_finalizer_still_stops_the_run(tmp_path, signal_name):
    """Python drops an exception a finalizer raises ("Exception ignored in ..."): a Ctrl-C that came
    while one ran (distributed's, GDAL's) was lost, the signals that followed ignored, and the run
    went on to its end, exit 0 (once in a Debian 13 CI run of the Ctrl-C test on a split file)."""
    import palettize

    script = tmp_path / "stopped_in_a_finalizer.py"
    script.write_text("""
import os, signal, sys, time
sys.path.insert(0, {package!r})
from palettize.engine import cli

for stopping in (signal.SIGINT, signal.SIGTERM):
    signal.signal(stopping, cli._stop)
sys.unraisablehook = cli._stop_dropped


class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.{signal_name})
        for _ in range(10 ** 6):  # the stop is raised here, in the finalizer
            pass


try:
    Finalized()
    for _ in range(200):
        time.sleep(0.01)
    print("went on")
except KeyboardInterrupt as stop:
    print("stopped", type(stop).__name__)
""".format(package=os.path.dirname(os.path.dirname(os.path.abspath(palettize.__file__))), signal_name=signal_name))
    result = subprocess.run([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=60)
    assert (result.stdout, result.stderr) == (
        "stopped {}\n".format("KeyboardInterrupt" if signal_name == "SIGINT" else "Terminated"), "")

def damaged_copy(source, path):
    """A tiled GeoTIFF copy of ``source`` cut off after its header: it opens, its pixels cannot be read."""
    gdal.Translate(path, source, creationOptions=["TILED=YES"])
    with open(path, "r+b") as f:
        f.truncate(4096)
    return path


def test_a_damaged_file_among_inputs_sharing_a_palette_built_from_them_gets_only_its_error_line(tmp_path):
    good = write_raster(str(tmp_path / "good.tif"), random_rgba(30, 40, seed=5), alpha=True)
    damaged = damaged_copy(SAMPLE_MAP, str(tmp_path / "damaged.tif"))
    alone = palettize("quantize", good, "-o", tmp_path / "alone.tif", "--palette", "frequent", "--n-colors", "8", "-q")
    assert alone.returncode == 0, alone.stderr
    result = palettize("quantize", damaged, good, "--out-dir", tmp_path / "out", "--palette", "frequent",
                       "--n-colors", "8", "--keep-going", "-q")
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["palettize: error: {}: Could not read the input: GDAL could not read pixels (0, 0, 600, 400) of "
                      "{} (Missing data for block 0). The file may be truncated or damaged: repair or replace "
                      "it.".format(damaged, damaged)]
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["good.qml", "good.tif", "good.tif.aux.xml"]
    assert np.array_equal(read_indices(str(tmp_path / "out" / "good.tif")), read_indices(str(tmp_path / "alone.tif")))
    assert colour_table(str(tmp_path / "out" / "good.tif")) == colour_table(str(tmp_path / "alone.tif"))

    stopped = palettize("quantize", damaged, good, "--out-dir", tmp_path / "stopped", "--palette", "frequent", "-q")
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr
    assert not os.path.exists(str(tmp_path / "stopped"))


def test_an_output_the_disk_cannot_hold_is_refused_in_the_command_lines_words(tmp_path, small_disk):
    """The output keeps the input's grid here: the remedy is room on the disk, not a plugin setting."""
    big = write_raster(str(tmp_path / "big.tif"), np.zeros((3, 1500, 2000), dtype=np.uint8))
    result = palettize("quantize", big, "-o", small_disk / "big.tif", "-q")
    assert result.returncode == 1
    assert result.stderr.startswith("palettize: error: ") and len(result.stderr.splitlines()) == 1
    assert "2,000 x 1,500 pixels" in result.stderr and "Free disk space or write the output elsewhere." in result.stderr
    assert "PIXEL_SIZE" not in result.stderr and "EXTENT" not in result.stderr
    assert os.listdir(str(small_disk)) == []


@pytest.mark.parametrize("palette, what", [("legends", "is a folder"), (os.devnull, "is not a regular file")])
def test_a_palette_that_is_no_file_says_what_it_is(tmp_path, palette, what):
    """--palette legends/ named no such palette file, as for a typo."""
    (tmp_path / "legends").mkdir()
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(4, 4), alpha=True)
    result = palettize("quantize", path, "-o", "out.tif", "--palette", palette, "-q", cwd=str(tmp_path))
    assert result.returncode == 1
    assert result.stderr == "palettize: error: {}: palette file {} {}; choose a palette file. Fix the file or " \
        "choose another --palette.\n".format(path, palette, what)
    assert sorted(os.listdir(str(tmp_path))) == ["in.tif", "legends"]


def test_several_inputs_take_an_output_name_holding_their_stem_such_as_a_mosaic_each(tmp_path):
    """-o 'mosaics/{stem}.vrt' was refused with several inputs ("use --out-dir"), which writes .tif only."""
    first, second = two_sheets(tmp_path)
    result = palettize("quantize", first, second, "-o", tmp_path / "mosaics" / "{stem}.vrt", "--palette", "vga16", "-q")
    assert result.returncode == 0, result.stderr
    for sheet in (first, second):
        name = os.path.splitext(os.path.basename(sheet))[0]
        assert palettize("quantize", sheet, "-o", tmp_path / (name + "-whole.tif"), "--palette", "vga16", "-q").returncode == 0
        mosaic = str(tmp_path / "mosaics" / (name + ".vrt"))
        assert (read_indices(mosaic) == read_indices(str(tmp_path / (name + "-whole.tif")))).all()
        assert os.path.isdir(str(tmp_path / "mosaics" / (name + "_tiles")))


def test_an_output_name_holding_the_stem_never_writes_over_another_input(tmp_path):
    """-o 'sheets/{stem}_c.tif' with sheets/x.tif and sheets/x_c.tif wrote x's classes over x_c.tif."""
    sheets = tmp_path / "sheets"
    sheets.mkdir()
    first = write_raster(str(sheets / "x.tif"), random_rgba(4, 4), alpha=True)
    second = write_raster(str(sheets / "x_c.tif"), random_rgba(4, 4, seed=3), alpha=True)
    before = (sheets / "x_c.tif").read_bytes()
    result = palettize("quantize", first, second, "-o", sheets / "{stem}_c.tif", "-q")
    assert result.returncode == 2
    assert result.stderr == "palettize: error: {0} would be written over the input {0}: choose another -o.\n".format(
        second)
    assert (sheets / "x_c.tif").read_bytes() == before and sorted(os.listdir(str(sheets))) == ["x.tif", "x_c.tif"]


def test_an_out_dir_named_with_braces_is_taken_as_it_is(tmp_path):
    folder = tmp_path / "{stem}"
    first, second = two_sheets(tmp_path)
    assert palettize("quantize", first, second, "--out-dir", folder, "-q").returncode == 0
    assert sorted(name for name in os.listdir(str(folder)) if name.endswith(".tif")) == ["north.tif", "south.tif"]


def test_a_command_line_that_cannot_run_says_what_to_change(tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(4, 4), alpha=True)
    several = palettize("quantize", path, path, "-o", tmp_path / "x.tif")
    assert several.returncode == 2
    assert "-o names one output but there are 2 inputs: use --out-dir DIR, or an -o holding {stem} (e.g. " \
        "classes/{stem}.vrt)." in several.stderr
    unknown = palettize("quantize", path, "-o", tmp_path / "x.tif", "--palette", "win257")
    assert unknown.returncode == 2 and "--palette win257: no such palette file" in unknown.stderr
    clash = palettize("quantize", path, "-o", tmp_path / "x.tif", "--cleanup", "seams", "--dither", "floyd-steinberg")
    assert clash.returncode == 2 and "--cleanup=seams would undo --dither=floyd-steinberg" in clash.stderr
    other = write_raster(str(tmp_path / "other.tif"), random_rgba(4, 4), alpha=True)
    reports = palettize("quantize", path, other, "--out-dir", tmp_path / "out", "--report", tmp_path / "r.html")
    assert reports.returncode == 2 and "must hold {stem}" in reports.stderr
    tables = palettize("quantize", path, other, "--out-dir", tmp_path / "out", "--table", tmp_path / "t.csv")
    assert tables.returncode == 2 and tables.stderr.endswith("e.g. {}.\n".format(tmp_path / "{stem}.csv"))
    again = os.path.join(str(tmp_path), ".", "in.tif")
    twice = palettize("quantize", path, other, again, "--out-dir", tmp_path / "out")
    assert twice.returncode == 2 and twice.stderr.endswith("{} is given twice (also as {}): give each input once.\n".format(
        again, path))
    os.symlink(str(tmp_path), str(tmp_path / "link"))
    linked = palettize("quantize", path, "-o", tmp_path / "link" / "in.tif")
    assert linked.returncode == 2 and "-o {} is the input: choose another output.".format(
        tmp_path / "link" / "in.tif") in linked.stderr
    over = palettize("quantize", path, other, "--out-dir", tmp_path)
    assert over.returncode == 2 and "in.tif would be written over its input: choose another --out-dir." in over.stderr
    fixed = palettize("quantize", path, "-o", tmp_path / "x.tif", "--palette", "vga16", "--n-colors", "8")
    assert fixed.returncode == 2 and ("--n-colors 8 sizes palettes built from the image (exact, frequent, kmeans, "
                                      "mediancut) and mpl:NAME colormaps; --palette vga16 has its own colours: leave "
                                      "--n-colors out.") in fixed.stderr
    clustered = palettize("extract", path, "-o", tmp_path / "legend.csv", "--report", tmp_path / "r.html",
                          "--workers", "2")
    assert clustered.returncode == 2 and clustered.stderr.endswith(
        "--report is not written on a cluster: run extract without --workers/--scheduler.\n")
    assert not os.path.exists(str(tmp_path / "x.tif")) and not os.path.exists(str(tmp_path / "legend.csv"))


def test_an_output_named_with_stem_is_named_after_its_input(tmp_path):
    """-o takes {stem} as --report and --table do: a script can name every output the same way."""
    path = write_raster(str(tmp_path / "sheet 7.tif"), random_rgba(4, 4), alpha=True)
    result = palettize("quantize", path, "-o", tmp_path / "classes" / "{stem}-classes.tif", "--palette", "vga16")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(str(tmp_path / "classes"))) == [
        "sheet 7-classes.qml", "sheet 7-classes.tif", "sheet 7-classes.tif.aux.xml"]
    assert palettize("quantize", path, "-o", tmp_path / "{stem}.tif").stderr.endswith(
        "-o {} is the input: choose another output.\n".format(path))


@pytest.mark.parametrize("value", ["nan", "0", "-1"])
def test_a_split_size_that_is_not_a_positive_number_is_refused(tmp_path, value):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(4, 4), alpha=True)
    result = palettize("quantize", path, "-o", tmp_path / "x.tif", "--split-above", value)
    assert result.returncode == 2
    assert result.stderr.endswith("error: argument --split-above: must be greater than 0, not {}\n".format(value))
    assert not os.path.exists(str(tmp_path / "x.tif"))


def test_a_paletted_raster_is_refused_with_how_to_expand_it_not_with_bands_that_read_its_indices_as_grey(tmp_path):
    path = str(tmp_path / "paletted.tif")
    dataset = gdal.GetDriverByName("GTiff").Create(path, 6, 4, 1, gdal.GDT_Byte)
    table = gdal.ColorTable()
    for index, colour in enumerate([(200, 30, 30, 255), (30, 200, 30, 255), (30, 30, 200, 255)]):
        table.SetColorEntry(index, colour)
    dataset.GetRasterBand(1).SetColorTable(table)
    dataset.GetRasterBand(1).WriteArray(np.arange(24, dtype=np.uint8).reshape(4, 6) % 3)
    dataset = None
    for bands in ([], ["--bands", "1,1,1"]):  # its indices 0-2 read as the greys #000000-#020202
        result = palettize("quantize", path, "-o", tmp_path / "out.tif", "--palette", "vga16", *bands)
        assert result.returncode == 1
        assert result.stderr == (
            "palettize: error: {0}: {0} is a paletted raster (band 1 holds indices into a colour table, not colours): "
            "expand it first, e.g. gdal_translate -expand rgba {0} {1}_rgba.tif, or read it as QGIS draws it "
            "(SOURCE=rendered in the plugin).\n".format(path, str(tmp_path / "paletted")))
        assert sorted(os.listdir(str(tmp_path))) == ["paletted.tif"]


def test_a_dash_for_standard_input_or_output_is_refused_instead_of_naming_a_file(tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(4, 4), alpha=True)
    output = palettize("quantize", path, "-o", "-", cwd=str(tmp_path))
    assert output.returncode == 2
    assert output.stderr == "palettize: error: -o -: palettize writes files, not standard output: give a file name.\n"
    table = palettize("quantize", path, "-o", "out.tif", "--table", "-", cwd=str(tmp_path))
    assert table.returncode == 2 and "--table -: palettize writes files" in table.stderr
    standard_input = palettize("extract", "-", "-o", "legend.csv", cwd=str(tmp_path))
    assert standard_input.returncode == 2 and standard_input.stderr == (
        "palettize: error: Input -: palettize reads raster files, not standard input: give the raster's path.\n")
    assert os.listdir(str(tmp_path)) == ["in.tif"]


def test_a_grey_raster_is_refused_with_the_bands_that_read_it_and_read_with_them(tmp_path):
    from palettize.engine.nearest import brute_force_indices
    from palettize.palettes.palette import builtin_palette

    grey = random_rgba(6, 7, seed=4)[:1]
    path = write_raster(str(tmp_path / "grey.tif"), grey)
    refused = palettize("quantize", path, "-o", tmp_path / "out.tif", "--palette", "vga16", "-q")
    assert refused.returncode == 1 and refused.stderr == (
        "palettize: error: {0}: {0} has 1 band(s): choose bands from 1 to 1 (red, green, blue[, alpha]); a grey "
        "image is read with --bands=1,1,1.\n".format(path))
    assert not os.path.exists(str(tmp_path / "out.tif"))
    read = palettize("quantize", path, "-o", tmp_path / "out.tif", "--palette", "vga16", "--bands=1,1,1", "-q")
    assert read.returncode == 0, read.stderr
    expected = brute_force_indices(np.repeat(grey.reshape(-1, 1), 3, axis=1), builtin_palette("vga16").colours, "rgb")
    assert np.array_equal(read_indices(str(tmp_path / "out.tif")), expected.reshape(6, 7))


def test_a_vrt_mosaic_never_replaces_a_tiles_folder_holding_files_it_did_not_write(tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7), alpha=True)
    own = tmp_path / "map_tiles" / "14" / "8000"
    own.mkdir(parents=True)
    (own / "5000.png").write_bytes(b"a tile of the user's web map")
    refused = palettize("quantize", path, "-o", tmp_path / "map.vrt", "-q")
    assert refused.returncode == 1 and refused.stderr == (
        "palettize: error: {0}: {1}_tiles holds files Palettize did not write (14), and the tiles of {1}.vrt "
        "replace that folder: move them or choose another output name.\n".format(path, tmp_path / "map"))
    assert (own / "5000.png").read_bytes() == b"a tile of the user's web map"
    assert sorted(os.listdir(str(tmp_path))) == ["in.tif", "map_tiles"]
    (own / "5000.png").unlink()
    own.rmdir()
    own.parent.rmdir()
    for _ in range(2):  # a mosaic written again replaces its own tiles
        assert palettize("quantize", path, "-o", tmp_path / "map.vrt", "-q").returncode == 0
    assert os.listdir(str(tmp_path / "map_tiles")) == ["tile_0_0.tif"]


@pytest.mark.parametrize("output", ["out.tif", "map.vrt"])  # a .vrt mosaic's tiles are assembled at the end
def test_a_table_not_named_as_csv_or_replacing_the_output_is_refused_before_any_work(tmp_path, output):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7), alpha=True)
    result = palettize("quantize", path, "-o", tmp_path / output, "--table", tmp_path / "table.xlsx", "-q")
    assert result.returncode == 1 and result.stderr == (
        "palettize: error: {}: The table is written as CSV text: give --table a name ending in .csv or .txt, not table.xlsx.\n"
        .format(path))
    same = palettize("quantize", path, "-o", tmp_path / output, "--table", tmp_path / output, "-q")
    assert same.returncode == 1 and same.stderr == (
        "palettize: error: {}: --table would replace the output ({}): choose another path for --table.\n".format(
            path, tmp_path / output))
    assert os.listdir(str(tmp_path)) == ["in.tif"]


def test_the_palette_written_beside_an_ascii_grid_never_replaces_the_palette_file_given(tmp_path):
    """The palette given as map.xyz.palette.csv, the output map.xyz: the palette written beside the
    grid replaced the user's own file (its comments, its format) without a word."""
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7), alpha=True)
    legend = tmp_path / "map.xyz.palette.csv"
    legend.write_text("# my legend\nred;green;blue;label\n1.0;0.0;0.0;granite\n0.0;0.0;1.0;gabbro\n")
    result = palettize("quantize", path, "-o", tmp_path / "map.xyz", "--palette", legend, "-q")
    assert result.returncode == 1, result
    assert result.stderr.startswith("palettize: error: {}: The palette written beside the output would replace "
                                    "--palette ({}): choose another path for ".format(path, legend)), result.stderr
    assert legend.read_text().startswith("# my legend") and sorted(os.listdir(str(tmp_path))) == [
        "in.tif", "map.xyz.palette.csv"]


def test_a_table_at_the_palette_written_beside_an_ascii_grid_is_refused_before_any_work(tmp_path):
    """An XYZ grid holds no colour table: the palette goes beside it as <output>.palette.csv, and a
    --table given that path replaced it without a word."""
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7), alpha=True)
    table = tmp_path / "grid.xyz.palette.csv"
    result = palettize("quantize", path, "-o", tmp_path / "grid.xyz", "--palette", "vga16", "--table", table, "-q")
    assert result.returncode == 1 and result.stderr == (
        "palettize: error: {}: --table ({}) would replace the palette written beside the output: choose another "
        "path for --table.\n".format(path, table))
    assert os.listdir(str(tmp_path)) == ["in.tif"]
    # a GeoTIFF keeps its colour table: nothing is written beside it, and a table may have that name
    assert palettize("quantize", path, "-o", tmp_path / "map.tif", "--table", tmp_path / "map.tif.palette.csv",
                     "-q").returncode == 0
    assert sorted(os.listdir(str(tmp_path))) == ["in.tif", "map.qml", "map.tif", "map.tif.aux.xml",
                                                 "map.tif.palette.csv"]


def netcdf_with_two_variables(path):
    """A netCDF file holding two 3 x 4 x 5 Byte variables, 'rgb' and 'other': GDAL opens it with no
    bands of its own, and each variable as a subdataset (NETCDF:"file":rgb)."""
    rgb = np.stack([np.full((4, 5), 10, np.uint8), np.arange(20, dtype=np.uint8).reshape(4, 5) * 12,
                    np.full((4, 5), 200, np.uint8)])
    dataset = gdal.GetDriverByName("netCDF").CreateMultiDimensional(path)
    root = dataset.GetRootGroup()
    dimensions = [root.CreateDimension(name, None, None, size) for name, size in (("band", 3), ("y", 4), ("x", 5))]
    for name in ("rgb", "other"):
        root.CreateMDArray(name, dimensions, gdal.ExtendedDataType.Create(gdal.GDT_Byte)).Write(rgb)
    dataset = None
    return path, rgb


def test_a_netcdf_variable_is_read_by_its_subdataset_name_and_the_container_says_which_to_choose(tmp_path):
    """GDAL opens NETCDF:"map.nc":rgb, which was refused as "no such file"; the container itself ended
    in "'NoneType' object has no attribute 'GetColorTable'" (a traceback for extract)."""
    path, rgb = netcdf_with_two_variables(str(tmp_path / "map.nc"))
    for command in ("quantize", "extract"):
        result = palettize(command, path, "-o", tmp_path / ("out.tif" if command == "quantize" else "out.csv"), "-q")
        assert result.returncode == 1 and result.stderr.endswith(
            "{0} holds no bands of its own: give one of its 2 subdatasets as the input, e.g. 'NETCDF:\"{0}\":rgb', "
            "'NETCDF:\"{0}\":other'.\n".format(path)), result.stderr
    subdatasets = ['NETCDF:"{}":{}'.format(path, name) for name in ("rgb", "other")]
    assert palettize("quantize", *subdatasets, "--out-dir", tmp_path / "out", "--palette", "vga16", "-q").returncode == 0
    read = gdal.Open(subdatasets[0]).ReadAsArray()  # netCDF rows go south to north: GDAL turns them
    assert sorted(read.reshape(3, -1).T.tolist()) == sorted(rgb.reshape(3, -1).T.tolist())
    expected = nearest_palette_indices(read.reshape(3, -1).T, read_palette(os.path.join(
        ROOT, "palettes", "builtin", "vga16.csv"))[0].colours, "rgb").reshape(4, 5)
    for name in ("map_rgb.tif", "map_other.tif"):  # the file's and the variable's name
        np.testing.assert_array_equal(read_indices(str(tmp_path / "out" / name)), expected)
    over = palettize("quantize", subdatasets[0], "-o", path, "-q")
    assert over.returncode == 2 and over.stderr.endswith("-o {} is the input: choose another output.\n".format(path))
    assert sorted(os.listdir(str(tmp_path))) == ["map.nc", "out"]


def test_a_subdataset_of_a_file_with_a_colon_in_its_name_is_that_file_and_a_missing_one_is_said_so(tmp_path):
    """GTIFF_DIR:1:in:put.tif was split at every colon: the input was taken for put.tif, so -o in:put.tif
    replaced it. A missing file behind HDF5:"..." let HDF5 print its diagnostics before the error."""
    path = write_raster(str(tmp_path / "in:put.tif"), random_rgba(6, 7)[:3])
    subdataset = "GTIFF_DIR:1:{}".format(path)
    over = palettize("quantize", subdataset, "-o", path, "-q")
    assert over.returncode == 2 and over.stderr.endswith("-o {} is the input: choose another output.\n".format(path))
    assert palettize("quantize", subdataset, "--out-dir", tmp_path / "out", "-q").returncode == 0
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["in:put_1.qml", "in:put_1.tif", "in:put_1.tif.aux.xml"]
    missing = 'HDF5:"{}"://rgb'.format(tmp_path / "missing.h5")
    result = palettize("quantize", missing, "-o", tmp_path / "x.tif", "-q")
    assert result.returncode == 1 and result.stderr == "palettize: error: {0}: Cannot open {0} as a raster: no such " \
        "file: {1}\n".format(missing, tmp_path / "missing.h5")


def test_a_vrt_mosaic_refuses_before_any_work_what_a_single_raster_refuses(tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7), alpha=True)
    legend = tmp_path / "legend.csv"
    legend.write_text("10,20,30\n")
    result = palettize("quantize", path, "-o", tmp_path / "map.vrt", "--palette", legend, "--nodata-index", "0", "-q")
    assert result.returncode == 1 and result.stderr == (
        "palettize: error: {}: --nodata-index=0 is the palette's only colour: choose an index of 1 or more "
        "(outside the palette).\n".format(path))
    assert sorted(os.listdir(str(tmp_path))) == ["in.tif", "legend.csv"]


@pytest.mark.parametrize("extension", ["png", "gif", "bmp"])
def test_a_map_with_transparency_is_written_as_a_byte_picture_with_a_small_fixed_palette(tmp_path, extension):
    """16 colours + nodata fit in Byte: the check before any work sized the palette by --n-colors (256)."""
    from palettize.engine.nearest import brute_force_indices
    from palettize.palettes.palette import builtin_palette

    image = random_rgba(6, 7, seed=5)
    path = write_raster(str(tmp_path / "in.tif"), image, alpha=True)
    out = str(tmp_path / ("out." + extension))
    result = palettize("quantize", path, "-o", out, "--palette", "vga16", "-q")
    assert result.returncode == 0, result.stderr
    expected = brute_force_indices(image[:3].reshape(3, -1).T, builtin_palette("vga16").colours, "rgb").reshape(6, 7)
    expected[image[3] == 0] = 255
    assert np.array_equal(read_indices(out), expected)
    assert colour_table(out)[:16] == [tuple(c) + (255,) for c in builtin_palette("vga16").colours.tolist()]


def test_warnings_are_printed_unless_quiet(tmp_path):
    values = (random_rgba(6, 7, seed=8)[:3].astype(np.uint16) * 4)
    path = write_raster(str(tmp_path / "uint16.tif"), values, gdal_type=gdal.GDT_UInt16)
    result = palettize("quantize", path, "-o", tmp_path / "out.tif")
    assert result.returncode == 0, result.stderr
    assert "warning: Some band values were outside 0-255 and were clipped." in result.stderr.splitlines()
    quiet = palettize("quantize", path, "-o", tmp_path / "quiet.tif", "-q")
    assert quiet.returncode == 0 and quiet.stderr == ""


@pytest.mark.parametrize("gdal_type, nodata", [(gdal.GDT_Int16, -1), (gdal.GDT_Float32, -9999)])
def test_a_nodata_value_outside_0_255_is_not_said_to_be_clipped(tmp_path, gdal_type, nodata):
    """Every valid value 0-255, the bands' nodata -1 or -9999: extract and quantize warned that
    values were clipped (those pixels are nodata, not clipped colours)."""
    values = random_rgba(6, 7, seed=9)[:3].astype(np.float64)
    values[:, :2, :3] = nodata
    path = write_raster(str(tmp_path / "in.tif"), values, gdal_type=gdal_type, nodata=nodata)
    for command in (["extract", path, "-o", tmp_path / "legend.csv", "--n-colors", "4"],
                    ["quantize", path, "-o", tmp_path / "out.tif", "--palette", "vga16"]):
        result = palettize(*command)
        assert result.returncode == 0, result.stderr
        assert "clipped" not in result.stderr
    kept = palettize("quantize", path, "-o", tmp_path / "kept.tif", "--palette", "vga16", "--alpha-threshold", "0")
    assert "warning: Some band values were outside 0-255 and were clipped." in kept.stderr.splitlines()  # kept: black
    values[0, 3, 3] = 300  # a valid pixel clipped: said
    path = write_raster(str(tmp_path / "in2.tif"), values, gdal_type=gdal_type, nodata=nodata)
    result = palettize("quantize", path, "-o", tmp_path / "out2.tif", "--palette", "vga16")
    assert "warning: Some band values were outside 0-255 and were clipped." in result.stderr.splitlines()
@pytest.mark.parametrize("output", ["tif", "vrt"])
def test_quiet_leaves_out_gdals_own_warnings_too(tmp_path, output):
    """--quiet is "errors only": GDAL's warnings were printed still (on a full disk, ones naming the
    run's staging folder; and the tiles of a mosaic set them printed again). GDAL is made to warn
    here by a setting it cannot read."""
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(60, 70, seed=8)[:3])
    environment, split = dict(os.environ, GDAL_NUM_THREADS="some"), ["--split-above", "0.001"]
    loud = palettize("quantize", path, "-o", tmp_path / ("loud." + output), *split, env=environment)
    assert loud.returncode == 0 and "Invalid value for NUM_THREADS: some" in loud.stderr
    quiet = palettize("quantize", path, "-o", tmp_path / ("quiet." + output), "-q", *split, env=environment)
    assert (quiet.returncode, quiet.stderr) == (0, "")


def test_warnings_name_the_command_lines_flags_not_the_plugins_parameters(tmp_path):
    transparent = random_rgba(6, 7, seed=9, transparent_share=1.0)
    path = write_raster(str(tmp_path / "transparent.tif"), transparent, alpha=True)
    result = palettize("quantize", path, "-o", tmp_path / "out.tif")
    assert result.returncode == 0, result.stderr
    assert ("warning: No pixel got a palette entry: the output is all nodata. Check --alpha-threshold, the "
            "input's nodata and alpha band, and the extent asked for.") in result.stderr.splitlines()


def test_errors_name_the_command_lines_flags_not_the_plugins_parameters(tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7, seed=9), alpha=True)
    out = str(tmp_path / "OUTPUT.tif")  # a setting's id inside a file name stays as it is
    report = palettize("quantize", path, "-o", out, "--report", out, "-q")
    assert report.returncode == 1 and report.stderr == (
        "palettize: error: {}: The report is an HTML page: give --report a name ending in .html, not "
        "OUTPUT.tif.\n".format(path))
    table = palettize("quantize", path, "-o", out, "--table", out, "-q")
    assert table.returncode == 1 and table.stderr == (
        "palettize: error: {}: --table would replace the output ({}): choose another path for --table.\n".format(
            path, out))
    transparent = write_raster(str(tmp_path / "transparent.tif"), random_rgba(6, 7, transparent_share=1.0), alpha=True)
    extract = palettize("extract", transparent, "-o", tmp_path / "legend.csv", "-q")
    assert extract.returncode == 1 and extract.stderr == (
        "palettize: error: The input has no valid pixels to build a palette from: check --alpha-threshold and "
        "nodata.\n")
    assert sorted(os.listdir(str(tmp_path))) == ["in.tif", "transparent.tif"]


@pytest.mark.parametrize("flags, message", [
    (("--cleanup", "seams", "--seam-radius", "40"), "--seam-radius must be a whole number from 1 to 10, not 40."),
    (("--cleanup", "sieve", "--min-region", "1"), "--min-region must be a whole number from 2 to 1000, not 1."),
    (("--cleanup", "sieve", "--min-region", "5000"), "--min-region must be a whole number from 2 to 1000, not 5000."),
])
def test_cleanup_settings_beyond_the_plugins_ranges_are_refused_before_any_work(tmp_path, flags, message):
    """A seam radius of 40 took 3 GB and 16 s on 1.5 megapixels: the command line takes the dialog's ranges."""
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7, seed=9), alpha=True)
    result = palettize("quantize", path, "-o", tmp_path / "out.tif", *flags)
    assert result.returncode == 2 and result.stderr == "palettize: error: {}\n".format(message)
    assert os.listdir(str(tmp_path)) == ["in.tif"]


def test_the_progress_bar_is_drawn_on_a_terminal_only(tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(50, 60), alpha=True)
    piped = palettize("quantize", path, "-o", tmp_path / "piped.tif", "--palette", "vga16")
    assert piped.returncode == 0 and "MPx/s" not in piped.stderr
    result, drawn = on_a_terminal("quantize", path, "-o", tmp_path / "tty.tif")
    assert result.returncode == 0
    assert "1/1 files" in drawn and "0.0/0.0 MPx" in drawn and "MPx/s" in drawn and "left" in drawn
    quiet = palettize("quantize", path, "-o", tmp_path / "quiet.tif", "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""
    # extract's bar counts its files and megapixels too (it stayed at 0/2 files, 0.0/0.0 MPx)
    other = write_raster(str(tmp_path / "other.tif"), random_rgba(700, 800, seed=3), alpha=True)
    result, drawn = on_a_terminal("extract", path, other, "-o", tmp_path / "legend.csv")
    assert result.returncode == 0
    assert "2/2 files  0.6/0.6 MPx" in drawn, drawn


def on_a_terminal(*args):
    """(result, what it wrote on stderr) of the command line run with stderr on a terminal."""
    leader, follower = pty.openpty()
    try:
        result = subprocess.run([SCRIPT] + [str(arg) for arg in args], stdout=subprocess.PIPE, stderr=follower,
                                timeout=300)
        os.close(follower)
        follower = None
        return result, os.read(leader, 65536).decode()
    finally:
        os.close(leader)
        if follower is not None:
            os.close(follower)


def test_palettes_lists_the_built_in_palettes_and_the_file_formats():
    result = palettize("palettes")
    assert result.returncode == 0
    for word in ("win256", "websafe216", "vga16", "gray256", "kmeans", "mpl:viridis", ".gpl", ".qml"):
        assert word in result.stdout


def test_the_pyproject_installs_every_package_of_the_plugin_at_its_version():
    import tomllib  # Python 3.11+: the test runs where pip install runs

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    folders = []
    for folder, children, files in os.walk(ROOT):
        children[:] = [name for name in children if not name.startswith(".")]  # .git, a benchmark's .venv
        if "__init__.py" in files:
            folders.append(os.path.relpath(folder, ROOT))
    packages = {"palettize" if folder == "." else "palettize." + folder.replace(os.sep, ".")
                for folder in folders if folder == "." or not folder.startswith("tests")}
    assert set(project["tool"]["setuptools"]["packages"]) == packages
    metadata = configparser.ConfigParser(interpolation=None)
    metadata.read(os.path.join(ROOT, "metadata.txt"), encoding="utf-8")
    assert project["project"]["version"] == metadata["general"]["version"]


def test_pip_install_gives_a_palettize_command_that_needs_no_clone(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(ROOT, str(source), ignore=shutil.ignore_patterns(".git", "__pycache__", "build", "*.egg-info"))
    venv = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(tmp_path / "venv")],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if venv.returncode != 0 and "ensurepip" in venv.stdout:
        pytest.skip("python3-venv is not installed (make test installs it)")
    assert venv.returncode == 0, venv.stdout
    pip = subprocess.run([str(tmp_path / "venv" / "bin" / "pip"), "install", "--no-build-isolation", "--no-deps",
                          "--quiet", str(source)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=300)
    assert pip.returncode == 0, pip.stdout
    shutil.rmtree(str(source))
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(8, 9, seed=5), alpha=True)
    result = subprocess.run([str(tmp_path / "venv" / "bin" / "palettize"), "quantize", path, "-o",
                             str(tmp_path / "out.tif"), "--palette", "gray256", "-q"], cwd=str(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert result.returncode == 0, result.stderr
    reference = palettize("quantize", path, "-o", tmp_path / "ref.tif", "--palette", "gray256", "-q")
    assert reference.returncode == 0
    assert np.array_equal(read_indices(str(tmp_path / "out.tif")), read_indices(str(tmp_path / "ref.tif")))


@pytest.mark.parametrize("flags, message", [
    (["-o", ""], "-o is empty: give the output's file name."),
    (["--out-dir", ""], "--out-dir is empty: give a folder (. for the current one)."),
    (["-o", "out.tif", "--table", ""], "--table is empty: give a file name, or leave --table out."),
    (["-o", "out.tif", "--report", ""], "--report is empty: give a file name, or leave --report out."),
    (["-o", "out.tif", "--scheduler", ""], "--scheduler is empty: give the scheduler's address, such as "
                                           "tcp://HOST:8786, or leave --scheduler out to run here."),
])
def test_an_empty_value_from_an_unset_shell_variable_is_refused_not_read_as_none_or_here(tmp_path, flags, message):
    """`--table "$TABLE"` with TABLE unset wrote no table and said nothing; `--scheduler "$SCHEDULER"`
    started a local cluster of as many workers as cores instead of using the cluster."""
    (tmp_path / "sheets").mkdir()
    path = write_raster(str(tmp_path / "sheets" / "in.tif"), random_rgba(4, 4), alpha=True)
    result = palettize("quantize", path, *flags, "-q", cwd=str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == "palettize: error: {}\n".format(message)
    assert sorted(os.listdir(str(tmp_path))) == ["sheets"] and os.listdir(str(tmp_path / "sheets")) == ["in.tif"]


def test_an_empty_palette_file_name_for_extract_is_refused(tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(4, 4), alpha=True)
    result = palettize("extract", path, "-o", "", "-q", cwd=str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == "palettize: error: -o is empty: give the palette file's name.\n"



def test_extract_refuses_to_write_a_palette_as_the_style_qgis_opens_an_input_with(tmp_path):
    first = write_raster(str(tmp_path / "north.tif"), random_rgba(4, 4), alpha=True)
    second = write_raster(str(tmp_path / "south.tif"), random_rgba(4, 4), alpha=True)
    result = palettize("extract", first, second, "-o", "south.qml", "-q", cwd=str(tmp_path))
    assert result.returncode == 1
    assert result.stderr == (
        "palettize: error: -o (south.qml) would be the style QGIS opens the input south.tif with, which QGIS would "
        "then draw with this palette instead of its own colours: choose another path for -o.\n")
    assert sorted(os.listdir(str(tmp_path))) == ["north.tif", "south.tif"]


@pytest.mark.parametrize("output", ["/vsimem/classes.tif", "/vsizip/{tmp}/classes.zip/classes.tif"])
def test_an_output_in_a_gdal_virtual_file_system_is_refused_before_any_work(tmp_path, output):
    """/vsimem/classes.tif exited 0 with the raster gone with the process and a folder /vsimem
    made on disk for its style; /vsizip failed after the whole run."""
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(4, 4), alpha=True)
    output = output.format(tmp=tmp_path)
    result = palettize("quantize", path, "-o", output, "-q", cwd=str(tmp_path))
    assert result.returncode == 1
    assert result.stderr == (
        "palettize: error: {}: Cannot write the output {}: it is in GDAL's virtual file system /{}/, where Palettize "
        "does not write (its outputs are made beside their place and moved into it together); write to a folder on "
        "disk. Choose another path.\n".format(path, output, output.split("/")[1]))
    assert os.listdir(str(tmp_path)) == ["in.tif"] and not os.path.exists("/vsimem")


@pytest.mark.parametrize("flags, setting", [(["-o", "classes/"], "the output"),
                                            (["-o", "out.tif", "--table", "tables/"], "--table")])
def test_an_output_named_as_a_folder_is_refused_before_any_work(tmp_path, flags, setting):
    """-o classes/ quantized the whole file, then failed saying that classes, which it had made
    itself, was a folder."""
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(4, 4), alpha=True)
    result = palettize("quantize", path, *flags, "-q", cwd=str(tmp_path))
    assert result.returncode == 1
    folder = [flag for flag in flags if flag.endswith("/")][0]
    assert result.stderr == ("palettize: error: {}: Cannot write {} {}: {} ends with a folder separator: it names a "
                             "folder, not a file. Choose another path.\n".format(path, setting, folder, folder))
    assert os.listdir(str(tmp_path)) == ["in.tif"]


def test_a_palette_file_named_as_a_folder_is_refused_naming_it(tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(4, 4), alpha=True)
    result = palettize("extract", path, "-o", "legends/", "-q", cwd=str(tmp_path))
    assert result.returncode == 1
    assert result.stderr == ("palettize: error: Cannot write a palette as 'legends/': choose a file ending in .csv, "
                             ".gpl, .act, .clr, .qml, .txt.\n")
    assert os.listdir(str(tmp_path)) == ["in.tif"]


def sheets_to_warn_about(tmp_path):
    """An 8-bit sheet in two of the legend's colours, a 16-bit one (its values clipped to 0-255)
    and a transparent one (all nodata), and a legend whose last entry repeats its first colour."""
    red = (np.indices((6, 7)).sum(axis=0) % 2).astype(np.uint8) * 255
    sheet = write_raster(str(tmp_path / "sheet.tif"), np.stack([red, 255 - red, np.zeros_like(red)]))
    deep = write_raster(str(tmp_path / "deep.tif"), random_rgba(6, 7, seed=2)[:3].astype(np.uint16) * 257,
                        gdal_type=gdal.GDT_UInt16)
    empty = write_raster(str(tmp_path / "empty.tif"), random_rgba(6, 7, seed=3, transparent_share=1.0), alpha=True)
    legend = tmp_path / "legend.csv"
    legend.write_text("255,0,0\n0,255,0\n0,0,255\n0,0,0\n255,255,255\n255,0,0\n")
    return [sheet, deep, empty], str(legend)


BATCH_WARNINGS = [
    "warning: 1 palette entry has the colour of an earlier entry, so no pixel gets it (ties go to the lowest index): "
    "5 as 0, #ff0000. Give each class its own colour to tell them apart.",
    "warning: {deep}: Some band values were outside 0-255 and were clipped.",
    "warning: {empty}: No pixel got a palette entry: the output is all nodata. Check --alpha-threshold, the input's "
    "nodata and alpha band, and the extent asked for."]


def test_a_batch_prints_each_files_warnings_naming_the_file_and_the_palettes_once(tmp_path):
    """A 16-bit sheet among 8-bit ones came out of a batch all white without a word: a batch
    dropped the warnings of its files with their notes."""
    (sheet, deep, empty), legend = sheets_to_warn_about(tmp_path)
    result = palettize("quantize", sheet, deep, empty, "--out-dir", tmp_path / "out", "--palette", legend)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [line.format(deep=deep, empty=empty) for line in BATCH_WARNINGS]
    quiet = palettize("quantize", sheet, deep, empty, "--out-dir", tmp_path / "quiet", "--palette", legend, "-q")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_extract_warns_that_band_values_were_clipped_as_quantize_does(tmp_path):
    """A legend extracted from a 16-bit sheet held black and white only, without a word why."""
    (sheet, deep, _), _ = sheets_to_warn_about(tmp_path)
    one = palettize("extract", deep, "-o", tmp_path / "one.csv", "--n-colors", "4")
    assert one.returncode == 0, one.stderr
    assert "warning: Some band values were outside 0-255 and were clipped." in one.stderr.splitlines()
    both = palettize("extract", sheet, deep, "-o", tmp_path / "both.csv", "--n-colors", "4")
    assert both.returncode == 0, both.stderr
    assert [line for line in both.stderr.splitlines() if line.startswith("warning:")] == [
        "warning: {}: Some band values were outside 0-255 and were clipped.".format(deep)]


def test_a_file_name_that_is_not_utf8_is_refused_saying_so(tmp_path):
    """Sheets unpacked from an old archive can have Latin-1 names, which GDAL cannot take: the
    input was refused as 'not a string', and the output after the work was done."""
    folder = os.fsencode(str(tmp_path))
    latin = os.path.join(folder, b"carte g\xe9ologique.tif")
    shutil.copy(write_raster(str(tmp_path / "good.tif"), random_rgba(4, 5), alpha=True), latin)
    result = subprocess.run([SCRIPT.encode(), b"quantize", latin, b"-o", os.path.join(folder, b"out.tif"), b"-q"],
                            stderr=subprocess.PIPE, timeout=300)
    assert result.returncode == 1
    shown = os.fsdecode(latin).encode("ascii", "backslashreplace")  # as Python writes it on stderr
    assert result.stderr == (b"palettize: error: " + shown + b": Cannot open " + shown + b" as a raster: its name is "
                             b"not UTF-8 text, and GDAL opens only UTF-8 names: rename it\n")
    output = os.path.join(folder, b"classes g\xe9ologiques.tif")
    result = subprocess.run([SCRIPT.encode(), b"quantize", os.path.join(folder, b"good.tif"), b"-o", output, b"-q"],
                            stderr=subprocess.PIPE, timeout=300)
    assert result.returncode == 1
    assert result.stderr.endswith(b": Cannot write the output " + os.fsdecode(output).encode("ascii", "backslashreplace")
                                  + b": its name is not UTF-8 text, and GDAL writes only UTF-8 names. Choose another "
                                  b"path.\n")
    assert sorted(os.listdir(folder)) == [b"carte g\xe9ologique.tif", b"good.tif"]


def _nearest_win256(rgba):
    from palettize.engine.nearest import brute_force_indices
    from palettize.palettes.palette import builtin_palette

    return brute_force_indices(np.transpose(rgba[:3], (1, 2, 0)), builtin_palette("win256").colours,
                               "rgb").reshape(rgba.shape[1:])


@pytest.mark.parametrize("output", ["map.tif", "map.gif"])
def test_an_rgba_map_with_nothing_transparent_gives_byte_without_nodata_from_the_command_line(tmp_path, output):
    """A QGIS print layout exported as TIFF has an alpha band of 255 everywhere: Byte, as in QGIS."""
    rgba = random_rgba(30, 40, seed=12, transparent_share=0)
    path = write_raster(str(tmp_path / "in.tif"), rgba, alpha=True)
    result = palettize("quantize", path, "-o", tmp_path / output, "--palette", "win256")
    assert result.returncode == 0, result.stderr
    assert "256 colours and an opaque input (no transparent pixel where sampled" in result.stdout + result.stderr
    dataset = gdal.Open(str(tmp_path / output))
    band = dataset.GetRasterBand(1)
    assert (gdal.GetDataTypeName(band.DataType), band.GetNoDataValue()) == ("Byte", None)
    band = dataset = None
    assert np.array_equal(read_indices(str(tmp_path / output)), _nearest_win256(rgba))



def test_a_gif_taller_than_the_format_holds_is_refused_before_any_work(tmp_path):
    """GIF holds 65,535 pixels a side: a georeferenced map of 65,536 rows crashed the process in
    GDAL's GIF writer once every block was written (a signal, no message, its staging folder left)."""
    path = write_raster(str(tmp_path / "tall.tif"), np.zeros((3, 65536, 1), dtype=np.uint8))
    result = palettize("quantize", path, "-o", tmp_path / "out" / "tall.gif", "--palette", "vga16")
    assert result.returncode == 1, result
    assert result.stderr == ("palettize: error: {}: Cannot write tall.gif as GIF (.gif): it holds at most 65,535 "
                             "pixels a side, and this raster is 1 x 65,536. Choose a GeoTIFF (.tif).\n".format(path))
    assert not os.path.exists(tmp_path / "out")


def test_an_ehdr_grid_is_written_by_the_command_line_with_its_header_and_colours(tmp_path):
    """GDAL 3.6's EHdr writer, given the attribute table of labels and counts it cannot keep,
    crashed the command line (signal 11 after the format's probe, the staging folder left); it keeps
    the colours of the table in its .clr, which the colour table gives it."""
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(30, 40, seed=4)[:3])
    result = palettize("quantize", path, "-o", tmp_path / "out.bil", "--palette", "vga16")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path)) == ["in.tif", "out.bil", "out.clr", "out.hdr", "out.prj", "out.qml"]
    rgb = gdal.Open(path).ReadAsArray().reshape(3, -1).T
    expected = nearest_palette_indices(rgb, read_palette(str(tmp_path / "out.qml"))[0].colours, "rgb")
    assert read_indices(str(tmp_path / "out.bil")).ravel().tolist() == expected.tolist()
    assert colour_table(str(tmp_path / "out.bil"))[:16] == [tuple(c) + (255,) for c in
                                                            read_palette(str(tmp_path / "out.qml"))[0].colours.tolist()]


def test_outputs_of_a_batch_whose_format_files_meet_are_refused_before_any_work(tmp_path):
    """-o 'out/{stem}.ers' for m.ers.tif and m.tif: the first output's data file (ERS writes it by
    the name without .ers) is out/m.ers, the second output: it was written over, exit 0."""
    pixels = random_rgba(30, 40, seed=4)[:3]
    inputs = [write_raster(str(tmp_path / name), pixels) for name in ("m.ers.tif", "m.tif")]
    result = palettize("quantize", *inputs, "-o", tmp_path / "out" / "{stem}.ers", "--palette", "vga16")
    assert result.returncode == 2
    assert result.stderr == ("palettize: error: The outputs of {} and {} would both write {} ({} and {}): give them "
                             "different names.\n".format(inputs[0], inputs[1], tmp_path / "out" / "m.ers",
                                                         tmp_path / "out" / "m.ers.ers", tmp_path / "out" / "m.ers"))
    assert not (tmp_path / "out").exists()


def test_a_name_that_is_not_ascii_under_a_locale_without_utf8_file_names_says_to_choose_one(tmp_path):
    """Under LANG=C without Python's UTF-8 mode (or de_DE.ISO-8859-1) Python and GDAL spell such a
    name with other bytes: the output went under another name than its style, and an input that
    exists was "not found" (or "not UTF-8 text", which it is)."""
    good = write_raster(str(tmp_path / "carte é.tif"), random_rgba(4, 5), alpha=True)
    env = dict(os.environ, LC_ALL="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    result = subprocess.run([SCRIPT, "quantize", good, "-o", str(tmp_path / "out.tif"), "-q"], stderr=subprocess.PIPE,
                            timeout=300, env=env)
    assert result.returncode == 1
    assert result.stderr.endswith(b"as a raster: its name is not ASCII, and this process's locale spells file names in "
                                  b"ascii where GDAL opens them in UTF-8: run with a UTF-8 locale (e.g. LC_ALL=C.UTF-8)\n")
    plain = write_raster(str(tmp_path / "plain.tif"), random_rgba(4, 5), alpha=True)
    result = subprocess.run([SCRIPT, "quantize", plain, "-o", str(tmp_path / "classes é.tif"), "-q"],
                            stderr=subprocess.PIPE, timeout=300, env=env)
    assert result.returncode == 1
    assert b"its name is not ASCII, and this process's locale spells file names in ascii where GDAL writes them in " \
           b"UTF-8" in result.stderr
    assert sorted(os.listdir(str(tmp_path))) == ["carte é.tif", "plain.tif"]


def test_an_output_over_a_file_of_a_palette_raster_is_refused_naming_it(tmp_path):
    """A VRT palette over colours.tif: -o colours.tif wrote over the palette's raster with exit 0."""
    colours = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "colours.tif"), 4, 1, 1, gdal.GDT_Byte)
    table = gdal.ColorTable()
    for index, colour in enumerate([(255, 0, 0, 255), (0, 255, 0, 255), (0, 0, 255, 255), (9, 9, 9, 255)]):
        table.SetColorEntry(index, colour)
    colours.GetRasterBand(1).SetRasterColorTable(table)
    colours.GetRasterBand(1).WriteArray(np.arange(4, dtype=np.uint8)[None])
    colours = None
    gdal.Translate(str(tmp_path / "pal.vrt"), str(tmp_path / "colours.tif"), format="VRT")
    before = open(str(tmp_path / "colours.tif"), "rb").read()
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(5, 6)[:3])
    result = palettize("quantize", source, "-o", tmp_path / "colours.tif", "--palette", tmp_path / "pal.vrt")
    assert result.returncode == 1
    assert result.stderr.endswith("{}, a file of --palette ({}), would be replaced by the output: choose another path "
                                  "for the output.\n".format(tmp_path / "colours.tif", tmp_path / "pal.vrt"))
    assert open(str(tmp_path / "colours.tif"), "rb").read() == before


def test_a_batch_is_refused_where_one_output_would_replace_a_file_another_input_reads(tmp_path):
    """mosaic.vrt reads sheet.tif, and sheet.png's output was sheet.tif: the batch wrote over the
    mosaic's source with exit 0 (or, the other way round, failed on a 'damaged' mosaic)."""
    sheet = write_raster(str(tmp_path / "sheet.tif"), random_rgba(5, 6)[:3])
    gdal.BuildVRT(str(tmp_path / "mosaic.vrt"), [sheet])
    gdal.Translate(str(tmp_path / "sheet.png"), sheet, format="PNG")
    before = open(sheet, "rb").read()
    for inputs in ([tmp_path / "mosaic.vrt", tmp_path / "sheet.png"], [tmp_path / "sheet.png", tmp_path / "mosaic.vrt"]):
        result = palettize("quantize", *inputs, "--out-dir", tmp_path, "--palette", "vga16")
        assert result.returncode == 2
        assert result.stderr == ("palettize: error: {}, a file of the input {}, would be replaced by the output of {}: "
                                 "give the outputs other names.\n".format(sheet, tmp_path / "mosaic.vrt",
                                                                          tmp_path / "sheet.png"))
    assert open(sheet, "rb").read() == before and not (tmp_path / "mosaic.qml").exists()


def test_a_batch_is_refused_where_one_files_table_is_anothers_palette_beside_it(tmp_path):
    """a.tif's a.xyz gets a.xyz.palette.csv beside it, which the table of a.xyz.palette.tif was named too."""
    inputs = [write_raster(str(tmp_path / name), random_rgba(5, 6)[:3]) for name in ("a.tif", "a.xyz.palette.tif")]
    result = palettize("quantize", *inputs, "-o", tmp_path / "o" / "{stem}.xyz", "--table", tmp_path / "o" / "{stem}.csv",
                       "--palette", "vga16")
    assert result.returncode == 2
    assert result.stderr.startswith("palettize: error: The outputs of {} and {} would both write {} (".format(
        inputs[0], inputs[1], tmp_path / "o" / "a.xyz.palette.csv"))
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_a_signal_while_python_loads_the_command_line_stops_it_with_one_line(capsys, signum):
    """scripts/palettize holds Ctrl-C and kill while Python imports the command line, then stops: GDAL's
    import lost a Ctrl-C, and the run went on and exited 0, replacing the outputs; elsewhere in the
    imports Ctrl-C ended in a traceback, and kill without a word."""
    from palettize.engine import cli

    with open(os.path.join(ROOT, "scripts", "palettize"), encoding="utf-8") as script:
        assert "console(HELD)" in script.read()
    handlers = {stopping: signal.getsignal(stopping) for stopping in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(SystemExit) as stopped:
            cli.console([signum])
    finally:
        for stopping, handler in handlers.items():
            signal.signal(stopping, handler)
    assert stopped.value.code == 128 + signum
    assert capsys.readouterr().err == "palettize: {}: outputs not finished were removed\n".format(
        "interrupted" if signum == signal.SIGINT else "terminated")


# A run that dies (kill -9, the system out of memory) as it writes ``.qml`` or as its commit moves
# its first output into place; runs the command line with ``sys.argv[1:]``.
DYING = r"""
import builtins, os, runpy, signal, sys
moment, real_open, real_replace = sys.argv.pop(1), builtins.open, os.replace

def dying_open(path, *args, **kwargs):
    if moment == "writing" and "/.palettize-" in str(path) and str(path).endswith(".qml"):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_open(path, *args, **kwargs)

def dying_replace(source, target):
    real_replace(source, target)
    if moment == "committing" and "/.palettize-" in str(source) and "/.palettize-" not in str(target):
        os.kill(os.getpid(), signal.SIGKILL)

builtins.open, os.replace = dying_open, dying_replace
sys.argv[0] = sys.argv.pop(1)
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_runs_killed_as_they_wrote_leave_folders_the_next_run_removes(tmp_path):
    """kill -9 (or the system out of memory, or a SIGTERM to qgis_process) leaves a run's staging
    folder, a partial raster in it, and none was ever removed: they piled up beside the outputs.
    The next run into the folder removes them; one killed in the moment its commit moved outputs into
    place (its table went in beside the earlier run's raster) has its commit undone first: the
    earlier outputs come back whole (it stayed for the user, holding the earlier table)."""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(40, 50), alpha=True)
    outputs = tmp_path / "out"
    assert palettize("quantize", source, "-o", outputs / "o.tif", "--palette", "vga16", "--table",
                     outputs / "o.csv").returncode == 0
    earlier = {name: (outputs / name).read_bytes() for name in os.listdir(outputs)}
    assert sorted(earlier) == ["o.csv", "o.qml", "o.tif", "o.tif.aux.xml"]
    for moment in ("writing", "writing", "committing"):
        killed = subprocess.run([sys.executable, "-c", DYING, moment, SCRIPT, "quantize", source, "-o", outputs / "o.tif",
                                 "--palette", "websafe216", "--table", outputs / "o.csv"], timeout=300)
        assert killed.returncode == -signal.SIGKILL
    assert len(leftovers(outputs)) == 3
    for staging in leftovers(outputs):  # as old as a dead run's folder must be to be taken for abandoned
        os.utime(outputs / staging / ".owner", (time.time() - 60,) * 2)
    assert palettize("quantize", source, "-o", outputs / "other.tif", "--palette", "vga16").returncode == 0
    assert leftovers(outputs) == []
    assert all((outputs / name).read_bytes() == earlier[name] for name in earlier)


def test_an_output_by_the_name_of_a_staging_folders_own_file_is_refused(tmp_path):
    """A table named .owner was written over the file that says a run is alive, and the run exited
    0 without it."""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(4, 5))
    for name in (".owner", ".replaced", ".placing"):
        run = palettize("quantize", source, "-o", tmp_path / "o.tif", "--table", tmp_path / name)
        assert run.returncode != 0 and "{} is a name Palettize keeps for its own files as it writes: choose another " \
            "name".format(name) in run.stderr
        assert sorted(os.listdir(tmp_path)) == ["in.tif"]


@pytest.mark.parametrize("name", ["R&D map.vrt", "x<1.vrt"])
def test_a_vrt_mosaic_named_with_characters_xml_escapes_reads_whole(tmp_path, name):
    """A name with '&' or '<' went into the mosaic's XML as it is (its tiles folder's name): exit 0, and
    a .vrt that GDAL, QGIS and every other program refused to open."""
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7), alpha=True)
    for output in (tmp_path / name, tmp_path / "whole.tif"):
        assert palettize("quantize", path, "-o", output, "--palette", "vga16", "-q").returncode == 0
    assert (read_indices(str(tmp_path / name)) == read_indices(str(tmp_path / "whole.tif"))).all()


def test_a_vrt_mosaic_written_again_on_a_filling_disk_is_whole_or_the_earlier_one_stays(tmp_path, small_disk):
    """On a disk that filled up, a mosaic written again gave a .vrt cut short with exit 0, or removed
    the earlier mosaic's tiles (its .vrt left pointing at nothing) and said only "[Errno 28]". Each
    round leaves the disk a little less room for the second run."""
    path = write_raster(str(tmp_path / "rgb.tif"), np.random.default_rng(1).integers(0, 256, (3, 200, 300), np.uint8))
    mosaic, filler = str(small_disk / "m.vrt"), str(small_disk / "filler")
    assert palettize("quantize", path, "-o", tmp_path / "whole.tif", "-q").returncode == 0
    failed = 0
    for keep_free in range(8 * 1024, 200 * 1024, 16 * 1024):
        assert palettize("quantize", path, "-o", mosaic, "--palette", "vga16", "-q").returncode == 0
        earlier = read_indices(mosaic)
        free = os.statvfs(str(small_disk)).f_bavail * os.statvfs(str(small_disk)).f_frsize
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, free - keep_free))
        again = palettize("quantize", path, "-o", mosaic, "-q")  # win256: larger tiles than vga16's
        if again.returncode == 0:
            assert (read_indices(mosaic) == read_indices(str(tmp_path / "whole.tif"))).all()
        else:
            failed += 1
            assert again.returncode == 1 and again.stderr.startswith("palettize: error: {}: ".format(path))
            assert "free some space" in again.stderr or "Free disk space" in again.stderr, again.stderr
            assert (read_indices(mosaic) == earlier).all()
            assert sorted(os.listdir(str(small_disk))) == ["filler", "m.qml", "m.vrt", "m_tiles"]
        for name in os.listdir(str(small_disk)):
            shutil.rmtree(str(small_disk / name)) if os.path.isdir(str(small_disk / name)) else os.remove(str(small_disk / name))
    assert failed  # the disk filled up in some of the rounds


def test_a_mosaic_gdal_wrote_cut_short_is_refused_and_the_earlier_one_stays(tmp_path):
    """GDAL says nothing when the disk fills as it writes a .vrt: the text cut short went into place
    with exit 0. (The disk filling at that instant is hard to stage: the placing is given such a
    text, as GDAL left it.)"""
    from palettize.engine import batch, gdal_io
    from palettize.engine.outputs import OutputFiles

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7), alpha=True)
    mosaic = str(tmp_path / "map.vrt")
    assert palettize("quantize", path, "-o", mosaic, "--palette", "vga16", "-q").returncode == 0
    earlier = read_indices(mosaic)
    work = tmp_path / "work"
    (work / "tiles").mkdir(parents=True)
    with open(mosaic, encoding="utf-8") as f:
        (work / "map.vrt").write_text(f.read()[:300], encoding="utf-8")
    with pytest.raises(gdal_io.WriteError) as error, OutputFiles() as outputs:
        batch._stage_mosaic(str(work), str(work / "map.vrt"), mosaic, outputs)
        outputs.commit()
    assert str(error.value).startswith("GDAL could not write the mosaic {}: it was cut short, though GDAL reported no "
                                       "error".format(mosaic))
    assert (read_indices(mosaic) == earlier).all()
    assert sorted(os.listdir(str(tmp_path))) == ["in.tif", "map.qml", "map.vrt", "map_tiles", "work"]


def test_a_mosaic_cut_short_for_a_tif_output_is_refused_saying_so(tmp_path):
    """The same mosaic, written into a .tif (a file split into tiles on a cluster): GDAL opened
    nothing of it, and the run failed with "'NoneType' object has no attribute 'GetRasterBand'"."""
    import numpy
    from palettize.engine import batch, gdal_io
    from palettize.engine.outputs import OutputFiles
    from palettize.palettes.palette import builtin_palette

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7), alpha=True)
    assert palettize("quantize", path, "-o", tmp_path / "map.vrt", "--palette", "vga16", "-q").returncode == 0
    with open(str(tmp_path / "map.vrt"), encoding="utf-8") as f:
        (tmp_path / "cut.vrt").write_text(f.read()[:300], encoding="utf-8")
    output = str(tmp_path / "out" / "map.tif")
    with pytest.raises(gdal_io.WriteError) as error, OutputFiles() as outputs:
        batch._copy_mosaic(str(tmp_path / "cut.vrt"), output, builtin_palette("vga16"), numpy.zeros(16, numpy.int64),
                           (numpy.uint8, 255), outputs)
    assert str(error.value).startswith("GDAL could not write the mosaic {}: it was cut short".format(output))
    assert not os.path.exists(str(tmp_path / "out"))


def test_a_run_on_a_filling_disk_writes_its_style_too_or_fails_leaving_nothing(tmp_path, small_disk):
    """The disk filled up as the style was written: the raster and table went into place without
    their .qml, exit 0, and with -q not a word."""
    path = write_raster(str(tmp_path / "mid.tif"), np.random.default_rng(1).integers(0, 256, (3, 400, 500), np.uint8))
    filler = str(small_disk / "filler")
    outcomes = set()
    for keep_free in range(150 * 1024, 400 * 1024, 10 * 1024):
        free = os.statvfs(str(small_disk)).f_bavail * os.statvfs(str(small_disk)).f_frsize
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, free - keep_free))
        result = palettize("quantize", path, "-o", small_disk / "mid.tif", "--table", small_disk / "mid.csv", "-q")
        outcomes.add(result.returncode)
        if result.returncode == 0:
            assert sorted(os.listdir(str(small_disk))) == ["filler", "mid.csv", "mid.qml", "mid.tif", "mid.tif.aux.xml"]
        else:
            assert result.returncode == 1 and any(said in result.stderr for said in (
                "free some space", "Free disk space", "No space left on device")), result.stderr
            assert os.listdir(str(small_disk)) == ["filler"], result.stderr
        for name in os.listdir(str(small_disk)):
            os.remove(str(small_disk / name))
    assert outcomes == {0, 1}


def test_a_folder_or_an_archive_given_as_input_says_how_to_give_the_rasters_in_it(tmp_path):
    """A folder and a .zip were "not recognized as a supported file format", which says nothing of
    dir/*.tif or of GDAL's /vsizip/ paths."""
    import zipfile

    path = write_raster(str(tmp_path / "sheet.tif"), random_rgba(4, 5), alpha=True)
    (tmp_path / "maps").mkdir()
    with zipfile.ZipFile(str(tmp_path / "maps.zip"), "w") as archive:
        archive.write(path, "sheet.tif")
    for given, said in (("maps", "it is a folder: give the rasters in it, e.g. maps/*.tif"),
                        ("maps.zip", "it is an archive: give a raster in it as /vsizip/maps.zip/sheet.tif")):
        result = palettize("quantize", given, "--out-dir", "out", "-q", cwd=str(tmp_path))
        assert (result.returncode, result.stderr) == (1, "palettize: error: {0}: Cannot open {0} as a raster: {1}\n".format(
            given, said))
    for given, output in (("/vsizip/maps.zip/sheet.tif", "from-zip.tif"), (path, "direct.tif")):  # as it says
        assert palettize("quantize", given, "-o", output, "-q", cwd=str(tmp_path)).returncode == 0
    assert (read_indices(str(tmp_path / "from-zip.tif")) == read_indices(str(tmp_path / "direct.tif"))).all()


def test_a_file_given_as_the_output_folder_is_called_a_file(tmp_path):
    path = write_raster(str(tmp_path / "sheet.tif"), random_rgba(4, 5), alpha=True)
    (tmp_path / "notes").write_text("not a folder")
    result = palettize("quantize", path, "--out-dir", tmp_path / "notes", "-q")
    assert result.returncode == 1 and "{} is a file, not a folder".format(tmp_path / "notes") in result.stderr


def test_a_gzipped_input_is_named_after_the_raster_inside(tmp_path):
    """/vsigzip/sheet.tif.gz was named 'sheet.tif': --out-dir wrote sheet.tif.tif."""
    import gzip

    path = write_raster(str(tmp_path / "sheet.tif"), random_rgba(4, 5), alpha=True)
    with open(path, "rb") as raw, gzip.open(str(tmp_path / "sheet.tif.gz"), "wb") as packed:
        packed.write(raw.read())
    result = palettize("quantize", "/vsigzip/" + str(tmp_path / "sheet.tif.gz"), "--out-dir", tmp_path / "out", "-q")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["sheet.qml", "sheet.tif", "sheet.tif.aux.xml"]


@pytest.mark.parametrize("ending", ["failed", "stopped"])
def test_a_run_that_fails_leaves_the_outputs_another_run_put_in_its_place_alone(tmp_path, monkeypatch, capsys, ending):
    """Two runs into one output: the one that failed or was stopped (Ctrl-C, kill) removed every file
    at its output paths changed since it began, the other run's whole outputs, which had replaced
    the user's earlier ones: the folder was left empty."""
    from palettize.engine import cli
    from palettize.engine import run as engine

    source = write_raster(str(tmp_path / "in.tif"), random_rgba(30, 40), alpha=True)
    output = tmp_path / "out" / "classes.tif"
    real = engine.quantize_file

    def another_run_ends_first(input_path, output_path, options, **kwargs):
        real(input_path, output_path, options)  # the other run's outputs, whole, in place
        if ending == "failed":
            raise engine.RunError("this run failed")
        raise KeyboardInterrupt()

    monkeypatch.setattr(engine, "quantize_file", another_run_ends_first)
    status = cli.main(["quantize", source, "-o", str(output), "--palette", "vga16", "-q"])
    assert status == (1 if ending == "failed" else 130)
    assert sorted(os.listdir(str(output.parent))) == ["classes.qml", "classes.tif", "classes.tif.aux.xml"]
    assert read_indices(str(output)).shape == (30, 40)


def test_a_vrt_mosaic_leaves_a_file_of_the_users_named_after_it_alone(tmp_path):
    """The mosaic's text was written as <output>.part beside it before it moved into place: a file
    of the user's by that name was overwritten, then gone."""
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7), alpha=True)
    (tmp_path / "out.vrt.part").write_text("the user's notes")
    assert palettize("quantize", path, "-o", tmp_path / "out.vrt", "--palette", "vga16", "-q").returncode == 0
    assert (tmp_path / "out.vrt.part").read_text() == "the user's notes"
    assert read_indices(str(tmp_path / "out.vrt")).shape == (6, 7)


def test_a_vrt_mosaic_that_fails_leaves_the_outputs_another_run_put_in_its_place_alone(tmp_path, monkeypatch):
    """The same for a .vrt mosaic (a file split into tiles): its clean-up removed every file at its
    output paths changed since it began, another run's finished .vrt, tiles, style and table among them."""
    from palettize.engine import batch, cli

    source = write_raster(str(tmp_path / "in.tif"), random_rgba(40, 50), alpha=True)
    output, table = tmp_path / "out" / "classes.vrt", tmp_path / "out" / "classes.csv"
    split = ["--split-above", "0.0005", "--table", str(table), "-q"]
    real = batch.run.write_table

    def another_run_ends_first(*args, **kwargs):
        done = palettize("quantize", source, "-o", output, "--palette", "websafe216", *split)
        assert done.returncode == 0, done.stderr
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(batch.run, "write_table", another_run_ends_first)
    assert cli.main(["quantize", source, "-o", str(output), "--palette", "vga16"] + split) == 1
    monkeypatch.setattr(batch.run, "write_table", real)
    assert sorted(os.listdir(str(output.parent))) == ["classes.csv", "classes.qml", "classes.vrt", "classes_tiles"]
    assert len(colour_table(str(output))) >= 216  # the other run's (websafe216), whole
    assert read_indices(str(output)).shape == (40, 50)


def test_a_new_mosaic_drops_the_overviews_of_the_one_it_replaces(tmp_path):
    """An earlier mosaic's overviews (gdaladdo's <name>.vrt.ovr) stayed beside the new one, which
    GDAL and QGIS then drew zoomed out with the earlier classes."""
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(40, 50), alpha=True)
    mosaic = str(tmp_path / "m.vrt")
    split = ["--split-above", "0.0005", "-q"]
    assert palettize("quantize", path, "-o", mosaic, "--palette", "vga16", *split).returncode == 0
    dataset = gdal.Open(mosaic)
    dataset.BuildOverviews("NEAREST", [2])
    dataset = None
    assert os.path.exists(mosaic + ".ovr")
    assert palettize("quantize", path, "-o", mosaic, "--palette", "websafe216", *split).returncode == 0
    assert sorted(os.listdir(str(tmp_path))) == ["in.tif", "m.qml", "m.vrt", "m_tiles"]
    assert gdal.Open(mosaic).GetRasterBand(1).GetOverviewCount() == 0


STOPPED_COMMIT = r"""
import os, shutil, sys
sys.path.insert(0, sys.argv[1])
from palettize.engine import outputs
folder, stage, stop_after = sys.argv[2], sys.argv[3], int(sys.argv[4])
done = [0]

def stop_here():
    if done[0] == stop_after:
        os._exit(9)  # the worker process killed, nothing undone
    done[0] += 1

def replace(source, target, real=os.replace):
    stop_here()
    real(source, target)

def rmtree(path, ignore_errors=False):  # entry by entry, as shutil's, stopped after some
    for root, folders, files in os.walk(path, topdown=False):
        for name in files:
            stop_here()
            os.remove(os.path.join(root, name))
        for name in folders:
            os.rmdir(os.path.join(root, name))
    os.rmdir(path)

with outputs.staging_tag(None if sys.argv[5] == "next run" else "0123abcd"):
    files = outputs.OutputFiles()
    for name in ("m.vrt", "m.qml", "m.csv"):
        with open(files.stage(os.path.join(folder, name)), "w") as f:
            f.write("new " + name)
    tiles = files.stage(os.path.join(folder, "m_tiles"))
    os.mkdir(tiles)
    for number in range(3):
        with open(os.path.join(tiles, "tile_{}.tif".format(number)), "w") as f:
            f.write("new tile")
    if stage == "rename":
        outputs.os.replace = replace
    else:  # as the staging folder is removed, once the commit has put everything in place
        outputs.shutil.rmtree = rmtree
    files.commit()
"""


@pytest.mark.parametrize("cleaner", ["batch", "next run"])
@pytest.mark.parametrize("stage, stop_after", [("rename", n) for n in range(6)] + [("removal", n) for n in range(6)])
def test_a_process_killed_at_any_moment_of_a_mosaics_commit_leaves_the_earlier_or_the_new_outputs_whole(
        tmp_path, monkeypatch, stage, stop_after, cleaner):
    """A Dask worker killed in the middle of a mosaic's commit: the batch put back the files it had
    moved aside, but removed its new ones by their times, another run's files too (see above); one
    killed as it removed its staging folder after the commit had ended put back what was left of
    the earlier tiles over the new ones. A one-process run killed so (kill -9, out of memory) left
    the mix, and its staging folder with the earlier files for good: the next run into the folder
    now undoes the unfinished commit, or removes what an ended one left."""
    from palettize.engine import batch, outputs

    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(outputs.__file__)))
    folder = tmp_path / "out"
    (folder / "m_tiles").mkdir(parents=True)
    for number in range(3):
        (folder / "m_tiles" / "tile_{}.tif".format(number)).write_text("earlier tile")
    (folder / "m.vrt").write_text("earlier m.vrt")
    (folder / "m.qml").write_text("earlier m.qml")  # no table before: m.csv is new
    ended = subprocess.run([sys.executable, "-c", STOPPED_COMMIT, package_parent, str(folder), stage, str(stop_after),
                            cleaner])
    assert ended.returncode == 9
    if cleaner == "batch":
        job = batch.Job("in.tif", str(folder / "m.vrt"), table=str(folder / "m.csv"))
        batch._undo_unfinished_commits(job, "0123abcd")
        outputs.remove_tagged(str(folder), "0123abcd")
    else:
        for owner in folder.glob(".palettize-*/.owner"):  # abandoned a while ago (see outputs.ABANDONED_AFTER)
            os.utime(str(owner), (time.time() - 60, time.time() - 60))
        monkeypatch.setattr(outputs, "_SWEPT", set())  # as in another process
        outputs.OutputFiles().stage(str(folder / "other.tif"))  # another run into the folder, not committed
        outputs.remove_tagged(str(folder), None)  # its own staging folder
    found = {os.path.relpath(os.path.join(root, name), str(folder)): open(os.path.join(root, name)).read()
             for root, _, names in os.walk(str(folder)) for name in names}
    tiles = [os.path.join("m_tiles", "tile_{}.tif".format(number)) for number in range(3)]
    if stage == "removal":  # the commit had ended
        assert found == dict({"m.vrt": "new m.vrt", "m.qml": "new m.qml", "m.csv": "new m.csv"},
                             **{tile: "new tile" for tile in tiles})
    else:
        assert found == dict({"m.vrt": "earlier m.vrt", "m.qml": "earlier m.qml"},
                             **{tile: "earlier tile" for tile in tiles})


def test_the_work_folder_of_a_mosaic_run_killed_outright_is_swept_by_the_next_run(tmp_path):
    """A .vrt run killed with -9 (the system out of memory, a batch system's hard limit) left its
    hidden work folder of tiles for good: no later run took it for abandoned."""
    path = write_raster(str(tmp_path / "in.tif"), np.random.default_rng(2).integers(0, 256, (4, 600, 800), np.uint8))
    folder = tmp_path / "out"
    killed = subprocess.Popen([SCRIPT, "quantize", path, "-o", str(folder / "m.vrt"), "--split-above", "0.0003", "-q"])
    deadline = time.monotonic() + 60
    while not list(folder.glob(".palettize-*/*/tiles/tile_*.tif")) and time.monotonic() < deadline:
        time.sleep(0.01)
    killed.kill()
    killed.wait()
    left = list(folder.glob(".palettize-*"))
    assert left and not (folder / "m.vrt").exists()
    for owner in folder.glob(".palettize-*/.owner"):  # abandoned a while ago (see outputs.ABANDONED_AFTER)
        os.utime(str(owner), (time.time() - 60, time.time() - 60))
    assert palettize("quantize", path, "-o", folder / "m.vrt", "--split-above", "0.0003", "-q").returncode == 0
    assert sorted(os.listdir(str(folder))) == ["m.qml", "m.vrt", "m_tiles"]
