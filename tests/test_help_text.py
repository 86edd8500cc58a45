"""The dialog reads as written, in the dialog's order, and says what the README says."""

import os
import subprocess
import sys

import pytest
from qgis.core import QgsApplication, QgsProcessingParameterDefinition

from palettize.algorithms import help as help_text
from rasters import ROOT

ALGORITHMS = {"palettize:quantize": help_text.QUANTIZE_PARAMETERS,
              "palettize:extractpalette": help_text.EXTRACT_PARAMETERS}
MAIN_ORDER = {
    "palettize:quantize": ["INPUT", "PALETTE", "PALETTE_FILE", "N_COLORS", "METRIC", "CLEANUP", "DITHER"],
    "palettize:extractpalette": ["INPUT", "METHOD", "N_COLORS", "METRIC"],
}
ADVANCED = {"SOURCE", "RED_BAND", "GREEN_BAND", "BLUE_BAND", "ALPHA_BAND", "EXTENT", "PIXEL_SIZE", "ALPHA_THRESHOLD",
            "SEAM_TOLERANCE", "MIN_REGION", "CONNECTEDNESS", "NODATA_INDEX"}


def algorithm(algorithm_id):
    return QgsApplication.processingRegistry().algorithmById(algorithm_id)


@pytest.mark.parametrize("algorithm_id", sorted(ALGORITHMS))
def test_help_has_no_newline_inside_a_paragraph(qgis_app, algorithm_id):
    # QGIS 3.22 makes a paragraph of every line of shortHelpString.
    for line in algorithm(algorithm_id).shortHelpString().split("\n"):
        assert line.strip() and "<p>" not in line
        assert line.count("<code>") == line.count("</code>") and line.count("<b>") == line.count("</b>")


@pytest.mark.parametrize("algorithm_id", sorted(ALGORITHMS))
def test_every_parameter_has_a_label_tooltip_and_help_paragraph_from_one_source(qgis_app, algorithm_id):
    rows = ALGORITHMS[algorithm_id]
    alg = algorithm(algorithm_id)
    shown = alg.shortHelpString()
    for definition in alg.parameterDefinitions():
        row = help_text.find(rows, definition.name())
        assert definition.description() == help_text.label(rows, definition.name())
        if hasattr(definition, "help"):
            assert definition.help() == row.tip
        assert help_text.to_html(row.text) in shown


@pytest.mark.parametrize("algorithm_id", sorted(ALGORITHMS))
def test_the_readme_calls_a_parameter_optional_exactly_when_qgis_does(qgis_app, algorithm_id):
    """RED_BAND, GREEN_BAND and BLUE_BAND are optional to QGIS (qgis_process help says so), and the
    README's type column said only "band"."""
    rows = ALGORITHMS[algorithm_id]
    for definition in algorithm(algorithm_id).parameterDefinitions():
        optional = bool(definition.flags() & QgsProcessingParameterDefinition.FlagOptional)
        assert ("optional" in help_text.find(rows, definition.name()).kind) == optional, definition.name()


@pytest.mark.parametrize("algorithm_id", sorted(ALGORITHMS))
def test_dialog_order_is_main_choices_then_advanced_then_outputs(qgis_app, algorithm_id):
    definitions = algorithm(algorithm_id).parameterDefinitions()
    advanced = [d.name() for d in definitions if d.flags() & QgsProcessingParameterDefinition.FlagAdvanced]
    main = [d.name() for d in definitions if not d.flags() & QgsProcessingParameterDefinition.FlagAdvanced
            and not d.isDestination()]
    outputs = [d.name() for d in definitions if d.isDestination()]
    assert main == MAIN_ORDER[algorithm_id]
    assert set(advanced) == ADVANCED & {d.name() for d in definitions}
    assert [d.name() for d in definitions] == main + advanced + outputs
    # the help and the README list them in the same order
    assert [name for row in ALGORITHMS[algorithm_id] for name in row.ids] == main + advanced + outputs


def test_labels_are_short_enough_for_the_dialog(qgis_app):
    # The dialog's default width leaves about 45 characters (the desktop check measures them).
    for algorithm_id in ALGORITHMS:
        for definition in algorithm(algorithm_id).parameterDefinitions():
            assert len(definition.description()) <= 34, definition.description()


def test_readme_parameter_reference_is_generated_from_the_help():
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "readme_reference.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_readme_script_shows_its_usage_for_help_instead_of_rewriting_the_readme():
    script = os.path.join(ROOT, "scripts", "readme_reference.py")
    with open(os.path.join(ROOT, "README.md"), "rb") as f:
        before = f.read()
    shown = subprocess.run([sys.executable, script, "--help"], stdout=subprocess.PIPE, universal_newlines=True)
    assert shown.returncode == 0 and "--check" in shown.stdout
    mistyped = subprocess.run([sys.executable, script, "--chek"], stderr=subprocess.PIPE, universal_newlines=True)
    assert mistyped.returncode == 2 and "--chek" in mistyped.stderr
    with open(os.path.join(ROOT, "README.md"), "rb") as f:
        assert f.read() == before


def test_the_palette_file_picker_shows_every_format_palettize_reads(qgis_app):
    from palettize.palettes.formats import READ_EXTENSIONS

    definition = algorithm("palettize:quantize").parameterDefinition("PALETTE_FILE")
    shown = definition.fileFilter().split(";;")[0]
    assert all("*" + extension in shown.split("(")[1].rstrip(")").split() for extension in READ_EXTENSIONS)


def test_seam_tolerance_shows_one_decimal(qgis_app):
    definition = algorithm("palettize:quantize").parameterDefinition("SEAM_TOLERANCE")
    assert definition.metadata()["widget_wrapper"]["decimals"] == 1


