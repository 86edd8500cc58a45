"""Palette quality benchmark: Palettize's adaptive palettes beside other quantizers' palettes.

    /usr/bin/python3 benchmarks/quality.py [--quick] [--colours 256] [--no-venv]

For each image (real photographs and rendered maps that Debian packages ship, see IMAGES), every
method builds a palette of at most --colours colours; then EVERY palette is applied the same way:
each pixel becomes its nearest palette colour in RGB (palettize's NearestColourMapper, no
dithering), so only the palettes are compared. Printed per image: PSNR (dB, on RGB), mean CIE76
colour difference (delta E between each pixel and its mapped colour), seconds to build the palette
(from the pixels, including each method's own histogram; SciPy is imported beforehand) and
megapixels per second. Methods:

  palettize kmeans       build_palette("kmeans", metric="rgb")
  palettize mediancut    build_palette("mediancut", metric="rgb")
  palettize kmeans lab*  build_palette("kmeans", metric="cielab"), mapped in CIELAB (CIE76) as
                         METRIC=cielab would: the one row not mapped in RGB
  Pillow median cut      Image.quantize(method=MEDIANCUT)
  Pillow fast octree     Image.quantize(method=FASTOCTREE)
  libimagequant          Image.quantize(method=LIBIMAGEQUANT), when Pillow was built with it
                         (Debian's is), and libimagequant through PyPI's `imagequant` package
                         (dithering_level=0), installed only in benchmarks/.venv
  GDAL median cut        gdal.ComputeMedianCutPCT, the palette rgb2pct.py builds

benchmarks/.venv is created on the first run (python3 -m venv --system-site-packages, then
pip install imagequant) and the script re-runs itself with that venv's python, which still sees
QGIS, GDAL, numpy and scikit-learn from the system. Without network or python3-venv it carries on
without that row. --no-venv skips it.

Targets (from the issue): kmeans's PSNR >= libimagequant's on every image (every libimagequant
row), and kmeans builds its palette in no more than a few seconds per megapixel (checked here as
<= 3 s/Mpx on the images of 1 Mpx or more, where a fixed start-up cost does not dominate).
Images above 2 Mpx are cropped to their central 2 Mpx; all methods get the same pixels.
"""

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPTS = os.path.join(ROOT, "scripts")
VENV = os.path.join(HERE, ".venv")
VENV_PYTHON = os.path.join(VENV, "bin", "python")
IN_VENV_KEY = "PALETTIZE_QUALITY_IN_VENV"
NO_LIQ_KEY = "PALETTIZE_QUALITY_NO_IMAGEQUANT"
MAX_PIXELS = 2_000_000
SECONDS_PER_MPX_TARGET = 3.0
MATPLOTLIB_DATA = "/usr/share/matplotlib/mpl-data/sample_data"
WORLD_MAP = "/usr/share/qgis/resources/data/world_map.gpkg"


# -- the venv with libimagequant from PyPI ---------------------------------------------------------

