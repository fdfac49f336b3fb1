"""``vista view``: the page's data, and the page itself driven in headless Chromium.

The browser tests need ``chromium`` (``/usr/bin/chromium`` or on PATH) and the
``websocket-client`` package (dev extra); they skip with the reason otherwise. Set
``VISTA_SCREENSHOTS=DIR`` to keep the screenshots they take (the README's come
from ``VISTA_SCREENSHOTS=docs/img pytest tests/test_view.py``).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vista.records import Screen

DEMO = Path(__file__).resolve().parents[1] / "vista" / "data" / "demo" / "images"


# --------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A simulated session of two images, its dataset (vista maps) and a run of two
    baselines on it (vista score)."""
    from vista.acquisition.session import run_session
    from vista.gaze.maps import build_maps

    root = tmp_path_factory.mktemp("view")
    images = root / "img"
    images.mkdir()
    for name in ("astronaut", "camera"):
        for suffix in (".jpg", ".scene.json"):
            shutil.copy(DEMO / f"{name}{suffix}", images)
    session = root / "sessions" / "P01"
    run_session(images, participant="P01", screen=Screen(1920, 1080, 531, 299, 700),
                out=session, rng=7, speed=None, time_limit_s=12, display=False,
                tracker="simulated")
    dataset = root / "dataset"
    build_maps([session], dataset)
    run = root / "run"
    _score(dataset, run)
    return {"session": session, "dataset": dataset, "run": run, "root": root}


def _score(dataset: Path, out: Path) -> None:
    from vista.scoring import score

    score(dataset, ["center", "uniform"], out=out, n_boot=50, rng=0)


def _payload(page: str) -> dict[str, Any]:
    m = re.search(r'<script id="vista-data" type="application/json">(.*?)</script>', page, re.S)
    assert m is not None
    return json.loads(m.group(1))


# --------------------------------------------------------------------- data


def test_session_view_data(folders: dict[str, Path]) -> None:
    from vista.gaze.session_reader import read_session
    from vista.view import view_data

    session = read_session(folders["session"])
    data = view_data(folders["session"], lead_ms=1000, lag_ms=200)
    assert data["kind"] == "session" and len(data["trials"]) == len(session.trials) == 2
    for rec, trial in zip(data["trials"], session.trials, strict=True):
        assert rec["id"] == trial.trial_id and rec["image"].startswith("data:image/jpeg;base64,")
        assert [w[0] for w in rec["words"]] == [w.text for w in trial.transcript.words]
        assert rec["onset"] == trial.start_ms
        assert rec["segments"] and all(s["human_map"].startswith("data:image/png")
                                       for s in rec["segments"])
        for s in rec["segments"]:
            assert s["window_start"] == pytest.approx(s["start"] - 1000)
            assert s["window_end"] == pytest.approx(s["end"] + 200)
            assert rec["t0"] <= s["window_start"] and s["window_end"] <= rec["t1"]
        # fixations as fractions of the image: the simulated viewer looks at the image
        inside = [0 <= f[2] <= 1 and 0 <= f[3] <= 1 for f in rec["fixations"]]
        assert len(rec["fixations"]) > 5 and sum(inside) >= 0.9 * len(inside)
        assert [f[0] for f in rec["fixations"]] == sorted(f[0] for f in rec["fixations"])


def test_run_view_has_every_model_with_its_scores(folders: dict[str, Path]) -> None:
    from vista.view import view_data

    data = view_data(folders["run"])
    assert data["kind"] == "run"
    segs = [s for t in data["trials"] for s in t["segments"]]
    assert len(segs) == sum(1 for _ in open(folders["dataset"] / "triplets.jsonl"))
    for s in segs:
        assert [m["name"] for m in s["models"]] == ["center", "uniform"]
        assert all(m["map"].startswith("data:image/png") for m in s["models"])
        assert set(s["models"][0]["scores"]) >= {"ncc"}
    # the dataset's triplets point back at the session: gaze times are found
    assert all(t["timed"] and t["words"] and t["fixations"][0][0] is not None
               for t in data["trials"])


