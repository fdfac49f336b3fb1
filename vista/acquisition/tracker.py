"""The Tracker protocol every eye tracker implementation follows.

Implementations: :class:`vista.acquisition.eyelink.EyeLinkTracker` (pylink, real
hardware or dummy mode), :class:`vista.acquisition.simulate.SimulatedTracker`
(plausible gaze from a scene model) and :class:`vista.acquisition.replay.ReplayTracker`
(a recorded EDF or ASC played back). The session loop talks only to this protocol.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["MAX_SCREEN_PX", "MAX_WAIT_MS", "SPEED_RANGE", "Sample", "Tracker", "check_speed",
           "check_wait_ms"]

SPEED_RANGE = (0.001, 1_000_000.0)
"""Accepted pacing of a simulated or replayed clock, simulated ms per real ms (besides
``math.inf`` for a replay, and None for a simulation: no waiting at all)."""

MAX_WAIT_MS = 24 * 3600 * 1000.0
"""Longest single wait or clock advance, ms (a day)."""

MAX_SCREEN_PX = 16384
"""Largest screen side a tracker or display accepts, pixels."""


def check_speed(value: Any, *, name: str = "speed", allow_inf: bool = False) -> float:
    """``value`` as a float in :data:`SPEED_RANGE` (or ``inf`` with ``allow_inf``), else a
    ValueError (TypeError for a non-number) naming ``name``.

    Examples
    --------
    >>> check_speed(10), check_speed(float("inf"), allow_inf=True)
    (10.0, inf)
    >>> check_speed(1e-9)
    Traceback (most recent call last):
    ...
    ValueError: speed must be between 0.001 and 1e+06 (simulated ms per real ms); got 1e-09
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number; got {value!r}") from None
    if allow_inf and v == math.inf:
        return v
    lo, hi = SPEED_RANGE
    if not lo <= v <= hi:  # NaN fails too
        extra = " or inf" if allow_inf else ""
        raise ValueError(f"{name} must be between {lo:g} and {hi:g}{extra} (simulated ms per "
                         f"real ms); got {value!r}")
    return v


def check_wait_ms(value: Any, *, name: str = "ms") -> float:
    """``value`` as a float in ``[0, MAX_WAIT_MS]``, else a ValueError naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number; got {value!r}") from None
    if not 0 <= v <= MAX_WAIT_MS:
        raise ValueError(f"{name} must be between 0 and {MAX_WAIT_MS:g} (a day); got {value!r}")
    return v


class Sample(Protocol):
    """The newest gaze sample: tracker time (ms) and screen position (px), either eye."""

    time_ms: float
    x: float
    y: float


@runtime_checkable
class Tracker(Protocol):
    """What a session needs from an eye tracker.

    Times are milliseconds on the tracker's clock; positions are screen pixels.
    ``kind`` is what the session log records (``"eyelink"``, ``"dummy"``,
    ``"simulated"``, ``"replay"``); ``data_suffix`` is the suffix of the data file
    :meth:`receive_data_file` delivers (``".edf"`` or ``".asc"``).
    """

    @property
    def kind(self) -> str: ...

    @property
    def data_suffix(self) -> str: ...

    def connect(self) -> None:
        """Open the link to the tracker."""

    def close(self) -> None:
        """Close the link; safe to call twice."""

    def calibrate(self) -> dict[str, float]:
        """Run calibration and validation; return the validation result
        (``{"avg_error_deg": ..., "max_error_deg": ...}``)."""

    def drift_check(self, x: float, y: float) -> float:
        """Drift check at screen position (x, y); return the error in degrees."""

    def open_data_file(self, name: str) -> None:
        """Open the tracker-side data file (EDF: at most 8 characters, no extension)."""

    def close_data_file(self) -> None:
        """Close the tracker-side data file."""

    def start_recording(self) -> None:
        """Start recording samples and events."""

    def stop_recording(self) -> None:
        """Stop recording."""

    def send_message(self, text: str) -> None:
        """Write a message into the data file, stamped with the current tracker time."""

    def tracker_time_ms(self) -> float:
        """The tracker clock now, in milliseconds."""

    def newest_sample(self) -> Sample | None:
        """The newest gaze sample, or None if there is none."""

    def receive_data_file(self, destination: Path, *, name: str | None = None) -> Path:
        """Copy the data file to ``destination``; return the path written.

        ``name`` asks for an earlier data file kept on the tracker (the part of an
        interrupted session, for ``--resume``); a tracker that keeps none raises
        FileNotFoundError."""
