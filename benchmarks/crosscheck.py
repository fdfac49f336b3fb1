"""Agreement of vista's EyeLink readers and fixation detectors with MNE and pymovements.

    python benchmarks/crosscheck.py              # both tables, Markdown
    python benchmarks/crosscheck.py --asc-only   # only the reader table

**Readers.** Each ASC file is read by vista (:func:`vista.gaze.io.read_recording`),
MNE (``mne.io.read_raw_eyelink``) and pymovements (``pymovements.gaze.from_asc(...,
events=True, messages=True)``), and their fixations, saccades, blinks and messages are
matched event by event (same eye, same start and end sample), and the trial split
compared (the ``TRIALID`` messages each reader sees; vista's trial ids). MNE gives an
event's end as ``onset + duration``, one sample past the EFIX/ESACC/EBLINK end time
vista and pymovements report: it is moved back one sample before matching. MNE keeps
only the messages inside recording blocks (START ... END), as annotations.

The files: the three EyeLink ASC examples pymovements ships in its tests (vendored in
``tests/data/pymovements``, MIT licence; real EyeLink Portable Duo recordings, with
calibration blocks, multi-line ``!CAL`` output and one binocular file), a session
recorded with vista's simulated tracker (vista's ASC writer), and the three EDF
recordings eyelinkio ships, written to ASC with vista's :func:`vista.gaze.asc.write_asc`
(real recordings; one binocular).

**Detectors.** On the samples of the three eyelinkio EDFs, vista's ``ivt`` and ``idt``
run against pymovements' ``events.ivt`` and ``events.idt`` with the same thresholds
(30 deg/s, 1.0 deg, 100 ms). pymovements takes positions in degrees, so pixels are
divided by the same ``px_per_degree`` (a 1920x1080, 531 mm screen at 700 mm). I-VT runs
twice: on vista's velocity signal (10 ms centred window), which isolates the
segmentation rules, and on pymovements' own ``pos2vel(method="neighbors")``
(x[i+1] - x[i-1]), which adds the difference in the velocity estimate. pymovements'
``idt`` needs a constant sampling interval, so both run per recording block. A
fixation matches when one of the other detector's starts within 2 samples (same
eye); the table gives the share of each side's fixations matched and, of the matched
pairs, the share whose ends also lie within 2 samples.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VENDORED = ROOT / "tests" / "data" / "pymovements"
KINDS = ("fixation", "saccade", "blink")
EYE = {"left": "L", "right": "R", "L": "L", "R": "R"}


# --------------------------------------------------------------------- readers


def vista_read(path: Path) -> dict[str, Any]:
    from vista.gaze.io import read_recording

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = read_recording(path)
    out: dict[str, Any] = {}
    for kind, ev in (("fixation", rec.fixations), ("saccade", rec.saccades),
                     ("blink", rec.blinks)):
        out[kind] = sorted(zip(ev.eyes.tolist(), ev.starts_ms.tolist(), ev.ends_ms.tolist(),
                               strict=True))
    # events pymovements' patterns cannot read: a negative or missing coordinate
    f, s = rec.fixations, rec.saccades
    with np.errstate(invalid="ignore"):
        bad_f = ~((f.xs >= 0) & (f.ys >= 0))
        bad_s = ~((s.start_xs >= 0) & (s.start_ys >= 0) & (s.end_xs >= 0) & (s.end_ys >= 0))
    out["unsigned"] = {"fixation": int(bad_f.sum()), "saccade": int(bad_s.sum()), "blink": 0,
                       "messages": 0}
    out["span"] = (rec.start_ms, rec.end_ms)
    out["messages"] = [(m.time_ms, " ".join(m.text.split())) for m in rec.messages]
    out["trialids"] = _trialids(out["messages"])
    out["trials"] = [t.trial_id for t in rec.trials]
    return out


def _trialids(messages: Sequence[tuple[float, str]]) -> list[str]:
    return [text.split(None, 1)[1] if " " in text else "" for _, text in messages
            if text.split(None, 1)[0] == "TRIALID"]


def mne_read(path: Path) -> dict[str, Any]:
    import mne

    mne.set_log_level("ERROR")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = mne.io.read_raw_eyelink(path, create_annotations=True)
    first = float(raw._raw_extras[0]["first_timestamp"])  # tracker time of sample 0
    step = 1000.0 / raw.info["sfreq"]
    names = {"fixation": "fixation", "saccade": "saccade", "BAD_blink": "blink"}
    out: dict[str, Any] = {k: [] for k in KINDS}
    msgs = []
    ann = raw.annotations
    for onset, dur, desc, chans in zip(ann.onset, ann.duration, ann.description, ann.ch_names,
                                       strict=True):
        t0 = round(onset * 1000.0 + first, 3)
        if desc in names:
            eye = "L" if any("left" in c for c in chans) else "R"
            out[names[desc]].append((eye, t0, round(t0 + dur * 1000.0 - step, 3)))
        elif desc != "BAD_ACQ_SKIP":  # MNE's mark of the time between blocks
            msgs.append((t0, " ".join(str(desc).split())))
    for k in KINDS:
        out[k].sort()
    out["messages"] = msgs
    out["trialids"] = _trialids(msgs)
    # MNE lays a block's samples end to end: its time axis ends here
    out["end_ms"] = first + raw.n_times * step
    out["step"] = step
    return out


def pm_read(path: Path) -> dict[str, Any]:
    import pymovements as pm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gaze = pm.gaze.from_asc(path, events=True, messages=True, patterns=TRIAL_PATTERNS)
    frame = gaze.events.frame
    names = {"fixation_eyelink": "fixation", "saccade_eyelink": "saccade",
             "blink_eyelink": "blink"}
    out: dict[str, Any] = {k: [] for k in KINDS}
    for row in frame.iter_rows(named=True):
        kind = names.get(row["name"])
        if kind is not None:
            out[kind].append((EYE.get(row.get("eye") or "", "R"), float(row["onset"]),
                              float(row["offset"])))
    for k in KINDS:
        out[k].sort()
    msgs = [] if gaze.messages is None else [
        _apply_offset(float(t), " ".join(str(c).split())) for t, c in gaze.messages.iter_rows()]
    out["messages"] = msgs
    out["trialids"] = _trialids(msgs)
    samples = gaze.samples.select(["time", "trial_id"])
    out["sample_times"] = samples["time"].cast(float).to_numpy()
    out["sample_trials"] = [str(v) if v is not None else "" for v in samples["trial_id"].to_list()]
    return out


def _apply_offset(time_ms: float, text: str) -> tuple[float, str]:
    """pymovements keeps a message's offset (``MSG 2096367 -4 SYNCTIME``) in its text;
    vista applies it (the event happened at time - offset, SR Research's convention).
    Applied here so the texts compare."""
    head, _, rest = text.partition(" ")
    if rest and head.lstrip("-").isdigit():
        return time_ms - float(head), rest
    return time_ms, text


TRIAL_PATTERNS = [{"pattern": r"TRIALID (?P<trial_id>\S+)"},
                  {"pattern": "TRIAL_RESULT", "column": "trial_id", "value": None}]
"""pymovements' trial column: set by a ``TRIALID`` message, cleared by ``TRIAL_RESULT``."""


def trial_of_samples(path: Path, times: np.ndarray, theirs: Sequence[str]) -> tuple[int, int, int]:
    """(samples, samples in the same trial, differing samples at the millisecond a
    trial opens or closes): each sample's trial by vista (from its ``TRIALID`` to the
    trial's close, ``[start, close)`` in time) against pymovements' trial column
    (``times`` and ``theirs``, from :func:`pm_read`), which follows file order."""
    from vista.gaze.io import read_recording

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = read_recording(path)
    ours = np.full(times.size, "", dtype=object)
    edges: set[float] = set()
    for t in rec.trials:
        opened = t.messages[0].time_ms if t.messages else t.start_ms
        if opened is None or t.end_ms is None:
            continue
        ours[(times >= opened) & (times < t.end_ms)] = t.trial_id
        edges |= {opened, t.end_ms}
    differ = np.array([a != b for a, b in zip(ours.tolist(), theirs, strict=True)], dtype=bool)
    at_edge = int(sum(1 for t in times[differ] if t in edges))
    return times.size, int(times.size - differ.sum()), at_edge


# --------------------------------------------------------------------- comparing


def _agree(a: Sequence[Any], b: Sequence[Any]) -> int:
    """Elements of ``a`` found in ``b`` (as multisets)."""
    left: dict[Any, int] = {}
    for x in b:
        left[x] = left.get(x, 0) + 1
    n = 0
    for x in a:
        if left.get(x, 0):
            left[x] -= 1
            n += 1
    return n


def compare_readers(path: Path) -> list[dict[str, Any]]:
    """One row per other reader and kind: counts and exact matches with vista."""
    ours = vista_read(path)
    rows = []
    for name, reader in (("MNE", mne_read), ("pymovements", pm_read)):
        try:
            other = reader(path)
        except Exception as exc:  # a reader that fails on a file is a finding too
            rows.append({"file": path.name, "reader": name, "kind": "all",
                         "vista": "", "other": "", "matched": "", "note": f"error: {exc}"[:80]})
            continue
        for kind in (*KINDS, "messages"):
            a, b = ours[kind], other[kind]
            if kind == "messages" and name == "MNE":
                # MNE keeps the messages inside recording blocks, except those holding
                # "!V", "!MODE" or ";" (mne/io/eyelink/_utils.py): compare those
                lo, hi = _blocks(path)
                a = [m for m in a if any(s <= m[0] <= e for s, e in zip(lo, hi, strict=True))
                     and not any(k in m[1] for k in ("!V", "!MODE", ";"))]
            note = ""
            exact = _agree(a, b)
            near = _near(a, b, other.get("step", 1.0)) if kind != "messages" else exact
            if near > exact:
                note = f"{near} with the end within one sample; "
            if name == "MNE":
                late = sum(1 for x in a if x[1 if kind != "messages" else 0] >= other["end_ms"])
                note += f"{late} after MNE's time axis ends" if late else ""
            elif ours["unsigned"][kind]:
                note += f"{ours['unsigned'][kind]} with a negative coordinate"
            rows.append({"file": path.name, "reader": name, "kind": kind, "vista": len(a),
                         "other": len(b), "matched": exact, "note": note.strip("; ")})
        if name == "pymovements":
            n, same, at_edge = trial_of_samples(path, other["sample_times"],
                                                other["sample_trials"])
            rows.append({"file": path.name, "reader": name, "kind": "trial of each sample",
                         "vista": n, "other": n, "matched": same,
                         "note": f"{at_edge} at the millisecond a trial opens or closes"
                         if at_edge else ""})
        ids, theirs = sorted(ours["trialids"]), sorted(other["trialids"])
        rows.append({"file": path.name, "reader": name, "kind": "TRIALIDs", "vista": len(ids),
                     "other": len(theirs), "matched": _agree(ids, theirs),
                     "note": "" if ours["trialids"] == other["trialids"] or ids != theirs
                     else "same ids, vista orders them by time"})
    return rows


def _near(a: Sequence[Any], b: Sequence[Any], step: float) -> int:
    """Events of ``a`` with one in ``b`` of the same eye and start whose end is within
    one sample."""
    ends: dict[tuple[str, float], list[float]] = {}
    for eye, start, end in b:
        ends.setdefault((eye, start), []).append(end)
    n = 0
    for eye, start, end in a:
        cands = ends.get((eye, start), [])
        hit = next((e for e in cands if abs(e - end) <= step + 1e-6), None)
        if hit is not None:
            cands.remove(hit)
            n += 1
    return n


def _blocks(path: Path) -> tuple[list[float], list[float]]:
    starts, ends = [], []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("START"):
                starts.append(float(line.split()[1]))
            elif line.startswith("END"):
                ends.append(float(line.split()[1]))
    return starts, ends[:len(starts)]


# --------------------------------------------------------------------- files


def eyelinkio_edfs() -> list[Path]:
    import eyelinkio

    data = Path(eyelinkio.__file__).parent / "tests" / "data"
    return sorted(data.glob("*.edf"))


def simulated_asc(folder: Path) -> Path:
    """A session of two demo images recorded with vista's simulated tracker."""
    from vista.acquisition.session import run_session
    from vista.records import Screen

    images = folder / "img"
    images.mkdir()
    demo = ROOT / "vista" / "data" / "demo" / "images"
    for name in ("astronaut", "coins"):
        for suffix in (".jpg", ".scene.json"):
            shutil.copy(demo / f"{name}{suffix}", images)
    run_session(images, participant="SIM", screen=Screen(1920, 1080, 531, 299, 700),
                out=folder / "session", rng=1, speed=None, time_limit_s=10, display=False,
                tracker="simulated")
    named = folder / "vista_simulated_session.asc"
    shutil.copyfile(folder / "session" / "recording.asc", named)
    return named


def edf_as_asc(edf: Path, folder: Path) -> Path:
    """An eyelinkio EDF written to ASC (with samples) by vista's writer."""
    from vista.gaze.asc import write_asc
    from vista.gaze.io import read_recording

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = read_recording(edf, samples=True)
    out = folder / (edf.stem + ".asc")
    write_asc(rec, out)
    return out


@contextmanager
def asc_files() -> Iterator[list[Path]]:
    with tempfile.TemporaryDirectory(prefix="vista-crosscheck-") as tmp:
        folder = Path(tmp)
        files = sorted(VENDORED.glob("*.asc"))
        files.append(simulated_asc(folder))
        try:
            files += [edf_as_asc(e, folder) for e in eyelinkio_edfs()]
        except ImportError:
            pass
        yield files


# --------------------------------------------------------------------- detectors


def _px_per_degree() -> float:
    from vista.records import Screen

    return Screen(1920, 1080, 531, 299, 700).px_per_degree


def _blocks_of(times: np.ndarray) -> list[slice]:
    """Runs of samples with the median step (pymovements' idt needs a constant one)."""
    step = float(np.median(np.diff(times)))
    cuts = np.flatnonzero(np.diff(times) != step) + 1
    edges = [0, *cuts.tolist(), times.size]
    return [slice(a, b) for a, b in itertools.pairwise(edges) if b - a > 1]


def _match(a: list[tuple[float, float]], b: list[tuple[float, float]], tol: float) -> tuple[
        int, int, int]:
    """(a matched, b matched, matched pairs whose ends agree): greedy by onset."""
    bs = sorted(b)
    starts = np.array([x[0] for x in bs]) if bs else np.zeros(0)
    used = np.zeros(len(bs), dtype=bool)
    n_a = ends = 0
    for s, e in sorted(a):
        if not starts.size:
            break
        cand = np.flatnonzero((np.abs(starts - s) <= tol) & ~used)
        if cand.size:
            j = int(cand[np.argmin(np.abs(starts[cand] - s))])
            used[j] = True
            n_a += 1
            ends += abs(bs[j][1] - e) <= tol
    return n_a, int(used.sum()), ends


def compare_detectors(edf: Path, *, first_ms: float | None = None) -> list[dict[str, Any]]:
    """Fixations of vista's and pymovements' I-VT and I-DT on the samples of ``edf``
    (only its first ``first_ms`` milliseconds when given)."""
    import pymovements as pm

    from vista.gaze.detect import detect_fixations, velocities_deg_s
    from vista.gaze.io import read_recording
    from vista.gaze.recording import Samples

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = read_recording(edf, samples=True)
    s = rec.samples
    assert s is not None
    if first_ms is not None:
        keep = s.times_ms < s.times_ms[0] + first_ms
        s = Samples(s.times_ms[keep], s.xs[keep], s.ys[keep], s.pupils[keep], s.eyes)
    step = float(np.median(np.diff(s.times_ms)))
    tol = 2 * step
    ppd = _px_per_degree()
    rows = []
    for method in ("ivt", "idt"):
        for eye in s.eyes:
            x, y, _ = s.eye(eye)
            ours = detect_fixations(s, method=method, px_per_degree=ppd, eye=eye)
            mine = list(zip(ours.starts_ms.tolist(), ours.ends_ms.tolist(), strict=True))
            variants = ["vista velocity", "pymovements velocity"] if method == "ivt" else [""]
            for variant in variants:
                theirs: list[tuple[float, float]] = []
                runs = 0
                for blk in _blocks_of(s.times_ms):
                    t = s.times_ms[blk]
                    pos = np.column_stack([x[blk], y[blk]]) / ppd
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        if method == "idt":
                            ev = pm.events.idt(pos, timesteps=t.astype(np.int64),
                                               minimum_duration=int(100 // step * step),
                                               dispersion_threshold=1.0)
                        else:
                            if variant == "vista velocity":
                                v = velocities_deg_s(t, x[blk], y[blk], px_per_degree=ppd,
                                                     window_ms=10.0)
                                vel = np.column_stack([v, np.zeros_like(v)])
                            else:
                                from pymovements.transforms.numpy import pos2vel

                                vel = pos2vel(pos, sampling_rate=1000.0 / step,
                                              method="neighbors")
                            ev = pm.events.ivt(vel, timesteps=t.astype(np.int64),
                                               minimum_duration=100, velocity_threshold=30.0)
                            runs += len(pm.events.ivt(vel, timesteps=t.astype(np.int64),
                                                      minimum_duration=0,
                                                      velocity_threshold=30.0).frame)
                    fr = ev.frame
                    theirs += list(zip(fr["onset"].cast(float).to_list(),
                                       fr["offset"].cast(float).to_list(), strict=True))
                a, b, ends = _match(mine, theirs, tol)
                rows.append({"file": edf.name, "eye": eye, "method": method, "variant": variant,
                             "runs": runs if method == "ivt" else "",
                             "vista": len(mine), "pymovements": len(theirs),
                             "vista_matched": a / len(mine) if mine else float("nan"),
                             "pm_matched": b / len(theirs) if theirs else float("nan"),
                             "ends_within_2": ends / a if a else float("nan")})
    return rows


# --------------------------------------------------------------------- output


def markdown(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def compact(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per file and reader: ``matched / vista / other`` for each kind, notes
    joined."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        row = out.setdefault((r["file"], r["reader"]), {"file": r["file"], "reader": r["reader"],
                                                        "notes": []})
        if r["kind"] == "all":
            row["notes"].append(r["note"])
            continue
        row[r["kind"]] = f"{r['matched']} / {r['vista']} / {r['other']}"
        if r["note"]:
            row["notes"].append(f"{r['kind']}: {r['note']}")
    for row in out.values():
        row["notes"] = "; ".join(row["notes"])
        for k in (*KINDS, "messages", "TRIALIDs", "trial of each sample"):
            row.setdefault(k, "")
    return list(out.values())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--asc-only", action="store_true", help="only the reader table")
    args = parser.parse_args(argv)
    os.environ.setdefault("MNE_LOGGING_LEVEL", "ERROR")
    with asc_files() as files:
        rows = [r for f in files for r in compare_readers(f)]
    print("## Readers: vista vs MNE and pymovements\n")
    print("Each cell: matched / vista / other reader (same eye, start and end; messages: "
          "same time and text).\n")
    print(markdown(compact(rows), ["file", "reader", *KINDS, "messages", "TRIALIDs",
                                   "trial of each sample", "notes"]))
    if not args.asc_only:
        rows = [r for e in eyelinkio_edfs() for r in compare_detectors(e)]
        print("\n## Fixation detection: vista vs pymovements (onsets within 2 samples)\n")
        print("`runs`: I-VT's runs of samples below the threshold before the 100 ms minimum "
              "(pymovements' ivt with minimum_duration=0 on that velocity).\n")
        print(markdown(rows, ["file", "eye", "method", "variant", "runs", "vista", "pymovements",
                              "vista_matched", "pm_matched", "ends_within_2"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
