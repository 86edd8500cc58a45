"""CSV: one colour per line as red, green, blue (0-255 integers or 0-1 floats), an optional header
line and an optional fourth column used as the colour's label. Any text no other format claims."""

import csv
import os

import numpy as np

from ..palette import Palette
from .common import Format, PaletteFileError, check_count, is_number, one_line_labels, read_text


def read(path, name):
    rows = _csv_rows(path, name)
    if rows and not is_number(rows[0][1][0]):
        rows = rows[1:]  # header line
    if not rows:
        raise PaletteFileError("palette file {} holds no colours (one 'red,green,blue' per line)".format(name))
    check_count(name, len(rows))
    values = np.empty((len(rows), 3), dtype=np.float64)
    labels = []
    for i, (line, fields) in enumerate(rows):
        if len(fields) < 3:
            raise PaletteFileError(
                "palette file {}, line {}: {} column(s); need red, green, blue".format(name, line, len(fields))
            )
        for j in range(3):
            if not is_number(fields[j]):
                raise PaletteFileError(
                    "palette file {}, line {}: {!r} is not a number".format(name, line, fields[j])
                )
            values[i, j] = float(fields[j])
        labels.append(fields[3].strip() if len(fields) > 3 else "")
    written_as_floats = any(c in field for _, fields in rows for field in fields[:3] for c in ".eE")
    colours, scale = _to_bytes(values, written_as_floats, rows, name)
    return Palette(colours, labels, name=os.path.splitext(name)[0]), scale


def write_palette_csv(palette, path):
    """Write ``index-ordered red,green,blue,label`` lines with a header; read_palette reads it back."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["red", "green", "blue", "label"])
        for (r, g, b), label in zip(palette.colours.tolist(), one_line_labels(palette)):
            writer.writerow([r, g, b, label])


def _csv_rows(path, name):
    """(line number, fields) of every non-blank, non-comment line."""
    text = read_text(path, name)
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.startswith("#")]
    if not lines:
        return []
    sample = lines[min(1, len(lines) - 1)][1]
    delimiter = next((d for d in ",;\t" if d in sample), None)
    rows = []
    for n, line in lines:
        if delimiter is None:
            fields = line.split()
        else:
            fields = next(csv.reader([line], delimiter=delimiter))
        rows.append((n, [field.strip() for field in fields]))
    return rows


def _to_bytes(values, written_as_floats, rows, name):
    """Scale to 0-255 bytes: 0-1 floats when values are written as floats and all are <= 1."""
    fractional = values != np.round(values)
    floats = written_as_floats and values.max() <= 1.0
    limit, scale = (1.0, "0-1 floats") if floats else (255.0, "0-255 integers")
    bad = (values < 0) | (values > limit) | (fractional & (not floats))
    if bad.any():
        i = int(np.argwhere(bad)[0][0])
        raise PaletteFileError(
            "palette file {}, line {}: {} is out of range; use 0-255 integers or 0-1 floats".format(
                name, rows[i][0], ",".join(rows[i][1][:3])
            )
        )
    if floats:
        values = np.round(values * 255.0)
    return values.astype(np.uint8), scale


FORMAT = Format("csv", "CSV (red,green,blue[,label]; 0-255 integers or 0-1 floats)", read, write_palette_csv,
                ".csv", extensions=(".csv",))
