"""GDAL reading and writing for the engine (QGIS-free): windows of a grid, RGBA blocks from raw
bands, and the indexed raster with its colour table and attribute table.

Sources read windows of a raster's pixel grid as packed RGBA codes (uint32, see
nearest.pack_rgba): one array per block, alpha 0 where a pixel is transparent or nodata. The
writer puts index blocks into a raster in a private temporary folder and moves it into place
only when complete.
"""

import os
import shutil
import tempfile

import numpy as np
from osgeo import gdal

from ..palettes.formats import write_palette_csv
from .nearest import pack_rgba


#: Pixels per block: a few megapixels keep memory flat and numpy efficient.
BLOCK_PIXELS = 1 << 23
#: Wider rasters are cut into columns too; 512 rows of this width still fit in a block.
MAX_STRIP_WIDTH = 1 << 14
TILE = 512
GTIFF_OPTIONS = ["TILED=YES", "BLOCKXSIZE=%d" % TILE, "BLOCKYSIZE=%d" % TILE, "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER", "NUM_THREADS=ALL_CPUS"]


def state_error_mode():
    """Say GDAL's error mode out loud, keeping the one in force (the engine works with return codes
    and with exceptions): GDAL 3.9 and later print a FutureWarning on stderr in a process where no
    one has. Only for processes that are ours alone (the command line, Dask workers' tasks): never
    in QGIS's, whose mode is QGIS's."""
    if gdal.GetUseExceptions():
        gdal.UseExceptions()
    else:
        gdal.DontUseExceptions()


class SourceError(Exception):
    """A layer or band that cannot be read as asked; the message says what to change."""


class RasterGrid:
    """Size, geotransform (rotation terms included) and CRS (WKT, '' for none) of a raster."""

    def __init__(self, width, height, geotransform, wkt):
        self.width, self.height = width, height
        self.geotransform = tuple(geotransform)
        self.wkt = wkt

    @classmethod
    def of_dataset(cls, dataset):
        """The grid of an open GDAL dataset."""
        return cls(dataset.RasterXSize, dataset.RasterYSize, dataset.GetGeoTransform(),
                   dataset.GetProjectionRef() or "")

    @property
    def is_rotated(self):
        return self.geotransform[2] != 0 or self.geotransform[4] != 0


