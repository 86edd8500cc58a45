"""palettize:quantize: parameters in, one block pass through the engine, an indexed raster out."""

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
)

from ..engine import cleanup
from ..engine.adaptive import METHODS
from ..engine.nearest import METRICS
from ..engine.options import CLEANUPS, DITHERS, CleanupOptions, PaletteOptions, QuantizeOptions
from ..engine.run import output_driver, quantize_source, resolve_palette
from ..palettes.palette import BUILTIN_NAMES, MATPLOTLIB_NAMES, MATPLOTLIB_PREFIX, MAX_COLOURS
from .layer_source import LayerSourceAlgorithm, advanced, tr
from .palette_table import write_palette_table
from .styling import PaletteStyler

PALETTES = BUILTIN_NAMES + METHODS + tuple(MATPLOTLIB_PREFIX + name for name in MATPLOTLIB_NAMES)

HELP = """<p>Replaces every pixel of a raster layer by the index of the nearest colour in a palette and
writes a single-band indexed raster with the palette as its colour table, on exactly the input's grid
(size, geotransform, CRS).</p>
<p><b>Source</b>: <i>rendered</i> (default) reads the pixels as QGIS draws the layer with its current
style (layer opacity ignored), so pseudocolour, paletted and RGB layers all work; <i>bands</i> reads the
raw values of the red, green, blue (and optional alpha) bands, clipped to 0-255. Without an alpha band
the dataset's alpha band or mask is used.</p>
<p><b>Palette</b>: a built-in palette (win256: Windows 256 colours, websafe216, vga16, gray256), a
matplotlib colormap (mpl:viridis, mpl:terrain, ...; any other as "mpl:name" from scripts) sampled at
<b>Number of colours</b>, or a palette built from the image itself with Number of colours entries:
<i>exact</i> (the image's own colours, lossless; fails if there are more), <i>frequent</i> (the most
frequent colours: a rendered map's legend), <i>kmeans</i> (best colours for photographs and hillshades,
scikit-learn) or <i>mediancut</i>. Palettes from the image scan the whole layer first.</p>
<p>A <b>palette file</b> wins over the palette: CSV (red,green,blue as 0-255 integers or 0-1 floats,
optional header, optional label column), GIMP .gpl, Adobe .act, ESRI .clr, QGIS colour map export
.txt, QGIS .qml style (paletted, pseudocolour or categorized), or any raster with a colour table.</p>
<p><b>Metric</b>: <i>rgb</i> (Euclidean distance in RGB), <i>cielab</i> (CIE76 delta E) or
<i>ciede2000</i> (CIEDE2000 delta E; slower on photographs). The result is exact: ties go to the
lowest palette index.</p>
<p><b>Alpha threshold</b>: pixels with lower alpha become nodata (default 128).</p>
<p><b>Edge cleanup</b> for anti-aliased or scanned maps: <i>seams</i> gives pixels no palette colour
represents well (blends of two fills, or of a fill and an outline) the class that best explains them
among the well represented pixels within 2 pixels (seam tolerance: CIELAB delta E, default 5);
<i>sieve</i> merges regions smaller than <b>minimum region</b> pixels (default 10) into the
neighbouring region of at least that size with which they share the longest border, with <b>connectedness</b> 4 (default) or 8. Cleanup only assigns classes present around a
pixel. <b>Dithering</b>: <i>floyd-steinberg</i> error diffusion in the space of the metric, for
photographs and hillshades (not with cleanup).</p>
<p><b>Extent</b> and <b>pixel size</b> (rendered source): the output grid, for layers without a grid
of their own (WMS, XYZ tiles) or to resample; by default the layer's own grid is kept.</p>
<p><b>Output</b>: Byte when the palette plus nodata fit in 256 values (nodata 255), otherwise UInt16
(nodata 65535). GeoTIFF is tiled and DEFLATE-compressed. Formats without colour tables (e.g. .xyz)
get the palette beside them as &lt;output&gt;.palette.csv. A QGIS style (.qml) and a raster
attribute table are written beside the output; the optional table and HTML <b>report</b> show the
pixels and area per palette entry and the colour error.</p>
<p>Example: <code>processing.run("palettize:quantize", {"INPUT": "map.tif", "PALETTE": "win256",
"OUTPUT": "classes.tif"})</code></p>"""

