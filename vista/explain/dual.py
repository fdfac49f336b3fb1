"""Dual encoders (CLIP, SigLIP) as the explanation methods see them, and the
explainer that runs a method on one.

A method (Grad-CAM, LeGrad, rollout, captum, ...) needs the same few things from
every image-text dual encoder: the pixels, the normalised text embeddings, the
vision blocks and their attention modules, how a block's tokens are pooled into an
image embedding, and the family's matching score. :class:`DualParts` holds them for
one loaded model; :class:`ClipParts` and :class:`vista.explain.siglip.SiglipParts`
fill them in. :class:`MethodExplainer` is the :class:`~vista.explain.base.Explainer`
whose ``_explain_batch`` calls a method's runner on the parts, so a method is
written once for every dual encoder.

A runner is ``run(parts, image, texts) -> (maps, scores, encoding, owners, infos)``;
``maps`` has one patch-grid map per text row (a text split into pieces has one
row per piece), ``scores`` the family score per row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._validation import require
from .base import Explainer, torch_call_scope
from .cam import gradcam_tokens
from .hooks import batched_grads, capture_hook, leaf_input_hook, remove_hooks
from .text import finish_texts, tokenize_texts

__all__ = ["DESCRIPTIVE", "DUAL_METHODS", "ClipParts", "DualParts", "MethodExplainer", "Runner",
           "method_options", "run_gradcam"]

#: ``run(parts, image, texts) -> (maps, scores, encoding, owners, infos)``
Runner = Callable[[Any, np.ndarray, list[str]], tuple[np.ndarray, np.ndarray, Any, list[int],
                                                       list[dict[str, Any]]]]


class DualParts:
    """The parts of a loaded dual encoder that explanation methods use.

    Attributes
    ----------
    model : torch.nn.Module
        The frozen model (eager attention, so attention probabilities are returned).
    tokenizer, image_processor
        Its processors.
    device : str
        Torch device.
    input_size : int
        Side of the square model input.
    grid : tuple of int
        Patch grid (rows, cols).
    n_prefix : int
        Leading image tokens that are not patches (1: CLIP's CLS; 0: SigLIP).
    score_name : str
        What :meth:`score` returns, for the maps' params.
    """

    model: Any
    tokenizer: Any
    image_processor: Any
    device: str
    input_size: int
    grid: tuple[int, int]
    n_prefix: int
    score_name: str

    def __init__(self, loaded: Any) -> None:
        self.model = model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.image_processor = loaded.image_processor
        self.device = loaded.device
        vcfg = model.config.vision_config
        self.input_size = int(vcfg.image_size)
        side = self.input_size // int(vcfg.patch_size)
        self.grid = (side, side)

    @property
    def vision(self) -> Any:
        """The vision tower (``embeddings``, ``encoder.layers``, ...)."""
        return self.model.vision_model

    def layers(self) -> Sequence[Any]:
        """The vision blocks, in forward order."""
        return list(self.vision.encoder.layers)

    def attention(self, layer: Any) -> Any:
        """The module of ``layer`` whose output ``[1]`` is the attention probabilities."""
        return layer.self_attn

    def pixels(self, image: np.ndarray) -> Any:
        """The whole image squashed to the square input (batch 1, on the device)."""
        from PIL import Image

        return self.image_processor(
            images=Image.fromarray(image),
            return_tensors="pt",
            do_center_crop=False,
            size={"height": self.input_size, "width": self.input_size},
        )["pixel_values"].to(self.device)

    def texts(self, texts: list[str]) -> tuple[dict[str, Any], list[int], list[dict[str, Any]], Any]:
        """``(encoding, owners, infos, embeddings)``: the normalised text embeddings,
        one row per piece, without a graph."""
        raise NotImplementedError

    def image_embedding(self, pixels: Any) -> Any:
        """The normalised image embedding the family scores, (B, D)."""
        emb = self.model.get_image_features(pixel_values=pixels).pooler_output
        return emb / emb.norm(dim=-1, keepdim=True)

    def pool(self, hidden: Any) -> tuple[Any, Any]:
        """A block's output tokens as a normalised image embedding (B, D), LeGrad's
        intermediate embedding, and the pooling attention probabilities (None
        where the pooling has no attention)."""
        raise NotImplementedError

    def score(self, image_embedding: Any, text_embeddings: Any) -> Any:
        """The family's matching score, (B images, rows)."""
        raise NotImplementedError

    def pool_projection(self, pooled: Any) -> Any:
        """The pooled vision feature as the (unnormalised) image embedding."""
        return pooled

    def final_embedding(self, hidden: Any) -> Any:
        """The normalised image embedding from the last block's output tokens (what
        :meth:`image_embedding` computes after the blocks)."""
        raise NotImplementedError

    def score_pixels(self, pixels: Any, text_embeddings: Any) -> Any:
        """The score of a batch of model inputs (n, 3, H, W) for every text row, (n, rows)."""
        return self.score(self.image_embedding(pixels), text_embeddings)


class ClipParts(DualParts):
    """CLIP (transformers ``CLIPModel``): score ``logit_scale * cosine``; LeGrad's
    pooling is ``visual_projection(post_layernorm(mean over all tokens))``."""

    n_prefix = 1
    score_name = "similarity"

    def texts(self, texts: list[str]) -> tuple[dict[str, Any], list[int], list[dict[str, Any]], Any]:
        torch = require("torch", "explain")
        limit = int(self.model.config.text_config.max_position_embeddings)
        enc, owners, infos = tokenize_texts(self.tokenizer, texts, limit=limit)
        with torch.no_grad():
            emb = self.model.get_text_features(
                input_ids=enc["input_ids"].to(self.device),
                attention_mask=enc["attention_mask"].to(self.device),
            ).pooler_output
        return enc, owners, infos, emb / emb.norm(dim=-1, keepdim=True)

    def pool_projection(self, pooled: Any) -> Any:
        return self.model.visual_projection(pooled)

    def final_embedding(self, hidden: Any) -> Any:
        emb = self.model.visual_projection(self.vision.post_layernorm(hidden[:, 0]))
        return emb / emb.norm(dim=-1, keepdim=True)

    def pool(self, hidden: Any) -> tuple[Any, Any]:
        feat = self.vision.post_layernorm(hidden.mean(dim=1))
        emb = self.model.visual_projection(feat)
        return emb / emb.norm(dim=-1, keepdim=True), None

    def score(self, image_embedding: Any, text_embeddings: Any) -> Any:
        return self.model.logit_scale.exp() * (image_embedding @ text_embeddings.T)


def run_gradcam(parts: DualParts, image: np.ndarray, texts: list[str], *, block: int) -> tuple[
        np.ndarray, np.ndarray, Any, list[int], list[dict[str, Any]]]:
    """captum-style Grad-CAM (:func:`vista.explain.cam.gradcam_tokens`) on the token
    features entering vision block ``block`` (its ``layer_norm1`` input, the block's
    input; the gradient starts there, the blocks below run without a graph)."""
    pixels = parts.pixels(image)
    enc, owners, infos, text = parts.texts(texts)
    layer = parts.layers()[block]
    leaves: list[Any] = []
    normed: list[Any] = []
    handles = [layer.register_forward_pre_hook(leaf_input_hook(leaves), with_kwargs=True),
               layer.layer_norm1.register_forward_hook(capture_hook(normed))]
    try:
        emb = parts.image_embedding(pixels)
    finally:
        remove_hooks(handles)
    scores = parts.score(emb, text)[0]
    (grad,) = batched_grads(scores, normed)
    act = normed[0].detach().expand(scores.shape[0], -1, -1)
    maps = gradcam_tokens(act, grad[:, 0], relu=True, n_prefix=parts.n_prefix, grid=parts.grid)
    return maps, scores.detach().cpu().double().numpy(), enc, owners, infos


#: The methods every dual encoder runs (and ``captum:NAME``, see
#: :mod:`vista.explain.attribution`), with their options and defaults.
DUAL_METHODS: dict[str, dict[str, Any]] = {
    "gradcam": {"block": -1},
    "legrad": {"block": -2, "correction": False, "threshold": 0.8, "post_norm": False},
    "rollout": {"head_fusion": "mean", "discard_ratio": 0.0, "renorm": "rows"},
    "gradeclip": {"heads": "model", "ksim": True},
    "gem": {"depth": 7, "iterations": 1, "template": "{}"},
}
#: Recipe fields that describe a method rather than set one of its options.
DESCRIPTIVE = ("input_fit", "score", "tensor", "clamp", "head_reduce", "token_reduce")


def method_options(method: str, choices: dict[str, Any], allowed: dict[str, Any]
                   ) -> dict[str, Any]:
    """``choices`` (a recipe's, with the overrides) as the method's options over its
    defaults; the recipe's descriptive fields are dropped (the image is always
    squashed to the square input), anything else unknown is one line naming the
    allowed options."""
    fit = choices.get("input_fit", "squash")
    if fit != "squash":
        raise ValueError(f"input_fit must be 'squash' for method {method!r}; got {fit!r}")
    given = {k: v for k, v in choices.items() if k not in DESCRIPTIVE}
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for method "
                         f"{method!r}; allowed: {', '.join(map(repr, allowed)) or 'none'}")
    return {**allowed, **given}


class MethodExplainer(Explainer):
    """An explainer that runs one method's runner on a family's parts.

    Parameters
    ----------
    loaded : LoadedModel
        The family's model as the registry loaded it.
    parts : DualParts or another family's parts object
        What the runner uses of the model.
    method : str
        The method's name, recorded in every map (``"legrad"``, ``"captum:Saliency"``).
    runner : callable
        ``runner(parts, image, texts) -> (maps, scores, encoding, owners, infos)``.
    options : dict
        Every choice the method fixed, recorded in the maps' params.
    """

    def __init__(self, loaded: Any, *, parts: Any, method: str, runner: Runner,
                 options: dict[str, Any]) -> None:
        super().__init__(loaded, method=method)
        self.parts = parts
        self.runner = runner
        self.options = {**options, "score": parts.score_name,
                        "input_size": [parts.input_size, parts.input_size],
                        "input_fit": "squash", "grid": list(parts.grid)}

    def _explain_batch(
        self, image: np.ndarray, texts: list[str]
    ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        with torch_call_scope():
            maps, scores, enc, owners, infos = self.runner(self.parts, image, texts)
        return finish_texts(maps, scores, enc, owners, infos, texts=texts,
                            score_name=self.parts.score_name)
