"""``vista metrics``: every metric for one saliency map against one human map."""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import click
import numpy as np

from ..metrics import metric_names
from ._options import check_seed

COMMANDS: list[click.Command] = []


def _fixations_arg(arr: np.ndarray, grid: tuple[int, ...], path: str) -> np.ndarray:
    """Points (N×2/N×3) as given, or a mask on the human grid turned into its pixels."""
    if arr.ndim == 2 and arr.shape == grid:
        if arr.dtype.kind not in "biuf" or not np.isfinite(arr).all() or (arr < 0).any():
            raise ValueError(f"--fixations {path}: a fixation mask must be a finite map >= 0 "
                             f"(fixated > 0); got dtype {arr.dtype}")
        rows, cols = np.nonzero(arr)
        return np.column_stack([cols, rows]).astype(np.float64)
    if arr.ndim == 2 and arr.shape[1] in (2, 3):
        return arr
    raise ValueError(
        f"--fixations {path}: expected a mask with the human map's shape {grid} or an N×3 "
        f"(x, y, weight) array; got shape {arr.shape}"
    )


def _format(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.6f}"


@click.command("metrics")
@click.argument("saliency", type=click.Path(exists=True, dir_okay=False))
@click.argument("human", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--fixations",
    "fixations_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Fixations for the fixation-based metrics: a binary mask on the human grid "
    "(.npy/.png, fixated > 0) or an N×3 .npy of x, y (image pixels), weight. "
    "Default: none, so only the density metrics are printed.",
)
@click.option(
    "--metric",
    "metric_list",
    multiple=True,
    type=click.Choice(metric_names()),
    help="Only this metric (repeatable). Default: every metric that the inputs allow.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object. Default: a table.")
@click.option(
    "--resize",
    is_flag=True,
    help="Resize the saliency map (bilinear) to the human map's grid when their sizes "
    "differ. Default: off, a size mismatch is an error.",
)
@click.option(
    "--seed",
    type=int,
    callback=check_seed,
    default=0,
    show_default=True,
    help="Seed of the sampling metrics (AUC samples, jitter), 0 to 2**63-1.",
)
def metrics_command(
    saliency: str,
    human: str,
    fixations_path: str | None,
    metric_list: tuple[str, ...],
    as_json: bool,
    resize: bool,
    seed: int,
) -> None:
    """Score one SALIENCY map against one HUMAN density map (.npy, .png, .jpg).

    Prints every metric that applies: ncc, auc_borji, sim, kld always; with
    --fixations also auc_borji_mit, auc_judd, nss, info_gain. A NaN comes with a
    warning on stderr saying why the metric is undefined.
    """
    from .. import __version__
    from ..metrics import compute_all, get_metric

    if "auc_shuffled" in metric_list:
        raise click.ClickException(
            "auc_shuffled needs the fixations of other images, which one pair of maps does "
            "not have; score it over a dataset: vista score --metric auc_shuffled"
        )
    from ..imaging import read_map

    s = read_map(saliency, name="saliency")
    h = read_map(human, name="human")
    if s.ndim == 2 and h.ndim == 2 and s.shape != h.shape and not resize:
        raise click.ClickException(
            f"saliency {saliency} has shape {s.shape} but human {human} has shape {h.shape}; "
            "pass --resize to resize the saliency map (bilinear) to the human grid"
        )
    fix = None
    if fixations_path is not None:
        fix = _fixations_arg(read_map(fixations_path, name="fixations"), h.shape, fixations_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = compute_all(
            s, h, fixations=fix, metrics=list(metric_list) or None, rng=seed, resize=resize
        )
    for w in caught:  # why a metric is NaN, or which fixations were ignored: one line each
        click.echo(f"warning: {w.message}", err=True)
    if as_json:
        out: dict[str, Any] = {
            "saliency": saliency,
            "human": human,
            "fixations": fixations_path,
            "seed": seed,
            "resize": resize,
            "vista_version": __version__,
            "metrics": {k: (None if math.isnan(v) else v) for k, v in scores.items()},
        }
        click.echo(json.dumps(out, indent=2))
        return
    width = max(len(k) for k in scores)
    for name, value in scores.items():
        spec = get_metric(name)
        better = "higher is better" if spec.higher_is_better else "lower is better"
        click.echo(f"{name:<{width}}  {_format(value):>10}  ({better})")


COMMANDS.append(metrics_command)
