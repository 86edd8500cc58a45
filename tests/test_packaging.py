"""`make package` builds a zip that plugins.qgis.org accepts and QGIS loads, and the code is ready
for Qt6 (QGIS 4). The two checks used by `make test` are tested too: each must fail on the mistake
it exists for."""

import configparser
import os
import re
import subprocess
import sys
import zipfile

import pytest

from rasters import ROOT

CHECK_PACKAGE = os.path.join(ROOT, "scripts", "check_package.py")
CHECK_QT6 = os.path.join(ROOT, "scripts", "check_qt6.py")


def run(script, *args):
    return subprocess.run([sys.executable, script] + [str(a) for a in args], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)


def check_package(path):
    """scripts/check_package.py on a development zip: metadata.txt's e-mail may still be the
    placeholder that only a release must replace (see the tests of that refusal below)."""
    return run(CHECK_PACKAGE, "--allow-placeholder-email", path)


def committed_metadata():
    text = subprocess.run(["git", "show", "HEAD:metadata.txt"], cwd=ROOT, stdout=subprocess.PIPE, check=True,
                          universal_newlines=True).stdout
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    return parser["general"]


def committed_version():
    return committed_metadata()["version"]


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """The zip `make package` builds (the same git archive of HEAD; uncommitted changes are not in it)."""
    path = tmp_path_factory.mktemp("dist") / "palettize-{}.zip".format(committed_version())
    subprocess.run(["git", "archive", "--format=zip", "--prefix=palettize/", "-o", str(path), "HEAD"], cwd=ROOT,
                   check=True)
    return path


