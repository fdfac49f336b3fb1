"""EyeLink interest areas: read them, and measure where the eyes dwelt.

Interest areas come from SR Research Data Viewer's interest-area set files
(``.ias``), from ``!V IAREA`` messages in a recording, from the simulator's scene
files (``IMAGE.scene.json``) or from a CSV of ``image, phrase, polygon``. Each is an
:class:`InterestArea`: a rectangle, an ellipse or a polygon (Data Viewer's
``FREEHAND``) with a label and, for a dynamic area, the time span it is live.

The ``.ias`` format, one area per line, tab- or space-separated, ``#`` comments::

    RECTANGLE  1  left top right bottom  label
    ELLIPSE    2  left top right bottom  label
    FREEHAND   3  x1,y1 x2,y2 ... xn,yn  label
    -0  -1500  RECTANGLE  4  left top right bottom  label      (dynamic)

A dynamic line starts with the area's start and end time in milliseconds after the
trial's reference time (image onset, ``SYNCTIME``). Data Viewer writes them negated,
in the offset convention of EyeLink messages (``-1500`` = 1500 ms after); vista reads
the magnitude, so ``1500`` means the same. Coordinates of ``.ias`` files and ``!V
IAREA`` messages are screen pixels (Data Viewer's display coordinates); scene files and
region CSVs are in image pixels.

:func:`area_measures` gives, per area and per time window (a whole trial, or a
spoken segment's alignment window), the dwell time, the first-fixation latency, the
fixation count and the visit count, with Data Viewer's meaning (a visit is a run of
consecutive fixations in the area). :func:`interest_area_report` does it for every
trial and segment of a session or recording and returns a pandas DataFrame.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._io import check_regular_file
from .._validation import check_option
from ..errors import ParseError
from ..records import Fixations, Message, Placement, Trial
from .messages import _is_number

__all__ = [
    "AREA_COLUMNS",
    "InterestArea",
    "area_measures",
    "areas_from_messages",
    "image_regions",
    "interest_area_report",
    "parse_ias",
    "read_ias",
    "read_region_csv",
    "scene_to_ias",
    "trial_areas",
]

SHAPES = {"RECTANGLE": "rectangle", "ELLIPSE": "ellipse", "FREEHAND": "polygon"}
_IAS_NAME = {v: k for k, v in SHAPES.items()}
_PAIR = re.compile(r"\s*(-?\d+(?:\.\d*)?|-?\.\d+)\s*,\s*(-?\d+(?:\.\d*)?|-?\.\d+)")

AREA_COLUMNS: dict[str, str] = {
    "source": "str: the session folder or recording the row comes from",
    "trial_id": "str",
    "image": "str: the trial's image (path as recorded)",
    "segment_index": "Int64: index of the spoken segment; <NA> for the whole trial",
    "segment_text": "str: the segment's words; empty for the whole trial",
    "window_start_ms": "float64: start of the time window, tracker clock",
    "window_end_ms": "float64: end of the time window, tracker clock",
    "area_id": "str: the area's id (Data Viewer's number, or its index)",
    "label": "str: the area's label",
    "shape": "str: rectangle, ellipse or polygon",
    "dwell_ms": "float64: fixation time in the area within the window",
    "dwell_share": "float64: dwell_ms over all fixation time in the window (NaN if none)",
    "first_fixation_ms": "float64: latency of the first fixation in the area from the "
                         "window start (NaN if never fixated)",
    "fixation_count": "int64: fixations in the area overlapping the window",
    "visit_count": "int64: runs of consecutive fixations in the area",
}


# --------------------------------------------------------------------- the area


@dataclass(frozen=True)
class InterestArea:
    """One interest area.

    Parameters
    ----------
    label : str
        What the area is (Data Viewer's label; a scene region's phrase).
    shape : {"rectangle", "ellipse", "polygon"}
    points : tuple of (x, y)
        Rectangle and ellipse: ``((left, top), (right, bottom))`` of the bounding box;
        polygon: its vertices in order (at least three).
    area_id : str
        Data Viewer's id, or the index of the area in its source.
    start_ms, end_ms : float, optional
        A dynamic area is live from ``start_ms`` to ``end_ms`` after the trial's
        reference time; static when both are None.

    Examples
    --------
    >>> a = InterestArea("face", "ellipse", ((0, 0), (10, 20)))
    >>> a.contains([5, 0.5, 9], [10, 1, 10]).tolist()
    [True, False, True]
    """

    label: str
    shape: str
    points: tuple[tuple[float, float], ...]
    area_id: str = ""
    start_ms: float | None = None
    end_ms: float | None = None

    def __post_init__(self) -> None:
        check_option("InterestArea.shape", self.shape, tuple(SHAPES.values()))
        try:
            pts = tuple((float(x), float(y)) for x, y in self.points)
        except (TypeError, ValueError):
            raise ValueError(f"InterestArea.points must be (x, y) pairs; got {self.points!r}") from None
        if not all(math.isfinite(v) for p in pts for v in p):
            raise ValueError(f"InterestArea {self.label!r}: coordinates must be finite")
        if self.shape == "polygon" and len(pts) < 3:
            raise ValueError(f"InterestArea {self.label!r}: a polygon needs at least 3 points; "
                             f"got {len(pts)}")
        if self.shape != "polygon":
            if len(pts) != 2:
                raise ValueError(f"InterestArea {self.label!r}: a {self.shape} needs "
                                 f"((left, top), (right, bottom)); got {len(pts)} points")
            (x0, y0), (x1, y1) = pts
            pts = ((min(x0, x1), min(y0, y1)), (max(x0, x1), max(y0, y1)))
        object.__setattr__(self, "points", pts)
        if (self.start_ms is None) != (self.end_ms is None):
            raise ValueError(f"InterestArea {self.label!r}: give both start_ms and end_ms or neither")
        if self.start_ms is not None and self.end_ms is not None and self.end_ms < self.start_ms:
            raise ValueError(f"InterestArea {self.label!r}: end_ms is before start_ms")

    @property
    def dynamic(self) -> bool:
        return self.start_ms is not None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, top, right, bottom)``."""
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return min(xs), min(ys), max(xs), max(ys)

    def contains(self, xs: Any, ys: Any) -> np.ndarray:
        """Whether each point ``(x, y)`` is inside (edges of a rectangle included;
        a polygon by the even-odd rule; NaN positions are outside)."""
        x = np.asarray(xs, dtype=np.float64)
        y = np.asarray(ys, dtype=np.float64)
        left, top, right, bottom = self.bounds
        if self.shape == "rectangle":
            return (x >= left) & (x <= right) & (y >= top) & (y <= bottom)
        if self.shape == "ellipse":
            cx, cy = (left + right) / 2, (top + bottom) / 2
            rx, ry = max((right - left) / 2, 1e-12), max((bottom - top) / 2, 1e-12)
            with np.errstate(invalid="ignore"):
                return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0
        inside = np.zeros(np.broadcast(x, y).shape, dtype=bool)
        pts = self.points
        for (xa, ya), (xb, yb) in zip(pts, pts[1:] + pts[:1], strict=True):
            with np.errstate(invalid="ignore", divide="ignore"):
                crosses = (ya > y) != (yb > y)
                x_at = xa + (y - ya) * (xb - xa) / (yb - ya)
                inside ^= crosses & (x < x_at)
        return inside

    def live(self, offsets_ms: Any) -> np.ndarray:
        """Whether the area exists at each time (ms after the trial's reference)."""
        t = np.asarray(offsets_ms, dtype=np.float64)
        if self.start_ms is None or self.end_ms is None:
            return np.ones(t.shape, dtype=bool)
        return (t >= self.start_ms) & (t < self.end_ms)

    def mapped(self, fn: Any) -> InterestArea:
        """The same area with its points mapped by ``fn(xs, ys) -> (xs, ys)`` (e.g.
        image to screen pixels)."""
        xs, ys = fn(np.array([p[0] for p in self.points]), np.array([p[1] for p in self.points]))
        return replace(self, points=tuple(zip(np.asarray(xs).tolist(), np.asarray(ys).tolist(),
                                              strict=True)))

    def to_ias_line(self) -> str:
        """The area as one ``.ias`` line (tab-separated, Data Viewer's layout)."""
        if self.shape == "polygon":
            coords = [f"{_g(x)},{_g(y)}" for x, y in self.points]
        else:
            coords = [_g(v) for v in self.bounds]
        head = [] if self.start_ms is None else [_g(-self.start_ms), _g(-(self.end_ms or 0.0))]
        return "\t".join([*head, _IAS_NAME[self.shape], self.area_id or "0", *coords, self.label])


