"""The QGIS style written beside the output replaces only a style Palettize wrote for that output,
never a user's file: a palette file, the input's own style, a style for another raster."""

import os
import subprocess

import pytest
from osgeo import gdal
from qgis.core import QgsProcessingException, QgsRasterLayer

from palettize.palettes.palette import builtin_palette
from rasters import ROOT, feedback_log, quantize, random_rgba, write_raster



def paletted_classes(raster):
    layer = QgsRasterLayer(str(raster), "classes")
    return [c.color.getRgb()[:3] for c in layer.renderer().classes()] if layer.renderer().type() == "paletted" else []


def test_a_palette_file_beside_the_output_is_not_replaced_by_its_style(qgis_app, tmp_path):
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(5, 6), alpha=True)
    legend = tmp_path / "legend.qml"
    legend.write_text(
        "<!DOCTYPE qgis><qgis><pipe><rasterrenderer type='paletted' band='1'><colorPalette>"
        "<paletteEntry value='0' color='#ff0000' label='red'/><paletteEntry value='1' color='#0000ff' label='blue'/>"
        "</colorPalette></rasterrenderer></pipe></qgis>\n")
    before = legend.read_text()
    feedback = feedback_log()
    quantize({"INPUT": source, "PALETTE_FILE": str(legend), "OUTPUT": str(tmp_path / "legend.tif")}, feedback=feedback)
    assert legend.read_text() == before
    assert any("legend.qml exists and is not a style Palettize wrote" in w for w in feedback.warnings)


def test_an_output_named_like_an_earlier_one_but_for_its_extension_is_told_whose_classes_qgis_draws(qgis_app,
                                                                                                     tmp_path):
    """QGIS opens classes.tif and classes.img with the same classes.qml: the second output's
    warning said only that the file "is not a style Palettize wrote" for it, and QGIS drew the grey
    classes.img with the VGA colours of classes.tif."""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(5, 6), alpha=True)
    quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "classes.tif")})
    style = (tmp_path / "classes.qml").read_text()
    feedback = feedback_log()
    quantize({"INPUT": source, "PALETTE": "gray256", "OUTPUT": str(tmp_path / "classes.img")}, feedback=feedback)
    assert (tmp_path / "classes.qml").read_text() == style
    assert "No QGIS style was saved beside the output: {} is the style Palettize wrote for classes.tif, which QGIS " \
        "opens classes.img with too: it was kept, and QGIS draws classes.img with the classes of classes.tif (give " \
        "the output another name).".format(tmp_path / "classes.qml") in feedback.warnings
    vga16 = [tuple(c) for c in builtin_palette("vga16").colours.tolist()]
    assert paletted_classes(tmp_path / "classes.img") == paletted_classes(tmp_path / "classes.tif") == vga16


def test_the_inputs_own_style_is_not_replaced_by_an_output_of_the_same_name(qgis_app, tmp_path):
    source = write_raster(str(tmp_path / "map.tif"), random_rgba(5, 6), alpha=True)
    own_style = tmp_path / "map.qml"
    own_style.write_text("<!DOCTYPE qgis><qgis><!-- the user's own style --></qgis>\n")
    feedback = feedback_log()
    quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "map.png")}, feedback=feedback)
    assert own_style.read_text() == "<!DOCTYPE qgis><qgis><!-- the user's own style --></qgis>\n"
    assert (tmp_path / "map.png").exists()
    assert any("map.qml would also be the style QGIS opens the input map.tif with" in w for w in feedback.warnings)


def test_an_output_named_like_the_input_gets_no_style_that_qgis_would_open_the_input_with(qgis_app, tmp_path):
    """map.xyz beside map.tif: its style would be map.qml, the style QGIS opens map.tif with."""
    source = write_raster(str(tmp_path / "map.tif"), random_rgba(5, 6), alpha=True)
    feedback = feedback_log()
    quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(tmp_path / "map.xyz")}, feedback=feedback)
    assert (tmp_path / "map.xyz").exists()
    assert not (tmp_path / "map.qml").exists()
    assert paletted_classes(source) == []  # QGIS opens the input as before
    assert any("map.qml would also be the style QGIS opens the input map.tif with" in w for w in feedback.warnings)


