"""ASC reading and writing: round trips, tolerated variants, malformed input, trials."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vista.errors import ParseError
from vista.gaze import asc as asc_mod
from vista.gaze.asc import AscWriter, read_asc, write_asc
from vista.gaze.io import read_recording
from vista.gaze.messages import trials_from_messages
from vista.gaze.recording import Recording
from vista.records import Fixations, Message, Placement

# ---------------------------------------------------------------- helpers


def _write(path: Path, **kw: object) -> dict[str, np.ndarray]:
    """A binocular 1000 Hz recording with known samples, events and messages."""
    rng = np.random.default_rng(3)
    n = 2000
    t = 5000 + np.arange(n, dtype=float)
    xs = np.round(rng.uniform(0, 1919, (n, 2)), 1)
    ys = np.round(rng.uniform(0, 1079, (n, 2)), 1)
    ps = np.round(rng.uniform(800, 1200, (n, 2)), 1)
    xs[100:120, 0] = np.nan  # left eye lost
    ys[100:120, 0] = np.nan
    with AscWriter(path) as w:
        w.display_coords(4990, 0, 0, 1919, 1079)
        w.message(4995, "TRIALID 7")
        w.message(4996, "!V TRIAL_VAR condition free viewing")
        w.start(5000, eyes="LR", rate_hz=1000)
        for i in range(n):
            if i == 500:
                w.fixation("L", 5010, 5400, 300.5, 200.25, 1000)
                w.fixation("R", 5011, 5401, 310.5, 205.0, 990)
                w.saccade("R", 5402, 5440, 310.5, 205.0, 900.0, 700.0, 15.25, 420)
                w.blink("L", 5450, 5550)
                w.message(5501, "SYNCTIME", offset_ms=1)
            w.sample(t[i], xs[i, 0], ys[i, 0], ps[i, 0], xs[i, 1], ys[i, 1], ps[i, 1])
        w.message(6999, "TRIAL_RESULT 0")
        w.end(6999)
    return {"t": t, "xs": xs, "ys": ys, "ps": ps}


# ---------------------------------------------------------------- round trips


def test_round_trip_binocular(tmp_path: Path) -> None:
    ref = _write(tmp_path / "r.asc")
    rec = read_asc(tmp_path / "r.asc", samples=True)
    assert rec.eyes == "LR" and rec.sampling_rate_hz == 1000.0
    assert rec.display_coords == (0.0, 0.0, 1919.0, 1079.0)
    f = rec.fixations
    assert f.starts_ms.tolist() == [5010, 5011] and f.ends_ms.tolist() == [5400, 5401]
    assert f.xs.tolist() == [300.5, 310.5] and f.ys.tolist() == [200.2, 205.0]  # %.1f
    assert f.eyes.tolist() == ["L", "R"]
    assert rec.fixation_pupils is not None and rec.fixation_pupils.tolist() == [1000, 990]
    s = rec.saccades
    assert (s.starts_ms[0], s.ends_ms[0], s.end_xs[0], s.amplitudes_deg[0]) == (
        5402, 5440, 900.0, 15.25)
    assert s.peak_velocities_deg_s[0] == 420 and s.eyes[0] == "R"
    assert rec.blinks.starts_ms.tolist() == [5450] and rec.blinks.eyes.tolist() == ["L"]
    assert rec.samples is not None
    np.testing.assert_array_equal(rec.samples.times_ms, ref["t"])
    np.testing.assert_array_equal(rec.samples.xs, ref["xs"])
    np.testing.assert_array_equal(rec.samples.ys, ref["ys"])
    lost = np.isnan(ref["xs"])
    np.testing.assert_array_equal(rec.samples.pupils[~lost], ref["ps"][~lost])
    assert np.isnan(rec.samples.pupils[lost]).all()  # written as 0.0, read as missing
    texts = [m.text for m in rec.messages]
    assert "SYNCTIME" in texts and rec.messages[texts.index("SYNCTIME")].time_ms == 5500
    (trial,) = rec.trials
    assert trial.trial_id == "7" and trial.variables == {"condition": "free viewing"}
    assert trial.start_ms == 5500 and trial.end_ms == 6999


def test_samples_skipped_by_default(tmp_path: Path) -> None:
    _write(tmp_path / "r.asc")
    rec = read_asc(tmp_path / "r.asc")
    assert rec.samples is None and len(rec.fixations) == 2


def test_block_boundaries_do_not_matter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing in 61-byte blocks (lines split across reads) gives the same recording."""
    _write(tmp_path / "r.asc")
    big = read_asc(tmp_path / "r.asc", samples=True)
    monkeypatch.setattr(asc_mod, "_BLOCK_BYTES", 61)
    small = read_asc(tmp_path / "r.asc", samples=True)
    assert small.fixations == big.fixations
    assert small.messages == big.messages
    assert small.samples is not None and big.samples is not None
    np.testing.assert_array_equal(small.samples.xs, big.samples.xs)
    np.testing.assert_array_equal(small.samples.times_ms, big.samples.times_ms)


