"""The ``palettize`` command line: the algorithms' words, for files, scripts and clusters.

    palettize quantize INPUT... (-o OUTPUT | --out-dir DIR) [--palette NAME|FILE] ...
    palettize extract INPUT... -o PALETTE_FILE [--method ...] [--n-colors N]
    palettize palettes

Reads raw bands with GDAL (no QGIS). Exit status 0 only when every file succeeded, 1 when any
failed (one line each on stderr), 2 for a command line that cannot run.
"""

import argparse
import os
import re
import signal
import sys
import threading

from ..palettes.formats import READ_EXTENSIONS, WRITE_EXTENSIONS
from ..palettes.palette import BUILTIN_NAMES, MATPLOTLIB_NAMES, MATPLOTLIB_PREFIX, MAX_COLOURS
from . import batch, gdal_io, run
from .adaptive import METHODS
from .cleanup import MIN_REGION_RANGE, SEAM_RADIUS_RANGE
from .nearest import METRICS
from .options import (
    CLEANUPS, DITHERS, CleanupOptions, ExtractOptions, OptionsError, PaletteOptions, QuantizeOptions,
)
from .outputs import input_key, same_file_key
from .progress import ProgressBar
from .run import RunError

PROG = "palettize"
STEM = "{stem}"


class UsageError(Exception):
    """A command line that cannot run; the message says what to change."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, a batch system's time limit, systemd): stops the run as Ctrl-C does, so that
    outputs not finished are removed, and exits with 128 + the signal's number."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _stop(signum, frame):
    """SIGINT (Ctrl-C) or SIGTERM: stop the run, once. Those that follow are ignored: a second
    Ctrl-C, or the one `timeout -s INT` sends to the process group after the process, would cut
    short the removal of the outputs not finished and the stopping of the workers."""
    for stopping in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stopping, signal.SIG_IGN)
    raise Terminated(signum) if signum == signal.SIGTERM else KeyboardInterrupt()


def _stop_dropped(unraisable, previous=sys.unraisablehook):
    """sys.unraisablehook: a stop (see _stop) raised while Python ran a finalizer is printed there
    ("Exception ignored in ...") and dropped, and the run went on to its end, exit 0, with the
    signals that followed ignored. The signal is sent again a moment later, from another thread:
    sent at once, it was raised in this hook or in the rest of the finalizer, and dropped again."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        signum = getattr(unraisable.exc_value, "signum", signal.SIGINT)
        signal.signal(signum, _stop)
        again = threading.Timer(0.05, os.kill, (os.getpid(), signum))
        again.daemon = True
        again.start()
        return
    previous(unraisable)


def _bands(text):
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("takes band numbers separated by commas, such as 1,2,3 or 1,2,3,4")


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError("must be a number, not {!r}".format(text))
        if not value > 0:  # nan too
            raise argparse.ArgumentTypeError("must be greater than 0, not {}".format(text))
        return value
    return parse


def _source_arguments(parser, n_colors_help, report_help):
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="rasters GDAL reads (paths, /vsi... paths, or subdatasets such as NETCDF:\"map.nc\":rgb)")
    parser.add_argument("--n-colors", type=int, metavar="N", help=n_colors_help)  # None: the options' default
    parser.add_argument("--metric", choices=METRICS, default="rgb", help="colour distance (rgb)")
    parser.add_argument("--alpha-threshold", type=int, default=128, metavar="N",
                        help="pixels with lower alpha become nodata (128)")
    parser.add_argument("--bands", type=_bands, metavar="R,G,B[,A]",
                        help="band numbers of red, green, blue and alpha (1,2,3 with the file's alpha or mask)")
    parser.add_argument("--report", metavar="FILE", help=report_help)
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no notes, errors only")


def _cluster_arguments(parser):
    group = parser.add_argument_group("cluster (needs dask and distributed)")
    where = group.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive(int), metavar="N",
                       help="run on a local Dask cluster of N worker processes")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="run on an existing Dask cluster; its workers must see the inputs and outputs at "
                            "the same paths")
    group.add_argument("--split-above", type=_positive(float), default=batch.DEFAULT_SPLIT_ABOVE, metavar="MPX",
                       help="on a cluster, split files larger than this many megapixels into tiles ({:g})".format(
                           batch.DEFAULT_SPLIT_ABOVE))


