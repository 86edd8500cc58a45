"""Cancelling a long run stops it promptly and leaves no output file; a long search shows its progress."""

import os

import numpy as np
import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback

from palettize.engine import gdal_io
from rasters import listing, quantize, random_rgba, write_raster


@pytest.mark.parametrize("source", ["rendered", "bands"])
def test_cancel_during_the_run_writes_nothing(qgis_app, tmp_path, monkeypatch, source):
    monkeypatch.setattr(gdal_io, "BLOCK_PIXELS", 64 * 4)  # 4 rows per block: many blocks
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(64, 64), alpha=True)
    feedback = QgsProcessingFeedback()
    progress = []
    feedback.progressChanged.connect(lambda value: (progress.append(value), feedback.cancel()))
    output = tmp_path / "out" / "classes.tif"
    with pytest.raises(QgsProcessingException, match="Cancelled: no output was written"):
        quantize({"INPUT": path, "SOURCE": source, "OUTPUT": str(output)}, feedback=feedback)
    assert len(progress) == 1
    assert not os.path.exists(tmp_path / "out")  # the folder the run made is gone too


@pytest.mark.parametrize("cleanup", ["seams", "sieve"])
def test_cancel_while_the_last_strips_are_cleaned_writes_nothing(qgis_app, tmp_path, cleanup):
    """A cleanup cleans two strips at once, so the last strip is read before the one above it is
    written: a cancel then (the progress bar at two thirds of a three-strip sheet) still stops the
    run, and no output, report or table is left."""
    image = random_rgba(2 * gdal_io.TILE + 40, 60, seed=4)
    path = write_raster(str(tmp_path / "in.tif"), image, alpha=True)
    feedback = QgsProcessingFeedback()
    progress = []
    feedback.progressChanged.connect(lambda value: (progress.append(value), value > 50 and feedback.cancel()))
    output = tmp_path / "out"
    with pytest.raises(QgsProcessingException, match="Cancelled: no output was written"):
        quantize({"INPUT": path, "SOURCE": "bands", "CLEANUP": cleanup, "OUTPUT": str(output / "classes.tif"),
                  "OUTPUT_REPORT": str(output / "report.html"), "OUTPUT_TABLE": str(output / "table.csv")},
                 feedback=feedback)
    assert int(progress[-1]) == 66
    assert not os.path.exists(str(output))


def test_cancel_stops_a_ciede2000_search_within_its_block(qgis_app, tmp_path, monkeypatch):
    """A scan's block of millions of colours is searched entry by entry under CIEDE2000: a cancel
    was seen only once the block was done (over two minutes on 20 megapixels, QGIS unable to quit).
    Cancelled at the search's first chunk, it measures at most one more."""
    from palettize.engine import nearest

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(300, 300, seed=7), alpha=True)  # ~90,000 colours
    feedback, chunks, measure = QgsProcessingFeedback(), [], nearest.distances

    def measured(points, targets, metric):
        chunks.append(len(points))
        feedback.cancel()
        return measure(points, targets, metric)

    monkeypatch.setattr(nearest, "distances", measured)
    with pytest.raises(QgsProcessingException, match="Cancelled: no output was written"):
        quantize({"INPUT": path, "SOURCE": "bands", "METRIC": "ciede2000", "OUTPUT": str(tmp_path / "out.tif")},
                 feedback=feedback)
    assert 1 <= len(chunks) <= 2 and sum(chunks) < 10000
    assert not os.path.exists(str(tmp_path / "out.tif"))


