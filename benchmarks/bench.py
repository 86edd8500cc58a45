"""Benchmark palettize:quantize against references on one large rendered map.

Run as ``make bench`` (``/usr/bin/python3 benchmarks/bench.py``); ``--quick`` for a smoke run,
``--size N`` for an N x N input. The input (an RGBA GeoTIFF map) is rendered once and cached in
benchmarks/data/; everything else the run writes is removed at the end.

Timed on the same input, wall clock:
  palettize   processing.run("palettize:quantize") in this process, default settings
  plain copy  GDAL read of the RGB blocks, one band written as palettize writes its output
              (same windows, data type, creation options): the floor for any such tool
  rgb2pct     GDAL's rgb2pct.py -pct with the same palette (Byte, Floyd-Steinberg dithering)
  seed        the seed notebook's steps on a crop exported as PNG, scaled per pixel: plt.imread,
              pairwise_distances_argmin to win256/255, np.save (argmin alone printed too)
Cleanup (CLEANUP=seams, sieve) is timed against CLEANUP=none with the map's legend as palette, in the
same rounds, on that map and on a second one with many more edges: the provinces of Europe from QGIS's
own world_map.gpkg with thin black outlines (about as many pixels, 1-2% of them not legend colours).
Each round runs every tool once, in turn; a ratio is the median of the rounds' ratios (paired_ratio).
Then the peak resident memory of a palettize run through qgis_process next to a trivial
qgis_process run, and a profile of one palettize run (self time per function).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")
SCRIPTS = os.path.join(ROOT, "scripts")
QGIS_PLUGINS = "/usr/share/qgis/python/plugins"

CRS = "EPSG:32635"
PIXEL_SIZE = 25.0
ORIGIN = (500000.0, 7500000.0)
INPUT_OPTIONS = ["TILED=YES", "BLOCKXSIZE=512", "BLOCKYSIZE=512", "INTERLEAVE=PIXEL", "COMPRESS=NONE",
                 "BIGTIFF=IF_SAFER"]
SEED_CROP = 1224  # side of the crop given to the seed's method (1.5 Mpx)
GENERATOR_KEY = "PALETTIZE_BENCH_GENERATOR"

TARGETS = {  # name: (description, test)
    "copy": ("palettize / plain copy <= 1.5", lambda r: r <= 1.5),
    "rgb2pct": ("rgb2pct / palettize > 1", lambda r: r > 1),
    "seed": ("seed / palettize per pixel >= 50", lambda r: r >= 50),
    "rss": ("palettize peak RSS beyond QGIS < 500 MB", lambda r: r < 500),
    "report": ("palettize with OUTPUT_REPORT / without <= 1.2", lambda r: r <= 1.2),
    "seams": ("CLEANUP=seams / none (legend palette) <= 2", lambda r: r <= 2),
    "sieve": ("CLEANUP=sieve / none (legend palette) <= 2.5", lambda r: r <= 2.5),
    "outline-seams": ("provinces: CLEANUP=seams / none <= 2", lambda r: r <= 2),
    "outline-sieve": ("provinces: CLEANUP=sieve / none <= 2.5", lambda r: r <= 2.5),
}


# -- QGIS ------------------------------------------------------------------------------------------

class Qgis:
    """QGIS started once, Processing initialised, this checkout registered as provider 'palettize'."""

    def __init__(self):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        self.workdir = tempfile.mkdtemp(prefix="palettize-bench-")
        os.symlink(ROOT, os.path.join(self.workdir, "palettize"))
        sys.path[:0] = [self.workdir, QGIS_PLUGINS]
        from qgis.core import QgsApplication

        QgsApplication.setPrefixPath("/usr", True)
        self.app = QgsApplication([], False, os.path.join(self.workdir, "profile"))
        self.app.initQgis()
        from processing.core.Processing import Processing

        Processing.initialize()
        from palettize.algorithms.provider import PalettizeProvider

        self.provider = PalettizeProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def close(self):
        shutil.rmtree(self.workdir, ignore_errors=True)


# -- the input map -----------------------------------------------------------------------------------

RENDERER = os.path.join(SCRIPTS, "render_map.py")


def renderer_version():
    """Names the map renderer and its code, so a changed renderer re-renders the cached input."""
    import hashlib

    with open(RENDERER, "rb") as f:
        return "scripts/render_map.py {}".format(hashlib.sha1(f.read()).hexdigest()[:12])


def render_map(path, size, kind="geology"):
    """Render the map with scripts/render_map.py in a child process: it starts its own QGIS state and
    switches GDAL to exceptions, neither of which should leak into the process that times palettize.
    ``kind`` "geology": the synthetic geological map, size x size; "provinces": the provinces of
    Europe from QGIS's own world_map.gpkg with thin black outlines, about as many pixels (3:2)."""
    if kind == "provinces":
        width, height = provinces_size(size)
        code = ("import sys; sys.path.insert(0, {scripts!r}); from render_map import render_world_map; "
                "render_world_map({path!r}, 'europe', {width}, {height}, outlines=True, antialiasing=True)"
                ).format(scripts=SCRIPTS, path=path, width=width, height=height)
    else:
        code = ("import sys; sys.path.insert(0, {scripts!r}); from render_map import render_geology_map; "
                "render_geology_map({path!r}, width={size}, height={size}, outlines=True, antialiasing=True, "
                "seed=0, crs={crs!r}, pixel_size={ps!r}, origin={origin!r})").format(
            scripts=SCRIPTS, path=path, size=size, crs=CRS, ps=PIXEL_SIZE, origin=ORIGIN)
    subprocess.run([sys.executable, "-c", code], check=True)