def parser():
    top = argparse.ArgumentParser(prog=PROG, description=(
        "Quantize rasters to a palette: every pixel becomes the index of the nearest palette colour, "
        "written as a single-band raster with the palette as colour table, on the input's grid."))
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    quantize = commands.add_parser("quantize", help="write indexed rasters", description=(
        "Quantize each INPUT to one palette. A palette built from the image (exact, frequent, kmeans, "
        "mediancut) is built once from the colours of all inputs together, so every output has the same classes."))
    _source_arguments(quantize, "colours of a palette built from the image or sampled from matplotlib (256)",
                      "HTML report (with several inputs, a path holding {stem})")
    out = quantize.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", metavar="OUTPUT",
                     help="the output raster; with several inputs a name holding {stem}, e.g. classes/{stem}.vrt")
    out.add_argument("--out-dir", metavar="DIR", help="write DIR/<input stem>.tif for each input")
    quantize.add_argument("--palette", default="win256", metavar="NAME|FILE", help=(
        "a built-in palette ({}), a method building it from the image ({}), a matplotlib colormap as mpl:NAME, "
        "or a palette file (win256)".format(", ".join(BUILTIN_NAMES), ", ".join(METHODS))))
    quantize.add_argument("--cleanup", choices=CLEANUPS, default="none", help="edge cleanup (none)")
    quantize.add_argument("--seam-tolerance", type=float, default=CleanupOptions.seam_tolerance, metavar="DE",
                          help="seams: delta E up to which a pixel is well represented (%(default)s)")
    quantize.add_argument("--seam-radius", type=int, default=CleanupOptions.seam_radius, metavar="PX",
                          help="seams: pixels within which a seam pixel finds its class, {} to {} (%(default)s)".format(
                              *SEAM_RADIUS_RANGE))
    quantize.add_argument("--min-region", type=int, default=CleanupOptions.min_region, metavar="PX",
                          help="sieve: regions smaller than this join a large neighbour, {} to {} (%(default)s)".format(
                              *MIN_REGION_RANGE))
    quantize.add_argument("--connectedness", type=int, choices=(4, 8), default=CleanupOptions.connectedness,
                          help="sieve: 4 or 8 (%(default)s)")
    quantize.add_argument("--dither", choices=DITHERS, default="none",
                          help="error diffusion for photographs (none); not with --cleanup or tiling")
    quantize.add_argument("--nodata-index", type=int, metavar="N", help=(
        "write nodata pixels as palette index N, the output's nodata value (by default an index outside the "
        "palette); an entry of the palette at N is kept for nodata, so 256 colours with N 0 or 255 stay Byte"))
    quantize.add_argument("--table", metavar="FILE",
                          help="CSV of the palette entries and their pixels (with several inputs, a path holding {stem})")
    quantize.add_argument("--keep-going", action="store_true", help="after a failed file, go on with the others")
    _cluster_arguments(quantize)

    extract = commands.add_parser("extract", help="write a palette built from the inputs' colours", description=(
        "Build one palette from the colours of all INPUTs together and write it as a palette file."))
    _source_arguments(extract, "colours of the palette (256)", "HTML report (one input only)")
    extract.add_argument("-o", "--output", required=True, metavar="PALETTE_FILE",
                         help="the palette file: {}".format(", ".join(WRITE_EXTENSIONS)))
    extract.add_argument("--method", choices=METHODS, default="frequent", help="how to build it (frequent)")
    _cluster_arguments(extract)

    commands.add_parser("palettes", help="list the built-in palettes and the palette file formats")
    return top


# -- options -------------------------------------------------------------------------------------


def n_colours_option(n_colors):
    """--n-colors as options take it: {} when not given, so that the options' own default applies."""
    return {} if n_colors is None else {"n_colours": n_colors}


def palette_options(value, n_colours=None):
    """--palette: a built-in name, a method, mpl:NAME, or else a palette file; ``n_colours``: --n-colors
    as given (None: not given), refused for a palette whose colours are fixed, which would ignore it."""
    sized = value in METHODS or value.startswith(MATPLOTLIB_PREFIX)
    if n_colours is not None and not sized:
        raise UsageError("--n-colors {} sizes palettes built from the image ({}) and mpl:NAME colormaps; --palette {} "
                         "has its own colours: leave --n-colors out.".format(n_colours, ", ".join(METHODS), value))
    if value in BUILTIN_NAMES or sized:
        return PaletteOptions(name=value, **n_colours_option(n_colours))
    if not os.path.exists(value):  # a folder or a device: read_palette says what it is
        raise UsageError("--palette {}: no such palette file, and not a built-in palette ({}), a method ({}) or "
                         "mpl:NAME.".format(value, ", ".join(BUILTIN_NAMES), ", ".join(METHODS)))
    return PaletteOptions(file=value)


