"""The run API: a whole quantization or palette extraction, from a typed options object.

``quantize_file`` and ``extract_palette_files`` read raster files with GDAL (the command line, a
notebook, a cluster); ``quantize_source`` and ``extract_palette_source`` take any source with
``read(window)`` (the plugin passes the layer as QGIS draws it). All of them choose the palette
(``resolve_palette``), the output type, the windows (whole rows when dithering, a margin for the
cleanup) and write the extras (report, table, style) the options ask for.

Every run writes all its outputs or none (outputs.OutputFiles): they are staged beside their
final places and put in place together at the end; a failure or a cancel leaves the disk as it was.
Outputs a format or the disk cannot hold, or that would replace an input, are refused before any
work (``check_quantize``, ``check_extract``: the plugin calls them while checking its parameters).

Errors a user can fix raise ``RunError`` with one sentence saying what to do; a cancel raises
``blocks.Cancelled``. ``progress(fraction)``, ``is_cancelled()`` and ``log(text, warning=False)``
are optional callbacks.
"""

import csv
import errno
import os
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from typing import List
from urllib.request import pathname2url

import numpy as np
from osgeo import gdal

from ..palettes.formats import WRITE_EXTENSIONS, PaletteFileError, read_palette, write_palette
from ..palettes.formats.raster import FORMAT as RASTER_PALETTE
from ..palettes.palette import MATPLOTLIB_PREFIX, Palette, builtin_palette, colour_count, matplotlib_palette
from . import gdal_io
from .adaptive import PaletteBuildError, build_palette_and_nearest
from .blocks import (Cancelled, HeldPixels, TransparentAfterAll, absent_index, colour_histogram, output_type,
                     palette_usage, quantize_blocks, reserved_entry)
from .merged import MergedColourFinder, merged_in_histogram
from .nearest import RGB_BITS, nearest_entries, nearest_palette_indices
from .options import file_path
from .outputs import (SQLITE_SIDE_FILES, OutputFiles, input_key, length_problem, nearest_existing_folder,
                      same_file_key, writable_path_problem)
from .report import ReportCollector, area_units, write_report
from .style import style_conflict, style_input_name, style_owner, style_path, write_style

GDAL_TYPES = {1: (gdal.GDT_Byte, "Byte"), 2: (gdal.GDT_UInt16, "UInt16")}
#: Index of transparent pixels in an extraction report's thumbnails (never a palette index).
EXTRACT_NODATA = 65535
REPORT_EXTENSIONS = (".html", ".htm")
TABLE_EXTENSIONS = (".csv", ".txt", "")  # the engine writes its table as CSV text
#: Warnings about a file's output that a batch assembling it from tiles gives too.
CLIPPED = "Some band values were outside 0-255 and were clipped."
ALL_NODATA = ("No pixel got a palette entry: the output is all nodata. Check ALPHA_THRESHOLD, the input's nodata and "
              "alpha band, and the extent asked for.")


def values_clipped(source, alpha_threshold):
    """Whether a band value of a pixel the run keeps (alpha at least ``alpha_threshold``) was clipped
    to 0-255 while ``source`` (a gdal_io.BandSource; others clip nothing) was read."""
    return getattr(source, "clipped_alpha", -1) >= alpha_threshold


class RunError(Exception):
    """A run that cannot go on; the message says what to change."""


#: errno values of a write that found the disk full (or the user's quota spent).
FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


@dataclass
class QuantizeResult:
    """What a quantization wrote: the palette, pixels per entry, the output's type and every path."""

    output: str
    palette: Palette
    counts: np.ndarray
    data_type: str
    nodata: int
    distinct_colours: int
    written: List[str] = field(default_factory=list)


@dataclass
class ExtractResult:
    """What an extraction found: the palette, pixels nearest to each entry, the paths written."""

    palette: Palette
    usage: np.ndarray
    written: List[str] = field(default_factory=list)


def _quiet(*args, **kwargs):
    return None


def _never():
    return False


def _span(progress, start, end):
    return lambda fraction: progress(start + (end - start) * fraction)


# -- palettes ------------------------------------------------------------------------------------


def resolve_palette(options, histogram=None, log=None):
    """(palette, where it comes from) for ``options`` (QuantizeOptions or ExtractOptions: their
    ``palette`` and ``metric``); ``histogram`` = (codes, counts) of the pixels, needed only when
    the palette is built from the image."""
    choice, log = options.palette, log or _quiet
    if choice.kind == "file":
        try:
            palette, description = read_palette(choice.file)
        except PaletteFileError as error:
            raise RunError("{}. Fix the file or clear PALETTE_FILE.".format(error))
        except (OSError, UnicodeDecodeError) as error:
            raise RunError("Cannot read palette file {}: {}".format(choice.file, error))
        kept, why = palette.nodata_index, "the raster's nodata value"
        if kept is None:
            kept, why = _labelled_nodata(palette), 'labelled "nodata"'
        if kept is not None and getattr(options, "nodata_index", None) != kept:
            # e.g. an earlier output made with NODATA_INDEX: as a colour, its nodata entry took real pixels
            raise RunError("Palette file {} keeps entry {} for nodata ({}), not for a colour: set NODATA_INDEX={} to "
                           "keep that entry for nodata here too, or clear PALETTE_FILE.".format(choice.file, kept, why,
                                                                                               kept))
        return palette, "palette file {}, read as {}".format(choice.file, description)
    if choice.kind == "image":
        return palette_from_image(options, histogram, log)[0], "built from the image"
    if choice.kind == "matplotlib":
        try:
            palette = matplotlib_palette(choice.name[len(MATPLOTLIB_PREFIX):], choice.n_colours)
        except ValueError as error:
            raise RunError(str(error))
        return palette, "matplotlib colormap sampled at {} colours".format(choice.n_colours)
    return builtin_palette(choice.name), "built-in palette"


def _labelled_nodata(palette):
    """The entry of a palette file labelled "nodata" (as with_nodata_entry labels the one it keeps:
    the palette an output made with NODATA_INDEX writes beside it, or its style), or None."""
    named = [i for i, label in enumerate(palette.labels or ()) if label.strip().casefold() in ("nodata", "no data")]
    return named[0] if len(named) == 1 else None


def palette_from_image(options, histogram, log=None, is_cancelled=None):
    """(palette, nearest) built from the image's ``histogram`` = (codes, counts) as ``options``
    say; ``nearest``: None or the nearest entries of the histogram's colours, found while building
    it (adaptive.build_palette_and_nearest), as the mapper gives them (never a NODATA_INDEX kept
    inside the palette). ``is_cancelled`` is asked between the steps of the build."""
    def check():
        if is_cancelled is not None and is_cancelled():
            raise Cancelled()

    if histogram is None:
        raise ValueError("a palette built from the image needs the image's colour histogram")
    codes, counts = histogram
    if len(codes) == 0:
        raise RunError("The input has no valid pixels to build a palette from: check ALPHA_THRESHOLD and nodata.")
    choice = options.palette
    nodata_index = getattr(options, "nodata_index", None)
    reserve = nodata_index is not None and nodata_index < choice.n_colours  # N_COLORS counts the nodata entry
    if reserve and choice.name == "exact":  # said here: the builder only sees N_COLORS - 1
        distinct = len(np.unique(np.asarray(codes, dtype=np.uint32)[np.asarray(counts) > 0] & RGB_BITS))
        if distinct >= choice.n_colours:
            raise RunError("The image has {} distinct colours, and N_COLORS={} keeps one entry for NODATA_INDEX={}: "
                           "raise N_COLORS to {}, choose a NODATA_INDEX of {} or more (outside the palette), or use "
                           "'frequent' or 'kmeans'.".format(distinct, choice.n_colours, nodata_index, distinct + 1,
                                                            choice.n_colours))
    try:
        palette, nearest = build_palette_and_nearest(choice.name, codes, counts, choice.n_colours - reserve,
                                                     options.metric, check)
    except (PaletteBuildError, ImportError) as error:
        raise RunError(str(error))
    (log or _quiet)("Palette built from the image ({}): {}.".format(choice.name, colour_count(len(palette))))
    if reserve and nodata_index < len(palette):
        palette = with_nodata_entry(palette, nodata_index)
        if nearest is not None:  # the entries from the nodata one on move up by one
            nearest = nearest[0], nearest[1] + (nearest[1] >= nodata_index)
    return palette, nearest


