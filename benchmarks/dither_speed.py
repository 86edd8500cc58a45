"""Speed of Floyd-Steinberg dithering (algorithms/dither.py) on photo-like, gradient and map images.

Run as ``/usr/bin/python3 benchmarks/dither_speed.py`` (``--quick`` for a smoke run, ``--size N``
for N x N inputs). Inputs, all N x N RGBA:
  photo     matplotlib's sample grace_hopper.jpg, upscaled bilinearly
  gradient  a two-colour diagonal ramp
  map       a crop of benchmarks/data/map-3000.tif (the rendered map of make bench), if present
and, for the per-pixel cost on a 100-megapixel raster (10000 x 10000), one strip of 10000-pixel rows
of the photo and of map-10000.tif; and a column of the photo 2 pixels wide (a tall, narrow raster:
the cost of a row). The image is dithered in blocks of 256 rows, as the engine
does. Printed per run: megapixels per second (wall clock and CPU), the seconds that makes per
100 megapixels, the share of the time spent searching the palette for colours not met before, and how
often the vectorised scan's guesses missed (chunks, and pixels rescanned in plain Python). "map
only" is NearestColourMapper.map_codes on the same pixels without dithering, for scale.
"""

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data")
BLOCK_ROWS = 256


def import_palettize():
    """This checkout as the package ``palettize`` (the name it has when installed)."""
    import tempfile

    folder = tempfile.mkdtemp(prefix="palettize-dither-bench-")
    os.symlink(ROOT, os.path.join(folder, "palettize"))
    sys.path.insert(0, folder)


def resample(image, rows, cols):
    """Bilinear resampling of a rows x cols x 3 float image."""
    ys = np.linspace(0, image.shape[0] - 1, rows)
    xs = np.linspace(0, image.shape[1] - 1, cols)
    y0 = np.minimum(ys.astype(int), image.shape[0] - 2)
    x0 = np.minimum(xs.astype(int), image.shape[1] - 2)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = image[y0][:, x0] * (1 - wx) + image[y0][:, x0 + 1] * wx
    bottom = image[y0 + 1][:, x0] * (1 - wx) + image[y0 + 1][:, x0 + 1] * wx
    return top * (1 - wy) + bottom * wy


def photo(rows, cols):
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        import matplotlib.image

        image = matplotlib.image.imread(f, format="jpg")[:, :, :3].astype(np.float64)
    return resample(image, rows, cols).round().astype(np.uint8)


def gradient(rows, cols):
    y, x = np.mgrid[0:rows, 0:cols]
    t = (x + y) / float(rows + cols - 2)
    return np.stack([255 * t, 40 + 150 * (1 - t), 200 - 120 * t], axis=-1).round().astype(np.uint8)


def read_map(path, rows, cols, row_offset=0):
    if not os.path.exists(path):
        return None
    from osgeo import gdal

    dataset = gdal.Open(path)
    if dataset.RasterXSize < cols or dataset.RasterYSize < row_offset + rows:
        return None
    bands = dataset.ReadAsArray(0, row_offset, cols, rows)
    return np.ascontiguousarray(bands.transpose(1, 2, 0))


def inputs(size, quick):
    """(name, rows x cols x 3 or 4 uint8) pairs."""
    found = [("photo", photo(size, size)), ("gradient", gradient(size, size))]
    crop = read_map(os.path.join(DATA, "map-3000.tif"), size, size, row_offset=500)
    if crop is not None:
        found.append(("map", crop))
    strip_rows = 16 if quick else 128
    found.append(("photo 10000-wide strip", photo(strip_rows * 40, 10000)[:strip_rows]))
    wide = read_map(os.path.join(DATA, "map-10000.tif"), strip_rows, 10000, row_offset=4000)
    if wide is not None:
        found.append(("map-10000 strip", wide))
    narrow_rows = 2000 if quick else 20000  # rows of 2 pixels: a scan's cost per row, not per pixel
    found.append(("photo 2-wide column", np.ascontiguousarray(photo(narrow_rows, 200)[:, :2])))
    return found


