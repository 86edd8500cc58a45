#!/usr/bin/python3
"""Check a plugin zip as the official QGIS plugin repository does, then load it in QGIS.

Usage:
    make package && /usr/bin/python3 scripts/check_package.py dist/palettize-<version>.zip

Static checks, after plugins.qgis.org's uploader (QGIS-Django ``plugins/validator.py``), made
stricter where this project asks for more:

- a readable zip (CRC checked), at most 25 MB, no absolute paths or ``..``;
- one top-level folder, named like a Python package (letters, digits, ``_``), holding
  ``__init__.py``, ``metadata.txt`` and ``LICENSE``;
- no ``__pycache__``, ``.git``, ``__MACOSX``, hidden files, compiled files (``.pyc``, ``.pyo``,
  ``.so``, ``.pyd``, ``.dll``, ``.dylib``, ``.o``, ``.exe``) and no development folders
  (``tests``, ``benchmarks``, ``scripts``, ``.ci``, ``dist``, ``demo-output``, a ``Makefile``);
- every ``.py`` file parses as Python 3.9 (QGIS 3.22 on Windows);
- ``metadata.txt`` parses as the uploader parses it (``%`` must be written ``%%``) and its
  ``[general]`` section has non-empty: name, qgisMinimumVersion, description, about, version,
  author, email, repository, tracker (required upstream) and homepage, tags, changelog, icon
  (recommended upstream, required here); URLs are http(s) and not the template's placeholders;
  the author has no ``/``; the e-mail is no placeholder (a reserved example domain such as
  ``example.org``, ``.invalid`` or ``.test``: set the maintainer's address before a release;
  ``--allow-placeholder-email`` lets tests check a development tree); boolean flags are booleans; the icon is in the zip; the changelog
  mentions the version; the zip's file name (``<name>-<version>.zip``) matches the version;
- ``supportsQt6=True`` and a ``qgisMaximumVersion`` (if any) that admits QGIS 4.

Then, when the static checks pass, the zip is unpacked into a temporary folder and a fresh
Python (``/usr/bin/python3``) starts QGIS headless with a throw-away profile, imports the plugin
from there (not from this checkout), calls ``classFactory(None)`` and ``initProcessing()`` as
QGIS and qgis_process do, checks that the provider and its algorithms are registered, and
unloads it.

Exit status 0 with one ``OK`` line, or 1 with one line per problem.
"""

import argparse
import ast
import codecs
import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from io import StringIO
from urllib.parse import urlparse

MAX_SIZE = 25000000  # plugins.qgis.org's PLUGIN_MAX_UPLOAD_SIZE
UPSTREAM_REQUIRED = ("name", "description", "version", "qgisMinimumVersion", "author", "email", "about", "tracker",
                     "repository")
