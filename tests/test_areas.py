"""Interest areas: .ias files, !V IAREA messages, scene files, region CSVs, measures."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from vista.errors import ParseError
from vista.gaze.areas import (
    AREA_COLUMNS,
    InterestArea,
    area_measures,
    areas_from_messages,
    image_regions,
    interest_area_report,
    parse_ias,
    read_area_csv,
    read_region_csv,
    scene_to_ias,
)
from vista.records import Fixations, Message, Placement, Screen

DEMO = Path(__file__).resolve().parents[1] / "vista" / "data" / "demo" / "images"

IAS = """# Data Viewer interest area set
RECTANGLE\t1\t100\t200\t300\t400\tred car
ELLIPSE\t2\t0\t0\t20\t10\tthe sun
FREEHAND\t3\t0,0 10,0\t10,10  0,10\ta square, drawn
-0\t-500\tRECTANGLE\t4\t0\t0\t50\t50\tearly box
FREEHAND 5 0, 0 4, 0 2, 3 tri angle
"""


def test_parse_ias_shapes_and_dynamic_lines() -> None:
    areas = parse_ias(IAS)
    assert [a.label for a in areas] == ["red car", "the sun", "a square, drawn", "early box",
                                        "tri angle"]
    assert [a.shape for a in areas] == ["rectangle", "ellipse", "polygon", "rectangle", "polygon"]
    assert areas[0].bounds == (100.0, 200.0, 300.0, 400.0)
    assert areas[2].points == ((0, 0), (10, 0), (10, 10), (0, 10))
    assert areas[4].points == ((0, 0), (4, 0), (2, 3))
    assert (areas[3].start_ms, areas[3].end_ms) == (0.0, 500.0)
    assert not areas[0].dynamic and areas[3].dynamic
    assert [a.area_id for a in areas] == ["1", "2", "3", "4", "5"]


def test_ias_lines_round_trip() -> None:
    areas = parse_ias(IAS)
    again = parse_ias("\n".join(a.to_ias_line() for a in areas))
    assert again == areas


@pytest.mark.parametrize("text, line, message", [
    pytest.param("RECTANGLE 1 0 0 10 10 a\nCIRCLE 2 0 0 5 b", 2, "got 'CIRCLE'", id="shape"),
    pytest.param("ELLIPSE 1 0 0 10 a", 1, "needs left top right bottom", id="coordinates"),
    pytest.param("FREEHAND 1 0,0 5,5 line", 1, "at least 3 points", id="polygon"),
    pytest.param("-0 -100 -200 RECTANGLE 1 0 0 1 1 x", 1, "expected", id="three-times"),
    pytest.param("0 -100 RECTANGLE 1 0 0 1 1 x\n-500 -100 ELLIPSE 2 0 0 1 1 y", 2,
                 "end_ms is before start_ms", id="time-order"),
])
def test_parse_ias_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ParseError, match=message) as info:
        parse_ias(text, path="set.ias")
    assert info.value.line == line and "set.ias" in str(info.value)


def test_contains_by_hand() -> None:
    rect = InterestArea("r", "rectangle", ((10, 10), (20, 20)))
    assert rect.contains([10, 20, 15, 9.9, np.nan], [10, 20, 21, 15, 15]).tolist() == [
        True, True, False, False, False]
    ell = InterestArea("e", "ellipse", ((0, 0), (40, 20)))  # centre (20, 10), radii 20, 10
    assert ell.contains([20, 39, 2, 20], [10, 10, 2, 19.9]).tolist() == [True, True, False, True]
    # An L: the square 0..20 without its upper-right quarter 10..20 x 0..10.
    ell_shape = InterestArea("L", "polygon", ((0, 0), (10, 0), (10, 10), (20, 10), (20, 20),
                                              (0, 20)))
    assert ell_shape.contains([5, 15, 15, 5], [5, 5, 15, 15]).tolist() == [True, False, True, True]


def test_area_measures_by_hand() -> None:
    # Fixations (start, end, x): A [0,200) in, B [300,500) out, C [600,700) in,
    # D [800,1200) in; window [100, 1000).
    fix = Fixations([0, 300, 600, 800], [200, 500, 700, 1200], [5, 50, 6, 7], [5, 5, 5, 5])
    box = InterestArea("box", "rectangle", ((0, 0), (10, 10)), "1")
    late = InterestArea("late", "rectangle", ((0, 0), (10, 10)), "2", 650.0, 2000.0)
    never = InterestArea("never", "ellipse", ((100, 100), (120, 120)), "3")
    rows = area_measures(fix, [box, late, never], window=(100, 1000), reference_ms=0)
    by = {r["label"]: r for r in rows}
    # dwell: A overlaps 100 ms, C 100 ms, D 200 ms; all fixation time 100+200+100+200
    assert by["box"]["dwell_ms"] == 400.0 and by["box"]["dwell_share"] == pytest.approx(400 / 600)
    assert by["box"]["first_fixation_ms"] == 0.0  # A starts before the window: clipped
    assert by["box"]["fixation_count"] == 3 and by["box"]["visit_count"] == 2
    # the dynamic area is live from 650 ms: only D (starts 800) counts
    assert by["late"]["fixation_count"] == 1 and by["late"]["first_fixation_ms"] == 700.0
    assert by["late"]["visit_count"] == 1
    assert by["never"]["dwell_ms"] == 0 and math.isnan(by["never"]["first_fixation_ms"])
    assert by["never"]["visit_count"] == 0


def test_areas_from_messages_with_file_and_replacement(tmp_path: Path) -> None:
    (tmp_path / "ias").mkdir()
    (tmp_path / "ias" / "a.ias").write_text("RECTANGLE\t7\t0\t0\t5\t5\tfrom file\n")
    msgs = [Message(0, "TRIALID 1"),
            Message(1, "!V IAREA RECTANGLE 1 10 10 20 20 first"),
            Message(2, "!V IAREA ELLIPSE 2 0 0 4 4 second"),
            Message(3, "!V IAREA RECTANGLE 1 30 30 40 40 first moved"),
            Message(4, "!V IAREA FILE ias/a.ias")]
    areas = areas_from_messages(msgs, base_dir=tmp_path)
    assert [(a.area_id, a.label) for a in areas] == [("1", "first moved"), ("2", "second"),
                                                     ("7", "from file")]
    with pytest.raises(ParseError, match="IAREA message at 5 ms"):
        areas_from_messages([Message(5, "!V IAREA TRIANGLE 1 0 0")])


def test_scene_to_ias_places_regions_on_the_screen() -> None:
    from vista.acquisition.scene import load_scene

    scene = load_scene(DEMO / "astronaut.jpg")
    placement = Placement(420, 0, 1080, 1080)  # 160 px image shown 6.75 times its size
    areas = parse_ias(scene_to_ias(scene, placement=placement))
    assert [a.label for a in areas] == [r.phrase for r in scene.regions]
    x0, y0, x1, y1 = scene.regions[0].box
    k = 1080 / 160
    assert areas[0].bounds == pytest.approx(
        ((x0 + 0.5) * k + 420 - 0.5, (y0 + 0.5) * k - 0.5, (x1 + 0.5) * k + 420 - 0.5,
         (y1 + 0.5) * k - 0.5), abs=0.01)
    unplaced = parse_ias(scene_to_ias(scene))
    assert unplaced[0].bounds == pytest.approx((x0, y0, x1, y1))


def test_image_regions_from_every_source(tmp_path: Path) -> None:
    img = tmp_path / "astronaut.jpg"
    shutil.copy(DEMO / "astronaut.jpg", img)
    assert image_regions(img, source="scene") == []  # no scene file beside it
    shutil.copy(DEMO / "astronaut.scene.json", tmp_path)
    from_scene = image_regions(img, source="scene")
    assert from_scene[0].label == "the astronaut's smiling face"
    csv = tmp_path / "regions.csv"
    csv.write_text('image,phrase,polygon\nimages/astronaut.jpg,the face,"10,10 40,10 25,40"\n'
                   'other.jpg,x,"[[0,0],[1,0],[0,1]]"\n')
    (face,) = image_regions(img, source=csv)
    assert face.label == "the face" and face.contains([25], [20]).tolist() == [True]
    assert read_region_csv(csv)["other.jpg"][0].points == ((0, 0), (1, 0), (0, 1))
    ias_dir = tmp_path / "ias"
    ias_dir.mkdir()
    placement = Placement(100, 50, 320, 320)  # twice the image size
    from vista.acquisition.scene import load_scene

    (ias_dir / "astronaut.ias").write_text(scene_to_ias(load_scene(img), placement=placement))
    back = image_regions(img, source=ias_dir, placement=placement)
    assert np.allclose([a.bounds for a in back], [a.bounds for a in from_scene], atol=0.01)
    with pytest.raises(ValueError, match="placement"):
        image_regions(img, source=ias_dir)
    bad = tmp_path / "bad.csv"
    bad.write_text("image,phrase,polygon\na.jpg,x,1 2 3\n")
    with pytest.raises(ParseError, match=r"bad\.csv:2: invalid region: an odd number"):
        read_region_csv(bad)


def _session(tmp_path: Path) -> Path:
    from vista.acquisition.session import run_session

    images = tmp_path / "img"
    images.mkdir()
    for name in ("astronaut", "coins"):
        for suffix in (".jpg", ".scene.json"):
            shutil.copy(DEMO / f"{name}{suffix}", images)
    out = tmp_path / "s"
    run_session(images, participant="P01", screen=Screen(1920, 1080, 531, 299, 700), out=out,
                rng=3, speed=None, time_limit_s=12, display=False, tracker="simulated")
    return out


def test_report_on_a_simulated_session_finds_the_named_region(tmp_path: Path) -> None:
    """The simulated participant looks at a region shortly before naming it: in each
    segment's window the named region must hold the most dwell time."""
    frame = interest_area_report(_session(tmp_path), ias="scene")
    assert list(frame.columns) == list(AREA_COLUMNS)
    trials = frame[frame["segment_index"].isna()]
    assert sorted(trials["trial_id"].unique()) == ["1", "2"] and len(trials) == 6
    segs = frame[frame["segment_index"].notna()]
    assert len(segs) == 18  # 2 trials x 3 segments x 3 areas
    hits = 0
    for _, group in segs.groupby(["trial_id", "segment_index"]):
        named = group["segment_text"].iloc[0].rstrip(".,")
        hits += group.loc[group["dwell_ms"].idxmax(), "label"] == named
    assert hits >= 5
    assert (trials["visit_count"] <= trials["fixation_count"]).all()