def repeated_colours_message(palette, nodata_index=None, shown=5):
    """A warning naming the palette entries whose colour an earlier entry already has (no pixel can
    get them: ties go to the lowest index; the entry kept for nodata takes no part), or ''."""
    reserved = reserved_entry(len(palette), nodata_index)
    first, repeated = {}, []
    for index, colour in enumerate(map(tuple, palette.colours.tolist())):
        if index != reserved:
            if colour in first:
                repeated.append((index, first[colour]))
            else:
                first[colour] = index
    if not repeated:
        return ""

    def entry(index):
        label = palette.shown_label(index)
        return "{} ({})".format(index, label) if label else str(index)

    listed = "; ".join("{} as {}, #{:02x}{:02x}{:02x}".format(entry(i), entry(j), *palette.colours[i].tolist())
                       for i, j in repeated[:shown])
    more = " and {} more".format(len(repeated) - shown) if len(repeated) > shown else ""
    return ("{} palette {} the colour of an earlier entry, so no pixel gets {} (ties go to the lowest index): {}{}. "
            "Give each class its own colour to tell them apart.".format(
                len(repeated), "entry has" if len(repeated) == 1 else "entries have",
                "it" if len(repeated) == 1 else "them", listed, more))


def with_nodata_entry(palette, index):
    """``palette`` with an entry for nodata (black, labelled "nodata") inserted at ``index``: a
    palette built from the image keeps all its colours when NODATA_INDEX falls inside it."""
    labels = list(palette.labels) if palette.labels else [""] * len(palette)
    labels.insert(index, "nodata")
    return Palette(np.insert(palette.colours, index, 0, axis=0), labels, palette.name)


def check_nodata_index(nodata_index, palette_size):
    """Refuse a NODATA_INDEX that would keep for nodata the only colour of the palette."""
    if reserved_entry(palette_size, nodata_index) is not None and palette_size == 1:
        raise RunError("NODATA_INDEX={} is the palette's only colour: choose an index of 1 or more (outside the "
                       "palette).".format(nodata_index))


def histogram_of_source(source, grid, alpha_threshold, progress=None, is_cancelled=None, log=None, on_block=None):
    """(codes, counts): the distinct colours of a source's valid pixels and their pixel counts."""
    codes, counts = colour_histogram(
        source, source_windows(source, grid), alpha_threshold,
        progress=progress or _quiet, is_cancelled=is_cancelled or _never, on_block=on_block)
    (log or _quiet)("{} valid pixels, {} distinct colours.".format(int(counts.sum()), len(codes)))
    return codes, counts


def merge_histograms(histograms):
    """One (codes, counts) from several: the histogram of all their pixels together."""
    histograms = [(np.asarray(c, dtype=np.uint32), np.asarray(n, dtype=np.int64)) for c, n in histograms]
    if not histograms:
        return np.zeros(0, np.uint32), np.zeros(0, np.int64)
    codes, where = np.unique(np.concatenate([c for c, _ in histograms]), return_inverse=True)
    counts = np.zeros(len(codes), dtype=np.int64)
    np.add.at(counts, where, np.concatenate([n for _, n in histograms]))  # exact integers, however many pixels
    return codes.astype(np.uint32), counts


def colour_histogram_files(paths, options, progress=None, is_cancelled=None, log=None):
    """(codes, counts) of the valid pixels of all ``paths`` together (their ``options.bands``),
    so that several inputs can share one palette built from the image."""
    progress, parts = progress or _quiet, []
    for number, path in enumerate(paths):
        source, grid = open_file(file_path("INPUT", path), options.bands)
        try:
            parts.append(histogram_of_source(
                source, grid, options.alpha_threshold, _span(progress, number / len(paths), (number + 1) / len(paths)),
                is_cancelled))
            if values_clipped(source, options.alpha_threshold):
                (log or _quiet)("{}: {}".format(path, CLIPPED), warning=True)
        finally:
            source.close()
    histogram = parts[0] if len(parts) == 1 else merge_histograms(parts)
    (log or _quiet)("{} valid pixels, {} distinct colours in {} input(s).".format(
        int(histogram[1].sum()), len(histogram[0]), len(paths)))
    return histogram


# -- files ---------------------------------------------------------------------------------------


def open_file(path, bands=None):
    """(BandSource, RasterGrid) of a raster file: ``bands`` (red, green, blue[, alpha]) or 1, 2, 3
    with the file's alpha band or mask."""
    dataset, problem = gdal_io.open_raster(path)
    if dataset is None:
        raise RunError("Cannot open {} as a raster: {}".format(path, problem))
    count = dataset.RasterCount
    if count == 0:
        names = [name for name, _description in dataset.GetSubDatasets()]
        raise RunError("{} holds no bands of its own{}.".format(path, ": give one of its {} subdatasets as the input, "
                       "e.g. {}".format(len(names), ", ".join("'{}'".format(name) for name in names[:3]))
                       if names else ""))
    grey = "; a grey image is read with BANDS=1,1,1" if count < 3 and not bands else ""
    bands = tuple(bands) if bands else (1, 2, 3)
    paletted = gdal_io.paletted_band(dataset, bands[:3])
    if paletted:
        raise RunError("{} is a paletted raster (band {} holds indices into a colour table, not colours): expand it "
                       "first, e.g. gdal_translate -expand rgba {} {}_rgba.tif, or read it as QGIS draws it "
                       "(SOURCE=rendered in the plugin).".format(path, paletted, path, os.path.splitext(path)[0]))
    for band in bands:
        if band > count:
            raise RunError("{} has {} band(s): choose bands from 1 to {} (red, green, blue[, alpha]){}.".format(
                path, count, count, grey))
    grid = gdal_io.RasterGrid.of_dataset(dataset)
    band = gdal_io.complex_band(dataset, bands)
    dataset = None
    if band:
        raise RunError("Band {} of {} holds complex numbers, which are no colours: choose other bands.".format(
            band, path))
    return gdal_io.BandSource(path, bands[:3], bands[3] if len(bands) == 4 else None), grid


def output_driver(path):
    """The GDAL driver that writes rasters with ``path``'s extension (GeoTIFF without one); raises
    RunError when there is none or the path cannot be written."""
    extension = os.path.splitext(path)[1].lstrip(".").lower()
    driver = driver_for_extension(extension) if extension else "GTiff"
    if not driver:
        raise RunError("Cannot write '.{}' rasters: choose a GeoTIFF (.tif) or another raster format GDAL writes."
                       .format(extension))
    check_writable("OUTPUT", path)
    return driver


