"""CSV: one colour per line as red, green, blue (0-255 integers or 0-1 floats), an optional header
line, an optional alpha column (ignored) and an optional label column. Any text no other format claims.

- Delimiter: ``,``, ``;``, tab or ``|``, whichever makes most of the first lines start with three
  numbers (so ``10;20;30;Sand, fine`` reads right); else runs of white space. A first line
  ``sep=;`` (Excel's note of the delimiter) is skipped.
- Header: the first line when none of its first three fields looks like a number. Any other line
  that does not read as a colour is an error naming it: ``1O,20,30`` (a letter O) or ``nan,0,0`` on
  the first line is a mistake, not a header, and skipping it would shift every index by one.
- Columns: a header naming ``red``/``r``, ``green``/``g`` and ``blue``/``b`` places them (and
  ``alpha``/``a``, ``label``/``name``/``class``/...); one naming only some of them, elsewhere than
  first (``id,red,green,bleu``), is refused, as is one naming the columns of another colour model
  (``L,a,b``, ``c,m,y,k``, ``h,s,v``). Else red, green, blue come first, unless the
  lines start with four integers and the first counts 0, 1, 2, ... (or 1, 2, 3, ...): that is an index
  (``index,red,green,blue``), and colours follow it. A fourth column holding one value throughout
  beside it could be alpha too (a grey ramp ``0,0,0,255``, ``1,1,1,255``, ...), and in a ``.txt``
  any first column could be a colour map's value: such files are refused, saying which header to add.
  Without a header, the column after blue holding a number 0-255 on every line is alpha, not a
  label. The label is the named label column, else the first column after blue (and alpha); when it
  is the last column, the rest of the line is the label, so unquoted commas or spaces in it are kept
  (but not empty columns before it or the empty columns a spreadsheet adds at the end of every line).
  A quoted label that goes on over lines (a spreadsheet cell with a line break) is one label, the
  break a space; the empty rows a spreadsheet saves below a table (``,,,``) are skipped.
- Lines starting with ``#`` are comments, except ``#rrggbb[,label]`` lines: a file of those is read
  as hex colours (mixed with red,green,blue lines it is an error, not colours silently skipped).
  CSS's short ``#rgb`` is a colour too (``#f00`` is ``#ff0000``) in a file of hex colours or one
  with no red,green,blue line; among red,green,blue lines such a line (``#add``) stays a comment.
  A file of ``rrggbb`` lines without ``#`` (a ``.hex`` palette from Lospec and other sites, ``;``
  comment lines skipped) is read as hex colours too: a CSV palette cannot have a single column.
"""

import csv
import os
import re

import numpy as np

from ..palette import Palette
from .common import (Format, PaletteFileError, check_count, error, is_number, one_line_labels, text_lines,
                     values_not_kept)

_DELIMITERS = (",", ";", "\t", "|")
_SAMPLE_LINES = 50
#: Lines a quoted label may go on over (a spreadsheet cell with line breaks).
_LABEL_LINES = 20
_NAMES = {
    "red": ("r", "red"),
    "green": ("g", "green"),
    "blue": ("b", "blue"),
    "alpha": ("a", "alpha", "opacity"),
    "label": ("label", "name", "class", "description", "category", "legend", "title"),
}
#: Headers of other colour models' columns, whose values read as red, green, blue would be other
#: colours (whole names only: French R,V,B and Spanish R,V,A are red, green, blue).
_OTHER_MODELS = {("l", "a", "b"): "CIELAB", ("l*", "a*", "b*"): "CIELAB", ("c", "m", "y"): "CMYK",
                 ("cyan", "magenta", "yellow"): "CMYK", ("h", "s", "v"): "HSV", ("h", "s", "l"): "HSL",
                 ("h", "s", "b"): "HSB", ("hue", "saturation", "value"): "HSV",
                 ("hue", "saturation", "lightness"): "HSL", ("hue", "saturation", "brightness"): "HSB"}
