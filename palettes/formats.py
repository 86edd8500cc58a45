"""Reading and writing palette files (QGIS-free; GDAL only to read rasters, imported when needed).

``read_palette`` recognises a file by its content first and its extension second:

- CSV (any other text): one colour per line as red, green, blue, either 0-255 integers or 0-1
  floats, an optional header line, and an optional fourth column used as the colour's label.
- GIMP palette (starts with ``GIMP Palette``): ``R G B name`` lines; the names are the labels and
  the ``Name:`` header is the palette's name.
- Adobe colour table (``.act``): 256 RGB triplets (768 bytes), optionally followed by the colour
  count and the transparent index as big-endian 16-bit integers (772 bytes). No labels.
- ESRI colour map (``.clr``): ``value R G B [label]`` lines. QGIS's paletted renderer exports the
  same form with an alpha column, ``value R G B A [label]``: when every line has an integer 0-255
  in the fifth column, that column is read as alpha (and ignored), the rest as the label.
- QGIS colour map export (``.txt`` with an ``INTERPOLATION:`` line or the ``# QGIS Generated
  Color Map Export File`` header): ``value,R,G,B,A,label`` lines. Labels QGIS invents for
  unlabelled entries (``Color entry N`` on entry N) are read as no label.
- QGIS style (``.qml``, XML under ``<qgis>``): a paletted raster renderer (its palette entries), a
  singleband pseudocolour renderer (its class colours) or a categorized vector renderer (each
  category's symbol colour: the first symbol layer with a ``color``, else ``line_color``).
- Any raster GDAL opens whose band 1 has a colour table (e.g. an earlier Palettize output).

In ``.clr``, ``.txt`` and ``.qml`` files the palette index is the entry's position in the file, not
its value (files QGIS writes list entries by increasing value, so the order is the same): the
palette stays dense however the values are numbered. Alpha is read and ignored everywhere.

A raster's colour table keeps entry i as index i. GeoTIFF pads a table to 256 (Byte) or 65536
(UInt16) entries with opaque black, so in a table of exactly 256 or 65536 entries trailing black
entries after the last other colour are dropped (the description says how many) -- except those
named by the band's category names or raster attribute table, which also give the labels.

``write_palette`` writes .csv, .gpl, .act (at most 256 colours, no labels), .clr, .qml (a paletted
renderer style QGIS 3.22+ loads) and .txt (a QGIS colour map export with ``INTERPOLATION:EXACT``);
reading a written file gives back the same colours and labels. Line breaks in labels become
spaces in the line-based formats (.csv, .gpl, .clr, .txt), which cannot hold them.
"""

import csv
import os
import re
import struct
from xml.parsers import expat

import numpy as np

from .palette import MAX_COLOURS, Palette

#: Extensions ``write_palette`` writes.
WRITE_EXTENSIONS = (".csv", ".gpl", ".act", ".clr", ".qml", ".txt")
#: Extensions worth offering in a file dialog; ``read_palette`` also reads other GDAL rasters.
READ_EXTENSIONS = WRITE_EXTENSIONS + (".tif", ".tiff", ".png", ".gif", ".bmp", ".vrt", ".img")

QGIS_EXPORT_HEADER = "# QGIS Generated Color Map Export File"
_QGIS_PLACEHOLDER = re.compile(r"Color entry (\d+)$")
_INTERPOLATION = re.compile(r"^\s*INTERPOLATION\s*:", re.IGNORECASE | re.MULTILINE)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


class PaletteFileError(ValueError):
    """A palette file that cannot be used; the message names the file, the line and the fix."""


def read_palette(path):
    """Read a palette file; return (palette, description of how the values were read).

    The description is "0-255 integers" or "0-1 floats" for CSV, else the format, such as
    "GIMP palette" (see the module docstring for the formats and their index and label rules).
    """
    name = os.path.basename(path)
    if not os.path.isfile(path):
        raise PaletteFileError("palette file {} does not exist".format(path))
    return _READERS[_detect(path)](path, name)


