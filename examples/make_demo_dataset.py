"""Regenerate the demo dataset shipped in vista/data/demo (SYNTHETIC data).

    python examples/make_demo_dataset.py                 # writes vista/data/demo
    python examples/make_demo_dataset.py --out /tmp/demo --max-side 320 --observers 3

Eight public-domain / CC0 images (seven from scikit-image's bundled data, one drawn
here), each with three phrases describing hand-annotated boxes (the scene files,
``images/NAME.scene.json``). The "observers" are simulated: vista's SimulatedTracker
model of a participant who looks at a region shortly before naming it. Their human
maps are made by the same code a real session goes through:

- ``--mode pipeline`` (default when available): ``vista record --simulate`` writes a
  session folder per observer, then ``vista maps`` turns it into a dataset;
- ``--mode direct``: the simulator's fixations (:func:`vista.acquisition.simulate.simulate_gaze`)
  are aligned to the spoken phrases (:func:`vista.gaze.align.align`) and smoothed with
  :func:`vista.gaze.kde.density_map`, skipping the session files.

Nothing here is human data: dataset.json says ``"synthetic": true`` and records how
it was made, and ``vista score`` says so whenever it reads it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

import vista

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "vista" / "data" / "demo"

SEED = 20261122
SCREEN = {"width_px": 1920, "height_px": 1080, "width_mm": 531.0, "height_mm": 298.7,
          "distance_mm": 700.0}
DISPLAY_SIDE_PX = 900  # the image's longest side on the simulated screen
SIGMA_DEG = 1.0  # KDE bandwidth in degrees of visual angle (direct mode)


def _shapes() -> np.ndarray:
    """A drawn scene: a red circle, a blue square and a green triangle on grey."""
    im = Image.new("RGB", (480, 360), (225, 222, 214))
    d = ImageDraw.Draw(im)
    d.ellipse((40, 50, 170, 180), fill=(205, 40, 40))
    d.rectangle((300, 40, 430, 170), fill=(40, 70, 200))
    d.polygon([(170, 330), (250, 200), (330, 330)], fill=(40, 160, 70))
    return np.asarray(im)


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        arr = np.asarray(getattr(skimage.data, name)())
        return np.stack([arr] * 3, axis=-1) if arr.ndim == 2 else arr[..., :3]

    return load


# name: (loader, licence, [(phrase, box x0, y0, x1, y1 in the ORIGINAL image's pixels)])
IMAGES: dict[str, tuple[Callable[[], np.ndarray], str, list[tuple[str, tuple[int, ...]]]]] = {
    "astronaut": (_skimage("astronaut"), "public domain (NASA), via scikit-image", [
        ("the astronaut's smiling face", (150, 40, 300, 185)),
        ("a model of the space shuttle", (355, 0, 470, 285)),
        ("the round mission patch on her suit", (130, 345, 210, 425)),
    ]),
    "coffee": (_skimage("coffee"), "CC0 (Rachel Michetti), via scikit-image", [
        ("a cup of espresso", (175, 20, 410, 260)),
        ("the silver spoon", (330, 230, 405, 325)),
        ("the handle of the cup", (195, 225, 260, 305)),
    ]),
    "chelsea": (_skimage("chelsea"), "CC0 (Stefan van der Walt), via scikit-image", [
        ("the cat's green eyes", (135, 80, 345, 165)),
        ("its pink nose", (230, 220, 295, 270)),
        ("the ear on the right", (320, 0, 400, 60)),
    ]),
    "rocket": (_skimage("rocket"), "public domain (SpaceX), via scikit-image", [
        ("the white rocket on the launch pad", (300, 125, 340, 410)),
        ("the bright lights at the bottom", (90, 360, 470, 427)),
        ("the tall tower on the left", (0, 0, 90, 420)),
    ]),
    "camera": (_skimage("camera"), "CC0 (Lav Varshney), via scikit-image", [
        ("a man looking through a camera", (180, 65, 330, 200)),
        ("the tripod", (225, 200, 410, 510)),
        ("a tall building in the distance", (410, 115, 435, 195)),
    ]),
    "coins": (_skimage("coins"), "no known copyright restrictions (Brooklyn Museum), via "
              "scikit-image", [
        ("the large coin at the bottom right", (315, 155, 382, 220)),
        ("the coin in the top right corner", (305, 15, 365, 72)),
        ("the coin at the top left", (20, 35, 68, 75)),
    ]),
    "hubble": (_skimage("hubble_deep_field"), "public domain (NASA), via scikit-image", [
        ("a bright orange galaxy on the right", (700, 450, 756, 500)),
        ("the spiral galaxy on the left", (100, 380, 144, 424)),
        ("a spiky star lower down", (730, 560, 776, 600)),
    ]),
    "shapes": (_shapes, "drawn by examples/make_demo_dataset.py (CC0)", [
        ("the red circle", (40, 50, 170, 180)),
        ("the blue square", (300, 40, 430, 170)),
        ("the green triangle", (170, 200, 330, 330)),
    ]),
}


def prepare_images(folder: Path, *, max_side: int) -> dict[str, tuple[Path, float]]:
    """Write each image (longest side ``max_side`` px, JPEG) and its scene file."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[Path, float]] = {}
    for name, (load, _licence, regions) in IMAGES.items():
        arr = load()
        h, w = arr.shape[:2]
        scale = max_side / max(h, w)
        size = (round(w * scale), round(h * scale))
        path = folder / f"{name}.jpg"
        Image.fromarray(arr).resize(size, Image.Resampling.LANCZOS).save(path, quality=90)
        scene = {"regions": [
            {"phrase": phrase, "box": [round(v * scale, 1) for v in box]}
            for phrase, box in regions
        ]}
        (folder / f"{name}.scene.json").write_text(json.dumps(scene, indent=2) + "\n")
        out[name] = (path, scale)
    return out


