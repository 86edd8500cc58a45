"""The one list of palette file formats: adding a format is a module with a ``FORMAT`` and a line here.

A file is recognised by its content first (each format's ``sniff``, in the order below) and its
extension second; text no format claims is read as CSV, except in files of other programs' colour
formats (FOREIGN), which are refused. Written formats follow the extension.
"""

import os

from . import act, clr, csv, gpl, jasc, paintnet, qgis_txt, qml, raster, riff
from .common import HEAD, QGIS_PROJECT, error, text_encoding

#: In the order file dialogs list them; detection tries the ``sniff`` functions in this order too.
FORMATS = (csv.FORMAT, gpl.FORMAT, act.FORMAT, clr.FORMAT, qml.FORMAT, qgis_txt.FORMAT, jasc.FORMAT, riff.FORMAT,
           paintnet.FORMAT, raster.FORMAT)
#: Files of other programs that hold colours in a form not read here (their text would otherwise be
#: read as CSV, or their bytes said to be no palette file at all), by extension.
FOREIGN = {".cpt": "a GMT colour palette table", ".aco": "Photoshop colour swatches",
           ".ase": "an Adobe swatch exchange file", ".acb": "an Adobe colour book", ".kpl": "a Krita palette"}
#: What any text no format claims is read as.
DEFAULT = csv.FORMAT

#: Extensions ``write_palette`` writes.
WRITE_EXTENSIONS = tuple(f.write_extension for f in FORMATS if f.write is not None)
#: Extensions worth offering in a file dialog; ``read_palette`` also reads other GDAL rasters.
READ_EXTENSIONS = WRITE_EXTENSIONS + tuple(e for f in FORMATS for e in f.extensions if e not in WRITE_EXTENSIONS)
#: Extensions of the text formats: a file named so that holds binary content is no palette file.
TEXT_EXTENSIONS = tuple(f.write_extension for f in FORMATS if f.text and f.write_extension)


def detect(path):
    """(format, text encoding or None) of the file at ``path``, from its first bytes and its extension."""
    extension = os.path.splitext(path)[1].lower()
    if extension == ".qgz":
        raise error(os.path.basename(path), None, QGIS_PROJECT)
    if extension in FOREIGN:
        raise error(os.path.basename(path), None, "{}, a format Palettize does not read; export its colours as a CSV "
                    "of red,green,blue,label lines (or as {})".format(FOREIGN[extension],
                                                                     ", ".join(WRITE_EXTENSIONS[1:])))
    with open(path, "rb") as f:
        head = f.read(HEAD)
    encoding = text_encoding(head)
    text = None if encoding is None else head.decode(encoding, errors="replace").lstrip()
    for candidate in FORMATS:
        if candidate.sniff is not None and candidate.sniff(text, extension):
            return candidate, encoding
    return next((f for f in FORMATS if extension in f.extensions), DEFAULT), encoding


def writer(extension):
    """The format that writes files with this extension, or None."""
    return next((f for f in FORMATS if f.write is not None and f.write_extension == extension), None)