def test_write_asc_round_trip(tmp_path: Path) -> None:
    _write(tmp_path / "a.asc")
    rec = read_asc(tmp_path / "a.asc", samples=True)
    write_asc(rec, tmp_path / "b.asc")
    again = read_asc(tmp_path / "b.asc", samples=True)
    assert again.fixations == rec.fixations
    assert again.messages == rec.messages
    assert again.saccades.starts_ms.tolist() == rec.saccades.starts_ms.tolist()
    assert again.blinks.ends_ms.tolist() == rec.blinks.ends_ms.tolist()
    assert again.samples is not None and rec.samples is not None
    np.testing.assert_array_equal(again.samples.xs, rec.samples.xs)
    with pytest.raises(FileExistsError):
        write_asc(rec, tmp_path / "b.asc")


def test_writer_checks_arguments(tmp_path: Path) -> None:
    buf = io.StringIO()
    w = AscWriter(buf)
    with pytest.raises(ValueError, match="eye must be 'L' or 'R'"):
        w.fixation("X", 0, 1, 0, 0, 0)
    with pytest.raises(ValueError, match="newline"):
        w.message(0, "a\nb")
    with pytest.raises(ValueError, match="3 or 6 values"):
        w.sample(0, 1, 2, 3, 4)
    with pytest.raises(ValueError, match="eyes must be"):
        w.start(0, eyes="B")
    w.close()
    assert not buf.closed  # a file object passed in is left open
    (tmp_path / "x.asc").write_text("")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        AscWriter(tmp_path / "x.asc")


def test_vectorised_samples_match_single_lines() -> None:
    one, many = io.StringIO(), io.StringIO()
    t = np.array([1.0, 2.0, 3.0])
    x = np.array([10.0, np.nan, 12.5])
    w1 = AscWriter(one)
    for i in range(3):
        w1.sample(t[i], x[i], 5.0, 900.0)
    AscWriter(many).samples(t, x, [5.0] * 3, [900.0] * 3)
    assert one.getvalue() == many.getvalue()
    assert "\t      .\t" in one.getvalue()


# ---------------------------------------------------------------- tolerated variants


