"""palettize:quantize: parameters in, one block pass through the engine, an indexed raster out."""

import os
import shutil
import tempfile

from osgeo import gdal
from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterBand,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterRasterLayer,
    QgsRasterFileWriter,
)
from qgis.PyQt.QtCore import QCoreApplication

from ..palettes.formats import PaletteFileError, read_palette
from ..palettes.palette import BUILTIN_NAMES, builtin_palette
from . import raster_io
from .compat import enum_parameter, enum_value, checkable_parameters
from .engine import Cancelled, output_type, quantize_blocks
from .nearest import METRICS
from .styling import PaletteStyler, save_style, style_path

SOURCES = ("rendered", "bands")
ENUMS = {"SOURCE": SOURCES, "PALETTE": BUILTIN_NAMES, "METRIC": METRICS}
GDAL_TYPES = {1: (gdal.GDT_Byte, "Byte"), 2: (gdal.GDT_UInt16, "UInt16")}

HELP = """<p>Replaces every pixel of a raster layer by the index of the nearest colour in a palette and
writes a single-band indexed raster with the palette as its colour table, on exactly the input's grid
(size, geotransform, CRS).</p>
<p><b>Source</b>: <i>rendered</i> (default) reads the pixels as QGIS draws the layer with its current
style (layer opacity ignored), so pseudocolour, paletted and RGB layers all work; <i>bands</i> reads the
raw values of the red, green, blue (and optional alpha) bands, clipped to 0-255. Without an alpha band
the dataset's alpha band or mask is used.</p>
<p><b>Palette</b>: win256 (Windows 256 colours), websafe216, vga16 or gray256. A <b>palette file</b>
(CSV: red,green,blue as 0-255 integers or 0-1 floats, optional header, optional label column) wins
over the palette.</p>
<p><b>Metric</b>: <i>rgb</i> (Euclidean distance in RGB), <i>cielab</i> (CIE76 delta E) or
<i>ciede2000</i> (CIEDE2000 delta E; slower on photographs). The result is exact: ties go to the
lowest palette index.</p>
<p><b>Alpha threshold</b>: pixels with lower alpha become nodata (default 128).</p>
<p><b>Output</b>: Byte when the palette plus nodata fit in 256 values (nodata 255), otherwise UInt16
(nodata 65535). GeoTIFF is tiled and DEFLATE-compressed. Formats without colour tables (e.g. .xyz)
get the palette beside them as &lt;output&gt;.palette.csv.</p>
<p>Example: <code>processing.run("palettize:quantize", {"INPUT": "map.tif", "PALETTE": "win256",
"OUTPUT": "classes.tif"})</code></p>"""


def tr(text):
    return QCoreApplication.translate("Palettize", text)


