"""GIMP palette (starts with ``GIMP Palette``): ``R G B name`` lines; the names are the labels and
the ``Name:`` header is the palette's name; ``Untitled``, the name GIMP and Aseprite give every colour
nobody named, is read as no label. GIMP, Inkscape, Krita and QGIS write it; Aseprite
writes ``Channels: RGBA`` under the first line when its colours have alpha, and then ``R G B A
name`` lines, whose alpha is read and ignored."""

import os

from .common import Format, channel, error, make_palette, one_line_labels, text_lines, write_lines

#: What GIMP (in English) and Aseprite write as the name of a colour nobody named.
UNNAMED = "Untitled"


def sniff(text, extension):
    return text is not None and text.startswith("GIMP Palette")


def read(path, name):
    lines = text_lines(path, name)
    if not lines or lines[0].strip() != "GIMP Palette":
        raise error(name, 1, "a GIMP palette starts with a 'GIMP Palette' line")
    title, colours, labels, columns, description = None, [], [], 3, "GIMP palette"
    for line, text in enumerate(lines[1:], 2):
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("Name:"):
            title = text[len("Name:"):].strip()
            continue
        if text.startswith("Columns:"):
            continue
        if text.startswith("Channels:"):
            channels = text[len("Channels:"):].strip()
            if channels not in ("RGB", "RGBA") or colours:
                raise error(name, line, "{!r} is not a 'Channels: RGB' or 'Channels: RGBA' line before the colours"
                            .format(text))
            columns = len(channels)
            if columns == 4:
                description = "GIMP palette (alpha column ignored)"
            continue
        fields = text.split(None, columns)
        if len(fields) < columns:
            raise error(name, line, "{} column(s); need red, green, blue{} and an optional name".format(
                len(fields), ", alpha" if columns == 4 else ""))
        colours.append([channel(field, name, line) for field in fields[:3]])
        if columns == 4:
            channel(fields[3], name, line)
        label = fields[columns].strip() if len(fields) > columns else ""
        labels.append("" if label == UNNAMED else label)
    return make_palette(name, colours, labels, title), description


def write(palette, path):
    title = " ".join((palette.name or os.path.splitext(os.path.basename(path))[0]).splitlines())
    lines = ["GIMP Palette", "Name: " + title, "#"]
    for (r, g, b), label in zip(palette.colours.tolist(), one_line_labels(palette)):
        lines.append("{:3d} {:3d} {:3d}\t{}".format(r, g, b, label).rstrip())
    write_lines(path, lines)


FORMAT = Format("gpl", "GIMP palette", read, write, ".gpl", extensions=(".gpl",), sniff=sniff)
