"""Users bring their palette as CSV; bad files are refused with the line and the fix."""

import os

import numpy as np
import pytest

from palettize.palettes.formats import PaletteFileError, read_palette, write_palette_csv
from palettize.palettes.palette import BUILTIN_NAMES, Palette, builtin_palette
from rasters import ROOT


def write(tmp_path, text, name="palette.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_win256_is_the_seed_palette_in_its_order():
    path = ROOT + "/../shared/seed/Windows_256_color_palette_RGB.csv"
    if not os.path.exists(path):  # CI has ../shared beside the clone; a bare clone may not
        pytest.skip("the seed palette is not beside this checkout: " + path)
    seed = np.loadtxt(path, delimiter=",")
    assert np.array_equal(builtin_palette("win256").colours, seed)


def test_builtin_palettes_have_their_sizes():
    sizes = {name: len(builtin_palette(name)) for name in BUILTIN_NAMES}
    assert sizes == {"win256": 256, "websafe216": 216, "vga16": 16, "gray256": 256}
    assert builtin_palette("vga16").labels[0] == "black"


def test_integer_csv_with_header_and_labels(tmp_path):
    palette, scale = read_palette(write(tmp_path, "r,g,b,name\n255,0,0,Granite\n0,128,0,Schist\n"))
    assert palette.colours.tolist() == [[255, 0, 0], [0, 128, 0]]
    assert palette.labels == ("Granite", "Schist")
    assert scale == "0-255 integers"


def test_float_csv_is_scaled_from_0_1(tmp_path):
    palette, scale = read_palette(write(tmp_path, "1.0,0.5,0\n0,0,0.25\n"))
    assert palette.colours.tolist() == [[255, 128, 0], [0, 0, 64]]
    assert scale == "0-1 floats"
    assert palette.labels is None


def test_semicolon_and_quoted_labels(tmp_path):
    palette, _ = read_palette(write(tmp_path, '10;20;30;"Sand; fine"\n'))
    assert palette.labels == ("Sand; fine",)


def test_round_trip_keeps_colours_and_labels(tmp_path):
    palette = Palette([[1, 2, 3], [250, 251, 252]], ["a, with comma", "b"])
    path = str(tmp_path / "out.csv")
    write_palette_csv(palette, path)
    assert read_palette(path)[0] == palette


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "holds no colours"),
        ("red,green,blue\n", "holds no colours"),
        ("10,20,30\n10,x,30\n", "line 2: 'x' is not a number"),
        ("10,20\n", "line 1: 2 column(s)"),
        ("10,20,30\n300,0,0\n", "line 2: 300,0,0 is out of range"),
        ("10,-1,30\n", "line 1: 10,-1,30 is out of range"),
        ("0.5,0.5,2.5\n", "line 1: 0.5,0.5,2.5 is out of range; use"),
        # a value above 1 among 0-1 floats: its own line is named, not a good line of fractions
        ("0.5,0.2,0.1\n0.1,0.2,0.3\n1.5,0.2,0.1\n", "line 3: 1.5,0.2,0.1 is out of range (the other lines hold 0-1"),
        ("0.5,0.2,0.1\n0.1,0.2,0.3\n128,0,0\n", "line 3: 128,0,0 is out of range (the other lines hold 0-1"),
        ("0.5,0.5,0.25\n128,0,0\n64,0,0\n", "line 1: 0.5,0.5,0.25 is out of range; use"),
    ],
)
def test_malformed_files_are_refused_with_line_and_reason(tmp_path, text, message):
    with pytest.raises(PaletteFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_palette(write(tmp_path, text))


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(PaletteFileError, match="does not exist"):
        read_palette(str(tmp_path / "nope.csv"))


def test_more_than_65535_colours_are_refused(tmp_path):
    with pytest.raises(PaletteFileError, match="65536 colours; at most 65535"):
        read_palette(write(tmp_path, "1,2,3\n" * 65536))


def test_floats_without_fractions_are_still_0_1_floats(tmp_path):
    palette, scale = read_palette(write(tmp_path, "1.0,0,0\n0,0,1.0\n"))
    assert palette.colours.tolist() == [[255, 0, 0], [0, 0, 255]]
    assert scale == "0-1 floats"


def test_integers_written_with_a_point_are_0_255(tmp_path):
    palette, scale = read_palette(write(tmp_path, "128.0,0,0\n"))
    assert palette.colours.tolist() == [[128, 0, 0]]
    assert scale == "0-255 integers"


@pytest.mark.parametrize("separator", ["\u2028", "\x85", "\x0c"], ids=["line separator", "next line", "form feed"])
@pytest.mark.parametrize("name, lines", [
    ("palette.csv", ["red,green,blue,label", "255,0,0,Gabbro{}Norite", "0,255,0,Granite", "0,0,255,Basalt"]),
    ("palette.gpl", ["GIMP Palette", "255 0 0 Gabbro{}Norite", "0 255 0 Granite", "0 0 255 Basalt"]),
    ("palette.clr", ["0 255 0 0 Gabbro{}Norite", "1 0 255 0 Granite", "2 0 0 255 Basalt"]),
])
def test_a_label_holding_a_character_python_breaks_lines_at_stays_on_its_line(tmp_path, separator, name, lines):
    """U+2028 (text pasted from a PDF), U+0085 and form feeds broke the line in two: a valid file of
    three entries was refused, naming a line the editor shows as right."""
    path = tmp_path / name
    path.write_text("\n".join(lines).format(separator) + "\n", encoding="utf-8")
    palette = read_palette(str(path))[0]
    assert palette.colours.tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255]]
    assert palette.labels[0] == "Gabbro Norite"  # on one line, as every format writes it
    assert list(palette.labels[1:]) == ["Granite", "Basalt"]