def test_cli_writes_csv_that_reads_back(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from vista.cli import cli

    session = _session(tmp_path)
    out = tmp_path / "areas.csv"
    res = CliRunner().invoke(cli, ["areas", str(session), "--ias", "scene", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "24 rows (2 trials)" in res.output
    back = read_area_csv(out)
    direct = interest_area_report(session, ias="scene")
    assert back.dtypes.astype(str).tolist() == direct.dtypes.astype(str).tolist()
    assert back.equals(direct)
    again = CliRunner().invoke(cli, ["areas", str(session), "--ias", "scene", "--out", str(out)])
    assert again.exit_code != 0 and "exists" in again.output
    missing = CliRunner().invoke(cli, ["areas", str(session), "--ias", str(tmp_path / "no.ias")])
    assert missing.exit_code != 0 and "does not exist" in missing.output


def test_iarea_messages_in_a_recording(tmp_path: Path) -> None:
    from vista.gaze.asc import AscWriter

    path = tmp_path / "r.asc"
    with AscWriter(path) as w:
        w.start(0, eyes="R", rate_hz=1000)
        w.message(0, "TRIALID 1")
        w.message(5, "!V IAREA RECTANGLE 1 0 0 100 100 left")
        w.message(6, "!V IAREA FREEHAND 2 200,0 300,0 300,100 200,100 right")
        w.message(10, "SYNCTIME")
        w.fixation("R", 20, 220, 50.0, 50.0, 900)
        w.fixation("R", 240, 540, 250.0, 50.0, 900)
        w.fixation("R", 560, 660, 60.0, 60.0, 900)
        w.message(1000, "TRIAL_RESULT 0")
        w.end(1000)
    frame = interest_area_report(path)
    by = frame.set_index("label")
    assert by.loc["left", "dwell_ms"] == 300.0 and by.loc["left", "visit_count"] == 2
    assert by.loc["right", "first_fixation_ms"] == 230.0  # from SYNCTIME at 10 ms
    assert by.loc["right", "dwell_share"] == pytest.approx(0.5)


def test_simulator_writes_an_ias_per_image_that_vista_areas_reads(tmp_path: Path) -> None:
    """The simulated tracker writes each image's scene as Data Viewer interest areas
    (screen pixels) beside its data file; reading them gives the scene's measures."""
    session = _session(tmp_path)
    ias = session / ".tracker" / "ias"
    assert sorted(p.name for p in ias.iterdir()) == ["astronaut.ias", "coins.ias"]
    from_ias = interest_area_report(session, ias=ias)
    from_scene = interest_area_report(session, ias="scene")
    assert len(from_ias) == len(from_scene) == 24
    for col in ("label", "fixation_count", "visit_count"):
        assert from_ias[col].tolist() == from_scene[col].tolist()
    assert np.allclose(from_ias["dwell_ms"], from_scene["dwell_ms"])


def test_region_csv_for_a_session(tmp_path: Path) -> None:
    """A CSV of image, phrase, polygon (image pixels) gives the same measures as the
    scene's rectangles written as polygons."""
    from vista.acquisition.scene import load_scene

    session = _session(tmp_path)
    lines = ["image,phrase,polygon"]
    for name in ("astronaut", "coins"):
        for r in load_scene(DEMO / f"{name}.jpg").regions:
            x0, y0, x1, y1 = r.box
            lines.append(f'{name}.jpg,"{r.phrase}","{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}"')
    csv = tmp_path / "regions.csv"
    csv.write_text("\n".join(lines) + "\n")
    from_csv = interest_area_report(session, ias=csv)
    from_scene = interest_area_report(session, ias="scene")
    assert from_csv["label"].tolist() == from_scene["label"].tolist()
    assert from_csv["fixation_count"].tolist() == from_scene["fixation_count"].tolist()
    assert set(from_csv["shape"]) == {"polygon"}


def test_polygon_and_ellipse_against_matplotlib() -> None:
    """Containment checked against matplotlib's Path.contains_points (the outside
    reference) on random concave polygons and an ellipse, away from the edges."""
    mpath = pytest.importorskip("matplotlib.path", reason="matplotlib (extra viz) is the reference")
    rng = np.random.default_rng(3)
    for _ in range(20):
        angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
        radii = rng.uniform(5, 50, 9)
        pts = np.column_stack([50 + radii * np.cos(angles), 50 + radii * np.sin(angles)])
        area = InterestArea("p", "polygon", tuple(map(tuple, pts)))
        xy = rng.uniform(0, 100, (500, 2))
        ref = mpath.Path(pts).contains_points(xy)
        ours = area.contains(xy[:, 0], xy[:, 1])
        near_edge = ~np.isclose(mpath.Path(pts).contains_points(xy, radius=1e-6),
                                mpath.Path(pts).contains_points(xy, radius=-1e-6))
        assert (ours == ref)[~near_edge].all()
    ell = InterestArea("e", "ellipse", ((10, 20), (70, 50)))
    t = np.linspace(0, 2 * np.pi, 200)
    outline = mpath.Path(np.column_stack([40 + 30 * np.cos(t), 35 + 15 * np.sin(t)]))
    xy = rng.uniform(0, 80, (2000, 2))
    ref = outline.contains_points(xy)
    ours = ell.contains(xy[:, 0], xy[:, 1])
    assert (ours != ref).mean() < 0.005  # the 200-gon outline differs only at the edge