def write_palette(palette, path):
    """Write ``palette`` in the format its extension names (see WRITE_EXTENSIONS)."""
    extension = os.path.splitext(path)[1].lower()
    writer = _WRITERS.get(extension)
    if writer is None:
        raise PaletteFileError("cannot write palette file {}: {}; use one of {}".format(
            os.path.basename(path),
            "unknown extension '{}'".format(extension) if extension else "no extension",
            ", ".join(WRITE_EXTENSIONS),
        ))
    writer(palette, path)


def write_palette_csv(palette, path):
    """Write ``index-ordered red,green,blue,label`` lines with a header; read_palette reads it back."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["red", "green", "blue", "label"])
        for (r, g, b), label in zip(palette.colours.tolist(), _one_line_labels(palette)):
            writer.writerow([r, g, b, label])


# -- detection -----------------------------------------------------------------------------------


def _detect(path):
    extension = os.path.splitext(path)[1].lower()
    if extension == ".act":
        return "act"
    with open(path, "rb") as f:
        head = f.read(4096)
    if b"\0" in head:
        return "raster"
    text = head.decode("utf-8-sig", errors="replace").lstrip()
    if text.startswith("GIMP Palette"):
        return "gpl"
    if text.startswith("<"):
        return "qml" if ("<qgis" in text or extension == ".qml") else "raster"  # e.g. a GDAL .vrt
    if text.startswith(QGIS_EXPORT_HEADER) or _INTERPOLATION.search(text):
        return "qgis_txt"
    return {".gpl": "gpl", ".clr": "clr", ".qml": "qml"}.get(extension, "csv")


# -- shared helpers ------------------------------------------------------------------------------


def _error(name, line, message):
    if line is None:
        return PaletteFileError("palette file {}: {}".format(name, message))
    return PaletteFileError("palette file {}, line {}: {}".format(name, line, message))


def _make_palette(name, colours, labels, title=None):
    if not colours:
        raise PaletteFileError("palette file {} holds no colours".format(name))
    if len(colours) > MAX_COLOURS:
        raise PaletteFileError(
            "palette file {} has {} colours; at most {} are supported".format(name, len(colours), MAX_COLOURS)
        )
    return Palette(np.array(colours, dtype=np.uint8), labels, name=title or os.path.splitext(name)[0])


def _text_lines(path, name):
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise _error(name, line, "not UTF-8 text; save the file as UTF-8")
    return text.splitlines()


def _number(text, name, line):
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise _error(name, line, "{!r} is not a number".format(text))
    return value


def _channel(text, name, line):
    """A 0-255 integer colour component."""
    value = _number(text, name, line)
    if not (0 <= value <= 255 and value == int(value)):
        raise _error(name, line, "{} is out of range; colours are 0-255 integers".format(text))
    return int(value)


def _is_byte(text):
    try:
        value = float(text)
    except ValueError:
        return False
    return 0 <= value <= 255 and value == int(value)


def _one_line_labels(palette):
    """One label per colour ("" when none), line breaks replaced by spaces."""
    labels = palette.labels or ("",) * len(palette)
    return [" ".join(label.splitlines()) if label else "" for label in labels]


# -- readers -------------------------------------------------------------------------------------


def _read_csv(path, name):
    rows = _csv_rows(path)
    if rows and not _is_number(rows[0][1][0]):
        rows = rows[1:]  # header line
    if not rows:
        raise PaletteFileError("palette file {} holds no colours (one 'red,green,blue' per line)".format(name))
    if len(rows) > MAX_COLOURS:
        raise PaletteFileError(
            "palette file {} has {} colours; at most {} are supported".format(name, len(rows), MAX_COLOURS)
        )
    values = np.empty((len(rows), 3), dtype=np.float64)
    labels = []
    for i, (line, fields) in enumerate(rows):
        if len(fields) < 3:
            raise PaletteFileError(
                "palette file {}, line {}: {} column(s); need red, green, blue".format(name, line, len(fields))
            )
        for j in range(3):
            if not _is_number(fields[j]):
                raise PaletteFileError(
                    "palette file {}, line {}: {!r} is not a number".format(name, line, fields[j])
                )
            values[i, j] = float(fields[j])
        labels.append(fields[3].strip() if len(fields) > 3 else "")
    written_as_floats = any(c in field for _, fields in rows for field in fields[:3] for c in ".eE")
    colours, scale = _to_bytes(values, written_as_floats, rows, name)
    return Palette(colours, labels, name=os.path.splitext(name)[0]), scale


def _read_gpl(path, name):
    lines = _text_lines(path, name)
    if not lines or lines[0].strip() != "GIMP Palette":
        raise _error(name, 1, "a GIMP palette starts with a 'GIMP Palette' line")
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
            raise _error(name, line, "{} column(s); need red, green, blue and an optional name".format(len(fields)))
        colours.append([_channel(field, name, line) for field in fields[:3]])
        labels.append(fields[3].strip() if len(fields) > 3 else "")
    return _make_palette(name, colours, labels, title), "GIMP palette"


def _read_act(path, name):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) not in (768, 772):
        raise _error(name, None, "{} bytes; an Adobe colour table (.act) has 768 bytes, or 772 with a colour count"
                     .format(len(data)))
    count, description = 256, "Adobe colour table"
    if len(data) == 772:
        count, transparent = struct.unpack(">HH", data[768:])
        if not 1 <= count <= 256:
            raise _error(name, None, "bytes 769-770 give {} colours; an Adobe colour table holds 1 to 256"
                         .format(count))
        if transparent < count:
            description += " (its transparent index {} is read as an ordinary colour)".format(transparent)
    colours = np.frombuffer(data[:768], dtype=np.uint8).reshape(256, 3)[:count]
    return _make_palette(name, colours.tolist(), None), description


def _read_clr(path, name):
    entries = []
    for line, text in enumerate(_text_lines(path, name), 1):
        text = text.strip()
        if not text or text.startswith("#"):
            continue
        fields = text.split(None, 4)
        if len(fields) < 4:
            raise _error(name, line, "{} column(s); need value, red, green, blue and an optional label"
                         .format(len(fields)))
        _number(fields[0], name, line)
        colour = [_channel(field, name, line) for field in fields[1:4]]
        entries.append((colour, fields[4] if len(fields) > 4 else ""))
    # QGIS's paletted export: a fifth column holding an integer 0-255 on every line is alpha.
    with_alpha = bool(entries) and all(rest and _is_byte(rest.split()[0]) for _, rest in entries)
    colours, labels = [], []
    for colour, rest in entries:
        if with_alpha:
            rest = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
        colours.append(colour)
        labels.append(rest.strip())
    description = "QGIS .clr colour map (alpha column ignored)" if with_alpha else "ESRI .clr colour map"
    return _make_palette(name, colours, labels), description


def _read_qgis_txt(path, name):
    colours, labels = [], []
    for line, text in enumerate(_text_lines(path, name), 1):
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if _INTERPOLATION.match(stripped):
            if len(stripped.split(":")) != 2:
                raise _error(name, line, "{!r} is not 'INTERPOLATION:' and a type".format(stripped))
            continue
        if stripped.count(",") >= 5:
            fields = stripped.split(",", 5)
        else:
            fields = re.split(r"[\s,]+", stripped, maxsplit=5)
        if len(fields) < 4:
            raise _error(name, line, "{} column(s); need value,red,green,blue,alpha,label".format(len(fields)))
        _number(fields[0].strip(), name, line)
        colours.append([_channel(field.strip(), name, line) for field in fields[1:4]])
        if len(fields) > 4:
            _number(fields[4].strip(), name, line)
        label = fields[5].strip() if len(fields) > 5 else ""
        placeholder = _QGIS_PLACEHOLDER.match(label)
        if placeholder and int(placeholder.group(1)) == len(colours):
            label = ""
        labels.append(label)
    return _make_palette(name, colours, labels), "QGIS colour map export"


class _Node:
    """An XML element with the line it starts on (ElementTree does not keep line numbers)."""

    __slots__ = ("tag", "attrs", "children", "line")

    def __init__(self, tag, attrs, line):
        self.tag, self.attrs, self.children, self.line = tag, attrs, [], line

    def child(self, tag):
        return next((node for node in self.children if node.tag == tag), None)

    def descendants(self, tag):
        for node in self.children:
            if node.tag == tag:
                yield node
            yield from node.descendants(tag)

    def describe(self):
        kind = self.attrs.get("type")
        return '<{} type="{}">'.format(self.tag, kind) if kind else "<{}>".format(self.tag)


def _parse_xml(path, name):
    parser = expat.ParserCreate()
    stack, roots = [], []

    def start(tag, attrs):
        node = _Node(tag, attrs, parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: stack.pop()
    with open(path, "rb") as f:
        try:
            parser.ParseFile(f)
        except expat.ExpatError as error:
            raise _error(name, error.lineno, "not well-formed XML ({})".format(expat.ErrorString(error.code)))
    return roots[0]


def _read_qml(path, name):
    root = _parse_xml(path, name)
    if root.tag != "qgis":
        raise _error(name, root.line, "the root element is <{}>; a QGIS style (.qml) has <qgis>".format(root.tag))
    raster = next(root.descendants("rasterrenderer"), None)
    if raster is not None:
        kind = raster.attrs.get("type")
        if kind == "paletted":
            entries = _required(raster, ["colorPalette"], name)
            colours, labels = _qml_entries(entries, "paletteEntry", name)
            return _make_palette(name, colours, labels), "QGIS paletted style"
        if kind == "singlebandpseudocolor":
            shader = _required(raster, ["rastershader", "colorrampshader"], name)
            colours, labels = _qml_entries(shader, "item", name)
            return _make_palette(name, colours, labels), "QGIS pseudocolour style (class colours)"
        raise _error(name, raster.line, "a raster renderer of type '{}' has no class colours; use a paletted "
                     "or singleband pseudocolour style".format(kind))
    renderers = list(root.descendants("renderer-v2"))
    categorized = next((node for node in renderers if node.attrs.get("type") == "categorizedSymbol"), None)
    if categorized is not None:
        colours, labels = _qml_categories(categorized, name)
        return _make_palette(name, colours, labels), "QGIS categorized style (symbol colours)"
    if renderers:
        raise _error(name, renderers[0].line, "a vector renderer of type '{}' has no class colours; use a "
                     "categorized style".format(renderers[0].attrs.get("type")))
    raise _error(name, None, "no <rasterrenderer> or <renderer-v2> element; use a QGIS style with a paletted, "
                 "singleband pseudocolour or categorized renderer")


def _required(node, path, name):
    for tag in path:
        found = node.child(tag)
        if found is None:
            raise _error(name, node.line, "{} has no <{}>".format(node.describe(), tag))
        node = found
    return node


def _qml_entries(parent, tag, name):
    colours, labels = [], []
    for entry in parent.children:
        if entry.tag == tag:
            colours.append(_colour(entry.attrs.get("color", "#000000"), name, entry.line, tag))
            labels.append(entry.attrs.get("label", "").strip())
    if not colours:
        raise _error(name, parent.line, "{} has no <{}> entries".format(parent.describe(), tag))
    return colours, labels


def _qml_categories(renderer, name):
    categories = _required(renderer, ["categories"], name)
    symbols = _required(renderer, ["symbols"], name)
    by_name = {symbol.attrs.get("name"): symbol for symbol in symbols.children if symbol.tag == "symbol"}
    colours, labels = [], []
    for category in categories.children:
        if category.tag != "category":
            continue
        symbol = by_name.get(category.attrs.get("symbol"))
        if symbol is None:
            raise _error(name, category.line, "category '{}' names symbol '{}', which <symbols> does not hold"
                         .format(category.attrs.get("label", ""), category.attrs.get("symbol")))
        colours.append(_symbol_colour(symbol, name))
        labels.append(category.attrs.get("label", "").strip())
    if not colours:
        raise _error(name, categories.line, "<categories> has no <category> entries")
    return colours, labels


def _symbol_colour(symbol, name):
    """The colour of a symbol's first layer that has one: ``color``, else ``line_color``."""
    for key in ("color", "line_color"):
        for layer in symbol.children:
            if layer.tag != "layer":
                continue
            for node in layer.children:
                if node.tag == "prop" and node.attrs.get("k") == key:
                    return _colour(node.attrs.get("v", ""), name, node.line, "prop")
                if node.tag == "Option" and node.attrs.get("type") == "Map":
                    for option in node.children:
                        if option.tag == "Option" and option.attrs.get("name") == key:
                            return _colour(option.attrs.get("value", ""), name, option.line, "Option")
    raise _error(name, symbol.line, "symbol '{}' has no layer with a colour".format(symbol.attrs.get("name")))


