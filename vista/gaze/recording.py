"""The records of an eye-tracking recording: every event, message and sample of one
file, and the trials derived from its messages.

This module holds types only and imports no reader: :func:`vista.gaze.io.read_recording`
reads an EyeLink ``.edf`` (:mod:`vista.gaze.edf`) or ``.asc`` (:mod:`vista.gaze.asc`)
into a :class:`Recording`; the EyeLink message protocol (trials, ``!V IMGLOAD``,
``DISPLAY_COORDS``, offsets) lives in :mod:`vista.gaze.messages`.

Times are milliseconds on the tracker clock; positions are screen pixels.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..records import FIXATION_COLUMNS, Fixations, Message, Trial, frame
from .messages import DisplayCoords, first_display_coords, sort_messages, trials_from_messages

# moved to vista.gaze.messages; still importable from here
from .messages import offset_message as offset_message
from .messages import parse_display_coords as parse_display_coords
from .messages import parse_imgload as parse_imgload
from .messages import placement_from_imgload as placement_from_imgload

__all__ = [
    "BLINK_COLUMNS",
    "FIXATION_COLUMNS",
    "MESSAGE_COLUMNS",
    "SACCADE_COLUMNS",
    "TRIAL_COLUMNS",
    "Blinks",
    "Messages",
    "Recording",
    "Saccades",
    "Samples",
    "build_recording",
]

EYES = ("L", "R")


def _column(name: str, value: Any, dtype: Any, n: int | None) -> np.ndarray:
    arr = np.array(value, dtype=dtype, copy=True)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    if n is not None and arr.size != n:
        raise ValueError(f"{name} has {arr.size} elements; expected {n}")
    arr.setflags(write=False)
    return arr


def _eyes_column(name: str, value: Any, n: int) -> np.ndarray:
    eyes = _column(name, value if np.size(value) or n == 0 else ["R"] * n, "<U1", n)
    bad = ~np.isin(eyes, EYES)
    if bad.any():
        raise ValueError(f"{name} must hold 'L' or 'R'; got {eyes[bad][0]!r}")
    return eyes


_F8 = "float64"
SACCADE_COLUMNS = {"start_ms": _F8, "end_ms": _F8, "duration_ms": _F8, "start_x": _F8,
                   "start_y": _F8, "end_x": _F8, "end_y": _F8, "amplitude_deg": _F8,
                   "peak_velocity_deg_s": _F8, "eye": "string"}
"""Columns and pandas dtypes of :meth:`Saccades.to_frame`."""
BLINK_COLUMNS = {"start_ms": _F8, "end_ms": _F8, "duration_ms": _F8, "eye": "string"}
"""Columns and pandas dtypes of :meth:`Blinks.to_frame`."""
MESSAGE_COLUMNS = {"time_ms": _F8, "text": "string"}
"""Columns and pandas dtypes of :meth:`Messages.to_frame`."""
TRIAL_COLUMNS = {"trial_id": "string", "image": "string", "start_ms": _F8, "end_ms": _F8,
                 "duration_ms": _F8, "left": _F8, "top": _F8, "width": _F8, "height": _F8,
                 "fixations": "int64", "messages": "int64"}
"""Columns and pandas dtypes of :meth:`Recording.trials_frame` (``vista replay --csv``)."""


@dataclass(frozen=True, eq=False)
class Saccades:
    """Saccades in columns, one element per saccade (tracker clock, screen pixels).

    ``amplitudes_deg`` and ``peak_velocities_deg_s`` are the tracker parser's values
    (NaN where the source has none).
    """

    starts_ms: np.ndarray
    ends_ms: np.ndarray
    start_xs: np.ndarray
    start_ys: np.ndarray
    end_xs: np.ndarray
    end_ys: np.ndarray
    amplitudes_deg: np.ndarray
    peak_velocities_deg_s: np.ndarray
    eyes: np.ndarray

    _FLOATS = ("starts_ms", "ends_ms", "start_xs", "start_ys", "end_xs", "end_ys",
               "amplitudes_deg", "peak_velocities_deg_s")

    def __post_init__(self) -> None:
        n = np.size(self.starts_ms)
        for name in self._FLOATS:
            object.__setattr__(self, name, _column(f"Saccades.{name}", getattr(self, name),
                                                   np.float64, n))
        object.__setattr__(self, "eyes", _eyes_column("Saccades.eyes", self.eyes, n))

    def __len__(self) -> int:
        return int(self.starts_ms.size)

    @property
    def durations_ms(self) -> np.ndarray:
        return self.ends_ms - self.starts_ms

    def select(self, mask: Any) -> Saccades:
        """A new record with the saccades where ``mask`` holds."""
        return Saccades(*(getattr(self, n)[mask] for n in (*self._FLOATS, "eyes")))

    def to_frame(self) -> Any:
        """One row per saccade: ``start_ms``, ``end_ms``, ``duration_ms``, ``start_x``,
        ``start_y``, ``end_x``, ``end_y``, ``amplitude_deg``, ``peak_velocity_deg_s``
        (float64) and ``eye`` (pandas ``string``: ``"L"`` or ``"R"``)."""
        return frame({
            "start_ms": self.starts_ms, "end_ms": self.ends_ms,
            "duration_ms": self.durations_ms, "start_x": self.start_xs,
            "start_y": self.start_ys, "end_x": self.end_xs, "end_y": self.end_ys,
            "amplitude_deg": self.amplitudes_deg,
            "peak_velocity_deg_s": self.peak_velocities_deg_s,
            "eye": self.eyes.astype(object),
        }, SACCADE_COLUMNS)

    @classmethod
    def empty(cls) -> Saccades:
        e = np.empty(0)
        return cls(e, e, e, e, e, e, e, e, np.empty(0, dtype="<U1"))


@dataclass(frozen=True, eq=False)
class Blinks:
    """Blinks in columns, one element per blink (tracker clock)."""

    starts_ms: np.ndarray
    ends_ms: np.ndarray
    eyes: np.ndarray

    def __post_init__(self) -> None:
        n = np.size(self.starts_ms)
        for name in ("starts_ms", "ends_ms"):
            object.__setattr__(self, name, _column(f"Blinks.{name}", getattr(self, name),
                                                   np.float64, n))
        object.__setattr__(self, "eyes", _eyes_column("Blinks.eyes", self.eyes, n))

    def __len__(self) -> int:
        return int(self.starts_ms.size)

    @property
    def durations_ms(self) -> np.ndarray:
        return self.ends_ms - self.starts_ms

    def select(self, mask: Any) -> Blinks:
        """A new record with the blinks where ``mask`` holds."""
        return Blinks(self.starts_ms[mask], self.ends_ms[mask], self.eyes[mask])

    def to_frame(self) -> Any:
        """One row per blink: ``start_ms``, ``end_ms``, ``duration_ms`` (float64) and
        ``eye`` (pandas ``string``)."""
        return frame({"start_ms": self.starts_ms, "end_ms": self.ends_ms,
                      "duration_ms": self.durations_ms, "eye": self.eyes.astype(object)},
                     BLINK_COLUMNS)

    @classmethod
    def empty(cls) -> Blinks:
        e = np.empty(0)
        return cls(e, e, np.empty(0, dtype="<U1"))


@dataclass(frozen=True, eq=False)
class Samples:
    """Gaze samples in columns.

    Parameters
    ----------
    times_ms : array_like, shape (n,)
        Sample times on the tracker clock, non-decreasing.
    xs, ys, pupils : array_like, shape (n, len(eyes))
        Gaze position (screen px) and pupil size (tracker units), one column per eye
        in the order of ``eyes``; NaN where the eye was lost (``.`` in ASC, blinks).
    eyes : str
        ``"L"``, ``"R"`` or ``"LR"``.

    Examples
    --------
    >>> s = Samples([0, 1, 2], [[1], [2], [3]], [[4], [5], [6]], [[9], [9], [9]], "R")
    >>> s.eye("R")[0].tolist(), len(s)
    ([1.0, 2.0, 3.0], 3)
    """

    times_ms: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    pupils: np.ndarray
    eyes: str

    def __post_init__(self) -> None:
        if self.eyes not in ("L", "R", "LR"):
            raise ValueError(f"Samples.eyes must be 'L', 'R' or 'LR'; got {self.eyes!r}")
        times = _column("Samples.times_ms", self.times_ms, np.float64, None)
        object.__setattr__(self, "times_ms", times)
        shape = (times.size, len(self.eyes))
        for name in ("xs", "ys", "pupils"):
            arr = np.array(getattr(self, name), dtype=np.float64, copy=True)
            if arr.ndim == 1 and len(self.eyes) == 1:
                arr = arr[:, None]
            if arr.shape != shape:
                raise ValueError(f"Samples.{name} must have shape {shape}; got {arr.shape}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if times.size > 1 and (np.diff(times) < 0).any():
            raise ValueError("Samples.times_ms must be non-decreasing")

    def __len__(self) -> int:
        return int(self.times_ms.size)

    def eye(self, eye: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(xs, ys, pupils)`` of one eye, 1-D arrays."""
        if eye not in self.eyes or len(eye) != 1:
            raise ValueError(f"eye must be one of {list(self.eyes)}; got {eye!r}")
        k = self.eyes.index(eye)
        return self.xs[:, k], self.ys[:, k], self.pupils[:, k]

    @property
    def sampling_rate_hz(self) -> float | None:
        """The median sampling rate implied by the times (None for < 2 samples)."""
        if self.times_ms.size < 2:
            return None
        step = float(np.median(np.diff(self.times_ms)))
        return 1000.0 / step if step > 0 else None




