"""Whole runs on photographs: palettize's adaptive palettes beside libimagequant, Pillow and GDAL.

    /usr/bin/python3 benchmarks/photographs.py [--quick] [--repeat 3] [--colours 256] [IMAGE ...]

Each photograph (Debian's scikit-image and matplotlib data, see PHOTOS) is resized with Pillow's
Lanczos filter to 0.25, 1 and 4 megapixels (whole picture, same aspect) and saved as PNG. Every
tool then does what a user's run does, timed on the wall clock from the PNG to an indexed file on
disk (read, palette, remap, write), and the output file is read back to measure its PSNR (dB, RGB)
against the input:

  palettize kmeans     processing.run("palettize:quantize", PALETTE=kmeans) in this process
                       (GeoTIFF, DEFLATE; QGIS started once beforehand)
  palettize mediancut  the same with PALETTE=mediancut
  libimagequant        pngquant --nofs (Debian's pngquant, built on libimagequant; no dithering,
                       like palettize's default), a child process, PNG out; OMP_WAIT_POLICY=PASSIVE
                       (on a busy machine, spinning OpenMP threads slow it down 2-3 times)
  libimagequant Pillow Image.quantize(method=LIBIMAGEQUANT) and save as PNG, in this process
  Pillow median cut    Image.quantize(method=MEDIANCUT), PNG
  Pillow octree        Image.quantize(method=FASTOCTREE), PNG
  GDAL rgb2pct         rgb2pct.py's steps (ComputeMedianCutPCT, DitherRGB2PCT to a GeoTIFF), in
                       this process; it always dithers

Each tool runs --repeat times, tools interleaved, and the median time is printed with its ratio to
libimagequant's (pngquant's): the median of the rounds' ratios (bench.paired_ratio). Target (issue:
adaptive palettes at libimagequant's speed): on every photograph of 0.25-4 Mpx, palettize kmeans's
PSNR >= libimagequant's and its time <= 1.5x libimagequant's whole run.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import bench  # noqa: E402 (this folder: QGIS started as bench.py starts it)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MATPLOTLIB_DATA = "/usr/share/matplotlib/mpl-data/sample_data"
SIZES_MPX = (0.25, 1.0, 4.0)
TIME_TARGET = 1.5
PHOTOS = {  # name: file (in scikit-image's data folder unless absolute)
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "hubble": "hubble_deep_field.jpg",
    "retina": "retina.jpg",
    "grace_hopper": os.path.join(MATPLOTLIB_DATA, "grace_hopper.jpg"),
}
QUICK = ("astronaut",)


# -- inputs ----------------------------------------------------------------------------------------

def photo_path(name):
    import skimage

    return os.path.join(skimage.data_dir, PHOTOS[name])


def resized_png(name, mpx, folder):
    """The photograph resized to about ``mpx`` megapixels (Lanczos, same aspect), as an RGB PNG."""
    from PIL import Image

    with Image.open(photo_path(name)) as image:
        image = image.convert("RGB")
        image.info.pop("icc_profile", None)  # some carry a profile libpng warns about
        scale = (mpx * 1e6 / (image.width * image.height)) ** 0.5
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.LANCZOS)
        path = os.path.join(folder, "{}-{}.png".format(name, mpx))
        image.save(path, compress_level=1)
    return path


def read_rgb(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


# -- tools: each (input png, output folder) -> output path ---------------------------------------

def palettize(method):
    def run(path, folder, n_colours):
        import processing
        from qgis.core import QgsProcessingFeedback

        output = os.path.join(folder, "palettize-{}.tif".format(method))
        processing.run("palettize:quantize", {"INPUT": path, "PALETTE": method, "N_COLORS": n_colours,
                                              "OUTPUT": output}, feedback=QgsProcessingFeedback())
        return output
    return run


def pngquant(path, folder, n_colours):
    output = os.path.join(folder, "pngquant.png")
    # Idle OpenMP threads sleep instead of spinning: on a machine shared with other work, spinning
    # threads that wait for a core made pngquant's run 2-3 times as long (and its reference as slow).
    environment = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    subprocess.run(["pngquant", "--nofs", "--force", "--output", output, str(n_colours), path], check=True,
                   env=environment)
    return output


def pillow(method_name):
    def run(path, folder, n_colours):
        from PIL import Image

        output = os.path.join(folder, "pillow-{}.png".format(method_name.lower()))
        with Image.open(path) as image:
            image.convert("RGB").quantize(n_colours, method=getattr(Image.Quantize, method_name)).save(output)
        return output
    return run


def gdal_rgb2pct(path, folder, n_colours):
    from osgeo import gdal

    output = os.path.join(folder, "rgb2pct.tif")
    source = gdal.Open(path)
    bands = [source.GetRasterBand(i + 1) for i in range(3)]
    table = gdal.ColorTable()
    gdal.ComputeMedianCutPCT(bands[0], bands[1], bands[2], n_colours, table)
    target = gdal.GetDriverByName("GTiff").Create(output, source.RasterXSize, source.RasterYSize, 1)
    target.GetRasterBand(1).SetRasterColorTable(table)
    gdal.DitherRGB2PCT(bands[0], bands[1], bands[2], target.GetRasterBand(1), table)
    target = None
    return output


def tool_problems():
    """{tool name: why it cannot run} for tools missing on this machine."""
    problems = {}
    if shutil.which("pngquant") is None:
        problems["libimagequant"] = "pngquant not found: apt install pngquant"
    try:
        from PIL import features
        if not features.check("libimagequant"):
            problems["libimagequant Pillow"] = "this Pillow was built without libimagequant"
    except ImportError:
        for name in ("libimagequant Pillow", "Pillow median cut", "Pillow octree"):
            problems[name] = "Pillow not installed: apt install python3-pil"
    return problems


TOOLS = [  # (name, run)
    ("palettize kmeans", palettize("kmeans")),
    ("palettize mediancut", palettize("mediancut")),
    ("libimagequant", pngquant),
    ("libimagequant Pillow", pillow("LIBIMAGEQUANT")),
    ("Pillow median cut", pillow("MEDIANCUT")),
    ("Pillow octree", pillow("FASTOCTREE")),
    ("GDAL rgb2pct", gdal_rgb2pct),
]
REFERENCE = "libimagequant"


# -- measuring -------------------------------------------------------------------------------------

def output_rgb(path):
    """The colours an indexed output file shows (rows x cols x 3 uint8), read with GDAL."""
    from osgeo import gdal

    dataset = gdal.Open(path)
    band = dataset.GetRasterBand(1)
    table = band.GetColorTable()
    lookup = np.array([table.GetColorEntry(i)[:3] for i in range(table.GetCount())], dtype=np.uint8)
    return lookup[band.ReadAsArray()], table.GetCount()


def psnr(a, b):
    error = ((a.astype(np.float64) - b) ** 2).mean()
    return float("inf") if error == 0 else 10.0 * np.log10(255.0 ** 2 / error)


def run_image(path, tools, n_colours, repeat, folder):
    """{tool: (PSNR, median seconds, colours, seconds of each round)} for one input."""
    original = read_rgb(path)
    times = {name: [] for name, _ in tools}
    outputs = {}
    for _ in range(repeat):
        for name, run in tools:
            start = time.perf_counter()
            outputs[name] = run(path, folder, n_colours)
            times[name].append(time.perf_counter() - start)
    results = {}
    for name, _ in tools:
        rgb, colours = output_rgb(outputs[name])
        results[name] = (psnr(rgb, original), statistics.median(times[name]), len(np.unique(
            rgb.reshape(-1, 3), axis=0)) if colours > 256 else colours, times[name])
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one photograph: " + ", ".join(QUICK))
    parser.add_argument("--repeat", type=int, default=5, help="runs per tool, median time (default 5)")
    parser.add_argument("--colours", type=int, default=256, help="palette size (default 256)")
    parser.add_argument("--sizes", type=lambda text: [float(v) for v in text.split(",")], default=SIZES_MPX,
                        help="megapixels, comma-separated (default: {})".format(",".join(map(str, SIZES_MPX))))
    parser.add_argument("images", nargs="*", help="photographs (default: all): " + ", ".join(PHOTOS))
    args = parser.parse_args(argv)
    names = args.images or (list(QUICK) if args.quick else list(PHOTOS))
    for name in names:
        if name not in PHOTOS:
            parser.error("unknown photograph {!r}".format(name))
    problems = tool_problems()
    tools = [(name, run) for name, run in TOOLS if name not in problems]
    for name, problem in problems.items():
        print("{}: not run ({})".format(name, problem))
    qgis = bench.Qgis()
    folder = tempfile.mkdtemp(prefix="palettize-photos-out-")
    print("Whole runs (PNG in, indexed file out), {} colours, median of {} runs; ratio: time / {}'s, the "
          "median of the rounds' ratios".format(args.colours, args.repeat, REFERENCE))
    verdicts = []
    try:
        for name in names:
            for mpx in args.sizes:
                path = resized_png(name, mpx, folder)
                original = read_rgb(path)
                print("\n{} at {:.2f} Mpx ({} x {})".format(name, original.size / 3e6, original.shape[1],
                                                           original.shape[0]))
                print("  {:<22} {:>7} {:>8} {:>8} {:>7}".format("tool", "colours", "PSNR dB", "seconds", "ratio"))
                results = run_image(path, tools, args.colours, args.repeat, folder)
                reference = results.get(REFERENCE)
                for tool, (value, seconds, colours, rounds) in results.items():
                    ratio = "{:7.2f}".format(bench.paired_ratio(rounds, reference[3])) if reference else "      -"
                    print("  {:<22} {:>7} {:>8.2f} {:>8.3f} {}".format(tool, colours, value, seconds, ratio),
                          flush=True)
                if reference and "palettize kmeans" in results:
                    ours = results["palettize kmeans"]
                    verdicts.append((name, mpx, ours[0] - reference[0], bench.paired_ratio(ours[3], reference[3])))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        qgis.close()
    print("\nTargets (palettize kmeans against libimagequant, whole runs)")
    missed = 0
    for name, mpx, gain, ratio in verdicts:
        ok = gain >= 0 and ratio <= TIME_TARGET
        missed += not ok
        print("  {} {:<14} {:>5.2f} Mpx  PSNR {:+.2f} dB  time {:.2f}x (target <= {}x)".format(
            "PASS" if ok else "MISS", name, mpx, gain, ratio, TIME_TARGET))
    if verdicts:
        print("  worst: PSNR {:+.2f} dB, time {:.2f}x".format(min(v[2] for v in verdicts),
                                                                max(v[3] for v in verdicts)))
    return 1 if missed else 0  # make bench names the benchmarks that missed a target


if __name__ == "__main__":
    sys.exit(main())
