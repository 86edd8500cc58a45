"""palettize:quantize: parameters in, one block pass through the engine, an indexed raster out."""

import os

from qgis.core import (
    QgsMapLayer,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsProcessingUtils,
    QgsProviderRegistry,
)
from qgis.PyQt.QtCore import QUrl

from ..engine import cleanup
from ..engine.adaptive import METHODS
from ..engine.nearest import METRICS
from ..engine.options import CLEANUPS, DITHERS, CleanupOptions, OptionsError, PaletteOptions, QuantizeOptions
from ..engine.options import nodata_index as checked_nodata_index
from ..engine.run import check_quantize, quantize_source, resolve_palette
from ..palettes.formats import READ_EXTENSIONS
from ..palettes.palette import BUILTIN_NAMES, MATPLOTLIB_NAMES, MATPLOTLIB_PREFIX, MAX_COLOURS
from . import help as help_text
from .layer_source import LayerSourceAlgorithm, advanced, tr, user_errors
from .rendered_source import layer_file
from .loading import load_on_completion, resolve_output
from .styling import PaletteStyler

PALETTES = BUILTIN_NAMES + METHODS + tuple(MATPLOTLIB_PREFIX + name for name in MATPLOTLIB_NAMES)
CONNECTEDNESSES = ("4", "8")

