"""Benchmark the command line against the plugin, and the Dask batch on 1 and 2 worker processes.

Run as part of ``make bench`` (``/usr/bin/python3 benchmarks/batch.py``); ``--quick`` for a smoke
run. Uses the cached map of benchmarks/bench.py (rendered once into benchmarks/data/); everything
else is written to a temporary folder there and removed at the end.

Timed, wall clock, median of ``--repeat`` rounds (each round runs every case once, in turn):
  plugin      processing.run("palettize:quantize", SOURCE=bands) on the map, in this process
  cli         scripts/palettize quantize on the map, a process of its own (Python start included)
  here        the batch of generated map sheets in one process, file after file (no Dask)
  N workers   the sheets (one task each) and the map split into tiles (--split-above), on a
              LocalCluster of N worker processes, written as .tif (tiles assembled into one
              GeoTIFF) and as .vrt (tiles only): the difference is the final assembly
Scheduler overhead per task: empty tasks through the same cluster. Cluster start-up is printed
apart and not counted.
"""

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (the cached map, QGIS, timed rounds)

SCRIPT = os.path.join(bench.ROOT, "scripts", "palettize")


def make_sheets(path, folder, count, side):
    """``count`` map sheets of side x side pixels cut from the map, as separate GeoTIFFs."""
    from osgeo import gdal

    source = gdal.Open(path)
    per_row = max(1, source.RasterXSize // side)
    sheets = []
    for number in range(count):
        row, col = divmod(number, per_row)
        x, y = col * side % (source.RasterXSize - side + 1), row * side % (source.RasterYSize - side + 1)
        sheet = os.path.join(folder, "sheet-{:03d}.tif".format(number))
        gdal.Translate(sheet, source, srcWin=[x, y, side, side], creationOptions=bench.INPUT_OPTIONS)
        sheets.append(sheet)
    return sheets


def overhead_per_task(client, tasks=400):
    """Seconds per empty task, submitted and gathered in one batch."""
    client.gather(client.map(abs, range(-tasks // 10, 0), pure=False))  # warm up
    start = time.perf_counter()
    client.gather(client.map(abs, range(-tasks, 0), pure=False))
    return (time.perf_counter() - start) / tasks


def timed_batch(runner, inputs, out_dir, options, extension=".tif"):
    """(wall seconds, seconds the workers spent computing tasks) to quantize ``inputs`` into
    ``out_dir`` through ``runner``; raises on any failure."""
    from palettize.engine import batch

    jobs = [batch.Job(path, os.path.join(out_dir, batch.stem(path) + extension)) for path in inputs]
    errors = []
    with contextlib.ExitStack() as stack:
        stream = None
        if runner.client is not None:
            from distributed import get_task_stream

            stream = stack.enter_context(get_task_stream(runner.client))
        start = time.perf_counter()
        runner.quantize(jobs, options, on_failure=lambda job, error: errors.append("{}: {}".format(job.input, error)))
        seconds = time.perf_counter() - start
    if errors:
        raise RuntimeError("; ".join(errors))
    computing = seconds if stream is None else sum(
        part["stop"] - part["start"] for task in stream.data for part in task["startstops"] if part["action"] == "compute")
    return seconds, computing


def cleared(folder):
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10000, help="side of the square map in pixels (10000)")
    parser.add_argument("--sheets", type=int, default=32, help="generated map sheets in the batch (32)")
    parser.add_argument("--sheet-size", type=int, default=1500, help="side of a sheet in pixels (1500)")
    parser.add_argument("--split-above", type=float, default=8.0,
                        help="megapixels above which the map is split into tiles (8: 16 tiles of the 100 MPx map)")
    parser.add_argument("--workers", default="1,2", help="worker processes to try (1,2)")
    parser.add_argument("--quick", action="store_true", help="3000 x 3000 map, 32 sheets of 500 x 500, 1 round")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported (3)")
    args = parser.parse_args(argv)
    size, side, repeat = (3000, 500, 1) if args.quick else (args.size, args.sheet_size, max(1, args.repeat))
    split_above = 0.6 if args.quick else args.split_above
    workers = [int(n) for n in args.workers.split(",")]

    qgis = bench.Qgis()
    from palettize.engine import batch
    from palettize.engine.options import QuantizeOptions

    path = bench.input_map(size)
    pixels = size * size
    tmpdir = tempfile.mkdtemp(prefix="batch-", dir=bench.DATA)
    options = QuantizeOptions()  # win256, rgb, no cleanup: the defaults of both front ends
    try:
        sheets = make_sheets(path, tmpdir, args.sheets, side)
        sheet_pixels = len(sheets) * side * side
        for name in [path] + sheets:
            bench.warm_cache(name)
        print("{} CPUs; machine load average {:.1f} at the start (shared machines make every figure noisy)".format(
            os.cpu_count(), os.getloadavg()[0]))

        # -- the command line against the plugin, on the map -------------------------------------
        print("\nCommand line against the plugin: {} x {} map, median of {} round(s) ...".format(size, size, repeat),
              flush=True)

        def cli(out):
            start = time.perf_counter()
            subprocess.run([SCRIPT, "quantize", path, "-o", out, "-q"], check=True)
            return time.perf_counter() - start

        timings = bench.timed_rounds([
            ("plugin", lambda out: bench.run_palettize(path, out, SOURCE="bands"), os.path.join(tmpdir, "plugin.tif")),
            ("cli", cli, os.path.join(tmpdir, "cli.tif")),
        ], repeat)
        plugin_s, cli_s = timings["plugin"][0], timings["cli"][0]
        for key in ("plugin", "cli"):
            print("  {:<8} {:>7.2f} s  {:>6.1f} MPx/s  runs {}".format(
                key, timings[key][0], pixels / timings[key][0] / 1e6, " ".join("{:.2f}".format(r) for r in timings[key][1])))
        print("  cli / plugin: {:.2f}".format(cli_s / plugin_s))

        # -- the batch and the mosaic -------------------------------------------------------------
        print("\nBatch: {} sheets of {} x {} ({:.0f} MPx); mosaic: the map split above {:g} MPx ({} tiles)".format(
            len(sheets), side, side, sheet_pixels / 1e6, split_above,
            len(batch.tile_windows(size, size, split_above))), flush=True)
        out = os.path.join(tmpdir, "out")
        clusters, started = {}, {}
        with contextlib.ExitStack() as stack:
            here = stack.enter_context(batch.Runner(None))
            for n in workers:  # all clusters up at once, idle between their runs
                start = time.perf_counter()
                clusters[n] = stack.enter_context(batch.Runner(batch.Cluster(workers=n, quiet=True),
                                                               split_above=split_above))
                started[n] = time.perf_counter() - start
            cases = [("here", here, sheets, ".tif")]
            for n in workers:
                cases += [((n, "sheets"), clusters[n], sheets, ".tif"), ((n, "vrt"), clusters[n], [path], ".vrt"),
                          ((n, "tif"), clusters[n], [path], ".tif")]
            runs = {key: [] for key, _r, _i, _e in cases}
            busy = {key: [] for key, _r, _i, _e in cases}
            for _ in range(repeat):  # each round runs every case once, in turn: load changes hit all alike
                for key, runner, inputs, extension in cases:
                    seconds, computing = timed_batch(runner, inputs, cleared(out), options, extension)
                    runs[key].append(seconds)
                    busy[key].append(computing)
            overhead = {n: overhead_per_task(clusters[n].client) for n in workers}
        med = {key: float(np.median(values)) for key, values in runs.items()}
        print("  {:<34} {:>7.2f} s  {:>6.1f} MPx/s  runs {}".format(
            "sheets, one process (no Dask)", med["here"], sheet_pixels / med["here"] / 1e6,
            " ".join("{:.2f}".format(r) for r in runs["here"])))
        tasks = {"sheets": len(sheets), "vrt": len(batch.tile_windows(size, size, split_above)) + 1}
        tasks["tif"] = tasks["vrt"]
        for n in workers:
            print("  {} worker(s): cluster up in {:.1f} s; {:.2f} ms scheduler overhead per empty task".format(
                n, started[n], overhead[n] * 1e3))
            for case, label, n_pixels in (("sheets", "sheets", sheet_pixels), ("vrt", "mosaic -> .vrt (tiles)", pixels),
                                          ("tif", "mosaic -> .tif (assembled)", pixels)):
                key = (n, case)
                idle = (med[key] * n - float(np.median(busy[key]))) / tasks[case]
                print("    {:<30} {:>7.2f} s  {:>6.1f} MPx/s  {:>6.0f} ms idle per task  runs {}".format(
                    label, med[key], n_pixels / med[key] / 1e6, idle * 1e3,
                    " ".join("{:.2f}".format(r) for r in runs[key])))
            print("    final assembly (.tif - .vrt): {:.2f} s".format(med[(n, "tif")] - med[(n, "vrt")]))
        results = {n: (med[(n, "sheets")], med[(n, "tif")], med[(n, "vrt")], overhead[n]) for n in workers}
        here_s = med["here"]

        print("\nSpeed-up (time on the reference / time on N workers)")
        base = results[workers[0]]
        for n in workers[1:]:
            sheets_s, tif_s, vrt_s, _ = results[n]
            print("  {} worker(s) over {} worker(s): sheets {:.2f}, mosaic .vrt {:.2f}, mosaic .tif {:.2f}".format(
                n, workers[0], base[0] / sheets_s, base[2] / vrt_s, base[1] / tif_s))
        print("  {} worker(s) over one process: sheets {:.2f} (over no Dask), the map as .tif {:.2f} (over the cli)".format(
            workers[-1], here_s / results[workers[-1]][0], cli_s / results[workers[-1]][1]))

        one = results[min(workers)]
        rate = pixels / one[2] / 1e6 / min(workers)
        print("\nModel (from the {}-worker runs): T(N) = MPx / ({:.1f} MPx/s x N) + tasks x {:.1f} ms / N "
              "+ assembly of a .tif ({:.1f} MPx/s, on one machine)".format(
                  min(workers), rate, one[3] * 1e3, pixels / 1e6 / max(one[1] - one[2], 1e-9)))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
        qgis.close()
    return 0


if __name__ == "__main__":  # worker processes start by importing this file: they must not run it
    sys.exit(main())
