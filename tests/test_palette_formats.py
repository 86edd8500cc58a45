"""Users bring palettes from GIMP, Photoshop, ArcGIS, QGIS styles and paletted rasters, and take them back.

QGIS-free: the QGIS-made files under tests/data/palettes were written once by QGIS 3.22
(make_qgis_fixtures.py there) and are read here as plain files.
"""

from pathlib import Path
import os
import re
import struct

import numpy as np
import pytest
from osgeo import gdal

from palettize.palettes.formats import (READ_EXTENSIONS, WRITE_EXTENSIONS, PaletteFileError, read_palette,
                                        write_palette)
from palettize.palettes.palette import MAX_COLOURS, Palette, builtin_palette
from rasters import ROOT, write_file

DATA = os.path.join(ROOT, "tests", "data", "palettes")
GEOLOGY_COLOURS = [[230, 120, 90], [90, 160, 80], [250, 240, 180], [40, 40, 60]]
LABELLED_FORMATS = [".csv", ".gpl", ".clr", ".qml", ".txt"]
TRICKY_LABELS = ["Granite & <b>", 'Schist "x", wet', "", "Sand; fine", "Löss", "1,2,3", "# not a comment",
                 "Color entry 2"]


def sample(name):
    return os.path.join(DATA, name)




def random_palette(count, seed=0, labels=True):
    colours = np.random.default_rng(seed).integers(0, 256, (count, 3))
    return Palette(colours, ["class {}".format(i) for i in range(count)] if labels else None)


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("extension", LABELLED_FORMATS)
def test_writing_then_reading_keeps_colours_and_tricky_labels(tmp_path, extension):
    colours = np.random.default_rng(1).integers(0, 256, (len(TRICKY_LABELS), 3))
    palette = Palette(colours, TRICKY_LABELS)
    path = str(tmp_path / ("out" + extension))
    write_palette(palette, path)
    assert read_palette(path)[0] == palette


@pytest.mark.parametrize("extension", WRITE_EXTENSIONS)
def test_a_palette_without_labels_reads_back_without_labels(tmp_path, extension):
    palette = builtin_palette("win256")
    palette.labels = None
    path = str(tmp_path / ("win256" + extension))
    write_palette(palette, path)
    back = read_palette(path)[0]
    assert back == palette
    assert back.labels is None


@pytest.mark.parametrize("extension", LABELLED_FORMATS)
def test_the_largest_palette_round_trips(tmp_path, extension):
    palette = random_palette(MAX_COLOURS, seed=2)
    path = str(tmp_path / ("big" + extension))
    write_palette(palette, path)
    assert read_palette(path)[0] == palette


def test_an_adobe_colour_table_keeps_the_colours_and_their_count(tmp_path):
    palette = random_palette(17, labels=False)
    path = str(tmp_path / "out.act")
    write_palette(palette, path)
    assert os.path.getsize(path) == 772
    assert read_palette(path) == (palette, "Adobe colour table")


def test_an_adobe_colour_table_without_a_count_has_256_colours(tmp_path):
    colours = np.random.default_rng(3).integers(0, 256, (256, 3)).astype(np.uint8)
    palette, description = read_palette(write_file(tmp_path, "photoshop.act", colours.tobytes()))
    assert np.array_equal(palette.colours, colours) and description == "Adobe colour table"


def test_an_adobe_transparent_index_is_read_as_an_ordinary_colour(tmp_path):
    data = bytes(range(12)) + bytes(756) + struct.pack(">HH", 4, 2)
    palette, description = read_palette(write_file(tmp_path, "web.act", data))
    assert palette.colours.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    assert description == "Adobe colour table (its transparent index 2 is read as an ordinary colour)"


def test_an_adobe_colour_table_holds_no_labels(tmp_path):
    path = str(tmp_path / "out.act")
    write_palette(random_palette(3), path)
    assert read_palette(path)[0].labels is None


def test_an_adobe_colour_table_refuses_more_than_256_colours(tmp_path):
    with pytest.raises(PaletteFileError, match=r"out\.act: .* at most 256 colours and this palette has 257"):
        write_palette(random_palette(257), str(tmp_path / "out.act"))


def test_the_gimp_palette_name_is_the_palette_name(tmp_path):
    palette = random_palette(2)
    palette.name = "Field sheet"
    path = str(tmp_path / "out.gpl")
    write_palette(palette, path)
    assert read_palette(path)[0].name == "Field sheet"


def test_line_breaks_in_labels_become_spaces_in_line_formats(tmp_path):
    palette = Palette([[1, 2, 3]], ["two\nlines"])
    for extension in (".csv", ".gpl", ".clr", ".txt"):
        path = str(tmp_path / ("out" + extension))
        write_palette(palette, path)
        assert read_palette(path)[0].labels == ("two lines",), extension


def test_a_qgis_style_keeps_line_breaks_in_labels(tmp_path):
    palette = Palette([[1, 2, 3]], ["two\nlines\tand a tab"])
    path = str(tmp_path / "out.qml")
    write_palette(palette, path)
    assert read_palette(path)[0] == palette


def test_the_written_qgis_style_is_a_paletted_renderer_with_one_entry_per_index(tmp_path):
    path = str(tmp_path / "out.qml")
    write_palette(Palette([[255, 0, 0], [0, 128, 0]], ["Granite & <b>", ""]), path)
    text = Path(path).read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n<qgis ")
    assert '<rasterrenderer type="paletted" band="1"' in text
    assert re.findall(r"<paletteEntry [^>]*>", text) == [
        '<paletteEntry value="0" color="#ff0000" alpha="255" label="Granite &amp; &lt;b&gt;"/>',
        '<paletteEntry value="1" color="#008000" alpha="255"/>',
    ]


