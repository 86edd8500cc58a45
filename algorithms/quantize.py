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
from .layer_source import LayerSourceAlgorithm, advanced, cancelled_error, tr
from ..engine.nearest import METRICS
from .palette_table import write_palette_table
from ..engine.report import ReportCollector
from .styling import PaletteStyler, save_style, style_path

CLEANUPS = cleanup.METHODS
DITHERS = ("none", "floyd-steinberg")
PALETTES = BUILTIN_NAMES + METHODS + tuple(MATPLOTLIB_PREFIX + name for name in MATPLOTLIB_NAMES)
GDAL_TYPES = {1: (gdal.GDT_Byte, "Byte"), 2: (gdal.GDT_UInt16, "UInt16")}

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

    def settings(self, parameters, context):
        run = super().settings(parameters, context)
        palette_name = parameters.get(self.PALETTE)
        if not (isinstance(palette_name, str) and palette_name.startswith(MATPLOTLIB_PREFIX)):
            palette_name = self.enum(parameters, self.PALETTE)
        n_colours = self.parameterAsInt(parameters, self.N_COLORS, context)
        palette, origin = self._palette(parameters, context, palette_name, n_colours)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        run.update(self._cleanup_and_dither(parameters, context))
        run.update(palette=palette, palette_origin=origin, palette_method=palette_name if palette is None else None,
                   n_colours=n_colours, metric=self.enum(parameters, self.METRIC),
                   output=output, driver=self._output_driver(output))
        return run

    def _cleanup_and_dither(self, parameters, context):
        method, dither = self.enum(parameters, self.CLEANUP), self.enum(parameters, self.DITHER)
        if method != "none" and dither != "none":
            raise QgsProcessingException(tr(
                "CLEANUP={} would undo DITHER={}: choose one of them.").format(method, dither))
        connectedness = self.parameterAsInt(parameters, self.CONNECTEDNESS, context)
        if connectedness not in (4, 8):
            raise QgsProcessingException(tr("CONNECTEDNESS must be 4 or 8, not {}.").format(connectedness))
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
                raise QgsProcessingException(tr("{}. Fix the file or clear PALETTE_FILE.").format(error))
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
            dtype, nodata = output_type(len(palette))
            gdal_type, type_name = GDAL_TYPES[dtype().itemsize]
            feedback.pushInfo(tr("Palette: {} colours ({}); metric {}.").format(
                len(palette), run["palette_origin"], run["metric"]))
            feedback.pushInfo(tr("{} colours + nodata {} 256 values: writing {} with nodata {}.").format(
                len(palette), "fit in" if type_name == "Byte" else "need more than", type_name, nodata))
            collector = ReportCollector(palette, self.grid.width, self.grid.height, nodata) if run["report"] else None
            with gdal_io.IndexedRasterWriter(run["output"], run["driver"], self.grid, palette, gdal_type,
                                               nodata) as writer:
                result = quantize_blocks(
                    source, writer, self.windows(full_rows=run["dither"] != "none"), palette, run["metric"],
                    run["threshold"],
                    progress=lambda f: feedback.setProgress(progress_start + (100.0 - progress_start) * f),
                    is_cancelled=feedback.isCanceled, dither=run["dither"], cleanup=run["cleanup"],
                    cleanup_options=run["cleanup_options"], grid_size=(self.grid.width, self.grid.height),
                    observers=[collector] if collector else [],
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
        results = {self.OUTPUT: run["output"]}
        if collector is not None:
            self.write_report(run["report"], collector, palette, feedback, tr("Quantized to {} colours: {}").format(
                len(palette), os.path.basename(run["output"])))
            results[self.OUTPUT_REPORT] = run["report"]
        results.update(write_palette_table(self, parameters, context, self.OUTPUT_TABLE, palette, result.counts))
        return results