def test_error_messages_name_the_dialog_label_and_the_id(qgis_app, tmp_path):
    from qgis.core import QgsProcessingContext

    from rasters import SAMPLE_MAP

    ok, message = algorithm("palettize:quantize").checkParameterValues(
        {"INPUT": SAMPLE_MAP, "CLEANUP": "seams", "DITHER": "floyd-steinberg", "OUTPUT": str(tmp_path / "o.tif")},
        QgsProcessingContext())
    assert not ok
    assert "Edge cleanup (CLEANUP) = seams would undo Dithering (DITHER) = floyd-steinberg" in message
    ok, message = algorithm("palettize:quantize").checkParameterValues(
        {"INPUT": SAMPLE_MAP, "PALETTE_FILE": str(tmp_path / "missing.csv"), "OUTPUT": str(tmp_path / "o.tif")},
        QgsProcessingContext())
    assert not ok
    assert message.endswith("clear Palette file (PALETTE_FILE).")


def test_connectedness_takes_the_option_its_index_or_the_number_older_scripts_passed(qgis_app, tmp_path):
    from rasters import SAMPLE_MAP, quantize, read_indices

    outputs = []
    for value in ("8", 1, 8, 8.0):
        output = str(tmp_path / "sieve_{}.tif".format(len(outputs)))
        quantize({"INPUT": SAMPLE_MAP, "PALETTE": "vga16", "CLEANUP": "sieve", "MIN_REGION": 40, "CONNECTEDNESS": value,
                  "OUTPUT": output})
        outputs.append(read_indices(output))
    four = str(tmp_path / "sieve_4.tif")
    quantize({"INPUT": SAMPLE_MAP, "PALETTE": "vga16", "CLEANUP": "sieve", "MIN_REGION": 40, "CONNECTEDNESS": 4,
              "OUTPUT": four})
    assert all((indices == outputs[0]).all() for indices in outputs)
    assert not (read_indices(four) == outputs[0]).all()


def test_connectedness_other_than_4_or_8_is_refused_naming_the_label(qgis_app, tmp_path):
    from qgis.core import QgsProcessingContext

    from rasters import SAMPLE_MAP

    ok, message = algorithm("palettize:quantize").checkParameterValues(
        {"INPUT": SAMPLE_MAP, "CONNECTEDNESS": 5, "OUTPUT": str(tmp_path / "o.tif")}, QgsProcessingContext())
    assert not ok
    assert message == "Sieve: connectedness (CONNECTEDNESS) must be one of 4, 8 (got 5)."


# The options scripts pass and the indices models saved with QGIS 3.22 store: never reordered.
PALETTE_OPTIONS_AS_RELEASED = ("win256", "websafe216", "vga16", "gray256", "exact", "frequent", "kmeans", "mediancut",
                               "mpl:viridis", "mpl:plasma", "mpl:inferno", "mpl:magma", "mpl:cividis", "mpl:turbo")


def test_the_palette_list_groups_fixed_palettes_then_image_palettes_then_colormaps(qgis_app):
    from palettize.algorithms.quantize import PALETTES

    definition = algorithm("palettize:quantize").parameterDefinition("PALETTE")
    labels = definition.options()
    assert labels == [help_text.palette_label(option) for option in PALETTES]
    assert labels[:9] == ["Fixed: Windows, 256 colours (win256)", "Fixed: web-safe, 216 colours (websafe216)",
                          "Fixed: VGA, 16 colours (vga16)", "Fixed: greys, 256 levels (gray256)",
                          "From the image: exact colours (exact)", "From the image: most frequent (frequent)",
                          "From the image: k-means (kmeans)", "From the image: median cut (mediancut)",
                          "Colormap: viridis"]
    groups = [label.split(":")[0] for label in labels]
    assert groups == ["Fixed"] * 4 + ["From the image"] * 4 + ["Colormap"] * (len(PALETTES) - 8)
    assert max(len(label) for label in labels) <= 45  # the desktop check measures them in the dialog
    assert PALETTES[:len(PALETTE_OPTIONS_AS_RELEASED)] == PALETTE_OPTIONS_AS_RELEASED
    assert definition.defaultValue() == 0


@pytest.mark.parametrize("static_strings", [False, True], ids=["QGIS 3.22", "QGIS 3.24+"])
def test_the_labelled_palette_list_holds_indices_and_takes_option_strings(qgis_app, monkeypatch, tmp_path,
                                                                           static_strings):
    from qgis.core import QgsProcessingContext

    from palettize.algorithms import compat
    from palettize.algorithms.quantize import PALETTES, QuantizeAlgorithm
    from rasters import SAMPLE_MAP

    monkeypatch.setattr(compat, "STATIC_ENUM_STRINGS", static_strings)
    quantize = QuantizeAlgorithm()
    quantize.initAlgorithm()
    assert not (hasattr(quantize.parameterDefinition("PALETTE"), "usesStaticStrings")
                and quantize.parameterDefinition("PALETTE").usesStaticStrings())
    for value in ("kmeans", 6, "6"):
        checked = compat.checkable_parameters(quantize, {"PALETTE": value}, {"PALETTE": PALETTES},
                                              quantize.ENUM_LABELS)
        assert checked["PALETTE"] == (6 if value == "kmeans" else value)
    ok, message = quantize.checkParameterValues({"INPUT": SAMPLE_MAP, "PALETTE": "mpl:Wistia",
                                                 "OUTPUT": str(tmp_path / "o.tif")},
                                                QgsProcessingContext())
    assert ok, message