def test_the_written_colour_map_is_an_exact_qgis_export(tmp_path):
    path = str(tmp_path / "out.txt")
    write_palette(Palette([[255, 0, 0], [0, 128, 0]], ["Granite", ""]), path)
    assert Path(path).read_text(encoding="utf-8") == (
        "# QGIS Generated Color Map Export File\nINTERPOLATION:EXACT\n0,255,0,0,255,Granite\n"
        "1,0,128,0,255,Color entry 2\n"
    )


def test_an_unknown_extension_is_refused_naming_the_supported_ones(tmp_path):
    with pytest.raises(PaletteFileError, match=r"out\.pal: unknown extension '\.pal'; use one of \.csv, \.gpl, "
                                               r"\.act, \.clr, \.qml, \.txt"):
        write_palette(random_palette(2), str(tmp_path / "out.pal"))


def test_file_dialogs_can_offer_every_writable_format_and_rasters():
    assert set(WRITE_EXTENSIONS) <= set(READ_EXTENSIONS) and ".tif" in READ_EXTENSIONS
    assert ".asc" in READ_EXTENSIONS  # an ESRI ASCII grid palettize wrote, its table in the .aux.xml


# -- reading files made elsewhere ----------------------------------------------------------------


def test_a_gimp_palette_reads_colour_names_as_labels():
    palette, description = read_palette(sample("geology.gpl"))
    assert description == "GIMP palette"
    assert palette.name == "Geology (field map)"
    assert palette.colours.tolist() == GEOLOGY_COLOURS + [[255, 255, 255]]
    assert palette.labels == ("Granite", "Schist & gneiss", "Löss", "Basalt <dykes>", "")


def test_an_esri_colour_map_reads_entries_in_file_order_whatever_their_values():
    palette, description = read_palette(sample("landcover_esri.clr"))
    assert description == ("ESRI .clr colour map; its values 1, 2, 3, ... are not kept: the output's indices are the "
                           "entries' order, 0, 1, 2, ...")  # in the log: a class value is not its index
    assert palette.colours.tolist() == [[0, 112, 255], [38, 115, 0], [255, 255, 190], [168, 0, 0]]
    assert palette.labels is None


def test_an_esri_colour_map_reads_trailing_text_as_labels(tmp_path):
    path = write_file(tmp_path, "units.clr", "1 255 0 0 Granite, pink\n2 0 0 255\n7 0 255 0 Schist 2\n")
    palette, _ = read_palette(path)
    assert palette.labels == ("Granite, pink", "", "Schist 2")


def test_a_qgis_paletted_export_skips_its_alpha_column():
    palette, description = read_palette(sample("qgis_paletted_export.clr"))
    assert description == ("QGIS .clr colour map (alpha column ignored); its values 1, 2, 5, ... are not kept: the "
                           "output's indices are the entries' order, 0, 1, 2, ...")
    assert palette.colours.tolist() == GEOLOGY_COLOURS
    assert palette.labels == ("Granite", "Schist & gneiss", "Löss", "")


def test_a_qgis_colour_map_export_reads_labels_with_commas_and_drops_placeholders():
    palette, description = read_palette(sample("qgis_colour_map_export.txt"))
    assert description == ("QGIS colour map export; its values 10, 50, 100 are not kept: the output's indices are the "
                           "entries' order, 0, 1, 2")
    assert palette.colours.tolist() == [[10, 20, 30], [200, 100, 50], [255, 255, 0]]
    assert palette.labels == ("low", "mid, wet", "")


def test_a_qgis_export_of_discrete_classes_reads_its_last_class_whose_value_is_inf():
    # QGIS 3.22's "Export Color Map to File" of a discrete classification: the last value is 'inf'.
    palette, description = read_palette(sample("qgis_discrete_classes_export.txt"))
    assert description == ("QGIS colour map export; its values 25, 50, 75, ... are not kept: the output's indices are "
                           "the entries' order, 0, 1, 2, ...")
    assert palette.colours.tolist() == [[0, 0, 0], [85, 85, 85], [170, 170, 170], [255, 255, 255]]
    assert palette.labels == ("25", "50", "75", "inf")


def test_a_space_separated_colour_map_with_the_interpolation_line_reads_as_qgis(tmp_path):
    path = write_file(tmp_path, "map.txt", "INTERPOLATION:EXACT\n1 255 0 0 255 Granite rock\n2 0 0 255\n")
    palette, description = read_palette(path)
    assert description == ("QGIS colour map export; its values 1, 2 are not kept: the output's indices are the "
                           "entries' order, 0, 1")
    assert palette.colours.tolist() == [[255, 0, 0], [0, 0, 255]]
    assert palette.labels == ("Granite rock", "")


def test_a_plain_csv_with_a_txt_extension_still_reads_as_csv(tmp_path):
    palette, description = read_palette(write_file(tmp_path, "colours.txt", "red,green,blue\n1.0,0,0\n0,0.5,1\n"))
    assert (palette.colours.tolist(), description) == ([[255, 0, 0], [0, 128, 255]], "0-1 floats")
    palette, description = read_palette(write_file(tmp_path, "colours.txt", "r g b name\n255 0 0 Granite\n"))
    assert (palette.colours.tolist(), palette.labels, description) == ([[255, 0, 0]], ("Granite",), "0-255 integers")