def _g(v: float) -> str:
    if v == 0:
        return "-0" if math.copysign(1.0, v) < 0 else "0"
    return f"{v:.2f}".rstrip("0").rstrip(".")


# --------------------------------------------------------------------- reading


_LINE = re.compile(r"^\s*(?:(\S+)\s+(\S+)\s+)??(RECTANGLE|ELLIPSE|FREEHAND)\s+(\S+)(.*)$",
                   re.IGNORECASE)


def _parse_area(text: str, *, path: Any, line: int | None) -> InterestArea:
    """One area from the text of an ``.ias`` line or of a ``!V IAREA`` message (after
    ``IAREA``)."""
    m = _LINE.match(text)
    if m is None or (m.group(1) is not None and not (_is_number(m.group(1))
                                                     and _is_number(m.group(2)))):
        got = text.split()[0] if text.split() else "nothing"
        raise ParseError("expected [start end] RECTANGLE|ELLIPSE|FREEHAND id coordinates "
                         f"label; got {got!r}", path=path, line=line)
    start = None if m.group(1) is None else abs(float(m.group(1)))
    end = None if m.group(2) is None else abs(float(m.group(2)))
    keyword, area_id, rest = m.group(3).upper(), m.group(4), m.group(5)
    shape = SHAPES[keyword]
    try:
        if shape == "polygon":
            points: list[tuple[float, float]] = []
            pos = 0
            while (pair := _PAIR.match(rest, pos)) is not None:
                points.append((float(pair.group(1)), float(pair.group(2))))
                pos = pair.end()
            label = rest[pos:].strip()
            return InterestArea(label or f"IA_{area_id}", shape, tuple(points), area_id,
                                start, end)
        parts = rest.split(None, 4)
        if len(parts) < 4 or not all(_is_number(p) for p in parts[:4]):
            raise ValueError(f"{keyword} needs left top right bottom; got {rest.strip()!r}")
        left, top, right, bottom = (float(p) for p in parts[:4])
        label = parts[4].strip() if len(parts) > 4 else ""
        return InterestArea(label or f"IA_{area_id}", shape, ((left, top), (right, bottom)),
                            area_id, start, end)
    except ValueError as exc:
        raise ParseError(str(exc), path=path, line=line) from None


