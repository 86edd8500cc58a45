"""What every Palettize algorithm shares: reading a raster layer's pixels block by block.

Parameters INPUT, SOURCE, RED_BAND, GREEN_BAND, BLUE_BAND, ALPHA_BAND and ALPHA_THRESHOLD, their
checks, the choice of reader (drawn by QGIS, or bands read directly), and the call into the
engine's run API (engine.run) with the subclass's typed options.
"""

import functools
import math
import numbers
import os
import re
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Optional

from osgeo import gdal
from qgis.core import (
    NULL,
    Qgis,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterBand,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsMapLayer,
    QgsProcessingUtils,
    QgsProperty,
    QgsRasterLayer,
    QgsReadWriteContext,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtXml import QDomDocument

from ..engine import gdal_io
from ..engine.blocks import Cancelled
from ..engine.options import OptionsError, finite_number, whole_number
from ..engine.outputs import same_file_key, writable_path_problem
from ..engine.pointwise import NotPiecewise
from ..engine.run import RunError, opaque_or_guessed, other_geopackage_layers
from ..engine.stopping import sigterm_stops_run, stop_asked
from . import help as help_text
from . import rendered_source
from .compat import checkable_parameters, enum_parameter, enum_value
from .loading import resolve_output
from .palette_table import (copied_layer, layer_names, put_back_layer, remove_layer, same_name, shared_file,
                            table_file, write_palette_table)

SOURCES = ("rendered", "bands")
README_URL = "https://github.com/palettize/palettize/blob/main/README.md"


#: OGR drivers QGIS picks by a table's extension that write the table (one row per entry, no
#: geometry) so that it reads back; any other (.txt is Geoconcept, which wants a CRS; .pdf writes
#: nothing; .gmt and GDAL 3.6's .fgb drop every row; .geojsons is written as .geojsons.json; a
#: .sqlite table without geometry is not listed, so QGIS and GDAL open the file as empty; a
#: shapefile's is a .dbf alone, not the .shp asked for, or a .dbf named .dbf.dbf) is refused before
#: any work, not found out once the raster is done.
_TABLE_DRIVERS = ("CSV", "XLSX", "ODS", "GPKG", "GeoJSON", "GML", "MapInfo File")
#: Parameters whose values are numbers (a band: its number), checked as typed (see number_problem).
NUMBER_PARAMETERS = (QgsProcessingParameterNumber, QgsProcessingParameterBand)

def tr(text):
    return QCoreApplication.translate("Palettize", text)


def advanced(parameter):
    parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    return parameter


@dataclass
class LayerRun:
    """One run as the glue prepares it: the layer and how to read it, the output, and the engine's
    typed options (engine.options), which carry every setting from parameter to use."""

    layer: Any
    path: Optional[str]  # what GDAL opens for the layer, None when it cannot
    input_file: Optional[str]  # the file the layer reads (rendered_source.layer_file), which no output may replace
    source: str  # "rendered" or "bands"
    grid: gdal_io.RasterGrid
    target_crs: Any  # the CRS to draw in when EXTENT/PIXEL_SIZE ask for another grid, else None
    options: Any = None  # QuantizeOptions or ExtractOptions
    output: str = ""  # the indexed raster, or the palette file
    driver: str = ""
    palette: Any = None  # read or sampled in advance; None when built from the image
    palette_origin: str = ""
    table: str = ""  # the OUTPUT_TABLE file, '' for none or a destination that is no file (see table_path)
    output_request: Any = None  # loading.OutputRequest: the output resolved once, loaded by the run that writes it
    warnings: Any = ()  # sentences to log as warnings when the run starts
    reading: Any = None  # (kind, plan) of LayerSourceAlgorithm.reader, found by the check
    opacity_guesses: Any = None  # a BandSource's seems_opaque answers, found by the check


def _stored_layers(context):
    """The ids of the layers in the context's temporary store: those there before QGIS opens the
    input are the caller's (see _opened_for_the_run)."""
    return frozenset(context.temporaryLayerStore().mapLayers())


def _opened_for_the_run(value, layer, context, stored):
    """Whether ``layer``, the INPUT given as ``value``, is a file given by its path that Processing
    opened into the context's store (without the default style QGIS draws it with): for this run,
    or for an earlier step of a model, the layer then still drawn as so opened. Never a layer the
    caller styled and put there (named by its id, name or path, as scripts chaining algorithms do;
    ``stored``: the store's layers before QGIS opened the input) or a project's layer."""
    return isinstance(value, str) and value not in (layer.id(), layer.name()) and \
        context.temporaryLayerStore().mapLayer(layer.id()) is not None and \
        (layer.id() not in stored or _symbology(layer) == _symbology(_opened_plain(layer)))


def _opened_plain(layer):
    """The layer's source opened as Processing opens a path: without its default style."""
    options = QgsRasterLayer.LayerOptions()
    options.loadDefaultStyle = False
    return QgsRasterLayer(layer.source(), layer.name(), layer.providerType(), options)


def _symbology(layer):
    """The layer's style (renderer, filters, transparency) as QGIS saves it."""
    document = QDomDocument()
    layer.exportNamedStyle(document, QgsReadWriteContext(), QgsMapLayer.Symbology)
    return document.toString()


#: (thread, frame) of entry points that failed (see user_errors), each at the end of a chain of callers.
_FAILED = []


def _release_failed_runs():
    """Clear what QGIS keeps of the runs that failed before in this thread (whose Qt objects are
    this thread's to delete): the frame of each failed entry point and, above it, the finished
    frames of processing.run, which hold the context it made (the layers it opened, their files
    open). The caller's own frames are left as they are, with a context the caller made."""
    thread = threading.get_ident()
    for kept in [kept for kept in _FAILED if kept[0] == thread]:
        _FAILED.remove(kept)
        frame = kept[1]
        while frame is not None:
            above = frame.f_back
            try:
                frame.clear()
            except RuntimeError:  # still running (a model's step)
                break
            frame = above if above is not None and above.f_globals.get("__name__", "").startswith("processing.") else None


def unexpected(error):
    return tr("Palettize failed unexpectedly ({}: {}); nothing was written. Please report this with the "
              "parameters you used.").format(type(error).__name__, error)


def user_errors(method):
    """Let only QgsProcessingException out of a Processing entry point (``method(algorithm,
    parameters, context, feedback)``): qgis_process aborts on anything else, and a user needs one
    sentence, not a traceback. QGIS 3.22 never frees what it takes of an exception let out: the
    frames of the entry point and of processing.run that called it, which hold the run's context and
    algorithm; every failed or cancelled processing.run kept its input file open and its blocks in
    memory. So the exception is raised outside the except clauses (no chained exception holds the
    engine's frames and blocks), the algorithm lets go of its run first, and the next run clears
    those frames (_release_failed_runs). A SIGTERM to qgis_process (or to a script calling
    processing.run) stops the run with its unfinished outputs removed, says so and ends the process
    (stopping.sigterm_stops_run)."""
    @functools.wraps(method)
    def wrapper(algorithm, parameters, context, feedback):
        _release_failed_runs()
        failed = []  # the message of a failed run, for the log before a SIGTERM ends the process
        with sigterm_stops_run(functools.partial(_report_errors, feedback, failed)):
            try:
                return method(algorithm, parameters, context, feedback)
            except QgsProcessingException as error:
                message = str(error)
            except Exception as error:
                message = unexpected(error)
            failed.append(message)
        algorithm.let_go()
        del algorithm, parameters, context, feedback
        _FAILED.append((threading.get_ident(), sys._getframe()))  # cleared as this thread's next run starts
        raise QgsProcessingException(message)
    return wrapper


def _report_errors(feedback, messages):
    for message in messages:
        feedback.reportError(message, True)


def plain(number):
    """A range limit as a user writes it: 2, not 2.0."""
    return int(number) if float(number).is_integer() else number


def engine_callbacks(feedback, explained=str):
    """progress, is_cancelled and log for the engine's run API, reporting to ``feedback``; the
    log's settings named by ``explained`` (as errors name them: the dialog's label and the id)."""
    def log(text, warning=False):
        (feedback.pushWarning if warning else feedback.pushInfo)(explained(text))

    return {"progress": lambda fraction: feedback.setProgress(100.0 * fraction),
            "is_cancelled": lambda: feedback.isCanceled() or stop_asked(), "log": log}


class LayerSourceAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses add their own parameters, build their options (``options``) and
    complete the run (``complete``)."""

    INPUT, SOURCE, ALPHA_BAND, ALPHA_THRESHOLD = "INPUT", "SOURCE", "ALPHA_BAND", "ALPHA_THRESHOLD"
    EXTENT, PIXEL_SIZE = "EXTENT", "PIXEL_SIZE"
    OUTPUT_REPORT = "OUTPUT_REPORT"
    BANDS = ("RED_BAND", "GREEN_BAND", "BLUE_BAND")
    ENUMS = {"SOURCE": (SOURCES, "rendered")}  # enum parameter -> (options, default); subclasses add theirs
    ENUM_LABELS = {}  # enum parameter -> what the dialog shows for each option, where not the option itself

    #: The README heading of the algorithm's parameter reference, as a GitHub anchor.
    HELP_ANCHOR = ""
    _workdir = None  # see workdir()

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
        try:
            stored = _stored_layers(context)  # before QGIS's own check opens the input
            values = self.evaluated(parameters, context)
            ok, message = super().checkParameterValues(
                checkable_parameters(self, self.checkable(values), {k: v[0] for k, v in self.ENUMS.items()},
                                     self.ENUM_LABELS), context)
            if not ok:  # say which value is wrong as the dialog names it, where QGIS's message does not
                for name in self.ENUMS:
                    self.enum(self.checkable(values), name)
                return ok, (self.input_problem(parameters, context) or self.number_problem(values)
                            or self.missing_output(parameters) or self.extent_problem(parameters, context) or message)
            self._checked = (context, dict(parameters), self.settings(parameters, context, stored))
        except QgsProcessingException as error:
            return False, str(error)
        except Exception as error:  # qgis_process aborts when anything else leaves this method
            return False, unexpected(error)
        return True, ""

    def number_problem(self, parameters):
        """Why a number parameter's value is refused, as a sentence ('' when none is): QGIS's own
        check only says "Incorrect parameter value for N_COLORS"."""
        for definition in self.parameterDefinitions():
            problem = self._number_problem(definition, parameters.get(definition.name()))
            if problem:
                return problem
        return ""

    def _number_problem(self, definition, value):
        """number_problem for one parameter ('' when it is no number parameter or holds no value)."""
        if not isinstance(definition, NUMBER_PARAMETERS) or not isinstance(value, (str, numbers.Real)) \
                or isinstance(value, bool) or value == "":
            return ""
        name = definition.name()
        try:
            number = float(value)
        except ValueError:
            return tr("{} must be a number, not {!r}.").format(self.named(name), value)
        if not math.isfinite(number):
            return tr("{} must be a finite number, not {}.").format(self.named(name), value)
        if isinstance(definition, QgsProcessingParameterBand):  # its range is the layer's bands (see settings)
            return ""
        low, high = definition.minimum(), definition.maximum()
        if name == self.PIXEL_SIZE and number <= 0:
            return tr("{} must be greater than 0.").format(self.named(name))
        if not low <= number <= high:
            return tr("{} must be a {} from {}{}, not {}.").format(
                self.named(name),
                tr("whole number") if definition.dataType() == QgsProcessingParameterNumber.Integer else tr("number"),
                plain(low), tr(" to {}").format(plain(high)) if high < 1e300 else tr(" up"), value)
        return ""

    def input_problem(self, parameters, context):
        """A sentence for an INPUT that is a layer or file of another kind, or a file nothing opens
        ('' otherwise): QGIS's own check says an existing vector file, an empty file or a damaged
        one "not found", a vector layer "invalid value"."""
        value = parameters.get(self.INPUT)
        layer = value if isinstance(value, QgsMapLayer) else QgsProcessingUtils.mapLayerFromString(
            value, context) if isinstance(value, str) and value else None
        if layer is None and isinstance(value, str) and os.path.isfile(value):
            _dataset, reason = gdal_io.open_raster(value)
            if _dataset is None:  # GDAL's reason, without the path it quotes again
                reason = gdal_io.one_line(reason).replace("`{}' ".format(value), "")
                reason = re.sub(r"^({}|{}): ".format(re.escape(value), re.escape(os.path.basename(value))), "", reason)
                return tr("{} ({}) is there, but GDAL cannot open it as a raster ({}): it may be empty, damaged or no "
                          "raster. Repair or replace it, or choose another file.").format(
                    self.named(self.INPUT), value, reason.rstrip("."))
        if layer is None or isinstance(layer, QgsRasterLayer):
            return ""
        kind = "a vector layer (features)" if isinstance(layer, QgsVectorLayer) else "a {} layer".format(
            type(layer).__name__.replace("Qgs", "").replace("Layer", "").lower() or "map")
        shown = value if isinstance(value, str) and value != layer.id() else layer.name()
        return tr("{} ({}) is {}, not a raster: choose a raster layer or file.").format(self.named(self.INPUT), shown,
                                                                                      kind)

    def missing_output(self, parameters):
        """A sentence for a required output left empty ('' when there is none): QGIS's own check
        only says "Incorrect parameter value for OUTPUT"."""
        for definition in self.destinationParameterDefinitions():
            if not definition.flags() & QgsProcessingParameterDefinition.FlagOptional and \
                    parameters.get(definition.name()) in (None, ""):
                return tr("{} needs a value: a file path, or TEMPORARY_OUTPUT for a temporary file.").format(
                    self.named(definition.name()))
        return ""

    def extent_problem(self, parameters, context):
        """A sentence for an EXTENT QGIS cannot read ('' when it can): its own check only says
        "Incorrect parameter value for EXTENT"."""
        value = parameters.get(self.EXTENT)
        definition = self.parameterDefinition(self.EXTENT)
        if definition is None or not isinstance(value, str) or not value or \
                definition.checkValueIsAcceptable(value, context):
            return ""
        return tr("{} must be xmin,xmax,ymin,ymax and optionally its CRS, e.g. 500000,510000,7490000,7500000 "
                  "[EPSG:32635], not {!r}.").format(self.named(self.EXTENT), value)

    def createInstance(self):  # noqa: N802 (QGIS API)
        """A new instance of this algorithm. QGIS runs an algorithm on an instance it creates from
        the one whose parameters it checked (processing.run, qgis_process and the dialog alike):
        the settings found by the check go with it, so that a run reads and checks them once."""
        instance = type(self)()
        instance._checked, self._checked = self._checked, None
        return instance

    _checked = None  # (context, parameters, LayerRun) of the last successful checkParameterValues

    def checked_settings(self, parameters, context):
        """``settings`` for these parameters: those checkParameterValues found for the same values
        in the same context (see createInstance), else found now."""
        checked, self._checked = self._checked, None
        if checked is not None and checked[0] is context and checked[1] == parameters:
            return checked[2]
        return self.settings(parameters, context)

    def checkable(self, parameters):
        """Parameters as QGIS's own value checks should see them (subclasses may adapt values)."""
        return parameters

    def enum_parameter(self, name, description):
        options, default = self.ENUMS[name]
        return enum_parameter(name, description, options, default, self.ENUM_LABELS.get(name))

    def whole_number(self, parameters, name, context):
        """An integer parameter, refused when the value given is not a whole number (QGIS would
        round 2.5 to 2 without a word)."""
        value = parameters.get(name)
        if isinstance(value, (str, numbers.Real)) and not isinstance(value, bool) and value != "":
            problem = self._number_problem(self.parameterDefinition(name), value)  # text: a model's evaluated value
            if problem:
                raise QgsProcessingException(problem)
            self.checked(whole_number, name, value)
        return self.parameterAsInt(parameters, name, context)

    def finite_number(self, parameters, name, context):
        """A number parameter, refused when it is NaN, infinite or text that is no number (QGIS lets
        an optional parameter's "10m" through, and reads it as 0)."""
        problem = self._number_problem(self.parameterDefinition(name), parameters.get(name))
        if problem:
            raise QgsProcessingException(problem)
        return self.checked(finite_number, name, self.parameterAsDouble(parameters, name, context))

    def checked(self, check, name, value):
        try:
            return check(name, value)
        except OptionsError as error:
            raise QgsProcessingException(self.explained(error))

    def enum(self, parameters, name):
        """The chosen option's string."""
        options, default = self.ENUMS[name]
        try:
            return enum_value(parameters, name, options, default)
        except ValueError:
            raise QgsProcessingException(tr("{} must be one of {} (got {!r}).").format(
                self.named(name), ", ".join(options), parameters.get(name)))

    def evaluated(self, parameters, context):
        """``parameters`` with the options, numbers and bands given as QGIS properties (QgsProperty:
        an expression, the dialog's data-defined override, a model's data-defined value) replaced by
        what they evaluate to, so that they are checked as typed values are: read as numbers, every
        property was option 1 (vga16 ran as websafe216); QGIS rounded a number's 2.5, read text as
        the default, and NULL as 0 (an entry of the palette reserved for nodata). A property that
        gives no value leaves an optional parameter unset, and is refused for an option or number
        that must have one; other properties (layers, files, outputs) are QGIS's to read."""
        values = dict(parameters)
        for name, property_ in parameters.items():
            definition = self.parameterDefinition(name)
            if not isinstance(property_, QgsProperty) or definition is None or definition.isDestination():
                continue
            value, ok = property_.value(context.expressionContext())
            unset = not ok or value is None or value == NULL
            optional = bool(definition.flags() & QgsProcessingParameterDefinition.FlagOptional)
            typed = name in self.ENUMS or isinstance(definition, NUMBER_PARAMETERS)
            if unset and typed and (name in self.ENUMS or not optional):  # never the default without a word
                raise QgsProcessingException(tr("{} is given as {}, which gives no value: give {}.").format(
                    self.named(name), property_.asExpression(), tr("one of {}").format(", ".join(self.ENUMS[name][0]))
                    if name in self.ENUMS else tr("a number")))
            if unset and optional:
                values[name] = None
            elif typed:
                values[name] = value
        return values

    def settings(self, parameters, context, stored=None):
        """Everything a run needs, checked, as a LayerRun; raises QgsProcessingException saying what
        to fix. ``stored``: the ids of the layers in the context's temporary store before QGIS opened
        the input (None: before this call)."""
        stored = _stored_layers(context) if stored is None else stored
        parameters = self.evaluated(parameters, context)
        source = self.enum(parameters, self.SOURCE)
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None or not layer.isValid():
            raise QgsProcessingException(tr("The input is not a valid raster layer: choose a raster QGIS can open."))
        if source == "rendered" and _opened_for_the_run(parameters.get(self.INPUT), layer, context, stored):
            # Opened without the default style QGIS draws it with (<name>.qml beside it, from Save as Default)
            layer.loadDefaultStyle()
        path = rendered_source.gdal_path(layer)  # None when GDAL cannot open the layer's source
        bands = [self.whole_number(parameters, name, context) for name in self.BANDS]
        alpha = parameters.get(self.ALPHA_BAND)
        alpha = self.whole_number(parameters, self.ALPHA_BAND, context) if alpha not in (None, "", -1, 0) else None
        if source == "bands":
            if path is None:
                raise QgsProcessingException(tr(
                    "{} = bands reads the bands of files with GDAL, and layer '{}' cannot be read so: {}. Choose "
                    "rendered."
                ).format(self.named(self.SOURCE), layer.name(), rendered_source.why_not_gdal(layer)))
            dataset = gdal.Open(path)  # QGIS shows one band more for a file with a mask
            count = dataset.RasterCount
            paletted = gdal_io.paletted_band(dataset, [b for b in bands if b])
            complex_band = gdal_io.complex_band(dataset, [b for b in bands + [alpha] if b and 1 <= b <= count])
            grey = count < 3 and not gdal_io.paletted_band(dataset, [1])
            dataset = None
            if paletted:
                raise QgsProcessingException(tr(
                    "Layer '{}' is a paletted raster (band {} holds indices into a colour table, not colours): set {} "
                    "to rendered, which reads the colours QGIS draws."
                ).format(layer.name(), paletted, self.named(self.SOURCE)))
            for name, band in list(zip(self.BANDS, bands)) + [(self.ALPHA_BAND, alpha)]:
                if band is not None and not 1 <= band <= count:
                    raise QgsProcessingException(tr(
                        "{} is {} but layer '{}' has {} band(s){}: choose a band from 1 to {}{}."
                    ).format(self.named(name), band, layer.name(), count, tr(
                        " (QGIS lists the file's mask as band {}; it is read as alpha without being chosen)"
                    ).format(count + 1) if band == count + 1 <= layer.bandCount() else "", count, tr(
                        "; a grey image is read with {} set to 1").format(", ".join(
                            self.named(colour) for colour in self.BANDS)) if grey and name != self.ALPHA_BAND else ""))
            if complex_band:
                raise QgsProcessingException(tr(
                    "Band {} of layer '{}' holds complex numbers, which are no colours: set {} to rendered."
                ).format(complex_band, layer.name(), self.named(self.SOURCE)))
        elif layer.renderer() is None:
            raise QgsProcessingException(tr("Layer '{}' has no style to draw: set {} to bands.").format(
                layer.name(), self.named(self.SOURCE)))
        else:
            undrawable = [band for band in layer.renderer().usesBands() if 1 <= band <= layer.bandCount() and
                          layer.dataProvider().dataType(band) == Qgis.DataType.UnknownDataType]
            if undrawable:  # QGIS 3.22 opens 64-bit integer bands, and draws nothing of them
                dataset = gdal.Open(path) if path else None
                kind = gdal.GetDataTypeName(dataset.GetRasterBand(undrawable[0]).DataType) if dataset else "unknown"
                dataset = None
                raise QgsProcessingException(tr(
                    "Layer '{}' has band {} of a data type this QGIS cannot draw ({}): convert it first, e.g. "
                    "gdal_translate -ot Float64 (Raster > Conversion > Translate), or set {} to bands{}."
                ).format(layer.name(), undrawable[0], kind, self.named(self.SOURCE), tr(
                    " and {} to 1 (its values read as grey levels)").format(", ".join(
                        self.named(colour) for colour in self.BANDS)) if layer.bandCount() < 3 else ""))
            alpha_band = layer.renderer().alphaBand()
            if alpha_band > layer.bandCount():  # a style saved for an RGBA raster, given to an RGB one
                raise QgsProcessingException(tr(
                    "Layer '{}' has {} band(s), and its style takes the transparency from band {}: QGIS draws "
                    "nothing of it. Set the style's transparency band to one of the layer's, or to none (Layer "
                    "Properties > Transparency), or set {} to bands."
                ).format(layer.name(), layer.bandCount(), alpha_band, self.named(self.SOURCE)))
            empty = rendered_source.empty_style_problem(layer)
            if empty:
                raise QgsProcessingException(tr("Layer '{}' draws nothing: {}. Give it a style that draws it, or set "
                                                "{} to bands.").format(layer.name(), empty, self.named(self.SOURCE)))
        grid, target_crs = self._grid(parameters, context, layer, path, source)
        problem = rendered_source.own_grid_problem(layer, grid, path) if source == "rendered" and \
            target_crs is None else None
        if problem:
            raise QgsProcessingException(problem)
        run = LayerRun(layer, path, rendered_source.layer_file(layer), source, grid, target_crs)
        if source == "rendered":
            run.warnings = list(self.unused_bands(bands, alpha))
            opacity = min(layer.opacity(), layer.renderer().opacity())  # the layer's, and its style's global one
            if opacity < 1.0:  # documented; a user who set it on the map is told so where it matters
                run.warnings.append(tr("Layer '{}' is drawn at {:.0%} opacity on the map; the opacity is ignored: its "
                                       "pixels are classified as drawn opaque.").format(layer.name(), opacity))
        try:
            run.options = self.options(parameters, context, {
                "alpha_threshold": self.whole_number(parameters, self.ALPHA_THRESHOLD, context),
                "bands": (tuple(bands) + ((alpha,) if alpha else ())) if source == "bands" else None,
                "report": self.report_path(parameters, context) or None,
            })
            self.complete(run, parameters, context)
        except (OptionsError, RunError) as error:
            raise QgsProcessingException(self.explained(error))
        return run

    def unused_bands(self, bands, alpha):
        """A warning for bands chosen for a run that reads the layer as drawn (they are read with
        SOURCE=bands only), as a tuple of one sentence, or ()."""
        defaults = [self.parameterDefinition(name).defaultValue() for name in self.BANDS]
        chosen = []
        if [str(b) for b in bands] != [str(d) for d in defaults]:
            chosen.append("{} = {}".format(", ".join(self.named(name) for name in self.BANDS),
                                           ", ".join(str(b) for b in bands)))
        if alpha:
            chosen.append("{} = {}".format(self.named(self.ALPHA_BAND), alpha))
        if not chosen:
            return ()
        return (tr("{} {} read with {} = bands only: this run reads the layer as drawn with its style. Set {} to "
                   "bands to read those bands.").format(
            tr(" and ").join(chosen), tr("are") if len(chosen) > 1 or not alpha else tr("is"),
            self.named(self.SOURCE), self.named(self.SOURCE)),)

    def explained(self, error):
        """An engine error with every setting as the dialog names it: its label, and the id for
        scripts ("CLEANUP=seams" becomes "Edge cleanup (CLEANUP) = seams"); ids inside file names
        (".../OUTPUT.tif") stay as they are."""
        ids = [name for row in self.PARAMETERS for name in row.ids]
        pattern = r"(?<![\w/\\.])({})(?![\w]|\.\w)(=?)".format("|".join(re.escape(name) for name in ids))
        return re.sub(pattern, lambda m: self.named(m.group(1)) + (" = " if m.group(2) else ""), str(error))

    def options(self, parameters, context, source_options):
        """The engine's typed options (QuantizeOptions, ExtractOptions) for these parameters;
        ``source_options``: alpha_threshold, bands and report, read by this base class."""
        raise NotImplementedError

    def complete(self, run, parameters, context):
        """Fill in what the run needs beyond its options (output path, palette); may raise RunError."""

    def _grid(self, parameters, context, layer, path, source):
        """(output grid, CRS to draw in or None): the layer's own grid unless EXTENT or PIXEL_SIZE ask
        for another one (SOURCE=rendered only)."""
        has_extent = parameters.get(self.EXTENT) not in (None, "")
        pixel_size = (self.finite_number(parameters, self.PIXEL_SIZE, context)
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
        layer_extent = layer.extent()
        if native is not None and layer_extent.isEmpty() and native.has_geotransform and path is not None and \
                not rendered_source.drawn_in_map_tiles(layer, layer.crs()):
            layer_extent = rendered_source.grid_extent(native)  # its own pixels are drawn (and picked) on another grid
        elif native is not None and layer_extent.isEmpty():  # QGIS 3.40 gives a mirrored raster an inverted extent
            raise QgsProcessingException(tr(
                "QGIS {} gives layer '{}' an empty extent ({}), so it draws nothing of it on another grid: leave {} "
                "and {} out to write the layer on its own grid.").format(
                    Qgis.version(), layer.name(), layer.extent().toString(6), self.named(self.EXTENT),
                    self.named(self.PIXEL_SIZE)))
        crs = self.parameterAsExtentCrs(parameters, self.EXTENT, context) if has_extent else layer.crs()
        if not crs.isValid():
            named = re.search(r"\[\s*(.+?)\s*\]\s*$", parameters.get(self.EXTENT)) \
                if isinstance(parameters.get(self.EXTENT), str) else None
            if named:  # a CRS written out but unknown: the coordinates are not the layer's
                raise QgsProcessingException(tr(
                    "{} names the CRS {}, which QGIS does not know: choose another, e.g. [EPSG:32635], or leave it "
                    "out for the layer's own CRS.").format(self.named(self.EXTENT), named.group(1)))
            crs = layer.crs()
        extent = self.parameterAsExtent(parameters, self.EXTENT, context, crs) if has_extent else layer_extent
        if pixel_size is None:
            reason = (tr("the layer's own pixels are rotated, and the output's are not") if native.is_rotated else
                      tr("the layer's own pixel size does not apply to this extent's CRS")
                      if crs != layer.crs() else "")
            if reason:
                raise QgsProcessingException(tr("Set {}: {}.").format(self.named(self.PIXEL_SIZE), reason))
            pixel_size = (abs(native.geotransform[1]), abs(native.geotransform[5]))  # the layer's, square or not
        if extent.isEmpty():
            raise QgsProcessingException(tr("{} is empty: choose an extent with a width and a height.").format(
                self.named(self.EXTENT)))
        try:
            grid = rendered_source.requested_grid(extent, crs, pixel_size)
        except gdal_io.SourceError as error:
            raise QgsProcessingException(self.explained(error))
        if native is not None and crs == layer.crs():  # the layer's dynamic CRS: at its coordinate epoch
            grid.epoch = native.epoch
        return grid, crs

    # -- the run ----------------------------------------------------------------------------------

    def reader(self, run):
        """How the run reads the layer: ("bands", (bands, alpha band, nodata, use masks)) for bands
        read with GDAL, ("stretched", the same) for bands stretched as QGIS draws them
        (StretchedBandSource), ("lookup", band) for a LookupSource, or ("drawn", None)."""
        if run.source == "bands":
            bands = run.options.bands
            return "bands", (bands[:3], bands[3] if len(bands) == 4 else None, None, True)
        plan = rendered_source.direct_read_plan(run.layer, run.path) if run.target_crs is None else None
        if plan is not None:
            return "bands", tuple(plan) + (False,)
        plan = rendered_source.direct_read_plan(run.layer, run.path, stretched=True) if run.target_crs is None else None
        if plan is not None:
            return "stretched", tuple(plan) + (False,)
        lookup_band = rendered_source.lookup_plan(run.layer, run.path, run.target_crs)
        if lookup_band is not None:
            return "lookup", lookup_band
        return "drawn", None

    def opaque_source(self, run):
        """Whether the source can have no transparent pixel, as far as is known or guessed before
        reading it (which decides the output type, see engine.blocks.output_type, and the engine's
        opaque_or_guessed): a looked-up style is known only once drawn, so it counts as opaque here;
        the engine checks again before writing."""
        run.reading = kind, plan = self.reader(run)
        if kind in ("bands", "stretched"):
            source = gdal_io.BandSource(run.path, *plan)
            try:
                return opaque_or_guessed(source, run.options)[0]
            finally:
                run.opacity_guesses = source.opacity_guesses  # the run's source of the same bands guesses alike
                source.close()
        return kind == "lookup" or opaque_or_guessed(None, run.options)[0]

    @user_errors
    def prepareAlgorithm(self, parameters, context, feedback):  # noqa: N802 (QGIS API)
        """Runs in the main thread: reads the layer's style while it is safe to touch the layer."""
        self.run = run = self.checked_settings(parameters, context)
        try:
            kind, plan = run.reading or self.reader(run)
            if kind == "bands":
                self._open_source = lambda: gdal_io.BandSource(run.path, *plan, opacity_guesses=run.opacity_guesses)
            elif kind in ("lookup", "stretched"):
                try:
                    if kind == "lookup":
                        looked_up = rendered_source.LookupSource(run.layer, run.path, plan, self.workdir())
                    else:
                        looked_up = rendered_source.StretchedBandSource(run.layer, run.path, plan[:3], run.grid,
                                                                        self.workdir())
                    self._open_source = lambda: looked_up
                except NotPiecewise:  # colours that could not be looked up: drawn
                    kind = "drawn"
            if kind == "drawn":
                rendered = rendered_source.RenderedSource(run.layer, run.path, run.grid, self.workdir(),
                                                          run.target_crs, context.transformContext())
                self._open_source = lambda: rendered
        except BaseException:
            self.remove_workdir()
            raise
        return True

    def workdir(self):
        """The run's folder for files of its own (a drawn layer's), made when first asked for: a file
        read with GDAL needs none (0.2 ms of a sheet's run). In QGIS's own temporary folder, which QGIS
        removes when it ends: a task cancelled while queued never runs processAlgorithm, whose end
        removes the folder."""
        if self._workdir is None:
            self._workdir = tempfile.mkdtemp(prefix="palettize-", dir=QgsProcessingUtils.tempFolder())
        return self._workdir

    def remove_workdir(self):
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def let_go(self):
        """Drop what a failed run holds: its settings (the layer among them) and its source."""
        self.run = self._open_source = None

    def call_engine(self, function, feedback, *args, **kwargs):
        """Open the source, call an engine run function on it, close it; engine errors become
        QgsProcessingException."""
        source = None
        try:
            source = self._open_source()
            feedback.pushInfo(tr("Reading {} ({} x {} pixels).").format(
                source.description, self.run.grid.width, self.run.grid.height))
            self.warn_of_degrees(feedback)
            for warning in self.run.warnings:
                feedback.pushWarning(warning)
            return function(source, self.run.grid, *args, **kwargs, **engine_callbacks(feedback, self.explained))
        except Cancelled:
            raise QgsProcessingException(tr("Stopped by a SIGTERM: no output was written, and the files it would have "
                                            "replaced were kept.") if stop_asked() else
                                         tr("Cancelled: no output was written."))
        except RunError as error:
            raise QgsProcessingException(self.explained(error))
        except gdal_io.SourceError as error:
            raise QgsProcessingException(tr("Could not read the input: {}").format(error))
        except (OSError, RuntimeError) as error:
            raise QgsProcessingException(tr("Could not write {}: {}. Nothing was written.").format(
                self.run.output, error))
        finally:
            if source is not None:
                source.close()
            self.remove_workdir()

    def warn_of_degrees(self, feedback):
        """PIXEL_SIZE is in the units of the extent's CRS: with a geographic one, a size meant in metres
        (25) gives pixels of 25 degrees, a grid of a pixel or two that runs without an error."""
        crs, size = self.run.target_crs, abs(self.run.grid.geotransform[1])
        if crs is not None and crs.isGeographic() and size >= 1.0:
            feedback.pushWarning(tr(
                "{} = {:g} is in the units of the extent's CRS ({}): pixels of {:g} degrees, a grid of {} x {}. For a "
                "size in metres, give {} in a projected CRS.").format(
                self.named(self.PIXEL_SIZE), size, crs.authid() or crs.description(), size, self.run.grid.width,
                self.run.grid.height, self.named(self.EXTENT)))

    def addReportParameter(self):  # noqa: N802 (Qt naming, like addParameter)
        self.addParameter(QgsProcessingParameterFileDestination(
            self.OUTPUT_REPORT, self.label(self.OUTPUT_REPORT), fileFilter=tr("HTML files (*.html *.htm)"), optional=True,
            createByDefault=False))

    def report_path(self, parameters, context):
        """The report's path, or '' when no report was asked for (checked by the engine)."""
        if parameters.get(self.OUTPUT_REPORT) in (None, ""):
            return ""
        return self.parameterAsFileOutput(parameters, self.OUTPUT_REPORT, context)

    def table_path(self, parameters, context):
        """The path of the OUTPUT_TABLE file, '' for none or a destination that is no file (a memory
        layer, a database); refused where no file can be written (missing folders are made, as
        for the other outputs: see table_writer)."""
        if parameters.get("OUTPUT_TABLE") in (None, ""):
            return ""
        table = resolve_output(self, parameters, "OUTPUT_TABLE", context).path
        if "|" in table:  # QGIS 3.40 writes a file by that whole name
            raise QgsProcessingException(tr(
                "Cannot write {} {}: an output takes no layer name after '|'. To add the table to a GeoPackage, give "
                "ogr:dbname='{}' table=\"{}\" (what the dialog's Save to GeoPackage gives).").format(
                    self.named("OUTPUT_TABLE"), table, table.split("|")[0],
                    table.split("layername=")[-1] if "layername=" in table else "table"))
        extension = os.path.splitext(table)[1]
        if not extension or ":" in os.path.splitdrive(table)[1]:
            return ""
        driver = QgsVectorFileWriter.driverForExtension(extension)
        if driver not in _TABLE_DRIVERS:
            why = (tr("QGIS writes {} files as {}, which cannot hold a table without geometry").format(extension, driver)
                   if driver else tr("QGIS knows no table format by the extension {}").format(extension))
            raise QgsProcessingException(tr("Cannot write {} {}: {}. Write it as .csv (or .xlsx, .ods, .gpkg).").format(
                self.named("OUTPUT_TABLE"), table, why))
        problem = writable_path_problem(table)
        if problem:
            raise QgsProcessingException(tr("Cannot write {} {}: {}. Choose another place.").format(
                self.named("OUTPUT_TABLE"), table, problem))
        others = other_geopackage_layers(table, driver)
        if others:  # QGIS writes a table given by a file's path as a new file: the user's layers went with the old
            names, stem = layer_names(table), os.path.splitext(os.path.basename(table))[0]
            free = stem + "_palette"
            for number in range(2, len(names) + 2):  # a name none of its layers has: the advice replaces none
                if same_name(names, free) is None:
                    break
                free = "{}_palette_{}".format(stem, number)
            raise QgsProcessingException(tr(
                "Cannot write {} {}: it is a GeoPackage holding other layers ({}), which writing the table as a new file "
                "would delete. To add the table to it, give ogr:dbname='{}' table=\"{}\" (what the dialog's Save to "
                "GeoPackage gives), or choose another file.").format(
                    self.named("OUTPUT_TABLE"), table, ", ".join(others), table, free))
        return table

    def check_table_destination(self, parameters, context, outputs):
        """Refuse, before any work, a table added to a file (the dialog's Save to GeoPackage) that
        one of the run's ``outputs`` ({setting: path}) replaces: the table went straight into the
        file, then that output's new file went into place over it, and the table reported written
        was gone. (A table file of its own is compared with the outputs by the engine.)"""
        if parameters.get("OUTPUT_TABLE") in (None, ""):
            return
        shared, _layer = shared_file(resolve_output(self, parameters, "OUTPUT_TABLE", context).path)
        for setting, path in outputs.items():
            if shared and path and same_file_key(path) == same_file_key(shared):
                raise QgsProcessingException(tr(
                    "{} would go into {}, which {} replaces with a new file: the table would be lost with the old "
                    "one. Choose another GeoPackage or file for {}.").format(
                        self.named("OUTPUT_TABLE"), shared, self.named(setting), self.named("OUTPUT_TABLE")))

    def check_table_labels(self, table, palette, context):
        """Refuse, before any work, a table file (``table``: see table_path) whose format would
        change a label of ``palette`` (a MapInfo .tab keeps 254 bytes of it, a spreadsheet no
        control characters): the table written once the raster is done failed then, and the whole
        run with it. CSV and GeoPackage keep every label."""
        extension = os.path.splitext(table)[1]
        if not table or not palette.labels or QgsVectorFileWriter.driverForExtension(extension) in ("CSV", "GPKG"):
            return
        folder = tempfile.mkdtemp(dir=QgsProcessingUtils.tempFolder())
        try:
            write_palette_table(self, {"OUTPUT_TABLE": os.path.join(folder, "labels" + extension)}, context,
                                "OUTPUT_TABLE", palette, [0] * len(palette), table)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def table_writer(self, parameters, context, usage_of, results):
        """An engine ``before_commit`` that writes the OUTPUT_TABLE and adds it to ``results``. A
        table file is written into the run's staging folder and goes into place with the other
        outputs (written in place, it was put there before them: two runs at once into the same
        outputs left one's raster beside the other's table). A table added to a file that may
        hold others (the user's GeoPackage) goes straight into it: if the run fails, a new file
        is removed, and an existing one loses the table again, or gets back the one it replaced."""
        def write(result, outputs):
            table, value = self.table_path(parameters, context), parameters.get("OUTPUT_TABLE")
            loading, asked = None, parameters
            if table:
                staged = QgsProcessingOutputLayerDefinition(value if isinstance(
                    value, QgsProcessingOutputLayerDefinition) else table)
                if staged.destinationProject is not None:  # loaded from where the commit puts it
                    loading = QgsProcessingOutputLayerDefinition(staged)
                staged.sink, staged.destinationProject = QgsProperty.fromValue(outputs.stage(table)), None
                asked = dict(parameters, OUTPUT_TABLE=staged)
            elif value not in (None, ""):
                shared, layer = shared_file(resolve_output(self, parameters, "OUTPUT_TABLE", context).path)
                users = same_name(layer_names(shared), layer) if shared and os.path.isfile(shared) else None
                if shared and not os.path.isfile(shared):
                    outputs.make_folders(os.path.dirname(os.path.abspath(shared)))
                    outputs.written_in_place(shared)  # registered first: a table that fails its check goes too
                elif users:  # QGIS overwrites the user's table
                    copy = copied_layer(shared, users, tempfile.mkdtemp(dir=self.workdir()))  # removed at the run's end
                    outputs.undo_on_failure(functools.partial(put_back_layer, shared, users, copy))
                elif shared:
                    outputs.undo_on_failure(functools.partial(remove_layer, shared, layer))
            written = write_palette_table(self, asked, context, "OUTPUT_TABLE", result.palette, usage_of(result), table)
            for name, table_id in written.items():
                if table:  # where the commit puts it
                    written[name] = table_id.replace(table_file(table_id)[0], os.path.abspath(table), 1)
                if loading is not None:  # named as QGIS names the sinks it loads
                    context.addLayerToLoadOnCompletion(written[name], QgsProcessingContext.LayerDetails(
                        loading.destinationName or self.parameterDefinition(name).description(),
                        loading.destinationProject, name, QgsProcessingUtils.LayerHint.Vector))
            results.update(written)
        return write
