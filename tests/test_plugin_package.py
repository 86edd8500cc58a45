"""The repository is a QGIS plugin folder with what the official plugin repository asks for."""

import configparser
import re
import os

from rasters import ROOT

REQUIRED = ["name", "qgisMinimumVersion", "description", "about", "version", "author", "email",
            "repository", "tracker"]


def metadata():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(os.path.join(ROOT, "metadata.txt"), encoding="utf-8")
    return parser["general"]


def test_metadata_has_the_required_fields():
    general = metadata()
    assert [field for field in REQUIRED if not general.get(field)] == []
    assert general["qgisMinimumVersion"] == "3.22"
    assert general["qgisMaximumVersion"] == "4.99"
    assert general["hasProcessingProvider"] == "yes"
    assert os.path.isfile(os.path.join(ROOT, general["icon"]))
    assert os.path.isfile(os.path.join(ROOT, "LICENSE"))


def test_plugin_registers_the_provider_and_unload_removes_it(qgis_app):
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    plugin = qgis_app.palettize_plugin  # made by classFactory(None), as under qgis_process
    provider = registry.providerById("palettize")
    assert provider.name() == "Palettize"
    assert not provider.icon().isNull()
    assert registry.algorithmById("palettize:quantize").displayName() == "Quantize raster to palette"
    plugin.unload()
    try:
        assert registry.providerById("palettize") is None
    finally:
        plugin.initProcessing()
    assert registry.algorithmById("palettize:quantize") is not None


def github_anchor(heading):
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_algorithm_has_help_and_a_help_url_into_the_readme(qgis_app):
    from qgis.core import QgsApplication

    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        anchors = {github_anchor(line.lstrip("#")) for line in f if line.startswith("#")}
    algorithms = QgsApplication.processingRegistry().providerById("palettize").algorithms()
    assert sorted(a.id() for a in algorithms) == ["palettize:extractpalette", "palettize:quantize"]
    for algorithm in algorithms:
        assert len(algorithm.shortHelpString()) > 200
        url, _, anchor = algorithm.helpUrl().partition("#")
        assert url.endswith("/README.md")
        assert anchor in anchors, algorithm.id()


def test_make_install_copies_the_plugin_enables_it_and_leaves_no_temporary_folder(tmp_path):
    """``make install`` from a shell without a runtime folder (ssh, cron, CI): the plugin goes into
    the default profile, qgis_process enables it, and the folder made for qgis_process goes again
    (each install left an empty one in the temporary folder)."""
    import subprocess

    home, temporary = tmp_path / "home", tmp_path / "tmp"
    temporary.mkdir()
    environment = {key: value for key, value in os.environ.items()  # a user's shell: no test profile either
                   if key not in ("XDG_RUNTIME_DIR", "QGIS_CUSTOM_CONFIG_PATH")}
    environment.update(HOME=str(home), TMPDIR=str(temporary), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(["make", "-s", "install"], cwd=ROOT, env=environment, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Enabled: qgis_process run palettize:quantize works" in done.stdout
    plugin = home / ".local/share/QGIS/QGIS3/profiles/default/python/plugins/palettize"
    assert (plugin / "metadata.txt").is_file() and (plugin / "algorithms" / "quantize.py").is_file()
    assert not (plugin / "tests").exists()
    assert list(temporary.iterdir()) == []