def _colour(text, name, line, tag):
    """'#rrggbb', '#rgb', '#aarrggbb' or 'r,g,b[,a[,...]]' (QGIS's encodings) as [r, g, b]."""
    text = text.strip()
    digits = text[1:]
    if text.startswith("#") and len(digits) in (3, 6, 8) and all(c in "0123456789abcdefABCDEF" for c in digits):
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return [int(digits[i:i + 2], 16) for i in range(len(digits) - 6, len(digits), 2)]
    parts = text.split(",")
    if len(parts) >= 3 and all(_is_byte(part) for part in parts[:3]):
        return [int(float(part)) for part in parts[:3]]
    raise _error(name, line, "<{}> colour {!r} is not '#rrggbb' or 'red,green,blue'".format(tag, text))


def _read_raster(path, name):
    try:
        from osgeo import gdal
    except ImportError:
        raise _error(name, None, "looks like a raster, and reading rasters needs GDAL's Python bindings (osgeo)")
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        dataset = gdal.OpenEx(path, gdal.OF_RASTER)
    except RuntimeError:  # GDAL exceptions switched on by someone else in this process
        dataset = None
    finally:
        gdal.PopErrorHandler()
    if dataset is None or dataset.RasterCount == 0:
        raise _error(name, None, "not a palette file or a raster GDAL can open; use {} or a raster with a colour table"
                     .format(", ".join(WRITE_EXTENSIONS)))
    band = dataset.GetRasterBand(1)
    table = band.GetColorTable()
    if table is None:
        raise _error(name, None, "band 1 of this raster has no colour table; use a paletted raster (such as a "
                     "Palettize output) or a palette file")
    if table.GetPaletteInterpretation() != gdal.GPI_RGB:
        raise _error(name, None, "the colour table is not RGB (GDAL palette interpretation {}); use an RGB one"
                     .format(table.GetPaletteInterpretation()))
    colours = [list(table.GetColorEntry(i)[:3]) for i in range(table.GetCount())]
    names = _raster_names(gdal, band)
    description = "GDAL colour table ({}, band 1)".format(dataset.GetDriver().ShortName)
    if len(colours) in (256, 65536):
        coloured = [i for i, colour in enumerate(colours) if colour != [0, 0, 0]]
        named = [i for i, label in enumerate(names) if label]
        keep = max([0] + [i + 1 for i in coloured[-1:] + named[-1:]]) or 1
        if keep < len(colours):
            description += ", {} trailing black padding entries dropped".format(len(colours) - keep)
            colours = colours[:keep]
    labels = [label.strip() for label in names[:len(colours)]]
    labels += [""] * (len(colours) - len(labels))
    return _make_palette(name, colours, labels), description


