"""Rules the plugin's code keeps: Python 3.9 syntax (QGIS 3.22 on Windows) and QGIS-free engine modules."""

import ast
import os
import subprocess
import sys

from rasters import ROOT

QGIS_FREE = ["algorithms/nearest.py", "algorithms/colorspace.py", "algorithms/colour_difference.py",
             "algorithms/engine.py", "algorithms/report.py", "algorithms/cleanup.py", "algorithms/dither.py",
             "palettes/palette.py", "palettes/formats.py", "palettes/adaptive.py"]


def python_files():
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("benchmarks", "demo-output", "dist")]
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(folder, name)


def test_every_module_parses_as_python_3_9():
    for path in python_files():
        with open(path, encoding="utf-8") as f:
            ast.parse(f.read(), filename=path, feature_version=(3, 9))


def test_engine_modules_import_without_qgis(tmp_path):
    import palettize

    (tmp_path / "qgis.py").write_text("raise ImportError('the engine must not import QGIS')\n")
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(palettize.__file__)))
    imports = "".join("import palettize.{}\n".format(path[:-3].replace("/", ".")) for path in QGIS_FREE)
    code = "import sys\nsys.path[:0] = [{!r}, {!r}]\n{}".format(str(tmp_path), package_dir, imports)
    result = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    assert result.returncode == 0, result.stdout
