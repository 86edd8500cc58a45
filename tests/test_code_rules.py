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


def imported_modules(path):
    """Every module ``path`` imports, relative imports resolved from the plugin's root."""
    package = os.path.relpath(os.path.dirname(path), ROOT).split(os.sep)
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            yield ".".join(base + ([node.module] if node.module else []))
        elif isinstance(node, ast.ImportFrom):
            yield node.module


def test_the_palette_and_its_file_formats_import_neither_the_engine_nor_the_processing_glue():
    """Arrows run one way, algorithms -> engine -> palettes, so palette files read anywhere."""
    paths = [os.path.join(folder, name) for folder, _, files in os.walk(os.path.join(ROOT, "palettes"))
             for name in files if name.endswith(".py")]
    assert os.path.join(ROOT, "palettes", "formats", "csv.py") in paths
    for path in paths:
        for module in imported_modules(path):
            top = module.replace("palettize.", "", 1).split(".")[0]
            assert top not in ("algorithms", "engine", "qgis"), "{} imports {}".format(path, module)
