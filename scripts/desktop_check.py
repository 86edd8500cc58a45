#!/usr/bin/python3
"""Look at Palettize in the real QGIS desktop, as a user meets it, and check what a run leaves.

    /usr/bin/python3 scripts/desktop_check.py [--out DIR] [--palette vga16] [--display]

Starts the ``qgis`` binary under Xvfb (``xvfb-run``; with ``--display``, or without ``xvfb-run``, on
the current X display) with a throw-away profile in which this checkout is installed as the plugin
``palettize`` and enabled. Inside QGIS this same file (run by ``--code``) opens
*Quantize raster to palette* from the toolbox's dialog, fills in the bundled map, presses Run,
waits for the result, checks that the project holds the indexed raster with a paletted renderer
whose class colours are the palette's, opens *Extract palette from raster* too, saves screenshots
and writes its findings to ``DIR/result.json``; then QGIS quits. Screenshots (PNG) in DIR:

- ``quantize_dialog.png``: the dialog at its default size (look for labels cut short);
- ``quantize_palette_list.png``: the screen with the palette list open (its groups);
- ``quantize_dialog_advanced.png``: the same, taller, with *Advanced parameters* open;
- ``quantize_log.png``: the dialog after the run (its log);
- ``main_window.png``: QGIS with the loaded result (map and legend);
- ``extractpalette_dialog.png``: the other algorithm's dialog.

Run it after changing parameters, labels or help. The exit status is 0 when every check held.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

try:
    SCRIPT = os.path.abspath(__file__)
except NameError:  # inside QGIS, run by --code through exec(): the launcher says where it is
    SCRIPT = json.loads(os.environ.get("PALETTIZE_DESKTOP_CHECK", "{}")).get("script", "")
ROOT = os.path.dirname(os.path.dirname(SCRIPT))
SAMPLE_MAP = os.path.join(ROOT, "resources", "sample_map.tif")
RESULT = "result.json"
SETTINGS_ENV = "PALETTIZE_DESKTOP_CHECK"  # JSON settings handed to the part running inside QGIS


# -- outside QGIS: the launcher ---------------------------------------------------------------------

def display_available():
    """How QGIS can be shown here: 'xvfb' (xvfb-run), 'display' (an X server in DISPLAY) or None."""
    if shutil.which("xvfb-run") and shutil.which("Xvfb") and shutil.which("xauth") and shutil.which("qgis"):
        return "xvfb"
    if os.environ.get("DISPLAY") and shutil.which("qgis"):
        return "display"
    return None


def make_profile(root):
    """A profiles folder holding the profile 'default' with this checkout as plugin 'palettize'."""
    profile = os.path.join(root, "profiles", "default")
    plugins = os.path.join(profile, "python", "plugins")
    os.makedirs(plugins)
    os.symlink(ROOT, os.path.join(plugins, "palettize"))
    os.makedirs(os.path.join(profile, "QGIS"))
    with open(os.path.join(profile, "QGIS", "QGIS3.ini"), "w", encoding="utf-8") as f:
        f.write("[PythonPlugins]\npalettize=true\nprocessing=true\n\n"
                "[qgis]\ncheckVersion=false\nshowTips322=false\n\n"
                "[core]\nNewsFeed\\httpsfeedqgisorg\\disabled=true\n")
    return root


def launch(out_dir, palette="vga16", use_display=False, timeout=180):
    """Run QGIS with the check; returns the findings (dict) and QGIS's own output."""
    out_dir = os.path.abspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    result_path = os.path.join(out_dir, RESULT)
    if os.path.exists(result_path):
        os.remove(result_path)
    work = tempfile.mkdtemp(prefix="palettize-desktop-")
    try:
        profiles = make_profile(os.path.join(work, "profiles"))
        env = dict(os.environ, QT_QPA_PLATFORM="xcb", XDG_RUNTIME_DIR=work,
                   **{SETTINGS_ENV: json.dumps({"out": out_dir, "palette": palette, "input": SAMPLE_MAP,
                                            "script": SCRIPT})})
        command = ["qgis", "--profiles-path", profiles, "--profile", "default", "--nologo", "--noversioncheck",
                   "--code", SCRIPT]
        mode = "display" if use_display and os.environ.get("DISPLAY") else display_available()
        if mode is None:
            raise RuntimeError("Neither xvfb-run nor an X display (DISPLAY) is available.")
        if mode == "xvfb":
            command = ["xvfb-run", "--auto-servernum", "--server-args=-screen 0 1600x1000x24"] + command
        process = subprocess.Popen(command, env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, start_new_session=True)
        try:
            log, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            log, _ = process.communicate()
            log += "\n[desktop_check] QGIS did not quit within {} s and was stopped.".format(timeout)
        with open(os.path.join(out_dir, "qgis.log"), "w", encoding="utf-8") as f:
            f.write(log)
        if not os.path.exists(result_path):
            return {"ok": False, "failures": ["QGIS wrote no {}; see {}".format(RESULT, f.name)]}, log
        with open(result_path, encoding="utf-8") as f:
            return json.load(f), log
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="desktop-check", help="folder for the screenshots and result.json")
    parser.add_argument("--palette", default="vga16", help="PALETTE for the run (a built-in palette)")
    parser.add_argument("--display", action="store_true", help="show QGIS on the current X display")
    args = parser.parse_args(argv)
    findings, _ = launch(args.out, args.palette, args.display)
    print(json.dumps(findings, indent=2))
    print("Screenshots and result.json in {}".format(os.path.abspath(args.out)))
    return 0 if findings.get("ok") else 1


