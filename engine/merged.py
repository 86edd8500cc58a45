"""Input colours that a palette merges into one entry: on a geological map, two units that come out
as one class without a word. QGIS-free.

Shares are counted on every pixel of a block the engine cut into runs of one colour as it mapped
it, or whose codes into a table of colours (a paletted map's, a styled layer's) come in runs,
where there are fewer runs than sample pixels: each run's colour once, with its length. Other
blocks (photographs, cleanups, large maps) are sampled (the same pixels however the raster is
cut into blocks): every pixel of rasters up to a quarter of a megapixel, and about that many on
larger ones, spread evenly over every row (see sample_positions), each sample standing for the
pixels it was picked among. That measures a 0.5% share to within a few hundredths of a percent
for milliseconds of sorting, where counting every pixel of a photograph per colour would cost as
much as the mapping itself.
"""

import functools
import math

import numpy as np

from .nearest import RGB_BITS, unpack_rgb
from .runs import RunFinder, value_totals

#: A colour counts as a unit of the map when it covers at least this share of the valid pixels.
MIN_SHARE = 0.005
#: Sample pixels at most.
MAX_SAMPLES = 1 << 18
#: Codes into a table of colours are cut into runs up to this sampling step (one sample in 8 x 8
#: pixels: rasters up to about 16 megapixels); beyond, the cut costs more than the samples.
EXACT_CODES_STEP = 8


def _count(positions, values):
    """How many sample pixels a block has: its ``positions`` (None: every one of ``values``)."""
    return np.size(values) if positions is None else len(positions)


def _mixed(numbers):
    """A well-mixed 64-bit hash of each of ``numbers`` (uint64; splitmix64's finalizer)."""
    mixed = (numbers + np.uint64(0x9E3779B97F4A7C15)) * np.uint64(0xBF58476D1CE4E5B9)
    mixed ^= mixed >> np.uint64(27)
    mixed *= np.uint64(0x94D049BB133111EB)
    return mixed ^ (mixed >> np.uint64(31))


