"""The simulated participant and tracker: scenes, speech, gaze and the ASC log."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from vista.acquisition.simulate import (
    GazeModel,
    Region,
    Scene,
    SimulatedTracker,
    default_scene,
    load_scene,
    plan_speech,
    saccade_duration_ms,
    simulate_gaze,
)
from vista.acquisition.tracker import Tracker
from vista.errors import ParseError
from vista.records import Placement, Screen

SCREEN = Screen(1024, 768, 400.0, 300.0, 600.0)


def _image(tmp_path, name="a.png", size=(300, 400)):
    from PIL import Image

    arr = np.full((*size, 3), 180, np.uint8)
    arr[40:100, 260:360] = (220, 20, 20)
    path = tmp_path / name
    Image.fromarray(arr).save(path)
    return path


@pytest.mark.parametrize(
    "data, message",
    [
        pytest.param({"regions": [{"phrase": "a", "box": [5, 0, 1, 9]}]}, "x0 <= x1", id="box-order"),
        pytest.param({"regions": [{"phrase": " ", "point": [1, 1]}]}, "non-empty", id="empty-phrase"),
        pytest.param({"regions": [{"phrase": "a"}]}, "'box'", id="no-geometry"),
        pytest.param({"regions": [{"phrase": "a", "point": [1, 1], "start_s": 1}]}, "both", id="half-time"),
        pytest.param({"regions": [{"phrase": "a", "point": [1, 1], "start_s": 2, "end_s": 1}]},
                     "after start_s", id="time-order"),
        pytest.param({"regions": [{"box": [0, 0, 1, 1]}]}, "phrase", id="no-phrase"),
        pytest.param({"regions": "a dog"}, "'regions' must be a list", id="regions-text"),
        pytest.param({"regions": [3]}, "region 0 must be an object", id="region-number"),
        pytest.param([{"phrase": "a"}], "the top level must be an object", id="top-list"),
        pytest.param({"regions": [{"phrase": "a", "box": [0, 0, "x", 1]}]}, "could not convert",
                     id="box-text"),
    ],
)
def test_scene_file_errors_name_the_file(tmp_path, data, message) -> None:
    img = _image(tmp_path)
    (tmp_path / "a.scene.json").write_text(json.dumps(data))
    with pytest.raises(ParseError, match=message) as info:
        load_scene(img)
    assert "a.scene.json" in str(info.value)


def test_scene_file_round_trip(tmp_path) -> None:
    img = _image(tmp_path)
    regions = [{"phrase": "a red box", "box": [260, 40, 360, 100]},
               {"phrase": "the floor", "point": [200, 280], "start_s": 4.0, "end_s": 5.0}]
    (tmp_path / "a.scene.json").write_text(json.dumps({"regions": regions}))
    scene = load_scene(img)
    assert scene.image_size == (300, 400)
    assert scene.to_dict()["regions"] == [
        {"phrase": "a red box", "box": [260.0, 40.0, 360.0, 100.0]},
        {"phrase": "the floor", "point": [200.0, 280.0], "start_s": 4.0, "end_s": 5.0},
    ]


def test_default_scene_finds_the_object(tmp_path) -> None:
    """The only structure in the image is a red box at x 260-360, y 40-100: the
    strongest region is centred on it and named by its position."""
    img = _image(tmp_path)
    scene = load_scene(img, n_regions=2)
    assert scene == load_scene(img, n_regions=2)  # deterministic
    cx, cy = scene.regions[0].center
    assert 250 <= cx <= 370 and 30 <= cy <= 110
    assert scene.regions[0].phrase == "the thing at the upper right"
    assert len({r.phrase for r in scene.regions}) == len(scene.regions)


def test_default_scene_flat_image() -> None:
    scene = default_scene(np.zeros((50, 80)), n_regions=1)
    assert scene.regions[0].phrase == "the thing at the centre"


def test_plan_speech_orders_phrases() -> None:
    scene = Scene((100, 100), (Region("a red car", (0, 0, 10, 10)),
                               Region("a tree", (50, 50, 60, 60), 8.0, 9.0)))
    speech = plan_speech(scene, rng=3)
    (i0, w0), (i1, w1) = speech
    assert (i0, i1) == (0, 1)
    assert [w.text for w in w0] == ["a", "red", "car,"]
    assert [w.text for w in w1] == ["a", "tree."]
    assert (w1[0].start_ms, w1[-1].end_ms) == (8000.0, 9000.0)
    starts = [w.start_ms for w in w0]
    assert starts == sorted(starts) and w0[0].start_ms >= 800.0
    assert all(b.start_ms == a.end_ms for a, b in itertools.pairwise(w0))


def test_saccade_main_sequence() -> None:
    """Carpenter (1988): D = 2.2 A + 21 ms; a 10 deg saccade lasts 43 ms."""
    assert saccade_duration_ms(10.0) == 43.0


def test_gaze_follows_speech_with_lead() -> None:
    """During a phrase's gaze window (phrase times minus the eye-voice lead) most
    fixations land on its region; fixation durations average the model's mean."""
    left = Region("the left one", (20, 40, 80, 160), 2.0, 4.0)
    right = Region("the right one", (320, 40, 380, 160), 6.0, 8.0)
    scene = Scene((200, 400), (left, right))
    placement = Placement(112, 184, 800, 400)  # 2x scale
    model = GazeModel(span_ms=(800, 800), noise_deg=0.3, free_viewing=0.1)
    fix, words = simulate_gaze(scene, placement, SCREEN, duration_ms=9000, model=model, rng=7)
    mid = (fix[:, 0] + fix[:, 1]) / 2
    x_img = (fix[:, 2] - 112) / 2
    on_left = (mid > 1300) & (mid < 3100)
    on_right = (mid > 5300) & (mid < 7100)
    assert on_left.sum() >= 3 and on_right.sum() >= 3
    assert np.mean(x_img[on_left] < 120) >= 0.6
    assert np.mean(x_img[on_right] > 280) >= 0.6
    assert [w.text for w in words] == ["the", "left", "one,", "the", "right", "one."]
    # same seed, same gaze
    fix2, _ = simulate_gaze(scene, placement, SCREEN, duration_ms=9000, model=model, rng=7)
    np.testing.assert_array_equal(fix, fix2)


