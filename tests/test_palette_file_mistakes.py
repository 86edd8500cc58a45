"""Palette files as people really save them: no silent misreading, and one clear error for anything wrong.

Every failure a file can cause comes out of ``read_palette`` as a PaletteFileError naming the file
(and the line, where there is one) and saying what to fix; the Processing glue catches that one class.
"""

from pathlib import Path
import csv
import os
import re
import sys

import numpy as np
import pytest
from osgeo import gdal

from palettize.palettes import formats
from palettize.palettes.formats import PaletteFileError, read_palette, write_palette
from palettize.palettes.palette import Palette, matplotlib_palette
from rasters import ROOT, quantize, read_indices, write_file, write_raster

DATA = os.path.join(ROOT, "tests", "data", "palettes")




def refused(path, message):
    """The PaletteFileError's text, checked to hold ``message`` (a plain string, not a pattern)."""
    with pytest.raises(PaletteFileError, match=re.escape(message)) as caught:
        read_palette(path)
    return str(caught.value)


# -- CSV header or mistake -----------------------------------------------------------------------


@pytest.mark.parametrize("first, shown", [("1O,20,30", "'1O'"), ("nan,0,0", "'nan'"), ("10,2O,30", "'2O'"),
                                          ("inf,0,0", "'inf'"), ("-,0,0", "'-'")])
def test_a_first_line_that_looks_like_a_colour_but_does_not_parse_is_an_error_not_a_header(tmp_path, first, shown):
    path = write_file(tmp_path, "p.csv", first + "\n40,50,60\n70,80,90\n")
    refused(path, "palette file p.csv, line 1: {} is not a number".format(shown))


def test_a_header_is_a_first_line_without_any_number(tmp_path):
    palette, _ = read_palette(write_file(tmp_path, "p.csv", "Rot;Grün;Blau;Gestein\n10;20;30;Granit\n"))
    assert palette.colours.tolist() == [[10, 20, 30]]
    assert palette.labels == ("Granit",)


def test_a_line_without_numbers_after_the_first_is_an_error_naming_it(tmp_path):
    refused(write_file(tmp_path, "p.csv", "10,20,30\nred,green,blue\n"), "line 2: 'red' is not a number")


def test_a_number_with_an_underscore_is_refused_not_read_as_python_reads_it(tmp_path):
    refused(write_file(tmp_path, "p.csv", "10,20,30\n1_0,20,30\n"), "line 2: '1_0' is not a number")


# -- CSV delimiter -------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_labels_may_hold_commas_when_another_delimiter_separates_the_columns(tmp_path, delimiter):
    text = "".join(delimiter.join(row) + "\n" for row in
                   [("10", "20", "30", "Sand, fine"), ("40", "50", "60", "Clay, wet, grey"), ("1", "2", "3", "x")])
    palette, description = read_palette(write_file(tmp_path, "p.csv", text))
    assert palette.colours.tolist() == [[10, 20, 30], [40, 50, 60], [1, 2, 3]]
    assert palette.labels == ("Sand, fine", "Clay, wet, grey", "x")
    assert description == "0-255 integers"


def test_a_one_line_semicolon_file_with_a_comma_in_its_label_reads_right(tmp_path):
    palette, _ = read_palette(write_file(tmp_path, "p.csv", "10;20;30;Sand, fine\n"))
    assert (palette.colours.tolist(), palette.labels) == ([[10, 20, 30]], ("Sand, fine",))


def test_a_header_with_commas_does_not_decide_the_delimiter(tmp_path):
    palette, _ = read_palette(write_file(tmp_path, "p.csv", "red;green;blue;unit, age\n10;20;30;Sand, fine\n"))
    assert (palette.colours.tolist(), palette.labels) == ([[10, 20, 30]], ("Sand, fine",))


def test_a_decimal_comma_is_refused_saying_to_write_a_point(tmp_path):
    refused(write_file(tmp_path, "p.csv", "0,5;0,25;1\n"), "line 1: '0,5' is not a number; write decimals with a point")


# -- CSV columns ---------------------------------------------------------------------------------


def test_a_whitespace_separated_csv_keeps_multi_word_labels(tmp_path):
    palette, _ = read_palette(write_file(tmp_path, "p.csv", "10 20 30 Sand  fine\n40\t50 60   Clay, wet grey  \n"))
    assert palette.colours.tolist() == [[10, 20, 30], [40, 50, 60]]
    assert palette.labels == ("Sand  fine", "Clay, wet grey")


def test_an_rgba_csv_reads_its_alpha_as_alpha_not_as_the_label(tmp_path):
    palette, description = read_palette(write_file(tmp_path, "p.csv", "255,0,0,255\n0,255,0,128\n0,0,255,0\n"))
    assert palette.colours.tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
    assert palette.labels is None
    assert description.startswith("0-255 integers, the fourth column read as alpha and ignored")


def test_an_rgba_csv_with_labels_takes_the_label_from_the_fifth_column(tmp_path):
    palette, _ = read_palette(write_file(tmp_path, "p.csv", "255,0,0,255,Granite\n0,255,0,255,Schist 2\n"))
    assert palette.labels == ("Granite", "Schist 2")
    palette, _ = read_palette(write_file(tmp_path, "p.csv", "1.0 0.5 0 1.0 Sand fine\n0 0 1 0.5 Clay\n"))
    assert palette.colours.tolist() == [[255, 128, 0], [0, 0, 255]]
    assert palette.labels == ("Sand fine", "Clay")


def test_a_header_naming_the_columns_places_them(tmp_path):
    text = "value,alpha,Red,Green,Blue,label\n7,255,255,0,0,Granite\n9,128,0,0,255,Schist\n"
    palette, description = read_palette(write_file(tmp_path, "p.csv", text))
    assert palette.colours.tolist() == [[255, 0, 0], [0, 0, 255]]
    assert palette.labels == ("Granite", "Schist")
    assert description == ("0-255 integers, columns Red, Green, Blue by the header, alpha column ignored, its values 7, "
                           "9 are not kept: the output's indices are the entries' order, 0, 1")


