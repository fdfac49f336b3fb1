"""Consistency checks of a recording after it was read.

A corrupted EDF can read "successfully" with trials missing or times that jump (a
clock that wrapped at 2**32). :func:`check_recording` says what can be seen to be
inconsistent:

- times that go backwards in file order within a recording block (found by the reader);
- recording blocks: a ``START`` without its ``END``, an ``END`` without a ``START``, a
  block that ends before it starts or overlaps the next one;
- fixations, saccades or blinks outside every recording block;
- trial messages, in a file that closes trials with ``TRIAL_RESULT``: a ``TRIALID``
  closed by none before the next ``TRIALID``, a ``TRIAL_RESULT`` with no open trial
  (a file with no ``TRIAL_RESULT`` at all delimits trials by ``TRIALID`` alone);
- a recording that spans more than :data:`MAX_SPAN_MS` (a day), or negative times.

:func:`vista.gaze.io.read_recording` warns (:class:`RecordingWarning`, naming the file)
or, with ``strict=True``, raises :class:`~vista.errors.ParseError`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..errors import ParseError
from .messages import first_word
from .recording import Recording

__all__ = ["MAX_SPAN_MS", "RecordingWarning", "check_recording", "report_issues"]

MAX_SPAN_MS = 24 * 3600 * 1000.0
"""Longest plausible recording span, ms (one day); longer means corrupted times."""


class RecordingWarning(UserWarning):
    """A recording was read but is inconsistent; the message names the file."""


def _block_issues(blocks: tuple[tuple[float, float], ...]) -> list[str]:
    out = []
    prev_end = -math.inf
    for i, (a, b) in enumerate(blocks, start=1):
        if math.isnan(a):
            out.append(f"recording block {i}: END at {b:g} ms without a START")
            continue
        if math.isnan(b):
            out.append(f"recording block {i}: START at {a:g} ms without an END")
        elif b < a:
            out.append(f"recording block {i} ends ({b:g} ms) before it starts ({a:g} ms)")
        if a < prev_end:
            out.append(f"recording block {i} starts at {a:g} ms, before block {i - 1} "
                       f"ends ({prev_end:g} ms)")
        if not math.isnan(b):
            prev_end = max(prev_end, b)
    return out


def _outside_blocks(rec: Recording) -> list[str]:
    spans = [(a, b) for a, b in rec.blocks if not (math.isnan(a) or math.isnan(b))]
    if not spans or len(spans) != len(rec.blocks):
        return []
    out = []
    for name, starts, ends in (("fixations", rec.fixations.starts_ms, rec.fixations.ends_ms),
                               ("saccades", rec.saccades.starts_ms, rec.saccades.ends_ms),
                               ("blinks", rec.blinks.starts_ms, rec.blinks.ends_ms)):
        inside = np.zeros(starts.size, dtype=bool)
        for a, b in spans:
            inside |= (starts >= a) & (ends <= b)
        if not inside.all():
            first = float(starts[~inside][0])
            out.append(f"{int((~inside).sum())} {name} lie outside every recording block "
                       f"(the first starts at {first:g} ms)")
    return out


def _trial_issues(rec: Recording) -> list[str]:
    words = [first_word(m.text) for m in rec.messages]
    if "TRIAL_RESULT" not in words:
        return []  # trials delimited by TRIALID alone (a convention Data Viewer reads)
    out = []
    open_id: str | None = None
    for m in rec.messages:
        word = first_word(m.text)
        if word == "TRIALID":
            if open_id is not None:
                out.append(f"trial {open_id!r} has no TRIAL_RESULT before the next TRIALID "
                           f"(at {m.time_ms:g} ms)")
            open_id = m.text.strip()[len("TRIALID"):].strip()
        elif word == "TRIAL_RESULT":
            if open_id is None:
                out.append(f"TRIAL_RESULT at {m.time_ms:g} ms closes no open trial")
            open_id = None
    if open_id is not None:
        out.append(f"trial {open_id!r} has no TRIAL_RESULT (the recording ends first)")
    return out


def _time_issues(rec: Recording) -> list[str]:
    if rec.start_ms is None or rec.end_ms is None:
        return []
    out = []
    if rec.start_ms < 0:
        out.append(f"negative times (from {rec.start_ms:g} ms)")
    if rec.end_ms - rec.start_ms > MAX_SPAN_MS:
        out.append(f"times span {(rec.end_ms - rec.start_ms) / 3.6e6:.1f} hours "
                   f"({rec.start_ms:g} to {rec.end_ms:g} ms): corrupted or wrapped times")
    return out


def check_recording(rec: Recording) -> list[str]:
    """What is inconsistent in ``rec`` (see the module notes), one line each; empty
    when nothing is."""
    return [*rec.order_issues, *_block_issues(rec.blocks), *_outside_blocks(rec),
            *_trial_issues(rec), *_time_issues(rec)]


def report_issues(rec: Recording, *, strict: bool = False, stacklevel: int = 3) -> list[str]:
    """Check ``rec``; warn (:class:`RecordingWarning`) or, with ``strict``, raise
    :class:`~vista.errors.ParseError` naming the file. Returns the issues."""
    issues = check_recording(rec)
    if not issues:
        return issues
    shown = "; ".join(issues[:5]) + (f"; and {len(issues) - 5} more" if len(issues) > 5 else "")
    if strict:
        raise ParseError(f"inconsistent recording: {shown}", path=rec.path)
    warnings.warn(RecordingWarning(f"{rec.path or '<recording>'}: inconsistent recording: "
                                   f"{shown}"), stacklevel=stacklevel)
    return issues
