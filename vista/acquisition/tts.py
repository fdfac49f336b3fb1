"""Synthetic speech with Debian's ``espeak-ng``, for tests and simulated sessions.

A simulated participant "describes" an image by phrases spoken at chosen times:
:func:`compose_speech` lays them out in one WAV file (silence between them) and
returns where each phrase's voice actually starts and ends, which the simulated
tracker uses to put the eyes on the region being named just before it is named.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._validation import check_int, check_positive
from ..errors import VistaError
from ..records import Segment
from .audio import WavWriter, read_wav, resample

__all__ = ["EspeakNotFoundError", "compose_speech", "speak", "speak_to_wav", "voiced_span"]

ESPEAK = "espeak-ng"


class EspeakNotFoundError(VistaError, FileNotFoundError):
    """The ``espeak-ng`` program is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "espeak-ng is needed to synthesise speech; install it with: "
            "sudo apt-get install espeak-ng"
        )


@functools.lru_cache(maxsize=4)
def _known_voices(exe: str) -> frozenset[str]:
    """Lower-cased names espeak-ng accepts for ``-v``: languages, voice names, files."""
    proc = subprocess.run([exe, "--voices"], capture_output=True, check=False, timeout=60)
    names: set[str] = set()
    for line in proc.stdout.decode("utf-8", "replace").splitlines()[1:]:
        parts = line.split()
        if len(parts) < 5:
            continue
        names.update(p.lower() for p in (parts[1], parts[3], parts[4], parts[4].split("/")[-1]))
        names.update(m.split()[0].lower() for m in re.findall(r"\(([^)]*)\)", line) if m.strip())
    return frozenset(names)


