"""Exact Euclidean nearest-entry search through candidate lists per cell of space (QGIS-free).

A box around the colours to search is cut into a grid of cells. An entry p can be nearest to a
colour x of a cell only if its least distance to the cell is at most the least, over all entries f,
of f's greatest distance to the cell:

    mindist(p, cell) <= d(x, p) <= d(x, f) <= maxdist(f, cell)   for every f.

So each cell keeps the entries that pass this test (entries tied at the nearest distance pass too),
and a colour is compared with its cell's few candidates only, with the same distance formula as the
brute-force search (nearest.distances), bit for bit; ties go to the lowest index. The test keeps a
margin far above rounding errors, which only adds candidates, so the answer always equals brute force.

A cell keeps many entries where they all lie at similar distances (off the line of a grey palette,
for example); its colours are then measured against every entry at once, which costs less than
pair by pair.

The grid is refined level by level (2, 4, 8 ... cells per axis), cells numbered in Morton order
(the children of cell j are 8j ... 8j + 7): a child's candidates are chosen among its parent's, so
the set-up costs about as much as the candidates it keeps, and a grid can be refined later, when
more colours come than its cells.
"""

import numpy as np

MAX_DEPTH = 6  # 64 cells per axis: finer grids cost more to set up than they save
_ABSOLUTE_MARGIN = 1e-6  # squared distance units; rounding errors are ~1e-10 for distances <= 400
_RELATIVE_MARGIN = 1e-9
_PAIRS_PER_CHUNK = 1 << 18  # colour-candidate pairs measured at once: temporaries stay in the cache
_REFINED_PAIRS = 1 << 20  # child cell-entry pairs made at once when a grid is refined (see _refine_pairs)
_KEPT_PAIRS = 1 << 20  # a grid keeping more cell-entry pairs than this is not refined further (see refine) ...
_KEPT_PER_ENTRY = 128  # ... nor than this many per entry, whichever is more
_DENSE_SHARE = 0.0625  # a cell keeping more of the entries than this is searched by brute force
_FEW = 16  # ... unless it keeps at most this many
_OCTANTS = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)])  # child o = 4x + 2y + z


def depth_for(colours):
    """Levels of refinement worth setting up to search this many colours (measured with 16 to
    4096 entries: 3 for 10,000 colours, 4 for 100,000)."""
    return int(np.clip(np.floor(np.log(max(colours, 1)) / np.log(8.0)) - 1, 1, MAX_DEPTH))


def _spread_bits(values):
    """Bits of ``values`` spread three apart (b0 -> 0, b1 -> 3, ...): one axis of a Morton number."""
    spread = np.zeros_like(values)
    for bit in range(MAX_DEPTH):
        spread |= ((values >> bit) & 1) << (3 * bit)
    return spread


