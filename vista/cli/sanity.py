"""CLI command ``vista sanity``: the model-randomisation sanity check of an explainer."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("sanity")
@click.option("--model", required=True, metavar="NAME",
              help="Explainer family (clip, blip-itm-base, ...): see vista score --help.")
@click.option("--recipe", default=None, help="A recipe of the family [default: its default].")
@click.option("--method", default=None, help="Explanation method [default: the recipe's].")
@click.option("--weights", default=None, help="Hub id or local folder of the weights.")
@click.option("--device", default=None, help="cpu, cuda, ... [default: cuda when available].")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="Dataset folder [default: the shipped demo dataset].")
@click.option("--n", type=click.IntRange(2, 10_000), default=20, show_default=True,
              help="Triplets drawn from the dataset (seeded).")
@click.option("--n-boot", type=click.IntRange(1, 100_000), default=1000, show_default=True,
              help="Bootstrap resamples of the triplets for the intervals.")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True,
              help="Seeds the draw of triplets, the re-initialisation and the bootstrap.")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.5, show_default=True,
              help="Spearman correlation at the last step separating pass from fail.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="New folder for sanity.json and sanity.png [default: print only].")
def sanity_command(model: str, recipe: str | None, method: str | None, weights: str | None,
                   device: str | None, data: Path | None, n: int, n_boot: int, seed: int,
                   threshold: float, out: Path | None) -> None:
    """Does the map depend on what the model learned? Re-initialise the model's blocks
    from the top down (Adebayo et al. 2018) and compare each step's maps with the
    intact model's: Spearman rank correlation and SSIM, with 95% intervals.

    \b
    Examples:
      vista sanity --model clip --n 20 --out sanity-clip/
      vista sanity --model blip-itm-base --recipe lavis --data datasets/vista
    """
    from importlib.resources import files

    from ..explain.sanity import plot_sanity, sanity_check
    from ._report import check_new_folder, write_report

    check_new_folder(out)
    data = data or Path(str(files("vista"))) / "data" / "demo"
    result = sanity_check(model, data, recipe=recipe, method=method, weights=weights,
                          device=device, n=n, seed=seed, n_boot=n_boot, threshold=threshold)
    click.echo(f"{model}: {result.n_pairs} triplets, layer stacks of {result.stacks} blocks")
    for s in result.steps:
        (r, rl, rh), (m, ml, mh) = s.spearman, s.ssim
        click.echo(f"step {s.blocks}: top {s.blocks} block(s) random   Spearman {r:.3f} "
                   f"[{rl:.3f}, {rh:.3f}]   SSIM {m:.3f} [{ml:.3f}, {mh:.3f}]")
    click.echo(f"verdict: {result.verdict} (Spearman at the last step against "
               f"{result.threshold:g})")
    if out is not None:
        click.echo(write_report(out, "sanity", result.to_dict(), lambda: plot_sanity(result)))


COMMANDS = [sanity_command]
