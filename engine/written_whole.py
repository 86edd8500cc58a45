"""Whether GDAL wrote a raster's files whole: a TIFF holding every byte its directories point to,
side files that end where they should (QGIS-free).

GDAL 3.10 (Debian 13, QGIS 3.40) reports no error when the disk fills up as it writes a GeoTIFF's
tiles: the short write goes to libtiff's own handler, which prints it and carries on, and the run
ended with exit 0 and a file whose last tiles were cut short. Opening the file with GDAL does not
tell (it reads only the directory); reading every tile back would cost as much as the writing.
The directories tell where every tile ends: a file shorter than that was cut short.
"""

import os
import struct

#: Bytes per value of each TIFF field type (TIFF 6.0 and BigTIFF).
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8, 17: 8,
               18: 8}
#: Offsets and byte counts of the tiles, or of the strips, and their array types.
_DATA_TAGS = {324: 325, 273: 279}
_ARRAY_FORMATS = {3: "H", 4: "I", 16: "Q"}
#: Directories read at most (GDAL writes one per raster, with overviews or a mask one more each).
_MAX_DIRECTORIES = 64


def cut_short(path):
    """A sentence saying how the TIFF at ``path`` was cut short (its directories point past its
    end), or '' when it holds every byte they point to. A file that is no TIFF is not judged ('')."""
    size = os.path.getsize(path)
    with open(path, "rb") as tiff:
        head = tiff.read(16)
        if len(head) < 4 or head[:2] not in (b"II", b"MM"):
            return ""
        order = "<" if head[:2] == b"II" else ">"
        magic = struct.unpack(order + "H", head[2:4])[0]
        if magic not in (42, 43):
            return ""
        if len(head) < (8 if magic == 42 else 16):
            return "it ends within its header, at byte {:,}".format(size)
        if magic == 42:  # classic TIFF: 32-bit offsets
            entry, offset, number = order + "HHI", order + "I", order + "H"
            directory = struct.unpack(offset, head[4:8])[0]
        else:  # BigTIFF: 64-bit offsets
            entry, offset, number = order + "HHQ", order + "Q", order + "Q"
            directory = struct.unpack(offset, head[8:16])[0]
        entry_size, inline = struct.calcsize(entry) + struct.calcsize(offset), struct.calcsize(offset)
        for _ in range(_MAX_DIRECTORIES):
            if directory == 0:
                return ""
            tiff.seek(directory)
            raw = tiff.read(struct.calcsize(number))
            entries = struct.unpack(number, raw)[0] if len(raw) == struct.calcsize(number) else 0
            end = directory + len(raw) + entries * entry_size + inline
            if not raw or end > size:
                return "its directory ends at byte {:,}, beyond its end ({:,} bytes)".format(max(end, directory), size)
            fields = {}
            for _entry in range(entries):
                raw = tiff.read(entry_size)
                tag, kind, count = struct.unpack(entry, raw[:-inline])
                length = count * _TYPE_SIZES.get(kind, 1)
                where = struct.unpack(offset, raw[-inline:])[0]
                if length > inline and where + length > size:
                    return "its field {} ends at byte {:,}, beyond its end ({:,} bytes)".format(tag, where + length, size)
                fields[tag] = (kind, count, raw[-inline:] if length <= inline else where)
            directory = struct.unpack(offset, tiff.read(inline))[0]
            for offsets_tag, counts_tag in _DATA_TAGS.items():
                if offsets_tag in fields and counts_tag in fields:
                    ends = [start + length for start, length in zip(_values(tiff, order, *fields[offsets_tag]),
                                                                    _values(tiff, order, *fields[counts_tag])) if length]
                    if ends and max(ends) > size:
                        return "it holds {:,} bytes where its tiles take {:,}".format(size, max(ends))
    return ""


def _values(tiff, order, kind, count, where):
    """The values of an offsets or byte-counts field: inline in its entry (bytes), or at byte ``where``."""
    code = _ARRAY_FORMATS.get(kind)
    if code is None:
        return []
    size = count * struct.calcsize(code)
    if isinstance(where, bytes):
        raw = where[:size]
    else:
        tiff.seek(where)
        raw = tiff.read(size)
    return list(struct.unpack(order + code * count, raw)) if len(raw) == size else []


def side_file_cut_short(path):
    """How a side file GDAL wrote beside a raster was cut short, or '' (also for other files): its
    .aux.xml (the colour and attribute tables of formats that keep them there) ends with its root
    element's end tag, an ASCII grid's .prj holds a whole CRS. GDAL writes them without checking
    that the disk took every byte: a full disk left an .asc's .aux.xml at 4,096 of its 4,157 bytes,
    and the run said the format could not hold a colour table."""
    name = os.path.basename(path)
    if name.lower().endswith(".aux.xml"):
        size = os.path.getsize(path)
        with open(path, "rb") as side_file:
            side_file.seek(max(0, size - 64))
            whole = side_file.read().rstrip().endswith(b"</PAMDataset>")
        return "" if whole else "{} ends before its last element ({:,} bytes)".format(name, size)
    if name.lower().endswith(".prj"):
        from osgeo import osr

        with open(path, "rb") as side_file:
            text = side_file.read().decode("utf-8", "replace").strip()
        try:
            whole = bool(text) and osr.SpatialReference().ImportFromWkt(text) == 0
        except RuntimeError:  # osr exceptions switched on elsewhere in this process
            whole = False
        return "" if whole else "{} holds no whole CRS ({:,} bytes)".format(name, len(text))
    return ""