def parse_ias(text: str, *, path: str | os.PathLike[str] | None = None) -> list[InterestArea]:
    """The areas of the text of an ``.ias`` file.

    Raises
    ------
    vista.errors.ParseError
        Naming the file and line of an area that cannot be read.

    Examples
    --------
    >>> areas = parse_ias("# two areas\\nRECTANGLE\\t1\\t10\\t20\\t110\\t70\\tred car\\n"
    ...                   "-0\\t-500\\tFREEHAND\\t2\\t0,0\\t10,0\\t5,8\\ttree\\n")
    >>> [(a.label, a.shape, a.start_ms, a.end_ms) for a in areas]
    [('red car', 'rectangle', None, None), ('tree', 'polygon', 0.0, 500.0)]
    """
    areas = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        areas.append(_parse_area(line, path=path, line=lineno))
    return areas


def read_ias(path: str | os.PathLike[str]) -> list[InterestArea]:
    """Read an ``.ias`` file (UTF-8, or Latin-1 where it is not UTF-8)."""
    p = check_regular_file(path, what="interest-area file")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return parse_ias(text, path=p)


def areas_from_messages(
    messages: Iterable[Message], *, base_dir: str | os.PathLike[str] | None = None,
) -> list[InterestArea]:
    """The areas a trial declares in ``!V IAREA`` messages.

    ``!V IAREA RECTANGLE|ELLIPSE|FREEHAND ...`` declare an area (with the ``.ias``
    line's syntax); ``!V IAREA FILE path`` loads an ``.ias`` file, relative paths
    resolved against ``base_dir`` (the recording's folder). A later area with the
    same id replaces an earlier one, as in Data Viewer.
    """
    found: dict[str, InterestArea] = {}
    for m in messages:
        parts = m.text.split(None, 2)
        if len(parts) < 3 or parts[0] != "!V" or parts[1] != "IAREA":
            continue
        body = parts[2]
        if body.split(None, 1)[0].upper() == "FILE":
            name = body.split(None, 1)[1].strip() if len(body.split(None, 1)) > 1 else ""
            p = Path(name)
            if not p.is_absolute() and base_dir is not None:
                p = Path(base_dir) / p
            new = read_ias(p)
        else:
            new = [_parse_area(body, path=f"!V IAREA message at {m.time_ms:g} ms", line=None)]
        for a in new:
            found[a.area_id or str(len(found))] = a
    return list(found.values())


