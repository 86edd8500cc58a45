#!/usr/bin/python3
"""Demo: quantize the sample geological map with qgis_process, to the Windows 256-colour palette
(which merges some of the map's units, and says so) and to the map's own legend (which keeps them).

Writes into demo-output/ at the repository root:
  sample_map_win256.tif          the indexed raster made by palettize:quantize with PALETTE=win256
  sample_map_legend.csv          the map's legend, as a palette file
  sample_map_legend.tif          the indexed raster made with PALETTE_FILE=sample_map_legend.csv
  sample_map_side_by_side.png    the original map beside both results (drawn with their colour tables)

Run from anywhere: /usr/bin/python3 scripts/demo.py   (or `make demo`)
"""

import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SAMPLE = os.path.join(ROOT, "resources", "sample_map.tif")
OUT_DIR = os.path.join(ROOT, "demo-output")
QUANTIZED = os.path.join(OUT_DIR, "sample_map_win256.tif")
LEGEND = os.path.join(OUT_DIR, "sample_map_legend.csv")
QUANTIZED_LEGEND = os.path.join(OUT_DIR, "sample_map_legend.tif")
FIGURE = os.path.join(OUT_DIR, "sample_map_side_by_side.png")


def ensure_sample():
    """The shipped sample map; re-rendered with scripts/render_map.py if it is missing."""
    if not os.path.exists(SAMPLE):
        print("{} is missing: rendering it with scripts/render_map.py".format(SAMPLE))
        subprocess.run([sys.executable, os.path.join(HERE, "render_map.py"), SAMPLE], check=True)
    return SAMPLE


def write_legend(path):
    """The sample map's legend (scripts/render_map.py) as a CSV palette file with unit names."""
    sys.path.insert(0, HERE)
    from render_map import legend_colours

    with open(path, "w", encoding="utf-8") as f:
        f.write("red,green,blue,unit\n")
        for r, g, b, label in legend_colours():
            f.write("{},{},{},{}\n".format(r, g, b, label))
    return path


def quantize(source, output, palette):
    """Run palettize:quantize through scripts/qgis-process with ``palette`` (PALETTE=... or
    PALETTE_FILE=...); exit with a helpful message on failure."""
    for stale in (output, output + ".aux.xml"):
        if os.path.exists(stale):
            os.remove(stale)
    command = ["sh", os.path.join(HERE, "qgis-process"), "run", "palettize:quantize", "--",
               "INPUT=" + source, palette, "OUTPUT=" + output]
    print("Running: " + " ".join(command[1:]))
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        result = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, universal_newlines=True)
    except OSError as error:
        sys.exit("Could not start scripts/qgis-process ({}). Is /bin/sh available?".format(error))
    # Show the algorithm's own explanations and warnings (the lines between the inputs and the results).
    for line in (result.stdout + "\n" + result.stderr).splitlines():
        line = line.strip()
        if line and not line.startswith(("-", "Inputs", "Results", "INPUT", "OUTPUT", "PALETTE", "0...", "<string>")):
            print("  " + line)
    if result.returncode != 0 or not os.path.exists(output):
        sys.stderr.write(result.stdout[-3000:] + "\n" + result.stderr[-3000:] + "\n")
        sys.exit(
            "qgis_process failed (exit code {}).\n"
            "Check that QGIS is installed with qgis_process on PATH (`make deps` installs Debian's\n"
            "qgis, qgis-providers and python3-qgis), that `scripts/qgis-process list` shows the\n"
            "'palettize' provider, and run the command above by hand to see the full log."
            .format(result.returncode))
    return output


def read_rgba(path):
    """The original map as an (rows, cols, 4) uint8 array; alpha 255 when the file has none."""
    from osgeo import gdal

    ds = gdal.Open(path)
    bands = ds.ReadAsArray()
    if bands.ndim == 2:
        bands = bands[np.newaxis]
    if bands.shape[0] == 3:
        bands = np.concatenate([bands, np.full_like(bands[:1], 255)])
    return np.ascontiguousarray(bands[:4].transpose(1, 2, 0).astype(np.uint8))


def read_indexed(path):
    """The quantized raster drawn with its own colour table: (rgba array, data type, classes used)."""
    from osgeo import gdal

    ds = gdal.Open(path)
    band = ds.GetRasterBand(1)
    index = band.ReadAsArray()
    nodata = band.GetNoDataValue()
    table = band.GetColorTable()
    if table is None:
        sys.exit("{} has no colour table: cannot draw it.".format(path))
    lut = np.zeros((max(int(index.max()) + 1, table.GetCount()), 4), np.uint8)
    for i in range(table.GetCount()):
        lut[i] = table.GetColorEntry(i)[:4]
    valid = np.ones(index.shape, bool) if nodata is None else index != int(nodata)
    rgba = lut[index]
    rgba[~valid] = 0  # nodata: transparent, shows the white page
    used = np.unique(index[valid]).size
    return rgba, gdal.GetDataTypeName(band.DataType), used, nodata


def side_by_side(original, results, path):
    """``results``: (name, palette size, indexed raster path) per quantized version."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, cols = original.shape[:2]
    opaque = original[original[..., 3] > 0][:, :3]
    distinct = np.unique(opaque[:, 0].astype(np.uint32) << 16 | opaque[:, 1].astype(np.uint32) << 8
                         | opaque[:, 2]).size
    dpi = 100
    panels = [(original, "Original: sample_map.tif\nRGBA, {} distinct colours".format(distinct))]
    for name, size, raster in results:
        quantized, dtype, used, nodata = read_indexed(raster)
        panels.append((quantized, "{}: {}, nodata {}\n{} of {} palette colours used".format(
            name, dtype, "none" if nodata is None else int(nodata), used, size)))
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * cols / dpi + 0.6, rows / dpi + 0.9), dpi=dpi)
    fig.patch.set_facecolor("white")
    for axis, (image, title) in zip(axes, panels):
        axis.imshow(image, interpolation="nearest")
        axis.set_title(title, fontsize=10)
        axis.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=dpi, facecolor="white", bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return path


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    source = ensure_sample()
    print("1. The Windows 256-colour palette: look for the 'Merged classes' warnings.")
    quantize(source, QUANTIZED, "PALETTE=win256")
    print("2. The map's own legend as palette file: every unit keeps its class.")
    legend = write_legend(LEGEND)
    quantize(source, QUANTIZED_LEGEND, "PALETTE_FILE=" + legend)
    with open(legend, encoding="utf-8") as f:
        units = len(f.read().splitlines()) - 1
    side_by_side(read_rgba(source), [("Quantized to win256", 256, QUANTIZED),
                                     ("Quantized to its legend", units, QUANTIZED_LEGEND)], FIGURE)
    print("Outputs:")
    for path in (QUANTIZED, LEGEND, QUANTIZED_LEGEND, FIGURE):
        print("  " + path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
