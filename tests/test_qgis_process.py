"""From the command line: qgis_process runs the plugin as installed and gives the same grid."""

import numpy as np

from palettize.palettes.formats import read_palette
from palettize.palettes.palette import builtin_palette
from rasters import qgis_process, quantize, random_rgba, read_indices, write_raster


def test_provider_and_algorithm_are_listed(qgis_app):
    result = qgis_process("list")
    assert result.returncode == 0, result.stdout
    assert "Palettize" in result.stdout
    assert "palettize:quantize" in result.stdout


def test_qgis_process_gives_the_same_indices_as_the_console(qgis_app, tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(20, 30, seed=9), alpha=True)
    result = qgis_process("run", "palettize:quantize", "--", "INPUT=" + path, "METRIC=cielab", "PALETTE=websafe216",
                          "OUTPUT=" + str(tmp_path / "cli.tif"))
    assert result.returncode == 0, result.stdout
    console = quantize({"INPUT": path, "METRIC": "cielab", "PALETTE": "websafe216",
                        "OUTPUT": str(tmp_path / "console.tif")})["OUTPUT"]
    assert np.array_equal(read_indices(str(tmp_path / "cli.tif")), read_indices(console))


def test_ascii_grid_for_opendtect_gets_the_palette_beside_it(qgis_app, tmp_path):
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(4, 5, seed=2, transparent_share=0), alpha=True)
    output = str(tmp_path / "horizon.xyz")
    result = qgis_process("run", "palettize:quantize", "--", "INPUT=" + path, "PALETTE=vga16", "OUTPUT=" + output)
    assert result.returncode == 0, result.stdout
    assert "cannot hold a colour table" in result.stdout
    reference = quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "ref.tif")})["OUTPUT"]
    values = np.loadtxt(output)[:, 2].reshape(4, 5)
    assert np.array_equal(values, read_indices(reference))
    palette, _ = read_palette(output + ".palette.csv")
    assert palette == builtin_palette("vga16")


def test_a_table_saved_into_a_geopackage_as_the_toolbox_names_it_holds_every_entry_without_a_gdal_error(qgis_app,
                                                                                                      tmp_path):
    """The toolbox's "Save to GeoPackage" names the table with a geometry column ((geom)); closing
    the table without one, GDAL printed "ERROR 1: No geometry column" in a run that went well."""
    from osgeo import ogr

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(4, 5, seed=2), alpha=True)
    tables = str(tmp_path / "tables.gpkg")
    result = qgis_process("run", "palettize:quantize", "--", "INPUT=" + path, "PALETTE=vga16",
                          "OUTPUT=" + str(tmp_path / "out.tif"),
                          "OUTPUT_TABLE=ogr:dbname='{}' table=\"legend\" (geom)".format(tables))
    assert result.returncode == 0, result.stdout
    assert "ERROR" not in result.stdout
    dataset = ogr.Open(tables)
    rows = [feature.GetField("hex") for feature in dataset.GetLayerByName("legend")]
    dataset = None
    assert rows == ["#{:02x}{:02x}{:02x}".format(*colour) for colour in builtin_palette("vga16").colours.tolist()]