def test_fixation_duration_distribution() -> None:
    """Gamma(k, mean/k) has mean ``mean`` (textbook identity); with the 80 ms floor
    and k=4 the mean rises by well under 1%."""
    model = GazeModel(fixation_ms=250.0, fixation_shape=4.0)
    gen = np.random.default_rng(0)
    d = np.array([model.fixation_duration(gen) for _ in range(4000)])
    assert d.min() >= 80.0
    assert abs(d.mean() - 250.0) < 6.0


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        pytest.param(dict(speed=0), ValueError, "speed", id="speed"),
        pytest.param(dict(sampling_rate_hz=300), ValueError, "sampling_rate_hz", id="rate"),
        pytest.param(dict(eye="X"), ValueError, "eye", id="eye"),
    ],
)
def test_tracker_validation(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        SimulatedTracker(SCREEN, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        pytest.param(dict(span_ms=(1000, 500)), "span_ms", id="span-order"),
        pytest.param(dict(free_viewing=1.5), "free_viewing", id="free-viewing"),
        pytest.param(dict(fixation_ms=0), "fixation_ms", id="fixation"),
    ],
)
def test_gaze_model_validation(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        GazeModel(**kwargs)


def _run_trial(t: SimulatedTracker, img, duration_ms=4000.0) -> None:
    t.start_recording()
    t.advance(50)
    t.send_message("TRIALID 1")
    t.send_message(f"!V IMGLOAD CENTER {img} 512 384 800 600")
    t.send_message("SYNCTIME")
    t.advance(duration_ms)
    t.send_message("TRIAL_RESULT 0")
    t.stop_recording()


def test_tracker_writes_a_readable_asc(tmp_path) -> None:
    from vista.gaze.io import read_recording

    img = _image(tmp_path)
    t = SimulatedTracker(SCREEN, speed=None, rng=2, data_dir=tmp_path / "host", start_ms=1000)
    assert isinstance(t, Tracker)
    t.connect()
    assert t.calibrate()["avg_error_deg"] == pytest.approx(0.35)
    assert t.drift_check(512, 384) >= 0
    t.open_data_file("P01_1")
    t0 = t.tracker_time_ms()
    assert t0 > 1000 + 30_000  # calibration and the drift check took simulated time
    _run_trial(t, img)
    t.close_data_file()
    out = t.receive_data_file(tmp_path / "recording.edf")
    assert out.name == "recording.asc" and out.is_file()
    (tmp_path / "other.asc").write_text("x")
    with pytest.raises(FileExistsError, match="never overwritten"):
        t.receive_data_file(tmp_path / "other.asc")
    rec = read_recording(out, samples=True)
    texts = {m.text.split()[0]: m.time_ms for m in rec.messages}
    assert texts["TRIALID"] == t0 + 50 and texts["SYNCTIME"] == t0 + 50
    assert texts["TRIAL_RESULT"] == t0 + 4050
    trial = rec.trials[0]
    assert trial.trial_id == "1"
    assert trial.placement == Placement(112.0, 84.0, 800.0, 600.0)
    assert len(trial.fixations) >= 8
    assert (np.diff(rec.fixations.starts_ms) > 0).all()
    assert rec.samples is not None and len(rec.samples.times_ms) == 4050 + 1
    words = t.spoken_transcript()
    assert words is not None and words.source == "simulated"
    assert all(t0 + 50 <= w.start_ms and w.end_ms <= t0 + 4050 for w in words.words)
    t.close()


def test_tracker_clock_speed() -> None:
    t = SimulatedTracker(SCREEN, speed=1000.0, rng=0, sampling_rate_hz=0)
    t.connect()
    t0 = t.tracker_time_ms()
    t.sleep(2000)  # 2 ms of real time
    assert t.tracker_time_ms() - t0 == 2000
    t.start_recording()
    t.sleep(500)
    s = t.newest_sample()
    assert s is not None and 0 <= s.x < SCREEN.width_px and 0 <= s.y < SCREEN.height_px
    t.close()


def test_tracker_needs_connect(tmp_path) -> None:
    t = SimulatedTracker(SCREEN, speed=None)
    with pytest.raises(RuntimeError, match="connect"):
        t.send_message("x")
    t.connect()
    with pytest.raises(ValueError, match="plain file name"):
        t.open_data_file("../x")
    with pytest.raises(RuntimeError, match="no data file"):
        t.receive_data_file(tmp_path / "r.asc")
    t.close()
    t.close()  # twice is fine


# ----------------------------------------------------------------- planted span


SPAN_SCENE = Scene((400, 600), (Region("the left box", (20, 150, 120, 250)),
                                Region("the right box", (480, 150, 580, 250)),
                                Region("the top box", (250, 10, 350, 90))))
SPAN_PLACE = Placement(212, 184, 600, 400)


def _arrivals(model: GazeModel, seed: int) -> list[float]:
    """For each phrase: when the eyes first land on its region, relative to the phrase
    onset minus its planted span (0 = exactly the planted span before the onset)."""
    gen = np.random.default_rng(seed)
    speech = plan_speech(SPAN_SCENE, rng=gen)
    end = speech[-1][1][-1].end_ms + 500
    fix, _ = simulate_gaze(SPAN_SCENE, SPAN_PLACE, SCREEN, duration_ms=end, speech=speech,
                           model=model, rng=gen)
    span = model.span_ms[0]
    out = []
    for region_index, words in speech:
        x0, y0, x1, y1 = SPAN_SCENE.regions[region_index].box
        inside = ((fix[:, 2] >= SPAN_PLACE.left + x0) & (fix[:, 2] <= SPAN_PLACE.left + x1 + 1)
                  & (fix[:, 3] >= SPAN_PLACE.top + y0) & (fix[:, 3] <= SPAN_PLACE.top + y1 + 1))
        planted = words[0].start_ms - span
        if planted < 300:  # before the first fixation of the trial has ended
            continue
        later = fix[inside & (fix[:, 0] >= planted - 5), 0]
        out.append(float(later[0] - planted))
    return out


@pytest.mark.parametrize("span", [400.0, 900.0])
def test_planted_span_arrival(span: float) -> None:
    """span_onset="arrival": the eyes land on each named region the planted span before
    its phrase starts (to within a few ms: the saccade to a point of the box, not its
    centre)."""
    model = GazeModel(span_ms=(span, span), span_onset="arrival", noise_deg=0.0,
                      free_viewing=0.0)
    got = [d for seed in range(6) for d in _arrivals(model, seed)]
    assert len(got) >= 10 and max(abs(d) for d in got) <= 15, got


def test_planted_span_window_lands_later() -> None:
    """span_onset="window" (0.1.0's behaviour): the region becomes the target at the
    planted span, and the eyes get there when the fixation under way ends."""
    model = GazeModel(span_ms=(700, 700), noise_deg=0.0, free_viewing=0.0)
    got = [d for seed in range(4) for d in _arrivals(model, seed)]
    assert min(got) >= 0 and 50 < np.mean(got) < 600, got


def test_planted_spans_recorded(tmp_path) -> None:
    """The tracker says what it planted, per phrase, and describe() (session.json)
    records the span parameters."""
    img = _image(tmp_path)
    model = GazeModel(span_ms=(600, 800), span_onset="arrival")
    t = SimulatedTracker(SCREEN, speed=None, rng=5, model=model,
                         scenes={str(img): SPAN_SCENE.__class__((300, 400), (
                             Region("a red patch", (260, 40, 360, 100)),))})
    t.connect()
    t.start_recording()
    t.send_message(f"!V IMGLOAD CENTER {img} 512 384 400 300")
    t.send_message("SYNCTIME")
    t.advance(8000)
    (planted,) = t.planted_spans()
    assert planted["phrase"] == "a red patch." and 600 <= planted["span_ms"] <= 800
    assert planted["region"] == 0 and planted["onset_ms"] > 0
    info = t.describe()
    assert info["gaze_model"]["span_ms"] == [600.0, 800.0]
    assert info["gaze_model"]["span_onset"] == "arrival" and info["kind"] == "simulated"
    json.dumps(info)
    t.close()


@pytest.mark.parametrize("kwargs, message", [
    pytest.param(dict(span_ms=(0, 20_000)), "span_ms must be", id="span-huge"),
    pytest.param(dict(span_ms=(-1, 5)), "span_ms must be", id="span-negative"),
    pytest.param(dict(span_ms="fast"), "span_ms must be two numbers", id="span-text"),
    pytest.param(dict(span_onset="landing"), "span_onset must be one of", id="onset"),
])
def test_span_validation(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        GazeModel(**kwargs)
