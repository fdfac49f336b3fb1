"""The small frozen records passed between the stages of the flow.

Conventions (see the README): times are milliseconds on the eye tracker's clock;
positions are pixels, x right, y down; fixations are in screen pixels until
:mod:`vista.gaze.geometry` maps them onto the image grid.

Arrays stored in records are read-only copies, so a record cannot change under a
caller that keeps a reference to it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import check_positive

__all__ = [
    "Fixations",
    "Message",
    "Placement",
    "SaliencyMap",
    "Screen",
    "Segment",
    "Transcript",
    "Trial",
    "Triplet",
    "Word",
]


def _frozen_array(name: str, value: Any, dtype: Any) -> np.ndarray:
    arr = np.array(value, dtype=dtype, copy=True)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


_F8 = "float64"
FIXATION_COLUMNS = {"start_ms": _F8, "end_ms": _F8, "duration_ms": _F8, "x": _F8, "y": _F8,
                    "eye": "string"}
"""Columns and pandas dtypes of :meth:`Fixations.to_frame`."""


def frame(columns: dict[str, Any], dtypes: dict[str, str]) -> Any:
    """A pandas DataFrame of ``columns`` with the documented ``dtypes`` (pandas is
    imported here, never with vista; extra ``frames``)."""
    from ._validation import require

    pd = require("pandas", "frames")
    return pd.DataFrame(columns).astype(dtypes)


@dataclass(frozen=True)
class Screen:
    """The display the stimuli were shown on.

    Parameters
    ----------
    width_px, height_px : int
        Resolution in pixels.
    width_mm, height_mm : float
        Size of the visible area in millimetres.
    distance_mm : float
        Eye-to-screen distance in millimetres.

    Examples
    --------
    >>> s = Screen(1920, 1080, 531.0, 298.7, 700.0)
    >>> round(s.px_per_degree, 2)
    44.18
    """

    width_px: int
    height_px: int
    width_mm: float
    height_mm: float
    distance_mm: float

    def __post_init__(self) -> None:
        for name in ("width_px", "height_px", "width_mm", "height_mm", "distance_mm"):
            check_positive(f"Screen.{name}", getattr(self, name))

    @property
    def px_per_mm(self) -> tuple[float, float]:
        """Pixels per millimetre, (horizontal, vertical)."""
        return self.width_px / self.width_mm, self.height_px / self.height_mm

    @property
    def px_per_degree(self) -> float:
        """Pixels spanned by one degree of visual angle at the screen centre.

        One degree centred on the line of sight covers ``2 d tan(0.5 deg)`` millimetres;
        the horizontal and vertical pixel pitches are averaged.
        """
        mm = 2.0 * self.distance_mm * math.tan(math.radians(0.5))
        px_x, px_y = self.px_per_mm
        return mm * 0.5 * (px_x + px_y)

    def to_dict(self) -> dict[str, float]:
        return {
            "width_px": self.width_px,
            "height_px": self.height_px,
            "width_mm": self.width_mm,
            "height_mm": self.height_mm,
            "distance_mm": self.distance_mm,
        }


@dataclass(frozen=True)
class Placement:
    """Where the image sat on the screen, in screen pixels (may be fractional).

    ``width`` and ``height`` are the displayed size; the image's own grid is mapped
    onto that rectangle by :mod:`vista.gaze.geometry`.
    """

    left: float
    top: float
    width: float
    height: float

    def __post_init__(self) -> None:
        for name in ("left", "top"):
            v = float(getattr(self, name))
            if not math.isfinite(v):
                raise ValueError(f"Placement.{name} must be finite; got {v!r}")
        check_positive("Placement.width", self.width)
        check_positive("Placement.height", self.height)

    def to_dict(self) -> dict[str, float]:
        return {"left": self.left, "top": self.top, "width": self.width, "height": self.height}


@dataclass(frozen=True, eq=False)
class Fixations:
    """Fixations in columns: one array per field, one element per fixation.

    Parameters
    ----------
    starts_ms, ends_ms : array_like of float
        Start and end on the tracker clock, milliseconds.
    xs, ys : array_like of float
        Position in screen pixels (image pixels once mapped by ``gaze.geometry``).
    eyes : array_like of str, optional
        ``"L"`` or ``"R"`` for each fixation; defaults to ``"R"``.

    Examples
    --------
    >>> f = Fixations([0, 300], [250, 500], [10.5, 20], [5, 6])
    >>> len(f), f.durations_ms.tolist()
    (2, [250.0, 200.0])
    """

    starts_ms: np.ndarray
    ends_ms: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    eyes: np.ndarray = field(default_factory=lambda: np.array([], dtype="<U1"))

    def __post_init__(self) -> None:
        cols = {}
        for name in ("starts_ms", "ends_ms", "xs", "ys"):
            cols[name] = _frozen_array(f"Fixations.{name}", getattr(self, name), np.float64)
        n = cols["starts_ms"].size
        eyes = self.eyes
        if eyes is None or (np.size(eyes) == 0 and n > 0):
            eyes = np.full(n, "R")
        cols["eyes"] = _frozen_array("Fixations.eyes", eyes, "<U1")
        for name, arr in cols.items():
            if arr.size != n:
                raise ValueError(
                    f"Fixations columns must have equal length; starts_ms has {n}, "
                    f"{name} has {arr.size}"
                )
            object.__setattr__(self, name, arr)
        if not (np.isfinite(cols["starts_ms"]).all() and np.isfinite(cols["ends_ms"]).all()):
            raise ValueError("Fixations times must be finite")
        if (cols["ends_ms"] < cols["starts_ms"]).any():
            i = int(np.argmax(cols["ends_ms"] < cols["starts_ms"]))
            raise ValueError(f"Fixations: fixation {i} ends before it starts")
        bad = ~np.isin(cols["eyes"], ["L", "R"])
        if bad.any():
            raise ValueError(f"Fixations.eyes must be 'L' or 'R'; got {cols['eyes'][bad][0]!r}")

    def __len__(self) -> int:
        return int(self.starts_ms.size)

    @property
    def durations_ms(self) -> np.ndarray:
        """End minus start, milliseconds."""
        return self.ends_ms - self.starts_ms

    def select(self, mask: Any) -> Fixations:
        """A new record with the fixations where ``mask`` (boolean or index array) holds."""
        return Fixations(
            self.starts_ms[mask], self.ends_ms[mask], self.xs[mask], self.ys[mask], self.eyes[mask]
        )

    def with_positions(self, xs: Any, ys: Any) -> Fixations:
        """A new record with the same times and eyes and new positions."""
        return Fixations(self.starts_ms, self.ends_ms, xs, ys, self.eyes)

    def to_frame(self) -> Any:
        """One row per fixation: ``start_ms``, ``end_ms``, ``duration_ms``, ``x``, ``y``
        (float64) and ``eye`` (pandas ``string``: ``"L"`` or ``"R"``)."""
        return frame({"start_ms": self.starts_ms, "end_ms": self.ends_ms,
                      "duration_ms": self.durations_ms, "x": self.xs, "y": self.ys,
                      "eye": self.eyes.astype(object)}, FIXATION_COLUMNS)

    @classmethod
    def empty(cls) -> Fixations:
        e = np.empty(0)
        return cls(e, e, e, e, np.empty(0, dtype="<U1"))

    @classmethod
    def concatenate(cls, parts: Sequence[Fixations]) -> Fixations:
        if not parts:
            return cls.empty()
        return cls(
            *(np.concatenate([getattr(p, n) for p in parts]) for n in
              ("starts_ms", "ends_ms", "xs", "ys", "eyes"))
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fixations):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, n), getattr(other, n))
            for n in ("starts_ms", "ends_ms", "xs", "ys", "eyes")
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Message:
    """A tracker message: time on the tracker clock (ms) and its text."""

    time_ms: float
    text: str


@dataclass(frozen=True)
class Word:
    """A spoken word with its span on the tracker clock.

    ``interpolated`` is True where the recogniser gave no timestamp and the times
    were interpolated from the neighbours.
    """

    text: str
    start_ms: float
    end_ms: float
    interpolated: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_ms) and math.isfinite(self.end_ms)):
            raise ValueError(f"Word {self.text!r}: times must be finite")
        if self.end_ms < self.start_ms:
            raise ValueError(
                f"Word {self.text!r} ends ({self.end_ms}) before it starts ({self.start_ms})"
            )


@dataclass(frozen=True)
class Transcript:
    """The words of one trial's speech, in order, with where they came from
    (``source``: e.g. ``"faster-whisper:tiny.en"``, ``"manual"``)."""

    words: tuple[Word, ...]
    source: str = "unknown"

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", tuple(self.words))
        for w in self.words:
            if not isinstance(w, Word):
                raise TypeError(f"Transcript.words must hold Word records; got {w!r}")

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "words": [
                {"text": w.text, "start_ms": w.start_ms, "end_ms": w.end_ms,
                 "interpolated": w.interpolated}
                for w in self.words
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transcript:
        words = tuple(
            Word(str(w["text"]), float(w["start_ms"]), float(w["end_ms"]),
                 bool(w.get("interpolated", False)))
            for w in data["words"]
        )
        return cls(words, str(data.get("source", "unknown")))


@dataclass(frozen=True)
class Segment:
    """A span of the transcript that one human map is built for."""

    text: str
    start_ms: float
    end_ms: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_ms) and math.isfinite(self.end_ms)):
            raise ValueError(f"Segment {self.text!r}: times must be finite")
        if self.end_ms < self.start_ms:
            raise ValueError(f"Segment {self.text!r} ends before it starts")


@dataclass(frozen=True, eq=False)
class Trial:
    """One image viewing: what was shown, where, and what the eyes and voice did.

    ``messages`` are the trial's tracker messages; ``variables`` the
    ``!V TRIAL_VAR`` values; ``start_ms``/``end_ms`` the trial's span on the tracker
    clock; ``transcript`` is None for free viewing.
    """

    trial_id: str
    image_path: str | None
    placement: Placement | None
    screen: Screen | None
    fixations: Fixations
    transcript: Transcript | None = None
    messages: tuple[Message, ...] = ()
    variables: Mapping[str, str] = field(default_factory=dict)
    start_ms: float | None = None
    end_ms: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", tuple(self.messages))
        object.__setattr__(self, "variables", dict(self.variables))
        if not isinstance(self.fixations, Fixations):
            raise TypeError(f"Trial.fixations must be a Fixations record; got {self.fixations!r}")


@dataclass(frozen=True)
class Triplet:
    """One dataset row: an image, a text, and the human map for that text.

    Paths are absolute once read by :func:`vista.dataset.read_dataset`.
    ``fixations_path`` (optional) points to the fixations behind the map, an N×3
    float array of x, y (image pixels) and weight (ms), for the fixation-based
    metrics (AUC-Judd, NSS, ...).
    """

    triplet_id: str
    image_path: str
    text: str
    human_map_path: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    fixations_path: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.triplet_id, str) or not self.triplet_id:
            raise ValueError(f"Triplet.triplet_id must be a non-empty string; got {self.triplet_id!r}")
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def image_name(self) -> str:
        return Path(self.image_path).name

    @property
    def viewer(self) -> str | None:
        """Who looked: ``meta["participant"]`` (what vista's sessions write), else
        ``meta["observer"]`` (imported datasets), as a string; None when neither is set.
        Every comparison between viewers (the human-other baseline, the other-text
        control, per-participant statistics) reads this one field.

        Examples
        --------
        >>> Triplet("t1", "a.png", "a cat", "m.npy", {"observer": 3}).viewer
        '3'
        >>> Triplet("t1", "a.png", "a cat", "m.npy", {"participant": "P1", "observer": "x"}).viewer
        'P1'
        """
        v = self.meta.get("participant", self.meta.get("observer"))
        return None if v is None else str(v)


@dataclass(frozen=True, eq=False)
class SaliencyMap:
    """A model's map for one image and one text: float32 H×W on the image's grid.

    ``params`` records everything needed to remake it: model id and revision,
    layer or block, token handling, resize, and so on.
    """

    values: np.ndarray
    model: str
    method: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        arr = np.array(self.values, dtype=np.float32, copy=True)
        if arr.ndim != 2:
            raise ValueError(f"SaliencyMap.values must be 2-D; got shape {arr.shape}")
        arr.setflags(write=False)
        object.__setattr__(self, "values", arr)
        object.__setattr__(self, "params", dict(self.params))

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.values.shape[0]), int(self.values.shape[1]))
