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

``image`` and ``map`` are paths relative to the dataset folder. ``image`` may also be
absolute (an image kept where it was, ``--reference-images``): that is the only path
that may lead out of the folder. A relative ``image`` may not climb out of it with
``..``, and ``map`` and ``fixations`` must resolve inside it (links followed).
``meta`` carries per-triplet provenance: participant, trial, segment times, fixation
counts, and ``observer`` where several people viewed an image.

Importers of other layouts (``vista import``) live in :mod:`vista.importers`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, _io, imaging
from .errors import DatasetError, ParseError, PathError
from .records import Triplet

__all__ = [
    "FRAME_COLUMNS",
    "Dataset",
    "DatasetWriter",
    "read_dataset",
    "read_npy",
]

FORMAT = "vista-dataset"
FORMAT_VERSION = 1

FRAME_COLUMNS: dict[str, str] = {
    "triplet_id": "string",
    "text": "string",
    "image_path": "string",
    "map_path": "string",
    "fixations_path": "string",
}
"""The fixed columns of :meth:`Dataset.to_frame` and their pandas dtypes; each key of
the triplets' ``meta`` adds a column ``meta.KEY``."""


_KINDS = {"c": "complex numbers", "U": "strings", "S": "bytes", "O": "objects",
          "V": "records", "M": "dates", "m": "time spans"}


def _npy_header(fh: Any, what: str, path: Path) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The shape, Fortran order and dtype of an open ``.npy`` file's header."""
    import tokenize

    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read(fh)
    except (ValueError, SyntaxError, TypeError, EOFError, tokenize.TokenError) as exc:
        if fh.tell() == 0 or str(exc).startswith("the magic string"):
            raise ParseError(f"{what} is not a .npy file", path=path) from None
        raise ParseError(f"{what} has an unreadable .npy header: {exc}", path=path) from None
    return tuple(shape), bool(fortran), np.dtype(dtype)


