"""Palettes built from the image itself: exact, frequent, mediancut and kmeans (QGIS-free)."""

import os
import sys
import warnings

import numpy as np
import pytest
from osgeo import gdal

from palettize.engine.colorspace import lab_to_srgb, srgb_to_lab
from palettize.engine.nearest import NearestColourMapper, brute_force_indices, pack_rgba, unpack_rgb
from palettize.engine import adaptive, blocks
from palettize.engine.adaptive import (METHODS, PaletteBuildError, build_palette, build_palette_and_nearest,
                                       colour_histogram)
from rasters import ROOT, SAMPLE_MAP

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from render_map import LEGEND  # noqa: E402

GRACE_HOPPER = "sample_data/grace_hopper.jpg"


# ----------------------------------------------------------------------------------- helpers

def read_map_pixels():
    """The opaque pixels (K x 3 uint8) of the sample map QGIS rendered with anti-aliasing."""
    rgba = gdal.Open(SAMPLE_MAP).ReadAsArray()
    opaque = rgba[3] == 255
    return np.stack([rgba[band][opaque] for band in range(3)], axis=1)


def read_photograph():
    """Grace Hopper's portrait shipped with matplotlib, every other row and column (300 x 256)."""
    import matplotlib
    import matplotlib.image

    path = os.path.join(matplotlib.get_data_path(), GRACE_HOPPER)
    return np.ascontiguousarray(matplotlib.image.imread(path)[::2, ::2, :3])


def histogram(pixels):
    pixels = np.asarray(pixels).reshape(-1, 3)
    return colour_histogram(pack_rgba(pixels[:, 0], pixels[:, 1], pixels[:, 2]))


def mapped(pixels, colours, metric="rgb"):
    """Each pixel replaced by its nearest palette colour (K x 3 uint8)."""
    pixels = np.asarray(pixels).reshape(-1, 3)
    indices = NearestColourMapper(colours, metric).map_rgb(pixels[:, 0], pixels[:, 1], pixels[:, 2])
    return np.asarray(colours)[indices]


def psnr(pixels, colours):
    pixels = np.asarray(pixels).reshape(-1, 3).astype(np.float64)
    error = ((mapped(pixels.astype(np.uint8), colours) - pixels) ** 2).mean()
    return 10.0 * np.log10(255.0 ** 2 / error)


def mean_delta_e76(pixels, colours, metric):
    pixels = np.asarray(pixels).reshape(-1, 3)
    difference = srgb_to_lab(mapped(pixels, colours, metric)) - srgb_to_lab(pixels)
    return np.sqrt((difference ** 2).sum(axis=1)).mean()


def gdal_median_cut(pixels, n_colours):
    """The palette of GDAL's ComputeMedianCutPCT (as rgb2pct.py builds it) for an image."""
    rows, cols, _ = pixels.shape
    dataset = gdal.GetDriverByName("MEM").Create("", cols, rows, 3, gdal.GDT_Byte)
    for band in range(3):
        dataset.GetRasterBand(band + 1).WriteArray(pixels[:, :, band])
    table = gdal.ColorTable()
    bands = [dataset.GetRasterBand(band + 1) for band in range(3)]
    gdal.ComputeMedianCutPCT(bands[0], bands[1], bands[2], n_colours, table)
    return np.array([table.GetColorEntry(i)[:3] for i in range(table.GetCount())], dtype=np.uint8)


def pixel_counts(pixels, colours):
    """Pixels of the image that have exactly each palette colour."""
    codes, counts = histogram(pixels)
    lookup = dict(zip(codes.tolist(), counts.tolist()))
    packed = pack_rgba(colours[:, 0], colours[:, 1], colours[:, 2]) & np.uint32(0xFFFFFF)
    return [lookup.get(code, 0) for code in packed.tolist()]


@pytest.fixture(scope="module")
def photograph():
    return read_photograph()


@pytest.fixture(scope="module")
def kmeans_palette(photograph):
    return build_palette("kmeans", *histogram(photograph), 64)


# -------------------------------------------------------------------------------------- exact

def test_exact_palette_holds_every_colour_of_a_rendered_map_so_mapping_loses_nothing():
    pixels = read_map_pixels()
    palette = build_palette("exact", *histogram(pixels), 4096)
    assert len(palette) == 1925
    assert np.array_equal(mapped(pixels, palette.colours), pixels)


