"""Paint.NET palette (``.txt``): lines starting with ``;`` are comments, every other line is one
colour as eight hex digits ``AARRGGBB`` (alpha ignored). No labels. Read only. Recognised by
its comment lines, or by a first line naming Paint.NET; a Lospec ``.hex`` file (``rrggbb``
lines) with ``;`` comments is read as a hex CSV is."""

import re

from .common import Format, content_lines, error, make_palette

_COLOUR = re.compile(r"[0-9a-fA-F]{8}$")
_CUT_COLOUR = re.compile(r"[0-9a-fA-F]{1,8}$")


def sniff(text, extension):
    if text is None:
        return False
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    colours = [line for line in lines if not line.startswith(";")]
    # the last line may be cut where the file's start was
    return bool(colours) and (lines[0].lower().startswith("; paint.net") or len(colours) < len(lines)) and \
        all(_COLOUR.match(line) for line in colours[:-1]) and _CUT_COLOUR.match(colours[-1]) is not None


def read(path, name):
    colours = []
    for line, text in content_lines(path, name, ";"):
        if not _COLOUR.match(text):
            raise error(name, line, "{!r} is not a colour; a Paint.NET palette has one AARRGGBB hex colour per "
                        "line (FF00FF00 is green)".format(text))
        colours.append([int(text[i:i + 2], 16) for i in (2, 4, 6)])
    return make_palette(name, colours, None), "Paint.NET palette (AARRGGBB, alpha ignored)"


FORMAT = Format("paintnet", "Paint.NET palette (.txt, read only)", read, sniff=sniff)