class Messages(tuple[Message, ...]):
    """The messages of a recording: a tuple of :class:`~vista.records.Message`, sorted
    by time, with :meth:`to_frame`."""

    def to_frame(self) -> Any:
        """One row per message: ``time_ms`` (float64) and ``text`` (pandas ``string``)."""
        return frame({"time_ms": np.array([m.time_ms for m in self], dtype=np.float64),
                      "text": np.array([m.text for m in self], dtype=object)},
                     MESSAGE_COLUMNS)


Block = tuple[float, float]


@dataclass(frozen=True, eq=False)
class Recording:
    """Everything read from one EyeLink recording.

    Attributes
    ----------
    path : str or None
        The file it was read from.
    fixations : Fixations
        All fixations of all recorded eyes, in start order (the tracker parser's
        events, or detected from samples).
    saccades : Saccades
    blinks : Blinks
    messages : Messages
        Every message, sorted by time (stable: file order among equal times).
    samples : Samples or None
        The gaze samples, where read.
    sampling_rate_hz : float or None
    eyes : str
        ``"L"``, ``"R"`` or ``"LR"``: the eyes recorded.
    start_ms, end_ms : float or None
        First and last time seen in the recording.
    fixation_pupils : ndarray or None
        Mean pupil size of each fixation (tracker units), where the source has it.
    blocks : tuple of (start, end)
        The recording blocks in file order (``START``/``END``; NaN for a side the file
        does not have), for :func:`vista.gaze.checks.check_recording`.
    order_issues : tuple of str
        Times that went backwards in file order within a block, as the reader found
        them (also for :func:`~vista.gaze.checks.check_recording`).
    base_dir : str or None
        The folder relative image paths are resolved against; by default the folder
        of ``path``.

    Derived from the messages (computed once, on first use):
    ``display_coords`` and ``trials``.
    """

    path: str | None
    fixations: Fixations
    saccades: Saccades
    blinks: Blinks
    messages: tuple[Message, ...]
    samples: Samples | None
    sampling_rate_hz: float | None
    eyes: str
    start_ms: float | None = None
    end_ms: float | None = None
    fixation_pupils: np.ndarray | None = None
    blocks: tuple[Block, ...] = ()
    order_issues: tuple[str, ...] = ()
    base_dir: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", Messages(self.messages))
        if self.fixation_pupils is not None:
            object.__setattr__(self, "fixation_pupils", _column(
                "Recording.fixation_pupils", self.fixation_pupils, np.float64,
                len(self.fixations)))
        if self.eyes not in ("L", "R", "LR"):
            raise ValueError(f"Recording.eyes must be 'L', 'R' or 'LR'; got {self.eyes!r}")
        object.__setattr__(self, "blocks", tuple((float(a), float(b)) for a, b in self.blocks))
        object.__setattr__(self, "order_issues", tuple(self.order_issues))
        if self.base_dir is None and self.path is not None:
            object.__setattr__(self, "base_dir", str(Path(self.path).resolve().parent))

    @cached_property
    def display_coords(self) -> DisplayCoords | None:
        """``(left, top, right, bottom)`` of the first ``DISPLAY_COORDS`` message (else
        ``GAZE_COORDS``), inclusive pixels: a 1920×1080 display is ``(0, 0, 1919, 1079)``."""
        return first_display_coords(self.messages)

    @cached_property
    def trials(self) -> list[Trial]:
        """The trials, rebuilt from the messages by
        :func:`~vista.gaze.messages.trials_from_messages`."""
        return trials_from_messages(self.messages, self.fixations,
                                    display_coords=self.display_coords,
                                    base_dir=self.base_dir, start_ms=self.start_ms,
                                    end_ms=self.end_ms)

    def describe(self) -> dict[str, Any]:
        """The recording at a glance (JSON-ready): file, eyes, rate, display, counts,
        span, and :meth:`summary` for the trials."""
        return {
            "path": self.path,
            "eyes": self.eyes,
            "sampling_rate_hz": self.sampling_rate_hz,
            "display_coords": None if self.display_coords is None else list(self.display_coords),
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "fixations": len(self.fixations),
            "saccades": len(self.saccades),
            "blinks": len(self.blinks),
            "messages": len(self.messages),
            "samples": None if self.samples is None else len(self.samples),
            "trials": self.summary(),
        }

    def summary(self) -> list[dict[str, Any]]:
        """One dict per trial: id, image, placement, time span, fixation and message counts."""
        out = []
        for t in self.trials:
            out.append({
                "trial_id": t.trial_id,
                "image": t.image_path,
                "placement": None if t.placement is None else t.placement.to_dict(),
                "start_ms": t.start_ms,
                "end_ms": t.end_ms,
                "duration_ms": (None if t.start_ms is None or t.end_ms is None
                                else t.end_ms - t.start_ms),
                "fixations": len(t.fixations),
                "messages": len(t.messages),
                "variables": dict(t.variables),
            })
        return out

    def trials_frame(self) -> Any:
        """The per-trial table of ``vista replay`` as a DataFrame, one row per trial:
        ``trial_id`` and ``image`` (pandas ``string``; ``<NA>`` where the trial names no
        image), ``start_ms``, ``end_ms``, ``duration_ms``, ``left``, ``top``, ``width``,
        ``height`` (float64: the span and the image's placement, NaN where unknown),
        ``fixations`` and ``messages`` (int64: counts). ``vista replay --csv`` prints it."""
        rows = self.summary()
        nan = float("nan")

        def col(key: str) -> np.ndarray:
            return np.array([nan if r[key] is None else r[key] for r in rows], dtype=np.float64)

        def place(key: str) -> np.ndarray:
            return np.array([nan if r["placement"] is None else r["placement"][key]
                             for r in rows], dtype=np.float64)

        return frame({
            "trial_id": np.array([r["trial_id"] for r in rows], dtype=object),
            "image": np.array([r["image"] for r in rows], dtype=object),
            "start_ms": col("start_ms"), "end_ms": col("end_ms"),
            "duration_ms": col("duration_ms"),
            "left": place("left"), "top": place("top"), "width": place("width"),
            "height": place("height"),
            "fixations": np.array([r["fixations"] for r in rows], dtype=np.int64),
            "messages": np.array([r["messages"] for r in rows], dtype=np.int64),
        }, TRIAL_COLUMNS)


