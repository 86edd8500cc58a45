"""Scripts drive the engine without QGIS: one typed options object, checked once, and the run API
(quantize_file, extract_palette_files) writing what the algorithms write."""

import numpy as np
import pytest
from osgeo import gdal

from palettize.engine.adaptive import build_palette, colour_histogram
from palettize.engine.metrics import METRICS, REGISTRY
from palettize.engine.nearest import brute_force_indices, pack_rgba
from palettize.engine.options import (
    CleanupOptions,
    ExtractOptions,
    OptionsError,
    PaletteOptions,
    QuantizeOptions,
)
from palettize.engine.run import RunError, colour_histogram_files, extract_palette_files, quantize_file
from palettize.palettes.formats import read_palette
from palettize.palettes.palette import builtin_palette
from rasters import SAMPLE_MAP, quantize, random_rgba, read_indices, write_raster


def colour_table(path, count):
    dataset = gdal.Open(path)  # kept alive while its band is read
    table = dataset.GetRasterBand(1).GetColorTable()
    return [table.GetColorEntry(i) for i in range(count)]


def test_quantize_file_writes_what_the_plugin_writes_from_the_bands(qgis_app, tmp_path):
    plugin = quantize({"INPUT": SAMPLE_MAP, "SOURCE": "bands", "PALETTE": "vga16", "CLEANUP": "seams",
                       "OUTPUT": str(tmp_path / "plugin.tif")})["OUTPUT"]
    options = QuantizeOptions(palette=PaletteOptions("vga16"), cleanup=CleanupOptions("seams"))
    result = quantize_file(SAMPLE_MAP, str(tmp_path / "engine.tif"), options)
    ours, theirs = gdal.Open(result.output), gdal.Open(plugin)
    assert np.array_equal(read_indices(result.output), read_indices(plugin))
    assert colour_table(result.output, 256) == colour_table(plugin, 256)
    assert ours.GetGeoTransform() == theirs.GetGeoTransform()
    assert ours.GetProjectionRef() == theirs.GetProjectionRef()
    assert ours.GetRasterBand(1).GetNoDataValue() == theirs.GetRasterBand(1).GetNoDataValue() == 255
    # the same style, each marked as written for its own raster
    assert (tmp_path / "engine.qml").read_text().replace("engine.tif", "plugin.tif") == \
        (tmp_path / "plugin.qml").read_text()
    assert result.data_type == "Byte"
    assert result.written == [result.output, result.output + ".aux.xml", str(tmp_path / "engine.qml")]
    assert result.counts.tolist() == np.bincount(read_indices(plugin).ravel(), minlength=256)[:16].tolist()


def test_an_rgba_file_read_as_its_colour_bands_takes_the_alpha_its_mask_gives(tmp_path):
    rgba = random_rgba(40, 50, seed=5, transparent_share=0.3)
    rgba[3][::3, ::4] = 100  # partly transparent too: below and above the alpha threshold
    rgba[3][1::3, ::4] = 200
    path = write_raster(str(tmp_path / "rgba.tif"), rgba, alpha=True)
    from palettize.engine.gdal_io import BandSource

    source = BandSource(path, [1, 2, 3])
    assert source.alpha_band == 4 and not source.masks  # one read of the four bands, no mask read
    codes = source.read((0, 0, 50, 40))
    assert np.array_equal(codes, pack_rgba(*rgba))
    result = quantize_file(path, str(tmp_path / "out.tif"), QuantizeOptions(palette=PaletteOptions("vga16")))
    palette = builtin_palette("vga16")
    expected = brute_force_indices(rgba[:3].reshape(3, -1).T, palette.colours, "rgb").reshape(40, 50)
    expected = np.where(rgba[3] >= 128, expected, 255)
    assert np.array_equal(read_indices(result.output), expected)