# -- inside QGIS: the check itself ------------------------------------------------------------------

class DesktopCheck:
    """Drives the dialogs step by step from QGIS's event loop (each step schedules the next)."""

    def __init__(self, settings):
        self.out, self.palette_name, self.input = settings["out"], settings["palette"], settings["input"]
        self.output = os.path.join(self.out, "classes.tif")
        self.findings = {"ok": False, "failures": [], "screenshots": []}
        self.dialog = None

    def later(self, step, ms=500):
        from qgis.PyQt.QtCore import QTimer

        QTimer.singleShot(ms, lambda: self.guarded(step))

    def guarded(self, step):
        import traceback

        try:
            step()
        except Exception:  # noqa: B902 (anything that goes wrong is a finding, then QGIS quits)
            self.fail("error in {}: {}".format(step.__name__, traceback.format_exc()))
            self.finish()

    def fail(self, message):
        self.findings["failures"].append(message)

    def grab(self, widget, name):
        from qgis.PyQt.QtWidgets import QApplication

        path = os.path.join(self.out, name)
        QApplication.processEvents()
        if widget is None:
            pixmap = QApplication.primaryScreen().grabWindow(0)
        else:
            pixmap = widget.grab()
        pixmap.save(path, "PNG")
        self.findings["screenshots"].append(path)

    def start(self):
        from qgis.core import QgsApplication

        provider = QgsApplication.processingRegistry().providerById("palettize")
        self.findings["provider"] = provider.longName() if provider else None
        if provider is None:
            self.fail("the palettize provider is not registered: the plugin did not load")
            return self.finish()
        self.later(self.open_quantize_dialog, 1000)

    def open_quantize_dialog(self):
        import processing
        from processing.core.ProcessingConfig import ProcessingConfig

        if os.path.exists(self.output):
            os.remove(self.output)
        ProcessingConfig.setSettingValue(ProcessingConfig.KEEP_DIALOG_OPEN, True)  # to see the log
        self.dialog = processing.createAlgorithmDialog("palettize:quantize", {
            "INPUT": self.input, "PALETTE": enum_value("palettize:quantize", "PALETTE", self.palette_name),
            "OUTPUT": self.output})
        self.dialog.show()
        self.findings["dialog_size"] = [self.dialog.width(), self.dialog.height()]
        self.later(self.look_at_quantize_dialog)

    def look_at_quantize_dialog(self):
        self.findings["cut_labels"] = cut_labels(self.dialog)
        if self.findings["cut_labels"]:
            self.fail("labels cut at the default size: {}".format(self.findings["cut_labels"]))
        self.findings["labels"] = visible_labels(self.dialog)
        self.grab(self.dialog, "quantize_dialog.png")
        self.look_at_palette_list()
        self.findings["advanced_groups"] = open_advanced_groups(self.dialog)
        size = self.dialog.size()
        self.dialog.resize(size.width(), min(self.dialog.screen().availableGeometry().height(), 1000))
        self.later(lambda: self.look_at_advanced(size))

    def look_at_palette_list(self):
        """The palette list as a user opens it: its entries, the ones wider than the closed box
        (their end would be cut there), and a screenshot of the open list."""
        from qgis.PyQt.QtWidgets import QComboBox, QStyle, QStyleOptionComboBox

        boxes = [box for box in self.dialog.mainWidget().findChildren(QComboBox)
                 if box.isVisible() and box.count() > 40]
        if len(boxes) != 1:
            return self.fail("expected one visible palette list, found {}".format(len(boxes)))
        box = boxes[0]
        option = QStyleOptionComboBox()
        option.initFrom(box)  # initStyleOption is protected in PyQt
        option.frame = box.hasFrame()
        text_width = box.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, option,
                                                QStyle.SubControl.SC_ComboBoxEditField, box).width()
        items = [box.itemText(i) for i in range(box.count())]
        self.findings["palette_items"] = items
        self.findings["palette_current"] = box.currentText()
        self.findings["palette_cut_items"] = [item for item in items
                                              if box.fontMetrics().horizontalAdvance(item) > text_width]
        if self.findings["palette_cut_items"]:
            self.fail("palette entries cut at the default width: {}".format(self.findings["palette_cut_items"]))
        box.showPopup()
        self.grab(None, "quantize_palette_list.png")
        box.hidePopup()

    def look_at_advanced(self, size):
        self.findings["advanced_labels"] = [label for label in visible_labels(self.dialog)
                                            if label not in self.findings["labels"]]
        cut = cut_labels(self.dialog)  # the same width as the default size
        self.findings["advanced_cut_labels"] = cut
        if cut:
            self.fail("advanced labels cut at the default width: {}".format(cut))
        self.grab(self.dialog, "quantize_dialog_advanced.png")
        self.dialog.resize(size)
        self.later(self.run_quantize)

    def run_quantize(self):
        from qgis.PyQt.QtWidgets import QPushButton

        run_buttons = [b for b in self.dialog.findChildren(QPushButton)
                       if b.text().replace("&", "") == "Run" and b.isVisible()]
        if len(run_buttons) != 1:
            self.fail("expected one visible Run button, found {}".format(len(run_buttons)))
            return self.finish()
        self.dialog.algorithmFinished.connect(lambda ok, results: self.later(lambda: self.after_run(ok, results)))
        run_buttons[0].click()  # as a user does

    def after_run(self, ok, results):
        from qgis.core import QgsProject, QgsRasterLayer
        from qgis.PyQt.QtWidgets import QTextEdit

        self.findings["run_ok"] = bool(ok)
        self.findings["results"] = {k: str(v) for k, v in results.items()}
        logs = [edit.toPlainText() for edit in self.dialog.findChildren(QTextEdit) if edit.objectName() == "txtLog"]
        self.findings["log"] = logs[0] if logs else ""
        self.grab(self.dialog, "quantize_log.png")
        layers = [layer for layer in QgsProject.instance().mapLayers().values()]
        self.findings["project_layers"] = [{"name": layer.name(), "source": layer.source(),
                                            "renderer": layer.renderer().type() if isinstance(layer, QgsRasterLayer)
                                            and layer.renderer() else None} for layer in layers]
        indexed = [layer for layer in layers if isinstance(layer, QgsRasterLayer)
                   and os.path.realpath(layer.source()) == os.path.realpath(self.output)]
        if not ok:
            self.fail("the run failed")
        if len(indexed) != 1:
            self.fail("the project holds {} layers from {} (expected 1)".format(len(indexed), self.output))
        elif len(layers) != 1:
            self.fail("the run added other layers too: {}".format([layer.name() for layer in layers]))
        if indexed:
            self.check_renderer(indexed[0])
        self.dialog.close()
        self.dialog = None
        from qgis.utils import iface

        iface.mapCanvas().zoomToFullExtent()
        iface.mapCanvas().refreshAllLayers()
        self.later(self.look_at_main_window, 3000)

    def check_renderer(self, layer):
        from palettize.palettes.palette import builtin_palette

        renderer = layer.renderer()
        self.findings["renderer"] = renderer.type()
        if renderer.type() != "paletted":
            self.fail("the indexed layer's renderer is {}, not paletted".format(renderer.type()))
            return
        classes = [[c.value] + list(c.color.getRgb()[:3]) for c in renderer.classes()]
        palette = [[i] + colour for i, colour in enumerate(builtin_palette(self.palette_name).colours.tolist())]
        self.findings["classes"] = len(classes)
        self.findings["classes_equal_palette"] = classes == palette
        if classes != palette:
            self.fail("the renderer's classes are not the palette's colours")

    def look_at_main_window(self):
        from qgis.utils import iface

        self.grab(iface.mainWindow(), "main_window.png")
        import processing

        self.dialog = processing.createAlgorithmDialog("palettize:extractpalette", {"INPUT": self.input})
        self.dialog.show()
        self.later(self.look_at_extract_dialog)

    def look_at_extract_dialog(self):
        cut = cut_labels(self.dialog)
        self.findings["extractpalette_cut_labels"] = cut
        if cut:
            self.fail("extract palette labels cut at the default size: {}".format(cut))
        self.findings["extractpalette_labels"] = visible_labels(self.dialog)
        self.grab(self.dialog, "extractpalette_dialog.png")
        self.dialog.close()
        self.dialog = None
        self.findings["ok"] = not self.findings["failures"]
        self.finish()

    def finish(self):
        from qgis.core import QgsApplication, QgsProject

        with open(os.path.join(self.out, RESULT), "w", encoding="utf-8") as f:
            json.dump(self.findings, f, indent=2)
        if self.dialog is not None:
            self.dialog.close()
        QgsProject.instance().clear()  # nothing to save: QGIS asks nothing when quitting
        QgsApplication.instance().exit(0)