def make_direct(out: Path, *, max_side: int, observers: int) -> None:
    """Simulated fixations -> alignment -> KDE, without session files."""
    from vista.acquisition.simulate import load_scene, plan_speech, simulate_gaze
    from vista.dataset import DatasetWriter
    from vista.gaze.align import DEFAULT_LAG_MS, DEFAULT_LEAD_MS, align
    from vista.gaze.kde import density_map
    from vista.records import Fixations, Placement, Screen, Segment

    screen = Screen(int(SCREEN["width_px"]), int(SCREEN["height_px"]), SCREEN["width_mm"],
                    SCREEN["height_mm"], SCREEN["distance_mm"])
    with tempfile.TemporaryDirectory() as tmp:
        images = prepare_images(Path(tmp) / "images", max_side=max_side)
        provenance = _provenance("direct", max_side, observers) | {
            "display_longest_side_px": DISPLAY_SIDE_PX,
            "alignment": {"lead_ms": DEFAULT_LEAD_MS, "lag_ms": DEFAULT_LAG_MS,
                          "weights": "fixation overlap with the window, ms"},
            "kde": {"sigma_deg": SIGMA_DEG, "function": "vista.gaze.kde.density_map"},
        }
        writer = DatasetWriter(out, name="vista-demo", synthetic=True, provenance=provenance)
        with writer:
            for obs in range(observers):
                gen = np.random.default_rng([SEED, obs])
                for name, (path, _scale) in images.items():
                    rel = writer.add_image(path)
                    shutil.copyfile(path.with_suffix("").with_suffix(".scene.json"),
                                    out / "images" / f"{name}.scene.json")
                    scene = load_scene(path)
                    h, w = scene.image_size
                    k = DISPLAY_SIDE_PX / max(h, w)
                    place = Placement((screen.width_px - w * k) / 2,
                                      (screen.height_px - h * k) / 2, w * k, h * k)
                    speech = plan_speech(scene, rng=gen)
                    end_ms = max(ws[-1].end_ms for _, ws in speech) + 1000.0
                    fix, _words = simulate_gaze(scene, place, screen, duration_ms=end_ms,
                                                speech=speech, rng=gen)
                    # screen px -> image px (pixel centres at integers)
                    xs = (fix[:, 2] - place.left) / k - 0.5
                    ys = (fix[:, 3] - place.top) / k - 0.5
                    f = Fixations(fix[:, 0], fix[:, 1], xs, ys)
                    sigma_px = SIGMA_DEG * screen.px_per_degree / k
                    for i, ws in speech:
                        seg = Segment(" ".join(w.text for w in ws), ws[0].start_ms, ws[-1].end_ms)
                        sel, weights = align(f, seg)
                        density = density_map(sel.xs, sel.ys, weights, shape=(h, w),
                                              sigma_px=sigma_px)
                        tid = f"{name}-{i + 1}" + (f"-o{obs + 1}" if observers > 1 else "")
                        writer.add(
                            tid, image=rel, text=seg.text,
                            human_map=density.astype(np.float32),
                            fixations=np.column_stack([sel.xs, sel.ys, weights]),
                            meta={"observer": f"sim{obs + 1:02d}", "image": name,
                                  "segment_start_ms": seg.start_ms,
                                  "segment_end_ms": seg.end_ms,
                                  "n_fixations": len(sel), "sigma_px": round(sigma_px, 3),
                                  "synthetic": True})


