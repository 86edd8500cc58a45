"""Styled layers on the rendered path against a plain GDAL conversion of the same data to Byte.

Run as part of ``make bench`` (``/usr/bin/python3 benchmarks/styled_layers.py``; ``--size N`` for an
N x N input, default 10000 = 100 megapixels). For each style — a Float32 DEM with a 12-class
pseudocolour ramp and with a five-colour interpolated one, a Byte raster with a paletted style, the DEM as singleband grey, and an RGB
raster with a min/max stretch — it times, in this process, medians of ``--repeat`` rounds:
  translate    gdal.Translate of the input to Byte (scaled), tiled and DEFLATE-compressed like
               Palettize's output: the reference
  palettize    processing.run("palettize:quantize") with the style, win256, default settings
wall clock and CPU time (every thread of the process), the ratio palettize / translate of each
round's pair, and how Palettize read the layer (its log's "Reading ..." line). ``--drawn`` adds a
run with every block drawn by QGIS (the way before styles were looked up). Inputs are generated
in a temporary folder and removed at the end.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET = 1.5


def start_qgis():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    package_dir = tempfile.mkdtemp(prefix="palettize-pkg-")
    os.symlink(ROOT, os.path.join(package_dir, "palettize"))
    sys.path.insert(0, package_dir)
    sys.path.append("/usr/share/qgis/python/plugins")
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    from processing.core.Processing import Processing

    import palettize

    Processing.initialize()
    plugin = palettize.classFactory(None)
    plugin.initProcessing()
    return app, plugin, package_dir


def write(path, arrays, gdal_type):
    from osgeo import gdal

    rows, cols = arrays[0].shape
    dataset = gdal.GetDriverByName("GTiff").Create(path, cols, rows, len(arrays), gdal_type, ["TILED=YES"])
    dataset.SetGeoTransform((500000.0, 10.0, 0.0, 7600000.0, 0.0, -10.0))
    dataset.SetProjection('EPSG:32635')
    for i, values in enumerate(arrays, 1):
        dataset.GetRasterBand(i).WriteArray(values)
    dataset = None
    return path


def make_inputs(folder, size):
    """(name, path, style function, gdal.Translate scale options) per style."""
    from osgeo import gdal

    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    dem = (600 + 450 * np.sin(7 * x) * np.cos(5 * y) + 80 * np.sin(41 * x + 23 * y)).astype(np.float32)
    dem_path = write(os.path.join(folder, "dem.tif"), [dem], gdal.GDT_Float32)
    classes = write(os.path.join(folder, "classes.tif"), [(dem // 100).astype(np.uint8)], gdal.GDT_Byte)
    rgb = [(dem / 6).astype(np.uint8), (255 - dem / 6).astype(np.uint8), ((x * 255) // 1).astype(np.uint8)]
    rgb_path = write(os.path.join(folder, "rgb.tif"), rgb, gdal.GDT_Byte)
    del y, x, dem, rgb
    return [("pseudocolour DEM", dem_path, pseudocolour, ["-scale", "0", "1200", "0", "255"]),
            ("interpolated ramp DEM", dem_path, interpolated, ["-scale", "0", "1200", "0", "255"]),
            ("paletted classes", classes, paletted, []),
            ("singleband grey DEM", dem_path, grey, ["-scale", "0", "1200", "0", "255"]),
            ("RGB with stretch", rgb_path, stretched, ["-scale"])]


def pseudocolour(layer):
    from qgis.core import QgsColorRampShader, QgsRasterShader, QgsSingleBandPseudoColorRenderer
    from qgis.PyQt.QtGui import QColor

    ramp = QgsColorRampShader(0, 1200)
    ramp.setColorRampType(QgsColorRampShader.Type.Discrete)
    ramp.setColorRampItemList([QgsColorRampShader.ColorRampItem(100 * (i + 1), QColor(20 * i, 240 - 20 * i, 60 + 15 * i))
                               for i in range(12)])
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    layer.setRenderer(QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader))


def interpolated(layer):
    """A five-colour interpolated ramp: about 1,500 pieces of one colour over the DEM's values."""
    from qgis.core import QgsColorRampShader, QgsRasterShader, QgsSingleBandPseudoColorRenderer
    from qgis.PyQt.QtGui import QColor

    ramp = QgsColorRampShader(0, 1200)
    ramp.setColorRampType(QgsColorRampShader.Type.Interpolated)
    stops = [(0, (43, 131, 186)), (300, (171, 221, 164)), (600, (255, 255, 191)), (900, (253, 174, 97)),
             (1200, (215, 25, 28))]
    ramp.setColorRampItemList([QgsColorRampShader.ColorRampItem(v, QColor(*c)) for v, c in stops])
    shader = QgsRasterShader()
    shader.setRasterShaderFunction(ramp)
    layer.setRenderer(QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, shader))


def paletted(layer):
    from qgis.core import QgsPalettedRasterRenderer
    from qgis.PyQt.QtGui import QColor

    classes = [QgsPalettedRasterRenderer.Class(i, QColor(23 * i % 256, 255 - 19 * i % 256, 37 * i % 256), str(i))
               for i in range(13)]
    layer.setRenderer(QgsPalettedRasterRenderer(layer.dataProvider(), 1, classes))