def quantize_options(args):
    return QuantizeOptions(
        palette=palette_options(args.palette, args.n_colors), metric=args.metric,
        cleanup=CleanupOptions(method=args.cleanup, seam_tolerance=args.seam_tolerance, seam_radius=args.seam_radius,
                               min_region=args.min_region, connectedness=args.connectedness),
        dither=args.dither, alpha_threshold=args.alpha_threshold, bands=args.bands, nodata_index=args.nodata_index)


def per_input(path, inputs, flag):
    """A side file per input: the path itself for one input, else it must hold {stem}."""
    if path is None:
        return [None] * len(inputs)
    if len(inputs) > 1 and STEM not in path:
        raise UsageError("{} {}: with several inputs the path must hold {} (one file per input), e.g. {}.".format(
            flag, path, STEM, os.path.join(os.path.dirname(path), STEM + os.path.splitext(path)[1])))
    return [path.replace(STEM, batch.stem(source)) for source in inputs]


def outputs(args):
    """The output path of each input: -o (holding {stem} when there are several inputs, as in
    --report and --table), else --out-dir/<stem>.tif."""
    if args.output is not None and len(args.inputs) > 1 and STEM not in args.output:
        raise UsageError("-o names one output but there are {} inputs: use --out-dir DIR, or an -o holding {} (e.g. "
                         "{}).".format(len(args.inputs), STEM, os.path.join("classes", STEM + ".vrt")))
    paths = [args.output.replace(STEM, batch.stem(source)) if args.output is not None else
             os.path.join(args.out_dir, batch.stem(source) + ".tif") for source in args.inputs]
    seen, inputs = {}, {}
    for source in args.inputs:
        key = os.path.normcase(os.path.abspath(source))  # the same path twice (links may be meant)
        if key in inputs:
            raise UsageError("{} is given twice{}: give each input once.".format(
                source, "" if inputs[key] == source else " (also as {})".format(inputs[key])))
        inputs[key] = source
    sources = {input_key(source): source for source in args.inputs}
    for source, path in zip(args.inputs, paths):
        key = same_file_key(path)
        if key == input_key(source):
            raise UsageError("-o {} is the input: choose another output.".format(path) if args.output is not None else
                             "{} would be written over its input: choose another --out-dir.".format(path))
        if key in sources:  # another input: -o 'sheets/{stem}_c.tif' with sheets/x_c.tif among them
            raise UsageError("{} would be written over the input {}: choose another {}.".format(
                path, sources[key], "-o" if args.output is not None else "--out-dir"))
        if key in seen:
            raise UsageError("{} and {} would both be written to {}: give them different names.".format(
                seen[key], source, path))
        seen[key] = source
    return paths


def check_jobs(jobs, style=True):
    """Refuse, before any work, a batch in which a file one job writes (its raster and the files
    its format writes beside it, such as an ERS raster's data file; its style, palette, table and
    report) is another job's, or is a file an input reads (a VRT's source): each job's own check
    sees only its own input, once the other jobs may have run."""
    reads = {}
    for job in jobs:
        for name in gdal_io.dataset_files(job.input):
            reads.setdefault(same_file_key(name), (name, job.input))
    written = {}
    for job in jobs:
        for name in _files_of_job(job, style):
            key = same_file_key(name)
            if key in reads:  # (an output over an input's own name is refused by outputs, with its flag)
                raise UsageError("{}, a file of the input {}, would be replaced by the output of {}: give the outputs "
                                 "other names.".format(reads[key][0], reads[key][1], job.input))
            other = written.setdefault(key, job)
            if other is not job:
                raise UsageError("The outputs of {} and {} would both write {} ({} and {}): give them different "
                                 "names.".format(other.input, job.input, name, other.output, job.output))