def _provenance(mode: str, max_side: int, observers: int) -> dict[str, Any]:
    return {
        "synthetic": True,
        "note": ("SYNTHETIC demo data: simulated observers (vista's SimulatedTracker gaze "
                 "model), not human recordings. For trying the workflow only."),
        "made_by": "examples/make_demo_dataset.py",
        "mode": mode,
        "seed": SEED,
        "vista_version": vista.__version__,
        "observers": observers,
        "screen": SCREEN,
        "image_longest_side_px": max_side,
        "images": {name: lic for name, (_l, lic, _r) in IMAGES.items()},
    }


README = """# vista demo dataset (SYNTHETIC)

**Not human data.** {n_images} images with {n_triplets} spoken segments; the "observers"
are simulated by vista's SimulatedTracker (a participant model that looks at a region
shortly before naming it). Use this dataset to try the workflow
(`vista score --model center`), never to compare models.

- Images: seven from scikit-image's bundled data (public domain or CC0, see
  `dataset.json` provenance) and one drawn by the script; longest side {max_side} px.
- Regions and phrases: hand-annotated boxes in `images/NAME.scene.json`.
- Maps: made by `examples/make_demo_dataset.py --mode {mode}` (see its docstring);
  parameters in `dataset.json`.
"""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help=f"dataset folder to write (default {DEFAULT_OUT}); replaced if --force")
    ap.add_argument("--max-side", type=int, default=160,
                    help="longest image side in pixels (default 160, keeps the package small)")
    ap.add_argument("--observers", type=int, default=1,
                    help="simulated observers per image (default 1)")
    ap.add_argument("--mode", choices=["pipeline", "direct", "auto"], default="auto",
                    help="how maps are made (default auto: pipeline when available)")
    ap.add_argument("--force", action="store_true", help="replace an existing --out folder")
    args = ap.parse_args(argv)
    if args.out.exists():
        if not args.force:
            raise SystemExit(f"{args.out} exists; pass --force to replace it")
        shutil.rmtree(args.out)
    mode = args.mode
    if mode == "auto":
        mode = "pipeline" if _pipeline_available() else "direct"
    if mode == "pipeline":
        make_pipeline(args.out, max_side=args.max_side, observers=args.observers)
    else:
        make_direct(args.out, max_side=args.max_side, observers=args.observers)
    from vista.dataset import read_dataset

    ds = read_dataset(args.out)
    (args.out / "README.md").write_text(README.format(
        n_images=len(IMAGES), n_triplets=len(ds), max_side=args.max_side, mode=mode))
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {args.out}: {len(ds)} triplets, {size / 1e6:.2f} MB, mode {mode} (SYNTHETIC)")


def _pipeline_available() -> bool:
    from vista.cli import cli

    return "record" in cli.commands and "maps" in cli.commands


def _vista(*args: str, cwd: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "vista", *args], cwd=cwd, text=True,
                          capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"vista {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")


def make_pipeline(out: Path, *, max_side: int, observers: int) -> None:
    """``vista record --simulate`` (one session per observer), then ``vista maps``."""
    from vista._io import write_atomic

    out = out.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        prepare_images(work / "images", max_side=max_side)
        sessions = []
        for obs in range(observers):
            pid = f"sim{obs + 1:02d}"
            _vista("record", "--participant", pid, "--images", "images", "--simulate",
                   "--seed", str(SEED + obs), "--out", f"sessions/{pid}", "--speed", "200",
                   "--screen-px", str(SCREEN["width_px"]), str(SCREEN["height_px"]),
                   "--screen-mm", str(SCREEN["width_mm"]), str(SCREEN["height_mm"]),
                   "--distance-mm", str(SCREEN["distance_mm"]), cwd=work)
            sessions.append(f"sessions/{pid}")
        _vista("maps", *sessions, "--out", str(out), "--sigma-deg", str(SIGMA_DEG), cwd=work)
        for scene in (work / "images").glob("*.scene.json"):
            shutil.copyfile(scene, out / "images" / scene.name)
    # the maps are simulated: say so, and keep no temporary paths in the shipped files
    info = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    info["name"] = "vista-demo"
    info["synthetic"] = True
    info["provenance"] = {**info.get("provenance", {}),
                          **_provenance("pipeline", max_side, observers)}
    write_atomic(out / "dataset.json", (json.dumps(info, indent=2, sort_keys=True) + "\n").encode())
    lines = []
    for line in (out / "triplets.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        src = row.get("meta", {}).get("image_source")
        if src:
            row["meta"]["image_source"] = f"images/{Path(src).name}"
        row["meta"]["synthetic"] = True
        row["meta"]["observer"] = row["meta"].get("participant")
        lines.append(json.dumps(row, sort_keys=True))
    write_atomic(out / "triplets.jsonl", ("\n".join(lines) + "\n").encode())


if __name__ == "__main__":
    main()
