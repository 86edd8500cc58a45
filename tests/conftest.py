"""One QGIS for the whole session, with Processing and the Palettize provider registered.

The checkout is imported as the package ``palettize`` (the name it has when installed) through
a symlink in a temporary folder, so tests exercise the same imports QGIS does.
"""

import os
import subprocess
import sys
import tempfile

import pytest
from osgeo import osr

# Say which error style the tests' own osr calls use: GDAL 3.10 (Debian 13) warns when neither
# is chosen, because exceptions become the default in GDAL 4.0. The plugin itself uses no osr.
osr.UseExceptions()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="runtime-"))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGE_DIR = tempfile.mkdtemp(prefix="palettize-pkg-")
os.symlink(ROOT, os.path.join(_PACKAGE_DIR, "palettize"))
sys.path.insert(0, _PACKAGE_DIR)
sys.path.append("/usr/share/qgis/python/plugins")  # QGIS's own 'processing' package


@pytest.fixture(scope="session")
def qgis_app():
    """QGIS started once, with Processing and Palettize registered as QGIS does for the plugin."""
    from qgis.core import QgsApplication

    os.environ["QGIS_CUSTOM_CONFIG_PATH"] = tempfile.mkdtemp(prefix="qgis-profile-")
    app = QgsApplication([], False)
    app.initQgis()
    from processing.core.Processing import Processing

    import palettize

    Processing.initialize()
    app.palettize_plugin = palettize.classFactory(None)  # iface is None, as under qgis_process
    app.palettize_plugin.initProcessing()
    yield app
    app.palettize_plugin.unload()


@pytest.fixture(params=["GDAL errors as return codes", "GDAL exceptions"])
def gdal_error_style(request):
    """Both ways GDAL reports errors: another plugin may switch exceptions on for the process
    (GDAL's and OGR's: before GDAL 3.7 each module has its own switch)."""
    from osgeo import gdal, ogr

    if request.param == "GDAL exceptions":
        gdal.UseExceptions()
        ogr.UseExceptions()
        yield
        ogr.DontUseExceptions()
        gdal.DontUseExceptions()
    else:
        yield


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB file system (tmpfs), or a skip where this system cannot mount one."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount_point)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root)")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def pytest_report_header(config):
    try:
        from osgeo import gdal
        from qgis.core import Qgis
        from qgis.PyQt.QtCore import QT_VERSION_STR

        return "QGIS {}, GDAL {}, Qt {}".format(Qgis.QGIS_VERSION, gdal.__version__, QT_VERSION_STR)
    except ImportError as error:
        return "QGIS not importable: {}".format(error)