@functools.lru_cache(maxsize=16)
def sample_positions(window, step):
    """Flat positions within ``window`` (a tuple) of the raster's sample pixels, one in step x step:
    each row of the raster is cut into spans of step x step pixels, and one pixel of each span,
    picked by a hash of its row and span, is a sample. A grid of every step-th row and column
    missed a map's lines on every other row, or counted them twice; picked so within every span of
    every row, a pattern that repeats along rows or columns is sampled in its share. Kept for the
    next run on a raster of the same size (an archive's sheets); picking the samples costs a
    6-megapixel run about 2 ms of CPU (0.4 ms a strip), against 0.1 ms for the grid's."""
    xoff, yoff, cols, rows = window
    span = step * step
    spans = np.arange(xoff // span, (xoff + cols - 1) // span + 1)  # those the window meets
    keys = (_mixed(np.arange(yoff, yoff + rows, dtype=np.uint64))[:, None] + spans.astype(np.uint64)[None, :])
    # Fibonacci hashing of (row, span): along a row, the places follow a golden-ratio sequence,
    # which spreads over a span evenly whatever repeats in the map.
    places = ((keys * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)) % np.uint64(span)
    columns = (spans * span - xoff)[None, :] + places.astype(np.int64)
    positions = (columns + (np.arange(rows) * cols)[:, None])[(columns >= 0) & (columns < cols)]
    positions.setflags(write=False)
    return positions


class MergedEntry:
    """One palette entry that several frequent input colours map to: ``colours`` are
    ((red, green, blue), share of the valid pixels) pairs, most frequent first."""

    def __init__(self, entry, colours):
        self.entry, self.colours = entry, colours

    def describe(self, palette):
        shown = ", ".join("#{:02x}{:02x}{:02x} ({:.2%})".format(r, g, b, share) for (r, g, b), share in self.colours)
        r, g, b = (int(v) for v in palette.colours[self.entry])
        label = palette.labels[self.entry] if palette.labels else ""
        return "{} {} become entry {} (#{:02x}{:02x}{:02x}{})".format(
            shown, "both" if len(self.colours) == 2 else "all", self.entry, r, g, b, ", " + label if label else "")


class MergedColourFinder:
    """Watches the blocks of a run (as an observer of engine.blocks.quantize_blocks) and finds the
    palette entries that several frequent colours share: each colour at the entry nearest to it,
    not at the ones a cleanup or dithering gives its pixels (the warning would blame the palette
    for what they did)."""

    needs_runs = False  # it counts the colour runs it is given, and samples the blocks given without

    def __init__(self, width, height, alpha_threshold, min_share=MIN_SHARE):
        """``alpha_threshold``: a pixel with a lower alpha is nodata and counts for no colour (0 for
        an output without nodata, every pixel of which gets a class)."""
        pixels = max(1, int(width) * int(height))
        self.step = max(1, int(math.ceil(math.sqrt(pixels / float(MAX_SAMPLES)))))
        self.lowest, self.min_share = np.uint32(int(alpha_threshold) << 24), min_share
        self._samples = []  # (distinct RGBA codes, pixels of each) of every block
        self._runs = RunFinder()

    def add(self, window, rgba, indices=None, runs=None):
        """Count a block: every pixel, a run at a time, when ``runs`` (runs.Runs, each of one
        colour, or None) are fewer than its sample pixels, which then cost more to sort; else
        its sample pixels (a 100-megapixel map with outlines: 70 ms of sorting runs a run)."""
        positions = self._positions(window)
        if runs is not None and runs.starts is not None and len(runs.starts) <= _count(positions, rgba):
            self._samples.append(value_totals(runs.firsts(np.asarray(rgba).ravel()), runs.lengths))
        else:
            self._add_samples(self._sample(rgba, positions))

    def add_codes(self, window, codes, colours, indices=None):
        """``add`` for a block given as codes into a table of colours (see blocks._quantize_codes):
        a paletted map's or a styled layer's codes, cut into runs here where there are few enough
        samples for runs to be worth cutting (rasters up to about 16 megapixels)."""
        positions, flat = self._positions(window), np.ravel(codes)
        runs = self._runs.find([flat], worth_it=min(0.5, _count(positions, flat) / max(flat.size, 1))) \
            if self.step <= EXACT_CODES_STEP else None
        if runs is None or runs.starts is None:
            self._add_samples(colours[self._sample(codes, positions)])
            return
        counts = np.bincount(runs.firsts(flat), weights=runs.lengths, minlength=len(colours))
        found = np.flatnonzero(counts)
        self._samples.append((colours[found], np.rint(counts[found]).astype(np.int64)))

    def _positions(self, window):
        return None if self.step == 1 else sample_positions(tuple(int(v) for v in window), self.step)

    @staticmethod
    def _sample(values, positions):
        values = np.asarray(values).ravel()
        return values if positions is None else np.take(values, positions)

    def _add_samples(self, rgba):
        # The samples' RGBA codes, nodata included: they are dropped at the end, which costs less
        # than picking the valid samples out of every block. Sorted here, in the engine's finishing
        # thread, so only the distinct codes wait for the end; where samples repeat along rows,
        # only the first sample of each run is sorted. Each stands for the step x step pixels of
        # its span (see sample_positions).
        runs = self._runs.find([rgba], worth_it=0.5)
        distinct, counts = value_totals(runs.firsts(rgba), runs.lengths)
        self._samples.append((distinct, counts * (self.step * self.step)))

    @property
    def samples(self):
        """What it sampled so far, for another finder of the same raster to ``take`` (a tile's)."""
        return list(self._samples)

    def take(self, samples):
        """Count the ``samples`` another finder of the same raster took: its sample pixels are this
        one's, so the tiles of a file together find what a run over the whole file finds."""
        self._samples.extend(samples)

    def merged(self, nearest):
        """The merged entries, most affected pixels first; ``nearest``: a function giving the palette
        entries nearest to colour codes (uint32 RGB), as the run's mapper finds them."""
        if not self._samples:
            return []
        codes, counts = (np.concatenate(parts) for parts in zip(*self._samples))
        valid = codes >= self.lowest
        colours, where = np.unique(codes[valid] & RGB_BITS, return_inverse=True)  # the colour without its alpha
        counts = np.bincount(where, weights=counts[valid], minlength=len(colours)).astype(np.int64)
        at, shares = frequent_colours(counts, self.min_share)
        return merged_entries(colours[at], shares, nearest(colours[at]))


def frequent_colours(counts, min_share=MIN_SHARE):
    """(positions, shares of the valid pixels) of the colours whose ``counts`` of valid pixels make
    at least ``min_share`` of them: the units of a map."""
    total = counts.sum()
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    shares = counts / float(total)
    at = np.flatnonzero(shares >= min_share)
    return at, shares[at]


def merged_entries(codes, shares, entries):
    """The palette entries that several of the colours ``codes`` (their ``shares`` of the valid
    pixels, each colour's palette entry in ``entries``) share: MergedEntry, most affected pixels first."""
    groups = {}
    for colour, share, entry in zip(unpack_rgb(codes).tolist(), shares.tolist(), np.asarray(entries).tolist()):
        groups.setdefault(int(entry), []).append((tuple(colour), float(share)))
    found = [MergedEntry(entry, sorted(colours, key=lambda c: -c[1]))
             for entry, colours in groups.items() if len(colours) > 1]
    return sorted(found, key=lambda m: -sum(share for _, share in m.colours))


def merged_in_histogram(codes, counts, entries, min_share=MIN_SHARE):
    """merged_entries of a histogram: distinct colour ``codes``, their ``counts`` of valid pixels and
    palette ``entries`` (every pixel counted: an extracted palette's scan)."""
    at, shares = frequent_colours(counts, min_share)
    return merged_entries(codes[at], shares, np.asarray(entries)[at])
