"""The registry of explainers: a name maps to a model module's loader.

A model module registers itself with :func:`register`; the module is imported only
when its explainer is loaded, so ``import vista.explain`` stays light. The CLI's
``--model`` choices come from :func:`explainer_names`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ExplainerSpec", "explainer_names", "load_explainer", "register"]


@dataclass(frozen=True)
class ExplainerSpec:
    """What the registry knows about a name before its module is imported."""

    name: str
    module: str  # module that defines the loader, relative to vista.explain
    default_weights: str  # Hugging Face id, or a description for checkpoints
    default_method: str
    summary: str
    revision: str | None = None  # pinned Hub commit of default_weights; None: "main"


# Every name is declared here (cheap), and bound to its loader when its module imports.
_SPECS: dict[str, ExplainerSpec] = {
    s.name: s
    for s in (
        ExplainerSpec("clip", "clip", "openai/clip-vit-base-patch16", "gradcam",
                      "CLIP ViT-B/16: Grad-CAM on the last vision block for image-text similarity",
                      "57c216476eefef5ab752ec549e440a49ae4ae5f3"),
        ExplainerSpec("blip-itm-base", "blip", "Salesforce/blip-itm-base-coco", "gradcam",
                      "BLIP ITM base: Grad-CAM on text-encoder cross-attention (LAVIS recipe)"),
        ExplainerSpec("blip-itm-large", "blip", "Salesforce/blip-itm-large-coco", "gradcam",
                      "BLIP ITM large: Grad-CAM on text-encoder cross-attention (LAVIS recipe)"),
        ExplainerSpec("albef", "albef", "ALBEF checkpoint (local file or folder)", "gradcam",
                      "ALBEF: Grad-CAM on fusion cross-attention for the ITM score"),
        ExplainerSpec("vilt", "vilt", "dandelin/vilt-b32-finetuned-coco", "gradcam",
                      "ViLT: Grad-CAM on text-to-patch attention for the ITM score"),
        ExplainerSpec("clipseg", "clipseg", "CIDAS/clipseg-rd64-refined", "sigmoid",
                      "CLIPSeg rd64-refined: sigmoid of the segmentation logits",
                      "999e0328d9e10b484360c477313983f9afdd7050"),
        ExplainerSpec("clipseg-rd16", "clipseg", "CIDAS/clipseg-rd16", "sigmoid",
                      "CLIPSeg rd16: sigmoid of the segmentation logits"),
    )
}

_LOADERS: dict[str, Callable[..., Any]] = {}


def register(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: bind a loader ``f(name, *, weights, device, method, **options)`` to ``name``."""

    def deco(loader: Callable[..., Any]) -> Callable[..., Any]:
        if name not in _SPECS:
            raise ValueError(f"{name!r} is not declared in vista.explain.registry._SPECS")
        _LOADERS[name] = loader
        return loader

    return deco


def explainer_names() -> list[str]:
    """The registered explainer names, in registry order."""
    return list(_SPECS)


def explainer_spec(name: str) -> ExplainerSpec:
    """The spec for ``name``; an unknown name raises a ValueError listing the known ones."""
    try:
        return _SPECS[name]
    except KeyError:
        known = ", ".join(_SPECS)
        raise ValueError(f"model must be one of {known}; got {name!r}") from None


def load_explainer(
    name: str,
    *,
    weights: str | None = None,
    device: str | None = None,
    method: str | None = None,
    **options: Any,
) -> Any:
    """Load the explainer registered as ``name``.

    Parameters
    ----------
    name : str
        A registry name (see :func:`explainer_names`).
    weights : str, optional
        Hugging Face id (loaded at the pinned revision) or a local folder in Hugging
        Face layout; defaults to the registry's id.
    device : str, optional
        ``"cpu"``, ``"cuda"``, ...; defaults to cuda when available.
    method : str, optional
        The saliency method; defaults to the model's default.
    **options
        Model-specific options (``block``, ``token_limit``, ...).

    Returns
    -------
    Explainer
        An object with ``explain(image, texts) -> list[SaliencyMap]``.
    """
    spec = explainer_spec(name)
    if name not in _LOADERS:
        importlib.import_module(f"{__package__}.{spec.module}")
    return _LOADERS[name](name, weights=weights, device=device, method=method, **options)