def driver_for_extension(extension):
    """The first GDAL raster driver that creates files with this extension, or None."""
    extension = extension.lower()
    for i in range(gdal.GetDriverCount()):
        driver = gdal.GetDriver(i)
        metadata = driver.GetMetadata() or {}
        if metadata.get(gdal.DCAP_RASTER) != "YES":
            continue
        if metadata.get(gdal.DCAP_CREATE) != "YES" and metadata.get(gdal.DCAP_CREATECOPY) != "YES":
            continue
        if extension in (metadata.get(gdal.DMD_EXTENSIONS) or "").lower().split():
            return driver.ShortName
    return None


def check_writable(setting, path):
    """Refuse, before any work, an output path (of ``setting``) that cannot be written."""
    problem = writable_path_problem(path)
    if problem:
        raise RunError("Cannot write {} {}: {}. Choose another path.".format(setting, path, problem))


def check_output_paths(outputs, inputs=None):
    """Refuse, before any work, outputs ({setting: path or None}) that cannot be written, a report
    not named as a web page, and outputs that would replace an input ({setting: path}) or each other."""
    for setting, path in outputs.items():
        if path:
            check_writable(setting, path)
    report = outputs.get("OUTPUT_REPORT")
    if report and os.path.splitext(report)[1].lower() not in REPORT_EXTENSIONS:
        raise RunError("The report is an HTML page: give OUTPUT_REPORT a name ending in .html, not {}.".format(
            os.path.basename(report)))
    seen = {input_key(path): setting for setting, path in (inputs or {}).items() if path}
    for setting, path in outputs.items():
        if not path:
            continue
        key = same_file_key(path)
        if key in seen:
            raise RunError("{} would replace {} ({}): choose another path for {}.".format(setting, seen[key], path,
                                                                                         setting))
        seen[key] = setting


def check_raster_output(path, driver, grid, palette_size, opaque=False, from_image=False, disk=True,
                        nodata_index=None, resizable=False):
    """Refuse, before any work, an indexed raster of ``palette_size`` colours on ``grid`` that the
    format of ``driver`` cannot hold (decided by GDAL itself: gdal_io.indexed_format_problem) or that
    GDAL or the free disk cannot hold (gdal_io.grid_size_problem). ``from_image``: the palette is
    built from the image, at most ``palette_size`` colours; ``disk``: check the free disk too;
    ``nodata_index``: the user's NODATA_INDEX; ``resizable``: the user chose the grid (see
    gdal_io.grid_size_problem). Returns whether the format keeps no colour table: the palette then
    goes beside the raster as <path>.palette.csv."""
    check_nodata_index(nodata_index, palette_size)
    dtype, nodata = output_type(palette_size, opaque, nodata_index)
    gdal_type, _ = GDAL_TYPES[dtype().itemsize]
    extension = os.path.splitext(path)[1].lstrip(".").lower()
    problem = gdal_io.indexed_format_problem(driver, extension, gdal_type, grid, palette_size, nodata)
    if problem:
        hint = ""
        byte_would_do = gdal_type != gdal.GDT_Byte and not gdal_io.indexed_format_problem(
            driver, extension, gdal.GDT_Byte, grid, min(palette_size, 255), 255)
        if byte_would_do and from_image:
            hint = ", or N_COLORS of at most 255"
        elif byte_would_do and palette_size == 256 and nodata_index is None:  # 256 colours + nodata
            hint = (", or set NODATA_INDEX to an entry kept for nodata (its colour is then given to no pixel), which "
                    "makes the output Byte")
        elif nodata_index is None:
            own = _own_nodata_as_index(driver, extension, grid, palette_size, opaque, gdal_type)
            if own is not None:
                hint = ", or set NODATA_INDEX to {:g} (entry {:g} then holds nodata, and its colour goes to no " \
                       "pixel)".format(own, own)
        raise RunError("Cannot write {} as {} (.{}): {}. Choose a GeoTIFF (.tif){}.".format(
            os.path.basename(path), driver, extension, problem, hint))
    if nodata is None and palette_size > gdal_io.free_nodata(gdal_type) - 1:  # no value left for the writer's nodata
        own = gdal_io.own_nodata(driver, extension, gdal_type)
        if gdal_io.is_class_value(own, palette_size):
            raise RunError("Cannot write {} as {} (.{}): it marks {:g} as nodata in a {} raster, and {:g} is a class of "
                           "the palette's {} colours. Choose a GeoTIFF (.tif), or a palette of at most {} colours.".format(
                               os.path.basename(path), driver, extension, own, gdal.GetDataTypeName(gdal_type), own,
                               palette_size, palette_size - 1))
    problem = gdal_io.grid_size_problem(grid.width, grid.height, dtype().itemsize,
                                        nearest_existing_folder(path) if disk else None, resizable)
    if problem:
        raise RunError(problem)
    return gdal_io.palette_beside(driver, extension, gdal_type, grid, palette_size, nodata)


def _own_nodata_as_index(driver, extension, grid, palette_size, opaque, gdal_type):
    """The value the format marks as nodata itself in a ``gdal_type`` raster (ISIS3: 0) when it is a
    class of the palette and the format holds the raster with NODATA_INDEX set to it, else None."""
    own = gdal_io.own_nodata(driver, extension, gdal_type)
    if not gdal_io.is_class_value(own, palette_size):
        return None
    dtype, nodata = output_type(palette_size, opaque, int(own))
    return None if gdal_io.indexed_format_problem(driver, extension, GDAL_TYPES[dtype().itemsize][0], grid,
                                                  palette_size, nodata) \
        else own


