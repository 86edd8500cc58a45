"""On a Dask cluster (a real scheduler and two worker processes on localhost), files and tiles of
files give the same cells as one process, cleanup across tile borders included."""

import gc
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from osgeo import gdal

from palettize.engine import batch, cli
from rasters import ROOT, SAMPLE_MAP, leftovers, random_rgba, read_indices, write_raster

SCRIPT = os.path.join(ROOT, "scripts", "palettize")
SPLIT = "0.03"  # megapixels: the 600 x 400 sample map becomes 12 tiles of 173 x 173


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """The address of a `dask-scheduler` process with two `dask-worker` processes, where Palettize is
    installed. (A LocalCluster in the test process, its scheduler on a thread of it, now and then hung
    a client started in the same process on Debian 13's distributed.)"""
    pytest.importorskip("distributed")
    folder = tmp_path_factory.mktemp("cluster")
    address, processes = start_scheduler(folder)
    processes.append(start_worker(address, folder, installed=True, workers=2))
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(2, timeout=120)
    yield address
    stop(processes)


def installed_palettize():
    """The folder holding the palettize package these tests import."""
    import palettize

    return os.path.dirname(os.path.dirname(os.path.abspath(palettize.__file__)))


def dask_environment(installed):
    """The environment of a Dask process: Palettize importable where ``installed`` (a folder), else not."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    env["DASK_LOGGING__DISTRIBUTED"] = "error"
    if installed:
        env["PYTHONPATH"] = installed_palettize()
    return env


def start_scheduler(folder, installed=True):
    """(address, [process]) of a `dask-scheduler` started in ``folder``, where Palettize is installed
    (Dask 2024.12 and later unpack the tasks on the scheduler) unless not ``installed``."""
    path = str(folder / "scheduler.json")
    process = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0",
                                "--no-dashboard", "--scheduler-file", path], cwd=str(folder),
                               env=dask_environment(installed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # the file is complete
    import json

    with open(path) as f:
        return json.load(f)["address"], [process]


def start_worker(address, cwd, installed, workers=1):
    """A `dask-worker` process of ``workers`` one-thread workers, started in ``cwd``."""
    return subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers",
                             str(workers), "--nthreads", "1", "--no-dashboard"], cwd=str(cwd),
                            env=dask_environment(installed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(processes):
    for process in reversed(processes):
        process.terminate()
        process.wait(timeout=60)


def run(*args):
    """palettize in this process; its exit status."""
    return cli.main([str(a) for a in args])


def colour_table(path):
    dataset = gdal.Open(path)  # the table lives only as long as its dataset
    table = dataset.GetRasterBand(1).GetColorTable()
    entries = [table.GetColorEntry(i) for i in range(table.GetCount())]
    dataset = None
    return entries


@pytest.mark.parametrize("flags", [
    ["--palette", "win256"],
    ["--palette", "frequent", "--n-colors", "12", "--cleanup", "seams", "--seam-radius", "3"],
    ["--palette", "vga16", "--cleanup", "sieve", "--min-region", "30"],
], ids=["win256", "frequent-seams", "vga16-sieve"])
def test_a_file_split_into_tiles_on_the_cluster_equals_one_process_cell_for_cell(scheduler, tmp_path, flags):
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "here.tif", "-q", *flags) == 0
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "cluster.tif", "--scheduler", scheduler, "--split-above",
               SPLIT, "-q", *flags) == 0
    here, cluster = read_indices(str(tmp_path / "here.tif")), read_indices(str(tmp_path / "cluster.tif"))
    assert cluster.dtype == here.dtype and np.array_equal(cluster, here)
    assert colour_table(str(tmp_path / "cluster.tif")) == colour_table(str(tmp_path / "here.tif"))
    assert gdal.Open(str(tmp_path / "cluster.tif")).GetGeoTransform() == gdal.Open(SAMPLE_MAP).GetGeoTransform()
    assert sorted(os.listdir(str(tmp_path))) == ["cluster.qml", "cluster.tif", "cluster.tif.aux.xml", "here.qml",
                                                 "here.tif", "here.tif.aux.xml"]


def test_a_vrt_output_is_a_mosaic_of_geotiff_tiles_with_the_colour_table(scheduler, tmp_path):
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "here.tif", "--palette", "vga16", "-q") == 0
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "out" / "map.vrt", "--palette", "vga16", "--scheduler",
               scheduler, "--split-above", SPLIT, "-q") == 0
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["map.qml", "map.vrt", "map_tiles"]
    tiles = sorted(os.listdir(str(tmp_path / "out" / "map_tiles")))
    assert len(tiles) == 12 and tiles[0] == "tile_0_0.tif"
    assert colour_table(str(tmp_path / "out" / "map_tiles" / tiles[0])) == colour_table(str(tmp_path / "here.tif"))
    assert np.array_equal(read_indices(str(tmp_path / "out" / "map.vrt")), read_indices(str(tmp_path / "here.tif")))
    assert colour_table(str(tmp_path / "out" / "map.vrt")) == colour_table(str(tmp_path / "here.tif"))[:16]
    # In one process a .vrt is a mosaic too, of one tile.
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "one" / "map.vrt", "--palette", "vga16", "-q") == 0
    assert sorted(os.listdir(str(tmp_path / "one" / "map_tiles"))) == ["tile_0_0.tif"]
    assert np.array_equal(read_indices(str(tmp_path / "one" / "map.vrt")), read_indices(str(tmp_path / "here.tif")))


def test_a_picture_without_georeferencing_split_into_tiles_stays_without_it(scheduler, tmp_path):
    """A scanned sheet or a photograph as PNG: the tiles are placed by their pixel offsets, and the
    output, a raster or a .vrt mosaic, has no geotransform, as the picture and a run in one process."""
    rgb = gdal.Open(SAMPLE_MAP).ReadAsArray()[:3]
    memory = gdal.GetDriverByName("MEM").Create("", rgb.shape[2], rgb.shape[1], 3, gdal.GDT_Byte)
    for i, values in enumerate(rgb, 1):
        memory.GetRasterBand(i).WriteArray(values)
    gdal.GetDriverByName("PNG").CreateCopy(str(tmp_path / "sheet.png"), memory)
    memory = None
    flags = ["--palette", "frequent", "--n-colors", "12", "--cleanup", "seams", "-q"]
    assert run("quantize", tmp_path / "sheet.png", "-o", tmp_path / "here.tif", *flags) == 0
    for output in ("cluster.tif", os.path.join("mosaic", "sheet.vrt")):
        assert run("quantize", tmp_path / "sheet.png", "-o", tmp_path / output, "--scheduler", scheduler,
                   "--split-above", SPLIT, *flags) == 0
        assert np.array_equal(read_indices(str(tmp_path / output)), read_indices(str(tmp_path / "here.tif")))
        assert gdal.Open(str(tmp_path / output)).GetGeoTransform(can_return_null=True) is None
    assert gdal.Open(str(tmp_path / "here.tif")).GetGeoTransform(can_return_null=True) is None
    assert not leftovers(tmp_path)


@pytest.mark.parametrize("geotransform", [(500000.0, 20.0, 5.0, 7500000.0, 4.0, -22.0),
                                          (500000.0, 25.0, 0.0, 7400000.0, 0.0, 25.0),
                                          (-180.0, 360 / 1111, 0.0, 90.0, 0.0, -180 / 777)],
                         ids=["rotated", "south-up", "north-up, pixel sizes of many digits"])
def test_a_rotated_or_south_up_map_split_into_tiles_keeps_its_grid(scheduler, tmp_path, geotransform):
    """GDAL's mosaics take north-up tiles only: the tiles are placed by their pixel offsets, and
    the output, its tiles included, carries the map's own geotransform, as in one process. (A
    north-up map's mosaic had the pixel size GDAL works out from the tiles' bounds: 0.32403240324032406
    for 0.324032403240324.)"""
    path = write_raster(str(tmp_path / "map.tif"), gdal.Open(SAMPLE_MAP).ReadAsArray(), geotransform=geotransform,
                        alpha=True)
    flags = ["--palette", "vga16", "--cleanup", "seams", "-q"]
    assert run("quantize", path, "-o", tmp_path / "here.tif", *flags) == 0
    for output in ("cluster.tif", os.path.join("mosaic", "map.vrt")):
        assert run("quantize", path, "-o", tmp_path / output, "--scheduler", scheduler, "--split-above", SPLIT,
                   *flags) == 0
        assert np.array_equal(read_indices(str(tmp_path / output)), read_indices(str(tmp_path / "here.tif")))
        assert gdal.Open(str(tmp_path / output)).GetGeoTransform() == geotransform
    a, b, c, d, e, f = geotransform
    x, y = 173, 346  # the tile of row 346, column 173
    assert gdal.Open(str(tmp_path / "mosaic" / "map_tiles" / "tile_346_173.tif")).GetGeoTransform() == pytest.approx(
        (a + x * b + y * c, b, c, d + x * e + y * f, e, f), rel=1e-12)
    assert not leftovers(tmp_path) and not leftovers(tmp_path / "mosaic")


def test_a_scan_georeferenced_by_ground_control_points_split_into_tiles_keeps_them(scheduler, tmp_path):
    from test_georeferencing import scan_with_ground_control_points

    path, gcps = scan_with_ground_control_points(str(tmp_path / "scan.tif"), gdal.Open(SAMPLE_MAP).ReadAsArray())
    assert run("quantize", path, "-o", tmp_path / "here.tif", "--palette", "vga16", "-q") == 0
    for output in ("cluster.tif", os.path.join("mosaic", "scan.vrt")):
        assert run("quantize", path, "-o", tmp_path / output, "--palette", "vga16", "--scheduler", scheduler,
                   "--split-above", SPLIT, "-q") == 0
        assert np.array_equal(read_indices(str(tmp_path / output)), read_indices(str(tmp_path / "here.tif")))
        dataset = gdal.Open(str(tmp_path / output))
        assert dataset.GetGeoTransform(can_return_null=True) is None
        assert [(g.GCPPixel, g.GCPLine, g.GCPX, g.GCPY) for g in dataset.GetGCPs()] == [
            (g.GCPPixel, g.GCPLine, g.GCPX, g.GCPY) for g in gcps]


def test_a_split_file_in_a_format_without_pixel_counts_is_told_of_the_table_alone(scheduler, tmp_path, capsys):
    """The note offered "--table or --report", and --report is refused for a file split into tiles."""
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "map.xyz", "--palette", "vga16", "--scheduler", scheduler,
               "--split-above", SPLIT) == 0
    assert ("warning: The XYZ format keeps no pixel counts with map.xyz (no raster attribute table of them): --table "
            "gives them.\n") in capsys.readouterr().err


def test_a_file_to_split_into_a_format_that_cannot_hold_indices_is_refused_before_its_tiles(scheduler, tmp_path, capsys):
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "map.jpg", "--scheduler", scheduler, "--split-above", SPLIT,
               "-q") == 1
    error = capsys.readouterr().err
    assert error.startswith("palettize: error: {}: Cannot write map.jpg as JPEG (.jpg): ".format(SAMPLE_MAP))
    assert error.endswith("Choose a GeoTIFF (.tif).\n")
    assert os.listdir(str(tmp_path)) == []


def test_many_files_share_one_palette_from_a_map_reduce_of_their_histograms(scheduler, tmp_path):
    sample = gdal.Open(SAMPLE_MAP).ReadAsArray()
    inputs = [write_raster(str(tmp_path / "big.tif"), sample, alpha=True),
              write_raster(str(tmp_path / "small.tif"), random_rgba(30, 40, seed=6), alpha=True)]
    assert run("quantize", *inputs, "--out-dir", tmp_path / "here", "--palette", "frequent", "--n-colors", "10",
               "-q") == 0
    assert run("quantize", *inputs, "--out-dir", tmp_path / "cluster", "--palette", "frequent", "--n-colors", "10",
               "--scheduler", scheduler, "--split-above", SPLIT, "-q") == 0
    for name in ("big.tif", "small.tif"):
        here, cluster = str(tmp_path / "here" / name), str(tmp_path / "cluster" / name)
        assert np.array_equal(read_indices(cluster), read_indices(here))
        assert colour_table(cluster) == colour_table(here)
    assert run("extract", *inputs, "-o", tmp_path / "here.csv", "--method", "mediancut", "-q") == 0
    assert run("extract", *inputs, "-o", tmp_path / "cluster.csv", "--method", "mediancut", "--scheduler", scheduler,
               "--split-above", SPLIT, "-q") == 0
    assert (tmp_path / "cluster.csv").read_text() == (tmp_path / "here.csv").read_text()


def test_dithering_a_file_that_would_be_split_is_refused(scheduler, tmp_path, capsys):
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "out.tif", "--dither", "floyd-steinberg", "--scheduler",
               scheduler, "--split-above", SPLIT) == 1
    assert ("--dither carries the colour error through a whole file, so {} (0.24 MPx) cannot be split into tiles: "
            "set --split-above 0.24 or leave out --dither.").format(SAMPLE_MAP) in capsys.readouterr().err
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "out.tif", "--dither", "floyd-steinberg", "--scheduler",
               scheduler, "--split-above", "0.24", "-q") == 0
    assert sorted(os.listdir(str(tmp_path))) == ["out.qml", "out.tif", "out.tif.aux.xml"]


def test_a_file_failing_on_a_worker_gets_its_error_line_and_leaves_no_tiles(scheduler, tmp_path, capsys):
    good = write_raster(str(tmp_path / "good.tif"), random_rgba(40, 50, seed=2), alpha=True)
    broken = write_raster(str(tmp_path / "broken.tif"), random_rgba(300, 200, seed=3), alpha=True)
    with open(broken, "r+b") as f:  # the header stays, the pixels are cut off
        f.truncate(4096)
    out = tmp_path / "out"
    assert run("quantize", broken, good, "--out-dir", out, "--scheduler", scheduler, "--split-above", SPLIT,
               "--keep-going", "-q") == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and errors[0].startswith("palettize: error: {}: ".format(broken))
    assert sorted(os.listdir(str(out))) == ["good.qml", "good.tif", "good.tif.aux.xml"]
    assert leftovers(str(out)) == []


def test_a_failure_without_keep_going_finishes_and_keeps_the_files_workers_have_begun(scheduler, tmp_path, capsys):
    """As the README says; the file a worker was busy with was thrown away (its staging folder
    removed under the task, which went on for nothing), and with it the output folder."""
    sheet = str(tmp_path / "sheet.tif")
    gdal.Translate(sheet, SAMPLE_MAP, width=3000, height=2000, creationOptions=["TILED=YES"])
    broken = write_raster(str(tmp_path / "broken.tif"), random_rgba(300, 200, seed=3), alpha=True)
    with open(broken, "r+b") as f:  # the header stays, the pixels are cut off
        f.truncate(4096)
    out = tmp_path / "out"
    assert run("quantize", sheet, broken, "--out-dir", out, "--cleanup", "seams", "--scheduler", scheduler, "-q") == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and errors[0].startswith("palettize: error: {}: ".format(broken))
    assert sorted(os.listdir(str(out))) == ["sheet.qml", "sheet.tif", "sheet.tif.aux.xml"]
    assert run("quantize", sheet, "-o", tmp_path / "here.tif", "--cleanup", "seams", "-q") == 0
    assert np.array_equal(read_indices(str(out / "sheet.tif")), read_indices(str(tmp_path / "here.tif")))


def test_after_a_failure_only_the_files_running_are_finished_and_one_failing_too_gets_its_line(
        scheduler, tmp_path, capsys):
    """Files queued on a worker but not running were taken for begun: in a batch of up to twice the
    cluster's threads every file ran to its end after the first failure; and a running file that
    failed as well got no error line."""
    sheets = []
    for number in range(4):
        sheets.append(str(tmp_path / "sheet{}.tif".format(number)))
        gdal.Translate(sheets[-1], SAMPLE_MAP, width=2400, height=1600, creationOptions=["TILED=YES"])
    late = str(tmp_path / "late.tif")  # fails at its last tile, once it has run a while
    gdal.Translate(late, SAMPLE_MAP, width=2400, height=1600, creationOptions=["TILED=YES", "COMPRESS=DEFLATE"])
    dataset = gdal.Open(late)
    band = dataset.GetRasterBand(1)
    last = "{}_{}".format(-(-2400 // 256) - 1, -(-1600 // 256) - 1)
    offset, size = (int(band.GetMetadataItem("BLOCK_{}_{}".format(what, last), "TIFF")) for what in ("OFFSET", "SIZE"))
    band = dataset = None
    with open(late, "r+b") as f:
        f.seek(offset)
        f.write(b"\xff" * size)
    broken = write_raster(str(tmp_path / "broken.tif"), random_rgba(300, 200, seed=3), alpha=True)
    with open(broken, "r+b") as f:
        f.truncate(4096)
    out = tmp_path / "out"
    assert run("quantize", broken, late, *sheets, "--out-dir", out, "--cleanup", "seams", "--scheduler", scheduler,
               "-q") == 1
    errors = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[2] for line in errors] == [broken, late]
    written = sorted(os.listdir(str(out))) if out.exists() else []
    finished = {name.split(".")[0] for name in written}
    # those a worker took after the failure, before the batch heard of it (one, or more on a busy machine)
    assert len(finished) < 4 and written == sorted(name + extension for name in finished
                                                  for extension in (".qml", ".tif", ".tif.aux.xml"))
    assert leftovers(str(tmp_path)) == []


def test_an_output_folder_that_cannot_be_made_gets_its_error_line_on_the_cluster_too(scheduler, tmp_path, capsys):
    """A file where a folder should be: one process said so, the cluster's batch gave a traceback."""
    good = write_raster(str(tmp_path / "good.tif"), random_rgba(40, 50, seed=2), alpha=True)
    (tmp_path / "afile").write_text("not a folder")
    assert run("quantize", good, "--out-dir", tmp_path / "afile" / "new", "--scheduler", scheduler, "-q") == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and errors[0].startswith("palettize: error: {}: Cannot write".format(good))
    assert "{} is a file, not a folder".format(tmp_path / "afile") in errors[0]


