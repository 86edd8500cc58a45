#!/usr/bin/python3
"""Write the README's parameter tables from the text the dialog shows (algorithms/help.py).

    /usr/bin/python3 scripts/readme_reference.py          # rewrite README.md
    /usr/bin/python3 scripts/readme_reference.py --check  # exit 1 when README.md is out of date

Each table sits between a ``<!-- BEGIN generated: NAME -->`` and an ``<!-- END generated: NAME -->``
line. Needs no QGIS: algorithms/help.py is plain Python.
"""

import importlib.util
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")


def load_help():
    spec = importlib.util.spec_from_file_location("palettize_help", os.path.join(ROOT, "algorithms", "help.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tables():
    help_text = load_help()
    return {"quantize parameters": help_text.markdown_table(help_text.QUANTIZE_PARAMETERS),
            "extractpalette parameters": help_text.markdown_table(help_text.EXTRACT_PARAMETERS),
            "palette options": help_text.markdown_palette_options()}


def updated(readme):
    for name, table in tables().items():
        pattern = re.compile(r"(<!-- BEGIN generated: {0} -->\n).*?(<!-- END generated: {0} -->)".format(
            re.escape(name)), re.S)
        if not pattern.search(readme):
            raise SystemExit("README.md has no generated section '{}'".format(name))
        readme = pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(2), readme)
    return readme


def main(argv):
    if any(arg in ("-h", "--help") for arg in argv):
        print(__doc__.strip())
        return 0
    unknown = [arg for arg in argv if arg != "--check"]
    if unknown:
        print("readme_reference.py: unknown argument {}; it takes --check or nothing".format(unknown[0]), file=sys.stderr)
        return 2
    with open(README, encoding="utf-8") as f:
        readme = f.read()
    new = updated(readme)
    if "--check" in argv:
        if new != readme:
            print("README.md's parameter reference differs from algorithms/help.py: "
                  "run scripts/readme_reference.py")
            return 1
        return 0
    if new != readme:
        with open(README, "w", encoding="utf-8") as f:
            f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