class QuantizeAlgorithm(LayerSourceAlgorithm):
    PALETTE, PALETTE_FILE, N_COLORS, METRIC, OUTPUT = "PALETTE", "PALETTE_FILE", "N_COLORS", "METRIC", "OUTPUT"
    OUTPUT_TABLE = "OUTPUT_TABLE"
    CLEANUP, SEAM_TOLERANCE, MIN_REGION, CONNECTEDNESS = "CLEANUP", "SEAM_TOLERANCE", "MIN_REGION", "CONNECTEDNESS"
    DITHER, NODATA_INDEX = "DITHER", "NODATA_INDEX"
    PARAMETERS, HELP_INTRO, HELP_EXAMPLE = help_text.QUANTIZE_PARAMETERS, help_text.QUANTIZE_INTRO, help_text.QUANTIZE_EXAMPLE
    HELP_ANCHOR = "parameter-reference-palettizequantize-quantize-raster-to-palette"
    ENUMS = dict(LayerSourceAlgorithm.ENUMS, PALETTE=(PALETTES, "win256"), METRIC=(METRICS, "rgb"),
                 CLEANUP=(CLEANUPS, "none"), DITHER=(DITHERS, "none"),
                 CONNECTEDNESS=(CONNECTEDNESSES, str(cleanup.DEFAULT_CONNECTEDNESS)))
    ENUM_LABELS = {"PALETTE": tuple(help_text.palette_label(option) for option in PALETTES)}

    def name(self):
        return "quantize"

    def displayName(self):  # noqa: N802 (QGIS API)
        return tr("Quantize raster to palette")

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API)
        # The dialog's order: what most runs set first, then Advanced parameters, then the outputs.
        self.addInputParameter()
        self.addParameter(self.enum_parameter(self.PALETTE, self.label(self.PALETTE)))
        self.addParameter(QgsProcessingParameterFile(
            self.PALETTE_FILE, self.label(self.PALETTE_FILE), optional=True,
            fileFilter=tr("Palette files ({});;All files (*.*)").format(" ".join("*" + e for e in READ_EXTENSIONS)),
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
            cleanup.DEFAULT_MIN_REGION, minValue=cleanup.MIN_REGION_RANGE[0], maxValue=cleanup.MIN_REGION_RANGE[1],
        )))
        self.addParameter(advanced(self.enum_parameter(self.CONNECTEDNESS, self.label(self.CONNECTEDNESS))))
        self.addParameter(advanced(QgsProcessingParameterNumber(
            self.NODATA_INDEX, self.label(self.NODATA_INDEX), QgsProcessingParameterNumber.Integer, None,
            optional=True, minValue=0, maxValue=MAX_COLOURS)))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.label(self.OUTPUT)))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_TABLE, self.label(self.OUTPUT_TABLE), QgsProcessing.TypeVector, optional=True,
            createByDefault=False))
        self.addReportParameter()
        self.describeParameters()

    def checkParameterValues(self, parameters, context):  # noqa: N802 (QGIS API)
        """A NODATA_INDEX out of range is explained before QGIS's own check, which would only say
        that the value is incorrect."""
        value = parameters.get(self.NODATA_INDEX)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and value != "":
            try:
                checked_nodata_index(value)
            except OptionsError as error:
                return False, self.explained(error)
        return super().checkParameterValues(parameters, context)

    def checkable(self, parameters):
        """Any matplotlib colormap is welcome as 'mpl:<name>', listed or not."""
        parameters = legacy_values(parameters)
        value = parameters.get(self.PALETTE)
        if isinstance(value, str) and value.startswith(MATPLOTLIB_PREFIX) and value not in PALETTES:
            return dict(parameters, **{self.PALETTE: MATPLOTLIB_PREFIX + MATPLOTLIB_NAMES[0]})
        return parameters

    def options(self, parameters, context, source_options):
        parameters = legacy_values(parameters)
        palette_name = parameters.get(self.PALETTE)
        if not (isinstance(palette_name, str) and palette_name.startswith(MATPLOTLIB_PREFIX)):
            palette_name = self.enum(parameters, self.PALETTE)
        palette = PaletteOptions(palette_name, self.palette_file(parameters, context) or None,
                                 self.whole_number(parameters, self.N_COLORS, context))
        cleanup = CleanupOptions(self.enum(parameters, self.CLEANUP),
                                 seam_tolerance=self.finite_number(parameters, self.SEAM_TOLERANCE, context),
                                 min_region=self.whole_number(parameters, self.MIN_REGION, context),
                                 connectedness=int(self.enum(parameters, self.CONNECTEDNESS)))
        nodata_index = (self.whole_number(parameters, self.NODATA_INDEX, context)
                        if parameters.get(self.NODATA_INDEX) not in (None, "") else None)
        return QuantizeOptions(palette=palette, metric=self.enum(parameters, self.METRIC), cleanup=cleanup,
                               dither=self.enum(parameters, self.DITHER), nodata_index=nodata_index,
                               **source_options)

    def palette_file(self, parameters, context):
        """PALETTE_FILE's path. A layer given for it (a model's layer input, a layer of the project
        by id or name) stands for the file it reads: QGIS gives no path for a layer, and the run
        went on with PALETTE's palette."""
        value = parameters.get(self.PALETTE_FILE)
        path = "" if isinstance(value, QgsMapLayer) else self.parameterAsFile(parameters, self.PALETTE_FILE, context)
        if path and os.path.exists(path):
            return path
        layer = value if isinstance(value, QgsMapLayer) else \
            QgsProcessingUtils.mapLayerFromString(path, context, False) if path else None
        if layer is None:
            return path
        found = _file_of_layer(layer)
        if not found:
            raise QgsProcessingException(tr("{} is layer '{}', a {} layer that reads no file: give the palette file's "
                                            "path.").format(self.named(self.PALETTE_FILE), layer.name(), layer.providerType()))
        subset = layer.subsetString() if hasattr(layer, "subsetString") else ""
        if subset:  # the file is read whole: the filtered-out rows would be palette entries
            raise QgsProcessingException(tr("{} is layer '{}', filtered ({}): the palette file is read whole, every row "
                                            "of it. Clear the filter, or save the rows you want as a palette file "
                                            "(Export > Save Features As, CSV) and give that.").format(
                                                self.named(self.PALETTE_FILE), layer.name(), subset))
        return found

    def complete(self, run, parameters, context):
        """The output and its driver; a palette that is not built from the image, read now so that
        a bad palette file stops the run before any work; every output checked (engine.run.check_quantize:
        paths, format, grid size, no input replaced)."""
        if not run.options.palette.from_image:
            run.palette, run.palette_origin = resolve_palette(run.options)
        run.output_request = resolve_output(self, parameters, self.OUTPUT, context)
        run.output = run.output_request.path
        self.check_table_destination(parameters, context, {self.OUTPUT: run.output,
                                                           self.OUTPUT_REPORT: run.options.report})
        run.table = self.table_path(parameters, context)
        run.driver = check_quantize(run.output, run.grid, run.options, run.palette, self.opaque_source(run),
                                    inputs={self.INPUT: run.input_file}, other_outputs={self.OUTPUT_TABLE: run.table},
                                    resizable=True)
        if run.palette is not None:
            self.check_table_labels(run.table, run.palette, context)

    @user_errors
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        run, results = self.run, {self.OUTPUT: self.run.output}
        result = self.call_engine(quantize_source, feedback, run.output, run.options, palette=run.palette,
                                  palette_origin=run.palette_origin, driver=run.driver, inputs={self.INPUT: run.input_file},
                                  before_commit=self.table_writer(parameters, context, lambda r: r.counts, results),
                                  counted_in=[run.table or self.named(self.OUTPUT_TABLE)]
                                  if parameters.get(self.OUTPUT_TABLE) not in (None, "") else [])
        load_on_completion(self, run.output_request, context, lambda: PaletteStyler(result.palette))
        if run.options.report:
            results[self.OUTPUT_REPORT] = run.options.report
        return results


def _file_of_layer(layer):
    """The file a raster, vector or delimited-text layer reads, or '' (a memory layer, a database)."""
    if layer.providerType() == "gdal":
        found = layer_file(layer)
    elif layer.providerType() == "ogr":
        found = QgsProviderRegistry.instance().decodeUri("ogr", layer.source()).get("path")
    elif layer.providerType() == "delimitedtext":
        found = QUrl(layer.source()).toLocalFile()
    else:
        found = ""
    return found if found and os.path.isfile(found) else ""


def legacy_values(parameters):
    """Values older versions took, in today's form: CONNECTEDNESS was a number (4 or 8), now the
    option "4" or "8" (whose indices, 0 and 1, cannot be confused with those numbers)."""
    value = parameters.get(QuantizeAlgorithm.CONNECTEDNESS)
    if not isinstance(value, (str, bool)) and isinstance(value, (int, float)) and value in (4, 8):
        return dict(parameters, **{QuantizeAlgorithm.CONNECTEDNESS: str(int(value))})
    return parameters