def _files_of_job(job, style):
    """The files a job writes: its output's (run.output_files; of a format that is refused, the
    run says why), its report and table."""
    try:
        driver = run.output_driver(job.output)
    except RunError:
        driver = None
    return run.output_files(job.output, driver, style) + [path for path in (job.report, job.table) if path]


def refuse_standard_streams(args):
    """'-' stands for standard input or output in most tools, but rasters are read and written
    with seeks: here it would be a file named '-' in the current folder."""
    if "-" in args.inputs:
        raise UsageError("Input -: palettize reads raster files, not standard input: give the raster's path.")
    for flag, value in (("-o", args.output), ("--out-dir", getattr(args, "out_dir", None)), ("--report", args.report),
                        ("--table", getattr(args, "table", None))):
        if value == "-":
            raise UsageError("{} -: palettize writes files, not standard output: give a file name.".format(flag))


EMPTY_VALUE_HINTS = (
    ("-o", "output", "the output's file name"), ("--out-dir", "out_dir", "a folder (. for the current one)"),
    ("--table", "table", "a file name, or leave --table out"), ("--report", "report", "a file name, or leave --report out"),
    ("--scheduler", "scheduler", "the scheduler's address, such as tcp://HOST:8786, or leave --scheduler out to run here"))


def refuse_empty_values(args):
    """An empty value is most often an unset shell variable (--table "$TABLE"): it would silently
    mean no table, the current folder or a local cluster, so it is refused."""
    for flag, name, hint in EMPTY_VALUE_HINTS:
        if getattr(args, name, None) == "":
            if args.command == "extract" and flag == "-o":
                hint = "the palette file's name"
            raise UsageError("{} is empty: give {}.".format(flag, hint))


def cluster(args):
    """A batch.Cluster for --workers/--scheduler, or None to run in this process."""
    if args.workers is None and args.scheduler is None:
        return None
    return batch.Cluster(workers=args.workers, scheduler=args.scheduler, quiet=args.quiet)


# -- commands ------------------------------------------------------------------------------------


def run_quantize(args, stderr):
    options = quantize_options(args)
    paths = outputs(args)
    reports, tables = per_input(args.report, args.inputs, "--report"), per_input(args.table, args.inputs, "--table")
    jobs = [batch.Job(source, output, report=report, table=table)
            for source, output, report, table in zip(args.inputs, paths, reports, tables)]
    check_jobs(jobs, options.style)
    with batch.Runner(cluster(args), split_above=args.split_above) as runner:
        bar = ProgressBar(stderr, len(jobs), 0, enabled=not args.quiet)
        failures = runner.quantize(jobs, options, progress=_progress(bar), keep_going=args.keep_going, log=_log(args, bar),
                                   on_failure=lambda job, error: bar.message(_failure(job.input, error)))
        bar.close()
    return 1 if failures else 0


def run_extract(args, stderr):
    options = ExtractOptions(method=args.method, metric=args.metric, **n_colours_option(args.n_colors),
                             alpha_threshold=args.alpha_threshold, bands=args.bands, report=args.report)
    if args.report and len(args.inputs) > 1:
        raise UsageError("--report shows one input: run extract on one input, or leave --report out.")
    if args.report and (args.workers is not None or args.scheduler is not None):
        raise UsageError("--report is not written on a cluster: run extract without --workers/--scheduler.")
    with batch.Runner(cluster(args), split_above=args.split_above) as runner:
        bar = ProgressBar(stderr, len(args.inputs), 0, enabled=not args.quiet)
        runner.extract(args.inputs, args.output, options, progress=_progress(bar), log=_log(args, bar))
        bar.close()
    return 0


def _log(args, bar):
    """The engine's notes and warnings above the progress bar (none with --quiet)."""
    if args.quiet:
        return None
    return lambda text, warning=False: bar.message(("warning: " if warning else "") + _in_flags(text))


def _progress(bar):
    def update(files_done, pixels_done, files_total, pixels_total):
        bar.files, bar.pixels = files_total, max(int(pixels_total), 1)
        bar.update(files_done, pixels_done, force=files_done == files_total)
    return update


