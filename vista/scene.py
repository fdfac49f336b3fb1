"""The scene file of an image: what is on it and what is said about it.

A :class:`Scene` is the image size and a list of :class:`Region` records (boxes or
points in image pixels), each with the phrase that describes it and, optionally, when
it is spoken. :func:`read_scene` reads an image's scene file
(``IMAGE_STEM.scene.json``). The simulator (:mod:`vista.acquisition.scene`) plans gaze
and speech from it; interest areas (:mod:`vista.gaze.areas`) are drawn from it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import imaging
from ._io import read_json
from ._validation import check_positive
from .errors import ParseError

__all__ = ["SCENE_SUFFIX", "Region", "Scene", "read_scene", "scene_path"]

SCENE_SUFFIX = ".scene.json"


@dataclass(frozen=True)
class Region:
    """A part of the image that is talked about.

    Parameters
    ----------
    phrase : str
        The words that describe it (what the simulated participant says).
    box : tuple of float
        ``(x0, y0, x1, y1)`` in image pixels; a point is a box with ``x0 == x1`` and
        ``y0 == y1``.
    start_s, end_s : float, optional
        When the phrase is spoken, seconds after image onset; planned by
        :func:`vista.acquisition.participant.plan_speech` when absent.

    Examples
    --------
    >>> Region("a red car", (10, 20, 110, 70)).center
    (60.0, 45.0)
    """

    phrase: str
    box: tuple[float, float, float, float]
    start_s: float | None = None
    end_s: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.phrase, str) or not self.phrase.split():
            raise ValueError(f"Region.phrase must be a non-empty string; got {self.phrase!r}")
        box = tuple(float(v) for v in self.box)
        if len(box) != 4 or not all(math.isfinite(v) for v in box):
            raise ValueError(f"Region.box must be 4 finite numbers (x0, y0, x1, y1); got {self.box!r}")
        if box[2] < box[0] or box[3] < box[1]:
            raise ValueError(f"Region.box must have x0 <= x1 and y0 <= y1; got {self.box!r}")
        object.__setattr__(self, "box", box)
        if (self.start_s is None) != (self.end_s is None):
            raise ValueError(f"Region {self.phrase!r}: give both start_s and end_s or neither")
        if self.start_s is not None and self.end_s is not None:
            check_positive(f"Region {self.phrase!r} start_s", self.start_s, allow_zero=True)
            if self.end_s <= self.start_s:
                raise ValueError(f"Region {self.phrase!r}: end_s must be after start_s")

    @property
    def center(self) -> tuple[float, float]:
        """Centre of the box, image pixels ``(x, y)``."""
        x0, y0, x1, y1 = self.box
        return 0.5 * (x0 + x1), 0.5 * (y0 + y1)

    def to_dict(self) -> dict[str, Any]:
        x0, y0, x1, y1 = self.box
        out: dict[str, Any] = {"phrase": self.phrase}
        if x0 == x1 and y0 == y1:
            out["point"] = [x0, y0]
        else:
            out["box"] = [x0, y0, x1, y1]
        if self.start_s is not None:
            out["start_s"] = self.start_s
            out["end_s"] = self.end_s
        return out


@dataclass(frozen=True)
class Scene:
    """What is on an image and what is said about it.

    Parameters
    ----------
    image_size : tuple of int
        ``(height, width)`` of the image file, pixels.
    regions : sequence of Region
        In the order they are spoken about.

    Examples
    --------
    >>> s = Scene.from_dict({"regions": [{"phrase": "a dog", "point": [5, 6]}]},
    ...                     image_size=(20, 30))
    >>> s.regions[0].box, s.to_dict()["regions"][0]["point"]
    ((5.0, 6.0, 5.0, 6.0), [5.0, 6.0])
    """

    image_size: tuple[int, int]
    regions: tuple[Region, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        h, w = (int(v) for v in self.image_size)
        if h <= 0 or w <= 0:
            raise ValueError(f"Scene.image_size must be positive (height, width); got {self.image_size!r}")
        object.__setattr__(self, "image_size", (h, w))
        object.__setattr__(self, "regions", tuple(self.regions))
        for r in self.regions:
            if not isinstance(r, Region):
                raise TypeError(f"Scene.regions must hold Region records; got {r!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"image_size": list(self.image_size), "regions": [r.to_dict() for r in self.regions]}

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, image_size: tuple[int, int] | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> Scene:
        """Build a scene from its JSON form (see :func:`read_scene` for the format).

        ``image_size`` (height, width) overrides the file's ``image_size``.
        """
        try:
            size = image_size if image_size is not None else tuple(data["image_size"])
            regions = []
            listed = data.get("regions", [])
            if not isinstance(listed, list):
                raise ValueError(f"'regions' must be a list; got {type(listed).__name__}")
            for i, r in enumerate(listed):
                if not isinstance(r, Mapping):
                    raise ValueError(f"region {i} must be an object; got {type(r).__name__}")
                if "box" in r:
                    box = tuple(r["box"])
                elif "point" in r:
                    x, y = r["point"]
                    box = (x, y, x, y)
                else:
                    raise ValueError(f"region {i} needs a 'box' [x0, y0, x1, y1] or a 'point' [x, y]")
                regions.append(Region(str(r["phrase"]), box, r.get("start_s"), r.get("end_s")))
            return cls(size, tuple(regions))
        except (KeyError, TypeError, ValueError) as exc:
            if path is None:
                raise
            msg = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ParseError(f"invalid scene: {msg}", path=path) from exc


def scene_path(image_path: str | os.PathLike[str]) -> Path:
    """The scene file that goes with an image: ``photo.png`` -> ``photo.scene.json``.

    Examples
    --------
    >>> scene_path("/data/photo.png").name
    'photo.scene.json'
    """
    p = Path(image_path)
    return p.with_name(p.stem + SCENE_SUFFIX)


def read_scene(
    image_path: str | os.PathLike[str], *, image_size: tuple[int, int] | None = None,
) -> Scene:
    """Read the scene file of an image, ``IMAGE_STEM.scene.json`` next to it::

        {"regions": [
            {"phrase": "a red car", "box": [x0, y0, x1, y1]},
            {"phrase": "the old tree", "point": [x, y], "start_s": 4.0, "end_s": 5.2}
        ]}

    Coordinates are image pixels (x right, y down); ``start_s``/``end_s`` (optional,
    both or neither) fix when the phrase is spoken, in seconds after image onset.

    Parameters
    ----------
    image_path : path
        The image file (its scene file is :func:`scene_path`).
    image_size : tuple of int, optional
        ``(height, width)``; read from the image when not given.

    Raises
    ------
    FileNotFoundError
        When the image has no scene file.
    vista.errors.ParseError
        When the scene file is not valid (the message names the file).
    """
    image_path = Path(image_path)
    sp = scene_path(image_path)
    if image_size is None:
        image_size = imaging.image_size(image_path)
    data = read_json(sp, expect=dict, what="scene file")
    return Scene.from_dict(data, image_size=image_size, path=sp)
