"""The run folder of ``vista score``: its claim, configuration, journal and map cache.

A run folder holds::

    OUT/.vista.lock            the claim of the process writing it (while it runs)
    OUT/run.json               the run's configuration, written once at the start
    OUT/scores.partial.jsonl   one line per (triplet, model), fsynced as each is scored
    OUT/scores.csv             triplet_id, model, one column per metric   (at the end)
    OUT/summary.json           means, intervals, paired differences, provenance
    OUT/summary.md             the same tables in Markdown
    OUT/maps/MODEL/KEY.npy     cached model maps (KEY.json: the map's parameters)

Only the process that holds the claim writes into the folder (a Dask or process-pool
run's workers return maps and scores to it).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from .._io import (
    LOCK_NAME,
    FolderLock,
    append_jsonl_rows,
    check_regular_file,
    file_sha256,
    read_json,
    read_jsonl,
    safe_name,
    write_atomic,
    write_json_atomic,
)
from ..errors import ParseError
from ..records import Triplet
from .sources import jsonable

__all__ = [
    "JOURNAL",
    "RUN_FORMAT",
    "RUN_VERSION",
    "MapCache",
    "RunFolder",
    "dataset_fingerprint",
    "default_run_folder",
    "file_sha256",
    "map_cache_key",
]

RUN_FORMAT = "vista-score-run"
RUN_VERSION = 2
"""2: content-only dataset fingerprint, folder claimed by a lock. Version 1 (vista 0.1.0)
folders are read (figures, reports) but not resumed or extended."""
CACHE_VERSION = 1
JOURNAL = "scores.partial.jsonl"


def _hash_dataset(ds: Any, file_part: Any) -> str:
    """A hash of the dataset's index files and ``file_part(path)`` of every distinct
    image, map and fixation file its triplets name, in order."""
    root = Path(ds.root)
    h = hashlib.sha256()
    for name in ("triplets.jsonl", "dataset.json"):
        p = root / name
        if p.is_file():
            h.update(name.encode() + b"\0" + p.read_bytes())
    seen: set[str] = set()
    for t in ds:
        for f in (t.image_path, t.human_map_path, t.fixations_path):
            if f is not None and f not in seen:
                seen.add(f)
                h.update(file_part(f))
    return h.hexdigest()[:16]


def dataset_fingerprint(ds: Any, hashes: dict[str, str] | None = None) -> str:
    """A hash of the dataset's content: its index files and the bytes of every image,
    map and fixation file its triplets name. It does not depend on where the dataset
    lies or how its path is spelled, nor on modification times: a copied dataset has
    the same fingerprint, a changed byte gives another. ``hashes`` memoises file hashes
    (path -> SHA-256), shared with the map cache's image keys."""
    memo = {} if hashes is None else hashes

    def part(f: str) -> bytes:
        if f not in memo:
            try:
                memo[f] = file_sha256(f)
            except (OSError, ParseError):
                memo[f] = "missing"
        return memo[f].encode() + b"\n"

    return _hash_dataset(ds, part)


def legacy_fingerprint(ds: Any) -> str:
    """The fingerprint of a version-1 (vista 0.1.0) run: index files, and the path,
    size and modification time of every file the triplets name."""

    def part(f: str) -> bytes:
        try:
            st = os.stat(f)
        except OSError:
            return f"{f}\0missing\n".encode()
        return f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()

    return _hash_dataset(ds, part)