def test_a_header_naming_some_colour_columns_elsewhere_is_refused_not_read_red_first(tmp_path):
    # 'bleu' is no name the reader knows: red, green, blue from the first three columns would shift them.
    refused(write_file(tmp_path, "p.csv", "id,red,green,bleu\n10,255,0,0\n20,0,255,0\n"),
            "palette file p.csv, line 1: the header names red in column 2 and green in column 3 but no blue column; "
            "name all three in the header: red, green, blue (or r, g, b)")
    palette, _ = read_palette(write_file(tmp_path, "q.csv", "Red,Gren,Blue\n255,0,0\n0,255,0\n"))
    assert palette.colours.tolist() == [[255, 0, 0], [0, 255, 0]]  # where red, green, blue come anyway


def test_numeric_labels_stay_labels_when_the_header_names_their_column(tmp_path):
    palette, description = read_palette(write_file(tmp_path, "p.csv", "r,g,b,class\n255,0,0,1\n0,255,0,2\n"))
    assert (palette.labels, description) == (("1", "2"), "0-255 integers")


PRIMARIES = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]]


def test_a_headerless_csv_of_index_red_green_blue_rows_reads_its_first_column_as_the_index(tmp_path):
    palette, description = read_palette(write_file(tmp_path, "p.csv", "0,255,0,0\n1,0,255,0\n2,0,0,255\n3,255,255,0\n"))
    assert (palette.colours.tolist(), palette.labels) == (PRIMARIES, None)
    assert description == "0-255 integers, the first column read as an index (it counts 0, 1, 2, ...)"


def test_an_index_counting_from_one_with_alpha_and_labels_reads_every_column_in_its_place(tmp_path):
    # A QGIS colour map export whose header lines were cut off: value,R,G,B,A,label.
    text = "1,255,0,0,255,Granite, pink\n2,0,255,0,128,Schist\n3,0,0,255,255,\n4,255,255,0,0,Sand\n"
    palette, description = read_palette(write_file(tmp_path, "map.txt", text))
    assert (palette.colours.tolist(), palette.labels) == (PRIMARIES, ("Granite, pink", "Schist", "", "Sand"))
    assert description == ("0-255 integers, the first column read as an index (it counts 1, 2, 3, ...), "
                           "the fifth column read as alpha and ignored (a header naming it 'label' keeps it)")


def test_a_header_that_names_no_colour_column_does_not_hide_the_index(tmp_path):
    palette, _ = read_palette(write_file(tmp_path, "p.csv", "Wert;Rot;Gruen;Blau\n0;255;0;0\n1;0;255;0\n2;0;0;255\n"
                                                            "3;255;255;0\n"))
    assert palette.colours.tolist() == PRIMARIES


@pytest.mark.parametrize("text", ["0,0,0\n1,0,0\n2,0,0\n", "0,0,0,Black\n1,0,0,Night\n2,0,0,Dark red\n",
                                  "0,0,0,255\n1,0,0,128\n2,0,0,64\n2,0,0,255\n"])
def test_red_green_blue_rows_whose_red_counts_0_1_2_keep_red_first(tmp_path, text):
    palette, _ = read_palette(write_file(tmp_path, "p.csv", text))
    assert palette.colours.tolist()[:3] == [[0, 0, 0], [1, 0, 0], [2, 0, 0]]


def test_a_counting_first_column_before_a_constant_fourth_one_is_refused_saying_which_header_to_add(tmp_path):
    # A grey ramp with opaque alpha (i,i,i,255) or an index,red,green,blue file whose blue never changes.
    grey = "".join("{0},{0},{0},255\n".format(i) for i in range(256))
    refused(write_file(tmp_path, "grey.csv", grey),
            "palette file grey.csv, line 1: '0,0,0,255' could be index,red,green,blue or red,green,blue,alpha: the "
            "first column counts 0, 1, 2, ... and the fourth is 255 on every line; add a header line naming the "
            "columns, 'red,green,blue,alpha' or 'index,red,green,blue'")
    palette, _ = read_palette(write_file(tmp_path, "grey.csv", "red,green,blue,alpha\n" + grey))
    assert palette.colours.tolist() == [[i, i, i] for i in range(256)]
    palette, _ = read_palette(write_file(tmp_path, "grey.csv", "index,red,green,blue\n" + grey))
    assert palette.colours.tolist() == [[i, i, 255] for i in range(256)]


@pytest.mark.parametrize("text", [
    "0 255 0 0\n1 0 255 0\n2 0 0 255\n3 255 255 0\n",
    "1 255 0 0 Granite, pink\n2 0 255 0\n3\t0\t0\t255\tSchist 2\n4 255 255 0\n",
    "0 255 0 0 255 Granite\n1 0 255 0 255 Schist\n2 0 0 255 128\n3 255 255 0 255 Sand\n",
], ids=["ESRI", "ESRI with labels", "QGIS with alpha"])
def test_an_esri_colour_map_saved_as_txt_reads_as_the_clr_it_is(tmp_path, text):
    palette, _ = read_palette(write_file(tmp_path, "esri.txt", text))
    assert palette == read_palette(write_file(tmp_path, "esri.clr", text))[0]
    assert palette.colours.tolist() == PRIMARIES


