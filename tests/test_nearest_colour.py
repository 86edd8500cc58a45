"""The mapper finds exactly the nearest palette colour, as a brute-force argmin would."""

import numpy as np
import pytest

from palettize.engine.colorspace import srgb_to_lab
from palettize.engine.nearest import (
    METRICS,
    UNKNOWN,
    NearestColourMapper,
    brute_force_indices,
    nearest_palette_indices,
)
from palettize.palettes.palette import builtin_palette


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("palette_name", ["win256", "vga16", "websafe216"])
def test_every_pixel_gets_the_brute_force_nearest_index(metric, palette_name):
    palette = builtin_palette(palette_name).colours
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (3, 40, 50), dtype=np.uint8)
    indices = NearestColourMapper(palette, metric).map_rgb(*pixels)
    expected = brute_force_indices(pixels.reshape(3, -1).T, palette, metric)
    assert np.array_equal(indices.ravel(), expected)


@pytest.mark.parametrize("metric", METRICS)
def test_ties_go_to_the_lowest_palette_index(metric):
    palette = np.array([[10, 10, 10], [0, 0, 0], [20, 20, 20], [0, 0, 0], [10, 10, 10]])
    colours = np.array([[10, 10, 10], [0, 0, 0], [5, 5, 5], [15, 15, 15]])
    indices = nearest_palette_indices(colours, palette, metric)
    assert indices.tolist()[:2] == [0, 1]
    assert np.array_equal(indices, brute_force_indices(colours, palette, metric))


def test_each_distinct_colour_is_searched_once():
    mapper = NearestColourMapper(builtin_palette("vga16").colours, "rgb")
    red = np.array([[0, 255, 0, 255]], dtype=np.uint8)
    mapper.map_rgb(red, red, red)
    mapper.map_rgb(red, red, red)
    assert mapper.distinct_colours == 2


def test_cielab_of_white_black_and_srgb_red_match_published_values():
    lab = srgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]]))
    assert np.allclose(lab[0], [100.0, 0.0, 0.0], atol=0.01)
    assert np.allclose(lab[1], [0.0, 0.0, 0.0], atol=1e-9)
    assert np.allclose(lab[2], [53.24, 80.09, 67.20], atol=0.02)


def test_cielab_of_a_colour_does_not_depend_on_the_batch_it_is_converted_in():
    colours = np.random.default_rng(5).integers(0, 256, (5000, 3))
    whole = srgb_to_lab(colours)
    assert np.array_equal(np.concatenate([srgb_to_lab(part) for part in np.array_split(colours, 37)]), whole)
    assert np.array_equal(srgb_to_lab(colours.reshape(50, 100, 3)).reshape(-1, 3), whole)
    assert np.array_equal(np.stack([srgb_to_lab(c) for c in colours[:300]]), whole[:300])


def test_cielab_can_choose_differently_from_rgb():
    palette = np.array([[0, 0, 255], [128, 128, 128]])
    colour = np.array([[60, 60, 180]])
    assert nearest_palette_indices(colour, palette, "rgb") != nearest_palette_indices(colour, palette, "cielab")


def test_counting_by_runs_equals_bincount():
    from palettize.engine.runs import RunFinder

    rng = np.random.default_rng(2)
    runs = np.repeat(rng.integers(0, 300, 500), rng.integers(1, 40, 500)).astype(np.uint16)
    noise = rng.integers(0, 300, 5000).astype(np.uint16)
    finder = RunFinder()
    for values in (runs, noise, runs[:1], runs[:0], runs[:9]):
        for worth_it in (0.125, 1.0):
            counted = finder.find([values], worth_it).count(values, 301)
            assert np.array_equal(counted, np.bincount(values, minlength=301))


