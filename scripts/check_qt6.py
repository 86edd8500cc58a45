#!/usr/bin/python3
"""Fail on Python code that works with PyQt5 (QGIS 3) but not with PyQt6 (QGIS 4).

Usage:
    /usr/bin/python3 scripts/check_qt6.py [--list-rules] [path ...]

Without paths it scans every tracked *.py of the repository (tests/data and benchmarks/.venv
excepted); a path may be a file or a folder. Each problem is printed as
``path:line: [rule] message -- fix: ...`` and the exit status is 1; a clean run prints one
``OK`` line and exits 0.

Only code is scanned: comments and string literals (docstrings, help texts) are blanked first,
so the rules below, written as strings here, do not flag this file. A line that must keep a
flagged construct on purpose (a branch that only runs on QGIS 3) carries the marker
``# qt6: ok`` followed by the reason; the marker is reported nowhere and silences every rule
on its line.

The rules (``--list-rules`` prints them):

- ``pyqt5-import``: ``import PyQt5`` / ``from PyQt5...``. QGIS 4 ships PyQt6 only; the
  ``qgis.PyQt`` shims import the right one.
- ``sip-import``: a bare ``import sip``; PyQt6 has no top-level ``sip`` (use ``qgis.PyQt.sip``).
- ``exec_``: ``exec_()`` / ``print_()`` are gone in PyQt6; ``exec()`` works in PyQt5 too.
- ``qvariant-type``: ``QVariant.Int``, ``QVariant.String``, ... ``QVariant.Type`` does not exist
  in PyQt6 (QGIS patches the common names back in, as ``QMetaType.Type`` values) and QGIS 3.38
  deprecated field types given as ``QVariant.Type`` in favour of ``QMetaType.Type``, which QGIS
  3.22 rejects. Keep the choice in one compat module.
- ``qvariant-null``: ``QVariant()`` as a NULL value; PyQt6 always turns it into ``None``
  (use ``NULL`` from ``qgis.core``, or ``None``).
- ``unscoped-enum``: a Qt enum value reached through its class (``Qt.AlignLeft``,
  ``QDialog.Accepted``, ``QSizePolicy.Expanding``). PyQt6 only knows the scoped form
  (``Qt.AlignmentFlag.AlignLeft``), which PyQt5 5.15 (QGIS 3.22) accepts too. When PyQt is
  importable the value is looked up, so nested classes (``QIcon.Mode``) are not flagged and
  the fix names the enum; otherwise every ``Q<Class>.<Capitalised>`` is flagged. QGIS's own
  classes (``Qgs*``, ``Qgis``) are not checked: QGIS keeps their unscoped names on Qt6.
- ``qtgui-qaction``: ``QAction`` / ``QShortcut`` imported from ``qgis.PyQt.QtGui``: that is
  their Qt6 home, but QGIS 3.22's ``qgis.PyQt.QtGui`` lacks them. ``qgis.PyQt.QtWidgets``
  has them on QGIS 3 and re-exports them on QGIS 4.
- ``qtwidgets-moved``: ``QActionGroup``, ``QUndoCommand``, ``QUndoStack``, ``QUndoGroup``,
  ``QFileSystemModel`` imported from ``QtWidgets``: moved to ``QtGui`` in Qt6 and not
  re-exported.
- ``qregexp``: ``QRegExp`` (and ``QRegExpValidator``) are gone; use ``QRegularExpression``.
- ``qdesktopwidget``: ``QDesktopWidget`` / ``QApplication.desktop()`` are gone; use
  ``QGuiApplication.primaryScreen()`` / ``QWidget.screen()``.
- ``fontmetrics-width``: ``fontMetrics().width(...)`` is gone; use ``horizontalAdvance``.
- ``qtwebkit``: ``QtWebKit`` / ``QtWebKitWidgets`` do not exist in Qt6.
- ``compiled-resources``: ``resources_rc`` modules made by ``pyrcc5``; PyQt6 has no resource
  compiler. Load icons by file path.
"""

import argparse
import io
import os
import re
import subprocess
import sys
import tokenize
from collections import namedtuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXCLUDED_PREFIXES = ("tests/data/", "benchmarks/.venv/")
MARKER = re.compile(r"#\s*qt6:\s*ok\b")

Rule = namedtuple("Rule", "id regex message fix")