def test_an_esri_colour_map_with_other_values_saved_as_txt_is_refused_saying_to_rename_it(tmp_path):
    text = Path(DATA, "landcover_esri.clr").read_text(encoding="utf-8")  # values 1, 2, 3, 10
    refused(write_file(tmp_path, "landcover.txt", text),
            "palette file landcover.txt, line 2: '1 0 112 255' could be value red green blue, as in a colour map, "
            "or red green blue alpha; rename an ESRI colour map to .clr, or add a header line naming the columns, "
            "'value red green blue' or 'red green blue alpha'")
    expected = read_palette(write_file(tmp_path, "landcover.clr", text))[0].colours.tolist()
    assert expected == [[0, 112, 255], [38, 115, 0], [255, 255, 190], [168, 0, 0]]
    palette, _ = read_palette(write_file(tmp_path, "landcover.txt", "value red green blue\n" + text))
    assert palette.colours.tolist() == expected


def test_an_rgba_csv_named_txt_is_refused_as_it_could_be_a_colour_map_but_read_as_a_csv(tmp_path):
    text = "255,0,0,255\n0,255,0,128\n0,0,255,0\n"
    refused(write_file(tmp_path, "p.txt", text), "palette file p.txt, line 1: '255,0,0,255' could be value,red,green,"
                                                 "blue, as in a colour map, or red,green,blue,alpha; add a header line "
                                                 "naming the columns, 'value,red,green,blue' or 'red,green,blue,alpha'")
    palette, _ = read_palette(write_file(tmp_path, "p.csv", text))
    assert palette.colours.tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]


def test_unquoted_commas_in_the_last_column_belong_to_the_label(tmp_path):
    palette, _ = read_palette(write_file(tmp_path, "p.csv", "10,20,30,Sand, fine\n40,50,60,Clay\n"))
    assert palette.labels == ("Sand, fine", "Clay")
    palette, _ = read_palette(write_file(tmp_path, "q.csv", "r,g,b,label,note\n10,20,30,Sand,fine\n"))
    assert palette.labels == ("Sand",)


@pytest.mark.parametrize("content", [
    "10,20,30,Sand,\n40,50,60,Clay,,\n70,80,90,,\n",
    "red,green,blue,label\r\n10,20,30,Sand,\r\n40,50,60,Clay,,\r\n70,80,90,,\r\n",
    "10;20;30;Sand;;\n40;50;60;Clay;\n70;80;90;;\n",
], ids=["commas", "header and CRLF", "semicolons"])
def test_the_empty_columns_a_spreadsheet_adds_at_the_end_of_lines_are_not_part_of_the_label(tmp_path, content):
    palette, _ = read_palette(write_file(tmp_path, "sheet.csv", content))
    assert palette.colours.tolist() == [[10, 20, 30], [40, 50, 60], [70, 80, 90]]
    assert palette.labels == ("Sand", "Clay", "")


def test_an_empty_column_before_the_label_is_not_part_of_it(tmp_path):
    palette, _ = read_palette(write_file(tmp_path, "sheet.csv", "10,20,30,,Sand, fine\n40,50,60,,Clay\n70,80,90,,\n"))
    assert palette.labels == ("Sand, fine", "Clay", "")


def test_a_label_longer_than_csv_allows_is_refused_naming_the_line(tmp_path):
    path = write_file(tmp_path, "p.csv", "10,20,30,ok\n40,50,60," + "x" * (csv.field_size_limit() + 10) + "\n")
    refused(path, "palette file p.csv, line 2: a field is longer than 131072 characters, the most a CSV field "
                  "may hold; shorten it")


# -- hex colours --------------------------------------------------------------------------------


def test_hex_colour_lines_are_read_with_their_labels_not_skipped_as_comments(tmp_path):
    text = "colour,name\n# tab10\n#1f77b4,Blue, deep\n#FF7F0E;x\n#2ca02c\tGreen grass\n#d62728 Red one\n#9467bd\n"
    palette, description = read_palette(write_file(tmp_path, "p.csv", text))
    assert palette.colours.tolist() == [[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189]]
    assert palette.labels == ("Blue, deep", "x", "Green grass", "Red one", "")
    assert description == "hex colours (#rrggbb)"


def test_a_hex_colour_among_rgb_lines_is_an_error_not_a_skipped_comment(tmp_path):
    refused(write_file(tmp_path, "p.csv", "255,0,0,Red\n#00ff00,Green\n0,0,255,Blue\n"),
            "palette file p.csv, line 2: '#00ff00,Green' is a hex colour among red,green,blue lines; write it as "
            "0,255,0")
    refused(write_file(tmp_path, "q.csv", "#00ff00\n#0000ff\n1,2,3\n"),
            "palette file q.csv, line 3: '1,2,3' is not a '#rrggbb' colour like the other lines")


def test_a_short_css_hex_colour_among_hex_colours_is_read_not_skipped_as_a_comment(tmp_path):
    palette, description = read_palette(write_file(tmp_path, "p.csv", "#ff0000,Red\n#0f0,Green\n#00F\n#0000ff,Blue\n"))
    assert palette.colours.tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255], [0, 0, 255]]
    assert palette.labels == ("Red", "Green", "", "Blue")
    assert description == "hex colours (#rrggbb)"


def test_a_file_of_short_css_hex_colours_with_a_header_is_read(tmp_path):
    palette, _ = read_palette(write_file(tmp_path, "p.csv", "colour;name\n#f00;Red\n#0f0;Green\n"))
    assert (palette.colours.tolist(), palette.labels) == ([[255, 0, 0], [0, 255, 0]], ("Red", "Green"))


def test_a_hex_palette_file_of_bare_rrggbb_lines_is_read_as_hex_colours(tmp_path):
    # The .hex files Lospec and other palette sites offer: one 'rrggbb' per line, no '#'.
    palette, description = read_palette(write_file(tmp_path, "endesga.hex", "1a1c2c\r\n5d275d\r\nB13E53\r\n"))
    assert palette.colours.tolist() == [[26, 28, 44], [93, 39, 93], [177, 62, 83]]
    assert description == "hex colours (#rrggbb)"
    assert ".hex" in formats.READ_EXTENSIONS


