"""A toolbox run loads its styled result: the algorithm runs as the toolbox dialog runs it.

The dialog (processing/gui/AlgorithmDialog.py) checks the parameters with its own context on the
main thread, runs the algorithm in a QgsProcessingAlgRunnerTask in the task manager (a worker
thread with a context of its own, whose results the dialog's context takes afterwards), then
loads what its context's layersToLoadOnCompletion() holds (processing/gui/Postprocessing.py).
"""

import pytest
from qgis.core import (
    QgsApplication,
    QgsProcessingAlgRunnerTask,
    QgsProcessingFeedback,
    QgsProcessingOutputLayerDefinition,
    QgsProject,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QEventLoop, QTimer

from palettize.palettes.palette import builtin_palette
from rasters import SAMPLE_MAP


class ToolboxRun:
    """One run as the dialog makes it: check, task in the task manager, then the results."""

    def __init__(self, algorithm_id, parameters):
        from processing.tools import dataobjects

        self.feedback = QgsProcessingFeedback()
        self.context = dataobjects.createContext(self.feedback)
        self.algorithm = QgsApplication.processingRegistry().createAlgorithmById(algorithm_id)
        self.parameters = parameters
        self.check = self.algorithm.checkParameterValues(parameters, self.context)
        self.ok, self.results = False, {}
        if not self.check[0]:
            return
        task = QgsProcessingAlgRunnerTask(self.algorithm, parameters, self.context, self.feedback)
        loop = QEventLoop()

        def executed(ok, results):
            self.ok, self.results = ok, results
            loop.quit()

        task.executed.connect(executed)
        QgsApplication.taskManager().addTask(task)
        QTimer.singleShot(120000, loop.quit)
        loop.exec()

    def to_load(self):
        return self.context.layersToLoadOnCompletion()

    def load(self):
        """What the dialog does next: load the layers into the project (False when one failed).
        The dialog passes the results as ``parameters``; by keyword, as QGIS 3.22 has a
        ``showResults`` argument before it (unused there) and 3.40 has none."""
        from processing.gui.Postprocessing import handleAlgorithmResults

        return handleAlgorithmResults(self.algorithm, self.context, self.feedback, parameters=self.results)


def shown(path):
    """A destination as the dialog passes it with "Open output file after running" checked."""
    return QgsProcessingOutputLayerDefinition(path, QgsProject.instance())


@pytest.fixture
def project(qgis_app):
    QgsProject.instance().removeAllMapLayers()
    yield QgsProject.instance()
    QgsProject.instance().removeAllMapLayers()


@pytest.mark.parametrize("destination", ["TEMPORARY_OUTPUT", "typed path"])
def test_toolbox_run_loads_the_indexed_raster_with_the_palette_style(project, tmp_path, destination):
    output = str(tmp_path / "classes.tif") if destination == "typed path" else destination
    run = ToolboxRun("palettize:quantize", {"INPUT": SAMPLE_MAP, "PALETTE": "vga16", "OUTPUT": shown(output)})
    assert run.check == (True, "")
    assert run.ok
    written = run.results["OUTPUT"]
    if destination == "typed path":
        assert written == output
    assert list(run.to_load().keys()) == [written]
    details = run.to_load()[written]
    assert details.outputName == "OUTPUT"
    assert details.postProcessor() is not None
    assert run.load()
    layers = project.mapLayersByName(details.name)
    assert [layer.source() for layer in layers] == [written]
    renderer = layers[0].renderer()
    assert renderer.type() == "paletted"
    vga = builtin_palette("vga16")
    assert [c.color.getRgb()[:3] for c in renderer.classes()] == [tuple(c) for c in vga.colours.tolist()]
    assert [c.label for c in renderer.classes()] == list(vga.labels)


def test_toolbox_run_without_a_table_adds_only_the_indexed_raster(project):
    run = ToolboxRun("palettize:quantize", {"INPUT": SAMPLE_MAP, "PALETTE": "vga16",
                                            "OUTPUT": shown("TEMPORARY_OUTPUT")})
    assert run.ok and run.load()
    assert [layer.source() for layer in project.mapLayers().values()] == [run.results["OUTPUT"]]


@pytest.mark.parametrize("destination", ["TEMPORARY_OUTPUT", "typed path"])
def test_toolbox_run_with_the_table_loads_both(project, tmp_path, destination):
    """A table file is written where the other outputs are staged and loaded from where they go,
    named as QGIS names the tables it loads (by the output's label, not the file's name)."""
    table = str(tmp_path / "classes.csv") if destination == "typed path" else destination
    run = ToolboxRun("palettize:quantize", {"INPUT": SAMPLE_MAP, "PALETTE": "vga16",
                                            "OUTPUT": shown("TEMPORARY_OUTPUT"), "OUTPUT_TABLE": shown(table)})
    assert run.ok
    assert set(run.to_load().keys()) == {run.results["OUTPUT"], run.results["OUTPUT_TABLE"]}
    assert run.to_load()[run.results["OUTPUT_TABLE"]].name == "Palette table"
    if destination == "typed path":
        assert run.results["OUTPUT_TABLE"] == table
    assert run.load()
    assert len(project.mapLayers()) == 2
    assert [layer.featureCount() for layer in project.mapLayers().values() if isinstance(layer, QgsVectorLayer)] == [16]


def test_failed_toolbox_run_lists_no_made_up_output(project):
    run = ToolboxRun("palettize:quantize", {"INPUT": SAMPLE_MAP, "PALETTE": "exact", "N_COLORS": 2,
                                            "OUTPUT": shown("TEMPORARY_OUTPUT")})
    assert run.check == (True, "")
    assert not run.ok
    assert dict(run.to_load()) == {}
    assert run.load()  # nothing "not correctly generated"
    assert project.mapLayers() == {}


def test_checking_parameters_registers_nothing_to_load(qgis_app):
    from processing.tools import dataobjects

    context = dataobjects.createContext()
    algorithm = QgsApplication.processingRegistry().createAlgorithmById("palettize:quantize")
    assert algorithm.checkParameterValues({"INPUT": SAMPLE_MAP, "OUTPUT": shown("TEMPORARY_OUTPUT")}, context)[0]
    assert dict(context.layersToLoadOnCompletion()) == {}


def test_extract_palette_toolbox_run_loads_its_table(project, tmp_path):
    palette_path = str(tmp_path / "legend.csv")
    run = ToolboxRun("palettize:extractpalette", {"INPUT": SAMPLE_MAP, "METHOD": "frequent", "N_COLORS": 8,
                                                  "OUTPUT_PALETTE": palette_path,
                                                  "OUTPUT_TABLE": shown("TEMPORARY_OUTPUT")})
    assert run.ok
    assert run.results["OUTPUT_PALETTE"] == palette_path
    assert list(run.to_load().keys()) == [run.results["OUTPUT_TABLE"]]
    assert run.load()
    [table] = project.mapLayers().values()
    assert table.featureCount() == 8


@pytest.mark.parametrize("algorithm_id", ["palettize:quantize", "palettize:extractpalette"])
def test_palette_table_is_created_only_when_asked_for(qgis_app, algorithm_id):
    algorithm = QgsApplication.processingRegistry().algorithmById(algorithm_id)
    table = algorithm.parameterDefinition("OUTPUT_TABLE")
    assert table.createByDefault() is False


@pytest.mark.parametrize("drawn", [False, True], ids=["read with GDAL", "drawn by QGIS"])
def test_a_run_cancelled_while_queued_leaves_its_work_folder_only_where_qgis_removes_it(project, tmp_path, drawn):
    """The task prepares the run when it is made (prepareAlgorithm makes a work folder for a layer
    it draws, a hillshade; a file read with GDAL needs none); a task cancelled in the task list
    before it starts never runs the end that removes it. The folder is in QGIS's own temporary
    folder, which QGIS removes when it ends, not in the system's."""
    import glob
    import os
    import tempfile

    import numpy as np
    from osgeo import gdal
    from qgis.core import QgsHillshadeRenderer, QgsProcessingUtils, QgsRasterLayer

    from processing.tools import dataobjects

    layer = SAMPLE_MAP
    if drawn:
        dem = str(tmp_path / "dem.tif")
        dataset = gdal.GetDriverByName("GTiff").Create(dem, 40, 30, 1, gdal.GDT_Float32)
        dataset.SetGeoTransform((500000, 10, 0, 4000000, 0, -10))
        dataset.GetRasterBand(1).WriteArray(np.add.outer(np.arange(30.0), np.arange(40.0)) ** 1.5)
        dataset = None
        layer = QgsRasterLayer(dem, "dem")
        layer.setRenderer(QgsHillshadeRenderer(layer.dataProvider(), 1, 315, 45))
        project.addMapLayer(layer)
    work_folders = os.path.join(QgsProcessingUtils.tempFolder(), "palettize-*")
    before, made_before = set(glob.glob(os.path.join(tempfile.gettempdir(), "palettize-*"))), set(glob.glob(work_folders))
    feedback = QgsProcessingFeedback()
    context = dataobjects.createContext(feedback)
    algorithm = QgsApplication.processingRegistry().createAlgorithmById("palettize:quantize")
    task = QgsProcessingAlgRunnerTask(algorithm, {"INPUT": layer, "PALETTE": "vga16",
                                                  "OUTPUT": str(tmp_path / "classes.tif")}, context, feedback)
    task.cancel()
    del task
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "palettize-*"))) == before
    assert len(set(glob.glob(work_folders)) - made_before) == (1 if drawn else 0)
    assert sorted(os.listdir(str(tmp_path))) == (["dem.tif"] if drawn else [])


