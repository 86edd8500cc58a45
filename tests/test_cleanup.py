"""Edge cleanup (CLEANUP=seams / sieve) on index windows: never a new class, nodata untouched, better
than none on rendered maps, and the same result whatever the block boundaries (QGIS only renders)."""

import os
import sys

import numpy as np
import pytest
from osgeo import gdal

from palettize.engine import cleanup
from palettize.engine.blocks import centre, expand_window
from palettize.engine.nearest import NearestColourMapper, pack_rgba
from rasters import ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from render_map import legend_colours, render_geology_map, render_world_map  # noqa: E402

LEGEND = np.array([colour[:3] for colour in legend_colours()], dtype=np.uint8)
ALPHA_THRESHOLD = 128


# ----------------------------------------------------------------------------------- helpers

def quantized(path, palette=LEGEND, metric="rgb"):
    """(indices, rgba, valid) of an RGBA GeoTIFF mapped exactly to ``palette``."""
    bands = gdal.Open(str(path)).ReadAsArray()
    rgba = pack_rgba(*bands)
    indices = NearestColourMapper(palette, metric).map_codes(rgba).astype(np.uint8)
    valid = bands[3] >= ALPHA_THRESHOLD
    indices[~valid] = 255
    return indices, rgba, valid


def in_blocks(clean, arrays, margin, block_rows, block_cols):
    """What the engine does: each block's window grown by ``margin`` on every side (clipped at the
    raster's edges, engine.expand_window) goes through ``clean``, and the block is cropped out."""
    rows, cols = arrays[0].shape
    out = np.empty_like(arrays[0])
    for y0 in range(0, rows, block_rows):
        for x0 in range(0, cols, block_cols):
            block = (x0, y0, min(block_cols, cols - x0), min(block_rows, rows - y0))
            x, y, w, h = read = expand_window(block, margin, (cols, rows))
            cleaned = clean(*(a[y:y + h, x:x + w] for a in arrays))
            out[y0:y0 + block[3], x0:x0 + block[2]] = centre(cleaned, read, block)
    return out


def found_within(indices, valid, cleaned, radius):
    """For every pixel that ``cleaned`` changed, whether its new class is the class of a valid pixel
    of ``indices`` within ``radius`` (a square); one boolean per changed pixel."""
    rows, cols = indices.shape
    ys, xs = np.nonzero(cleaned != indices)
    found = np.zeros(len(ys), dtype=bool)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            ny, nx = ys + dy, xs + dx
            ok = (ny >= 0) & (ny < rows) & (nx >= 0) & (nx < cols)
            ok[ok] = valid[ny[ok], nx[ok]]
            found[ok] |= indices[ny[ok], nx[ok]] == cleaned[ys[ok], xs[ok]]
    return found


def composite(first, first_cover, second, second_cover):
    """One pixel as a renderer draws two anti-aliased polygons on a transparent background: premultiplied
    over-compositing, then straight (unpremultiplied) 8-bit RGBA packed as nearest.pack_rgba."""
    first, second = np.asarray(first, float), np.asarray(second, float)
    premultiplied = second_cover * second + (1 - second_cover) * first_cover * first
    alpha = second_cover + (1 - second_cover) * first_cover
    rgb = np.clip(np.round(premultiplied / alpha), 0, 255).astype(np.uint8)
    return pack_rgba(rgb[0:1], rgb[1:2], rgb[2:3], np.array([round(alpha * 255)], dtype=np.uint8))[0]