def tiles_as_workers_make_them(path, output, width=600, height=400):
    """A split file's tasks up to its mosaic, run here as workers run them: (job, options, palette,
    work folder, opacity, the tiles' results), for assemble."""
    from palettize.engine.options import PaletteOptions, QuantizeOptions
    from palettize.palettes.palette import builtin_palette

    job = batch.Job(path, output, width=width, height=height, tiles=batch.tile_windows(width, height, float(SPLIT)))
    options, palette = QuantizeOptions(palette=PaletteOptions("vga16")), builtin_palette("vga16")
    workdir = os.path.join(os.path.dirname(output), ".palettize-work")  # as workers see it (see batch._workdir)
    os.makedirs(workdir)
    opaque = batch.file_opaque(job.input, options)
    tiles = [batch.quantize_tile(job.input, workdir, tile, options, palette, opaque) for tile in job.tiles]
    return job, options, palette, workdir, opaque, tiles


def test_a_mosaic_whose_tile_was_lost_is_refused_never_written_with_a_hole(tmp_path):
    """A worker killed after its tile was done: Dask ran the file's last task again after its work
    folder was removed, and GDAL built the mosaic without the tiles it could not find (exit 0, a
    raster of the wrong size). The tasks as a worker runs them, one tile's file gone before the last."""
    job, options, palette, workdir, opaque, tiles = tiles_as_workers_make_them(SAMPLE_MAP, str(tmp_path / "out.tif"))
    os.remove(os.path.join(workdir, "tiles", batch.tile_name(job.tiles[5])))
    with pytest.raises(batch.run.RunError, match=r"^1 of the 12 tiles of {} were lost \(a Dask worker stopped\?\); "
                                                 r"run it again$".format(re.escape(SAMPLE_MAP))):
        batch.assemble(job, workdir, options, palette, tiles, opaque)
    assert os.listdir(str(tmp_path)) == []


