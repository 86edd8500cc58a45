"""What every palette file format shares: the one error class, messages that name the file and the
line, the size limit, decoding text, and reading numbers and colour components."""

import codecs
import os
import re

import numpy as np

from ..palette import MAX_COLOURS, Palette


class PaletteFileError(ValueError):
    """A palette file that cannot be used; the message names the file, the line and the fix."""


#: What to do with a file holding the styles of several layers, or none (a project, a style library).
SAVE_LAYER_STYLE = "save the style of the layer to use as a .qml file (Layer Properties, Symbology, Style, Save Style...)"
#: What a QGIS project (.qgs or .qgz) given as a palette file is, and what to give instead.
QGIS_PROJECT = "a QGIS project, which holds the styles of all its layers; " + SAVE_LAYER_STYLE


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


#: How many bytes of a file recognise its format and its text encoding.
HEAD = 4096
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def text_encoding(head):
    """The encoding of a file starting with the bytes ``head``, or None when they are not text.

    A byte-order mark decides (UTF-8, UTF-16, UTF-32: Windows programs write UTF-16 as "Unicode");
    text with NUL bytes is UTF-16 without one when it reads as such without control characters
    (binary values such as a raster's pixels give them), with a digit, and at least a tenth of it a
    palette's digits, delimiters and markup: labels in any script ("森林", "一", "Лес") pass, the
    other byte order (U+3130 for "10") does not. Any other NUL byte means binary content (a raster); else
    UTF-8, refused later, naming the line, if it does not decode.
    """
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    if b"\0" not in head:
        return "utf-8-sig"
    for encoding in ("utf-16-le", "utf-16-be"):
        text = head[:len(head) // 2 * 2].decode(encoding, errors="replace")[:-1]  # a head may cut a character
        if len(text) >= 2 and not _NOT_TEXT.search(text) and _DIGIT.search(text) and \
                sum(c in _PALETTE_SYNTAX for c in text) * 10 >= len(text):
            return encoding
    return None


#: Characters no palette file holds: control characters (tab and line ends aside) and undecodable bytes.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_DIGIT = re.compile("[0-9]")
#: The characters of a palette file's numbers, delimiters and markup, whatever the script of its labels.
_PALETTE_SYNTAX = frozenset("0123456789,;|\t\r\n .#-\"'=<>/")


def encoding_name(encoding):
    """'UTF-8', 'UTF-16' or 'UTF-32', the name people know, for an encoding ``text_encoding`` gives."""
    return encoding.upper().replace("-SIG", "").replace("-LE", "").replace("-BE", "")


#: Largest text palette file read: 65535 colours with long labels fit many times over, while a
#: point cloud or a log picked by mistake is refused before it fills the memory.
MAX_TEXT_BYTES = 64 * 1024 * 1024


def read_bytes(path, name):
    """The whole file, when it is no larger than a text palette file can sensibly be."""
    size = os.path.getsize(path)
    if size > MAX_TEXT_BYTES:
        raise error(name, None, "{:.0f} MiB is far more than a palette of at most {} colours takes; check that "
                    "this is the palette file".format(size / 2 ** 20, MAX_COLOURS))
    with open(path, "rb") as f:
        return f.read(MAX_TEXT_BYTES + 1)


def read_text(path, name):
    """The file's text, in the encoding ``text_encoding`` finds; anything else is refused naming the line."""
    data = read_bytes(path, name)
    encoding = text_encoding(data[:HEAD])
    if encoding is None:
        line = data[:data.index(b"\0")].count(b"\n") + 1
        raise error(name, line, "not UTF-8 text (it holds NUL bytes); save the palette as UTF-8 text")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as problem:
        line = data[:problem.start].decode(encoding, errors="replace").count("\n") + 1
        raise error(name, line, "not {} text (byte 0x{:02x}); save the file as UTF-8".format(
            encoding_name(encoding), data[problem.start]))
    if "\0" in text:
        line = text[:text.index("\0")].count("\n") + 1
        raise error(name, line, "not UTF-8 text (it holds NUL bytes); save the palette as UTF-8 text")
    return text


def text_lines(path, name):
    """The file's lines as editors count them, broken at \\n, \\r\\n and \\r alone: a label may hold
    a form feed, U+0085 or U+2028 (text pasted from a PDF), where str.splitlines breaks too."""
    lines = _LINE_BREAK.split(read_text(path, name))
    return lines[:-1] if lines[-1] == "" else lines


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def content_lines(path, name, comment):
    """(line number, text stripped) of the file's lines that are neither blank nor comments
    (starting with ``comment``)."""
    for line, text in enumerate(text_lines(path, name), 1):
        text = text.strip()
        if text and not text.startswith(comment):
            yield line, text


def number(text, name, line):
    try:
        value = float(text) if "_" not in text else float("nan")  # float() reads "1_0" as 10
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
        return "_" not in text and bool(np.isfinite(float(text)))
    except ValueError:
        return False


def is_byte(text):
    return is_number(text) and 0 <= float(text) <= 255 and float(text) == int(float(text))


def values_not_kept(values):
    """'' when a file's class ``values`` are 0, 1, 2, ... (each its entry's index), else what the log
    says of them: the output's indices are the entries' order, and a map's classes numbered
    otherwise (a land-cover style's 11, 21, 41) would change number without a word."""
    if [float(v) for v in values] == list(range(len(values))):
        return ""
    def first(items):
        return ", ".join(items[:3]) + (", ..." if len(items) > 3 else "")
    return "its values {} are not kept: the output's indices are the entries' order, {}".format(
        first(["{:g}".format(float(v)) for v in values]), first([str(i) for i in range(len(values))]))


def with_values_note(description, values):
    """``description`` of a file, with values_not_kept's note on its class ``values`` when it has one."""
    note = values_not_kept(values)
    return "{}; {}".format(description, note) if note else description


def one_line_labels(palette):
    """One label per colour ("" when none), each on one line as Palette keeps them."""
    return list(palette.labels or ("",) * len(palette))


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


class Format:
    """One palette file format: how to recognise, read and write it (see registry.FORMATS).

    ``sniff(text, extension)`` says whether the file's start (``text``, or None for binary content)
    shows it is this format; ``extensions`` decide when no format's content matches. ``text`` is
    False for binary formats.
    """

    def __init__(self, key, title, read, write=None, write_extension=None, extensions=(), sniff=None,
                 text=True):
        self.key, self.title, self.text = key, title, text
        self.read, self.write, self.write_extension = read, write, write_extension
        self.extensions, self.sniff = tuple(extensions), sniff

    def __repr__(self):
        return "Format({!r})".format(self.key)
