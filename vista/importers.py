"""Importers: dataset folders (:mod:`vista.dataset`) built from other layouts.

:func:`import_dataset` (``vista import``) reads the way published image-text-gaze
triplets are distributed: a folder of images, a folder of grayscale map PNGs and a
CSV, TSV or JSONL table with one row per triplet.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._io import check_regular_file, read_jsonl
from .dataset import DatasetWriter
from .errors import ParseError
from .imaging import image_size, resize_map

__all__ = ["IMPORT_COLUMNS", "ImportSummary", "import_dataset", "read_map_png"]

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
        return read_jsonl(texts, torn_tail="error")
    if suffix not in (".csv", ".tsv"):
        raise ParseError(f"unknown texts format {texts.suffix!r}; expected .csv, .tsv or .jsonl",
                         path=texts)
    import csv

    rows: list[tuple[int, dict[str, Any]]] = []
    check_regular_file(texts, what="texts file")
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
    except csv.Error as exc:
        raise ParseError(f"not a valid CSV/TSV file: {exc}", path=texts) from None
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
    (a colour-mapped heatmap cannot be inverted and raises). Only regular files are
    opened, and the header is checked against :data:`vista.imaging.MAX_IMAGE_PIXELS`
    before any pixel is decoded.
    """
    from PIL import Image

    image_size(path)  # regular file, an image, within the pixel limit
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
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, ParseError):
            raise
        raise ParseError(f"cannot read map image: {exc}", path=path) from None
    return arr


def _normalised_map(
    path: Path, shape: tuple[int, int], *, resize: bool
) -> tuple[np.ndarray, bool]:
    """The map of ``path`` on a ``shape`` grid, summing to 1, and whether it was resized.

    Resizing is :func:`vista.imaging.resize_map` (bilinear, pixel centres aligned),
    then clipped at 0 and renormalised.
    """
    arr = read_map_png(path)
    was_resized = False
    if arr.shape != shape:
        if not resize:
            raise ParseError(
                f"map is {arr.shape[1]}x{arr.shape[0]} (WxH) but its image is "
                f"{shape[1]}x{shape[0]}; pass --resize to resize maps bilinearly", path=path)
        arr = np.clip(resize_map(arr, shape), 0.0, None)
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


@dataclass(frozen=True)
class _Row:
    line: int
    triplet_id: str
    text: str
    image: Path
    map: Path
    extra: dict[str, Any]


def _cell(row: Mapping[str, Any], column: str | None, field_name: str, where: Any) -> str:
    """One field of a row as text: a string, or a whole number for ``id``; ``null``
    or a missing column is ``""``. Lists, objects, fractions and booleans are refused."""
    if column is None:
        return ""
    value = row[column]
    if value is None:
        return ""
    if field_name == "id" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ParseError(f"{field_name} ({column!r}) must be a string; got {value!r}"[:120],
                         **where)
    return value.strip()


def _relative(folder: Path, value: str, option: str, where: Any) -> Path:
    """``folder / value``, refused when ``value`` is absolute or climbs out of ``folder``."""
    rel = Path(value)
    if rel.is_absolute() or os.path.normpath(value).split(os.sep)[0] == "..":
        raise ParseError(f"{value!r} must be a path relative to {option} {folder}, inside it",
                         **where)
    return folder / rel


def _plan_row(n: int, line: int, row: Mapping[str, Any], cols: dict[str, str],
              dirs: tuple[Path, Path], texts: Path) -> _Row:
    """One checked row of the texts file (types, id, paths inside their folders)."""
    where: dict[str, Any] = {"path": texts, "line": line}
    values = {k: _cell(row, cols.get(k), k, where) for k in IMPORT_COLUMNS}
    tid = values["id"] or f"row-{n}"
    if "/" in tid or "\\" in tid or tid.startswith("."):
        raise ParseError(f"id must be a plain file-name-safe string; got {tid!r}", **where)
    if not values["text"]:
        raise ParseError("empty text", **where)
    if not values["image"]:
        raise ParseError("empty image", **where)
    image = _relative(dirs[0], values["image"], "--images", where)
    hmap = _relative(dirs[1], values["map"] or f"{tid}.png", "--maps", where)
    for label, f in (("image", image), ("map", hmap)):
        if not f.exists():
            raise FileNotFoundError(f"{texts}:{line}: {label} {f} does not exist")
    extra = {k: v for k, v in row.items() if k not in cols.values()}
    return _Row(line, tid, values["text"], image, hmap, extra)


