"""QGIS style (``.qml``, XML under ``<qgis>``): a paletted raster renderer (its palette entries), a
singleband pseudocolour renderer (its class colours) or a categorized or graduated vector renderer
(each category's or range's symbol colour: the colour it paints, see _symbol_colour). The index is
the entry's position in the file. A QGIS project (``.qgs``), which holds the styles of all its
layers, is refused. Writes a paletted renderer style QGIS 3.22+ loads."""

import re
from xml.parsers import expat

from .common import (HEAD, QGIS_PROJECT, SAVE_LAYER_STYLE, Format, error, is_byte, is_number, make_palette, read_bytes,
                     read_text, text_encoding, with_values_note, write_lines)
from ..palette import shown_text

#: Characters an XML document cannot hold: control characters, U+FFFE and U+FFFF (a label may
#: hold them: UTF-8 carries them), and lone surrogates (undecodable bytes of a file name).
NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_PLAIN = re.compile("[^\x00-\x1f&<>\"\ud800-\udfff\ufffe\uffff]*")  # text an XML attribute holds as it is


def sniff(text, extension):
    return text is not None and text.startswith("<") and ("<qgis" in text or extension == ".qml")


def read(path, name):
    root = _parse_xml(path, name)
    if root.tag == "qgis_style":
        raise error(name, root.line, "a QGIS style library (symbols and colour ramps from the Style Manager), which "
                    "lists no classes; " + SAVE_LAYER_STYLE)
    if root.tag != "qgis":
        raise error(name, root.line, "the root element is <{}>; a QGIS style (.qml) has <qgis>".format(root.tag))
    if root.child("projectlayers") is not None:
        raise error(name, root.line, QGIS_PROJECT)
    raster = next(root.descendants("rasterrenderer"), None)
    if raster is not None:
        kind = raster.attrs.get("type")
        if kind == "paletted":
            entries = _required(raster, ["colorPalette"], name)
            colours, labels = _qml_entries(entries, "paletteEntry", name)
            values = [entry.attrs.get("value", "nan") for entry in entries.children if entry.tag == "paletteEntry"]
            return make_palette(name, colours, labels), with_values_note(  # no note where an entry has no value
                "QGIS paletted style", values if all(map(is_number, values)) else [])
        if kind == "singlebandpseudocolor":
            shader = _required(raster, ["rastershader", "colorrampshader"], name)
            colours, labels = _qml_entries(shader, "item", name)
            return make_palette(name, colours, labels), "QGIS pseudocolour style (class colours)"
        raise error(name, raster.line, "a raster renderer of type '{}' has no class colours; use a paletted "
                    "or singleband pseudocolour style".format(kind))
    renderers = list(root.descendants("renderer-v2"))
    for renderer in renderers:
        if renderer.attrs.get("type") in _CLASSES:
            kind, (classes, tag) = renderer.attrs["type"], _CLASSES[renderer.attrs["type"]]
            colours, labels, hidden = _qml_categories(renderer, classes, tag, name)
            return make_palette(name, colours, labels), "QGIS {} style (symbol colours{})".format(
                kind.replace("Symbol", ""), "; {} not drawn, {} symbol's colour taken".format(
                    ", ".join("'{}'".format(shown_text(label)) for label in hidden),
                    "its" if len(hidden) == 1 else "each") if hidden else "")
    if renderers:
        raise error(name, renderers[0].line, "a vector renderer of type '{}' has no list of class colours; use a "
                    "categorized or graduated style".format(renderers[0].attrs.get("type")))
    raise error(name, None, "no <rasterrenderer> or <renderer-v2> element; use a QGIS style with a paletted, "
                "singleband pseudocolour, categorized or graduated renderer")


def _required(node, path, name):
    for tag in path:
        found = node.child(tag)
        if found is None:
            raise error(name, node.line, "{} has no <{}>".format(node.describe(), tag))
        node = found
    return node


