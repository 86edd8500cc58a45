"""JASC palette (``.pal`` starting with ``JASC-PAL``), as Paint Shop Pro, Aseprite and palette
sites write it: the ``JASC-PAL`` line, a version line (``0100``), the number of colours, then one
``R G B`` line per colour (a fourth column, alpha, is ignored). No labels. Read only."""

from .common import Format, channel, error, make_palette, number, text_lines

SIGNATURE = "JASC-PAL"


def sniff(text, extension):
    return text is not None and text.startswith(SIGNATURE)


def read(path, name):
    lines = [(n, text.strip()) for n, text in enumerate(text_lines(path, name), 1) if text.strip()]
    if len(lines) < 3 or lines[0][1] != SIGNATURE:
        raise error(name, None, "a JASC palette starts with 'JASC-PAL', a version line and the number of colours")
    line, count = lines[2]
    declared = number(count, name, line)
    colours = []
    for line, text in lines[3:]:
        fields = text.split()
        if len(fields) not in (3, 4):
            raise error(name, line, "{} column(s); need red, green, blue and an optional alpha".format(len(fields)))
        colours.append([channel(field, name, line) for field in fields[:3]])
        if len(fields) == 4:
            channel(fields[3], name, line)
    if declared != len(colours):
        raise error(name, lines[2][0], "says {} colours and {} follow; make the count match the colour lines"
                    .format(count, len(colours)))
    return make_palette(name, colours, None), "JASC palette"


FORMAT = Format("jasc", "JASC palette (read only)", read, extensions=(".pal",), sniff=sniff)