def scene_to_ias(scene: Any, *, placement: Placement | None = None) -> str:
    """The text of an ``.ias`` file for a simulator scene: one RECTANGLE per region
    (a point region becomes a 1-pixel box), labelled with its phrase.

    Parameters
    ----------
    scene : vista.scene.Scene
    placement : Placement, optional
        Where the image sat on the screen: coordinates are then screen pixels, as
        Data Viewer expects. Without it they are image pixels.

    Examples
    --------
    >>> from vista.scene import Region, Scene
    >>> s = Scene((100, 200), (Region("a red car", (10, 20, 110, 70)),))
    >>> scene_to_ias(s, placement=Placement(860, 490, 200, 100)).splitlines()[-1]
    'RECTANGLE\\t1\\t870\\t510\\t970\\t560\\ta red car'
    """
    lines = ["# interest areas of a vista scene; "
             + ("screen pixels" if placement is not None else "image pixels")]
    for a in _scene_areas(scene):
        if placement is not None:
            a = a.mapped(_to_screen(placement, scene.image_size))
        lines.append(a.to_ias_line())
    return "\n".join(lines) + "\n"


def _scene_areas(scene: Any) -> list[InterestArea]:
    out = []
    for i, r in enumerate(scene.regions, start=1):
        x0, y0, x1, y1 = r.box
        if x0 == x1 and y0 == y1:
            x0, y0, x1, y1 = x0 - 0.5, y0 - 0.5, x1 + 0.5, y1 + 0.5
        out.append(InterestArea(r.phrase, "rectangle", ((x0, y0), (x1, y1)), str(i)))
    return out


def _to_screen(placement: Placement, image_shape: tuple[int, int]) -> Any:
    from .geometry import image_to_screen

    return lambda xs, ys: image_to_screen(xs, ys, placement, image_shape)


def _to_image(placement: Placement, image_shape: tuple[int, int]) -> Any:
    from .geometry import screen_to_image_xy

    return lambda xs, ys: screen_to_image_xy(xs, ys, placement, image_shape)


def _parse_polygon(text: str) -> list[tuple[float, float]]:
    text = text.strip()
    if text.startswith("["):
        pts = json.loads(text)
        return [(float(x), float(y)) for x, y in pts]
    if "," in text:
        return [(float(m.group(1)), float(m.group(2))) for m in _PAIR.finditer(text)]
    nums = [float(v) for v in text.split()]
    if len(nums) % 2:
        raise ValueError("an odd number of coordinates")
    return list(zip(nums[0::2], nums[1::2], strict=True))