def test_a_run_into_the_output_still_loaded_shows_the_new_pixels_with_the_new_palette(project, tmp_path):
    """Run, look, change the palette, run again into the same file: QGIS handed back the layer still
    loaded, which read the file the run had replaced, and the new palette's style drew the old
    indices (0.25% of the pixels as the file holds them)."""
    import numpy as np
    from osgeo import gdal

    from rasters import write_raster

    source = write_raster(str(tmp_path / "map.tif"), np.random.default_rng(0).integers(0, 256, (3, 60, 80), np.uint8))
    output = str(tmp_path / "classes.tif")
    for palette in ("vga16", "websafe216"):
        run = ToolboxRun("palettize:quantize", {"INPUT": source, "PALETTE": palette, "OUTPUT": shown(output)})
        assert run.ok and run.load()
    layers = list(project.mapLayers().values())
    assert len(layers) == 1
    on_disk = gdal.Open(output).ReadAsArray()
    block = layers[0].dataProvider().block(1, layers[0].extent(), layers[0].width(), layers[0].height())
    drawn = np.frombuffer(bytes(block.data()), np.uint8).reshape(on_disk.shape)
    assert (drawn == on_disk).all() and on_disk.max() > 15
    assert len(layers[0].renderer().classes()) == 216


@pytest.mark.parametrize("second", [
    {"PALETTE": "mpl:viridis", "N_COLORS": 300},                                  # Byte, then UInt16
    {"EXTENT": "3006000,3010000,10330000,10333000 [EPSG:3857]", "PIXEL_SIZE": 50},  # another CRS and extent
])
def test_a_run_into_the_output_still_loaded_takes_its_new_type_crs_and_extent(project, tmp_path, second):
    """The layer still loaded kept the replaced file's data type (a UInt16 index above 255 drawn as
    another class: 13% of the pixels), or its CRS and extent (the result drawn in the wrong place)."""
    import numpy as np
    from osgeo import gdal
    from qgis.core import QgsRasterLayer

    from rasters import write_raster

    source = write_raster(str(tmp_path / "map.tif"), np.random.default_rng(0).integers(0, 256, (3, 60, 80), np.uint8))
    output = str(tmp_path / "classes.tif")
    for parameters in ({"PALETTE": "vga16"}, second):
        run = ToolboxRun("palettize:quantize", dict({"INPUT": source, "OUTPUT": shown(output)}, **parameters))
        assert run.ok and run.load()
    loaded, fresh = list(project.mapLayers().values()), QgsRasterLayer(output, "fresh")
    assert len(loaded) == 1
    layer = loaded[0]
    assert layer.dataProvider().dataType(1) == fresh.dataProvider().dataType(1)
    assert layer.crs() == fresh.crs() and layer.extent() == fresh.extent()
    assert (layer.width(), layer.height()) == (fresh.width(), fresh.height())
    on_disk = gdal.Open(output).ReadAsArray()
    block = layer.dataProvider().block(1, layer.extent(), layer.width(), layer.height())
    dtype = np.uint16 if on_disk.dtype == np.uint16 else np.uint8
    assert (np.frombuffer(bytes(block.data()), dtype).reshape(on_disk.shape) == on_disk).all()
