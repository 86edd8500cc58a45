"""The palette as a QGIS table: one row per entry with its colour, label, pixels and share."""

import math
import os

from osgeo import ogr
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsDataSourceUri,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsProcessingException,
    QgsWkbTypes,
)

from ..engine.gdal_io import quiet_errors, reason
from ..engine.run import TABLE_COLUMNS, table_rows
from ..palettes.formats.qml import NOT_IN_XML
from ..palettes.palette import shown_text
from .compat import FIELD_DOUBLE, FIELD_INT, FIELD_LONG, FIELD_STRING


def table_fields():
    fields = QgsFields()
    kinds = {"hex": FIELD_STRING, "label": FIELD_STRING, "pixels": FIELD_LONG, "share": FIELD_DOUBLE}
    for name in TABLE_COLUMNS:
        fields.append(QgsField(name, kinds.get(name, FIELD_INT)))
    return fields


def table_features(palette, usage):
    """One feature per palette entry: the engine's table rows (engine.run.table_rows)."""
    fields = table_fields()
    for row in table_rows(palette, usage):
        feature = QgsFeature(fields)
        feature.setAttributes(row)
        yield feature


def write_palette_table(algorithm, parameters, context, name, palette, usage, shown=""):
    """Fill the optional table output ``name``; returns {name: id} when it was asked for. A table
    file that does not hold every row once QGIS has closed it raises QgsProcessingException: on a
    full disk QGIS's writer drops rows, or its last buffer, and says nothing (an empty or cut .csv,
    a .gpkg OGR cannot open, after a run that succeeded). ``shown``: the table's name in messages
    (where it goes once staged), else where it is written."""
    sink, table_id = algorithm.parameterAsSink(parameters, name, context, table_fields(),
                                               QgsWkbTypes.NoGeometry, QgsCoordinateReferenceSystem())
    if sink is None:
        return {}
    written = all(sink.addFeature(feature, QgsFeatureSink.FastInsert) for feature in table_features(palette, usage))
    written = sink.flushBuffer() and written
    error = sink.lastError() if hasattr(sink, "lastError") else ""
    with quiet_errors():  # GDAL's "No geometry column" for a GeoPackage table named with one, as the
        sink = None  # toolbox's "Save to GeoPackage" names it; QGIS closes the file (what it kept is checked below)
    path, layer = table_file(table_id)
    problem = ("QGIS could not write every row{}".format(": " + error if error else "") if not written else
               unwritten_rows(path, layer, palette, usage) if path else "")
    if problem:
        raise QgsProcessingException("Could not write the table {}: {}. Nothing was written.".format(
            shown or path or table_id, reason(problem, os.path.dirname(path or table_id))))
    return {name: table_id}


def table_file(table_id):
    """(file, layer name or None) of a table output's id ("table.gpkg|layername=legend"), or
    ('', None) when it is no file (a memory layer, a database)."""
    path, layer = _file_and_layer(table_id)
    return (path, layer) if path and os.path.isfile(path) else ("", None)


def shared_file(destination):
    """(file, table) of a table destination that adds a table to a file, which may hold others:
    the dialog's "Save to GeoPackage" (ogr:dbname='project.gpkg' table="legend" (geom)); ('', None)
    for any other (a file of its own, a memory layer, a database)."""
    if destination.startswith("ogr:"):
        uri = QgsDataSourceUri(destination[len("ogr:"):])
        return (uri.database(), uri.table() or None) if uri.database() else ("", None)
    return "", None


def _file_and_layer(text):
    path, *options = (text or "").split("|")
    names = [option[len("layername="):] for option in options if option.startswith("layername=")]
    return path, names[0] if names else None


def layer_names(path):
    """The names of the tables OGR lists in the file at ``path`` ([] when it cannot open it)."""
    return _names(_opened(path))


def _names(dataset):
    return [dataset.GetLayer(i).GetName() for i in range(dataset.GetLayerCount())] if dataset is not None else []


def remove_layer(path, layer):
    """Delete the table ``layer`` from the file at ``path`` (a run that failed after adding it)."""
    dataset = _opened(path, update=True)
    names = _names(dataset)
    name = same_name(names, layer)
    if name is not None:
        dataset.DeleteLayer(names.index(name))
    dataset = None


def same_name(names, layer):
    """The name among ``names`` that is ``layer`` to SQLite, whose table names ignore case (QGIS
    overwrites the user's "Legend" for a table "legend"), or None."""
    return next((name for name in names if name.lower() == layer.lower()), None) if layer else None