@pytest.mark.parametrize("content, message", [
    ("ff0000\n10,20,30\n", "line 1: 1 column(s); need red, green, blue; write hex colours as '#rrggbb'"),
    ("ff0000,Red\n00ff00,Green\n", "line 1: 2 column(s); need red, green, blue; write hex colours as '#rrggbb'"),
])
def test_a_hex_colour_without_its_hash_is_an_error_naming_its_line_not_a_header(tmp_path, content, message):
    refused(write_file(tmp_path, "p.csv", content), "palette file p.csv, " + message)


def test_a_short_hex_word_among_rgb_lines_stays_a_comment(tmp_path):
    palette, _ = read_palette(write_file(tmp_path, "p.csv", "10,20,30\n#add\n40,50,60\n#bad one below\n"))
    assert palette.colours.tolist() == [[10, 20, 30], [40, 50, 60]]


def test_an_eight_digit_hex_colour_is_refused_rather_than_guessing_where_alpha_is(tmp_path):
    refused(write_file(tmp_path, "p.csv", "#1f77b4\n#ff7f0e80\n"),
            "palette file p.csv, line 2: '#ff7f0e80' has 8 hex digits; write '#rrggbb' (alpha is not read)")


def test_comments_stay_comments(tmp_path):
    palette, _ = read_palette(write_file(tmp_path, "p.csv", "# 255,0,0 was red\n#fade to grey\n1,2,3\n  # indented\n"))
    assert palette.colours.tolist() == [[1, 2, 3]]


# -- text encodings ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["p.csv", "p.gpl", "p.clr", "p.txt"])
def test_latin1_text_is_refused_as_not_utf8_naming_the_line(tmp_path, name):
    text = {"p.csv": "r,g,b,name\n1,2,3,ok\n10,20,30,Löss\n",
            "p.gpl": "GIMP Palette\n1 2 3 ok\n10 20 30 Löss\n",
            "p.clr": "# x\n1 1 2 3 ok\n2 10 20 30 Löss\n",
            "p.txt": "INTERPOLATION:EXACT\n1,1,2,3,255,ok\n2,10,20,30,255,Löss\n"}
    path = write_file(tmp_path, name, text[name].encode("latin-1"))
    refused(path, "palette file {}, line 3: not UTF-8 text (byte 0xf6); save the file as UTF-8".format(name))


def test_a_binary_file_named_csv_is_refused_as_not_text_naming_the_line(tmp_path):
    refused(write_file(tmp_path, "p.csv", b"10,20,30\n\x00\x01\x02\xff junk"),
            "palette file p.csv, line 2: not UTF-8 text (it holds NUL bytes)")
    refused(write_file(tmp_path, "q.csv", b"10,20,30\n1,2,3\n\xff\xfe\xfd junk"),
            "palette file q.csv, line 3: not UTF-8 text (byte 0xff)")


def test_a_nul_byte_late_in_a_text_file_is_refused_naming_its_line(tmp_path):
    text = b"10,20,30\n" * 600 + b"1,2,\x003\n"
    refused(write_file(tmp_path, "p.csv", text), "palette file p.csv, line 601: not UTF-8 text (it holds NUL bytes)")


@pytest.mark.parametrize("encoding, shown", [("utf-16", "UTF-16"), ("utf-16-le", "UTF-16"), ("utf-16-be", "UTF-16"),
                                             ("utf-32", "UTF-32")])
@pytest.mark.parametrize("extension", [".csv", ".gpl", ".clr", ".txt", ".qml"])
def test_utf16_and_utf32_palette_files_are_read_saying_so(tmp_path, encoding, shown, extension):
    palette = Palette([[10, 20, 30], [200, 100, 0]], ["Löss, fine", "Granit"])
    written = str(tmp_path / ("utf8" + extension))
    write_palette(palette, written)
    text = open(written, encoding="utf-8").read()
    if extension == ".qml":
        text = '<?xml version="1.0" encoding="UTF-16"?>\n' + text
    path = write_file(tmp_path, "p" + extension, text.encode(encoding))
    read, description = read_palette(path)
    assert read == palette
    assert description.endswith(", {} text".format(shown))


def test_a_spreadsheet_cell_with_a_line_break_is_one_label_and_empty_rows_are_skipped(tmp_path):
    """A label typed with Alt+Enter is saved quoted over two lines; a spreadsheet saves the rows
    below the table as ',,,'."""
    text = 'red,green,blue,label\r\n255,0,0,"Forest\r\nconiferous, ""old"""\r\n0,0,255,Water\r\n,,,\r\n,,,\r\n'
    palette, _ = read_palette(write_file(tmp_path, "units.csv", text.encode("utf-8")))
    assert palette.colours.tolist() == [[255, 0, 0], [0, 0, 255]]
    assert palette.labels == ('Forest coniferous, "old"', "Water")


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_a_label_over_two_lines_reads_with_any_delimiter(tmp_path, delimiter):
    text = delimiter.join(["0", "0", "255", '"Water']) + "\nbody\"\n" + delimiter.join(["255", "0", "0", "Red"]) + "\n"
    palette, _ = read_palette(write_file(tmp_path, "units.csv", text))
    assert palette.colours.tolist() == [[0, 0, 255], [255, 0, 0]] and palette.labels == ("Water body", "Red")


def test_a_quoted_label_typed_after_a_comma_and_a_space_loses_its_quotes_on_one_line_or_two(tmp_path):
    """CSV keeps a quote after a space as text: ', "Meadow"' was the label '"Meadow"', and a label
    quoted so over two lines was refused. Quotes written as text inside quotes stay."""
    text = ('255,0,0, "Forest\nconiferous"\n0,255,0, "Meadow"\n0,0,255, "Sand, fine"\n9,9,9,"""Big"" rock"\n'
            '1,2,3, "Low" or "High"\n')
    palette, _ = read_palette(write_file(tmp_path, "units.csv", text))
    assert palette.colours.tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9], [1, 2, 3]]
    assert palette.labels == ("Forest coniferous", "Meadow", "Sand, fine", '"Big" rock', '"Low" or "High"')
    columns = 'red,green,blue,label,alpha\n4,5,6, "Sand, fine", 255\n'  # the label in a column of its own
    assert read_palette(write_file(tmp_path, "columns.csv", columns))[0].labels == ("Sand, fine",)