def check_quantize(output_path, grid, options, palette=None, opaque=False, driver=None, inputs=None,
                   other_outputs=None, resizable=False):
    """Everything about a quantization's outputs that can be refused before any work; returns the
    output's driver. ``palette``: None when built from the image (sized by N_COLORS until then);
    ``inputs``: {setting: path} the outputs must not replace (the palette file is added);
    ``other_outputs``: {setting: path} written by the caller (the plugin's table); ``resizable``:
    the user chose the grid (the plugin's PIXEL_SIZE and EXTENT)."""
    driver = driver or output_driver(output_path)
    outputs = {"OUTPUT": output_path, "OUTPUT_REPORT": options.report, "OUTPUT_TABLE": options.table}
    outputs.update(other_outputs or {})
    check_output_paths(outputs, dict(inputs or {}, PALETTE_FILE=options.palette.file))
    others = other_geopackage_layers(output_path, driver)
    if others:
        raise RunError("Cannot write OUTPUT {}: it is a GeoPackage holding other layers ({}), which writing the raster "
                       "would delete. Choose another file, or remove them first.".format(output_path, ", ".join(others)))
    if options.table and os.path.splitext(options.table)[1].lower() not in TABLE_EXTENSIONS:
        raise RunError("The table is written as CSV text: give OUTPUT_TABLE a name ending in .csv or .txt, not "
                       "{}.".format(os.path.basename(options.table)))
    from_image = palette is None
    palette_beside = check_raster_output(output_path, driver, grid, options.palette.n_colours if from_image else
                                         len(palette), opaque, from_image, nodata_index=options.nodata_index,
                                         resizable=resizable)
    beside = {same_file_key(output_path + ".aux.xml"): "GDAL's side file of"}
    if options.style:
        beside[same_file_key(style_path(output_path))] = "the QGIS style of"
    if palette_beside:
        beside[same_file_key(output_path + ".palette.csv")] = "the palette written beside"
    format_files = gdal_io.format_files(driver, output_path)
    side_files = output_files(output_path, driver, options.style, palette_beside)[1:]
    too_long = length_problem(os.path.abspath(output_path), side_files)
    if too_long:
        raise RunError("Cannot write OUTPUT {}: {}.".format(output_path, too_long))
    moved_aside = [output_path + suffix for suffix in gdal_io.EARLIER_SIDE_FILES + tuple(SQLITE_SIDE_FILES)]
    for path in dict.fromkeys(side_files + moved_aside):  # replaced by the run's own, or removed (a link: moved as itself)
        if os.path.isfile(path) and not os.path.islink(path) and not os.access(path, os.W_OK):
            if path == style_path(output_path) and style_conflict(output_path, [p for p in (inputs or {}).values() if p]):
                continue  # a style not the run's is kept
            raise RunError("Cannot write OUTPUT {}: {} beside it is read-only, and the run would replace or remove it. "
                           "Make it writable, or choose another path for OUTPUT.".format(output_path, path))
    for path in format_files[1:]:
        beside.setdefault(same_file_key(path), "the {} format's side file {} of".format(driver, os.path.basename(path)))
    for setting, path in outputs.items():
        replaced = beside.get(same_file_key(path)) if path and setting != "OUTPUT" else None
        if replaced:
            raise RunError("{} ({}) would replace {} OUTPUT: choose another path for {}.".format(
                setting, path, replaced, setting))
    beside[same_file_key(output_path)] = ""
    for setting, path in dict(inputs or {}, PALETTE_FILE=options.palette.file).items():
        for name in _files_of_input(setting, path, driver) if path else ():
            replaced = beside.get(same_file_key(name))
            if replaced is None or replaced == "the QGIS style of":  # a file there that is no style of ours is kept
                continue
            if replaced == "":  # OUTPUT itself (its own name as an input's is refused above), not first in the sentence
                raise RunError("{}, a file of {} ({}), would be replaced by OUTPUT: choose another path for "
                               "OUTPUT.".format(name, setting, path))
            whose = "{} ({})".format(setting, path) if same_file_key(name) == same_file_key(path) else \
                "{}, a file of {} ({})".format(name, setting, path)
            raise RunError("{} OUTPUT would replace {}: choose another path for OUTPUT.".format(
                replaced[0].upper() + replaced[1:], whose))
    for path, why in _read_beside(format_files, driver, grid):
        raise RunError("{} is there already, and GDAL would read it as part of OUTPUT ({}). It is not a file of OUTPUT "
                       "written earlier (it may be another raster's, or a shapefile's), so it is kept: choose another "
                       "path for OUTPUT.".format(path, why))
    return driver


def other_geopackage_layers(path, driver):
    """The layers of the GeoPackage at ``path`` other than the raster a run writes there (which GDAL
    names after the file's stem): the new file goes into place whole, and they went with the old one,
    without a word. [] for no GeoPackage there, or one SQLite cannot read (nothing to judge: the
    output is replaced as any other)."""
    if driver != "GPKG" or not os.path.isfile(path):
        return []
    # Read-only. SQLite reads a file in WAL mode (as QGIS may leave it) through a -wal and a -shm file,
    # which it makes where there are none and leaves behind: with no -wal file, no one writes the file
    # and what it holds is all there is, read as it is (immutable) with nothing made beside it.
    how = "mode=ro" if os.path.exists(path + "-wal") else "immutable=1"
    try:
        with closing(sqlite3.connect("file:{}?{}".format(pathname2url(os.path.abspath(path)), how), timeout=2,
                                     uri=True)) as database:
            names = [str(name) for name, in database.execute("SELECT table_name FROM gpkg_contents ORDER BY table_name")]
    except sqlite3.Error:
        return []
    own = os.path.splitext(os.path.basename(path))[0].lower()  # SQLite's table names ignore case
    return [name for name in names if name.lower() != own]


def output_files(output_path, driver, style=True, palette_beside=None):
    """Every file a run writes for an output by ``driver``, the raster first: the format's
    (gdal_io.format_files; the raster's alone when ``driver`` is None, a format refused), the style,
    and the palette beside a format without colour tables (``palette_beside`` None: beside any format
    but GeoTIFF, where the format was not probed)."""
    if palette_beside is None:
        palette_beside = driver != gdal_io.KNOWN_GOOD_DRIVER
    return (gdal_io.format_files(driver, output_path) if driver else [output_path]) + \
        [style_path(output_path)] * style + [output_path + ".palette.csv"] * palette_beside


def _read_beside(format_files, driver, grid):
    """(path, why) of the files already there that GDAL would read as part of an output whose files
    are ``format_files`` (gdal_io.format_files) and that are not an earlier output's: a file by the
    name of one of the format's side files (an .asc's .prj) while there is no output yet, the same
    name in capitals (AAIGrid reads classes.PRJ too) in any case, and for an output without
    georeferencing, a world file (.tfw, .wld), which would give it some."""
    output, (stem, extension) = format_files[0], os.path.splitext(format_files[0])
    found = []
    for path in format_files[1:]:
        if not path.startswith(output + "."):  # named after the output's name without its extension
            why = "{} writes and reads a file by that name beside it".format(driver)
            capitals = stem + path[len(stem):].upper()
            found += [(path, why)] if not os.path.exists(output) else []
            found += [(capitals, why)] if capitals != path else []
    if not grid.has_geotransform and not grid.gcps:
        letters = extension.lstrip(".")
        for suffix in dict.fromkeys(([letters[:1] + letters[-1:] + "w", letters + "w"] if letters else []) + ["wld"]):
            for name in (suffix, suffix.upper()):
                found.append((stem + "." + name, "as its georeferencing, and OUTPUT has none"))
    return [(path, why) for path, why in found if os.path.basename(path) in _names_in(os.path.dirname(path))]


def _names_in(folder):
    """The names in ``folder`` as they are spelt (a name in capitals is another file only where
    the file system tells letter case apart), none when it is no folder yet."""
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


def _files_of_input(setting, path, output_driver):
    """The files of an input that an output of ``output_driver`` could replace: the input's own
    name, and every file GDAL reads for it (an ENVI raster's .hdr, an ERS raster's data, a VRT's
    sources); for a GeoTIFF output, a GeoTIFF input's and a palette file's own name alone unless the
    palette is a raster of several files (GDAL's try at a text palette costs a run up to 15 ms)."""
    extension = os.path.splitext(path)[1].lower()
    if output_driver == gdal_io.KNOWN_GOOD_DRIVER and (extension in (".tif", ".tiff") or (
            setting == "PALETTE_FILE" and extension not in RASTER_PALETTE.extensions)):
        return [path]
    return [path] + gdal_io.dataset_files(path)