_NUMBER_LIKE = re.compile(r"[-+]?\.?\d")
_DECIMAL_COMMA = re.compile(r"[-+]?\d*,\d+$")
_EXCEL_SEPARATOR = re.compile(r"sep=.$", re.IGNORECASE)
_HEX = re.compile(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})(?=$|[\s,;|])")
#: CSS's short '#rgb': a colour among '#rrggbb' lines or where no line is red,green,blue, else a comment.
_SHORT_HEX = re.compile(r"#([0-9a-fA-F]{3})(?=$|[\s,;|])")
#: 'rrggbb' alone on a line, as Lospec's and other sites' .hex palette files hold them.
_BARE_HEX = re.compile(r"[0-9a-fA-F]{6}$")
_INTEGER = re.compile(r"\d+$")
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def read(path, name):
    lines, hex_lines, short_hex_lines = [], [], []
    for n, line in _records(text_lines(path, name)):
        stripped = line.strip()
        if _HEX.match(stripped):  # '#00ff00' is a colour, not a comment to skip
            hex_lines.append((n, stripped))
        elif _SHORT_HEX.match(stripped):
            short_hex_lines.append((n, stripped))
        elif stripped.strip("".join(_DELIMITERS) + " ") and not stripped.startswith("#"):  # not ',,,' (an empty row)
            lines.append((n, line))
    if lines and _EXCEL_SEPARATOR.match(lines[0][1].rstrip("\r\n")):  # Excel's 'sep=;': the delimiter, not a header
        lines = lines[1:]
    if short_hex_lines and hex_lines:  # among '#rrggbb' lines, '#abc' followed by what follows none of them is a
        after = {_after_hex(text) for _, text in hex_lines}  # comment ('#CAD layer colours'), not a colour
        short_hex_lines = [(n, text) for n, text in short_hex_lines if _after_hex(text) in after | {""}]
    if short_hex_lines and (hex_lines or not lines or (len(lines) == 1 and not _starts_with_a_number(lines[0][1]))):
        hex_lines = sorted(hex_lines + short_hex_lines)  # '#f00' lines, and at most a header besides them
    bare = [(n, text) for n, text in lines if not text.lstrip().startswith(";")]  # a .hex file's ';' comments
    if not hex_lines and bare and all(_BARE_HEX.match(text.strip()) for _, text in bare):
        hex_lines, lines = [(n, "#" + text.strip()) for n, text in bare], []  # a file of them: no CSV has 1 column
    if hex_lines:
        return _read_hex(hex_lines, lines, name)
    delimiter = _delimiter(lines[:_SAMPLE_LINES])
    rows = [(n, line, _fields(line, delimiter, name, n)) for n, line in lines]
    header = header_line = None
    if rows and not any(_looks_like_a_number(field) or _BARE_HEX.match(field) for field in rows[0][2][:3]):
        header_line, header, rows = rows[0][0], rows[0][2], rows[1:]
    if not rows:
        raise PaletteFileError("palette file {} holds no colours (one 'red,green,blue' per line)".format(name))
    check_count(name, len(rows))
    rgb, alpha, label, notes = _columns(header, header_line, rows, delimiter, name)
    # The last column holds the label: unquoted delimiters (or spaces) in it belong to it.
    last = label is not None and label > max(rgb + (alpha or 0,)) and (header is None or len(header) <= label + 1)
    values = np.empty((len(rows), 3), dtype=np.float64)
    labels = []
    for i, (line, text, fields) in enumerate(rows):
        if len(fields) <= max(rgb):
            hint = "; write hex colours as '#rrggbb'" if fields and _BARE_HEX.match(fields[0]) else ""
            if fields and re.match(r"(?=.*[a-fA-F])[0-9a-fA-F]{8}$", fields[0]):  # not a date such as 20230101
                hint = ("; eight hex digits could be AARRGGBB or RRGGBBAA: write '#rrggbb', or start a Paint.NET "
                        "palette (AARRGGBB) with its line '; paint.net Palette File'")
            raise error(name, line, "{} column(s); need red, green, blue{}".format(len(fields), hint))
        for j, column in enumerate(rgb):
            if not is_number(fields[column]):
                hint = "; write decimals with a point" if _DECIMAL_COMMA.match(fields[column]) else ""
                raise error(name, line, "{!r} is not a number{}".format(fields[column], hint))
            values[i, j] = float(fields[column])
        labels.append(_label(text, fields, label, delimiter, last))
    written_as_floats = any(c in fields[column] for _, _, fields in rows for column in rgb for c in ".eE")
    colours, scale = _to_bytes(values, written_as_floats, rows, rgb, name)
    return Palette(colours, labels, name=os.path.splitext(name)[0]), ", ".join([scale] + notes)


