"""Transparent and nodata pixels become nodata; partly transparent pixels keep their colour."""

import os

import numpy as np
import pytest

from palettize.engine.nearest import nearest_palette_indices
from palettize.palettes.palette import builtin_palette
from rasters import quantize, read_indices, write_raster
from test_rendered_source import identity_stretched

VGA = builtin_palette("vga16").colours


def nearest_vga(colours):
    return nearest_palette_indices(np.array(colours), VGA, "rgb").tolist()


def alpha_ramp_image():
    """One row: the same light grey at alpha 0, 60, 127, 128, 130, 200, 255."""
    alphas = [0, 60, 127, 128, 130, 200, 255]
    rgb = np.array([[240, 240, 240]] * len(alphas), dtype=np.uint8).T[:, None, :]
    return np.concatenate([rgb, np.array(alphas, dtype=np.uint8)[None, None, :]])


@pytest.mark.parametrize("threshold, nodata_count", [(128, 3), (0, 0), (1, 1), (201, 6)])
def test_pixels_below_the_alpha_threshold_become_nodata(qgis_app, tmp_path, threshold, nodata_count):
    path = write_raster(str(tmp_path / "in.tif"), alpha_ramp_image(), alpha=True)
    out = quantize({"INPUT": path, "PALETTE": "vga16", "ALPHA_THRESHOLD": threshold,
                    "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    indices = read_indices(out)[0]
    assert (indices == 255).sum() == nodata_count
    assert set(indices[nodata_count:].tolist()) == set(nearest_vga([[240, 240, 240]]))


@pytest.mark.parametrize("source, input_kind", [("rendered", "rgba"), ("rendered", "rgb with nodata"), ("bands", "rgba"),
                                               ("bands", "rgb with nodata"), ("bands", "float rgb")])
def test_an_alpha_threshold_of_0_gives_256_colours_a_byte_output_without_nodata(qgis_app, tmp_path, source, input_kind):
    """No pixel is transparent at ALPHA_THRESHOLD=0, so none needs nodata: the output was UInt16
    with nodata 65535 that no pixel held, and the log said the input could have transparent pixels."""
    from osgeo import gdal
    from rasters import feedback_log

    image = alpha_ramp_image()
    if input_kind == "rgba":
        path = write_raster(str(tmp_path / "in.tif"), image, alpha=True)
    elif input_kind == "rgb with nodata":
        path = write_raster(str(tmp_path / "in.tif"), image[:3], nodata=9)
    else:
        path = write_raster(str(tmp_path / "in.tif"), image[:3].astype(np.float32), gdal_type=gdal.GDT_Float32)
    log = feedback_log()
    out = quantize({"INPUT": path, "SOURCE": source, "PALETTE": "win256", "ALPHA_THRESHOLD": 0,
                    "OUTPUT": str(tmp_path / "out.tif")}, feedback=log)["OUTPUT"]
    dataset = gdal.Open(out)
    assert dataset.GetRasterBand(1).DataType == gdal.GDT_Byte and dataset.GetRasterBand(1).GetNoDataValue() is None
    win256 = builtin_palette("win256").colours
    assert read_indices(out).tolist() == [nearest_palette_indices(np.array([[240, 240, 240]] * 7), win256, "rgb").tolist()]
    assert any("opaque input (Alpha threshold (ALPHA_THRESHOLD) = 0, which leaves no pixel transparent): writing Byte "
               "without nodata" in info for info in log.infos)


def test_the_log_counts_the_colours_of_the_pixels_kept_not_of_the_transparent_ones(qgis_app, tmp_path):
    from rasters import feedback_log

    image = np.zeros((4, 3, 8), dtype=np.uint8)
    image[:3, :, :4] = 200  # one colour, opaque
    image[3, :, :4] = 255
    image[:3, :, 4:] = np.arange(3 * 4 * 3).reshape(3, 3, 4)  # a different colour under every transparent pixel
    log = feedback_log()
    quantize({"INPUT": write_raster(str(tmp_path / "in.tif"), image, alpha=True), "PALETTE": "vga16",
              "OUTPUT": str(tmp_path / "out.tif")}, feedback=log)
    assert "1 distinct colour matched to the palette." in log.infos


@pytest.mark.parametrize("layer_style", ["as is", "stretched (drawn by QGIS)", "bands"])
def test_partly_transparent_pixels_are_judged_by_their_unpremultiplied_colour(qgis_app, tmp_path, layer_style):
    # Premultiplied by alpha 130, (240, 240, 240) would be about (122, 122, 122): another VGA colour.
    assert nearest_vga([[240, 240, 240]]) != nearest_vga([[122, 122, 122]])
    path = write_raster(str(tmp_path / "in.tif"), alpha_ramp_image(), alpha=True)
    params = {"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")}
    if layer_style == "bands":
        params["SOURCE"] = "bands"
    elif layer_style != "as is":
        params["INPUT"] = identity_stretched(path)
    indices = read_indices(quantize(params)["OUTPUT"])[0]
    assert indices[3:].tolist() == nearest_vga([[240, 240, 240]]) * 4


@pytest.mark.parametrize("source", ["rendered", "bands"])
def test_band_nodata_values_become_nodata(qgis_app, tmp_path, source):
    rgb = np.full((3, 2, 3), 200, dtype=np.uint8)
    rgb[1, 0, 1] = 0  # green is nodata here
    rgb[:, 1, 2] = 0  # all bands nodata here
    path = write_raster(str(tmp_path / "in.tif"), rgb, nodata=0)
    out = quantize({"INPUT": path, "SOURCE": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})
    grey = nearest_vga([[200, 200, 200]])[0]
    assert read_indices(out["OUTPUT"]).tolist() == [[grey, 255, grey], [grey, grey, 255]]


def test_explicit_alpha_band_for_raw_bands(qgis_app, tmp_path):
    image = np.array([[[10, 250]], [[10, 250]], [[10, 250]], [[255, 0]], [[0, 255]]], dtype=np.uint8)
    path = write_raster(str(tmp_path / "in.tif"), image)
    out = quantize({"INPUT": path, "SOURCE": "bands", "ALPHA_BAND": 5, "PALETTE": "vga16",
                    "OUTPUT": str(tmp_path / "out.tif")})
    assert read_indices(out["OUTPUT"]).tolist() == [[255, 15]]


def test_nan_and_infinity_in_float_bands_become_nodata_with_source_bands(qgis_app, tmp_path):
    from osgeo import gdal

    values = np.array([[10.0, np.nan, 200.0, np.inf, -np.inf, 90.0]], dtype=np.float32)
    bands = np.stack([values, values[:, ::-1].copy(), np.full_like(values, 60.0)])
    path = write_raster(str(tmp_path / "in.tif"), bands, gdal_type=gdal.GDT_Float32)
    out = quantize({"INPUT": path, "SOURCE": "bands", "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    indices = read_indices(out)[0].tolist()
    finite = [0, 5]  # columns where all three bands are finite
    assert [indices[i] for i in range(6) if i not in finite] == [255] * 4
    assert [indices[i] for i in finite] == nearest_vga([[10, 90, 60], [90, 10, 60]])


@pytest.mark.parametrize("nodata", [-9999.0, float("nan")])
def test_nan_and_infinity_stay_nodata_when_the_float_bands_have_a_nodata_value(qgis_app, tmp_path, nodata):
    """GDAL's mask of bands with a nodata value is made of that value alone: it put NaN and infinity
    back among the colours (read as 0), classes without a word."""
    from osgeo import gdal

    values = np.array([[10.0, np.nan, 200.0, np.inf, -9999.0, 90.0]], dtype=np.float32)
    bands = np.stack([values, values[:, ::-1].copy(), np.full_like(values, 60.0)])
    path = write_raster(str(tmp_path / "in.tif"), bands, gdal_type=gdal.GDT_Float32, nodata=nodata)
    out = quantize({"INPUT": path, "SOURCE": "bands", "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    indices = read_indices(out)[0].tolist()
    assert [indices[i] for i in (1, 2, 3, 4)] == [255] * 4  # NaN, infinity or -9999 in a band
    assert [indices[i] for i in (0, 5)] == nearest_vga([[10, 90, 60], [90, 10, 60]])


@pytest.mark.parametrize("source", ["rendered", "bands"])
def test_an_rgba_map_whose_colour_bands_have_a_nodata_value_keeps_its_alpha_band(qgis_app, tmp_path, source):
    """With a nodata value on the colour bands GDAL's mask is that value alone: the alpha band was
    ignored when the bands were read, and pixels of alpha 0 got classes."""
    image = np.array([[[200, 200, 1]], [[200, 200, 1]], [[200, 200, 1]], [[255, 0, 255]]], dtype=np.uint8)
    path = write_raster(str(tmp_path / "in.tif"), image, alpha=True, nodata=1)
    out = quantize({"INPUT": path, "SOURCE": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})
    assert read_indices(out["OUTPUT"]).tolist() == [nearest_vga([[200, 200, 200]]) + [255, 255]]


@pytest.mark.parametrize("nodata", [None, 7], ids=["no nodata", "nodata on the colour bands"])
def test_a_16_bit_alpha_band_is_scaled_as_gdal_scales_it_named_or_not(qgis_app, tmp_path, nodata):
    """GDAL's mask of a 16-bit alpha band scales 0-65535 to 0-255 (1-256 to 1). Named, the values
    were clipped to 255, so alpha 200 (nearly transparent) and 32768 (half) were opaque; with a
    nodata value on the colour bands GDAL's mask is that value alone, and the alpha was ignored."""
    from osgeo import gdal

    image = np.array([[[100] * 5]] * 3 + [[[65535, 0, 200, 32768, 33000]]], dtype=np.uint16)
    path = write_raster(str(tmp_path / "in.tif"), image, alpha=True, gdal_type=gdal.GDT_UInt16, nodata=nodata,
                        options=["PHOTOMETRIC=RGB"])
    outputs = [quantize(dict({"INPUT": path, "SOURCE": "bands", "PALETTE": "vga16",
                              "OUTPUT": str(tmp_path / "out{}.tif".format(i))}, **named))["OUTPUT"]
               for i, named in enumerate([{}, {"ALPHA_BAND": 4}])]
    grey = nearest_vga([[100, 100, 100]])
    assert [read_indices(out).tolist() for out in outputs] == [[grey + [255] * 3 + grey]] * 2  # 33000 -> 128


def test_a_16_bit_band_marked_alpha_but_chosen_as_a_colour_is_read_as_a_colour(qgis_app, tmp_path):
    """Its values are clipped to 0-255 as every colour band's are; they were scaled as alpha
    (0, 100, 200 and 255 all became 1)."""
    from osgeo import gdal

    image = np.array([[[200] * 4], [[0, 100, 200, 255]], [[0] * 4]], dtype=np.uint16)
    path = write_raster(str(tmp_path / "in.tif"), image, gdal_type=gdal.GDT_UInt16)
    dataset = gdal.Open(path, gdal.GA_Update)
    dataset.GetRasterBand(2).SetColorInterpretation(gdal.GCI_AlphaBand)
    dataset = None
    out = quantize({"INPUT": path, "SOURCE": "bands", "PALETTE": "vga16", "RED_BAND": 1, "GREEN_BAND": 2,
                    "BLUE_BAND": 3, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert read_indices(out).tolist() == [nearest_vga([[200, green, 0] for green in (0, 100, 200, 255)])]


def test_an_extent_beside_the_layer_gives_a_warning_with_its_all_nodata_output(qgis_app, tmp_path):
    from qgis.core import QgsProcessingFeedback

    class Warnings(QgsProcessingFeedback):
        warnings = []

        def pushWarning(self, warning):  # noqa: N802 (QGIS API)
            self.warnings.append(warning)

    path = write_raster(str(tmp_path / "in.tif"), alpha_ramp_image(), alpha=True)
    feedback = Warnings()
    out = quantize({"INPUT": path, "PALETTE": "vga16", "EXTENT": "0,100,0,100 [EPSG:32635]", "PIXEL_SIZE": 10,
                    "OUTPUT": str(tmp_path / "out.tif")}, feedback=feedback)["OUTPUT"]
    assert (read_indices(out) == 255).all()
    assert any("the output is all nodata" in w for w in feedback.warnings)


def masked_rgb(path):
    """An RGB GeoTIFF with a mask (GDAL's per-dataset mask band, which QGIS lists as a 4th band):
    the left half of each row masked out."""
    from osgeo import gdal

    rgb = np.array([[[10, 250, 240, 30]], [[10, 250, 20, 30]], [[10, 250, 20, 200]]], dtype=np.uint8)
    write_raster(path, np.repeat(rgb, 2, axis=1))
    dataset = gdal.Open(path, gdal.GA_Update)
    dataset.CreateMaskBand(gdal.GMF_PER_DATASET)
    dataset.GetRasterBand(1).GetMaskBand().WriteArray(np.array([[0, 0, 255, 255]] * 2, dtype=np.uint8))
    dataset = None
    return path


@pytest.mark.parametrize("source", ["rendered", "bands"])
def test_pixels_a_files_mask_hides_become_nodata(qgis_app, tmp_path, source):
    path = masked_rgb(str(tmp_path / "in.tif"))
    out = quantize({"INPUT": path, "SOURCE": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})
    expected = [255, 255] + nearest_vga([[240, 20, 20], [30, 30, 200]])
    assert read_indices(out["OUTPUT"]).tolist() == [expected] * 2


def test_the_mask_qgis_lists_as_a_band_is_explained_when_chosen_as_alpha_band(qgis_app, tmp_path):
    from qgis.core import QgsProcessingException

    path = masked_rgb(str(tmp_path / "in.tif"))
    with pytest.raises(QgsProcessingException) as error:
        quantize({"INPUT": path, "SOURCE": "bands", "ALPHA_BAND": 4, "OUTPUT": str(tmp_path / "out.tif")})
    assert str(error.value).endswith(
        "Alpha band (ALPHA_BAND) is 4 but layer 'in' has 3 band(s) (QGIS lists the file's mask as band 4; it is "
        "read as alpha without being chosen): choose a band from 1 to 3.")
    assert not [name for name in os.listdir(tmp_path) if name.startswith(("out", ".palettize-"))]


@pytest.mark.parametrize("source", ["rendered", "bands"])
def test_a_nodata_value_on_the_blue_band_alone_hides_its_pixels_when_green_has_none(qgis_app, tmp_path, source):
    """A VRT with nodata 0 on its red and blue bands, none on green: pixels where only blue is 0 were
    classed (exit 0), as QGIS draws them transparent. Each band's mask was kept under the id of its
    band object, which Python gave blue's once red's was freed (seen also, now and then, on a file
    with nodata on every band, in a Dask worker: a few pixels of a tile classed)."""
    from osgeo import gdal

    bands = np.full((3, 1, 4), 200, dtype=np.uint8)
    for band in range(3):
        bands[band, 0, band + 1] = 0  # pixel 1: red is 0, pixel 2: green, pixel 3: blue
    vrt = gdal.Translate(str(tmp_path / "in.vrt"), write_raster(str(tmp_path / "in.tif"), bands), format="VRT")
    for band in (1, 3):
        vrt.GetRasterBand(band).SetNoDataValue(0)
    vrt = None
    out = quantize({"INPUT": str(tmp_path / "in.vrt"), "SOURCE": source, "PALETTE": "vga16",
                    "OUTPUT": str(tmp_path / "out.tif")})
    grey, greenless = nearest_vga([[200, 200, 200], [200, 0, 200]])
    assert read_indices(out["OUTPUT"]).tolist() == [[grey, 255, greenless, 255]]