TOLERANT = """** CONVERTED FROM D:\\data\\run.edf using edfapi 4.2
** DATE: Mon Nov 16 10:00:00 2026

MSG\t900 DISPLAY_COORDS 0 0 1023 767
MSG\t901 3 !V TRIAL_VAR late 1
INPUT\t905\t127
BUTTON\t906\t1\t1
START\t1000 \tRIGHT\tSAMPLES\tEVENTS\r
SAMPLES\tGAZE\tRIGHT\tRATE\t 500.00\tTRACKING\tCR\tFILTER\t2\tVEL\tRES\tINPUT
SOMETHING NEW 1 2 3
1000\t  100.0\t  200.0\t 1000.0\t    1.0\t    2.0\t   38.1\t   38.2\t  127.0\t...
1002\t  101.0\t  201.0\t 1000.0\t    1.0\t    2.0\t   38.1\t   38.2\t  127.0\tI..\r
1004\t     .\t     .\t    0.0\t     .\t     .\t   38.1\t   38.2\t  127.0\tC..
1006\t  102.0\t  202.0\t 1000.0\t    1.0\t    2.0\t   38.1\t   38.2\t  127.0\tR..
SFIX R   1008
EFIX R   1000\t1006\t8\t  101.0\t  201.0\t   1000\t   38.1\t   38.2
SBLINK R 1010
"""


def test_tolerated_variants() -> None:
    rec = read_asc(io.BytesIO(TOLERANT.encode()), samples=True)
    assert rec.display_coords == (0.0, 0.0, 1023.0, 767.0)
    assert rec.sampling_rate_hz == 500.0 and rec.eyes == "R"
    assert rec.messages[0] == Message(898.0, "!V TRIAL_VAR late 1")  # sorted by time
    assert rec.samples is not None
    assert rec.samples.times_ms.tolist() == [1000, 1002, 1004, 1006]
    x, y, p = rec.samples.eye("R")
    assert math.isnan(x[2]) and math.isnan(y[2]) and x[3] == 102.0 and math.isnan(p[2])
    assert rec.fixations.starts_ms.tolist() == [1000] and rec.end_ms == 1006  # no END
    assert len(rec.trials) == 1 and rec.trials[0].trial_id == "1"  # free viewing


def test_text_stream_and_latin1(tmp_path: Path) -> None:
    text = "MSG\t10 !V TRIAL_VAR name Ærø\nEFIX L 20 30 11 1.0 2.0 3\n"
    assert read_asc(io.StringIO(text)).messages[0].text == "!V TRIAL_VAR name Ærø"
    (tmp_path / "l.asc").write_bytes(text.encode("latin-1"))
    with pytest.raises(ParseError, match="encoding='latin-1'") as err:
        read_asc(tmp_path / "l.asc")
    assert err.value.line == 1 and err.value.path == str(tmp_path / "l.asc")
    rec = read_asc(tmp_path / "l.asc", encoding="latin-1")
    assert rec.messages[0].text.endswith("Ærø") and rec.eyes == "L"


def test_href_samples_are_refused() -> None:
    """``edf2asc -sh`` writes head-referenced (HREF) sample positions, not screen pixels:
    asking for its samples is an error naming the line; its events are still read."""
    text = ("START 10 RIGHT SAMPLES EVENTS\nSAMPLES HREF RIGHT RATE 1000.00 TRACKING CR\n"
            "10 -1234.0 567.0 1000.0 ...\nEFIX R 10 210 201 500.0 400.0 900\n")
    with pytest.raises(ParseError, match=r":2: the samples are HREF data"):
        read_asc(io.StringIO(text), samples=True)
    assert read_asc(io.StringIO(text)).fixations.xs.tolist() == [500.0]
    events = "START 10 RIGHT EVENTS\nEVENTS HREF RIGHT RATE 1000.00 TRACKING CR\n"
    with pytest.raises(ParseError, match=r":2: the event positions are HREF data"):
        read_asc(io.StringIO(events))


def test_messages_sorted_and_offset_form() -> None:
    """SR Research's offset rule (support forum FAQ "How can I take advantage of the
    timing offset in sending messages?"): ``MSG 1250 750 imageOnsetTime`` marks an
    event at 1250 - 750 = 500 ms; a negative offset marks a later event."""
    text = ("MSG 100 b\nMSG 100 50 a\nMSG 100 5\nMSG 100 -7 c d\n"
            "MSG 1250 750 imageOnsetTime\nMSG 90 +10 e\n")
    rec = read_asc(io.StringIO(text))
    assert [(m.time_ms, m.text) for m in rec.messages] == [
        (50.0, "a"), (80.0, "e"), (100.0, "b"), (100.0, "5"), (107.0, "c d"),
        (500.0, "imageOnsetTime")]


