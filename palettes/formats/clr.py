"""ESRI colour map (``.clr``): ``value R G B [label]`` lines. QGIS's paletted renderer exports the
same form with an alpha column, ``value R G B A [label]``: when every line has an integer 0-255 in
the fifth column, that column is read as alpha (and ignored), the rest as the label. The index is
the entry's position in the file, not its value."""

from .common import (Format, channel, content_lines, error, is_byte, make_palette, number, one_line_labels,
                     with_values_note, write_lines)


def read(path, name):
    entries = []
    for line, text in content_lines(path, name, "#"):
        fields = text.split(None, 4)
        if len(fields) < 4:
            raise error(name, line, "{} column(s); need value, red, green, blue and an optional label"
                        .format(len(fields)))
        colour = [channel(field, name, line) for field in fields[1:4]]
        entries.append((colour, fields[4] if len(fields) > 4 else "", number(fields[0], name, line)))
    # QGIS's paletted export: a fifth column holding an integer 0-255 on every line is alpha.
    with_alpha = bool(entries) and all(rest and is_byte(rest.split()[0]) for _, rest, _ in entries)
    colours, labels = [], []
    for colour, rest, _ in entries:
        if with_alpha:
            rest = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
        colours.append(colour)
        labels.append(rest.strip())
    description = "QGIS .clr colour map (alpha column ignored)" if with_alpha else "ESRI .clr colour map"
    return make_palette(name, colours, labels), with_values_note(description, [value for _, _, value in entries])


def write(palette, path):
    """``index R G B`` lines; with labels ``index R G B 255 label``, the form QGIS loads labels from."""
    lines = []
    for index, ((r, g, b), label) in enumerate(zip(palette.colours.tolist(), one_line_labels(palette))):
        if palette.labels:
            lines.append("{} {} {} {} 255 {}".format(index, r, g, b, label).rstrip())
        else:
            lines.append("{} {} {} {}".format(index, r, g, b))
    write_lines(path, lines)


FORMAT = Format("clr", "ESRI colour map (value R G B [label]; QGIS's value R G B A label too)", read, write,
                ".clr", extensions=(".clr",))
