"""Many rasters, one legend: quantize a batch of files in this process or on a Dask cluster.

In this process the files run one after another through ``run.quantize_file``. On a cluster
(``Cluster``: a LocalCluster of N worker processes, or an existing scheduler) every file is a
task, and a file larger than ``split_above`` megapixels becomes tasks of tile windows: each reads
its window plus the cleanup margin, writes its own GeoTIFF tile with the colour table, and a last
task assembles the tiles into a .vrt mosaic (and, unless the output is a .vrt, into the output
raster). A palette built from the image comes from one colour histogram per task, merged. Results
are the same cell for cell wherever they run: a block's classes depend only on its window plus the
margin, never on where a block or tile ends.

Dithering carries the colour error through a whole file in order, so it parallelises across files
only: a file it would have to split is refused. dask and distributed are imported only here, when
a cluster is asked for.
"""

import contextlib
import gc
import math
import multiprocessing
import os
import re
import shutil
import signal
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, replace
from typing import Optional
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import numpy as np
from osgeo import gdal

from ..palettes.formats import PaletteFileError, write_palette
from . import gdal_io, run
from .blocks import colour_histogram, output_type, palette_usage, quantize_blocks
from .merged import merged_in_histogram
from .nearest import RGB_BITS
from .outputs import (OutputFiles, connection_file, connection_parts, put_back_replaced, remove_tagged, staging_tag,
                      sweep_abandoned)
from .style import style_conflict, style_path, write_style

#: Files above this many megapixels are split into tiles on a cluster.
DEFAULT_SPLIT_ABOVE = 256.0
INSTALL_DASK = ("--workers and --scheduler need the Python packages dask and distributed: install them "
                "(Debian/Ubuntu: apt install python3-dask python3-distributed; elsewhere: pip install \"dask[distributed]\").")


class BatchError(Exception):
    """A batch that cannot start; the message says what to change."""


def stem(path):
    """An input's name without folder and extension (also for /vsi... paths); of a subdataset
    (NETCDF:"r2.nc":rgb), its file's and its own name (r2_rgb)."""
    parts = connection_parts(path)
    if parts:
        return "_".join([stem(parts[0])] + [re.sub(r"\W+", "_", part).strip("_") for part in parts[1]])
    name = os.path.basename(path.rstrip("/"))
    if path.startswith("/vsigzip/") and name.lower().endswith(".gz"):  # /vsigzip/sheet.tif.gz is sheet.tif: 'sheet'
        name = name[:-3]
    return os.path.splitext(name)[0]


@dataclass
class Job:
    """One input, its output and optional per-file report and table."""

    input: str
    output: str
    report: Optional[str] = None
    table: Optional[str] = None
    width: int = 0
    height: int = 0
    tiles: tuple = ()  # windows (xoff, yoff, xsize, ysize) when the file is split

    @property
    def pixels(self):
        return self.width * self.height


def _job_options(job, options):
    return replace(options, report=job.report, table=job.table)


def for_workers(job):
    """The job with paths that name the same files for a worker started in another folder:
    absolute (for an input, the file here it reads: see input_for_workers)."""
    def absolute(path):
        return path if not path or path.startswith("/vsi") else os.path.abspath(path)

    return replace(job, input=input_for_workers(job.input), output=absolute(job.output), report=absolute(job.report),
                   table=absolute(job.table))


#: GDAL's archive paths whose archive is a file on disk: /vsizip/maps.zip/sheet.tif.
ARCHIVES = ("/vsizip/", "/vsitar/", "/vsigzip/", "/vsi7z/", "/vsirar/")


def input_for_workers(path):
    """An input as a worker in another folder finds it: a file here made absolute, and so the
    relative file inside a connection string (GPKG:sheets.gpkg:north) or an archive path
    (/vsizip/maps.zip/sheet.tif, /vsizip/{maps.zip}/sheet.tif), keeping the string's form; anything
    else (a database, a web address) as it is."""
    if os.path.exists(path):
        return os.path.abspath(path)
    inside = connection_file(path)
    if inside and os.path.exists(inside) and not os.path.isabs(inside):
        prefix, rest = path.split(":", 1)
        return prefix + ":" + rest.replace(inside, os.path.abspath(inside), 1)
    for archive in ARCHIVES:
        if path.startswith(archive):
            rest = path[len(archive):]
            if rest.startswith("{") and "}" in rest:
                inner = rest[1:rest.index("}")]
                if not os.path.isabs(inner) and os.path.isfile(inner):
                    return archive + "{" + os.path.abspath(inner) + rest[rest.index("}"):]
            elif not rest.startswith("/"):
                pieces = rest.split("/")
                for end in range(len(pieces), 0, -1):  # the longest leading part that is a file here
                    leading = "/".join(pieces[:end])
                    if os.path.isfile(leading):
                        return archive + os.path.abspath(leading) + rest[len(leading):]
    return path


# -- leaving nothing behind ----------------------------------------------------------------------


def _side_files(job):
    paths = [job.output, style_path(job.output), job.output + ".palette.csv", job.output + ".aux.xml"]
    return [p for p in paths + [job.report, job.table] if p]


def tagged(tag, task, *args):
    """``task(*args)`` with its staging folders tagged (outputs.staging_tag): the batch finds what
    the task left if its worker process is stopped in the middle of it."""
    with staging_tag(tag):
        return task(*args)


# -- tasks (run in this process or on a worker; plain functions of picklable arguments) ---------
# Each task that uses GDAL states its error mode first: a worker process is the engine's own.


def quantize_whole(job, options, palette, origin=None):
    """Quantize one file in one task (``palette`` and ``origin``: see run.quantize_file, whose
    outputs go into place together or not at all). Returns (pixels per entry, what the run logged as
    (text, whether a warning) pairs)."""
    gdal_io.state_error_mode()
    run.STRIP_ROWS = None  # one block where the file fits in one: the other workers keep the cores busy
    logged = []
    result = run.quantize_file(job.input, job.output, _job_options(job, options), palette=palette,
                               palette_origin=origin, log=lambda text, warning=False: logged.append((text, warning)),
                               is_cancelled=_worker_stopping)
    return result.counts, logged


def _worker_stopping():
    """Whether the Dask worker running this task is being stopped (its local cluster closed after a
    Ctrl-C): the task then puts nothing in place. Stopping waits for the task, which finished the
    file and replaced the outputs the user stopped the run to keep. False outside a worker."""
    try:
        from distributed import get_worker

        # not "closing_gracefully": a worker retired by another's cluster (adaptive scaling) waits for its tasks
        return get_worker().status.name in ("stopping", "stopped", "closing", "closed", "failed")
    except (ImportError, ValueError):
        return False


#: Below this many pixels a histogram sorts the pixels' colours instead of counting them in a
#: table of all 2^24 colours, whose 128 MB cost more than the sort (the same codes and counts).
SMALL_HISTOGRAM = 1 << 21


def histogram_task(path, options, window=None):
    """((codes, counts), whether band values were clipped to 0-255) of one file, or of one tile
    window of it."""
    gdal_io.state_error_mode()
    source, grid = run.open_file(path, options.bands)
    try:
        window = window or (0, 0, grid.width, grid.height)
        windows = _offset_windows(window)
        if window[2] * window[3] < SMALL_HISTOGRAM:
            histogram = _sorted_histogram(source, windows, options.alpha_threshold)
        else:
            histogram = colour_histogram(source, windows, options.alpha_threshold)
        return histogram, run.values_clipped(source, options.alpha_threshold)
    finally:
        source.close()


