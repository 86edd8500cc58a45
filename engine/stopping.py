"""SIGTERM as a stop that removes a run's unfinished outputs (QGIS-free)."""

import contextlib
import os
import signal
import threading


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, a batch system's time limit, systemd): stops the run as Ctrl-C does, so that
    outputs not finished are removed."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def sigterm_stops_run():
    """While a run goes on in the main thread of a process that is not Palettize's alone
    (qgis_process, a script calling processing.run): a SIGTERM stops the run (Terminated), which
    removes its unfinished outputs, and is then delivered again to the handler it would have met:
    by default the end of the process (status 143), at once; a script's own a moment later, when
    the run has left (processing.run raised). Killed outright, a run left its hidden staging folder,
    a partial raster in it, beside the outputs. Elsewhere nothing changes: Python runs handlers in
    the main thread alone (the toolbox runs in a task's thread), and a handler set outside Python
    (None here) or an ignored SIGTERM is left as it is."""
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or previous in (None, signal.SIG_IGN):
        yield
        return

    stopped = []

    def stop(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second would cut the removal short
        stopped.append(signum)
        raise Terminated(signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if stopped and previous == signal.SIG_DFL:  # the end of the process, now (also if a callback swallowed the stop)
            os.kill(os.getpid(), signal.SIGTERM)
        elif stopped:  # the script's handler, once the run has left: what it raises (SystemExit) cannot pass QGIS's frames
            again = threading.Timer(RESENT_AFTER, os.kill, (os.getpid(), signal.SIGTERM))
            again.daemon = True
            again.start()


#: Seconds after a stopped run has left that a script's own SIGTERM handler is given the signal.
RESENT_AFTER = 0.05
