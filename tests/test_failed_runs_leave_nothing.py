"""A run that fails, whenever and however, leaves the disk as it found it: no output, no side file,
no temporary folder, no folder it made, and the files it would have replaced intact."""

import os
import subprocess
import time

import numpy as np
import processing
import pytest
from osgeo import gdal, ogr
from qgis.core import QgsProcessingException, QgsProcessingFeedback

from rasters import geopackage_tables, geopackage_with_a_table, quantize, random_rgba, read_indices, write_raster


def everything_under(folder):
    """Every file and folder below ``folder``, as relative paths (inputs live elsewhere: QGIS may
    save statistics beside them)."""
    found = []
    for root, folders, files in os.walk(folder):
        found += [os.path.relpath(os.path.join(root, name), folder) for name in folders + files]
    return sorted(found)


@pytest.fixture
def rgba(tmp_path_factory):
    folder = tmp_path_factory.mktemp("input")
    # some pixels transparent: 256 colours need nodata, so UInt16, which GIF and BMP cannot hold
    return write_raster(str(folder / "in.tif"), random_rgba(20, 30), alpha=True)


class FillsTheDisk(QgsProcessingFeedback):
    """Another program fills the disk just after the run's checks, while it reads its input."""

    def __init__(self, disk, keep_free):
        super().__init__()
        self.disk, self.keep_free = disk, keep_free

    def pushInfo(self, info):  # noqa: N802 (QGIS API)
        if info.startswith("Reading") and not os.path.exists(os.path.join(self.disk, "filler")):
            free = os.statvfs(self.disk).f_bavail * os.statvfs(self.disk).f_frsize
            with open(os.path.join(self.disk, "filler"), "wb") as f:
                f.write(b"\0" * max(0, free - self.keep_free))
        super().pushInfo(info)


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")  # the traceback of a failed close
def test_a_full_disk_fails_the_run_and_leaves_nothing(qgis_app, tmp_path, small_disk, gdal_error_style, capfd):
    """The run's message says why, on one line; GDAL prints no copy of its errors, and a close that
    fails with GDAL exceptions on prints no traceback ("Exception ignored in: delete_Dataset", QGIS 3.40)."""
    rng = np.random.default_rng(3)
    noise = np.concatenate([rng.integers(0, 256, (3, 700, 700), dtype=np.uint8), np.full((1, 700, 700), 255, np.uint8)])
    path = write_raster(str(tmp_path / "noise.tif"), noise, alpha=True)  # outside the small disk
    output = small_disk / "new folder" / "out.tif"
    capfd.readouterr()
    with pytest.raises(QgsProcessingException) as error:
        quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(output),
                  "OUTPUT_REPORT": str(small_disk / "report.html")}, feedback=FillsTheDisk(str(small_disk), 64 * 1024))
    assert "Could not write {}".format(output) in str(error.value) and "\n" not in str(error.value)
    assert "KB free: free some space or write it elsewhere" in str(error.value)
    printed = capfd.readouterr().err
    assert "Traceback" not in printed and "ERROR 1:" not in printed
    assert everything_under(str(small_disk)) == ["filler"]


def files_open_under(folder):
    """The files this process holds open below ``folder`` (deleted ones too)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(os.path.join("/proc/self/fd", fd))
        except OSError:
            continue
        if target.startswith(str(folder)):
            held.append(target)
    return held


@pytest.mark.parametrize("extension", ["xyz", "asc"])
def test_an_ascii_grid_that_fills_the_disk_lets_go_of_its_work_file(
        qgis_app, tmp_path, small_disk, gdal_error_style, extension):
    """An ASCII grid is written as a GeoTIFF first, then copied: the copy filled the disk, the run
    failed and removed its files, but the deleted GeoTIFF stayed open (held by the error's
    traceback), its space used until QGIS ended, the disk impossible to unmount."""
    path = write_raster(str(tmp_path / "noise.tif"), np.random.default_rng(5).integers(0, 256, (3, 300, 300),
                                                                                       dtype=np.uint8))
    with pytest.raises(QgsProcessingException, match="Could not write"):
        quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(small_disk / ("grid." + extension))},
                 feedback=FillsTheDisk(str(small_disk), 200 * 1024))
    os.remove(str(small_disk / "filler"))
    assert everything_under(str(small_disk)) == []
    assert files_open_under(small_disk) == []


def failures_filling_the_disk(tmp_path, disk, output, free_bytes):
    """The messages of the runs that failed writing ``output`` (a name) of a 300 x 300 noise map to
    ``disk`` filled to leave each of ``free_bytes`` (for every stage of the writing); after each run
    the disk is emptied, and no file on it may still be open."""
    path = write_raster(str(tmp_path / "noise.tif"), np.random.default_rng(5).integers(0, 256, (3, 300, 300),
                                                                                       dtype=np.uint8))
    messages = []
    for keep_free in free_bytes:
        try:
            quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(disk / output)},
                     feedback=FillsTheDisk(str(disk), keep_free))
        except QgsProcessingException as error:
            messages.append(str(error))
        for name in os.listdir(str(disk)):
            os.remove(str(disk / name))
        assert (keep_free, files_open_under(disk)) == (keep_free, [])
    return messages


def test_an_ascii_grid_that_fills_the_disk_says_so_wherever_it_fills_up(qgis_app, tmp_path, small_disk):
    """GDAL gives no reason when the disk fills up as it closes an .asc file (its last lines):
    "GDAL gave no reason" told the user nothing."""
    messages = failures_filling_the_disk(tmp_path, small_disk, "grid.asc", range(270 * 1024, 200 * 1024, -2 * 1024))
    assert len(messages) > 20
    assert [m for m in messages if "disk full?" not in m and "KB free: free some space or write it elsewhere" not in m] \
        == []


def test_a_geotiff_that_fills_the_disk_says_so_wherever_it_fills_up(qgis_app, tmp_path, small_disk):
    """Where the disk fills up as GDAL writes a GeoTIFF's directory, its message is a failed read
    ("TIFFReadDirectory: Failed to read directory at offset 8"), not a word of the full disk. And
    every failed run let go of its removed raster only when QGIS ended (its space still taken):
    the error QGIS keeps held the band whose write failed."""
    messages = failures_filling_the_disk(tmp_path, small_disk, "classes.tif", range(48 * 1024, 0, -1024))
    assert len(messages) > 5  # GDAL 3.10 fails at fewer of these points than 3.6
    assert [m for m in messages if "No space left on device" not in m and "KB free: free some space" not in m] == []


def test_a_raster_gdal_fails_to_create_fails_the_writer_with_gdals_reason_and_leaves_nothing(tmp_path):
    """GDAL's failure to create the output is raised by the writer (engine.gdal_io.IndexedRasterWriter)
    with GDAL's reason, and the writer leaves nothing, holding no file."""
    from palettize.engine.gdal_io import IndexedRasterWriter, RasterGrid, WriteError
    from palettize.palettes.palette import builtin_palette

    output = tmp_path / "out" / "classes.tif"
    writer = IndexedRasterWriter(str(output), "GTiff", RasterGrid(0, 10, None, ""), builtin_palette("vga16"),
                                 gdal.GDT_Byte, None)
    with pytest.raises(WriteError) as error:
        writer.open()  # as a run's first block is read, or at its first write
    assert str(error.value).startswith("GDAL could not create {}: Attempt to create 0x10 dataset".format(output))
    assert everything_under(str(tmp_path)) == []
    assert files_open_under(tmp_path) == []