def check_extract(output_path, options, inputs=None, other_outputs=None):
    """Everything about an extraction's outputs that can be refused before scanning the pixels."""
    if output_path:
        extension = os.path.splitext(output_path)[1].lower()
        if extension not in WRITE_EXTENSIONS:
            raise RunError("Cannot write a palette as '{}': choose a file ending in {}.".format(
                extension or os.path.basename(output_path) or output_path, ", ".join(WRITE_EXTENSIONS)))
    outputs = {"OUTPUT_PALETTE": output_path, "OUTPUT_REPORT": options.report}
    outputs.update(other_outputs or {})
    check_output_paths(outputs, inputs)
    for path in (inputs or {}).values():  # a .qml palette there would be how QGIS draws that raster
        raster = style_owner(output_path, path) if output_path and path else None
        if raster:
            raise RunError("OUTPUT_PALETTE ({}) would be the style QGIS opens {}, which QGIS would then draw with "
                           "this palette instead of its own colours: choose another path for OUTPUT_PALETTE.".format(
                               output_path, style_input_name(raster, path)))


def quantize_file(input_path, output_path, options, progress=None, is_cancelled=None, log=None, palette=None,
                  histogram=None, palette_origin=None):
    """Quantize the raster file ``input_path`` into ``output_path`` (see quantize_source);
    ``palette`` (with ``palette_origin``, where resolve_palette found it, for the log) or
    ``histogram`` may come from elsewhere, e.g. shared by a batch of inputs. Paths are text or
    os.PathLike (pathlib.Path)."""
    input_path, output_path = file_path("INPUT", input_path), file_path("OUTPUT", output_path)
    source, grid = open_file(input_path, options.bands)
    try:
        origin = palette_origin
        if palette is None and not options.palette.from_image:  # its size decides the output type checked
            palette, origin = resolve_palette(options, None, log)
        driver = check_quantize(output_path, grid, options, palette, opaque_or_guessed(source, options)[0],
                                inputs={"INPUT": input_path})
        (log or _quiet)("Reading {} ({} x {} pixels).".format(source.description, grid.width, grid.height))
        return quantize_source(source, grid, output_path, options, palette=palette, palette_origin=origin,
                               histogram=histogram, driver=driver, progress=progress, is_cancelled=is_cancelled,
                               log=log, inputs={"INPUT": input_path})
    finally:
        source.close()


def extract_palette_files(input_paths, output_path, options, progress=None, is_cancelled=None, log=None):
    """Build one palette from all ``input_paths`` together (ExtractOptions) and write it to
    ``output_path`` in the format its extension names. Paths are text or os.PathLike
    (pathlib.Path); ``input_paths`` one path or a list of them."""
    if isinstance(input_paths, (str, bytes, os.PathLike)):
        input_paths = [input_paths]
    input_paths = [file_path("INPUT", path) for path in input_paths]
    output_path = file_path("OUTPUT", output_path)
    if not input_paths:
        raise RunError("No input was given: give one raster or more to build the palette from.")
    if options.report and len(input_paths) != 1:
        raise RunError("A report shows one input: give one input, or no report.")
    check_extract(output_path, options, {"INPUT{}".format(i + 1) if len(input_paths) > 1 else "INPUT": path
                                         for i, path in enumerate(input_paths)})
    if len(input_paths) == 1:
        source, grid = open_file(input_paths[0], options.bands)
        try:
            return extract_palette_source(source, grid, output_path, options, progress, is_cancelled, log)
        finally:
            source.close()
    progress = progress or _quiet
    try:
        histogram = colour_histogram_files(input_paths, options, _span(progress, 0.0, 0.8), is_cancelled, log)
    except gdal_io.SourceError as error:
        raise RunError("Could not read the input: {}".format(error))
    with OutputFiles() as outputs:
        result, entries = _extract(histogram, output_path, options, log, outputs, is_cancelled)
        _unless_cancelled(is_cancelled)
        _commit(outputs, output_path)
    for entry in merged_in_histogram(histogram[0], histogram[1], entries):
        (log or _quiet)(extract_merged_message(entry, result.palette, options.method), warning=True)
    progress(1.0)
    return result


# -- sources -------------------------------------------------------------------------------------


#: A raster that fits in one block is still quantized in strips of this many rows (one output tile
#: row: strips cut across tiles would have GDAL decompress and compress them again), so that
#: reading, mapping and compressing overlap in threads: a 6-megapixel sheet on two cores in about
#: a sixth less time, for some 5% more CPU time. None: in one block, as the batch's worker tasks
#: quantize whole files (batch.quantize_whole): there the other workers keep every core busy, and
#: strips only cost (a tenth to a quarter more time for 2- to 8-megapixel files on two workers).
STRIP_ROWS = gdal_io.TILE


def source_windows(source, grid, full_rows=False, strips=False, margin=0):
    """The blocks to read: the source's own block size when it has one (a layer drawn by QGIS:
    one output tile row per block), else the engine's; ``strips``: a raster that fits in one block
    cut into strips of STRIP_ROWS rows all the same, unless each strip would be read with a
    cleanup's ``margin`` of more than a quarter of its rows on either side: reading and cleaning
    half as much again (the whole sheet again for each strip with a sieve's MIN_REGION=1000) costs
    more than the strips' overlap saves."""
    windows = list(gdal_io.iter_windows(grid.width, grid.height, getattr(source, "block_pixels", None),
                                        full_rows=full_rows))
    if strips and STRIP_ROWS and len(windows) == 1 and 4 * margin <= STRIP_ROWS:
        return list(gdal_io.iter_windows(grid.width, grid.height, STRIP_ROWS * grid.width, full_rows=full_rows))
    return windows


def palette_message(palette, origin, metric):
    """The log line naming a run's palette (``origin``: where it comes from, or None) and metric."""
    return "Palette: {}{}; metric {}.".format(colour_count(len(palette)), " ({})".format(origin) if origin else "",
                                               metric)


def _entry_name(palette, index):
    """A palette entry as the log names it: its label, if any, and colour (``olive #808000``)."""
    colour = "#{:02x}{:02x}{:02x}".format(*palette.colours[index].tolist())
    return "{} {}".format(palette.shown_label(index), colour) if palette.shown_label(index) else colour


def opaque_or_guessed(source, options, read_all=False):
    """(opaque, guessed): whether no pixel of ``source`` can be transparent, as known or else as
    guessed from a sample (a source's ``seems_opaque``; the guess is checked on every block, see
    quantize_blocks), which decides the output type (see output_type); no guess with NODATA_INDEX,
    whose output does not depend on it. ``read_all``: read the alpha band up to its first
    transparent pixel instead (``none_transparent``, for a file split into tiles: see
    batch.file_opaque); the answer is then known, not guessed. With ALPHA_THRESHOLD=0 no pixel is
    transparent, whatever the source (``source`` may be None)."""
    if options.alpha_threshold == 0:
        return True, False
    opaque = getattr(source, "opaque", False)
    read = getattr(source, "none_transparent" if read_all else "seems_opaque", None)
    try:
        found = not opaque and options.nodata_index is None and read is not None and read(options.alpha_threshold)
    except gdal_io.SourceError as error:
        raise RunError("Could not read the input: {}".format(error))
    return opaque or found, found and not read_all