def merge_file_histograms(parts):
    """histogram_task's results for the windows of one file as one: ((codes, counts), clipped)."""
    return run.merge_histograms([histogram for histogram, _ in parts]), any(clipped for _, clipped in parts)


def merge_batch_histograms(files):
    """((codes, counts) of all files together, [whether each file's values were clipped])."""
    return run.merge_histograms([histogram for histogram, _ in files]), [clipped for _, clipped in files]


def _sorted_histogram(source, windows, alpha_threshold):
    """blocks.colour_histogram by sorting: for few pixels."""
    parts = []
    for window in windows:
        rgba = source.read(window)
        if alpha_threshold > 0:
            rgba = rgba[rgba >= np.uint32(alpha_threshold << 24)]
        codes, counts = np.unique(rgba & RGB_BITS, return_counts=True)
        parts.append((codes, counts.astype(np.int64)))
    return run.merge_histograms(parts) if len(parts) != 1 else parts[0]


def _offset_windows(tile, full_rows=False):
    x0, y0, width, height = tile
    return [(x0 + x, y0 + y, w, h) for x, y, w, h in gdal_io.iter_windows(width, height, full_rows=full_rows)]


class _TileWriter:
    """Hands blocks given in the whole raster's pixel coordinates to a tile's writer."""

    def __init__(self, writer, tile):
        self.writer, self.x0, self.y0 = writer, tile[0], tile[1]

    def open(self):
        self.writer.open()

    def write(self, window, indices):
        self.writer.write((window[0] - self.x0, window[1] - self.y0, window[2], window[3]), indices)


def is_mosaic(output):
    """A .vrt output is a mosaic of GeoTIFF tiles beside it, however many tiles the input needs."""
    return output.lower().endswith(".vrt")


def tile_name(tile):
    return "tile_{}_{}.tif".format(tile[1], tile[0])


_PIXEL_COORDINATES = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)


def tile_geotransform(geotransform, tile):
    """The geotransform of a tile window of a raster with this geotransform."""
    a, b, c, d, e, f = geotransform
    x0, y0 = tile[:2]
    return (a + x0 * b + y0 * c, b, c, d + x0 * e + y0 * f, e, f)


def quantize_tile(path, workdir, tile, options, palette, opaque):
    """Quantize one tile window of a file into workdir/tiles/<tile>.tif; returns (pixels per entry,
    whether band values were clipped to 0-255, the samples of merged.MergedColourFinder for the
    whole file). ``opaque``: file_opaque's answer for the file.

    Blocks are read with the cleanup margin from the whole raster, across the tile's borders, so
    the tile holds exactly the classes a run over the whole file gives it."""
    gdal_io.state_error_mode()
    source, grid = run.open_file(path, options.bands)
    try:
        x0, y0, width, height = tile
        # A picture without georeferencing, or a rotated, south-up or mirrored one: tiles in pixel
        # coordinates (north-up, as GDAL's mosaics need), which assemble replaces again.
        geotransform = grid.geotransform if grid.is_north_up else _PIXEL_COORDINATES
        tile_grid = gdal_io.RasterGrid(width, height, tile_geotransform(geotransform, tile), grid.wkt, epoch=grid.epoch)
        dtype, nodata = output_type(len(palette), opaque, options.nodata_index)
        gdal_type, _ = run.GDAL_TYPES[dtype().itemsize]
        folder = os.path.join(workdir, "tiles")
        os.makedirs(folder, exist_ok=True)
        merges = run.merged_finder(grid, options, nodata)
        written = os.path.join(folder, tile_name(tile))
        try:
            with gdal_io.IndexedRasterWriter(written, "GTiff", tile_grid, palette,
                                             gdal_type, nodata, compress_in_threads=not options.cleanup.busy
                                             ) as writer:
                passed = quantize_blocks(source, _TileWriter(writer, tile), _offset_windows(tile, options.full_rows),
                                         palette, options.metric, options.alpha_threshold, dither=options.dither,
                                         cleanup=options.cleanup, grid_size=(grid.width, grid.height),
                                         opaque=opaque, nodata_index=options.nodata_index, observers=[merges])
                writer.commit()
        except gdal_io.WriteError as error:  # said of the output's folder, not of the hidden tile's file
            detail = str(error).replace("GDAL could not write {}: ".format(os.path.abspath(written)), "", 1)
            raise run.RunError("Could not write the tiles of the output in {}: {}. Nothing was written.".format(
                os.path.dirname(os.path.dirname(workdir)), detail.rstrip("."))) from None  # see _workdir
        return passed.counts, run.values_clipped(source, options.alpha_threshold), merges.samples
    finally:
        source.close()


def assemble(job, workdir, options, palette, tiles, opaque, origin=None):
    """The tiles (quantize_tile's results) as one mosaic: <output>.vrt beside its tiles folder, or
    the output raster itself (written from the mosaic as quantize_file writes it); then the style
    and table. Removes the work folder, whatever happens. Returns (pixels per entry, the notes and
    warnings quantize_file would give, as (text, warning) pairs)."""
    gdal_io.state_error_mode()
    counts = sum(tile_counts for tile_counts, _, _ in tiles)
    try:
        vrt_path = os.path.join(workdir, os.path.basename(os.path.splitext(job.output)[0]) + ".vrt")
        names = [os.path.join(workdir, "tiles", tile_name(tile)) for tile in job.tiles]
        remove_tagged(os.path.join(workdir, "tiles"), None)  # tile writers' staging folders, left by lost workers
        lost = [name for name in names if not os.path.exists(name)]
        if lost:  # a worker that stopped after its tile was done: its tile written again maybe, never a mosaic with holes
            raise run.RunError("{} of the {} tiles of {} were lost (a Dask worker stopped?); run it again".format(
                len(lost), len(names), job.input))
        data_type, grid, read, transparency = file_output(job.input, options, palette, opaque)
        nodata = data_type[1]
        notes = [  # what quantize_file says of the file, but the colours matched (counted tile by tile)
            "Reading {} ({} x {} pixels) in {} tile{}.".format(read, grid.width, grid.height, len(job.tiles),
                                                                "" if len(job.tiles) == 1 else "s"),
            run.palette_message(palette, origin, options.metric),
            run.output_type_message(len(palette), opaque, run.GDAL_TYPES[data_type[0]().itemsize][1], nodata, palette,
                                    options.nodata_index, "no transparent pixel", transparency)]
        merges = run.merged_finder(grid, options, nodata)
        for _, _, samples in tiles:
            merges.take(samples)
        warnings = ([run.CLIPPED] if any(clipped for _, clipped, _ in tiles) else []) + [
            run.merged_message(entry, palette, options)
            for entry in run.merged_classes(merges, palette, options.metric, nodata)] + ([] if counts.any() else [run.ALL_NODATA])
        rotated = grid.has_geotransform and not grid.is_north_up  # tiles built in pixel coordinates (quantize_tile)
        if rotated:  # and so again, if a run of this task that Dask lost with its worker set some as below
            for tile, name in zip(job.tiles, names):
                gdal.Open(name, gdal.GA_Update).SetGeoTransform(tile_geotransform(_PIXEL_COORDINATES, tile))
        no_values = {} if nodata is None else {"srcNodata": nodata, "VRTNodata": nodata}
        mosaic = gdal.BuildVRT(vrt_path, names, **no_values)  # tiles relative to it
        if mosaic is None:
            raise OSError("GDAL could not build the mosaic: {}".format(gdal.GetLastErrorMsg()))
        sources = [name for name in mosaic.GetFileList() or [] if os.path.abspath(name) != os.path.abspath(vrt_path)]
        if (mosaic.RasterXSize, mosaic.RasterYSize) != (grid.width, grid.height) or len(sources) != len(names):
            # BuildVRT skips a tile it cannot use, and only warns
            raise run.RunError("The mosaic of {} lacks tiles ({}); run it again".format(
                job.input, gdal.GetLastErrorMsg() or "GDAL skipped some"))
        if grid.has_geotransform:  # the file's own: BuildVRT works out the pixel size from the tiles' bounds,
            mosaic.SetGeoTransform(grid.geotransform)  # off in its last digits (more so with more tiles)
        if rotated:
            for tile, name in zip(job.tiles, names):
                gdal.Open(name, gdal.GA_Update).SetGeoTransform(tile_geotransform(grid.geotransform, tile))
        if grid.gcps:  # a scan georeferenced by ground control points: they hold for the mosaic as a whole
            mosaic.SetGCPs(grid.gcps, grid.gcp_wkt)
        if grid.rpc:  # so do a satellite scene's RPCs
            mosaic.SetMetadata(grid.rpc, "RPC")
        if grid.epoch:  # which GDAL's BuildVRT leaves out of the mosaic's CRS
            mosaic.SetSpatialRef(grid.spatial_reference())
        band = mosaic.GetRasterBand(1)
        band.SetColorTable(gdal_io.colour_table(palette, nodata))  # the palette, not the tiles' padded table
        band.SetDefaultRAT(gdal_io.attribute_table(palette, counts))
        band = None
        mosaic = None
        if not grid.has_geotransform:
            _drop_geotransform(vrt_path)
        styled = options.style and not style_conflict(job.output, [job.input])  # never a user's .qml, nor the input's
        with OutputFiles() as outputs:  # all into place together, or nothing: as quantize_file's
            if is_mosaic(job.output):
                _stage_mosaic(workdir, vrt_path, job.output, outputs)
            else:
                warnings[:0] = _copy_mosaic(vrt_path, job.output, palette, counts, data_type, outputs,
                                            [job.table] if job.table else [])
            if styled:
                write_style(job.output, palette, outputs.stage(style_path(job.output)))
                notes.append("QGIS style with the palette's classes: {}".format(style_path(job.output)))
            if job.table:
                run.write_table(job.table, palette, counts, outputs)
            outputs.commit()
    except OSError as error:
        if error.errno in run.FULL_DISK:  # said as a run says it
            raise run.RunError("Could not write {}: {}. Nothing was written: free some space or write it "
                               "elsewhere.".format(job.output, error.strerror)) from error
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return counts, [(text, False) for text in notes] + [(text, True) for text in warnings]