def _after_hex(text):
    """The character after a line's leading hex colour ('' at the line's end): its delimiter."""
    rest = re.sub(r"^#[0-9a-fA-F]+", "", text)
    return rest[:1]


def _records(lines):
    """(line number, text) of each record: a quoted field whose text goes on over the next lines (a
    spreadsheet's cell with a line break) joins them into its first line, with a space, as the
    writers write such a label. A quote still open at a line that starts like a colour or a comment,
    after _LABEL_LINES lines, or at the end, leaves the lines as they are, to be refused: no colour
    is taken into a label, and a text picked by mistake is refused as soon as before."""
    n = 0
    while n < len(lines):
        quoted, last = _open_quote(lines[n]), n
        while quoted and last + 1 < len(lines) and last - n < _LABEL_LINES and not (
                _starts_with_a_number(lines[last + 1]) or lines[last + 1].lstrip().startswith("#")):
            last += 1
            quoted = _open_quote(lines[last], quoted=True)
        if quoted:
            last = n
        yield n + 1, " ".join(lines[n:last + 1])
        n = last + 1


def _open_quote(line, quoted=False):
    """Whether a quote is open at the end of ``line`` (``quoted``: open at its start, the line
    going on with a field of the line before). A quote opens a field right after a delimiter or
    at the start of the line; '""' inside quotes is a quote. Comments are never continued."""
    if not quoted and (line.count('"') % 2 == 0 or line.lstrip().startswith("#")):  # quotes that pair up
        return False
    i = line.find('"')
    while i >= 0:
        if quoted and line[i + 1:i + 2] == '"':
            i += 1
        elif quoted:
            quoted = False
        elif line[:i].rstrip(" ")[-1:] in _DELIMITERS + ("",):  # after a delimiter and any spaces
            quoted = True
        i = line.find('"', i + 1)
    return quoted


def _read_hex(hex_lines, other_lines, name):
    """'#rrggbb[,label]' lines (any delimiter); only a header line may be something else."""
    first = other_lines[0] if other_lines else None
    if first and first[0] < hex_lines[0][0] and not _starts_with_a_number(first[1]):
        other_lines = other_lines[1:]  # a header
    if other_lines and len(other_lines) >= len(hex_lines):
        line, text = hex_lines[0]
        digits = _hex_digits(text)
        rgb = ",".join(str(int(digits[i:i + 2], 16)) for i in (0, 2, 4)) if len(digits) == 6 else "red,green,blue"
        raise error(name, line, "{!r} is a hex colour among red,green,blue lines; write it as {}".format(text, rgb))
    if other_lines:
        line, text = other_lines[0]
        raise error(name, line, "{!r} is not a '#rrggbb' colour like the other lines; write every colour "
                    "the same way".format(text.strip()))
    check_count(name, len(hex_lines))
    colours, labels = [], []
    for line, text in hex_lines:
        written = (_HEX.match(text) or _SHORT_HEX.match(text)).group(1)
        digits = _hex_digits(text)
        if len(digits) == 8:  # '#rrggbbaa' in CSS, '#aarrggbb' in Qt: refuse rather than guess
            raise error(name, line, "'#{}' has 8 hex digits; write '#rrggbb' (alpha is not read)".format(digits))
        colours.append([int(digits[i:i + 2], 16) for i in (0, 2, 4)])
        rest = text[1 + len(written):].strip()
        if rest[:1] in _DELIMITERS:  # the label is the rest of the line, unquoted if quoted
            rest = rest[0].join(_fields(rest[1:], rest[0], name, line, strip=False))
        labels.append(rest.strip())
    return Palette(np.array(colours, dtype=np.uint8), labels, name=os.path.splitext(name)[0]), "hex colours (#rrggbb)"


def _hex_digits(text):
    """The hex digits of a line starting with '#rrggbb', '#rrggbbaa' or '#rgb' (as '#rrggbb')."""
    found = _HEX.match(text)
    if found:
        return found.group(1)
    return "".join(c * 2 for c in _SHORT_HEX.match(text).group(1))


