"""Any raster GDAL opens whose band 1 has a colour table (e.g. an earlier Palettize output); GDAL
is imported only when such a file is read.

A raster's colour table keeps entry i as index i. GeoTIFF pads a table to 256 (Byte) or 65536
(UInt16) entries with opaque black, GIF to a power of two, so in such a table trailing black
entries after the last other colour are dropped (the description says how many) -- except those a
pixel holds or the band's category names or raster attribute table name (which also give the labels).
An ESRI ASCII grid (an .asc output, its colour table in the .aux.xml) is text read as a raster."""

import os

from ..palette import MAX_COLOURS
from .common import HEAD, Format, error, make_palette

#: Raster extensions worth offering in a file dialog; any raster GDAL opens is read.
EXTENSIONS = (".tif", ".tiff", ".png", ".gif", ".bmp", ".vrt", ".img", ".asc")


def sniff(text, extension):
    """Binary content, XML that is no QGIS style (e.g. a GDAL .vrt), or an ESRI ASCII grid."""
    return text is None or text.startswith("<") or text[:5].lower() == "ncols"


def read(path, name):
    try:
        from osgeo import gdal
    except ImportError:
        raise error(name, None, "looks like a raster, and reading rasters needs GDAL's Python bindings (osgeo)")
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    gdal.ErrorReset()
    try:
        try:
            dataset = gdal.OpenEx(path, gdal.OF_RASTER)
        except RuntimeError:  # GDAL exceptions switched on by someone else in this process
            dataset = None
        if dataset is None or dataset.RasterCount == 0:
            raise _not_a_raster(path, name, _gdal_reason(gdal, path))
        try:
            return _read_table(gdal, dataset, name, _gdal_reason(gdal, path))
        except RuntimeError as problem:  # with GDAL exceptions on: a damaged file
            raise error(name, None, "GDAL cannot read its colour table ({}); check the file".format(
                str(problem).strip() or "no reason given"))
    finally:
        gdal.PopErrorHandler()


def _gdal_reason(gdal, path):
    """GDAL's last complaint, if any, as " (GDAL: ...)": why a damaged file lacks what it should have."""
    message = (gdal.GetLastErrorMsg() or "").strip()
    if message.startswith(path + ":"):
        message = message[len(path) + 1:].strip()
    return " (GDAL: {})".format(message) if message else ""


#: Signatures of files people pick by mistake, and what they are.
_SPREADSHEETS = ((b"PK\x03\x04", "a ZIP archive, such as an .xlsx or .ods spreadsheet"),
                 (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office file, such as an .xls spreadsheet"))


def _not_a_raster(path, name, reason):
    from .registry import TEXT_EXTENSIONS, WRITE_EXTENSIONS  # the registry imports this module

    with open(path, "rb") as f:
        head = f.read(HEAD)
    for signature, kind in _SPREADSHEETS:
        if head.startswith(signature):
            return error(name, None, "{}, not a palette file; save the sheet as CSV (UTF-8)".format(kind))
    if os.path.splitext(name)[1].lower() in TEXT_EXTENSIONS:  # e.g. a CSV saved as UTF-16 by a CJK locale
        line = head[:head.find(b"\0")].count(b"\n") + 1
        return error(name, line, "not UTF-8 text (it holds NUL bytes) nor a raster GDAL can open; save the "
                     "palette as UTF-8 text")
    return error(name, None, "not a palette file or a raster GDAL can open{}; use {} or a raster with a colour "
                 "table".format(reason, ", ".join(WRITE_EXTENSIONS)))


def _read_table(gdal, dataset, name, reason):
    band = dataset.GetRasterBand(1)
    table = band.GetColorTable()
    if table is None:
        raise error(name, None, "band 1 of this raster has no colour table{}; use a paletted raster (such as a "
                    "Palettize output) or a palette file".format(reason))
    if table.GetPaletteInterpretation() != gdal.GPI_RGB:
        raise error(name, None, "the colour table is not RGB (GDAL palette interpretation {}); use an RGB one"
                    .format(table.GetPaletteInterpretation()))
    colours = [list(table.GetColorEntry(i)[:3]) for i in range(table.GetCount())]
    names, by_range = _raster_names(gdal, band, len(colours))
    description = "GDAL colour table ({}, band 1)".format(dataset.GetDriver().ShortName)
    if _padded(len(colours), dataset.GetDriver().ShortName):
        coloured = [i for i, colour in enumerate(colours) if colour != [0, 0, 0]]
        named = [] if by_range else [i for i, label in enumerate(names) if label]  # a range names padding too
        held = _largest_value(band)
        held = held if held < MAX_COLOURS else -1  # a UInt16's 65535: a fill, often left untagged, not a class
        keep = max([0] + [i + 1 for i in coloured[-1:] + named[-1:]] + [held + 1]) or 1
        if keep < len(colours):
            description += ", {} trailing black padding entries dropped".format(len(colours) - keep)
            colours = colours[:keep]
    labels = [label.strip() for label in names[:len(colours)]]
    labels += [""] * (len(colours) - len(labels))
    palette = make_palette(name, colours, labels)
    nodata = band.GetNoDataValue()
    if nodata is not None and float(nodata).is_integer() and 0 <= nodata < len(colours):
        palette.nodata_index = int(nodata)
        description += ", entry {} its nodata".format(palette.nodata_index)
    return palette, description


def _padded(entries, driver):
    """Whether a table of this many entries may be padded with black by the format (see above)."""
    return entries in (256, 65536) or driver in ("GIF", "BIGGIF") and entries & (entries - 1) == 0


def _largest_value(band):
    """The largest value a pixel of the band holds (its nodata aside), -1 for none: a black entry
    a pixel holds is a class, not padding (a legend whose last class is black, read without the
    .aux.xml that names it)."""
    try:
        return int(band.ComputeRasterMinMax(False)[1])
    except (RuntimeError, TypeError, ValueError):  # no valid pixel (or GDAL exceptions on)
        return -1


def _raster_names(gdal, band, entries):
    """(labels by value, whether they come from ranges of values): the band's category names, else
    its attribute table's name column (the row of each of the colour table's ``entries`` values,
    in a table of value ranges)."""
    names = band.GetCategoryNames()
    if names:
        return list(names), False
    rat = band.GetDefaultRAT()
    if rat is None:
        return [], False
    usages = {rat.GetUsageOfCol(column): column for column in range(rat.GetColumnCount())}
    if gdal.GFU_Name not in usages:
        return [], False
    if gdal.GFU_MinMax not in usages and (gdal.GFU_Min in usages and gdal.GFU_Max in usages or
                                          rat.GetLinearBinning()[0]):
        rows = [rat.GetRowOfValue(value) for value in range(entries)]  # -1: in no range
        return [rat.GetValueAsString(row, usages[gdal.GFU_Name]) if row >= 0 else "" for row in rows], True
    by_value = {}
    for row in range(rat.GetRowCount()):
        value = rat.GetValueAsInt(row, usages[gdal.GFU_MinMax]) if gdal.GFU_MinMax in usages else row
        if 0 <= value <= MAX_COLOURS:
            by_value[value] = rat.GetValueAsString(row, usages[gdal.GFU_Name])
    return ([by_value.get(value, "") for value in range(max(by_value) + 1)] if by_value else []), False


FORMAT = Format("raster", "Raster with a colour table (read only)", read, extensions=EXTENSIONS, sniff=sniff,
                text=False)