class CandidateCells:
    """Candidate lists per cell for one set of targets (N x 3) in a Euclidean space.

    ``low`` and ``high`` bound the box of colours searched through the cells; colours outside it
    (none, when the box holds the space's gamut) are compared with every entry.
    """

    def __init__(self, targets, low, high, depth=1, check=None):
        self.targets = np.ascontiguousarray(targets, dtype=np.float64).reshape(-1, 3)
        self._columns = [np.ascontiguousarray(self.targets[:, axis]) for axis in range(3)]
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        count = len(self.targets)
        # Level 0: one cell, every entry. Pairs (cell, entry) stay sorted by cell, then entry.
        self.depth = 0
        self._coordinates = np.zeros((1, 3), dtype=np.int64)  # of each cell of the current level
        self._cells = np.zeros(count, dtype=np.int32)
        self._entries = np.arange(count, dtype=np.int32)
        self.refine(depth, check)

    def refine(self, depth, check=None):
        """Cut the cells until there are 2**depth per axis (never coarser than now), or until they
        keep more than _KEPT_PAIRS cell-entry pairs: palettes of tens of thousands of entries
        (CIELAB above all) would keep millions more at each level, and answers do not depend on
        how fine the cells are. Large palettes may keep more pairs: a CIELAB palette of 65,535
        entries stopped at 64 cells, each keeping thousands of entries, so that every colour was
        measured against every entry (35 s for 250,000 colours, 12 s at 4,096 cells). ``check``:
        called between chunks of the cutting, to stop by raising (a cancel: that palette takes 9 s
        to cut to 32 cells a side); the cells stay as they were at the last whole level."""
        depth, start = min(depth, MAX_DEPTH), self.depth
        kept = max(_KEPT_PAIRS, _KEPT_PER_ENTRY * len(self.targets))
        try:
            while self.depth < depth and len(self._entries) <= kept:
                coordinates = (self._coordinates[:, None, :] * 2 + _OCTANTS[None, :, :]).reshape(-1, 3)
                self._cells, self._entries = self._refine_pairs(coordinates, check)
                self._coordinates, self.depth = coordinates, self.depth + 1
        finally:
            if self.depth != start:  # else the lists below are those of the grid as it is
                self._list_candidates()

    def _list_candidates(self):
        """The candidate lists of the current level's cells, as ``nearest`` reads them."""
        count = len(self.targets)
        self.side = 1 << self.depth
        self.size = (self.high - self.low) / self.side
        counts = np.bincount(self._cells, minlength=len(self._coordinates))
        # One more cell past the grid for colours outside the box: every entry is its candidate.
        self.entries = np.concatenate([self._entries, np.arange(count, dtype=self._entries.dtype)])
        self.counts = np.append(counts, count)
        self.starts = np.cumsum(self.counts) - self.counts
        self._morton = _spread_bits(np.arange(self.side, dtype=np.int64))

    def _refine_pairs(self, coordinates, check=None):
        """(cells, entries): the pairs of the cells one level finer (at ``coordinates``) from the
        pairs of their parents, a few parents at a time: each parent pair becomes 8, and a palette
        of thousands of entries would otherwise make hundreds of megabytes of temporaries (65,535
        entries: 1.5 GB at MAX_DEPTH). ``check``: see refine."""
        counts = np.bincount(self._cells, minlength=len(coordinates) // 8)
        starts = np.cumsum(counts) - counts
        ends = starts + counts
        cells, entries = [], []
        parent = 0
        while parent < len(counts):
            if check is not None:
                check()
            stop = max(parent + 1, int(np.searchsorted(ends, starts[parent] + _REFINED_PAIRS // 8, side="right")))
            kept = self._children(np.arange(parent, stop), counts[parent:stop], starts[parent:stop], coordinates)
            cells.append(kept[0])
            entries.append(kept[1])
            parent = stop
        return np.concatenate(cells), np.concatenate(entries)

    def _children(self, parents, counts, starts, coordinates):
        """(cell, entry) pairs kept in the children of ``parents`` (consecutive cells, with their
        pairs' ``counts`` and ``starts``), the cells of the finer level being at ``coordinates``."""
        repeats = 8 * counts
        within = np.arange(repeats.sum()) - np.repeat(8 * (starts - starts[0]), repeats)  # position among the parent's
        block = np.repeat(counts, repeats)
        child = np.repeat(8 * parents, repeats) + within // block
        entries = self._entries[np.repeat(starts, repeats) + within % block]
        if len(child) == 0:
            return child, entries
        least, greatest = self._box_distances(entries, coordinates[child], 1 << (self.depth + 1))
        first = np.flatnonzero(np.concatenate(([True], child[1:] != child[:-1])))
        bound = np.minimum.reduceat(greatest, first)
        bound += _ABSOLUTE_MARGIN + _RELATIVE_MARGIN * bound
        keep = least <= np.repeat(bound, np.diff(np.append(first, len(child))))
        return child[keep].astype(np.int32), entries[keep].astype(np.int32)  # 65,536 entries, 8^6 cells: fit

    def _box_distances(self, entries, coordinates, side):
        """Least and greatest squared distances from targets ``entries`` to the cells at
        ``coordinates`` of a grid with ``side`` cells per axis, axis by axis from small tables."""
        least = np.zeros(len(entries))
        greatest = np.zeros(len(entries))
        size = (self.high - self.low) / side
        for axis in range(3):
            lower = self.low[axis] + np.arange(side) * size[axis]
            below = lower[None, :] - self._columns[axis][:, None]  # N x side
            above = -below - size[axis]
            near = np.maximum(np.maximum(below, above), 0.0)
            far = np.maximum(-below, -above)
            index = entries * side + coordinates[:, axis]
            least += (near * near).ravel()[index]
            greatest += (far * far).ravel()[index]
        return least, greatest

    def cells_of(self, points):
        """Cell (Morton number) of each point (K x 3); points outside the box get the cell of every
        entry."""
        inside = np.all((points >= self.low) & (points <= self.high), axis=1)
        grid = np.clip(((points - self.low) / self.size).astype(np.int64), 0, self.side - 1)
        cells = (self._morton[grid[:, 0]] << 2) | (self._morton[grid[:, 1]] << 1) | self._morton[grid[:, 2]]
        cells[~inside] = len(self.counts) - 1
        return cells

    def nearest(self, points, check=None, progress=None):
        """Index of the nearest target of each point (K x 3, float64 in the targets' space), ties to
        the lowest index: what an argmin over the distances to all targets gives. Points whose cell
        keeps more than a share of the entries (off the line of a grey palette, say) are measured
        against all of them at once, which is then cheaper than pair by pair. ``check``: called
        between chunks, to stop by raising (a cancel: 65,535 entries take tens of seconds);
        ``progress``: called there too with the share of the points measured pair by pair."""
        points = np.asfortranarray(np.asarray(points, dtype=np.float64).reshape(-1, 3))  # columns contiguous
        result = np.empty(len(points), dtype=np.int64)
        cells = self.cells_of(points)
        counts = self.counts[cells]
        crowded = counts > max(_FEW, _DENSE_SHARE * len(self.targets))
        if crowded.any():
            result[crowded] = self._nearest_of_all(points[crowded], check)
            few = np.flatnonzero(~crowded)
            result[few] = self._nearest_of_candidates(points[few], cells[few], counts[few], check, progress)
        else:
            result[:] = self._nearest_of_candidates(points, cells, counts, check, progress)
        return result

    def _nearest_of_candidates(self, points, cells, counts, check=None, progress=None):
        result = np.empty(len(points), dtype=np.int64)
        ends = np.cumsum(counts)
        start = 0
        while start < len(points):
            if check is not None:
                check()
            if progress is not None:
                progress(start / len(points))
            done = ends[start - 1] if start else 0
            stop = max(start + 1, int(np.searchsorted(ends, done + _PAIRS_PER_CHUNK)))
            result[start:stop] = self._nearest_chunk(points[start:stop], cells[start:stop], counts[start:stop])
            start = stop
        return result

    def _nearest_of_all(self, points, check=None):
        """Brute force: the same term-by-term distances to every target, argmin per point."""
        result = np.empty(len(points), dtype=np.int64)
        step = max(1, _PAIRS_PER_CHUNK // len(self.targets))
        for start in range(0, len(points), step):
            if check is not None:
                check()
            chunk = points[start:start + step]
            total = np.zeros((len(chunk), len(self.targets)))
            for channel in range(3):
                difference = chunk[:, channel, None] - self._columns[channel][None, :]
                difference *= difference
                total += difference
            result[start:start + step] = total.argmin(axis=1)
        return result

    def _nearest_chunk(self, points, cells, counts):
        first = np.cumsum(counts) - counts  # each point's first pair
        owner = np.repeat(np.arange(len(points)), counts)
        candidates = self.entries[np.arange(len(owner)) + np.repeat(self.starts[cells] - first, counts)]
        distance = np.zeros(len(owner))
        for channel in range(3):  # nearest.distances' term-by-term sum: the same numbers, bit for bit
            difference = points[:, channel][owner] - self._columns[channel][candidates]
            difference *= difference
            distance += difference
        least = np.minimum.reduceat(distance, first)
        lowest = np.where(distance == least[owner], candidates, len(self.targets))
        return np.minimum.reduceat(lowest, first)