def visible_labels(dialog):
    from qgis.PyQt.QtWidgets import QLabel

    return [label.text() for label in parameter_labels(dialog) if isinstance(label, QLabel)]


def parameter_labels(dialog):
    """The visible labels of the parameters panel (not the help text or the log, which are outside
    it). QGIS 3.40 makes the parameters' labels wrap their words; 3.22 does not."""
    from qgis.PyQt.QtWidgets import QLabel

    panel = dialog.mainWidget()
    return [label for label in panel.findChildren(QLabel) if label.isVisible() and label.text().strip()]


def cut_labels(dialog):
    """Labels whose text runs past the visible part of the parameters panel (its scroll area); a
    label that wraps its words (QGIS 3.40) is cut when a word runs past it or its lines need more
    height than the label has."""
    from qgis.PyQt.QtCore import QPoint
    from qgis.PyQt.QtGui import QTextDocument
    from qgis.PyQt.QtWidgets import QScrollArea

    areas = dialog.mainWidget().findChildren(QScrollArea)
    viewport = areas[0].viewport() if areas else dialog.mainWidget()
    visible_right = viewport.mapToGlobal(QPoint(viewport.width(), 0)).x()
    cut = []
    for label in parameter_labels(dialog):
        text = label.text()
        if "<" in text:  # rich text: measure what is shown
            document = QTextDocument()
            document.setHtml(text)
            text = document.toPlainText()
        start = label.mapToGlobal(label.contentsRect().topLeft()).x()
        metrics = label.fontMetrics()
        if label.wordWrap():
            widest = max(metrics.horizontalAdvance(word) for word in text.split())
            if start + widest > visible_right or label.heightForWidth(label.width()) > label.height():
                cut.append(text)
        elif start + metrics.horizontalAdvance(text) > visible_right:
            cut.append(text)
    return cut


