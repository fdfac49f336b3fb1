"""The methods of the dual encoders (CLIP, SigLIP): which runner each method uses,
with every choice it fixed, and the builders the registry calls.

Kept apart from :mod:`vista.explain.dual` (the parts and the generic explainer), so that
the method modules (LeGrad, GEM, Grad-ECLIP, rollout, captum) and the SigLIP family
import :mod:`~vista.explain.dual` and this module imports them: arrows point one way.
"""

from __future__ import annotations

from typing import Any

from .base import resolve_block
from .dual import (
    DESCRIPTIVE,
    DUAL_METHODS,
    ClipParts,
    DualParts,
    MethodExplainer,
    Runner,
    method_options,
    run_gradcam,
)

__all__ = ["build", "build_gradcam", "build_gradeclip", "build_legrad",
           "build_rollout", "dual_parts", "dual_runner"]


def dual_runner(method: str, choices: dict[str, Any], parts: DualParts
                ) -> tuple[Runner, dict[str, Any]]:
    """The runner of ``method`` on ``parts`` and every choice it fixed."""
    from functools import partial

    if method.startswith("captum:"):
        from .attribution import captum_choices, run_captum

        patch = parts.input_size // parts.grid[0]
        method_options(method, {k: v for k, v in choices.items() if k == "input_fit"}, {})
        given = {k: v for k, v in choices.items() if k not in DESCRIPTIVE}
        captum = captum_choices(method, given, patch=patch)
        return partial(run_captum, choices=captum), captum
    if method not in DUAL_METHODS:
        known = ", ".join([*DUAL_METHODS, "captum:NAME"])
        raise ValueError(f"method {method!r} is not supported for this family; supported: {known}")
    chosen = method_options(method, choices, DUAL_METHODS[method])
    n_layers = len(parts.layers())
    if method == "gradcam":
        block = resolve_block("block", chosen["block"], n_layers)
        recorded = {"block": block, "layer": f"vision block {block} layer_norm1 output",
                    "relu": True}
        return partial(run_gradcam, block=block), recorded
    if method == "legrad":
        from .legrad import run_legrad

        chosen["block"] = resolve_block("block", chosen["block"], n_layers)
        chosen["correction"] = bool(chosen["correction"])
        chosen["post_norm"] = bool(chosen["post_norm"])
        return partial(run_legrad, **chosen), {**chosen, "normalise": "min-max"}
    if method == "gem":
        from .gem import check_gem_depth, run_gem

        chosen["depth"] = check_gem_depth(chosen["depth"], n_layers)
        return partial(run_gem, **chosen), {**chosen, "normalise": "min-max"}
    if method == "gradeclip":
        from .._validation import check_option
        from .gradeclip import HEADS_CHOICES, run_gradeclip

        check_option("heads", chosen["heads"], HEADS_CHOICES)
        chosen["ksim"] = bool(chosen["ksim"])
        return partial(run_gradeclip, **chosen), {**chosen, "normalise": "none"}
    from .rollout import run_rollout

    return partial(run_rollout, **chosen), {**chosen, "normalise": "max"}


def dual_parts(loaded: Any) -> DualParts:
    """The parts of a loaded CLIP or SigLIP (by model class)."""
    name = type(loaded.model).__name__
    if name == "SiglipModel":
        from .siglip import SiglipParts

        return SiglipParts(loaded)
    if name == "CLIPModel":
        return ClipParts(loaded)
    raise ValueError(f"{loaded.family}: no dual-encoder parts for {name}; "
                     f"supported: CLIPModel, SiglipModel")


def build(loaded: Any, choices: dict[str, Any], *, method: str) -> MethodExplainer:
    """A method's builder for a dual encoder (``build(loaded, choices)`` with the
    method bound; see :func:`vista.explain.registry.register_method`)."""
    parts = dual_parts(loaded)
    runner, recorded = dual_runner(method, dict(choices), parts)
    return MethodExplainer(loaded, parts=parts, method=method, runner=runner, options=recorded)


def build_gradcam(loaded: Any, choices: dict[str, Any]) -> MethodExplainer:
    """Grad-CAM on the last vision block's tokens (:func:`run_gradcam`)."""
    return build(loaded, choices, method="gradcam")


def build_legrad(loaded: Any, choices: dict[str, Any]) -> MethodExplainer:
    """LeGrad (:mod:`vista.explain.legrad`)."""
    return build(loaded, choices, method="legrad")


def build_gradeclip(loaded: Any, choices: dict[str, Any]) -> MethodExplainer:
    """Grad-ECLIP (:mod:`vista.explain.gradeclip`)."""
    return build(loaded, choices, method="gradeclip")


def build_rollout(loaded: Any, choices: dict[str, Any]) -> MethodExplainer:
    """Attention rollout (:mod:`vista.explain.rollout`)."""
    return build(loaded, choices, method="rollout")