def speak(
    text: str,
    *,
    voice: str = "en-us",
    rate_wpm: int = 150,
    samplerate: int = 16000,
) -> np.ndarray:
    """Synthesise ``text`` with espeak-ng; return mono int16 samples at ``samplerate``.

    The text goes to espeak-ng on standard input (so it is never read as an option);
    the final sentence pause is left out (``-z``). espeak-ng's 22.05 kHz output is
    resampled by a polyphase filter.

    Parameters
    ----------
    text : str
        What to say.
    voice : str, default "en-us"
        An espeak-ng voice (``espeak-ng --voices`` lists them; ``"en-us+m3"`` is a
        variant that small ASR models recognise well).
    rate_wpm : int, default 150
        Speaking rate in words per minute (espeak-ng ``-s``; 80 to 450).
    samplerate : int, default 16000
        Output sample rate, Hz.

    Raises
    ------
    EspeakNotFoundError
        If espeak-ng is not installed (the message names the apt-get command).
    ValueError
        If ``text`` is empty or espeak-ng rejects the voice.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty string; got {text!r}")
    rate_wpm = check_int("rate_wpm", rate_wpm, minimum=80)
    if rate_wpm > 450:
        raise ValueError(f"rate_wpm must be between 80 and 450; got {rate_wpm}")
    samplerate = check_int("samplerate", samplerate, minimum=1000)
    exe = shutil.which(ESPEAK)
    if exe is None:
        raise EspeakNotFoundError()
    base = voice.split("+", 1)[0].lower() if isinstance(voice, str) else None
    known = _known_voices(exe)
    if base is None or (known and base not in known):
        raise ValueError(f"voice must be an espeak-ng voice (espeak-ng --voices lists them); "
                         f"got {voice!r}")
    with tempfile.TemporaryDirectory(prefix="vista-tts-") as tmp:
        out = Path(tmp) / "speech.wav"
        proc = subprocess.run(
            [exe, "-v", voice, "-s", str(rate_wpm), "-z", "-w", str(out), "--stdin"],
            input=text.encode("utf-8"), capture_output=True, check=False, timeout=120,
        )
        if proc.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
            msg = proc.stderr.decode("utf-8", "replace").strip() or f"exit status {proc.returncode}"
            raise ValueError(f"espeak-ng failed for voice={voice!r}: {msg}")
        samples, rate = read_wav(out)
    return resample(samples[:, 0], rate=rate, samplerate=samplerate)


def speak_to_wav(
    text: str,
    path: str | os.PathLike[str],
    *,
    voice: str = "en-us",
    rate_wpm: int = 150,
    samplerate: int = 16000,
) -> Path:
    """Synthesise ``text`` (see :func:`speak`) into a new 16-bit mono WAV file.

    Raises
    ------
    FileExistsError
        If ``path`` exists (it is never overwritten).

    Examples
    --------
    Needs espeak-ng, so not run as a doctest::

        path = speak_to_wav("a red bus parked next to the tree", "bus.wav")
        samples, rate = read_wav(path)      # int16 (n, 1), 16000
    """
    samples = speak(text, voice=voice, rate_wpm=rate_wpm, samplerate=samplerate)
    path = Path(path)
    with WavWriter(path, samplerate=samplerate, channels=1) as w:
        w.write(samples)
    return path


def voiced_span(
    samples: np.ndarray, *, samplerate: int, threshold: float = 0.02
) -> tuple[float, float]:
    """Start and end (ms) of the part of ``samples`` louder than ``threshold``
    (fraction of full scale, on 10 ms frames' peak amplitude); (0, 0) if silent.

    Examples
    --------
    >>> x = np.zeros(16000, dtype=np.int16); x[4000:8000] = 10000
    >>> voiced_span(x, samplerate=16000)
    (250.0, 500.0)
    """
    arr = np.asarray(samples, dtype=np.float64)
    if arr.size == 0:
        return 0.0, 0.0
    x = np.abs(arr.reshape(len(arr), -1)).max(axis=1)
    hop = max(1, samplerate // 100)
    n = math.ceil(len(x) / hop)
    padded = np.zeros(n * hop)
    padded[: len(x)] = x
    loud = np.flatnonzero(padded.reshape(n, hop).max(axis=1) > threshold * 32768)
    if loud.size == 0:
        return 0.0, 0.0
    start = loud[0] * hop * 1000.0 / samplerate
    end = min(len(x), (loud[-1] + 1) * hop) * 1000.0 / samplerate
    return float(start), float(end)


def compose_speech(
    phrases: Sequence[tuple[float, str]],
    path: str | os.PathLike[str],
    *,
    duration_ms: float | None = None,
    voice: str = "en-us",
    rate_wpm: int = 150,
    samplerate: int = 16000,
) -> list[Segment]:
    """Speak several phrases at given times into one new WAV file, silence between.

    Parameters
    ----------
    phrases : sequence of (start_ms, text)
        When each phrase starts (ms from the start of the file, increasing) and
        what it says.
    path : str or path-like
        The WAV file to create (never overwritten).
    duration_ms : float, optional
        Total length; silence is added at the end to reach it. Default: just long
        enough for the last phrase.
    voice, rate_wpm, samplerate
        As for :func:`speak`.

    Returns
    -------
    list of Segment
        For each phrase, its text and where its voice is audible in the file
        (ms from the file's start; espeak-ng's leading silence excluded).

    Raises
    ------
    ValueError
        If a phrase would start before the previous one has finished, or the
        phrases do not fit in ``duration_ms``; the message names the phrase.
    """
    samplerate = check_int("samplerate", samplerate, minimum=1000)
    if not phrases:
        raise ValueError("phrases must hold at least one (start_ms, text) pair")
    pieces: list[tuple[int, np.ndarray, str]] = []
    end = 0
    for i, item in enumerate(phrases):
        try:
            start_ms, text = item
        except (TypeError, ValueError):
            raise ValueError(f"phrases[{i}] must be a (start_ms, text) pair; got {item!r}") from None
        start_ms = check_positive(f"phrases[{i}] start_ms", start_ms, allow_zero=True)
        first = round(start_ms * samplerate / 1000.0)
        if first < end:
            raise ValueError(
                f"phrases[{i}] ({text!r}) starts at {start_ms} ms, before the previous "
                f"phrase ends at {1000.0 * end / samplerate:.0f} ms"
            )
        samples = speak(text, voice=voice, rate_wpm=rate_wpm, samplerate=samplerate)
        pieces.append((first, samples, text))
        end = first + len(samples)
    total = end
    if duration_ms is not None:
        total = round(check_positive("duration_ms", duration_ms) * samplerate / 1000.0)
        if total < end:
            raise ValueError(
                f"duration_ms={duration_ms} is too short: the last phrase ends at "
                f"{1000.0 * end / samplerate:.0f} ms"
            )
    out = np.zeros(total, dtype=np.int16)
    spans: list[Segment] = []
    for first, samples, text in pieces:
        out[first:first + len(samples)] = samples
        on, off = voiced_span(samples, samplerate=samplerate)
        offset = 1000.0 * first / samplerate
        spans.append(Segment(text, offset + on, offset + off))
    with WavWriter(path, samplerate=samplerate, channels=1) as w:
        w.write(out)
    return spans