def _drop_geotransform(vrt_path):
    """The mosaic of a picture without georeferencing without the tiles' pixel coordinates: its
    sources stay placed by their pixel offsets."""
    with open(vrt_path, encoding="utf-8") as f:
        text = f.read()
    with open(vrt_path, "w", encoding="utf-8") as f:
        f.write(re.sub(r"\s*<GeoTransform>[^<]*</GeoTransform>", "", text, count=1))


def _undo_unfinished_commits(job, tag):
    """Put back the earlier outputs of ``job`` that a task of the batch ``tag``, stopped in the
    middle of its commit (its worker process killed), had moved aside (outputs.put_back_replaced)."""
    names = {os.path.basename(path) for path in _side_files(job) + (
        [tiles_folder(job.output)] if is_mosaic(job.output) else [])}
    for folder in _output_folders(job):
        put_back_replaced(folder, tag, names)


def _output_folders(job):
    """The folders a file's outputs go into."""
    return {os.path.dirname(os.path.abspath(path)) for path in _side_files(job)}


def tiles_folder(output):
    return os.path.splitext(output)[0] + "_tiles"


_OWN_TILE = re.compile(r"tile_\d+_\d+\.tif(\.aux\.xml|\.ovr|\.msk)?$")


def tiles_folder_problem(output):
    """Why the tiles of the .vrt mosaic ``output`` cannot go into <name>_tiles/ (a sentence), or ''
    when it is missing or holds only an earlier mosaic's tiles, which the new ones replace."""
    folder = tiles_folder(output)
    if os.path.lexists(folder) and not os.path.isdir(folder):
        return "{} is a file, and the tiles of {} go there: move it or choose another output name.".format(
            folder, output)
    foreign = sorted(name for name in os.listdir(folder) if not _OWN_TILE.match(name)) if os.path.isdir(folder) else []
    if foreign:
        return ("{} holds files Palettize did not write ({}), and the tiles of {} replace that folder: move them "
                "or choose another output name.".format(folder, ", ".join(foreign[:3] + ["..."][:len(foreign) - 3]),
                                                        output))
    return ""


def _mosaic_text(vrt_path, output):
    """The text of the mosaic GDAL wrote at ``vrt_path`` for ``output``: GDAL says nothing when the
    disk fills as it writes a .vrt, and one cut short is refused (WriteError)."""
    with open(vrt_path, encoding="utf-8") as f:
        text = f.read()
    try:
        ElementTree.fromstring(text)
    except ElementTree.ParseError:
        raise gdal_io.WriteError("GDAL could not write the mosaic {}: {}".format(output, gdal_io.reason(
            "it was cut short, though GDAL reported no error", os.path.dirname(os.path.abspath(output)))))
    return text