def test_runs_of_several_arrays_break_wherever_any_of_them_changes():
    from palettize.engine.runs import RunFinder

    colours = np.array([5, 5, 5, 7, 7, 7, 7, 9], dtype=np.uint32)
    indices = np.array([1, 1, 2, 2, 2, 3, 3, 3], dtype=np.uint16)
    runs = RunFinder().find([colours, indices], worth_it=1.0)
    assert runs.starts.tolist() == [0, 2, 3, 5, 7]
    assert runs.lengths.tolist() == [2, 1, 2, 2, 1]
    assert RunFinder().find([colours, indices], worth_it=0.5).starts is None  # 5 runs of 8 pixels


@pytest.mark.parametrize("dtype, nodata", [(np.uint16, 65535), (np.uint8, 255)])
def test_large_blocks_with_transparency_map_like_pixel_by_pixel(dtype, nodata):
    """Blocks are mapped in cache-sized steps: new colours may first appear in any step, and
    transparent pixels (alpha below the threshold) become nodata in every step."""
    from palettize.engine.nearest import _SEARCHING_STEP as STEP, pack_rgba  # the step of colours not met before

    palette = builtin_palette("vga16").colours
    rng = np.random.default_rng(3)
    n = 2 * STEP + 1234
    red, green, blue = (rng.integers(0, 256, n, dtype=np.uint8) for _ in range(3))
    red[:STEP] = green[:STEP] = blue[:STEP] = 7  # the first step holds one colour only
    alpha = rng.integers(0, 256, n, dtype=np.uint8)
    codes = pack_rgba(red, green, blue, alpha).reshape(1, n)
    indices = NearestColourMapper(palette, "rgb").map_codes(codes, dtype, alpha_threshold=100, nodata=nodata)
    expected = nearest_palette_indices(np.stack([red, green, blue], axis=1), palette, "rgb")
    expected[alpha < 100] = nodata
    assert indices.dtype == dtype and indices.shape == (1, n)
    assert np.array_equal(indices.ravel(), expected)


@pytest.mark.parametrize("transparent_runs", [0.2, 0.0])
@pytest.mark.parametrize("dtype, nodata", [(np.uint16, 65535), (np.uint8, 255), (np.uint16, 999)])
def test_a_map_block_whose_runs_are_searched_first_maps_like_pixel_by_pixel(dtype, nodata, transparent_runs):
    """A map's block comes with its runs (engine.blocks): the colours of the runs' first pixels are
    searched before any pixel is looked up. Transparent runs become nodata in every step, some
    in colours opaque pixels have too; colours only they have stay unsearched. A block without
    any is not tested for transparency pixel by pixel."""
    from palettize.engine.nearest import _STEP, pack_rgba
    from palettize.engine.runs import RunFinder

    palette = builtin_palette("win256").colours
    rng = np.random.default_rng(11)
    lengths = rng.integers(1, 300, 5000)
    n = int(lengths.sum())
    assert n > 2 * _STEP
    colours = rng.integers(0, 256, (3, len(lengths)), dtype=np.uint8)
    alpha = np.where(rng.random(len(lengths)) < transparent_runs, rng.integers(0, 128, len(lengths)), 255)
    alpha = alpha.astype(np.uint8)
    colours[:, 1::7] = colours[:, ::7][:, :colours[:, 1::7].shape[1]]  # colours of transparent runs met opaque too
    red, green, blue, alpha = (np.repeat(channel, lengths) for channel in (*colours, alpha))
    codes = pack_rgba(red, green, blue, alpha)
    runs = RunFinder().find([codes])
    assert runs.starts is not None and len(runs.starts) < n // 50
    mapper = NearestColourMapper(palette, "rgb")
    indices = mapper.map_codes(codes, dtype, alpha_threshold=128, nodata=nodata, runs=runs)
    expected = nearest_palette_indices(np.stack([red, green, blue], axis=1), palette, "rgb")
    expected[alpha < 128] = nodata
    assert indices.dtype == dtype and np.array_equal(indices, expected)
    # the runs know each one's index, which the count reads instead of the pixels
    assert np.array_equal(runs.firsts(indices.ravel()), expected[runs.starts])
    assert np.array_equal(runs.count(indices.ravel(), 300), np.bincount(expected, minlength=300))
    assert mapper.distinct_colours == len(np.unique(codes[alpha >= 128] & 0xFFFFFF))


