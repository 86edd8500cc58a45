"""GIMP palette (starts with ``GIMP Palette``): ``R G B name`` lines; the names are the labels and
the ``Name:`` header is the palette's name. GIMP, Inkscape, Krita and QGIS write it."""

import os

from .common import Format, channel, error, make_palette, one_line_labels, text_lines, write_lines


def sniff(text, extension):
    return text is not None and text.startswith("GIMP Palette")


def read(path, name):
    lines = text_lines(path, name)
    if not lines or lines[0].strip() != "GIMP Palette":
        raise error(name, 1, "a GIMP palette starts with a 'GIMP Palette' line")
    title, colours, labels = None, [], []
    for line, text in enumerate(lines[1:], 2):
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("Name:"):
            title = text[len("Name:"):].strip()
            continue
        if text.startswith("Columns:"):
            continue
        fields = text.split(None, 3)
        if len(fields) < 3:
            raise error(name, line, "{} column(s); need red, green, blue and an optional name".format(len(fields)))
        colours.append([channel(field, name, line) for field in fields[:3]])
        labels.append(fields[3].strip() if len(fields) > 3 else "")
    return make_palette(name, colours, labels, title), "GIMP palette"


def write(palette, path):
    title = " ".join((palette.name or os.path.splitext(os.path.basename(path))[0]).splitlines())
    lines = ["GIMP Palette", "Name: " + title, "#"]
    for (r, g, b), label in zip(palette.colours.tolist(), one_line_labels(palette)):
        lines.append("{:3d} {:3d} {:3d}\t{}".format(r, g, b, label).rstrip())
    write_lines(path, lines)


FORMAT = Format("gpl", "GIMP palette", read, write, ".gpl", extensions=(".gpl",), sniff=sniff)