def read_npy(path: str | os.PathLike[str], *, what: str = "array") -> np.ndarray:
    """A ``.npy`` file holding real numbers (bool, integer or float), without pickles.

    Only regular files are opened, and the header is checked before any data is read:
    the size it promises must be the size of the data that follows, so a forged shape
    cannot ask for more memory than the file holds. An empty, truncated or pickled
    file, an ``.npz`` archive, or values that are strings, complex numbers, objects or
    records raise :class:`~vista.errors.ParseError` naming the file.

    Examples
    --------
    >>> import io, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "m.npy")
    >>> np.save(p, np.eye(2, dtype=np.float32))
    >>> read_npy(p).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    p = _io.check_regular_file(path, what=what)
    with open(p, "rb") as fh:
        if fh.read(4) == b"PK\x03\x04":
            raise ParseError(f"{what} must be a .npy array; got an .npz archive", path=p)
        fh.seek(0)
        shape, fortran, dtype = _npy_header(fh, what, p)
        if dtype.kind not in "biuf":
            kind = _KINDS.get(dtype.kind, str(dtype))
            pickled = " (pickled)" if dtype.hasobject else ""
            raise ParseError(f"{what} must hold real numbers; got {kind}{pickled} "
                             f"(dtype {dtype})", path=p)
        want = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        held = os.fstat(fh.fileno()).st_size - fh.tell()
        if held != want:
            raise ParseError(f"{what} is cut short or padded: its header promises {want} "
                             f"bytes of {dtype} {shape}, the file holds {held}", path=p)
        data = fh.read(want)
    if len(data) != want:  # the file changed while it was read
        raise ParseError(f"{what} changed while it was read", path=p)
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()


@dataclass
class Dataset:
    """A dataset folder read into memory (triplets only; maps load on demand)."""

    root: Path
    triplets: list[Triplet]
    info: dict[str, Any] = field(default_factory=dict)
    bad: dict[str, str] = field(default_factory=dict)
    """Lines or triplets left out by ``read_dataset(..., skip_bad=True)``, with why."""

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

    def _array(self, triplet: Triplet, path: str, what: str) -> np.ndarray:
        try:
            return read_npy(path, what=what)
        except FileNotFoundError:
            raise DatasetError(f"{what} {path} is missing",
                               triplet_id=triplet.triplet_id) from None
        except ParseError as exc:
            raise DatasetError(f"{what} {path} is unreadable: {exc.message}",
                               triplet_id=triplet.triplet_id) from None

    def load_map(self, triplet: Triplet) -> np.ndarray:
        """The human map of ``triplet`` as float32, checked to be a finite,
        non-negative, non-empty 2-D array of real numbers."""
        arr = self._array(triplet, triplet.human_map_path, "human map")
        if arr.ndim != 2 or arr.size == 0 or not np.isfinite(arr).all() or (arr < 0).any():
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
        arr = self._array(triplet, triplet.fixations_path, "fixations")
        if arr.ndim != 2 or arr.shape[1] != 3 or not np.isfinite(arr).all():
            raise DatasetError(
                f"fixations {triplet.fixations_path} must be a finite N×3 array; got {arr.shape}",
                triplet_id=triplet.triplet_id,
            )
        return arr.astype(np.float64, copy=False)

    def load_image(self, triplet: Triplet) -> np.ndarray:
        """The image of ``triplet`` as H×W×3 uint8 (through :func:`vista.imaging.load_image`,
        so its pixel limit applies)."""
        try:
            return imaging.load_image(triplet.image_path)
        except FileNotFoundError:
            raise DatasetError(
                f"image {triplet.image_path} is missing", triplet_id=triplet.triplet_id
            ) from None
        except ParseError as exc:
            raise DatasetError(str(exc), triplet_id=triplet.triplet_id) from None

    def to_frame(self) -> Any:
        """The triplets as a pandas DataFrame, one row per triplet in file order.

        Columns: ``triplet_id``, ``text``, ``image_path``, ``map_path`` and
        ``fixations_path`` (pandas ``string`` dtype; paths as :class:`Triplet` holds
        them, ``<NA>`` where no fixations are stored; see :data:`FRAME_COLUMNS`), then
        ``meta.KEY`` for every key of any triplet's ``meta``, in order of first
        appearance, with the nullable dtype pandas infers (``Int64``, ``Float64``,
        ``boolean``, ``string``; ``object`` for lists and objects), ``<NA>`` where a
        triplet lacks the key.

        Examples
        --------
        >>> import tempfile, numpy as np
        >>> d = tempfile.mkdtemp() + "/ds"
        >>> with DatasetWriter(d) as w:
        ...     _ = w.add("t1", image="a.png", text="a cat", human_map=np.ones((2, 2)) / 4,
        ...               meta={"participant": "p1", "n_fixations": 3})
        >>> df = read_dataset(d).to_frame()
        >>> list(df.columns)[-2:], str(df["meta.n_fixations"].dtype)
        (['meta.n_fixations', 'meta.participant'], 'Int64')
        """
        import pandas as pd  # a dependency, imported only here

        keys = list(dict.fromkeys(k for t in self.triplets for k in t.meta))
        base = pd.DataFrame({
            "triplet_id": [t.triplet_id for t in self.triplets],
            "text": [t.text for t in self.triplets],
            "image_path": [t.image_path for t in self.triplets],
            "map_path": [t.human_map_path for t in self.triplets],
            "fixations_path": [t.fixations_path for t in self.triplets],
        }).astype(FRAME_COLUMNS)
        meta = pd.DataFrame({f"meta.{k}": pd.Series([t.meta.get(k, pd.NA) for t in
                                                     self.triplets], dtype=object)
                             for k in keys}, index=base.index)
        return pd.concat([base, meta.convert_dtypes()], axis=1)


def _string_field(row: Mapping[str, Any], key: str, *, optional: bool = False) -> str | None:
    value = row.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or (key != "text" and not value):
        want = "a string" if key == "text" else "a non-empty string"
        raise ValueError(f"{key!r} must be {want}; got {json.dumps(value)[:60]}")
    return value


def _triplet(root: Path, row: Mapping[str, Any]) -> Triplet:
    """The Triplet of one ``triplets.jsonl`` object, with its types and paths checked
    (ValueError says which field is wrong)."""
    missing = [k for k in ("triplet_id", "image", "text", "map") if k not in row]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    tid, text = _string_field(row, "triplet_id"), _string_field(row, "text")
    image, hmap = _string_field(row, "image"), _string_field(row, "map")
    fix = _string_field(row, "fixations", optional=True)
    meta = row.get("meta")
    if meta is not None and not isinstance(meta, dict):
        raise ValueError(f"'meta' must be an object; got {json.dumps(meta)[:60]}")
    assert tid is not None and text is not None and image is not None and hmap is not None
    image_path = Path(image)
    if not image_path.is_absolute() and os.path.normpath(image).split(os.sep)[0] == "..":
        raise PathError(f"image {image!r} leads out of the dataset folder; a relative path "
                        "must stay inside it (an image elsewhere needs an absolute path)")
    for key, value in (("map", hmap), ("fixations", fix)):
        if value is not None:
            _io.inside(root, value, what=key)
    return Triplet(triplet_id=tid, image_path=_resolve(root, image), text=text,
                   human_map_path=_resolve(root, hmap), meta=meta or {},
                   fixations_path=None if fix is None else _resolve(root, fix))


def _resolve(root: Path, p: str) -> str:
    q = Path(p)
    return str(q if q.is_absolute() else (root / q))


def read_dataset(path: str | os.PathLike[str], *, skip_bad: bool = False) -> Dataset:
    """Read a dataset folder written by :class:`DatasetWriter` or ``vista import``.

    Parameters
    ----------
    path : path
        The dataset folder.
    skip_bad : bool
        Leave out lines that are not valid triplets and every triplet whose id occurs
        more than once, and list them in :attr:`Dataset.bad` (keyed by triplet id, or
        ``"line N"``), instead of raising.

    Raises
    ------
    FileNotFoundError
        If the folder or its ``triplets.jsonl`` is missing.
    ParseError
        If ``dataset.json`` is not a JSON object, or a line of ``triplets.jsonl`` is
        not a valid triplet: not JSON, a field missing or of the wrong type, a map path
        outside the folder (file and line named).
    DatasetError
        If two triplets share an id.
    """
    root = _io.marked_folder(path, "triplets.jsonl", what="dataset folder")
    index = root / "triplets.jsonl"
    info_path = root / "dataset.json"
    info: dict[str, Any] = (_io.read_json(info_path, expect=dict, what="dataset.json")
                            if info_path.exists() else {})
    bad: dict[str, str] = {}

    def reject(key: str, error: Exception) -> None:
        if not skip_bad:
            raise error
        bad[key] = str(error)

    found: dict[str, list[tuple[int, Triplet]]] = {}
    rows = _io.read_jsonl(index, torn_tail="error",
                          on_bad=(lambda e: reject(f"line {e.line}", e)) if skip_bad else None)
    for lineno, row in rows:
        try:
            triplet = _triplet(root, row)
        except ValueError as exc:  # PathError is a ValueError too
            reject(f"line {lineno}", ParseError(str(exc), path=index, line=lineno))
            continue
        found.setdefault(triplet.triplet_id, []).append((lineno, triplet))
    triplets: list[Triplet] = []
    for tid, copies in found.items():
        if len(copies) > 1:
            lines = " and ".join(str(n) for n, _ in copies)
            reject(tid, DatasetError(f"duplicate id in {index} (lines {lines})", triplet_id=tid))
            continue
        triplets.append(copies[0][1])
    return Dataset(root=root, triplets=triplets, info=info, bad=bad)


def _check_id(tid: Any) -> str:
    if not isinstance(tid, str) or not tid or "/" in tid or "\\" in tid or tid.startswith("."):
        raise ValueError(f"triplet_id must be a plain file-name-safe string; got {tid!r}")
    return tid


def _dump_info(info: Mapping[str, Any]) -> bytes:
    return (json.dumps(info, indent=2, sort_keys=True) + "\n").encode()


class DatasetWriter:
    """Write a dataset folder one triplet at a time, durably.

    Each map is written atomically and each ``triplets.jsonl`` line is appended and
    fsynced before :meth:`add` returns, so an interrupted run leaves a valid
    dataset of the triplets written so far. An existing dataset is never
    overwritten: a folder that already holds ``triplets.jsonl`` raises
    FileExistsError unless ``append=True``.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> d = tempfile.mkdtemp()
    >>> with DatasetWriter(d + "/ds", name="demo") as w:
    ...     _ = w.add("t1", image="img.png", text="a cat", human_map=np.ones((2, 3)) / 6)
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
        self._index = self.root / "triplets.jsonl"
        if self._index.exists() and not append:
            raise FileExistsError(
                f"{self.root} already holds a dataset; choose a new --out folder "
                "(vista never overwrites a dataset)"
            )
        (self.root / "maps").mkdir(parents=True, exist_ok=True)
        (self.root / "images").mkdir(exist_ok=True)
        self._ids: set[str] = set()
        if self._index.exists():
            self._ids = {t.triplet_id for t in read_dataset(self.root)}
        info_path = self.root / "dataset.json"
        if not info_path.exists():
            _io.write_atomic(info_path, _dump_info({
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "name": name or self.root.name,
                "synthetic": bool(synthetic),
                "vista_version": __version__,
                "provenance": dict(provenance or {}),
            }))
        if not self._index.exists():
            _io.write_atomic(self._index, b"")

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing is held open between :meth:`add` calls; kept for the context manager."""

    def update_provenance(self, provenance: Mapping[str, Any]) -> None:
        """Replace ``provenance`` in ``dataset.json`` (atomically), e.g. with the counts
        known only at the end of a run."""
        info_path = self.root / "dataset.json"
        try:
            info = _io.read_json(info_path, expect=dict, what="dataset.json")
        except (OSError, ValueError) as exc:
            raise DatasetError(f"cannot update {info_path}: {exc}") from exc
        info["provenance"] = dict(provenance)
        _io.write_atomic(info_path, _dump_info(info))

    def add_image(self, source: str | os.PathLike[str], *, name: str | None = None) -> str:
        """Copy an image into ``images/`` (once) and return its path relative to the root.

        ``name`` is the path under ``images/`` (sub-folders allowed, no ``..``);
        default the file's name. A different file already stored under the same name
        raises FileExistsError.
        """
        src = _io.check_regular_file(source, what="image")
        rel = Path(name) if name is not None else Path(src.name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"image name must be a relative path inside images/; got {name!r}")
        dst = _io.inside(self.root / "images", rel, what="image name")
        data = src.read_bytes()
        if dst.exists():
            if _io.check_regular_file(dst, what="image").read_bytes() != data:
                raise FileExistsError(f"{dst} exists and differs from {src}")
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            _io.write_atomic(dst, data)
        return f"images/{rel.as_posix()}"

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
        tid = _check_id(triplet_id)
        if not isinstance(text, str):
            raise TypeError(f"text must be a string; got {text!r}")
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
            _io.save_npy_atomic(self.root / fix_rel, fix)
        _io.save_npy_atomic(self.root / map_rel, arr)
        row: dict[str, Any] = {"triplet_id": tid, "image": str(image), "text": text,
                               "map": map_rel, "meta": dict(meta or {})}
        if fix_rel is not None:
            row["fixations"] = fix_rel
        _io.append_jsonl(self._index, row, sort_keys=True)
        self._ids.add(tid)
        return Triplet(tid, _resolve(self.root, str(image)), text, str(self.root / map_rel),
                       row["meta"], None if fix_rel is None else str(self.root / fix_rel))