def output_type_message(palette_size, opaque, type_name, nodata, palette=None, nodata_index=None,
                        opaque_why="no alpha band, mask or nodata", transparent_why=None):
    """Why the output has its data type, for the log (``opaque_why``: how an opaque input is known
    so; ``transparent_why``: what may leave an input's pixels transparent, a source's
    ``transparency``)."""
    if nodata_index is not None:
        if nodata_index < palette_size:
            kept = "palette entry {}{} is kept for nodata and never chosen as a pixel's colour".format(
                nodata_index, "" if palette is None else ", {},".format(_entry_name(palette, nodata_index)))
        else:
            kept = "it is outside the palette"
        return "NODATA_INDEX={}: nodata pixels are written as {} ({}); {}: writing {} with nodata {}.".format(
            nodata_index, nodata_index, kept, colour_count(palette_size), type_name, nodata)
    if nodata is None:
        return "{} and an opaque input ({}): writing Byte without nodata.".format(colour_count(palette_size), opaque_why)
    because = "" if palette_size > 256 or opaque else " (the input may have transparent pixels: {})".format(
        transparent_why or "an alpha band, a mask or nodata")
    return "{} + nodata {} 256 values: writing {} with nodata {}{}.".format(
        colour_count(palette_size), "fit in" if type_name == "Byte" else "need more than", type_name, nodata, because)


def quantize_source(source, grid, output_path, options, palette=None, palette_origin=None, histogram=None,
                    driver=None, progress=None, is_cancelled=None, log=None, inputs=None, before_commit=None,
                    counted_in=()):
    """Quantize a source (``read(window)`` -> packed RGBA) on ``grid`` into ``output_path`` with
    QuantizeOptions; returns a QuantizeResult. ``palette`` (with ``palette_origin`` for the log)
    skips resolve_palette; ``histogram`` spares a palette built from the image its scan of the source.
    ``driver``: given by a caller that has checked the outputs (check_quantize), else they are
    checked here, with ``inputs`` ({setting: path}) no output may replace (nor the style of an input
    raster, see style.style_conflict, checked in any case); ``before_commit(result,
    outputs)``: writes the caller's own outputs (staged in or registered with ``outputs``) before
    all go into place; ``counted_in``: those of them that hold the pixel counts (see format_losses)."""
    progress, is_cancelled, log = progress or _quiet, is_cancelled or _never, log or _quiet
    opaque, guessed = opaque_or_guessed(source, options)
    opaque_why = ("ALPHA_THRESHOLD=0, which leaves no pixel transparent" if options.alpha_threshold == 0 else
                  "no transparent pixel where sampled; every block is checked" if guessed else
                  "no alpha band, mask or nodata")
    start = 0.0
    if palette is None and not options.palette.from_image:
        palette, palette_origin = resolve_palette(options, None, log)
    if driver is None:
        driver = check_quantize(output_path, grid, options, palette, opaque, inputs=inputs)
    nearest = None  # the nearest entries of the source's colours, when building the palette found them
    held = None  # a small source's pixels, kept from the scan for the mapping pass
    if palette is None:
        scanned = histogram is None
        if scanned:
            held = HeldPixels.if_small(grid.width, grid.height)
            try:
                histogram = histogram_of_source(source, grid, options.alpha_threshold, _span(progress, 0.0, 0.5),
                                                is_cancelled, log, on_block=held.hold if held else None)
            except gdal_io.SourceError as error:
                raise RunError("Could not read the input: {}".format(error))
            start = 0.5
        palette, nearest = palette_from_image(options, histogram, log, is_cancelled)
        origin = "built from the image"
        if not scanned:  # a histogram given by the caller may hold colours this source does not
            nearest = None
    else:
        origin = palette_origin or palette.name or "given"

    reached = [start]  # the progress shown so far: a pass that writes again goes on from there

    def shown(fraction):
        reached[0] = fraction
        progress(fraction)

    def write(opaque, check_opaque, again=False):
        """(result, the pass's QuantizeResult, merged entries, (text, warning) to log after them) of
        the pass that writes (see quantize_blocks for ``check_opaque``). ``again``: a pass that
        writes with nodata after all, whose wider type the disk must hold too."""
        # the output's type is known now (the palette's size, whether the source is opaque): the format again
        check_raster_output(output_path, driver, grid, len(palette), opaque, options.palette.from_image, disk=again,
                            nodata_index=options.nodata_index)
        dtype, nodata = output_type(len(palette), opaque, options.nodata_index)
        gdal_type, type_name = GDAL_TYPES[dtype().itemsize]
        log(output_type_message(len(palette), opaque, type_name, nodata, palette, options.nodata_index, opaque_why,
                                getattr(source, "transparency", None)))
        outside = absent_index(len(palette), nodata)
        collector = ReportCollector(palette, grid.width, grid.height, outside) if options.report else None
        merges = merged_finder(grid, options, nodata)
        messages = []  # logged once the outputs are in place (after the merged classes)
        try:
            with OutputFiles() as outputs:  # a failure anywhere removes every file and folder the run made
                writer = gdal_io.IndexedRasterWriter(output_path, driver, grid, palette, gdal_type, nodata, outputs,
                                                     compress_in_threads=not options.cleanup.busy)
                merged = []  # found once every block is counted, while GDAL compresses the last ones
                try:
                    windows = source_windows(source, grid, options.full_rows, strips=True, margin=options.margin)
                    passed = quantize_blocks(
                        held or source, writer, windows, palette,
                        options.metric, options.alpha_threshold, progress=_span(shown, reached[0], 1.0),
                        is_cancelled=is_cancelled, dither=options.dither, cleanup=options.cleanup,
                        grid_size=(grid.width, grid.height), observers=[merges] + ([collector] if collector else []),
                        opaque=opaque, nodata_index=options.nodata_index, nearest=nearest,
                        check_opaque=check_opaque,
                        while_writing=lambda: merged.extend(merged_classes(merges, palette, options.metric, nodata)))
                    writer.finish(passed.counts)
                finally:
                    writer.close()
                result = QuantizeResult(output_path, palette, passed.counts, type_name, nodata, passed.distinct_colours,
                                        list(writer.written))
                if options.style:
                    messages.append(_style(output_path, palette, outputs, result, (inputs or {}).values()))
                if collector is not None:
                    _report(options.report, collector, palette, grid, options.metric, "Quantized to {}: {}".format(
                        colour_count(len(palette)), os.path.basename(output_path)), log, merged, outputs)
                    result.written.append(os.path.abspath(options.report))
                if options.table:
                    write_table(options.table, palette, passed.counts, outputs)
                    result.written.append(os.path.abspath(options.table))
                if before_commit is not None:
                    before_commit(result, outputs)
                _unless_cancelled(is_cancelled)
                _commit(outputs, output_path)
        except gdal_io.SourceError as error:
            raise RunError("Could not read the input: {}".format(error))
        except (OSError, RuntimeError) as error:
            raise RunError("Could not write {}: {}. Nothing was written.".format(output_path, error))
        counted = [path for path in (options.table, options.report) if path] + list(counted_in)
        messages[:0] = [(text, True) for text in format_losses(writer, driver, output_path, grid, palette, counted)]
        if collector is not None:
            messages.append((_report_message(options.report, collector), False))
        return result, passed, merged, messages

    log(palette_message(palette, origin, options.metric))
    repeated = repeated_colours_message(palette, options.nodata_index)
    if repeated:
        log(repeated, warning=True)
    try:
        result, passed, merged, messages = write(opaque, guessed)
    except TransparentAfterAll:
        log("The input has transparent pixels after all, where none was sampled: writing it again with nodata.")
        result, passed, merged, messages = write(False, False, again=True)
    if values_clipped(source, options.alpha_threshold):
        log(CLIPPED, warning=True)
    if options.dither == "none":
        log("{} distinct colour{} matched to the palette.".format(passed.distinct_colours,
                                                                "" if passed.distinct_colours == 1 else "s"))
    else:  # the carried error makes colours the image does not hold, tried ahead on paths not all taken
        log("Dithering: {} distinct colours (the image's, with the error carried to them) searched for their nearest "
            "palette entry.".format(passed.distinct_colours))
    for entry in merged:
        log(merged_message(entry, palette, options), warning=True)
    for text, warning in messages:
        log(text, warning=warning)
    if not passed.counts.any():
        log(ALL_NODATA, warning=True)
    return result


