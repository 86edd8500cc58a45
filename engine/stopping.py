"""SIGTERM as a stop that removes a run's unfinished outputs (QGIS-free)."""

import contextlib
import os
import signal
import threading


#: The SIGTERMs heard by sigterm_stops_run while its run goes on.
_ASKED = []


def stop_asked():
    """Whether a SIGTERM asked the run going on in this process to stop (see sigterm_stops_run):
    the run's ``is_cancelled`` says so, and the engine stops as for a cancel, before its commit."""
    return bool(_ASKED)


@contextlib.contextmanager
def sigterm_stops_run(before_the_end=None):
    """While a run goes on in the main thread of a process whose SIGTERM ends it (qgis_process, a
    script calling processing.run): a SIGTERM asks the run to stop (stop_asked), which removes its
    unfinished outputs, and ends the process as the signal asks (status 143) once the run has left,
    after ``before_the_end()`` (e.g. its message printed). Killed at once, a run left its hidden
    staging folder, a partial raster in it, beside the outputs. Asked, not raised: raised in the
    middle of the commit, a stop could remove a file the commit had just put in place, or come
    after it and call a finished run stopped. Elsewhere nothing changes: Python runs handlers in
    the main thread alone (the toolbox runs in a task's thread), and a script's own handler (or
    one set outside Python, or SIGTERM ignored) is the script's to keep."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, lambda signum, frame: _ASKED.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if _ASKED:
            del _ASKED[:]
            try:
                if before_the_end is not None:
                    before_the_end()
            finally:
                os.kill(os.getpid(), signal.SIGTERM)