@pytest.mark.parametrize("width", [300, 8], ids=["rows in chunks", "narrow rows pixel by pixel"])
def test_cancel_stops_dithering_within_its_block(qgis_app, tmp_path, monkeypatch, width):
    """A block's rows were dithered to its end before a cancel was seen: up to 6.6 s with CIELAB on
    20 megapixels. Cancelled in its first row, a block dithers at most one more."""
    from palettize.engine import dither

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(200, width, seed=7), alpha=True)
    feedback, rows = QgsProcessingFeedback(), []
    for name in ("_scan_row", "_dither_plainly"):
        real = getattr(dither.FloydSteinbergDither, name)

        def counted(ditherer, *args, real=real, name=name):
            rows.append(name)
            feedback.cancel()
            return real(ditherer, *args)
        monkeypatch.setattr(dither.FloydSteinbergDither, name, counted)
    monkeypatch.setattr(dither._Quantizer, "quantize_one", _counted_quantize_one(dither._Quantizer.quantize_one, rows))
    with pytest.raises(QgsProcessingException, match="Cancelled: no output was written"):
        quantize({"INPUT": path, "SOURCE": "bands", "PALETTE": "vga16", "DITHER": "floyd-steinberg",
                  "OUTPUT": str(tmp_path / "out.tif")}, feedback=feedback)
    assert rows.count("_scan_row") <= 2 and rows.count("pixel") <= 2 * width
    assert not os.path.exists(str(tmp_path / "out.tif"))


def _counted_quantize_one(real, calls):
    def counted(quantizer, *args):
        calls.append("pixel")
        return real(quantizer, *args)
    return counted


def test_cancel_stops_seams_being_cleaned_within_their_block(qgis_app, tmp_path, monkeypatch):
    """A noisy block's seams were cleaned to its end before a cancel was seen: up to 5.5 s on 100
    megapixels. Cancelled at its first chunk of seam pixels, a block cleans at most one more."""
    from palettize.engine import cleanup

    monkeypatch.setattr(cleanup, "_DECIDED", 64)  # many chunks in a small block
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(200, 200, seed=7), alpha=True)
    feedback, chunks, around = QgsProcessingFeedback(), [], cleanup._around

    def gathered(*args, **kwargs):
        chunks.append(1)
        feedback.cancel()
        return around(*args, **kwargs)

    monkeypatch.setattr(cleanup, "_around", gathered)
    with pytest.raises(QgsProcessingException, match="Cancelled: no output was written"):
        quantize({"INPUT": path, "SOURCE": "bands", "PALETTE": "vga16", "CLEANUP": "seams",
                  "OUTPUT": str(tmp_path / "out.tif")}, feedback=feedback)
    assert 1 <= len(chunks) <= 2
    assert not os.path.exists(str(tmp_path / "out.tif"))


def test_cancel_stops_the_colour_table_a_dithered_run_fills_at_once(qgis_app, tmp_path, monkeypatch):
    """Dithering fills the whole table of 16.7 million colours once its searches have taken long
    enough: 88 s with 65,535 CIELAB entries, during which a cancel was not seen. Cancelled at the
    fill's first chunk, it searches at most one more."""
    import dataclasses

    from palettize.engine import metrics, nearest

    monkeypatch.setitem(metrics.REGISTRY, "rgb", dataclasses.replace(metrics.REGISTRY["rgb"], fill_after=0.0))
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(60, 60, seed=8), alpha=True)
    feedback, fill_chunks, search = QgsProcessingFeedback(), [], nearest.NearestColourMapper._search

    def searched(mapper, codes):
        if len(codes) == 1 << 16:  # a chunk of the fill
            fill_chunks.append(len(codes))
            feedback.cancel()
        return search(mapper, codes)

    monkeypatch.setattr(nearest.NearestColourMapper, "_search", searched)
    with pytest.raises(QgsProcessingException, match="Cancelled: no output was written"):
        quantize({"INPUT": path, "SOURCE": "bands", "PALETTE": "vga16", "DITHER": "floyd-steinberg",
                  "OUTPUT": str(tmp_path / "out.tif")}, feedback=feedback)
    assert 1 <= len(fill_chunks) <= 2
    assert not os.path.exists(str(tmp_path / "out.tif"))