def map_cache_key(image_sha256: str, text: str, provenance: Mapping[str, Any]) -> str:
    """The cache key of one model map: a hash of the image bytes' hash, the text and
    the model's params (name, id, revision, recipe, method, options, weights fingerprint).

    Examples
    --------
    >>> k = map_cache_key("ab" * 32, "a cat", {"model": "clip", "revision": "r1"})
    >>> len(k), k == map_cache_key("ab" * 32, "a cat", {"revision": "r1", "model": "clip"})
    (32, True)
    >>> k == map_cache_key("ab" * 32, "a dog", {"model": "clip", "revision": "r1"})
    False
    """
    payload = json.dumps(
        {"v": CACHE_VERSION, "image": image_sha256, "text": text,
         "model": jsonable(dict(provenance))},
        sort_keys=True, ensure_ascii=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def default_run_folder(data: str | os.PathLike[str], models: Sequence[str],
                       config: Mapping[str, Any]) -> Path:
    """``vista-out/DATASET_MODELS_HASH``: the same configuration maps to the same folder
    (so a rerun resumes), another configuration to another folder.

    Examples
    --------
    >>> default_run_folder("data/ds", ["center"], {"seed": 0}).as_posix()
    'vista-out/ds_center_...'
    """
    digest = hashlib.sha256(json.dumps(dict(config), sort_keys=True, default=repr)
                            .encode()).hexdigest()[:8]
    parts = [("external-" + Path(m[len("external:"):]).name) if m.startswith("external:")
             else m.replace("/", "-").replace(":", "-") for m in models]
    label = re.sub(r"[^A-Za-z0-9._+-]+", "_", "+".join(parts))
    return Path("vista-out") / f"{Path(data).name}_{label[:40]}_{digest}"


class MapCache:
    """Cached model maps under ``ROOT/maps/MODEL/KEY.npy``, with ``KEY.json`` beside it
    (the triplet, text, image hash, model params, the map's own params, and the SHA-256
    of the ``.npy`` bytes); ``root=None`` caches nothing.

    Entries are written atomically but not fsynced: a cache entry can always be made
    again, so it is checked instead. An entry is used only when its ``.json`` reads and
    the ``.npy`` bytes have the recorded hash; anything else (a power cut, a hand-edited
    file, a FIFO) is a miss, and the map is computed again.
    """

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def path(self, model: str, key: str) -> Path | None:
        if self.root is None:
            return None
        return self.root / "maps" / safe_name(model) / f"{key}.npy"

    def load(self, model: str, key: str, *, verify: bool = True) -> np.ndarray | None:
        """The cached map, or None (absent, unverified or unreadable). ``verify=False``
        reads entries without a recorded hash (run folders of vista 0.1.0)."""
        p = self.path(model, key)
        if p is None or not p.is_file():
            return None
        try:
            raw = check_regular_file(p).read_bytes()
            if verify:
                meta = read_json(p.with_suffix(".json"))
                if meta.get("npy_sha256") != hashlib.sha256(raw).hexdigest():
                    return None
            arr = np.load(io.BytesIO(raw), allow_pickle=False)
        except (OSError, ValueError, EOFError, ParseError):
            return None
        return arr if arr.ndim == 2 and arr.dtype.kind == "f" else None

    def save(self, model: str, key: str, values: np.ndarray, meta: Mapping[str, Any]) -> None:
        p = self.path(model, key)
        if p is None:
            return
        p.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.save(buf, np.asarray(values, dtype=np.float32), allow_pickle=False)
        raw = buf.getvalue()
        write_atomic(p, raw, durable=False)
        doc = {**jsonable(dict(meta)),
               "npy_sha256": hashlib.sha256(raw).hexdigest()}
        write_atomic(p.with_suffix(".json"), json.dumps(doc).encode() + b"\n", durable=False)


def _incompatible(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why a run with config ``new`` may not reuse a folder holding ``old`` (empty: it may).

    Everything that changes a number must be equal: dataset content, seed, bootstrap
    settings, the models already scored. New models may follow the old ones and metrics
    may be added: the old numbers stay exactly as they were. The dataset's path is not
    compared (a moved dataset with the same content is the same dataset).
    """
    out = sorted(k for k in set(old) | set(new)
                 if k not in ("models", "metrics", "dataset") and old.get(k) != new.get(k))
    old_models = list(old.get("models", []))
    if list(new.get("models", []))[:len(old_models)] != old_models:
        out.append("models (the run's models must come first, in order, with the same ids, "
                   "revisions, recipes, methods and options)")
    if not set(old.get("metrics", [])) <= set(new.get("metrics", [])):
        out.append("metrics (a rerun may add metrics, not drop them)")
    return out


def _check_row(row: Mapping[str, Any], path: Path, line: int) -> tuple[str, str]:
    tid, model = row.get("triplet_id"), row.get("model")
    if not isinstance(tid, str) or not isinstance(model, str):
        raise ParseError("a journal line needs string 'triplet_id' and 'model' fields",
                         path=path, line=line)
    for k, v in row.items():
        if k not in ("triplet_id", "model", "warnings") and not (
                v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))):
            raise ParseError(f"metric {k!r} must be a number or null; got {v!r}",
                             path=path, line=line)
    return tid, model


class RunFolder:
    """OUT, claimed for one process: resumes the same configuration, extends a run with
    more models or metrics, refuses anything that would change a number it holds.

    Use as a context manager; the claim (``OUT/.vista.lock``) is released on exit.

    Raises
    ------
    FolderBusyError
        Another live process writes into ``OUT`` (or a stale lock was left there).
    FileExistsError
        ``OUT`` holds other files, another run configuration, or a run of another format.
    """

    def __init__(self, out: str | os.PathLike[str], config: Mapping[str, Any]) -> None:
        self.root = Path(out)
        self.config = jsonable(dict(config))
        if self.root.exists() and not self.root.is_dir():
            raise FileExistsError(f"{self.root} is a file, not a folder; choose another --out")
        created = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = FolderLock(self.root, command="vista score")
        try:
            self.resumed = self._open()
            self.rows = self._read_journal()
        except BaseException:
            self._lock.release()
            if created and not any(self.root.iterdir()):
                self.root.rmdir()
            raise

    def _open(self) -> bool:
        run_json = self.root / "run.json"
        doc: dict[str, Any] = {"format": RUN_FORMAT, "version": RUN_VERSION,
                               "vista_version": __version__, "config": self.config,
                               "previous_configs": []}
        if not run_json.exists():
            if any(p.name != LOCK_NAME for p in self.root.iterdir()):
                raise FileExistsError(
                    f"{self.root} is not empty and holds no vista scoring run (no run.json); "
                    "choose a new or empty output folder (--out): vista never writes over "
                    "other files")
            write_json_atomic(run_json, doc)
            return False
        try:
            old = read_json(run_json, what="run.json")
        except ParseError as exc:
            raise FileExistsError(f"{exc}; choose a new output folder (--out)") from None
        _check_format(old, run_json)
        old_cfg = old.get("config")
        if not isinstance(old_cfg, dict):
            raise FileExistsError(f"{run_json}: 'config' must be an object; choose a new "
                                  "output folder (--out)")
        blocking = _incompatible(old_cfg, self.config)
        if blocking:
            raise FileExistsError(
                f"{self.root} holds a scoring run that this one would change (differs in: "
                f"{'; '.join(blocking)}); choose another output folder (--out). A rerun "
                "into the same folder may only resume it or add models (after the run's "
                "own) and metrics. vista never overwrites results.")
        if old_cfg != self.config:
            doc["previous_configs"] = [*old.get("previous_configs", []), old_cfg]
            write_json_atomic(run_json, doc)
        return True

    def _read_journal(self) -> dict[tuple[str, str], dict[str, Any]]:
        path = self.root / JOURNAL
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for line, row in read_jsonl(path, torn_tail="repair", missing_ok=True):
            rows[_check_row(row, path, line)] = row
        return rows

    def append(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Journal scored rows (one image's) with one write, fsynced before returning."""
        append_jsonl_rows(self.root / JOURNAL, [jsonable(dict(r)) for r in rows])
        for row in rows:
            self.rows[(str(row["triplet_id"]), str(row["model"]))] = dict(row)

    def close(self) -> None:
        self._lock.release()

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_format(doc: Mapping[str, Any], path: Path) -> None:
    if doc.get("format") != RUN_FORMAT:
        raise FileExistsError(f"{path} is not a vista score run (format "
                              f"{doc.get('format')!r}); choose another output folder (--out)")
    version = doc.get("version")
    if version == 1:
        raise FileExistsError(
            f"{path.parent} holds a run written by vista 0.1.0 (run format 1), which this "
            f"version reads (vista figure, vista report) but does not resume or extend: its "
            "dataset fingerprint was computed another way. Score into a new folder (--out).")
    if version != RUN_VERSION:
        raise FileExistsError(f"{path} has run format {version!r}; this vista reads "
                              f"1 and {RUN_VERSION}: choose another output folder (--out)")


def iter_groups(triplets: Sequence[Triplet]) -> Iterator[tuple[str, list[Triplet]]]:
    """``(image path, its triplets)`` in the order the images first appear."""
    groups: dict[str, list[Triplet]] = {}
    for t in triplets:
        groups.setdefault(t.image_path, []).append(t)
    yield from groups.items()