def test_a_label_in_quotes_keeps_them_through_a_written_csv(tmp_path):
    """A label that is wholly in quotes ('"Sand, fine"', as a legend quotes a name) is written as CSV
    writes it (its quotes doubled, the field quoted) and read back with its quotes; they were taken
    for CSV's own."""
    from palettize.palettes.formats.csv import write_palette_csv
    from palettize.palettes.palette import Palette

    labels = ('"Sand, fine"', '"x"', 'say "hi"')
    path = str(tmp_path / "quoted.csv")
    write_palette_csv(Palette([[10, 20, 30], [40, 50, 60], [70, 80, 90]], labels, "quoted"), path)
    assert read_palette(path)[0].labels == labels


def test_a_text_with_a_quote_left_open_is_refused_at_its_second_line(tmp_path):
    """Each line after an open quote was joined to it and the whole record scanned again: a page
    of notes picked by mistake took minutes to be refused."""
    text = 'He said, "hello there\n' + "word and more words\n" * 4000
    refused(write_file(tmp_path, "notes.csv", text), "palette file notes.csv, line 2: 'word' is not a number")


def test_a_quote_left_open_never_takes_the_next_colour_into_its_label(tmp_path):
    palette, _ = read_palette(write_file(tmp_path, "units.csv", b'255,0,0,"Forest\n0,0,255,"Water"\n'))
    assert palette.colours.tolist() == [[255, 0, 0], [0, 0, 255]]


def test_a_utf16_csv_from_a_spreadsheet_reads_with_tabs_and_a_header(tmp_path):
    text = "Red\tGreen\tBlue\tUnit\r\n10\t20\t30\tSand, fine\r\n40\t50\t60\tLöss\r\n"
    palette, description = read_palette(write_file(tmp_path, "units.csv", b"\xff\xfe" + text.encode("utf-16-le")))
    assert palette.colours.tolist() == [[10, 20, 30], [40, 50, 60]]
    assert palette.labels == ("Sand, fine", "Löss")
    assert description == "0-255 integers, UTF-16 text"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_a_utf16_csv_without_a_byte_order_mark_reads_with_labels_in_any_script(tmp_path, encoding):
    """森 has no NUL byte in UTF-16 and 一 (U+4E00) has one in its low byte: the file is still
    UTF-16 text, not a raster."""
    text = "red,green,blue,label\r\n255,0,0,森林\r\n0,0,255,一\r\n0,128,0,Лесной массив хвойный\r\n"
    palette, description = read_palette(write_file(tmp_path, "units.csv", text.encode(encoding)))
    assert palette.colours.tolist() == [[255, 0, 0], [0, 0, 255], [0, 128, 0]]
    assert palette.labels == ("森林", "一", "Лесной массив хвойный")
    assert description == "0-255 integers, UTF-16 text"


@pytest.mark.parametrize("driver, extension", [("EHdr", "bil"), ("ENVI", "dat")])
def test_a_raw_uint16_raster_is_not_taken_for_utf16_text(tmp_path, driver, extension):
    """Small 16-bit values read as UTF-16 are control characters: such a file (with a colour table
    GDAL reads from beside it) was sent to the CSV reader."""
    from palettize.palettes.formats.registry import detect

    path = str(tmp_path / "classes.{}".format(extension))
    dataset = gdal.GetDriverByName(driver).Create(path, 40, 30, 1, gdal.GDT_UInt16)
    dataset.GetRasterBand(1).WriteArray(np.arange(1200, dtype=np.uint16).reshape(30, 40) % 12 + 1)
    dataset = None
    assert detect(path)[0].key == "raster"


def test_a_latin1_style_without_an_encoding_declaration_says_it_is_not_utf8(tmp_path):
    style = ('<qgis><pipe><rasterrenderer type="paletted"><colorPalette>\n'
             '<paletteEntry value="0" color="#ff0000" label="Löss"/>\n</colorPalette></rasterrenderer></pipe></qgis>')
    refused(write_file(tmp_path, "p.qml", style.encode("latin-1")),
            "palette file p.qml, line 2: not well-formed XML (not well-formed (invalid token)); it is not UTF-8 "
            "text: save it as UTF-8 or declare its encoding")
    palette, _ = read_palette(write_file(tmp_path, "q.qml", ('<?xml version="1.0" encoding="ISO-8859-1"?>\n' + style)
                                    .encode("latin-1")))
    assert palette.labels == ("Löss",)


# -- other formats, paths ------------------------------------------------------------------------


@pytest.mark.parametrize("renderer, entry", [("paletted", "paletteEntry"), ("singlebandpseudocolor", "item")])
def test_a_style_entry_without_a_colour_is_an_error_not_black(tmp_path, renderer, entry):
    inner = "<colorPalette>{}</colorPalette>" if renderer == "paletted" else \
        "<rastershader><colorrampshader>{}</colorrampshader></rastershader>"
    entries = '\n<{0} value="0" color="#ff0000" label="a"/>\n<{0} value="1" label="b"/>\n'.format(entry)
    style = '<qgis><pipe><rasterrenderer type="{}">{}</rasterrenderer></pipe></qgis>'.format(
        renderer, inner.format(entries))
    refused(write_file(tmp_path, "p.qml", style),
            'palette file p.qml, line 3: <{}> has no color attribute; give it one, such as color="#ff0000"'
            .format(entry))


def test_a_folder_given_as_palette_file_is_refused_as_a_folder(tmp_path):
    message = refused(str(tmp_path), "is a folder; choose a palette file")
    assert "does not exist" not in message


