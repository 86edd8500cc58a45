"""What every palette file format shares: the one error class, messages that name the file and the
line, the size limit, decoding text, and reading numbers and colour components."""

import os

import numpy as np

from ..palette import MAX_COLOURS, Palette


class PaletteFileError(ValueError):
    """A palette file that cannot be used; the message names the file, the line and the fix."""


def error(name, line, message):
    """A PaletteFileError naming the file and, when known, the line."""
    if line is None:
        return PaletteFileError("palette file {}: {}".format(name, message))
    return PaletteFileError("palette file {}, line {}: {}".format(name, line, message))


def check_count(name, count):
    if count > MAX_COLOURS:
        raise PaletteFileError(
            "palette file {} has {} colours; at most {} are supported".format(name, count, MAX_COLOURS)
        )


def make_palette(name, colours, labels, title=None):
    if not len(colours):
        raise PaletteFileError("palette file {} holds no colours".format(name))
    check_count(name, len(colours))
    return Palette(np.array(colours, dtype=np.uint8), labels, name=title or os.path.splitext(name)[0])


def text_lines(path, name):
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as problem:
        line = data[:problem.start].count(b"\n") + 1
        raise error(name, line, "not UTF-8 text; save the file as UTF-8")
    return text.splitlines()


def number(text, name, line):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise error(name, line, "{!r} is not a number".format(text))
    return value


def channel(text, name, line):
    """A 0-255 integer colour component."""
    value = number(text, name, line)
    if not (0 <= value <= 255 and value == int(value)):
        raise error(name, line, "{} is out of range; colours are 0-255 integers".format(text))
    return int(value)


def is_number(text):
    try:
        return bool(np.isfinite(float(text)))
    except ValueError:
        return False


def is_byte(text):
    try:
        value = float(text)
    except ValueError:
        return False
    return 0 <= value <= 255 and value == int(value)


def one_line_labels(palette):
    """One label per colour ("" when none), line breaks replaced by spaces."""
    labels = palette.labels or ("",) * len(palette)
    return [" ".join(label.splitlines()) if label else "" for label in labels]


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


class Format:
    """One palette file format: how to recognise, read and write it (see registry.FORMATS).

    ``sniff(text, extension)`` says whether the file's start (``text``, or None for binary content)
    shows it is this format; ``extensions`` decide when no format's content matches.
    """

    def __init__(self, key, title, read, write=None, write_extension=None, extensions=(), sniff=None):
        self.key, self.title = key, title
        self.read, self.write, self.write_extension = read, write, write_extension
        self.extensions, self.sniff = tuple(extensions), sniff

    def __repr__(self):
        return "Format({!r})".format(self.key)
