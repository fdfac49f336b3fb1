"""One self-contained HTML page for a scoring run: the table, the leaderboards, the
per-image figures and the provenance.

The page has inline CSS, figures embedded as base64 PNG and no scripts, fonts or
links to fetch, so it opens offline and can be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["render_report", "write_report"]

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
.synthetic{background:#fff3cd;border:1px solid #e0c060;padding:.6em 1em;border-radius:4px;
font-weight:600}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .7em;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{font-family:Menlo,Consolas,monospace;white-space:nowrap}
img{max-width:100%;height:auto;display:block;margin:.6em 0}
.muted{color:#666;font-size:.9em}pre{background:#f7f7f7;padding:.8em;overflow-x:auto;
font-size:.8em}details{margin:.5em 0}
"""


def _png(fig: Any, *, dpi: int) -> str:
    """The figure as base64 PNG, reduced to a 256-colour palette (about a fifth of the
    bytes of a full-colour PNG, with no visible change for these figures)."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    buf.seek(0)
    with Image.open(buf) as im:
        small = im.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode("ascii")


def _img(fig: Any, alt: str, *, dpi: int) -> str:
    return (f'<img alt="{html.escape(alt)}" '
            f'src="data:image/png;base64,{_png(fig, dpi=dpi)}">')


def _table(header: list[str], rows: list[list[str]], *, numeric_from: int = 1) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for r in rows:
        cells = "".join(
            f'<td class="num">{html.escape(c)}</td>' if i >= numeric_from else
            f"<td>{html.escape(c)}</td>" for i, c in enumerate(r))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_report(
    run_dir: str | os.PathLike[str],
    *,
    max_images: int = 12,
    cmap: str = "jet",
    alpha: float = 0.5,
    dpi: int = 100,
) -> str:
    """The HTML page of a finished scoring run, as a string.

    Parameters
    ----------
    run_dir : path
        A ``vista score`` output folder.
    max_images : int, optional
        Per-image panels included, the first images of the dataset (default 12).
    cmap, alpha
        Map colours and opacity (see :func:`vista.viz.overlay`).
    dpi : int, optional
        Resolution of the embedded figures (default 100).

    Returns
    -------
    str
        A complete HTML document with no external resources.
    """
    from . import __version__
    from .scoring import Run, _table_rows
    from .viz import _image_names, _run_rows, image_panel, leaderboard

    run = Run(run_dir)
    s = run.summary
    ds = s["dataset"]
    parts = [f"<h1>vista scores: {html.escape(str(ds['name']))}</h1>"]
    parts.append(f'<p class="muted">Dataset <code>{html.escape(ds["path"])}</code>: '
                 f"{ds['n_scored']} of {ds['n_triplets']} triplets scored. "
                 f"vista {html.escape(str(s['vista_version']))}, seed {s['seed']}. "
                 f"Run folder <code>{html.escape(str(run.root.resolve()))}</code>.</p>")
    if ds.get("synthetic"):
        parts.append('<p class="synthetic">SYNTHETIC dataset: the human maps come from '
                     "simulated observers, not people. Use it to try the workflow, not to "
                     "compare models.</p>")

    header, body, comp = _table_rows(s)
    boot = s["bootstrap"]
    what = ("the five paper-mode bootstrap means" if boot.get("paper") else
            f"the {round(100 * boot['confidence'])}% {boot['interval']} bootstrap interval "
            f"({boot['n_boot']} resamples of the triplets)")
    parts.append("<h2>Scores</h2>")
    parts.append(f"<p>Mean over triplets; in brackets {html.escape(what)}.</p>")
    parts.append(_table(header, body, numeric_from=1))
    if comp:
        first = next(iter(s["results"]))
        parts.append(f"<p>Paired bootstrap differences from <b>{html.escape(first)}</b> on "
                     "the triplets both models scored: difference [interval] and two-sided "
                     "p-value.</p>")
        parts.append(_table(["models", *header[1:]], comp, numeric_from=1))
    bad = s.get("skipped", {}).get("bad", {})
    per_model = s.get("skipped", {}).get("per_model", {})
    if bad or per_model:
        rows = [[tid, "all models", why] for tid, why in bad.items()]
        rows += [[tid, m, why] for m, per in per_model.items() for tid, why in per.items()]
        parts.append("<h2>Skipped triplets</h2>")
        parts.append(_table(["triplet", "model", "reason"], rows, numeric_from=99))

    texts = {t.triplet_id: t.text for t in run.dataset}
    per_triplet = [[tid, model, texts.get(tid, ""),
                    *("nan" if v != v else f"{v:.4f}" for v in (vals.get(m, math.nan)
                                                                  for m in run.metrics))]
                   for (tid, model), vals in run.scores.items()]
    parts.append(f"<details><summary>Per-triplet scores ({len(per_triplet)} rows, as in "
                 "scores.csv)</summary>")
    parts.append(_table(["triplet", "model", "text", *run.metrics], per_triplet,
                        numeric_from=3))
    parts.append("</details>")
    parts.append("<h2>Leaderboards</h2>")
    for metric in run.metrics:
        parts.append(_img(leaderboard(s, metric=metric), f"leaderboard {metric}", dpi=dpi))

    scored = run.scored_triplets()
    by_image: dict[str, list[Any]] = {}
    for t in scored:
        by_image.setdefault(t.image_path, []).append(t)
    if by_image and max_images > 0:
        parts.append("<h2>Maps</h2>")
        parts.append("<p>Each row: a spoken segment, the human map and each model's map "
                     "over the image (maps scaled to their own range).</p>")
        labels = _image_names(list(by_image), run.dataset.root)
        for image_path, group in list(by_image.items())[:max_images]:
            name = labels[image_path]
            fig = image_panel(run.dataset.load_image(group[0]), _run_rows(run, group,
                              run.models), cmap=cmap, alpha=alpha, title=name)
            parts.append(_img(fig, f"maps for {name}", dpi=dpi))
        if len(by_image) > max_images:
            parts.append(f'<p class="muted">{len(by_image) - max_images} more image(s) not '
                         "shown; see <code>vista figure</code>.</p>")

    parts.append("<h2>Provenance</h2>")
    prov_rows = []
    for name, p in s["models"].items():
        detail = ", ".join(f"{k}: {v}" for k, v in p.items() if k not in ("model", "kind"))
        prov_rows.append([name, str(p.get("kind", "")), detail])
    parts.append(_table(["model", "kind", "id, revision, method, options"], prov_rows,
                        numeric_from=99))
    met_rows = [[m, "higher" if i.get("higher_is_better") else "lower",
                 ", ".join(f"{k}={v}" for k, v in i.get("options", {}).items()) or "defaults",
                 str(i.get("description", ""))] for m, i in s["metrics"].items()]
    parts.append(_table(["metric", "better", "options", "description"], met_rows,
                        numeric_from=99))
    parts.append("<details><summary>summary.json</summary><pre>"
                 + html.escape(json.dumps(s, indent=2)) + "</pre></details>")
    parts.append(f'<p class="muted">Written by vista {html.escape(__version__)} '
                 "(vista report).</p>")
    title = html.escape(f"vista scores: {ds['name']}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{title}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def write_report(
    run_dir: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Path:
    """Write :func:`render_report`'s page to ``out`` (default ``RUN_DIR/report.html``),
    atomically; return its path. ``options`` go to :func:`render_report`."""
    from .dataset import write_atomic

    path = Path(out) if out is not None else Path(run_dir) / "report.html"
    text = render_report(run_dir, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode("utf-8"))
    return path