ALSO_REQUIRED = ("homepage", "tags", "changelog", "icon")
URL_FIELDS = {"tracker": "http://bugs", "repository": "http://repo", "homepage": "http://homepage"}
BOOLEAN_FIELDS = ("experimental", "deprecated", "server", "supportsQt6")
BOOLEAN_VALUES = ("true", "false", "1", "0", "yes", "no")
FORBIDDEN_DIRS = ("__pycache__", ".git", "__MACOSX")
COMPILED = (".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".o", ".exe")
DEVELOPMENT_ONLY = ("tests", "test", "benchmarks", "scripts", ".ci", "dist", "demo-output", "Makefile")
ICON_TYPES = (".png", ".svg", ".jpg", ".jpeg", ".gif")
PROVIDER = "palettize"
ALGORITHMS = ("palettize:quantize", "palettize:extractpalette")
#: Domains reserved for examples and tests (RFC 2606, RFC 6761): an e-mail there reaches nobody.
PLACEHOLDER_DOMAIN = re.compile(r"(^|\.)(example\.(org|com|net)|example|invalid|test|localhost)$", re.IGNORECASE)
DEFAULT_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def static_problems(path, allow_placeholder_email=False):
    """(problems, facts): what plugins.qgis.org (and this project) would refuse in the zip."""
    problems = []
    facts = {}
    size = os.path.getsize(path)
    facts["size"] = size
    if size > MAX_SIZE:
        problems.append("the zip is {:.1f} MB; plugins.qgis.org takes at most {:.0f} MB".format(size / 1e6, MAX_SIZE / 1e6))
    if not zipfile.is_zipfile(path):
        return problems + ["not a zip file"], facts
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
        if bad:
            return problems + ["corrupt zip entry (CRC error): {}".format(bad)], facts
        names = archive.namelist()
        facts["files"] = len([n for n in names if not n.endswith("/")])
        problems += _name_problems(names)
        tops = sorted({name.split("/")[0] for name in names})
        if len(tops) != 1 or not any("/" in name for name in names):
            return problems + ["the zip must hold exactly one top-level folder (found: {})".format(
                ", ".join(tops) or "nothing")], facts
        top = tops[0]
        facts["folder"] = top
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]+$", top):
            problems.append("top-level folder {!r}: must start with a letter and hold only letters, digits and _"
                            " (it is imported as a Python package)".format(top))
        for required in ("__init__.py", "metadata.txt", "LICENSE"):
            if top + "/" + required not in names:
                problems.append("{}/{} is missing".format(top, required))
        for name in names:
            if name.endswith(".py"):
                try:
                    ast.parse(archive.read(name).decode("utf-8"), filename=name, feature_version=(3, 9))
                except (SyntaxError, ValueError) as error:  # ValueError: null bytes, bad UTF-8
                    problems.append("{}: does not parse as Python 3.9: {}".format(name, error))
        if top + "/metadata.txt" in names:
            metadata_problems, metadata = _metadata_problems(archive.read(top + "/metadata.txt"), names, top,
                                                              allow_placeholder_email)
            problems += metadata_problems
            facts["metadata"] = metadata
            version = metadata.get("version", "")
            stem = re.match(r"^(.+)-(\d[\w.]*)\.zip$", os.path.basename(path))
            if version and stem and stem.group(2) != version:
                problems.append("the zip is named for version {} but metadata.txt says version={}".format(
                    stem.group(2), version))
    return problems, facts


def _name_problems(names):
    problems = []
    development = []
    for name in names:
        parts = [part for part in name.split("/") if part]
        if name.startswith("/") or "\\" in name or ".." in parts or re.match(r"^[A-Za-z]:", name):
            problems.append("{}: paths must be relative, with / and without ..".format(name))
            continue
        forbidden = [part for part in parts if part in FORBIDDEN_DIRS]
        if forbidden:
            problems.append("{}: {} folders are refused by plugins.qgis.org".format(name, forbidden[0]))
        elif name.lower().endswith(COMPILED):
            problems.append("{}: compiled files are refused (ship sources only)".format(name))
        elif any(part.startswith(".") for part in parts):
            problems.append("{}: hidden files do not belong in the plugin".format(name))
        if len(parts) >= 2 and parts[1] in DEVELOPMENT_ONLY and "/".join(parts[:2]) not in development:
            development.append("/".join(parts[:2]))
    problems += ["{}: development-only, keep it out of the zip (.gitattributes export-ignore)".format(entry)
                 for entry in development]
    return problems


