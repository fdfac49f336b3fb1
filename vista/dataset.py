"""The dataset folder: images, human maps and the triplets that join them.

Layout::

    DATASET/
      dataset.json       {"format": "vista-dataset", "version": 1, "name", "synthetic",
                          "provenance": {...}}   (how the maps were made)
      images/            image files (optional: triplets may reference images elsewhere)
      maps/ID.npy        float32 H×W human map on the image's pixel grid, sums to 1
      fixations/ID.npy   optional: float64 N×3 fixations behind the map: x, y (image px), weight (ms)
      triplets.jsonl     one JSON object per line:
                         {"triplet_id", "image", "text", "map", "fixations"?, "meta": {...}}

``image`` and ``map`` are paths relative to the dataset folder (absolute paths are
kept as they are). ``meta`` carries per-triplet provenance: participant, trial,
segment times, fixation counts, and ``observer`` where several people viewed an image.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import DatasetError, ParseError
from .records import Triplet

__all__ = ["Dataset", "DatasetWriter", "load_image", "read_dataset", "write_atomic"]

FORMAT = "vista-dataset"
FORMAT_VERSION = 1


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` durably: a temporary file in the same folder, fsync,
    then rename, so a reader sees either nothing or the whole file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_npy_atomic(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Save ``array`` as .npy through :func:`write_atomic`."""
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    write_atomic(path, buf.getvalue())


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as an H×W×3 uint8 RGB array."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ParseError(f"cannot read image: {exc}", path=path) from exc