def test_a_jasc_palette_reads_its_colours_in_order_with_or_without_alpha(tmp_path):
    # Paint Shop Pro's format, also written by Aseprite and offered by palette sites as .pal.
    path = write_file(tmp_path, "sweetie.pal", "JASC-PAL\r\n0100\r\n3\r\n26 28 44\r\n93 39 93\r\n177 62 83\r\n")
    assert read_palette(path) == (Palette([[26, 28, 44], [93, 39, 93], [177, 62, 83]]), "JASC palette")
    path = write_file(tmp_path, "alpha.pal", "JASC-PAL\n0100\n2\n255 0 0 255\n0 255 0 128\n")
    assert read_palette(path)[0].colours.tolist() == [[255, 0, 0], [0, 255, 0]]
    assert ".pal" in READ_EXTENSIONS


def test_a_paletted_qgis_style_reads_its_entries_in_file_order():
    palette, description = read_palette(sample("paletted_qgis322.qml"))
    assert description == ("QGIS paletted style; its values 1, 2, 5, ... are not kept: the output's indices are the "
                           "entries' order, 0, 1, 2, ...")
    assert palette.colours.tolist() == GEOLOGY_COLOURS
    assert palette.labels == ("Granite", "Schist & gneiss", "Löss", "")


def test_a_pseudocolour_qgis_style_reads_its_class_colours():
    palette, description = read_palette(sample("pseudocolour_qgis322.qml"))
    assert description == "QGIS pseudocolour style (class colours)"
    assert palette.colours.tolist() == [[10, 20, 30], [200, 100, 50], [255, 255, 0]]
    assert palette.labels == ("low", "mid, wet", "")


def test_a_categorized_qgis_322_style_reads_each_category_fill_colour_and_label():
    palette, description = read_palette(sample("categorized_qgis322.qml"))
    assert description == "QGIS categorized style (symbol colours)"
    assert palette.colours.tolist() == GEOLOGY_COLOURS
    assert palette.labels == ("Granite", "Schist & gneiss", "Löss", "Basalt <dykes>")


def test_a_categorized_style_in_the_newer_option_form_reads_the_same(tmp_path):
    text = Path(sample("categorized_qgis322.qml")).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.strip().startswith("<prop ")]
    newer = "\n".join(re.sub(r'value="(\d+,\d+,\d+,\d+)"', r'value="\1,rgb:0.5,0.5,0.5,1"', line)
                      if 'name="color"' in line else line for line in lines)
    assert "<prop " not in newer and "rgb:0.5" in newer
    palette, _ = read_palette(write_file(tmp_path, "newer.qml", newer))
    assert palette.colours.tolist() == GEOLOGY_COLOURS


def test_a_categorized_line_style_reads_the_line_colour(tmp_path):
    qml = ('<qgis><renderer-v2 type="categorizedSymbol"><categories>'
           '<category value="a" symbol="0" label="Fault"/></categories><symbols>'
           '<symbol name="0" type="line"><layer class="SimpleLine"><prop k="line_color" v="12,34,56,255"/>'
           '</layer></symbol></symbols></renderer-v2></qgis>')
    palette, _ = read_palette(write_file(tmp_path, "faults.qml", qml))
    assert (palette.colours.tolist(), palette.labels) == ([[12, 34, 56]], ("Fault",))


def test_a_geotiff_colour_table_drops_only_its_trailing_black_padding():
    palette, description = read_palette(sample("colour_table.tif"))
    assert description == "GDAL colour table (GTiff, band 1), 251 trailing black padding entries dropped"
    assert palette.colours.tolist() == [[230, 120, 90], [0, 0, 0], [90, 160, 80], [250, 240, 180], [40, 40, 60]]


def paletted_raster(path, colours, driver="GTiff", names=None, rat_names=None):
    source = gdal.GetDriverByName("MEM").Create("", 2, 2, 1, gdal.GDT_Byte)
    table = gdal.ColorTable()
    for index, colour in enumerate(colours):
        table.SetColorEntry(index, tuple(colour) + (255,))
    band = source.GetRasterBand(1)
    band.SetRasterColorTable(table)
    if names:
        band.SetCategoryNames(names)
    if rat_names:
        rat = gdal.RasterAttributeTable()
        rat.CreateColumn("value", gdal.GFT_Integer, gdal.GFU_MinMax)
        rat.CreateColumn("unit", gdal.GFT_String, gdal.GFU_Name)
        for row, (value, name) in enumerate(rat_names):
            rat.SetValueAsInt(row, 0, value)
            rat.SetValueAsString(row, 1, name)
        band.SetDefaultRAT(rat)
    gdal.GetDriverByName(driver).CreateCopy(str(path), source).FlushCache()
    return str(path)


def test_a_png_colour_table_keeps_every_entry_even_trailing_black(tmp_path):
    path = paletted_raster(tmp_path / "map.png", [[255, 0, 0], [0, 0, 0], [0, 0, 0]], driver="PNG")
    palette, description = read_palette(path)
    assert description == "GDAL colour table (PNG, band 1)"
    assert palette.colours.tolist() == [[255, 0, 0], [0, 0, 0], [0, 0, 0]]


def test_raster_category_names_become_labels_and_keep_a_named_trailing_black(tmp_path):
    path = paletted_raster(tmp_path / "map.tif", [[255, 0, 0], [0, 0, 0]], names=["Granite", "Basalt"])
    palette, description = read_palette(path)
    assert palette.colours.tolist() == [[255, 0, 0], [0, 0, 0]]
    assert palette.labels == ("Granite", "Basalt")
    assert description.endswith("254 trailing black padding entries dropped")