def provinces_size(size):
    """(width, height) of the provinces map: 3:2, about size x size pixels."""
    return int(round(size * 1.5 ** 0.5)), int(round(size / 1.5 ** 0.5))


def input_map(size, kind="geology"):
    """Path of the cached map (see render_map), rendered (tiled, uncompressed RGBA) when missing or stale."""
    from osgeo import gdal

    name = renderer_version()
    width, height = provinces_size(size) if kind == "provinces" else (size, size)
    path = os.path.join(DATA, "{}-{}.tif".format("map" if kind == "geology" else kind, size))
    dataset = gdal.Open(path) if os.path.exists(path) else None
    if dataset is not None and dataset.GetMetadataItem(GENERATOR_KEY) == name:
        print("Input: {} ({} x {}, cached, made by {})".format(os.path.relpath(path), width, height, name))
        return path
    dataset = None
    os.makedirs(DATA, exist_ok=True)
    print("Input: rendering {} x {} with {} ...".format(width, height, name), flush=True)
    start = time.perf_counter()
    raw, work = path + ".render.tif", path + ".work.tif"
    try:
        render_map(raw, size, kind)
        copy = gdal.Translate(work, raw, creationOptions=INPUT_OPTIONS)
        if copy is None:
            raise RuntimeError("could not copy {}: {}".format(raw, gdal.GetLastErrorMsg()))
        copy.SetMetadataItem(GENERATOR_KEY, name)
        copy = None
        os.replace(work, path)
    finally:
        for leftover in (raw, work):
            if os.path.exists(leftover):
                os.remove(leftover)
    print("Input: {} ready in {:.0f} s".format(os.path.relpath(path), time.perf_counter() - start))
    return path


def off_legend_share(path):
    """Share of a map's pixels (opaque enough to be valid) whose colour is not a legend colour."""
    from osgeo import gdal

    sys.path.insert(0, SCRIPTS)
    from render_map import legend_colours

    legend = np.array([r | g << 8 | b << 16 for r, g, b, _label in legend_colours()], dtype=np.uint32)
    dataset = gdal.Open(path)
    off = total = 0
    for yoff in range(0, dataset.RasterYSize, 1024):
        rows = min(1024, dataset.RasterYSize - yoff)
        r, g, b, a = (dataset.GetRasterBand(i).ReadAsArray(0, yoff, dataset.RasterXSize, rows).astype(np.uint32)
                      for i in (1, 2, 3, 4))
        off += int((~np.isin(r | g << 8 | b << 16, legend) & (a >= 128)).sum())
        total += r.size
    return off / total