def read_region_csv(path: str | os.PathLike[str]) -> dict[str, list[InterestArea]]:
    """Regions from a CSV with columns ``image, phrase, polygon`` (image pixels).

    ``polygon`` is ``x1,y1 x2,y2 ...``, ``x1 y1 x2 y2 ...`` or a JSON list of
    ``[x, y]`` pairs; ``image`` is matched by file name. Returns ``{image name: areas}``.
    """
    p = check_regular_file(path, what="region CSV")
    out: dict[str, list[InterestArea]] = {}
    with open(p, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"image", "phrase", "polygon"} - set(reader.fieldnames or ())
        if missing:
            raise ParseError(f"missing column(s) {', '.join(sorted(missing))}; expected image, "
                             "phrase, polygon", path=p, line=1)
        for row in reader:
            line = reader.line_num
            try:
                pts = _parse_polygon(row["polygon"] or "")
                name = Path(str(row["image"]).strip()).name
                areas = out.setdefault(name, [])
                areas.append(InterestArea(str(row["phrase"]).strip(), "polygon", tuple(pts),
                                          str(len(areas) + 1)))
            except (ValueError, TypeError) as exc:
                raise ParseError(f"invalid region: {exc}", path=p, line=line) from None
    return out


def image_regions(
    image_path: str | os.PathLike[str], *, source: str | os.PathLike[str] = "scene",
    placement: Placement | None = None, ias_space: str = "screen",
) -> list[InterestArea]:
    """The labelled regions of one image, in image pixels (for ``vista lag``).

    Parameters
    ----------
    image_path : path
        The image; its file name selects the regions in an ``.ias`` folder or a CSV.
    source : "scene" or path
        ``"scene"``: the simulator's ``IMAGE.scene.json`` (one rectangle per phrase);
        an ``.ias`` file; a folder of ``IMAGE_STEM.ias`` files; a ``.csv`` of
        ``image, phrase, polygon``.
    placement : Placement, optional
        Where the image sat on the screen, to bring ``.ias`` screen coordinates onto
        the image grid; needed when ``ias_space="screen"``.
    ias_space : {"screen", "image"}
        The coordinates of the ``.ias`` file.

    Returns
    -------
    list of InterestArea
        Empty when the source has no region for this image.
    """
    check_option("ias_space", ias_space, ("screen", "image"))
    image_path = Path(image_path)
    if str(source) == "scene":
        from ..scene import read_scene, scene_path

        if not scene_path(image_path).is_file():
            return []
        return _scene_areas(read_scene(image_path))
    src = Path(source)
    if src.suffix.lower() == ".csv":
        return read_region_csv(src).get(image_path.name, [])
    ias = src / f"{image_path.stem}.ias" if src.is_dir() else src
    if src.is_dir() and not ias.is_file():
        return []
    areas = read_ias(ias)
    if ias_space == "image":
        return areas
    if placement is None:
        raise ValueError(f"image_regions: {ias} is in screen pixels; pass the placement of "
                         f"{image_path.name} (or ias_space='image')")
    from ..imaging import image_size

    return [a.mapped(_to_image(placement, image_size(image_path))) for a in areas]


# --------------------------------------------------------------------- measuring