def test_a_trailing_black_entry_a_pixel_holds_is_a_class_not_padding(tmp_path):
    """A legend whose last class is black, read from its GeoTIFF without the .aux.xml naming it: the
    class was dropped as padding, and its pixels went to other classes."""
    source = gdal.GetDriverByName("MEM").Create("", 3, 1, 1, gdal.GDT_Byte)
    table = gdal.ColorTable()
    for index, colour in enumerate([(250, 240, 180), (90, 160, 80), (0, 0, 0)]):
        table.SetColorEntry(index, colour + (255,))
    source.GetRasterBand(1).SetRasterColorTable(table)
    source.GetRasterBand(1).WriteArray(np.array([[0, 2, 1]], dtype=np.uint8))
    gdal.GetDriverByName("GTiff").CreateCopy(str(tmp_path / "legend.tif"), source).FlushCache()
    palette, description = read_palette(str(tmp_path / "legend.tif"))
    assert palette.colours.tolist() == [[250, 240, 180], [90, 160, 80], [0, 0, 0]]
    assert description.endswith("253 trailing black padding entries dropped")


def test_the_largest_value_of_its_type_is_a_fill_not_a_class(tmp_path):
    """A UInt16 legend whose background holds 65535, untagged: read as 65,536 colours, it was refused."""
    source = gdal.GetDriverByName("MEM").Create("", 3, 1, 1, gdal.GDT_UInt16)
    table = gdal.ColorTable()
    for index, colour in enumerate([(250, 240, 180), (90, 160, 80)] + [(0, 0, 0)] * 65534):
        table.SetColorEntry(index, colour + (255,))
    source.GetRasterBand(1).SetRasterColorTable(table)
    source.GetRasterBand(1).WriteArray(np.array([[0, 65535, 1]], dtype=np.uint16))
    gdal.GetDriverByName("GTiff").CreateCopy(str(tmp_path / "legend.tif"), source).FlushCache()
    palette, _ = read_palette(str(tmp_path / "legend.tif"))
    assert palette.colours.tolist() == [[250, 240, 180], [90, 160, 80]]


def test_excel_s_separator_line_is_skipped(tmp_path):
    """A CSV saved for Excel notes its delimiter on a first line 'sep=;': it was refused, naming line 2."""
    for delimiter in ";\t":
        text = "sep=;\nred;green;blue;unit\n255;0;0;Sand\n0;0;255;Clay\n".replace(";", delimiter)
        palette, _ = read_palette(write_file(tmp_path, "legend.csv", text))
        assert (palette.colours.tolist(), palette.labels) == ([[255, 0, 0], [0, 0, 255]], ("Sand", "Clay"))


def test_a_byte_legend_whose_last_class_255_is_black_keeps_it(tmp_path):
    """A reversed grey ramp of 256 classes read without its .aux.xml: the type's largest value, held
    by pixels, was taken for a fill and class 255 (black) dropped, its pixels given grey 1."""
    source = gdal.GetDriverByName("MEM").Create("", 256, 1, 1, gdal.GDT_Byte)
    table = gdal.ColorTable()
    for index in range(256):
        table.SetColorEntry(index, (255 - index,) * 3 + (255,))
    source.GetRasterBand(1).SetRasterColorTable(table)
    source.GetRasterBand(1).WriteArray(np.arange(256, dtype=np.uint8).reshape(1, 256))
    gdal.GetDriverByName("GTiff").CreateCopy(str(tmp_path / "legend.tif"), source).FlushCache()
    palette, description = read_palette(str(tmp_path / "legend.tif"))
    assert (len(palette), palette.colours[255].tolist()) == (256, [0, 0, 0])
    assert description == "GDAL colour table (GTiff, band 1)"


def test_a_gif_legend_drops_the_black_its_format_pads_its_table_with(tmp_path):
    """GIF stores a table of a power of two entries: a five-colour legend read as eight, three of
    them black classes no legend has."""
    colours = [[250, 240, 180], [90, 160, 80], [10, 20, 30], [200, 0, 0], [0, 0, 255]]
    path = paletted_raster(tmp_path / "legend.gif", colours, driver="GIF")
    assert gdal.Open(path).GetRasterBand(1).GetColorTable().GetCount() == 8
    palette, description = read_palette(path)
    assert palette.colours.tolist() == colours
    assert description == "GDAL colour table (GIF, band 1), 3 trailing black padding entries dropped"


def test_an_ascii_grid_output_is_read_as_the_raster_it_is(tmp_path):
    """An .asc output keeps its colour table and labels in its .aux.xml: given as PALETTE_FILE, the
    text was read as a CSV and refused ("2 column(s); need red, green, blue")."""
    path = paletted_raster(tmp_path / "classes.asc", [[255, 0, 0], [0, 255, 0], [0, 0, 255]], driver="AAIGrid",
                           names=["Sand", "Clay", "Water"])
    palette, description = read_palette(path)
    assert (palette.colours.tolist(), palette.labels) == ([[255, 0, 0], [0, 255, 0], [0, 0, 255]],
                                                          ("Sand", "Clay", "Water"))
    assert description == "GDAL colour table (AAIGrid, band 1)"


def test_raster_attribute_table_names_become_labels_by_value(tmp_path):
    path = paletted_raster(tmp_path / "map.tif", [[255, 0, 0], [0, 255, 0], [0, 0, 255]],
                           rat_names=[(2, "Schist"), (0, "Granite")])
    palette, _ = read_palette(path)
    assert palette.labels == ("Granite", "", "Schist")