def _stage_mosaic(workdir, vrt_path, output, outputs):
    """Stage <name>.vrt and its tiles (as <name>_tiles/) in ``outputs`` (outputs.OutputFiles), which
    puts them into place with the run's other outputs, the earlier mosaic's set aside until then.
    GDAL says nothing when the disk fills as it writes a .vrt: a mosaic cut short is refused here."""
    text = _mosaic_text(vrt_path, output)
    tiles = tiles_folder(output)
    # the tiles folder's name, as XML text (a name with '&' or '<' made a mosaic no program reads)
    text = text.replace('relativeToVRT="1">tiles/', 'relativeToVRT="1">{}/'.format(escape(os.path.basename(tiles))))
    for side_file in (".ovr", ".aux.xml"):  # an earlier mosaic's overviews and statistics
        outputs.obsolete(output + side_file)
    with open(outputs.stage(output), "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(os.path.join(workdir, "tiles"), outputs.stage(tiles))  # both beside the output: a rename


class _Later:
    """The tasks of files split into tiles, submitted once those they need are done: no task is
    given another's future. Given one, a task waits on a worker for it; when a worker was lost with
    the result it waited for, Dask 2022.12's scheduler queued the task making it again behind the
    waiting ones, which filled every worker: the batch hung for good."""

    def __init__(self, client, options, palette, origin, tag, watched, finals, workdirs):
        self.client, self.options, self.palette, self.origin, self.tag = client, options, palette, origin, tag
        self.watched, self.finals, self.workdirs = watched, finals, workdirs  # see Runner._submit
        self.holders = {}  # of the work folders (see _workdir)
        self._files = {}  # {future: (job, the file's task, its tile's number or None for its opacity)}
        self._tiles = {}  # {output: (opacity, [each tile's result or None])}

    def opacity(self, job, task):
        """Submit the reading of a split file's opacity (see file_opaque), which its tiles need."""
        future = self.client.submit(file_opaque, task.input, self.options, pure=False)
        self.watched[future] = (job, 0)
        self._files[future] = (job, task, None)

    def forget(self, job):
        """Let go of a failed file's tasks (see Runner._release)."""
        for future in [f for f, (other, _, _) in self._files.items() if other is job]:
            del self._files[future]
        self._tiles.pop(job.output, None)

    def after(self, future):
        """The tasks ``future`` (done) makes due: a file's tiles once its opacity is known, its
        mosaic once its tiles are done."""
        if future not in self._files:
            return []
        job, task, number = self._files.pop(future)
        if number is None:
            opaque, due = future.result(), []
            self._tiles[job.output] = (opaque, [None] * len(job.tiles))
            for number, tile in enumerate(job.tiles):
                due.append(self.client.submit(quantize_tile, task.input, self.workdirs[job.output], tile, self.options,
                                              self.palette, opaque, pure=False))
                self.watched[due[-1]] = (job, tile[2] * tile[3])
                self._files[due[-1]] = (job, task, number)
            return due
        opaque, results = self._tiles[job.output]
        results[number] = future.result()
        if any(result is None for result in results):
            return []
        del self._tiles[job.output]
        with _large_graphs_meant():  # the tiles' samples of merged classes: a few MB at most, which must travel
            final = self.client.submit(tagged, self.tag, assemble, task, self.workdirs[job.output], self.options,
                                       self.palette, results, opaque, self.origin, pure=False)
        self.watched[final], self.finals[final] = (job, 0), job
        return [final]


def file_opaque(path, options):
    """Whether no pixel of the file is transparent, decided once for all its tiles and the mosaic,
    which must agree on the output type: an alpha band or mask is read up to its first transparent
    pixel (the tiles, written each on their own, cannot be written again as a single run is when
    its guess of seems_opaque proves wrong)."""
    gdal_io.state_error_mode()
    source, _grid = run.open_file(path, options.bands)
    try:
        return run.opaque_or_guessed(source, options, read_all=True)[0]
    finally:
        source.close()


def file_output(path, options, palette, opaque):
    """((dtype, nodata) of a file's output, the file's RasterGrid, what is read of it, what may
    leave its pixels transparent): the type as quantize_file decides it for the whole file
    (``opaque``: file_opaque's answer; an opaque input needs no nodata)."""
    source, grid = run.open_file(path, options.bands)
    described = source.description, source.transparency
    source.close()
    return (output_type(len(palette), opaque, options.nodata_index), grid) + described


def _copy_mosaic(vrt_path, output, palette, counts, data_type, outputs, counted_in=()):
    """The mosaic written block by block as the output raster, by the writer quantize_file uses,
    staged in ``outputs``; ``data_type``: (dtype, nodata) of the file's output (see file_output).
    Returns the warnings of what its format could not hold (run.format_losses, ``counted_in`` as
    there: a split file gets no report), as quantize_file gives them."""
    _mosaic_text(vrt_path, output)  # whole, or GDAL cannot open it (None, no reason)
    source = gdal.Open(vrt_path)
    band = source.GetRasterBand(1)
    grid = gdal_io.RasterGrid.of_dataset(source)
    dtype, nodata = data_type
    gdal_type, _ = run.GDAL_TYPES[dtype().itemsize]
    driver = run.output_driver(output)
    with gdal_io.IndexedRasterWriter(output, driver, grid, palette, gdal_type, nodata, outputs) as writer:
        for window in gdal_io.iter_windows(grid.width, grid.height):
            writer.write(window, band.ReadAsArray(*window))
        writer.commit(counts)
    source = band = None
    return run.format_losses(writer, driver, output, grid, palette, counted_in, ("OUTPUT_TABLE",))


def _workdir(job, holders):
    """A private folder beside the output for its tiles (where every worker writes it), made in
    the staging folder that ``holders`` ({folder: outputs.OutputFiles}) holds in the output's
    folder until the batch ends (one open file a folder, not a file): a batch killed outright
    (kill -9) left its work folders for good; another run into that folder now sweeps them
    (outputs.sweep_abandoned). RunError when it cannot be made."""
    folder = os.path.dirname(os.path.abspath(job.output))
    try:
        holder = holders.setdefault(folder, OutputFiles())
        workdir = os.path.join(holder.staging_folder(folder), uuid.uuid4().hex[:8])
        os.mkdir(workdir)
    except OSError as error:
        raise run.RunError("Could not make a folder for the tiles of {} in {}: {}.{}".format(
            job.output, folder, error.strerror or error, " Free some space or write it elsewhere."
            if error.errno in run.FULL_DISK else "")) from None
    return workdir


def remove_folder(path):
    shutil.rmtree(path, ignore_errors=True)


# -- planning ------------------------------------------------------------------------------------


def tile_windows(width, height, split_above):
    """Square-ish windows of at most ``split_above`` megapixels (sides in multiples of the output's
    512-pixel blocks when they are that large) covering the grid, in raster order."""
    side = max(16, int((split_above * 1e6) ** 0.5))
    if side >= gdal_io.TILE:
        side -= side % gdal_io.TILE
    return tuple((x, y, min(side, width - x), min(side, height - y))
                 for y in range(0, height, side) for x in range(0, width, side))


def _megapixels(pixels):
    """Megapixels rounded up to 2 decimals: a --split-above that keeps such a file whole."""
    return "{:g}".format(math.ceil(pixels / 1e4) / 100)


def raster_size(path):
    """(width, height) of a raster, or raises run.RunError saying why it cannot be read."""
    dataset, problem = gdal_io.open_raster(path)
    if dataset is None:
        raise run.RunError("Cannot open {} as a raster: {}".format(path, problem))
    return dataset.RasterXSize, dataset.RasterYSize


# -- the runner ----------------------------------------------------------------------------------


class AddressError(BatchError):
    """--scheduler's value is not an address distributed can parse: a wrong command line."""


class Cluster:
    """Where tasks run: a LocalCluster of ``workers`` processes, or the cluster at ``scheduler``."""

    def __init__(self, workers=None, scheduler=None, quiet=False):
        self.workers, self.scheduler, self.quiet = workers, scheduler, quiet
        self.client = self._cluster = None
        self._worker_pids = []  # of our LocalCluster's worker processes

    def start(self):
        # Workers log INFO to stderr whatever LocalCluster's silence_logs says: set the level they
        # read from the environment when they import distributed.
        level = "error" if self.quiet else "warning"
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", level)
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise BatchError(INSTALL_DASK)
        import logging

        logging.getLogger("distributed").setLevel(level.upper())
        # A lost scheduler: the client logs it as errors with pages of distributed's tracebacks (its
        # reconnection cut short, under asyncio's and tornado's names), where the batch says it in one line (Runner._follow);
        # a lost worker: our local scheduler logs the results it could not gather, which it makes again.
        # (distributed's configuration gives tornado.application a level of its own: distributed's
        # "cannot access free variable 'future'" after a Ctrl-C at the wrong moment came through.)
        for name in ("distributed.client", "asyncio", "tornado", "tornado.application", "distributed.scheduler"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        # After a Ctrl-C, our cluster's nannies kill the workers still busy with a file (as meant).
        nanny = logging.getLogger("distributed.nanny")
        if _NO_KILLING_NOTE not in nanny.filters:
            nanny.addFilter(_NO_KILLING_NOTE)
        # Dask starts workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's adaptive
        # mmap threshold: every block the engine allocates (tens of MB) is then mapped and zeroed
        # afresh, and a task ran up to 1.5 times slower than in one process.
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {})
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        dask.config.set({"distributed.nanny.pre-spawn-environ": environ})
        # An earlier client of this process left to the garbage collector (a script's, a notebook's)
        # closed from its __del__ while the new one starts distributed's event loop under its lock:
        # both waited for ever. Collected now, it closes before.
        gc.collect()
        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout=30)
            except (OSError, TimeoutError) as error:
                raise BatchError("Cannot reach the Dask scheduler at {}: {}".format(self.scheduler, error))
            except ValueError as error:  # e.g. no port: distributed cannot parse the address
                raise AddressError("--scheduler {}: {}; give the scheduler's address as dask-scheduler prints it, "
                                 "such as tcp://HOST:8786.".format(self.scheduler, error))
            try:
                check_workers(self.client, self.scheduler)
            except BaseException:
                self.close()
                raise
        else:
            # dashboard_address=":0": any free port for its HTTP server (None means 8787, and a
            # warning on stderr when another cluster has it); bokeh's dashboard is optional.
            with _without_ctrl_c():
                from distributed.deploy.spec import SpecCluster
                nanny_level, children = nanny.level, set(multiprocessing.active_children())
                clusters = set(getattr(SpecCluster, "_instances", ()))
                nanny.setLevel(logging.CRITICAL)  # its errors of a worker that did not start: said below
                try:
                    with _deadline(WORKER_START_TIMEOUT + 10):  # distributed 2024.12 waits on past death_timeout
                        self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                                     dashboard_address=":0", scheduler_port=0,
                                                     silence_logs=level.upper(), death_timeout=WORKER_START_TIMEOUT)
                except Exception:  # distributed waited for ever for a worker killed as it started
                    for child in set(multiprocessing.active_children()) - children:  # the workers that did start
                        child.kill()
                    for started in set(getattr(SpecCluster, "_instances", ())) - clusters:  # closed at exit: for ever too
                        SpecCluster._instances.discard(started)
                    raise BatchError("The local Dask cluster did not start: a worker process stopped, or did not "
                                     "answer within {} s, as it started (short of memory?). Run it again, maybe "
                                     "with fewer --workers.".format(WORKER_START_TIMEOUT)) from None
                finally:
                    nanny.setLevel(nanny_level)
            self.client = Client(self._cluster)
            self.client.run(_silence_task_failures)  # each failed file gets its one line from the command line
            if self.quiet:  # the workers print on the command line's terminal: GDAL's warnings neither
                self.client.run(gdal_io.state_error_mode, False)
            self._worker_pids = list(self.client.run(os.getpid).values())
        return self.client

    @property
    def is_local(self):
        """Its worker processes are ours: stopping them stops their tasks."""
        return self.scheduler is None

    def close(self):
        """Stop using the cluster. Our own workers have ended when this returns (distributed's close
        may give up, or hang for ever after a Ctrl-C: it is given CLOSE_TIMEOUT, and the workers are
        waited for and killed if need be), so none writes into the folders removed after it."""
        with _without_ctrl_c():
            if self._cluster is not None and self.client is not None:
                try:  # a worker its nanny starts again (one was lost) and closed as it starts prints tracebacks
                    self.client.wait_for_workers(self.workers, timeout=RESTART_TIMEOUT)
                except Exception:
                    pass
            for part in (self.client, self._cluster):
                try:
                    if part is not None:
                        part.close(timeout=CLOSE_TIMEOUT)
                except Exception:  # a close that hangs (one a Ctrl-C cut short, left waiting for ever): see below
                    pass
            self.client = self._cluster = None
            _stop_processes(self._worker_pids)
            self._worker_pids = []


