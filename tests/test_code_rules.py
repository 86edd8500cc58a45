"""Rules the plugin's code keeps: Python 3.9 syntax (QGIS 3.22 on Windows) and QGIS-free engine modules."""

import ast
import os
import subprocess
import sys

from rasters import ROOT


def qgis_free_modules():
    """Every module under engine/ and palettes/ (packages inside them included), as dotted names."""
    for top in ("engine", "palettes"):
        for folder, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")))
            for name in sorted(files):
                if name.endswith(".py"):
                    relative = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].split(os.sep)
                    yield ".".join(relative[:-1] if relative[-1] == "__init__" else relative)


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


def test_every_engine_and_palettes_module_imports_without_qgis(tmp_path):
    import palettize

    modules = list(qgis_free_modules())
    assert "engine.run" in modules and "engine.options" in modules and "palettes.palette" in modules

    (tmp_path / "qgis.py").write_text("raise ImportError('the engine must not import QGIS')\n")
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(palettize.__file__)))
    imports = "".join("import palettize.{}\n".format(module) for module in modules)
    code = "import sys\nsys.path[:0] = [{!r}, {!r}]\n{}".format(str(tmp_path), package_dir, imports)
    result = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)
    assert result.returncode == 0, result.stdout
