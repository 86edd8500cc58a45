"""Input colours that a palette merges into one entry: on a geological map, two units that come out
as one class without a word. QGIS-free.

Shares are counted on every pixel of rasters of up to about 16 megapixels whose blocks all come
cut into runs of one colour (as the engine maps them) or of one code into a table of colours (a
paletted map's, a styled layer's): each run's colour once, with its length. Other rasters
(photographs, cleanups, large maps) are sampled (the same pixels however the raster is cut into
blocks): every pixel of rasters up to a quarter of a megapixel, and about that many on
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
#: Rasters up to this sampling step (one sample in 8 x 8 pixels: up to about 16 megapixels) are
#: counted from their runs; larger ones are sampled: counting the runs of the 100-megapixel
#: provinces map (outlines: 1.5% of its pixels start a run) cost 70 ms a run.
EXACT_STEP = 8


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
        label = palette.shown_label(self.entry)
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
        self._samples = []  # (distinct RGBA codes, pixels each stands for) of the sample pixels of every block
        # While every block so far came in countable runs: the runs of each block (window, lengths,
        # colour codes), totalled per colour at the end (see merged: while GDAL compresses the last
        # blocks, not in the thread that maps them), or sampled if a later block cannot be counted:
        # then the samples speak for every block, whatever the cut.
        self._counted_runs = []
        self._runs = RunFinder()

    def add(self, window, rgba, indices=None, runs=None):
        """Count a block: every pixel, a run at a time, given ``runs`` (runs.Runs, each of one
        colour, or None) of a raster of up to EXACT_STEP; else its sample pixels."""
        values = np.asarray(rgba).ravel()
        if self._counting() and runs is not None and runs.starts is not None:
            self._count_runs(window, runs.lengths, runs.firsts(values))
        else:
            self._sample_every_block()
            self._add_samples(self._sample(values, self._positions(window)))

    def add_codes(self, window, codes, colours, indices=None):
        """``add`` for a block given as codes into a table of colours (see blocks._quantize_codes):
        a paletted map's or a styled layer's codes, cut into runs here."""
        flat = np.ravel(codes)
        runs = self._runs.find([flat]) if self._counting() else None
        if runs is None or runs.starts is None:
            self._sample_every_block()
            self._add_samples(colours[self._sample(codes, self._positions(window))])
        else:
            self._count_runs(window, runs.lengths, colours[runs.firsts(flat)])

    def _counting(self):
        """Whether blocks are still counted from their runs (see _sample_every_block)."""
        return self._counted_runs is not None and self.step <= EXACT_STEP

    def _count_runs(self, window, lengths, firsts):
        self._counted_runs.append((window, lengths, firsts))

    def _sample_every_block(self):
        """Measure every block on its sample pixels from now on, the blocks counted so far too
        (their samples read off their runs): a raster too large to count, or one with a block
        that came without runs (a photograph's), is measured on the same pixels whatever the
        blocks. (Whether a block comes in runs can depend on the cut only where half its pixels
        or more start one.)"""
        for window, lengths, firsts in self._counted_runs or ():
            starts = np.cumsum(lengths) - lengths
            positions = self._positions(window)
            positions = np.arange(window[2] * window[3]) if positions is None else positions
            self._add_samples(firsts[np.searchsorted(starts, positions, side="right") - 1])
        self._counted_runs = None

    def _positions(self, window):
        return None if self.step == 1 else sample_positions(tuple(int(v) for v in window), self.step)

    @staticmethod
    def _sample(values, positions):
        values = np.asarray(values).ravel()
        return values if positions is None else np.take(values, positions)

    def _add_samples(self, rgba):
        # The samples' RGBA codes, nodata included: they are dropped at the end, which costs less
        # than picking the valid samples out of every block. Sorted here, block by block while GDAL
        # writes the blocks before, so only the distinct codes wait for the end; where samples
        # repeat along rows, only the first sample of each run is sorted. Each stands for the
        # step x step pixels of its span (see sample_positions).
        runs = self._runs.find([rgba], worth_it=0.5)
        distinct, counts = value_totals(runs.firsts(rgba), runs.lengths)
        self._samples.append((distinct, counts * (self.step * self.step)))

    @property
    def samples(self):
        """What it sampled, for another finder of the same raster to ``take`` (a tile's): the
        sample pixels of every block (those it counted too), so the tiles of a file are measured
        alike."""
        self._sample_every_block()
        return list(self._samples)

    def take(self, samples):
        """Count the ``samples`` another finder of the same raster took: its sample pixels are this
        one's, so the tiles of a file together find what a run over the whole file finds."""
        self._sample_every_block()
        self._samples.extend(samples)

    def merged(self, nearest):
        """The merged entries, most affected pixels first; ``nearest``: a function giving the palette
        entries nearest to colour codes (uint32 RGB), as the run's mapper finds them."""
        if not (self._samples if self._counted_runs is None else self._counted_runs):
            return []
        heavy, total = _heavy_buckets(self._valid_parts(), self.min_share)
        candidates = [(codes[at], counts[at]) for codes, counts in self._valid_parts() for at in [heavy[_bucket(codes)]]]
        colours, counts = value_totals(*(np.concatenate(column) for column in zip(*candidates)))
        at, shares = frequent_colours(counts, self.min_share, total)
        return merged_entries(colours[at], shares, nearest(colours[at]))

    def _valid_parts(self):
        """(colour codes without their alpha, pixels each) of the opaque enough pixels, block by
        block, made afresh at each call: a 16-megapixel sheet of short runs holds millions of them."""
        parts = self._samples if self._counted_runs is None else (
            (firsts, lengths) for _window, lengths, firsts in self._counted_runs)
        for codes, counts in parts:
            if self.lowest:
                valid = codes >= self.lowest
                codes, counts = codes[valid], counts[valid]
            yield codes & RGB_BITS, counts


#: Buckets of colours a frequent colour is first looked for in (see _heavy_buckets).
_BUCKET_BITS = 16


def _bucket(codes):
    """The bucket of each 24-bit colour code (Fibonacci hashing: neighbouring colours, a map's
    anti-aliased blends, fall in different buckets)."""
    return (codes.astype(np.uint32) * np.uint32(0x9E3779B1)) >> np.uint32(32 - _BUCKET_BITS)


def _heavy_buckets(parts, min_share):
    """(flags of the buckets holding at least ``min_share`` of the pixels, the pixels) of ``parts``
    of (24-bit colour codes, pixels each): a colour holds no more pixels than its bucket,
    so only the colours of these buckets can be frequent ones. On a map they are a quarter of its
    runs: the many blends along its edges are sorted no more (a 6-megapixel sheet's check took 2.7 ms,
    at the end of its run)."""
    pixels = np.zeros(1 << _BUCKET_BITS)
    for codes, counts in parts:
        pixels += np.bincount(_bucket(codes), weights=counts, minlength=len(pixels))
    total = int(round(pixels.sum()))  # float sums of whole numbers below 2^53: exact
    return pixels / max(total, 1) >= min_share, total


def frequent_colours(counts, min_share=MIN_SHARE, total=None):
    """(positions, shares of the valid pixels) of the colours whose ``counts`` of valid pixels make
    at least ``min_share`` of them: the units of a map. ``total``: the valid pixels, when ``counts``
    are not all of them."""
    total = counts.sum() if total is None else total
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