RULES = [
    Rule("pyqt5-import",
         re.compile(r"^[ \t]*(?:from[ \t]+PyQt5\b|import[ \t]+(?:[\w.]+[ \t]*,[ \t]*)*PyQt5\b)", re.M),
         "imports PyQt5 directly; QGIS 4 has PyQt6 only",
         "import from qgis.PyQt (e.g. from qgis.PyQt.QtCore import Qt)"),
    Rule("sip-import",
         re.compile(r"^[ \t]*(?:import[ \t]+sip\b|from[ \t]+sip[ \t]+import\b)", re.M),
         "imports the top-level sip module, which PyQt6 does not have",
         "from qgis.PyQt import sip"),
    Rule("exec_",
         re.compile(r"\b(?:exec_|print_)[ \t]*\("),
         "exec_()/print_() do not exist in PyQt6",
         "call exec() / print() (PyQt5 has them too)"),
    Rule("qvariant-type",
         re.compile(r"\bQVariant\.[A-Z]\w*"),
         "QVariant.<Type> does not exist in PyQt6 and field types as QVariant.Type are deprecated"
         " from QGIS 3.38",
         "QMetaType.Type.<Type> on QGIS >= 3.38, QVariant.<Type> below, chosen in one compat module"),
    Rule("qvariant-null",
         re.compile(r"\bQVariant[ \t]*\([ \t]*\)"),
         "QVariant() as a NULL value becomes None in PyQt6",
         "use NULL from qgis.core, or None"),
    Rule("unscoped-enum",
         re.compile(r"\b(Qt|Q[A-Z]\w*)\.([A-Z]\w*)\b(?![ \t]*[.(\w])"),
         "unscoped Qt enum value; PyQt6 only accepts the scoped form",
         "Class.EnumType.Value (PyQt5 5.15 accepts it too)"),
    Rule("qtgui-qaction",
         re.compile(r"\bfrom[ \t]+qgis\.PyQt\.QtGui[ \t]+import[ \t]+(?:\([^)]*|[^\n]*)\b(QAction|QShortcut)\b"),
         "QAction/QShortcut are not in qgis.PyQt.QtGui on QGIS 3.22",
         "from qgis.PyQt.QtWidgets import QAction (QGIS re-exports it there under Qt6)"),
    Rule("qtwidgets-moved",
         re.compile(r"\b(?:from[ \t]+[\w.]*QtWidgets[ \t]+import[ \t]+(?:\([^)]*|[^\n]*)\b"
                    r"|QtWidgets\.)(QActionGroup|QUndoCommand|QUndoStack|QUndoGroup|QFileSystemModel)\b"),
         "moved from QtWidgets to QtGui in Qt6 and not re-exported by qgis.PyQt",
         "try: from qgis.PyQt.QtGui import X / except ImportError: from qgis.PyQt.QtWidgets import X"),
    Rule("qregexp",
         re.compile(r"\bQRegExp(?:Validator)?\b"),
         "QRegExp/QRegExpValidator do not exist in Qt6",
         "QRegularExpression / QRegularExpressionValidator"),
    Rule("qdesktopwidget",
         re.compile(r"\bQDesktopWidget\b|\.desktop[ \t]*\([ \t]*\)"),
         "QDesktopWidget / QApplication.desktop() do not exist in Qt6",
         "QGuiApplication.primaryScreen() or widget.screen()"),
    Rule("fontmetrics-width",
         re.compile(r"\bfontMetrics[ \t]*\([ \t]*\)[ \t]*\.[ \t]*width[ \t]*\("),
         "QFontMetrics.width() does not exist in Qt6",
         "fontMetrics().horizontalAdvance(...)"),
    Rule("qtwebkit",
         re.compile(r"\bQtWebKit(?:Widgets)?\b"),
         "QtWebKit does not exist in Qt6",
         "QtWebEngine, or a plain QTextBrowser"),
    Rule("compiled-resources",
         re.compile(r"\b\w*resources_rc\b"),
         "compiled Qt resources (pyrcc5) have no PyQt6 equivalent",
         "load icons and files by path (os.path.join(os.path.dirname(__file__), ...))"),
]

Problem = namedtuple("Problem", "path line rule message fix")


def code_only(source):
    """``source`` with comments and string literals blanked out, keeping every offset and newline."""
    chars = list(source)
    line_starts = [0]
    for line in source.splitlines(True):
        line_starts.append(line_starts[-1] + len(line))

    def offset(row, col):
        return line_starts[row - 1] + col

    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in (tokenize.STRING, tokenize.COMMENT):
                start, end = offset(*token.start), offset(*token.end)
                for i in range(start, end):
                    if chars[i] != "\n":
                        chars[i] = " "
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # scan what could be tokenised; pyflakes reports the syntax error
    return "".join(chars)


