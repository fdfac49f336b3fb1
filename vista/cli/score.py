"""``vista score``; see :mod:`vista.scoring`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from ._options import check_seed, executor_option
from ._progress import progress_bar

COMMANDS: list[click.Command] = []

_MODEL_HELP = (
    "Row to score (repeatable; the first is the reference of the paired differences): "
    "NAME[:RECIPE][/METHOD] of an explainer ({names}), e.g. blip-itm-base:lavis or "
    "clip/legrad, or a row that needs no weights: center (centre-bias Gaussian), uniform, "
    "observers (inter-observer ceiling), human-other (the human map of another segment of "
    "the image), external:DIR (precomputed maps DIR/ID.npy or .png)."
)


def _explainer_names() -> list[str]:
    from ..explain import explainer_names

    return explainer_names()


def _check_models(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]
                  ) -> tuple[str, ...]:
    from ..scoring.sources import resolve_source

    for v in value:
        try:
            resolve_source(v)  # cheap: an explainer's weights load when it is first used
        except (ValueError, FileNotFoundError) as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def _weights(values: tuple[str, ...], models: tuple[str, ...], rows: list[str]
             ) -> str | dict[str, str] | None:
    """``--weights ROW=DIR`` pairs (ROW as given to --model), or one bare DIR (the one
    explainer row's); keyed by the rows scored (``--method`` may have added ``/M``)."""
    if not values:
        return None
    pairs: dict[str, str] = {}
    for v in values:
        hit = next(((rows[i], len(name)) for i, m in enumerate(models)
                    for name in (m, rows[i]) if v.startswith(name + "=")), None)
        if hit is not None:
            pairs[hit[0]] = v[hit[1] + 1:]
        elif len(values) == 1:
            return v
        else:
            raise click.BadParameter(f"{v!r}: give ROW=DIR, ROW one of the --model rows "
                                     f"({', '.join(models)})", param_hint="--weights")
    return pairs


def _with_method(models: tuple[str, ...], method: str | None) -> list[str]:
    """``--method M``: ``/M`` on every explainer row that names no method of its own."""
    from ..scoring.sources import is_explainer_row, parse_row

    if method is None:
        return list(models)
    return [f"{m}/{method}" if is_explainer_row(m) and parse_row(m).method is None else m
            for m in models]


def _resuming(out: Path) -> Callable[[int, int], None]:
    """The first progress report of a run that had rows already: say it is resumed."""
    def say(done: int, total: int) -> None:
        if done > 0:
            click.echo(f"resuming the run in {out} ({done} of {total} scored)", err=True)
    return say


@click.command("score")
@click.option("--model", "models", multiple=True, required=True, metavar="ROW",
              callback=_check_models, help=_MODEL_HELP.format(names=", ".join(_explainer_names())))
@click.option("--data", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Dataset folder (default: the shipped demo dataset, which is SYNTHETIC).")
@click.option("--weights", "weights", multiple=True, metavar="ROW=DIR",
              help="Local weights folder (or Hugging Face id) of an explainer row "
                   "(repeatable; ROW is the full --model row; a bare DIR goes to the one "
                   "explainer row). Default: the registry's pinned id, from the Hugging "
                   "Face cache.")
@click.option("--method", default=None,
              help="Explanation method of every explainer row that names none "
                   "(the same as ROW/METHOD; default: each model's default).")
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="Extra metric from the metrics registry (repeatable): auc_borji_mit, "
                   "auc_judd, auc_shuffled, nss, sim, kld, info_gain. NCC and AUC-Borji are "
                   "always computed.")
@click.option("--bootstrap", "n_boot", type=click.IntRange(2, 100_000), default=1000,
              show_default=True, help="Bootstrap resamples of the triplets for the intervals "
                                      "and the paired differences, 2 to 100000.")
@click.option("--interval", type=click.Choice(["percentile", "bca"]), default="percentile",
              show_default=True, help="Bootstrap interval type (95%).")
@click.option("--paper", is_flag=True,
              help="Also give the five paper-mode bootstrap values (VISTA's Table 1 brackets) "
                   "instead of the interval in the table (default: off).")
@click.option("--seed", type=int, callback=check_seed, default=0, show_default=True,
              help="Seed of every random draw (AUC sampling, bootstrap), 0 to 2**63-1.")
@click.option("--resample", type=click.Choice(["triplet", "image", "participant"]), default=None,
              help="What the bootstrap resamples: single triplets, or whole images or "
                   "participants with all their triplets (default: image when an image has "
                   "several segments, else triplet; triplet with --paper).")
@click.option("--control", type=click.Choice(["other-text"]), default=None,
              help="other-text: add, for every model, a row scored with its map for another "
                   "segment's text (seeded, recorded), and a text-specificity table "
                   "(default: none).")
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
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32",
              show_default=True,
              help="Autocast precision of the explainers' model work; recorded in every "
                   "map (and its cache key).")
@executor_option
def score_command(models: tuple[str, ...], data: Path | None, weights: tuple[str, ...],
                  method: str | None, metrics: tuple[str, ...], n_boot: int, interval: str,
                  paper: bool, seed: int, resample: str | None, control: str | None,
                  out: Path | None, no_cache: bool, skip_bad: bool, device: str | None,
                  precision: str, executor: str) -> None:
    """Score models against a dataset's human maps (VISTA Table 1).

    Writes OUT/scores.csv (one row per triplet and model), OUT/summary.json and
    OUT/summary.md, and prints the table: each metric's mean with its 95% bootstrap
    interval (or, with --paper, the five paper-mode values), and with several models
    the paired-bootstrap differences from the first.

    \b
    Examples:
      vista score --model center --model uniform
      vista score --model blip-itm-base --model center --data my-dataset --paper
      vista score --model clip/legrad --weights clip/legrad=/models/clip --data my-dataset
      vista score --model external:ovseg_maps --data my-dataset --metric nss
      vista score --model blip-itm-base --executor dask:tcp://10.0.0.5:8786
    """
    from .. import scoring

    rows = _with_method(models, method)
    weights_arg = _weights(weights, models, rows)
    if data is None:
        data = scoring.demo_dataset_path()
        click.echo(f"using the shipped demo dataset {data}: SYNTHETIC (simulated observers, "
                   "not human data)", err=True)
    if out is None:  # metrics are left out: adding a metric extends the same run
        out = scoring.default_run_folder(data, rows, {
            "data": str(data.resolve()), "models": rows, "weights": weights_arg,
            "n_boot": n_boot, "interval": interval, "paper": paper, "seed": seed,
            **({"resample": resample} if resample else {}),
            **({"control": control} if control else {}),
            **({"precision": precision} if precision != "fp32" else {})})
    click.get_current_context().meta["vista.interrupt_hint"] = (
        f"scores so far are kept in {out}; run the same command again to resume")
    report, close = progress_bar("scoring", on_first=_resuming(out))
    try:
        result = scoring.score(data, rows, metrics=metrics, out=out, rng=seed, n_boot=n_boot,
                               paper=paper, interval=interval, cache=not no_cache,
                               skip_bad=skip_bad, weights=weights_arg, device=device,
                               precision=precision, executor=executor, progress=report, resample=resample,
                               control=control)
    finally:
        close()
    click.echo(result.table())
    click.echo(f"wrote {out}/scores.csv, summary.json, summary.md")
    click.echo(f"figures: vista figure {out}   report: vista report {out}", err=True)


COMMANDS.extend([score_command])