def write_palette_csv(palette, path):
    """Write ``index-ordered red,green,blue,label`` lines with a header; read_palette reads it back."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["red", "green", "blue", "label"])
        for (r, g, b), label in zip(palette.colours.tolist(), one_line_labels(palette)):
            writer.writerow([r, g, b, label])


def _fields(line, delimiter, name=None, number=None, strip=True):
    """The fields of one line (white space separated when ``delimiter`` is None)."""
    if delimiter is None:
        return line.split()
    try:  # stripped fields: a quote after the delimiter and spaces opens a quoted field (', "Sand, fine"')
        fields = next(csv.reader([line], delimiter=delimiter, skipinitialspace=strip), [])
        return [field.strip() for field in fields] if strip else fields
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


def _starts_with_a_number(line):
    """Whether a line's first field looks like a number: a colour line (or a mistyped one), not a header."""
    return _looks_like_a_number(re.split(r"[\s,;|]", line.strip())[0])


def _columns(header, header_line, rows, delimiter, name):
    """(red, green, blue column indices, alpha index or None, label index or None, notes)."""
    names = [field.strip().strip('"').lower() for field in header] if header else []
    found = {key: next((i for i, n in enumerate(names) if n in accepted), None) for key, accepted in _NAMES.items()}
    notes = []
    if None in (found["red"], found["green"], found["blue"]):
        rgb, start = (0, 1, 2), _index_start(rows, delimiter, name)
        if start is not None:
            rgb = (1, 2, 3)
            notes.append("the first column read as an index (it counts {}, {}, {}, ...)".format(start, start + 1,
                                                                                                start + 2))
        named = ["{} in column {}".format(key, found[key] + 1) for key, column in zip(("red", "green", "blue"), rgb)
                 if found[key] not in (None, column)]
        model = _OTHER_MODELS.get(tuple(names[column] for column in rgb if column < len(names)))
        if model:
            raise error(name, header_line, "the header names columns {}: {} colours, which would be read as red, "
                        "green, blue; convert the colours to RGB (0-255) and name the columns red, green, blue".format(
                            ", ".join(header[column].strip().strip('"') for column in rgb), model))
        if named:
            missing = [key for key in ("red", "green", "blue") if found[key] is None]
            raise error(name, header_line, "the header names {} but no {} column; name all three in the header: red, "
                        "green, blue (or r, g, b)".format(" and ".join(named), " or ".join(missing)))
    else:
        rgb = (found["red"], found["green"], found["blue"])
        if rgb != (0, 1, 2):
            notes.append("columns {} by the header".format(", ".join(header[i] for i in rgb)))
    after = max(rgb) + 1
    alpha = found["alpha"] if found["alpha"] not in rgb else None  # Spanish R,V,A: 'A' is azul
    if alpha is None and len(names) <= after and all(_is_alpha(fields, after) for _, _, fields in rows):
        alpha = after
        column = "the {} column".format(_ORDINALS[after]) if after < len(_ORDINALS) else "column {}".format(after + 1)
        notes.append("{} read as alpha and ignored (a header naming it 'label' keeps it)".format(column))
    elif alpha is not None:
        notes.append("alpha column ignored")
    label = found["label"]
    if label is None:
        label = after + 1 if alpha == after else after
    value = next((i for i, n in enumerate(names) if n in ("value", "index", "code") and i not in rgb + (alpha, label)),
                 None)
    values = [fields[value].strip() for _, _, fields in rows if len(fields) > value] if value is not None else []
    kept = values_not_kept(values) if values and len(values) == len(rows) and all(map(is_number, values)) else ""
    if kept:
        notes.append(kept)  # a legend's class values: the output's indices are the rows' order
    return rgb, alpha, label, notes


