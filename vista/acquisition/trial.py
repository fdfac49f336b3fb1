"""One trial of a recording session: the EyeLink protocol for one image, and the
audio recorded with it.

:func:`run_trial` does the drift check, ``TRIALID``, ``!V TRIAL_VAR``, ``!V
IMGLOAD``, ``DISPLAY_COORDS``, image on with ``SYNCTIME``, audio on, wait for a key
or the time limit, ``TRIAL_RESULT 0``, and returns the journal line.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import inside, safe_name, write_json_atomic
from ..gaze.messages import format_display_coords
from ..imaging import image_size
from ..records import Screen
from .display import fit_placement, imgload_message

__all__ = ["TrialSettings", "run_trial"]


def jsonable(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class TrialSettings:
    """What every trial of one session part shares."""

    screen: Screen
    session_dir: Path
    time_limit_ms: float
    audio: str | None
    drift_check: bool
    end_keys: tuple[str, ...]
    recording: str

    @property
    def centre(self) -> tuple[float, float]:
        return self.screen.width_px / 2.0, self.screen.height_px / 2.0


def run_trial(trk: Any, item: Mapping[str, Any], settings: TrialSettings,
              display: Any = None) -> dict[str, Any]:
    """Run one trial of the plan (``item``: ``trial_id``, ``image``) and return its
    journal line (README, *The session folder*)."""
    trial_id, image = str(item["trial_id"]), str(item["image"])
    drift_error: float | None = None
    if settings.drift_check:
        if display is not None:
            display.clear(flip=False)
            display.draw_target(*settings.centre)
        drift_error = jsonable(trk.drift_check(*settings.centre))
    size, placement, onset = _present(trk, trial_id, image, settings.screen, display)
    audio = settings.audio
    recorder = None if audio is None else _start_audio(trk, audio, settings.session_dir,
                                                       trial_id)
    key = _wait(trk, display, onset, settings.time_limit_ms, settings.end_keys)
    audio_fields: dict[str, Any] = {}
    if recorder is not None and audio is not None:
        audio_fields = _stop_audio(recorder, audio, settings.session_dir)
    end = float(trk.tracker_time_ms())
    trk.send_message("TRIAL_RESULT 0")
    trk.stop_recording()
    if display is not None:
        display.clear()
    entry: dict[str, Any] = {
        "trial_id": trial_id, "image": image, "image_size": [size[0], size[1]],
        "placement": placement.to_dict(), "start_ms": onset, "end_ms": end,
        "recording": settings.recording, "audio": None, "audio_start_ms": None,
        "audio_latency_ms": None, "audio_overflows": None, "transcript": None,
        "drift_error_deg": drift_error, "ended_by": key or "time_limit",
    }
    entry.update(audio_fields)
    entry.update(_simulated_fields(trk, settings.session_dir, trial_id, recorder is None))
    if key in ("escape", "quit"):
        entry["aborted"] = True
    return entry


def _present(trk: Any, trial_id: str, image: str, screen: Screen,
             display: Any) -> tuple[tuple[int, int], Any, float]:
    """Start recording, send the trial's messages and show the image; returns the
    image's size, its placement and the onset (tracker clock)."""
    W, H = screen.width_px, screen.height_px
    trk.start_recording()
    trk.send_message(f"TRIALID {trial_id}")
    trk.send_message(f"!V TRIAL_VAR image {Path(image).name}")
    trk.send_message(f"!V TRIAL_VAR trial {trial_id}")
    size = image_size(image)
    if display is not None:
        placement = display.show_image(image)
    else:
        placement = fit_placement(size, (W, H), fit="fit")
    trk.send_message(imgload_message(image, placement))
    trk.send_message(format_display_coords(W, H))
    onset = float(trk.tracker_time_ms())
    trk.send_message("SYNCTIME")
    return size, placement, onset


def _stop_audio(recorder: Any, audio: str, session_dir: Path) -> dict[str, Any]:
    if audio != "microphone":
        recorder.wait(timeout=60.0)  # a file source: let it deliver what it holds
    record = recorder.stop()
    tts_file = getattr(recorder.source, "path", None)
    if audio == "tts" and tts_file is not None:
        Path(tts_file).unlink(missing_ok=True)  # the speech is in the recording now
    return dict(record.trial_fields(session_dir))