def venv_problem():
    """Make benchmarks/.venv with `imagequant` if it is missing; None when ready, else the reason."""
    def run(command, timeout):
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                universal_newlines=True, timeout=timeout)
        if result.returncode != 0:
            lines = [line for line in result.stdout.strip().splitlines() if line.strip()]
            raise RuntimeError("{} failed: {}".format(" ".join(command[:4]), lines[-1] if lines else "?"))

    try:
        if not os.path.exists(VENV_PYTHON):
            print("Creating {} for libimagequant (PyPI imagequant) ...".format(os.path.relpath(VENV)), flush=True)
            try:
                run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", VENV], 120)
            except (OSError, RuntimeError, subprocess.TimeoutExpired):
                shutil.rmtree(VENV, ignore_errors=True)  # no half-made venv left for the next run
                raise RuntimeError("python3 -m venv failed (is python3-venv installed?)")
        check = subprocess.run([VENV_PYTHON, "-c", "import imagequant"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        if check.returncode != 0:
            print("Installing imagequant into {} ...".format(os.path.relpath(VENV)), flush=True)
            run([VENV_PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q", "imagequant"], 600)
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
        return str(error)
    return None


def reexec_in_venv(argv):
    """Continue in the venv's python when it is ready; otherwise note why libimagequant is missing."""
    if os.environ.get(IN_VENV_KEY):
        return
    problem = venv_problem()
    if problem is not None:
        os.environ[NO_LIQ_KEY] = problem
        return
    os.environ[IN_VENV_KEY] = "1"
    sys.stdout.flush()
    os.execv(VENV_PYTHON, [VENV_PYTHON, os.path.abspath(__file__)] + list(argv))


# -- images ----------------------------------------------------------------------------------------

def read_rgb(path):
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def skimage_photo(name):
    def load():
        import skimage

        return read_rgb(os.path.join(skimage.data_dir, name))
    return load


def shaded_relief():
    """matplotlib's Jacksboro fault DEM drawn as a hill-shaded terrain map (gist_earth colours)."""
    from matplotlib import cm
    from matplotlib.colors import LightSource

    with np.load(os.path.join(MATPLOTLIB_DATA, "jacksboro_fault_dem.npz")) as dem:
        elevation, dx, dy = dem["elevation"], float(dem["dx"]), float(dem["dy"])
    rgba = LightSource(azdeg=315, altdeg=45).shade(elevation, cmap=cm.gist_earth, vert_exag=0.05,
                                                  dx=dx, dy=dy, blend_mode="overlay")
    return np.rint(rgba[:, :, :3] * 255).astype(np.uint8)


def on_white(rgba):
    """RGBA (straight alpha, uint8) composited over white, as an RGB export would be."""
    alpha = rgba[:, :, 3:4].astype(np.float64) / 255.0
    return np.rint(rgba[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)


def sample_map():
    from osgeo import gdal

    return on_white(np.moveaxis(gdal.Open(os.path.join(ROOT, "resources", "sample_map.tif")).ReadAsArray(), 0, 2))


def rendered_map(name):
    """A map rendered by QGIS in a child process (see render_maps), read back from its .npy file."""
    def load():
        folder = tempfile.mkdtemp(prefix="palettize-quality-")
        try:
            result = subprocess.run([sys.executable, os.path.abspath(__file__), "--render", name, folder],
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
            path = os.path.join(folder, name + ".npy")
            if not os.path.exists(path):  # (QGIS may crash on exit after saving it: that is fine)
                lines = result.stdout.strip().splitlines()
                raise RuntimeError("rendering failed: {}".format(lines[-1] if lines else result.returncode))
            return np.load(path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return load


#: name -> (what it is, loader returning H x W x 3 uint8)
IMAGES = {
    "grace_hopper": ("photo, matplotlib sample data", lambda: read_rgb(os.path.join(MATPLOTLIB_DATA, "grace_hopper.jpg"))),
    "astronaut": ("photo, scikit-image data", skimage_photo("astronaut.png")),
    "coffee": ("photo, scikit-image data", skimage_photo("coffee.png")),
    "chelsea": ("photo, scikit-image data", skimage_photo("chelsea.png")),
    "rocket": ("photo, scikit-image data", skimage_photo("rocket.jpg")),
    "motorcycle": ("photo, scikit-image data", skimage_photo("motorcycle_left.png")),
    "hubble": ("photo, scikit-image data (hubble_deep_field)", skimage_photo("hubble_deep_field.jpg")),
    "retina": ("photo, scikit-image data", skimage_photo("retina.jpg")),
    "relief": ("map, matplotlib's Jacksboro DEM hill-shaded", shaded_relief),
    "sample_map": ("map, resources/sample_map.tif on white", sample_map),
    "world_map": ("map, QGIS's world_map.gpkg rendered by QGIS, categorized", rendered_map("world_map")),
    "geology_map": ("map, scripts/render_map.py at 1600 x 1200 on white", rendered_map("geology_map")),
}
QUICK = ("grace_hopper", "sample_map")


def crop(image):
    """The central part of at most MAX_PIXELS pixels, same aspect."""
    rows, cols = image.shape[:2]
    if rows * cols <= MAX_PIXELS:
        return np.ascontiguousarray(image)
    scale = (MAX_PIXELS / float(rows * cols)) ** 0.5
    r, c = int(rows * scale), int(cols * scale)
    top, left = (rows - r) // 2, (cols - c) // 2
    return np.ascontiguousarray(image[top:top + r, left:left + c])


# -- maps rendered by QGIS (in a child process: QGIS and its GDAL settings stay out of the timings) --

def render_world_map(width=1800, height=900):
    """Countries (categorized by name, fixed colours, grey outlines) over an ocean, provinces' outlines
    as thin lines, in Equal Earth, anti-aliased: QgsMapRendererSequentialJob to an RGB array."""
    from qgis.core import (QgsCategorizedSymbolRenderer, QgsCoordinateReferenceSystem, QgsCoordinateTransform,
                           QgsFillSymbol, QgsMapRendererSequentialJob, QgsMapSettings,
                           QgsProject, QgsRendererCategory, QgsSingleSymbolRenderer, QgsVectorLayer)
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    countries = QgsVectorLayer(WORLD_MAP + "|layername=countries", "countries", "ogr")
    provinces = QgsVectorLayer(WORLD_MAP + "|layername=states_provinces", "provinces", "ogr")
    if not countries.isValid() or not provinces.isValid():
        raise RuntimeError("cannot open " + WORLD_MAP)
    names = sorted(value for value in countries.uniqueValues(countries.fields().indexOf("NAME"))
                   if isinstance(value, str))
    rng = np.random.default_rng(0)
    colours = rng.integers(70, 250, (len(names), 3))
    categories = []
    for name, colour in zip(names, colours):
        symbol = QgsFillSymbol.createSimple({"color": "{},{},{},255".format(*colour),
                                             "outline_color": "90,90,90,255", "outline_width": "0.3"})
        categories.append(QgsRendererCategory(name, symbol, name))
    countries.setRenderer(QgsCategorizedSymbolRenderer("NAME", categories))
    provinces.setRenderer(QgsSingleSymbolRenderer(QgsFillSymbol.createSimple(
        {"style": "no", "outline_color": "150,150,150,255", "outline_width": "0.15"})))

    crs = QgsCoordinateReferenceSystem("EPSG:8857")
    transform = QgsCoordinateTransform(countries.crs(), crs, QgsProject.instance())
    extent = transform.transformBoundingBox(countries.extent())
    settings = QgsMapSettings()
    settings.setLayers([provinces, countries])
    settings.setDestinationCrs(crs)
    settings.setOutputSize(QSize(width, height))
    settings.setExtent(extent)
    settings.setBackgroundColor(QColor(190, 220, 240))
    settings.setOutputDpi(96)
    settings.setFlag(QgsMapSettings.Antialiasing, True)
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    return qimage_to_rgb(job.renderedImage())


def qimage_to_rgb(image):
    from qgis.PyQt.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height, stride = image.width(), image.height(), image.bytesPerLine()
    data = np.frombuffer(image.constBits().asstring(stride * height), dtype=np.uint8)
    return data.reshape(height, stride)[:, :width * 3].reshape(height, width, 3).copy()


def render_maps(name, folder):
    """Child process: render one map with QGIS into folder/NAME.npy."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path[:0] = [SCRIPTS]
    from render_map import _ensure_qgis

    app, _ = _ensure_qgis()
    if name == "world_map":
        rgb = render_world_map()
    else:
        from osgeo import gdal
        from render_map import render_geology_map

        path = os.path.join(folder, "geology.tif")
        render_geology_map(path, 1600, 1200, outlines=True, antialiasing=True, seed=0)
        rgb = on_white(np.moveaxis(gdal.Open(path).ReadAsArray(), 0, 2))
    np.save(os.path.join(folder, name + ".npy"), rgb)


# -- methods ---------------------------------------------------------------------------------------

def palettize_method(method, metric):
    from palettize.engine.nearest import pack_rgba
    from palettize.engine.adaptive import build_palette, colour_histogram

    def build(image, n_colours):
        codes, counts = colour_histogram(pack_rgba(image[:, :, 0], image[:, :, 1], image[:, :, 2]))
        return build_palette(method, codes, counts, n_colours, metric=metric).colours
    return build


def used_colours(quantized):
    """The palette entries a Pillow P image uses (K x 3 uint8)."""
    palette = np.array(quantized.getpalette()[:768], dtype=np.uint8).reshape(-1, 3)
    return palette[np.unique(np.asarray(quantized))]


def pillow_method(name):
    def build(image, n_colours):
        from PIL import Image

        method = getattr(Image.Quantize, name) if hasattr(Image, "Quantize") else getattr(Image, name)
        return used_colours(Image.fromarray(image).quantize(n_colours, method=method))
    return build


def pillow_unavailable(name):
    try:
        from PIL import Image, features
    except ImportError as error:
        return "Pillow not installed ({}): apt install python3-pil".format(error)
    if name == "LIBIMAGEQUANT" and not features.check("libimagequant"):
        return "this Pillow was built without libimagequant"
    return None if Image else "PIL.Image missing"


def imagequant_build(image, n_colours):
    import imagequant

    rows, cols = image.shape[:2]
    rgba = np.concatenate([image, np.full((rows, cols, 1), 255, np.uint8)], axis=2)
    indices, palette = imagequant.quantize_raw_rgba_bytes(rgba.tobytes(), cols, rows, dithering_level=0.0,
                                                          max_colors=n_colours)
    palette = np.array(palette, dtype=np.uint8).reshape(-1, 4)[:, :3]
    return palette[np.unique(np.frombuffer(indices, dtype=np.uint8))]


def imagequant_unavailable():
    if os.environ.get(NO_LIQ_KEY):
        return os.environ[NO_LIQ_KEY]
    try:
        importlib.import_module("imagequant")
    except ImportError as error:
        return "imagequant not importable here ({}); run without --no-venv".format(error)
    return None


def gdal_median_cut(image, n_colours):
    from osgeo import gdal

    rows, cols = image.shape[:2]
    dataset = gdal.GetDriverByName("MEM").Create("", cols, rows, 3, gdal.GDT_Byte)
    for band in range(3):
        dataset.GetRasterBand(band + 1).WriteArray(image[:, :, band])
    table = gdal.ColorTable()
    bands = [dataset.GetRasterBand(band + 1) for band in range(3)]
    gdal.ComputeMedianCutPCT(bands[0], bands[1], bands[2], n_colours, table)
    return np.array([table.GetColorEntry(i)[:3] for i in range(table.GetCount())], dtype=np.uint8)


def liq_versions():
    versions = {}
    try:
        from PIL import features

        versions["pillow"] = features.version("libimagequant")
    except ImportError:
        pass
    try:
        import imagequant

        number = imagequant.lib.liq_version()
        versions["pypi"] = "{}.{}.{}".format(number // 10000, number // 100 % 100, number % 100)
    except (ImportError, AttributeError):
        pass
    return versions


def methods():
    """[(row name, builder or None, reason unavailable, mapping metric, is libimagequant)]"""
    versions = liq_versions()
    return [
        ("palettize kmeans", palettize_method("kmeans", "rgb"), None, "rgb", False),
        ("palettize mediancut", palettize_method("mediancut", "rgb"), None, "rgb", False),
        ("palettize kmeans lab*", palettize_method("kmeans", "cielab"), None, "cielab", False),
        ("Pillow median cut", pillow_method("MEDIANCUT"), pillow_unavailable("MEDIANCUT"), "rgb", False),
        ("Pillow fast octree", pillow_method("FASTOCTREE"), pillow_unavailable("FASTOCTREE"), "rgb", False),
        (" ".join(filter(None, ["libimagequant", versions.get("pillow"), "(Pillow)"])),
         pillow_method("LIBIMAGEQUANT"), pillow_unavailable("LIBIMAGEQUANT"), "rgb", True),
        (" ".join(filter(None, ["libimagequant", versions.get("pypi"), "(imagequant)"])),
         imagequant_build, imagequant_unavailable(), "rgb", True),
        ("GDAL median cut", gdal_median_cut, None, "rgb", False),
    ]


# -- measuring -------------------------------------------------------------------------------------

def measure(image, image_lab, colours, metric):
    """(PSNR dB, mean CIE76 delta E) of the image with each pixel mapped to its nearest colour."""
    from palettize.engine.colorspace import srgb_to_lab
    from palettize.engine.nearest import NearestColourMapper

    colours = np.asarray(colours, dtype=np.uint8)
    indices = NearestColourMapper(colours, metric).map_rgb(image[:, :, 0], image[:, :, 1], image[:, :, 2])
    error = ((colours[indices].astype(np.float64) - image) ** 2).mean()
    psnr = float("inf") if error == 0 else 10.0 * np.log10(255.0 ** 2 / error)
    delta_e = np.sqrt(((srgb_to_lab(colours)[indices] - image_lab) ** 2).sum(axis=2)).mean()
    return psnr, delta_e


def run_image(name, image, n_colours, rows_out):
    from palettize.engine.colorspace import srgb_to_lab

    mpx = image.shape[0] * image.shape[1] / 1e6
    image_lab = srgb_to_lab(image)
    print("\n{} ({}): {} x {}, {:.2f} Mpx, {} distinct colours".format(
        name, IMAGES[name][0], image.shape[1], image.shape[0], mpx, distinct_colours(image)))
    print("  {:<34} {:>7} {:>9} {:>9} {:>8} {:>7}".format("method", "colours", "PSNR dB", "mean dE76",
                                                           "seconds", "Mpx/s"))
    results = {}
    for method, build, unavailable, metric, is_liq in methods():
        if unavailable:
            print("  {:<34} not available ({})".format(method, unavailable))
            continue
        start = time.perf_counter()
        try:
            colours = build(image, n_colours)
        except Exception as error:  # a reference tool failing must not stop the benchmark
            print("  {:<34} failed: {}: {}".format(method, type(error).__name__, error))
            continue
        seconds = time.perf_counter() - start
        psnr, delta_e = measure(image, image_lab, colours, metric)
        results[method] = (psnr, delta_e, seconds, is_liq)
        print("  {:<34} {:>7} {:>9.2f} {:>9.2f} {:>8.2f} {:>7.2f}".format(
            method, len(colours), psnr, delta_e, seconds, mpx / seconds), flush=True)
    rows_out.append((name, mpx, results))


def distinct_colours(image):
    codes = image[:, :, 0].astype(np.uint32) | image[:, :, 1].astype(np.uint32) << 8 | \
        image[:, :, 2].astype(np.uint32) << 16
    return len(np.unique(codes))


def report_targets(rows):
    """Print the targets' verdicts; True when one was missed."""
    print("\nTargets")
    misses = 0
    liq_seen = False
    for name, mpx, results in rows:
        ours = results.get("palettize kmeans")
        liq = [(psnr, method) for method, (psnr, _, _, is_liq) in results.items() if is_liq]
        if ours is None:
            continue
        if liq:
            liq_seen = True
            best, best_method = max(liq)
            verdict = "PASS" if ours[0] >= best else "MISS"
            misses += verdict == "MISS"
            print("  {} {:<12} kmeans {:.2f} dB vs {} {:.2f} dB ({:+.2f})".format(
                verdict, name, ours[0], best_method, best, ours[0] - best))
    if not liq_seen:
        print("  MISS kmeans >= libimagequant PSNR: not checked, libimagequant not available")
    else:
        print("  {} kmeans PSNR >= libimagequant's on every image".format("MISS" if misses else "PASS"))
    timed = [(results["palettize kmeans"][2] / mpx, name, mpx) for name, mpx, results in rows
             if "palettize kmeans" in results]
    large = [entry for entry in timed if entry[2] >= 1.0]
    if large:
        worst = max(large)
        verdict = "PASS" if worst[0] <= SECONDS_PER_MPX_TARGET else "MISS"
        misses += verdict == "MISS"
        print("  {} kmeans time <= {:.0f} s/Mpx on images of >= 1 Mpx: worst {:.2f} s/Mpx ({})".format(
            verdict, SECONDS_PER_MPX_TARGET, worst[0], worst[1]))
    if timed:
        worst = max(timed)
        print("  (on every image, including small ones: worst {:.2f} s/Mpx on {}, {:.2f} Mpx)".format(*worst))
    return bool(misses or not liq_seen)


def import_palettize():
    """Import this checkout as the package `palettize`, as QGIS does (a symlink in a temp folder)."""
    folder = tempfile.mkdtemp(prefix="palettize-quality-pkg-")
    os.symlink(ROOT, os.path.join(folder, "palettize"))
    sys.path.insert(0, folder)
    importlib.import_module("palettize.engine.adaptive")
    return folder


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--render"]:
        return render_maps(argv[1], argv[2])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two images only: " + ", ".join(QUICK))
    parser.add_argument("--colours", type=int, default=256, help="palette size (default 256)")
    parser.add_argument("--no-venv", action="store_true", help="do not create or use benchmarks/.venv")
    parser.add_argument("images", nargs="*", help="names of images to run (default: all): " + ", ".join(IMAGES))
    args = parser.parse_args(argv)
    if not args.no_venv:
        reexec_in_venv(argv)
    else:
        os.environ.setdefault(NO_LIQ_KEY, "--no-venv")
    folder = import_palettize()
    try:
        importlib.import_module("scipy.spatial")  # once, outside the timings (kmeans uses its KD-tree)
    except ImportError:
        pass
    print("Palette quality: {} colours, no dithering; every palette applied by nearest RGB colour "
          "(* row: nearest CIELAB colour)".format(args.colours))
    print("Python {} ({})".format(sys.version.split()[0], sys.executable))
    names = args.images or (list(QUICK) if args.quick else list(IMAGES))
    rows = []
    try:
        for name in names:
            if name not in IMAGES:
                parser.error("unknown image {!r}".format(name))
            try:
                image = crop(IMAGES[name][1]())
            except Exception as error:  # a missing package's image is skipped, not fatal
                print("\n{}: skipped ({}: {})".format(name, type(error).__name__, error))
                continue
            run_image(name, image, args.colours, rows)
        missed = report_targets(rows)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if missed else 0  # make bench names the benchmarks that missed a target


if __name__ == "__main__":
    sys.exit(main())