@pytest.mark.parametrize("name", ["e.csv", "e.gpl", "e.act", "e.qml", "e.tif"])
def test_an_empty_file_is_refused_as_empty_whatever_its_extension(tmp_path, name):
    refused(write_file(tmp_path, name, b""), "palette file {} is empty (0 bytes), so it holds no colours; choose the "
                                        "palette file or save it again".format(name))


@pytest.mark.parametrize("name, content, kind", [
    ("units.csv", b"PK\x03\x04\x14\x00\x06\x00\x08\x00[Content_Types].xml", "a ZIP archive, such as an .xlsx"),
    ("units.xlsx", b"PK\x03\x04\x14\x00\x06\x00\x08\x00[Content_Types].xml", "a ZIP archive, such as an .xlsx"),
    ("units.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00\x00", "an old Office file, such as an .xls"),
])
def test_a_spreadsheet_given_as_palette_file_says_to_save_it_as_csv(tmp_path, name, content, kind):
    message = refused(write_file(tmp_path, name, content), "palette file {}: {}".format(name, kind))
    assert message.endswith("not a palette file; save the sheet as CSV (UTF-8)")


@pytest.mark.parametrize("name", ["points.csv", "points.txt", "big.gpl", "big.qml"])
def test_a_huge_text_file_is_refused_before_it_is_read(tmp_path, monkeypatch, name):
    monkeypatch.setattr(formats.common, "MAX_TEXT_BYTES", 1000)
    text = "GIMP Palette\n" if name.endswith(".gpl") else "<qgis>" if name.endswith(".qml") else ""
    path = write_file(tmp_path, name, text + "512345.25,6789012.5,123.5\n" * 100)
    refused(path, "palette file {}: 0 MiB is far more than a palette of at most 65535 colours takes; check that "
                  "this is the palette file".format(name))


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
    write_file(tmp_path, "cut.tif", data[:1000])  # its colour table is cut off
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
        read_palette(write_file(tmp_path, "p.csv", "1,2,3\n"))
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


# -- palettes other programs write ---------------------------------------------------------------


def test_gimp_palettes_in_gimps_own_layout_read_every_colour_and_name():
    palette, description = read_palette(os.path.join(DATA, "gimp_layout.gpl"))
    assert description == "GIMP palette"
    assert palette.name == "Tango-like"
    assert palette.colours.tolist() == [[252, 233, 79], [237, 212, 0], [196, 160, 0], [0, 0, 0], [255, 255, 255]]
    assert palette.labels == ("Butter 1", "Butter 2", "Butter 3", "", "White (255 255 255) #FFFFFF")


def test_an_aseprite_gimp_palette_with_alpha_reads_its_colours_and_names_not_the_alpha(tmp_path):
    # Aseprite writes 'Channels: RGBA' and a fourth column when its palette has alpha.
    path = write_file(tmp_path, "aseprite.gpl", "GIMP Palette\nChannels: RGBA\n#\n 26  28  44 255\tNight\n"
                                                " 93  39  93 128\tPlum sky\n255 255 255   0\n")
    palette, description = read_palette(path)
    assert description == "GIMP palette (alpha column ignored)"
    assert palette.colours.tolist() == [[26, 28, 44], [93, 39, 93], [255, 255, 255]]
    assert palette.labels == ("Night", "Plum sky", "")


def test_untitled_the_name_gimp_and_aseprite_give_unnamed_colours_is_no_label(tmp_path):
    path = write_file(tmp_path, "gimp.gpl", "GIMP Palette\nName: Mine\nColumns: 0\n#\n255   0   0\tUntitled\n"
                                            "  0 255   0\tGrass\n  0   0 255\tUntitled blue\n")
    assert read_palette(path)[0].labels == ("", "Grass", "Untitled blue")
    path = write_file(tmp_path, "aseprite.gpl", "GIMP Palette\n#\n255   0   0\tUntitled\n  0 255   0\tUntitled\n")
    assert read_palette(path)[0].labels is None


@pytest.mark.parametrize("content, message", [
    ("GIMP Palette\nChannels: CMYK\n1 2 3\n", "line 2: 'Channels: CMYK' is not a 'Channels: RGB' or 'Channels: RGBA'"),
    ("GIMP Palette\n1 2 3 x\nChannels: RGBA\n", "line 3: 'Channels: RGBA' is not a 'Channels: RGB' or"),
    ("GIMP Palette\nChannels: RGBA\n1 2 3 300 x\n", "line 3: 300 is out of range"),
    ("GIMP Palette\nChannels: RGBA\n1 2 3\n", "line 3: 3 column(s); need red, green, blue, alpha and an optional name"),
])
def test_a_gimp_palette_channels_line_other_than_rgb_or_rgba_or_a_bad_alpha_is_refused_naming_the_line(
        tmp_path, content, message):
    refused(write_file(tmp_path, "channels.gpl", content), "palette file channels.gpl, " + message)


#: Where Debian's gimp-data, inkscape and qgis packages put the GIMP palettes they ship.
SHIPPED_PALETTE_FOLDERS = ("/usr/share/gimp/2.0/palettes", "/usr/share/inkscape/palettes",
                           "/usr/share/qgis/resources/palettes")


def shipped_gimp_palettes():
    return sorted(os.path.join(folder, name) for folder in SHIPPED_PALETTE_FOLDERS if os.path.isdir(folder)
                  for name in os.listdir(folder) if name.endswith(".gpl"))


@pytest.mark.skipif(not shipped_gimp_palettes(), reason="no GIMP, Inkscape or QGIS palettes installed")
def test_every_gimp_palette_that_gimp_inkscape_or_qgis_ships_reads_one_colour_per_colour_line():
    for path in shipped_gimp_palettes():
        lines = open(path, encoding="utf-8").read().splitlines()
        expected = [line for line in lines[1:] if line.strip() and line.split()[0].isdigit()]
        palette, description = read_palette(path)
        assert (len(palette), description) == (len(expected), "GIMP palette"), path