def area_measures(
    fixations: Fixations, areas: Sequence[InterestArea], *, window: tuple[float, float],
    reference_ms: float | None = None,
) -> list[dict[str, Any]]:
    """Dwell, first-fixation latency, fixation count and visit count per area.

    Parameters
    ----------
    fixations : Fixations
        One eye's fixations, in the areas' coordinates, in time order.
    areas : sequence of InterestArea
    window : (start_ms, end_ms)
        The time window (tracker clock). A fixation counts with the part of it that
        overlaps the window (as the maps weight it).
    reference_ms : float, optional
        The time dynamic areas are relative to (image onset); default the window start.

    Returns
    -------
    list of dict
        One per area: ``area_id, label, shape, dwell_ms, dwell_share,
        first_fixation_ms, fixation_count, visit_count``. A visit is a run of
        consecutive fixations (within the window) in the area; the first-fixation
        latency runs from the window start to the first such fixation (its start,
        clipped to the window).

    Examples
    --------
    >>> fix = Fixations([0, 300, 600, 900], [250, 550, 850, 1000], [5, 50, 6, 7], [5, 50, 5, 5])
    >>> box = InterestArea("box", "rectangle", ((0, 0), (10, 10)), "1")
    >>> (row,) = area_measures(fix, [box], window=(100, 1000))
    >>> row["dwell_ms"], row["first_fixation_ms"], row["fixation_count"], row["visit_count"]
    (500.0, 0.0, 3, 2)
    """
    t0, t1 = (float(v) for v in window)
    if t1 < t0:
        raise ValueError(f"window must be (start_ms, end_ms) with start <= end; got {window!r}")
    ref = t0 if reference_ms is None else float(reference_ms)
    starts, ends = fixations.starts_ms, fixations.ends_ms
    overlap = np.clip(np.minimum(ends, t1) - np.maximum(starts, t0), 0.0, None)
    keep = (overlap > 0) | ((starts >= t0) & (starts < t1))
    fx, fy = fixations.xs[keep], fixations.ys[keep]
    ov, st = overlap[keep], np.maximum(starts[keep], t0)
    total = float(ov.sum())
    rows = []
    for a in areas:
        hit = a.contains(fx, fy) & a.live(fixations.starts_ms[keep] - ref)
        runs = int(np.count_nonzero(hit[1:] & ~hit[:-1]) + (1 if hit.size and hit[0] else 0))
        dwell = float(ov[hit].sum())
        rows.append({
            "area_id": a.area_id, "label": a.label, "shape": a.shape,
            "dwell_ms": dwell,
            "dwell_share": dwell / total if total > 0 else math.nan,
            "first_fixation_ms": float(st[hit][0] - t0) if hit.any() else math.nan,
            "fixation_count": int(np.count_nonzero(hit)),
            "visit_count": runs,
        })
    return rows


def trial_areas(
    trial: Trial, *, ias: str | os.PathLike[str] | None = None, ias_space: str = "screen",
    base_dir: str | os.PathLike[str] | None = None,
) -> list[InterestArea]:
    """The areas of one trial in screen pixels.

    ``ias`` None: the trial's ``!V IAREA`` messages; ``"scene"``: the image's scene
    file; an ``.ias`` file: the same areas for every trial; a folder: its
    ``IMAGE_STEM.ias`` (Data Viewer's one file per image); a ``.csv`` of ``image,
    phrase, polygon`` (image pixels). Image-pixel areas are placed on the screen with
    the trial's placement.
    """
    check_option("ias_space", ias_space, ("screen", "image"))
    if ias is None:
        return areas_from_messages(trial.messages, base_dir=base_dir)
    image = trial.image_path
    if str(ias).lower().endswith(".csv"):
        ias_space = "image"  # region CSVs are in image pixels
    if str(ias) == "scene" or ias_space == "image":
        if image is None:
            return []
        if str(ias) == "scene":
            areas = image_regions(image, source="scene")
        else:
            areas = image_regions(image, source=ias, ias_space="image")
        if not areas:
            return []
        if trial.placement is None:
            raise ValueError(f"trial {trial.trial_id!r}: the image's placement on the screen "
                             "is unknown, so image-pixel areas cannot be placed")
        from ..imaging import image_size

        return [a.mapped(_to_screen(trial.placement, image_size(image))) for a in areas]
    src = Path(ias)
    if src.is_dir():
        if image is None:
            return []
        f = src / f"{Path(image).stem}.ias"
        return read_ias(f) if f.is_file() else []
    return read_ias(src)


def _pick_eye(fixations: Fixations, eye: str | None) -> Fixations:
    present = set(fixations.eyes.tolist())
    if eye is None:
        eye = "R" if "R" in present or not present else sorted(present)[0]
    return fixations.select(fixations.eyes == eye)


