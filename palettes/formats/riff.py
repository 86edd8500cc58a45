"""Microsoft RIFF palette (a binary ``.pal`` starting with ``RIFF`` and ``PAL ``), as Windows and
its programs write it: a ``data`` chunk holding a version, the number of colours and one red,
green, blue, flags quadruple per colour (the flags are ignored). No labels. Read only."""

import struct

from .common import Format, error, make_palette


def sniff(text, extension):
    return text is None and extension == ".pal"  # binary: read checks the signature


def read(path, name):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"PAL ":
        raise error(name, None, "a binary .pal that is no RIFF palette (which starts with 'RIFF' and 'PAL '); "
                    "save the palette as .gpl or CSV")
    offset = 12
    while offset + 8 <= len(data):
        chunk, size = data[offset:offset + 4], struct.unpack("<I", data[offset + 4:offset + 8])[0]
        body = data[offset + 8:offset + 8 + size]
        if chunk == b"data":
            count = struct.unpack("<H", body[2:4])[0] if len(body) >= 4 else 0
            if len(body) < 4 + 4 * count:
                raise error(name, None, "its data chunk says {} colours and holds {}; save the palette again".format(
                    count, max(0, len(body) - 4) // 4))
            return make_palette(name, [list(body[4 + 4 * i:7 + 4 * i]) for i in range(count)], None), "RIFF palette"
        offset += 8 + size + (size & 1)  # chunks are padded to an even size
    raise error(name, None, "a RIFF palette without a 'data' chunk of colours; save the palette again")


FORMAT = Format("riff", "RIFF palette (Windows .pal, read only)", read, sniff=sniff, text=False)
