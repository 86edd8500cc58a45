"""Adobe colour table (``.act``): 256 RGB triplets (768 bytes), optionally followed by the colour
count and the transparent index as big-endian 16-bit integers (772 bytes). No labels. The content
has no signature, so only the extension recognises it."""

import os
import struct

import numpy as np

from .common import Format, PaletteFileError, error, make_palette


def sniff(text, extension):
    return extension == ".act"


def read(path, name):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) not in (768, 772):
        raise error(name, None, "{} bytes; an Adobe colour table (.act) has 768 bytes, or 772 with a colour count"
                    .format(len(data)))
    count, description = 256, "Adobe colour table"
    if len(data) == 772:
        count, transparent = struct.unpack(">HH", data[768:])
        if not 1 <= count <= 256:
            raise error(name, None, "bytes 769-770 give {} colours; an Adobe colour table holds 1 to 256"
                        .format(count))
        if transparent < count:
            description += " (its transparent index {} is read as an ordinary colour)".format(transparent)
    colours = np.frombuffer(data[:768], dtype=np.uint8).reshape(256, 3)[:count]
    return make_palette(name, colours.tolist(), None), description


def write(palette, path):
    if len(palette) > 256:
        raise PaletteFileError("cannot write palette file {}: an Adobe colour table (.act) holds at most 256 "
                               "colours and this palette has {}; use .gpl, .clr, .qml, .txt or .csv"
                               .format(os.path.basename(path), len(palette)))
    table = np.zeros((256, 3), dtype=np.uint8)
    table[:len(palette)] = palette.colours
    with open(path, "wb") as f:
        f.write(table.tobytes() + struct.pack(">HH", len(palette), 0xFFFF))


FORMAT = Format("act", "Adobe colour table (at most 256 colours, no labels)", read, write, ".act",
                extensions=(".act",), sniff=sniff, text=False)
