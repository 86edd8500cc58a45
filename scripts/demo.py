#!/usr/bin/python3
"""Demo: quantize the sample geological map to the Windows 256-colour palette with qgis_process.

Writes into demo-output/ at the repository root:
  sample_map_win256.tif          the indexed raster made by palettize:quantize
  sample_map_side_by_side.png    the original map beside the quantized one (drawn with its colour table)

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
FIGURE = os.path.join(OUT_DIR, "sample_map_side_by_side.png")
PALETTE = "win256"


def ensure_sample():
    """The shipped sample map; re-rendered with scripts/render_map.py if it is missing."""
    if not os.path.exists(SAMPLE):
        print("{} is missing: rendering it with scripts/render_map.py".format(SAMPLE))
        subprocess.run([sys.executable, os.path.join(HERE, "render_map.py"), SAMPLE], check=True)
    return SAMPLE


def quantize(source, output):
    """Run palettize:quantize through scripts/qgis-process; exit with a helpful message on failure."""
    for stale in (output, output + ".aux.xml"):
        if os.path.exists(stale):
            os.remove(stale)
    command = ["sh", os.path.join(HERE, "qgis-process"), "run", "palettize:quantize", "--",
               "INPUT=" + source, "PALETTE=" + PALETTE, "OUTPUT=" + output]
    print("Running: " + " ".join(command[1:]))
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        result = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, universal_newlines=True)
    except OSError as error:
        sys.exit("Could not start scripts/qgis-process ({}). Is /bin/sh available?".format(error))
    # Show the algorithm's own explanations (the lines between the inputs and the results).
    for line in result.stdout.splitlines():
        line = line.strip()
        if line and not line.startswith(("-", "Inputs", "Results", "INPUT", "OUTPUT", "PALETTE", "0...")):
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


def side_by_side(original, quantized, info, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dtype, used, nodata = info
    rows, cols = original.shape[:2]
    opaque = original[original[..., 3] > 0][:, :3]
    distinct = np.unique(opaque[:, 0].astype(np.uint32) << 16 | opaque[:, 1].astype(np.uint32) << 8
                         | opaque[:, 2]).size
    dpi = 100
    fig, axes = plt.subplots(1, 2, figsize=(2 * cols / dpi + 0.6, rows / dpi + 0.9), dpi=dpi)
    fig.patch.set_facecolor("white")
    panels = [
        (original, "Original: sample_map.tif\nRGBA, {} distinct colours".format(distinct)),
        (quantized, "Quantized to {}: {}, nodata {}\n{} of 256 palette colours used".format(
            PALETTE, dtype, "none" if nodata is None else int(nodata), used)),
    ]
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
    quantize(source, QUANTIZED)
    quantized, dtype, used, nodata = read_indexed(QUANTIZED)
    side_by_side(read_rgba(source), quantized, (dtype, used, nodata), FIGURE)
    print("Outputs:")
    print("  " + QUANTIZED)
    print("  " + FIGURE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
