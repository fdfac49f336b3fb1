"""The durable-file operations of vista, each written once.

Every reader and writer of the package goes through these:

- :func:`write_atomic`, :func:`write_json_atomic`, :func:`save_npy_atomic`: a reader
  sees either the old file or the whole new one, never a half;
- :func:`append_jsonl`: one JSON line appended and fsynced before it returns;
- :func:`read_jsonl`: the lines of a journal, with a tail torn by a crash dropped,
  repaired or refused;
- :func:`read_json`: a JSON file whose top level must have the expected type;
- :func:`safe_name`: an injective encoding of an id as a file name;
- :func:`inside`: a path resolved and refused when it lies outside its folder;
- :func:`check_regular_file`: only regular files are opened (no FIFO, device or folder);
- :func:`file_sha256`: the SHA-256 of a regular file's bytes, read in blocks;
- :func:`fsync_file`, :func:`copy_new`: a stream made durable so far; a copy that
  never replaces a file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .errors import ParseError, PathError

__all__ = [
    "FolderLock",
    "append_jsonl",
    "append_jsonl_rows",
    "check_regular_file",
    "copy_new",
    "file_sha256",
    "fsync_dir",
    "fsync_file",
    "inside",
    "read_json",
    "read_jsonl",
    "safe_name",
    "save_npy_atomic",
    "write_atomic",
    "write_json_atomic",
]

PathLike = str | os.PathLike[str]
TornTail = Literal["drop", "repair", "error"]


def fsync_dir(path: PathLike) -> None:
    """fsync a folder so that a rename or a new file in it survives a power cut
    (a no-op where the platform cannot open folders)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(fh: Any) -> None:
    """Flush an open file object written by vista and fsync it, so what it holds so far
    survives a crash (a stream kept open, such as a tracker's data file)."""
    fh.flush()
    os.fsync(fh.fileno())


