"""A tracker's data file written in edf2asc format as it records.

:class:`AscLog` is what the simulated tracker writes as its "Host PC" data file and
what the EyeLink tracker keeps in pylink's dummy mode (messages only): a new file,
never one that exists, written line by line through
:class:`vista.gaze.asc_writer.AscWriter` and fsynced (:func:`vista._io.fsync_file`)
whenever recording stops and when it is closed, so an interrupted session can still
receive it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from .._io import fsync_file
from ..gaze.asc_writer import AscWriter

__all__ = ["AscLog"]


class AscLog:
    """An edf2asc-format data file, written as the tracker goes.

    Parameters
    ----------
    path : path
        The file to create; an existing file is refused (FileExistsError).
    header : sequence of str
        Preamble lines, written as ``** line``.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "demo.asc")
    >>> log = AscLog(path, header=["CONVERTED FROM a test"])
    >>> log.start(1000, "R", 0); log.message(1001, "TRIALID 1"); log.end(1002)
    >>> log.close()
    >>> open(path).read().splitlines()[0]
    '** CONVERTED FROM a test'
    """

    def __init__(self, path: str | os.PathLike[str], *, header: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self._fh = open(self.path, "x", encoding="utf-8", newline="\n")
        self._writer = AscWriter(self._fh)
        for line in header:
            self._writer.write_line("** " + line)

    @property
    def closed(self) -> bool:
        return self._fh.closed

    def start(self, time_ms: float, eye: str, rate_hz: int) -> None:
        """``START`` of a block; ``rate_hz`` 0: events and messages only, no samples."""
        self._writer.start(time_ms, eyes=eye, rate_hz=float(rate_hz or 1000),
                           samples=rate_hz > 0)

    def end(self, time_ms: float) -> None:
        self._writer.end(time_ms)

    def message(self, time_ms: float, text: str) -> None:
        self._writer.message(time_ms, text)

    def start_fixation(self, eye: str, time_ms: float) -> None:
        self._writer.start_fixation(eye, time_ms)

    def end_fixation(self, eye: str, start_ms: float, end_ms: float, x: float,
                     y: float) -> None:
        """``EFIX`` with the pupil the simulated eye always has (1000)."""
        self._writer.end_fixation(eye, start_ms, end_ms, x, y, 1000.0)

    def start_saccade(self, eye: str, time_ms: float) -> None:
        self._writer.start_saccade(eye, time_ms)

    def end_saccade(self, eye: str, start_ms: float, end_ms: float, x0: float, y0: float,
                    x1: float, y1: float, amplitude_deg: float, peak_velocity: float) -> None:
        self._writer.end_saccade(eye, start_ms, end_ms, x0, y0, x1, y1, amplitude_deg,
                                 peak_velocity)

    def sample(self, time_ms: float, x: float, y: float, pupil: float) -> None:
        self._writer.sample(time_ms, x, y, pupil)

    def flush(self) -> None:
        """Make what is written so far durable (flush and fsync)."""
        if not self._fh.closed:
            fsync_file(self._fh)

    def close(self) -> None:
        """Flush, fsync and close; safe to call twice."""
        if self._fh.closed:
            return
        self._writer.close()
        fsync_file(self._fh)
        self._fh.close()