def test_colours_met_a_few_at_a_time_may_come_in_any_shape():
    """indices_of (dithering's look-up) takes codes of any shape: a colour not met before is
    searched wherever it lies."""
    palette = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0]], dtype=np.uint8)
    mapper = NearestColourMapper(palette, "rgb")
    mapper.indices_of(np.zeros(1, np.uint32))  # black known
    for shape, where in (((4, 5), (2, 3)), ((20, 5), (0, 3)), ((2, 3, 4), (1, 2, 3))):
        codes = np.zeros(shape, np.uint32)
        codes[where] = 0x0000FF  # red, not met before
        expected = np.zeros(shape, np.uint16)
        expected[where] = 2
        assert np.array_equal(mapper.indices_of(codes), expected)


def test_two_threads_mapping_blocks_at_once_get_the_entries_and_count_of_one_thread():
    """A cleanup maps two blocks at once through one mapper: the look-ups run side by side, and a
    colour both threads meet is searched, written and counted once."""
    from concurrent.futures import ThreadPoolExecutor

    from palettize.engine.nearest import pack_rgba

    palette = builtin_palette("win256").colours
    rng = np.random.default_rng(4)
    shared = rng.integers(0, 256, (3, 3000), dtype=np.uint8)
    blocks = []
    for seed in range(8):  # each block: colours of its own, and the shared ones again
        own = np.random.default_rng(seed).integers(0, 256, (3, 200000), dtype=np.uint8)
        rgb = np.concatenate([own, shared, own[:, :5000]], axis=1)
        blocks.append(pack_rgba(*rgb, np.full(rgb.shape[1], 255, dtype=np.uint8)))
    mapper = NearestColourMapper(palette, "rgb")
    with ThreadPoolExecutor(max_workers=2) as threads:
        found = list(threads.map(lambda codes: mapper.map_codes(codes, np.uint16, 128, 65535), blocks))
    every = np.concatenate(blocks) & 0xFFFFFF
    alone = NearestColourMapper(palette, "rgb")
    assert np.array_equal(np.concatenate(found), alone.map_codes(np.concatenate(blocks), np.uint16, 128, 65535))
    assert np.array_equal(np.concatenate(found), nearest_palette_indices(unpack(every), palette, "rgb"))
    assert mapper.distinct_colours == alone.distinct_colours == len(np.unique(every))