def run(image, palette, metric, dither_class, mapper_class, pack_rgba, complete=False):
    rows, cols = image.shape[:2]
    rgba = pack_rgba(image[..., 0], image[..., 1], image[..., 2], image[..., 3] if image.shape[2] == 4 else None)
    valid = rgba >= np.uint32(128 << 24)

    mapper = mapper_class(palette.colours, metric)
    ditherer = dither_class(mapper, metric, cols)
    filling = time.perf_counter()
    if complete:
        mapper.fill_table()
    filling = time.perf_counter() - filling
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, rows, BLOCK_ROWS):
        ditherer.dither(rgba[start:start + BLOCK_ROWS], valid[start:start + BLOCK_ROWS])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    plain = mapper_class(palette.colours, metric)
    plain_wall = time.perf_counter()
    for start in range(0, rows, BLOCK_ROWS):
        plain.map_codes(rgba[start:start + BLOCK_ROWS])
    plain_wall = time.perf_counter() - plain_wall
    chunks = rows * -(-cols // ditherer.chunk)
    return {
        "mpx": rows * cols / 1e6, "wall": wall, "cpu": cpu, "search": mapper.search_seconds, "plain": plain_wall,
        "misses": ditherer.misses / chunks, "fallback": ditherer.fallback_pixels / (rows * cols), "fill": filling,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=2000, help="side of the square inputs (default 2000)")
    parser.add_argument("--quick", action="store_true", help="small inputs, one palette: a smoke run")
    parser.add_argument("--metrics", default="rgb,cielab,ciede2000")
    parser.add_argument("--palettes", default="win256,vga16")
    args = parser.parse_args()
    if args.quick:
        args.size, args.palettes = 300, args.palettes.split(",")[0]

    import_palettize()
    from palettize.engine.dither import FloydSteinbergDither
    from palettize.engine.metrics import REGISTRY
    from palettize.engine.nearest import NearestColourMapper, pack_rgba
    from palettize.palettes.palette import builtin_palette

    print("Floyd-Steinberg dithering (palettize.engine.dither), blocks of {} rows, numpy {}".format(
        BLOCK_ROWS, np.__version__))
    header = "{:<36} {:<7} {:<10} {:>7} {:>8} {:>8} {:>10} {:>8} {:>7} {:>9} {:>9}".format(
        "input", "palette", "metric", "Mpx", "Mpx/s", "CPU Mpx/s", "s/100 Mpx", "search", "misses",
        "fallback", "map only")
    print(header)
    print("-" * len(header))
    results = []
    for name, image in inputs(args.size, args.quick):
        for palette_name in args.palettes.split(","):
            palette = builtin_palette(palette_name)
            for metric in args.metrics.split(","):
                runs = [(name, False)]
                if "10000" in name and metric != "ciede2000":
                    runs.append((name + ", full table", True))
                for label, complete in runs:
                    r = run(image, palette, metric, FloydSteinbergDither, NearestColourMapper, pack_rgba, complete)
                    results.append((label, palette_name, metric, r))
                    print("{:<36} {:<7} {:<10} {:>7.2f} {:>8.2f} {:>9.2f} {:>10.0f} {:>7.0%} {:>7.1%} {:>9.1%} {:>7.1f}x".format(
                        label, palette_name, metric, r["mpx"], r["mpx"] / r["wall"], r["mpx"] / r["cpu"],
                        100 * r["wall"] / r["mpx"], r["search"] / r["wall"], r["misses"], r["fallback"],
                        r["wall"] / max(r["plain"], 1e-9)), flush=True)
    print()
    print("s/100 Mpx: wall-clock seconds per 100 megapixels at this row width (a 100-megapixel raster is about "
          "10000 pixels wide: see the 10000-wide strips); search: share of the time searching the palette for "
          "colours not met before; misses: chunks whose guessed entering state was wrong; fallback: pixels "
          "rescanned in plain Python; map only: dithering time / plain mapping time. \"full table\": the table of "
          "nearest entries filled beforehand, as happens on a large raster once searching colours one batch at a "
          "time has taken a few seconds ({}).".format(", ".join(
              "{} after {:g} s".format(name, metric.fill_after) for name, metric in REGISTRY.items()
              if metric.fill_after is not None)))
    for label, palette_name, metric, r in results:
        if label.endswith("full table"):
            budget = r["fill"] + REGISTRY[metric].fill_after
            print("100 Mpx, 10000-pixel rows, {} {} {}: about {:.0f} s ({:.0f} s dithering with the full table, "
                  "at most {:.0f} s searching and filling it)".format(
                      label.split(",")[0], palette_name, metric, budget + 100 * r["wall"] / r["mpx"],
                      100 * r["wall"] / r["mpx"], budget))


if __name__ == "__main__":
    main()
