"""What every Palettize algorithm shares: reading a raster layer's pixels block by block.

Parameters INPUT, SOURCE, RED_BAND, GREEN_BAND, BLUE_BAND, ALPHA_BAND and ALPHA_THRESHOLD, their
checks, the choice of reader (drawn by QGIS, or bands read directly), and the colour histogram
pass that palettes built from the image need.
"""

import shutil
import tempfile

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingParameterBand,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsUnitTypes,
)
from qgis.PyQt.QtCore import QCoreApplication

from ..engine.adaptive import PaletteBuildError, build_palette
from . import help as help_text
from . import rendered_source
from ..engine import gdal_io
from .compat import checkable_parameters, enum_parameter, enum_value
from ..engine.blocks import colour_histogram
from ..engine.report import write_report

SOURCES = ("rendered", "bands")
README_URL = "https://github.com/palettize/palettize/blob/main/README.md"


def tr(text):
    return QCoreApplication.translate("Palettize", text)


def advanced(parameter):
    parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return parameter


class LayerSourceAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses add their own parameters and extend ``settings``."""

    INPUT, SOURCE, ALPHA_BAND, ALPHA_THRESHOLD = "INPUT", "SOURCE", "ALPHA_BAND", "ALPHA_THRESHOLD"
    EXTENT, PIXEL_SIZE = "EXTENT", "PIXEL_SIZE"
    OUTPUT_REPORT = "OUTPUT_REPORT"
    BANDS = ("RED_BAND", "GREEN_BAND", "BLUE_BAND")
    ENUMS = {"SOURCE": (SOURCES, "rendered")}  # enum parameter -> (options, default); subclasses add theirs

    #: The README heading of the algorithm's parameter reference, as a GitHub anchor.
    HELP_ANCHOR = ""

    def helpUrl(self):  # noqa: N802 (QGIS API)
        return "{}#{}".format(README_URL, self.HELP_ANCHOR)

    #: The rows of algorithms/help.py describing this algorithm's parameters (labels, tooltips, help).
    PARAMETERS = ()

    def label(self, name):
        """What the dialog shows for parameter ``name``."""
        return tr(help_text.label(self.PARAMETERS, name))

    def named(self, name):
        """Parameter ``name`` as messages name it: the dialog's label, and the id for scripts."""
        return "{} ({})".format(self.label(name), name)

    def addInputParameter(self):  # noqa: N802 (Qt naming, like addParameter)
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.label(self.INPUT)))

    def addSourceParameters(self):  # noqa: N802 (Qt naming, like addParameter)
        """Where the pixels come from and on which grid: all under Advanced parameters."""
        self.addParameter(advanced(self.enum_parameter(self.SOURCE, self.label(self.SOURCE))))
        for name, default in zip(self.BANDS, (1, 2, 3)):
            self.addParameter(advanced(QgsProcessingParameterBand(
                name, self.label(name), default, self.INPUT, optional=True)))
        self.addParameter(advanced(QgsProcessingParameterBand(
            self.ALPHA_BAND, self.label(self.ALPHA_BAND), None, self.INPUT, optional=True)))
        self.addParameter(advanced(QgsProcessingParameterExtent(
            self.EXTENT, self.label(self.EXTENT), optional=True)))
        self.addParameter(advanced(QgsProcessingParameterNumber(
            self.PIXEL_SIZE, self.label(self.PIXEL_SIZE), QgsProcessingParameterNumber.Double, None, optional=True,
            minValue=0.0,
        )))
        self.addParameter(advanced(QgsProcessingParameterNumber(
            self.ALPHA_THRESHOLD, self.label(self.ALPHA_THRESHOLD),
            QgsProcessingParameterNumber.Integer, 128, minValue=0, maxValue=255,
        )))

    def describeParameters(self):  # noqa: N802 (Qt naming, like addParameter)
        """Each parameter's tooltip (setHelp, QGIS 3.16 and later)."""
        for definition in self.parameterDefinitions():
            if hasattr(definition, "setHelp"):
                definition.setHelp(tr(help_text.find(self.PARAMETERS, definition.name()).tip))

    def shortHelpString(self):  # noqa: N802 (QGIS API)
        return tr(help_text.short_help(self.HELP_INTRO, self.PARAMETERS, self.HELP_EXAMPLE))

    # -- validation: the same checks stop processing.run, qgis_process and the dialog -------------

    def checkParameterValues(self, parameters, context):  # noqa: N802 (QGIS API)
        ok, message = super().checkParameterValues(
            checkable_parameters(self, self.checkable(parameters), {k: v[0] for k, v in self.ENUMS.items()}), context)
        try:
            if not ok:  # say which value is wrong as the dialog names it, where QGIS's message does not
                for name in self.ENUMS:
                    self.enum(self.checkable(parameters), name)
                return ok, message
            self.settings(parameters, context)
        except QgsProcessingException as error:
            return False, str(error)
        return True, ""

    def checkable(self, parameters):
        """Parameters as QGIS's own value checks should see them (subclasses may adapt values)."""
        return parameters

    def enum_parameter(self, name, description):
        options, default = self.ENUMS[name]
        return enum_parameter(name, description, options, default)

    def enum(self, parameters, name):
        """The chosen option's string."""
        options, default = self.ENUMS[name]
        try:
            return enum_value(parameters, name, options, default)
        except ValueError:
            raise QgsProcessingException(tr("{} must be one of {} (got {!r}).").format(
                self.named(name), ", ".join(options), parameters.get(name)))

    def settings(self, parameters, context):
        """Everything a run needs, checked; raises QgsProcessingException saying what to fix."""
        source = self.enum(parameters, self.SOURCE)
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None or not layer.isValid():
            raise QgsProcessingException(tr("The input is not a valid raster layer: choose a raster QGIS can open."))
        path = rendered_source.gdal_path(layer)  # None when GDAL cannot open the layer's source
        bands = [self.parameterAsInt(parameters, name, context) for name in self.BANDS]
        alpha = parameters.get(self.ALPHA_BAND)
        alpha = self.parameterAsInt(parameters, self.ALPHA_BAND, context) if alpha not in (None, "", -1, 0) else None
        if source == "bands":
            for name, band in list(zip(self.BANDS, bands)) + [(self.ALPHA_BAND, alpha)]:
                if band is not None and not 1 <= band <= layer.bandCount():
                    raise QgsProcessingException(tr(
                        "{} is {} but layer '{}' has {} band(s): choose a band from 1 to {}."
                    ).format(self.named(name), band, layer.name(), layer.bandCount(), layer.bandCount()))
            if path is None:
                raise QgsProcessingException(tr(
                    "{} = bands reads files with GDAL, and layer '{}' is not one: choose rendered."
                ).format(self.named(self.SOURCE), layer.name()))
        elif layer.renderer() is None:
            raise QgsProcessingException(tr("Layer '{}' has no style to draw: set {} to bands.").format(
                layer.name(), self.named(self.SOURCE)))
        grid, target_crs = self._grid(parameters, context, layer, path, source)
        return {
            "layer": layer, "path": path, "source": source, "bands": bands, "alpha": alpha, "grid": grid, "target_crs": target_crs,
            "threshold": self.parameterAsInt(parameters, self.ALPHA_THRESHOLD, context),
            "report": self.report_path(parameters, context),
        }

    def _grid(self, parameters, context, layer, path, source):
        """(output grid, CRS to draw in or None): the layer's own grid unless EXTENT or PIXEL_SIZE ask
        for another one (SOURCE=rendered only)."""
        has_extent = parameters.get(self.EXTENT) not in (None, "")
        pixel_size = (self.parameterAsDouble(parameters, self.PIXEL_SIZE, context)
                      if parameters.get(self.PIXEL_SIZE) not in (None, "") else None)
        native = None
        try:
            native = rendered_source.layer_grid(layer, path)
        except gdal_io.SourceError as error:
            if not (has_extent and pixel_size):
                raise QgsProcessingException(str(error))
        if not has_extent and pixel_size is None:
            return native, None
        if source == "bands":
            raise QgsProcessingException(tr(
                "{} and {} choose a grid for the layer as drawn: set {} to rendered, or clear them.").format(
                self.named(self.EXTENT), self.named(self.PIXEL_SIZE), self.named(self.SOURCE)))
        if pixel_size is not None and pixel_size <= 0:
            raise QgsProcessingException(tr("{} must be greater than 0.").format(self.named(self.PIXEL_SIZE)))
        crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context) if has_extent else layer.crs()
        if not crs.isValid():
            crs = layer.crs()
        extent = self.parameterAsExtent(parameters, self.EXTENT, context, crs) if has_extent else layer.extent()
        if pixel_size is None:
            if native is None or native.is_rotated or crs != layer.crs():
                raise QgsProcessingException(tr(
                    "Set {}: the layer's own pixel size does not apply to this extent's CRS.").format(
                    self.named(self.PIXEL_SIZE)))
            pixel_size = abs(native.geotransform[1])
        if extent.isEmpty():
            raise QgsProcessingException(tr("{} is empty: choose an extent with a width and a height.").format(
                self.named(self.EXTENT)))
        return rendered_source.requested_grid(extent, crs, pixel_size), crs

    # -- the run ----------------------------------------------------------------------------------

    def prepareAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        """Runs in the main thread: reads the layer's style while it is safe to touch the layer."""
        self.run = self.settings(parameters, context)
        layer, path, self.grid = self.run["layer"], self.run["path"], self.run["grid"]
        self.workdir = tempfile.mkdtemp(prefix="palettize-")
        if self.run["source"] == "bands":
            bands, alpha = self.run["bands"], self.run["alpha"]
            self._open_source = lambda: gdal_io.BandSource(path, bands, alpha)
            return True
        plan = rendered_source.direct_read_plan(layer, path) if self.run["target_crs"] is None else None
        lookup_band = rendered_source.lookup_plan(layer, path, self.run["target_crs"])
        if plan is not None:
            bands, alpha, nodata = plan
            self._open_source = lambda: gdal_io.BandSource(path, bands, alpha, nodata, use_masks=False)
        elif lookup_band is not None:
            looked_up = rendered_source.LookupSource(layer, path, lookup_band, self.workdir)
            self._open_source = lambda: looked_up
        else:
            rendered = rendered_source.RenderedSource(layer, path, self.grid, self.workdir, self.run["target_crs"],
                                                context.transformContext())
            self._open_source = lambda: rendered
        return True

    def open_source(self, feedback):
        source = self._open_source()
        feedback.pushInfo(tr("Reading {} ({} x {} pixels).").format(
            source.description, self.grid.width, self.grid.height))
        return source

    def windows(self, source, full_rows=False):
        """The source's blocks: its own block size when it has one (drawn layers: smaller blocks,
        drawn in parallel), else the engine's."""
        return list(gdal_io.iter_windows(self.grid.width, self.grid.height, getattr(source, "block_pixels", None),
                                         full_rows=full_rows))

    def scan_histogram(self, source, feedback, progress_span=(0.0, 100.0), on_block=None):
        """Distinct colours and pixel counts of the whole layer (one pass, block by block)."""
        start, end = progress_span
        codes, counts = colour_histogram(
            source, self.windows(source), self.run["threshold"],
            progress=lambda f: feedback.setProgress(start + (end - start) * f), is_cancelled=feedback.isCanceled,
            on_block=on_block,
        )
        feedback.pushInfo(tr("{} valid pixels, {} distinct colours.").format(int(counts.sum()), len(codes)))
        return codes, counts

    def image_palette(self, method, codes, counts, n_colours, metric, feedback):
        if len(codes) == 0:
            raise QgsProcessingException(tr(
                "The layer has no valid pixels to build a palette from: check {} and nodata.").format(
                self.named(self.ALPHA_THRESHOLD)))
        try:
            palette = build_palette(method, codes, counts, n_colours, metric)
        except (PaletteBuildError, ImportError) as error:
            raise QgsProcessingException(str(error))
        feedback.pushInfo(tr("Palette built from the image ({}): {} colours.").format(method, len(palette)))
        return palette

    def addReportParameter(self):  # noqa: N802 (Qt naming, like addParameter)
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_REPORT, self.label(self.OUTPUT_REPORT), fileFilter=tr("HTML files (*.html *.htm)"), optional=True,
            createByDefault=False))

    def report_path(self, parameters, context):
        """The report's path, or '' when no report was asked for."""
        if parameters.get(self.OUTPUT_REPORT) in (None, ""):
            return ""
        return self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context)

    def write_report(self, path, collector, palette, feedback, title, merged=()):
        """The HTML report, with areas in the grid's CRS units (and km² where they are lengths)."""
        a, b, _, d, e = (self.grid.geotransform[i] for i in (1, 2, 3, 4, 5))
        pixel_area = abs(a * e - b * d)
        crs = QgsCoordinateReferenceSystem.fromWkt(self.grid.wkt) if self.grid.wkt else QgsCoordinateReferenceSystem()
        units = crs.mapUnits() if crs.isValid() else QgsUnitTypes.DistanceUnknownUnit
        km2_factor = None
        if units not in (QgsUnitTypes.DistanceDegrees, QgsUnitTypes.DistanceUnknownUnit):
            km2_factor = QgsUnitTypes.fromUnitToUnitFactor(QgsUnitTypes.distanceToAreaUnit(units),
                                                           QgsUnitTypes.AreaSquareKilometers)
        area_unit = (QgsUnitTypes.toAbbreviatedString(QgsUnitTypes.distanceToAreaUnit(units))
                     if units != QgsUnitTypes.DistanceUnknownUnit else tr("pixel units²"))
        try:
            write_report(path, collector, palette, pixel_area, area_unit, km2_factor=km2_factor, title=title,
                         metric=self.run["metric"], merged=merged)
        except OSError as error:
            raise QgsProcessingException(tr("Could not write the report {}: {}").format(path, error))
        feedback.pushInfo(tr("Report: {} (mean colour error {:.2f} delta E, 95th percentile {:.2f}).").format(
            path, collector.mean_delta_e or 0.0, collector.p95_delta_e or 0.0))

    def cleanup(self, source):
        if source is not None:
            source.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def cancelled_error():
    return QgsProcessingException(tr("Cancelled: no output was written."))