def rewrite_zip(source, target, replace=None, add=None):
    """A copy of ``source`` with entries replaced (None drops one) and entries added."""
    replace, add = replace or {}, add or {}
    with zipfile.ZipFile(str(source)) as old, zipfile.ZipFile(str(target), "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename in replace:
                if replace[info.filename] is not None:
                    new.writestr(info.filename, replace[info.filename])
            else:
                new.writestr(info, old.read(info.filename))
        for name, data in add.items():
            new.writestr(name, data)
    return target


@pytest.fixture()
def valid_package(package, tmp_path):
    """The package, with supportsQt6=True added if HEAD's metadata.txt lacks it, so that each test
    below fails only for the one mistake it plants."""
    with zipfile.ZipFile(str(package)) as archive:
        metadata = archive.read("palettize/metadata.txt").decode("utf-8")
    if "supportsQt6" not in metadata:
        metadata = metadata.rstrip("\n") + "\nsupportsQt6=True\n"
    (tmp_path / "valid").mkdir()
    return rewrite_zip(package, tmp_path / "valid" / package.name, replace={"palettize/metadata.txt": metadata})


def bad_zip(valid_package, tmp_path, **changes):
    (tmp_path / "bad").mkdir()
    return rewrite_zip(valid_package, tmp_path / "bad" / valid_package.name, **changes)


def test_the_package_passes_the_plugin_repository_checks_and_loads_in_qgis(package):
    result = check_package(package)
    assert result.returncode == 0, "scripts/check_package.py refuses the zip of HEAD:\n" + result.stdout
    assert result.stdout.startswith("OK ")
    assert "palettize:quantize" in result.stdout and "palettize:extractpalette" in result.stdout


def test_the_package_holds_the_plugin_and_no_development_files(package):
    with zipfile.ZipFile(str(package)) as archive:
        names = archive.namelist()
    assert {name.split("/")[0] for name in names} == {"palettize"}
    for shipped in ("__init__.py", "plugin.py", "metadata.txt", "LICENSE", "resources/icon.svg",
                    "algorithms/provider.py", "palettes/builtin/win256.csv"):
        assert "palettize/" + shipped in names
    inside = {name.split("/")[1] for name in names if name.count("/") >= 1}
    assert inside.isdisjoint({"tests", "benchmarks", "scripts", ".ci", "Makefile", ".gitattributes", ".gitignore",
                              "dist", "demo-output"})
    assert not [name for name in names if "__pycache__" in name or name.endswith((".pyc", ".pyo"))]


def test_the_plugin_code_has_no_pyqt5_only_usage():
    result = run(CHECK_QT6)
    assert result.returncode == 0, (
        "scripts/check_qt6.py found PyQt5-only code that breaks on QGIS 4 (rules and fixes are listed in"
        " scripts/check_qt6.py --list-rules):\n" + result.stdout)
    assert result.stdout.startswith("OK")


@pytest.mark.parametrize("line, rule", [
    ("from PyQt5.QtCore import Qt", "pyqt5-import"),
    ("dialog.exec_()", "exec_"),
    ("label.setAlignment(Qt.AlignLeft)", "unscoped-enum"),
    ("field = QgsField('count', QVariant.Int)", "qvariant-type"),
])
def test_the_qt6_check_fails_on_a_planted_pyqt5_only_line(tmp_path, line, rule):
    planted = tmp_path / "planted.py"
    planted.write_text("from qgis.PyQt.QtCore import Qt\n\n{}\n".format(line))
    result = run(CHECK_QT6, planted)
    assert result.returncode == 1, result.stdout
    assert "planted.py:3: [{}]".format(rule) in result.stdout, result.stdout


def test_the_qt6_check_passes_the_qt6_spelling_and_ignores_strings_and_comments(tmp_path):
    fixed = tmp_path / "fixed.py"
    fixed.write_text(
        "from qgis.PyQt.QtCore import Qt\n"
        "from qgis.PyQt.QtWidgets import QDialog\n"
        "dialog = QDialog()\n"
        "dialog.exec()\n"
        "alignment = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop\n"
        "accepted = QDialog.DialogCode.Accepted\n"
        "HELP = 'Qt.AlignLeft and dialog.exec_() in a help text are not code'  # nor from PyQt5 import Qt\n"
        "legacy = Qt.AlignRight  # qt6: ok (a QGIS 3 only branch)\n")
    result = run(CHECK_QT6, fixed)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("planted, expected", [
    ("palettize/__pycache__/plugin.cpython-311.pyc", "__pycache__"),
    ("palettize/algorithms/nearest.pyc", "compiled"),
    ("palettize/tests/test_x.py", "palettize/tests: development-only"),
])
def test_the_package_check_fails_on_a_planted_file(valid_package, tmp_path, planted, expected):
    bad = bad_zip(valid_package, tmp_path, add={planted: b"\x00"})
    result = check_package(bad)
    assert result.returncode == 1, result.stdout
    assert expected in result.stdout, result.stdout


def test_the_package_check_fails_on_missing_metadata_fields(valid_package, tmp_path):
    with zipfile.ZipFile(str(valid_package)) as archive:
        metadata = archive.read("palettize/metadata.txt").decode("utf-8")
    kept = "".join(line for line in metadata.splitlines(True)
                   if not line.startswith(("about=", "tracker=", "homepage=", "supportsQt6=")))
    bad = bad_zip(valid_package, tmp_path, replace={"palettize/metadata.txt": kept})
    result = check_package(bad)
    assert result.returncode == 1, result.stdout
    assert "lacks (or leaves empty): about, tracker, homepage" in result.stdout, result.stdout
    assert "supportsQt6=True is missing" in result.stdout, result.stdout


def test_the_package_check_fails_when_the_plugin_does_not_register_its_algorithms(valid_package, tmp_path):
    with zipfile.ZipFile(str(valid_package)) as archive:
        provider = archive.read("palettize/algorithms/provider.py").decode("utf-8")
    assert "self.addAlgorithm(ExtractPaletteAlgorithm())" in provider
    broken = provider.replace("self.addAlgorithm(ExtractPaletteAlgorithm())", "pass")
    bad = bad_zip(valid_package, tmp_path, replace={"palettize/algorithms/provider.py": broken})
    result = check_package(bad)
    assert result.returncode == 1, result.stdout
    assert "algorithm palettize:extractpalette is not registered" in result.stdout, result.stdout


def test_the_package_check_refuses_a_placeholder_email_and_says_to_set_it(valid_package, tmp_path):
    with zipfile.ZipFile(str(valid_package)) as archive:
        metadata = archive.read("palettize/metadata.txt").decode("utf-8")
    planted = re.sub(r"(?m)^email=.*$", "email=someone@example.com", metadata)
    bad = bad_zip(valid_package, tmp_path, replace={"palettize/metadata.txt": planted})
    result = run(CHECK_PACKAGE, "--no-load", bad)
    assert result.returncode == 1, result.stdout
    assert ("metadata.txt: email=someone@example.com is a placeholder: set email= to the maintainer's real "
            "address") in result.stdout, result.stdout


def test_make_package_leaves_no_zip_while_the_committed_email_is_a_placeholder(tmp_path):
    email = committed_metadata()["email"]
    result = subprocess.run(["make", "--no-print-directory", "package", "DIST={}".format(tmp_path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=600)
    zip_path = tmp_path / "palettize-{}.zip".format(committed_version())
    if email.rsplit("@", 1)[-1] in ("example.org", "example.com", "example.net"):
        assert result.returncode != 0, result.stdout
        assert "email={} is a placeholder".format(email) in result.stdout, result.stdout
        assert "No zip was built" in result.stdout
        assert not zip_path.exists()
    else:  # a real address: the release zip is built and checked
        assert result.returncode == 0, result.stdout
        assert zip_path.is_file()