def iter_windows(width, height, block_pixels=None, full_rows=False):
    """(xoff, yoff, xsize, ysize) windows covering the grid: strips of whole output tile rows,
    cut into columns when the raster is very wide (unless ``full_rows``), in raster order."""
    block_pixels = block_pixels or BLOCK_PIXELS
    cols = width if full_rows else min(width, MAX_STRIP_WIDTH)
    rows = max(1, min(height, block_pixels // cols))
    if rows > TILE:
        rows -= rows % TILE
    for yoff in range(0, height, rows):
        for xoff in range(0, width, cols):
            yield xoff, yoff, min(cols, width - xoff), min(rows, height - yoff)


def _to_bytes(values):
    """Raw band values as 0-255 bytes (clipped, rounded); also whether any value was clipped."""
    if values.dtype == np.uint8:
        return values, False
    clipped = bool((values < 0).any() or (values > 255).any())
    return np.rint(np.clip(values, 0, 255)).astype(np.uint8), clipped


_RGB = np.uint32(0xFFFFFF)
_OPAQUE = np.uint32(0xFF000000)


class BandSource:
    """Values of three bands, read with GDAL; alpha from an alpha band, else (``use_masks``) the
    dataset's masks, and 0 where a band holds its ``nodata`` value. ``opaque``: no pixel can be
    transparent (Byte bands without alpha band, mask or nodata)."""

    reads_in_background = True  # only GDAL calls: safe in another thread

    def __init__(self, path, bands, alpha_band=None, nodata=None, use_masks=True):
        self.dataset = open_for_strip_reads(path)
        self.bands, self.alpha_band, self.nodata = list(bands), alpha_band, nodata
        used = self.bands + ([alpha_band] if alpha_band else [])
        # All-Byte bands are read in one call straight into RGBA byte order: the fast path.
        self._interleaved = all(self.dataset.GetRasterBand(b).DataType == gdal.GDT_Byte for b in used)
        masks = {}
        if use_masks and not alpha_band:
            for band in (self.dataset.GetRasterBand(b) for b in self.bands):
                flags = band.GetMaskFlags()
                if flags != gdal.GMF_ALL_VALID:
                    masks.setdefault("dataset" if flags & gdal.GMF_PER_DATASET else id(band), band.GetMaskBand())
        self.masks = list(masks.values())
        self.opaque = self._interleaved and not (alpha_band or self.masks or nodata)
        self.clipped = False
        self.description = "bands {} (red, green, blue){}".format(
            ", ".join(str(b) for b in self.bands),
            ", alpha band {}".format(alpha_band) if alpha_band else ", mask" if self.masks else "",
        )

    def read(self, window):
        xoff, yoff, width, height = window
        if self._interleaved:
            order = self.bands + [self.alpha_band or self.bands[0]]
            raw = self.dataset.ReadRaster(xoff, yoff, width, height, band_list=order,
                                          buf_pixel_space=4, buf_line_space=4 * width, buf_band_space=1)
            self.dataset.FlushCache()  # GDAL would otherwise keep every block read so far
            rgba = np.frombuffer(raw, dtype="<u4").reshape(height, width)
            if not self.alpha_band:
                rgba = rgba | _OPAQUE
        else:
            channels = [self._read(self.dataset.GetRasterBand(b), window)
                        for b in self.bands + ([self.alpha_band] if self.alpha_band else [])]
            rgba = pack_rgba(*channels)
        if self.masks:
            alpha = self._read(self.masks[0], window)
            for mask in self.masks[1:]:
                alpha = np.minimum(alpha, self._read(mask, window))
            rgba = (rgba & _RGB) | (alpha.astype(np.uint32) << 24)
        if self.nodata:
            transparent = np.zeros(rgba.shape, dtype=bool)
            for shift, value in zip((0, 8, 16), self.nodata):
                if value is not None:
                    transparent |= ((rgba >> shift) & 255) == value
            rgba = np.where(transparent, rgba & _RGB, rgba)
        return rgba

    def _read(self, band, window):
        values, clipped = _to_bytes(band.ReadAsArray(*window))
        self.clipped |= clipped
        return values

    def close(self):
        self.dataset = self.masks = None


def open_for_strip_reads(path):
    """The GDAL dataset at ``path``, opened so that an uncompressed GeoTIFF is read straight from
    the file, past GDAL's block cache (GTIFF_DIRECT_IO, set for this thread only): about twice
    as fast for reads of whole strips, and ignored for compressed files and other formats."""
    get_local = getattr(gdal, "GetThreadLocalConfigOption", None)
    if get_local is None:  # bindings of an older GDAL: reads go through the block cache
        return gdal.Open(path)
    previous = get_local("GTIFF_DIRECT_IO", None)
    gdal.SetThreadLocalConfigOption("GTIFF_DIRECT_IO", "YES")
    try:
        return gdal.Open(path)
    finally:
        gdal.SetThreadLocalConfigOption("GTIFF_DIRECT_IO", previous)


def attribute_table(palette, counts):
    """GDAL raster attribute table: value, red, green, blue, label, count per palette entry."""
    table = gdal.RasterAttributeTable()
    for name, kind, usage in (("value", gdal.GFT_Integer, gdal.GFU_MinMax), ("red", gdal.GFT_Integer, gdal.GFU_Red),
                              ("green", gdal.GFT_Integer, gdal.GFU_Green), ("blue", gdal.GFT_Integer, gdal.GFU_Blue),
                              ("label", gdal.GFT_String, gdal.GFU_Name), ("count", gdal.GFT_Real, gdal.GFU_PixelCount)):
        table.CreateColumn(name, kind, usage)
    table.SetRowCount(len(palette))
    columns = (np.arange(len(palette)),) + tuple(palette.colours.T.astype(np.int32))
    for column, values in enumerate(columns):  # whole columns at once: a 256-entry table in 1 ms, not 5
        table.WriteArray(values, column)
    for index in range(len(palette)):
        table.SetValueAsString(index, 4, palette.label(index))  # any text, not only ASCII
    table.WriteArray(np.asarray(counts[:len(palette)], dtype=np.float64), 5)
    return table


class IndexedRasterWriter:
    """Writes a single-band indexed raster with a colour table and nodata, all or nothing.

    Everything is written in a temporary folder beside the output and moved into place by
    ``commit()``; ``discard()`` (or leaving a ``with`` block by an exception) removes it.
    Drivers that cannot create rasters block by block (e.g. XYZ) get a GeoTIFF copy at the end.
    """

    def __init__(self, path, driver_name, grid, palette, data_type, nodata):
        self.path, self.palette = os.path.abspath(path), palette
        folder = os.path.dirname(self.path)
        os.makedirs(folder, exist_ok=True)
        self._tmpdir = tempfile.mkdtemp(prefix=".palettize-", dir=folder)
        self._driver = gdal.GetDriverByName(driver_name)
        direct = self._driver.GetMetadataItem(gdal.DCAP_CREATE) == "YES"
        name = os.path.basename(self.path)
        self._final = os.path.join(self._tmpdir, name)
        self._work = self._final if direct else os.path.join(self._tmpdir, "work.tif")
        driver = self._driver if direct else gdal.GetDriverByName("GTiff")
        options = GTIFF_OPTIONS if driver.ShortName == "GTiff" else []
        self._dataset = driver.Create(self._work, grid.width, grid.height, 1, data_type, options)
        if self._dataset is None:
            raise OSError("GDAL could not create {}: {}".format(self.path, gdal.GetLastErrorMsg()))
        self._dataset.SetGeoTransform(grid.geotransform)
        if grid.wkt:
            self._dataset.SetProjection(grid.wkt)
        self._band = self._dataset.GetRasterBand(1)
        if nodata is not None:
            self._band.SetNoDataValue(nodata)
        table = gdal.ColorTable()
        for index, (r, g, b) in enumerate(palette.colours.tolist()):
            table.SetColorEntry(index, (r, g, b, 255))
        self._band.SetRasterColorTable(table)
        self._band.SetRasterColorInterpretation(gdal.GCI_PaletteIndex)
        self.has_colour_table = True

    def write(self, window, indices):
        self._band.WriteArray(indices, window[0], window[1])
        self._band.FlushCache()  # keeps GDAL's block cache from growing with the raster

    def commit(self, counts=None):
        """Finish the raster (with a raster attribute table when ``counts`` per entry are given)
        and move it and any side files into place."""
        if counts is not None:
            self._band.SetDefaultRAT(attribute_table(self.palette, counts))
        self._dataset.FlushCache()
        self._band = None
        if self._work != self._final:
            copy = self._driver.CreateCopy(self._final, self._dataset)
            if copy is None:
                raise OSError("GDAL could not write {}: {}".format(self.path, gdal.GetLastErrorMsg()))
            copy = None
        self._dataset = None
        if self._work != self._final:
            gdal.GetDriverByName("GTiff").Delete(self._work)
        check = gdal.Open(self._final)
        self.has_colour_table = check is not None and check.GetRasterBand(1).GetColorTable() is not None
        check = None
        if not self.has_colour_table:
            write_palette_csv(self.palette, self._final + ".palette.csv")
        names = sorted(os.listdir(self._tmpdir), key=lambda name: (name != os.path.basename(self.path), name))
        for name in names:
            os.replace(os.path.join(self._tmpdir, name), os.path.join(os.path.dirname(self.path), name))
        os.rmdir(self._tmpdir)
        #: Every file put in place: the raster first, then its side files (.aux.xml, .palette.csv, ...).
        self.written = [os.path.join(os.path.dirname(self.path), name) for name in names]

    def discard(self):
        self._band = self._dataset = None
        shutil.rmtree(self._tmpdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.discard()
        return False