# ---------------------------------------------------------------- malformed input

VALID = "START 10 RIGHT SAMPLES EVENTS\nSAMPLES GAZE RIGHT RATE 1000.00\n"

MALFORMED = [
    pytest.param(VALID + "EFIX R 20 30\n", 3, "malformed EFIX", id="efix-short"),
    pytest.param(VALID + "EFIX R 20 x 11 1 2 3\n", 3, "expected numbers", id="efix-text"),
    pytest.param(VALID + "EFIX Q 20 30 11 1 2 3\n", 3, "eye must be L or R", id="efix-eye"),
    pytest.param(VALID + "EFIX R 30 20 11 1 2 3\n", 3, r"ends \(20\) before it starts",
                 id="efix-backwards"),
    pytest.param(VALID + "EFIX R 50 60 11 1 2 3\nEFIX R 20 30 11 1 2 3\n", 4, "out of order",
                 id="efix-out-of-order"),
    pytest.param(VALID + "ESACC R 1 2 2 1 2 3\n", 3, "malformed ESACC", id="esacc-short"),
    pytest.param(VALID + "EBLINK L 5\n", 3, "malformed EBLINK", id="eblink-short"),
    pytest.param(VALID + "SFIX\n", 3, "malformed SFIX", id="sfix-empty"),
    pytest.param("MSG abc hello\n", 1, "malformed MSG", id="msg-time"),
    pytest.param("START\n", 1, "malformed START", id="start-empty"),
    pytest.param(VALID + "SAMPLES GAZE RIGHT RATE fast\n", 3, "RATE needs a number",
                 id="rate"),
    pytest.param(VALID + "10 1.0 2.0 3.0 ...\n11 1.0 2.0\n", 4, "truncated", id="sample-short"),
    pytest.param(VALID + "10 1.0 2.0 3.0 ...\n11 1.0 zz 3.0 ...\n", 4, "'zz' is not a number",
                 id="sample-text"),
    pytest.param(VALID + "10 1.0 2.0 3.0 ...\n9 1.0 2.0 3.0 ...\n", 4, "goes back",
                 id="sample-backwards"),
    pytest.param(VALID + "10 1.0 inf 3.0 ...\n", 3, "not a number", id="sample-inf"),
    pytest.param(VALID + "MSG 5 ok\x00\x00\n", 3, "NUL byte", id="nul"),
    pytest.param(VALID + "EFIX R 1 2 \x07\n", 3, "control character", id="control"),
    pytest.param(VALID + "MSG 5 \xff\xfe\n", 3, "not valid utf-8", id="garbage-bytes"),
    pytest.param(VALID + "MSG 5 " + "x" * 70000 + "\n", 3, "longer than", id="long-line"),
    pytest.param(VALID + "MSG 5 " + "x" * 70000, 3, "longer than", id="long-last-line"),
    pytest.param(VALID + "EFIX R 20 30 11 1.0", 3, "malformed EFIX", id="truncated-file"),
]


@pytest.mark.parametrize(("text", "line", "message"), MALFORMED)
def test_malformed_input(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "bad.asc"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ParseError, match=message) as err:
        read_asc(path, samples=True)
    assert err.value.path == str(path)
    assert err.value.line == line
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_edf_given_as_asc(tmp_path: Path) -> None:
    (tmp_path / "x.asc").write_bytes(b"SR_RESEARCH\x00\x01\x02")
    with pytest.raises(ParseError, match="EDF file"):
        read_asc(tmp_path / "x.asc")


def test_utf16_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "u.asc").write_bytes("MSG 1 hello\n".encode("utf-16"))
    with pytest.raises(ParseError, match=r"binary data|not valid"):
        read_asc(tmp_path / "u.asc")