def interest_area_report(
    source: str | os.PathLike[str], *, ias: str | os.PathLike[str] | None = None,
    ias_space: str = "screen", eye: str | None = None, segments: bool = True,
    segmenter: str = "phrase", lead_ms: float | None = None, lag_ms: float | None = None,
) -> Any:
    """Interest-area measures for every trial (and spoken segment) of a session
    folder or a recording (``.edf``/``.asc``), as a pandas DataFrame.

    Parameters
    ----------
    source : path
        A session folder (``session.json``) or an EyeLink recording.
    ias : path or "scene", optional
        Where the areas come from (see :func:`trial_areas`); default the recording's
        ``!V IAREA`` messages.
    ias_space : {"screen", "image"}
        Coordinates of the ``.ias`` files.
    eye : {"L", "R"} or None
        Which eye; None takes the right eye where both were recorded.
    segments : bool
        Also a row per area for each segment of a trial's transcript, over its
        alignment window ``[start - lead_ms, end + lag_ms]``.
    segmenter, lead_ms, lag_ms
        As for ``vista maps`` (defaults: phrase, 1500 and 0 ms).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`AREA_COLUMNS`, one row per trial (or segment) and area.
    """
    import pandas as pd

    from .align import DEFAULT_LAG_MS, DEFAULT_LEAD_MS
    from .segments import segment

    if eye is not None:
        check_option("eye", eye, ("L", "R"))
    lead = DEFAULT_LEAD_MS if lead_ms is None else float(lead_ms)
    lag = DEFAULT_LAG_MS if lag_ms is None else float(lag_ms)
    trials, base, label = _load_trials(source)
    rows: list[dict[str, Any]] = []
    for trial in trials:
        areas = trial_areas(trial, ias=ias, ias_space=ias_space, base_dir=base)
        if not areas:
            continue
        fix = _pick_eye(trial.fixations, eye)
        t0 = trial.start_ms if trial.start_ms is not None else (
            float(fix.starts_ms.min()) if len(fix) else 0.0)
        t1 = trial.end_ms if trial.end_ms is not None else (
            float(fix.ends_ms.max()) if len(fix) else t0)
        windows: list[tuple[Any, str, float, float]] = [(pd.NA, "", t0, t1)]
        if segments and trial.transcript is not None and trial.transcript.words:
            for k, seg in enumerate(segment(trial.transcript, segmenter)):
                windows.append((k, seg.text, seg.start_ms - lead, seg.end_ms + lag))
        for index, text, w0, w1 in windows:
            for r in area_measures(fix, areas, window=(w0, w1), reference_ms=t0):
                rows.append({"source": label, "trial_id": trial.trial_id,
                             "image": trial.image_path or "", "segment_index": index,
                             "segment_text": text, "window_start_ms": w0,
                             "window_end_ms": w1, **r})
    frame = pd.DataFrame(rows, columns=list(AREA_COLUMNS))
    return _typed(frame)


def _typed(frame: Any) -> Any:
    kinds = {"segment_index": "Int64", "window_start_ms": "float64", "window_end_ms": "float64",
             "dwell_ms": "float64", "dwell_share": "float64", "first_fixation_ms": "float64",
             "fixation_count": "int64", "visit_count": "int64"}
    for col in AREA_COLUMNS:
        frame[col] = frame[col].astype(kinds.get(col, "str"))
    return frame


def _load_trials(source: str | os.PathLike[str]) -> tuple[list[Trial], Path, str]:
    from .session_reader import is_session_dir, read_session

    p = Path(source)
    if p.is_dir():
        if not is_session_dir(p):
            raise FileNotFoundError(f"{p} is not a session folder (no session.json)")
        session = read_session(p)
        return list(session.trials), session.recording.parent, str(p)
    from .io import read_recording

    rec = read_recording(p)
    return list(rec.trials), p.resolve().parent, str(p)


def frame_to_csv(frame: Any) -> bytes:
    """The report as CSV bytes (UTF-8, ``NA`` for missing segment indices empty)."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def read_area_csv(path: str | os.PathLike[str]) -> Any:
    """Read back a CSV written by ``vista areas`` with the documented dtypes."""
    import pandas as pd

    p = check_regular_file(path, what="areas CSV")
    frame = pd.read_csv(p, keep_default_na=False, na_values={
        c: [""] for c in AREA_COLUMNS if c not in ("segment_text", "label", "image")})
    return _typed(frame)