@pytest.mark.parametrize("make, setting", [
    (lambda: PaletteOptions("win255"), "PALETTE"),
    (lambda: PaletteOptions("kmeans", n_colours=1), "N_COLORS"),
    (lambda: CleanupOptions("smooth"), "CLEANUP"),
    (lambda: CleanupOptions("seams", seam_tolerance=float("nan")), "SEAM_TOLERANCE"),
    (lambda: CleanupOptions("seams", seam_radius=0), "SEAM_RADIUS"),
    (lambda: CleanupOptions("sieve", connectedness=5), "CONNECTEDNESS"),
    (lambda: QuantizeOptions(metric="cie94"), "METRIC"),
    (lambda: QuantizeOptions(alpha_threshold=256), "ALPHA_THRESHOLD"),
    (lambda: QuantizeOptions(bands=(1, 2)), "BANDS"),
    (lambda: QuantizeOptions(cleanup=CleanupOptions("sieve"), dither="floyd-steinberg"), "CLEANUP"),
    (lambda: ExtractOptions(method="win256"), "METHOD"),
    (lambda: ExtractOptions(n_colours=2.5), "N_COLORS"),
    (lambda: CleanupOptions("sieve", connectedness=8.0), "CONNECTEDNESS"),
    (lambda: QuantizeOptions(palette="vga16"), "PALETTE"),
    (lambda: QuantizeOptions(cleanup="seams"), "CLEANUP"),
    (lambda: QuantizeOptions(bands=3), "BANDS"),
    (lambda: QuantizeOptions(style="no"), "STYLE"),
    (lambda: QuantizeOptions(style=np.array([True, False])), "STYLE"),
    (lambda: QuantizeOptions(report=123), "OUTPUT_REPORT"),
    (lambda: QuantizeOptions(table=b"t.csv"), "OUTPUT_TABLE"),
    (lambda: PaletteOptions(file=123), "PALETTE_FILE"),
])
def test_options_refuse_a_bad_setting_and_name_it(make, setting):
    with pytest.raises(OptionsError) as error:
        make()
    assert error.value.setting == setting
    assert setting in str(error.value)


def test_options_are_frozen_and_give_the_block_margin_of_their_cleanup():
    options = QuantizeOptions(cleanup=CleanupOptions("seams", seam_radius=5))
    assert options.margin == 6 and QuantizeOptions(cleanup=CleanupOptions("sieve", min_region=7)).margin == 14
    with pytest.raises(AttributeError):
        options.metric = "cielab"


def test_several_inputs_share_one_palette_built_from_all_their_pixels(tmp_path):
    first, second = random_rgba(6, 7, seed=1, transparent_share=0), random_rgba(5, 4, seed=2, transparent_share=0)
    paths = [write_raster(str(tmp_path / "a.tif"), first, alpha=True),
             write_raster(str(tmp_path / "b.tif"), second, alpha=True)]
    together = np.concatenate([pack_rgba(*first).ravel(), pack_rgba(*second).ravel()])
    expected = build_palette("frequent", *colour_histogram(together), 16)
    histogram = colour_histogram_files(paths, ExtractOptions())
    assert [h.tolist() for h in histogram] == [h.tolist() for h in colour_histogram(together)]

    result = extract_palette_files(paths, str(tmp_path / "legend.csv"), ExtractOptions("frequent", n_colours=16))
    assert result.palette == expected
    assert read_palette(str(tmp_path / "legend.csv"))[0].colours.tolist() == expected.colours.tolist()
    options = QuantizeOptions(palette=PaletteOptions("frequent", n_colours=16))
    for path in paths:
        written = quantize_file(path, path.replace(".tif", "-classes.tif"), options, histogram=histogram)
        assert written.palette == expected


@pytest.mark.parametrize("metric", METRICS)
def test_every_registered_metric_runs_end_to_end(tmp_path, metric):
    image = random_rgba(9, 11, seed=3)
    path = write_raster(str(tmp_path / "in.tif"), image, alpha=True)
    result = quantize_file(path, str(tmp_path / "out.tif"), QuantizeOptions(
        palette=PaletteOptions("vga16"), metric=metric, report=str(tmp_path / "report.html")))
    valid = image[3] >= 128
    reference = brute_force_indices(image[:3].reshape(3, -1).T, builtin_palette("vga16").colours, metric)
    indices = read_indices(result.output)
    assert indices[valid].tolist() == reference.reshape(valid.shape)[valid].tolist()
    assert (indices[~valid] == 255).all()
    assert REGISTRY[metric].title in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_quantize_file_says_which_input_it_cannot_read(tmp_path):
    with pytest.raises(RunError, match="Cannot open .*missing.tif as a raster"):
        quantize_file(str(tmp_path / "missing.tif"), str(tmp_path / "out.tif"), QuantizeOptions())
    grey = write_raster(str(tmp_path / "grey.tif"), random_rgba(4, 4)[:1])
    with pytest.raises(RunError, match="grey.tif has 1 band"):
        quantize_file(grey, str(tmp_path / "out.tif"), QuantizeOptions())
    assert not (tmp_path / "out.tif").exists()