def test_unknown_encoding_and_suffix(tmp_path: Path) -> None:
    (tmp_path / "a.asc").write_text("MSG 1 a\n")
    with pytest.raises(ValueError, match="encoding"):
        read_asc(tmp_path / "a.asc", encoding="no-such-codec")
    (tmp_path / "a.txt").write_text("MSG 1 a\n")
    with pytest.raises(ParseError, match=r"expected \.edf or \.asc"):
        read_recording(tmp_path / "a.txt")
    with pytest.raises(FileNotFoundError):
        read_recording(tmp_path / "missing.asc")


def _valid_bytes() -> bytes:
    buf = io.StringIO()
    with AscWriter(buf) as w:
        w.display_coords(0, 0, 0, 99, 99)
        w.message(1, "TRIALID 1")
        w.start(2, eyes="LR")
        for t in range(2, 40):
            w.sample(t, 10.0 + t, 20.0, 900.0, 11.0, 21.0, float("nan"))
            if t == 20:
                w.fixation("L", 3, 20, 15.0, 20.0, 900)
                w.saccade("R", 21, 25, 1, 2, 3, 4, 0.5, 80)
        w.message(40, "TRIAL_RESULT 0")
        w.end(40)
    return buf.getvalue().encode()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_never_crashes(tmp_path: Path, data: st.DataObject) -> None:
    """Mutated files give a Recording or a ParseError with a line, nothing else."""
    raw = bytearray(_valid_bytes())
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate", "dup"]))
        pos = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if op == "flip" and raw:
            raw[pos] = data.draw(st.integers(0, 255))
        elif op == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=12))
        elif op == "delete":
            del raw[pos:pos + data.draw(st.integers(1, 20))]
        elif op == "truncate":
            del raw[pos:]
        elif op == "dup":
            raw[pos:pos] = raw[pos:pos + data.draw(st.integers(1, 80))]
    path = tmp_path / "fuzz.asc"
    path.write_bytes(bytes(raw))
    try:
        rec = read_asc(path, samples=True)
    except ParseError as exc:
        assert exc.path == str(path)
        assert exc.line is None or exc.line >= 1
    else:
        assert isinstance(rec, Recording)


# ---------------------------------------------------------------- trials


def _png(path: Path, w: int, h: int) -> None:
    from PIL import Image

    Image.new("RGB", (w, h)).save(path)


def test_trials_from_messages_imgload(tmp_path: Path) -> None:
    _png(tmp_path / "cat.png", 400, 300)
    msgs = [
        Message(0, "DISPLAY_COORDS 0 0 1919 1079"),
        Message(10, "TRIALID a"),
        Message(11, "!V IMGLOAD CENTER cat.png 960 540"),
        Message(12, "SYNCTIME"),
        Message(13, "AUDIO_START 3.2"),
        Message(500, "TRIAL_RESULT 0"),
        Message(600, "TRIALID b"),
        Message(601, "!V IMGLOAD TOP_LEFT cat.png 10 20"),
        Message(700, "TRIAL_RESULT 0"),
        Message(800, "TRIALID c"),
        Message(801, "!V IMGLOAD FILL missing.png"),
        Message(900, "TRIALID d"),
        Message(901, "!V IMGLOAD CENTER missing.png 960 540"),
        Message(902, "!V IMGLOAD TOP_LEFT other.png 0 0 100 50"),
        Message(950, "TRIAL_RESULT 0"),
        Message(960, "TRIALID e"),
        Message(961, "!V IMGLOAD TOP_LEFT sized.png 5 6 100 50"),
    ]
    fix = Fixations([5, 12, 499, 500, 650, 850], [9, 100, 560, 550, 660, 880],
                    [0] * 6, [0] * 6)
    trials = trials_from_messages(msgs, fix, display_coords=(0, 0, 1919, 1079),
                                  base_dir=tmp_path, end_ms=1000)
    a, b, c, d, e = trials
    assert a.image_path == str(tmp_path / "cat.png")
    assert a.placement == Placement(760, 390, 400, 300)
    assert (a.start_ms, a.end_ms) == (12, 500)
    assert a.fixations.starts_ms.tolist() == [12, 499]  # [start, end)
    assert "AUDIO_START 3.2" in [m.text for m in a.messages] and a.screen is None
    assert b.placement == Placement(10, 20, 400, 300) and b.start_ms == 600
    assert c.image_path == "missing.png" and c.placement == Placement(0, 0, 1920, 1080)
    assert (c.start_ms, c.end_ms) == (800, 900)  # closed by the next TRIALID
    assert c.fixations.starts_ms.tolist() == [850]
    assert d.placement is None  # CENTER without size or readable file; first IMGLOAD wins
    assert e.placement == Placement(5, 6, 100, 50) and e.end_ms == 1000


