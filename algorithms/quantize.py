"""palettize:quantize: parameters in, one block pass through the engine, an indexed raster out."""

import os

from osgeo import gdal
from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsRasterFileWriter,
)

from ..engine.adaptive import METHODS
from ..palettes.formats import PaletteFileError, read_palette
from ..palettes.palette import (
    BUILTIN_NAMES,
    MATPLOTLIB_NAMES,
    MATPLOTLIB_PREFIX,
    MAX_COLOURS,
    builtin_palette,
    matplotlib_palette,
)
from ..engine import gdal_io
from ..engine.blocks import Cancelled, output_type, quantize_blocks
from ..engine import cleanup
from . import help as help_text
from .loading import load_on_completion, resolve_output
from .layer_source import LayerSourceAlgorithm, advanced, cancelled_error, tr
from ..engine.nearest import METRICS
from .palette_table import write_palette_table
from ..engine.merged import MergedColourFinder
from ..engine.report import ReportCollector
from .styling import PaletteStyler, save_style, style_path

CLEANUPS = cleanup.METHODS
DITHERS = ("none", "floyd-steinberg")
PALETTES = BUILTIN_NAMES + METHODS + tuple(MATPLOTLIB_PREFIX + name for name in MATPLOTLIB_NAMES)
CONNECTEDNESSES = ("4", "8")
GDAL_TYPES = {1: (gdal.GDT_Byte, "Byte"), 2: (gdal.GDT_UInt16, "UInt16")}

def output_type_message(palette_size, opaque, type_name, nodata):
    """Why the output has its data type, for the log."""
    if nodata is None:
        return tr("{} colours and an opaque input (no alpha band, mask or nodata): writing Byte without "
                  "nodata.").format(palette_size)
    because = "" if palette_size > 256 or opaque else tr(
        " (the input can have transparent pixels: an alpha band, a mask, nodata or a style that leaves some)")
    return tr("{} colours + nodata {} 256 values: writing {} with nodata {}{}.").format(
        palette_size, "fit in" if type_name == "Byte" else "need more than", type_name, nodata, because)


