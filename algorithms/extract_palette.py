"""palettize:extractpalette: a palette built from a layer's pixels, as a file and as a table."""

import numpy as np
from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
)

from ..engine.adaptive import METHODS
from ..palettes.formats import PaletteFileError, write_palette
from ..palettes.palette import MAX_COLOURS
from ..engine.blocks import Cancelled, palette_usage
from .layer_source import LayerSourceAlgorithm, cancelled_error, tr
from ..engine.nearest import METRICS
from .palette_table import write_palette_table
from ..engine.report import ReportCollector

NODATA = 65535  # thumbnail value of transparent pixels (never a palette index)

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

    def settings(self, parameters, context):
        run = super().settings(parameters, context)
        run.update(method=self.enum(parameters, self.METHOD), metric=self.enum(parameters, self.METRIC),
                   n_colours=self.parameterAsInt(parameters, self.N_COLORS, context),
                   palette_path=self.parameterAsFileOutput(parameters, self.OUTPUT_PALETTE, context))
        return run

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        run, source = self.run, None
        collector = ReportCollector(None, self.grid.width, self.grid.height, NODATA) if run["report"] else None
        try:
            source = self.open_source(feedback)
            codes, counts = self.scan_histogram(source, feedback, (0.0, 80.0),
                                                on_block=collector.add_thumbnail_sample if collector else None)
        except Cancelled:
            raise cancelled_error()
        finally:
            self.cleanup(source)
        palette = self.image_palette(run["method"], codes, counts, run["n_colours"], run["metric"], feedback)
        entries, usage = palette_usage(codes, counts, palette, run["metric"])
        try:
            write_palette(palette, run["palette_path"])
        except (PaletteFileError, OSError) as error:
            raise QgsProcessingException(tr("Could not write the palette: {}").format(error))
        feedback.setProgress(90.0)
        results = {self.OUTPUT_PALETTE: run["palette_path"]}
        results.update(write_palette_table(self, parameters, context, self.OUTPUT_TABLE, palette, usage))
        if collector is not None:
            collector.set_palette(palette)
            collector.add_histogram(codes, entries, counts)
            collector.index_thumbnails(lambda rgba: histogram_entries(rgba, codes, entries, run["threshold"]))
            self.write_report(run["report"], collector, palette, feedback, tr("Palette extracted ({}, {} colours)").format(
                run["method"], len(palette)))
            results[self.OUTPUT_REPORT] = run["report"]
        feedback.setProgress(100.0)
        return results


def histogram_entries(rgba, codes, entries, alpha_threshold):
    """Palette entries of pixels (packed RGBA) whose valid colours are all among the histogram's
    ascending ``codes`` (with their ``entries``): the scan's own answers, looked up; NODATA for
    pixels with alpha below the threshold."""
    valid = rgba >= np.uint32(alpha_threshold << 24)
    if len(codes) == 0:
        return np.full(rgba.shape, NODATA, dtype=np.int64)
    at = np.minimum(np.searchsorted(codes, rgba & np.uint32(0xFFFFFF)), len(codes) - 1)
    return np.where(valid, entries[at], NODATA)
