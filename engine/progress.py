"""A one-line progress bar for the command line: files and megapixels done, rate, time left.

It draws only on a terminal (``stream.isatty()``), so logs and pipes get nothing but the lines
``message`` prints, and redraws at most a few times a second.
"""

import time


def _duration(seconds):
    seconds = int(round(seconds))
    return "{}:{:02d}:{:02d}".format(seconds // 3600, seconds // 60 % 60, seconds % 60)


class ProgressBar:
    WIDTH = 24
    INTERVAL = 0.2

    def __init__(self, stream, files, pixels, enabled=True, clock=time.monotonic):
        self.stream, self.files, self.pixels = stream, files, max(int(pixels), 1)
        self.enabled = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.clock = clock
        self.start = clock()
        self.files_done = self.pixels_done = 0
        self._drawn_at = None
        self._line = ""

    def update(self, files_done=None, pixels_done=None, force=False):
        if files_done is not None:
            self.files_done = files_done
        if pixels_done is not None:
            self.pixels_done = min(int(pixels_done), self.pixels)
        now = self.clock()
        if self.enabled and (force or self._drawn_at is None or now - self._drawn_at >= self.INTERVAL):
            self._drawn_at = now
            self._draw(self.line(now))

    def line(self, now=None):
        elapsed = max((now if now is not None else self.clock()) - self.start, 1e-9)
        fraction = self.pixels_done / self.pixels
        filled = int(round(self.WIDTH * fraction))
        rate = self.pixels_done / 1e6 / elapsed
        left = "{} left".format(_duration(elapsed * (1 - fraction) / fraction)) if fraction > 0 else "-:--:-- left"
        return "[{}{}] {}/{} files  {:.1f}/{:.1f} MPx  {:.1f} MPx/s  {}".format(
            "#" * filled, "." * (self.WIDTH - filled), self.files_done, self.files, self.pixels_done / 1e6,
            self.pixels / 1e6, rate, left)

    def _draw(self, line):
        padding = " " * max(0, len(self._line) - len(line))
        self.stream.write("\r" + line + padding)
        self.stream.flush()
        self._line = line

    def message(self, text):
        """Print a line of its own (an error, a note) above the bar."""
        if self.enabled and self._line:
            self.stream.write("\r" + " " * len(self._line) + "\r")
            self._line = ""
        self.stream.write(text + "\n")
        self.stream.flush()
        if self.enabled and self._drawn_at is not None:
            self._draw(self.line())

    def close(self):
        if self.enabled and self._drawn_at is not None:
            self._draw(self.line())
            self.stream.write("\n")
            self.stream.flush()
