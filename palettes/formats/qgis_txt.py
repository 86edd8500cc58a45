"""QGIS colour map export (``.txt`` with an ``INTERPOLATION:`` line or the ``# QGIS Generated Color
Map Export File`` header): ``value,R,G,B,A,label`` lines; the value may be ``inf`` (QGIS writes it for
the last class of a discrete ramp) and is not used otherwise. Labels QGIS invents for unlabelled entries
(``Color entry N`` on entry N) are read as no label. The index is the entry's position in the file.
A plain CSV named ``.txt`` is read as CSV: only the content recognises this format."""

import re

from .common import (Format, channel, content_lines, error, make_palette, number, one_line_labels, with_values_note,
                     write_lines)

QGIS_EXPORT_HEADER = "# QGIS Generated Color Map Export File"
_QGIS_PLACEHOLDER = re.compile(r"Color entry (\d+)$")
_INFINITY = ("inf", "+inf", "-inf")
_INTERPOLATION = re.compile(r"^\s*INTERPOLATION\s*:", re.IGNORECASE | re.MULTILINE)


def sniff(text, extension):
    return text is not None and (text.startswith(QGIS_EXPORT_HEADER) or bool(_INTERPOLATION.search(text)))


def read(path, name):
    colours, labels, values = [], [], []
    for line, stripped in content_lines(path, name, "#"):
        if _INTERPOLATION.match(stripped):
            if len(stripped.split(":")) != 2:
                raise error(name, line, "{!r} is not 'INTERPOLATION:' and a type".format(stripped))
            continue
        if stripped.count(",") >= 5:
            fields = stripped.split(",", 5)
        else:
            fields = re.split(r"[\s,]+", stripped, maxsplit=5)
        if len(fields) < 4:
            raise error(name, line, "{} column(s); need value,red,green,blue,alpha,label".format(len(fields)))
        if fields[0].strip().lower() not in _INFINITY:
            number(fields[0].strip(), name, line)
        values.append(fields[0].strip())
        colours.append([channel(field.strip(), name, line) for field in fields[1:4]])
        if len(fields) > 4:
            number(fields[4].strip(), name, line)
        label = fields[5].strip() if len(fields) > 5 else ""
        placeholder = _QGIS_PLACEHOLDER.match(label)
        if placeholder and int(placeholder.group(1)) == len(colours):
            label = ""
        labels.append(label)
    return make_palette(name, colours, labels), with_values_note(
        "QGIS colour map export", [float("inf") if value.lower() in _INFINITY else value for value in values])


def write(palette, path):
    lines = [QGIS_EXPORT_HEADER, "INTERPOLATION:EXACT"]
    for index, ((r, g, b), label) in enumerate(zip(palette.colours.tolist(), one_line_labels(palette))):
        lines.append("{},{},{},{},255,{}".format(index, r, g, b, label or "Color entry {}".format(index + 1)))
    write_lines(path, lines)


FORMAT = Format("qgis_txt", "QGIS colour map export (INTERPOLATION: line, value,R,G,B,A,label)", read, write,
                ".txt", sniff=sniff)