def warm_cache(path):
    """Read the input once so every tool starts with it in the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


# -- the tools -------------------------------------------------------------------------------------

def run_palettize(path, output, **extra):
    """processing.run of palettize:quantize, default settings plus ``extra``; (seconds, messages)."""
    import processing
    from qgis.core import QgsProcessingFeedback

    class Feedback(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.messages = []

        def pushInfo(self, info):  # noqa: N802 (QGIS API)
            self.messages.append(info)

    from palettize.engine.cleanup import forget_remembered_fits

    forget_remembered_fits()  # each run as a session's first: seams remember fits for the next run
    feedback = Feedback()
    start = time.perf_counter()
    processing.run("palettize:quantize", dict({"INPUT": path, "OUTPUT": output}, **extra), feedback=feedback)
    return time.perf_counter() - start, feedback.messages


def legend_palette(folder):
    """The rendered map's legend colours as a palette file."""
    sys.path.insert(0, SCRIPTS)
    from render_map import legend_colours

    from palettize.palettes.formats import write_palette
    from palettize.palettes.palette import Palette

    path = os.path.join(folder, "legend.csv")
    legend = legend_colours()
    write_palette(Palette([entry[:3] for entry in legend], [entry[3] for entry in legend]), path)
    return path


def plain_copy(path, output, gdal_type, indices=None):
    """Read R, G, B per window and write R as palettize writes its indices; returns seconds.
    ``indices`` (an array of the raster's shape): written instead of R, as palettize would write
    them: the reading and writing that palettize cannot avoid, with no work of its own."""
    from osgeo import gdal
    from palettize.engine.gdal_io import gtiff_options, iter_windows

    start = time.perf_counter()
    source = gdal.Open(path)
    bands = [source.GetRasterBand(b) for b in (1, 2, 3)]
    width, height = source.RasterXSize, source.RasterYSize
    target = gdal.GetDriverByName("GTiff").Create(output, width, height, 1, gdal_type, gtiff_options(width, height))
    target.SetGeoTransform(source.GetGeoTransform())
    target.SetProjection(source.GetProjectionRef())
    band = target.GetRasterBand(1)
    dtype = gdal.GetDataTypeName(gdal_type).lower()
    for window in iter_windows(width, height):
        red, _green, _blue = (b.ReadAsArray(*window) for b in bands)
        source.FlushCache()  # drop the input blocks GDAL cached: faster, and memory stays flat
        if indices is not None:
            red = indices[window[1]:window[1] + window[3], window[0]:window[0] + window[2]]
        band.WriteArray(red.astype(dtype, copy=False), window[0], window[1])
        band.FlushCache()
    band = target = source = None
    return time.perf_counter() - start


def find_rgb2pct():
    for name in ("rgb2pct.py", "rgb2pct"):
        found = shutil.which(name) or (os.path.exists("/usr/bin/" + name) and "/usr/bin/" + name)
        if found:
            return found
    return None


def rgb2pct_palette(palette, tmpdir):
    """A 1 x 1 Byte GeoTIFF holding the palette as its colour table: what rgb2pct -pct reads."""
    from osgeo import gdal

    table = gdal.ColorTable()
    for index, (r, g, b) in enumerate(palette.colours.tolist()):
        table.SetColorEntry(index, (r, g, b, 255))
    memory = gdal.GetDriverByName("MEM").Create("", 1, 1, 1, gdal.GDT_Byte)
    memory.GetRasterBand(1).SetRasterColorTable(table)
    pct = os.path.join(tmpdir, "{}-pct.tif".format(palette.name or "palette"))
    gdal.Translate(pct, memory)
    return pct