# -- through Processing and qgis_process ---------------------------------------------------------


@pytest.mark.parametrize("name, content, message", [
    ("long.csv", "10,20,30,ok\n40,50,60," + "x" * 140000 + "\n", "line 2: a field is longer than 131072 characters"),
    ("latin1.csv", "10,20,30,L\xf6ss\n".encode("latin-1"), "line 1: not UTF-8 text (byte 0xf6)"),
    ("hex.csv", "255,0,0\n#00ff00\n0,0,255\n", "line 2: '#00ff00' is a hex colour among red,green,blue lines"),
    ("no_colour.qml", '<qgis><pipe><rasterrenderer type="paletted"><colorPalette>\n<paletteEntry value="0"/>'
                      "</colorPalette></rasterrenderer></pipe></qgis>", "line 2: <paletteEntry> has no color attribute"),
], ids=["long label", "latin-1", "hex among rgb", "qml entry without colour"])
def test_the_quantize_algorithm_refuses_a_bad_palette_file_with_the_readers_message(qgis_app, tmp_path, name, content,
                                                                                      message):
    from qgis.core import QgsProcessingException
    from rasters import quantize, random_rgba, write_raster

    rgba = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7), alpha=True)
    palette = write_file(tmp_path, name, content)
    with pytest.raises(QgsProcessingException, match=re.escape(message)):
        quantize({"INPUT": rgba, "PALETTE_FILE": palette, "OUTPUT": str(tmp_path / "out.tif")})
    assert not os.path.exists(tmp_path / "out.tif")


def test_the_quantize_algorithm_reads_an_index_column_as_an_index_and_refuses_a_colour_map_named_txt(qgis_app,
                                                                                                    tmp_path):
    from qgis.core import QgsProcessingException

    primaries = np.array(PRIMARIES, dtype=np.uint8).T.reshape(3, 2, 2)  # red, green / blue, yellow
    image = write_raster(str(tmp_path / "in.tif"), primaries)
    palette = write_file(tmp_path, "legend.csv", "0,255,0,0\n1,0,255,0\n2,0,0,255\n3,255,255,0\n")
    result = quantize({"INPUT": image, "PALETTE_FILE": palette, "OUTPUT": str(tmp_path / "out.tif")})
    assert read_indices(result["OUTPUT"]).tolist() == [[0, 1], [2, 3]]
    dataset = gdal.Open(result["OUTPUT"])
    table = dataset.GetRasterBand(1).GetColorTable()
    assert [list(table.GetColorEntry(i)[:3]) for i in range(4)] == PRIMARIES
    dataset = None

    landcover = write_file(tmp_path, "landcover.txt", Path(DATA, "landcover_esri.clr").read_text(encoding="utf-8"))
    with pytest.raises(QgsProcessingException, match=r"landcover\.txt, line 2: '1 0 112 255' could be value red "
                                                     r"green blue, as in a colour map, or red green blue alpha"):
        quantize({"INPUT": image, "PALETTE_FILE": landcover, "OUTPUT": str(tmp_path / "map.tif")})
    assert not os.path.exists(tmp_path / "map.tif")


def test_palette_entries_repeating_an_earlier_colour_are_warned_of_as_getting_no_pixel(qgis_app, tmp_path):
    from rasters import feedback_log, random_rgba, write_raster

    rgba = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7), alpha=True)
    palette = write_file(tmp_path, "legend.csv", "255,0,0,Granite\n0,0,255,Schist\n255,0,0,Gneiss\n0,0,255\n")
    feedback = feedback_log()
    result = quantize({"INPUT": rgba, "PALETTE_FILE": palette, "OUTPUT": str(tmp_path / "out.tif")}, feedback=feedback)
    assert ("2 palette entries have the colour of an earlier entry, so no pixel gets them (ties go to the lowest "
            "index): 2 (Gneiss) as 0 (Granite), #ff0000; 3 as 1 (Schist), #0000ff. Give each class its own colour "
            "to tell them apart.") in feedback.warnings
    assert set(np.unique(read_indices(result["OUTPUT"]))) <= {0, 1, 255}


def test_a_black_nodata_entry_beside_a_black_colour_of_the_image_is_not_warned_of(qgis_app, tmp_path):
    from rasters import feedback_log, random_rgba, write_raster

    image = random_rgba(6, 7)
    image[:3, 0, :] = 0  # black pixels: 'frequent' keeps black, beside the black entry kept for nodata
    rgba = write_raster(str(tmp_path / "in.tif"), image, alpha=True)
    feedback = feedback_log()
    quantize({"INPUT": rgba, "PALETTE": "frequent", "N_COLORS": 64, "NODATA_INDEX": 0,
              "OUTPUT": str(tmp_path / "out.tif")}, feedback=feedback)
    assert not [w for w in feedback.warnings if "earlier entry" in w]


def test_the_quantize_algorithm_says_how_to_install_matplotlib_for_an_mpl_palette(qgis_app, tmp_path, monkeypatch):
    from qgis.core import QgsProcessingException
    from rasters import quantize, random_rgba, write_raster

    rgba = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7), alpha=True)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(QgsProcessingException, match="install it .*python3-matplotlib"):
        quantize({"INPUT": rgba, "PALETTE": "mpl:viridis", "OUTPUT": str(tmp_path / "out.tif")})


