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
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .errors import DatasetError, ParseError
from .records import Triplet

__all__ = [
    "IMPORT_COLUMNS",
    "Dataset",
    "DatasetWriter",
    "ImportSummary",
    "import_dataset",
    "load_image",
    "read_dataset",
    "read_map_png",
    "write_atomic",
]

FORMAT = "vista-dataset"
FORMAT_VERSION = 1


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` durably: a temporary file in the same folder, fsync,
    then rename, so a reader sees either nothing or the whole file."""
    path = Path(path)
    # Not mkstemp: its files are private (0600); this one gets the mode open() gives.
    tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
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


def read_json(path: str | os.PathLike[str]) -> Any:
    """A JSON file's content; invalid JSON or text raises ParseError naming the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParseError(f"invalid JSON: {exc}", path=path) from exc


def _jsonl_lines(
    path: str | os.PathLike[str],
) -> Iterator[tuple[int, dict[str, Any] | ParseError]]:
    """``(line number, object or the ParseError for that line)`` for each non-blank
    line; text that is not UTF-8 raises at once (the rest of the file is unreadable)."""
    lineno = 0  # lines already read when a decoding error stops the file
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield lineno, ParseError(f"invalid JSON: {exc.msg}", path=path, line=lineno)
                    continue
                if not isinstance(row, dict):
                    yield lineno, ParseError("each line must be a JSON object", path=path,
                                             line=lineno)
                    continue
                yield lineno, row
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text after line {lineno}: {exc.reason}", path=path) from exc


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSON-lines file.

    A line that is not a JSON object, or text that is not UTF-8, raises ParseError
    naming the file and line.
    """
    for lineno, row in _jsonl_lines(path):
        if isinstance(row, ParseError):
            raise row
        yield lineno, row


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
        info = read_json(info_path)
    bad: dict[str, str] = {}

    def reject(key: str, error: Exception) -> None:
        if not skip_bad:
            raise error
        bad[key] = str(error)

    found: dict[str, list[tuple[int, Triplet]]] = {}
    for lineno, row in _jsonl_lines(index):
        if isinstance(row, ParseError):
            reject(f"line {lineno}", row)
            continue
        missing = [k for k in ("triplet_id", "image", "text", "map") if k not in row]
        if missing:
            reject(f"line {lineno}", ParseError(
                f"missing field(s) {', '.join(missing)}", path=index, line=lineno))
            continue
        tid = str(row["triplet_id"])
        try:
            triplet = Triplet(
                triplet_id=tid,
                image_path=_resolve(root, str(row["image"])),
                text=str(row["text"]),
                human_map_path=_resolve(root, str(row["map"])),
                meta=row.get("meta") or {},
                fixations_path=(
                    _resolve(root, str(row["fixations"])) if row.get("fixations") else None
                ),
            )
        except (TypeError, ValueError) as exc:
            reject(f"line {lineno}", ParseError(str(exc), path=index, line=lineno))
            continue
        found.setdefault(tid, []).append((lineno, triplet))
    triplets: list[Triplet] = []
    for tid, copies in found.items():
        if len(copies) > 1:
            lines = " and ".join(str(n) for n, _ in copies)
            reject(tid, DatasetError(f"duplicate id in {index} (lines {lines})", triplet_id=tid))
            continue
        triplets.append(copies[0][1])
    return Dataset(root=root, triplets=triplets, info=info, bad=bad)


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

    def update_provenance(self, provenance: Mapping[str, Any]) -> None:
        """Replace ``provenance`` in ``dataset.json`` (atomically), e.g. with the counts
        known only at the end of a run."""
        info_path = self.root / "dataset.json"
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DatasetError(f"cannot update {info_path}: {exc}") from exc
        info["provenance"] = dict(provenance)
        write_atomic(info_path, (json.dumps(info, indent=2, sort_keys=True) + "\n").encode())

    def add_image(self, source: str | os.PathLike[str], *, name: str | None = None) -> str:
        """Copy an image into ``images/`` (once) and return its path relative to the root.

        ``name`` is the path under ``images/`` (sub-folders allowed, no ``..``);
        default the file's name. A different file already stored under the same name
        raises FileExistsError.
        """
        import shutil

        src = Path(source)
        rel = Path(name) if name is not None else Path(src.name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"image name must be a relative path inside images/; got {name!r}")
        dst = self.root / "images" / rel
        if dst.exists():
            if dst.read_bytes() != src.read_bytes():
                raise FileExistsError(f"{dst} exists and differs from {src}")
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
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


# --------------------------------------------------------------------- import

IMPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "triplet_id", "triplet"),
    "image": ("image", "image_path", "img", "filename", "file_name", "image_file"),
    "text": ("text", "caption", "sentence", "phrase", "description", "query"),
    "map": ("map", "map_path", "heatmap", "saliency", "saliency_map", "gaze_map",
            "attention_map", "fixation_map"),
}
"""Accepted column names (case-insensitive) of the texts file of :func:`import_dataset`,
first the canonical one. ``image`` and ``text`` are required; ``id`` defaults to
``row-N`` (N the 1-based data row) and ``map`` to ``ID.png``."""


def _import_rows(texts: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line, row) pairs of a CSV/TSV or JSONL texts file."""
    suffix = texts.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return list(iter_jsonl(texts))
    if suffix not in (".csv", ".tsv"):
        raise ParseError(f"unknown texts format {texts.suffix!r}; expected .csv, .tsv or .jsonl",
                         path=texts)
    import csv

    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        with open(texts, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ",")
            for row in reader:
                if None in row:
                    raise ParseError("more fields than the header has", path=texts,
                                     line=reader.line_num)
                if not any((v or "").strip() for v in row.values()):
                    continue
                rows.append((reader.line_num, dict(row)))
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text: {exc.reason}", path=texts) from exc
    return rows


def _columns(keys: list[str], texts: Path, line: int) -> dict[str, str]:
    """Map canonical field -> the row's key, checking for ambiguity."""
    lower = {k.strip().lower(): k for k in keys}
    found: dict[str, str] = {}
    for field_name, variants in IMPORT_COLUMNS.items():
        hits = [lower[v] for v in variants if v in lower]
        if len(hits) > 1:
            raise ParseError(f"columns {', '.join(map(repr, hits))} all name the {field_name!r} "
                             "field; keep one", path=texts, line=line)
        if hits:
            found[field_name] = hits[0]
    for req in ("image", "text"):
        if req not in found:
            raise ParseError(
                f"no {req!r} column; accepted names: {', '.join(IMPORT_COLUMNS[req])}",
                path=texts, line=line)
    return found


def read_map_png(path: str | os.PathLike[str]) -> np.ndarray:
    """A grayscale map image as float64 H×W, not normalised.

    8-bit, 16-bit, 32-bit integer and float grayscale are read as their values;
    RGB(A) and palette images are accepted only when the colour channels are equal
    (a colour-mapped heatmap cannot be inverted and raises).
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode in ("L", "I", "F", "1") or im.mode.startswith("I;"):
                arr = np.asarray(im if im.mode != "1" else im.convert("L"), dtype=np.float64)
            elif im.mode == "LA":
                arr = np.asarray(im, dtype=np.float64)[..., 0]
            else:
                rgb = np.asarray(im.convert("RGB"), dtype=np.float64)
                if not (np.array_equal(rgb[..., 0], rgb[..., 1])
                        and np.array_equal(rgb[..., 0], rgb[..., 2])):
                    raise ParseError("map is a colour image; expected grayscale", path=path)
                arr = rgb[..., 0]
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ParseError(f"cannot read map image: {exc}", path=path) from exc
    return arr


def _normalised_map(
    path: Path, shape: tuple[int, int], *, resize: bool
) -> tuple[np.ndarray, bool]:
    """The map of ``path`` on a ``shape`` grid, summing to 1, and whether it was resized."""
    arr = read_map_png(path)
    was_resized = False
    if arr.ndim != 2:
        raise ParseError(f"map must be 2-D grayscale; got shape {arr.shape}", path=path)
    if arr.shape != shape:
        if not resize:
            raise ParseError(
                f"map is {arr.shape[1]}x{arr.shape[0]} (WxH) but its image is "
                f"{shape[1]}x{shape[0]}; pass --resize to resize maps bilinearly", path=path)
        from PIL import Image

        arr = np.asarray(Image.fromarray(arr.astype(np.float32), mode="F").resize(
            (shape[1], shape[0]), Image.Resampling.BILINEAR), dtype=np.float64)
        arr = np.clip(arr, 0.0, None)
        was_resized = True
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ParseError("map holds negative or non-finite values", path=path)
    total = arr.sum()
    if total <= 0:
        raise ParseError("map is all zero: no attention to normalise", path=path)
    return arr / total, was_resized


@dataclass
class ImportSummary:
    """What :func:`import_dataset` wrote."""

    out: Path
    n_triplets: int
    n_images: int
    resized: int


def import_dataset(
    *,
    images: str | os.PathLike[str],
    maps: str | os.PathLike[str],
    texts: str | os.PathLike[str],
    out: str | os.PathLike[str],
    resize: bool = False,
    copy_images: bool = True,
    name: str | None = None,
) -> ImportSummary:
    """Build a dataset folder from images, grayscale map PNGs and a table of texts.

    The way published image-text-gaze triplets are distributed: a folder of images,
    a folder of maps (one grayscale PNG per triplet) and a CSV or JSONL file with one
    row per triplet.

    Parameters
    ----------
    images : path
        Folder the ``image`` column is relative to.
    maps : path
        Folder the ``map`` column is relative to.
    texts : path
        ``.csv`` (comma), ``.tsv`` (tab) or ``.jsonl``, UTF-8. Columns
        (case-insensitive, see :data:`IMPORT_COLUMNS` for the accepted variants):
        ``id`` (optional, default ``row-N``), ``image``, ``text`` and ``map``
        (optional, default ``ID.png``). Other columns are kept in each triplet's
        ``meta``.
    out : path
        The dataset folder to create; it must not exist or be empty.
    resize : bool, default False
        Resize maps whose size differs from their image's (bilinear, then clipped
        at 0 and renormalised); without it a size mismatch is an error.
    copy_images : bool, default True
        Copy images into ``out/images/``; False stores their absolute paths.
    name : str, optional
        Dataset name for ``dataset.json``.

    Returns
    -------
    ImportSummary

    Raises
    ------
    vista.errors.ParseError
        For a bad row (texts file and line named), an unreadable, colour, all-zero
        or mis-sized map (map file named).
    FileNotFoundError
        If a folder, image or map is missing (texts file and line named).
    FileExistsError
        If ``out`` exists and is not empty.

    Notes
    -----
    Maps are read as their pixel values (8- or 16-bit or float grayscale) and
    normalised to sum 1, stored as float32 ``maps/ID.npy``. The import is all or
    nothing: it is written to a temporary folder next to ``out`` and renamed at the
    end, so a bad row leaves no half-built dataset.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> (d / "img").mkdir(); (d / "maps").mkdir()
    >>> Image.new("RGB", (4, 3)).save(d / "img" / "a.png")
    >>> Image.new("L", (4, 3), 7).save(d / "maps" / "m1.png")
    >>> _ = (d / "texts.csv").write_text("id,image,text,map\\nm1,a.png,a dog,m1.png\\n")
    >>> s = import_dataset(images=d / "img", maps=d / "maps", texts=d / "texts.csv",
    ...                    out=d / "ds")
    >>> ds = read_dataset(d / "ds")
    >>> ds["m1"].text, round(float(ds.load_map(ds["m1"]).sum()), 6)
    ('a dog', 1.0)
    """
    import shutil

    images_dir, maps_dir, texts_path, out_path = Path(images), Path(maps), Path(texts), Path(out)
    for label, folder in (("images", images_dir), ("maps", maps_dir)):
        if not folder.is_dir():
            raise FileNotFoundError(f"{label} folder {folder} does not exist")
    if not texts_path.is_file():
        raise FileNotFoundError(f"texts file {texts_path} does not exist")
    if out_path.exists() and (not out_path.is_dir() or any(out_path.iterdir())):
        raise FileExistsError(f"{out_path} exists and is not empty; choose a new --out folder "
                              "(vista never overwrites a dataset)")
    rows = _import_rows(texts_path)
    if not rows:
        raise ParseError("no rows", path=texts_path)

    plan = []
    seen: dict[str, int] = {}
    tabular = texts_path.suffix.lower() in (".csv", ".tsv")  # columns come from line 1
    for n, (line, row) in enumerate(rows, 1):
        cols = _columns(list(row), texts_path, 1 if tabular else line)
        values = {k: ("" if row[c] is None else str(row[c]).strip()) for k, c in cols.items()}
        tid = values.get("id") or f"row-{n}"
        if tid in seen:
            raise ParseError(f"duplicate id {tid!r} (first on line {seen[tid]})", path=texts_path,
                             line=line)
        seen[tid] = line
        if not tid or "/" in tid or "\\" in tid or tid.startswith("."):
            raise ParseError(f"id must be a plain file-name-safe string; got {tid!r}",
                             path=texts_path, line=line)
        if not values["text"]:
            raise ParseError("empty text", path=texts_path, line=line)
        if not values["image"]:
            raise ParseError("empty image", path=texts_path, line=line)
        image_file = images_dir / values["image"]
        map_file = maps_dir / (values.get("map") or f"{tid}.png")
        for label, f in (("image", image_file), ("map", map_file)):
            if not f.is_file():
                raise FileNotFoundError(f"{texts_path}:{line}: {label} {f} does not exist")
        extra = {k: v for k, v in row.items() if k not in cols.values()}
        plan.append((line, tid, values["text"], image_file, map_file, extra))

    tmp = Path(tempfile.mkdtemp(dir=out_path.parent if out_path.parent.exists() else None,
                                prefix=f".{out_path.name}.partial-"))
    resized = 0
    shapes: dict[Path, tuple[int, int]] = {}
    try:
        provenance = {
            "made_by": "vista import", "texts": str(texts_path.resolve()),
            "images": str(images_dir.resolve()), "maps": str(maps_dir.resolve()),
            "normalisation": "map values / their sum (float32 .npy)",
            "resize": "bilinear, clipped at 0, renormalised" if resize else "none (sizes must match)",
            "images_stored": "copied" if copy_images else "referenced",
        }
        with DatasetWriter(tmp, name=name or out_path.name, provenance=provenance) as writer:
            for line, tid, text, image_file, map_file, extra in plan:
                if image_file not in shapes:
                    from PIL import Image

                    try:
                        with Image.open(image_file) as im:
                            shapes[image_file] = (int(im.size[1]), int(im.size[0]))
                    except OSError as exc:
                        raise ParseError(f"cannot read image {image_file} (line {line}): {exc}",
                                         path=texts_path, line=line) from exc
                shape = shapes[image_file]
                human, was_resized = _normalised_map(map_file, shape, resize=resize)
                resized += int(was_resized)
                if copy_images:  # keep the layout of --images: a/1.jpg and b/1.jpg may differ
                    rel = os.path.relpath(os.path.normpath(image_file), images_dir)
                    ref = writer.add_image(image_file, name=None if rel.startswith("..")
                                           else Path(rel).as_posix())
                else:
                    ref = str(image_file.resolve())
                meta = {"source": "vista import", "line": line, "image_source": str(image_file),
                        "map_source": str(map_file), **extra}
                writer.add(tid, image=ref, text=text, human_map=human, meta=meta)
        if out_path.exists():
            out_path.rmdir()
        os.replace(tmp, out_path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ImportSummary(out_path, len(plan), len(shapes), resized)