def test_an_attribute_table_of_value_ranges_labels_each_entry_by_the_range_holding_its_value(tmp_path):
    """Rows of Min and Max columns were taken for values 0, 1, 2, ...: red (value 1) got the
    second range's label, green and blue none, and unused black entries the rest."""
    colours = [[0, 0, 0]] * 11
    colours[1], colours[5], colours[10] = [255, 0, 0], [0, 255, 0], [0, 0, 255]
    path = paletted_raster(tmp_path / "ranges.tif", colours)
    dataset = gdal.Open(path, gdal.GA_Update)
    rat = gdal.RasterAttributeTable()
    for name, kind, usage in (("Min", gdal.GFT_Integer, gdal.GFU_Min), ("Max", gdal.GFT_Integer, gdal.GFU_Max),
                              ("Name", gdal.GFT_String, gdal.GFU_Name)):
        rat.CreateColumn(name, kind, usage)
    for row, (low, high, name) in enumerate([(0, 3, "low"), (4, 7, "mid"), (8, 255, "high")]):
        rat.SetValueAsInt(row, 0, low)
        rat.SetValueAsInt(row, 1, high)
        rat.SetValueAsString(row, 2, name)
    dataset.GetRasterBand(1).SetDefaultRAT(rat)
    dataset = None
    palette, description = read_palette(path)
    assert [palette.labels[entry] for entry in (1, 5, 10)] == ["low", "mid", "high"]
    assert palette.labels[:8] == ("low",) * 4 + ("mid",) * 4
    # the last range reaches past the colours: the GeoTIFF's black padding is no class for it
    assert len(palette) == 11 and description.endswith("245 trailing black padding entries dropped")


def test_a_raster_without_a_colour_table_is_refused(tmp_path):
    path = str(tmp_path / "rgb.tif")
    gdal.GetDriverByName("GTiff").Create(path, 2, 2, 3, gdal.GDT_Byte).FlushCache()
    with pytest.raises(PaletteFileError, match=r"palette file rgb\.tif: band 1 of this raster has no colour table"):
        read_palette(path)


def test_a_binary_file_that_is_no_raster_is_refused(tmp_path):
    path = write_file(tmp_path, "junk.bin", b"\0\1\2junk")
    with pytest.raises(PaletteFileError, match=r"junk\.bin: not a palette file or a raster GDAL can open"):
        read_palette(path)


def test_content_wins_over_the_extension(tmp_path):
    gimp = Path(sample("geology.gpl")).read_text(encoding="utf-8")
    assert read_palette(write_file(tmp_path, "geology.txt", gimp))[1] == "GIMP palette"
    style = Path(sample("paletted_qgis322.qml")).read_text(encoding="utf-8")
    assert read_palette(write_file(tmp_path, "style.xml", style))[1].startswith("QGIS paletted style; its values 1, 2, 5")


