"""Reading and writing palette files (QGIS-free; GDAL only to read rasters, imported when needed).

``read_palette`` recognises a file by its content first and its extension second; each format is
one module here (its docstring gives its rules) and ``registry.FORMATS`` lists them:

- CSV (any other text, ``csv``): red, green, blue per line, 0-255 integers or 0-1 floats, optional
  header and label column.
- GIMP palette (``gpl``), Adobe colour table (``act``), ESRI colour map (``clr``), QGIS colour map
  export (``qgis_txt``), QGIS style (``qml``), JASC, Windows RIFF and Paint.NET palettes (``jasc``,
  ``riff``, ``paintnet``, read only) and any raster GDAL opens whose band 1 has a colour table (``raster``).
- Colour files of other programs not read here (``registry.FOREIGN``) are refused saying what they are.

In ``.clr``, ``.txt`` and ``.qml`` files the palette index is the entry's position in the file, not
its value (files QGIS writes list entries by increasing value, so the order is the same): the
palette stays dense however the values are numbered. Alpha is read and ignored everywhere.

``write_palette`` writes .csv, .gpl, .act (at most 256 colours, no labels), .clr, .qml (a paletted
renderer style QGIS 3.22+ loads) and .txt (a QGIS colour map export with ``INTERPOLATION:EXACT``);
reading a written file gives back the same colours and labels. Line breaks in labels become
spaces in the line-based formats (.csv, .gpl, .clr, .txt), which cannot hold them.
"""

import os

from . import registry
from ..palette import MAX_COLOURS
from .common import PaletteFileError, encoding_name
from .csv import write_palette_csv
from .qgis_txt import QGIS_EXPORT_HEADER
from .registry import FORMATS, READ_EXTENSIONS, WRITE_EXTENSIONS

__all__ = ["FORMATS", "QGIS_EXPORT_HEADER", "READ_EXTENSIONS", "WRITE_EXTENSIONS", "PaletteFileError",
           "read_palette", "write_palette", "write_palette_csv"]


def read_palette(path):
    """Read a palette file; return (palette, description of how the values were read).

    The description is "0-255 integers" or "0-1 floats" for CSV, else the format, such as
    "GIMP palette" (see each format's module for its index and label rules).

    Whatever is wrong with the file, the error is a PaletteFileError saying what to fix, so a caller
    catches one class: an exception escaping a Processing algorithm aborts ``qgis_process``.
    """
    name = os.path.basename(path)
    if os.path.isdir(path):
        raise PaletteFileError("palette file {} is a folder; choose a palette file".format(path))
    if not os.path.exists(path):
        raise PaletteFileError("palette file {} does not exist".format(path))
    if not os.path.isfile(path):
        raise PaletteFileError("palette file {} is not a regular file; choose a palette file".format(path))
    try:
        if os.path.getsize(path) == 0:
            raise PaletteFileError("palette file {} is empty (0 bytes), so it holds no colours; choose the palette "
                                   "file or save it again".format(name))
        found, encoding = registry.detect(path)
        palette, description = found.read(path, name)
    except PaletteFileError:
        raise
    except OSError as problem:
        raise PaletteFileError("cannot read palette file {}: {}; check that it can be read".format(
            path, problem.strerror or problem)) from problem
    except MemoryError as problem:
        raise PaletteFileError("palette file {} is too large to read; a palette file holds at most {} "
                               "colours".format(path, MAX_COLOURS)) from problem
    except Exception as problem:  # a file this code does not expect: still one sentence, not a crash
        raise PaletteFileError("palette file {} could not be read ({}: {}); check that it is a palette file"
                               .format(path, type(problem).__name__, problem)) from problem
    if found.text and encoding is not None and encoding_name(encoding) != "UTF-8":
        description += ", {} text".format(encoding_name(encoding))
    return palette, description


def write_palette(palette, path):
    """Write ``palette`` in the format its extension names (see WRITE_EXTENSIONS)."""
    extension = os.path.splitext(path)[1].lower()
    found = registry.writer(extension)
    if found is None:
        raise PaletteFileError("cannot write palette file {}: {}; use one of {}".format(
            os.path.basename(path),
            "unknown extension '{}'".format(extension) if extension else "no extension",
            ", ".join(WRITE_EXTENSIONS),
        ))
    found.write(palette, path)