class EnumResolver:
    """Tells an enum value (``Qt.AlignLeft``) from a nested class (``QIcon.Mode``) by looking it up."""

    MODULES = ("QtCore", "QtGui", "QtWidgets", "QtNetwork", "QtXml", "QtSvg", "QtPrintSupport", "QtSql")

    def __init__(self):
        self.classes = None
        try:
            import importlib

            self.classes = {}
            for name in self.MODULES:
                try:
                    module = importlib.import_module("qgis.PyQt." + name)
                except ImportError:
                    continue
                for attr in dir(module):
                    if attr.startswith("Q"):
                        self.classes.setdefault(attr, getattr(module, attr))
            if not self.classes:
                self.classes = None
        except Exception:  # no QGIS/PyQt here: judge by the name alone
            self.classes = None

    def scoped_name(self, cls_name, attr):
        """'Qt.AlignmentFlag.AlignLeft' for an unscoped enum value, None for anything else,
        '' when it cannot be told (PyQt not importable)."""
        if self.classes is None:
            return ""
        cls = self.classes.get(cls_name)
        if cls is None:
            return None  # not a Qt class (a plugin's own Q-named class, say)
        value = getattr(cls, attr, None)
        if value is None or isinstance(value, type):
            return None  # a nested class or enum type, or a name PyQt5 does not have
        enum_type = type(value)
        enum_name = getattr(enum_type, "__name__", "")
        if enum_type.__module__ == "builtins" or enum_name in ("", attr):
            return None  # a plain constant or already scoped
        if getattr(cls, enum_name, None) is not enum_type:
            return None
        return "{}.{}.{}".format(cls_name, enum_name, attr)


_RESOLVER = None


def resolver():
    global _RESOLVER
    if _RESOLVER is None:
        _RESOLVER = EnumResolver()
    return _RESOLVER


def check_source(source, path="<source>"):
    """Problems in one file's text, in line order."""
    code = code_only(source)
    lines = source.splitlines()
    problems = []
    for rule in RULES:
        for match in rule.regex.finditer(code):
            line = code.count("\n", 0, match.start()) + 1
            if line <= len(lines) and MARKER.search(lines[line - 1]):
                continue
            fix = rule.fix
            if rule.id == "unscoped-enum":
                if match.group(1) == "QVariant":
                    continue  # reported by qvariant-type
                scoped = resolver().scoped_name(match.group(1), match.group(2))
                if scoped is None:
                    continue
                if scoped:
                    fix = scoped
            found = " ".join(match.group(0).split())
            found = found if len(found) <= 60 else found[:57] + "..."
            problem = Problem(path, line, rule.id, "{} (found: {})".format(rule.message, found), fix)
            if problem not in problems:  # the same construct twice on a line is one problem
                problems.append(problem)
    problems.sort(key=lambda p: (p.line, p.rule))
    return problems


def check_file(path, shown=None):
    with open(path, encoding="utf-8") as f:
        return check_source(f.read(), shown or path)


def default_files(root=ROOT):
    """Tracked *.py files of the repository (or, outside git, every *.py below ``root``)."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--", "*.py"], cwd=root, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, check=True).stdout.decode("utf-8").split("\0")
        files = [name for name in listed if name]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
            files += [os.path.relpath(os.path.join(folder, n), root) for n in names if n.endswith(".py")]
    files = [f.replace(os.sep, "/") for f in files]
    return sorted(os.path.join(root, f) for f in files
                  if not f.startswith(EXCLUDED_PREFIXES) and os.path.isfile(os.path.join(root, f)))


def expand(paths):
    files = []
    for path in paths:
        if os.path.isdir(path):
            for folder, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
                files += [os.path.join(folder, n) for n in sorted(names) if n.endswith(".py")]
        else:
            files.append(path)
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description="Find PyQt5-only code that breaks on QGIS 4 (PyQt6).")
    parser.add_argument("paths", nargs="*", help="files or folders (default: the repository's tracked *.py)")
    parser.add_argument("--list-rules", action="store_true", help="print the rules and exit")
    args = parser.parse_args(argv)
    if args.list_rules:
        for rule in RULES:
            print("{}\n  pattern: {}\n  problem: {}\n  fix:     {}".format(rule.id, rule.regex.pattern, rule.message,
                                                                        rule.fix))
        return 0
    files = expand(args.paths) if args.paths else default_files()
    problems = []
    for path in files:
        shown = os.path.relpath(path) if not args.paths else path
        try:
            problems += check_file(path, shown)
        except (OSError, UnicodeDecodeError) as error:
            problems.append(Problem(shown, 0, "unreadable", str(error), "make it a readable UTF-8 file"))
    for p in problems:
        print("{}:{}: [{}] {} -- fix: {}".format(p.path, p.line, p.rule, p.message, p.fix))
    if problems:
        print("{} Qt6 problem(s) in {} file(s) scanned".format(len(problems), len(files)), file=sys.stderr)
        return 1
    print("OK: {} Python file(s), no PyQt5-only code".format(len(files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
