"""The palette as a QGIS table: one row per entry with its colour, label, pixels and share."""

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsWkbTypes,
)

from ..engine.run import TABLE_COLUMNS, table_rows
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


def write_palette_table(algorithm, parameters, context, name, palette, usage):
    """Fill the optional table output ``name``; returns {name: id} when it was asked for."""
    sink, table_id = algorithm.parameterAsSink(parameters, name, context, table_fields(),
                                               QgsWkbTypes.NoGeometry, QgsCoordinateReferenceSystem())
    if sink is None:
        return {}
    for feature in table_features(palette, usage):
        sink.addFeature(feature, QgsFeatureSink.FastInsert)
    return {name: table_id}