def _metadata_problems(raw, names, top, allow_placeholder_email=False):
    problems = []
    parser = configparser.ConfigParser()  # as the uploader: default interpolation, case kept
    parser.optionxform = str
    try:
        parser.read_file(StringIO(codecs.decode(raw, "utf8")))
    except (configparser.Error, UnicodeDecodeError) as error:
        return ["metadata.txt does not parse: {}".format(" ".join(str(error).split()))], {}
    if not parser.has_section("general"):
        return ["metadata.txt has no [general] section"], {}
    try:
        metadata = {key: value.strip() for key, value in parser.items("general")}
    except configparser.Error as error:  # e.g. a lone % that the uploader's interpolation rejects
        detail = " ".join(str(error).split())
        detail = detail if len(detail) <= 100 else detail[:97] + "..."
        return ["metadata.txt: the uploader's parser fails on a lone % (write %%): {}".format(detail)], {}
    missing = [field for field in UPSTREAM_REQUIRED + ALSO_REQUIRED if not metadata.get(field)]
    if missing:
        problems.append("metadata.txt lacks (or leaves empty): {}".format(", ".join(missing)))
    for field, placeholder in URL_FIELDS.items():
        url = metadata.get(field)
        if url:
            parsed = urlparse(url)
            if url == placeholder or parsed.scheme not in ("http", "https") or not parsed.netloc:
                problems.append("metadata.txt: {}={!r} is not a real http(s) URL".format(field, url))
    if "/" in metadata.get("author", ""):
        problems.append("metadata.txt: author may not contain /")
    if metadata.get("email") and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", metadata["email"]):
        problems.append("metadata.txt: email={!r} is not an e-mail address".format(metadata["email"]))
    elif metadata.get("email") and PLACEHOLDER_DOMAIN.search(metadata["email"].rsplit("@", 1)[-1]) \
            and not allow_placeholder_email:
        problems.append("metadata.txt: email={} is a placeholder: set email= to the maintainer's real address "
                        "(plugins.qgis.org writes to it about the plugin) before building a release".format(
                            metadata["email"]))
    version = metadata.get("version", "")
    if version and not re.match(r"^\d+\.\d+(\.\d+)?$", version):
        problems.append("metadata.txt: version={!r} should read like 1.2.3".format(version))
    for field in ("qgisMinimumVersion", "qgisMaximumVersion"):
        if metadata.get(field) and not re.match(r"^\d+\.\d+(\.\d+)?$", metadata[field]):
            problems.append("metadata.txt: {}={!r} should read like 3.22".format(field, metadata[field]))
    for field in BOOLEAN_FIELDS:
        if field in metadata and metadata[field].lower() not in BOOLEAN_VALUES:
            problems.append("metadata.txt: {}={!r} is not a boolean (True/False)".format(field, metadata[field]))
    if metadata.get("supportsQt6", "").lower() not in ("true", "yes", "1"):
        problems.append("metadata.txt: supportsQt6=True is missing (QGIS 4 / Qt6 readiness)")
    maximum = metadata.get("qgisMaximumVersion", "")
    if re.match(r"^\d+", maximum) and int(maximum.split(".")[0]) < 4:
        problems.append("metadata.txt: qgisMaximumVersion={} keeps the plugin out of QGIS 4 (use 4.99)".format(maximum))
    if metadata.get("hasProcessingProvider", "yes").lower() not in ("yes", "no", "true", "false"):
        problems.append("metadata.txt: hasProcessingProvider must be yes or no")
    tags = [tag.strip() for tag in metadata.get("tags", "").split(",")]
    if metadata.get("tags") and not all(tags):
        problems.append("metadata.txt: tags has an empty entry (comma-separated list)")
    if version and metadata.get("changelog") and version not in metadata["changelog"]:
        problems.append("metadata.txt: the changelog does not mention version {}".format(version))
    icon = metadata.get("icon", "")
    if icon:
        icon_path = icon[2:] if icon.startswith("./") else icon
        if top + "/" + icon_path not in names:
            problems.append("metadata.txt: icon={} is not in the zip".format(icon))
        elif not icon_path.lower().endswith(ICON_TYPES):
            problems.append("metadata.txt: icon={} is not a PNG, SVG, JPEG or GIF".format(icon))
    return problems, metadata


IMPORT_CHECK = r"""
import json, os, sys
plugin_dir, package, provider_id, algorithms = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
sys.path.insert(0, plugin_dir)
from qgis.core import Qgis, QgsApplication
app = QgsApplication([], False)
app.initQgis()
sys.path.append(os.path.join(QgsApplication.pkgDataPath(), "python", "plugins"))  # QGIS's processing
from processing.core.Processing import Processing
Processing.initialize()
report = {"qgis": Qgis.QGIS_VERSION, "problems": []}
import importlib
module = importlib.import_module(package)
where = os.path.realpath(module.__file__)
if not where.startswith(os.path.realpath(plugin_dir) + os.sep):
    report["problems"].append("imported {} from {}, not from the unpacked zip".format(package, where))
plugin = module.classFactory(None)
plugin.initProcessing()
registry = QgsApplication.processingRegistry()
provider = registry.providerById(provider_id)
if provider is None:
    report["problems"].append("provider {!r} is not registered after initProcessing()".format(provider_id))
else:
    report["provider"] = provider.name()
    report["algorithms"] = sorted(a.id() for a in provider.algorithms())
    for algorithm in algorithms:
        if registry.algorithmById(algorithm) is None:
            report["problems"].append("algorithm {} is not registered".format(algorithm))
plugin.unload()
if registry.providerById(provider_id) is not None:
    report["problems"].append("provider {!r} is still registered after unload()".format(provider_id))
print("CHECK-PACKAGE " + json.dumps(report), flush=True)
app.exitQgis()
"""