def open_advanced_groups(dialog):
    """Open the collapsed "Advanced Parameters" group; its state, as [collapsed before, after]."""
    from qgis.gui import QgsCollapsibleGroupBox
    from qgis.PyQt import sip
    from qgis.PyQt.QtWidgets import QGroupBox

    box = dialog.findChild(QGroupBox, "grpAdvanced")
    if box is None:
        return None
    box = sip.cast(box, QgsCollapsibleGroupBox)  # Python sees it as a plain QGroupBox
    before = box.isCollapsed()
    box.setCollapsed(False)
    return [before, box.isCollapsed()]


def enum_value(algorithm_id, name, option):
    """``option`` as the dialog's enum widget holds it: the string from QGIS 3.24, else its index
    (the widget shows a label, e.g. PALETTE's, where the option string differs from it)."""
    from qgis.core import QgsApplication

    algorithm = QgsApplication.processingRegistry().algorithmById(algorithm_id)
    definition = algorithm.parameterDefinition(name)
    if hasattr(definition, "usesStaticStrings") and definition.usesStaticStrings():
        return option
    return algorithm.ENUMS[name][0].index(option)


def running_inside_qgis():
    try:
        from qgis.utils import iface
    except ImportError:
        return False
    return iface is not None and SETTINGS_ENV in os.environ


if running_inside_qgis():
    _check = DesktopCheck(json.loads(os.environ[SETTINGS_ENV]))
    _check.later(_check.start, 1000)
elif __name__ == "__main__":
    sys.exit(main())