def _span(fixations: Fixations, saccades: Saccades, blinks: Blinks,
          msgs: tuple[Message, ...], samples: Samples | None,
          start_ms: float | None, end_ms: float | None) -> tuple[float | None, float | None]:
    times = [t for t in (start_ms, end_ms) if t is not None]
    for arr in (fixations.starts_ms, fixations.ends_ms, saccades.ends_ms, blinks.ends_ms):
        if arr.size:
            times.extend((float(arr.min()), float(arr.max())))
    if msgs:
        times.extend((msgs[0].time_ms, msgs[-1].time_ms))
    if samples is not None and len(samples):
        times.extend((float(samples.times_ms[0]), float(samples.times_ms[-1])))
    return (min(times), max(times)) if times else (None, None)


def build_recording(
    *,
    path: str | os.PathLike[str] | None,
    fixations: Fixations,
    saccades: Saccades,
    blinks: Blinks,
    messages: Iterable[Message],
    samples: Samples | None,
    sampling_rate_hz: float | None,
    eyes: str,
    start_ms: float | None = None,
    end_ms: float | None = None,
    fixation_pupils: Any = None,
    blocks: Iterable[Block] = (),
    order_issues: Iterable[str] = (),
) -> Recording:
    """Assemble a :class:`Recording` from parsed parts: sort the messages and find the
    span. Used by the readers."""
    msgs = sort_messages(messages)
    t0, t1 = _span(fixations, saccades, blinks, msgs, samples, start_ms, end_ms)
    return Recording(
        path=None if path is None else str(path), fixations=fixations, saccades=saccades,
        blinks=blinks, messages=msgs, samples=samples, sampling_rate_hz=sampling_rate_hz,
        eyes=eyes, start_ms=t0, end_ms=t1, fixation_pupils=fixation_pupils,
        blocks=tuple(blocks), order_issues=tuple(order_issues),
    )
