"""``vista score``; see :mod:`vista.scoring`."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import click

COMMANDS: list[click.Command] = []

_MODEL_HELP = (
    "Model to score (repeatable; the first is the reference of the paired differences): "
    "an explainer from the registry ({names}), or a row that needs no weights: center "
    "(centre-bias Gaussian), uniform, observers (inter-observer ceiling), external:DIR "
    "(precomputed maps DIR/ID.npy or .png)."
)


def _explainer_names() -> list[str]:
    from ..explain import explainer_names

    return explainer_names()


def _check_models(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
                  ) -> tuple[str, ...]:
    from ..baselines import is_baseline_name

    known = _explainer_names()
    for v in value:
        if not (v in known or is_baseline_name(v)):
            choices = ", ".join([*known, "center", "uniform", "observers", "external:DIR"])
            raise click.BadParameter(f"{v!r} is not one of {choices}")
    return value


def _default_out(data: Path, models: tuple[str, ...], key: dict[str, Any]) -> Path:
    """``vista-out/DATASET_MODELS_HASH``: the same configuration maps to the same folder
    (so a rerun resumes), another configuration to another folder."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:8]
    label = re.sub(r"[^A-Za-z0-9._+-]+", "_", "+".join(m.split("/")[-1] for m in models))
    return Path("vista-out") / f"{data.name}_{label[:40]}_{digest}"


class _Progress:
    """A click progress bar on stderr, opened on the first report."""

    def __init__(self, resuming: Path | None = None) -> None:
        self.bar: Any = None
        self.last = 0
        self.resuming = resuming

    def __call__(self, done: int, total: int) -> None:
        if self.resuming is not None:  # the first report: the run folder was accepted
            click.echo(f"resuming the run in {self.resuming} ({done} of {total} scored)",
                       err=True)
            self.resuming = None
        if self.bar is None:
            if total == 0:
                return
            self.bar = click.progressbar(length=total, label="scoring", file=sys.stderr,
                                         show_pos=True, show_eta=True)
            self.bar.__enter__()
        self.bar.update(done - self.last)
        self.last = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command("score")
@click.option("--model", "models", multiple=True, required=True, metavar="NAME",
              callback=_check_models, help=_MODEL_HELP.format(names=", ".join(_explainer_names())))
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Dataset folder (default: the shipped demo dataset, which is SYNTHETIC).")
@click.option("--weights", default=None, metavar="DIR",
              help="Local weights folder (or Hugging Face id) for the one explainer model "
                   "(default: the registry's pinned id, from the Hugging Face cache).")
@click.option("--method", default=None,
              help="Saliency method of the explainer models (default: each model's default).")
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="Extra metric from the metrics registry (repeatable): auc_borji_mit, "
                   "auc_judd, auc_shuffled, nss, sim, kld, info_gain. NCC and AUC-Borji are "
                   "always computed.")
@click.option("--bootstrap", "n_boot", type=click.IntRange(min=2), default=1000,
              show_default=True, help="Bootstrap resamples of the triplets for the intervals "
                                      "and the paired differences.")
@click.option("--interval", type=click.Choice(["percentile", "bca"]), default="percentile",
              show_default=True, help="Bootstrap interval type (95%).")
@click.option("--paper", is_flag=True,
              help="Also give the five paper-mode bootstrap values (VISTA's Table 1 brackets) "
                   "instead of the interval in the table (default: off).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of every random draw (AUC sampling, bootstrap).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run folder (default: vista-out/DATASET_MODELS_HASH, one per "
                   "configuration). A rerun into a run's folder resumes it, or extends it with "
                   "more metrics or models (added after its own); anything that would change "
                   "its numbers is refused.")
@click.option("--no-cache", is_flag=True,
              help="Neither read nor write cached model maps (default: cache under OUT/maps).")
@click.option("--skip-bad", is_flag=True,
              help="Score the good triplets and list the bad ones, instead of stopping "
                   "(default: stop at a bad dataset).")
@click.option("--device", default=None,
              help="Torch device for the explainers, e.g. cpu, cuda (default: cuda if available).")
def score_command(models: tuple[str, ...], data: Path | None, weights: str | None,
                  method: str | None, metrics: tuple[str, ...], n_boot: int, interval: str,
                  paper: bool, seed: int, out: Path | None, no_cache: bool, skip_bad: bool,
                  device: str | None) -> None:
    """Score models against a dataset's human maps (VISTA Table 1).

    Writes OUT/scores.csv (one row per triplet and model), OUT/summary.json and
    OUT/summary.md, and prints the table: each metric's mean with its 95% bootstrap
    interval (or, with --paper, the five paper-mode values), and with several models
    the paired-bootstrap differences from the first.

    \b
    Examples:
      vista score --model center --model uniform
      vista score --model blip-itm-base --model center --data my-dataset --paper
      vista score --model external:ovseg_maps --data my-dataset --metric nss
    """
    from ..scoring import demo_dataset_path, score

    if data is None:
        data = demo_dataset_path()
        click.echo(f"using the shipped demo dataset {data}: SYNTHETIC (simulated observers, "
                   "not human data)", err=True)
    if out is None:  # metrics are left out: adding a metric extends the same run
        key = {"data": str(data.resolve()), "models": models, "weights": weights,
               "method": method, "n_boot": n_boot, "interval": interval,
               "paper": paper, "seed": seed}
        out = _default_out(data, models, key)
    bar = _Progress(out if (out / "run.json").is_file() else None)
    try:
        result = score(data, list(models), metrics=metrics, out=out, rng=seed, n_boot=n_boot,
                       paper=paper, interval=interval, cache=not no_cache, skip_bad=skip_bad,
                       weights=weights, device=device, method=method, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        click.echo(f"\ninterrupted: scores so far are kept in {out}; run the same command "
                   "again to resume", err=True)
        sys.exit(130)
    finally:
        bar.close()
    click.echo(result.table())
    click.echo(f"wrote {out}/scores.csv, summary.json, summary.md")
    click.echo(f"figures: vista figure {out}   report: vista report {out}", err=True)


COMMANDS.extend([score_command])