def copy_new(src: PathLike, dest: PathLike) -> Path:
    """Copy ``src`` to ``dest`` durably (a temporary file in the folder of ``dest``,
    fsync, then a link or rename); ``dest`` must not exist (FileExistsError), so no file
    is ever replaced. Returns ``dest`` as a Path."""
    import shutil

    dest = Path(dest)
    if dest.exists():
        raise FileExistsError(f"{dest} exists; it is never overwritten")
    tmp = dest.parent / f".{dest.name}.{secrets.token_hex(6)}.tmp"
    try:
        with open(src, "rb") as fin, open(tmp, "xb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fsync_file(fout)
        try:
            os.link(tmp, dest)  # fails if dest appeared meanwhile
        except FileExistsError:
            raise FileExistsError(f"{dest} exists; it is never overwritten") from None
        except OSError:  # no hard links on this file system
            if dest.exists():
                raise FileExistsError(f"{dest} exists; it is never overwritten") from None
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(dest.parent)
    return dest


def write_atomic(path: PathLike, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` durably: a temporary file in the same folder, fsync,
    then rename, so a reader sees either nothing or the whole file.

    ``durable=False`` skips the fsync: still never half-visible while the system runs,
    but a power cut may leave the file empty or stale. Only for files whose reader checks
    them and can remake them (a cache entry with a checksum).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> write_atomic(p, b"hello")
    >>> p.read_bytes()
    b'hello'
    """
    path = Path(path)
    # Not mkstemp: its files are private (0600); this one gets the mode open() gives.
    tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json_atomic(path: PathLike, data: Any, *, indent: int | None = 2) -> None:
    """Write ``data`` as UTF-8 JSON (with a final newline) through :func:`write_atomic`."""
    write_atomic(path, (json.dumps(data, indent=indent) + "\n").encode("utf-8"))


def save_npy_atomic(path: PathLike, array: np.ndarray) -> None:
    """Save ``array`` as .npy (no pickles) through :func:`write_atomic`."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    write_atomic(path, buf.getvalue())


def append_jsonl_rows(path: PathLike, rows: Sequence[Mapping[str, Any]], *,
                      default: Any = None) -> None:
    """Append ``rows`` as JSON lines to ``path`` with one ``write`` and one fsync (a
    crash leaves at most a torn last line, as with :func:`append_jsonl`)."""
    if not rows:
        return
    data = "".join(json.dumps(r, separators=(", ", ": "), default=default) + "\n"
                   for r in rows).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def append_jsonl(path: PathLike, row: Mapping[str, Any], *,
                 separators: tuple[str, str] = (", ", ": "), default: Any = None,
                 sort_keys: bool = False) -> None:
    """Append ``row`` as one JSON line to ``path`` and fsync before returning.

    The line is written with one ``write`` call on an ``O_APPEND`` descriptor, so a
    crash leaves at most a torn last line, which :func:`read_jsonl` recognises.
    """
    line = (json.dumps(row, separators=separators, default=default, sort_keys=sort_keys)
            + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def check_regular_file(path: PathLike, *, what: str = "file") -> Path:
    """``path`` as a Path if it is a regular file (links followed); anything else
    (missing, folder, FIFO, device, socket) raises naming the file, so that no reader
    ever blocks on a pipe or reads a device."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise ParseError(f"cannot open {what}: {exc.strerror}", path=path) from None
    if not stat.S_ISREG(mode):
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise ParseError(f"{what} is {kind}", path=path)
    return path


def file_sha256(path: PathLike, *, what: str = "file") -> str:
    """The SHA-256 (hex) of a regular file's bytes, read 1 MiB at a time
    (:func:`check_regular_file` first, so a pipe is never read)."""
    h = hashlib.sha256()
    with open(check_regular_file(path, what=what), "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def marked_folder(path: PathLike, marker: str, *, what: str) -> Path:
    """``path`` as a Path if it is a folder holding the file ``marker`` (what makes it a
    dataset, a session...); else FileNotFoundError naming the folder (``what``, e.g.
    "dataset folder"), or the missing marker.

    Examples
    --------
    >>> marked_folder("/no/such/run", "triplets.jsonl", what="dataset folder")
    Traceback (most recent call last):
    ...
    FileNotFoundError: dataset folder /no/such/run does not exist
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{what} {root} does not exist")
    if not (root / marker).exists():
        raise FileNotFoundError(f"{root / marker} is missing: not a vista {what}")
    return root


def read_json(path: PathLike, *, expect: type = dict, what: str = "JSON file") -> Any:
    """The content of a JSON file, whose top level must be an ``expect`` (a dict by
    default). Invalid JSON, text that is not UTF-8 or the wrong top-level type raises
    :class:`~vista.errors.ParseError` naming the file."""
    path = check_regular_file(path, what=what)
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text: {exc.reason}", path=path) from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc}", path=path) from None
    if expect is not object and not isinstance(data, expect):
        names: dict[type, str] = {dict: "an object", list: "an array"}
        want = names.get(expect, expect.__name__)
        raise ParseError(f"the top level must be {want}; got {type(data).__name__}", path=path)
    return data


def read_jsonl(path: PathLike, *, torn_tail: TornTail = "error", missing_ok: bool = False,
               on_bad: Callable[[ParseError], None] | None = None,
               ) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of a JSON-lines file.

    Parameters
    ----------
    path : path-like
        The file.
    torn_tail : {"error", "drop", "repair"}
        What to do with a last line cut short by a crash: text after the last newline,
        or a last newline-terminated line that is not valid JSON. ``"error"`` treats it
        like any bad line; ``"drop"`` leaves it out; ``"repair"`` leaves it out and
        rewrites the file (atomically) without it.
    missing_ok : bool
        Return ``[]`` for a missing file instead of raising.
    on_bad : callable, optional
        Called with the :class:`~vista.errors.ParseError` of each bad line (not JSON,
        not an object), which is then left out, instead of raising it.

    Raises
    ------
    ParseError
        A line that is not a JSON object (other than a torn tail that is dropped), or
        text that is not UTF-8; the message names the file and the line.
    """
    path = Path(path)
    if missing_ok and not path.exists():
        return []
    raw = check_regular_file(path, what="JSON-lines file").read_bytes()
    lines = raw.split(b"\n")
    unfinished = lines.pop()  # text after the last newline (b"" when the file ends in one)
    torn = unfinished.strip() != b"" and torn_tail != "error"
    if not torn and unfinished.strip():
        lines.append(unfinished)
    out: list[tuple[int, dict[str, Any]]] = []
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8-sig" if i == 0 else "utf-8")
            row = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if i == last and torn_tail != "error" and not torn:
                torn = True
                del lines[i:]
                break
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else f"not UTF-8: {exc.reason}"
            error = ParseError(f"invalid JSON: {msg}", path=path, line=i + 1)
        else:
            if isinstance(row, dict):
                out.append((i + 1, row))
                continue
            error = ParseError("each line must be a JSON object", path=path, line=i + 1)
        if on_bad is None:
            raise error
        on_bad(error)
    if torn and torn_tail == "repair":
        write_atomic(path, b"".join(line + b"\n" for line in lines))
    return out


_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")


def safe_name(text: str) -> str:
    """An injective encoding of ``text`` as one file-name component.

    Letters, digits, ``_``, ``-`` and ``.`` stay as they are; every other character
    (``/``, ``%``, spaces, non-ASCII...) becomes ``%XX`` per UTF-8 byte, and a leading
    ``.`` becomes ``%2E``, so the result is never hidden, never ``.``/``..`` and never
    holds a separator. Two different ids always give two different names.

    Examples
    --------
    >>> safe_name("sim01-1-000")
    'sim01-1-000'
    >>> safe_name("images/a_b/x"), safe_name("images/a/b_x")
    ('images%2Fa_b%2Fx', 'images%2Fa%2Fb_x')
    >>> safe_name("../etc")
    '%2E.%2Fetc'
    >>> safe_name("")
    '%'
    """
    if not isinstance(text, str):
        raise TypeError(f"a name must be a string; got {text!r}")
    if text == "":
        return "%"
    out = []
    for i, ch in enumerate(text):
        if ch in _SAFE and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def inside(folder: PathLike, path: PathLike, *, what: str = "path") -> Path:
    """``path`` resolved (relative paths against ``folder``), refused with
    :class:`~vista.errors.PathError` when it lies outside ``folder``.

    Links are resolved first, so a link that points out of the folder is refused too.

    Examples
    --------
    >>> inside("/data/run", "maps/a.npy").as_posix()
    '/data/run/maps/a.npy'
    >>> inside("/data/run", "../x.npy")
    Traceback (most recent call last):
    ...
    vista.errors.PathError: path ../x.npy lies outside /data/run
    """
    root = Path(folder).resolve()
    p = Path(path)
    full = (p if p.is_absolute() else root / p).resolve()
    if full != root and root not in full.parents:
        raise PathError(f"{what} {path} lies outside {folder}")
    return full


LOCK_NAME = ".vista.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class FolderLock:
    """An exclusive claim on an output folder: ``FOLDER/.vista.lock`` created with
    ``O_EXCL`` and holding the owner's pid and host.

    A lock whose process is alive is honoured; a stale one (its process is gone) is
    reported with how to clear it, never removed behind the user's back. Use as a
    context manager, or call :meth:`release`.
    """

    def __init__(self, folder: PathLike, *, command: str = "vista") -> None:
        import socket

        self.path = Path(folder) / LOCK_NAME
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command}
        for _ in range(3):  # the holder may release the lock while we read it
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:
                busy = self._busy()
                if busy is not None:
                    raise busy from None
        else:
            raise self._busy() or FileExistsError(f"could not take {self.path}")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(info, fh)
            fh.flush()
            os.fsync(fh.fileno())
        self._held = True

    def _busy(self) -> Exception | None:
        """The error for a lock someone else holds; None when the lock vanished.

        A lock just created is empty until its owner has written its line (the two
        are not one atomic step), so an empty or partial lock is read again for up to
        half a second before it is reported as unreadable."""
        import time

        from .errors import FolderBusyError

        deadline = time.monotonic() + 0.5
        while True:
            try:
                info = json.loads(self.path.read_text(encoding="utf-8"))
                pid, host = int(info["pid"]), str(info.get("host", ""))
                break
            except FileNotFoundError:
                return None
            except (OSError, ValueError, KeyError, TypeError):
                if time.monotonic() >= deadline:
                    return FolderBusyError(f"{self.path.parent} is locked by {self.path}, "
                                           f"which is unreadable; if no vista command is "
                                           f"writing there, delete {self.path}")
                time.sleep(0.01)
        import socket

        if host == socket.gethostname() and not _pid_alive(pid):
            return FolderBusyError(f"{self.path.parent} holds a stale lock from process {pid}, "
                                   f"which has ended; delete {self.path} to continue")
        return FolderBusyError(f"{self.path.parent} is in use by process {pid} on {host or '?'}; "
                               f"wait for it to finish (or, if it is gone, delete {self.path})")

    def release(self) -> None:
        if self._held:
            self._held = False
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
