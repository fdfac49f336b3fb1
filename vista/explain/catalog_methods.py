"""The explanation methods beyond each family's own (LeGrad, attention rollout,
Chefer's bi-modal relevance, captum attributions) and the families SigLIP and
BLIP-2 ITM, declared by name: nothing heavy is imported here, builders import their
module when a model is loaded.

Which method runs on which family:

============================  ====================================================
method                        families
============================  ====================================================
``legrad``                    clip, siglip
``rollout``                   clip, siglip
``gradeclip``                 clip, siglip
``gem``                       clip
``gradcam``                   siglip, blip2-itm (the others declare their own)
``bimodal``                   blip-itm-base, blip-itm-large, albef
``captum:NAME``               clip, siglip, blip-itm-base, blip-itm-large, albef,
                              blip2-itm, vilt
============================  ====================================================

``captum:NAME`` is one of :data:`vista.explain.attribution.CAPTUM_METHODS`, or
``captum:NoiseTunnel:NAME`` around one of them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from .registry import ExplainerSpec, Recipe, register_family, register_method, register_recipe

__all__ = ["CAPTUM_FAMILIES", "CAPTUM_NAMES", "MethodBuilder"]

LEGRAD = "WalBouss/LeGrad legrad/wrapper.py"
VIT_EXPLAIN = "jacobgil/vit-explain vit_rollout.py"
GRAD_ECLIP = "Cyang-Zhao/Grad-Eclip generate_emap.py"
GEM = "WalBouss/GEM gem/gem_utils.py, gem/gem_wrapper.py"
CHEFER_MM = "hila-chefer/Transformer-MM-Explainability lxmert/lxmert/src/ExplanationGenerator.py"
VISTA = "vista"

#: Kept in step with :data:`vista.explain.attribution.CAPTUM_METHODS` (a test checks).
CAPTUM_NAMES = ("IntegratedGradients", "GradientShap", "Saliency", "InputXGradient",
                "Occlusion", "FeatureAblation")
_DUAL = ("clip", "siglip")
_BLIP = ("blip-itm-base", "blip-itm-large")
CAPTUM_FAMILIES = (*_DUAL, *_BLIP, "albef", "blip2-itm", "vilt")


@dataclass(frozen=True)
class MethodBuilder:
    """``build(loaded, choices)`` that imports ``vista.explain.<module>`` when called
    and runs its ``build(loaded, choices, method=method)``."""

    module: str
    method: str

    def __call__(self, loaded: Any, choices: dict[str, Any]) -> Any:
        module = importlib.import_module(f"{__package__}.{self.module}")
        return module.build(loaded, choices, method=self.method)


register_family(ExplainerSpec(
    "siglip", "siglip", "google/siglip-base-patch16-224", "gradcam",
    "SigLIP ViT-B/16: Grad-CAM on the last vision block for the sigmoid pair score",
    model_class="SiglipModel", default_recipe="gradcam"))
register_family(ExplainerSpec(
    "blip2-itm", "blip2", "Salesforce/blip2-itm-vit-g", "gradcam",
    "BLIP-2 ITM: Grad-CAM on the Q-Former cross-attention for the ITM match logit",
    model_class="Blip2ForImageTextRetrieval", default_recipe="gradcam"))

register_method("legrad", family=_DUAL, builder=MethodBuilder("dual_methods", "legrad"),
                eager_attention=True,
                summary="LeGrad (Bousselham et al. 2024): per-block attention gradients")
register_method("gradeclip", family=_DUAL, builder=MethodBuilder("dual_methods", "gradeclip"),
                summary="Grad-ECLIP (Zhao et al. 2024): gradient channel weights, loosened "
                        "query-key spatial weights on the last attention's values")
register_method("gem", family="clip", builder=MethodBuilder("dual_methods", "gem"),
                summary="GEM (Bousselham et al. 2024): training-free self-self attention")
register_method("rollout", family=_DUAL, builder=MethodBuilder("dual_methods", "rollout"),
                eager_attention=True,
                summary="attention rollout (Abnar & Zuidema 2020), text-agnostic")
register_method("bimodal", family=(*_BLIP, "albef"), builder=MethodBuilder("bimodal", "bimodal"),
                eager_attention=True,
                summary="Chefer et al. 2021 bi-modal relevance through self- and co-attention")
register_method("gradcam", family="siglip", builder=MethodBuilder("dual_methods", "gradcam"))
register_method("gradcam", family="blip2-itm", builder=MethodBuilder("blip2", "gradcam"),
                eager_attention=True)
for _name in CAPTUM_NAMES:
    for _full in (f"captum:{_name}", f"captum:NoiseTunnel:{_name}"):
        for _family in CAPTUM_FAMILIES:
            _module = "dual_methods" if _family in _DUAL else "blip2" if _family == "blip2-itm" \
                else "bimodal"
            register_method(_full, family=_family, builder=MethodBuilder(_module, _full),
                            summary=f"captum {_full[len('captum:'):]} on the pixels of the "
                                    f"family's score")

register_recipe(Recipe(
    "gradcam", "siglip", "gradcam", VISTA, "vista.explain.dual.run_gradcam", score="sigmoid",
    tensor="layer_norm1", block=-1, input_fit="squash",
    summary="captum-style Grad-CAM on the last block's tokens for the sigmoid pair score"))
for _family, _function, _options in (
        ("clip", "LeWrapper.compute_legrad_clip", {}),
        ("siglip", "LeWrapper.compute_legrad_siglip", {"correction": True})):
    register_recipe(Recipe(
        "legrad", _family, "legrad", LEGRAD, _function, score="cosine", tensor="self-attention"
        if _family == "clip" else "pooling-attention", block=-2, clamp="gradient",
        head_reduce="mean", token_reduce="all", input_fit="squash", options=_options,
        summary="LeGrad: each block's own similarity, gradient to its attention, summed"))
for _family in _DUAL:
    register_recipe(Recipe(
        "gradeclip", _family, "gradeclip", GRAD_ECLIP, "grad_eclip (withksim=True)",
        score="cosine", tensor="last attention output", input_fit="squash",
        summary="Grad-ECLIP with the model's own heads in the last attention"))
    register_recipe(Recipe(
        "rollout", _family, "rollout", "Abnar & Zuidema 2020", "attention rollout",
        tensor="self-attention", input_fit="squash",
        options={"discard_ratio": 0.0, "renorm": "rows"},
        summary="attention rollout as in the paper: mean heads, (A + I) / 2, rows to 1"))
    register_recipe(Recipe(
        "vit-explain", _family, "rollout", VIT_EXPLAIN, "rollout", tensor="self-attention",
        input_fit="squash",
        options={"discard_ratio": 0.9, "renorm": "vit-explain"},
        summary="vit-explain's rollout defaults: 90 % discarded, its broadcast renorm"))
for _family in (*_BLIP, "albef"):
    register_recipe(Recipe(
        "bimodal", _family, "bimodal", CHEFER_MM, "GeneratorOurs.generate_ours (use_lrp=False)",
        score="itm", tensor="self- and cross-attention", clamp="product", head_reduce="mean",
        token_reduce="cls", input_fit="squash",
        summary="Chefer bi-modal relevance: image and text self-attention, text-to-image "
                "co-attention rules"))
register_recipe(Recipe(
    "gem", "clip", "gem", GEM, "SelfSelfAttention, GEMResidualBlock, GEMWrapper.forward",
    score="cosine", tensor="self-self attention", input_fit="squash",
    summary="GEM: the last 6 blocks' self-self attention stream, patch-text cosine"))
register_recipe(Recipe(
    "gradcam", "blip2-itm", "gradcam", VISTA, "vista.explain.blip2.run_gradcam", score="itm",
    tensor="cross-attention", block=-1, clamp="gradient", head_reduce="mean",
    token_reduce="queries", input_fit="squash",
    summary="LAVIS compute_gradcam arithmetic on the last Q-Former cross-attention, "
            "mean over the query tokens"))