def test_exact_palette_lists_the_most_frequent_colours_first_and_ties_by_code():
    pixels = np.array([[9, 0, 0]] * 2 + [[1, 0, 0]] * 2 + [[5, 5, 5]] * 3 + [[0, 0, 7]], dtype=np.uint8)
    palette = build_palette("exact", *histogram(pixels), 4)
    assert palette.colours.tolist() == [[5, 5, 5], [1, 0, 0], [9, 0, 0], [0, 0, 7]]


def test_exact_palette_of_a_map_with_too_many_colours_says_how_many_and_what_to_do():
    with pytest.raises(PaletteBuildError) as error:
        build_palette("exact", *histogram(read_map_pixels()), 256)
    message = str(error.value)
    assert "1925 distinct colours" in message and "256" in message
    assert "'frequent'" in message and "'kmeans'" in message


# ----------------------------------------------------------------------------------- frequent

def test_frequent_palette_of_a_rendered_map_starts_with_exactly_its_twelve_legend_colours():
    """Anti-aliasing mixes colours only along boundaries: the 12 unit colours are the 12 most
    frequent, each far ahead of the 13th. The 0.26 mm outlines are thinner than a pixel, so their
    (64, 64, 64) never covers a whole pixel and is not among the frequent colours at all."""
    pixels = read_map_pixels()
    palette = build_palette("frequent", *histogram(pixels), 13)
    legend = {tuple(entry[:3]) for entry in LEGEND}
    assert {tuple(colour) for colour in palette.colours[:12].tolist()} == legend
    counts = pixel_counts(pixels, palette.colours)
    assert counts == sorted(counts, reverse=True)
    assert min(counts[:12]) > 50 * counts[12]
    assert (64, 64, 64) not in {tuple(colour) for colour in build_palette(
        "frequent", *histogram(pixels), 100).colours.tolist()}


def test_frequent_palette_breaks_ties_by_code():
    codes = np.array([3, 1, 2], dtype=np.uint32)
    palette = build_palette("frequent", np.sort(codes), np.array([5, 5, 5]), 2)
    assert palette.colours.tolist() == [[1, 0, 0], [2, 0, 0]]


# ---------------------------------------------------------------------------------- mediancut

@pytest.mark.parametrize("metric", ["rgb", "cielab", "ciede2000"])
def test_mediancut_palette_has_n_distinct_colours_listed_by_frequency(photograph, metric):
    palette = build_palette("mediancut", *histogram(photograph), 64, metric=metric)
    assert len(palette) == 64
    assert len(np.unique(pack_rgba(*palette.colours.T))) == 64


def test_mediancut_palette_beats_gdal_median_cut_by_over_3_db_on_a_photograph(photograph):
    for n_colours in (16, 256):
        ours = psnr(photograph, build_palette("mediancut", *histogram(photograph), n_colours).colours)
        assert ours > psnr(photograph, gdal_median_cut(photograph, n_colours)) + 3.0


@pytest.mark.parametrize("method", ["mediancut", "kmeans"])
def test_an_image_with_no_more_colours_than_asked_gets_exactly_its_own_colours(method):
    pixels = read_map_pixels()
    codes, counts = histogram(pixels)
    assert build_palette(method, codes, counts, 1925) == build_palette("exact", codes, counts, 1925)


# ------------------------------------------------------------------------------------- kmeans

def test_kmeans_palette_is_the_same_every_time(photograph, kmeans_palette):
    assert build_palette("kmeans", *histogram(photograph), 64) == kmeans_palette


def test_kmeans_palette_has_n_distinct_colours_most_used_first(photograph, kmeans_palette):
    colours = kmeans_palette.colours
    assert len(np.unique(pack_rgba(*colours.T))) == len(colours) == 64
    indices = NearestColourMapper(colours, "rgb").map_rgb(*np.moveaxis(photograph, 2, 0))
    used = np.bincount(indices.ravel(), minlength=64)
    assert used.tolist() == sorted(used.tolist(), reverse=True)


def test_kmeans_palette_beats_gdal_median_cut_and_its_own_median_cut_start_on_a_photograph(
        photograph, kmeans_palette):
    ours = psnr(photograph, kmeans_palette.colours)
    assert ours > psnr(photograph, gdal_median_cut(photograph, 64)) + 5.0
    assert ours > psnr(photograph, build_palette("mediancut", *histogram(photograph), 64).colours) + 0.5