def _raster_names(gdal, band):
    """Labels by value: the band's category names, else its attribute table's name column."""
    names = band.GetCategoryNames()
    if names:
        return list(names)
    rat = band.GetDefaultRAT()
    if rat is None:
        return []
    usages = {rat.GetUsageOfCol(column): column for column in range(rat.GetColumnCount())}
    if gdal.GFU_Name not in usages:
        return []
    by_value = {}
    for row in range(rat.GetRowCount()):
        value = rat.GetValueAsInt(row, usages[gdal.GFU_MinMax]) if gdal.GFU_MinMax in usages else row
        if 0 <= value <= MAX_COLOURS:
            by_value[value] = rat.GetValueAsString(row, usages[gdal.GFU_Name])
    return [by_value.get(value, "") for value in range(max(by_value) + 1)] if by_value else []


_READERS = {"csv": _read_csv, "gpl": _read_gpl, "act": _read_act, "clr": _read_clr, "qgis_txt": _read_qgis_txt,
            "qml": _read_qml, "raster": _read_raster}


# -- writers -------------------------------------------------------------------------------------


def _write_gpl(palette, path):
    title = " ".join((palette.name or os.path.splitext(os.path.basename(path))[0]).splitlines())
    lines = ["GIMP Palette", "Name: " + title, "#"]
    for (r, g, b), label in zip(palette.colours.tolist(), _one_line_labels(palette)):
        lines.append("{:3d} {:3d} {:3d}\t{}".format(r, g, b, label).rstrip())
    _write_lines(path, lines)


