"""Anti-aliased edges go back into their classes, photographs are dithered, and neither depends on
how the raster is cut into blocks."""

import os
import sys

import numpy as np
import pytest
from osgeo import gdal

from palettize.engine import gdal_io
from palettize.palettes.formats import write_palette
from palettize.palettes.palette import Palette
from rasters import ROOT, quantize, read_indices, write_raster

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from render_map import legend_colours, render_geology_map  # noqa: E402


@pytest.fixture(scope="module")
def rendered(qgis_app, tmp_path_factory):
    """A map rendered with and without anti-aliasing, and its legend as a palette file."""
    folder = tmp_path_factory.mktemp("maps")
    paths = {}
    for name, antialiasing in (("smooth", True), ("truth", False)):
        paths[name] = str(folder / (name + ".tif"))
        render_geology_map(paths[name], 300, 200, outlines=False, antialiasing=antialiasing, seed=5)
    legend = legend_colours()
    paths["legend"] = str(folder / "legend.csv")
    write_palette(Palette([c[:3] for c in legend], [c[3] for c in legend]), paths["legend"])
    return paths


def classes(path, legend, tmp_path, name, **params):
    out = quantize(dict({"INPUT": path, "PALETTE_FILE": legend, "OUTPUT": str(tmp_path / (name + ".tif"))}, **params))
    return read_indices(out["OUTPUT"])


def test_seams_cleanup_beats_plain_nearest_colour_against_the_unaliased_render(rendered, tmp_path):
    truth = classes(rendered["truth"], rendered["legend"], tmp_path, "truth")
    valid = truth != 255
    plain = classes(rendered["smooth"], rendered["legend"], tmp_path, "plain")
    cleaned = classes(rendered["smooth"], rendered["legend"], tmp_path, "seams", CLEANUP="seams")
    plain_errors = int(((plain != truth) & valid).sum())
    cleaned_errors = int(((cleaned != truth) & valid).sum())
    assert plain_errors > 0
    assert cleaned_errors < plain_errors / 2


@pytest.mark.parametrize("params", [{"CLEANUP": "seams"}, {"CLEANUP": "sieve", "MIN_REGION": 30},
                                    {"CLEANUP": "sieve", "MIN_REGION": 12, "CONNECTEDNESS": 8}])
def test_cleanup_only_uses_classes_found_around_each_pixel_and_keeps_nodata(rendered, tmp_path, params):
    plain = classes(rendered["smooth"], rendered["legend"], tmp_path, "plain")
    cleaned = classes(rendered["smooth"], rendered["legend"], tmp_path, "cleaned", **params)
    assert np.array_equal(cleaned == 255, plain == 255)
    rows, cols = np.nonzero(cleaned != plain)
    radius = 2 if params["CLEANUP"] == "seams" else params["MIN_REGION"]
    for r, c in zip(rows, cols):
        around = plain[max(0, r - radius):r + radius + 1, max(0, c - radius):c + radius + 1]
        assert cleaned[r, c] in around


@pytest.mark.parametrize("params", [{"CLEANUP": "seams"}, {"CLEANUP": "sieve", "MIN_REGION": 30},
                                    {"DITHER": "floyd-steinberg", "METRIC": "cielab"}])
def test_small_blocks_give_identical_output(rendered, tmp_path, monkeypatch, params):
    whole = classes(rendered["smooth"], rendered["legend"], tmp_path, "whole", **params)
    monkeypatch.setattr(gdal_io, "BLOCK_PIXELS", 300 * 7)  # 7-row blocks
    monkeypatch.setattr(gdal_io, "MAX_STRIP_WIDTH", 128)  # and 128-column ones where allowed
    blocks = classes(rendered["smooth"], rendered["legend"], tmp_path, "blocks", **params)
    assert np.array_equal(whole, blocks)


def gradient_with_a_hole(tmp_path):
    ramp = np.tile(np.linspace(0, 255, 256), (32, 1))
    image = np.stack([ramp, ramp * 0.6, 255 - ramp, np.full_like(ramp, 255)]).astype(np.uint8)
    image[3, 10:20, 100:140] = 0  # transparent hole
    return image, write_raster(str(tmp_path / "gradient.tif"), image, alpha=True)


def box_blur(values, size=4):
    kernel = np.ones(size) / size
    values = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 1, values)
    return np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 0, values)


def test_dithering_lowers_the_colour_error_of_smoothed_regions_and_keeps_nodata(qgis_app, tmp_path):
    image, path = gradient_with_a_hole(tmp_path)
    errors = {}
    for dither in ("none", "floyd-steinberg"):
        out = quantize({"INPUT": path, "PALETTE": "vga16", "DITHER": dither,
                        "OUTPUT": str(tmp_path / (dither + ".tif"))})["OUTPUT"]
        dataset = gdal.Open(out)
        indices = dataset.GetRasterBand(1).ReadAsArray()
        table = dataset.GetRasterBand(1).GetColorTable()
        assert np.array_equal(indices == 255, image[3] == 0)
        colours = np.array([table.GetColorEntry(i)[:3] for i in range(16)], dtype=float)
        drawn = colours[np.where(indices == 255, 0, indices)]
        region = (slice(12, 32), slice(0, 256))  # below the hole
        errors[dither] = np.mean([np.abs(box_blur(drawn[region][..., c]) - box_blur(image[c][region].astype(float)))
                                  for c in range(3)])
    assert errors["floyd-steinberg"] < errors["none"] / 2