SETTING_WORDS = dict({setting: "--" + setting.lower().replace("_", "-") for setting in (
    "PALETTE", "N_COLORS", "METRIC", "CLEANUP", "SEAM_TOLERANCE", "SEAM_RADIUS", "MIN_REGION", "CONNECTEDNESS",
    "DITHER", "ALPHA_THRESHOLD", "BANDS", "METHOD", "NODATA_INDEX")},
    PALETTE_FILE="--palette", OUTPUT_REPORT="--report", OUTPUT_TABLE="--table", OUTPUT_PALETTE="-o",
    OUTPUT="the output", INPUT="the input")
# A setting's id as a word of its own, not part of a file name (/data/OUTPUT.tif stays as it is).
SETTING_PATTERN = re.compile(r"(?<![\w/\\.])({})(?![\w]|\.\w)".format(
    "|".join(sorted(SETTING_WORDS, key=len, reverse=True))))


#: Advice in the plugin's terms that has other words here (the dialog's field can be cleared).
PHRASES = {"clear PALETTE_FILE and set PALETTE=frequent": "set --palette=frequent",
           "clear PALETTE_FILE": "choose another --palette"}  # in this order: the longer phrase first


def _in_flags(error):
    """An engine message in the command line's words: N_COLORS becomes --n-colors, OUTPUT_TABLE --table."""
    text = str(error)
    for phrase, words in PHRASES.items():
        text = text.replace(phrase, words)
    return SETTING_PATTERN.sub(lambda match: SETTING_WORDS[match.group(1)], text)


def _failure(path, error):
    return "{}: error: {}: {}".format(PROG, path, " ".join(_in_flags(error).split()) or type(error).__name__)


def list_palettes(stdout):
    stdout.write("Built-in palettes (--palette NAME):\n")
    for name in BUILTIN_NAMES:
        stdout.write("  {}\n".format(name))
    stdout.write("Palettes built from the image (--palette METHOD, --n-colors N): {}\n".format(", ".join(METHODS)))
    stdout.write("Matplotlib colormaps (--palette mpl:NAME, --n-colors N), e.g.: {}\n".format(
        ", ".join(MATPLOTLIB_PREFIX + name for name in MATPLOTLIB_NAMES[:8])))
    stdout.write("Palette files read (--palette FILE): {}, and any raster GDAL reads with a colour table\n".format(
        ", ".join(READ_EXTENSIONS)))
    stdout.write("Palette files written (extract -o FILE): {}\n".format(", ".join(WRITE_EXTENSIONS)))
    stdout.write("At most {} colours.\n".format(MAX_COLOURS))
    return 0


def main(argv=None, stdout=None, stderr=None, own_process=False):
    """The command line; ``own_process``: this process is the command's alone (see console)."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    args = parser().parse_args(argv)
    if own_process and getattr(args, "quiet", False):  # GDAL's own warnings too ("errors only")
        gdal_io.state_error_mode(warnings=False)
    try:
        if args.command == "palettes":
            return list_palettes(stdout)
        refuse_empty_values(args)
        refuse_standard_streams(args)
        if args.command == "quantize":
            return run_quantize(args, stderr)
        return run_extract(args, stderr)
    except (UsageError, OptionsError, batch.AddressError) as error:
        stderr.write("{}: error: {}\n".format(PROG, _in_flags(error)))
        return 2
    except (batch.BatchError, RunError) as error:
        stderr.write("{}: error: {}\n".format(PROG, _in_flags(error)))
        return 1
    except Terminated as stop:
        return _stopped(stop.signum, stderr)
    except KeyboardInterrupt:
        return _stopped(signal.SIGINT, stderr)


def _stopped(signum, stderr):
    """Say that the run was stopped by ``signum``; returns the exit status (128 + its number)."""
    stderr.write("{}: {}: outputs not finished were removed\n".format(
        PROG, "terminated" if signum == signal.SIGTERM else "interrupted"))
    return 128 + signum


def console(held=()):
    """The console script's entry point: a process of its own, which states GDAL's error mode.
    ``held``: the signals that came while Python loaded the command line (see scripts/palettize)."""
    gdal_io.state_error_mode()
    for stopping in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stopping, _stop)
    sys.unraisablehook = _stop_dropped
    if held:  # nothing begun
        sys.exit(_stopped(held[0], sys.stderr))
    try:
        code = main(own_process=True)
    except BrokenPipeError:  # e.g. `palettize palettes | head`
        code = 0
        sys.stdout = None
    sys.exit(code)


if __name__ == "__main__":
    console()