def test_a_long_search_moves_the_progress_within_its_block(qgis_app, tmp_path):
    """A block's colours searched under CIEDE2000: the progress sat at 0% until the block was done
    (13 to 24 s with 65,535 entries), as if the run had hung. It now moves as the search goes, never
    back, and the indices are the same."""
    from osgeo import gdal

    from palettize.engine.nearest import nearest_palette_indices
    from palettize.palettes.palette import builtin_palette

    parameters = {"INPUT": write_raster(str(tmp_path / "in.tif"), random_rgba(120, 160, seed=7, transparent_share=0),
                                        alpha=True), "SOURCE": "bands", "METRIC": "ciede2000",
                  "OUTPUT": str(tmp_path / "out.tif")}

    class Shown(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.values = []

        def setProgress(self, progress):  # noqa: N802 (QGIS API)
            super().setProgress(progress)
            self.values.append(progress)

    shown = Shown()
    output = quantize(parameters, feedback=shown)["OUTPUT"]
    assert len([value for value in shown.values if 0 < value < 99]) >= 10
    assert shown.values == sorted(shown.values)
    rgba = gdal.Open(parameters["INPUT"]).ReadAsArray()
    expected = nearest_palette_indices(rgba[:3].reshape(3, -1).T, builtin_palette("win256").colours, "ciede2000")
    assert np.array_equal(gdal.Open(output).ReadAsArray().ravel(), expected)


def test_cancel_stops_a_large_palettes_search_through_candidate_cells(qgis_app, tmp_path, monkeypatch):
    """A 65,535-colour palette file under CIELAB: a block's colours took tens of seconds to search
    through candidate cells, in which a cancel was not seen (27 s on 5 megapixels). Cancelled at the
    search's first chunk, it measures at most one more."""
    from palettize.engine import candidate_cells

    rng = np.random.default_rng(3)
    legend = tmp_path / "legend.csv"
    legend.write_text("".join("{},{},{}\n".format(*colour) for colour in rng.integers(0, 256, (4096, 3)).tolist()))
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(200, 200, seed=9), alpha=True)
    feedback, chunks, measure = QgsProcessingFeedback(), [], candidate_cells.CandidateCells._nearest_chunk

    def measured(cells, points, *args):
        chunks.append(len(points))
        feedback.cancel()
        return measure(cells, points, *args)

    monkeypatch.setattr(candidate_cells.CandidateCells, "_nearest_chunk", measured)
    with pytest.raises(QgsProcessingException, match="Cancelled: no output was written"):
        quantize({"INPUT": path, "SOURCE": "bands", "PALETTE_FILE": str(legend), "METRIC": "cielab",
                  "OUTPUT": str(tmp_path / "out.tif")}, feedback=feedback)
    assert 1 <= len(chunks) <= 2
    assert not os.path.exists(str(tmp_path / "out.tif"))


@pytest.mark.parametrize("algorithm", ["palettize:quantize", "palettize:extractpalette"])
@pytest.mark.parametrize("method", ["kmeans", "mediancut"])
def test_cancel_stops_a_palette_being_built_from_the_image(qgis_app, tmp_path, monkeypatch, algorithm, method):
    """PALETTE=kmeans with N_COLORS=65535 on a scan built for 35 s, in which a cancel was not seen.
    Cancelled as the build cuts its first boxes, it stops at the next check, and nothing is written."""
    import processing

    from palettize.engine import adaptive

    monkeypatch.setattr(adaptive, "_CHECK_SPLITS", 8)
    path = write_raster(str(tmp_path / "in.tif"), random_rgba(100, 100, seed=10), alpha=True)
    feedback, splits, split = QgsProcessingFeedback(), [], adaptive._Box.split

    def cut(box, *args):
        splits.append(1)
        feedback.cancel()
        return split(box, *args)

    monkeypatch.setattr(adaptive._Box, "split", cut)
    if algorithm.endswith("quantize"):
        parameters = {"PALETTE": method, "OUTPUT": str(tmp_path / "out.tif")}
    else:
        parameters = {"METHOD": method, "OUTPUT_PALETTE": str(tmp_path / "palette.csv")}
    with pytest.raises(QgsProcessingException, match="Cancelled: no output was written"):
        processing.run(algorithm, dict(parameters, INPUT=path, N_COLORS=1000), feedback=feedback)
    assert 1 <= len(splits) <= 8
    assert listing(tmp_path) == ["in.tif"]


