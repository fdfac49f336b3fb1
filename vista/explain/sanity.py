"""Model-randomisation sanity check (Adebayo et al. 2018, cascading randomisation).

An explanation that depends on what the model learned must change when the model's
weights are destroyed. The check re-initialises the model's blocks from the top down,
one block more at each step, recomputes the maps of a few image-text pairs at each
step, and compares them with the maps of the intact model:

* Spearman's rank correlation of the two maps' pixels;
* SSIM (Wang et al. 2004) of the two maps, each min-max normalised to [0, 1].

Each step reports the mean over the pairs with a bootstrap interval. A method that
passes loses its structure as more blocks are randomised (both fall towards 0); a
method whose maps stay the same (an edge detector in disguise, a map of the image
alone) is flagged.

What "a block" is: every stack of layers of the model (a ``torch.nn.ModuleList`` of at
least two layers of one class, such as a transformer encoder's ``layers``), counted
from its top. With two towers (CLIP's text and vision encoders) both are randomised
in step: step ``k`` re-initialises the top ``k`` layers of every stack. Embeddings and
projection heads are left as they are. Layers are re-initialised with the model's own
initialiser (``_init_weights`` of a Hugging Face model; ``reset_parameters`` of each
submodule otherwise), seeded. The model's weights are restored when the check ends.

References
----------
.. [1] J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim, "Sanity
   checks for saliency maps", NeurIPS 2018.
.. [2] Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality
   assessment: from error visibility to structural similarity", IEEE TIP 13(4), 2004.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import check_int

__all__ = [
    "SanityResult",
    "SanityStep",
    "layer_stacks",
    "map_similarity",
    "plot_sanity",
    "randomisation_check",
    "sanity_check",
]


def layer_stacks(model: Any) -> list[list[Any]]:
    """The layer stacks of a torch model, each bottom to top.

    A stack is a ``torch.nn.ModuleList`` of at least two modules of one class that
    hold parameters; stacks nested inside another stack's layers are not counted
    separately (they are randomised with their layer).
    """
    import torch

    stacks: list[list[Any]] = []
    claimed: set[int] = set()
    for _, module in model.named_modules():
        if id(module) in claimed or not isinstance(module, torch.nn.ModuleList):
            continue
        layers = list(module)
        if len(layers) < 2 or len({type(m) for m in layers}) != 1:
            continue
        if not any(True for _ in layers[0].parameters()):
            continue
        stacks.append(layers)
        for layer in layers:
            claimed.update(id(m) for m in layer.modules())
    return stacks


def _reinitialise(model: Any, layer: Any) -> int:
    """Re-initialise ``layer`` in place; returns how many of its tensors changed.

    Hugging Face models mark loaded tensors ``_is_hf_initialized`` and their
    initialisers skip such tensors, so the marks are lifted for the call (and put
    back). Where the model's initialiser leaves every tensor as it was, each
    submodule's ``reset_parameters`` is used instead; a layer that still does not
    change raises, so the check never reports on weights it did not randomise.
    """
    before = [t.detach().clone() for t in layer.parameters()]
    init = getattr(model, "_init_weights", None)
    if callable(init):
        tensors = [*layer.parameters(), *layer.buffers()]
        marks = [getattr(t, "_is_hf_initialized", None) for t in tensors]
        for t, mark in zip(tensors, marks, strict=True):
            if mark is not None:
                t._is_hf_initialized = False
        try:
            layer.apply(init)
        finally:
            for t, mark in zip(tensors, marks, strict=True):
                if mark is not None:
                    t._is_hf_initialized = mark
    changed = sum(not bool((a == b).all()) for a, b in zip(before, layer.parameters(), strict=True))
    if changed == 0:
        for m in layer.modules():
            reset = getattr(m, "reset_parameters", None)
            if callable(reset):
                reset()
        changed = sum(not bool((a == b).all())
                      for a, b in zip(before, layer.parameters(), strict=True))
    if changed == 0 and before:
        raise RuntimeError(f"could not re-initialise {type(layer).__name__}: neither the "
                           "model's initialiser nor reset_parameters changed its weights")
    return changed


def _unit(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def map_similarity(a: Any, b: Any) -> tuple[float, float]:
    """Spearman's rank correlation and SSIM of two maps on one grid.

    SSIM is scikit-image's ``structural_similarity`` of the two maps min-max
    normalised to [0, 1] (``data_range=1``; window 7 or the largest odd size that fits).
    Spearman is NaN when a map is constant.

    Examples
    --------
    >>> m = np.arange(64.0).reshape(8, 8)
    >>> [round(v, 6) for v in map_similarity(m, 2 * m + 1)]
    [1.0, 1.0]
    """
    from scipy.stats import rankdata
    from skimage.metrics import structural_similarity

    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"maps must be 2-D on one grid; got {x.shape} and {y.shape}")
    rx, ry = rankdata(x.ravel()), rankdata(y.ravel())
    if rx.std() == 0 or ry.std() == 0:
        rho = math.nan
    else:
        rho = float(np.corrcoef(rx, ry)[0, 1])
    side = min(7, *x.shape)
    win = side if side % 2 else side - 1
    if win < 3:
        return rho, math.nan
    ssim = float(structural_similarity(_unit(x), _unit(y), data_range=1.0, win_size=win))
    return rho, ssim


@dataclass(frozen=True)
class SanityStep:
    """One step of the cascade: ``blocks`` top layers of each stack re-initialised.

    ``spearman`` and ``ssim`` are ``(mean, low, high)`` over the pairs;
    ``n_changed`` counts the weight tensors this step re-initialised.
    """

    blocks: int
    spearman: tuple[float, float, float]
    ssim: tuple[float, float, float]
    n_changed: int = 0


@dataclass(frozen=True)
class SanityResult:
    """The cascade of one explainer.

    Attributes
    ----------
    steps : list of SanityStep
        Step 1 randomises the top block of every stack, the last step every block.
    verdict : {"passes", "fails", "unclear"}
        ``passes``: at the last step the upper bound of the Spearman interval is below
        ``threshold`` (the map lost its structure); ``fails``: its lower bound is at or
        above ``threshold`` (the map barely depends on the weights); else ``unclear``.
    threshold : float
    n_pairs : int
    stacks : list of int
        Number of layers in each stack found.
    params : dict
    """

    steps: list[SanityStep]
    verdict: str
    threshold: float
    n_pairs: int
    stacks: list[int]
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def clean(t: tuple[float, float, float]) -> list[float | None]:
            return [None if math.isnan(v) else v for v in t]

        return {"verdict": self.verdict, "threshold": self.threshold, "n_pairs": self.n_pairs,
                "stacks": self.stacks, "params": self.params,
                "steps": [{"blocks": s.blocks, "spearman": clean(s.spearman),
                           "ssim": clean(s.ssim), "n_changed": s.n_changed}
                          for s in self.steps]}


def _maps(explainer: Any, pairs: Sequence[tuple[np.ndarray, str]]) -> list[np.ndarray]:
    out = []
    for image, text in pairs:
        (m,) = explainer.explain(image, [text])
        out.append(np.asarray(getattr(m, "values", m), dtype=np.float64))
    return out


def _summary(values: Sequence[float], n_boot: int, seed: int) -> tuple[float, float, float]:
    import warnings

    from ..metrics.bootstrap import DroppedValuesWarning, bootstrap

    arr = np.asarray(values, dtype=np.float64)
    if np.isnan(arr).all():
        return (math.nan, math.nan, math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedValuesWarning)
        r = bootstrap(arr, n_boot=n_boot, rng=seed)
    return (r.mean, r.low, r.high)


def randomisation_check(
    explainer: Any,
    pairs: Sequence[tuple[np.ndarray, str]],
    *,
    threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
    max_steps: int | None = None,
) -> SanityResult:
    """Cascading randomisation of an explainer's model (Adebayo et al. 2018).

    Parameters
    ----------
    explainer : object
        Has ``model`` (a ``torch.nn.Module``) and ``explain(image, texts)`` returning
        one map (array or :class:`~vista.records.SaliencyMap`) per text.
    pairs : sequence of (image, text)
        The images (H×W×3 uint8) and texts to explain, at least 2.
    threshold : float, default 0.5
        Spearman correlation at the last step that separates passing from failing.
    n_boot : int, default 1000
        Bootstrap resamples of the pairs, for the intervals.
    seed : int, default 0
        Seeds the re-initialisation (step ``k`` uses ``seed + k``) and the bootstrap.
    max_steps : int, optional
        Stop after this many steps (default: every block).

    Returns
    -------
    SanityResult
    """
    import torch

    if len(pairs) < 2:
        raise ValueError(f"pairs must hold at least 2 image-text pairs; got {len(pairs)}")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1); got {threshold!r}")
    n_boot = check_int("n_boot", n_boot, minimum=1)
    model = getattr(explainer, "model", None)
    if not isinstance(model, torch.nn.Module):
        raise TypeError("explainer.model must be a torch.nn.Module for the randomisation check")
    stacks = layer_stacks(model)
    if not stacks:
        raise ValueError("no layer stack (a ModuleList of at least 2 layers) found in the model")
    depth = max(len(s) for s in stacks)
    if max_steps is not None:
        depth = min(depth, check_int("max_steps", max_steps, minimum=1))
    saved = copy.deepcopy(model.state_dict())
    steps = []
    try:
        original = _maps(explainer, pairs)
        for k in range(1, depth + 1):
            changed = 0
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + k)
                with torch.no_grad():
                    for stack in stacks:
                        if k <= len(stack):
                            changed += _reinitialise(model, stack[len(stack) - k])
            sims = [map_similarity(a, b) for a, b in zip(original, _maps(explainer, pairs),
                                                         strict=True)]
            steps.append(SanityStep(k, _summary([s[0] for s in sims], n_boot, seed),
                                    _summary([s[1] for s in sims], n_boot, seed), changed))
    finally:
        model.load_state_dict(saved)
    _, low, high = steps[-1].spearman
    verdict = ("passes" if high < threshold else "fails" if low >= threshold else "unclear")
    return SanityResult(steps, verdict, float(threshold), len(pairs), [len(s) for s in stacks],
                        {"n_boot": n_boot, "seed": seed, "threshold": float(threshold)})


def sanity_check(
    model: str,
    data: Any,
    *,
    recipe: str | None = None,
    method: str | None = None,
    weights: str | None = None,
    device: str | None = None,
    n: int = 20,
    seed: int = 0,
    n_boot: int = 1000,
    threshold: float = 0.5,
) -> SanityResult:
    """:func:`randomisation_check` of a registered explainer on ``n`` triplets of a dataset.

    Parameters
    ----------
    model : str
        A family name (``clip``, ``blip-itm-base``, ...).
    data : path
        A dataset folder; ``n`` of its triplets are drawn at random (seeded).
    recipe, method, weights, device
        As for :func:`vista.explain.load_explainer`.
    n : int, default 20
    seed, n_boot, threshold
        As for :func:`randomisation_check`.
    """
    from ..dataset import read_dataset
    from . import load_explainer

    n = check_int("n", n, minimum=2)
    ds = read_dataset(data)
    triplets = list(ds)
    if len(triplets) < 2:
        raise ValueError(f"dataset {data} has {len(triplets)} triplet(s); the check needs 2")
    gen = np.random.default_rng(seed)
    chosen = sorted(gen.choice(len(triplets), size=min(n, len(triplets)), replace=False))
    pairs = [(ds.load_image(triplets[i]), triplets[i].text) for i in chosen]
    explainer = load_explainer(model, recipe=recipe, method=method, weights=weights,
                               device=device)
    result = randomisation_check(explainer, pairs, threshold=threshold, n_boot=n_boot, seed=seed)
    params = {**result.params, "model": model, "recipe": recipe, "method": method,
              "weights": weights, "data": str(data), "n": len(pairs),
              "triplets": [triplets[i].triplet_id for i in chosen]}
    return dataclasses.replace(result, params=params)


def plot_sanity(result: SanityResult, *, ax: Any = None) -> Any:
    """Spearman and SSIM against the number of randomised blocks, with intervals.

    Returns the matplotlib Figure (never shown).
    """
    from .._validation import require

    require("matplotlib", "viz")
    from matplotlib.figure import Figure

    if ax is None:
        fig = Figure(figsize=(5.2, 3.4), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    k = [0] + [s.blocks for s in result.steps]
    for i, (label, colour) in enumerate((("Spearman", "C0"), ("SSIM", "C1"))):
        rows = [(1.0, 1.0, 1.0)] + [s.spearman if i == 0 else s.ssim for s in result.steps]
        mean = [r[0] for r in rows]
        ax.plot(k, mean, marker="o", color=colour, label=label)
        ax.fill_between(k, [r[1] for r in rows], [r[2] for r in rows], color=colour,
                        alpha=0.2, linewidth=0)
    ax.axhline(result.threshold, color="0.5", linestyle=":", linewidth=1)
    ax.set_xlabel("blocks re-initialised (from the top)")
    ax.set_ylabel("similarity to the intact model's map")
    ax.set_ylim(-1.05, 1.05)
    ax.set_xticks(k)
    ax.set_title(f"{result.params.get('model', 'model')}: {result.verdict}")
    ax.legend(loc="lower left", frameon=False)
    return fig
