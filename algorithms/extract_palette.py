"""palettize:extractpalette: a palette built from a layer's pixels, as a file and as a table."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
)

from ..engine.adaptive import METHODS
from ..engine.nearest import METRICS
from ..engine.options import ExtractOptions
from ..engine.run import check_extract, extract_palette_source
from ..palettes.palette import MAX_COLOURS
from . import help as help_text
from .layer_source import LayerSourceAlgorithm, tr, user_errors


PALETTE_FILTER = ("CSV (*.csv);;GIMP palette (*.gpl);;Adobe colour table (*.act);;ESRI colour map (*.clr);;"
                  "QGIS style (*.qml);;QGIS colour map (*.txt)")


class ExtractPaletteAlgorithm(LayerSourceAlgorithm):
    METHOD, N_COLORS, METRIC = "METHOD", "N_COLORS", "METRIC"
    OUTPUT_PALETTE, OUTPUT_TABLE = "OUTPUT_PALETTE", "OUTPUT_TABLE"
    PARAMETERS, HELP_INTRO, HELP_EXAMPLE = help_text.EXTRACT_PARAMETERS, help_text.EXTRACT_INTRO, help_text.EXTRACT_EXAMPLE
    HELP_ANCHOR = "parameter-reference-palettizeextractpalette-extract-palette-from-raster"
    ENUMS = dict(LayerSourceAlgorithm.ENUMS, METHOD=(METHODS, "frequent"), METRIC=(METRICS, "rgb"))

    def name(self):
        return "extractpalette"

    def displayName(self):  # noqa: N802 (QGIS API)
        return tr("Extract palette from raster")

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API)
        self.addInputParameter()
        self.addParameter(self.enum_parameter(self.METHOD, self.label(self.METHOD)))
        self.addParameter(QgsProcessingParameterNumber(
            self.N_COLORS, self.label(self.N_COLORS), QgsProcessingParameterNumber.Integer, 256,
            minValue=2, maxValue=MAX_COLOURS,
        ))
        self.addParameter(self.enum_parameter(self.METRIC, self.label(self.METRIC)))
        self.addSourceParameters()
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_PALETTE, self.label(self.OUTPUT_PALETTE), fileFilter=tr(PALETTE_FILTER)))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_TABLE, self.label(self.OUTPUT_TABLE), QgsProcessing.TypeVector, optional=True,
            createByDefault=False))
        self.addReportParameter()
        self.describeParameters()

    def options(self, parameters, context, source_options):
        return ExtractOptions(method=self.enum(parameters, self.METHOD),
                              n_colours=self.whole_number(parameters, self.N_COLORS, context),
                              metric=self.enum(parameters, self.METRIC), **source_options)

    def complete(self, run, parameters, context):
        """The palette file, checked with the other outputs before any work (engine.run.check_extract)."""
        run.output = self.parameterAsFileOutput(parameters, self.OUTPUT_PALETTE, context)
        self.check_table_destination(parameters, context, {self.OUTPUT_PALETTE: run.output,
                                                           self.OUTPUT_REPORT: run.options.report})
        run.table = self.table_path(parameters, context)
        check_extract(run.output, run.options, {self.INPUT: run.input_file}, {self.OUTPUT_TABLE: run.table})

    @user_errors
    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        run, results = self.run, {self.OUTPUT_PALETTE: self.run.output}
        self.call_engine(extract_palette_source, feedback, run.output, run.options, inputs={self.INPUT: run.input_file},
                         before_commit=self.table_writer(parameters, context, lambda r: r.usage, results))
        if run.options.report:
            results[self.OUTPUT_REPORT] = run.options.report
        return results
