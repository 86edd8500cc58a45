"""The real QGIS desktop, under Xvfb: the toolbox dialog runs Quantize and the map shows the result.

scripts/desktop_check.py starts the ``qgis`` binary with this checkout as an enabled plugin in a
throw-away profile, opens the algorithm's dialog, presses Run and reports what the project then
holds. Skipped only where neither xvfb-run nor an X display exists (``make test`` installs xvfb).
"""

import importlib.util
import os

import pytest

from rasters import ROOT

_spec = importlib.util.spec_from_file_location("desktop_check", os.path.join(ROOT, "scripts", "desktop_check.py"))
desktop_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(desktop_check)

pytestmark = pytest.mark.skipif(desktop_check.display_available() is None,
                                reason="no xvfb-run and no X display to start QGIS on")


@pytest.fixture(scope="module")
def findings(tmp_path_factory):
    out = tmp_path_factory.mktemp("desktop")
    result, log = desktop_check.launch(str(out), palette="vga16")
    result["out"] = str(out)
    return result


def test_dialog_run_adds_the_indexed_raster_with_the_palette_classes(findings):
    assert findings["failures"] == []
    assert findings["run_ok"] is True
    assert [layer["source"] for layer in findings["project_layers"]] == [findings["results"]["OUTPUT"]]
    assert findings["renderer"] == "paletted"
    assert findings["classes"] == 16 and findings["classes_equal_palette"] is True


def test_dialog_shows_the_main_choices_first_and_no_label_is_cut(findings):
    assert findings["labels"][:7] == ["Input raster layer", "Palette", "Palette file [optional]", "Number of colours",
                                      "Colour distance", "Edge cleanup", "Dithering"]
    assert "Pixel source" in findings["advanced_labels"] and "Sieve: connectedness" in findings["advanced_labels"]
    assert findings["cut_labels"] == [] and findings["advanced_cut_labels"] == []
    assert findings["extractpalette_cut_labels"] == []


def test_the_palette_list_shows_its_groups_in_order_and_no_entry_is_cut(findings):
    from palettize.algorithms import help as help_text
    from palettize.algorithms.quantize import PALETTES

    assert findings["palette_items"] == [help_text.palette_label(option) for option in PALETTES]
    assert findings["palette_current"] == "Fixed: VGA, 16 colours (vga16)"
    assert findings["palette_cut_items"] == []


def test_screenshots_are_saved(findings):
    names = sorted(os.path.basename(path) for path in findings["screenshots"])
    assert names == ["extractpalette_dialog.png", "main_window.png", "quantize_dialog.png",
                     "quantize_dialog_advanced.png", "quantize_log.png", "quantize_palette_list.png"]
    for path in findings["screenshots"]:
        assert path.startswith(findings["out"]) and os.path.getsize(path) > 10000