#: Seconds a local worker process is given to start (distributed waited for ever for one killed as it started).
WORKER_START_TIMEOUT = 60
#: Seconds to wait for the client and the local cluster to close.
CLOSE_TIMEOUT = 20
#: Seconds to wait for a local worker being started again before the cluster is closed.
RESTART_TIMEOUT = 10
#: Seconds the client is given to notice its scheduler is lost after a call to it failed.
LOST_PATIENCE = 5


def _connection_closed(error):
    """Whether ``error`` is distributed's own on a connection to the scheduler: its CommClosedError, or
    the OSError of a connection it could not make again; both without an errno, unlike the system's
    errors of the batch's own (a broken pipe on stderr, a full disk)."""
    return isinstance(error, OSError) and error.errno is None


def _stop_processes(pids, patience=10.0):
    """Wait up to ``patience`` seconds for the processes ``pids`` to end, then kill those left."""
    if not _ended(pids, patience):
        for pid in pids:
            if _running(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        _ended(pids, patience)


def _ended(pids, patience):
    """Whether the processes ``pids`` all ended within ``patience`` seconds."""
    deadline = time.monotonic() + patience
    while any(_running(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _running(pid):
    """Whether process ``pid`` runs (a zombie, ended but not yet reaped by its parent, does not)."""
    if not os.path.isdir("/proc"):  # no /proc to tell: whether it exists at all
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    try:
        with open("/proc/{}/stat".format(pid)) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


@contextlib.contextmanager
def _without_ctrl_c():
    """SIGINT ignored in the block. Worker processes started in it inherit that and keep ignoring
    it: Ctrl-C, which a terminal sends to the whole process group, then stops only this process,
    which stops the batch and the workers and cleans up after them, and no worker prints a
    traceback (a Ctrl-C in the few seconds they take to start is lost: press it again). The
    cleaning up after a Ctrl-C is not cut short by a second one (`timeout -s INT` sends one to
    the process and one to its group), which left a tile folder behind and the cluster half closed.
    A SIGTERM is held until the block ends: one in the middle of the local cluster's start left it
    half started, and distributed printed a traceback as the process ended."""
    if threading.current_thread() is not threading.main_thread():
        yield  # a library caller's thread: signals are the main thread's business
        return
    held = []
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    terminate = signal.signal(signal.SIGTERM, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL if terminate is None else terminate)
        if held and terminate != signal.SIG_IGN:
            os.kill(os.getpid(), signal.SIGTERM)  # as it came: the caller's handler, or the end of the process


class _Expired(Exception):
    """A _deadline passed."""


@contextlib.contextmanager
def _deadline(seconds):
    """_Expired raised in the block once ``seconds`` have passed (SIGALRM; in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum, frame):
        raise _Expired()
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class _NoKillingNote:
    """Drops distributed's 'Worker process still alive after ... seconds, killing' (a logging filter)."""

    @staticmethod
    def filter(record):
        return not record.getMessage().startswith("Worker process still alive after")


_NO_KILLING_NOTE = _NoKillingNote()


def _silence_task_failures():
    """On a worker of our own LocalCluster: no 'Compute Failed' report with the task's arguments
    for every failed tile on stderr (the error reaches the command line, which says it once), nor,
    after a Ctrl-C, an 'Async instruction ... ended with CancelledError' for each task it cancelled
    (Dask 2024.12). Only those records are dropped: distributed logs them as warnings, or errors."""
    import logging

    class NoComputeFailed(logging.Filter):
        def filter(self, record):
            message = record.getMessage()
            return not (message.startswith("Compute Failed") or
                        message.startswith("Async instruction for") and "CancelledError" in message)

    for name in ("distributed.worker", "distributed.worker.state_machine"):
        logging.getLogger(name).addFilter(NoComputeFailed())


#: Seconds to wait for a first worker on an existing scheduler.
WORKER_WAIT = 30


def worker_ready():
    """Run on every worker before any task: that a worker can unpickle it (import Palettize) is the check."""
    return True


def check_workers(client, address):
    """Raise BatchError unless the scheduler at ``address`` has a worker, and every worker imports
    Palettize (else every task would fail, or the batch would wait for ever)."""
    from distributed import TimeoutError as DaskTimeout

    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT)
    except (DaskTimeout, TimeoutError):
        raise BatchError("No Dask worker joined the scheduler at {} within {} s: start `dask-worker {}` on each "
                         "machine.".format(address, WORKER_WAIT, address))
    except OSError as error:  # the scheduler went away while it was asked
        raise BatchError("Lost the Dask scheduler at {} while waiting for its workers: {}".format(address, error))
    try:
        client.run(worker_ready)
    except Exception as error:  # distributed hands a worker's import error back as a plain Exception
        raise BatchError("The Dask workers of the scheduler at {} cannot run Palettize ({}): install Palettize "
                         "where every worker runs (pip install . in its Python environment) and restart the "
                         "workers.".format(address, error))


def _quiet(*args, **kwargs):
    return None


class Runner:
    """Runs a batch here or on a cluster; ``with Runner(cluster) as runner: runner.quantize(...)``."""

    def __init__(self, cluster=None, split_above=DEFAULT_SPLIT_ABOVE):
        self.cluster, self.split_above = cluster, split_above
        self.client = None

    def __enter__(self):
        if self.cluster is not None:
            try:
                self.client = self.cluster.start()
            except BaseException:  # e.g. Ctrl-C while it starts: no cluster outlives the run
                self.cluster.close()
                raise
        return self

    def __exit__(self, *exc):
        if self.cluster is not None:
            self.cluster.close()
        return False

    # -- planning, shared --

    def _plan(self, jobs, options, on_failure):
        """Sizes and tiles of every job; jobs whose input cannot be opened fail here."""
        planned = []
        for job in jobs:
            try:
                job.width, job.height = raster_size(job.input)
            except run.RunError as error:
                on_failure(job, error)
                continue
            split = self.client is not None and job.pixels > self.split_above * 1e6
            if split or is_mosaic(job.output):
                extension = os.path.splitext(job.output)[1].lstrip(".")
                if extension and not run.driver_for_extension(extension):
                    on_failure(job, run.RunError("Cannot write '.{}' rasters: choose a GeoTIFF (.tif), a mosaic "
                                                 "(.vrt) or another raster format GDAL writes.".format(extension)))
                    continue
                problem = is_mosaic(job.output) and tiles_folder_problem(job.output)
                if problem:
                    on_failure(job, run.RunError(problem))
                    continue
                job.tiles = tile_windows(job.width, job.height, self.split_above) if split else (
                    (0, 0, job.width, job.height),)
            elif self.client is not None:  # its folders are made here (see quantize), before its task checks it
                try:
                    run.check_output_paths({"OUTPUT": job.output, "OUTPUT_REPORT": job.report,
                                            "OUTPUT_TABLE": job.table}, {"INPUT": job.input})
                except run.RunError as error:
                    on_failure(job, error)
                    continue
            planned.append(job)
        split = [job for job in planned if len(job.tiles) > 1]
        if split and getattr(options, "dither", "none") != "none":
            raise BatchError("--dither carries the colour error through a whole file, so {} ({} MPx) cannot be "
                             "split into tiles: set --split-above {} or leave out --dither.".format(
                                 split[0].input, _megapixels(split[0].pixels), _megapixels(max(j.pixels for j in split))))
        mosaics = [job for job in planned if job.report and is_mosaic(job.output)]
        if mosaics:
            raise BatchError("--report is written for one raster, not for the .vrt mosaic {}: write a .tif, or leave "
                             "out --report.".format(mosaics[0].output))
        reported = [job for job in split if job.report]
        if reported:
            raise BatchError("--report needs a whole file in one task, and {} ({} MPx) would be split into tiles: set "
                             "--split-above {} or leave out --report.".format(
                                 reported[0].input, _megapixels(reported[0].pixels), _megapixels(reported[0].pixels)))
        return self._checked_tiled(planned, options, on_failure)

    @staticmethod
    def _checked_tiled(planned, options, on_failure):
        """The planned jobs, less the tiled ones whose outputs quantize_file would refuse before
        any work (a table replacing the output, a format that cannot hold the indices, ...):
        their tiles are assembled only at the end."""
        tiled = [job for job in planned if job.tiles]
        palette = None if not tiled or options.palette.from_image else run.resolve_palette(options)[0]
        for job in tiled:
            source, grid = run.open_file(job.input, options.bands)

            def check(opaque):
                run.check_quantize(job.output, grid, _job_options(job, options), palette, opaque,
                                   driver="GTiff" if is_mosaic(job.output) else None, inputs={"INPUT": job.input})
            try:
                try:
                    check(source.opaque)
                except run.RunError:  # e.g. GIF, which holds 256 colours without nodata only: does the alpha
                    if source.opaque or not file_opaque(job.input, options):  # band leave any pixel transparent?
                        raise
                    check(True)
            except run.RunError as error:
                on_failure(job, error)
                planned.remove(job)
            finally:
                source.close()
        return planned

    # -- quantize --

    def quantize(self, jobs, options, progress=_quiet, keep_going=False, log=None, on_failure=_quiet):
        """Quantize every job; returns the failed jobs (each reported once through ``on_failure``)."""
        log = log or _quiet
        failures = []

        def fail(job, error):
            failures.append(job)
            on_failure(job, error)

        jobs = list(jobs)
        planned = self._plan(list(jobs), options, fail)
        if failures and not keep_going:
            return failures
        total = sum(job.pixels for job in planned)
        for job in planned:  # files assembled from tiles or run on workers cannot say it themselves
            unsaid = options.style and log and (job.tiles or self.client is not None or len(planned) > 1)
            kept = unsaid and style_conflict(job.output, [job.input])
            if kept:
                log(run.style_not_saved(kept), warning=True)
        palette = origin = None
        if options.palette.from_image:
            progress(0, 0, len(planned), total)
            histogram = self._histogram(planned, options, fail)  # drops the files it cannot read
            if (failures and not keep_going) or not planned:
                return failures
            total = sum(job.pixels for job in planned)
            palette, origin = run.resolve_palette(options, histogram, log)
        elif self.client is not None or len(planned) > 1:
            palette, origin = run.resolve_palette(options, None, log)
        said = set()  # warnings about the palette, given once for all files
        repeated = palette is not None and run.repeated_colours_message(palette, options.nodata_index)
        if repeated:
            log(repeated, warning=True)
            said.add(repeated)

        single = len(jobs) == 1  # a batch with one file left (the others could not be read) is still a batch

        def tell(job, text, warning=False):
            """What a file's run logged: its warnings, naming the file among several, and its notes
            when it is the only file."""
            if warning and text not in said:
                log(text if single else "{}: {}".format(job.input, text), warning=True)
            elif not warning and single:
                log(text)

        progress(0, 0, len(planned), total)
        run_batch = self._quantize_here if self.client is None else self._quantize_on_cluster
        folders = OutputFiles()  # the folders tiles and workers write into; those left empty go
        try:
            for job in planned:
                if job.tiles or self.client is not None:
                    for path in (job.output, job.report, job.table):
                        if path:
                            folders.make_folders(os.path.dirname(os.path.abspath(path)))
            run_batch(planned, options, (palette, origin), progress, keep_going, tell, fail, total)
        finally:
            folders.discard()
        return failures

    def _quantize_here(self, jobs, options, resolved, progress, keep_going, tell, fail, total):
        """The jobs one after another in this process; ``resolved``: (the palette, where it comes
        from), or (None, None) for each file's own (see quantize_file)."""
        palette, origin = resolved
        done_pixels = 0
        for number, job in enumerate(jobs):
            def file_progress(fraction, number=number, start=done_pixels):
                progress(number, start + fraction * job.pixels, len(jobs), total)

            def file_log(text, warning=False, job=job):
                tell(job, text, warning)

            try:  # a failed file leaves nothing (quantize_file, assemble): what is at its outputs is another's
                if job.tiles:
                    for text, warning in self._tiles_here(job, options, palette, origin):
                        file_log(text, warning)
                else:
                    run.quantize_file(job.input, job.output, _job_options(job, options), palette=palette,
                                      palette_origin=origin, progress=file_progress, log=file_log)
            except Exception as error:  # one line per failed file; the batch goes on or stops cleanly
                fail(job, _unreadable(error))
                if not keep_going:
                    return
            done_pixels += job.pixels
            progress(number + 1, done_pixels, len(jobs), total)

    @staticmethod
    def _tiles_here(job, options, palette, origin):
        if palette is None:
            palette, origin = run.resolve_palette(options, run.colour_histogram_files([job.input], options)
                                                  if options.palette.from_image else None)
        holders = {}
        try:
            workdir = _workdir(job, holders)
            opaque = file_opaque(job.input, options)
            tiles = [quantize_tile(job.input, workdir, tile, options, palette, opaque) for tile in job.tiles]
            return assemble(job, workdir, options, palette, tiles, opaque, origin)[1]
        finally:
            for holder in holders.values():
                holder.discard()

    def _quantize_on_cluster(self, jobs, options, resolved, progress, keep_going, tell, fail, total):
        palette, origin = resolved  # (the palette, where it comes from): see _quantize_here
        from distributed import as_completed

        watched, finals, workdirs = {}, {}, {}
        tag = uuid.uuid4().hex[:8]  # the staging folders of this batch's tasks
        ended = set()  # outputs of the files whose last task ended
        later = _Later(self.client, options, palette, origin, tag, watched, finals, workdirs)
        for folder in {folder for job in jobs for folder in _output_folders(job)}:
            sweep_abandoned(folder)  # here, where the tasks (on other machines maybe) sweep none
        try:  # submitting takes a while too (a few ms a task): a Ctrl-C there is cleaned up after as well
            for job in [job for job in jobs if job.tiles]:
                try:
                    workdirs[job.output] = _workdir(job, later.holders)
                except run.RunError as error:
                    fail(job, error)
                    if not keep_going:
                        return
                    jobs = [other for other in jobs if other is not job]
            self._submit(jobs, later)
            self._follow(as_completed(list(watched)), watched, finals, workdirs, keep_going, fail, tell, progress,
                         len(jobs), total, ended, later)
        except BaseException as error:  # e.g. Ctrl-C: no tile folder or unfinished output outlives the run
            with _without_ctrl_c():
                lost = self._scheduler_lost(error)  # its workers' tasks can be neither cancelled nor waited for
                if self.cluster.is_local or lost:  # our workers: stopped now, in the middle of their tasks
                    if self.cluster.is_local:
                        self.cluster.close()
                    for job in jobs:
                        if job.output not in ended:  # its outputs whole where its last task ended, unseen yet
                            _undo_unfinished_commits(job, tag)
                            for folder in _output_folders(job):
                                remove_tagged(folder, tag)
                else:  # another's workers: their running tasks end as they would
                    self._cancel([f for f in watched if not f.done()], timeout=10)
                for workdir in workdirs.values():
                    remove_folder(workdir)
            if lost and isinstance(error, Exception) and not isinstance(error, BatchError):
                raise self._lost_scheduler() from None  # e.g. a result gathered as the scheduler died
            raise
        finally:
            for holder in later.holders.values():  # their work folders removed by now (or with them)
                holder.discard()
        for job in jobs:  # a task Dask ran again, its worker lost in the middle, left its staging folder
            for folder in _output_folders(job):
                remove_tagged(folder, tag)

    def _submit(self, jobs, later):
        """Submit every file's first task, each watched as it is submitted (see _Later): a file in
        one piece is one task; a file split into tiles first has its opacity read, and _Later
        submits its tiles, then its mosaic, as they become due."""
        for job in jobs:
            task = for_workers(job)
            if not job.tiles:
                future = later.client.submit(tagged, later.tag, quantize_whole, task, later.options, later.palette,
                                             later.origin, pure=False)
                later.watched[future], later.finals[future] = (job, job.pixels), job
                continue
            later.opacity(job, task)

    def _follow(self, completed, watched, finals, workdirs, keep_going, fail, tell, progress, files, total, ended,
                later):
        """Account for tasks as they finish: progress, one failure per file, cleaning up after it,
        what each file done logged (``tell(job, text, warning)``); ``ended``: a set that gets the
        output of each file whose last task ended; ``later`` (_Later): submits the tasks a task done
        makes due."""
        from distributed import wait

        client = self.client
        files_done, pixels_done, failed = 0, 0, set()
        stop = False
        for future in completed:
            if future not in watched:  # a task of a file finished and let go (see _release)
                continue
            job, pixels = watched[future]
            if future in finals:
                ended.add(job.output)
            if future.status in ("error", "cancelled"):
                if future.status == "cancelled" and self._scheduler_lost():
                    raise self._lost_scheduler()
                if job.output in failed or stop and future.status == "cancelled":
                    continue
                failed.add(job.output)
                _undo_unfinished_commits(job, later.tag)  # of a task Dask lost with its worker, then ran again
                fail(job, _unreadable(future.exception()) if future.status == "error" else "cancelled")
                if stop:  # a file begun before the stop that failed too: said, nothing more to stop
                    continue
                if not keep_going:
                    stop = True
                    # The tasks running on workers run to their end (a running task cannot be stopped;
                    # cancelled, it went on, its staging or work folder removed under it): their files
                    # are finished and kept, the others not begun.
                    begun = self._running_tasks(watched)
                    self._cancel([f for f in watched if not f.done() and f not in begun])
                    wait(begun)
                    removed = list(workdirs.values())
                else:  # the file's other tiles still run: their tiles must not outlive the folder
                    wait([f for f, (other, _) in watched.items() if other is job and f not in finals])
                    removed = [workdirs[job.output]] if job.output in workdirs else []
                for workdir in removed:
                    client.submit(remove_folder, workdir, pure=False).result()
                if keep_going:  # held, a tile lost with a worker would be made again in the folder just removed
                    self._release(job, watched, finals)
                    later.forget(job)
                continue
            pixels_done += pixels
            going = not stop and job.output not in failed
            if going:
                for due in later.after(future):
                    completed.add(due)
            if future in finals:
                files_done += 1
                for text, warning in future.result()[1]:
                    tell(job, text, warning)
                self._release(job, watched, finals)
            elif going:  # its result taken: let go, see _release
                del watched[future]
            progress(files_done, pixels_done, files, total)

    @staticmethod
    def _release(job, watched, finals):
        """Let go of a finished file's tasks: held, a result lost with a worker would be made again,
        its tiles written into a work folder already removed (and left there)."""
        for future in [f for f, (other, _) in watched.items() if other is job]:
            del watched[future]
            finals.pop(future, None)

    def _scheduler_lost(self, error=None):
        """Whether the client lost its scheduler (it then cancels every task it was waiting for).
        After a connection error of distributed's (a result gathered as the scheduler died), the
        client is given a moment to notice: it may still say "running" when the call fails. (Other
        errors, such as a broken pipe on stderr, have nothing to wait for.)"""
        deadline = time.monotonic() + (LOST_PATIENCE if _connection_closed(error) else 0)
        while self.client.status in ("running", "newly-created"):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _lost_scheduler(self):
        """The error that ends a batch whose client lost its scheduler."""
        return BatchError("Lost the Dask scheduler{}: the files not finished were not written (those finished "
                          "were); start the scheduler again and run them again.".format(
                              " at " + self.cluster.scheduler if self.cluster.scheduler else " of the local workers"))

    def _running_tasks(self, futures):
        """The ``futures`` whose tasks a worker is running now (not those only queued on it)."""
        running = self._running_keys()
        return [future for future in futures if not future.done() and future.key in running]

    def _running_keys(self):
        """The keys of the tasks workers are running, cancelled ones included (a worker cannot stop
        a task it runs); the lost scheduler's BatchError once the scheduler is lost."""
        def running(dask_worker):  # sent by value: workers need not have this version of Palettize
            state = getattr(dask_worker, "state", dask_worker)  # a WorkerState since distributed 2022.08
            tasks = list(getattr(state, "executing", ())) + list(getattr(state, "long_running", ()))
            return [task.key for task in tasks]

        try:
            # A worker just lost (still listed by the scheduler) runs nothing: not asked, nor waited for.
            return {key for keys in self.client.run(running, on_error="ignore").values() for key in keys}
        except OSError as error:  # distributed's CommClosedError: the scheduler went away meanwhile
            if not self._scheduler_lost(error):
                raise
            raise self._lost_scheduler() from None

    def _cancel(self, futures, timeout=60):
        """Cancel tasks and wait until none of them still runs on a worker (a running task cannot
        be stopped, and its tile must not land in a work folder after the folder is removed).
        Nothing to wait for once the scheduler is lost."""
        keys = {future.key for future in futures}
        try:
            self.client.cancel(futures)
            deadline = time.monotonic() + timeout
            while keys & self._running_keys() and time.monotonic() < deadline:
                time.sleep(0.1)
        except (OSError, BatchError) as error:  # the scheduler went away meanwhile
            if not self._scheduler_lost(error):
                raise

    def _histogram(self, jobs, options, fail, log=None):
        """(codes, counts) of the inputs of all ``jobs`` together: here file by file, on a cluster
        one task per file or tile, merged. A file that cannot be read goes to ``fail`` and out of
        ``jobs`` (the palette comes from the others). ``log``: gets a warning for each file whose
        values were clipped (on a cluster; here extract_palette_files gives it)."""
        if self.client is None:
            parts = []
            for job in list(jobs):
                try:
                    parts.append(run.colour_histogram_files([job.input], options))
                except (run.RunError, gdal_io.SourceError) as error:
                    jobs.remove(job)
                    fail(job, _unreadable(error))
            return parts[0] if len(parts) == 1 else run.merge_histograms(parts)
        try:
            return self._histogram_on_cluster(jobs, options, fail, log)
        except Exception as error:  # e.g. the histograms' tasks, cancelled by a client that lost its scheduler
            if self._scheduler_lost(error):
                raise self._lost_scheduler() from None
            raise

    def _histogram_on_cluster(self, jobs, options, fail, log):
        from distributed import wait

        merged = []
        for job in jobs:
            if not job.tiles and job.pixels > self.split_above * 1e6:
                job.tiles = tile_windows(job.width, job.height, self.split_above)
            parts = [self.client.submit(histogram_task, for_workers(job).input, options, tile, pure=False)
                     for tile in (job.tiles or (None,))]
            with _large_graphs_meant():  # the list of a file's tiles' tasks: thousands of them
                merged.append((job, self.client.submit(merge_file_histograms, parts, pure=False)))
        wait([future for _, future in merged])
        readable, several = [], len(jobs) > 1
        for job, future in merged:
            if future.status == "error":
                jobs.remove(job)
                fail(job, _unreadable(future.exception()))
            else:
                readable.append(future)
        if not readable:  # every file failed (a scheduler that cannot unpack the tasks fails them all): said
            return None
        histogram, clipped = self.client.submit(merge_batch_histograms, readable, pure=False).result()
        for job, was_clipped in zip(jobs, clipped):
            if was_clipped and log:
                log("{}: {}".format(job.input, run.CLIPPED) if several else run.CLIPPED, warning=True)
        return histogram

    # -- extract --

    def extract(self, inputs, output, options, progress=_quiet, log=None):
        """One palette from all inputs together, written to ``output``."""
        log = log or _quiet
        if self.client is None:  # the whole run's fraction done, as files and megapixels for the bar
            total = _pixels_of(inputs)
            return run.extract_palette_files(inputs, output, options, log=log, progress=lambda f: progress(
                len(inputs) if f >= 1 else 0, f * total, len(inputs), total))
        if options.report:
            raise BatchError("--report is not written on a cluster: run extract without --workers/--scheduler.")
        run.check_extract(output, options, {"INPUT{}".format(i + 1) if len(inputs) > 1 else "INPUT": path
                                            for i, path in enumerate(inputs)})  # before any work, as in one process
        jobs = [_sized(path) for path in inputs]
        total = sum(job.pixels for job in jobs)
        progress(0, 0, len(jobs), total)
        failed = []
        histogram = self._histogram(jobs, options, lambda job, error: failed.append(error), log)
        if failed:
            raise failed[0]
        palette, _ = run.resolve_palette(options, histogram, log)
        with OutputFiles() as outputs:  # its folder made if missing; nothing left if writing fails
            try:
                write_palette(run.named_after_file(palette, output), outputs.stage(output))
            except (PaletteFileError, OSError) as error:
                raise run.RunError("Could not write the palette: {}".format(error))
            try:
                outputs.commit()
            except OSError as error:
                raise run.RunError("Could not write {}: {}. Nothing was written.".format(output, error))
        progress(len(jobs), total, len(jobs), total)
        entries, usage = palette_usage(histogram[0], histogram[1], palette, options.metric)
        for entry in merged_in_histogram(histogram[0], histogram[1], entries):
            log(run.extract_merged_message(entry, palette, options.method), warning=True)
        return run.ExtractResult(palette, usage, [output])


@contextlib.contextmanager
def _large_graphs_meant():
    """Tasks submitted in the block carry a few MB on purpose: no Dask warning that they are
    large (a page of advice and code on stderr, --quiet or not)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Large object of size", UserWarning)
        yield


def _unreadable(error):
    """A file's error on the cluster, as the one-process run words it; a scheduler that cannot
    unpack the tasks (Dask 2024.12 and later do it there) says what to install where."""
    if isinstance(error, gdal_io.SourceError):
        return run.RunError("Could not read the input: {}".format(error))
    if "deserialization of the task graph" in str(error):
        return run.RunError("The Dask scheduler could not unpack Palettize's tasks: install Palettize where the Dask "
                            "scheduler runs too (Dask 2024.12 and later unpack tasks there), and restart it.")
    return error


def _pixels_of(paths):
    """Pixels of the rasters at ``paths`` together; 0 when one cannot be opened (its run says why)."""
    try:
        return sum(width * height for width, height in map(raster_size, paths))
    except run.RunError:
        return 0


def _sized(path):
    width, height = raster_size(path)
    return Job(path, "", width=width, height=height)