# -- malformed files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.gpl", "GIMP Palete\n1 2 3\n", "bad.gpl, line 1: a GIMP palette starts with a 'GIMP Palette' line"),
        ("bad.gpl", "GIMP Palette\nName: x\n255 0\n", "bad.gpl, line 3: 2 column(s); need red, green, blue"),
        ("bad.gpl", "GIMP Palette\n#\n255 0 300 Red\n", "bad.gpl, line 3: 300 is out of range"),
        ("bad.gpl", "GIMP Palette\n10 x 20 Red\n", "bad.gpl, line 2: 'x' is not a number"),
        ("bad.gpl", "GIMP Palette\nName: empty\n", "bad.gpl holds no colours"),
        ("bad.gpl", "GIMP Palette\n1 2 3 caf\xe9\n".encode("latin-1"), "bad.gpl, line 2: not UTF-8 text"),
        ("bad.clr", "1 255 0 0\n2 255 0\n", "bad.clr, line 2: 3 column(s); need value, red, green, blue"),
        ("bad.clr", "# colours\n1 255 0 x\n", "bad.clr, line 2: 'x' is not a number"),
        ("bad.clr", "one 255 0 0\n", "bad.clr, line 1: 'one' is not a number"),
        ("bad.clr", "1 12.5 0 0\n", "bad.clr, line 1: 12.5 is out of range"),
        ("bad.txt", "# QGIS Generated Color Map Export File\nINTERPOLATION:EXACT\n1,255,0\n",
         "bad.txt, line 3: 3 column(s); need value,red,green,blue,alpha,label"),
        ("bad.txt", "INTERPOLATION:EXACT\n1,256,0,0,255,x\n", "bad.txt, line 2: 256 is out of range"),
        ("bad.txt", "INTERPOLATION:EXACT:AGAIN\n1,25,0,0,255,x\n", "bad.txt, line 1: 'INTERPOLATION:EXACT:AGAIN'"),
        ("bad.txt", "INTERPOLATION:EXACT\n1,2,3,4,opaque,x\n", "bad.txt, line 2: 'opaque' is not a number"),
        ("bad.qml", "<qgis>\n<pipe>\n</qgis>\n", "bad.qml, line 3: not well-formed XML (mismatched tag)"),
        ("bad.qml", "<style/>\n", "bad.qml, line 1: the root element is <style>"),
        ("bad.qml", "<qgis><pipe/></qgis>", "bad.qml: no <rasterrenderer> or <renderer-v2> element"),
        ("bad.qml", '<qgis>\n<pipe>\n<rasterrenderer type="paletted" band="1">\n</rasterrenderer></pipe></qgis>',
         'bad.qml, line 3: <rasterrenderer type="paletted"> has no <colorPalette>'),
        ("bad.qml", '<qgis><pipe><rasterrenderer type="paletted">\n<colorPalette>\n</colorPalette>'
                    '</rasterrenderer></pipe></qgis>', "bad.qml, line 2: <colorPalette> has no <paletteEntry> entries"),
        ("bad.qml", '<qgis><pipe><rasterrenderer type="paletted"><colorPalette>\n<paletteEntry value="0" '
                    'color="#ff00" label="a"/>\n</colorPalette></rasterrenderer></pipe></qgis>',
         "bad.qml, line 2: <paletteEntry> colour '#ff00' is not '#rrggbb'"),
        ("bad.qml", '<qgis><pipe><rasterrenderer type="singlebandpseudocolor">\n<rastershader/>'
                    '</rasterrenderer></pipe></qgis>', "bad.qml, line 2: <rastershader> has no <colorrampshader>"),
        ("bad.qml", '<qgis><pipe>\n<rasterrenderer type="multibandcolor"/></pipe></qgis>',
         "bad.qml, line 2: a raster renderer of type 'multibandcolor' has no class colours"),
        ("bad.qml", '<qgis>\n<renderer-v2 type="RuleRenderer"/></qgis>',
         "bad.qml, line 2: a vector renderer of type 'RuleRenderer' has no list of class colours; use a categorized "
         "or graduated style"),
        ("bad.qml", '<qgis>\n<renderer-v2 type="graduatedSymbol"/></qgis>',
         'bad.qml, line 2: <renderer-v2 type="graduatedSymbol"> has no <ranges>'),
        ("bad.qml", '<qgis><renderer-v2 type="categorizedSymbol"><categories>\n<category symbol="3" label="Gr"/>'
                    '</categories><symbols/></renderer-v2></qgis>',
         "bad.qml, line 2: category 'Gr' names symbol '3', which <symbols> does not hold"),
        ("bad.qml", '<qgis><renderer-v2 type="categorizedSymbol">\n<categories/></renderer-v2></qgis>',
         'bad.qml, line 1: <renderer-v2 type="categorizedSymbol"> has no <symbols>'),
        ("bad.qml", '<qgis><renderer-v2 type="categorizedSymbol"><categories><category symbol="0" label="Gr"/>'
                    '</categories><symbols>\n<symbol name="0"><layer/></symbol></symbols></renderer-v2></qgis>',
         "bad.qml, line 2: class 'Gr' has a symbol (<symbol name=\"0\">) without a colour of its own (a fill of points or markers, say)"),
        ("bad.pal", "JASC-PAL\n0100\n3\n255 0 0\n0 255 0\n", "bad.pal, line 3: says 3 colours and 2 follow"),
        ("bad.pal", "JASC-PAL\n0100\n2\n255 0 0\n0 255\n", "bad.pal, line 5: 2 column(s); need red, green, blue"),
        ("bad.pal", "JASC-PAL\n0100\n1\n255 0 256\n", "bad.pal, line 4: 256 is out of range"),
        ("bad.pal", "JASC-PAL\n0100\n", "bad.pal: a JASC palette starts with 'JASC-PAL', a version line and the"),
        ("bad.act", bytes(700), "bad.act: 700 bytes; an Adobe colour table (.act) has 768 bytes, or 772"),
        ("bad.act", bytes(768) + struct.pack(">HH", 300, 0xFFFF), "bad.act: bytes 769-770 give 300 colours"),
        ("bad.act", bytes(768) + struct.pack(">HH", 0, 0xFFFF), "bad.act: bytes 769-770 give 0 colours"),
    ],
)
def test_malformed_files_are_refused_naming_the_file_the_line_and_the_problem(tmp_path, name, content, message):
    with pytest.raises(PaletteFileError, match="palette file " + re.escape(message)):
        read_palette(write_file(tmp_path, name, content))


@pytest.mark.parametrize("name", ["big.gpl", "big.clr", "big.txt", "big.qml"])
def test_more_than_65535_colours_are_refused_naming_the_count(tmp_path, name):
    path = str(tmp_path / name)
    write_palette(random_palette(2), path)
    text = Path(path).read_text(encoding="utf-8")
    line = {".gpl": "1 2 3\n", ".clr": "9 1 2 3\n", ".txt": "9,1,2,3,255,x\n"}.get(name[-4:])
    if line:
        text += line * (MAX_COLOURS - 1)
    else:
        entry = '<paletteEntry value="9" color="#010203" alpha="255"/>\n'
        text = text.replace("</colorPalette>", entry * (MAX_COLOURS - 1) + "</colorPalette>")
    with pytest.raises(PaletteFileError, match="has 65536 colours; at most 65535"):
        read_palette(write_file(tmp_path, name, text))


def _styled_polygons(renderer, path):
    """A memory layer of three polygons (cls 0, 1, 2) drawn with ``renderer``, its style saved at
    ``path``; returns the colours QGIS draws inside each polygon on a white background."""
    from qgis.core import (QgsFeature, QgsGeometry, QgsMapLayer, QgsMapRendererSequentialJob, QgsMapSettings,
                           QgsRectangle, QgsVectorLayer)
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    layer = QgsVectorLayer("Polygon?field=cls:integer", "units", "memory")
    features = []
    for cls in range(3):
        feature = QgsFeature(layer.fields())
        feature.setAttribute(0, cls)
        feature.setGeometry(QgsGeometry.fromWkt("POLYGON(({0} 0,{1} 0,{1} 10,{0} 10,{0} 0))".format(cls * 10, cls * 10 + 10)))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    layer.updateExtents()
    layer.setRenderer(renderer)
    layer.saveNamedStyle(path, categories=QgsMapLayer.Symbology)
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setExtent(QgsRectangle(0, 0, 30, 10))
    settings.setOutputSize(QSize(300, 100))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    inside = [list(QColor(image.pixel(50 + 100 * cls, 50)).getRgb()[:3]) for cls in range(3)]
    edges = [list(QColor(image.pixel(50 + 100 * cls, 1)).getRgb()[:3]) for cls in range(3)]  # in the top outline
    return inside, edges


