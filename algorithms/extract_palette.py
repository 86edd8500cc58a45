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
from ..engine.run import extract_palette_source
from ..palettes.palette import MAX_COLOURS
from .layer_source import LayerSourceAlgorithm, tr
from .palette_table import write_palette_table


HELP = """<p>Builds a palette from the colours of a raster layer and saves it as a palette file that
<i>Quantize raster to palette</i> reads (PALETTE_FILE), plus a table of its entries, so a model can
chain extract &rarr; quantize and you can inspect the legend in the attribute table.</p>
<p><b>Source</b>, bands and <b>alpha threshold</b>: as in Quantize raster to palette.</p>
<p><b>Method</b>: <i>exact</i> (the image's own distinct colours, lossless, by frequency; fails when
there are more than Number of colours), <i>frequent</i> (the most frequent colours: the legend
colours of a rendered map win over its anti-aliasing), <i>kmeans</i> (scikit-learn k-means on the
distinct colours weighted by their counts, in the space of the metric, deterministic) or
<i>mediancut</i>.</p>
<p><b>Output palette</b>: .csv, .gpl, .act, .clr, .qml or .txt, by extension.
<b>Output table</b>: index, red, green, blue, hex, label, pixels (pixels nearest to the entry under
the metric) and share of the valid pixels.</p>
<p>Example: <code>processing.run("palettize:extractpalette", {"INPUT": "map.tif", "METHOD": "frequent",
"N_COLORS": 16, "OUTPUT_PALETTE": "legend.csv", "OUTPUT_TABLE": "TEMPORARY_OUTPUT"})</code></p>"""

PALETTE_FILTER = ("CSV (*.csv);;GIMP palette (*.gpl);;Adobe colour table (*.act);;ESRI colour map (*.clr);;"
                  "QGIS style (*.qml);;QGIS colour map (*.txt)")


class ExtractPaletteAlgorithm(LayerSourceAlgorithm):
    METHOD, N_COLORS, METRIC = "METHOD", "N_COLORS", "METRIC"
    OUTPUT_PALETTE, OUTPUT_TABLE = "OUTPUT_PALETTE", "OUTPUT_TABLE"
    HELP_ANCHOR = "parameter-reference-palettizeextractpalette-extract-palette-from-raster"
    ENUMS = dict(LayerSourceAlgorithm.ENUMS, METHOD=(METHODS, "frequent"), METRIC=(METRICS, "rgb"))

    def name(self):
        return "extractpalette"

    def displayName(self):  # noqa: N802 (QGIS API)
        return tr("Extract palette from raster")

    def shortHelpString(self):  # noqa: N802 (QGIS API)
        return tr(HELP)

    def createInstance(self):  # noqa: N802 (QGIS API)
        return ExtractPaletteAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API)
        self.addSourceParameters()
        self.addParameter(self.enum_parameter(self.METHOD, tr("Method")))
        self.addParameter(QgsProcessingParameterNumber(
            self.N_COLORS, tr("Number of colours"), QgsProcessingParameterNumber.Integer, 256,
            minValue=2, maxValue=MAX_COLOURS,
        ))
        self.addParameter(self.enum_parameter(self.METRIC, tr("Colour distance")))
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_PALETTE, tr("Palette file"), fileFilter=tr(PALETTE_FILTER)))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_TABLE, tr("Palette table"), QgsProcessing.TypeVector, optional=True))
        self.addReportParameter()

    def options(self, parameters, context, source_options):
        return ExtractOptions(method=self.enum(parameters, self.METHOD),
                              n_colours=self.parameterAsInt(parameters, self.N_COLORS, context),
                              metric=self.enum(parameters, self.METRIC), **source_options)

    def complete(self, run, parameters, context):
        run.output = self.parameterAsFileOutput(parameters, self.OUTPUT_PALETTE, context)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        run = self.run
        result = self.call_engine(extract_palette_source, feedback, run.output, run.options)
        results = {self.OUTPUT_PALETTE: run.output}
        results.update(write_palette_table(self, parameters, context, self.OUTPUT_TABLE, result.palette, result.usage))
        if run.options.report:
            results[self.OUTPUT_REPORT] = run.options.report
        return results