def test_kmeans_palette_for_cielab_gives_smaller_colour_differences_than_one_for_rgb(photograph):
    codes, counts = histogram(photograph)
    for_rgb = build_palette("kmeans", codes, counts, 32, metric="rgb").colours
    for_lab = build_palette("kmeans", codes, counts, 32, metric="cielab").colours
    assert mean_delta_e76(photograph, for_lab, "cielab") < mean_delta_e76(photograph, for_rgb, "cielab")
    assert build_palette("kmeans", codes, counts, 32, metric="ciede2000").colours.tolist() == for_lab.tolist()


#: PSNR (dB) of the scikit-learn k-means palette (40 Lloyd iterations on every distinct colour) that
#: kmeans was before it became numpy and SciPy only, on the 300 x 256 photograph.
PSNR_BEFORE = {16: 28.1482, 64: 33.6785, 256: 38.1903}


@pytest.mark.parametrize("n_colours", sorted(PSNR_BEFORE))
def test_kmeans_palette_is_as_good_as_the_scikit_learn_one_it_replaced(photograph, n_colours):
    palette = build_palette("kmeans", *histogram(photograph), n_colours)
    assert len(palette) == n_colours
    assert psnr(photograph, palette.colours) > PSNR_BEFORE[n_colours] - 0.01


def test_kmeans_palette_of_symmetric_clusters_lists_equal_counts_by_code():
    pixels = np.array([[0, 0, 0]] * 10 + [[2, 0, 0]] * 10 + [[100, 0, 0]] * 10 + [[102, 0, 0]] * 10, dtype=np.uint8)
    palette = build_palette("kmeans", *histogram(pixels), 2)
    assert palette.colours.tolist() == [[1, 0, 0], [101, 0, 0]]


def test_a_colour_halfway_between_two_kmeans_entries_counts_for_the_first_as_the_mapper_maps_it():
    """(50, 0, 0) is as far from (0, 0, 0) as from (100, 0, 0): it counts for the entry listed
    first, so the palette's order holds for the counts of the mapper."""
    pixels = np.array([[0, 0, 0]] * 1000 + [[100, 0, 0]] * 1000 + [[50, 0, 0]], dtype=np.uint8)
    colours = build_palette("kmeans", *histogram(pixels), 2).colours
    assert sorted(colours.tolist()) == [[0, 0, 0], [100, 0, 0]]
    indices = NearestColourMapper(colours, "rgb").map_rgb(*pixels.T)
    assert np.bincount(indices).tolist() == [1001, 1000]


@pytest.mark.parametrize("metric", ["rgb", "cielab"])
def test_kmeans_hands_on_the_exact_nearest_entry_of_every_colour_so_the_mapper_need_not_search(photograph, metric):
    codes, counts = histogram(photograph)
    palette, (nearest_codes, entries) = build_palette_and_nearest("kmeans", codes, counts, 64, metric)
    assert palette == build_palette("kmeans", codes, counts, 64, metric)
    assert nearest_codes.tolist() == codes.tolist()
    assert entries.tolist() == brute_force_indices(unpack_rgb(codes), palette.colours, metric).tolist()


@pytest.mark.parametrize("n_colours", [1, 2, 7])
def test_kmeans_palettes_of_very_few_colours_hand_on_exact_entries_without_warnings(photograph, n_colours):
    """A palette of one entry has no second-nearest entry: the distance to it is infinite."""
    codes, counts = histogram(photograph)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        palette, (_, entries) = build_palette_and_nearest("kmeans", codes, counts, n_colours)
    assert len(palette) == n_colours
    assert entries.tolist() == brute_force_indices(unpack_rgb(codes), palette.colours, "rgb").tolist()


def test_colours_tied_between_kmeans_entries_are_handed_on_with_the_lowest_index():
    """Clusters on the corners of a cube, and one pixel each on its centre, the middles of its
    faces and of its edges: as far from 8, 4 or 2 entries. Each goes to the lowest index, as the
    mapper settles ties."""
    grid = np.stack(np.meshgrid(*[[0, 50, 100]] * 3), axis=-1).reshape(-1, 3).astype(np.uint8)
    corners = (grid != 50).all(axis=1)
    pixels = np.concatenate([np.repeat(grid[corners], 1000 + np.arange(8), axis=0), grid[~corners]])
    codes, counts = histogram(pixels)
    palette, (_, entries) = build_palette_and_nearest("kmeans", codes, counts, 8)
    assert sorted(palette.colours.tolist()) == sorted(grid[corners].tolist())
    assert entries.tolist() == brute_force_indices(unpack_rgb(codes), palette.colours, "rgb").tolist()