def _qml_entries(parent, tag, name):
    colours, labels = [], []
    for entry in parent.children:
        if entry.tag == tag:
            if "color" not in entry.attrs:  # QGIS would draw it black: say so rather than guess
                raise error(name, entry.line, "<{}> has no color attribute; give it one, such as "
                            "color=\"#ff0000\"".format(tag))
            colours.append(_colour(entry.attrs["color"], name, entry.line, tag))
            labels.append(entry.attrs.get("label", "").strip())
    if not colours:
        raise error(name, parent.line, "{} has no <{}> entries".format(parent.describe(), tag))
    return colours, labels


#: The vector renderers whose classes have a colour each: the element listing them, and its entries.
_CLASSES = {"categorizedSymbol": ("categories", "category"), "graduatedSymbol": ("ranges", "range")}
#: The colours a symbol layer may paint, each with the property that says how (``no``: not at all):
#: a fill or marker's ``color`` first, then a line's colour or a fill's outline.
_PAINTED = (("color", "style"), ("line_color", "line_style"), ("outline_color", "outline_style"))


def _qml_categories(renderer, classes, tag, name):
    """Colours and labels of a categorized (``categories``/``category``) or graduated
    (``ranges``/``range``) renderer's classes, in the file's order, and the labels of those QGIS
    does not draw: unchecked in the legend, or whose symbol is transparent (see _symbol_colour)."""
    listed = _required(renderer, [classes], name)
    symbols = _required(renderer, ["symbols"], name)
    by_name = {symbol.attrs.get("name"): symbol for symbol in symbols.children if symbol.tag == "symbol"}
    colours, labels, hidden = [], [], []
    for entry in listed.children:
        if entry.tag != tag:
            continue
        label = entry.attrs.get("label", "").strip()
        symbol = by_name.get(entry.attrs.get("symbol"))
        if symbol is None:
            raise error(name, entry.line, "{} '{}' names symbol '{}', which <symbols> does not hold"
                        .format(tag, label, entry.attrs.get("symbol")))
        colour, drawn = _symbol_colour(symbol, label, name)
        colours.append(colour)
        labels.append(label)
        if not drawn or entry.attrs.get("render") == "false":  # transparent, or unchecked in the legend
            hidden.append(label)
    if not colours:
        raise error(name, listed.line, "<{}> has no <{}> entries".format(classes, tag))
    return colours, labels, hidden


def _symbol_colour(symbol, label, name):
    """(colour, drawn) of the class ``label``'s symbol: the colour QGIS paints it with, the first
    fill or marker ``color`` of its enabled layers, else the first line colour or outline (a fill
    without brush shows its outline alone), a colour whose style is ``no`` or whose alpha is 0
    not being painted; for a symbol that paints nothing (a class hidden on purpose), its first
    colour, not drawn."""
    nodes = [node for node in symbol.children if node.tag == "layer"]
    layers = [_properties(node) for node in nodes]
    enabled = [properties for node, properties in zip(nodes, layers) if node.attrs.get("enabled", "1") != "0"]
    for among, drawn in ((enabled, True), (enabled, False), (layers, False)):
        for painted in (_PAINTED[:1], _PAINTED[1:]):
            for properties in among:
                for key, style in painted:
                    if key in properties and (not drawn or properties.get(style, ("",))[0] != "no" and
                                              not _transparent(properties[key][0])):
                        text, line, tag = properties[key]
                        return _colour(text, name, line, tag), drawn
    raise error(name, symbol.line, "class '{}' has a symbol (<symbol name=\"{}\">) without a colour of its own (a fill "
                "of points or markers, say); give it a simple fill, line or marker".format(label, symbol.attrs.get("name")))