def test_page_is_self_contained_and_escapes_its_data() -> None:
    from vista.view import render_view

    data = {"title": "t", "kind": "session", "map_width": 100, "trials": [{
        "id": "1", "label": "trial 1", "image_name": "a.jpg", "image": None, "width": 100,
        "height": 80, "timed": True, "t0": 0.0, "t1": 1000.0, "onset": 0.0, "fixations": [],
        "words": [["</script><script>alert(1)</script>", 0.0, 100.0]], "segments": [],
        "audio": None}]}
    page = render_view(data)
    assert page.count("</script>") == 2  # the data's own stays escaped
    assert _payload(page) == data
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_cli_writes_once(folders: dict[str, Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from vista.cli import cli

    out = tmp_path / "v.html"
    res = CliRunner().invoke(cli, ["view", str(folders["dataset"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "dataset, 2 trials" in res.output and out.stat().st_size > 10_000
    again = CliRunner().invoke(cli, ["view", str(folders["dataset"]), "--out", str(out)])
    assert again.exit_code != 0 and "exists" in again.output
    bad = CliRunner().invoke(cli, ["view", str(tmp_path), "--out", str(tmp_path / "x.html")])
    assert bad.exit_code != 0 and "not a session, run or dataset folder" in bad.output


# --------------------------------------------------------------------- browser


def _chromium() -> str | None:
    for cand in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser"),
                 shutil.which("google-chrome")):
        if cand and Path(cand).is_file():
            return cand
    return None


class Browser:
    """Headless Chromium driven through the DevTools protocol."""

    def __init__(self, exe: str) -> None:
        import websocket

        self.profile = tempfile.mkdtemp(prefix="vista-chromium-")
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--no-first-run",
             f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
             "--window-size=1280,1000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().count("\n") >= 1):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        from urllib.request import urlopen

        with urlopen(f"http://127.0.0.1:{port}/json") as fh:
            page = next(t for t in json.load(fh) if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30,
                                              suppress_origin=True)
        self.next_id = 0
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=1280, height=1000,
                  deviceScaleFactor=1, mobile=False)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        for _ in range(200):
            if self.js("document.readyState") == "complete" and self.js("!!window.vistaView"):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{url} did not load")

    def js(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def key(self, key: str, code: str) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=code)

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium is not installed (apt install chromium); the viewer's browser "
                    "checks need it")
    pytest.importorskip("websocket", reason="websocket-client (dev extra) drives chromium")
    b = Browser(exe)
    try:
        yield b
    finally:
        b.close()


def _keep(shot: Path) -> None:
    keep = os.environ.get("VISTA_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_playhead_lights_the_word_and_draws_the_fixations_so_far(
        folders: dict[str, Path], browser: Browser, tmp_path: Path) -> None:
    from vista.view import render_view, view_data

    data = view_data(folders["session"], areas="scene")
    page = tmp_path / "session.html"
    page.write_text(render_view(data), encoding="utf-8")
    trial = data["trials"][1]
    k = len(trial["words"]) // 2
    word = trial["words"][k]
    browser.open(f"{page.as_uri()}#trial={trial['id']}&at={word[1]!r}")
    assert browser.js("document.body.dataset.trial") == trial["id"]
    assert browser.js("document.querySelectorAll('nav#trials button').length") == 2
    assert browser.js("Array.from(document.querySelectorAll('#words span.word'))"
                      ".map(s => s.textContent)") == [w[0] for w in trial["words"]]
    assert browser.js("Array.from(document.querySelectorAll('#words span.current'))"
                      ".map(s => +s.dataset.word)") == [k]
    assert browser.js("document.querySelectorAll('#words span.spoken').length") == k
    drawn = sum(1 for f in trial["fixations"] if f[0] <= word[1])
    assert 0 < drawn < len(trial["fixations"])
    assert browser.js("+document.getElementById('scan').dataset.drawn") == drawn
    active = [i for i, s in enumerate(trial["segments"])
              if s["window_start"] <= word[1] < s["window_end"]]
    assert browser.js("Array.from(document.querySelectorAll('#maps .segcard.active'))"
                      ".map(c => +c.dataset.segment)") == active
    shot = tmp_path / "view-session.png"
    browser.screenshot(shot)
    _keep(shot)
    assert _png_size(shot) == (1280, 1000)
    # seeking back before the word: it is no longer lit and fewer fixations are drawn
    browser.js(f"vistaView.seek({word[1] - 1e-3!r})")
    assert browser.js("document.querySelectorAll('#words span.current').length") == (
        1 if k and trial["words"][k - 1][2] > word[1] - 1e-3 else 0)
    assert browser.js(f"document.querySelector('#words span[data-word=\"{k}\"]').className") \
        == "word pending"


def test_keys_move_across_trials_and_play_advances(
        folders: dict[str, Path], browser: Browser, tmp_path: Path) -> None:
    from vista.view import write_view

    page = tmp_path / "run.html"
    info = write_view(folders["run"], page)
    browser.open(page.as_uri())
    ids = browser.js("vistaView.data.trials.map(t => t.id)")
    assert len(ids) == info["trials"] == 2
    assert browser.js("document.body.dataset.trial") == ids[0]
    browser.key("ArrowRight", "ArrowRight")
    assert browser.js("document.body.dataset.trial") == ids[1]
    browser.key("ArrowRight", "ArrowRight")  # stays on the last trial
    assert browser.js("document.body.dataset.trial") == ids[1]
    browser.key("ArrowLeft", "ArrowLeft")
    assert browser.js("document.body.dataset.trial") == ids[0]
    # each segment card: the human map and one map per model, with its scores
    assert browser.js("Array.from(document.querySelectorAll('#maps .segcard'))"
                      ".map(c => c.querySelectorAll('figure').length)") == [3] * len(
                          browser.js("vistaView.data.trials[0].segments"))
    assert "ncc" in browser.js("document.querySelector('#maps table').textContent")
    t_before = browser.js("vistaView.state.t")
    browser.key(" ", "Space")
    time.sleep(0.4)
    browser.key(" ", "Space")
    assert browser.js("vistaView.state.playing") is False
    assert browser.js("vistaView.state.t") > t_before + 100
    browser.js("vistaView.seek(vistaView.data.trials[0].onset + 4000)")
    shot = tmp_path / "view-run.png"
    browser.screenshot(shot)
    _keep(shot)
    assert shot.stat().st_size > 20_000


def test_demo_dataset_page(browser: Browser, tmp_path: Path) -> None:
    """The shipped demo dataset has no session beside it: its fixations are drawn
    without times, and the segment texts stand for the words."""
    from vista.scoring import demo_dataset_path
    from vista.view import write_view

    page = tmp_path / "dataset.html"
    info = write_view(demo_dataset_path(), page)
    assert info["trials"] == 8 and info["segments"] == 24
    browser.open(page.as_uri() + "#trial=2&t=3000")
    assert browser.js("document.body.dataset.trial") == "2"
    assert browser.js("document.getElementById('clock').textContent").startswith("3.00 s")
    n_fix = browser.js("vistaView.data.trials[1].fixations.length")
    assert n_fix > 10 and browser.js("+document.getElementById('scan').dataset.drawn") == n_fix
    assert browser.js("document.querySelectorAll('#words span.word').length") == 3
    shot = tmp_path / "view-dataset.png"
    browser.screenshot(shot)
    _keep(shot)
    assert shot.stat().st_size > 20_000


def test_audio_plays_on_the_tracker_clock(folders: dict[str, Path], browser: Browser,
                                          tmp_path: Path) -> None:
    """A session that kept its audio: the WAV is embedded, and seeking the playhead puts
    the audio at playhead minus ``audio_start_ms`` (both on the tracker clock)."""
    import wave

    import numpy as np

    from vista.view import write_view

    session = tmp_path / "P01"
    shutil.copytree(folders["session"], session)
    (session / "audio").mkdir()
    rows = [json.loads(line) for line in (session / "trials.jsonl").read_text().splitlines()]
    for row in rows:
        wav = session / "audio" / f"{row['trial_id']}.wav"
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            tone = 3000 * np.sin(np.arange(8000 * 12) * 2 * np.pi * 440 / 8000)
            w.writeframes(tone.astype("<i2").tobytes())
        row["audio"] = f"audio/{row['trial_id']}.wav"
        row["audio_start_ms"] = row["start_ms"] - 250.0
    (session / "trials.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    page = tmp_path / "audio.html"
    write_view(session, page)
    browser.open(page.as_uri() + f"#trial={rows[0]['trial_id']}")
    assert browser.js("document.getElementById('audio').src").startswith("data:audio/wav;base64,")
    for _ in range(100):  # metadata decoded
        if browser.js("document.getElementById('audio').readyState") >= 1:
            break
        time.sleep(0.05)
    browser.js(f"vistaView.seek({rows[0]['start_ms'] + 2000.0!r})")
    assert browser.js("document.getElementById('audio').currentTime") == pytest.approx(2.25,
                                                                                        abs=0.01)


def test_report_links_the_viewer(folders: dict[str, Path], tmp_path: Path) -> None:
    from vista.report import render_report
    from vista.view import write_view

    run = tmp_path / "run"
    shutil.copytree(folders["run"], run)
    before = render_report(run, max_images=0, jobs=1)
    assert f"vista view {run} --out {run / 'view.html'}" in before
    write_view(run, run / "view.html")
    after = render_report(run, max_images=0, jobs=1)
    assert 'href="view.html">Trial viewer</a>' in after  # relative: the run may move


def test_dataset_from_a_recording_finds_its_gaze(folders: dict[str, Path], tmp_path: Path) -> None:
    """Maps made from a bare ASC recording: the page takes the fixation times from it."""
    from vista.gaze.maps import build_maps
    from vista.view import view_data

    dataset = tmp_path / "fv"
    build_maps([folders["session"] / "recording.asc"], dataset, sigma_px=10)
    data = view_data(dataset)
    assert len(data["trials"]) == 2
    for rec in data["trials"]:
        assert rec["timed"] and rec["fixations"] and rec["fixations"][0][0] is not None
        assert "gaze from recording recording.asc" in rec["meta"]
        assert rec["words"] and rec["words"][0][1] is not None


def test_interest_areas_are_outlined(folders: dict[str, Path], browser: Browser,
                                     tmp_path: Path) -> None:
    """``areas="scene"``: each trial carries its scene's regions as outlines in
    fractions of the image, where the scene boxes are; the page draws them."""
    from vista.acquisition.scene import load_scene
    from vista.view import render_view, view_data

    data = view_data(folders["session"], areas="scene")
    for rec in data["trials"]:
        scene = load_scene(DEMO / rec["image_name"])
        assert [a["label"] for a in rec["areas"]] == [r.phrase for r in scene.regions]
        h, w = scene.image_size
        for a, r in zip(rec["areas"], scene.regions, strict=True):
            (fx0, fy0), (fx1, fy1) = a["points"]
            x0, y0, x1, y1 = r.box
            assert (fx0 * w - 0.5, fy0 * h - 0.5, fx1 * w - 0.5, fy1 * h - 0.5) == pytest.approx(
                (x0, y0, x1, y1), abs=0.05)
    assert view_data(folders["session"])["trials"][0]["areas"] == []
    page = tmp_path / "areas.html"
    page.write_text(render_view(data), encoding="utf-8")
    browser.open(page.as_uri())
    assert browser.js("+document.getElementById('scan').dataset.areas") == len(
        data["trials"][0]["areas"]) == 3