def format_losses(writer, driver, output_path, grid, palette, counted_in=(),
                  count_outputs=("OUTPUT_TABLE", "OUTPUT_REPORT")):
    """Warnings for what the format of ``writer`` (a finished gdal_io.IndexedRasterWriter of
    ``output_path``, by ``driver``, on ``grid``) could not hold of the run's output; ``counted_in``:
    the files the run wrote the pixel counts to as well (its table, its report); else the
    ``count_outputs`` that would have (a file split into tiles has no report)."""
    name, lost = os.path.basename(output_path), []
    if not writer.keeps_crs:
        lost.append("The {} format cannot hold a CRS: {} has none; its coordinates are in {}, which you assign where "
                    "you use it.".format(driver, name, gdal_io.crs_name(grid.wkt, authority=True)))
    if not writer.keeps_rpc:
        lost.append("{} has none of the input's RPCs (a satellite scene's rational polynomial coefficients): {}.".format(
            name, "GDAL writes only a whole set of them, which the input's {} are not".format(len(grid.rpc))
            if driver == gdal_io.KNOWN_GOOD_DRIVER else
            "the {} format cannot hold them. Choose a GeoTIFF (.tif) to keep them".format(driver)))
    if not writer.keeps_vertical:
        lost.append("The {} format cannot hold the vertical part of a compound CRS: {} is in the horizontal part of {} "
                    "alone, which places it as well.".format(driver, name, gdal_io.crs_name(grid.wkt)))
    if not writer.keeps_epoch and writer.keeps_crs:  # without its CRS, its epoch goes without a word of its own
        lost.append("The {} format cannot hold the coordinate epoch of a dynamic CRS: {} is in {} without its epoch "
                    "{}; note it where you use it.".format(driver, name, gdal_io.crs_name(grid.wkt), grid.epoch))
    if not writer.keeps_gcps:
        lost.append("The {} format cannot hold ground control points: {} is not georeferenced. Choose a GeoTIFF (.tif) "
                    "to keep the scan's {} points, or warp the scan first (gdalwarp; in QGIS Raster > Projections > "
                    "Warp).".format(driver, name, len(grid.gcps)))
    if not writer.keeps_nodata:
        lost.append("The {} format cannot hold a nodata value: transparent and nodata pixels hold {} in {}; treat that "
                    "value as nodata where you use it.".format(driver, writer.nodata, name))
    if not writer.keeps_counts:
        lost.append("The {} format keeps no pixel counts with {} (no raster attribute table of them): {}.".format(
            driver, name, "{} {} them".format(" and ".join(counted_in), "hold" if len(counted_in) > 1 else "holds")
            if counted_in else "{} gives them".format(" or ".join(count_outputs))))
    if not writer.has_colour_table:
        table = ("cannot hold a colour table" if writer.cut_table is None else "kept only {} of the palette's {} "
                 "colours in its colour table".format(writer.cut_table, len(palette)))
        lost.append("The {} format {}: the palette was written beside it as {}.".format(
            driver, table, output_path + ".palette.csv"))
    return lost


def merged_finder(grid, options, nodata):
    """The MergedColourFinder of a pass writing ``nodata`` (None: none, and every pixel counts)."""
    return MergedColourFinder(grid.width, grid.height, options.alpha_threshold if nodata is not None else 0)


def merged_classes(finder, palette, metric, nodata):
    """The merged entries a MergedColourFinder found, each colour at the entry nearest to it as the
    run's mapper finds it (never one kept for ``nodata``)."""
    reserved = reserved_entry(len(palette), nodata)
    return finder.merged(lambda codes: nearest_entries(codes, palette.colours, metric, reserved))


def merged_message(entry, palette, options):
    """The warning for a palette entry that several frequent colours of the map share (merged.MergedEntry):
    when one of them is nearest to the entry NODATA_INDEX keeps for nodata, that is what to change; a
    palette built from the image has one entry fewer for its colours wherever NODATA_INDEX puts it."""
    reserved = reserved_entry(len(palette), options.nodata_index)
    merged_colours = np.array([colour for colour, _share in entry.colours])
    if options.palette.from_image:  # already the image's: more of its colours
        wanted, index = options.palette.n_colours, options.nodata_index
        kept = "" if index is None or index >= wanted else (
            ", or leave NODATA_INDEX out or set it to {} or more (entry {} is kept for nodata, wherever it is: the "
            "image's colours get {} of the {} entries)".format(wanted, index, wanted - 1, wanted))
        advice = "{}{}, or give the map's legend as PALETTE_FILE".format(_more_colours(options.palette.name, "PALETTE"),
                                                                        kept)
    elif reserved is not None and reserved in nearest_palette_indices(merged_colours, palette.colours, options.metric):
        advice = ("choose another NODATA_INDEX, or none: entry {} is kept for nodata, and the colours nearest to it "
                  "go to other entries".format(reserved))
    elif options.palette.file:  # PALETTE is not read: the file's entries are what to change
        advice = ("give each its own entry in the palette file {} (a palette extracted from the map: extract more "
                  "colours), or clear PALETTE_FILE and set PALETTE=frequent (a palette built from the image)".format(
                      os.path.basename(options.palette.file)))
    else:
        advice = "set PALETTE=frequent (a palette built from the image) or give the map's legend as PALETTE_FILE"
    return "Merged classes: {}. To keep them apart, {}.".format(entry.describe(palette), advice)


def extract_merged_message(entry, palette, method):
    """The warning for an entry of an extracted palette that several frequent colours share (by
    ``method``; METHOD=exact would fail unless N_COLORS holds every colour of the image)."""
    return "Merged classes: {}. To keep them apart, {}.".format(entry.describe(palette),
                                                                 _more_colours(method, "METHOD"))


def _more_colours(method, setting):
    """Advice for a palette built from the image by ``method`` (named by ``setting``) that merges colours."""
    return "set N_COLORS higher{}".format("" if method == "frequent" else ", or {}=frequent (the image's most "
                                          "frequent colours: a map's legend colours)".format(setting))


def style_not_saved(why):
    """The log's warning that no .qml was written beside the output, and ``why`` (a phrase, or an error)."""
    return "No QGIS style was saved beside the output: {}.".format(str(why).rstrip("."))


def _style(output_path, palette, outputs, result, inputs=()):
    """Stage the .qml beside the output, unless a file there is not a style Palettize wrote for it
    or it would be the style of one of the ``inputs`` (paths); returns (message, warning) for the log."""
    problem = style_conflict(output_path, inputs)
    if problem:
        return style_not_saved(problem), True
    path, staged = style_path(output_path), outputs.stage(style_path(output_path))
    try:
        write_style(output_path, palette, staged)
    except (OSError, PaletteFileError) as error:
        if os.path.exists(staged):  # a partly written style would go into place with the raster
            os.remove(staged)
        if isinstance(error, OSError) and error.errno in FULL_DISK:  # a full disk fails the run, as for the raster
            raise RunError("Could not write {}: no space left on the disk for its QGIS style {}. Nothing was written: "
                           "free some space or write it elsewhere.".format(output_path, os.path.basename(path)))
        return style_not_saved(error), True
    result.written.append(os.path.abspath(path))
    return "QGIS style with the palette's classes: {}".format(path), False