class QuantizeAlgorithm(QgsProcessingAlgorithm):
    INPUT, SOURCE, PALETTE, PALETTE_FILE, METRIC = "INPUT", "SOURCE", "PALETTE", "PALETTE_FILE", "METRIC"
    BANDS = ("RED_BAND", "GREEN_BAND", "BLUE_BAND")
    ALPHA_BAND, ALPHA_THRESHOLD, OUTPUT = "ALPHA_BAND", "ALPHA_THRESHOLD", "OUTPUT"

    def name(self):
        return "quantize"

    def displayName(self):
        return tr("Quantize raster to palette")

    def shortHelpString(self):
        return tr(HELP)

    def createInstance(self):
        return QuantizeAlgorithm()

    def initAlgorithm(self, config=None):
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, tr("Input raster layer")))
        self.addParameter(enum_parameter(self.SOURCE, tr("Pixel source"), SOURCES, "rendered"))
        for name, label, default in zip(self.BANDS, ("Red band", "Green band", "Blue band"), (1, 2, 3)):
            band = QgsProcessingParameterBand(name, tr(label), default, self.INPUT, optional=True)
            band.setFlags(band.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(band)
        alpha = QgsProcessingParameterBand(self.ALPHA_BAND, tr("Alpha band"), None, self.INPUT, optional=True)
        alpha.setFlags(alpha.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(alpha)
        self.addParameter(enum_parameter(self.PALETTE, tr("Palette"), BUILTIN_NAMES, "win256"))
        self.addParameter(QgsProcessingParameterFile(
            self.PALETTE_FILE, tr("Palette file (wins over Palette)"), optional=True,
            fileFilter=tr("CSV palettes (*.csv *.txt);;All files (*.*)"),
        ))
        self.addParameter(enum_parameter(self.METRIC, tr("Colour distance"), METRICS, "rgb"))
        threshold = QgsProcessingParameterNumber(
            self.ALPHA_THRESHOLD, tr("Alpha threshold (lower alpha becomes nodata)"),
            QgsProcessingParameterNumber.Integer, 128, minValue=0, maxValue=255,
        )
        threshold.setFlags(threshold.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(threshold)
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("Indexed raster")))

    # -- validation: the same checks stop processing.run, qgis_process and the dialog ------------

    def checkParameterValues(self, parameters, context):
        ok, message = super().checkParameterValues(checkable_parameters(self, parameters, ENUMS), context)
        if not ok:
            return ok, message
        try:
            self._settings(parameters, context)
        except QgsProcessingException as error:
            return False, str(error)
        return True, ""

    def _settings(self, parameters, context):
        """Everything a run needs, checked; raises QgsProcessingException saying what to fix."""
        try:
            source, palette_name, metric = (enum_value(parameters, name, ENUMS[name], ENUMS[name][0])
                                            for name in (self.SOURCE, self.PALETTE, self.METRIC))
        except ValueError as error:
            raise QgsProcessingException(str(error))
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None or not layer.isValid():
            raise QgsProcessingException(tr("The input is not a valid raster layer: choose a raster QGIS can open."))
        palette, palette_origin = self._palette(parameters, context, palette_name)
        bands = [self.parameterAsInt(parameters, name, context) for name in self.BANDS]
        alpha = parameters.get(self.ALPHA_BAND)
        alpha = self.parameterAsInt(parameters, self.ALPHA_BAND, context) if alpha not in (None, "", -1, 0) else None
        if source == "bands":
            for name, band in list(zip(self.BANDS, bands)) + [(self.ALPHA_BAND, alpha)]:
                if band is not None and not 1 <= band <= layer.bandCount():
                    raise QgsProcessingException(tr(
                        "{} is {} but layer '{}' has {} band(s): choose a band from 1 to {}."
                    ).format(name, band, layer.name(), layer.bandCount(), layer.bandCount()))
            if raster_io.gdal_path(layer) is None:
                raise QgsProcessingException(tr(
                    "SOURCE=bands reads files with GDAL, and layer '{}' is not one: use SOURCE=rendered."
                ).format(layer.name()))
        elif layer.renderer() is None:
            raise QgsProcessingException(tr("Layer '{}' has no style to draw: use SOURCE=bands.").format(layer.name()))
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        driver = self._output_driver(output)
        return {
            "layer": layer, "source": source, "bands": bands, "alpha": alpha, "palette": palette,
            "palette_origin": palette_origin, "metric": metric, "output": output, "driver": driver,
            "threshold": self.parameterAsInt(parameters, self.ALPHA_THRESHOLD, context),
        }

    def _palette(self, parameters, context, palette_name):
        path = self.parameterAsFile(parameters, self.PALETTE_FILE, context)
        if not path:
            return builtin_palette(palette_name), "built-in palette"
        try:
            palette, scale = read_palette(path)
        except PaletteFileError as error:
            raise QgsProcessingException(tr("{}. Fix the file or clear PALETTE_FILE.").format(error))
        except (OSError, UnicodeDecodeError) as error:
            raise QgsProcessingException(tr("Cannot read palette file {}: {}").format(path, error))
        return palette, tr("palette file {}, values read as {}").format(path, scale)

    @staticmethod
    def _output_driver(output):
        extension = os.path.splitext(output)[1].lstrip(".").lower()
        driver = QgsRasterFileWriter.driverForExtension(extension) if extension else "GTiff"
        if not driver or gdal.GetDriverByName(driver) is None:
            raise QgsProcessingException(tr(
                "Cannot write '.{}' rasters: choose a GeoTIFF (.tif) or another raster format GDAL writes."
            ).format(extension))
        existing = os.path.dirname(os.path.abspath(output))
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing) or not os.access(existing, os.W_OK) or (
                os.path.exists(output) and not os.access(output, os.W_OK)):
            raise QgsProcessingException(tr(
                "Cannot write {}: {} is not a writable folder. Choose another output path."
            ).format(output, existing))
        return driver

    # -- the run ---------------------------------------------------------------------------------

    def prepareAlgorithm(self, parameters, context, feedback):
        """Runs in the main thread: reads the layer's style while it is safe to touch the layer."""
        self._run = self._settings(parameters, context)
        layer = self._run["layer"]
        self._run["grid"] = grid = self._grid(layer)
        self._workdir = tempfile.mkdtemp(prefix="palettize-")
        if self._run["source"] == "bands":
            path = raster_io.gdal_path(layer)
            self._run["reader"] = lambda: raster_io.BandSource(path, self._run["bands"], self._run["alpha"])
        else:
            plan = raster_io.direct_read_plan(layer)
            if plan is not None:
                path, bands, alpha, nodata = plan
                self._run["reader"] = lambda: raster_io.BandSource(path, bands, alpha, nodata, use_masks=False)
            else:
                rendered = raster_io.RenderedSource(layer, grid, self._workdir)
                self._run["reader"] = lambda: rendered
        return True

    @staticmethod
    def _grid(layer):
        try:
            return raster_io.layer_grid(layer)
        except raster_io.SourceError as error:
            raise QgsProcessingException(str(error))

    def processAlgorithm(self, parameters, context, feedback):
        run = self._run
        palette, grid = run["palette"], run["grid"]
        dtype, nodata = output_type(len(palette))
        gdal_type, type_name = GDAL_TYPES[dtype().itemsize]
        feedback.pushInfo(tr("Palette: {} colours ({}).").format(len(palette), run["palette_origin"]))
        feedback.pushInfo(tr("{} colours + nodata {} {}: writing {} with nodata {}.").format(
            len(palette), "fit in" if type_name == "Byte" else "need more than", "256 values", type_name, nodata))
        source = None
        try:
            source = run["reader"]()
            feedback.pushInfo(tr("Reading {} ({} x {} pixels), metric {}.").format(
                source.description, grid.width, grid.height, run["metric"]))
            with raster_io.IndexedRasterWriter(run["output"], run["driver"], grid, palette, gdal_type, nodata) as writer:
                mapper = quantize_blocks(
                    source, writer, raster_io.iter_windows(grid.width, grid.height), palette, run["metric"],
                    run["threshold"], progress=lambda f: feedback.setProgress(100.0 * f),
                    is_cancelled=feedback.isCanceled,
                )
                writer.commit()
        except Cancelled:
            raise QgsProcessingException(tr("Cancelled: no output was written."))
        except (OSError, RuntimeError, raster_io.SourceError) as error:
            raise QgsProcessingException(tr("Could not write {}: {}").format(run["output"], error))
        finally:
            if source is not None:
                source.close()
            shutil.rmtree(self._workdir, ignore_errors=True)
        if getattr(source, "clipped", False):
            feedback.pushWarning(tr("Some band values were outside 0-255 and were clipped."))
        feedback.pushInfo(tr("{} distinct colours matched to the palette.").format(mapper.distinct_colours))
        if not writer.has_colour_table:
            feedback.pushWarning(tr(
                "The {} format cannot hold a colour table: the palette was written beside it as {}."
            ).format(run["driver"], run["output"] + ".palette.csv"))
        problem = save_style(run["output"], palette)
        if problem:
            feedback.pushWarning(tr("No QGIS style was saved beside the output: {}").format(problem))
        else:
            feedback.pushInfo(tr("QGIS style with the palette's classes: {}").format(style_path(run["output"])))
        if context.willLoadLayerOnCompletion(run["output"]):
            context.layerToLoadOnCompletionDetails(run["output"]).setPostProcessor(PaletteStyler(palette))
        return {self.OUTPUT: run["output"]}
