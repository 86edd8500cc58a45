"""The repository is a QGIS plugin folder with what the official plugin repository asks for."""

import configparser
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


def test_class_factory_registers_and_unregisters_the_provider(qgis_app):
    from qgis.core import QgsApplication

    import palettize

    registry = QgsApplication.processingRegistry()
    registered = registry.providerById("palettize")
    registry.removeProvider(registered)  # the session's own registration
    try:
        plugin = palettize.classFactory(None)  # iface is None under qgis_process
        plugin.initProcessing()
        provider = registry.providerById("palettize")
        assert provider.name() == "Palettize"
        assert not provider.icon().isNull()
        assert registry.algorithmById("palettize:quantize").displayName() == "Quantize raster to palette"
        plugin.unload()
        assert registry.providerById("palettize") is None
    finally:
        from palettize.algorithms.provider import PalettizeProvider

        registry.addProvider(PalettizeProvider())