def _write_act(palette, path):
    if len(palette) > 256:
        raise PaletteFileError("cannot write palette file {}: an Adobe colour table (.act) holds at most 256 "
                               "colours and this palette has {}; use .gpl, .clr, .qml, .txt or .csv"
                               .format(os.path.basename(path), len(palette)))
    table = np.zeros((256, 3), dtype=np.uint8)
    table[:len(palette)] = palette.colours
    with open(path, "wb") as f:
        f.write(table.tobytes() + struct.pack(">HH", len(palette), 0xFFFF))


def _write_clr(palette, path):
    """``index R G B`` lines; with labels ``index R G B 255 label``, the form QGIS loads labels from."""
    lines = []
    for index, ((r, g, b), label) in enumerate(zip(palette.colours.tolist(), _one_line_labels(palette))):
        if palette.labels:
            lines.append("{} {} {} {} 255 {}".format(index, r, g, b, label).rstrip())
        else:
            lines.append("{} {} {} {}".format(index, r, g, b))
    _write_lines(path, lines)


def _write_qgis_txt(palette, path):
    lines = [QGIS_EXPORT_HEADER, "INTERPOLATION:EXACT"]
    for index, ((r, g, b), label) in enumerate(zip(palette.colours.tolist(), _one_line_labels(palette))):
        lines.append("{},{},{},{},255,{}".format(index, r, g, b, label or "Color entry {}".format(index + 1)))
    _write_lines(path, lines)