def test_a_geotiff_written_as_the_disk_fills_up_is_refused_or_whole(qgis_app, tmp_path, small_disk, gdal_error_style):
    """Wherever the disk fills up, the run fails, or its file holds every index, the colour table and
    the table of classes. GDAL 3.10 (QGIS 3.40) reports no error where the disk fills up as it writes
    the last tile: the run ended with exit 0 and a file GDAL could not read. (A GeoTIFF output is not
    opened again: a UInt16 one's 65,536-entry colour map costs each sheet of an archive 1 ms.)"""
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(300, 300), alpha=True)
    quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(tmp_path / "whole.tif")})
    whole = gdal.Open(str(tmp_path / "whole.tif")).ReadAsArray()
    written, broken = 0, []
    for keep_free in range(640 * 1024, 0, -8 * 1024):  # the output takes about 600 KB
        try:
            quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(small_disk / "out.tif")},
                     feedback=FillsTheDisk(str(small_disk), keep_free))
        except QgsProcessingException:
            pass
        else:
            written += 1
            try:
                output = gdal.Open(str(small_disk / "out.tif"))
                band = output.GetRasterBand(1) if output is not None else None
                whole_file = band is not None and np.array_equal(band.ReadAsArray(), whole) and \
                    band.GetColorTable() is not None and band.GetDefaultRAT() is not None and \
                    band.GetDefaultRAT().GetRowCount() == 256
            except RuntimeError:  # GDAL exceptions switched on (QGIS 3.40)
                whole_file = False
            band = output = None
            if not whole_file:
                broken.append(keep_free)
        for name in os.listdir(str(small_disk)):
            os.remove(str(small_disk / name))
    assert written > 1 and broken == []


@pytest.mark.parametrize("extension", ["pdf", "bmp", "mbtiles"])
def test_a_format_gdal_cannot_create_leaves_no_temporary_folder(qgis_app, tmp_path, rgba, extension):
    output = tmp_path / "out" / ("classes." + extension)
    with pytest.raises(QgsProcessingException, match="Choose a GeoTIFF"):
        quantize({"INPUT": rgba, "PALETTE": "win256", "OUTPUT": str(output)})
    assert everything_under(str(tmp_path)) == []


