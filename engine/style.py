"""The indexed raster's QGIS style as text: a paletted renderer with one class per palette entry.

GeoTIFF pads colour tables to 256 or 65,536 entries, which QGIS would show as that many classes;
the style keeps exactly the palette, with its labels (an entry's index where it has none). Written
beside the output as <output>.qml, which QGIS loads whenever the file is opened, by the plugin and
the command line alike; the text is the palette file format's .qml (palettes.formats). The .qml
ends with a comment naming the raster it was written for, so a later run replaces only its own
style, never a user's file (a palette file, the input's own style, a style for another raster).
"""

import functools
import os
import re

import numpy as np

from ..palettes.formats import qml
from ..palettes.formats.common import write_lines
from ..palettes.palette import Palette
from .outputs import connection_parts, same_file_key

def style_path(raster_path):
    return os.path.splitext(raster_path)[0] + ".qml"


#: The mark of a style Palettize wrote (see _mark), with the raster's name.
_MARKED = re.compile("<!-- Palettize style for (.*?) -->")


def _mark(raster_path):
    """The comment that marks a .qml as the style Palettize wrote for ``raster_path``: its name, made
    fit for an XML comment (no "--", which one replace leaves in "---", and no control characters)."""
    name = qml.NOT_IN_XML.sub("?", os.path.basename(raster_path))
    while "--" in name:
        name = name.replace("--", "- -")
    return "<!-- Palettize style for {} -->".format(name)


def style_conflict(raster_path, inputs=()):
    """Why the style beside ``raster_path`` must not be written (a user's file is there, or it would
    be the style QGIS opens one of the ``inputs`` with: map.xyz written beside map.tif), or '' when
    it may."""
    path = style_path(raster_path)
    for source in inputs:
        raster = style_owner(path, source) if source else None
        if raster:
            return "{} would also be the style QGIS opens {}: it was not written (give the output another " \
                   "name)".format(path, style_input_name(raster, source))
    if not os.path.lexists(path):
        return ""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    if _mark(raster_path) in text:
        return ""
    name, sibling = os.path.basename(raster_path), _MARKED.search(text)
    if sibling:  # map.img written beside map.tif: QGIS opens both with map.qml
        return "{} is the style Palettize wrote for {}, which QGIS opens {} with too: it was kept, and QGIS draws " \
               "{} with the classes of {} (give the output another name)".format(
                   path, sibling.group(1), name, name, sibling.group(1))
    return "{} exists and is not a style Palettize wrote for {}: it was kept".format(path, name)


def style_owner(path, source):
    """The file whose style QGIS opens ``path`` as, when it is the input ``source``'s: the .qml
    beside the input by the name it is given, or beside the file it is (through a link, or inside a
    GDAL connection string such as GTIFF_DIR:1:map.tif); else None."""
    parts = connection_parts(source)
    raster = parts[0] if parts else source
    for name in (raster, os.path.realpath(raster)):
        if same_file_key(style_path(name)) == same_file_key(path):
            return name
    return None


def style_input_name(raster, source):
    """"the input map.tif with", or "map.tif with (the input alias.tif is that file)": the end of a
    message naming the file ``raster`` whose style QGIS opens (see style_owner) and the input."""
    if raster == source:
        return "the input {} with".format(os.path.basename(source))
    return "{} with (the input {} is that file)".format(os.path.basename(raster), os.path.basename(source))


def write_style(raster_path, palette, path=None):
    """Write the .qml for the indexed raster at ``raster_path``, marked as Palettize's, at ``path``
    (default <output>.qml; a staged path, see outputs.OutputFiles); returns the path written."""
    path = path or style_path(raster_path)
    lines = _labelled_lines(palette.colours.tobytes(), tuple(palette.label(i) for i in range(len(palette))))
    write_lines(path, list(lines) + [_mark(raster_path)])  # a comment after the root element: QGIS ignores it
    return path


@functools.lru_cache(maxsize=4)
def _labelled_lines(colours, labels):
    """qml.lines of the palette of RGB bytes ``colours`` with an entry's index where it has no
    label, kept for the next run with that palette (an archive's sheets): 0.4 ms a run for 256."""
    return tuple(qml.lines(Palette(np.frombuffer(colours, dtype=np.uint8).reshape(-1, 3), labels)))