def test_a_tile_writer_lost_with_its_worker_leaves_nothing_in_the_mosaic_s_tiles_folder(tmp_path):
    """A worker killed while it wrote a tile of a .vrt mosaic: Dask wrote the tile again, and the
    lost writer's staging folder went with the tiles into <name>_tiles/ (exit 0); the same command
    then refused that folder as holding files Palettize did not write. The tasks as a worker runs
    them, a lost writer's folder beside the tiles."""
    job, options, palette, workdir, opaque, tiles = tiles_as_workers_make_them(SAMPLE_MAP,
                                                                               str(tmp_path / "mosaic.vrt"))
    lost = os.path.join(workdir, "tiles", ".palettize-0123abcd")
    os.makedirs(lost)
    open(os.path.join(lost, batch.tile_name(job.tiles[2])), "wb").close()
    batch.assemble(job, workdir, options, palette, tiles, opaque)
    assert sorted(os.listdir(str(tmp_path / "mosaic_tiles"))) == sorted(batch.tile_name(tile) for tile in job.tiles)
    assert batch.tiles_folder_problem(job.output) == ""


def test_a_rotated_map_s_mosaic_made_again_after_its_worker_was_lost_is_whole(tmp_path):
    """A worker killed while it gave a rotated map's tiles their geotransforms: Dask ran the last task
    again, GDAL's mosaic skipped the tiles already rotated (it takes north-up ones only) and the
    output came out 1300 x 684 instead of 1300 x 1000, exit 0. The tasks as a worker runs them, half
    the tiles rotated by the lost run; and a mosaic GDAL skips a tile of is refused."""
    geotransform = (500000.0, 20.0, 5.0, 7500000.0, 4.0, -22.0)
    path = write_raster(str(tmp_path / "map.tif"), gdal.Open(SAMPLE_MAP).ReadAsArray(), geotransform=geotransform,
                        alpha=True)
    assert run("quantize", path, "-o", tmp_path / "here.tif", "--palette", "vga16", "-q") == 0
    job, options, palette, workdir, opaque, tiles = tiles_as_workers_make_them(path, str(tmp_path / "out.tif"))
    for tile in job.tiles[:6]:  # as the lost run left them
        gdal.Open(os.path.join(workdir, "tiles", batch.tile_name(tile)), gdal.GA_Update).SetGeoTransform(
            batch.tile_geotransform(geotransform, tile))
    batch.assemble(job, workdir, options, palette, tiles, opaque)
    assert np.array_equal(read_indices(job.output), read_indices(str(tmp_path / "here.tif")))
    assert gdal.Open(job.output).GetGeoTransform() == geotransform

    north_up, options, palette, workdir, opaque, tiles = tiles_as_workers_make_them(SAMPLE_MAP,
                                                                                     str(tmp_path / "north-up.tif"))
    gdal.Open(os.path.join(workdir, "tiles", batch.tile_name(north_up.tiles[3])), gdal.GA_Update).SetGeoTransform(
        geotransform)  # a tile GDAL's mosaic cannot take
    with pytest.raises(batch.run.RunError, match=r"^The mosaic of {} lacks tiles".format(re.escape(SAMPLE_MAP))):
        batch.assemble(north_up, workdir, options, palette, tiles, opaque)
    assert not os.path.exists(north_up.output) and not leftovers(tmp_path)


def test_a_damaged_file_among_inputs_sharing_a_palette_built_on_the_cluster_gets_its_error_line(scheduler, tmp_path,
                                                                                                 capsys):
    good = write_raster(str(tmp_path / "good.tif"), random_rgba(40, 50, seed=2), alpha=True)
    damaged = str(tmp_path / "damaged.tif")
    gdal.Translate(damaged, SAMPLE_MAP, creationOptions=["TILED=YES"])
    with open(damaged, "r+b") as f:  # the header stays, the pixels are cut off
        f.truncate(4096)
    out = tmp_path / "out"
    assert run("quantize", damaged, good, "--out-dir", out, "--scheduler", scheduler, "--split-above", SPLIT,
               "--palette", "kmeans", "--n-colors", "6", "--keep-going", "-q") == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and errors[0].startswith("palettize: error: {}: Could not read the input: GDAL could not "
                                                     "read pixels ".format(damaged))
    assert sorted(os.listdir(str(out))) == ["good.qml", "good.tif", "good.tif.aux.xml"]
    assert run("quantize", good, "-o", tmp_path / "alone.tif", "--palette", "kmeans", "--n-colors", "6", "-q") == 0
    assert np.array_equal(read_indices(str(out / "good.tif")), read_indices(str(tmp_path / "alone.tif")))

    assert run("extract", damaged, good, "-o", tmp_path / "legend.csv", "--scheduler", scheduler, "-q") == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and errors[0].startswith("palettize: error: Could not read the input: GDAL could not read "
                                                     "pixels ")
    assert not os.path.exists(str(tmp_path / "legend.csv"))