def test_two_threads_starting_on_the_table_an_earlier_run_left_get_their_own_palettes_entries():
    """A run with CLEANUP=seams or sieve in a QGIS session that quantized before: its mapper takes
    over the table the earlier run left (release), still holding that palette's answers until it
    is cleared, while both cleaning threads start mapping. Neither may read those answers (an entry
    of the other palette, or past the end of this one)."""
    import threading

    from palettize.engine.nearest import pack_rgba

    earlier, palette = builtin_palette("win256").colours, builtin_palette("vga16").colours
    rgb = np.random.default_rng(1).integers(0, 256, (3, 600000), dtype=np.uint8)
    codes = pack_rgba(*rgb)
    expected = nearest_palette_indices(unpack(codes & 0xFFFFFF), palette, "rgb")
    for attempt in range(4):  # the earlier table is cleared in milliseconds: a few tries meet it
        before = NearestColourMapper(earlier, "rgb")
        before.map_codes(codes)
        before.release()
        mapper = NearestColourMapper(palette, "rgb")
        start, found = threading.Barrier(2), [None, None]

        def clean(thread):
            start.wait()
            found[thread] = mapper.map_codes(codes, np.uint8, 128, 255)

        threads = [threading.Thread(target=clean, args=(thread,)) for thread in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        mapper.release()
        assert np.array_equal(found[0], expected) and np.array_equal(found[1], expected)


def test_a_look_up_beside_a_thread_writing_answers_sees_each_answer_whole_or_not_yet():
    """Two cleaning threads map through one mapper: one writes the answers it found while the other
    looks colours up without waiting. numpy 2 copies uint16 items byte by byte, so such a look-up
    read half an answer now and then (0x00ff: class 255), a wrong pixel that no check would catch
    (about one run in a hundred with CLEANUP=seams in QGIS 3.40, on a busy machine). numpy 1 copies
    them whole: this guards numpy 2 (Debian 13's), where it fails without the fix."""
    import threading

    palette = np.array([[0, 0, 0], [255, 255, 255]])
    codes = np.sort(np.random.default_rng(2).choice(1 << 24, 1 << 17, replace=False)).astype(np.uint32)
    expected = nearest_palette_indices(unpack(codes), palette, "rgb")
    seen = []
    for attempt in range(1000):
        mapper, done = NearestColourMapper(palette, "rgb"), threading.Event()
        mapper.table  # made (or taken over from the mapper before, every answer unknown again) first

        def look_up_meanwhile():
            while not done.is_set():
                wrong = mapper._look_up(codes)
                wrong = wrong[wrong != expected]
                seen.extend(wrong[wrong != UNKNOWN].tolist())

        reader = threading.Thread(target=look_up_meanwhile)
        reader.start()
        try:
            mapper.remember(codes, expected)  # every answer written in one go, as a search writes them
        finally:
            done.set()
            reader.join()
        mapper.release()
    assert seen == []


@pytest.mark.parametrize("metric", ["rgb", "cielab"])
def test_colours_met_a_few_at_a_time_get_the_entries_of_one_large_batch(metric):
    """Dithering looks colours up a few at a time (NearestColourMapper.indices_of): small batches
    are searched by direct formulas, which must give the same entries, ties included."""
    from palettize.engine.nearest import pack_rgba

    palette = builtin_palette("win256").colours
    codes = np.random.default_rng(9).integers(0, 1 << 24, 20000)
    codes[:200] = pack_rgba(*palette[:200].T) & 0xFFFFFF  # the palette's own colours
    few_at_a_time = NearestColourMapper(palette, metric)
    found = np.concatenate([few_at_a_time.indices_of(part) for part in np.split(codes, 100)])
    assert np.array_equal(found, nearest_palette_indices(unpack(codes), palette, metric))
    assert few_at_a_time.distinct_colours == len(np.unique(codes))
    ties = np.array([[10, 10, 10], [0, 0, 0], [20, 20, 20], [0, 0, 0]], dtype=np.uint8)
    tied = pack_rgba(*np.array([[5, 5, 5], [15, 15, 15], [0, 0, 0]], dtype=np.uint8).T) & 0xFFFFFF
    assert NearestColourMapper(ties, metric).indices_of(tied.astype(np.int64)).tolist() == [0, 0, 1]


@pytest.mark.parametrize("colours", [builtin_palette("vga16").colours,
                                     np.array([[10, 10, 10], [0, 0, 0], [20, 20, 20], [0, 0, 0], [2, 2, 2]]),
                                     np.random.default_rng(1).integers(0, 256, (40, 3)) // 32 * 32])
def test_the_whole_rgb_table_holds_the_nearest_entries(colours):
    mapper = NearestColourMapper(colours, "rgb")
    mapper.fill_table()
    codes = np.concatenate([np.random.default_rng(2).integers(0, 1 << 24, 300000), np.arange(0, 1 << 24, 61)])
    assert mapper.complete
    assert np.array_equal(mapper.table[codes], nearest_palette_indices(unpack(codes), colours, "rgb"))


def unpack(codes):
    from palettize.engine.nearest import unpack_rgb

    return unpack_rgb(np.asarray(codes, dtype=np.uint32))


def hard_colours(palette, rng, count=3000):
    """Colours that make a nearest-entry search go wrong if anything can: random ones, the entries
    themselves, exact midpoints between entries (ties), one level beside entries and midpoints
    (near ties), and the levels around the cell boundaries of every grid the search may use."""
    palette = np.asarray(palette, dtype=np.int64)
    first, second = palette[rng.integers(0, len(palette), count)], palette[rng.integers(0, len(palette), count)]
    middle = (first + second) // 2
    boundaries = np.unique(np.concatenate([np.arange(side + 1) * 255.0 / side for side in (2, 4, 8, 16, 32, 64)]))
    around = np.unique(np.clip(np.concatenate([np.floor(boundaries), np.ceil(boundaries)]), 0, 255))
    corners = around[rng.integers(0, len(around), (count, 3))]
    nudge = rng.integers(-1, 2, (count, 3))
    colours = np.concatenate([rng.integers(0, 256, (count, 3)), palette[:count], middle, middle + nudge,
                              second + nudge, corners, corners + nudge])
    return np.clip(colours, 0, 255).astype(np.uint8)


def through_cells(colours, palette, metric):
    """The nearest entries as candidate cells find them, however few the colours (a search of few
    colours measures every entry instead: see nearest_palette_indices)."""
    from palettize.engine.candidate_cells import CandidateCells, depth_for
    from palettize.engine.metrics import METRIC_SPACES, REGISTRY

    points, targets = (METRIC_SPACES[metric](np.asarray(values).reshape(-1, 3)) for values in (colours, palette))
    return CandidateCells(targets, *REGISTRY[metric].cell_box, depth_for(len(points))).nearest(points)


def random_palette(size, rng):
    """Entries with duplicates and many exactly tied distances: few distinct levels, repeated rows."""
    palette = rng.integers(0, 256, (size, 3))
    if size > 3:
        palette[rng.integers(0, size, size // 4)] = palette[rng.integers(0, size, size // 4)]  # duplicates
        palette[: size // 3] = palette[: size // 3] // 32 * 32  # a coarse lattice: ties everywhere
    return palette.astype(np.uint8)


@pytest.mark.parametrize("metric", ["rgb", "cielab"])  # the metrics searched through candidate cells
@pytest.mark.parametrize("size", [1, 2, 3, 5, 16, 100, 255, 256, 257, 1000, 4096, 65535])
def test_random_palettes_of_every_size_give_the_brute_force_entries_ties_included(metric, size):
    from palettize.engine.nearest import pack_rgb

    rng = np.random.default_rng(size)
    palette = random_palette(size, rng)
    colours = hard_colours(palette, rng, count=min(3000, 3 * 10 ** 6 // size))
    expected = brute_force_indices(colours, palette, metric)
    assert np.array_equal(nearest_palette_indices(colours, palette, metric), expected)
    assert np.array_equal(through_cells(colours, palette, metric), expected)
    # a mapper measures a batch this small against every entry (RGB: as an exact matrix product)
    assert np.array_equal(NearestColourMapper(palette, metric).indices_of(pack_rgb(colours)), expected)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("palette_name", ["win256", "vga16", "websafe216", "gray256"])
def test_built_in_palettes_give_the_brute_force_entries_on_a_dense_sample_of_all_colours(metric, palette_name):
    palette = builtin_palette(palette_name).colours
    codes = np.arange(0, 1 << 24, 97 if metric != "ciede2000" else 9973)
    colours = unpack(codes)
    mapper = NearestColourMapper(palette, metric)
    assert np.array_equal(mapper.indices_of(codes), brute_force_indices(colours, palette, metric))


@pytest.mark.parametrize("metric", ["rgb", "cielab"])
def test_colours_met_in_growing_batches_get_the_brute_force_entries(metric):
    """The mapper cuts its cells finer as more colours come: answers never depend on when a colour
    came, or on how fine the cells were then."""
    rng = np.random.default_rng(4)
    palette = random_palette(300, rng)
    colours = hard_colours(palette, rng, count=20000)
    codes = np.unique(colours[:, 0].astype(np.int64) | (colours[:, 1].astype(np.int64) << 8)
                      | (colours[:, 2].astype(np.int64) << 16))
    rng.shuffle(codes)
    mapper = NearestColourMapper(palette, metric)
    found = np.concatenate([mapper.indices_of(part) for part in np.split(codes, [300, 1000, 5000, 20000, 60000])])
    assert mapper._cells.depth > 1
    assert np.array_equal(found, brute_force_indices(unpack(codes), palette, metric))


def test_points_outside_the_colour_cube_are_measured_against_every_entry():
    """nearest_palette_indices also serves plain Euclidean searches of points in other spaces
    (adaptive palettes search CIELAB points with the "rgb" metric)."""
    rng = np.random.default_rng(6)
    targets = rng.uniform(-120, 300, (200, 3))
    points = np.concatenate([rng.uniform(-150, 350, (2000, 3)), targets[:50], rng.uniform(0, 255, (500, 3))])
    expected = brute_force_indices(points, targets, "rgb")
    assert np.array_equal(nearest_palette_indices(points, targets, "rgb"), expected)
    assert np.array_equal(through_cells(points, targets, "rgb"), expected)


def test_points_on_cell_boundaries_between_mirrored_entries_get_the_brute_force_entries():
    """Exact ties across cell walls: entries mirrored about the walls of every grid the search may
    use, and points on those walls, their corners and a hair beside them."""
    rng = np.random.default_rng(7)
    walls = np.unique(np.concatenate([np.arange(side + 1) * 255.0 / side for side in (2, 4, 8, 16, 32, 64)]))
    corners = walls[rng.integers(0, len(walls), (3000, 3))]
    points = np.concatenate([corners, corners + rng.choice([-1e-9, 0.0, 1e-9], (3000, 3))])
    offsets = rng.uniform(0.5, 6.0, (300, 3)) * rng.choice([0.0, 1.0], (300, 3))
    centres = walls[rng.integers(0, len(walls), (300, 3))]
    targets = np.concatenate([centres + offsets, centres - offsets, centres[:20]])
    expected = brute_force_indices(points, targets, "rgb")
    assert np.array_equal(nearest_palette_indices(points, targets, "rgb"), expected)
    assert np.array_equal(through_cells(points, targets, "rgb"), expected)


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6])
def test_an_entry_exactly_as_far_as_the_cells_bound_stays_a_candidate(depth):
    """At the corner of the colour cube, entry 1 sits at the centre of the corner cell of every
    level, and entry 0 outside the cube, its nearest point of every such cell the corner itself:
    both are sqrt(3) cell sides from the corner colour, so entry 0's least distance to the cell
    equals entry 1's greatest, and the tie goes to entry 0."""
    from palettize.engine.candidate_cells import CandidateCells

    side = 255.0 / (1 << depth)
    targets = np.array([[255.0 + side] * 3, [255.0 - side] * 3])
    corner = np.array([[255.0, 255.0, 255.0]])
    assert brute_force_indices(corner, targets, "rgb").tolist() == [0]
    assert CandidateCells(targets, (0.0,) * 3, (255.0,) * 3, depth).nearest(corner).tolist() == [0]


def test_a_mapper_made_after_another_was_released_knows_nothing_of_its_answers():
    """A finished run leaves its mapper's table to the next mapper (NearestColourMapper.release):
    the next one, with another palette, must search every colour again."""
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (3, 300, 400), dtype=np.uint8)  # more than a mapper sorts without a table
    first = NearestColourMapper(builtin_palette("win256").colours, "rgb")
    first.map_rgb(*pixels)
    first.release()
    palette = builtin_palette("vga16").colours
    second = NearestColourMapper(palette, "rgb")
    assert (second.table == 0xFFFF).all() and not second._new.any()
    indices = second.map_rgb(*pixels)
    assert np.array_equal(indices.ravel(), brute_force_indices(pixels.reshape(3, -1).T, palette, "rgb"))
    assert second.distinct_colours == len(np.unique(pixels.reshape(3, -1), axis=1).T)


def test_a_mapper_made_after_one_that_filled_its_whole_table_knows_nothing_of_its_answers():
    """A released mapper lists the answers the next one clears; one whose whole table was filled
    (fill_table, dithering) or that answered more than it lists leaves a table refilled instead."""
    first = NearestColourMapper(builtin_palette("vga16").colours, "rgb")
    first.fill_table()
    first.release()
    second = NearestColourMapper(builtin_palette("win256").colours, "rgb")
    assert (second.table == 0xFFFF).all() and not second._new.any()
    codes = np.arange(0, 1 << 24, 7, dtype=np.uint32)  # more codes than a mapper lists
    second.indices_of(codes)
    second.release()
    third = NearestColourMapper(builtin_palette("vga16").colours, "rgb")
    assert (third.table == 0xFFFF).all() and not third._new.any()


def test_entries_remembered_into_a_made_table_are_cleared_for_the_next_mapper():
    """Entries handed to a mapper whose table is made (remember) are its answers too: the next
    mapper, with another palette, finds none of them in the table it is left."""
    first = NearestColourMapper(builtin_palette("win256").colours, "rgb")
    first.table  # made: what is remembered now goes into it
    codes = np.array([0x123456, 0xABCDEF], dtype=np.uint32)
    first.remember(codes, [7, 9])
    assert first.table[codes].tolist() == [7, 9]
    first.release()
    second = NearestColourMapper(builtin_palette("vga16").colours, "rgb")
    assert (second.table == 0xFFFF).all()


@pytest.mark.parametrize("metric", ["rgb", "cielab"])
def test_pixels_mapped_by_sorting_before_the_table_is_made_get_the_same_entries(metric):
    """A mapper sorts its first pixels (a small sheet needs no 2^24-entry table); the blocks after
    them go through the table, which must hold the entries found by sorting."""
    from palettize.engine.nearest import _SMALL_LOOKUP, pack_rgba

    palette = builtin_palette("vga16").colours
    rng = np.random.default_rng(6)
    first = rng.integers(0, 64, (4, 30, 40), dtype=np.uint8) * 4  # few colours, some transparent
    second = rng.integers(0, 64, (4, 2, _SMALL_LOOKUP), dtype=np.uint8) * 4  # the same colours and more
    mapper = NearestColourMapper(palette, metric)
    results = [mapper.map_codes(pack_rgba(*block), np.uint8, alpha_threshold=100, nodata=255) for block in (first, second)]
    assert mapper._table is not None
    for block, indices in zip((first, second), results):
        expected = brute_force_indices(block[:3].reshape(3, -1).T, palette, metric)
        expected[block[3].ravel() < 100] = 255
        assert indices.dtype == np.uint8 and np.array_equal(indices.ravel(), expected)
    # the colours of the pixels that are not transparent: the others are never searched
    both = np.concatenate([block[:3].reshape(3, -1)[:, block[3].ravel() >= 100] for block in (first, second)], axis=1)
    assert mapper.distinct_colours == len(np.unique(both, axis=1).T)


@pytest.mark.parametrize("pixels", [40 * 30, 2 * (1 << 16)])  # mapped by sorting, through the table
def test_colours_only_transparent_pixels_have_are_neither_searched_nor_counted(pixels):
    from palettize.engine.nearest import pack_rgba

    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (3, pixels), dtype=np.uint8)
    alpha = np.where(np.arange(pixels) % 2 == 0, 255, 0).astype(np.uint8)
    rgb[:, ::2] = rgb[:, :1]  # the opaque pixels hold one colour; the transparent ones, hundreds
    mapper = NearestColourMapper(builtin_palette("vga16").colours, "rgb")
    indices = mapper.map_codes(pack_rgba(*rgb, alpha), np.uint16, alpha_threshold=128, nodata=999)
    assert mapper.distinct_colours == 1
    expected = brute_force_indices(rgb[:, :1].T, builtin_palette("vga16").colours, "rgb")[0]
    assert indices[::2].tolist() == [expected] * (pixels // 2) and (indices[1::2] == 999).all()


@pytest.mark.parametrize("metric", ["rgb", "cielab"])
def test_a_palette_of_65535_colours_maps_a_small_sheet_exactly_in_little_memory(metric):
    """Palettes from other programs can hold up to 65,535 colours: the mapper's tables and the
    candidate cells' set-up stay within a few hundred megabytes, whatever batches colours come in."""
    import tracemalloc

    rng = np.random.default_rng(7)
    palette = random_palette(65535, rng)
    codes = np.unique(rng.integers(0, 1 << 24, 40000)).astype(np.uint32)
    rng.shuffle(codes)
    mapper = NearestColourMapper(palette, metric)
    mapper.table  # made once, kept for the next mapper: not what this test is about
    tracemalloc.start()
    try:
        found = np.concatenate([mapper.indices_of(part) for part in np.split(codes, [5, 60, 40000])])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    mapper.release()
    assert peak < 300 * 2 ** 20
    sample = rng.choice(len(codes), 1500, replace=False)
    assert np.array_equal(found[sample], brute_force_indices(unpack(codes[sample]), palette, metric))


@pytest.mark.parametrize("metric", ["rgb", "cielab"])
def test_a_grey_palette_maps_the_millions_of_colours_of_a_photograph_exactly_in_little_memory(metric):
    """Off the grey line every grey is about as near: cells that keep most of the entries do not
    pay for cutting them finer (CIELAB: 3 GB and 11 s at the finest cells, before)."""
    import tracemalloc

    palette = builtin_palette("gray256").colours
    rng = np.random.default_rng(8)
    colours = unpack(rng.permutation(1 << 24)[: 1 << 21 | 1 << 17])  # enough for the finest cells
    tracemalloc.start()
    try:
        found = nearest_palette_indices(colours, palette, metric)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 400 * 2 ** 20
    sample = rng.choice(len(colours), 3000, replace=False)
    assert np.array_equal(found[sample], brute_force_indices(colours[sample], palette, metric))


def test_a_cielab_palette_of_twenty_thousand_colours_gets_cells_fine_enough_that_no_colour_meets_every_entry():
    """A grid of a large palette keeps more cell-entry pairs than one of a small palette: a CIELAB
    palette of tens of thousands of entries stopped at 512 cells, most of them keeping more than a
    sixteenth of the entries, so that nine colours in ten were measured against every entry."""
    from palettize.engine import candidate_cells
    from palettize.engine.metrics import METRIC_SPACES, REGISTRY

    rng = np.random.default_rng(5)
    palette = unpack(rng.choice(1 << 24, 20000, replace=False))
    targets = METRIC_SPACES["cielab"](palette)
    cells = candidate_cells.CandidateCells(targets, *REGISTRY["cielab"].cell_box, 4)
    colours = unpack(rng.integers(0, 1 << 24, 3000))
    points = METRIC_SPACES["cielab"](colours)
    assert cells.depth == 4
    crowded = cells.counts[cells.cells_of(points)] > max(candidate_cells._FEW, candidate_cells._DENSE_SHARE * len(targets))
    assert not crowded.any()
    assert np.array_equal(cells.nearest(points), brute_force_indices(colours, palette, "cielab"))


def test_cutting_a_large_palettes_cells_stops_at_a_cancel_and_leaves_whole_cells():
    """Cutting the candidate cells of a large palette finer takes seconds (65,535 CIELAB entries: 9 s
    to 32 cells a side, where a Cancel waited for the end); the run's check is called between
    chunks of the cutting. Stopped there, the cells are those of the last whole level, and still
    give the brute-force entries."""
    from palettize.engine import candidate_cells
    from palettize.engine.metrics import METRIC_SPACES, REGISTRY

    class Cancelled(Exception):
        pass

    calls = []

    def check():
        calls.append(True)
        if len(calls) == 5:
            raise Cancelled()

    rng = np.random.default_rng(6)
    palette = unpack(rng.choice(1 << 24, 20000, replace=False))
    targets = METRIC_SPACES["cielab"](palette)
    cells = candidate_cells.CandidateCells(targets, *REGISTRY["cielab"].cell_box, 1)
    with pytest.raises(Cancelled):
        cells.refine(4, check)
    assert len(calls) == 5 and cells.depth in (2, 3)
    colours = unpack(rng.integers(0, 1 << 24, 3000))
    expected = brute_force_indices(colours, palette, "cielab")
    assert np.array_equal(cells.nearest(METRIC_SPACES["cielab"](colours)), expected)
