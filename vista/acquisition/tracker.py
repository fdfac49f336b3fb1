"""The Tracker protocol every eye tracker implementation follows.

Implementations: :class:`vista.acquisition.eyelink.EyeLinkTracker` (pylink, real
hardware or dummy mode), :class:`vista.acquisition.simulate.SimulatedTracker`
(plausible gaze from a scene model) and :class:`vista.acquisition.replay.ReplayTracker`
(a recorded EDF or ASC played back). The session loop talks only to this protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["Sample", "Tracker"]


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