def copied_layer(path, layer, folder):
    """A copy of the table ``layer`` of the file at ``path``, in a GeoPackage of its own in
    ``folder``, through OGR: a copy of the file alone would miss what SQLite keeps beside it (the
    -wal file of a GeoPackage QGIS has open), and putting it back lost the table."""
    copy = os.path.join(folder, "table.gpkg")
    source, target = _opened(path), ogr.GetDriverByName("GPKG").CreateDataSource(copy)
    table = source.GetLayerByName(layer) if source is not None else None
    if table is None or target is None or target.CopyLayer(table, layer, _kept_names(table)) is None:
        raise OSError("cannot copy the table {} of {} before it is replaced".format(layer, path))
    table = source = target = None
    return copy


def put_back_layer(path, layer, copy):
    """Replace the table ``layer`` of the file at ``path`` by the one copied_layer kept in ``copy``."""
    remove_layer(path, layer)
    source, target = _opened(copy), _opened(path, update=True)
    table = source.GetLayerByName(layer) if source is not None else None
    if table is not None and target is not None:
        target.CopyLayer(table, layer, _kept_names(table))
    table = source = target = None


def _kept_names(table):
    """Layer creation options keeping a table's own id and geometry column names and description
    (a copy otherwise names them fid and geom, and a project or view using them breaks)."""
    options = ["FID=" + table.GetFIDColumn()] if table.GetFIDColumn() else []
    options += ["GEOMETRY_NAME=" + table.GetGeometryColumn()] if table.GetGeometryColumn() else []
    description = table.GetMetadataItem("DESCRIPTION")
    return options + (["DESCRIPTION=" + description] if description else [])


def _opened(path, update=False):
    try:
        return ogr.Open(path, 1 if update else 0)
    except RuntimeError:  # GDAL exceptions switched on by someone else in this process
        return None


def unwritten_rows(path, layer, palette, usage):
    """Why the table ``layer`` (None: the first) of the file at ``path`` does not hold the
    palette's rows as table_rows gives them, or ''."""
    dataset = _opened(path)
    try:
        layer = None if dataset is None else dataset.GetLayerByName(layer) if layer else dataset.GetLayer(0)
        got = None if layer is None else [[feature.GetField(name) for name in TABLE_COLUMNS] if all(
            feature.GetFieldIndex(name) >= 0 for name in TABLE_COLUMNS) else None for feature in layer]
    except RuntimeError:  # OGR's exceptions on: an .ods whose XML it cannot parse (a U+FFFF label) gives no rows
        got = []
    layer = dataset = None
    if got is None:
        return "OGR cannot read it back"
    expected = list(table_rows(palette, usage))
    if len(got) != len(expected):
        odd = next((entry for entry, label in enumerate(palette.labels or ()) if NOT_IN_XML.search(label)),
                   None) if path.lower().endswith(XML_TABLES) else None  # a label breaks no other format's rows
        return "it holds {} of its {} rows{}".format(len(got), len(expected), "" if odd is None else "; " + _odd_label(
            odd, palette.labels[odd]))
    for number, (row, wanted) in enumerate(zip(got, expected)):
        if row is None:
            return "row {} is not as written".format(number + 1)
        changed = [name for name, value, want in zip(TABLE_COLUMNS, row, wanted) if not _same_value(value, want)]
        written, read = dict(zip(TABLE_COLUMNS, wanted)), dict(zip(TABLE_COLUMNS, row))
        if changed == ["label"] and NOT_IN_XML.search(written["label"]) and path.lower().endswith(XML_TABLES):
            # an .xlsx gives back the places of its broken strings
            return "it does not hold its labels as written: " + _odd_label(written["index"], written["label"])
        if changed == ["label"]:  # the format's limits (a MapInfo .tab: 254 bytes; .xlsx: no control characters)
            return ("its format does not keep the label of entry {} ('{}', {} characters), which it gives back as "
                    "'{}': shorten that label or take out its control characters, or write the table as .csv or "
                    ".gpkg".format(written["index"], shown_text(written["label"]), len(written["label"]),
                                   shown_text(read["label"] or "")))
        if changed:
            return "row {} is not as written".format(number + 1)
    return ""


#: Table files that are XML inside, where NOT_IN_XML characters break a label.
XML_TABLES = (".xlsx", ".ods", ".gml")


def _odd_label(entry, label):
    return ("the label of entry {} ('{}') holds characters its format cannot hold (control characters, U+FFFE, "
            "U+FFFF): take them out, or write the table as .csv or .gpkg".format(entry, shown_text(label)))


def _same_value(value, wanted):
    """Whether a value read back (text from a CSV, a number, or a float for an integer) is ``wanted``."""
    if isinstance(wanted, str):
        return value == wanted
    try:
        return math.isclose(float(value), wanted, rel_tol=1e-9, abs_tol=1e-12)
    except (TypeError, ValueError):
        return False