def test_the_command_line_gives_no_output_the_style_of_its_input(tmp_path):
    source = write_raster(str(tmp_path / "map.tif"), random_rgba(5, 6), alpha=True)
    result = subprocess.run([os.path.join(ROOT, "scripts", "palettize"), "quantize", source, "--palette", "vga16",
                             "-o", str(tmp_path / "map.xyz")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "map.xyz").exists() and not (tmp_path / "map.qml").exists()
    assert "map.qml would also be the style QGIS opens the input map.tif with" in result.stderr


@pytest.mark.parametrize("named", ["a link", "a connection string"])
def test_an_input_named_another_way_still_keeps_its_style_from_an_output_beside_it(tmp_path, named):
    """alias.tif -> data/map.tif, or GTIFF_DIR:1:data/map.tif, quantized to data/map.xyz wrote
    data/map.qml: QGIS then opened data/map.tif with the output's classes. Extracting a palette
    to data/map.qml from it was let through too."""
    os.mkdir(str(tmp_path / "data"))
    source = write_raster(str(tmp_path / "data" / "map.tif"), random_rgba(5, 6), alpha=True)
    if named == "a link":
        os.symlink(source, str(tmp_path / "alias.tif"))
        given = str(tmp_path / "alias.tif")
    else:
        given = "GTIFF_DIR:1:" + source
    script = os.path.join(ROOT, "scripts", "palettize")
    result = subprocess.run([script, "quantize", given, "--palette", "vga16", "-o", str(tmp_path / "data" / "map.xyz")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "map.xyz").exists() and not (tmp_path / "data" / "map.qml").exists()
    assert "map.qml would also be the style QGIS opens map.tif with (the input {} is that file)".format(
        os.path.basename(given)) in result.stderr
    result = subprocess.run([script, "extract", given, "--n-colors", "4", "-o", str(tmp_path / "data" / "map.qml")],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "would be the style QGIS opens map.tif with (the input {} is that file)".format(
        os.path.basename(given)) in result.stderr
    assert not (tmp_path / "data" / "map.qml").exists()


def test_a_style_palettize_wrote_for_the_same_output_is_replaced(qgis_app, tmp_path):
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(5, 6), alpha=True)
    output = tmp_path / "classes.tif"
    quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(output)})
    feedback = feedback_log()
    quantize({"INPUT": source, "PALETTE": "websafe216", "OUTPUT": str(output)}, feedback=feedback)
    assert not feedback.warnings
    assert paletted_classes(output) == [tuple(c) for c in builtin_palette("websafe216").colours.tolist()]


def test_an_output_named_with_three_hyphens_gets_a_style_qgis_can_read_and_a_later_run_replaces(qgis_app, tmp_path):
    # '--' may not appear in an XML comment; replacing it once leaves '--' in 'map---v2'.
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(5, 6), alpha=True)
    output = tmp_path / "map---v2.tif"
    quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": str(output)})
    assert paletted_classes(output) == [tuple(c) for c in builtin_palette("vga16").colours.tolist()]
    feedback = feedback_log()
    quantize({"INPUT": source, "PALETTE": "websafe216", "OUTPUT": str(output)}, feedback=feedback)
    assert not feedback.warnings
    assert paletted_classes(output) == [tuple(c) for c in builtin_palette("websafe216").colours.tolist()]


def test_labels_holding_characters_xml_cannot_hold_leave_a_style_qgis_loads_with_the_other_characters(qgis_app,
                                                                                                      tmp_path):
    """A legend's label with U+FFFF or U+FFFE (UTF-8 carries them) made the .qml invalid XML: QGIS
    opened the output with the 256 padded entries of its colour table, and the run said nothing."""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(5, 6), alpha=True)
    legend = tmp_path / "legend.csv"
    legend.write_text("red,green,blue,label\n255,0,0,gran\uffffite\n0,0,255,wa\ufffeter\u0007\n", encoding="utf-8")
    output = tmp_path / "classes.tif"
    quantize({"INPUT": source, "PALETTE_FILE": str(legend), "OUTPUT": str(output)})
    layer = QgsRasterLayer(str(output), "classes")
    message, loaded = layer.loadNamedStyle(str(tmp_path / "classes.qml"))
    assert loaded, message
    classes = layer.renderer().classes()
    assert [(c.label, c.color.getRgb()[:3]) for c in classes] == [("granite", (255, 0, 0)), ("water", (0, 0, 255))]


