"""Reading a recording: the one entry point, :func:`read_recording`, dispatching on the
suffix to :mod:`vista.gaze.asc` or :mod:`vista.gaze.edf`, then checking what was read
(:mod:`vista.gaze.checks`).

The readers import the record types of :mod:`vista.gaze.recording`; that module imports
no reader, so the arrows point one way (as pymovements' ``gaze/io.py`` and ``gaze.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ParseError
from .checks import report_issues
from .recording import Recording

__all__ = ["RECORDING_SUFFIXES", "read_recording"]

RECORDING_SUFFIXES = (".edf", ".asc")


def read_recording(
    path: str | os.PathLike[str],
    *,
    samples: bool = False,
    encoding: str = "utf-8",
    strict: bool = False,
) -> Recording:
    """Read an EyeLink recording: ``.edf`` (binary) or ``.asc`` (edf2asc text).

    Parameters
    ----------
    path : path
        The file; the format is chosen by its suffix (case-insensitive).
    samples : bool, default False
        Also read the gaze samples (needed for :mod:`vista.gaze.detect`). Without
        them an ASC is still read in one pass, only the sample lines are skipped.
    encoding : str, default "utf-8"
        Text encoding of an ASC file (message texts, image paths).
    strict : bool, default False
        What an inconsistent recording gives (times going back within a block,
        ``START``/``END`` unpaired, events outside recording blocks, trial messages
        unpaired; see :func:`vista.gaze.checks.check_recording`): a
        :class:`~vista.gaze.checks.RecordingWarning` naming the file (default), or
        with ``strict`` a :class:`~vista.errors.ParseError`.

    Returns
    -------
    Recording

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    vista.errors.ParseError
        If the file is malformed (the message names the file and line), or, with
        ``strict``, inconsistent. An EDF that makes the EDF library crash is one too.
    vista.errors.MissingExtraError
        For an EDF when ``eyelinkio`` is not installed (extra ``eyelink``).

    Examples
    --------
    >>> import tempfile, os
    >>> from vista.gaze.asc import AscWriter
    >>> d = tempfile.mkdtemp()
    >>> with AscWriter(os.path.join(d, "r.asc")) as w:
    ...     w.start(1000, eyes="R", rate_hz=1000)
    ...     w.message(1000, "TRIALID 1")
    ...     w.fixation("R", 1010, 1250, 512.0, 384.0, 900)
    ...     w.message(1300, "TRIAL_RESULT 0")
    ...     w.end(1300)
    >>> rec = read_recording(os.path.join(d, "r.asc"))
    >>> len(rec.fixations), rec.trials[0].trial_id, rec.eyes
    (1, '1', 'R')
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".asc":
        from .asc import read_asc

        rec = read_asc(p, samples=samples, encoding=encoding)
    elif suffix == ".edf":
        from .edf import read_edf

        rec = read_edf(p, samples=samples)
    elif not p.exists():
        raise FileNotFoundError(f"no such recording: {p}")
    else:
        raise ParseError(
            f"unknown recording format {p.suffix!r}; expected .edf or .asc", path=p
        )
    report_issues(rec, strict=strict)
    return rec
