"""Errors raised by vista.

Library code raises; only the CLI turns an error into a message and an exit code.
"""

from __future__ import annotations

from os import PathLike


class VistaError(Exception):
    """Base class of the errors vista raises on its own account."""


class ParseError(VistaError, ValueError):
    """A file could not be read; carries the file and, where known, the line.

    Parameters
    ----------
    message : str
        What is wrong.
    path : str or path-like, optional
        The file being read.
    line : int, optional
        1-based line number in that file.

    Examples
    --------
    >>> str(ParseError("bad sample", path="run.asc", line=12))
    'run.asc:12: bad sample'
    """

    def __init__(
        self, message: str, *, path: str | PathLike[str] | None = None, line: int | None = None
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "") + ": "
        elif line is not None:
            where = f"line {line}: "
        super().__init__(where + message)


class MissingExtraError(VistaError, ImportError):
    """An optional dependency is missing; the message names the ``pip install`` to run."""

    def __init__(self, extra: str, package: str) -> None:
        self.extra = extra
        self.package = package
        super().__init__(
            f"{package} is needed for this; install it with: pip install 'vista-gaze[{extra}]'"
        )


class WeightsNotFoundError(VistaError, FileNotFoundError):
    """Model weights are neither in a local folder nor in the Hugging Face cache."""


class DatasetError(VistaError, ValueError):
    """A dataset folder or one of its triplets is invalid; names the triplet."""

    def __init__(self, message: str, *, triplet_id: str | None = None) -> None:
        self.triplet_id = triplet_id
        prefix = f"triplet {triplet_id!r}: " if triplet_id is not None else ""
        super().__init__(prefix + message)


class PathError(VistaError, ValueError):
    """A path read from a file or an argument points outside the folder it must stay in."""


class FolderBusyError(VistaError, RuntimeError):
    """An output folder is claimed by another live process, or by a stale lock."""
