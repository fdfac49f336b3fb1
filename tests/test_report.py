"""vista.report: one self-contained HTML page that opens offline."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from dataset_fixtures import small_dataset

pytest.importorskip("matplotlib", reason="the viz extra (matplotlib) is not installed")

from vista.report import render_report, write_report
from vista.scoring import score

pytestmark = pytest.mark.viz

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    data = small_dataset(root, observers=2)
    from PIL import Image

    from vista.dataset import DatasetWriter

    Image.new("RGB", (16, 12), (90, 40, 10)).save(root / "src" / "alone.png")
    with DatasetWriter(data, append=True) as w:  # one image with one observer: skipped
        m = np.full((12, 16), 1 / 192, np.float32)
        w.add("alone", image=w.add_image(root / "src" / "alone.png"), text="thing 1",
              human_map=m, meta={"observer": "P0"})
    out = root / "run"
    score(data, ["center", "uniform", "observers"], out=out, n_boot=20)
    return out


def test_page_is_self_contained(run_dir: Path) -> None:
    page = render_report(run_dir, max_images=2)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<table>" in page and "center" in page and "NCC" in page
    assert page.count("data:image/png;base64,") == 2 + 2  # two leaderboards, two images
    assert "2 more image(s) not shown" in page
    # nothing to fetch: no scripts, no links, no external sources
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)
    assert "http://" not in page and "https://" not in page
    assert "observers" in page and "no other observer" in page  # skipped rows listed
    assert "Per-triplet scores (38 rows" in page and "thing 1" in page


def test_write_report_default_path(run_dir: Path, tmp_path: Path) -> None:
    path = write_report(run_dir, max_images=0)
    assert path == run_dir / "report.html" and path.stat().st_size > 1000
    other = write_report(run_dir, out=tmp_path / "x" / "page.html", max_images=0)
    assert other.is_file()


def test_viewer_link_is_relative_to_the_page(run_dir: Path, tmp_path: Path) -> None:
    """The link to RUN/view.html is relative to the report's own folder, so the run and
    its report copied elsewhere still link; without a viewer, the command to write it."""
    from urllib.parse import unquote

    run = tmp_path / "a run"
    shutil.copytree(run_dir, run)
    (run / "report.html").unlink(missing_ok=True)
    before = write_report(run, max_images=0, jobs=1).read_text()
    assert f"vista view {run} --out {run / 'view.html'}" in before and "Trial viewer" not in before
    (run / "view.html").write_text("<!DOCTYPE html><title>viewer</title>")
    assert 'href="view.html">Trial viewer</a>' in write_report(run, max_images=0, jobs=1).read_text()
    page = write_report(run, out=tmp_path / "pages" / "x" / "report.html", max_images=0, jobs=1)
    href = re.search(r'href="([^"]+)">Trial viewer', page.read_text()).group(1)
    assert href == "../../a%20run/view.html" and "file:" not in href
    assert (page.parent / unquote(href)).resolve() == (run / "view.html").resolve()
    moved = tmp_path / "elsewhere"  # another machine: the run and its report copied
    moved.mkdir()
    shutil.copytree(run, moved / "a run")
    shutil.copytree(tmp_path / "pages", moved / "pages")
    copied = moved / "pages" / "x" / "report.html"
    assert (copied.parent / unquote(href)).read_text().endswith("<title>viewer</title>")


def test_missing_run(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a vista score output folder"):
        render_report(tmp_path)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_opens_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    page = write_report(run_dir, out=tmp_path / "report.html", max_images=1)
    shot = tmp_path / "shot.png"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
           "--v=0", f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [x for x in proc.stderr.splitlines() if "CONSOLE" in x or "Failed to load" in x
               or "net::ERR" in x]
    assert console == []
    with Image.open(shot) as im:
        arr = np.asarray(im.convert("RGB")).astype(np.int16)
    assert arr.shape[:2] == (1600, 1200)
    assert arr.std() > 20 and len(np.unique(arr.reshape(-1, 3), axis=0)) > 200  # not blank