def test_a_file_split_into_tiles_writes_its_table_into_a_new_folder_as_one_process_does(scheduler, tmp_path):
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "here" / "map.tif", "--table", tmp_path / "here" / "t" / "map.csv",
               "-q") == 0
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "cluster" / "map.tif", "--table",
               tmp_path / "cluster" / "t" / "map.csv", "--scheduler", scheduler, "--split-above", SPLIT, "-q") == 0
    with open(str(tmp_path / "cluster" / "t" / "map.csv")) as cluster, open(str(tmp_path / "here" / "t" / "map.csv")) as here:
        assert cluster.read() == here.read()
    assert sorted(os.listdir(str(tmp_path / "cluster"))) == ["map.qml", "map.tif", "map.tif.aux.xml", "t"]


@pytest.mark.parametrize("output", ["map.tif", "map.vrt"])
def test_a_damaged_file_split_into_tiles_leaves_no_output_folder_it_made(scheduler, tmp_path, capsys, output):
    damaged = str(tmp_path / "damaged.tif")
    gdal.Translate(damaged, SAMPLE_MAP, creationOptions=["TILED=YES"])
    with open(damaged, "r+b") as f:  # the header stays, the pixels are cut off
        f.truncate(4096)
    for flags in (["--scheduler", scheduler], []):
        assert run("quantize", damaged, "-o", tmp_path / "new" / "deeper" / output, "--split-above", SPLIT,
                   "--table", tmp_path / "new" / "t.csv", "-q", *flags) == 1
        errors = capsys.readouterr().err.splitlines()
        assert len(errors) == 1 and errors[0].startswith("palettize: error: {}: Could not read the input: ".format(damaged))
        assert sorted(os.listdir(str(tmp_path))) == ["damaged.tif"]


def test_extract_on_the_cluster_writes_into_a_new_folder_and_refuses_a_format_before_any_work(scheduler, tmp_path,
                                                                                                capsys):
    assert run("extract", SAMPLE_MAP, "-o", tmp_path / "here" / "p" / "legend.gpl", "--n-colors", "12", "-q") == 0
    assert run("extract", SAMPLE_MAP, "-o", tmp_path / "cluster" / "p" / "legend.gpl", "--n-colors", "12", "--scheduler",
               scheduler, "--split-above", SPLIT, "-q") == 0
    with open(str(tmp_path / "cluster" / "p" / "legend.gpl")) as cluster, open(str(tmp_path / "here" / "p" / "legend.gpl")) as here:
        assert cluster.read() == here.read()
    capsys.readouterr()
    assert run("extract", tmp_path / "missing.tif", "-o", tmp_path / "new" / "legend.pal", "--scheduler", scheduler,
               "-q") == 1
    assert capsys.readouterr().err == ("palettize: error: Cannot write a palette as '.pal': choose a file ending in .csv, "
                                       ".gpl, .act, .clr, .qml, .txt.\n")
    assert run("extract", SAMPLE_MAP, "-o", tmp_path / "new" / "legend.act", "--n-colors", "300", "--scheduler",
               scheduler, "-q") == 1
    assert "holds at most 256 colours" in capsys.readouterr().err
    assert sorted(os.listdir(str(tmp_path))) == ["cluster", "here"]


def test_a_scheduler_address_distributed_cannot_parse_is_a_wrong_command_line_saying_how_to_write_it(tmp_path, capsys):
    pytest.importorskip("distributed")
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "out.tif", "--scheduler", "cluster-head", "-q") == 2
    assert capsys.readouterr().err == (
        "palettize: error: --scheduler cluster-head: missing port number in address 'cluster-head'; give the "
        "scheduler's address as dask-scheduler prints it, such as tcp://HOST:8786.\n")
    assert os.listdir(str(tmp_path)) == []


