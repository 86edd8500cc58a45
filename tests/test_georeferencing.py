"""The indexed raster lies on exactly the input's grid: size, geotransform, CRS."""

import os
import re

import pytest
from osgeo import gdal
from qgis.core import QgsProcessingException

from rasters import NORTH_UP, UTM35N, quantize, random_rgba, read_indices, write_raster

ROTATED = (500000.0, 20.0, 5.0, 7500000.0, 4.0, -20.0)


@pytest.mark.parametrize("source", ["rendered", "bands"])
def test_rotated_geotransform_is_kept_term_by_term(qgis_app, tmp_path, source):
    image = random_rgba(30, 40)
    path = write_raster(str(tmp_path / "in.tif"), image, geotransform=ROTATED, alpha=True)
    north_up = write_raster(str(tmp_path / "north_up.tif"), image, alpha=True)
    out = quantize({"INPUT": path, "SOURCE": source, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    reference = quantize({"INPUT": north_up, "SOURCE": source, "OUTPUT": str(tmp_path / "ref.tif")})["OUTPUT"]
    dataset = gdal.Open(out)
    assert dataset.GetGeoTransform() == ROTATED
    assert (dataset.RasterXSize, dataset.RasterYSize) == (40, 30)
    assert (read_indices(out) == read_indices(reference)).all()


def test_crs_is_the_input_crs(qgis_app, tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(5, 6), alpha=True)
    out = quantize({"INPUT": path, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert gdal.Open(out).GetSpatialRef().IsSame(UTM35N)
    assert gdal.Open(out).GetGeoTransform() == gdal.Open(path).GetGeoTransform()


@pytest.mark.parametrize("source", ["rendered", "bands"])
def test_input_without_crs_gives_output_without_crs(qgis_app, tmp_path, source):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(5, 6), srs=None, alpha=True)
    out = quantize({"INPUT": path, "SOURCE": source, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert gdal.Open(out).GetSpatialRef() is None


def scan_with_ground_control_points(path, image):
    """A scanned sheet georeferenced by four ground control points (no geotransform), as GDAL's
    gdal_translate -gcp or QGIS's Georeferencer writes it."""
    rows, columns = image.shape[1:]
    gcps = [gdal.GCP(500000.0 + 25 * x, 7500000.0 - 25 * y + 0.5 * x, 0.0, x, y)
            for x, y in ((0, 0), (columns, 0), (0, rows), (columns, rows))]
    plain = write_raster(path + ".plain.tif", image, alpha=True)
    gdal.Translate(path, plain, GCPs=gcps, outputSRS="EPSG:32635")
    return path, gcps


@pytest.mark.parametrize("source", ["rendered", "bands"])
def test_a_scan_georeferenced_by_ground_control_points_keeps_them(qgis_app, tmp_path, source):
    image = random_rgba(30, 40, seed=6)
    path, gcps = scan_with_ground_control_points(str(tmp_path / "scan.tif"), image)
    reference = write_raster(str(tmp_path / "north_up.tif"), image, alpha=True)
    out = quantize({"INPUT": path, "SOURCE": source, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    dataset = gdal.Open(out)
    assert dataset.GetGeoTransform(can_return_null=True) is None
    assert [(g.GCPPixel, g.GCPLine, g.GCPX, g.GCPY) for g in dataset.GetGCPs()] == [
        (g.GCPPixel, g.GCPLine, g.GCPX, g.GCPY) for g in gcps]
    assert dataset.GetGCPSpatialRef().IsSame(UTM35N)
    assert (dataset.RasterXSize, dataset.RasterYSize) == (40, 30)
    expected = quantize({"INPUT": reference, "SOURCE": source, "OUTPUT": str(tmp_path / "ref.tif")})["OUTPUT"]
    assert (read_indices(out) == read_indices(expected)).all()


def test_a_scan_with_ground_control_points_written_where_they_are_lost_gets_a_warning(qgis_app, tmp_path):
    """netCDF keeps no ground control points with GDAL 3.6 (Debian 12; 3.10 keeps them): the output
    is then not georeferenced, and the log says so instead of a run that looks complete."""
    from rasters import feedback_log

    path, _ = scan_with_ground_control_points(str(tmp_path / "scan.tif"), random_rgba(6, 9, seed=6))
    log = feedback_log()
    out = quantize({"INPUT": path, "SOURCE": "bands", "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.nc")},
                   feedback=log)["OUTPUT"]
    assert gdal.Open(out).GetGeoTransform(can_return_null=True) is None
    warned = ("The netCDF format cannot hold ground control points: classes.nc is not georeferenced. Choose a GeoTIFF "
              "(.tif) to keep the scan's 4 points, or warp the scan first (gdalwarp; in QGIS Raster > Projections > "
              "Warp).") in log.warnings
    assert (gdal.Open(out).GetGCPCount(), warned) in ((0, True), (4, False))
    if int(gdal.VersionInfo()) < 3100000:
        assert warned
    log = feedback_log()
    quantize({"INPUT": path, "SOURCE": "bands", "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.png")},
             feedback=log)
    assert not [w for w in log.warnings if "control points" in w]


@pytest.mark.parametrize("extension, driver", [("sdat", "SAGA"), ("rst", "RST"), ("xyz", "XYZ")])
def test_a_scan_with_ground_control_points_is_refused_where_the_format_would_make_up_a_geotransform(
        qgis_app, tmp_path, extension, driver):
    """SAGA, Idrisi and XYZ give a raster without one a geotransform in pixels, which GDAL and QGIS
    use before the scan's points: the map would lie at pixel coordinates, with no word."""
    path, _ = scan_with_ground_control_points(str(tmp_path / "scan.tif"), random_rgba(6, 9, seed=6))
    with pytest.raises(QgsProcessingException, match=re.escape(
            "Cannot write classes.{} as {} (.{}): it gives a raster a geotransform of its own (in pixels), which GDAL "
            "and QGIS would use instead of the scan's ground control points. Choose a GeoTIFF (.tif)".format(
                extension, driver, extension))):
        quantize({"INPUT": path, "SOURCE": "bands", "PALETTE": "vga16",
                  "OUTPUT": str(tmp_path / "classes.{}".format(extension))})
    assert not [name for name in os.listdir(str(tmp_path)) if name.startswith("classes")]


def test_a_crs_assigned_in_qgis_to_a_file_without_one_places_the_output(qgis_app, tmp_path):
    """A file without a CRS, given one in QGIS (Layer CRS in its properties): the output has that CRS,
    and an extent in degrees is reprojected from it, pixel for pixel as for a file that holds it."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsRasterLayer

    image = random_rgba(40, 50, seed=4, transparent_share=0)
    bare = QgsRasterLayer(write_raster(str(tmp_path / "bare.tif"), image, srs=None, alpha=True), "bare")
    bare.setCrs(QgsCoordinateReferenceSystem("EPSG:32635"))
    twin = write_raster(str(tmp_path / "twin.tif"), image, alpha=True)
    out = quantize({"INPUT": bare, "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert gdal.Open(out).GetSpatialRef().IsSame(UTM35N)
    degrees = {"EXTENT": "27.003,27.025,67.608,67.614 [EPSG:4326]", "PIXEL_SIZE": 0.0002}
    from_qgis = quantize(dict(degrees, INPUT=bare, OUTPUT=str(tmp_path / "bare-degrees.tif")))["OUTPUT"]
    from_file = quantize(dict(degrees, INPUT=twin, OUTPUT=str(tmp_path / "twin-degrees.tif")))["OUTPUT"]
    assert (read_indices(from_file) != 65535).all()  # inside the layer: no nodata
    assert read_indices(from_qgis).tolist() == read_indices(from_file).tolist()


def test_a_layer_placed_by_its_world_file_through_an_open_option_keeps_that_grid(qgis_app, tmp_path):
    """A GeoTIFF QGIS opens with |option:GEOREF_SOURCES=WORLDFILE (placed by its .tfw, as another
    program placed it): the output had the file's internal geotransform, where the layer is not,
    exit 0 (a layer QGIS must draw came out all nodata there). GDAL opens the bare path without the
    option: such a layer is drawn by QGIS, and SOURCE=bands says why it cannot read it."""
    from qgis.core import QgsRasterLayer

    image = random_rgba(20, 30, seed=30, transparent_share=0)[:3]
    path = write_raster(str(tmp_path / "sheet.tif"), image)  # internal geotransform: NORTH_UP
    with open(str(tmp_path / "sheet.tfw"), "w") as world:
        world.write("20\n0\n0\n-20\n100010\n200010\n")  # pixel centres: the corner is at (100000, 200020)
    layer = QgsRasterLayer(path + "|option:GEOREF_SOURCES=WORLDFILE", "placed by its world file")
    out = quantize({"INPUT": layer, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert gdal.Open(out).GetGeoTransform() == (100000.0, 20.0, 0.0, 200020.0, 0.0, -20.0)
    bands = quantize({"INPUT": path, "SOURCE": "bands", "PALETTE": "vga16", "OUTPUT": str(tmp_path / "bands.tif")})
    assert read_indices(out).tolist() == read_indices(bands["OUTPUT"]).tolist()  # the same pixels, placed anew
    with pytest.raises(QgsProcessingException, match=re.escape(
            "layer 'placed by its world file' cannot be read so: it is opened with GDAL open options "
            "(GEOREF_SOURCES=WORLDFILE), which change what it holds. Choose rendered.")):
        quantize({"INPUT": layer, "SOURCE": "bands", "PALETTE": "vga16", "OUTPUT": str(tmp_path / "refused.tif")})
    with pytest.raises(QgsProcessingException, match=re.escape("would replace Input raster layer (INPUT)")):
        quantize({"INPUT": layer, "PALETTE": "vga16", "OUTPUT": path})  # its own file, as without the option
    assert gdal.Open(path).RasterCount == 3


def scene_with_rpcs(path, image):
    """A satellite scene georeferenced by rational polynomial coefficients (GDAL's RPC metadata)."""
    rpc = {"LINE_OFF": "11", "SAMP_OFF": "18", "LAT_OFF": "60", "LONG_OFF": "20", "HEIGHT_OFF": "0",
           "LINE_SCALE": "12", "SAMP_SCALE": "19", "LAT_SCALE": "0.1", "LONG_SCALE": "0.1", "HEIGHT_SCALE": "100",
           "LINE_NUM_COEFF": " ".join(["0", "0", "-1"] + ["0"] * 17), "LINE_DEN_COEFF": " ".join(["1"] + ["0"] * 19),
           "SAMP_NUM_COEFF": " ".join(["0", "1"] + ["0"] * 18), "SAMP_DEN_COEFF": " ".join(["1"] + ["0"] * 19)}
    plain = write_raster(path + ".plain.tif", image, srs=None)
    gdal.Translate(path, plain)
    dataset = gdal.Open(path, gdal.GA_Update)
    dataset.SetMetadata(rpc, "RPC")
    dataset = None
    return path, gdal.Open(path).GetMetadata("RPC")


@pytest.mark.parametrize("source", ["rendered", "bands"])
def test_a_scene_georeferenced_by_rpcs_keeps_them_and_a_format_that_loses_them_says_so(qgis_app, tmp_path, source):
    """The RPCs were dropped with no word: the output could no longer be placed."""
    from rasters import feedback_log

    path, rpc = scene_with_rpcs(str(tmp_path / "scene.tif"), random_rgba(23, 37, seed=6)[:3])
    out = quantize({"INPUT": path, "SOURCE": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")})["OUTPUT"]
    assert gdal.Open(out).GetMetadata("RPC") == rpc
    log = feedback_log()
    quantize({"INPUT": path, "SOURCE": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.xyz")}, feedback=log)
    assert ("out.xyz has none of the input's RPCs (a satellite scene's rational polynomial coefficients): the XYZ format "
            "cannot hold them. Choose a GeoTIFF (.tif) to keep them.") in log.warnings


def test_a_scene_split_into_tiles_keeps_its_rpcs_in_the_mosaic(tmp_path):
    import subprocess

    from rasters import ROOT

    path, rpc = scene_with_rpcs(str(tmp_path / "scene.tif"), random_rgba(23, 37, seed=6)[:3])
    for output in ("out.tif", "out.vrt"):
        result = subprocess.run([os.path.join(ROOT, "scripts", "palettize"), "quantize", path, "-o",
                                 str(tmp_path / output), "--palette", "vga16", "--split-above", "0.0002"],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert "tiles" in result.stderr and gdal.Open(str(tmp_path / output)).GetMetadata("RPC") == rpc


@pytest.mark.parametrize("how", ["rendered", "bands", "split into tiles", "on a grid of its own"])
def test_the_coordinate_epoch_of_a_dynamic_crs_is_kept(qgis_app, tmp_path, how):
    """The output's CRS was copied as WKT, which does not hold the epoch: 2021.5 became none (and in
    tiles split on worker processes, GDAL's mosaic of them left it out)."""
    import subprocess

    from osgeo import osr
    from rasters import ROOT

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32635)
    srs.SetCoordinateEpoch(2021.5)
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(23, 37, seed=6)[:3], srs=srs)
    out = str(tmp_path / "out.tif")
    if how == "split into tiles":
        assert subprocess.run([os.path.join(ROOT, "scripts", "palettize"), "quantize", path, "-o", out, "--palette",
                               "vga16", "--split-above", "0.0002", "--workers", "2", "-q"]).returncode == 0
    elif how == "on a grid of its own":  # an EXTENT in the layer's own CRS
        quantize({"INPUT": path, "PALETTE": "vga16", "EXTENT": "{},{},{},{} [EPSG:32635]".format(
            NORTH_UP[0], NORTH_UP[0] + 100, NORTH_UP[3] - 100, NORTH_UP[3]), "PIXEL_SIZE": 10, "OUTPUT": out})
    else:
        quantize({"INPUT": path, "SOURCE": how, "PALETTE": "vga16", "OUTPUT": out})
    assert gdal.Open(out).GetSpatialRef().GetCoordinateEpoch() == 2021.5
    assert gdal.Open(out).GetSpatialRef().IsSame(srs)


def test_a_format_that_cannot_hold_a_crs_epoch_or_vertical_part_writes_the_output_and_says_so(qgis_app, tmp_path):
    """HFA keeps neither: the epoch went with no word, and a compound CRS was refused though its
    horizontal part places the classes as well."""
    from osgeo import osr
    from rasters import feedback_log

    dynamic = osr.SpatialReference()
    dynamic.ImportFromEPSG(32635)
    dynamic.SetCoordinateEpoch(2021.5)
    compound = osr.SpatialReference()
    compound.SetFromUserInput("EPSG:32635+5773")
    dynamic.SetCoordinateEpoch(2021.123456)
    for name, srs, warning in [
        ("dynamic", dynamic, "The HFA format cannot hold the coordinate epoch of a dynamic CRS: dynamic.img is in WGS 84 "
                             "/ UTM zone 35N without its epoch 2021.123456; note it where you use it."),
        ("compound", compound, "The HFA format cannot hold the vertical part of a compound CRS: compound.img is in the "
                               "horizontal part of WGS 84 / UTM zone 35N + EGM96 height alone, which places it as "
                               "well.")]:
        path = write_raster(str(tmp_path / (name + ".tif")), random_rgba(6, 9, seed=6)[:3], srs=srs)
        log = feedback_log()
        out = quantize({"INPUT": path, "SOURCE": "bands", "PALETTE": "vga16", "OUTPUT": str(tmp_path / (name + ".img"))},
                       feedback=log)["OUTPUT"]
        assert warning in log.warnings
        assert gdal.Open(out).GetSpatialRef().IsSame(UTM35N)


def test_a_mosaic_of_a_geographic_crs_with_an_epoch_keeps_longitude_east_and_latitude_north(tmp_path):
    """The mosaic's CRS, set again with its epoch, was written with its authority's axis order: the
    .vrt read latitude as longitude (the corner at 50 E, 10 N instead of 10 E, 50 N)."""
    import subprocess

    from osgeo import osr
    from rasters import ROOT

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    srs.SetCoordinateEpoch(2021.5)
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(23, 37, seed=6)[:3], geotransform=(10.0, 0.01, 0.0, 50.0,
                                                                                                   0.0, -0.01), srs=srs)
    out = str(tmp_path / "out.vrt")
    assert subprocess.run([os.path.join(ROOT, "scripts", "palettize"), "quantize", path, "-o", out, "--palette",
                           "vga16", "--split-above", "0.0002", "-q"]).returncode == 0
    dataset = gdal.Open(out)
    written = dataset.GetSpatialRef()
    to_degrees = osr.CoordinateTransformation(written, written.CloneGeogCS())
    assert written.GetCoordinateEpoch() == 2021.5
    assert dataset.GetGeoTransform()[0] == 10.0 and written.GetDataAxisToSRSAxisMapping() == [2, 1]
    assert to_degrees is not None


def test_a_file_split_into_tiles_on_workers_says_what_its_format_cannot_hold_as_one_run_does(tmp_path):
    """The warnings of an output assembled from tiles (split on worker processes) left out what its
    format lost: a one-process run said the epoch was lost, the split run said nothing."""
    import subprocess

    from osgeo import osr
    from rasters import ROOT

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32635)
    srs.SetCoordinateEpoch(2021.5)
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(23, 37, seed=6)[:3], srs=srs)
    said = []
    for name, split in (("one.img", []), ("split.img", ["--workers", "2", "--split-above", "0.0002"])):
        result = subprocess.run([os.path.join(ROOT, "scripts", "palettize"), "quantize", path, "-o",
                                 str(tmp_path / name), "--palette", "vga16"] + split, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        said.append([line.replace(name, "out.img") for line in result.stderr.splitlines() if line.startswith("warning")])
    assert said[0] == said[1] == ["warning: The HFA format cannot hold the coordinate epoch of a dynamic CRS: out.img is "
                                  "in WGS 84 / UTM zone 35N without its epoch 2021.5; note it where you use it."]