def _index_start(rows, delimiter, name):
    """0 or 1 when the first column of rows whose colour columns no header names counts from it: an index.

    Only rows starting with four integers, the last three 0-255, are in doubt: index,red,green,blue or
    red,green,blue,alpha. A first column counting 0, 1, 2, ... (or 1, 2, 3, ...) is an index: red
    never does that in a palette, except in a ramp (a grey ramp i,i,i,255), whose fourth column, alpha,
    holds one value throughout; so that shape is refused. In a .txt file, where colour maps
    (value,red,green,blue) are saved, any other first column is refused too; in a .csv, where red
    comes first, one that differs on every line while the fourth column changes too, as a legend's
    class values do (a land-cover legend's 11,70,107,161 read as red 11 and alpha 161 gave every
    class another colour); an RGBA palette's reds repeat, or its alpha holds one value.
    """
    if not rows or not all(len(fields) >= 4 and all(_INTEGER.match(field) for field in fields[:4])
                           and max(int(field) for field in fields[1:4]) <= 255 for _, _, fields in rows):
        return None
    firsts = [int(fields[0]) for _, _, fields in rows]
    start = firsts[0]
    counts = len(rows) > 1 and start in (0, 1) and firsts == list(range(start, start + len(rows)))
    fourths = {fields[3] for _, _, fields in rows}
    if counts and len(fourths) > 1:
        return start
    line, text, _ = rows[0]
    columns = (delimiter or " ").join
    rgba, value = columns(("red", "green", "blue", "alpha")), columns(("value", "red", "green", "blue"))
    if counts:
        index = columns(("index", "red", "green", "blue"))
        raise error(name, line, "{!r} could be {} or {}: the first column counts {}, {}, {}, ... and the fourth is {} "
                    "on every line; add a header line naming the columns, '{}' or '{}'".format(
                        text.strip(), index, rgba, start, start + 1, start + 2, fourths.pop(), rgba, index))
    if os.path.splitext(name)[1].lower() == ".txt" or len(fourths) > 1 and len(set(firsts)) == len(rows):
        raise error(name, line, "{!r} could be {}, as in a colour map, or {}; {}add a header line naming the columns, "
                    "'{}' or '{}'".format(text.strip(), value, rgba,
                                          "rename an ESRI colour map to .clr, or " if delimiter is None else "",
                                          value, rgba))
    return None


def _is_alpha(fields, column):
    try:
        return len(fields) > column and 0 <= float(fields[column]) <= 255
    except ValueError:
        return False


def _label(text, fields, column, delimiter, last):
    if column is None or column >= len(fields):
        return ""
    if not last or len(fields) == column + 1 and delimiter is None:
        return fields[column]
    if delimiter is not None:  # 'Sand, fine' unquoted in the last column: the rest of the line as written
        rest = _fields(text, delimiter, strip=False)[column:]
        while len(rest) > 1 and not rest[-1].strip():  # 'Sand,,' from a spreadsheet's empty columns
            rest.pop()
        while len(rest) > 1 and not rest[0].strip():  # ',,Sand': an empty column before the label
            rest.pop(0)
        label = delimiter.join(rest).strip()
        inside = label[1:-1].replace('""', "")
        # ', "Sand, fine"': one field quoted after a space, which CSV keeps as text; not '"Low" or "High"',
        # nor ',"""Sand, fine"""' (a label in quotes, written as CSV writes it, and unquoted already).
        if rest[0][:1].isspace() and len(label) > 1 and label[0] == label[-1] == '"' and '"' not in inside:
            label = label[1:-1].replace('""', '"').strip()
        return label
    label = text.split(None, column)[column].strip()
    if len(label) > 1 and label[0] == label[-1] == '"':
        label = label[1:-1].strip()
    return label


def _to_bytes(values, written_as_floats, rows, rgb, name):
    """Scale to 0-255 bytes: 0-1 floats when values are written as floats and all are <= 1. A
    file that fits neither scale is judged by the one it breaks on fewer lines, so the message
    names a wrong line (1.5 among 0-1 floats), not a good one."""
    as_floats = ((values < 0) | (values > 1.0)).any(axis=1) if written_as_floats else None
    as_integers = ((values < 0) | (values > 255.0) | (values != np.round(values))).any(axis=1)
    floats = as_floats is not None and (not as_floats.any() or as_floats.sum() < as_integers.sum())
    bad = as_floats if floats else as_integers
    if bad.any():
        line, _, fields = rows[int(np.argmax(bad))]
        raise PaletteFileError(
            "palette file {}, line {}: {} is out of range{}; use 0-255 integers or 0-1 floats".format(
                name, line, ",".join(fields[column] for column in rgb),
                " (the other lines hold 0-1 floats)" if floats else "")
        )
    if floats:
        values = np.round(values * 255.0)
    return values.astype(np.uint8), "0-1 floats" if floats else "0-255 integers"


FORMAT = Format("csv", "CSV (red,green,blue[,label]; 0-255 integers or 0-1 floats)", read, write_palette_csv,
                ".csv", extensions=(".csv", ".hex"))
