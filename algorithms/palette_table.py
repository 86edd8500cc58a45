"""The palette as a QGIS table: one row per entry with its colour, label, pixels and share."""

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsWkbTypes,
)

from .compat import FIELD_DOUBLE, FIELD_INT, FIELD_LONG, FIELD_STRING


def table_fields():
    fields = QgsFields()
    for name, kind in (("index", FIELD_INT), ("red", FIELD_INT), ("green", FIELD_INT), ("blue", FIELD_INT),
                       ("hex", FIELD_STRING), ("label", FIELD_STRING), ("pixels", FIELD_LONG),
                       ("share", FIELD_DOUBLE)):
        fields.append(QgsField(name, kind))
    return fields


def table_features(palette, usage):
    """One feature per palette entry: its colour, label, pixels and share of the valid pixels."""
    total = max(int(np.sum(usage)), 1)
    fields = table_fields()
    for index, (r, g, b) in enumerate(palette.colours.tolist()):
        feature = QgsFeature(fields)
        feature.setAttributes([index, r, g, b, "#{:02x}{:02x}{:02x}".format(r, g, b), palette.label(index),
                               int(usage[index]), int(usage[index]) / total])
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