def _simulated_fields(trk: Any, session_dir: Path, trial_id: str,
                      no_audio: bool) -> dict[str, Any]:
    """What a simulated participant said (their words as the transcript when no
    audio was recorded) and the scene they talked about."""
    out: dict[str, Any] = {}
    spoken = getattr(trk, "spoken_transcript", None)
    transcript = spoken() if callable(spoken) else None
    if transcript is not None:
        rel = Path("transcripts" if no_audio else "simulated") / f"{safe_name(trial_id)}.json"
        (session_dir / rel.parent).mkdir(exist_ok=True)
        write_json_atomic(inside(session_dir, rel), transcript.to_dict())
        out["transcript" if no_audio else "simulated_transcript"] = rel.as_posix()
    scene = getattr(trk, "current_scene", None)
    shown = scene() if callable(scene) else None
    if shown is not None:
        out["scene"] = shown[0].to_dict()  # what the simulated participant talked about
    return out


def _wait(
    trk: Any, display: Any, onset: float, limit_ms: float, end_keys: tuple[str, ...]
) -> str | None:
    """Until a key or the time limit (tracker clock); returns the key or None."""
    pressed = getattr(trk, "participant_pressed_key", None)
    while True:
        now = float(trk.tracker_time_ms())
        if now - onset >= limit_ms:
            return None
        if display is not None:
            key = display.poll_key()
            if key is not None and (key in end_keys or key in ("escape", "quit")):
                return key
        if callable(pressed) and pressed():
            return "simulated"
        sleeper = getattr(trk, "sleep", None)
        step = min(10.0, limit_ms - (now - onset))
        if callable(sleeper):
            sleeper(max(step, 1.0))
        else:
            time.sleep(max(step, 1.0) / 1000.0)


def _start_audio(trk: Any, audio: str, session_dir: Path, trial_id: str) -> Any:
    from .audio import AudioRecorder, FileSource

    folder = session_dir / "audio"
    folder.mkdir(exist_ok=True)
    wav = inside(session_dir, Path("audio") / f"{safe_name(trial_id)}.wav")
    # a file plays at the simulated clock's pace; as fast as it can with no pacing
    speed = getattr(trk, "speed", None) or math.inf
    source: Any
    if audio == "microphone":
        source = None
    elif audio == "tts":
        source = FileSource(_tts_wav(trk, folder / f".{safe_name(trial_id)}.tts.wav"), speed=speed)
    else:
        source = FileSource(audio, speed=speed)
    recorder = AudioRecorder(wav, tracker=trk, source=source)
    recorder.start()
    deadline = time.monotonic() + 5.0  # audio on before the trial goes on (AUDIO_START sent)
    while not recorder.started and time.monotonic() < deadline:
        time.sleep(0.002)
    return recorder


def _tts_wav(trk: Any, path: Path, *, gap_ms: float = 150.0) -> Path:
    """The simulated participant's phrases spoken by espeak-ng, each at its planned
    start (ms after now, the image onset) or, where the previous phrase is still
    being spoken, ``gap_ms`` after it, into a new WAV file at ``path``."""
    import numpy as np

    from .audio import WavWriter
    from .tts import speak

    phrases = getattr(trk, "spoken_phrases", None)
    planned = phrases() if callable(phrases) else []
    if not planned:
        raise ValueError("audio='tts' needs a simulated participant (tracker='simulated')")
    rate = 16000
    onset = float(trk.tracker_time_ms())
    pieces = []
    end = 0
    for start_ms, text in planned:
        samples = np.asarray(speak(text, samplerate=rate), dtype=np.int16).reshape(-1)
        first = max(round(max(0.0, start_ms - onset) * rate / 1000.0), end + round(gap_ms * rate / 1000.0))
        pieces.append((first, samples))
        end = first + samples.size
    out = np.zeros(end + rate // 2, dtype=np.int16)
    for first, samples in pieces:
        out[first:first + samples.size] = samples
    if path.exists():
        path.unlink()
    with WavWriter(path, samplerate=rate, channels=1) as w:
        w.write(out)
    return path