def _commit(outputs, output_path):
    """Put every staged output in place; a failed move is a RunError (and leaves nothing)."""
    try:
        outputs.commit()
    except OSError as error:
        raise RunError("Could not write {}: {}. Nothing was written.".format(output_path, error))


def extract_palette_source(source, grid, output_path, options, progress=None, is_cancelled=None, log=None,
                           inputs=None, before_commit=None):
    """Build a palette from a source's pixels (ExtractOptions) and write it to ``output_path``
    (None: write no file, e.g. when the caller keeps the palette); returns an ExtractResult.
    ``inputs`` and ``before_commit`` as for quantize_source."""
    progress, log = progress or _quiet, log or _quiet
    check_extract(output_path, options, inputs)
    collector = ReportCollector(None, grid.width, grid.height, EXTRACT_NODATA) if options.report else None
    try:
        histogram = histogram_of_source(source, grid, options.alpha_threshold, _span(progress, 0.0, 0.8),
                                        is_cancelled, log, on_block=collector.add_thumbnail_sample if collector else None)
    except gdal_io.SourceError as error:
        raise RunError("Could not read the input: {}".format(error))
    if values_clipped(source, options.alpha_threshold):
        log(CLIPPED, warning=True)
    with OutputFiles() as outputs:  # the palette, the report and the caller's outputs go into place together
        result, entries = _extract(histogram, output_path, options, log, outputs, is_cancelled)
        codes, counts = histogram
        merged = merged_in_histogram(codes, counts, entries)  # counted exactly: the scan has every colour's pixels
        progress(0.9)
        if collector is not None:
            collector.set_palette(result.palette)
            collector.add_histogram(codes, entries, counts)
            collector.index_thumbnails(lambda rgba: histogram_entries(rgba, codes, entries, options.alpha_threshold))
            _report(options.report, collector, result.palette, grid, options.metric,
                    "Palette extracted ({}, {})".format(options.method, colour_count(len(result.palette))), log, merged,
                    outputs)
            result.written.append(os.path.abspath(options.report))
        if before_commit is not None:
            before_commit(result, outputs)
        _unless_cancelled(is_cancelled)
        _commit(outputs, output_path or options.report)
    for entry in merged:
        log(extract_merged_message(entry, result.palette, options.method), warning=True)
    if collector is not None:
        log(_report_message(options.report, collector))
    progress(1.0)
    return result


def _unless_cancelled(is_cancelled):
    """Raise Cancelled when the run was asked to stop while its outputs were finished: none goes into place."""
    if is_cancelled is not None and is_cancelled():
        raise Cancelled()


def _extract(histogram, output_path, options, log, outputs, is_cancelled=None):
    """(ExtractResult, nearest entry of each histogram colour), the palette staged in ``outputs``."""
    palette, nearest = palette_from_image(options, histogram, log, is_cancelled)
    known = nearest[1] if nearest is not None and np.array_equal(nearest[0], histogram[0]) else None
    entries, usage = palette_usage(histogram[0], histogram[1], palette, options.metric, known)
    result = ExtractResult(palette, usage)
    if output_path:
        try:
            write_palette(named_after_file(palette, output_path), outputs.stage(output_path))
        except (PaletteFileError, OSError) as error:
            raise RunError("Could not write the palette: {}".format(error))
        result.written.append(os.path.abspath(output_path))
    return result, entries


def named_after_file(palette, path):
    """An extracted palette named after the file it is written to (the name a GIMP palette shows),
    not after the method that built it: palettes extracted from several maps keep apart."""
    return Palette(palette.colours, palette.labels, os.path.splitext(os.path.basename(path))[0])


def histogram_entries(rgba, codes, entries, alpha_threshold):
    """Palette entries of pixels (packed RGBA) whose valid colours are all among the histogram's
    ascending ``codes`` (with their ``entries``): the scan's own answers, looked up;
    EXTRACT_NODATA for pixels with alpha below the threshold."""
    valid = rgba >= np.uint32(alpha_threshold << 24)
    if len(codes) == 0:
        return np.full(rgba.shape, EXTRACT_NODATA, dtype=np.int64)
    at = np.minimum(np.searchsorted(codes, rgba & RGB_BITS), len(codes) - 1)
    return np.where(valid, entries[at], EXTRACT_NODATA)


# -- extras --------------------------------------------------------------------------------------


def _report(path, collector, palette, grid, metric, title, log, merged=(), outputs=None):
    """The HTML report (staged in ``outputs`` when given), with areas in the grid's CRS units (and
    km² where they are lengths); ``merged``: palette entries that several frequent colours share
    (engine.merged)."""
    a, b, _, d, e = (grid.geotransform[i] for i in (1, 2, 3, 4, 5))
    # without a geotransform (a bare picture, a scan placed by ground control points) a pixel is the unit
    area_unit, km2_factor = area_units(grid.wkt) if grid.has_geotransform else ("pixels", None)
    unrotated = grid.has_geotransform and not grid.is_rotated  # thumbnails shown as on the map
    try:
        write_report(outputs.stage(path) if outputs is not None else path, collector, palette, abs(a * e - b * d),
                     area_unit, km2_factor=km2_factor, title=title, metric=metric, merged=merged,
                     flip_rows=unrotated and e > 0, flip_cols=unrotated and a < 0)
    except OSError as error:
        raise RunError("Could not write the report {}: {}".format(path, error))


def _report_message(path, collector):
    """The log's line about the report at ``path``: its colour error, when any pixel has one."""
    if collector.mean_delta_e is None:
        return "Report: {} (no pixel got a palette colour: no colour error).".format(path)
    return "Report: {} (mean colour error {:.2f} delta E, 95th percentile {:.2f}).".format(
        path, collector.mean_delta_e, collector.p95_delta_e)


TABLE_COLUMNS = ("index", "red", "green", "blue", "hex", "label", "pixels", "share")


def table_rows(palette, usage):
    """One row per palette entry (TABLE_COLUMNS): its colour, label, pixels and share of the valid pixels."""
    total = max(int(np.sum(usage)), 1)
    for index, (r, g, b) in enumerate(palette.colours.tolist()):
        yield [index, r, g, b, "#{:02x}{:02x}{:02x}".format(r, g, b), palette.label(index), int(usage[index]),
               int(usage[index]) / total]


def write_table(path, palette, usage, outputs=None):
    """The palette table as CSV, with the columns of the plugin's table output (staged in
    ``outputs`` when given)."""
    try:
        with open(outputs.stage(path) if outputs is not None else path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(TABLE_COLUMNS)
            writer.writerows(table_rows(palette, usage))
    except OSError as error:
        raise RunError("Could not write the table {}: {}".format(path, error))


__all__ = ["RunError", "QuantizeResult", "ExtractResult", "resolve_palette", "histogram_of_source", "merge_histograms",
           "colour_histogram_files", "open_file", "output_driver", "check_quantize", "check_extract", "quantize_file", "extract_palette_files",
           "quantize_source", "extract_palette_source", "write_table", "table_rows"]