def test_a_cancel_asked_as_the_outputs_are_finished_puts_none_in_place(tmp_path):
    """A Dask worker stopped by a Ctrl-C is let finish its task: the run is asked whether it is
    cancelled once more just before its outputs go into place, and keeps the ones they would replace."""
    from palettize.engine.blocks import Cancelled
    from palettize.engine.options import PaletteOptions, QuantizeOptions
    from palettize.engine.run import open_file, quantize_source

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(30, 40), alpha=True)
    (tmp_path / "out.tif").write_bytes(b"the earlier output")
    options = QuantizeOptions(palette=PaletteOptions("vga16"))
    source, grid = open_file(path, options.bands)
    finished = []  # the outputs are all written (before_commit is the last step before they go into place)
    with pytest.raises(Cancelled):
        quantize_source(source, grid, str(tmp_path / "out.tif"), options, is_cancelled=lambda: bool(finished),
                        before_commit=lambda result, outputs: finished.append(result))
    source.close()
    assert len(finished) == 1
    assert sorted(os.listdir(str(tmp_path))) == ["in.tif", "out.tif"]
    assert (tmp_path / "out.tif").read_bytes() == b"the earlier output"


@pytest.mark.parametrize("method", ["frequent", "kmeans"])
def test_a_palette_extraction_cancelled_after_its_scan_keeps_the_files_it_would_replace(qgis_app, tmp_path, method):
    """Cancelled once the image was scanned (80%), an extraction still wrote its palette, report
    and table over the earlier ones: only the scan and the palette build asked."""
    import processing

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(60, 80, seed=3), alpha=True)
    outputs = {"OUTPUT_PALETTE": tmp_path / "legend.csv", "OUTPUT_REPORT": tmp_path / "report.html",
               "OUTPUT_TABLE": tmp_path / "table.csv"}
    for output in outputs.values():
        output.write_text("the earlier one")

    class CancelAfterTheScan(QgsProcessingFeedback):
        def setProgress(self, progress):  # noqa: N802 (QGIS API)
            super().setProgress(progress)
            if progress >= 80:
                self.cancel()

    with pytest.raises(QgsProcessingException, match="Cancelled: no output was written"):
        processing.run("palettize:extractpalette", dict({name: str(output) for name, output in outputs.items()},
                                                        INPUT=path, METHOD=method, N_COLORS=8),
                       feedback=CancelAfterTheScan())
    assert [output.read_text() for output in outputs.values()] == ["the earlier one"] * 3
    assert listing(tmp_path) == sorted(["in.tif", "legend.csv", "report.html", "table.csv"])


def test_an_interrupted_pass_stops_the_blocks_still_being_mapped_at_their_next_chunk(tmp_path, monkeypatch):
    """A Ctrl-C on the command line during a CIEDE2000 run with seams on a noisy map took half a
    minute to take effect: the main thread left at once, but the pass then waited for the threads
    cleaning blocks, which searched on to the end of their block."""
    import signal
    import threading

    from palettize.engine import nearest
    from palettize.engine.options import CleanupOptions, QuantizeOptions
    from palettize.engine.run import quantize_file

    class Interrupted(Exception):
        pass

    def interrupt(signum, frame):
        raise Interrupted()

    path = write_raster(str(tmp_path / "in.tif"), random_rgba(1100, 600, seed=9, transparent_share=0), alpha=True)
    chunks, measure = [], nearest.distances

    def measured(points, targets, metric):
        if threading.current_thread() is not threading.main_thread():  # a thread cleaning a block
            chunks.append(len(points))
            if len(chunks) == 1:
                os.kill(os.getpid(), signal.SIGUSR1)  # delivered to the main thread, waiting for the blocks
        return measure(points, targets, metric)

    monkeypatch.setattr(nearest, "distances", measured)
    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        with pytest.raises(Interrupted):
            quantize_file(path, str(tmp_path / "out.tif"), QuantizeOptions(metric="ciede2000",
                                                                           cleanup=CleanupOptions("seams")))
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert 1 <= len(chunks) <= 4, len(chunks)
    assert listing(tmp_path) == ["in.tif"]
