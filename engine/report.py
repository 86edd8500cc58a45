"""The run report: palette usage, areas, colour error and thumbnails, as one HTML file (QGIS-free).

``ReportCollector.add`` is called with every block the engine maps, so the report needs no second
read of the input. Its per-pixel work is kept to a few cheap numpy passes:

* Rendered maps hold long runs of one colour, so a block is first cut into runs of equal
  (RGBA code, palette index); everything else is done once per run, weighted by the run's length.
  When runs are short (photographs), every pixel is its own run.
* The colour error of a pixel is the CIE76 delta E between its colour and the palette entry it got,
  stored as a fixed-point integer (units of 2^-23) in a cache over the 2^24 RGB codes, next to the
  entry that value refers to. A code is converted to CIELAB once; a pixel whose index differs from
  the cached entry (dithering, cleanup) gets its value computed directly. Fixed-point values sum
  exactly in integers, so the result does not depend on how the raster is cut into blocks.
* A histogram of delta E in bins of 2^-10 gives the 95th percentile.
* Thumbnails sample the raster with one global stride s (thumbnail pixel (i, j) is raster pixel
  (i*s, j*s)), so blocks compose.

``write_report`` writes one self-contained HTML file. The swatch grid and the bar chart are HTML
(crisp, searchable, instant); the thumbnails and the error heat map are PNG images drawn with numpy
and embedded as base64 data URIs. Nothing here imports matplotlib: importing and drawing with it
takes about half a second, over a third of a whole 100-megapixel run.
"""

import base64
import html
import math
import struct
import zlib

import numpy as np

from ..palettes.palette import colour_count
from .colorspace import srgb_to_lab
from .nearest import RGB_BITS, distinct_codes, unpack_rgb
from .runs import RunFinder, bincount_runs

#: Delta E is kept as an integer number of 2^-FIXED_BITS (CIE76 delta E in sRGB stays below 260).
FIXED_BITS = 23
#: Histogram bins are 2^-BIN_BITS delta E wide.
BIN_BITS = 10
BIN_WIDTH = 2.0 ** -BIN_BITS
_FIXED_SCALE = float(1 << FIXED_BITS)
_CHUNK = 1 << 20  # colours converted to CIELAB at a time
_FEW_CODES = 4096  # more colours than this are made distinct before conversion
_TABLE_LIMIT = 1 << 22  # distinct colours x palette entries measured all at once
_PENDING_LIMIT = 1 << 20  # runs kept before they are counted


