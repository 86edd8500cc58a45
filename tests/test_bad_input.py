"""Bad input stops the run with a message that says what to fix, and leaves no file behind."""

import os

import pytest
from qgis.core import QgsProcessingException

from rasters import leftovers, qgis_process, quantize, random_rgba, write_raster

BAD_PALETTES = {
    "missing": (None, "does not exist"),
    "empty": ("", "holds no colours"),
    "not numeric": ("10,20,30\nred,green,blue\n", "line 2: 'red' is not a number"),
    "two columns": ("10,20\n", "line 1: 2 column"),
    "out of range": ("10,20,256\n", "line 1: 10,20,256 is out of range"),
    "negative": ("10,-20,30\n", "line 1: 10,-20,30 is out of range"),
    "too many colours": ("0,0,0\n" * 65536, "65536 colours; at most 65535"),
}


@pytest.fixture
def rgba(tmp_path):
    return write_raster(str(tmp_path / "in.tif"), random_rgba(6, 7), alpha=True)


def refused(params, tmp_path):
    """The message of the QgsProcessingException, after checking nothing was written."""
    with pytest.raises(QgsProcessingException) as error:
        quantize(params)
    output = params["OUTPUT"]
    assert not os.path.exists(output)
    assert not leftovers(os.path.dirname(output) if os.path.isdir(os.path.dirname(output)) else str(tmp_path))
    return str(error.value)


@pytest.mark.parametrize("case", sorted(BAD_PALETTES))
def test_bad_palette_file_is_refused(qgis_app, tmp_path, rgba, case):
    text, message = BAD_PALETTES[case]
    palette = tmp_path / "palette.csv"
    if text is not None:
        palette.write_text(text)
    error = refused({"INPUT": rgba, "PALETTE_FILE": str(palette), "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
    assert message in error
    assert "palette.csv" in error


@pytest.mark.parametrize("band", ["RED_BAND", "GREEN_BAND", "BLUE_BAND", "ALPHA_BAND"])
def test_band_the_layer_does_not_have_is_refused(qgis_app, tmp_path, rgba, band):
    error = refused({"INPUT": rgba, "SOURCE": "bands", band: 9, "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
    label = {"RED_BAND": "Red band", "GREEN_BAND": "Green band", "BLUE_BAND": "Blue band", "ALPHA_BAND": "Alpha band"}
    assert "{} ({}) is 9 but layer".format(label[band], band) in error  # what the dialog shows, and the id
    assert "choose a band from 1 to 4" in error


def test_invalid_input_layer_is_refused(qgis_app, tmp_path):
    not_a_raster = tmp_path / "notes.tif"
    not_a_raster.write_text("this is not a raster")
    error = refused({"INPUT": str(not_a_raster), "OUTPUT": str(tmp_path / "out.tif")}, tmp_path)
    assert "INPUT" in error


def test_output_inside_a_file_is_refused(qgis_app, tmp_path, rgba):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    error = refused({"INPUT": rgba, "OUTPUT": str(blocker / "out.tif")}, tmp_path)
    assert "is not a writable folder" in error


def test_output_format_gdal_cannot_write_is_refused(qgis_app, tmp_path, rgba):
    error = refused({"INPUT": rgba, "OUTPUT": str(tmp_path / "out.docx")}, tmp_path)
    assert "Cannot write '.docx' rasters" in error


def test_qgis_process_refuses_bad_input_with_the_same_message(qgis_app, tmp_path, rgba):
    result = qgis_process("run", "palettize:quantize", "--", "INPUT=" + rgba, "SOURCE=bands", "RED_BAND=7",
                          "OUTPUT=" + str(tmp_path / "out.tif"))
    assert result.returncode != 0
    assert "Red band (RED_BAND) is 7 but layer" in result.stdout
    assert not os.path.exists(tmp_path / "out.tif")