def _plan(texts: Path, images: Path, maps: Path) -> list[_Row]:
    """Every row of the texts file, checked before anything is written."""
    rows = _import_rows(texts)
    if not rows:
        raise ParseError("no rows", path=texts)
    plan: list[_Row] = []
    seen: dict[str, int] = {}
    tabular = texts.suffix.lower() in (".csv", ".tsv")  # columns come from line 1
    for n, (line, row) in enumerate(rows, 1):
        cols = _columns(list(row), texts, 1 if tabular else line)
        item = _plan_row(n, line, row, cols, (images, maps), texts)
        if item.triplet_id in seen:
            raise ParseError(f"duplicate id {item.triplet_id!r} (first on line "
                             f"{seen[item.triplet_id]})", path=texts, line=line)
        seen[item.triplet_id] = line
        plan.append(item)
    return plan


def _write(writer: DatasetWriter, plan: list[_Row], images: Path, *, resize: bool,
           copy_images: bool, texts: Path) -> tuple[int, int]:
    """Write the planned triplets; return (images, maps resized)."""
    resized = 0
    shapes: dict[Path, tuple[int, int]] = {}
    for r in plan:
        if r.image not in shapes:
            try:
                shapes[r.image] = image_size(r.image)
            except ParseError as exc:
                raise ParseError(f"{exc} (image of this row)", path=texts, line=r.line) from None
        human, was_resized = _normalised_map(r.map, shapes[r.image], resize=resize)
        resized += int(was_resized)
        if copy_images:  # keep the layout of --images: a/1.jpg and b/1.jpg may differ
            rel = os.path.relpath(os.path.normpath(r.image), images)
            ref = writer.add_image(r.image, name=Path(rel).as_posix())
        else:
            ref = str(r.image.resolve())
        meta = {"source": "vista import", "line": r.line, "image_source": str(r.image),
                "map_source": str(r.map), **r.extra}
        writer.add(r.triplet_id, image=ref, text=r.text, human_map=human, meta=meta)
    return len(shapes), resized


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

    Parameters
    ----------
    images : path
        Folder the ``image`` column is relative to; paths must stay inside it.
    maps : path
        Folder the ``map`` column is relative to; paths must stay inside it.
    texts : path
        ``.csv`` (comma), ``.tsv`` (tab) or ``.jsonl``, UTF-8. Columns
        (case-insensitive, see :data:`IMPORT_COLUMNS` for the accepted variants):
        ``id`` (optional, default ``row-N``), ``image``, ``text`` and ``map``
        (optional, default ``ID.png``). Values are strings (a JSONL ``id`` may also
        be a whole number). Other columns are kept in each triplet's ``meta``.
    out : path
        The dataset folder to create; it must not exist or be empty.
    resize : bool, default False
        Resize maps whose size differs from their image's with
        :func:`vista.imaging.resize_map` (bilinear, pixel centres aligned), then clip
        at 0 and renormalise; without it a size mismatch is an error.
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
    >>> from vista.dataset import read_dataset
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
    images_dir, maps_dir, texts_path, out_path = Path(images), Path(maps), Path(texts), Path(out)
    for label, folder in (("images", images_dir), ("maps", maps_dir)):
        if not folder.is_dir():
            raise FileNotFoundError(f"{label} folder {folder} does not exist")
    if not texts_path.exists():
        raise FileNotFoundError(f"texts file {texts_path} does not exist")
    if out_path.exists() and (not out_path.is_dir() or any(out_path.iterdir())):
        raise FileExistsError(f"{out_path} exists and is not empty; choose a new --out folder "
                              "(vista never overwrites a dataset)")
    plan = _plan(texts_path, images_dir, maps_dir)
    provenance = {
        "made_by": "vista import", "texts": str(texts_path.resolve()),
        "images": str(images_dir.resolve()), "maps": str(maps_dir.resolve()),
        "normalisation": "map values / their sum (float32 .npy)",
        "resize": ("vista.imaging.resize_map (bilinear, pixel centres aligned), clipped at "
                   "0, renormalised" if resize else "none (sizes must match)"),
        "images_stored": "copied" if copy_images else "referenced",
    }
    tmp = Path(tempfile.mkdtemp(dir=out_path.parent if out_path.parent.exists() else None,
                                prefix=f".{out_path.name}.partial-"))
    try:
        with DatasetWriter(tmp, name=name or out_path.name, provenance=provenance) as writer:
            n_images, resized = _write(writer, plan, images_dir, resize=resize,
                                       copy_images=copy_images, texts=texts_path)
        try:
            if out_path.exists():
                out_path.rmdir()  # only an empty folder: never a file or a dataset
            os.replace(tmp, out_path)
        except OSError:
            raise FileExistsError(f"{out_path} was filled by another process while this "
                                  "import ran; nothing was written there") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ImportSummary(out_path, len(plan), n_images, resized)