def _write_qml(palette, path):
    """A QGIS style with a paletted renderer on band 1: value i is palette entry i."""
    entries = []
    for index, (r, g, b) in enumerate(palette.colours.tolist()):
        label = palette.labels[index] if palette.labels else ""
        entries.append('        <paletteEntry value="{}" color="#{:02x}{:02x}{:02x}" alpha="255"{}/>'.format(
            index, r, g, b, ' label="{}"'.format(_xml_attribute(label)) if label else ""))
    lines = [
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>",
        '<qgis version="3.22.0" styleCategories="Symbology">',
        "  <pipe>",
        '    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">',
        "      <rasterTransparency/>",
        "      <minMaxOrigin>",
        "        <limits>None</limits>",
        "        <extent>WholeRaster</extent>",
        "        <statAccuracy>Estimated</statAccuracy>",
        "        <cumulativeCutLower>0.02</cumulativeCutLower>",
        "        <cumulativeCutUpper>0.98</cumulativeCutUpper>",
        "        <stdDevFactor>2</stdDevFactor>",
        "      </minMaxOrigin>",
        "      <colorPalette>",
    ] + entries + [
        "      </colorPalette>",
        "    </rasterrenderer>",
        "  </pipe>",
        "</qgis>",
    ]
    _write_lines(path, lines)


def _xml_attribute(text):
    text = _XML_INVALID.sub("", text)
    for plain, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"),
                           ("\n", "&#10;"), ("\r", "&#13;"), ("\t", "&#9;")):
        text = text.replace(plain, escaped)
    return text


def _write_lines(path, lines):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


_WRITERS = {".csv": write_palette_csv, ".gpl": _write_gpl, ".act": _write_act, ".clr": _write_clr,
            ".qml": _write_qml, ".txt": _write_qgis_txt}


# -- CSV details ---------------------------------------------------------------------------------


def _csv_rows(path):
    """(line number, fields) of every non-blank, non-comment line."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        text = f.read()
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


def _is_number(text):
    try:
        return np.isfinite(float(text))
    except ValueError:
        return False


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
