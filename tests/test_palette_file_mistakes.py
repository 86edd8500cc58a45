"""Palette files as people really save them: no silent misreading, and one clear error for anything wrong.

Every failure a file can cause comes out of ``read_palette`` as a PaletteFileError naming the file
(and the line, where there is one) and saying what to fix; the Processing glue catches that one class.
"""

import csv
import os
import re
import sys

import pytest
from osgeo import gdal

from palettize.palettes import formats
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


def test_a_folder_given_as_palette_file_is_refused_as_a_folder(tmp_path):
    message = refused(str(tmp_path), "is a folder; choose a palette file")
    assert "does not exist" not in message


def test_a_device_given_as_palette_file_is_refused_as_not_a_file():
    if not os.path.exists(os.devnull) or os.path.isfile(os.devnull):
        pytest.skip("no character device to try")
    refused(os.devnull, "is not a regular file; choose a palette file")


def test_a_raster_cut_short_is_refused_by_name_with_gdal_exceptions_on_or_off(tmp_path):
    path = str(tmp_path / "cut.tif")
    dataset = gdal.GetDriverByName("GTiff").Create(path, 64, 64, 1, gdal.GDT_Byte)
    table = gdal.ColorTable()
    table.SetColorEntry(0, (255, 0, 0, 255))
    dataset.GetRasterBand(1).SetColorTable(table)
    dataset = None
    with open(path, "rb") as f:
        data = f.read()
    write(tmp_path, "cut.tif", data[:1000])  # its colour table is cut off
    was = gdal.GetUseExceptions()
    try:
        for use in (True, False):
            gdal.UseExceptions() if use else gdal.DontUseExceptions()
            refused(path, "palette file cut.tif: band 1 of this raster has no colour table")
    finally:
        gdal.UseExceptions() if was else gdal.DontUseExceptions()


@pytest.mark.parametrize("problem", [OSError(5, "Input/output error"), UnicodeDecodeError("utf-8", b"\xff", 0, 1, "x"),
                                     csv.Error("bad"), RuntimeError("GDAL said no"), MemoryError(), IndexError("x")])
def test_whatever_goes_wrong_reading_a_file_comes_out_as_one_palette_file_error(tmp_path, monkeypatch, problem):
    def broken(path, name):
        raise problem

    monkeypatch.setattr(formats.registry.csv.FORMAT, "read", broken)
    with pytest.raises(PaletteFileError, match=r"p\.csv") as caught:
        read_palette(write(tmp_path, "p.csv", "1,2,3\n"))
    assert caught.value.__cause__ is problem
    assert str(caught.value).count(";") == 1  # one sentence with the fix after the semicolon


# -- optional libraries --------------------------------------------------------------------------


def test_an_mpl_palette_without_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ValueError) as caught:
        matplotlib_palette("viridis", 8)
    message = str(caught.value)
    assert message.startswith("the palette mpl:viridis needs matplotlib, which this Python cannot import")
    assert "python3-matplotlib" in message and "pip install matplotlib" in message