@pytest.mark.parametrize("method, metric", [("kmeans", "ciede2000"), ("mediancut", "rgb"), ("frequent", "rgb")])
def test_palettes_that_find_no_nearest_entries_on_the_way_hand_on_none(photograph, method, metric):
    assert build_palette_and_nearest(method, *histogram(photograph), 16, metric)[1] is None


def test_kmeans_merges_many_distinct_colours_into_cells_and_keeps_its_quality(
        photograph, kmeans_palette, monkeypatch):
    codes, counts = histogram(photograph)
    monkeypatch.setattr(adaptive, "KMEANS_COARSE_POINTS", len(codes) // 8)
    monkeypatch.setattr(adaptive, "KMEANS_FINE_POINTS", len(codes) // 2)
    merged = build_palette("kmeans", codes, counts, 64)
    assert len(merged) == 64 and merged == build_palette("kmeans", codes, counts, 64)
    assert psnr(photograph, merged.colours) > psnr(photograph, kmeans_palette.colours) - 0.1


def test_cells_keep_dark_colours_apart_where_a_photograph_has_most_of_its_pixels():
    """A deep-field-like image: most pixels are dark and close together, a few are bright and
    spread out. The cells merge the sparse bright colours, not the dense dark ones."""
    rng = np.random.default_rng(0)
    dark = rng.integers(0, 24, (20000, 3))
    bright = rng.integers(24, 256, (2000, 3))
    rgb = np.concatenate([dark, bright]).astype(np.uint8)
    codes, counts = histogram(rgb)
    rgb = adaptive.unpack_rgb(codes)
    points, weights, _ = adaptive._merge_cells(rgb, rgb.astype(np.float64), counts.astype(np.float64), 2000)
    assert len(points) <= 2000 and weights.sum() == counts.sum()
    dark_cells = (points < 24).all(axis=1).sum()
    assert dark_cells > 4 * (len(points) - dark_cells)


@pytest.mark.parametrize("method", ["mediancut", "kmeans"])
def test_histograms_beyond_the_point_limit_are_merged_into_cells_with_little_loss(photograph, method, monkeypatch):
    codes, counts = histogram(photograph)
    full = psnr(photograph, build_palette(method, codes, counts, 64).colours)
    monkeypatch.setattr(adaptive, "MAX_POINTS", len(codes) // 4)
    monkeypatch.setattr(adaptive, "KMEANS_FINE_POINTS", len(codes) // 4)
    monkeypatch.setattr(adaptive, "KMEANS_COARSE_POINTS", len(codes) // 8)
    merged = build_palette(method, codes, counts, 64)
    assert len(merged) == 64
    assert psnr(photograph, merged.colours) > full - 0.2


def test_kmeans_needs_neither_scikit_learn_nor_randomness(photograph, kmeans_palette, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.cluster", None)
    codes, counts = histogram(photograph)
    assert build_palette("kmeans", codes, counts, 64, seed=12345) == kmeans_palette


def test_kmeans_without_scipy_says_how_to_install_it_and_mediancut_still_works(photograph, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.spatial", None)
    codes, counts = histogram(photograph)
    with pytest.raises(ImportError) as error:
        build_palette("kmeans", codes, counts, 16)
    assert isinstance(error.value, PaletteBuildError)
    assert "apt install python3-scipy" in str(error.value) and "pip install scipy" in str(error.value)
    assert len(build_palette("mediancut", codes, counts, 16)) == 16


# --------------------------------------------------------------------------------- the inputs

def test_colour_histogram_counts_each_colour_and_ignores_alpha():
    codes = pack_rgba(np.array([1, 1, 2, 1]), np.array([0, 0, 0, 0]), np.array([0, 0, 0, 0]),
                      np.array([255, 0, 255, 255]))
    distinct, counts = colour_histogram(codes)
    assert distinct.tolist() == [1, 2] and counts.tolist() == [3, 1]
    assert distinct.dtype == np.uint32 and counts.dtype == np.int64


class ArraySource:
    """Blocks of packed RGBA codes from an array, as engine.blocks reads a raster."""

    def __init__(self, codes):
        self.codes = codes

    def read(self, window):
        xoff, yoff, cols, rows = window
        return self.codes[yoff:yoff + rows, xoff:xoff + cols]


@pytest.mark.parametrize("sorted_pixels, table_pixels", [(1 << 21, 1 << 23), (0, 1 << 23), (0, 5000)])
def test_a_layer_histogram_counts_valid_pixels_the_same_by_sorting_or_by_table(
        photograph, monkeypatch, sorted_pixels, table_pixels):
    """Small images are counted by sorting, large ones in a table filled a part at a time."""
    monkeypatch.setattr(blocks, "SORTED_HISTOGRAM_PIXELS", sorted_pixels)
    monkeypatch.setattr(blocks, "TABLE_HISTOGRAM_PIXELS", table_pixels)
    rows, cols, _ = photograph.shape
    alpha = np.where(np.arange(rows * cols).reshape(rows, cols) % 7 == 0, 0, 255)
    codes = pack_rgba(*np.moveaxis(photograph, 2, 0), alpha)
    windows = [(x, y, min(100, cols - x), min(64, rows - y)) for y in range(0, rows, 64) for x in range(0, cols, 100)]
    distinct, counts = blocks.colour_histogram(ArraySource(codes), windows, alpha_threshold=128)
    expected = colour_histogram(codes[alpha == 255])
    assert distinct.tolist() == expected[0].tolist() and counts.tolist() == expected[1].tolist()
    assert distinct.dtype == np.uint32 and counts.dtype == np.int64
    none = blocks.colour_histogram(ArraySource(np.zeros((2, 2), np.uint32)), [(0, 0, 2, 2)], alpha_threshold=1)
    assert none[0].size == 0 and none[1].size == 0


def test_codes_with_an_alpha_byte_are_taken_as_their_rgb_colour():
    codes = np.array([0xFF000001, 0x00000001, 0xFF000002], dtype=np.uint32)
    palette = build_palette("exact", codes, np.array([1, 1, 1]), 2)
    assert palette.colours.tolist() == [[1, 0, 0], [2, 0, 0]]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("arguments, message", [
    (dict(n_colours=0), "1 to 65535"),
    (dict(metric="cie94"), "unknown metric"),
    (dict(codes=np.array([], dtype=np.uint32), counts=np.array([], dtype=np.int64)), "no pixels"),
    (dict(counts=np.array([1, 2])), "one count per colour"),
])
def test_bad_arguments_are_refused_with_the_reason(method, arguments, message):
    call = dict(codes=np.array([1, 2, 3], dtype=np.uint32), counts=np.array([1, 2, 3]), n_colours=2)
    call.update(arguments)
    with pytest.raises(PaletteBuildError, match=message):
        build_palette(method, **call)


def test_an_unknown_method_is_refused_with_the_choices():
    with pytest.raises(PaletteBuildError, match="exact, frequent, kmeans, mediancut"):
        build_palette("octree", np.array([1], dtype=np.uint32), np.array([1]), 1)


def test_lab_to_srgb_inverts_srgb_to_lab():
    values = np.arange(0, 256, 3)
    rgb = np.stack(np.meshgrid(values, values, values, indexing="ij"), axis=-1).reshape(-1, 3)
    assert np.abs(lab_to_srgb(srgb_to_lab(rgb)) - rgb).max() < 1e-6


@pytest.mark.parametrize("method", ["kmeans", "mediancut"])
def test_a_cancel_while_a_photographs_millions_of_colours_are_merged_stops_there(method, monkeypatch):
    """Merging a photograph's millions of colours into cells before the palette is built took 2 to
    5 s (11.7 million colours, CIELAB) without a check for a cancel, which waited for median cut to
    begin; the run's check is called between the merging's steps."""
    steps = []
    monkeypatch.setattr(adaptive, "_median_cut_boxes", lambda *args, **kwargs: steps.append("median cut") or [])

    class Cancelled(Exception):
        pass

    def check():
        raise Cancelled()

    codes = np.unique(np.random.default_rng(0).integers(0, 1 << 24, 3 * 10 ** 6).astype(np.uint32))
    assert len(codes) > adaptive.MAX_POINTS  # merged into cells first
    with pytest.raises(Cancelled):
        build_palette_and_nearest(method, codes, np.ones(len(codes), dtype=np.int64), 256, "cielab", check)
    assert steps == []
