"""The one place where Palettize branches on the QGIS version.

- Enum parameters with static strings (``PALETTE='win256'``) exist from QGIS 3.24. On 3.22 the
  enum holds indices; Palettize still accepts the option's string there by translating strings
  to indices before QGIS checks the values (``checkable_parameters``). From 3.24 (3.40 included)
  the enum holds the strings, so the other way round an index (``METRIC=1`` from a script, a
  model saved on 3.22) is translated to its string before QGIS checks it, whatever that check
  makes of numbers. The run itself reads strings and indices alike (``enum_value``).
  An enum whose dialog shows labels other than its option strings (PALETTE: each label names its
  group) holds indices on every version, as an enum of static strings shows its values; its
  option strings are still accepted everywhere.
- QgsField takes QMetaType.Type from QGIS 3.38 (QVariant.Type is deprecated, gone with Qt6);
  QGIS 3.22-3.36 only take QVariant.Type.
"""

from qgis.core import Qgis, QgsProcessingParameterEnum
from qgis.PyQt.QtCore import QMetaType, QVariant

STATIC_ENUM_STRINGS = Qgis.QGIS_VERSION_INT >= 32400  # False on QGIS 3.22

if Qgis.QGIS_VERSION_INT >= 33800:
    FIELD_INT, FIELD_LONG, FIELD_DOUBLE, FIELD_STRING = (
        QMetaType.Type.Int, QMetaType.Type.LongLong, QMetaType.Type.Double, QMetaType.Type.QString)
else:  # QGIS 3.22-3.36, always Qt5
    FIELD_INT, FIELD_LONG, FIELD_DOUBLE, FIELD_STRING = (QVariant.Int, QVariant.LongLong, QVariant.Double, QVariant.String)  # qt6: ok (QGIS < 3.38 only)


def enum_parameter(name, description, options, default, labels=None):
    """An enum parameter whose values are the option strings (indices also accepted); with
    ``labels`` the dialog shows those, and the enum holds indices."""
    static = STATIC_ENUM_STRINGS and labels is None
    parameter = QgsProcessingParameterEnum(
        name, description, options=list(labels or options), defaultValue=default if static else options.index(default)
    )
    if static:
        parameter.setUsesStaticStrings(True)
    return parameter


def enum_value(parameters, name, options, default):
    """The chosen option's string, whether the caller passed the string or its index."""
    value = parameters.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, str) and value in options:
        return value
    index = _index(value, options)
    if index is None:
        raise ValueError("{} must be one of {} (got {!r})".format(name, ", ".join(options), value))
    return options[index]


def _index(value, options):
    """The option index ``value`` gives as a number (e.g. 1 or "1"), or None."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        return None
    try:
        index = int(value)
    except (TypeError, ValueError):
        return None
    return index if 0 <= index < len(options) else None


def checkable_parameters(algorithm, parameters, enums, labelled=()):
    """A copy of ``parameters`` that QGIS's own value checks accept: defaults filled in (3.22
    rejects a missing band parameter even when it has a default) and enum values in the form the
    enum holds: on 3.22 (and for the ``labelled`` enums) strings replaced by their indices, from
    3.24 indices by their strings."""
    checkable = dict(parameters)
    for definition in algorithm.parameterDefinitions():
        if checkable.get(definition.name()) is None and definition.defaultValue() is not None:
            checkable[definition.name()] = definition.defaultValue()
    for name, options in enums.items():
        value = checkable.get(name)
        if STATIC_ENUM_STRINGS and name not in labelled:
            index = None if isinstance(value, str) and value in options else _index(value, options)
            if index is not None:
                checkable[name] = options[index]
        elif isinstance(value, str) and value in options:
            checkable[name] = options.index(value)
    return checkable