def _fill_symbol(layers):
    """A fill symbol of SimpleFill layers given as (fill colour, brush style, outline colour, enabled)."""
    from qgis.core import QgsFillSymbol, QgsSimpleFillSymbolLayer
    from qgis.PyQt.QtGui import QColor

    symbol = QgsFillSymbol()
    symbol.deleteSymbolLayer(0)
    for fill, brush, outline, enabled in layers:
        layer = QgsSimpleFillSymbolLayer(QColor(*fill), brush, QColor(*outline))
        layer.setStrokeWidth(2.0)  # millimetres: 8 pixels, whose inner ones are the outline's colour alone
        layer.setEnabled(enabled)
        symbol.appendSymbolLayer(layer)
    return symbol


def test_a_categorized_style_reads_the_colours_qgis_paints_not_those_of_disabled_layers_or_unpainted_fills(
        qgis_app, tmp_path):
    """A disabled symbol layer's colour and a fill without brush (outlines alone) were read as the
    class colours, which QGIS does not paint."""
    from qgis.core import QgsCategorizedSymbolRenderer, QgsRendererCategory
    from qgis.PyQt.QtCore import Qt

    solid, none = Qt.BrushStyle.SolidPattern, Qt.BrushStyle.NoBrush
    disabled_first = QgsCategorizedSymbolRenderer("cls", [QgsRendererCategory(cls, _fill_symbol(
        [(rgb, solid, (0, 0, 0), False), ((255, 255, 0), solid, (0, 0, 0), True)]), label)
        for cls, rgb, label in ((0, (255, 0, 0), "Red"), (1, (0, 255, 0), "Green"), (2, (0, 0, 255), "Blue"))])
    inside, _ = _styled_polygons(disabled_first, str(tmp_path / "disabled.qml"))
    palette, description = read_palette(str(tmp_path / "disabled.qml"))
    assert description == "QGIS categorized style (symbol colours)"
    assert palette.colours.tolist() == inside == [[255, 255, 0]] * 3

    outlines = QgsCategorizedSymbolRenderer("cls", [QgsRendererCategory(cls, _fill_symbol(
        [(grey, none, rgb, True)]), label) for cls, grey, rgb, label in (
        (0, (128, 128, 128), (255, 0, 0), "Red"), (1, (100, 100, 100), (0, 255, 0), "Green"),
        (2, (90, 90, 90), (0, 0, 255), "Blue"))])
    inside, edges = _styled_polygons(outlines, str(tmp_path / "outlines.qml"))
    palette, _ = read_palette(str(tmp_path / "outlines.qml"))
    assert inside == [[255, 255, 255]] * 3  # the background: the fill is not painted
    assert palette.colours.tolist() == edges == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]


def test_a_class_hidden_on_purpose_keeps_its_symbol_colour_and_the_description_says_so(qgis_app, tmp_path):
    """A 'no data' class drawn fully transparent (alpha 0, no outline) made the whole style refused."""
    from qgis.core import QgsCategorizedSymbolRenderer, QgsRendererCategory
    from qgis.PyQt.QtCore import Qt

    solid = Qt.BrushStyle.SolidPattern
    def renderer():
        hidden = _fill_symbol([((0, 0, 255, 0), solid, (0, 0, 0, 0), True)])
        return QgsCategorizedSymbolRenderer("cls", [
            QgsRendererCategory(0, _fill_symbol([((200, 0, 0), solid, (200, 0, 0), True)]), "forest"),
            QgsRendererCategory(1, hidden, "no data"), QgsRendererCategory(2, hidden.clone(), "unknown")])

    inside, _ = _styled_polygons(renderer(), str(tmp_path / "hidden.qml"))
    assert inside[1:] == [[255, 255, 255]] * 2
    palette, description = read_palette(str(tmp_path / "hidden.qml"))
    assert palette.colours.tolist() == [[200, 0, 0], [0, 0, 255], [0, 0, 255]]
    assert description == ("QGIS categorized style (symbol colours; 'no data', 'unknown' not drawn, each "
                           "symbol's colour taken)")
    unchecked = renderer()
    unchecked.updateCategoryRenderState(0, False)  # in the legend
    inside, _ = _styled_polygons(unchecked, str(tmp_path / "unchecked.qml"))
    assert inside == [[255, 255, 255]] * 3
    palette, description = read_palette(str(tmp_path / "unchecked.qml"))
    assert palette.colours.tolist() == [[200, 0, 0], [0, 0, 255], [0, 0, 255]]
    assert description.startswith("QGIS categorized style (symbol colours; 'forest', 'no data', 'unknown' not drawn")


def test_a_graduated_style_reads_each_range_colour_and_label(qgis_app, tmp_path):
    from qgis.core import QgsGraduatedSymbolRenderer, QgsRendererRange
    from qgis.PyQt.QtCore import Qt

    solid = Qt.BrushStyle.SolidPattern
    renderer = QgsGraduatedSymbolRenderer("cls", [
        QgsRendererRange(-0.5, 0.5, _fill_symbol([((200, 30, 30), solid, (0, 0, 0), True)]), "low"),
        QgsRendererRange(0.5, 2.5, _fill_symbol([((30, 30, 200), solid, (0, 0, 0), True)]), "high")])
    inside, _ = _styled_polygons(renderer, str(tmp_path / "graduated.qml"))
    palette, description = read_palette(str(tmp_path / "graduated.qml"))
    assert description == "QGIS graduated style (symbol colours)"
    assert (palette.colours.tolist(), palette.labels) == ([[200, 30, 30], [30, 30, 200]], ("low", "high"))
    assert inside == [[200, 30, 30], [30, 30, 200], [30, 30, 200]]


