"""GDAL reading and writing for the engine (QGIS-free): windows of a grid, RGBA blocks from raw
bands, and the indexed raster with its colour table and attribute table.

Sources read windows of a raster's pixel grid as packed RGBA codes (uint32, see
nearest.pack_rgba): one array per block, alpha 0 where a pixel is transparent or nodata. The
writer puts index blocks into a staged raster (see outputs.OutputFiles), every write checked.
"""

import contextlib
import functools
import math
import os
import re
import sys
import shutil
import tempfile
import threading
import traceback

import numpy as np
from osgeo import gdal, osr

from ..palettes.formats import write_palette_csv
from .nearest import OPAQUE, RGB_BITS, pack_rgba
from .outputs import OWN_ENTRIES, OutputFiles, connection_file, connection_parts, name_problem
from .written_whole import cut_short, side_file_cut_short


#: Pixels per block: a few megapixels keep memory flat and numpy efficient.
BLOCK_PIXELS = 1 << 23
#: Wider rasters are cut into columns too; 512 rows of this width still fit in a block.
MAX_STRIP_WIDTH = 1 << 14
TILE = 512


def gtiff_options(width, height, compress_in_threads=True):
    """Creation options of a GeoTIFF output: DEFLATE-compressed TILE x TILE tiles, no larger than
    the raster (rounded up to 16 pixels, as TIFF tiles must be): a 64 x 64 raster in one 512 x 512
    tile would compress 64 times its pixels, 1.5 ms of a run's fixed cost. ``compress_in_threads``:
    GDAL compresses tiles in threads of its own (see IndexedRasterWriter)."""
    def side(pixels):
        return TILE if pixels >= TILE else max(16, -(-pixels // 16) * 16)
    return ["TILED=YES", "BLOCKXSIZE=%d" % side(width), "BLOCKYSIZE=%d" % side(height), "COMPRESS=DEFLATE",
            "BIGTIFF=IF_SAFER"] + (["NUM_THREADS=ALL_CPUS"] if compress_in_threads else [])


def state_error_mode(warnings=None):
    """Say GDAL's error mode out loud, keeping the one in force (the engine works with return codes
    and with exceptions): GDAL 3.9 and later print a FutureWarning on stderr in a process where no
    one has. Only for processes that are ours alone (the command line, Dask workers' tasks): never
    in QGIS's, whose mode is QGIS's. ``warnings``: whether GDAL's warnings are printed in this
    process from now on (False with --quiet); None: as said last, printed when never said."""
    if warnings is not None:
        _PRINT_WARNINGS[0] = warnings
    if gdal.GetUseExceptions():
        gdal.UseExceptions()
    else:
        gdal.DontUseExceptions()
    gdal.SetErrorHandler(_warnings_only if _PRINT_WARNINGS[0] else _silent)


#: Whether state_error_mode's handler prints GDAL's warnings in this process.
_PRINT_WARNINGS = [True]


def _silent(error_class, number, message):
    """GDAL's error handler of a command line run with --quiet: errors only, which the engine raises."""


def _warnings_only(error_class, number, message):
    """GDAL's error handler in processes of our own, in every thread (blocks are read ahead in
    one): its failures are not printed, as each goes into the one message the engine raises for it
    (through gdal.GetLastErrorMsg); its warnings are, as GDAL prints them."""
    if error_class == gdal.CE_Warning:
        sys.stderr.write("Warning {}: {}\n".format(number, message))


class SourceError(Exception):
    """A layer or band that cannot be read as asked; the message says what to change."""


class RasterGrid:
    """Size, geotransform (rotation terms included) and CRS (WKT, '' for none) of a raster."""

    def __init__(self, width, height, geotransform, wkt, gcps=(), gcp_wkt="", rpc=None, epoch=0.0):
        self.width, self.height = width, height
        #: False for a raster without georeferencing: its pixel grid is then (0, 1, 0, 0, 0, 1), as
        #: GDAL reports it, and the output gets no geotransform either.
        self.has_geotransform = geotransform is not None
        self.geotransform = tuple(geotransform) if geotransform is not None else (0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
        self.wkt = wkt
        #: A scan georeferenced by ground control points instead (gdal.GCP list and their CRS), kept as they are.
        self.gcps, self.gcp_wkt = tuple(gcps), gcp_wkt
        #: A satellite scene's rational polynomial coefficients (GDAL's RPC metadata), kept as they are.
        self.rpc = dict(rpc or {})
        #: The coordinate epoch of a dynamic CRS (0: none), which its WKT does not hold.
        self.epoch = epoch

    @classmethod
    def of_dataset(cls, dataset):
        """The grid of an open GDAL dataset (without a geotransform when it has none)."""
        geotransform = dataset.GetGeoTransform(can_return_null=True)
        gcps = dataset.GetGCPs() if geotransform is None else ()
        wkt = dataset.GetProjectionRef() or ""
        srs = dataset.GetSpatialRef() if wkt else None
        epoch = srs.GetCoordinateEpoch() if srs is not None and hasattr(srs, "GetCoordinateEpoch") else 0.0
        return cls(dataset.RasterXSize, dataset.RasterYSize, geotransform, wkt, gcps or (),
                   dataset.GetGCPProjection() or "" if gcps else "", dataset.GetMetadata("RPC"), epoch)

    def spatial_reference(self):
        """The grid's CRS as an osr.SpatialReference with its coordinate epoch, axes in GIS order
        (x east, y north) as GDAL's WKT strings have them: a VRT would otherwise write latitude first."""
        srs = osr.SpatialReference(self.wkt)
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        srs.SetCoordinateEpoch(self.epoch)
        return srs

    @property
    def is_rotated(self):
        return self.geotransform[2] != 0 or self.geotransform[4] != 0

    @property
    def is_north_up(self):
        """True when QGIS draws the raster on its own pixel grid (no rotation, columns run east
        and rows south)."""
        return self.has_geotransform and not self.is_rotated and self.geotransform[1] > 0 > self.geotransform[5]

    @property
    def is_south_up(self):
        """True for a raster whose rows run north, columns east (as NetCDF files often are)."""
        return self.has_geotransform and not self.is_rotated and self.geotransform[1] > 0 < self.geotransform[5]


def iter_windows(width, height, block_pixels=None, full_rows=False):
    """(xoff, yoff, xsize, ysize) windows covering the grid: strips of whole output tile rows,
    cut into columns when the raster is very wide (unless ``full_rows``), in raster order; one
    window when the whole raster fits in a block."""
    block_pixels = block_pixels or BLOCK_PIXELS
    cols = width if full_rows else min(width, MAX_STRIP_WIDTH)
    rows = max(1, min(height, block_pixels // cols))
    if TILE < rows < height:
        rows -= rows % TILE
    for yoff in range(0, height, rows):
        for xoff in range(0, width, cols):
            yield xoff, yoff, min(cols, width - xoff), min(rows, height - yoff)


def diagonal_windows(width, height, size=256, fractions=(0.0, 0.25, 0.5, 0.75, 1.0), both=False):
    """Windows of up to ``size`` pixels a side along the raster's diagonal, at these fractions of
    the way from its top-left corner to its bottom-right one; ``both``: along the other diagonal too.
    Each window once: a raster no larger than ``size`` has one (read ten times, it cost a 64 x 64
    sheet's run 0.35 ms)."""
    size_x, size_y = min(width, size), min(height, size)
    windows = [(int((width - size_x) * fraction), int((height - size_y) * fraction), size_x, size_y)
               for fraction in fractions]
    windows += [(width - size_x - xoff, yoff, size_x, size_y) for xoff, yoff, _, _ in windows] if both else []
    return list(dict.fromkeys(windows))


def _to_bytes(values):
    """Raw band values as 0-255 bytes (clipped, rounded); also where a value was clipped (None where none was)."""
    if values.dtype == np.uint8:
        return values, None
    beyond = (values < 0) | (values > 255)
    return np.rint(np.clip(values, 0, 255)).astype(np.uint8), beyond if beyond.any() else None



class BandSource:
    """Values of three bands, read with GDAL; alpha from an alpha band, else (``use_masks``) the
    dataset's masks, and 0 where a band holds its ``nodata`` value (or, in a float band, NaN or
    infinity). ``opaque``: no pixel can be transparent (integer bands without alpha band, mask or
    nodata); seems_opaque and none_transparent read the alpha band or masks to tell."""

    reads_in_background = True  # only GDAL calls: safe in another thread
    reads_into = True  # read(window, out=...)

    def __init__(self, path, bands, alpha_band=None, nodata=None, use_masks=True, opacity_guesses=None):
        """``opacity_guesses``: seems_opaque's answers given by another source of the same bands
        (a check before the run, which a guess checked on every block does not need to repeat)."""
        self.dataset = open_for_strip_reads(path)
        if use_masks and not alpha_band:
            alpha_band = self._alpha_band_of(bands)
        self.bands, self.alpha_band, self.nodata = list(bands), alpha_band, nodata
        used = self.bands + ([alpha_band] if alpha_band else [])
        # All-Byte bands are read in one call straight into RGBA byte order: the fast path.
        self._interleaved = all(self.dataset.GetRasterBand(b).DataType == gdal.GDT_Byte for b in used)
        masks = {}
        if use_masks:
            for number in self.bands:
                band = self.dataset.GetRasterBand(number)
                flags = band.GetMaskFlags()
                if flags == gdal.GMF_ALL_VALID or alpha_band and flags == gdal.GMF_ALPHA | gdal.GMF_PER_DATASET:
                    continue  # a mask made of the alpha band read (nodata values add to it)
                # by band number: a band object's id is reused once it is freed (a band's mask was then skipped)
                masks.setdefault("dataset" if flags & gdal.GMF_PER_DATASET else number, band.GetMaskBand())
        self.masks = list(masks.values())
        # Integer bands hold no value that could be transparent (a float band has NaN).
        self._integers = all(gdal.GetDataTypeName(self.dataset.GetRasterBand(b).DataType).startswith(
            ("Byte", "UInt", "Int")) for b in used)
        self.opaque = self._integers and not (alpha_band or self.masks or nodata)
        #: seems_opaque's answers, by alpha threshold
        self.opacity_guesses = dict(opacity_guesses or {})
        #: The largest alpha of a pixel one of whose band values was clipped to 0-255 (-1: none).
        self.clipped_alpha = -1
        self.description = "bands {} (red, green, blue){}".format(
            ", ".join(str(b) for b in self.bands),
            ", alpha band {}".format(alpha_band) if alpha_band else ", mask" if self.masks else "",
        )

    @property
    def transparency(self):
        """What may leave its pixels transparent, for the log."""
        found = (["alpha band {}".format(self.alpha_band)] if self.alpha_band else []) + \
            (["a mask or nodata value"] if self.masks else []) + (["nodata values"] if self.nodata else []) + \
            ([] if self._integers else ["NaN or infinity in a float band"])
        return ", ".join(found) or None

    def _alpha_band_of(self, bands):
        """The file's alpha band (by its colour interpretation) when it is none of ``bands``, or None.
        Read with the colours (in the same call where all are Byte), it gives the alpha GDAL's mask
        gives; where the bands have a nodata value GDAL's mask is made of that alone, and QGIS draws
        both transparent: the nodata masks are read beside it."""
        for index in range(1, self.dataset.RasterCount + 1):
            if index not in bands and self.dataset.GetRasterBand(index).GetColorInterpretation() == gdal.GCI_AlphaBand:
                return index
        return None

    def read(self, window, out=None):
        """Packed RGBA codes of the pixels of ``window``: a new array, or ``out`` (uint32, C-contiguous,
        of the window's shape: rows of a larger block) filled with them."""
        xoff, yoff, width, height = window
        if self._interleaved:
            order = self.bands + [self.alpha_band or self.bands[0]]
            reason = None
            with told_by_caller():
                try:
                    raw = self.dataset.ReadRaster(xoff, yoff, width, height, band_list=order, buf_pixel_space=4,
                                                  buf_line_space=4 * width, buf_band_space=1, buf_obj=out)
                except RuntimeError as error:  # GDAL exceptions switched on by someone else in this process
                    raw, reason = None, str(error)
            if raw is None:
                raise unreadable(self.dataset.GetDescription(), window, reason)
            self.dataset.FlushCache()  # GDAL would otherwise keep every block read so far
            rgba = out if out is not None else np.frombuffer(raw, dtype="<u4").reshape(height, width)
            if not self.alpha_band:
                rgba = np.bitwise_or(rgba, OPAQUE, out=out)
        invalid, beyond = [], []
        if not self._interleaved:
            channels = [self._read(self.dataset.GetRasterBand(b), window, invalid, beyond=beyond) for b in self.bands]
            if self.alpha_band:
                channels.append(self._read(self.dataset.GetRasterBand(self.alpha_band), window, invalid, alpha=True,
                                           beyond=beyond))
            rgba = pack_rgba(*channels)
        if self.masks:
            alpha = self._read(self.masks[0], window)
            for mask in self.masks[1:]:
                alpha = np.minimum(alpha, self._read(mask, window))
            if self.alpha_band:  # the bands' nodata values as well as the alpha band
                alpha = np.minimum(alpha, (rgba >> 24).astype(np.uint8))
            rgba = (rgba & RGB_BITS) | (alpha.astype(np.uint32) << 24)
        for mask in invalid:  # NaN or infinity in a float band: nodata, as QGIS draws it, whatever the masks say
            rgba = np.where(mask, rgba & RGB_BITS, rgba)
        if self.nodata:
            transparent = np.zeros(rgba.shape, dtype=bool)
            for shift, value in zip((0, 8, 16), self.nodata):
                if value is not None:
                    transparent |= ((rgba >> shift) & 255) == value
            rgba = np.where(transparent, rgba & RGB_BITS, rgba)
        if beyond and self.clipped_alpha < 255:  # kept apart: those of transparent pixels (nodata, -9999) are no colours
            self.clipped_alpha = max(self.clipped_alpha, int((rgba >> 24)[np.logical_or.reduce(beyond)].max()))
        if out is not None and rgba is not out:
            out[...] = rgba
            return out
        return rgba

    def _read(self, band, window, invalid=None, alpha=False, beyond=None):
        """A band's values in ``window`` as 0-255 bytes; ``invalid`` (a list) gets where a float band is
        NaN or infinite, ``beyond`` (a list) where a value was clipped; ``alpha``: the band is read as
        alpha, so a 16-bit one that says it is alpha is scaled as GDAL scales it (a band read as a
        colour is clipped, whatever it says it is)."""
        values = read_array(band, window, self.dataset.GetDescription())
        if invalid is not None and values.dtype.kind in "fc":
            finite = np.isfinite(values)
            if not finite.all():
                invalid.append(~finite)
                values = np.where(finite, values, 0)
        if alpha and values.dtype == np.uint16 and band.GetColorInterpretation() == gdal.GCI_AlphaBand:
            return rescaled_alpha(values)
        values, clipped = _to_bytes(values)
        if clipped is not None and beyond is not None:
            beyond.append(clipped)
        return values

    def seems_opaque(self, alpha_threshold):
        """Whether no pixel's alpha (alpha band or masks) seems below ``alpha_threshold``: read in
        windows along both diagonals, where a map's transparent background, borders and corners
        show (the first window, for a map on a transparent background). An RGBA map with nothing
        transparent (a QGIS print layout exported as TIFF or PNG: alpha 255 everywhere) then gets
        what an RGB map gets: up to 256 colours in a Byte without nodata. A guess: the engine
        checks every block and writes again with nodata when a pixel proves it wrong, instead of a
        read of every block before writing (a third of a run of a 6-megapixel sheet)."""
        if alpha_threshold not in self.opacity_guesses:
            width, height = self.dataset.RasterXSize, self.dataset.RasterYSize
            self.opacity_guesses[alpha_threshold] = self._none_below(alpha_threshold,
                                                                     diagonal_windows(width, height, both=True))
        return self.opacity_guesses[alpha_threshold]

    def none_transparent(self, alpha_threshold):
        """Whether no pixel's alpha is below ``alpha_threshold``, read block by block up to the first
        that is: for a file whose tiles are written each on their own and must agree on the type."""
        alphas = self._alphas()
        block_x, block_y = alphas[0].GetBlockSize() if alphas else (1, 1)
        width, height = self.dataset.RasterXSize, self.dataset.RasterYSize
        block_x = min(block_x, width)  # a tile, or rows of a strip: at least 65,536 pixels a read
        rows = block_y * max(1, (1 << 16) // (block_x * block_y))
        return self._none_below(alpha_threshold, ((xoff, yoff, min(block_x, width - xoff), min(rows, height - yoff))
                                                  for yoff in range(0, height, rows) for xoff in range(0, width, block_x)))

    def _alphas(self):
        return ([self.dataset.GetRasterBand(self.alpha_band)] if self.alpha_band else []) + self.masks

    def _none_below(self, alpha_threshold, windows):
        """Whether no pixel of ``windows`` has an alpha below ``alpha_threshold``; False for bands
        with nodata values or float bands (a value there can be transparent too: not read)."""
        alphas = self._alphas()
        if self.opaque or self.nodata or not alphas or not self._integers:
            return self.opaque
        try:
            return not any(self._read(alpha, window, alpha=True).min() < alpha_threshold for window in windows
                           for alpha in alphas)
        finally:
            self.dataset.FlushCache()

    def close(self):
        self.dataset = self.masks = None


def rescaled_alpha(values):
    """A 16-bit alpha band's values (0-65535) as 0-255 alpha, by GDAL's rule for the mask it makes of
    one: v * 255 // 65535, but 1 for 1-256 (values written on a 0-255 scale stay not transparent)."""
    alpha = (values.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    alpha[(values > 0) & (values < 257)] = 1
    return alpha


def read_array(band, window, path):
    """The values of ``band`` (of the raster at ``path``) in ``window``; SourceError (unreadable)
    with GDAL's reason, which GDAL does not print, when it cannot read them."""
    reason = None
    with told_by_caller():
        try:
            values = band.ReadAsArray(*window)
        except RuntimeError as error:  # GDAL exceptions switched on by someone else in this process
            values, reason = None, str(error)
    if values is None:
        raise unreadable(path, window, reason)
    return values


def unreadable(path, window, reason=None):
    """The error for pixels GDAL could not read, with GDAL's own reason when it gave one: ``reason``
    (its exception's, where GDAL raises them), else its last error message."""
    reason = one_line((reason or gdal.GetLastErrorMsg()).strip()).rstrip(".")
    return SourceError("GDAL could not read pixels {} of {}{}. The file may be truncated or damaged: repair or "
                       "replace it.".format(window, path, " ({})".format(reason) if reason else ""))


def open_raster(path):
    """(dataset, None) for the raster at ``path``, or (None, why not): GDAL's reason goes into the
    caller's one message instead of being printed on stderr as well."""
    if not (os.path.exists(path) or path.startswith("/vsi") or connection_parts(path)):
        return None, "no such file"
    inside = connection_file(path)
    if inside and not (os.path.exists(inside) or inside.startswith("/vsi")):  # before HDF5 prints its diagnostics
        return None, "no such file: {}".format(inside)
    problem = name_problem(path, "opens", ": rename it")
    if problem:
        return None, problem
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        dataset = gdal.Open(path)
        problem = "" if dataset is not None else gdal.GetLastErrorMsg()
    except RuntimeError as error:  # GDAL exceptions switched on by the caller
        dataset, problem = None, one_line(str(error))
    finally:
        gdal.PopErrorHandler()
    return dataset, (None if dataset is not None else _holder_of_rasters(path) or problem or "GDAL cannot read it")


def _holder_of_rasters(path):
    """What to give instead of a folder or an archive GDAL does not open as a raster ('' for
    another path): GDAL only says it is "not recognized as a supported file format"."""
    if os.path.isdir(path):
        return "it is a folder: give the rasters in it, e.g. {}".format(os.path.join(path, "*.tif"))
    archive = next((prefix for ending, prefix in ((".zip", "/vsizip/"), (".tar", "/vsitar/"), (".tgz", "/vsitar/"),
                                                  (".tar.gz", "/vsitar/")) if path.lower().endswith(ending)), None)
    if archive is None or not os.path.isfile(path):
        return ""
    inside = [name for name in gdal.ReadDirRecursive(archive + path) or [] if not name.endswith("/")]
    return "it is an archive: give a raster in it as {}{}/{}".format(
        archive, path, inside[0] if len(inside) == 1 else "<its name in the archive>")


def dataset_files(path):
    """The files GDAL reads for the raster at ``path`` (its header, its side files), or the file
    itself when GDAL opens none there (a palette file)."""
    dataset, _ = open_raster(path)
    files = (dataset.GetFileList() or []) if dataset is not None else []
    dataset = None
    inside = connection_file(path) or path
    return [os.path.abspath(name) for name in files] or [os.path.abspath(inside)]


def paletted_band(dataset, bands):
    """The first of ``bands`` (those the GDAL ``dataset`` has) that holds indices into a colour
    table, in a raster of one or two bands (a paletted raster, whose colours are its table's), or None."""
    if dataset.RasterCount >= 3:
        return None
    return next((band for band in bands if 1 <= band <= dataset.RasterCount
                 and dataset.GetRasterBand(band).GetColorTable() is not None), None)


def complex_band(dataset, bands):
    """The first of ``bands`` of the GDAL ``dataset`` that holds complex numbers, or None."""
    for band in bands:
        if gdal.DataTypeIsComplex(dataset.GetRasterBand(band).DataType):
            return band
    return None


def open_for_strip_reads(path):
    """The GDAL dataset at ``path``, opened so that an uncompressed GeoTIFF is read straight from
    the file, past GDAL's block cache (GTIFF_DIRECT_IO, set for this thread only): about twice
    as fast for reads of whole strips, and ignored for compressed files and other formats."""
    with thread_config("GTIFF_DIRECT_IO", "YES"):
        return gdal.Open(path)


@contextlib.contextmanager
def thread_config(name, value):
    """GDAL's configuration option ``name`` set to ``value`` for this thread alone while in the
    ``with`` block (left as it is with bindings of a GDAL that cannot: reads then go through the
    block cache, side files may be written)."""
    get_local = getattr(gdal, "GetThreadLocalConfigOption", None)
    if get_local is None:
        yield
        return
    previous = get_local(name, None)
    gdal.SetThreadLocalConfigOption(name, value)
    try:
        yield
    finally:
        gdal.SetThreadLocalConfigOption(name, previous)


def colour_table(palette, nodata=None):
    """The palette as a GDAL colour table (a copy of its own), one opaque entry per colour; an
    entry kept for ``nodata`` (a user's NODATA_INDEX inside the palette) keeps its colour,
    transparent."""
    return _colour_table(np.ascontiguousarray(palette.colours, dtype=np.uint8).tobytes(), nodata).Clone()


@functools.lru_cache(maxsize=4)
def _colour_table(colours, nodata):
    """colour_table of palette colours given as RGB bytes, kept for the next run with the same
    palette (an archive's sheets): 256 entries set one by one took 0.15 ms of each run."""
    table = gdal.ColorTable()
    for index in range(len(colours) // 3):
        r, g, b = colours[3 * index:3 * index + 3]
        table.SetColorEntry(index, (r, g, b, 0 if index == nodata else 255))
    return table


def attribute_table(palette, counts):
    """GDAL raster attribute table: value, red, green, blue, label, count per palette entry."""
    table = gdal.RasterAttributeTable()
    for name, kind, usage in (("value", gdal.GFT_Integer, gdal.GFU_MinMax), ("red", gdal.GFT_Integer, gdal.GFU_Red),
                              ("green", gdal.GFT_Integer, gdal.GFU_Green), ("blue", gdal.GFT_Integer, gdal.GFU_Blue),
                              ("label", gdal.GFT_String, gdal.GFU_Name), ("count", gdal.GFT_Real, gdal.GFU_PixelCount)):
        table.CreateColumn(name, kind, usage)
    table.SetRowCount(len(palette))
    columns = (np.arange(len(palette)),) + tuple(palette.colours.T.astype(np.int32))
    labels = np.array([palette.label(index).encode("utf-8") for index in range(len(palette))], dtype=bytes)
    for column, values in enumerate(columns + (labels,)):  # whole columns at once: a 256-entry table in 0.1 ms, not 5
        table.WriteArray(values, column)
    table.WriteArray(np.asarray(counts[:len(palette)], dtype=np.float64), 5)
    return table


class WriteError(OSError):
    """GDAL could not write, flush or close an output; the message gives GDAL's reason."""


class HiddenClass(WriteError):
    """The format marks a class of the palette as nodata (ISIS3: 0, whatever it is told)."""

    def __init__(self, what, driver_name, value):
        self.reason = "it marks {:g} as nodata, which is class {:g}: its pixels would read as nodata".format(value, value)
        super().__init__("{}: the {} format {}. Choose a GeoTIFF (.tif).".format(what, driver_name, self.reason[3:]))


def checked(what, call, *args, where=None):
    """``call(*args)``, raising WriteError when GDAL reports a failure (by its return code or its
    error state, whether or not GDAL exceptions are switched on in this process). ``where``: the
    folder written to, whose free space is told when it is (nearly) full (see reason), and GDAL does
    not print the errors it tells (see told_by_caller)."""
    problem = None
    with told_by_caller():
        try:
            result = call(*args)
        except RuntimeError as error:  # GDAL exceptions switched on by someone else in this process
            problem = one_line(str(error))
            traceback.clear_frames(error.__traceback__)  # GDAL's frames hold the datasets passed
    # A traceback keeps this frame, and the caller may keep the error: no dataset stays open through
    # it (a raster removed after a failed write would hold its disk space until the process ends),
    # nor through the call (a band's method holds its dataset).
    args = call = None
    if problem is None:
        failed = isinstance(result, int) and not isinstance(result, bool) and result >= gdal.CE_Failure
        if failed or gdal.GetLastErrorType() >= gdal.CE_Failure:
            problem = one_line(gdal.GetLastErrorMsg())
    if problem is not None:
        raise WriteError("{}: {}".format(what, reason(problem, where)))
    return result


@contextlib.contextmanager
def quiet_errors():
    """GDAL's errors and warnings in this thread not printed meanwhile: about files of Palettize's own,
    whose complaints a user cannot act on."""
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        yield
    finally:
        gdal.PopErrorHandler()


@contextlib.contextmanager
def told_by_caller():
    """GDAL's errors in this thread, meanwhile, are the caller's to tell in its own message: GDAL's
    handler would print them first (qgis_process showed "ERROR 1: ..." lines before the run's
    message). A warning (the last, where GDAL gives several) goes on to GDAL's handler."""
    gdal.ErrorReset()
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        yield
    finally:
        gdal.PopErrorHandler()
        if gdal.GetLastErrorType() == gdal.CE_Warning:
            gdal.Error(gdal.CE_Warning, gdal.GetLastErrorNo(), gdal.GetLastErrorMsg())


def one_line(message):
    """A GDAL exception's message on one line: GDAL 3.7 and later add the errors before it, a line
    each ("May be caused by: ...", often the same one again), which are kept once, in brackets."""
    first, *rest = message.split("\n")
    causes = []
    for line in rest:
        if not line.startswith("May be caused by: "):  # a message of several lines (DTED's "Requested\n(0,0) ...")
            if not causes:
                first = "{} {}".format(first, line.strip()).strip()
            continue
        cause = line.split("May be caused by: ", 1)[-1].strip()
        if cause and cause != first and cause not in causes:
            causes.append(cause)
    return "{} (may be caused by: {})".format(first, "; ".join(causes)) if causes else first


def reason(problem, folder=None):
    """What to say of a write GDAL failed with ``problem`` (its message, maybe empty): where the disk
    holding ``folder`` is (nearly) full, that too. GDAL's ASCII grid writer gives no reason for a
    full disk, and a GeoTIFF's may give the failed read of a directory it could not write."""
    try:
        stat = os.statvfs(folder) if folder else None
    except OSError:
        stat = None
    problem = problem or "GDAL gave no reason"
    if "No space left on device" in problem:
        return "{}: free some space or write it elsewhere".format(problem)
    if stat is not None and stat.f_bavail * stat.f_frsize < 1 << 20:
        return "{}, and the disk holding it has {} KB free: free some space or write it elsewhere".format(
            problem, stat.f_bavail * stat.f_frsize // 1024)
    return problem


def _close(dataset_holder, what, where=None):
    """Close the dataset held in ``dataset_holder[0]`` (GDAL writes what it still holds), checked."""
    def close():
        failure = _let_go(dataset_holder)
        if failure is not None:
            raise failure
    checked(what, close, where=where)


def _let_go(dataset_holder):
    """Drop the dataset held in ``dataset_holder[0]``: GDAL closes it, writing what it still holds.
    Returns the RuntimeError of a close that failed with GDAL exceptions switched on (QGIS 3.40's
    processes), or None: the bindings raise it inside the dataset's destructor, where Python can
    only print it, a traceback on the user's terminal ("Exception ignored in: delete_Dataset")."""
    caught, thread = [], threading.get_ident()
    with _CLOSING:
        previous = sys.unraisablehook

        def hook(unraisable):
            if threading.get_ident() == thread and isinstance(unraisable.exc_value, RuntimeError):
                caught.append(unraisable.exc_value.with_traceback(None))
            else:
                previous(unraisable)
        sys.unraisablehook = hook
        try:
            with told_by_caller():  # by checked, or of a write that failed already
                dataset_holder[0] = None
        finally:
            if sys.unraisablehook is hook:  # not one set meanwhile, which may call this one
                sys.unraisablehook = previous
    return caught[0] if caught else None


#: Held while a dataset is let go: one unraisable hook at a time.
_CLOSING = threading.RLock()


#: Drivers whose output is a TIFF file (see written_whole.cut_short).
TIFF_DRIVERS = ("GTiff", "COG")

#: Formats that keep only a raster attribute table's colours (EHdr's .clr), which the colour table
#: gives them already: GDAL 3.6's EHdr writer, given a table with labels and counts, warns, and then
#: crashes the process now and then (the command line, after a format probe). (Idrisi makes its
#: legend of one: it keeps the table.)
COLOUR_ONLY_RAT_DRIVERS = ("EHdr",)


def _quietly_opened(path, drivers=None):
    """(dataset or None, GDAL's reason) for the raster at ``path`` (by one of ``drivers`` when
    given), GDAL's errors kept for the caller's message whether or not it raises them."""
    with told_by_caller():
        try:
            dataset = gdal.OpenEx(path, gdal.OF_RASTER, allowed_drivers=drivers or [])
        except RuntimeError as error:  # GDAL exceptions switched on by someone else in this process
            return None, str(error)
        except UnicodeDecodeError:  # a message quoting the file's first bytes ("<VRTDataset " and binary)
            return None, "GDAL's message quotes the file's bytes"
        return dataset, gdal.GetLastErrorMsg()


#: Files beside a raster, left by earlier tools, that GDAL would read as describing the raster
#: written in its place (overviews, mask, statistics): removed when it is replaced.
EARLIER_SIDE_FILES = (".ovr", ".msk", ".aux.xml")


class IndexedRasterWriter:
    """Writes a single-band indexed raster with a colour table and nodata (None: none, for an
    opaque Byte output) at ``path``, staged in ``outputs`` (outputs.OutputFiles): the raster and
    the side files GDAL adds go into place with the run's other outputs when the caller commits
    them. Without ``outputs`` the writer stages in its own and ``commit()`` puts the raster in
    place; ``discard()`` (or leaving a ``with`` block by an exception) removes everything.

    ``compress_in_threads``: GDAL compresses a GeoTIFF's tiles in threads of its own (NUM_THREADS);
    false where the caller keeps every core busy already (a cleanup cleans blocks in two threads:
    GDAL's threads would only take turns with them, 3 to 9% slower on 100 megapixels). The raster
    is created by ``open()``, in the caller's thread: blocks.quantize_blocks calls it while the
    first block is read (a 6-megapixel sheet's run 2 to 3% sooner, paired rounds); a write or
    finish calls it when no one has. (Created in a thread of its own while the first block was
    read, its Python calls took turns for the GIL with the caller's, and a 64 x 64 sheet's run
    took 12% longer, a 6-megapixel sheet's 1 to 2%.)

    Every GDAL write, flush and close is checked: a full disk raises WriteError, never a
    truncated file. Drivers that cannot create rasters block by block (e.g. XYZ) get a GeoTIFF
    copy at the end; a format without colour tables gets the palette as <path>.palette.csv.
    """

    def __init__(self, path, driver_name, grid, palette, data_type, nodata, outputs=None, compress_in_threads=True):
        self.final_path, self.palette = os.path.abspath(path), palette
        self._compress_in_threads = compress_in_threads
        self._own_outputs = outputs is None
        self._outputs = OutputFiles() if outputs is None else outputs
        self._dataset, self._band = [None], None
        try:
            self.path = self._outputs.stage(self.final_path)  # where GDAL writes it
            self._folder = os.path.dirname(self.path)
            for side_file in EARLIER_SIDE_FILES:
                self._outputs.obsolete(self.final_path + side_file)
            if os.path.exists(self.final_path):  # the replaced raster's (an .asc's .prj when this one has no CRS)
                for side_file in format_files(driver_name, self.final_path)[1:]:
                    self._outputs.obsolete(side_file)
        except BaseException:
            self.discard()
            raise
        self.nodata, self._creation = nodata, (driver_name, grid, palette, data_type, nodata)

    def open(self):
        """Create the raster (its file, CRS and colour table: a millisecond of a sheet's run), once."""
        if self._creation is None:
            return
        creation, self._creation = self._creation, None
        try:
            self._create(*creation)
        except BaseException:
            self.discard()
            raise

    def _create(self, driver_name, grid, palette, data_type, nodata):
        self._driver = gdal.GetDriverByName(driver_name)
        direct = self._driver.GetMetadataItem(gdal.DCAP_CREATE) == "YES"
        # A short name in the run's own staging folder: the output's name and a suffix could be too long.
        self._work = self.path if direct else os.path.join(os.path.dirname(self.path), ".palettize-work.tif")
        driver = self._driver if direct else gdal.GetDriverByName("GTiff")
        options = (gtiff_options(grid.width, grid.height, self._compress_in_threads) if driver.ShortName == "GTiff"
                   else [])
        self._dataset = [checked("GDAL could not create {}".format(self.final_path), driver.Create, self._work,
                                 grid.width, grid.height, 1, data_type, options)]
        if self._dataset[0] is None:
            raise WriteError("GDAL could not create {}: {}".format(self.final_path, gdal.GetLastErrorMsg()))
        dataset = self._dataset[0]
        if grid.has_geotransform:
            dataset.SetGeoTransform(grid.geotransform)
        if grid.wkt and grid.epoch:
            dataset.SetSpatialRef(grid.spatial_reference())
        elif grid.wkt:
            dataset.SetProjection(grid.wkt)
        if grid.gcps:
            dataset.SetGCPs(grid.gcps, grid.gcp_wkt)
        if grid.rpc:
            dataset.SetMetadata(grid.rpc, "RPC")
        self._wkt, self._gcp_count, self._rpc, self._epoch = grid.wkt, len(grid.gcps), bool(grid.rpc), grid.epoch
        self._band = dataset.GetRasterBand(1)
        if nodata is not None:
            self._band.SetNoDataValue(nodata)
        elif is_class_value(self._band.GetNoDataValue(), len(palette)):
            # A format that marks a value of its own as nodata (RMF: 0) would hide that class: a
            # value outside the palette instead (check_raster_output refuses a palette without one).
            self._band.SetNoDataValue(free_nodata(data_type))
        table = colour_table(palette, nodata)
        if data_type == gdal.GDT_Byte and nodata is not None and nodata >= len(palette):
            # PNG and GIF cannot store an index beyond their table
            for index in range(len(palette), nodata):
                table.SetColorEntry(index, (0, 0, 0, 255))
            table.SetColorEntry(nodata, (0, 0, 0, 0))
        self._band.SetRasterColorTable(table)
        self._band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
        self.has_colour_table, self.cut_table = True, None

    def write(self, window, indices):
        self.open()
        what = "GDAL could not write {}".format(self.final_path)
        checked(what, self._band.WriteArray, indices, window[0], window[1], where=self._folder)
        # Flushed: GDAL's block cache would otherwise grow with the raster.
        checked(what, self._band.FlushCache, where=self._folder)

    def finish(self, counts=None):
        """Complete the raster (with a raster attribute table when ``counts`` per entry are given)
        and read back what its format kept; raises WriteError when anything failed."""
        self.open()
        what = "GDAL could not write {}".format(self.final_path)
        self._counted = counts is not None
        if counts is not None and self._driver.ShortName not in COLOUR_ONLY_RAT_DRIVERS:
            self._band.SetDefaultRAT(attribute_table(self.palette, counts))
        checked(what, self._dataset[0].FlushCache, where=self._folder)
        self._band = None
        if self._work != self.path:
            copy = [checked(what, self._driver.CreateCopy, self.path, self._dataset[0], where=self._folder)]
            if copy[0] is None:
                raise WriteError("{}: {}".format(what, reason(gdal.GetLastErrorMsg(), self._folder)))
            _close(copy, what, self._folder)
        _close(self._dataset, what, self._folder)
        if self._work != self.path:
            gdal.GetDriverByName("GTiff").Delete(self._work)
        raster = os.path.basename(self.path)
        # The staging folder holds only the raster's files so far (it is staged first).
        side_files = sorted(name for name in os.listdir(self._folder) if name not in (raster,) + OWN_ENTRIES)
        short = cut_short(self.path) if self._driver.ShortName in TIFF_DRIVERS else ""
        short = short or next(filter(None, (side_file_cut_short(os.path.join(self._folder, name))
                                            for name in side_files)), "")
        if short:
            raise WriteError("{}: {}".format(what, reason("it was cut short, though GDAL reported no error ({})".format(
                short), self._folder)))
        if self._driver.ShortName == KNOWN_GOOD_DRIVER:
            # A GeoTIFF keeps all of it, and a failed write shows (the checked close; cut_short where
            # GDAL 3.10 says nothing): opened again only for what GDAL may leave out. Opening a UInt16
            # output reads its 65,536-entry colour map, 1 ms of each sheet of an archive.
            self.has_colour_table = self.keeps_crs = self.keeps_gcps = self.keeps_nodata = self.keeps_counts = True
            self.keeps_rpc = self.keeps_epoch = self.keeps_vertical = True
            if self._rpc or self._epoch:
                self._read_back_georeferencing(self._opened_again(), known_good=True)
        else:
            check = self._opened_again()
            try:
                self._read_back(check, what)
            finally:
                check = None
        if not self.has_colour_table:
            write_palette_csv(self.palette, self.path + ".palette.csv")
            side_files = sorted(side_files + [raster + ".palette.csv"])
        #: Every file the raster puts in place: the raster first, then its side files (.aux.xml, .palette.csv, ...).
        self.written = [os.path.join(os.path.dirname(self.final_path), name) for name in [raster] + side_files]

    def _opened_again(self):
        """The written raster, as GDAL opens it for a reader. A raw format's first pixels can read
        as another format's signature (indices 73, 73, 42 and 0 are the bytes "II*\\0" of a TIFF):
        GDAL, and QGIS with it, then takes the file for that format and cannot read it."""
        expected = "GTiff" if self._driver.ShortName == "COG" else self._driver.ShortName  # COG only writes
        check, problem = _quietly_opened(self.path)
        if check is not None and check.GetDriver().ShortName == expected:
            return check
        taken = check.GetDriver() if check is not None else gdal.IdentifyDriver(self.path)
        if taken is not None and taken.ShortName != expected:
            own, _ = _quietly_opened(self.path, [expected])
            if own is not None:  # its own driver reads it: taken for another format
                own = check = None
                raise WriteError("GDAL cannot read back {}: its first pixels read as the start of a {} file, and "
                                 "GDAL (QGIS with it) takes it for one. Choose a GeoTIFF (.tif)".format(
                                     self.final_path, taken.LongName))
        if check is None:
            raise WriteError("GDAL cannot read back {}: {}".format(self.final_path, problem))
        return check  # read as the format it is by another of GDAL's drivers

    def _read_back(self, check, what):
        """What the format kept of the colour table, CRS, ground control points and nodata."""
        band = check.GetRasterBand(1)
        table = band.GetColorTable()  # whole: Idrisi (.rst) cuts it after the largest index written
        #: Entries of the colour table the format kept, when it kept fewer than the palette's (else None).
        self.cut_table = table.GetCount() if table is not None and table.GetCount() < len(self.palette) else None
        self.has_colour_table = table is not None and self.cut_table is None
        #: False when the grid has a CRS and the format kept none (an ASCII grid): the caller says so.
        self.keeps_crs = not self._wkt or check.GetSpatialRef() is not None
        #: False when the grid's ground control points were lost (an ASCII grid): the output is not georeferenced.
        self.keeps_gcps = not self._gcp_count or check.GetGCPCount() > 0
        self._read_back_georeferencing(check)
        rat = band.GetDefaultRAT()
        #: False when the run's pixel counts went into no attribute table the format kept (Idrisi keeps
        #: its legend's names and colours, netCDF and EHdr no table: said in the log).
        self.keeps_counts = not self._counted or rat is not None and any(
            rat.GetUsageOfCol(column) == gdal.GFU_PixelCount for column in range(rat.GetColumnCount()))
        rat = None
        reported = band.GetNoDataValue()
        self.keeps_nodata = self.nodata is None or reported == self.nodata
        if reported != self.nodata and is_class_value(reported, len(self.palette)):
            band = check = None  # closed before the caller removes the files
            raise HiddenClass(what, self._driver.ShortName, reported)

    def _read_back_georeferencing(self, check, known_good=False):
        """What the format kept of the input's RPCs, its CRS's vertical part and coordinate epoch;
        ``known_good``: a GeoTIFF, which keeps them all (the RPCs when GDAL takes them at all), whose
        CRS is then not read back (a few milliseconds of each sheet of an archive)."""
        #: False when the input's RPCs were lost (an ASCII grid, or a set GDAL does not take).
        self.keeps_rpc = not self._rpc or bool(check.GetMetadata("RPC"))
        written = check.GetSpatialRef() if self._epoch or self._wkt and not known_good else None
        #: False when a dynamic CRS lost its coordinate epoch.
        self.keeps_epoch = not self._epoch or bool(written and written.GetCoordinateEpoch() == self._epoch)
        expected = None if known_good or not self._wkt else _spatial_reference(self._wkt)
        #: False when a compound CRS lost its vertical part (HFA, Idrisi): the horizontal one places the output.
        self.keeps_vertical = expected is None or not expected.IsCompound() or bool(written and written.IsCompound())

    def commit(self, counts=None):
        """finish(), then (when the writer stages in its own OutputFiles) put the files in place."""
        self.finish(counts)
        if self._own_outputs:
            self._outputs.commit()

    def close(self):
        """Let go of the dataset without checking (after a failure; the staged files are removed
        by their OutputFiles)."""
        self._band = None
        _let_go(self._dataset)

    def discard(self):
        self.close()
        if self._own_outputs:
            self._outputs.discard()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.discard()
        else:
            self.close()
        return False


# -- what an output format and a disk can hold, decided before any work ------------------------

#: GDAL counts pixels per side with a C int.
MAX_SIDE = 2 ** 31 - 1


def size_text(n_bytes):
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= size:
            return "{:.1f} {} ({:,} bytes)".format(n_bytes / size, unit, int(n_bytes))
    return "{:,} bytes".format(int(n_bytes))


def grid_size_problem(width, height, bytes_per_pixel=1, folder=None, resizable=False):
    """Why a ``width`` x ``height`` raster of ``bytes_per_pixel`` cannot be written in ``folder``
    (a sentence with its size in pixels and bytes), or '' when it can. Sizes may be floats (a
    requested grid before rounding, even infinite): they are checked before anything is built.
    The disk must hold the uncompressed raster: compression cannot be counted on in advance.
    Without a ``folder`` only GDAL's own limit is checked. ``resizable``: the user chose the grid
    (the plugin's PIXEL_SIZE and EXTENT), so the sentence says how to make it smaller."""
    smaller = " Choose a larger PIXEL_SIZE or a smaller EXTENT." if resizable else ""
    # Sides beyond MAX_SIDE squared are endless for every purpose (their byte count can overflow a float).
    if not (math.isfinite(width) and math.isfinite(height)) or max(width, height) > MAX_SIDE ** 2:
        return "The output grid would have no end." + smaller
    width, height = int(math.ceil(width)), int(math.ceil(height))
    pixels = width * height
    n_bytes = pixels * bytes_per_pixel
    described = "{:,} x {:,} pixels, {:,} pixels in all, up to {}".format(width, height, pixels, size_text(n_bytes))
    if max(width, height) > MAX_SIDE:
        return "The output grid would be {}: GDAL writes at most {:,} pixels per side.{}".format(
            described, MAX_SIDE, smaller)
    free = shutil.disk_usage(folder).free if folder else math.inf
    if n_bytes > free:
        return "The output grid would be {}, and the disk of {} has {} free. {}".format(
            described, folder, size_text(free), "Choose a larger PIXEL_SIZE or a smaller EXTENT, or free disk space."
            if resizable else "Free disk space or write the output elsewhere.")
    return ""


def _spatial_reference(crs):
    """An osr.SpatialReference of a WKT (or the reference itself), None when osr cannot read it."""
    if isinstance(crs, osr.SpatialReference):
        return crs
    srs = osr.SpatialReference()
    try:
        return srs if srs.ImportFromWkt(crs) == 0 else None
    except RuntimeError:  # osr exceptions switched on elsewhere in this process
        return None


def same_geotransform(written, expected):
    """Whether a format kept a geotransform, written on the probe's few pixels: every term within a
    thousandth of a pixel (or, for the origin, of its own last digits). A format that rounds its
    corners' coordinates (Idrisi: 7 decimals) errs by that rounding over the probe's 3 pixels, a
    thousandth of its size over a raster's thousands; tolerances by the coordinates' size alone let
    1e-9 degree pixels be written as 0."""
    pixel = max(abs(expected[i]) for i in (1, 2, 4, 5))
    error = np.abs(np.subtract(written, expected, dtype=np.float64))
    return all(error[i] <= max(1e-3 * pixel, 1e-12 * abs(expected[i])) for i in range(6))


def same_crs(written, wkt, points):
    """Whether the CRS a format wrote (osr.SpatialReference) puts ``points`` (x, y in the grid's
    CRS, a WKT) where the grid's does: each CRS takes them to longitude and latitude on its own
    datum, which must agree within 1e-6 degrees. A format that drops a datum shift (TOWGS84) or
    renames the CRS keeps it (or drops the vertical part of a compound one: the writer tells); one
    that writes another zone, projection or unit does not, nor one that writes a local CRS for a
    projected one. True when osr cannot tell."""
    expected = _spatial_reference(wkt)
    if expected is None:
        return True
    try:
        if written.IsSame(expected):
            return True
        if written.IsLocal() and not expected.IsLocal():
            return False
        places = []
        for srs in (expected, written):
            srs = srs.Clone()
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
            geographic = srs.CloneGeogCS()
            geographic.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
            transform = osr.CoordinateTransformation(srs, geographic)
            places.append([transform.TransformPoint(float(x), float(y))[:2] for x, y in points])
    except (RuntimeError, TypeError, AttributeError):  # osr exceptions switched on elsewhere, or no transformation
        return True
    return bool(np.allclose(places[0], places[1], rtol=0.0, atol=1e-6))


def crs_name(crs, authority=False):
    """A CRS (WKT or osr.SpatialReference) by its name, with its authority code when asked and known."""
    srs = _spatial_reference(crs)
    if srs is None:
        return "an unknown CRS"
    name = srs.GetName() or "an unnamed CRS"
    srs.AutoIdentifyEPSG()
    code = srs.GetAuthorityCode(None) if authority else None
    return "{} ({}:{})".format(name, srs.GetAuthorityName(None), code) if code else name


def is_class_value(value, palette_size):
    """Whether a nodata value a format reports is an index pixels of a ``palette_size``-colour palette hold."""
    return value is not None and float(value).is_integer() and 0 <= value < palette_size


def free_nodata(data_type):
    """The nodata value an output of ``data_type`` gets when it needs one: its largest value."""
    return 255 if data_type == gdal.GDT_Byte else 65535


_FORMAT_PROBLEMS = {}
_OWN_NODATA = {}
#: Formats whose only compression loses detail: GDAL's own refusal of them speaks of colour tables
#: and of gdal_translate's options, which a run cannot follow.
LOSSY_DRIVERS = ("JPEG",)
#: Holds every indexed raster a run writes (Byte or UInt16, colour table, nodata, any
#: geotransform and CRS): not probed, which spares each sheet of an archive (a grid of its own)
#: a 3 x 2 test raster.
KNOWN_GOOD_DRIVER = "GTiff"


def indexed_format_problem(driver_name, extension, data_type, grid, palette_size, nodata=None):
    """Why GDAL's ``driver_name`` cannot hold this indexed raster (a phrase), or '' when it can.

    Decided by GDAL itself, once per driver, data type, palette size, nodata (None: none),
    geotransform and CRS: a 3 x 2 raster with the run's data type, nodata, a colour table of
    ``palette_size`` entries, its largest index, the grid's geotransform (rotation, south-up) and CRS
    is written exactly as a run writes it, then read back. A format may lose the colour table (the
    palette then goes beside it as a .palette.csv) but must keep one band of exactly the indices
    written, the geotransform, and the nodata value unless it is no class. The palette's size
    counts: GDAL's XPM writer merges a table of over 86 colours, renumbering the pixels. GeoTIFF
    (KNOWN_GOOD_DRIVER) is known to hold them all.
    """
    if driver_name == KNOWN_GOOD_DRIVER and data_type in (gdal.GDT_Byte, gdal.GDT_UInt16):
        return ""
    side = FORMAT_MAX_SIDE.get(driver_name)
    if side is not None and max(grid.width, grid.height) > side:  # the probe's small raster cannot tell
        return "it holds at most {:,} pixels a side, and this raster is {:,} x {:,}".format(side, grid.width,
                                                                                           grid.height)
    return _probed(driver_name, extension, data_type, grid, palette_size, nodata)[0]


#: Formats that hold rasters only up to so many pixels a side. GDAL's GIF writer refuses a larger
#: one after the whole raster is written, or, with a CRS, crashes the process.
FORMAT_MAX_SIDE = {"GIF": 65535}


def palette_beside(driver_name, extension, data_type, grid, palette_size, nodata=None):
    """Whether a raster this format can hold gets its palette beside it as <path>.palette.csv: the
    format keeps no colour table (found by indexed_format_problem's probe)."""
    if driver_name == KNOWN_GOOD_DRIVER:
        return False
    return _probed(driver_name, extension, data_type, grid, palette_size, nodata)[1]


def _probed(driver_name, extension, data_type, grid, palette_size, nodata):
    """(problem, palette beside) of _probe_format, found once per format, type, palette size, nodata
    and grid."""
    key = (driver_name, extension, data_type, palette_size, nodata, grid.geotransform, grid.has_geotransform,
           grid.wkt, bool(grid.gcps))
    if key not in _FORMAT_PROBLEMS:
        beside = []
        _FORMAT_PROBLEMS[key] = (_probe_format(driver_name, extension, data_type, palette_size, nodata, grid, beside),
                                 bool(beside))
    return _FORMAT_PROBLEMS[key]


def _probe_format(driver_name, extension, data_type, palette_size, nodata, grid, beside):
    """Why the format cannot hold the raster, or ''; ``beside`` (a list) gets True when it keeps no
    colour table."""
    from ..palettes.palette import Palette

    if driver_name in LOSSY_DRIVERS:
        return "its compression is lossy and would change class indices into others"
    if driver_name == "VRT":  # GDAL's own refusal speaks of VRTSourcedRasterBand
        return ("a .vrt holds no pixels of its own, only a mosaic of other rasters (the command line writes one of "
                "GeoTIFF tiles: palettize quantize map.tif -o map.vrt)")
    driver = gdal.GetDriverByName(driver_name)
    if driver is None or driver.GetMetadataItem(gdal.DCAP_RASTER) != "YES" or not (
            driver.GetMetadataItem(gdal.DCAP_CREATE) == "YES" or driver.GetMetadataItem(gdal.DCAP_CREATECOPY) == "YES"):
        return "GDAL cannot write rasters in this format"
    byte = data_type == gdal.GDT_Byte
    size, dtype = max(3, palette_size), np.uint8 if byte else np.uint16
    palette = Palette(np.array([((7 * i) % 256, (13 * i) % 256, (29 * i) % 256) for i in range(size)], dtype=np.uint8))
    values = np.array([[0, 1, size - 1], [size - 1 if nodata is None else nodata, 2, 0]], dtype=dtype)
    probe_grid = RasterGrid(3, 2, grid.geotransform if grid.has_geotransform else None, grid.wkt)
    with _probe_path(extension) as path:  # the answer says what went wrong
        writer = dataset = None
        try:
            writer = IndexedRasterWriter(path, driver_name, probe_grid, palette, data_type, nodata)
            writer.write((0, 0, 3, 2), values)
            writer.commit()
            writer.close()
            if not writer.has_colour_table:
                beside.append(True)
            dataset = gdal.Open(path)
            if dataset is None:
                return "GDAL cannot read back the rasters it writes in this format"
            if dataset.RasterCount != 1:
                return "it stores colours ({} bands), not class indices".format(dataset.RasterCount)
            written = dataset.GetRasterBand(1).ReadAsArray()
            if written is not None and written.shape == values.shape and np.array_equal(written[::-1].astype(np.float64),
                                                                                         values):
                return "it stores rows from north to south, and would turn this {} grid upside down".format(
                    "south-up" if grid.has_geotransform else "ungeoreferenced")
            if written is None or written.shape != values.shape or not np.array_equal(written.astype(np.float64), values):
                return "it does not keep the class indices of a {} raster".format(
                    "Byte" if byte else "UInt16 (over 256 colours, or 256 and nodata)")
            if grid.has_geotransform and not same_geotransform(dataset.GetGeoTransform(), grid.geotransform):
                return "it does not keep the {} grid's geotransform".format(
                    "rotated" if grid.is_rotated else "south-up" if grid.geotransform[5] > 0 else "input")
            if grid.gcps and dataset.GetGeoTransform(can_return_null=True) is not None:
                return ("it gives a raster a geotransform of its own (in pixels), which GDAL and QGIS would use instead "
                        "of the scan's ground control points")
            written_crs = dataset.GetSpatialRef() if grid.wkt and grid.has_geotransform else None
            corners = [(grid.geotransform[0] + grid.geotransform[1] * x + grid.geotransform[2] * y,
                        grid.geotransform[3] + grid.geotransform[4] * x + grid.geotransform[5] * y) for x, y in ((0, 0), (3, 2))]
            if written_crs is not None and not same_crs(written_crs, grid.wkt, corners):
                return "it writes the CRS {} as {}".format(crs_name(grid.wkt), crs_name(written_crs))
            return ""
        except HiddenClass as error:
            return error.reason
        except (WriteError, RuntimeError) as error:  # GDAL's reason, naming the test raster as such
            detail = re.sub(re.escape(os.path.dirname(path)) + r"[^\s,:]*", "a 3 x 2 test raster",
                            str(error).split(": ", 1)[-1].strip())
            return "GDAL cannot write a {} indexed raster in this format ({})".format(
                "Byte" if byte else "UInt16 (over 256 colours, or 256 and nodata)", detail)
        finally:
            if writer is not None:
                writer.discard()
            dataset = None


@contextlib.contextmanager
def _probe_path(extension):
    """A path for a 3 x 2 test raster in a folder of its own, removed afterwards, with GDAL's
    messages kept quiet meanwhile (a probe's answer says what went wrong)."""
    folder = tempfile.mkdtemp(prefix="palettize-probe-")
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        yield os.path.join(folder, "probe" + ("." + extension if extension else ""))
    finally:
        gdal.PopErrorHandler()
        shutil.rmtree(folder, ignore_errors=True)


_FORMAT_FILES = {}


def format_files(driver_name, path):
    """The files GDAL's ``driver_name`` writes for a raster at ``path`` (absolute), the raster first.
    Besides <path>.aux.xml, some formats write files named after the raster's name without its
    extension, which may be another raster's or an input's: EHdr's .hdr, .clr and .prj, an ERS
    raster's data (the name without .ers). Found once per format and extension by writing a small
    raster with a CRS and a colour table; a GeoTIFF writes none."""
    stem, extension = os.path.splitext(os.path.abspath(path))
    if driver_name == KNOWN_GOOD_DRIVER:
        return [stem + extension, stem + extension + ".aux.xml"]
    key = (driver_name, extension)
    suffixes = _FORMAT_FILES.get(key) or _probe_files(driver_name, extension)
    if suffixes is None:  # the probe failed (the run will say why): only the raster's own name, known
        return [stem + extension]
    _FORMAT_FILES[key] = suffixes
    return [stem + suffix for suffix in suffixes]


def _probe_files(driver_name, extension):
    """format_files of "probe<extension>" as the names' parts after "probe", the raster's first;
    None when the probe fails."""
    from ..palettes.palette import Palette

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    grid = RasterGrid(3, 2, (20.0, 0.1, 0.0, 60.0, 0.0, -0.1), srs.ExportToWkt())
    palette = Palette(np.array([(0, 0, 0), (255, 0, 0), (0, 0, 255)], dtype=np.uint8), ["a", "b", "c"])
    with _probe_path(extension.lstrip(".")) as path:
        writer = None
        try:
            writer = IndexedRasterWriter(path, driver_name, grid, palette, gdal.GDT_Byte, None)
            writer.write((0, 0, 3, 2), np.zeros((2, 3), dtype=np.uint8))
            writer.commit(np.array([6, 0, 0]))
            names = [os.path.basename(name) for name in writer.written]
        except (WriteError, RuntimeError):  # not kept: a probe that fails now (a full disk) may not next time
            return None
        finally:
            if writer is not None:
                writer.close()
    stem = os.path.splitext(os.path.basename(path))[0]
    return [extension] + [name[len(stem):] for name in names[1:] if name.startswith(stem)]


def own_nodata(driver_name, extension, data_type):
    """The nodata value GDAL's ``driver_name`` gives a raster of ``data_type`` that is given none
    (SAGA: the type's largest value; RMF: 0), or None; found once per driver and type by writing
    a 3 x 2 raster."""
    key = (driver_name, extension, data_type)
    if key not in _OWN_NODATA:
        _OWN_NODATA[key] = _probe_own_nodata(driver_name, extension, data_type)
    return _OWN_NODATA[key]


def _probe_own_nodata(driver_name, extension, data_type):
    if driver_name == KNOWN_GOOD_DRIVER:
        return None
    driver = gdal.GetDriverByName(driver_name)
    with _probe_path(extension) as path:
        dataset = None
        try:
            if driver.GetMetadataItem(gdal.DCAP_CREATE) == "YES":
                dataset = driver.Create(path, 3, 2, 1, data_type)
                if dataset is not None:  # a GeoPackage raster without one fails as it closes, where an
                    dataset.SetGeoTransform((0.0, 1.0, 0.0, 2.0, 0.0, -1.0))  # exception cannot be caught
            else:
                memory = gdal.GetDriverByName("MEM").Create("", 3, 2, 1, data_type)
                memory.SetGeoTransform((0.0, 1.0, 0.0, 2.0, 0.0, -1.0))
                dataset = driver.CreateCopy(path, memory)
                memory = None
            dataset = None
            dataset = gdal.Open(path)
            return None if dataset is None else dataset.GetRasterBand(1).GetNoDataValue()
        except RuntimeError:  # GDAL exceptions switched on by someone else in this process
            return None
        finally:
            dataset = None