def test_trial_display_coords_and_image_variable(tmp_path: Path) -> None:
    msgs = [Message(1, "TRIALID 1"), Message(2, "DISPLAY_COORDS 0 0 799 599"),
            Message(3, "!V TRIAL_VAR image pics/x.jpg"), Message(4, "!V IMGLOAD FILL x.jpg"),
            Message(9, "TRIAL_RESULT 0")]
    (t,) = trials_from_messages(msgs, Fixations.empty())
    assert t.placement == Placement(0, 0, 800, 600) and t.image_path == "x.jpg"
    assert t.variables == {"image": "pics/x.jpg"}
    (t,) = trials_from_messages(msgs[:3], Fixations.empty())
    assert t.image_path == "pics/x.jpg" and t.placement is None


def test_read_recording_resolves_images_next_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "stim").mkdir()
    _png(tmp_path / "stim" / "a.png", 64, 32)
    with AscWriter(tmp_path / "run.asc") as w:
        w.message(1, "TRIALID 1")
        w.message(2, "!V IMGLOAD CENTER stim/a.png 100 100")
        w.message(9, "TRIAL_RESULT 0")
    rec = read_recording(tmp_path / "run.asc")
    assert rec.trials[0].image_path == str((tmp_path / "stim" / "a.png").resolve())
    assert rec.trials[0].placement == Placement(68, 84, 64, 32)
    assert rec.describe()["trials"][0]["placement"] == {
        "left": 68, "top": 84, "width": 64, "height": 32}


@pytest.mark.parametrize("name", ["eyelink_monocular_example.asc",
                                  "eyelink_binocular_example.asc",
                                  "eyelink_monocular_2khz_example.asc"])
def test_writer_durations_match_real_edf2asc_files(name: str) -> None:
    """Every EFIX, ESACC and EBLINK duration of three real edf2asc files (1000 Hz mono
    and binocular, 2000 Hz) is what AscWriter writes for the same start and end:
    end - start plus one sample interval."""
    path = Path(__file__).parent / "data" / "pymovements" / name
    lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    rate = next(float(ln.split("RATE")[1].split()[0]) for ln in lines if "\tRATE\t" in ln)
    out = io.StringIO()
    writer = AscWriter(out)
    writer.events_header(eyes="L", rate_hz=rate)
    expected = []
    for ln in lines:
        kind, *fields = ln.split() or [""]
        if kind not in ("EFIX", "ESACC", "EBLINK"):
            continue
        eye, start, end, duration = fields[0], float(fields[1]), float(fields[2]), float(fields[3])
        expected.append(duration)
        if kind == "EFIX":
            writer.end_fixation(eye, start, end, 0.0, 0.0, 1.0)
        elif kind == "ESACC":
            writer.end_saccade(eye, start, end, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0)
        else:
            writer.end_blink(eye, start, end)
    written = [float(ln.split()[4]) for ln in out.getvalue().splitlines()[1:]]
    assert len(expected) >= 3
    assert written == expected