def test_a_qgis_project_is_refused_saying_to_save_the_layer_style(tmp_path):
    """A project holds the styles of all its layers: the first raster layer's was read without a word."""
    text = ('<!DOCTYPE qgis PUBLIC \'http://mrcc.com/qgis.dtd\' \'SYSTEM\'>\n<qgis projectname="" version="3.22.16">\n'
            '  <projectlayers>\n    <maplayer type="raster"><pipe><rasterrenderer type="paletted" band="1">'
            '<colorPalette><paletteEntry value="0" color="#0000ff" label="B0"/></colorPalette></rasterrenderer>'
            '</pipe></maplayer>\n  </projectlayers>\n</qgis>\n')
    with pytest.raises(PaletteFileError, match=re.escape(
            "palette file project.qgs, line 2: a QGIS project, which holds the styles of all its layers; save the "
            "style of the layer to use as a .qml file")):
        read_palette(write_file(tmp_path, "project.qgs", text))


def riff_palette(colours, extra_chunk=b""):
    """A Microsoft RIFF palette as Windows writes it (version 0x0300, flags 0), after an optional chunk."""
    data = struct.pack("<HH", 0x0300, len(colours)) + b"".join(bytes(colour) + b"\0" for colour in colours)
    body = b"PAL " + extra_chunk + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_a_windows_riff_palette_is_read_in_its_order(tmp_path):
    """It was refused as no palette file at all."""
    colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [12, 34, 56]]
    for name, extra in (("win.pal", b""), ("other.pal", b"note" + struct.pack("<I", 3) + b"abc\0")):
        palette, description = read_palette(write_file(tmp_path, name, riff_palette(colours, extra)))
        assert (palette.colours.tolist(), palette.labels, description) == (colours, None, "RIFF palette")
    with pytest.raises(PaletteFileError, match=re.escape("palette file cut.pal: its data chunk says 5 colours and "
                                                         "holds 4; save the palette again")):
        read_palette(write_file(tmp_path, "cut.pal", riff_palette(colours)[:-4]))


@pytest.mark.parametrize("name, content, kind", [
    ("ramp.cpt", "0 0 0 255 64 0 255 0\n64 0 255 0 128 255 255 0\n", "a GMT colour palette table"),
    ("swatches.aco", b"\x00\x01\x00\x02\x00\x00\xff\xff", "Photoshop colour swatches"),
    ("swatches.ase", b"ASEF\x00\x01\x00\x00", "an Adobe swatch exchange file"),
    ("krita.kpl", b"PK\x03\x04\x14\x00", "a Krita palette"),
])
def test_colour_files_of_other_programs_are_refused_saying_what_they_are(tmp_path, name, content, kind):
    """A GMT table was read as CSV (its first value column as red, a colour's blue as alpha), a
    Krita palette was taken for a spreadsheet, swatches for no palette file at all."""
    with pytest.raises(PaletteFileError, match=re.escape("palette file {}: {}, a format Palettize does not read; "
                                                         "export its colours as a CSV".format(name, kind))):
        read_palette(write_file(tmp_path, name, content))


@pytest.mark.parametrize("name, content, said", [
    ("project.qgz", b"PK\x03\x04\x14\x00", "palette file project.qgz: a QGIS project"),
    ("ramps.xml", "<!DOCTYPE qgis_style>\n<qgis_style version=\"2\"><colorramps/></qgis_style>\n",
     "palette file ramps.xml, line 2: a QGIS style library"),
])
def test_a_zipped_project_or_a_style_library_says_to_save_the_layer_style(tmp_path, name, content, said):
    with pytest.raises(PaletteFileError, match=re.escape(said)) as caught:
        read_palette(write_file(tmp_path, name, content))
    assert str(caught.value).endswith("save the style of the layer to use as a .qml file (Layer Properties, "
                                      "Symbology, Style, Save Style...)")


PAINT_NET = ("; paint.net Palette File\n; Lines that start with a semicolon are comments\n"
             "; Colors are written as 8-digit hexadecimal numbers: aarrggbb\nFF000000\nFF404040\nFFFF0000\n80123456\n")


def test_a_paint_net_palette_is_read_as_aarrggbb_colours(tmp_path):
    """Its first comment line was taken for a CSV header, its second refused as "';' is not a number"."""
    palette, description = read_palette(write_file(tmp_path, "paint.txt", PAINT_NET))
    assert description == "Paint.NET palette (AARRGGBB, alpha ignored)"
    assert palette.colours.tolist() == [[0, 0, 0], [64, 64, 64], [255, 0, 0], [18, 52, 86]]
    with pytest.raises(PaletteFileError, match=re.escape("eight hex digits could be AARRGGBB or RRGGBBAA")):
        read_palette(write_file(tmp_path, "bare.txt", "FFFF0000\nFF00FF00\nFF0000FF\n"))


def test_a_paint_net_palette_of_one_colour_is_read(tmp_path):
    palette, _ = read_palette(write_file(tmp_path, "one.txt", "; paint.net Palette File\nFFFF0000"))
    assert palette.colours.tolist() == [[255, 0, 0]]


def test_a_hex_palette_file_with_semicolon_comments_is_read(tmp_path):
    palette, _ = read_palette(write_file(tmp_path, "lospec.hex", "; comment\nff0000\n00ff00\n0000ff\n"))
    assert palette.colours.tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