def test_qgis_process_refuses_a_label_longer_than_csv_allows_instead_of_aborting(qgis_app, tmp_path):
    from rasters import qgis_process, random_rgba, write_raster

    rgba = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7), alpha=True)
    palette = write_file(tmp_path, "long.csv", "10,20,30," + "x" * 140000 + "\n")
    result = qgis_process("run", "palettize:quantize", "--", "INPUT=" + rgba, "PALETTE_FILE=" + palette,
                          "OUTPUT=" + str(tmp_path / "out.tif"))
    assert result.returncode not in (0, 134, -6), result.stdout[-2000:]
    assert "palette file long.csv, line 1: a field is longer than 131072 characters" in result.stdout
    assert not os.path.exists(tmp_path / "out.tif")


@pytest.mark.parametrize("text, named", [("L,a,b\n50,10,20\n80,5,5\n", "columns L, a, b: CIELAB colours"),
                                         ("c,m,y,k\n0,100,100,0\n100,0,100,0\n", "columns c, m, y: CMYK colours"),
                                         ("Hue;Saturation;Lightness\n0;100;50\n", "columns Hue, Saturation, Lightness: "
                                                                                  "HSL colours")])
def test_a_csv_of_another_colour_model_is_refused_not_read_as_red_green_blue(tmp_path, text, named):
    """Its values read as red, green, blue gave other colours without a word (and the 'a' of L,a,b
    was said to be an ignored alpha column while it was read as green)."""
    message = refused(write_file(tmp_path, "p.csv", text), "palette file p.csv, line 1: the header names " + named)
    assert message.endswith("convert the colours to RGB (0-255) and name the columns red, green, blue")


@pytest.mark.parametrize("text", ["R,V,B,Nom\n255,0,0,Forêt\n0,128,0,Prairie\n",
                                  "R;V;A;Nombre\n255;0;0;Forêt\n0;128;0;Prairie\n",
                                  "x y z a\n255 0 0 0\n0 128 0 0\n"])
def test_headers_in_other_languages_or_of_other_names_keep_red_green_blue_first(tmp_path, text):
    """French R,V,B (vert) and Spanish R,V,A (azul) are red, green, blue, not HSV or alpha."""
    palette, description = read_palette(write_file(tmp_path, "p.csv", text))
    assert palette.colours.tolist() == [[255, 0, 0], [0, 128, 0]]
    assert ("alpha column ignored" in description) == text.startswith("x y z a")  # a fourth column 'a' is alpha


@pytest.mark.parametrize("text", [
    "11 70 107 161 Open Water\n21 222 197 197 Developed\n41 104 171 95 Forest\n",
    "1,255,0,0\n5,0,255,0\n9,0,0,255\n",
    "0,10,20,30\n2,40,50,60\n1,70,80,90\n",
    "0,0,0,255\n1,0,0,128\n2,0,0,64\n5,0,0,255\n",  # red 0, 1, 2, 5 and alpha, or blue shades of classes 0, 1, 2, 5
], ids=["land-cover legend", "values 1, 5, 9", "values unsorted", "either"])
def test_a_headerless_csv_of_class_values_and_colours_is_refused_not_read_as_red_and_alpha(tmp_path, text):
    """value,red,green,blue was read as red,green,blue,alpha: every class got another colour (the value
    as red, the real blue dropped as alpha), with a note only."""
    first = text.splitlines()[0]
    columns = (" " if " " in first else ",").join
    refused(write_file(tmp_path, "legend.csv", text), "palette file legend.csv, line 1: {!r} could be {}, as in a "
            "colour map, or {}".format(first, columns(("value", "red", "green", "blue")),
                                       columns(("red", "green", "blue", "alpha"))))
    header = columns(("value", "red", "green", "blue")) + (" label" if "Water" in text else "")
    palette, description = read_palette(write_file(tmp_path, "named.csv", header + "\n" + text))
    assert palette.colours.tolist()[0] == [int(v) for v in re.split("[ ,]", first)[1:4]]
    assert "are not kept: the output's indices are the entries' order, 0, 1, 2" in description


def test_a_comment_starting_like_a_short_hex_colour_is_no_colour_among_hex_lines(tmp_path):
    """'#CAD layer colours' was read as colour #ccaadd labelled 'layer colours': every class one up."""
    palette, _ = read_palette(write_file(tmp_path, "p.csv", "#CAD layer colours\n#ff0000,Red\n#00ff00,Green\n"))
    assert (palette.colours.tolist(), palette.labels) == ([[255, 0, 0], [0, 255, 0]], ("Red", "Green"))
    palette, _ = read_palette(write_file(tmp_path, "q.csv", "#f00,Red\n#00ff00,Green\n"))  # a colour, as before
    assert palette.colours.tolist() == [[255, 0, 0], [0, 255, 0]]


@pytest.mark.parametrize("name, text", [
    ("classes.txt", "# QGIS Generated Color Map Export File\nINTERPOLATION:EXACT\n9,0,0,255,255,Nine\n1,255,0,0,255,One\n"
                    "5,0,255,0,255,Five\n"),
    ("classes.qml", "<qgis><pipe><rasterrenderer type=\"paletted\" band=\"1\"><colorPalette>"
                    "<paletteEntry value=\"9\" color=\"#0000ff\" label=\"Nine\"/>"
                    "<paletteEntry value=\"1\" color=\"#ff0000\" label=\"One\"/>"
                    "<paletteEntry value=\"5\" color=\"#00ff00\" label=\"Five\"/>"
                    "</colorPalette></rasterrenderer></pipe></qgis>\n"),
], ids=["QGIS colour map export", "QGIS paletted style"])
def test_class_values_a_palette_file_does_not_keep_are_said(tmp_path, name, text):
    """A paletted style's classes 9, 1, 5 became entries 0, 1, 2 and the log said nothing (a .clr's
    values were said): a map's class numbers changed without a word."""
    palette, description = read_palette(write_file(tmp_path, name, text))
    assert palette.colours.tolist() == [[0, 0, 255], [255, 0, 0], [0, 255, 0]]
    assert description.endswith("; its values 9, 1, 5 are not kept: the output's indices are the entries' order, "
                                "0, 1, 2")