class QuantizeAlgorithm(LayerSourceAlgorithm):
    PALETTE, PALETTE_FILE, N_COLORS, METRIC, OUTPUT = "PALETTE", "PALETTE_FILE", "N_COLORS", "METRIC", "OUTPUT"
    OUTPUT_TABLE = "OUTPUT_TABLE"
    CLEANUP, SEAM_TOLERANCE, MIN_REGION, CONNECTEDNESS = "CLEANUP", "SEAM_TOLERANCE", "MIN_REGION", "CONNECTEDNESS"
    DITHER = "DITHER"
    PARAMETERS, HELP_INTRO, HELP_EXAMPLE = help_text.QUANTIZE_PARAMETERS, help_text.QUANTIZE_INTRO, help_text.QUANTIZE_EXAMPLE
    HELP_ANCHOR = "parameter-reference-palettizequantize-quantize-raster-to-palette"
    ENUMS = dict(LayerSourceAlgorithm.ENUMS, PALETTE=(PALETTES, "win256"), METRIC=(METRICS, "rgb"),
                 CLEANUP=(CLEANUPS, "none"), DITHER=(DITHERS, "none"),
                 CONNECTEDNESS=(CONNECTEDNESSES, str(cleanup.DEFAULT_CONNECTEDNESS)))

    def name(self):
        return "quantize"

    def displayName(self):  # noqa: N802 (QGIS API)
        return tr("Quantize raster to palette")

    def createInstance(self):  # noqa: N802 (QGIS API)
        return QuantizeAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API)
        # The dialog's order: what most runs set first, then Advanced parameters, then the outputs.
        self.addInputParameter()
        self.addParameter(self.enum_parameter(self.PALETTE, self.label(self.PALETTE)))
        self.addParameter(QgsProcessingParameterFile(
            self.PALETTE_FILE, self.label(self.PALETTE_FILE), optional=True,
            fileFilter=tr("Palette files (*.csv *.txt *.gpl *.act *.clr *.qml *.tif *.tiff *.png *.vrt);;"
                          "All files (*.*)"),
        ))
        self.addParameter(QgsProcessingParameterNumber(
            self.N_COLORS, self.label(self.N_COLORS), QgsProcessingParameterNumber.Integer, 256, minValue=2,
            maxValue=MAX_COLOURS,
        ))
        self.addParameter(self.enum_parameter(self.METRIC, self.label(self.METRIC)))
        self.addParameter(self.enum_parameter(self.CLEANUP, self.label(self.CLEANUP)))
        self.addParameter(self.enum_parameter(self.DITHER, self.label(self.DITHER)))
        self.addSourceParameters()
        tolerance = QgsProcessingParameterNumber(
            self.SEAM_TOLERANCE, self.label(self.SEAM_TOLERANCE), QgsProcessingParameterNumber.Double,
            cleanup.DEFAULT_SEAM_TOLERANCE, minValue=0.0)
        tolerance.setMetadata({"widget_wrapper": {"decimals": 1}})
        self.addParameter(advanced(tolerance))
        self.addParameter(advanced(QgsProcessingParameterNumber(
            self.MIN_REGION, self.label(self.MIN_REGION), QgsProcessingParameterNumber.Integer,
            cleanup.DEFAULT_MIN_REGION, minValue=2, maxValue=1000,
        )))
        self.addParameter(advanced(self.enum_parameter(self.CONNECTEDNESS, self.label(self.CONNECTEDNESS))))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.label(self.OUTPUT)))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_TABLE, self.label(self.OUTPUT_TABLE), QgsProcessing.TypeVector, optional=True,
            createByDefault=False))
        self.addReportParameter()
        self.describeParameters()

    def checkable(self, parameters):
        """Any matplotlib colormap is welcome as 'mpl:<name>', listed or not."""
        parameters = legacy_values(parameters)
        value = parameters.get(self.PALETTE)
        if isinstance(value, str) and value.startswith(MATPLOTLIB_PREFIX) and value not in PALETTES:
            return dict(parameters, **{self.PALETTE: MATPLOTLIB_PREFIX + MATPLOTLIB_NAMES[0]})
        return parameters

    def settings(self, parameters, context):
        parameters = legacy_values(parameters)
        run = super().settings(parameters, context)
        palette_name = parameters.get(self.PALETTE)
        if not (isinstance(palette_name, str) and palette_name.startswith(MATPLOTLIB_PREFIX)):
            palette_name = self.enum(parameters, self.PALETTE)
        n_colours = self.parameterAsInt(parameters, self.N_COLORS, context)
        palette, origin = self._palette(parameters, context, palette_name, n_colours)
        output = resolve_output(self, parameters, self.OUTPUT, context)
        run.update(self._cleanup_and_dither(parameters, context))
        run.update(palette=palette, palette_origin=origin, palette_method=palette_name if palette is None else None,
                   n_colours=n_colours, metric=self.enum(parameters, self.METRIC),
                   output=output.path, output_request=output, driver=self._output_driver(output.path))
        return run

    def _cleanup_and_dither(self, parameters, context):
        method, dither = self.enum(parameters, self.CLEANUP), self.enum(parameters, self.DITHER)
        if method != "none" and dither != "none":
            raise QgsProcessingException(tr(
                "{} = {} would undo {} = {}: choose one of them.").format(
                self.named(self.CLEANUP), method, self.named(self.DITHER), dither))
        connectedness = int(self.enum(parameters, self.CONNECTEDNESS))
        options = {"min_region": self.parameterAsInt(parameters, self.MIN_REGION, context),
                   "connectedness": connectedness,
                   "seams": {"tolerance": self.parameterAsDouble(parameters, self.SEAM_TOLERANCE, context)}}
        return {"cleanup": method, "cleanup_options": options, "dither": dither}

    def _palette(self, parameters, context, palette_name, n_colours):
        """(palette, where it comes from); the palette is None when it is built from the image."""
        path = self.parameterAsFile(parameters, self.PALETTE_FILE, context)
        if path:
            try:
                palette, description = read_palette(path)
            except PaletteFileError as error:
                raise QgsProcessingException(tr("{}. Fix the file or clear {}.").format(error, self.named(self.PALETTE_FILE)))
            except (OSError, UnicodeDecodeError) as error:
                raise QgsProcessingException(tr("Cannot read palette file {}: {}").format(path, error))
            return palette, tr("palette file {}, read as {}").format(path, description)
        if palette_name in METHODS:
            return None, tr("built from the image")
        if palette_name.startswith(MATPLOTLIB_PREFIX):
            try:
                return (matplotlib_palette(palette_name[len(MATPLOTLIB_PREFIX):], n_colours),
                        tr("matplotlib colormap sampled at {} colours").format(n_colours))
            except ValueError as error:
                raise QgsProcessingException(str(error))
        return builtin_palette(palette_name), tr("built-in palette")

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

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        run, source = self.run, None
        try:
            source = self.open_source(feedback)
            palette, progress_start = run["palette"], 0.0
            if palette is None:
                codes, counts = self.scan_histogram(source, feedback, (0.0, 50.0))
                palette = self.image_palette(run["palette_method"], codes, counts, run["n_colours"], run["metric"],
                                             feedback)
                progress_start = 50.0
            opaque = getattr(source, "opaque", False)
            dtype, nodata = output_type(len(palette), opaque)
            gdal_type, type_name = GDAL_TYPES[dtype().itemsize]
            feedback.pushInfo(tr("Palette: {} colours ({}); metric {}.").format(
                len(palette), run["palette_origin"], run["metric"]))
            feedback.pushInfo(output_type_message(len(palette), opaque, type_name, nodata))
            outside = len(palette) if nodata is None else nodata  # the index no pixel of the palette has
            collector = ReportCollector(palette, self.grid.width, self.grid.height, outside) if run["report"] else None
            merges = MergedColourFinder(self.grid.width, self.grid.height, outside)
            with gdal_io.IndexedRasterWriter(run["output"], run["driver"], self.grid, palette, gdal_type,
                                               nodata) as writer:
                result = quantize_blocks(
                    source, writer, self.windows(source, full_rows=run["dither"] != "none"), palette, run["metric"],
                    run["threshold"],
                    progress=lambda f: feedback.setProgress(progress_start + (100.0 - progress_start) * f),
                    is_cancelled=feedback.isCanceled, dither=run["dither"], cleanup=run["cleanup"],
                    cleanup_options=run["cleanup_options"], grid_size=(self.grid.width, self.grid.height),
                    observers=[merges] + ([collector] if collector else []), opaque=opaque,
                )
                writer.commit(result.counts)
        except Cancelled:
            raise cancelled_error()
        except (OSError, RuntimeError, gdal_io.SourceError) as error:
            raise QgsProcessingException(tr("Could not write {}: {}").format(run["output"], error))
        finally:
            self.cleanup(source)
        if getattr(source, "clipped", False):
            feedback.pushWarning(tr("Some band values were outside 0-255 and were clipped."))
        feedback.pushInfo(tr("{} distinct colours matched to the palette.").format(result.distinct_colours))
        merged = merges.merged()
        for entry in merged:
            feedback.pushWarning(tr("Merged classes: {}. Use a palette built from the image (PALETTE=frequent) "
                                    "or the map's legend as palette file to keep them apart.").format(
                entry.describe(palette)))
        if not writer.has_colour_table:
            feedback.pushWarning(tr(
                "The {} format cannot hold a colour table: the palette was written beside it as {}."
            ).format(run["driver"], run["output"] + ".palette.csv"))
        problem = save_style(run["output"], palette)
        if problem:
            feedback.pushWarning(tr("No QGIS style was saved beside the output: {}").format(problem))
        else:
            feedback.pushInfo(tr("QGIS style with the palette's classes: {}").format(style_path(run["output"])))
        load_on_completion(self, run["output_request"], context, PaletteStyler(palette))
        results = {self.OUTPUT: run["output"]}
        if collector is not None:
            self.write_report(run["report"], collector, palette, feedback, tr("Quantized to {} colours: {}").format(
                len(palette), os.path.basename(run["output"])), merged=merged)
            results[self.OUTPUT_REPORT] = run["report"]
        results.update(write_palette_table(self, parameters, context, self.OUTPUT_TABLE, palette, result.counts))
        return results


def legacy_values(parameters):
    """Values older versions took, in today's form: CONNECTEDNESS was a number (4 or 8), now the
    option "4" or "8" (whose indices, 0 and 1, cannot be confused with those numbers)."""
    value = parameters.get(QuantizeAlgorithm.CONNECTEDNESS)
    if not isinstance(value, (str, bool)) and isinstance(value, (int, float)) and value in (4, 8):
        return dict(parameters, **{QuantizeAlgorithm.CONNECTEDNESS: str(int(value))})
    return parameters
