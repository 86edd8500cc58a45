"""CSV: one colour per line as red, green, blue (0-255 integers or 0-1 floats), an optional header
line, an optional alpha column (ignored) and an optional label column. Any text no other format claims.

- Delimiter: ``,``, ``;``, tab or ``|``, whichever makes most of the first lines start with three
  numbers (so ``10;20;30;Sand, fine`` reads right); else runs of white space, and the label is the
  rest of the line, spaces and all.
- Header: the first line when none of its first three fields looks like a number. Any other line
  that does not read as a colour is an error naming it: ``1O,20,30`` (a letter O) or ``nan,0,0`` on
  the first line is a mistake, not a header, and skipping it would shift every index by one.
- Columns: a header naming ``red``/``r``, ``green``/``g`` and ``blue``/``b`` places them (and
  ``alpha``/``a``, ``label``/``name``/``class``/...); else red, green, blue come first. Without a
  header, a fourth column holding a number 0-255 on every line is alpha, not a label. The label is
  the named label column, else the first column after blue (and alpha).
"""

import csv
import os
import re

import numpy as np

from ..palette import Palette
from .common import Format, PaletteFileError, check_count, error, is_number, one_line_labels, read_text

_DELIMITERS = (",", ";", "\t", "|")
_SAMPLE_LINES = 50
_NAMES = {
    "red": ("r", "red"),
    "green": ("g", "green"),
    "blue": ("b", "blue"),
    "alpha": ("a", "alpha", "opacity"),
    "label": ("label", "name", "class", "description", "category", "legend", "title"),
}
_NUMBER_LIKE = re.compile(r"[-+]?\.?\d")
_DECIMAL_COMMA = re.compile(r"[-+]?\d*,\d+$")


def read(path, name):
    lines = [(n, line) for n, line in enumerate(read_text(path, name).splitlines(), 1)
             if line.strip() and not line.lstrip().startswith("#")]
    delimiter = _delimiter(lines[:_SAMPLE_LINES])
    rows = [(n, line, _fields(line, delimiter, name, n)) for n, line in lines]
    header = None
    if rows and not any(_looks_like_a_number(field) for field in rows[0][2][:3]):
        header, rows = rows[0][2], rows[1:]
    if not rows:
        raise PaletteFileError("palette file {} holds no colours (one 'red,green,blue' per line)".format(name))
    check_count(name, len(rows))
    rgb, alpha, label, notes = _columns(header, rows)
    rest_of_line = delimiter is None and label is not None and label > max(rgb + (alpha or 0,))
    values = np.empty((len(rows), 3), dtype=np.float64)
    labels = []
    for i, (line, text, fields) in enumerate(rows):
        if len(fields) <= max(rgb):
            raise error(name, line, "{} column(s); need red, green, blue".format(len(fields)))
        for j, column in enumerate(rgb):
            if not is_number(fields[column]):
                hint = "; write decimals with a point" if _DECIMAL_COMMA.match(fields[column]) else ""
                raise error(name, line, "{!r} is not a number{}".format(fields[column], hint))
            values[i, j] = float(fields[column])
        labels.append(_label(text, fields, label, rest_of_line))
    written_as_floats = any(c in fields[column] for _, _, fields in rows for column in rgb for c in ".eE")
    colours, scale = _to_bytes(values, written_as_floats, rows, rgb, name)
    return Palette(colours, labels, name=os.path.splitext(name)[0]), ", ".join([scale] + notes)