def test_workers_start_a_local_cluster_that_prints_nothing_with_quiet(tmp_path):
    pytest.importorskip("distributed")
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "here.tif", "--cleanup", "seams", "-q") == 0
    result = subprocess.run([SCRIPT, "quantize", SAMPLE_MAP, "-o", str(tmp_path / "cluster.tif"), "--cleanup", "seams",
                             "--workers", "2", "--split-above", SPLIT, "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and result.stdout == ""
    assert np.array_equal(read_indices(str(tmp_path / "cluster.tif")), read_indices(str(tmp_path / "here.tif")))


def test_a_damaged_file_split_on_local_workers_gets_one_error_line_not_a_warning_per_tile(tmp_path):
    pytest.importorskip("distributed")
    good = write_raster(str(tmp_path / "good.tif"), random_rgba(40, 50, seed=2), alpha=True)
    damaged = str(tmp_path / "damaged.tif")
    gdal.Translate(damaged, SAMPLE_MAP, creationOptions=["TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=128"])
    with open(damaged, "r+b") as f:  # the header stays, the pixels are cut off
        f.truncate(4096)
    result = subprocess.run([SCRIPT, "quantize", damaged, good, "--out-dir", str(tmp_path / "out"), "--workers", "2",
                             "--split-above", SPLIT, "--keep-going"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=300)
    assert result.returncode == 1
    assert [line for line in result.stderr.splitlines() if "error" in line.lower() or "warning" in line.lower()] == [
        line for line in result.stderr.splitlines() if line.startswith("palettize: error: ")]
    errors = [line for line in result.stderr.splitlines() if line.startswith("palettize: error: ")]
    assert len(errors) == 1 and errors[0].startswith("palettize: error: {}: Could not read the input: GDAL could not "
                                                     "read pixels ".format(damaged))
    assert "Compute Failed" not in result.stderr and "Traceback" not in result.stderr
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["good.qml", "good.tif", "good.tif.aux.xml"]


def test_without_dask_the_cluster_flags_say_how_to_install_it(tmp_path):
    code = "import runpy, sys; sys.modules['distributed'] = None; runpy.run_path({!r}, run_name='__main__')".format(
        SCRIPT)
    result = subprocess.run([sys.executable, "-c", code, "quantize", SAMPLE_MAP, "-o", str(tmp_path / "out.tif"),
                             "--workers", "2"], stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert result.returncode == 1
    assert "apt install python3-dask python3-distributed" in result.stderr
    assert os.listdir(str(tmp_path)) == []


@pytest.mark.parametrize("alpha", [False, True], ids=["rgb", "alpha-band-opaque-everywhere"])
def test_an_opaque_map_split_into_tiles_is_byte_without_nodata_as_in_one_process(scheduler, tmp_path, alpha):
    """Every tile and the mosaic agree on the type: an alpha band is read once per file, before its tiles."""
    opaque = str(tmp_path / "opaque.tif")
    gdal.Translate(opaque, SAMPLE_MAP, bandList=[1, 2, 3, 4] if alpha else [1, 2, 3])
    if alpha:
        dataset = gdal.Open(opaque, gdal.GA_Update)
        dataset.GetRasterBand(4).Fill(255)
        dataset = None
    for name in ("here.tif", "cluster.tif", "mosaic.vrt", "one-process.vrt"):
        flags = [] if name in ("here.tif", "one-process.vrt") else ["--scheduler", scheduler, "--split-above", SPLIT]
        assert run("quantize", opaque, "-o", tmp_path / name, "-q", "--palette", "win256", *flags) == 0
        dataset = gdal.Open(str(tmp_path / name))
        band = dataset.GetRasterBand(1)
        assert (gdal.GetDataTypeName(band.DataType), band.GetNoDataValue()) == ("Byte", None), name
        dataset = None
    here = read_indices(str(tmp_path / "here.tif"))
    assert np.array_equal(read_indices(str(tmp_path / "cluster.tif")), here)
    assert np.array_equal(read_indices(str(tmp_path / "mosaic.vrt")), here)
    assert np.array_equal(read_indices(str(tmp_path / "one-process.vrt")), here)


@pytest.mark.parametrize("palette, said", [
    ("floats.csv", "Palette: 4 colours (palette file {}, read as 0-1 floats); metric rgb."),
    ("frequent", "Palette: 12 colours (built from the image); metric rgb."),
    ("vga16", "Palette: 16 colours (built-in palette); metric rgb.")])
def test_a_file_quantized_on_a_cluster_logs_where_its_palette_comes_from_as_in_one_process(scheduler, tmp_path, capsys,
                                                                                          palette, said):
    """A file quantized whole on a worker logged its palette as "(floats)", "(frequent)" or
    "(vga16)": the reading of a palette file of 0-1 floats, which the README says the log tells,
    was not said."""
    (tmp_path / "floats.csv").write_text("0,0,0\n1,1,1\n0.5,0.5,0.5\n1,0,0\n")
    flags = ["--palette", str(tmp_path / palette) if palette.endswith(".csv") else palette] + (
        ["--n-colors", "12"] if palette == "frequent" else [])
    for where in ([], ["--scheduler", scheduler]):
        assert run("quantize", SAMPLE_MAP, *where, "--out-dir", tmp_path / "out-{}".format(len(where)), *flags) == 0
        logged = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Palette: ")]
        assert logged == [said.format(tmp_path / "floats.csv")], where


def test_a_users_style_beside_a_tiled_output_is_kept_with_a_warning(scheduler, tmp_path, capsys):
    (tmp_path / "map.qml").write_text("<qgis>my own style</qgis>")
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "map.tif", "--scheduler", scheduler, "--split-above", SPLIT,
               "--palette", "vga16") == 0
    assert (tmp_path / "map.qml").read_text() == "<qgis>my own style</qgis>"
    assert "map.qml exists and is not a style Palettize wrote for map.tif: it was kept" in capsys.readouterr().err


@pytest.fixture
def bare_scheduler(tmp_path):
    """A `dask-scheduler` process without workers (see start_scheduler); yields (address,
    start_worker), where start_worker(cwd=None) starts a `dask-worker` process in ``cwd`` with
    Palettize importable, or without it (not installed) when no ``cwd`` is given."""
    pytest.importorskip("distributed")
    address, processes = start_scheduler(tmp_path)

    def start_one(cwd=None):
        processes.append(start_worker(address, cwd or tmp_path, installed=cwd is not None))

    yield address, start_one
    stop(processes)


def test_a_scheduler_without_workers_is_refused_after_a_wait_instead_of_hanging(bare_scheduler, tmp_path, capsys,
                                                                               monkeypatch):
    address, _ = bare_scheduler
    monkeypatch.setattr(batch, "WORKER_WAIT", 2)
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "out.tif", "--scheduler", address, "-q") == 1
    assert capsys.readouterr().err == (
        "palettize: error: No Dask worker joined the scheduler at {} within 2 s: start `dask-worker {}` on each "
        "machine.\n".format(address, address))
    assert not os.path.exists(str(tmp_path / "out.tif"))


def test_workers_without_palettize_give_one_line_saying_to_install_it_not_a_traceback(bare_scheduler, tmp_path):
    address, start_worker = bare_scheduler
    start_worker()
    out = tmp_path / "out"
    for command in (["quantize", SAMPLE_MAP, "--out-dir", str(out)], ["extract", SAMPLE_MAP, "-o", str(out / "p.csv")]):
        result = subprocess.run([SCRIPT] + command + ["--scheduler", address, "--palette" if command[0] == "quantize"
                                                      else "--method", "frequent", "-q"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
        assert result.returncode == 1
        assert result.stderr.startswith("palettize: error: The Dask workers of the scheduler at {} cannot run "
                                        "Palettize (".format(address))
        assert result.stderr.endswith("install Palettize where every worker runs (pip install . in its Python "
                                      "environment) and restart the workers.\n")
        assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
        assert not os.path.exists(str(out)) or os.listdir(str(out)) == []


@pytest.mark.parametrize("group,quiet", [(True, True), (False, True), (True, False)],
                         ids=["ctrl-c", "kill", "ctrl-c without --quiet"])
def test_ctrl_c_on_local_workers_stops_them_quietly_and_leaves_no_unfinished_output(tmp_path, group, quiet):
    """Ctrl-C in a terminal reaches the whole process group, the worker processes included: each
    printed its KeyboardInterrupt traceback, and a file a worker was writing stayed behind half
    written in a .palettize-... folder, with the output folder the run had made. Without --quiet,
    Dask 2024.12's workers warned of each task cancelled ("Async instruction ... CancelledError")."""
    pytest.importorskip("distributed")
    sheets = [str(tmp_path / "sheet{}.tif".format(i)) for i in range(2)]
    for sheet in sheets:
        gdal.Translate(sheet, SAMPLE_MAP, width=6000, height=4000, creationOptions=["TILED=YES", "COMPRESS=DEFLATE"])
    out = tmp_path / "out"
    run = subprocess.Popen([SCRIPT, "quantize"] + sheets + ["--out-dir", str(out), "--metric", "ciede2000",
                                                            "--cleanup", "seams", "--workers", "2"] +
                           (["-q"] if quiet else []),
                           stderr=subprocess.PIPE, universal_newlines=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (out.is_dir() and leftovers(str(out))) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # until a worker writes an output
    assert run.poll() is None, "the run ended before it could be stopped"
    if group:
        os.killpg(run.pid, signal.SIGINT)  # as the terminal sends Ctrl-C
    else:
        run.send_signal(signal.SIGTERM)  # kill PID
    stderr = run.communicate(timeout=120)[1]
    if not quiet:  # the files' warnings (the sample map's merged classes) may come first
        stderr = "".join(line for line in stderr.splitlines(True) if not line.startswith("warning: "))
    assert (run.returncode, stderr) == ((130, "palettize: interrupted: outputs not finished were removed\n") if group
                                        else (143, "palettize: terminated: outputs not finished were removed\n"))
    time.sleep(2)  # what a worker left would be there by now
    assert not out.exists() or not leftovers(str(out))
    written = sorted(os.listdir(str(out))) if out.exists() else []
    for sheet in ("sheet0", "sheet1"):  # a file a worker had put in place before the run heard of it stays, whole
        files = [name for name in written if name.startswith(sheet + ".")]
        assert files in ([], [sheet + ".qml", sheet + ".tif", sheet + ".tif.aux.xml"])
        assert not files or gdal.Open(str(out / (sheet + ".tif"))).GetRasterBand(1).Checksum() >= 0


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_stopping_a_batch_on_local_workers_keeps_every_output_it_would_have_replaced(tmp_path, stop):
    """Each file's outputs are there afterwards, the earlier ones or the new ones whole: a file a
    worker had finished, before the run heard of it, was removed as unfinished, and the outputs it
    had replaced were gone too."""
    pytest.importorskip("distributed")
    sheets = [str(tmp_path / "sheet{}.tif".format(i)) for i in range(4)]
    for sheet in sheets:
        gdal.Translate(sheet, SAMPLE_MAP, width=1500, height=1000)
    out = tmp_path / "out"
    command = [SCRIPT, "quantize"] + sheets + ["--out-dir", str(out), "--palette", "websafe216", "--workers", "2", "-q"]
    subprocess.run(command, check=True)
    shutil.copytree(str(out), str(tmp_path / "earlier"))
    earlier = {name: os.stat(str(out / name)).st_ino for name in os.listdir(str(out))}
    run = subprocess.Popen(command, stderr=subprocess.PIPE, universal_newlines=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while all(os.stat(str(out / name)).st_ino == inode for name, inode in earlier.items() if name.endswith(".tif")) \
            and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)  # until a worker has put a file's new outputs in place
    assert run.poll() is None, "the run ended before it could be stopped"
    run.send_signal(stop)
    run.communicate(timeout=120)
    assert run.returncode == 128 + stop
    assert sorted(os.listdir(str(out))) == sorted(earlier)
    for sheet in range(4):  # the earlier files, or new ones as whole: the same classes
        assert np.array_equal(read_indices(str(out / "sheet{}.tif".format(sheet))),
                              read_indices(str(tmp_path / "earlier" / "sheet{}.tif".format(sheet))))


def test_ctrl_c_twice_on_a_file_split_into_tiles_still_cleans_up_and_stops_the_workers(tmp_path):
    """`timeout -s INT` sends SIGINT to the process and then to its group, and a user may press
    Ctrl-C twice: the second one cut the cleaning up short, which left the tiles folder behind and,
    at times, the run hanging for ever in distributed's close of the cluster."""
    pytest.importorskip("distributed")
    sheet = str(tmp_path / "sheet.tif")
    gdal.Translate(sheet, SAMPLE_MAP, width=6000, height=4000, creationOptions=["TILED=YES"])
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.Popen([SCRIPT, "quantize", sheet, "-o", str(out / "classes.tif"), "--cleanup", "seams",
                            "--workers", "2", "--split-above", "1", "-q"],
                           stderr=subprocess.PIPE, universal_newlines=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not glob.glob(str(out / ".palettize-*" / "*" / "tiles" / "*.tif")) and run.poll() is None and \
            time.monotonic() < deadline:
        time.sleep(0.01)  # until a worker writes a tile
    assert run.poll() is None, "the run ended before it could be stopped"
    workers = [int(pid) for pid in subprocess.run(["pgrep", "-f", "-s", str(run.pid), "multiprocessing.spawn"],
                                                  stdout=subprocess.PIPE, universal_newlines=True).stdout.split()]
    run.send_signal(signal.SIGINT)
    os.killpg(run.pid, signal.SIGINT)  # as timeout does
    stderr = run.communicate(timeout=120)[1]
    assert (run.returncode, stderr) == (130, "palettize: interrupted: outputs not finished were removed\n")
    assert os.listdir(str(out)) == []
    assert workers and not [pid for pid in workers if os.path.exists("/proc/{}".format(pid))]


@pytest.mark.parametrize("split", [False, True], ids=["files", "tiles"])
def test_a_batch_on_the_cluster_prints_each_files_warnings_naming_the_file(scheduler, tmp_path, capsys, split):
    from test_command_line import BATCH_WARNINGS, sheets_to_warn_about

    (sheet, deep, empty), legend = sheets_to_warn_about(tmp_path)
    flags = ["--split-above", "0.00002"] if split else []  # tiles of 16 x 16 pixels: one per sheet
    assert run("quantize", sheet, deep, empty, "--out-dir", tmp_path / "out", "--palette", legend, "--scheduler",
               scheduler, *flags) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == BATCH_WARNINGS[0]  # the palette's, before any file's
    assert sorted(lines[1:]) == [line.format(deep=deep, empty=empty) for line in BATCH_WARNINGS[1:]]


@pytest.mark.parametrize("where", ["split on the cluster", ".vrt in one process"])
def test_a_file_split_into_tiles_warns_of_merged_classes_as_a_run_over_the_whole_file_does(
        scheduler, tmp_path, capsys, where):
    """The sample map's two blues both become win256 entry 9: a file split into tiles said nothing."""
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "whole.tif") == 0
    whole = [line for line in capsys.readouterr().err.splitlines() if "Merged classes" in line]
    assert whole == ["warning: Merged classes: #b2d8e8 (8.85%), #8bc5e0 (6.76%) both become entry 9 (#a6caf0). To "
                     "keep them apart, set --palette=frequent (a palette built from the image) or give the map's "
                     "legend as --palette."]
    flags = (["-o", tmp_path / "tiled.tif", "--scheduler", scheduler, "--split-above", "0.05"]
             if where.startswith("split") else ["-o", tmp_path / "tiled.vrt"])
    assert run("quantize", SAMPLE_MAP, *flags) == 0
    assert [line for line in capsys.readouterr().err.splitlines() if "Merged classes" in line] == whole


@pytest.mark.parametrize("where", ["split on the cluster", ".vrt in one process"])
def test_a_file_split_into_tiles_prints_the_notes_of_a_run_over_the_whole_file(scheduler, tmp_path, capsys, where):
    """Only the warnings were printed: nothing said what was read, which palette (and where it came
    from), which type, where the style went. The colours matched are counted tile by tile, so that
    line is left out."""
    assert run("quantize", SAMPLE_MAP, "-o", tmp_path / "whole.tif") == 0
    whole = capsys.readouterr().err.splitlines()
    tiled = tmp_path / ("tiled.tif" if where.startswith("split") else "tiled.vrt")
    flags = ["--scheduler", scheduler, "--split-above", "0.05"] if where.startswith("split") else []
    assert run("quantize", SAMPLE_MAP, "-o", tiled, *flags) == 0
    tiles = "6 tiles" if where.startswith("split") else "1 tile"
    assert capsys.readouterr().err.splitlines() == [
        whole[0].replace(" pixels).", " pixels) in {}.".format(tiles)),
        whole[1],  # Palette: 256 colours (built-in palette); metric rgb.
        whole[2],  # UInt16 with nodata 65535
        "QGIS style with the palette's classes: {}".format(tmp_path / "tiled.qml"),
        whole[4],  # the merged classes
    ]
    assert whole[3] == "4896 distinct colours matched to the palette."
    assert whole[5] == "QGIS style with the palette's classes: {}".format(tmp_path / "whole.qml")


def test_an_rgba_map_with_nothing_transparent_splits_into_a_gif_as_it_writes_one_in_one_process(
        scheduler, tmp_path, capsys):
    """GIF holds 256 colours only without nodata: a tiled run was refused before any work although
    one process writes it (the alpha band says every pixel is opaque). One transparent pixel is
    still refused before any work, with the same message as one process gives at its end."""
    rgba = random_rgba(40, 30, seed=4)
    rgba[3] = 255
    opaque = write_raster(str(tmp_path / "opaque.tif"), rgba, alpha=True)
    assert run("quantize", opaque, "-o", tmp_path / "here.gif") == 0
    assert run("quantize", opaque, "-o", tmp_path / "tiled.gif", "--scheduler", scheduler,
               "--split-above", "0.0005") == 0
    assert "in 4 tiles." in capsys.readouterr().err
    tiled = gdal.Open(str(tmp_path / "tiled.gif"))
    assert tiled.GetRasterBand(1).DataType == gdal.GDT_Byte and tiled.GetRasterBand(1).GetNoDataValue() is None
    np.testing.assert_array_equal(tiled.ReadAsArray(), read_indices(str(tmp_path / "here.gif")))
    rgba[3, -1, -1] = 0
    holed = write_raster(str(tmp_path / "holed.tif"), rgba, alpha=True)
    assert run("quantize", holed, "-o", tmp_path / "holed.gif", "--scheduler", scheduler, "--split-above", "0.0005") == 1
    assert "GDAL cannot write a UInt16" in capsys.readouterr().err
    assert sorted(os.listdir(str(tmp_path))) == ["here.gif", "here.gif.aux.xml", "here.qml", "holed.tif", "opaque.tif",
                                                 "tiled.gif", "tiled.gif.aux.xml", "tiled.qml"]


def test_one_file_on_the_cluster_prints_its_warnings_and_notes_as_in_one_process(scheduler, tmp_path, capsys):
    """The README: a single file's notes (palette, output type, colours) are printed; on the
    cluster only its warnings were."""
    deep = write_raster(str(tmp_path / "deep.tif"), random_rgba(6, 7, seed=2)[:3].astype(np.uint16) * 257,
                        gdal_type=gdal.GDT_UInt16)
    assert run("quantize", deep, "-o", tmp_path / "classes.xyz", "--palette", "vga16", "--scheduler", scheduler) == 0
    lines = capsys.readouterr().err.splitlines()
    assert "warning: Some band values were outside 0-255 and were clipped." in lines
    assert "warning: The XYZ format cannot hold a colour table: the palette was written beside it as {}.".format(
        tmp_path / "classes.xyz.palette.csv") in lines
    assert run("quantize", deep, "-o", tmp_path / "here.xyz", "--palette", "vga16") == 0
    here = capsys.readouterr().err.splitlines()

    def notes(lines, name):
        return [line.replace(name + ".", "OUT.") for line in lines if not line.startswith("warning: ")]

    assert notes(lines, "classes") == notes(here, "here") and len(notes(here, "here")) == 5
    assert "Palette: 16 colours (built-in palette); metric rgb." in lines


def test_extract_on_the_cluster_warns_that_band_values_were_clipped(scheduler, tmp_path, capsys):
    from test_command_line import sheets_to_warn_about

    (sheet, deep, _), _ = sheets_to_warn_about(tmp_path)
    assert run("extract", sheet, deep, "-o", tmp_path / "legend.csv", "--n-colors", "4", "--scheduler", scheduler,
               "--split-above", "0.00002") == 0
    assert [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")] == [
        "warning: {}: Some band values were outside 0-255 and were clipped.".format(deep)]


def test_a_scheduler_lost_in_the_middle_of_a_batch_gets_one_line_and_leaves_no_work_folders(bare_scheduler, tmp_path):
    """The scheduler killed after the first file: pages of distributed's tracebacks, a file said to
    be "cancelled", a traceback of the batch's own cancelling, and tile folders left beside the outputs."""
    address, start_worker = bare_scheduler
    start_worker(cwd=tmp_path)
    inputs = [write_raster(str(tmp_path / "in{}.tif".format(i)), random_rgba(200, 200, seed=i), alpha=True)
              for i in range(8)]
    out = tmp_path / "out"
    batch_run = subprocess.Popen([SCRIPT, "quantize"] + inputs + ["--out-dir", str(out), "--metric", "ciede2000",
                                                                  "--split-above", "0.01", "--scheduler", address],
                                 stderr=subprocess.PIPE, universal_newlines=True)
    deadline = time.monotonic() + 120
    while not os.path.exists(str(out / "in0.qml")) and time.monotonic() < deadline:  # the first file done
        time.sleep(0.05)
    scheduler = subprocess.run(["pgrep", "-f", str(tmp_path / "scheduler.json")], stdout=subprocess.PIPE,
                               universal_newlines=True).stdout.split()
    os.kill(int(scheduler[0]), signal.SIGKILL)
    lines = batch_run.stderr.readlines()
    assert batch_run.wait(timeout=300) == 1
    assert os.path.exists(str(out / "in0.tif")) and not os.path.exists(str(out / "in7.tif"))
    assert lines[-1] == ("palettize: error: Lost the Dask scheduler at {}: the files not finished were not written "
                         "(those finished were); start the scheduler again and run them again.\n".format(address))
    assert [line for line in lines if "Traceback" in line or "ERROR" in line or "cancelled" in line] == []
    assert [name for name in os.listdir(str(out)) if name.startswith(".")] == []
    assert leftovers(str(out)) == []


def test_a_scheduler_lost_while_the_palette_is_built_from_the_images_gets_one_line(bare_scheduler, tmp_path):
    """Lost while the workers counted the images' colours: a traceback of distributed's CancelledError."""
    address, start_worker = bare_scheduler
    start_worker(cwd=tmp_path)
    inputs = [write_raster(str(tmp_path / "in{}.tif".format(i)), random_rgba(1500, 1500, seed=i)) for i in range(4)]
    batch_run = subprocess.Popen([SCRIPT, "quantize"] + inputs + ["--out-dir", str(tmp_path / "out"), "--palette",
                                                                  "frequent", "--scheduler", address, "-q"],
                                 stderr=subprocess.PIPE, universal_newlines=True)
    time.sleep(3)
    assert batch_run.poll() is None
    scheduler = subprocess.run(["pgrep", "-f", str(tmp_path / "scheduler.json")], stdout=subprocess.PIPE,
                               universal_newlines=True).stdout.split()
    os.kill(int(scheduler[0]), signal.SIGKILL)
    errors = batch_run.stderr.readlines()
    assert batch_run.wait(timeout=300) == 1
    assert len(errors) == 1 and errors[0].startswith("palettize: error: Lost the Dask scheduler at {}".format(address))
    assert not os.path.exists(str(tmp_path / "out"))


def test_relative_paths_name_the_same_files_on_workers_started_in_another_folder(bare_scheduler, tmp_path):
    """A dask-worker started in another folder opened in/sheet.tif in its own folder ('no such file',
    or another sheet of the same name), and would have written the outputs there."""
    address, start_worker = bare_scheduler
    elsewhere, project = tmp_path / "elsewhere", tmp_path / "project"
    elsewhere.mkdir()
    (project / "in").mkdir(parents=True)
    start_worker(cwd=elsewhere)
    image = random_rgba(20, 30, seed=1)
    write_raster(str(project / "in" / "sheet.tif"), image, alpha=True)
    result = subprocess.run([SCRIPT, "quantize", os.path.join("in", "sheet.tif"), "--out-dir", "out", "--table",
                             os.path.join("tables", "{stem}.csv"), "--palette", "vga16", "--scheduler", address, "-q"],
                            cwd=str(project), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(str(project / "out"))) == ["sheet.qml", "sheet.tif", "sheet.tif.aux.xml"]
    assert os.listdir(str(project / "tables")) == ["sheet.csv"]
    assert run("quantize", project / "in" / "sheet.tif", "-o", tmp_path / "here.tif", "--palette", "vga16", "-q") == 0
    assert np.array_equal(read_indices(str(project / "out" / "sheet.tif")), read_indices(str(tmp_path / "here.tif")))
    mosaic = subprocess.run([SCRIPT, "quantize", os.path.join("in", "sheet.tif"), "-o", os.path.join("mosaic", "map.vrt"),
                             "--palette", "vga16", "--split-above", "0.0003", "--scheduler", address, "-q"],
                            cwd=str(project), stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert mosaic.returncode == 0, mosaic.stderr
    assert np.array_equal(read_indices(str(project / "mosaic" / "map.vrt")), read_indices(str(tmp_path / "here.tif")))
    assert [name for name in os.listdir(str(elsewhere)) if not name.startswith("dask-worker-space")] == []
    legend = subprocess.run([SCRIPT, "extract", os.path.join("in", "sheet.tif"), "-o", "legend.csv", "--scheduler",
                             address, "-q"], cwd=str(project), stderr=subprocess.PIPE, universal_newlines=True,
                            timeout=300)
    assert legend.returncode == 0, legend.stderr
    assert os.path.exists(str(project / "legend.csv"))


def test_a_scheduler_without_palettize_gives_one_line_for_every_kind_of_run(tmp_path):
    """Dask 2024.12 and later (Debian 13) unpack the tasks on the scheduler: a palette built from the
    images, and extract, ended in distributed's traceback there (the merge of the files' histograms
    was sent although every file had failed). Older Dask runs them."""
    import distributed

    address, processes = start_scheduler(tmp_path, installed=False)
    processes.append(start_worker(address, tmp_path, installed=True))
    unpacks = tuple(int(part) for part in distributed.__version__.split(".")[:2]) >= (2024, 12)
    try:
        for number, command in enumerate((["quantize", "--palette", "vga16"], ["quantize", "--palette", "frequent"],
                                          ["extract", "--method", "frequent"])):
            output = str(tmp_path / "out" / ("{}.csv" if command[0] == "extract" else "{}.tif").format(number))
            result = subprocess.run([SCRIPT, command[0], SAMPLE_MAP, "-o", output] + command[1:] +
                                    ["--scheduler", address, "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    universal_newlines=True, timeout=300)
            if not unpacks:
                assert result.returncode == 0, result.stderr
                continue
            assert result.returncode == 1 and len(result.stderr.splitlines()) == 1, result.stderr
            assert "install Palettize where the Dask scheduler runs too" in result.stderr
            assert not os.path.exists(output)
    finally:
        stop(processes)


def test_a_scheduler_that_cannot_unpack_palettizes_tasks_says_to_install_it_there():
    """Dask 2024.12 and later (Debian 13) unpack the tasks on the scheduler: one without Palettize
    fails each file with Dask's 'Error during deserialization of the task graph'."""
    error = batch._unreadable(RuntimeError("Error during deserialization of the task graph. This frequently occurs "
                                           "if the Scheduler and Client have different environments."))
    assert "install Palettize where the Dask scheduler runs" in str(error)


def test_extract_warns_of_the_same_merged_classes_on_the_cluster_as_in_one_process(scheduler, tmp_path, capsys):
    """Close colours extracted as fewer entries than they are: both ways name the same pairs."""
    import numpy as np

    row = np.repeat(np.array([(255, 0, 0), (250, 0, 0), (0, 255, 0), (0, 250, 0)], dtype=np.uint8), [40, 10, 30, 20], axis=0)
    inputs = [write_raster(str(tmp_path / "sheet{}.tif".format(i)), np.tile(row, (5 + i, 1, 1)).transpose(2, 0, 1))
              for i in range(2)]
    warnings = []
    for where in ([], ["--scheduler", scheduler]):
        assert run("extract", *inputs, "-o", tmp_path / "legend.csv", "--method", "mediancut", "--n-colors", "2",
                   *where) == 0
        warnings.append([line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")])
    assert warnings[0] == warnings[1], warnings
    assert sorted(line.split(" both become")[0] for line in warnings[0]) == [
        "warning: Merged classes: #00ff00 (30.00%), #00fa00 (20.00%)",
        "warning: Merged classes: #ff0000 (40.00%), #fa0000 (10.00%)"]


def test_relative_files_inside_connection_strings_and_archives_are_found_by_workers_elsewhere(bare_scheduler,
                                                                                               tmp_path):
    """GTIFF_DIR:1:in/sheet.tif and /vsizip/in/sheets.zip/sheet.tif work in one process; a worker
    started in another folder said "no such file" for them (plain relative paths were made absolute,
    the files inside such strings were not)."""
    import zipfile

    address, start_worker = bare_scheduler
    elsewhere, project = tmp_path / "elsewhere", tmp_path / "project"
    elsewhere.mkdir()
    (project / "in").mkdir(parents=True)
    start_worker(cwd=elsewhere)
    write_raster(str(project / "in" / "sheet.tif"), random_rgba(20, 30, seed=1), alpha=True)
    with zipfile.ZipFile(str(project / "in" / "sheets.zip"), "w") as archive:
        archive.write(str(project / "in" / "sheet.tif"), "sheet.tif")
    assert run("quantize", project / "in" / "sheet.tif", "-o", tmp_path / "here.tif", "--palette", "vga16", "-q") == 0
    for number, source in enumerate(["GTIFF_DIR:1:" + os.path.join("in", "sheet.tif"), "/vsizip/in/sheets.zip/sheet.tif",
                                     "/vsizip/{in/sheets.zip}/sheet.tif"]):
        output = os.path.join("out", "{}.tif".format(number))
        result = subprocess.run([SCRIPT, "quantize", source, "-o", output, "--palette", "vga16", "--scheduler", address,
                                 "-q"], cwd=str(project), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                universal_newlines=True, timeout=300)
        assert result.returncode == 0, (source, result.stderr)
        assert np.array_equal(read_indices(str(project / output)), read_indices(str(tmp_path / "here.tif"))), source


def test_a_sigterm_while_the_local_cluster_starts_is_held_until_it_has_started():
    """`kill` in the seconds the local cluster takes to start left it half started, and distributed
    printed a traceback (AssertionError: Status.init) after the run's one line as the process ended.
    The signal is held while the cluster starts (or closes), then comes as it would have."""
    heard = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: heard.append(signum))
    try:
        with batch._without_ctrl_c():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            assert heard == []
        time.sleep(0.05)
        assert heard == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_worker_lost_while_a_stopped_batch_asks_what_runs_is_passed_over(tmp_path):
    """Asked right after a worker died (the scheduler still lists it), which tasks the workers run
    raised distributed's OSError: the stopped batch ended in a traceback."""
    pytest.importorskip("distributed")
    from distributed import Client

    address, processes = start_scheduler(tmp_path)
    processes.append(start_worker(address, tmp_path, installed=True, workers=2))
    try:
        runner = batch.Runner(batch.Cluster(scheduler=address))
        gc.collect()  # an earlier test's client, closed from its __del__ as this one starts, waited for ever
        runner.client = Client(address, timeout=60)
        try:
            runner.client.wait_for_workers(2, timeout=120)
            os.kill(list(runner.client.run(os.getpid).values())[0], signal.SIGKILL)
            assert runner._running_keys() == set()  # nothing runs on the worker left, nor on the one lost
        finally:
            runner.client.close()
    finally:
        stop(processes)


def test_a_tile_that_fills_the_disk_is_told_of_the_outputs_folder_not_of_a_hidden_file(tmp_path, small_disk):
    """GDAL's raw error named the tile's file in the hidden work folder, with no word of what to do:
    "GDAL could not write .../.palettize-big-ab3ab787/tiles/tile_632_316.tif: _tiffWriteProc:No space
    left on device"."""
    from palettize.engine.options import PaletteOptions, QuantizeOptions
    from palettize.palettes.palette import builtin_palette

    noise = np.random.default_rng(5).integers(0, 256, (3, 400, 600), np.uint8)
    path = write_raster(str(tmp_path / "noise.tif"), noise)
    job = batch.Job(path, str(small_disk / "big.tif"), width=600, height=400, tiles=batch.tile_windows(600, 400, 0.1))
    options, palette = QuantizeOptions(palette=PaletteOptions("win256")), builtin_palette("win256")
    workdir = batch._workdir(job, {})
    with open(str(small_disk / "filler"), "wb") as filler:  # 16 KB left: less than a tile
        stat = os.statvfs(str(small_disk))
        filler.write(b"\0" * (stat.f_bavail * stat.f_frsize - 16 * 1024))
    with pytest.raises(batch.run.RunError) as error:
        batch.quantize_tile(path, workdir, job.tiles[0], options, palette, True)
    message = str(error.value)
    assert message.startswith("Could not write the tiles of the output in {}: ".format(small_disk)), message
    assert message.endswith("free some space or write it elsewhere. Nothing was written.") and ".palettize" not in message


def open_files_named(name):
    """The files this process holds open whose names end with ``name``."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(os.path.join("/proc/self/fd", fd))
        except OSError:  # the listing's own, closed by now
            continue
        if target.endswith(name):
            found.append(target)
    return found


def test_the_work_folders_of_many_split_files_hold_one_open_file_a_folder(tmp_path):
    """Each split file's work folder held its own owner file open for the whole batch: a batch of
    over a thousand split files stopped with "Too many open files", nothing written."""
    holders = {}
    workdirs = [batch._workdir(batch.Job("in{}.tif".format(n), str(tmp_path / "out{}.vrt".format(n))), holders)
                for n in range(50)]
    assert len(set(workdirs)) == 50 and len({os.path.dirname(workdir) for workdir in workdirs}) == 1
    assert len(open_files_named(".owner")) == 1 and len(holders) == 1
    for holder in holders.values():
        holder.discard()
    assert os.listdir(str(tmp_path)) == []


def test_a_work_folder_that_cannot_be_made_fails_its_file_alone(scheduler, tmp_path, capsys, monkeypatch):
    """The work folder made for each split file, in the batch's process: a disk without free inodes
    (or quota, or permission) there stopped the whole batch with a traceback, the other files too,
    --keep-going or not; in one process the message named the hidden folder."""
    real = batch._workdir
    good = write_raster(str(tmp_path / "good.tif"), random_rgba(300, 200, seed=2), alpha=True)
    full = write_raster(str(tmp_path / "full.tif"), random_rgba(300, 200, seed=3), alpha=True)
    (tmp_path / "nowhere").write_text("a file where a folder should be")
    no_room = str(tmp_path / "nowhere" / "full.vrt")
    with pytest.raises(batch.run.RunError) as error:
        real(batch.Job(full, no_room), {})
    assert str(error.value).startswith("Could not make a folder for the tiles of {} in {}: ".format(
        no_room, tmp_path / "nowhere")) and ".palettize" not in str(error.value)

    def no_room_for_full(job, holders):  # the batch's own checks passed: the folder fails as it is made
        return real(batch.Job(job.input, no_room) if job.input == full else job, holders)

    monkeypatch.setattr(batch, "_workdir", no_room_for_full)
    assert run("quantize", full, good, "--out-dir", tmp_path / "out", "--split-above", SPLIT, "--keep-going",
               "--scheduler", scheduler, "-q") == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and errors[0].startswith("palettize: error: {}: Could not make a folder".format(full))
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["good.qml", "good.tif", "good.tif.aux.xml"]


def test_a_local_worker_killed_as_the_cluster_starts_fails_the_batch_with_a_message(tmp_path, capsys, monkeypatch):
    """A worker process killed as --workers started the local cluster (out of memory, a kill -9):
    distributed waited for it for ever, the command hung, deaf to Ctrl-C and SIGTERM."""
    import threading

    pytest.importorskip("distributed")
    monkeypatch.setattr(batch, "WORKER_START_TIMEOUT", 5)
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(300, 200, seed=2), alpha=True)
    killed = []

    def kill_the_first_worker():
        deadline = time.monotonic() + 30
        while not killed and time.monotonic() < deadline:
            for pid in os.listdir("/proc"):
                try:
                    with open("/proc/{}/cmdline".format(pid), "rb") as cmdline, open("/proc/{}/stat".format(pid)) as stat:
                        ours = b"spawn_main" in cmdline.read() and int(stat.read().split()[3]) == os.getpid()
                except (OSError, ValueError):
                    continue
                if ours:
                    os.kill(int(pid), signal.SIGKILL)
                    killed.append(pid)
                    break
            time.sleep(0.001)

    killer = threading.Thread(target=kill_the_first_worker)
    killer.start()
    started = time.monotonic()
    status = run("quantize", source, "-o", tmp_path / "out.tif", "--workers", "2", "--split-above", SPLIT, "-q")
    killer.join()
    assert killed and time.monotonic() - started < 60
    if status == 0:  # killed a moment too late to stop the start: its nanny started it again
        assert read_indices(str(tmp_path / "out.tif")).shape == read_indices(source).shape[-2:]
        return
    assert status == 1 and capsys.readouterr().err.splitlines()[-1] == (
        "palettize: error: The local Dask cluster did not start: a worker process stopped, or did not answer within "
        "5 s, as it started (short of memory?). Run it again, maybe with fewer --workers.")
    assert os.listdir(str(tmp_path)) == ["in.tif"]
