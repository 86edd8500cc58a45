"""Floyd-Steinberg dithering: the textbook serpentine scan exactly, whatever the block size, lower
error on smooth images, and nodata that neither receives nor passes on error."""

import numpy as np
import pytest

from palettize.engine import dither
from palettize.engine.colorspace import lab_to_srgb, srgb_to_lab
from palettize.engine.dither import FloydSteinbergDither, reference_floyd_steinberg
from palettize.engine.nearest import METRICS, NearestColourMapper, pack_rgba, unpack_rgb
from palettize.palettes.palette import builtin_palette

GREYS16 = np.repeat(np.linspace(0, 255, 16).round().astype(np.uint8)[:, None], 3, axis=1)


def random_image(rows, cols, seed):
    """Random colours, a horizontal gradient, a flat patch and ~10% nodata: rgba codes, valid."""
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (3, rows, cols))
    ramp = np.linspace(0, 255, cols)[None, :] * np.ones((rows, 1))
    rgb[:, rows // 3:] = np.stack([ramp, ramp[:, ::-1], 0.5 * ramp + 40])[:, rows // 3:]
    rgb[:, -rows // 3:, :cols // 3] = np.array([200, 120, 50])[:, None, None]
    valid = rng.random((rows, cols)) > 0.1
    return pack_rgba(*rgb.astype(np.uint8)), valid


def dither_in_blocks(rgba, valid, mapper, metric, block_rows, **settings):
    """The chunked scan unless ``plain_width`` says otherwise: these images are narrow."""
    settings.setdefault("plain_width", 0)
    ditherer = FloydSteinbergDither(mapper, metric, rgba.shape[1], **settings)
    blocks = [ditherer.dither(rgba[i:i + block_rows], valid[i:i + block_rows])
              for i in range(0, rgba.shape[0], block_rows)]
    return np.concatenate(blocks), ditherer


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("palette_name", ["vga16", "win256"])
def test_dithering_equals_the_textbook_serpentine_scan(metric, palette_name):
    mapper = NearestColourMapper(builtin_palette(palette_name).colours, metric)
    rgba, valid = random_image(24, 70, seed=len(metric))
    expected = reference_floyd_steinberg(rgba, valid, mapper, metric)
    result, _ = dither_in_blocks(rgba, valid, mapper, metric, block_rows=24)
    assert result.dtype == np.uint16
    assert np.array_equal(result, expected)


@pytest.mark.parametrize("metric", METRICS)
def test_the_result_does_not_depend_on_the_block_size(metric):
    mapper = NearestColourMapper(builtin_palette("win256").colours, metric)
    rgba, valid = random_image(23, 61, seed=7)
    whole, _ = dither_in_blocks(rgba, valid, mapper, metric, block_rows=23)
    assert np.array_equal(whole, reference_floyd_steinberg(rgba, valid, mapper, metric))
    for block_rows in (1, 3, 7):
        result, _ = dither_in_blocks(rgba, valid, mapper, metric, block_rows)
        assert np.array_equal(result, whole), "blocks of {} rows".format(block_rows)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("chunk, warmup, offsets", [(1, 0, (0,)), (3, 1, (0,)), (5, 2, (-1, 1)), (8, 0, (0,)),
                                                    (16, 30, (-4, 0, 4)), (200, 0, ())])
def test_speed_settings_do_not_change_the_result(metric, chunk, warmup, offsets):
    """Small chunks and short warm-ups make the guesses miss, so the plain-Python fallback runs."""
    mapper = NearestColourMapper(builtin_palette("vga16").colours, metric)
    rgba, valid = random_image(12, 57, seed=3)
    expected = reference_floyd_steinberg(rgba, valid, mapper, metric)
    result, ditherer = dither_in_blocks(rgba, valid, mapper, metric, block_rows=5, chunk=chunk, warmup=warmup,
                                        offsets=offsets)
    assert np.array_equal(result, expected)
    if chunk <= 8:
        assert ditherer.misses > 0 and ditherer.fallback_pixels > 0


def box_blur(image, size=4):
    """Mean over size x size windows (valid part only) of a rows x cols x 3 float image."""
    summed = np.cumsum(np.cumsum(np.pad(image, ((1, 0), (1, 0), (0, 0))), axis=0), axis=1)
    return (summed[size:, size:] - summed[:-size, size:] - summed[size:, :-size] + summed[:-size, :-size]) / size ** 2


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("palette", ["greys16", "vga16"])
def test_dithering_lowers_the_mean_colour_error_of_a_smoothed_gradient(metric, palette):
    colours = GREYS16 if palette == "greys16" else builtin_palette("vga16").colours
    mapper = NearestColourMapper(colours, metric)
    ramp = np.linspace(0, 255, 256)[None, :].repeat(64, axis=0)
    rgb = np.stack([ramp, ramp, ramp] if palette == "greys16" else [ramp, 0.6 * ramp[:, ::-1] + 50, 0.8 * ramp],
                   axis=-1).round()
    rgba = pack_rgba(*rgb.astype(np.uint8).transpose(2, 0, 1))
    valid = np.ones(rgba.shape, dtype=bool)
    dithered = FloydSteinbergDither(mapper, metric, rgba.shape[1]).dither(rgba, valid)
    plain = mapper.map_codes(rgba)
    original = box_blur(srgb_to_lab(rgb))

    def smoothed_error(indices):
        return np.linalg.norm(box_blur(srgb_to_lab(colours[indices].astype(float))) - original, axis=-1).mean()

    assert smoothed_error(dithered) < 0.5 * smoothed_error(plain)


def test_nodata_neither_receives_nor_passes_on_error():
    mapper = NearestColourMapper(builtin_palette("vga16").colours, "rgb")
    rgba, _ = random_image(20, 60, seed=11)
    valid = np.ones(rgba.shape, dtype=bool)
    valid[5:9, 10:40] = False
    valid[:, 30] = False  # a nodata column: nothing crosses it, in either direction
    other = rgba.copy()
    other[~valid] = np.random.default_rng(0).integers(0, 1 << 32, (~valid).sum(), dtype=np.uint32)
    result = FloydSteinbergDither(mapper, "rgb", 60).dither(rgba, valid)
    assert np.array_equal(result, FloydSteinbergDither(mapper, "rgb", 60).dither(other, valid))
    assert (result[~valid] == 0).all()  # the caller writes its nodata value there
    left = FloydSteinbergDither(mapper, "rgb", 30).dither(rgba[:, :30], valid[:, :30])
    right = reference_floyd_steinberg(rgba[:, 31:], valid[:, 31:], mapper, "rgb")
    assert np.array_equal(result[:, :30], left)
    assert np.array_equal(result[:, 31:], right)


def test_nodata_rows_reset_the_error_carried_between_blocks():
    mapper = NearestColourMapper(GREYS16, "rgb")
    rgba, _ = random_image(12, 40, seed=5)
    valid = np.ones(rgba.shape, dtype=bool)
    valid[6] = False
    ditherer = FloydSteinbergDither(mapper, "rgb", 40)
    ditherer.dither(rgba[:6], valid[:6])
    ditherer.dither(rgba[6:7], valid[6:7])
    after = ditherer.dither(rgba[7:], valid[7:])
    fresh = FloydSteinbergDither(mapper, "rgb", 40)
    fresh.dither(rgba[:1], np.zeros((1, 40), dtype=bool))  # same parity: row 7 is scanned right to left
    assert np.array_equal(after, fresh.dither(rgba[7:], valid[7:]))


def test_a_block_must_hold_full_rows():
    mapper = NearestColourMapper(GREYS16, "rgb")
    with pytest.raises(ValueError, match="full rows of 40 pixels"):
        FloydSteinbergDither(mapper, "rgb", 40).dither(np.zeros((3, 39), dtype=np.uint32), np.ones((3, 39), bool))


def test_rgb_quantization_is_the_nearest_entry_of_the_rounded_colour():
    mapper = NearestColourMapper(builtin_palette("win256").colours, "rgb")
    quantizer = dither._Quantizer(mapper, "rgb")
    wanted = np.random.default_rng(2).integers(-300 * 4096, 600 * 4096, (3, 5000)).astype(np.int32)
    rounded = np.clip(np.floor(wanted / 4096 + 0.5), 0, 255).astype(np.uint8)
    indices, errors = quantizer.quantize(wanted.copy(), 1)
    assert np.array_equal(indices, mapper.map_rgb(*rounded))
    clamped = np.clip(wanted, 0, 255 * 4096)
    exact = (clamped - 4096 * mapper.palette_colours[indices].T.astype(np.int64)) / 256.0  # in 1/16 units
    assert np.abs(errors - exact).max() <= 0.5
    one = [quantizer.quantize_one(*map(int, w)) for w in wanted.T[:500]]
    assert np.array_equal(np.array(one), np.column_stack([indices[:500], errors.T[:500]]))


def test_lab_quantization_rounds_the_srgb_of_the_wanted_colour():
    mapper = NearestColourMapper(builtin_palette("win256").colours, "cielab")
    quantizer = dither._Quantizer(mapper, "cielab")
    rng = np.random.default_rng(4)
    lab = srgb_to_lab(rng.integers(0, 256, (4000, 3))) + rng.normal(0, 3, (4000, 3))
    wanted = np.clip(np.rint(lab.T * 4096), quantizer.low, quantizer.high).astype(np.int32)
    codes = dither._lab_codes(wanted)
    srgb = lab_to_srgb(wanted.T / 4096.0)
    expected = np.clip(np.floor(srgb + 0.5), 0, 255)
    near_half = (np.abs(srgb - np.floor(srgb) - 0.5) < 1e-6).any(axis=1)
    assert np.array_equal(unpack_rgb(codes)[~near_half], expected[~near_half])
    assert near_half.mean() < 0.001
    indices, _ = quantizer.quantize(wanted.copy(), 1)
    assert np.array_equal(indices, mapper.map_codes(codes.astype(np.uint32)))
    scalar = [dither._lab_code(*map(int, w)) for w in wanted.T]
    assert np.array_equal(scalar, codes)


def test_srgb_rounding_table_counts_the_thresholds():
    rng = np.random.default_rng(6)
    linear = np.concatenate([rng.random(20000) * 1.2 - 0.1, dither._THRESHOLDS,
                             np.nextafter(dither._THRESHOLDS, -1), [0.0, 1.0, -0.0, 5.0]])
    assert np.array_equal(dither._srgb_levels(linear), np.searchsorted(dither._THRESHOLDS, linear, side="right"))


def test_lab_of_the_pixels_is_colorspaces_bit_for_bit():
    rgb = np.random.default_rng(8).integers(0, 256, (3, 1000))
    assert np.array_equal(dither._srgb_to_lab(*rgb), srgb_to_lab(rgb.T).T)


def test_filling_the_whole_table_midway_changes_nothing():
    mapper = NearestColourMapper(builtin_palette("vga16").colours, "rgb")
    rgba, valid = random_image(12, 57, seed=13)
    ditherer = FloydSteinbergDither(mapper, "rgb", 57)
    ditherer._quantizer.fill_after = 0.0  # the registry says 3 s for rgb: fill at once
    result = np.concatenate([ditherer.dither(rgba[:6], valid[:6]), ditherer.dither(rgba[6:], valid[6:])])
    assert mapper.complete
    assert np.array_equal(result, reference_floyd_steinberg(rgba, valid, mapper, "rgb"))



def test_a_dithered_run_logs_its_colour_searches_without_calling_them_the_image_colours_matched(tmp_path):
    """Dithering searches colours the image does not hold (its colours plus the carried error, tried
    ahead on paths not all taken): more than the image has pixels, which the log must not present
    as the image's colours matched to the palette."""
    from osgeo import gdal

    from palettize.engine.options import PaletteOptions, QuantizeOptions
    from palettize.engine.run import quantize_file

    rgba, _ = random_image(40, 50, seed=5)
    path = str(tmp_path / "in.tif")
    dataset = gdal.GetDriverByName("GTiff").Create(path, 50, 40, 3, gdal.GDT_Byte)
    for band, channel in enumerate(unpack_rgb(rgba.ravel()).T.reshape(3, 40, 50)):
        dataset.GetRasterBand(band + 1).WriteArray(channel)
    dataset = None
    lines = []
    result = quantize_file(path, str(tmp_path / "out.tif"), QuantizeOptions(
        palette=PaletteOptions("kmeans", n_colours=8), dither="floyd-steinberg"), log=lambda text, **_: lines.append(text))
    assert result.distinct_colours > 40 * 50  # what the mapper searched
    assert not [line for line in lines if "matched to the palette" in line]
    assert ("Dithering: {} distinct colours (the image's, with the error carried to them) searched for their nearest "
            "palette entry.".format(result.distinct_colours)) in lines


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("width", [1, 2, 5, 40])
def test_narrow_rasters_are_dithered_as_the_textbook_scan_in_any_blocks(metric, width):
    """Rows up to PLAIN_WIDTH pixels are scanned one pixel at a time: the same result."""
    mapper = NearestColourMapper(builtin_palette("win256").colours, metric)
    rgba, valid = random_image(31, width, seed=width)
    expected = reference_floyd_steinberg(rgba, valid, mapper, metric)
    for block_rows in (31, 4, 1):
        result, ditherer = dither_in_blocks(rgba, valid, mapper, metric, block_rows,
                                            plain_width=FloydSteinbergDither.PLAIN_WIDTH)
        assert ditherer.plain
        assert result.dtype == np.uint16
        assert np.array_equal(result, expected), "blocks of {} rows".format(block_rows)