def grey(layer):
    from qgis.core import QgsContrastEnhancement, QgsSingleBandGrayRenderer

    renderer = QgsSingleBandGrayRenderer(layer.dataProvider(), 1)
    enhancement = QgsContrastEnhancement(layer.dataProvider().dataType(1))
    enhancement.setContrastEnhancementAlgorithm(QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum)
    enhancement.setMinimumValue(0)
    enhancement.setMaximumValue(1200)
    renderer.setContrastEnhancement(enhancement)
    layer.setRenderer(renderer)


def stretched(layer):
    from qgis.core import QgsContrastEnhancement, QgsMultiBandColorRenderer

    renderer = QgsMultiBandColorRenderer(layer.dataProvider(), 1, 2, 3)
    for setter in (renderer.setRedContrastEnhancement, renderer.setGreenContrastEnhancement,
                   renderer.setBlueContrastEnhancement):
        enhancement = QgsContrastEnhancement(layer.dataProvider().dataType(1))
        enhancement.setContrastEnhancementAlgorithm(
            QgsContrastEnhancement.ContrastEnhancementAlgorithm.StretchToMinimumMaximum)
        enhancement.setMinimumValue(20)
        enhancement.setMaximumValue(230)
        setter(enhancement)
    layer.setRenderer(renderer)


def timed_translate(path, output, scale):
    from osgeo import gdal

    options = ["-ot", "Byte", "-co", "TILED=YES", "-co", "COMPRESS=DEFLATE", "-co", "NUM_THREADS=ALL_CPUS",
               "-co", "BLOCKXSIZE=512", "-co", "BLOCKYSIZE=512"] + scale
    return timed(lambda: gdal.Translate(output, path, options=options))


def timed_palettize(layer, output, drawn=False):
    """(wall, CPU) seconds, and how the layer was read."""
    import processing
    from qgis.core import QgsProcessingFeedback

    from palettize.algorithms import rendered_source

    class Feedback(QgsProcessingFeedback):
        reading = ""

        def pushInfo(self, text):  # noqa: N802 (QGIS API)
            if text.startswith("Reading "):
                self.reading = text

    feedback, plans = Feedback(), (rendered_source.lookup_plan, rendered_source.direct_read_plan)
    if drawn:  # every block drawn by QGIS
        rendered_source.lookup_plan = lambda *args: None
        rendered_source.direct_read_plan = lambda *args, **kwargs: None
    try:
        times = timed(lambda: processing.run("palettize:quantize", {"INPUT": layer, "PALETTE": "win256",
                                                                    "OUTPUT": output}, feedback=feedback))
    finally:
        rendered_source.lookup_plan, rendered_source.direct_read_plan = plans
    return times, feedback.reading


def timed(function):
    """(wall, CPU of every thread) seconds of a call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=10000, help="side of the square inputs in pixels (10000)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported (3)")
    parser.add_argument("--only", help="run only the style whose name starts with this")
    parser.add_argument("--drawn", action="store_true", help="also time every block drawn by QGIS")
    args = parser.parse_args(argv)
    app, plugin, package_dir = start_qgis()
    from qgis.core import QgsRasterLayer

    folder = tempfile.mkdtemp(prefix="palettize-styled-")
    missed = 0
    try:
        print("Styled layers, {0} x {0} pixels, {1} rounds (medians; CPU: every thread):".format(
            args.size, args.repeat), flush=True)
        print("{:<22} {:>15} {:>15} {:>7} {:>15}".format(
            "style", "translate", "palettize", "ratio", "drawn" if args.drawn else ""))
        for name, path, style, scale in make_inputs(folder, args.size):
            if args.only and not name.startswith(args.only):
                continue
            layer = QgsRasterLayer(path, name, "gdal")
            style(layer)
            runs = {"translate": [], "palettize": [], "drawn": []}
            reading = ""
            for _ in range(args.repeat):
                for key in ("translate", "palettize") + (("drawn",) if args.drawn else ()):
                    output = os.path.join(folder, "out-{}.tif".format(key))
                    if key == "translate":
                        runs[key].append(timed_translate(path, output, scale))
                    else:
                        times, how = timed_palettize(layer, output, drawn=key == "drawn")
                        runs[key].append(times)
                        reading = how if key == "palettize" else reading
                    for leftover in os.listdir(folder):
                        if leftover.startswith("out-"):
                            os.remove(os.path.join(folder, leftover))
            medians = {key: np.median(np.array(values), axis=0) for key, values in runs.items() if values}
            ratio = np.median([p[0] / t[0] for p, t in zip(runs["palettize"], runs["translate"])])
            missed += ratio > TARGET
            shown = ["{:>6.2f}s {:>5.2f}s".format(*medians[key]) if key in medians else ""
                     for key in ("translate", "palettize", "drawn")]
            print("{:<22} {:>15} {:>15} {:>6.2f}x {:>15}  {}".format(
                name, shown[0], shown[1], ratio, shown[2], "PASS" if ratio <= TARGET else "MISS"), flush=True)
            print("    " + reading, flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(package_dir, ignore_errors=True)
        plugin.unload()
    print("Target: palettize <= {}x translate in wall clock (ratios pair runs of the same round); each "
          "time is wall then CPU.".format(TARGET))
    return 1 if missed else 0  # make bench names the benchmarks that missed a target


if __name__ == "__main__":
    sys.exit(main())