def set_immutable(path, on=True):
    """The file system's immutable flag of ``path`` (chattr +i: not even root can replace the
    file), set through the ioctl chattr uses (a minimal Debian has no chattr); False where it cannot be."""
    import array
    import fcntl

    get_flags, set_flags, immutable_flag = 0x80086601, 0x40086602, 0x10  # FS_IOC_GETFLAGS, FS_IOC_SETFLAGS, FS_IMMUTABLE_FL
    descriptor = os.open(str(path), os.O_RDONLY)
    try:
        flags = array.array("i", [0])
        fcntl.ioctl(descriptor, get_flags, flags, True)
        flags[0] = flags[0] | immutable_flag if on else flags[0] & ~immutable_flag
        fcntl.ioctl(descriptor, set_flags, flags)
        return True
    except OSError:
        return False
    finally:
        os.close(descriptor)


@pytest.fixture
def immutable():
    """set_immutable on the given paths, undone after the test (skipped where it cannot be set)."""
    made = []

    def make(path):
        if not set_immutable(path):
            pytest.skip("this file system has no immutable flag (chattr +i) for Palettize's tests")
        made.append(path)
    yield make
    for path in made:
        if os.path.lexists(str(path)):
            set_immutable(path, False)


def test_a_file_beside_the_output_the_run_cannot_replace_is_refused_before_any_work(qgis_app, tmp_path, immutable):
    """An earlier run's .qml, or an earlier raster's .ovr, that cannot be replaced or removed
    (immutable) failed the run after all its work, with a raw "[Errno 1] Operation not permitted"
    naming Palettize's staging folder. A link is moved as itself: a dangling one is no obstacle."""
    source = write_raster(str(tmp_path / "in.tif"), random_rgba(6, 9, seed=4), alpha=True)
    output = str(tmp_path / "out.tif")
    quantize({"INPUT": source, "PALETTE": "vga16", "OUTPUT": output})
    said = "Cannot write Indexed raster (OUTPUT) {}: {} beside it is read-only, and the run would replace or remove " \
        "it. Make it writable, or choose another path for Indexed raster (OUTPUT)."
    (tmp_path / "out.tif.ovr").write_bytes(b"an earlier raster's overviews, removed with it")
    for name in ("out.qml", "out.tif.ovr"):
        before = {name: (tmp_path / name).read_bytes() for name in ("out.tif", "out.qml", "out.tif.ovr")}
        immutable(tmp_path / name)
        with pytest.raises(QgsProcessingException) as error:
            quantize({"INPUT": source, "PALETTE": "win256", "OUTPUT": output})
        assert said.format(output, tmp_path / name) in str(error.value)
        assert {name: (tmp_path / name).read_bytes() for name in before} == before
        set_immutable(tmp_path / name, False)
    os.remove(str(tmp_path / "out.tif.aux.xml"))
    os.symlink(str(tmp_path / "gone.xml"), str(tmp_path / "out.tif.aux.xml"))
    (tmp_path / "user.qml").write_text("<qgis>a style of the user's</qgis>")
    os.replace(str(tmp_path / "user.qml"), str(tmp_path / "out.qml"))
    immutable(tmp_path / "out.qml")  # not the run's: kept, as any user's style is, and no reason to refuse
    quantize({"INPUT": source, "PALETTE": "win256", "OUTPUT": output})
    assert gdal.Open(output).GetRasterBand(1).GetColorTable().GetCount() >= 256  # the new run's
    assert (tmp_path / "out.qml").read_text() == "<qgis>a style of the user's</qgis>"
    assert not os.path.lexists(str(tmp_path / "out.tif.ovr"))