def write_palette_csv(palette, path):
    """Write ``index-ordered red,green,blue,label`` lines with a header; read_palette reads it back."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["red", "green", "blue", "label"])
        for (r, g, b), label in zip(palette.colours.tolist(), one_line_labels(palette)):
            writer.writerow([r, g, b, label])


def _fields(line, delimiter, name=None, number=None):
    """The stripped fields of one line (white space separated when ``delimiter`` is None)."""
    if delimiter is None:
        return line.split()
    try:
        return [field.strip() for field in next(csv.reader([line], delimiter=delimiter))]
    except csv.Error as problem:
        if name is None:
            raise
        if "field limit" in str(problem):
            raise error(name, number, "a field is longer than {} characters, the most a CSV field may hold; "
                        "shorten it".format(csv.field_size_limit()))
        raise error(name, number, "not CSV ({}); check its quotes".format(problem))


def _delimiter(lines):
    """The delimiter that makes most lines start with three numbers; on a tie, the one giving most
    numbers (decimal commas counted, so they are refused by name), then most lines 3 fields wide."""
    best, best_score = None, None
    for delimiter in _DELIMITERS + (None,):
        colours = numbers = wide = 0
        for _, line in lines:
            try:
                fields = _fields(line, delimiter)
            except csv.Error:
                continue
            found = sum(1 for field in fields[:3] if is_number(field) or _DECIMAL_COMMA.match(field))
            colours += len(fields) >= 3 and all(is_number(field) for field in fields[:3])
            numbers += found
            wide += len(fields) >= 3
        if best_score is None or (colours, numbers, wide) > best_score:
            best, best_score = delimiter, (colours, numbers, wide)
    return best


def _looks_like_a_number(field):
    """A number, or a mistyped one ('1O', 'nan'): such a first line is an error, not a header."""
    try:
        float(field)
        return True
    except ValueError:
        return bool(_NUMBER_LIKE.match(field))


def _columns(header, rows):
    """(red, green, blue column indices, alpha index or None, label index or None, notes)."""
    names = [field.strip().strip('"').lower() for field in header] if header else []
    found = {key: next((i for i, n in enumerate(names) if n in accepted), None) for key, accepted in _NAMES.items()}
    notes = []
    if None in (found["red"], found["green"], found["blue"]):
        rgb = (0, 1, 2)
    else:
        rgb = (found["red"], found["green"], found["blue"])
        if rgb != (0, 1, 2):
            notes.append("columns {} by the header".format(", ".join(header[i] for i in rgb)))
    after = max(rgb) + 1
    alpha = found["alpha"]
    if alpha is None and len(names) <= after and all(_is_alpha(fields, after) for _, _, fields in rows):
        alpha = after
        notes.append("the fourth column read as alpha and ignored (a header naming it 'label' keeps it)")
    elif alpha is not None:
        notes.append("alpha column ignored")
    label = found["label"]
    if label is None:
        label = after + 1 if alpha == after else after
    return rgb, alpha, label, notes


def _is_alpha(fields, column):
    try:
        return len(fields) > column and 0 <= float(fields[column]) <= 255
    except ValueError:
        return False


def _label(text, fields, column, rest_of_line):
    if column is None or column >= len(fields):
        return ""
    if rest_of_line:  # white space separated and the last column: the label may hold spaces
        label = text.split(None, column)[column].strip()
        if len(label) > 1 and label[0] == label[-1] == '"':
            label = label[1:-1].strip()
        return label
    return fields[column].strip()


def _to_bytes(values, written_as_floats, rows, rgb, name):
    """Scale to 0-255 bytes: 0-1 floats when values are written as floats and all are <= 1."""
    fractional = values != np.round(values)
    floats = written_as_floats and values.max() <= 1.0
    limit, scale = (1.0, "0-1 floats") if floats else (255.0, "0-255 integers")
    bad = (values < 0) | (values > limit) | (fractional & (not floats))
    if bad.any():
        i = int(np.argwhere(bad)[0][0])
        line, _, fields = rows[i]
        raise PaletteFileError(
            "palette file {}, line {}: {} is out of range; use 0-255 integers or 0-1 floats".format(
                name, line, ",".join(fields[column] for column in rgb)
            )
        )
    if floats:
        values = np.round(values * 255.0)
    return values.astype(np.uint8), scale


FORMAT = Format("csv", "CSV (red,green,blue[,label]; 0-255 integers or 0-1 floats)", read, write_palette_csv,
                ".csv", extensions=(".csv",))