def run_rgb2pct(script, pct, path, output):
    """rgb2pct.py -pct: GDAL's own RGB-to-palette tool; returns seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, script, "-pct", pct, path, output], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def seed_crop(path, side, png):
    """Window of a side x side crop from the middle of the input, saved as an RGBA PNG at ``png``
    (the notebook's input: a map exported from QGIS as PNG)."""
    from osgeo import gdal

    dataset = gdal.Open(path)
    side = min(side, dataset.RasterXSize, dataset.RasterYSize)
    window = ((dataset.RasterXSize - side) // 2, (dataset.RasterYSize - side) // 2, side, side)
    crop = gdal.Translate("", dataset, format="MEM", srcWin=list(window))
    gdal.GetDriverByName("PNG").CreateCopy(png, crop)
    return window


def run_seed(png, palette, npy):
    """The seed notebook, step by step: read the PNG as 0-1 floats, drop alpha, flatten,
    pairwise_distances_argmin to win256/255, reshape, np.save. Returns (seconds, (indices,
    seconds of the argmin alone))."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import pairwise_distances_argmin

    start = time.perf_counter()
    image = plt.imread(png)[:, :, :3]
    rows, cols, depth = image.shape
    flat = np.reshape(image, (rows * cols, depth))
    argmin_start = time.perf_counter()
    indices = pairwise_distances_argmin(flat, palette.colours / 255.0)
    argmin_s = time.perf_counter() - argmin_start
    np.save(npy, indices.reshape((rows, cols)))
    return time.perf_counter() - start, (indices, argmin_s)


def peak_rss(command):
    """(peak resident MB of the command and its children, seconds) via /usr/bin/time -v."""
    with tempfile.NamedTemporaryFile(suffix=".txt") as report:
        start = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-v", "-o", report.name] + command,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seconds = time.perf_counter() - start
        with open(report.name) as f:
            text = f.read()
    if done.returncode != 0:
        raise RuntimeError("{} failed:\n{}".format(" ".join(command), done.stdout[-2000:]))
    kbytes = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return kbytes / 1024.0, seconds


# -- profile: where a palettize run spends its time -------------------------------------------------

def profile_palettize(path, output, top=14):
    """cProfile of one processing.run: (rows of (function, calls, self seconds), total seconds).

    Self time per function names the stage whatever the engine's current code looks like:
    GDAL reads (ReadRaster, BandRasterIONumPy), packing, the LUT gather (self time of map_codes),
    np.unique's sort, the nearest-colour search, writing and DEFLATE (Band_FlushCache)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    seconds, _messages = run_palettize(path, output)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    rows = []
    for (filename, line, function), (_cc, calls, self_time, _cum, _callers) in stats.items():
        if filename.startswith("~") or filename == "":
            name = function.strip("<>")
        else:
            parts = filename.split(os.sep)
            name = "{}:{} {}".format("/".join(parts[-2:]), line, function)
        rows.append((name, calls, self_time))
    rows.sort(key=lambda row: -row[2])
    return rows[:top], seconds


# -- the run ---------------------------------------------------------------------------------------

def verdict(name, ratio):
    description, test = TARGETS[name]
    return "{:<44} {:>9.2f}  {}".format(description, ratio, "PASS" if test(ratio) else "MISS")


def paired_ratio(numerators, denominators):
    """The median over the rounds of each round's ratio (seconds of the same rounds): this machine's
    speed drifts by a third within minutes, and a round's tools run one after the other, so a
    round's ratio is steadier than the ratio of two medians."""
    return float(np.median(np.asarray(numerators) / np.asarray(denominators)))


def timed_rounds(tools, repeat):
    """{key: (median wall seconds, seconds of each run, result of the last run)} for tools given as
    (key, function(output) -> seconds or (seconds, result), output path). Each of ``repeat``
    rounds runs every tool once, in turn; outputs are removed after each run but the last."""
    runs, results = {key: [] for key, _f, _o in tools}, {}
    for round_number in range(repeat):
        for key, function, output in tools:
            value = function(output)
            seconds, results[key] = value if isinstance(value, tuple) else (value, None)
            runs[key].append(seconds)
            if round_number != repeat - 1 and os.path.exists(output):
                os.remove(output)
    return {key: (float(np.median(runs[key])), runs[key], results[key]) for key in runs}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10000, help="side of the square input in pixels (10000)")
    parser.add_argument("--quick", action="store_true", help="3000 x 3000 input, for smoke runs")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of runs (each tool once per round); medians are reported (5)")
    args = parser.parse_args(argv)
    size = 3000 if args.quick else args.size
    repeat = max(1, args.repeat)

    qgis = Qgis()
    from osgeo import gdal
    from palettize.engine.blocks import output_type
    from palettize.palettes.palette import builtin_palette
    from qgis.core import Qgis as QgisInfo

    print("QGIS {}, GDAL {}, numpy {}, {} CPUs".format(
        QgisInfo.QGIS_VERSION, gdal.__version__, np.__version__, os.cpu_count()))
    palette = builtin_palette("win256")
    dtype, nodata = output_type(len(palette))
    gdal_type = {np.uint8: gdal.GDT_Byte, np.uint16: gdal.GDT_UInt16}[dtype]
    type_name = gdal.GetDataTypeName(gdal_type)
    path = input_map(size)
    pixels = size * size
    provinces = input_map(size, "provinces")
    provinces_pixels = int(np.prod(provinces_size(size)))
    tmpdir = tempfile.mkdtemp(prefix="run-", dir=DATA)
    rows, ratios = [], {}
    try:
        warm_cache(path)
        warm_cache(provinces)
        print("Timing: wall clock, median of {} round(s); each round runs every tool once, in turn, so "
              "changes in the machine's load hit all tools alike; a ratio is the median of the rounds' ratios; "
              "input in the page cache ...".format(repeat),
              flush=True)
        legend = legend_palette(tmpdir)  # the setting for seams: the map's legend as palette
        script = find_rgb2pct()
        pct = rgb2pct_palette(palette, tmpdir) if script is not None else None
        crop_png = os.path.join(tmpdir, "crop.png")
        window = seed_crop(path, SEED_CROP, crop_png)
        crop_pixels = window[2] * window[3]
        tools = [  # (key, label, pixels, function of the output path)
            ("copy", "plain copy (GDAL read RGB, write R {})".format(type_name), pixels,
             lambda out: plain_copy(path, out, gdal_type)),
            ("palettize", "palettize (processing.run, defaults)", pixels, lambda out: run_palettize(path, out)),
            ("report", "palettize + OUTPUT_REPORT", pixels,
             lambda out: run_palettize(path, out, OUTPUT_REPORT=out + ".html")),
            ("legend", "palettize, legend palette", pixels, lambda out: run_palettize(path, out, PALETTE_FILE=legend)),
            ("seams", "palettize, legend palette, CLEANUP=seams", pixels,
             lambda out: run_palettize(path, out, PALETTE_FILE=legend, CLEANUP="seams")),
            ("sieve", "palettize, legend palette, CLEANUP=sieve", pixels,
             lambda out: run_palettize(path, out, PALETTE_FILE=legend, CLEANUP="sieve")),
            ("outline-none", "provinces, legend palette", provinces_pixels,
             lambda out: run_palettize(provinces, out, PALETTE_FILE=legend)),
            ("outline-seams", "provinces, legend palette, CLEANUP=seams", provinces_pixels,
             lambda out: run_palettize(provinces, out, PALETTE_FILE=legend, CLEANUP="seams")),
            ("outline-sieve", "provinces, legend palette, CLEANUP=sieve", provinces_pixels,
             lambda out: run_palettize(provinces, out, PALETTE_FILE=legend, CLEANUP="sieve")),
            ("seed", "seed notebook: imread PNG, argmin, np.save", crop_pixels,
             lambda out: run_seed(crop_png, palette, out)),
        ]
        if script is not None:
            tools.append(("rgb2pct", "{} -pct win256 (Byte, dithered)".format(os.path.basename(script)), pixels,
                          lambda out: run_rgb2pct(script, pct, path, out)))
        else:
            print("  rgb2pct not found: skipped")
        timings = timed_rounds([(key, function, os.path.join(tmpdir, key + (".npy" if key == "seed" else ".tif")))
                                for key, _label, _pixels, function in tools], repeat)
        for key, label, n, _function in tools:
            seconds, runs, _result = timings[key]
            rows.append((label, n, seconds, runs))
        for message in timings["palettize"][2]:
            print("  palettize: " + message)
        out = os.path.join(tmpdir, "palettize.tif")
        copy_s, pal_s = timings["copy"][0], timings["palettize"][0]
        seed_indices, argmin_s = timings["seed"][2]
        written = gdal.Open(out)
        ours = written.GetRasterBand(1).ReadAsArray(*window).ravel()
        written = None
        opaque = ours != nodata
        agree = np.mean(ours[opaque] == seed_indices[opaque]) if opaque.any() else float("nan")

        print()
        print("{:<44} {:>12} {:>9} {:>8}  {}".format("tool", "pixels", "seconds", "Mpx/s", "runs"))
        for name, n, seconds, runs in rows:
            print("{:<44} {:>12,} {:>9.2f} {:>8.1f}  {}".format(
                name, n, seconds, n / seconds / 1e6, " ".join("{:.2f}".format(r) for r in runs)))
        print("seed vs palettize on the crop: {:.4%} of opaque pixels get the same index".format(agree))

        runs = {key: timings[key][1] for key in timings}
        ratios["copy"] = paired_ratio(runs["palettize"], runs["copy"])
        if script is not None:
            ratios["rgb2pct"] = paired_ratio(runs["rgb2pct"], runs["palettize"])
        ratios["seed"] = paired_ratio(np.asarray(runs["seed"]) / crop_pixels, np.asarray(runs["palettize"]) / pixels)
        print("seed's pairwise_distances_argmin alone (last run): {:.2f} s, {:.1f} x palettize's whole run "
              "per pixel".format(argmin_s, (argmin_s / crop_pixels) / (pal_s / pixels)))
        ratios["report"] = paired_ratio(runs["report"], runs["palettize"])
        ratios["seams"] = paired_ratio(runs["seams"], runs["legend"])
        ratios["sieve"] = paired_ratio(runs["sieve"], runs["legend"])
        for method in ("seams", "sieve"):
            ratios["outline-" + method] = paired_ratio(runs["outline-" + method], runs["outline-none"])
        print("provinces map: {:.2%} of its pixels are not legend colours".format(off_legend_share(provinces)))

        print("\nPeak memory (qgis_process subprocesses, /usr/bin/time -v) ...", flush=True)
        wrapper = os.path.join(SCRIPTS, "qgis-process")
        base_mb, base_s = peak_rss([wrapper, "run", "native:createconstantrasterlayer", "--",
                                    "EXTENT=0,10,0,10 [{}]".format(CRS), "TARGET_CRS={}".format(CRS),
                                    "PIXEL_SIZE=1", "NUMBER=1", "OUTPUT=" + os.path.join(tmpdir, "const.tif")])
        run_mb, run_s = peak_rss([wrapper, "run", "palettize:quantize", "--", "INPUT=" + path,
                                  "OUTPUT=" + os.path.join(tmpdir, "palettize-qp.tif")])
        print("{:<44} {:>9} {:>9}".format("qgis_process run", "peak MB", "seconds"))
        print("{:<44} {:>9.0f} {:>9.2f}".format("native:createconstantrasterlayer (10 x 10)", base_mb, base_s))
        print("{:<44} {:>9.0f} {:>9.2f}".format("palettize:quantize ({:,} px)".format(pixels), run_mb, run_s))
        print("{:<44} {:>9.0f}".format("difference (beyond QGIS)", run_mb - base_mb))
        ratios["rss"] = run_mb - base_mb

        print("\nTargets")
        for name in ratios:
            print(verdict(name, ratios[name]))
        missed = [name for name in ratios if not TARGETS[name][1](ratios[name])]

        rows, total = profile_palettize(path, os.path.join(tmpdir, "profiled.tif"))
        print("\nWhere a palettize run spends its time (cProfile, self time; run took {:.2f} s, "
              "{:.2f} s with the profiler; plain copy {:.2f} s)".format(pal_s, total, copy_s))
        for name, calls, seconds in rows:
            name = name if len(name) <= 64 else "..." + name[-61:]
            print("  {:<64} {:>5} {:>7.2f} s  {:>5.1%}".format(name, calls, seconds, seconds / total))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
        qgis.close()
    return 1 if missed else 0  # make bench names the benchmarks that missed a target


if __name__ == "__main__":
    sys.exit(main())