@dataclass
class Dataset:
    """A dataset folder read into memory (triplets only; maps load on demand)."""

    root: Path
    triplets: list[Triplet]
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.triplets)

    def __iter__(self) -> Iterator[Triplet]:
        return iter(self.triplets)

    def __getitem__(self, triplet_id: str) -> Triplet:
        for t in self.triplets:
            if t.triplet_id == triplet_id:
                return t
        raise KeyError(f"no triplet {triplet_id!r} in {self.root}")

    @property
    def synthetic(self) -> bool:
        return bool(self.info.get("synthetic", False))

    def load_map(self, triplet: Triplet) -> np.ndarray:
        """The human map of ``triplet`` as float32, checked to be a finite 2-D density."""
        try:
            arr = np.load(triplet.human_map_path, allow_pickle=False)
        except FileNotFoundError:
            raise DatasetError(
                f"human map {triplet.human_map_path} is missing", triplet_id=triplet.triplet_id
            ) from None
        except (OSError, ValueError) as exc:
            raise DatasetError(
                f"human map {triplet.human_map_path} is unreadable: {exc}",
                triplet_id=triplet.triplet_id,
            ) from exc
        if arr.ndim != 2 or not np.isfinite(arr).all() or (arr < 0).any():
            raise DatasetError(
                f"human map {triplet.human_map_path} must be a finite, non-negative 2-D "
                f"array; got shape {arr.shape}",
                triplet_id=triplet.triplet_id,
            )
        return arr.astype(np.float32, copy=False)

    def load_fixations(self, triplet: Triplet) -> np.ndarray | None:
        """The N×3 fixations (x, y, weight) behind the map, or None if not stored."""
        if triplet.fixations_path is None:
            return None
        try:
            arr = np.load(triplet.fixations_path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DatasetError(
                f"fixations {triplet.fixations_path} are missing or unreadable: {exc}",
                triplet_id=triplet.triplet_id,
            ) from exc
        if arr.ndim != 2 or arr.shape[1] != 3 or not np.isfinite(arr).all():
            raise DatasetError(
                f"fixations {triplet.fixations_path} must be a finite N×3 array; got {arr.shape}",
                triplet_id=triplet.triplet_id,
            )
        return arr.astype(np.float64, copy=False)

    def load_image(self, triplet: Triplet) -> np.ndarray:
        """The image of ``triplet`` as H×W×3 uint8."""
        try:
            return load_image(triplet.image_path)
        except FileNotFoundError:
            raise DatasetError(
                f"image {triplet.image_path} is missing", triplet_id=triplet.triplet_id
            ) from None


def _resolve(root: Path, p: str) -> str:
    q = Path(p)
    return str(q if q.is_absolute() else (root / q))


def read_dataset(path: str | os.PathLike[str]) -> Dataset:
    """Read a dataset folder written by :class:`DatasetWriter` or ``vista import``.

    Raises
    ------
    FileNotFoundError
        If the folder or its ``triplets.jsonl`` is missing.
    ParseError
        If a line of ``triplets.jsonl`` is not a valid triplet (file and line named).
    DatasetError
        If two triplets share an id.
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist")
    index = root / "triplets.jsonl"
    if not index.is_file():
        raise FileNotFoundError(f"{index} is missing: not a vista dataset folder")
    info: dict[str, Any] = {}
    info_path = root / "dataset.json"
    if info_path.is_file():
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ParseError(f"invalid JSON: {exc}", path=info_path) from exc
    triplets: list[Triplet] = []
    seen: dict[str, int] = {}
    with open(index, encoding="utf-8", errors="strict") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ParseError(f"invalid JSON: {exc.msg}", path=index, line=lineno) from exc
            if not isinstance(row, dict):
                raise ParseError("each line must be a JSON object", path=index, line=lineno)
            missing = [k for k in ("triplet_id", "image", "text", "map") if k not in row]
            if missing:
                raise ParseError(f"missing field(s) {', '.join(missing)}", path=index, line=lineno)
            tid = str(row["triplet_id"])
            if tid in seen:
                raise DatasetError(
                    f"duplicate id in {index} (lines {seen[tid]} and {lineno})", triplet_id=tid
                )
            seen[tid] = lineno
            try:
                triplets.append(
                    Triplet(
                        triplet_id=tid,
                        image_path=_resolve(root, str(row["image"])),
                        text=str(row["text"]),
                        human_map_path=_resolve(root, str(row["map"])),
                        meta=row.get("meta") or {},
                        fixations_path=(
                            _resolve(root, str(row["fixations"])) if row.get("fixations") else None
                        ),
                    )
                )
            except (TypeError, ValueError) as exc:
                raise ParseError(str(exc), path=index, line=lineno) from exc
    return Dataset(root=root, triplets=triplets, info=info)


class DatasetWriter:
    """Write a dataset folder one triplet at a time, durably.

    Each map is written atomically and each ``triplets.jsonl`` line is flushed and
    fsynced before :meth:`add` returns, so an interrupted run leaves a valid
    dataset of the triplets written so far. An existing dataset is never
    overwritten: a folder that already holds ``triplets.jsonl`` raises
    FileExistsError unless ``append=True``.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> d = tempfile.mkdtemp()
    >>> with DatasetWriter(d + "/ds", name="demo") as w:
    ...     w.add("t1", image="img.png", text="a cat", human_map=np.ones((2, 3)) / 6)
    >>> [t.text for t in read_dataset(d + "/ds")]
    ['a cat']
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        synthetic: bool = False,
        provenance: Mapping[str, Any] | None = None,
        append: bool = False,
    ) -> None:
        self.root = Path(path)
        index = self.root / "triplets.jsonl"
        if index.exists() and not append:
            raise FileExistsError(
                f"{self.root} already holds a dataset; choose a new --out folder "
                "(vista never overwrites a dataset)"
            )
        (self.root / "maps").mkdir(parents=True, exist_ok=True)
        (self.root / "images").mkdir(exist_ok=True)
        self._ids: set[str] = set()
        if index.exists():
            self._ids = {t.triplet_id for t in read_dataset(self.root)}
        info_path = self.root / "dataset.json"
        if not info_path.exists():
            info = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "name": name or self.root.name,
                "synthetic": bool(synthetic),
                "vista_version": __version__,
                "provenance": dict(provenance or {}),
            }
            write_atomic(info_path, (json.dumps(info, indent=2, sort_keys=True) + "\n").encode())
        self._fh = open(index, "a", encoding="utf-8")

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def add_image(self, source: str | os.PathLike[str]) -> str:
        """Copy an image into ``images/`` (once) and return its path relative to the root.

        A different file already stored under the same name raises FileExistsError.
        """
        import shutil

        src = Path(source)
        dst = self.root / "images" / src.name
        if dst.exists():
            if dst.read_bytes() != src.read_bytes():
                raise FileExistsError(f"{dst} exists and differs from {src}")
        else:
            shutil.copyfile(src, dst)
        return f"images/{src.name}"

    def add(
        self,
        triplet_id: str,
        *,
        image: str | os.PathLike[str],
        text: str,
        human_map: np.ndarray,
        meta: Mapping[str, Any] | None = None,
        fixations: np.ndarray | None = None,
    ) -> Triplet:
        """Write one triplet: the map to ``maps/ID.npy`` and a line to ``triplets.jsonl``.

        ``image`` is stored as given (relative to the dataset folder, or absolute).
        """
        tid = str(triplet_id)
        if not tid or "/" in tid or "\\" in tid or tid.startswith("."):
            raise ValueError(f"triplet_id must be a plain file-name-safe string; got {tid!r}")
        if tid in self._ids:
            raise DatasetError("duplicate id", triplet_id=tid)
        arr = np.asarray(human_map, dtype=np.float32)
        if arr.ndim != 2 or not np.isfinite(arr).all():
            raise ValueError(f"human_map must be a finite 2-D array; got shape {arr.shape}")
        map_rel = f"maps/{tid}.npy"
        fix_rel = None
        if fixations is not None:
            fix = np.asarray(fixations, dtype=np.float64)
            if fix.ndim != 2 or fix.shape[1] != 3 or not np.isfinite(fix).all():
                raise ValueError(f"fixations must be a finite N×3 array; got shape {fix.shape}")
            fix_rel = f"fixations/{tid}.npy"
            (self.root / "fixations").mkdir(exist_ok=True)
            save_npy_atomic(self.root / fix_rel, fix)
        save_npy_atomic(self.root / map_rel, arr)
        row: dict[str, Any] = {"triplet_id": tid, "image": str(image), "text": text,
                               "map": map_rel, "meta": dict(meta or {})}
        if fix_rel is not None:
            row["fixations"] = fix_rel
        self._fh.write(json.dumps(row, sort_keys=True) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._ids.add(tid)
        return Triplet(tid, _resolve(self.root, str(image)), text, str(self.root / map_rel),
                       row["meta"], None if fix_rel is None else str(self.root / fix_rel))
