"""Palette files as people really save them: no silent misreading, and one clear error for anything wrong.

Every failure a file can cause comes out of ``read_palette`` as a PaletteFileError naming the file
(and the line, where there is one) and saying what to fix; the Processing glue catches that one class.
"""

import os
import re
import sys

import pytest

from palettize.palettes.formats import PaletteFileError, read_palette
from palettize.palettes.palette import matplotlib_palette
from rasters import ROOT

DATA = os.path.join(ROOT, "tests", "data", "palettes")


def write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def refused(path, message):
    """The PaletteFileError's text, checked to hold ``message`` (a plain string, not a pattern)."""
    with pytest.raises(PaletteFileError, match=re.escape(message)) as caught:
        read_palette(path)
    return str(caught.value)


# -- other formats, paths ------------------------------------------------------------------------


@pytest.mark.parametrize("renderer, entry", [("paletted", "paletteEntry"), ("singlebandpseudocolor", "item")])
def test_a_style_entry_without_a_colour_is_an_error_not_black(tmp_path, renderer, entry):
    inner = "<colorPalette>{}</colorPalette>" if renderer == "paletted" else \
        "<rastershader><colorrampshader>{}</colorrampshader></rastershader>"
    entries = '\n<{0} value="0" color="#ff0000" label="a"/>\n<{0} value="1" label="b"/>\n'.format(entry)
    style = '<qgis><pipe><rasterrenderer type="{}">{}</rasterrenderer></pipe></qgis>'.format(
        renderer, inner.format(entries))
    refused(write(tmp_path, "p.qml", style),
            'palette file p.qml, line 3: <{}> has no color attribute; give it one, such as color="#ff0000"'
            .format(entry))


# -- optional libraries --------------------------------------------------------------------------


def test_an_mpl_palette_without_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ValueError) as caught:
        matplotlib_palette("viridis", 8)
    message = str(caught.value)
    assert message.startswith("the palette mpl:viridis needs matplotlib, which this Python cannot import")
    assert "python3-matplotlib" in message and "pip install matplotlib" in message