class ReportCollector:
    """Statistics and thumbnails of one quantization run, gathered block by block.

    ``palette``: the Palette the run maps to (None until ``set_palette`` when it is built from a
    scan); ``width``, ``height``: raster size in pixels;
    ``nodata``: the index value of pixels outside the palette (transparent input);
    ``thumbnail_size``: longest side of the thumbnails, in pixels.
    """

    def __init__(self, palette, width, height, nodata, thumbnail_size=400):
        self.width, self.height = int(width), int(height)
        self.nodata = int(nodata)
        if palette is not None:
            self.set_palette(palette)
        self._fixed_sum = 0  # Python int: exact whatever the raster size
        self._histogram = np.zeros(0, dtype=np.int64)
        self._pending, self._pending_runs = [], 0  # runs not counted yet: (entries, delta E, lengths)
        # Caches over all 2^24 RGB codes, allocated zeroed (pages cost memory only once touched):
        # the palette entry + 1 that the cached delta E refers to (0: not cached yet) and the value.
        self._entry = None
        self._delta_e = None
        self._run_finder = RunFinder()
        self._seen = None  # scratch bitmap over the 2^24 codes, for many new colours at once
        self.stride = max(1, int(math.ceil(max(self.width, self.height) / float(thumbnail_size))))
        shape = (-(-self.height // self.stride), -(-self.width // self.stride))
        self.thumbnail_rgba = np.zeros(shape, dtype=np.uint32)  # packed RGBA, transparent where unread
        self.thumbnail_indices = np.full(shape, self.nodata, dtype=np.uint32)
        self.thumbnail_delta_e = np.full(shape, np.nan, dtype=np.float32)  # NaN for nodata

    def set_palette(self, palette):
        """The palette, when it is only known after a scan (palette None at construction)."""
        self.palette_size = len(palette)
        self._palette_lab = srgb_to_lab(np.asarray(palette.colours, dtype=np.uint8))
        self._counts = np.zeros(self.palette_size, dtype=np.int64)

    # -- per block ---------------------------------------------------------------------------------

    def add(self, window, rgba, indices, runs=None):
        """Account for one mapped block: ``window`` = (xoff, yoff, cols, rows), ``rgba`` packed
        codes (rows x cols uint32), ``indices`` the palette indices written (nodata included);
        ``runs``: the block's runs (runs.Runs) along which both are constant, when known."""
        rgba_flat, indices_flat = np.ascontiguousarray(rgba).ravel(), np.ascontiguousarray(indices).ravel()
        if len(rgba_flat) != len(indices_flat):
            raise ValueError("rgba and indices must have the same shape")
        if runs is None:
            runs = self._run_finder.find([rgba_flat, indices_flat])
        self._add_statistics(rgba_flat, indices_flat, runs)
        self._add_thumbnails(window, np.asarray(rgba).reshape(window[3], window[2]),
                             np.asarray(indices).reshape(window[3], window[2]))

    def _add_statistics(self, rgba, indices, runs):
        if len(rgba) == 0:
            return
        codes, entries, lengths = runs.firsts(rgba), runs.firsts(indices), runs.lengths
        valid = entries != self.nodata
        if not valid.all():
            codes, entries = codes[valid], entries[valid]
            lengths = lengths[valid] if lengths is not None else None
        if len(codes) == 0:
            return
        entries = entries.astype(np.intp)
        if entries.max() >= self.palette_size:
            raise ValueError("palette index {} outside the palette of {} colours".format(
                int(entries.max()), self.palette_size))
        codes = codes & RGB_BITS
        fixed = self._fixed_delta_e(codes, entries)
        self._fixed_sum += int(np.dot(fixed.astype(np.int64), lengths) if lengths is not None
                               else fixed.sum(dtype=np.int64))
        if lengths is None:
            self._count(entries, fixed, None)
            return
        # Few runs per block: counted in batches, so the bincounts' tables are not set up per block.
        self._pending.append((entries, fixed, lengths))
        self._pending_runs += len(entries)
        if self._pending_runs >= _PENDING_LIMIT:
            self._flush()

    def _flush(self):
        if self._pending:
            entries, fixed, lengths = (np.concatenate(arrays) for arrays in zip(*self._pending))
            self._pending, self._pending_runs = [], 0
            self._count(entries, fixed, lengths)

    def _count(self, entries, fixed, lengths):
        self._counts += bincount_runs(entries, lengths, self.palette_size)
        histogram = bincount_runs(fixed >> (FIXED_BITS - BIN_BITS), lengths, 0)
        if len(histogram) > len(self._histogram):
            grown = np.zeros(len(histogram), dtype=np.int64)
            grown[:len(self._histogram)] = self._histogram
            self._histogram = grown
        self._histogram[:len(histogram)] += histogram

    def _fixed_delta_e(self, codes, entries):
        """Delta E (fixed point, uint32) of each code to its entry, through the cache."""
        if self._entry is None:
            self._entry = np.zeros(1 << 24, dtype=np.uint16)
            self._delta_e = np.zeros(1 << 24, dtype=np.uint32)
        wanted = (entries + 1).astype(np.uint16)
        cached = self._entry[codes]
        missed = np.flatnonzero(cached != wanted)
        if len(missed) == 0:
            return self._delta_e[codes]
        # Codes never seen: cache their value to one of the entries they got here.
        new = missed[cached[missed] == 0]
        if len(new):
            self._entry[codes[new]] = wanted[new]
            new_codes = self._distinct(codes[new])
            self._delta_e[new_codes] = self.delta_e_fixed(new_codes, self._entry[new_codes].astype(np.intp) - 1,
                                                          distinct=True)
            missed = missed[self._entry[codes[missed]] != wanted[missed]]
        fixed = self._delta_e[codes]
        if len(missed):  # index other than the cached one: computed directly
            fixed[missed] = self.delta_e_fixed(codes[missed], entries[missed])
        return fixed

    def _distinct(self, codes):
        """The distinct values of ``codes``, as the mapper finds them."""
        if self._seen is None:
            self._seen = np.zeros(1 << 24, dtype=bool)  # pages cost memory only once touched
        return distinct_codes(codes, self._seen)

    def delta_e_fixed(self, codes, entries, distinct=False):
        """CIE76 delta E between RGB codes and palette entries, in units of 2^-23 (uint32);
        ``distinct``: the codes are known to be all different."""
        result = np.empty(len(codes), dtype=np.uint32)
        for start in range(0, len(codes), _CHUNK):
            chunk, chunk_entries = codes[start:start + _CHUNK], entries[start:start + _CHUNK]
            done = slice(start, start + len(chunk))
            if distinct or len(chunk) <= _FEW_CODES:
                result[done] = _fixed_distance(srgb_to_lab(unpack_rgb(chunk)), self._palette_lab[chunk_entries])
                continue
            # Many pixels (dithered blocks) repeat few colours: each colour is converted once, and
            # when there are few enough, measured against every entry to look the pairs up.
            colours, inverse = np.unique(chunk, return_inverse=True)
            lab = srgb_to_lab(unpack_rgb(colours))
            if len(colours) * len(self._palette_lab) <= _TABLE_LIMIT:
                table = _fixed_distance(lab[:, None, :], self._palette_lab[None, :, :])
                result[done] = table[inverse, chunk_entries]
            else:
                result[done] = _fixed_distance(lab[inverse], self._palette_lab[chunk_entries])
        return result

    def _add_thumbnails(self, window, rgba, indices):
        rows_at, cols_at, sample_rgba, sample_indices = self._sample(window, rgba, indices)
        if sample_rgba.size == 0:
            return
        self.thumbnail_rgba[rows_at, cols_at] = sample_rgba
        self.thumbnail_indices[rows_at, cols_at] = sample_indices
        self.thumbnail_delta_e[rows_at, cols_at] = self._thumbnail_delta_e(sample_rgba, sample_indices)

    def _sample(self, window, *arrays):
        """(rows, cols) of the thumbnail a block covers, and the block's arrays sampled there."""
        xoff, yoff, cols, rows = window
        s = self.stride
        first_row, first_col = (-yoff) % s, (-xoff) % s
        samples = [array[first_row::s, first_col::s] for array in arrays]
        rows_at = slice((yoff + first_row) // s, (yoff + first_row) // s + samples[0].shape[0])
        cols_at = slice((xoff + first_col) // s, (xoff + first_col) // s + samples[0].shape[1])
        return [rows_at, cols_at] + samples

    def _thumbnail_delta_e(self, sample_rgba, sample_indices):
        delta_e = np.full(sample_indices.shape, np.nan, dtype=np.float32)
        valid = (sample_indices != self.nodata) & (sample_indices < self.palette_size)
        if valid.any():
            fixed = self._fixed_delta_e(sample_rgba[valid] & RGB_BITS, sample_indices[valid].astype(np.intp))
            delta_e[valid] = fixed / _FIXED_SCALE
        return delta_e

    # -- for palettes built from a scan, whose pixels have no indices while they are read ------------

    def add_thumbnail_sample(self, window, rgba):
        """Keep a block's thumbnail pixels before the palette exists (see index_thumbnails)."""
        rows_at, cols_at, sample_rgba = self._sample(window, np.asarray(rgba).reshape(window[3], window[2]))
        self.thumbnail_rgba[rows_at, cols_at] = sample_rgba

    def index_thumbnails(self, indices_of):
        """Give the kept thumbnail pixels their indices: ``indices_of(rgba)`` -> indices, nodata for
        transparent pixels."""
        self.thumbnail_indices = np.asarray(indices_of(self.thumbnail_rgba), dtype=np.uint32)
        self.thumbnail_delta_e = self._thumbnail_delta_e(self.thumbnail_rgba, self.thumbnail_indices)

    def add_histogram(self, codes, entries, counts):
        """Account for valid pixels given as a colour histogram: distinct RGB codes, the palette entry
        each one maps to, and how many pixels have it."""
        codes = np.asarray(codes, dtype=np.uint32) & RGB_BITS
        entries, counts = np.asarray(entries, dtype=np.intp), np.asarray(counts, dtype=np.int64)
        if len(codes) == 0:
            return
        fixed = self._fixed_delta_e(codes, entries)
        self._fixed_sum += int(np.dot(fixed.astype(np.int64), counts))
        self._count(entries, fixed, counts)

    # -- results -------------------------------------------------------------------------------------

    @property
    def counts(self):
        """Pixels per palette entry (int64, one per entry)."""
        self._flush()
        return self._counts.copy()

    @property
    def valid_pixels(self):
        """Pixels that got a palette index (not nodata)."""
        self._flush()
        return int(self._counts.sum())

    @property
    def delta_e_histogram(self):
        """Pixels per delta E bin; bin k holds [k, k + 1) * BIN_WIDTH."""
        self._flush()
        return self._histogram.copy()

    @property
    def mean_delta_e(self):
        """Mean CIE76 delta E of the valid pixels to their palette colour (None without pixels)."""
        valid = self.valid_pixels
        return self._fixed_sum / _FIXED_SCALE / valid if valid else None

    @property
    def p95_delta_e(self):
        """95th percentile of delta E (numpy.percentile's linear rule, to within one bin)."""
        return self.percentile_delta_e(95.0)

    def percentile_delta_e(self, q):
        """The q-th percentile of delta E over valid pixels, from the histogram (bin centres)."""
        self._flush()
        total = int(self._histogram.sum())
        if total == 0:
            return None
        rank = q / 100.0 * (total - 1)
        below, above = int(math.floor(rank)), int(math.ceil(rank))
        cumulative = np.cumsum(self._histogram)
        low, high = np.searchsorted(cumulative, [below, above], side="right")
        low_value, high_value = (low + 0.5) * BIN_WIDTH, (high + 0.5) * BIN_WIDTH
        return float(low_value + (rank - below) * (high_value - low_value))


def _fixed_distance(lab, other):
    """Euclidean distances between CIELAB colours (..., 3), in units of 2^-23 (uint32). The sum
    is spelled out so every pair gets the same rounding whatever the arrays' shapes."""
    d0, d1, d2 = (lab[..., k] - other[..., k] for k in range(3))
    return np.rint(np.sqrt(d0 * d0 + d1 * d1 + d2 * d2) * _FIXED_SCALE).astype(np.uint32)


# -- the HTML report -------------------------------------------------------------------------------

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 72em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
span.chip { display: inline-block; width: 1.4em; height: 1em; border: 1px solid #555;
            vertical-align: middle; margin-right: 0.4em; }
figure { margin: 0.8em 0; } figcaption { font-size: 0.85em; color: #555; margin-top: 0.3em; }
table.grid { border-collapse: separate; border-spacing: 3px; }
table.grid td { width: 2.6em; height: 2.1em; padding: 0; text-align: center; font-size: 0.75em;
                border: 3px solid transparent; }
table.grid td.used { border-color: #000; }
table.bars td { border: none; padding: 0.1em 0.4em; }
.bar { height: 1em; border: 1px solid #333; display: inline-block; vertical-align: middle; }
.side { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: flex-start; }
.scale { width: 200px; height: 0.8em; border: 1px solid #555; }
.ticks { width: 200px; display: flex; justify-content: space-between; font-size: 0.8em; }
.note { font-size: 0.85em; color: #555; }
"""
BAR_CHART_LIMIT = 50
HEAT_MAP_SIZE = 200  # longest side of the error heat map, pixels
# matplotlib's "inferno" colormap (CC0) at 17 evenly spaced points; interpolated in between.
_INFERNO = (0x000004, 0x0b0724, 0x210c4a, 0x3d0965, 0x57106e, 0x71196e, 0x8a226a, 0xa32c61, 0xbc3754,
            0xd24644, 0xe45a31, 0xf1731d, 0xf98e09, 0xfcac11, 0xf9cb35, 0xf2ea69, 0xfcffa4)


def write_report(path, collector, palette, pixel_area, area_unit, km2_factor=None, title="",
                 metric="rgb", extra_lines=(), merged=(), flip_rows=False, flip_cols=False):
    """Write the report of ``collector`` as one self-contained HTML file at ``path``.

    ``pixel_area``: area of one pixel in map units (e.g. 625.0 for 25 m pixels), ``area_unit``:
    its name (e.g. "m²"); ``km2_factor``: map-unit area -> km² (e.g. 1e-6 for m²), None when the
    CRS gives no such conversion (geographic degrees, unknown units); ``metric``: the distance the
    run used to choose entries; ``extra_lines``: plain-text lines about the run (input, palette…);
    ``merged``: engine.merged.MergedEntry list, palette entries that several frequent colours share;
    ``flip_rows``, ``flip_cols``: show the thumbnails' rows or columns in reverse, so that a south-up
    (or mirrored) grid is shown as on the map.
    """
    counts = collector.counts
    valid = collector.valid_pixels
    used = np.flatnonzero(counts)
    title = title or "Palettize report"
    mean, p95 = collector.mean_delta_e, collector.p95_delta_e
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>{}</title><style>{}</style></head><body>".format(html.escape(title), _STYLE),
        "<h1>{}</h1>".format(html.escape(title)),
        "<ul>",
    ]
    for line in extra_lines:
        out.append("<li>{}</li>".format(html.escape(str(line))))
    out.append('<li>Raster: {} × {} pixels, <span id="valid-pixels" data-value="{}">{:,}</span> with a '
               "palette colour, {:,} nodata.</li>".format(collector.width, collector.height, valid, valid,
                                                         collector.width * collector.height - valid))
    out.append("<li>Palette: {} ({}), {} used; entries chosen by {} distance.</li>".format(
        html.escape(palette.name or "unnamed"), colour_count(len(palette)), len(used),
        html.escape(_metric_name(metric))))
    out.append("</ul>")

    if merged:
        # how to keep them apart depends on the run (a palette built from the image, NODATA_INDEX): its log says
        out.append('<h2>Merged colours</h2><p class="note">Frequent colours of the input that became one '
                   "palette entry; the run's log says how to keep them apart.</p>")
        out.append('<ul id="merged">')
        for entry in merged:
            out.append('<li data-entry="{}">{}</li>'.format(entry.entry, html.escape(entry.describe(palette))))
        out.append("</ul>")

    out.append("<h2>Palette</h2>")
    out.extend(_swatches(palette, counts))

    out.append("<h2>Entries used</h2>")
    out.extend(_entries_table(palette, counts, valid, pixel_area, area_unit, km2_factor))

    out.append("<h2>Shares</h2>")
    out.extend(_share_bars(palette, counts, valid))

    out.append("<h2>Original and quantized</h2>")
    view = (slice(None, None, -1 if flip_rows else 1), slice(None, None, -1 if flip_cols else 1))
    s = collector.stride
    out.append('<div class="side" id="thumbnails" data-stride="{}">'.format(s))
    out.append("<figure>{}<figcaption>Original</figcaption></figure>".format(
        _img(_checkerboard_under(_unpack_rgba(collector.thumbnail_rgba[view])), "original")))
    out.append("<figure>{}<figcaption>Quantized</figcaption></figure>".format(
        _img(_checkerboard_under(_indexed_rgba(collector.thumbnail_indices[view], palette, collector.nodata)),
             "quantized")))
    out.append("</div>")
    out.append('<p class="note">{}; checkerboard: transparent or nodata.</p>'.format(
        "One pixel in {0} × {0}".format(s) if s > 1 else "Every pixel"))

    out.append("<h2>Colour error</h2>")
    if mean is None:
        out.append('<p class="note">No pixel got a palette colour.</p>')
    else:
        out.append('<p>CIE76 ΔE (Euclidean distance in CIELAB) between each pixel\'s colour and the palette '
                   'colour it got: mean <span id="mean-delta-e" data-value="{!r}">{:.2f}</span>, '
                   '95th percentile <span id="p95-delta-e" data-value="{!r}">{:.2f}</span> '
                   "(about 2.3 is just noticeable).</p>".format(mean, mean, p95, p95))
        out.extend(_heat_map(collector.thumbnail_delta_e[view]))
    out.append("</body></html>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def area_units(wkt):
    """(name of the area unit, factor to km² or None) of a grid's CRS (WKT, '' for none): the
    squared linear unit of a projected CRS, square degrees without km² for a geographic one, map
    units (of the geotransform; pixels where there is none) without a CRS."""
    from osgeo import osr

    srs = osr.SpatialReference()
    try:
        known = bool(wkt) and srs.ImportFromWkt(wkt) == 0
    except RuntimeError:  # osr exceptions switched on elsewhere in this process
        known = False
    if not known:
        return "map units²", None
    if srs.IsGeographic():
        return "deg²", None
    metres = srs.GetLinearUnits() or 1.0
    name = (srs.GetLinearUnitsName() or "").lower()
    if abs(metres - 1.0) < 1e-12:
        unit = "m"
    elif abs(metres - 1000.0) < 1e-9:
        unit = "km"
    elif "foot" in name or "feet" in name:
        unit = "ft"
    else:
        unit = name or "unit"
    return unit + "²", metres * metres / 1e6


def _metric_name(metric):
    from .metrics import REGISTRY

    return REGISTRY[metric].title if metric in REGISTRY else str(metric)


def _hex(colour):
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in colour))


def _text_colour(colour):
    """Black or white, whichever reads better on ``colour``."""
    red, green, blue = (int(c) for c in colour)
    return "#000" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 140 else "#fff"


def _faded(colours):
    """Unused entries' colours: a quarter of the colour on white."""
    return np.rint(0.25 * np.asarray(colours, dtype=np.float64) + 0.75 * 255.0).astype(np.uint8)


def _label(palette, index):
    """The entry's label, empty when the palette has none."""
    return palette.labels[index] if palette.labels else ""


def _swatches(palette, counts):
    """The palette as a grid (16 columns, like the seed notebook's appendix) of numbered swatches;
    used entries framed, unused faded. Palettes over 256 colours: one image, a cell per entry."""
    n, used = len(palette), counts > 0
    out = ['<figure id="swatches" data-swatches="{}" data-used="{}">'.format(n, int(used.sum()))]
    if n <= 256:
        out.append('<table class="grid">')
        for i, colour in enumerate(palette.colours):
            if i % 16 == 0:
                out.append("<tr>")
            shown = colour if used[i] else _faded(colour)
            out.append('<td class="{}" data-index="{}" title="{}" style="background:{};color:{}">{}</td>'.format(
                "used" if used[i] else "unused", i, html.escape(" ".join(filter(None, (str(i), _label(palette, i))))),
                _hex(shown), _text_colour(colour) if used[i] else "#999", i))
            if i % 16 == 15 or i == n - 1:
                out.append("</tr>")
        out.append("</table>")
    else:
        columns = int(math.ceil(math.sqrt(n)))
        rows = -(-n // columns)
        cell = max(2, 512 // columns)
        colours = np.full((rows * columns, 3), 255.0)
        colours[:n] = np.where(used[:, None], palette.colours, _faded(palette.colours))
        grid = np.rint(colours).astype(np.uint8).reshape(rows, columns, 3)
        image = np.repeat(np.repeat(grid, cell, axis=0), cell, axis=1)
        out.append(_img(image, "palette swatches"))
    out.append("<figcaption>The {} palette entries by index{}; framed entries are used, faded ones are "
               "not.</figcaption></figure>".format(n, "" if n <= 256 else ", row by row"))
    return out


def _entries_table(palette, counts, valid, pixel_area, area_unit, km2_factor):
    unit = html.escape(area_unit)
    head = ["Index", "Colour", "Label", "Pixels", "Area ({})".format(unit)]
    if km2_factor is not None:
        head.append("Area (km²)")
    head.append("Share (%)")
    rows = ['<table id="entries" data-pixel-area="{!r}" data-area-unit="{}">'.format(float(pixel_area), unit),
            "<thead><tr>{}</tr></thead><tbody>".format("".join("<th>{}</th>".format(h) for h in head))]
    for index in np.flatnonzero(counts):
        count = int(counts[index])
        area = count * float(pixel_area)
        share = 100.0 * count / valid
        colour = _hex(palette.colours[index])
        attributes = 'data-index="{}" data-pixels="{}" data-area="{!r}" data-share="{!r}"'.format(
            index, count, area, share)
        cells = [
            '<td class="num">{}</td>'.format(index),
            '<td><span class="chip" style="background:{0}"></span>{0}</td>'.format(colour),
            "<td>{}</td>".format(html.escape(_label(palette, index))),
            '<td class="num">{:,}</td>'.format(count),
            '<td class="num">{}</td>'.format(_number(area)),
        ]
        if km2_factor is not None:
            km2 = area * km2_factor
            attributes += ' data-km2="{!r}"'.format(km2)
            cells.append('<td class="num">{}</td>'.format(_number(km2)))
        cells.append('<td class="num">{}</td>'.format("{:.2f}".format(share) if share >= 0.005 else "&lt; 0.01"))
        rows.append("<tr {}>{}</tr>".format(attributes, "".join(cells)))
    rows.append("</tbody></table>")
    return rows


def _number(value):
    """Readable area: thousands separators, 4 significant digits for small values."""
    if value == 0 or abs(value) >= 100:
        return "{:,.0f}".format(value)
    return "{:.4g}".format(value)


def _share_bars(palette, counts, valid):
    """Horizontal bars of the entries' shares, largest first (the BAR_CHART_LIMIT largest)."""
    used = np.flatnonzero(counts)
    if len(used) == 0:
        return ['<p class="note">No pixel got a palette colour.</p>']
    order = used[np.argsort(-counts[used], kind="stable")][:BAR_CHART_LIMIT]
    largest = 100.0 * counts[order[0]] / valid
    out = ['<figure id="shares"><table class="bars">']
    for index in order:
        share = 100.0 * counts[index] / valid
        out.append('<tr><td class="num">{}</td><td>{}</td><td style="width:30em"><span class="bar" '
                   'style="width:{:.2f}%;background:{}"></span> {} %</td></tr>'.format(
                       index, html.escape(_label(palette, index)),
                       80.0 * share / largest, _hex(palette.colours[index]),
                       "{:.1f}".format(share) if share >= 0.1 else "{:.2g}".format(share)))
    out.append("</table><figcaption>Share of the valid pixels per entry, largest first{}.</figcaption>"
               "</figure>".format("" if len(order) == len(used) else
                                  " (the {} largest of {})".format(len(order), len(used))))
    return out


def _heat_map(delta_e):
    """A small image of the thumbnails' delta E (the largest value of each cell when shrunk),
    coloured with inferno, with its colour scale."""
    factor = max(1, int(math.ceil(max(delta_e.shape) / float(HEAT_MAP_SIZE))))
    if factor > 1:
        rows, cols = (-(-size // factor) * factor for size in delta_e.shape)
        padded = np.full((rows, cols), np.nan, dtype=np.float32)
        padded[:delta_e.shape[0], :delta_e.shape[1]] = delta_e
        blocks = padded.reshape(rows // factor, factor, cols // factor, factor)
        delta_e = np.fmax.reduce(np.fmax.reduce(blocks, axis=3), axis=1)
    finite = np.isfinite(delta_e)
    top = float(delta_e[finite].max()) if finite.any() else 0.0
    top = top if top > 0 else 1.0
    lut = _colormap_lut()
    levels = np.clip(np.rint(np.where(finite, delta_e, 0.0) / top * 255.0), 0, 255).astype(np.intp)
    rgba = np.zeros(delta_e.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = lut[levels]
    rgba[..., 3] = np.where(finite, 255, 0)
    stops = ", ".join(_hex(lut[int(round(i * 255 / 8.0))]) for i in range(9))
    return [
        '<figure id="error-map" data-max="{!r}">{}'.format(top, _img(_checkerboard_under(rgba), "colour error")),
        '<div class="scale" style="background:linear-gradient(to right, {})"></div>'.format(stops),
        '<div class="ticks"><span>0</span><span>{:.1f}</span><span>{:.1f}</span></div>'.format(top / 2, top),
        "<figcaption>ΔE of the thumbnail pixels{}.</figcaption></figure>".format(
            " (the largest of each {0} × {0} of them)".format(factor) if factor > 1 else ""),
    ]


def _colormap_lut():
    """256 x 3 uint8: the inferno anchors interpolated linearly."""
    anchors = np.array([[(c >> 16) & 255, (c >> 8) & 255, c & 255] for c in _INFERNO], dtype=np.float64)
    positions = np.linspace(0.0, 1.0, len(anchors))
    levels = np.linspace(0.0, 1.0, 256)
    return np.rint(np.stack([np.interp(levels, positions, anchors[:, k]) for k in range(3)], axis=1)).astype(np.uint8)


# -- images ----------------------------------------------------------------------------------------

def _img(image, alt):
    return '<img alt="{}" src="data:image/png;base64,{}">'.format(
        alt, base64.b64encode(png_bytes(image)).decode("ascii"))


def png_bytes(image):
    """A PNG file (bytes) of a rows x cols x 3 (RGB) or x 4 (RGBA) uint8 image."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    rows, cols, channels = image.shape
    scanlines = np.zeros((rows, 1 + cols * channels), dtype=np.uint8)  # filter byte 0: none
    scanlines[:, 1:] = image.reshape(rows, cols * channels)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", cols, rows, 8, 6 if channels == 4 else 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 1))
            + chunk(b"IEND", b""))


def _unpack_rgba(codes):
    return np.ascontiguousarray(codes, dtype=np.uint32).view(np.uint8).reshape(codes.shape + (4,))


def _indexed_rgba(indices, palette, nodata):
    colours = np.zeros((len(palette) + 1, 4), dtype=np.uint8)
    colours[:-1, :3] = palette.colours
    colours[:-1, 3] = 255
    lookup = np.where((indices == nodata) | (indices >= len(palette)), len(palette), indices)
    return colours[lookup]


def _checkerboard_under(rgba, cell=8):
    """RGB: the image composited over a light grey checkerboard (integer arithmetic, rounded)."""
    rows, cols = rgba.shape[:2]
    checks = (np.arange(rows)[:, None] // cell + np.arange(cols)[None, :] // cell) % 2
    board = np.where(checks == 0, 255, 214).astype(np.uint16)[..., None]
    alpha = rgba[..., 3:4].astype(np.uint16)
    mixed = rgba[..., :3] * alpha + board * (255 - alpha) + 127  # at most 65152: fits uint16
    return ((mixed + 1 + (mixed >> 8)) >> 8).astype(np.uint8)  # mixed // 255, exactly below 65535