def qt_composite(first, first_cover, second, second_cover, background=None):
    """composite() as Qt's raster engine computes it when QGIS renders a map into a QImage: 8-bit
    premultiplied ARGB, source-over with 8-bit coverage, each step rounded, then un-premultiplied;
    onto transparency or onto an opaque ``background`` colour."""
    def byte_mul(x, a):
        t = x * a + 128
        return (t + (t >> 8)) >> 8

    pixel = [0, 0, 0, 0] if background is None else [int(v) for v in background] + [255]
    for colour, cover in ((first, first_cover), (second, second_cover)):
        alpha = int(round(cover * 255))
        over = [byte_mul(int(v), alpha) for v in colour] + [alpha]
        pixel = [s + byte_mul(d, 255 - alpha) for s, d in zip(over, pixel)]
    alpha = pixel[3]
    rgb = [min(255, (v * 255 + alpha // 2) // alpha) for v in pixel[:3]]
    return pack_rgba(*[np.array([v], np.uint8) for v in rgb + [alpha]])[0]


def strip(colours, rows=5):
    """A (rows, len(colours)) packed RGBA image whose columns hold the given packed colours."""
    return np.tile(np.array(colours, dtype=np.uint32), (rows, 1))


def codes(palette):
    """The packed RGBA code of each palette colour, opaque."""
    return [pack_rgba(*[np.array([v], np.uint8) for v in colour])[0] for colour in palette]


def edge_rows(palette, covers_a, a_first, background=None):
    """One row per coverage f: three pixels of class 0, the seam pixel Qt draws where class 0 covers
    f of it (drawn first or second, onto transparency or an opaque ``background``), three of class 1."""
    a, b = palette[0], palette[1]
    code = codes(palette)
    seams = [qt_composite(a, f, b, 1 - f, background) if a_first else qt_composite(b, 1 - f, a, f, background)
             for f in covers_a]
    return np.array([[code[0]] * 3 + [seam] + [code[1]] * 3 for seam in seams], dtype=np.uint32)


def cleaned_seams(palette, rgba, valid=None):
    """CLEANUP=seams (RGB) of the nearest palette indices of ``rgba``; every pixel valid by default."""
    indices = NearestColourMapper(palette, "rgb").map_codes(rgba).astype(np.uint8)
    return cleanup.clean_seams(indices, rgba, palette, "rgb", np.ones(rgba.shape, dtype=bool) if valid is None
                               else valid)


@pytest.fixture(scope="module")
def maps(qgis_app, tmp_path_factory):
    """Rendered geology maps (360 x 240): truth (no anti-aliasing, no outlines) and anti-aliased
    renders with and without outlines, all quantized to the legend colours."""
    folder = tmp_path_factory.mktemp("cleanup-maps")
    out = {}
    for name, outlines, antialiasing in (("truth", False, False), ("plain", False, True),
                                         ("outlined", True, True), ("outlined-aliased", True, False)):
        path = folder / "{}.tif".format(name)
        render_geology_map(str(path), 360, 240, outlines=outlines, antialiasing=antialiasing, seed=3)
        out[name] = quantized(path)
    return out


def errors(indices, truth, valid):
    truth_indices, _, truth_valid = truth
    return int(((indices != truth_indices) & valid & truth_valid).sum())


# ----------------------------------------------------------------------------------- seams

@pytest.mark.parametrize("name", ["plain", "outlined", "outlined-aliased"])
def test_seams_beat_none_against_the_unaliased_render(maps, name):
    indices, rgba, valid = maps[name]
    cleaned = cleanup.clean_seams(indices, rgba, LEGEND, "rgb", valid)
    before, after = errors(indices, maps["truth"], valid), errors(cleaned, maps["truth"], valid)
    assert before > 0
    # The benchmark's targets: below 0.1 % wrong without outlines, half the errors gone with them.
    assert after <= (0.001 * valid.sum() if name == "plain" else before / 2), (before, after)


def test_pixels_left_out_before_the_fits_are_no_mixes_of_any_two_classes():
    """_may_mix leaves pixels out of the two-class fits by a bound: no pixel it leaves out may be a
    mix of any two legend colours, over transparency or over a third, as the fits judge it."""
    rng = np.random.default_rng(7)
    n, entries = 1500, len(LEGEND)
    colours = LEGEND.astype(np.float64)
    a, b, g = (colours[rng.integers(0, entries, n)] for _ in range(3))
    u, f = rng.random(n), rng.random(n)
    v = (1 - u) * rng.choice([1.0, rng.random()], n)
    alpha = np.clip(np.rint(255 * (u + v)), 1, 255)
    over_transparency = (u[:, None] * a + v[:, None] * b) * (255 / alpha)[:, None]
    over_background = (f * f)[:, None] * a + (1 - f)[:, None] * b + (f * (1 - f))[:, None] * g
    outlines = a * rng.random(n)[:, None] ** 2  # fills darkened by a black outline
    anything = np.where(rng.random(n)[:, None] < 0.5, outlines, rng.random((n, 3)) * 255)
    rgb = np.vstack([over_transparency, over_background, anything]) + rng.normal(0, 3, (3 * n, 3))
    rgb = np.clip(np.rint(rgb), 0, 255)
    alpha = np.concatenate([alpha, np.full(n, 255.0), rng.choice([255.0, 128.0, 40.0], n)])
    codes = pack_rgba(*(rgb[:, i].astype(np.uint8) for i in range(3)), alpha.astype(np.uint8))
    rgba4 = np.column_stack([rgb * (alpha / 255)[:, None], alpha])
    palette4 = np.column_stack([colours, np.full(entries, 255.0)])
    low, high = np.triu_indices(entries, 1)
    pixel = np.repeat(np.arange(len(codes)), len(low))
    pair_low, pair_high = np.tile(low, len(codes)), np.tile(high, len(codes))
    cleanup.forget_remembered_fits()
    residual, _winner, _lean, _first, _second, under = cleanup._pair_fits(
        codes[pixel], rgba4[pixel], pair_low, pair_high, palette4, cleanup.DEFAULT_BLEND_TOLERANCE)
    mixed = np.zeros(len(codes), dtype=bool)
    mixed[pixel[(residual <= cleanup.DEFAULT_BLEND_TOLERANCE ** 2) | (under >= 0)]] = True
    may = cleanup._may_mix(rgb, alpha, colours, cleanup.DEFAULT_BLEND_TOLERANCE)
    assert mixed.sum() > 1000 and (~may).sum() > 500  # both kinds are tried
    assert not (mixed & ~may).any()
    cleanup.forget_remembered_fits()


def test_inexact_pixels_are_found_band_by_band_on_maps_and_on_noise(maps):
    indices, rgba, valid = maps["outlined"]
    rng = np.random.default_rng(4)
    noise = rng.integers(0, 1 << 32, rgba.shape, dtype=np.uint64).astype(np.uint32)
    noise_indices = NearestColourMapper(LEGEND, "rgb").map_codes(noise).astype(np.uint8)
    table = np.full(256, 0xFFFFFFFF, dtype=np.uint32)  # nodata (255) never matches
    table[:len(LEGEND)] = [r | g << 8 | b << 16 for r, g, b in LEGEND.tolist()]
    for classes, codes, ok in ((indices, rgba, valid), (noise_indices, noise, noise >= np.uint32(128 << 24))):
        expected = np.flatnonzero(((table[classes] ^ codes) & np.uint32(0xFFFFFF) != 0) & ok)
        assert np.array_equal(cleanup._inexact_pixels(classes, codes, ok, table), expected)


def test_cleaning_seams_in_place_gives_the_same_classes(maps):
    indices, rgba, valid = maps["outlined"]
    copied = cleanup.clean_seams(indices, rgba, LEGEND, "rgb", valid)
    own = indices.copy()
    cleaned = cleanup.clean_seams(own, rgba, LEGEND, "rgb", valid, in_place=True)
    assert cleaned is own
    assert np.array_equal(cleaned, copied) and not np.array_equal(copied, indices)


@pytest.mark.parametrize("name", ["plain", "outlined"])
def test_seams_still_help_when_the_palette_is_a_few_units_off_the_fills(maps, name):
    # Fills then never match their palette colour exactly; flat patches still vote for their class.
    rng = np.random.default_rng(2)
    palette = np.clip(LEGEND.astype(int) + rng.choice([-4, 4], LEGEND.shape), 0, 255).astype(np.uint8)
    _, rgba, valid = maps[name]
    indices = NearestColourMapper(palette, "rgb").map_codes(rgba).astype(np.uint8)
    cleaned = cleanup.clean_seams(indices, rgba, palette, "rgb", valid)
    before, after = errors(indices, maps["truth"], valid), errors(cleaned, maps["truth"], valid)
    assert after < before / 2, (before, after)


@pytest.mark.parametrize("metric", ["rgb", "cielab", "ciede2000"])
def test_seams_never_invent_a_class_and_leave_nodata_alone(maps, metric):
    indices, rgba, valid = maps["outlined"]
    indices = NearestColourMapper(LEGEND, metric).map_codes(rgba).astype(np.uint8)
    indices[~valid] = 255
    cleaned = cleanup.clean_seams(indices, rgba, LEGEND, metric, valid)
    changed = cleaned != indices
    assert changed.any()
    assert not (changed & ~valid).any()
    assert found_within(indices, valid, cleaned, cleanup.DEFAULT_SEAM_RADIUS).all()


def test_seam_pixels_never_take_the_class_under_nodata():
    # Class 2 lies only under nodata, right beside a pixel that is nearest to it.
    palette = np.array([[200, 40, 40], [40, 40, 200], [120, 40, 120]], dtype=np.uint8)
    code = codes(palette)
    mix = codes([(123, 40, 117)])[0]
    rgba = strip([code[0]] * 4 + [code[2], code[2], code[1], code[1]])
    rgba[2, 3] = mix  # one pixel: a line of them would be a sliver of class 2 (see test_cleanup_slivers)
    indices = NearestColourMapper(palette, "rgb").map_codes(rgba).astype(np.uint8)
    assert indices[2, 3] == 2
    valid = np.ones(rgba.shape, dtype=bool)
    valid[:, 4:6] = False
    cleaned = cleanup.clean_seams(indices, rgba, palette, "rgb", valid)
    assert cleaned[2, 3] == 0  # the only valid class within 2 pixels
    assert (cleaned[:, 4:6] == 2).all()


def test_pixels_of_an_exact_palette_colour_are_never_changed():
    rng = np.random.default_rng(1)
    palette = rng.integers(0, 256, (8, 3), dtype=np.uint8)
    rgb = rng.integers(0, 256, (3, 60, 80), dtype=np.uint8)
    exact = rng.random((60, 80)) < 0.3
    picks = rng.integers(0, 8, (60, 80))
    for band in range(3):
        rgb[band][exact] = palette[picks[exact], band]
    rgba = pack_rgba(*rgb)
    indices = NearestColourMapper(palette, "rgb").map_codes(rgba).astype(np.uint8)
    valid = rng.random((60, 80)) > 0.1
    cleaned = cleanup.clean_seams(indices, rgba, palette, "rgb", valid)
    assert (cleaned != indices).any()
    assert (cleaned[exact] == indices[exact]).all()
    assert (cleaned[~valid] == indices[~valid]).all()
    assert found_within(indices, valid, cleaned, cleanup.DEFAULT_SEAM_RADIUS).all()


@pytest.mark.parametrize("a_first", [True, False])
def test_a_blend_of_two_fills_goes_to_the_one_covering_the_pixel_centre(a_first):
    # Green and purple blends pass close to grey, which is nearest for mid blends: none gets them wrong.
    palette = np.array([[40, 180, 60], [160, 40, 200], [100, 110, 130]], dtype=np.uint8)
    a, b = palette[0], palette[1]
    code = codes(palette)
    for cover_a in np.linspace(0.05, 0.95, 37):
        if abs(cover_a - 0.5) < 0.03:  # too close to call in 8 bits
            continue
        seam = composite(a, cover_a, b, 1 - cover_a) if a_first else composite(b, 1 - cover_a, a, cover_a)
        rgba = strip([code[0]] * 3 + [seam] + [code[1]] * 3)
        indices = NearestColourMapper(palette, "rgb").map_codes(rgba).astype(np.uint8)
        cleaned = cleanup.clean_seams(indices, rgba, palette, "rgb", np.ones(rgba.shape, dtype=bool))
        assert (cleaned[:, 3] == (0 if cover_a > 0.5 else 1)).all(), (cover_a, indices[0, 3])


@pytest.mark.parametrize("a_first", [True, False])
def test_seams_on_transparent_background_take_the_class_that_explains_the_alpha_and_colour(a_first):
    # Two close blues (as on a map of provinces) meet along a slanted edge that Qt draws onto
    # transparency: near a coverage of 0.62 (0.38 the other way round) either drawing order explains a
    # seam pixel's colour and alpha, each giving it the other class; the seam pixels above and below,
    # which tell the order, decide.
    palette = np.array([[178, 216, 232], [139, 197, 224]], dtype=np.uint8)
    covers_a = (0.1, 0.2, 0.3, 0.37, 0.4, 0.45, 0.55, 0.6, 0.61, 0.62, 0.64, 0.7, 0.8, 0.9)
    rgba = edge_rows(palette, covers_a, a_first)
    cleaned = cleaned_seams(palette, rgba, valid=rgba >= np.uint32(ALPHA_THRESHOLD << 24))
    assert cleaned[:, 3].tolist() == [0 if f > 0.5 else 1 for f in covers_a]
    assert (cleaned[:, :3] == 0).all() and (cleaned[:, 4:] == 1).all()


@pytest.mark.parametrize("a_first", [True, False])
def test_seams_on_an_opaque_background_take_the_class_that_explains_the_colour_over_it(a_first):
    # The same edge drawn onto an opaque grey (the sea, a class of the legend, nowhere near the edge):
    # the grey shows through the seam pixels (f * (1 - f) of it), so they are no mix of the two blues;
    # over the grey they are, as over transparency.
    palette = np.array([[178, 216, 232], [139, 197, 224], [200, 200, 200]], dtype=np.uint8)
    covers_a = (0.1, 0.2, 0.3, 0.37, 0.4, 0.45, 0.55, 0.6, 0.63, 0.7, 0.8, 0.9)
    cleaned = cleaned_seams(palette, edge_rows(palette, covers_a, a_first, background=palette[2]))
    assert cleaned[:, 3].tolist() == [0 if f > 0.5 else 1 for f in covers_a]
    assert (cleaned[:, :3] == 0).all() and (cleaned[:, 4:] == 1).all()


@pytest.mark.parametrize("first, second, a_first", [(0, 5, True), (7, 3, False), (9, 11, True), (11, 5, True)])
def test_seams_over_a_background_where_both_drawing_orders_fit_take_the_order_of_the_seam_pixels_around(
        first, second, a_first):
    # Over the grey, the colours of the two drawing orders cross near a coverage of 0.62: there a pixel
    # fits both about as well, each giving the other class, and least-squares shares tell neither the
    # order nor, at times, the background. The two polygons are drawn in one order all along their
    # border: the seam pixels around (up to 4 rows away) whose coverages tell it decide.
    palette = np.vstack([LEGEND[first], LEGEND[second], [200, 200, 200]]).astype(np.uint8)
    covers_a = (0.9, 0.15, 0.85, 0.2) + tuple(np.round(np.arange(0.52, 0.75, 0.02), 2)) + (0.8, 0.1, 0.9, 0.25)
    cleaned = cleaned_seams(palette, edge_rows(palette, covers_a, a_first, background=palette[2]))
    assert cleaned[:, 3].tolist() == [0 if f > 0.5 else 1 for f in covers_a]
    assert (cleaned[:, :3] == 0).all() and (cleaned[:, 4:] == 1).all()


@pytest.mark.parametrize("a_first", [True, False])
def test_seams_where_three_fills_meet_on_an_opaque_background_take_the_pair_that_explains_the_colour(a_first):
    # The edge of the test above ends against a third fill: near it three classes vote, and the
    # pair of them whose mix over the grey explains the seam pixel decides.
    palette = np.array([[178, 216, 232], [139, 197, 224], [200, 200, 200], [233, 187, 79]], dtype=np.uint8)
    covers_a = (0.1, 0.3, 0.7, 0.9)
    third = np.full((1, 7), codes(palette)[3], dtype=np.uint32)
    cleaned = cleaned_seams(palette, np.vstack([third, edge_rows(palette, covers_a, a_first, background=palette[2])]))
    assert cleaned[1:, 3].tolist() == [0 if f > 0.5 else 1 for f in covers_a]


@pytest.mark.parametrize("cover", [0.3, 0.45, 0.55, 0.7, 0.9])
def test_a_sliver_thinner_than_a_pixel_keeps_its_class_where_it_covers_most_of_the_pixel(cover):
    # A line of pixels each covered partly by a narrow polygon over the sea: no pixel shows the
    # polygon's own colour, yet each is mostly that polygon when cover > 0.5.
    palette = np.array([[200, 200, 200], [233, 187, 79], [238, 106, 122]], dtype=np.uint8)
    sea = codes(palette)[0]
    sliver = qt_composite(palette[1], cover, palette[1], 0.0, palette[0])
    rgba = strip([sea] * 3 + [sliver] + [sea] * 3)
    indices = NearestColourMapper(palette, "rgb").map_codes(rgba).astype(np.uint8)
    cleaned = cleanup.clean_seams(indices, rgba, palette, "rgb", np.ones(rgba.shape, dtype=bool))
    assert (cleaned[:, 3] == (1 if cover > 0.5 else 0)).all(), indices[0, 3]
    assert (cleaned[:, :3] == 0).all() and (cleaned[:, 4:] == 0).all()


def test_a_blend_of_a_fill_and_an_outline_goes_to_that_fill():
    palette = np.array([[240, 220, 120], [120, 190, 230], [90, 100, 90]], dtype=np.uint8)
    outline = np.array([64, 64, 64])
    code = codes(palette)
    for cover in (0.2, 0.4, 0.6, 0.8):  # the outline's share of each of the two seam pixels
        left = composite(palette[0], 1.0, outline, cover)
        right = composite(palette[1], 1.0, outline, 1.2 - cover)
        rgba = strip([code[0]] * 3 + [left, right] + [code[1]] * 3)
        indices = NearestColourMapper(palette, "rgb").map_codes(rgba).astype(np.uint8)
        cleaned = cleanup.clean_seams(indices, rgba, palette, "rgb", np.ones(rgba.shape, dtype=bool))
        assert (cleaned[:, 3] == 0).all() and (cleaned[:, 4] == 1).all(), (cover, indices[0])


@pytest.mark.parametrize("block", [(17, 23), (64, 360), (1, 360), (240, 5)])
def test_seams_do_not_depend_on_block_boundaries(maps, block):
    for name in ("plain", "outlined", "outlined-aliased"):
        indices, rgba, valid = maps[name]

        def clean(i, r, v):
            return cleanup.clean_seams(i, r, LEGEND, "cielab", v)

        whole = clean(indices, rgba, valid)
        blocks = in_blocks(clean, (indices, rgba, valid), cleanup.margin("seams"), *block)
        assert np.array_equal(whole, blocks), name


def test_seams_over_an_opaque_background_do_not_depend_on_block_boundaries(qgis_app, tmp_path):
    # Over a background the drawing order is read from seam pixels 4 away: the margin covers them,
    # where the margin of the seam radius alone (3) would not.
    path = str(tmp_path / "provinces.tif")
    render_world_map(path, "europe", 300, 200, outlines=False, antialiasing=True, background=(200, 200, 200))
    palette = np.vstack([LEGEND, [[200, 200, 200]]]).astype(np.uint8)
    indices, rgba, valid = quantized(path, palette)

    def clean(i, r, v):
        return cleanup.clean_seams(i, r, palette, "rgb", v)

    whole = clean(indices, rgba, valid)
    assert (whole != indices).sum() > 100
    assert np.array_equal(whole, in_blocks(clean, (indices, rgba, valid), cleanup.margin("seams"), 23, 31))
    assert not np.array_equal(whole, in_blocks(clean, (indices, rgba, valid), 3, 23, 31))


def test_seams_over_an_opaque_background_give_the_same_classes_whatever_fits_are_remembered(qgis_app, tmp_path,
                                                                                           monkeypatch):
    # Fits of seam pixels are remembered per (colour, classes) across blocks
    # and runs: a cold memo, a warm one and one of 4 slots (almost every fit evicted) agree.
    path = str(tmp_path / "provinces.tif")
    render_world_map(path, "europe", 300, 200, outlines=True, antialiasing=True, background=(200, 200, 200))
    palette = np.vstack([LEGEND, [[200, 200, 200]]]).astype(np.uint8)
    indices, rgba, valid = quantized(path, palette)

    def clean():
        return cleanup.clean_seams(indices, rgba, palette, "rgb", valid)

    monkeypatch.setattr(cleanup, "_MEMOS", {})
    cold = clean()
    assert (cold != indices).sum() > 100
    assert np.array_equal(cold, clean())
    monkeypatch.setattr(cleanup, "_MEMOS", {})
    monkeypatch.setattr(cleanup, "_MEMO_BITS", 2)
    monkeypatch.setattr(cleanup, "_DECIDED", 97)  # the memo fills a few seam pixels at a time
    assert np.array_equal(cold, clean())


@pytest.mark.parametrize("size", [256, 20000])
def test_large_palettes_and_small_chunks_give_the_same_seams(maps, monkeypatch, size):
    # The legend colours among many others: votes are counted per class present, not per palette entry.
    rng = np.random.default_rng(5)
    palette = np.concatenate([LEGEND, rng.integers(0, 256, (size - len(LEGEND), 3), dtype=np.uint8)])
    _, rgba, valid = maps["outlined"]
    indices = NearestColourMapper(palette, "rgb").map_codes(rgba)
    indices[~valid] = 65535

    def clean(i, r, v):
        return cleanup.clean_seams(i, r, palette, "rgb", v)

    whole = clean(indices, rgba, valid)
    changed = whole != indices
    assert changed.any() and not (changed & ~valid).any()
    assert found_within(indices, valid, whole, cleanup.DEFAULT_SEAM_RADIUS).all()
    assert np.array_equal(whole, in_blocks(clean, (indices, rgba, valid), cleanup.margin("seams"), 29, 41))

    legend_indices, _, _ = maps["outlined"]
    legend = cleanup.clean_seams(legend_indices, rgba, LEGEND, "rgb", valid)
    monkeypatch.setattr(cleanup, "_CHUNK", 7)  # a few seam pixels at a time
    assert np.array_equal(whole, clean(indices, rgba, valid))
    assert np.array_equal(legend, cleanup.clean_seams(legend_indices, rgba, LEGEND, "rgb", valid))


def test_a_wider_seam_radius_needs_a_wider_margin(maps):
    indices, rgba, valid = maps["outlined"]

    def clean(i, r, v):
        return cleanup.clean_seams(i, r, LEGEND, "rgb", v, radius=3)

    whole = clean(indices, rgba, valid)
    assert np.array_equal(whole, in_blocks(clean, (indices, rgba, valid), cleanup.margin("seams", radius=3), 19, 29))


# ----------------------------------------------------------------------------------- sieve

def gdal_sieve(indices, valid, min_region, connectedness):
    dataset = gdal.GetDriverByName("MEM").Create("", indices.shape[1], indices.shape[0], 1, gdal.GDT_Int32)
    band = dataset.GetRasterBand(1)
    band.WriteArray(indices.astype(np.int32))
    mask_set = gdal.GetDriverByName("MEM").Create("", indices.shape[1], indices.shape[0], 1, gdal.GDT_Byte)
    mask = mask_set.GetRasterBand(1)
    mask.WriteArray(valid.astype(np.uint8))
    gdal.SieveFilter(band, mask, band, min_region, connectedness)
    return band.ReadAsArray()


def specks(seed, size=(120, 160)):
    """Four large quadrants of classes 0-3 and, inside them, specks of classes 4-7 (1 to 14 pixels,
    random shapes) that touch only their quadrant; some nodata holes."""
    rng = np.random.default_rng(seed)
    rows, cols = size
    indices = np.zeros(size, dtype=np.uint8)
    indices[:rows // 2, cols // 2:] = 1
    indices[rows // 2:, :cols // 2] = 2
    indices[rows // 2:, cols // 2:] = 3
    valid = np.ones(size, dtype=bool)
    for y in range(4, rows - 8, 10):
        for x in range(4, cols - 8, 10):
            if abs(y + 3 - rows // 2) < 6 or abs(x + 3 - cols // 2) < 6:
                continue
            shape = rng.random((6, 6)) < rng.uniform(0.05, 0.6)
            if rng.random() < 0.1:
                valid[y:y + 6, x:x + 6] &= ~shape
            else:
                indices[y:y + 6, x:x + 6][shape] = rng.integers(4, 8)
    return indices, valid


@pytest.mark.parametrize("connectedness", [4, 8])
@pytest.mark.parametrize("min_region", [2, 5, 10])
def test_sieve_agrees_with_gdal_where_each_small_region_has_one_neighbour(connectedness, min_region):
    for seed in range(3):
        indices, valid = specks(seed)
        ours = cleanup.sieve(indices, valid, min_region, connectedness)
        theirs = gdal_sieve(indices, valid, min_region, connectedness)
        assert np.array_equal(ours[valid], theirs[valid])
        assert np.array_equal(ours[~valid], indices[~valid])
        assert (ours != indices).any()


def test_sieve_counts_diagonal_pixels_only_when_8_connected():
    indices = np.zeros((6, 6), dtype=np.uint8)
    indices[2, 2] = indices[3, 3] = 1  # two pixels touching at a corner
    valid = np.ones_like(indices, dtype=bool)
    assert (cleanup.sieve(indices, valid, 2, 4) == 0).all()
    assert np.array_equal(cleanup.sieve(indices, valid, 2, 8), indices)
    assert (cleanup.sieve(indices, valid, 3, 8) == 0).all()


def test_a_small_region_joins_the_large_neighbour_it_shares_most_border_with():
    indices = np.zeros((8, 9), dtype=np.uint8)
    indices[:, 5:] = 1
    indices[3:5, 3:5] = 2  # 2 x 2: six neighbour pixels of class 0, two of class 1
    valid = np.ones_like(indices, dtype=bool)
    cleaned = cleanup.sieve(indices, valid, 5, 4)
    assert (cleaned[3:5, 3:5] == 0).all()
    indices[3:5, 3:5] = 0
    indices[3:5, 4:6] = 2  # now straddling: four neighbour pixels of each class, a tie: the lower class
    assert (cleanup.sieve(indices, valid, 5, 4)[3:5, 4:6] == 0).all()


def test_small_regions_with_only_small_or_nodata_neighbours_stay():
    indices = np.array([[0, 1, 0], [1, 2, 1], [0, 1, 0]], dtype=np.uint8)
    valid = np.ones_like(indices, dtype=bool)
    assert np.array_equal(cleanup.sieve(indices, valid, 5, 4), indices)
    island = np.array([[9, 9, 9], [9, 1, 9], [9, 9, 9]], dtype=np.uint8)
    assert np.array_equal(cleanup.sieve(island, island == 1, 5, 8), island)


@pytest.mark.parametrize("connectedness", [4, 8])
def test_sieve_never_invents_a_class_and_leaves_nodata_alone(maps, connectedness):
    indices, _, valid = maps["outlined"]
    cleaned = cleanup.sieve(indices, valid, 12, connectedness)
    changed = cleaned != indices
    assert changed.any() and not (changed & ~valid).any()
    # A changed pixel's region has under 12 pixels, so its new neighbour lies within 12 pixels.
    assert found_within(indices, valid, cleaned, 12).all()


def sieve_in_blocks(indices, valid, min_region, connectedness, block):
    """The sieve as the engine runs it: on blocks of ``block`` (rows, columns) grown by its margin."""
    def clean(i, v):
        return cleanup.sieve(i, v, min_region, connectedness)

    return in_blocks(clean, (indices, valid), cleanup.margin("sieve", min_region=min_region), *block)


@pytest.mark.parametrize("connectedness", [4, 8])
@pytest.mark.parametrize("min_region", [3, 12, 40])
def test_sieve_does_not_depend_on_block_boundaries(maps, connectedness, min_region):
    indices, _, valid = maps["outlined"]
    whole = cleanup.sieve(indices, valid, min_region, connectedness)
    assert (whole != indices).any()
    for block in ((23, 31), (64, 360), (240, 50)):
        assert np.array_equal(sieve_in_blocks(indices, valid, min_region, connectedness, block), whole), block


@pytest.mark.parametrize("connectedness", [4, 8])
def test_sieve_joins_small_regions_alike_a_few_at_a_time_or_all_at_once(monkeypatch, connectedness):
    """The small regions are joined a group of them at a time (memory): groups of a few pixels give
    what one group of all of them gives."""
    rng = np.random.default_rng(12)
    indices = rng.integers(0, 6, (90, 110), dtype=np.uint8)
    indices[20:60, 30:90] = 2  # large regions beside the noise, so that small ones have some to join
    indices[60:85, 5:40] = 4
    valid = rng.random(indices.shape) > 0.03
    whole = cleanup.sieve(indices, valid, 12, connectedness)
    assert (whole != indices).sum() > 300
    monkeypatch.setattr(cleanup, "_SIEVE_GROUP", 7)
    assert np.array_equal(cleanup.sieve(indices, valid, 12, connectedness), whole)


def test_a_sieve_of_noise_takes_less_than_80_bytes_a_pixel():
    """Noise is all small regions: every pixel a run and a region. Taken at once, its pixels' border
    pairs peaked at 150 bytes a pixel (6.3 GB for 20 megapixels with MIN_REGION=1000)."""
    import tracemalloc

    indices = np.random.default_rng(13).integers(0, 256, (1000, 1000), dtype=np.uint8)
    valid = np.ones(indices.shape, dtype=bool)
    tracemalloc.start()
    try:
        cleanup.sieve(indices, valid, 16, 8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak / indices.size < 80


def test_sieve_does_not_depend_on_block_boundaries_in_noise():
    rng = np.random.default_rng(7)
    # Smooth random classes with speckle: many regions of every size, some wider than any block.
    field = np.cumsum(np.cumsum(rng.normal(size=(150, 170)), axis=0), axis=1)
    indices = (np.digitize(field, np.percentile(field, [20, 40, 60, 80])) % 5).astype(np.uint8)
    speck = rng.random(indices.shape) < 0.15
    indices[speck] = rng.integers(0, 5, speck.sum())
    valid = rng.random(indices.shape) > 0.02

    for connectedness in (4, 8):
        whole = cleanup.sieve(indices, valid, 6, connectedness)
        assert np.array_equal(sieve_in_blocks(indices, valid, 6, connectedness, (20, 27)), whole)


def horseshoe(length=40):
    """A small region (class 1, 2 x 3 pixels) plugging the mouth of a horseshoe of class 6 whose two
    arms touch it on either side (3 pixel pairs each, 4-connected) and join only ``length`` rows
    below; class 3 around it all and inside the horseshoe touches it 3 pairs above and 1 below:
    more than either arm, less than both."""
    indices = np.full((length + 5, 9), 3, dtype=np.uint8)
    indices[2:length + 3, 1:8] = 6  # the horseshoe, its inside cut out below
    indices[4:length + 2, 4] = 3
    indices[2:4, 3:6] = 1  # the small region in its mouth
    return indices, np.ones(indices.shape, dtype=bool)


@pytest.mark.parametrize("connectedness", [4, 8])
def test_a_small_region_joins_the_class_it_shares_most_border_with_even_where_blocks_cut_that_class_in_two(
        connectedness):
    indices, valid = horseshoe()
    whole = cleanup.sieve(indices, valid, 7, connectedness)
    assert (whole[2:4, 3:6] == 6).all()
    assert np.array_equal(whole[indices != 1], indices[indices != 1])
    # Blocks whose windows hold the small region but not where the arms join see two regions of
    # class 6, each with no more border than the class 3 around; together they still have more.
    for block in ((3, 9), (5, 4), (8, 3), (20, 9), (45, 2)):
        assert np.array_equal(sieve_in_blocks(indices, valid, 7, connectedness, block), whole), block


def hairpins(seed, size=(96, 128)):
    """Fills of classes 2 and 3 crossed by outlines (class 6) that double back like hairpins, their
    two passes joined 3 to 40 pixels away, and specks (classes 7-9, 1-3 pixels) between the passes at
    the open end, where one outline touches them from both sides: the shape in which the sieve on a
    map of European provinces with outlines once depended on the blocks."""
    rng = np.random.default_rng(seed)
    indices = np.where(np.add.outer(np.arange(size[0]), np.arange(size[1])) % 40 < 20, 2, 3).astype(np.uint8)
    for _ in range(60):
        length, gap = int(rng.integers(3, 41)), int(rng.integers(1, 3))
        y, x = int(rng.integers(0, size[0] - gap - 2)), int(rng.integers(0, size[1] - length))
        pin = indices[y:y + gap + 2, x:x + length]
        if rng.random() < 0.5:
            pin = pin[:, ::-1]  # open to the right
        pin[0], pin[-1], pin[:, -1] = 6, 6, 6
        pin[1:-1, :int(rng.integers(1, 4))] = rng.integers(7, 10)
    valid = rng.random(size) > 0.01
    return indices, valid


@pytest.mark.parametrize("connectedness", [4, 8])
def test_specks_inside_an_outline_that_doubles_back_are_sieved_the_same_in_blocks(connectedness):
    for seed in range(4):
        indices, valid = hairpins(seed)
        for min_region in (2, 4, 6):
            whole = cleanup.sieve(indices, valid, min_region, connectedness)
            assert (whole != indices).any()
            for block in ((7, 11), (16, 16), (30, 50)):
                blocks = sieve_in_blocks(indices, valid, min_region, connectedness, block)
                assert np.array_equal(blocks, whole), (seed, min_region, block)


def sieve_by_brute_force(indices, valid, min_region, connectedness):
    """The sieve's rule pixel by pixel: label regions by flood fill, then give every small region the
    class whose large neighbour regions share most adjacent pixel pairs with it in all (then the lower
    class)."""
    rows, cols = indices.shape
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)] + ([(-1, -1), (-1, 1), (1, -1), (1, 1)] if connectedness == 8 else [])
    region = np.full(indices.shape, -1)
    sizes = []
    for y in range(rows):
        for x in range(cols):
            if valid[y, x] and region[y, x] < 0:
                region[y, x], todo, size = len(sizes), [(y, x)], 0
                while todo:
                    cy, cx = todo.pop()
                    size += 1
                    for dy, dx in steps:
                        ny, nx = cy + dy, cx + dx
                        if (0 <= ny < rows and 0 <= nx < cols and valid[ny, nx] and region[ny, nx] < 0
                                and indices[ny, nx] == indices[y, x]):
                            region[ny, nx] = len(sizes)
                            todo.append((ny, nx))
                sizes.append(size)
    border = {}
    for y in range(rows):
        for x in range(cols):
            mine = region[y, x]
            if mine < 0 or sizes[mine] >= min_region:
                continue
            for dy, dx in steps:
                ny, nx = y + dy, x + dx
                if 0 <= ny < rows and 0 <= nx < cols and region[ny, nx] >= 0 and sizes[region[ny, nx]] >= min_region:
                    key = (mine, int(indices[ny, nx]))
                    border[key] = border.get(key, 0) + 1
    best = {}
    for (mine, cls), count in border.items():
        if mine not in best or (-count, cls) < best[mine]:
            best[mine] = (-count, cls)
    out = indices.copy()
    for y in range(rows):
        for x in range(cols):
            if region[y, x] in best:
                out[y, x] = best[region[y, x]][1]
    return out


@pytest.mark.parametrize("connectedness", [4, 8])
def test_sieve_gives_every_small_region_the_class_a_flood_fill_finds(connectedness):
    rng = np.random.default_rng(11)
    for _ in range(20):
        rows, cols = rng.integers(1, 25, 2)
        indices = rng.integers(0, 3, (rows // 3 + 1, cols // 2 + 1)).repeat(3, 0).repeat(2, 1)[:rows, :cols]
        speck = rng.random(indices.shape) < 0.2
        indices[speck] = rng.integers(0, 4, speck.sum())
        indices = indices.astype(np.uint8)
        valid = rng.random(indices.shape) > 0.05
        for min_region in (2, 4, 7):
            expected = sieve_by_brute_force(indices, valid, min_region, connectedness)
            assert np.array_equal(cleanup.sieve(indices, valid, min_region, connectedness), expected)
            in_place = indices.copy()
            assert cleanup.sieve(in_place, valid, min_region, connectedness, in_place=True) is in_place
            assert np.array_equal(in_place, expected)


# ----------------------------------------------------------------------------------- margins

def test_margins_tell_the_engine_how_far_each_method_looks():
    assert cleanup.margin("none") == 0
    # Seams over a background read the drawing order from seam pixels 4 away, whose standing needs 1 more.
    assert cleanup.margin("seams") == 5 and cleanup.margin("seams", radius=6) == 7
    assert cleanup.margin("sieve", min_region=25) == 50
    with pytest.raises(ValueError, match="seams"):
        cleanup.margin("smooth")


@pytest.mark.parametrize("settings", [{"method": "seams", "seam_radius": 4},
                                      {"method": "sieve", "min_region": 6, "connectedness": 8}])
def test_a_run_reads_its_blocks_with_the_margin_its_cleanup_settings_need(qgis_app, tmp_path, monkeypatch, settings):
    # The run API takes the margin from the options: a wider seam radius widens it too.
    from palettize.engine import gdal_io
    from palettize.engine.options import CleanupOptions, PaletteOptions, QuantizeOptions
    from palettize.engine.run import quantize_file
    from palettize.palettes.formats import write_palette_csv
    from palettize.palettes.palette import Palette

    path = str(tmp_path / "outlined.tif")
    render_geology_map(path, 360, 240, outlines=True, antialiasing=True, seed=3)
    write_palette_csv(Palette(LEGEND), str(tmp_path / "legend.csv"))
    options = QuantizeOptions(palette=PaletteOptions(file=str(tmp_path / "legend.csv")),
                              cleanup=CleanupOptions(**settings))
    whole = quantize_file(path, str(tmp_path / "whole.tif"), options).output
    monkeypatch.setattr(gdal_io, "BLOCK_PIXELS", 360 * 7)  # strips of 7 rows
    strips = quantize_file(path, str(tmp_path / "strips.tif"), options).output
    indices, rgba, valid = quantized(path)
    if settings["method"] == "seams":
        expected = cleanup.clean_seams(indices, rgba, LEGEND, "rgb", valid, radius=4)
    else:
        expected = cleanup.sieve(indices, valid, 6, 8)
    expected[~valid] = 255
    assert np.array_equal(gdal.Open(whole).ReadAsArray(), expected)
    assert np.array_equal(gdal.Open(strips).ReadAsArray(), expected)


@pytest.mark.parametrize("settings", [{"method": "seams"}, {"method": "sieve", "min_region": 6}])
def test_a_cleanup_reads_each_row_of_its_input_once_whatever_its_margin(qgis_app, tmp_path, monkeypatch, settings):
    # Margins overlap the strips around (a sieve's 12 rows: two strips of 7): they are copied, not read again.
    from palettize.engine import gdal_io
    from palettize.engine.options import CleanupOptions, QuantizeOptions
    from palettize.engine.run import quantize_file

    path = str(tmp_path / "outlined.tif")
    render_geology_map(path, 360, 240, outlines=True, antialiasing=True, seed=3)
    read, rows_read = gdal_io.BandSource.read, []

    def counted(source, window, out=None):
        rows_read.extend(range(window[1], window[1] + window[3]))
        return read(source, window, out)

    monkeypatch.setattr(gdal_io.BandSource, "read", counted)
    monkeypatch.setattr(gdal_io, "BLOCK_PIXELS", 360 * 7)
    options = QuantizeOptions(cleanup=CleanupOptions(**settings))
    quantize_file(path, str(tmp_path / "strips.tif"), options)
    assert sorted(rows_read) == list(range(240))
    monkeypatch.undo()  # one block, read with no margin
    assert np.array_equal(gdal.Open(str(tmp_path / "strips.tif")).ReadAsArray(),
                          gdal.Open(quantize_file(path, str(tmp_path / "whole.tif"), options).output).ReadAsArray())


@pytest.mark.parametrize("shape", [(1, 60), (2, 7), (3, 40), (30, 1), (25, 30)])
@pytest.mark.parametrize("radius", [1, 4, 10])
def test_seam_neighbours_of_windows_a_few_pixels_high_or_wide_are_the_clipped_positions_around_each_pixel(
        shape, radius):
    # A window a few rows high (a raster of one row) has every pixel near an edge, and those are
    # gathered on their own path: the same positions, values and outside flags as pixel by pixel.
    rows, cols = shape
    rng = np.random.default_rng(rows * 100 + cols + radius)
    pixels = rng.choice(rows * cols, size=min(rows * cols, 50), replace=False)
    ys, xs = np.divmod(pixels, cols)
    offsets = cleanup._seam_offsets(radius)[0]
    values = rng.integers(0, 1 << 30, rows * cols).astype(np.uint32)
    flags = rng.random(rows * cols) < 0.5
    expected_at = np.empty((len(offsets), len(pixels)), dtype=np.int64)
    expected_outside = np.empty(expected_at.shape, dtype=bool)
    for k, (dy, dx) in enumerate(offsets):
        for n, (y, x) in enumerate(zip(ys, xs)):
            ny, nx = y + dy, x + dx
            expected_outside[k, n] = not (0 <= ny < rows and 0 <= nx < cols)
            expected_at[k, n] = min(max(ny, 0), rows - 1) * cols + min(max(nx, 0), cols - 1)
    at, outside = cleanup._neighbours(ys, xs, offsets, rows, cols)
    assert np.array_equal(at, expected_at) and np.array_equal(outside, expected_outside)
    (gathered, gathered_flags), outside = cleanup._around((values, flags), ys, xs, offsets, rows, cols)
    assert np.array_equal(outside, expected_outside)
    assert np.array_equal(gathered, values[expected_at]) and np.array_equal(gathered_flags, flags[expected_at])


def test_a_cancel_during_the_seams_of_a_noisy_block_is_seen_before_its_pixels_are_judged(monkeypatch):
    """A noisy scan's block has millions of pixels off their class's colour; telling the seams among
    them (their neighbours' classes and colours, their CIELAB distance) took 2 s of an 8-megapixel
    block with no check for a cancel. The run's check is called for each band of them."""
    from palettize.engine.nearest import nearest_palette_indices

    rng = np.random.default_rng(0)
    rgba = pack_rgba(*rng.integers(0, 256, (3, 1200, 1250), dtype=np.uint8))  # 1.5 Mpx: two bands
    rgb = np.stack([(rgba >> shift) & 255 for shift in (0, 8, 16)], axis=-1).reshape(-1, 3)
    indices = nearest_palette_indices(rgb, LEGEND, "rgb").reshape(rgba.shape).astype(cleanup.classes_type(len(LEGEND)))
    judged = []
    monkeypatch.setattr(cleanup, "_metric_distance", lambda *args: judged.append(True) or np.zeros(len(args[0])))

    class Cancelled(Exception):
        pass

    calls = []

    def check():
        calls.append(True)
        if len(calls) == 3:  # the two bands of pixels compared with their class's colour, then a cancel
            raise Cancelled()

    with pytest.raises(Cancelled):
        cleanup.clean_seams(indices, rgba, LEGEND, "rgb", np.ones(rgba.shape, dtype=bool), check=check)
    assert judged == []