def _properties(layer):
    """A symbol layer's properties {key: (value, line, tag)}, from ``<prop k v>`` elements and
    ``<Option type="Map">`` (QGIS 3.22 writes both, later versions the latter alone)."""
    properties = {}
    for node in layer.children:
        if node.tag == "prop" and "k" in node.attrs:
            properties.setdefault(node.attrs["k"], (node.attrs.get("v", ""), node.line, "prop"))
        elif node.tag == "Option" and node.attrs.get("type") == "Map":
            for option in node.children:
                if option.tag == "Option" and "name" in option.attrs:
                    properties.setdefault(option.attrs["name"], (option.attrs.get("value", ""), option.line, "Option"))
    return properties


def _transparent(text):
    """Whether a QGIS colour ('r,g,b,a', '#aarrggbb') has alpha 0."""
    text = text.strip()
    parts = text.split(",")
    if len(parts) >= 4:
        return parts[3].strip() in ("0", "0.0")
    return text.startswith("#") and len(text) == 9 and text[1:3] == "00"


def _colour(text, name, line, tag):
    """'#rrggbb', '#rgb', '#aarrggbb' or 'r,g,b[,a[,...]]' (QGIS's encodings) as [r, g, b]."""
    text = text.strip()
    digits = text[1:]
    if text.startswith("#") and len(digits) in (3, 6, 8) and all(c in "0123456789abcdefABCDEF" for c in digits):
        if len(digits) == 3:
            digits = "".join(c * 2 for c in digits)
        return [int(digits[i:i + 2], 16) for i in range(len(digits) - 6, len(digits), 2)]
    parts = text.split(",")
    if len(parts) >= 3 and all(is_byte(part) for part in parts[:3]):
        return [int(float(part)) for part in parts[:3]]
    raise error(name, line, "<{}> colour {!r} is not '#rrggbb' or 'red,green,blue'".format(tag, text))


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
    data = read_bytes(path, name)
    encoding = text_encoding(data[:HEAD])
    if encoding in ("utf-8-sig", None):  # expat reads the declared encoding (UTF-8 by default) itself
        parser = expat.ParserCreate()
    else:  # UTF-16/32, perhaps without a byte-order mark: decode here, tell expat it is UTF-8
        data = read_text(path, name).encode("utf-8")
        parser = expat.ParserCreate("UTF-8")
    stack, roots = [], []

    def start(tag, attrs):
        node = _Node(tag, attrs, parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: stack.pop()
    try:
        parser.Parse(data, True)
    except expat.ExpatError as problem:
        raise error(name, problem.lineno, "not well-formed XML ({}){}".format(
            expat.ErrorString(problem.code), _encoding_hint(data, problem)))
    return roots[0]


def _encoding_hint(data, problem):
    """Why a style written in Latin-1 without saying so does not parse."""
    if problem.code != expat.errors.codes[expat.errors.XML_ERROR_INVALID_TOKEN]:
        return ""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "; it is not UTF-8 text: save it as UTF-8 or declare its encoding in <?xml ...?>"
    return ""


def write(palette, path):
    """A QGIS style with a paletted renderer on band 1: value i is palette entry i."""
    write_lines(path, lines(palette))


def lines(palette):
    """The lines of ``write``'s style (engine.style adds a line of its own before writing them)."""
    entries = []
    for index, (r, g, b) in enumerate(palette.colours.tolist()):
        label = palette.labels[index] if palette.labels else ""
        entries.append('        <paletteEntry value="{}" color="#{:02x}{:02x}{:02x}" alpha="255"{}/>'.format(
            index, r, g, b, ' label="{}"'.format(_xml_attribute(label)) if label else ""))
    return [
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


def _xml_attribute(text):
    if _XML_PLAIN.fullmatch(text):  # most labels (an index, a name): nothing to replace
        return text
    text = NOT_IN_XML.sub("", text)
    for plain, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"),
                           ("\n", "&#10;"), ("\r", "&#13;"), ("\t", "&#9;")):
        text = text.replace(plain, escaped)
    return text


FORMAT = Format("qml", "QGIS style (paletted, singleband pseudocolour, categorized or graduated renderer)", read, write,
                ".qml", extensions=(".qml",), sniff=sniff)