@pytest.mark.parametrize("report", ["a folder", "inside a file"])
def test_a_report_that_cannot_be_written_is_refused_before_any_work(qgis_app, tmp_path, rgba, report):
    (tmp_path / "reports").mkdir()
    (tmp_path / "notes.txt").write_text("a file")
    path = tmp_path / "reports" if report == "a folder" else tmp_path / "notes.txt" / "report.html"
    with pytest.raises(QgsProcessingException, match=r"Cannot write Report \(OUTPUT_REPORT\)"):
        quantize({"INPUT": rgba, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif"), "OUTPUT_REPORT": str(path)})
    assert everything_under(str(tmp_path)) == ["notes.txt", "reports"]


def test_a_report_in_a_missing_folder_is_written_with_its_folder(qgis_app, tmp_path, rgba):
    report = tmp_path / "new" / "report.html"
    quantize({"INPUT": rgba, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif"), "OUTPUT_REPORT": str(report)})
    assert report.is_file()
    assert "new/report.html" in everything_under(str(tmp_path))


def test_a_table_in_a_missing_folder_is_written_with_its_folder_as_the_report_is(qgis_app, tmp_path, rgba):
    table = tmp_path / "new" / "deeper" / "table.csv"
    quantize({"INPUT": rgba, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif"), "OUTPUT_TABLE": str(table)})
    rows = table.read_text().splitlines()
    assert len(rows) == 1 + 16 and rows[0].startswith("index,")


@pytest.mark.parametrize("algorithm", ["quantize", "extractpalette"])
@pytest.mark.parametrize("extension, driver", [("txt", "Geoconcept"), ("dxf", "DXF"), ("gpx", "GPX"), ("dgn", "DGN"),
                                               ("000", "S57"), ("xtf", "Interlis 2"), ("pdf", "PDF"), ("gmt", "OGR_GMT"),
                                               ("mbtiles", "MBTiles"), ("nc", "netCDF"), ("fgb", "FlatGeobuf"),
                                               ("geojsons", "GeoJSONSeq"), ("sqlite", "SQLite")])
def test_a_table_in_a_format_that_holds_no_plain_table_is_refused_before_any_work(
        qgis_app, tmp_path, rgba, algorithm, extension, driver):
    """A "palette table" named table.txt: QGIS writes .txt as Geoconcept, which failed once the raster
    was done ("SRS is mandatory"), leaving table.txt.gxt behind; a .pdf table was said to be written
    and was not, a .gmt or (GDAL 3.6) .fgb one held no row, a .geojsons one was table.geojsons.json,
    a .sqlite one opened as empty (its table without geometry not listed)."""
    table = tmp_path / "out" / ("table." + extension)
    outputs = {"OUTPUT": str(tmp_path / "out" / "o.tif"), "PALETTE": "vga16"} if algorithm == "quantize" else {
        "OUTPUT_PALETTE": str(tmp_path / "out" / "legend.csv")}
    with pytest.raises(QgsProcessingException) as refused:
        processing.run("palettize:" + algorithm, dict(outputs, INPUT=rgba, OUTPUT_TABLE=str(table)))
    assert ("Cannot write Palette table (OUTPUT_TABLE) {}: QGIS writes .{} files as {}, which cannot hold a table "
            "without geometry. Write it as .csv (or .xlsx, .ods, .gpkg).".format(table, extension, driver)
            in str(refused.value))
    assert everything_under(str(tmp_path)) == []


def test_a_failed_run_removes_the_folder_it_made_for_its_table(qgis_app, tmp_path, rgba):
    old = tmp_path / "out.tif"
    old.write_bytes(b"the previous output")
    (tmp_path / "out.tif.aux.xml").mkdir()  # the raster attribute table cannot go there: the run fails at the end
    with pytest.raises(QgsProcessingException, match="is a folder"):
        quantize({"INPUT": rgba, "PALETTE": "vga16", "OUTPUT": str(old),
                  "OUTPUT_TABLE": str(tmp_path / "new" / "table.csv")})
    assert everything_under(str(tmp_path)) == ["out.tif", "out.tif.aux.xml"]


@pytest.mark.parametrize("name", ["table.csv", "table.gpkg"])
def test_a_failed_run_keeps_the_table_it_would_have_replaced(qgis_app, tmp_path, rgba, name):
    # QGIS writes the table straight into place, over last run's table, before the run fails at the end.
    table = tmp_path / name
    table.write_bytes(b"the previous table")
    (tmp_path / "out.tif.aux.xml").mkdir()  # the raster attribute table cannot go there
    with pytest.raises(QgsProcessingException, match="is a folder"):
        quantize({"INPUT": rgba, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif"), "OUTPUT_TABLE": str(table)})
    assert table.read_bytes() == b"the previous table"
    assert everything_under(str(tmp_path)) == ["out.tif.aux.xml", name]


def test_the_table_goes_into_place_with_the_other_outputs_when_they_are_complete(qgis_app, tmp_path):
    """QGIS wrote the table straight into place before the raster and its side files went there:
    two runs at once into the same outputs (two toolbox runs) left one's raster and the other's
    table, about one time in twenty-five, and a run failing after its table removed or put back
    a table the other had written. It is written with the staged outputs now."""
    from qgis.core import QgsApplication, QgsProcessingContext

    from palettize.engine.outputs import OutputFiles
    from palettize.palettes.palette import builtin_palette

    algorithm = QgsApplication.processingRegistry().createAlgorithmById("palettize:quantize")
    table, results = tmp_path / "classes.csv", {}
    write = algorithm.table_writer({"OUTPUT_TABLE": str(table)}, QgsProcessingContext(), lambda run: np.arange(16),
                                   results)

    class Run:
        palette = builtin_palette("vga16")

    outputs = OutputFiles()
    write(Run, outputs)
    assert [name for name in everything_under(str(tmp_path)) if not name.startswith(".palettize-")] == []
    outputs.commit()
    assert everything_under(str(tmp_path)) == ["classes.csv"] and results == {"OUTPUT_TABLE": str(table)}
    assert len(table.read_text().splitlines()) == 17  # the header and one row per entry


@pytest.mark.parametrize("tables", [("boreholes",), ("boreholes", "legend"), ()],
                         ids=["other tables", "a table by that name", "a raster only"])
def test_a_failed_run_keeps_the_geopackage_its_table_was_added_to(qgis_app, tmp_path, rgba, tables):
    """A table saved into a project's GeoPackage is written straight into it: a run that failed
    after it (or was cancelled just before putting its outputs in place) deleted the whole
    GeoPackage, the user's other tables and rasters with it. Only the table it added goes, and a
    table of the user's it replaced comes back."""
    project = str(tmp_path / "project.gpkg")
    gdal.Translate(project, rgba, format="GPKG", creationOptions=["RASTER_TABLE=ortho"])
    for name in tables:
        geopackage_with_a_table(project, name)
    (tmp_path / "out.tif.aux.xml").mkdir()  # the raster attribute table cannot go there: the run fails at the end
    with pytest.raises(QgsProcessingException, match="is a folder"):
        quantize({"INPUT": rgba, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif"),
                  "OUTPUT_TABLE": "ogr:dbname='{}' table=\"legend\" (geom)".format(project)})
    assert geopackage_tables(project) == {name: 1 for name in tables}
    assert gdal.Open(project).RasterXSize == 30
    assert everything_under(str(tmp_path)) == ["out.tif.aux.xml", "project.gpkg"]


@pytest.mark.parametrize("algorithm", ["quantize", "extractpalette"])
def test_a_table_given_as_the_path_of_a_geopackage_of_other_layers_is_refused_before_any_work(
        qgis_app, tmp_path, rgba, algorithm):
    """OUTPUT_TABLE=project.gpkg (a path, not the dialog's Save to GeoPackage): QGIS wrote the table
    as a new file, and the user's other layers in it were gone, the run a success."""
    project = geopackage_with_a_table(tmp_path / "project.gpkg", "boreholes")
    geopackage_with_a_table(project, "project")  # the stem: the advice must not replace this one either
    geopackage_with_a_table(project, "Project_palette")
    own = {"quantize": {"PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif")},
           "extractpalette": {"N_COLORS": 8, "OUTPUT_PALETTE": str(tmp_path / "p.gpl")}}[algorithm]
    parameters = dict(own, INPUT=rgba, OUTPUT_TABLE=project)
    with pytest.raises(QgsProcessingException) as error:
        processing.run("palettize:" + algorithm, parameters)
    assert ("Cannot write Palette table (OUTPUT_TABLE) {0}: it is a GeoPackage holding other layers (Project_palette, "
            "boreholes), which writing the table as a new file would delete. To add the table to it, give "
            "ogr:dbname='{0}' table=\"project_palette_2\" (what the dialog's Save to GeoPackage gives), or choose "
            "another file.").format(project) in str(error.value)
    users = {"boreholes": 1, "project": 1, "Project_palette": 1}
    assert geopackage_tables(project) == users
    assert everything_under(str(tmp_path)) == ["project.gpkg"]
    # followed, the advice adds the table, and replaces none of the user's
    processing.run("palettize:" + algorithm, dict(parameters, OUTPUT_TABLE="ogr:dbname='{}' table=\"{}\"".format(
        project, "project_palette_2")))
    tables = geopackage_tables(project)
    assert {name: rows for name, rows in tables.items() if name in users} == users and len(tables) == 4


def test_a_failed_run_puts_back_the_users_table_of_a_geopackage_qgis_has_open(qgis_app, tmp_path, rgba):
    """The GeoPackage's tables are loaded in QGIS and one was edited and saved: SQLite keeps the
    GeoPackage's latest pages in project.gpkg-wal. A copy of project.gpkg alone, put back after a
    failed run, lost the user's table "legend": it then held the run's palette rows."""
    from qgis.core import QgsFeature, QgsProject, QgsVectorLayer

    import sqlite3

    project = geopackage_with_a_table(geopackage_with_a_table(tmp_path / "project.gpkg", "boreholes"), "legend")
    layers = [QgsVectorLayer(project + "|layername=" + name, name, "ogr") for name in ("boreholes", "legend")]
    QgsProject.instance().addMapLayers(layers)
    # another program reading the GeoPackage: the -wal stays however soon QGIS closes its own connection
    reader = sqlite3.connect(project)
    reader.execute("SELECT COUNT(*) FROM gpkg_contents").fetchall()
    try:
        layers[0].startEditing()
        assert layers[0].addFeature(QgsFeature(layers[0].fields())) and layers[0].commitChanges()
        assert os.path.exists(project + "-wal")
        (tmp_path / "out.tif.aux.xml").mkdir()  # the run fails at the end
        with pytest.raises(QgsProcessingException, match="is a folder"):
            quantize({"INPUT": rgba, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif"),
                      "OUTPUT_TABLE": "ogr:dbname='{}' table=\"legend\" (geom)".format(project)})
        assert geopackage_tables(project) == {"boreholes": 2, "legend": 1}
        dataset = ogr.Open(project)
        assert [feature.GetField("depth") for feature in dataset.GetLayerByName("legend")] == [12.5]
        dataset = None
    finally:
        reader.close()
        QgsProject.instance().removeAllMapLayers()


def test_a_failed_run_puts_back_the_users_table_as_it_was_whatever_its_names(qgis_app, tmp_path, rgba):
    """The user's "Legend" is the table "legend" to SQLite, which QGIS overwrote: it was not seen,
    and the failed run removed the only table the GeoPackage had. A table put back kept its rows
    but had its id and geometry columns renamed fid and geom."""
    import sqlite3

    project = str(tmp_path / "project.gpkg")
    dataset = ogr.GetDriverByName("GPKG").CreateDataSource(project)
    table = dataset.CreateLayer("Legend", None, ogr.wkbPoint, ["FID=unit_id", "GEOMETRY_NAME=the_geom"])
    table.CreateField(ogr.FieldDefn("depth", ogr.OFTReal))
    feature = ogr.Feature(table.GetLayerDefn())
    feature.SetField("depth", 12.5)
    feature.SetGeometry(ogr.CreateGeometryFromWkt("POINT (1 2)"))
    table.CreateFeature(feature)
    feature = table = dataset = None

    def schema():
        with sqlite3.connect(project) as database:
            return database.execute("select sql from sqlite_master where name = 'Legend'").fetchone()

    before = schema()
    (tmp_path / "out.tif.aux.xml").mkdir()  # the run fails at the end
    with pytest.raises(QgsProcessingException, match="is a folder"):
        quantize({"INPUT": rgba, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "out.tif"),
                  "OUTPUT_TABLE": "ogr:dbname='{}' table=\"legend\" (geom)".format(project)})
    assert geopackage_tables(project) == {"Legend": 1} and schema() == before


def test_a_side_file_that_cannot_be_put_in_place_fails_the_run_and_keeps_the_old_output(qgis_app, tmp_path, rgba):
    old = tmp_path / "out.tif"
    old.write_bytes(b"the previous output")
    (tmp_path / "out.tif.aux.xml").mkdir()  # the raster attribute table cannot go there
    with pytest.raises(QgsProcessingException, match="is a folder"):
        quantize({"INPUT": rgba, "PALETTE": "vga16", "OUTPUT": str(old), "OUTPUT_REPORT": str(tmp_path / "r.html"),
                  "OUTPUT_TABLE": str(tmp_path / "table.csv")})
    assert old.read_bytes() == b"the previous output"
    assert everything_under(str(tmp_path)) == ["out.tif", "out.tif.aux.xml"]  # no report, no table


def output_with_external_overviews_and_mask(path, rgba):
    """An earlier output at ``path`` with the pyramids QGIS builds beside it (<path>.ovr) and an
    external mask (<path>.msk), which GDAL reads as parts of whatever raster is at ``path``."""
    from osgeo import gdal

    quantize({"INPUT": rgba, "PALETTE": "vga16", "OUTPUT": path})
    dataset = gdal.Open(path)  # read-only: the overviews go to an external .ovr
    dataset.BuildOverviews("NEAREST", [2])
    dataset = None
    with open(path + ".msk", "wb") as f:
        f.write(b"an external mask")
    return path


def test_a_new_output_drops_the_overviews_and_mask_of_the_one_it_replaces(qgis_app, tmp_path, rgba):
    from osgeo import gdal

    out = output_with_external_overviews_and_mask(str(tmp_path / "out.tif"), rgba)
    quantize({"INPUT": rgba, "PALETTE": "win256", "OUTPUT": out})
    dataset = gdal.Open(out)
    assert dataset.GetRasterBand(1).GetOverviewCount() == 0  # no overview of the vga16 classes
    assert everything_under(str(tmp_path)) == ["out.qml", "out.tif", "out.tif.aux.xml"]


def test_a_failed_run_keeps_the_overviews_and_mask_of_the_old_output(qgis_app, tmp_path, rgba):
    out = output_with_external_overviews_and_mask(str(tmp_path / "out.tif"), rgba)
    before = {name: (tmp_path / name).read_bytes() for name in ("out.tif", "out.tif.ovr", "out.tif.msk")}
    os.remove(out + ".aux.xml")
    (tmp_path / "out.tif.aux.xml").mkdir()  # the raster attribute table cannot go there
    with pytest.raises(QgsProcessingException, match="is a folder"):
        quantize({"INPUT": rgba, "PALETTE": "win256", "OUTPUT": out})
    assert {name: (tmp_path / name).read_bytes() for name in before} == before
    assert everything_under(str(tmp_path)) == ["out.qml", "out.tif", "out.tif.aux.xml", "out.tif.msk", "out.tif.ovr"]


class CancelsBeforeWriting(QgsProcessingFeedback):
    def pushInfo(self, info):  # noqa: N802 (QGIS API)
        if "nodata" in info:
            self.cancel()
        super().pushInfo(info)


def test_folders_a_failed_run_created_are_removed(qgis_app, tmp_path, rgba):
    output = tmp_path / "made" / "by the run" / "out.tif"
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        quantize({"INPUT": rgba, "PALETTE": "vga16", "OUTPUT": str(output),
                  "OUTPUT_REPORT": str(tmp_path / "reports" / "r.html")}, feedback=CancelsBeforeWriting())
    assert everything_under(str(tmp_path)) == []


def run_command_line(*args):
    """scripts/palettize (the command line, no QGIS) with these arguments."""
    from rasters import ROOT

    return subprocess.run([os.path.join(ROOT, "scripts", "palettize")] + [str(a) for a in args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)


def test_the_command_line_leaves_nothing_when_a_side_file_cannot_be_put_in_place(tmp_path, rgba):
    old = tmp_path / "out.tif"
    old.write_bytes(b"the previous output")
    (tmp_path / "out.tif.aux.xml").mkdir()
    result = run_command_line("quantize", rgba, "-o", old, "--palette", "vga16", "--report", tmp_path / "r.html",
                              "--table", tmp_path / "new" / "table.csv")
    assert result.returncode != 0
    assert "is a folder" in result.stderr
    assert old.read_bytes() == b"the previous output"
    assert everything_under(str(tmp_path)) == ["out.tif", "out.tif.aux.xml"]  # no report, no table, no folder


@pytest.mark.parametrize("arguments, message", [
    (["-o", "{tmp}/classes.gif", "--palette", "win256"], "Choose a GeoTIFF (.tif)"),
    (["-o", "{tmp}/out.tif", "--report", "{tmp}/report.pdf"], "a name ending in .html, not report.pdf"),
    (["-o", "{tmp}/out.tif", "--report", "{tmp}/same.html", "--table", "{tmp}/same.html"], "would replace"),
])
def test_the_command_line_refuses_outputs_before_any_work(tmp_path, rgba, arguments, message):
    result = run_command_line("quantize", rgba, *[a.format(tmp=tmp_path) for a in arguments])
    assert result.returncode != 0
    assert message in result.stderr
    assert everything_under(str(tmp_path)) == []


@pytest.mark.parametrize("new_folder", [False, True])
def test_a_ctrl_c_just_as_a_staging_folder_is_made_leaves_no_folder(tmp_path, monkeypatch, new_folder):
    """The command line's test of Ctrl-C sends it as soon as the staging folder appears: once in a
    while it came between the folder made and the folder noted, which was then left."""
    from palettize.engine.outputs import OutputFiles

    make = os.mkdir

    def made_then_interrupted(path, *args):
        make(path, *args)
        raise KeyboardInterrupt()

    target = tmp_path / "new" / "classes.tif" if new_folder else tmp_path / "classes.tif"
    with pytest.raises(KeyboardInterrupt):
        with OutputFiles() as outputs:
            monkeypatch.setattr(os, "mkdir", made_then_interrupted)
            outputs.stage(str(target))
    monkeypatch.undo()
    assert everything_under(str(tmp_path)) == []


def test_gdal_errors_that_came_before_a_failure_are_told_on_the_same_line_once_each():
    """GDAL 3.7 and later put every earlier error in an exception's message, a line each and often
    repeated (QGIS 3.40's full disk: three lines of the same error)."""
    from palettize.engine.gdal_io import one_line

    message = ("TIFFAppendToStrip:Write error at scanline 4294967295\n"
               "May be caused by: TIFFWriteDirectoryTagData:IO error writing tag data\n"
               "May be caused by: TIFFAppendToStrip:Write error at scanline 4294967295\n"
               "May be caused by: TIFFWriteDirectoryTagData:IO error writing tag data")
    assert one_line(message) == ("TIFFAppendToStrip:Write error at scanline 4294967295 (may be caused by: "
                                 "TIFFWriteDirectoryTagData:IO error writing tag data)")
    assert one_line("No such file or directory") == "No such file or directory"
    # A message of several lines of its own is one sentence, not a cause (DTED's refusal said
    # "Requested (may be caused by: (0,0) of size 201x1 ...)").
    assert one_line("Access window out of range in RasterIO().  Requested\n(0,0) of size 201x1 on raster of 3x2.") == \
        "Access window out of range in RasterIO().  Requested (0,0) of size 201x1 on raster of 3x2."


@pytest.mark.parametrize("options", [["TILED=YES", "COMPRESS=DEFLATE"], ["TILED=YES", "BIGTIFF=YES"], [],
                                     ["BIGTIFF=YES", "COMPRESS=DEFLATE"]], ids=["tiles", "bigtiff tiles", "strips",
                                                                              "bigtiff strips"])
def test_a_tiff_whose_last_bytes_are_missing_is_found_cut_short(tmp_path, options):
    """What the writer checks after GDAL closes a GeoTIFF (GDAL 3.10 can end with its last tile cut
    short and no error): a file shorter than where its tiles or strips end."""
    from palettize.engine.written_whole import cut_short

    path = str(tmp_path / "whole.tif")
    dataset = gdal.GetDriverByName("GTiff").Create(path, 300, 200, 1, gdal.GDT_UInt16, options)
    dataset.GetRasterBand(1).WriteArray(np.random.default_rng(2).integers(0, 60000, (200, 300), dtype=np.uint16))
    dataset = None
    assert cut_short(path) == ""
    size = os.path.getsize(path)
    with open(path, "r+b") as tiff:
        tiff.truncate(size - 100)
    assert cut_short(path).startswith("it holds {:,} bytes where its tiles take ".format(size - 100))
    with open(path, "r+b") as tiff:
        tiff.truncate(12)
    assert cut_short(path).endswith("its end (12 bytes)") or cut_short(path) == "it ends within its header, at byte 12"
    (tmp_path / "notes.txt").write_text("not a TIFF")
    assert cut_short(str(tmp_path / "notes.txt")) == ""


def test_a_warning_of_a_checked_write_still_reaches_gdals_handler(tmp_path):
    """checked() keeps GDAL from printing the errors it tells itself, not the warnings it does not
    (the command line prints them: "Warning 6: driver GTiff does not support creation option ...")."""
    from palettize.engine.gdal_io import checked

    seen = []
    gdal.PushErrorHandler(lambda kind, number, message: seen.append((kind, message)))
    try:
        checked("GDAL could not create", gdal.GetDriverByName("GTiff").Create, str(tmp_path / "w.tif"), 8, 8, 1,
                gdal.GDT_Byte, ["NO_SUCH_OPTION=1"])
    finally:
        gdal.PopErrorHandler()
    assert seen == [(gdal.CE_Warning, "driver GTiff does not support creation option NO_SUCH_OPTION")]


@pytest.mark.parametrize("extension", ["csv", "gpkg", "gpkg of the user's"])
def test_a_table_written_as_the_disk_fills_up_fails_the_run_or_holds_every_row(qgis_app, tmp_path, small_disk,
                                                                                 extension):
    """QGIS's table writer says nothing when the disk fills up: the run succeeded with an empty or cut
    .csv, or a .gpkg OGR could not open. Wherever the disk fills up, the run fails, leaving nothing,
    or the table holds every row. A table added to the user's GeoPackage, which fails its check,
    is taken out of it again (it was left there), unless the disk is too full for even that: an
    empty table may stay."""
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(120, 120), alpha=True)
    roomy = tmp_path / "roomy"
    quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(roomy / "out.tif"),
              "OUTPUT_TABLE": str(roomy / ("table." + extension[:4]))})
    needed = sum(os.path.getsize(str(roomy / name)) for name in os.listdir(str(roomy)))
    written, broken = 0, []
    for keep_free in range(needed + 128 * 1024, needed - 48 * 1024, -4 * 1024):  # the table is written last
        table, layer, before = str(small_disk / ("table." + extension[:4])), None, []
        if extension == "gpkg of the user's":
            table, layer, before = geopackage_with_a_table(table, "boreholes"), "legend", ["table.gpkg"]
        try:
            quantize({"INPUT": path, "PALETTE": "win256", "OUTPUT": str(small_disk / "out.tif"),
                      "OUTPUT_TABLE": "ogr:dbname='{}' table=\"{}\" (geom)".format(table, layer) if layer else table},
                     feedback=FillsTheDisk(str(small_disk), keep_free))
        except QgsProcessingException:
            if sorted(os.listdir(str(small_disk))) != sorted(["filler"] + before):
                broken.append((keep_free, "left " + ", ".join(sorted(os.listdir(str(small_disk))))))
            elif layer and geopackage_tables(table) not in ({"boreholes": 1}, {"boreholes": 1, "legend": 0}):
                broken.append((keep_free, "tables {}".format(geopackage_tables(table))))
        else:
            written += 1
            rows = geopackage_tables(table).get(layer or "table", 0) if extension != "csv" else \
                len(open(table).read().splitlines()) - 1
            if rows != 256:
                broken.append((keep_free, "{} rows".format(rows)))
        for name in os.listdir(str(small_disk)):
            os.remove(str(small_disk / name))
    assert written > 1 and broken == []


@pytest.mark.parametrize("extension", ["asc", "gif"])
def test_side_files_written_as_the_disk_fills_up_fail_the_run_or_are_whole(
        qgis_app, tmp_path, small_disk, extension, gdal_error_style):
    """Formats that keep the colour table, the attribute table or the CRS in side files GDAL writes
    (an .asc's .aux.xml and .prj, a GIF's .aux.xml): GDAL wrote them cut short on a full disk without
    an error, and the run succeeded saying the format could not hold a colour table. Wherever the
    disk fills up, the run fails, or the output reads back as it does from a roomy disk."""
    def described(path):
        dataset = gdal.Open(path)
        band = dataset.GetRasterBand(1)
        table, rat = band.GetColorTable(), band.GetDefaultRAT()
        return (band.ReadAsArray().tolist(), table.GetCount() if table else 0, rat.GetRowCount() if rat else 0,
                dataset.GetSpatialRef().GetName() if dataset.GetSpatialRef() else None)

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(60, 50)[:3])
    roomy = tmp_path / "roomy"
    quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(roomy / ("out." + extension))})
    whole = described(str(roomy / ("out." + extension)))
    needed = sum(os.path.getsize(str(roomy / name)) for name in os.listdir(str(roomy)))
    written, broken = 0, []
    for keep_free in range(needed + 24 * 1024, 0, -1024):
        try:
            quantize({"INPUT": path, "PALETTE": "vga16", "OUTPUT": str(small_disk / ("out." + extension))},
                     feedback=FillsTheDisk(str(small_disk), keep_free))
        except QgsProcessingException:
            pass
        else:
            written += 1
            if described(str(small_disk / ("out." + extension))) != whole:
                broken.append(keep_free)
        for name in os.listdir(str(small_disk)):
            os.remove(str(small_disk / name))
    assert written > 1 and broken == []


def test_a_ctrl_c_while_outputs_go_into_place_puts_back_the_files_they_replace(tmp_path, monkeypatch):
    """A commit interrupted between its moves (Ctrl-C) removed the staging folder, with the files
    it had moved aside in it: neither the old outputs nor the new ones were left."""
    from palettize.engine import outputs as outputs_module

    for name in ("a.tif", "b.tif"):
        (tmp_path / name).write_text("old " + name)
    files = outputs_module.OutputFiles()
    for name in ("a.tif", "b.tif"):
        with open(files.stage(str(tmp_path / name)), "w") as staged:
            staged.write("new " + name)
    moves, move = [], os.replace

    def interrupted(source, target):
        moves.append(target)
        if len(moves) == 4:  # b.tif moved aside, the new b.tif not yet in place
            raise KeyboardInterrupt()
        move(source, target)
    monkeypatch.setattr(outputs_module.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files.commit()
    monkeypatch.undo()
    assert {name: (tmp_path / name).read_text() for name in os.listdir(str(tmp_path))} == {
        "a.tif": "old a.tif", "b.tif": "old b.tif"}


def test_failed_and_cancelled_runs_in_a_console_loop_leave_their_input_closed(qgis_app, tmp_path, rgba):
    """QGIS 3.22 keeps the frames of a failed processing.run, and with them the run's context: each
    failed or cancelled run kept its input file open (one more descriptor each, and a file Windows
    would not let the user delete), and a cancelled run its blocks in memory. The next run lets go
    of what the failed ones left."""
    def descriptors_on_input():
        folder = "/proc/self/fd"
        return sum(1 for fd in os.listdir(folder) if os.path.realpath(os.path.join(folder, fd)) == rgba)

    def cancelling():
        feedback = QgsProcessingFeedback()
        feedback.progressChanged.connect(lambda value: feedback.cancel())
        return feedback

    before = descriptors_on_input()
    for _ in range(5):
        for parameters, feedback in [({"PALETTE": "exact", "N_COLORS": 16}, QgsProcessingFeedback()),
                                     ({"PALETTE": "vga16"}, cancelling())]:
            with pytest.raises(QgsProcessingException):
                processing.run("palettize:quantize", dict(parameters, INPUT=rgba, OUTPUT=str(tmp_path / "out.tif")),
                               feedback=feedback)
        with pytest.raises(QgsProcessingException):
            processing.run("palettize:extractpalette", {"INPUT": rgba, "METHOD": "exact", "N_COLORS": 16,
                                                        "OUTPUT_PALETTE": str(tmp_path / "palette.csv")})
    assert descriptors_on_input() <= before + 1  # the last failed run's, until the next run
    processing.run("palettize:quantize", {"INPUT": rgba, "OUTPUT": str(tmp_path / "good.tif")})
    assert descriptors_on_input() == before
    assert everything_under(tmp_path) == ["good.qml", "good.tif", "good.tif.aux.xml"]



def test_a_failed_run_leaves_the_layer_a_script_put_in_the_context_alone(qgis_app, tmp_path, rgba):
    """A failed run lets go of what it holds (see above), never of a layer the script put in the
    context's store itself, passed by its id, name or path (the first fix deleted it)."""
    from qgis.core import QgsProcessingContext, QgsRasterLayer

    from qgis.core import QgsProcessingUtils

    layer, context = QgsRasterLayer(rgba, "mine"), QgsProcessingContext()
    context.temporaryLayerStore().addMapLayer(layer)
    loaded = QgsProcessingUtils.mapLayerFromString(rgba, context, True)  # the same layer, found by its path
    assert loaded is layer
    for given in (layer.id(), layer.name(), rgba):
        with pytest.raises(QgsProcessingException):
            processing.run("palettize:quantize", {"INPUT": given, "PALETTE": "exact", "N_COLORS": 2,
                                                  "OUTPUT": str(tmp_path / "out.tif")}, context=context)
        assert layer.name() == "mine" and context.temporaryLayerStore().mapLayer(layer.id()) is layer

def test_a_batchs_task_sweeps_no_folder_its_batch_may_still_use(tmp_path, monkeypatch):
    """A batch's work folder of tiles lives as long as the batch, and its tasks stage their outputs
    beside it, on other machines maybe, where a lock taken on a shared file system (NFS without
    lock service) does not show: they never sweep; a run of its own, or the batch itself, does."""
    from palettize.engine import outputs
    from palettize.engine.outputs import OutputFiles, staging_tag

    left = OutputFiles()
    work = left.staging_folder(str(tmp_path))
    os.utime(os.path.join(work, ".owner"), (time.time() - 3600,) * 2)
    left._owners.pop().close()  # its lock let go: as it looks from another machine
    for tag, kept in (("0123abcd", True), (None, False)):
        monkeypatch.setattr(outputs, "_SWEPT", set())  # as in another process
        with staging_tag(tag):
            task = OutputFiles()
            task.stage(str(tmp_path / "out.tif"))
            task.discard()
        assert os.path.isdir(work) == kept


def test_the_staging_folder_of_a_run_still_going_is_left_alone_by_another_run_into_the_same_folder(tmp_path,
                                                                                                   monkeypatch):
    """The next run removes what dead runs left (see test_command_line): never the folder of one
    still writing, however long ago it began."""
    from palettize.engine import outputs
    from palettize.engine.outputs import OutputFiles

    with OutputFiles() as going:
        staged = going.stage(str(tmp_path / "a.tif"))
        with open(staged, "wb") as f:
            f.write(b"partial")
        owner = os.path.join(os.path.dirname(staged), ".owner")
        os.utime(owner, (os.path.getmtime(owner) - 3600,) * 2)
        monkeypatch.setattr(outputs, "_SWEPT", set())  # as in another process
        other = OutputFiles()
        other.stage(str(tmp_path / "b.tif"))
        other.discard()
        assert os.path.exists(staged)
        going.commit()
    assert everything_under(tmp_path) == ["a.tif"]


def test_two_runs_putting_the_same_outputs_in_place_at_once_leave_one_runs_files(tmp_path, monkeypatch):
    """Two runs writing the same outputs at once: each moved the other's files aside between its own
    moves, and one failed ("No such file or directory": about 1 run in 300 of four at once) or the
    folder held one run's raster beside the other's style. Commits into one folder now take turns:
    the later one wins, whole."""
    import threading
    import time

    from palettize.engine.outputs import OutputFiles

    for name in ("map.tif", "map.qml"):
        (tmp_path / name).write_text("earlier")
    real_replace = os.replace

    def slow_replace(source, target):  # a slow disk: each move takes a while
        time.sleep(0.02)
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", slow_replace)
    errors = []

    def run(text):
        outputs = OutputFiles()
        for name in ("map.tif", "map.qml"):
            with open(outputs.stage(str(tmp_path / name)), "w") as f:
                f.write(text)
        try:
            outputs.commit()
        except OSError as error:
            errors.append(error)

    for _ in range(5):
        runs = [threading.Thread(target=run, args=(text,)) for text in ("A", "B")]
        for thread in runs:
            thread.start()
        for thread in runs:
            thread.join()
        assert errors == []
        assert everything_under(tmp_path) == ["map.qml", "map.tif"]
        assert (tmp_path / "map.tif").read_text() == (tmp_path / "map.qml").read_text() in ("A", "B")


def test_a_run_putting_outputs_into_one_folder_by_two_names_does_not_wait_for_itself(tmp_path):
    """Commits take turns per folder: a run writing into a folder and into a link to it locked the
    folder twice and waited out its patience (30 s) for its own lock."""
    import time

    from palettize.engine import outputs

    (tmp_path / "out").mkdir()
    os.symlink(str(tmp_path / "out"), str(tmp_path / "link"))
    files = outputs.OutputFiles()
    for path in (tmp_path / "out" / "a.tif", tmp_path / "link" / "b.qml"):
        with open(files.stage(str(path)), "w") as f:
            f.write("written")
    start = time.monotonic()
    files.commit()
    assert time.monotonic() - start < outputs.COMMIT_PATIENCE / 10
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["a.tif", "b.qml"]


def test_qgis_process_stopped_by_a_sigterm_removes_its_unfinished_output_and_keeps_the_earlier_one(tmp_path):
    """A batch system's time limit or `kill` sends qgis_process a SIGTERM: the process ended at once
    and left the run's hidden staging folder, a partial raster in it, beside the outputs. The run
    now stops as a failed one does, and the process then ends as the signal asked (status 143)."""
    import signal
    import time

    from rasters import ROOT, SAMPLE_MAP, leftovers

    big = str(tmp_path / "big.tif")
    gdal.Translate(big, SAMPLE_MAP, width=3000, height=2000)
    out = tmp_path / "out"
    out.mkdir()
    earlier = write_raster(str(out / "classes.tif"), random_rgba(4, 5))
    before = open(earlier, "rb").read()
    run = subprocess.Popen([os.path.join(ROOT, "scripts", "qgis-process"), "run", "palettize:quantize", "--",
                            "INPUT=" + big, "METRIC=ciede2000", "CLEANUP=seams", "OUTPUT=" + earlier],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                           start_new_session=True)
    deadline = time.monotonic() + 120
    while not leftovers(str(out)) and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # until the output is being written
    assert run.poll() is None, "the run ended before it could be stopped"
    time.sleep(0.2)
    os.killpg(run.pid, signal.SIGTERM)  # as a batch system signals a job's processes
    log = run.communicate(timeout=120)[0]
    assert run.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM), log
    assert os.listdir(str(out)) == ["classes.tif"]
    assert open(earlier, "rb").read() == before


@pytest.mark.parametrize("case", ["main thread", "task thread", "own handler"])
def test_a_sigterm_asks_the_run_to_stop_and_ends_the_process_once_it_has_left(tmp_path, case):
    """engine.stopping.sigterm_stops_run: in the main thread of a process whose SIGTERM ends it, the
    signal asks the run to stop (the run's is_cancelled), and ends the process once the run has
    left, after its last words. In another thread (the toolbox's task) nothing changes: the default
    action ends the process at once; a script's own handler is the script's."""
    import sys

    import palettize

    script = tmp_path / "script.py"
    script.write_text("""
import os, signal, sys, threading, time
sys.path.insert(0, {package!r})
from palettize.engine.stopping import sigterm_stops_run, stop_asked

heard = []
if {case!r} == "own handler":
    signal.signal(signal.SIGTERM, lambda signum, frame: heard.append(signum))


def a_run():
    with sigterm_stops_run(lambda: print("last words", flush=True)):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):
            if stop_asked():
                print("asked to stop", flush=True)
                break
            time.sleep(0.01)
    print("ran to its end", heard, flush=True)


if {case!r} == "task thread":
    thread = threading.Thread(target=a_run)
    thread.start()
    thread.join()
else:
    a_run()
""".format(package=os.path.dirname(os.path.dirname(os.path.abspath(palettize.__file__))), case=case))
    result = subprocess.run([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == {
        "main thread": (-15, "asked to stop\nlast words\n", ""),
        "task thread": (-15, "", ""),
        "own handler": (0, "ran to its end [15]\n", "")}[case]


@pytest.mark.parametrize("stopped_after", range(1, 6))  # two files moved aside, three into place
def test_a_stop_just_after_any_rename_of_the_commit_puts_every_earlier_file_back(tmp_path, monkeypatch, stopped_after):
    """A SIGTERM or Ctrl-C lands during a rename() and is raised just after it: the commit had not
    noted that move yet, so the user's file moved aside was removed with the staging folder (their
    .qml gone), or a lone new file stayed in place."""
    from palettize.engine.outputs import OutputFiles

    earlier = {"out.tif": b"earlier raster", "out.qml": b"earlier style"}
    for name, data in earlier.items():
        (tmp_path / name).write_bytes(data)
    rename, renames = os.replace, []

    def stopped_after_a_rename(source, target):
        rename(source, target)
        renames.append(target)
        if len(renames) == stopped_after:
            raise KeyboardInterrupt()

    with pytest.raises(KeyboardInterrupt):
        with OutputFiles() as outputs:
            for name in ("out.tif", "out.qml", "out.csv"):
                with open(outputs.stage(str(tmp_path / name)), "wb") as f:
                    f.write(b"new " + name.encode())
            monkeypatch.setattr(os, "replace", stopped_after_a_rename)
            outputs.commit()
    monkeypatch.undo()
    assert len(renames) >= stopped_after  # the commit's, then the undoing's
    assert {name: (tmp_path / name).read_bytes() for name in os.listdir(str(tmp_path))} == earlier


def test_a_script_with_a_sigterm_handler_of_its_own_keeps_it_and_the_run_goes_on(tmp_path):
    """A script calling processing.run that handles SIGTERM itself (a flag, to stop between files)
    decides what a SIGTERM does: the run goes on to its end, whole, and the script's handler hears
    the signal (an earlier version stopped the run and called the handler from QGIS's frames)."""
    import sys

    from rasters import ROOT, SAMPLE_MAP

    big = str(tmp_path / "big.tif")
    gdal.Translate(big, SAMPLE_MAP, width=3000, height=2000)
    out = tmp_path / "out"
    out.mkdir()
    script = tmp_path / "script.py"
    script.write_text("""
import os, signal, sys, tempfile, threading, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
package = tempfile.mkdtemp()
os.symlink({root!r}, os.path.join(package, "palettize"))
sys.path[:0] = [package]
sys.path.append("/usr/share/qgis/python/plugins")
from qgis.core import QgsApplication
app = QgsApplication([], False)
app.initQgis()
from processing.core.Processing import Processing
import palettize, processing
Processing.initialize()
plugin = palettize.classFactory(None)  # kept: its provider lives with it
plugin.initProcessing()
heard = []
signal.signal(signal.SIGTERM, lambda signum, frame: heard.append(signum))
staging = lambda: [name for name in os.listdir({out!r}) if name.startswith(".palettize-")]
def kill_when_writing():
    while not staging():
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGTERM)
threading.Thread(target=kill_when_writing, daemon=True).start()
processing.run("palettize:quantize", {{"INPUT": {big!r}, "CLEANUP": "seams", "OUTPUT": os.path.join({out!r}, "classes.tif")}})
print("heard", heard, flush=True)
""".format(root=ROOT, out=str(out), big=big))
    result = subprocess.run([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            universal_newlines=True, timeout=300)
    assert (result.returncode, result.stdout.splitlines()[-1:]) == (0, ["heard [15]"]), result.stderr
    assert sorted(os.listdir(str(out))) == ["classes.qml", "classes.tif", "classes.tif.aux.xml"]
    assert read_indices(str(out / "classes.tif")).shape == (2000, 3000)