def import_problems(path, folder, python=DEFAULT_PYTHON, provider=PROVIDER, algorithms=ALGORITHMS):
    """(problems, report): load the unpacked plugin in a fresh QGIS."""
    scratch = tempfile.mkdtemp(prefix="check-package-")
    try:
        unpacked = os.path.join(scratch, "plugins")
        with zipfile.ZipFile(path) as archive:
            archive.extractall(unpacked)  # names were checked: relative, no ..
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONDONTWRITEBYTECODE="1",
                   QGIS_CUSTOM_CONFIG_PATH=os.path.join(scratch, "profile"),
                   XDG_RUNTIME_DIR=os.path.join(scratch, "runtime"))
        env.pop("PYTHONPATH", None)  # only the unpacked zip (and the system's QGIS) may be seen
        os.makedirs(env["XDG_RUNTIME_DIR"], mode=0o700)
        try:
            result = subprocess.run([python, "-c", IMPORT_CHECK, unpacked, folder, provider] + list(algorithms),
                                    cwd=scratch, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    universal_newlines=True, timeout=600)
        except subprocess.TimeoutExpired:
            return ["loading the plugin in QGIS did not finish within 600 s"], {}
        for line in result.stdout.splitlines():
            if line.startswith("CHECK-PACKAGE "):
                report = json.loads(line[len("CHECK-PACKAGE "):])
                return report["problems"], report
        tail = "\n    ".join(result.stdout.strip().splitlines()[-15:])
        return ["loading the plugin in QGIS failed (exit {}):\n    {}".format(result.returncode, tail)], {}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def check(path, load=True, python=DEFAULT_PYTHON, allow_placeholder_email=False):
    """(problems, summary line)."""
    if not os.path.isfile(path):
        return ["{}: no such file".format(path)], ""
    problems, facts = static_problems(path, allow_placeholder_email)
    if problems:
        if load:
            problems.append("(not loaded in QGIS until the problems above are fixed)")
        return problems, ""
    metadata = facts["metadata"]
    summary = "OK {}: {} {}, {} files, {:.0f} kB, metadata complete, supportsQt6=True".format(
        path, metadata["name"], metadata["version"], facts["files"], facts["size"] / 1000)
    if load:
        problems, report = import_problems(path, facts["folder"], python)
        if problems:
            return problems, ""
        summary += "; loads in QGIS {}: provider {!r} with {}".format(
            report["qgis"], PROVIDER, ", ".join(report["algorithms"]))
    return [], summary


def main(argv=None):
    parser = argparse.ArgumentParser(description="Check a QGIS plugin zip as plugins.qgis.org does, then load it.")
    parser.add_argument("zip", help="the plugin zip, e.g. dist/palettize-0.2.0.zip")
    parser.add_argument("--no-load", action="store_true", help="static checks only; do not start QGIS")
    parser.add_argument("--python", default=DEFAULT_PYTHON, help="the Python with QGIS (default: %(default)s)")
    parser.add_argument("--allow-placeholder-email", action="store_true",
                        help="accept a placeholder e-mail (tests of a development tree; never for a release)")
    args = parser.parse_args(argv)
    problems, summary = check(args.zip, load=not args.no_load, python=args.python,
                              allow_placeholder_email=args.allow_placeholder_email)
    if problems:
        print("{}: {} problem(s)".format(args.zip, len([p for p in problems if not p.startswith("(")])))
        for problem in problems:
            print("  - " + problem)
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