def test_two_runs_at_once_into_one_new_folder_both_write_their_raster(tmp_path):
    """Each run makes the output folders that are missing: the second to make one failed with
    "File exists" (one run in six or so)."""
    from concurrent.futures import ThreadPoolExecutor

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(40, 50, seed=6), alpha=True)
    palettes = ["vga16", "win256"]
    for attempt in range(30):
        folder = tmp_path / str(attempt) / "deeper"
        with ThreadPoolExecutor(2) as pool:
            runs = [pool.submit(quantize_file, path, str(folder / (name + ".tif")),
                                QuantizeOptions(palette=PaletteOptions(name))) for name in palettes]
            for name, run in zip(palettes, runs):
                assert run.result().counts.sum() == np.count_nonzero(read_indices(str(folder / (name + ".tif")))
                                                                     < len(builtin_palette(name)))


def test_scripts_may_give_paths_as_pathlib_paths_and_numbers_as_numpy_integers(tmp_path):
    """Each of these failed inside the run (a TypeError from GDAL's bindings or an AttributeError)
    though the options took them."""
    rgba = random_rgba(20, 30, seed=3)
    source = tmp_path / "in.tif"
    write_raster(str(source), rgba, alpha=True)
    options = QuantizeOptions(palette=PaletteOptions("vga16"), nodata_index=np.int64(0), bands=np.array([1, 2, 3, 4]),
                              report=tmp_path / "r.html", table=tmp_path / "t.csv")
    result = quantize_file(source, tmp_path / "out.tif", options)
    palette = builtin_palette("vga16").colours
    nearest = brute_force_indices(rgba[:3].reshape(3, -1).T, palette[1:], "rgb").reshape(20, 30) + 1
    assert np.array_equal(read_indices(str(tmp_path / "out.tif")), np.where(rgba[3] >= 128, nearest, 0))
    assert result.written == [str(tmp_path / name) for name in ("out.tif", "out.tif.aux.xml", "out.qml", "r.html",
                                                                "t.csv")]
    legend = extract_palette_files(source, tmp_path / "legend.csv", ExtractOptions(n_colours=4, bands=(np.int32(1), 2, 3)))
    assert legend.written == [str(tmp_path / "legend.csv")]
    codes, counts = colour_histogram_files([source], ExtractOptions())
    assert counts.sum() == (rgba[3] >= 128).sum()
    assert QuantizeOptions(style=np.bool_(False)).style is False


def test_a_report_of_an_extraction_without_a_log_is_written_and_the_run_returns(tmp_path):
    """The report's closing log line was told to a log that was not given: TypeError after the
    files were in place."""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(20, 30, seed=3)[:3])
    result = extract_palette_files(source, str(tmp_path / "legend.csv"), ExtractOptions(n_colours=4,
                                                                                         report=str(tmp_path / "r.html")))
    assert result.written == [str(tmp_path / "legend.csv"), str(tmp_path / "r.html")]


@pytest.mark.parametrize("inputs, error_type, message", [
    ([], RunError, "No input was given: give one raster or more to build the palette from."),
    (b"in.tif", OptionsError, "INPUT must be a file path (text or pathlib.Path), not b'in.tif'."),
])
def test_extracting_from_no_input_or_a_bytes_path_says_so(tmp_path, inputs, error_type, message):
    with pytest.raises(error_type) as error:
        extract_palette_files(inputs, str(tmp_path / "legend.csv"), ExtractOptions())
    assert str(error.value) == message


@pytest.mark.parametrize("value", [5.0, np.float64(5)])
def test_a_whole_number_given_as_a_float_is_refused_saying_to_give_the_int(value):
    """The message said 5.0 was not 'a whole number from 2 to 65535', which it is."""
    with pytest.raises(OptionsError) as error:
        PaletteOptions("kmeans", n_colours=value)
    assert str(error.value) == "N_COLORS must be an int, not 5.0: give 5."


def test_a_legend_labelled_in_any_script_keeps_its_labels_in_the_outputs_attribute_table(tmp_path):
    legend = tmp_path / "legend.csv"
    legend.write_text("red,green,blue,label\n0,0,0,Grès – Jura\n255,255,255,花岗岩\n128,0,0,\"Till, \"\"grey\"\"\"\n",
                      encoding="utf-8")
    options = QuantizeOptions(palette=PaletteOptions(file=str(legend)))
    result = quantize_file(write_raster(str(tmp_path / "map.tif"), random_rgba(4, 5)), str(tmp_path / "classes.tif"),
                           options)
    dataset = gdal.Open(result.output)  # kept alive while its band's table is read
    table = dataset.GetRasterBand(1).GetDefaultRAT()
    assert [table.GetValueAsString(row, 4) for row in range(table.GetRowCount())] == \
        ["Grès – Jura", "花岗岩", 'Till, "grey"']
    assert [table.GetValueAsDouble(row, 5) for row in range(3)] == result.counts.tolist()