class QuantizeAlgorithm(LayerSourceAlgorithm):
    PALETTE, PALETTE_FILE, N_COLORS, METRIC, OUTPUT = "PALETTE", "PALETTE_FILE", "N_COLORS", "METRIC", "OUTPUT"
    OUTPUT_TABLE = "OUTPUT_TABLE"
    CLEANUP, SEAM_TOLERANCE, MIN_REGION, CONNECTEDNESS = "CLEANUP", "SEAM_TOLERANCE", "MIN_REGION", "CONNECTEDNESS"
    DITHER = "DITHER"
    HELP_ANCHOR = "parameter-reference-palettizequantize-quantize-raster-to-palette"
    ENUMS = dict(LayerSourceAlgorithm.ENUMS, PALETTE=(PALETTES, "win256"), METRIC=(METRICS, "rgb"),
                 CLEANUP=(CLEANUPS, "none"), DITHER=(DITHERS, "none"))

    def name(self):
        return "quantize"

    def displayName(self):  # noqa: N802 (QGIS API)
        return tr("Quantize raster to palette")

    def shortHelpString(self):  # noqa: N802 (QGIS API)
        return tr(HELP)

    def createInstance(self):  # noqa: N802 (QGIS API)
        return QuantizeAlgorithm()

    def initAlgorithm(self, config=None):  # noqa: N802 (QGIS API)
        self.addSourceParameters()
        self.addParameter(self.enum_parameter(self.PALETTE, tr("Palette")))
        self.addParameter(QgsProcessingParameterFile(
            self.PALETTE_FILE, tr("Palette file (wins over Palette)"), optional=True,
            fileFilter=tr("Palette files (*.csv *.txt *.gpl *.act *.clr *.qml *.tif *.tiff *.png *.vrt);;"
                          "All files (*.*)"),
        ))
        self.addParameter(QgsProcessingParameterNumber(
            self.N_COLORS, tr("Number of colours (palettes from the image and matplotlib)"),
            QgsProcessingParameterNumber.Integer, 256, minValue=2, maxValue=MAX_COLOURS,
        ))
        self.addParameter(self.enum_parameter(self.METRIC, tr("Colour distance")))
        self.addParameter(self.enum_parameter(self.CLEANUP, tr("Edge cleanup")))
        self.addParameter(advanced(QgsProcessingParameterNumber(
            self.SEAM_TOLERANCE, tr("Seams: colour distance up to which a pixel is well represented"),
            QgsProcessingParameterNumber.Double, cleanup.DEFAULT_SEAM_TOLERANCE, minValue=0.0,
        )))
        self.addParameter(advanced(QgsProcessingParameterNumber(
            self.MIN_REGION, tr("Sieve: regions smaller than this many pixels join a large neighbour"),
            QgsProcessingParameterNumber.Integer, cleanup.DEFAULT_MIN_REGION, minValue=2, maxValue=1000,
        )))
        self.addParameter(advanced(QgsProcessingParameterNumber(
            self.CONNECTEDNESS, tr("Sieve: connectedness (4 or 8)"), QgsProcessingParameterNumber.Integer,
            cleanup.DEFAULT_CONNECTEDNESS, minValue=4, maxValue=8,
        )))
        self.addParameter(self.enum_parameter(self.DITHER, tr("Dithering")))
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, tr("Indexed raster")))
        self.addParameter(QgsProcessingParameterFeatureSink(
            self.OUTPUT_TABLE, tr("Palette table (pixels per entry)"), QgsProcessing.TypeVector, optional=True))
        self.addReportParameter()

    def checkable(self, parameters):
        """Any matplotlib colormap is welcome as 'mpl:<name>', listed or not."""
        value = parameters.get(self.PALETTE)
        if isinstance(value, str) and value.startswith(MATPLOTLIB_PREFIX) and value not in PALETTES:
            return dict(parameters, **{self.PALETTE: MATPLOTLIB_PREFIX + MATPLOTLIB_NAMES[0]})
        return parameters

    def options(self, parameters, context, source_options):
        palette_name = parameters.get(self.PALETTE)
        if not (isinstance(palette_name, str) and palette_name.startswith(MATPLOTLIB_PREFIX)):
            palette_name = self.enum(parameters, self.PALETTE)
        palette = PaletteOptions(palette_name, self.parameterAsFile(parameters, self.PALETTE_FILE, context) or None,
                                 self.parameterAsInt(parameters, self.N_COLORS, context))
        cleanup = CleanupOptions(self.enum(parameters, self.CLEANUP),
                                 seam_tolerance=self.parameterAsDouble(parameters, self.SEAM_TOLERANCE, context),
                                 min_region=self.parameterAsInt(parameters, self.MIN_REGION, context),
                                 connectedness=self.parameterAsInt(parameters, self.CONNECTEDNESS, context))
        return QuantizeOptions(palette=palette, metric=self.enum(parameters, self.METRIC), cleanup=cleanup,
                               dither=self.enum(parameters, self.DITHER), **source_options)

    def complete(self, run, parameters, context):
        """The output and its driver; a palette that is not built from the image, read now so that
        a bad palette file stops the run before any work."""
        if not run.options.palette.from_image:
            run.palette, run.palette_origin = resolve_palette(run.options)
        run.output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        run.driver = output_driver(run.output)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        run = self.run
        result = self.call_engine(quantize_source, feedback, run.output, run.options, palette=run.palette,
                                  palette_origin=run.palette_origin, driver=run.driver)
        if context.willLoadLayerOnCompletion(run.output):
            context.layerToLoadOnCompletionDetails(run.output).setPostProcessor(PaletteStyler(result.palette))
        results = {self.OUTPUT: run.output}
        if run.options.report:
            results[self.OUTPUT_REPORT] = run.options.report
        results.update(write_palette_table(self, parameters, context, self.OUTPUT_TABLE, result.palette,
                                           result.counts))
        return results
