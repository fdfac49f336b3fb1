"""CLIP ViT: where the image encoder looks for the image-text similarity.

Recipes (:mod:`vista.explain.catalog`): ``chefer`` (the default: Chefer's CLIP
notebook, relevance of the last block, ViT-B/32, CLIP's crop), ``chefer-pad`` (the
same on the image padded to a square), ``gradcam`` and ``relevance`` (vista 0.1.0's
two methods; ``vista-0.1`` is ``gradcam``). Two methods:

``"gradcam"``
    captum-style Grad-CAM (:func:`vista.explain.cam.gradcam_tokens`) on the token
    features entering the last vision block: the output of that block's
    ``layer_norm1`` (OpenAI's ``ln_1``; ``blocks[-1].norm1`` in pytorch-grad-cam's
    ViT recipe). The score is ``logits_per_image`` for the text: ``logit_scale`` times
    the cosine between the projected CLS embedding (after ``post_layernorm``, which
    lies in the score path, not in the activation) and the text embedding. The
    block *output* is not used: only its CLS token reaches the pooled embedding, so
    the gradient of every patch token there is exactly zero.
``"relevance"``
    Chefer et al. 2021 relevance propagation through the self-attention of every
    vision block (:func:`vista.explain.relevance.cls_relevance_map`).

The image is encoded once per call; the text embeddings of all texts are one batch.
The per-text gradients come from one vectorised backward pass
(``torch.autograd.grad(..., is_grads_batched=True)``) from the ``T`` similarities to
the captured tensors only, through the blocks from the explained one upwards: the
cost is one vision forward plus ``T`` backward passes batched together (for
``"relevance"`` through all blocks from ``start_block``, for ``"gradcam"`` through
the last block only). The authors' notebook instead repeats the image ``T`` times
and runs ``T`` vision forwards. Parameters are frozen; the graph starts at the
captured tensor, so nothing below it is differentiated.

When the explained tensor lies in the last block (``gradcam`` at ``block=-1``,
``relevance`` from ``start_block=-1``: the recipes ``gradcam``, ``vista-0.1``,
``chefer`` and ``chefer-pad``), the blocks below run once without a graph and the
last block is computed for the ``[CLS]`` query only (:func:`cls_tail`): the pooled
embedding reads nothing else of it (every other token's output is discarded by the
pooling, so its attention row, MLP and gradient are exactly zero work). Same
modules, same arithmetic, restricted to the one row that reaches the score; the
backward pass per text then costs the keys and values of the last block instead of
the whole block.

Input fit (:mod:`vista.explain.fit`): ``"squash"`` resizes the whole image to the
square input (aspect not kept); ``"crop"`` is CLIP's own preprocessing (shorter side
to the input size, bicubic, centre crop) and the margins outside the crop get
``margin_fill``; ``"pad"`` pads to a square with the mean colour first.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_option, require
from .base import Explainer, check_options, resolve_block, torch_call_scope
from .cam import gradcam_tokens
from .fit import INPUT_FITS, fit_image, place_on_image
from .hooks import batched_grads, capture_hook, leaf_hook, run_with_hooks
from .relevance import cls_relevance_map
from .text import OVERFLOW_CHOICES, finish_texts, tokenize_texts
from .weights import LoadedModel

__all__ = ["METHODS", "ClipExplainer", "build_gradcam", "build_relevance", "cls_tail"]

METHODS = ("gradcam", "relevance")


class ClipExplainer(Explainer):
    """Grad-CAM or relevance maps of a CLIP ViT for the image-text similarity.

    Built by :func:`load_clip` (``load_explainer("clip", ...)``); see the module
    docstring for the maths.
    """

    def __init__(self, loaded: LoadedModel, *, method: str, block: int, start_block: int,
                 overflow: str, input_fit: str = "squash", margin_fill: float = 0.0) -> None:
        super().__init__(loaded, method=method)
        self.input_fit = input_fit
        self.margin_fill = margin_fill
        model = loaded.model
        self.overflow = overflow
        vcfg = model.config.vision_config
        self.input_size = int(vcfg.image_size)
        side = self.input_size // int(vcfg.patch_size)
        self.grid = (side, side)
        self.token_limit = int(model.config.text_config.max_position_embeddings)
        self.block = block
        self.start_block = start_block
        common: dict[str, Any] = {
            "score": "similarity",
            "score_meaning": "logits_per_image (logit_scale * cosine of projected embeddings)",
            "input_size": [self.input_size, self.input_size],
            "input_fit": input_fit,
            "grid": list(self.grid),
            "overflow": overflow,
        }
        if input_fit == "crop":
            common["margin_fill"] = margin_fill
        if method == "gradcam":
            self.options = {
                "block": block,
                "layer": f"vision_model.encoder.layers[{block}].layer_norm1 output",
                "relu": True,
                **common,
            }
        else:
            self.options = {"start_block": start_block, "clamp": "product",
                            "head_reduce": "mean", **common}

    def _explain_batch(
        self, image: np.ndarray, texts: list[str]
    ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        torch = require("torch", "explain")

        model = self.model
        with torch_call_scope():
            pixels, placement = self._pixels(image)
            enc, owners, infos = tokenize_texts(
                self.tokenizer, texts, limit=self.token_limit, overflow=self.overflow
            )
            for info in infos:
                info.update(placement)
            with torch.no_grad():
                text = model.get_text_features(
                    input_ids=enc["input_ids"].to(self.device),
                    attention_mask=enc["attention_mask"].to(self.device),
                ).pooler_output
                text = text / text.norm(dim=-1, keepdim=True)

            emb, leaves, attentions = self._image_embedding(pixels)
            emb = emb / emb.norm(dim=-1, keepdim=True)
            scores = model.logit_scale.exp() * (text @ emb[0])  # (rows,)
            rows = scores.shape[0]
            grads = batched_grads(scores, leaves if self.method == "gradcam" else attentions)
            if self.method == "gradcam":
                act = leaves[0].detach().expand(rows, -1, -1)
                maps = gradcam_tokens(act, grads[0][:, 0], relu=True, grid=self.grid)
            else:
                attn = [_square(a.detach().expand(rows, -1, -1, -1)) for a in attentions]
                maps = cls_relevance_map(attn, [_square(g[:, 0]) for g in grads],
                                         grid=self.grid)
        values = scores.detach().cpu().double().numpy()
        return finish_texts(maps, values, enc, owners, infos, texts=texts, score_name="similarity")

    def _image_embedding(self, pixels: Any) -> tuple[Any, list[Any], list[Any]]:
        """The projected image embedding (not normalised) with the explained tensors
        in its graph: the ``layer_norm1`` output of the Grad-CAM block, or the
        attention probabilities of every block from ``start_block``."""
        model = self.model
        layers = model.vision_model.encoder.layers
        first = self.block if self.method == "gradcam" else self.start_block
        if first == len(layers) - 1:
            return cls_tail(model, pixels, explain=self.method)
        leaves: list[Any] = []
        attentions: list[Any] = []
        hooks = [(layers[first].layer_norm1, "forward", leaf_hook(leaves))]
        if self.method == "relevance":
            hooks += [(layer.self_attn, "forward", capture_hook(attentions, 1))
                      for layer in layers[first:]]
        emb = run_with_hooks(
            lambda: model.get_image_features(pixel_values=pixels).pooler_output, hooks)
        return emb, leaves, attentions

    def _pixels(self, image: np.ndarray) -> tuple[Any, dict[str, Any]]:
        """The model input and where it lies on the image (for ``crop`` and ``pad``)."""
        torch = require("torch", "explain")
        from PIL import Image

        if self.input_fit == "squash":
            pixels = self.image_processor(
                images=Image.fromarray(image),
                return_tensors="pt",
                do_center_crop=False,
                size={"height": self.input_size, "width": self.input_size},
            )["pixel_values"]
            return pixels.to(self.device), {}
        proc = self.image_processor
        arr, placement = fit_image(image, self.input_size, self.input_fit, proc.image_mean,
                                   proc.image_std)
        return torch.from_numpy(arr).to(self.device), placement

    def _to_image(self, values: np.ndarray, shape: tuple[int, int],
                  params: dict[str, Any]) -> np.ndarray:
        return place_on_image(values, shape, params, fill=self.margin_fill,
                              postprocess=self.postprocess)


def _build(loaded: LoadedModel, choices: dict[str, Any], method: str) -> ClipExplainer:
    common = ("score", "tensor", "input_fit", "margin_fill", "overflow")
    allowed = {"gradcam": (*common, "block"),
               "relevance": (*common, "start_block", "clamp", "head_reduce")}
    check_options(choices, allowed[method], context=f"clip {method}")
    check_option("score", choices.get("score", "similarity"), ("similarity",))
    tensor = "layer_norm1" if method == "gradcam" else "self-attention"
    check_option("tensor", choices.get("tensor", tensor), (tensor,))
    if method == "relevance":
        check_option("clamp", choices.get("clamp", "product"), ("product",))
        check_option("head_reduce", choices.get("head_reduce", "mean"), ("mean",))
    fit = check_option("input_fit", choices.get("input_fit", "squash"), INPUT_FITS)
    margin_fill = float(choices.get("margin_fill", 0.0))
    if not np.isfinite(margin_fill):
        raise ValueError(f"margin_fill must be a finite number; got {margin_fill}")
    n_layers = int(loaded.model.config.vision_config.num_hidden_layers)
    return ClipExplainer(
        loaded,
        method=method,
        block=resolve_block("block", choices.get("block", -1), n_layers),
        start_block=resolve_block("start_block", choices.get("start_block", 0), n_layers),
        overflow=check_option("overflow", choices.get("overflow", "truncate"), OVERFLOW_CHOICES),
        input_fit=fit,
        margin_fill=margin_fill,
    )


def build_gradcam(loaded: LoadedModel, choices: dict[str, Any]) -> ClipExplainer:
    """The ``gradcam`` method of ``clip``.

    ``choices``: ``block`` (0-based vision block whose ``layer_norm1`` output is
    explained, negative counts from the end; default -1), ``input_fit``,
    ``overflow`` (``"truncate"`` or ``"split"`` a text longer than the 77-token
    limit; split pieces are explained separately and their maps averaged, weighted
    by text tokens).
    """
    return _build(loaded, choices, "gradcam")


def build_relevance(loaded: LoadedModel, choices: dict[str, Any]) -> ClipExplainer:
    """The ``relevance`` method of ``clip``.

    ``choices``: ``start_block`` (first block the relevance is propagated through,
    negative counts from the end: 0 is every block, as in the paper; -1 the last
    block only, as Chefer's CLIP notebook), ``input_fit``, ``overflow``.
    """
    return _build(loaded, choices, "relevance")


def cls_tail(model: Any, pixels: Any, *, explain: str) -> tuple[Any, list[Any], list[Any]]:
    """The projected image embedding of a transformers ``CLIPModel``, its last vision
    block computed for the ``[CLS]`` query only.

    The blocks below the last run without an autograd graph. The last block is
    ``CLIPEncoderLayer.forward`` with ``eager_attention_forward`` (same modules, same
    order of operations: ``q·kᵀ`` times ``scale``, softmax in float32, ``out_proj``,
    residual, ``layer_norm2``, ``mlp``, residual) for the one query row the pooled
    output reads, then ``post_layernorm`` and ``visual_projection`` as
    ``get_image_features``. Equal to ``get_image_features(pixel_values=pixels)``
    (``tests/test_explain_clip_tail.py``).

    Parameters
    ----------
    model : transformers.CLIPModel
    pixels : torch.Tensor, shape (1, 3, S, S)
    explain : {"gradcam", "relevance"}
        Which tensor is made a leaf of the graph: the ``layer_norm1`` output of the
        last block (all tokens: keys and values read them) for Grad-CAM, or the
        ``[CLS]`` row of its attention probabilities for relevance.

    Returns
    -------
    (embedding (1, D), [ln1 leaf (1, T, d)] or [], [attention (1, H, 1, T)] or [])
        For relevance, the ``[CLS]`` row of the attention probabilities, a leaf of
        the graph: with one block, the relevance map reads only that row
        (``R = I + Ā`` and the map is ``R[0, 1:]``; see
        :func:`vista.explain.relevance.cls_relevance_map`).
    """
    torch = require("torch", "explain")
    vision = model.vision_model
    layers = vision.encoder.layers
    with torch.no_grad():
        hidden = vision.pre_layrnorm(vision.embeddings(pixels))
        for layer in layers[:-1]:
            out = layer(hidden, None)
            hidden = out[0] if isinstance(out, tuple) else out
    last = layers[-1]
    attn = last.self_attn
    with torch.no_grad():
        normed = last.layer_norm1(hidden)
    leaf = normed.requires_grad_(explain == "gradcam")
    batch, _, width = leaf.shape
    heads = width // attn.head_dim

    def split(x: Any) -> Any:
        return x.view(batch, x.shape[1], heads, attn.head_dim).transpose(1, 2)

    query = split(attn.q_proj(leaf[:, :1]))
    keys, values = split(attn.k_proj(leaf)), split(attn.v_proj(leaf))
    probs = torch.nn.functional.softmax(torch.matmul(query, keys.transpose(-1, -2)) * attn.scale,
                                        dim=-1, dtype=torch.float32).to(query.dtype)
    if explain == "relevance":
        probs = probs.detach().requires_grad_(True)
    context = torch.matmul(probs, values).transpose(1, 2).reshape(batch, 1, width)
    state = hidden[:, :1] + attn.out_proj(context)
    state = state + last.mlp(last.layer_norm2(state))
    emb = model.visual_projection(vision.post_layernorm(state[:, 0]))
    return (emb, [leaf], []) if explain == "gradcam" else (emb, [], [probs])


def _square(rows: Any) -> Any:
    """An attention tensor (B, H, Q, T) with Q = 1 (the ``[CLS]`` row of
    :func:`cls_tail`) padded with zero rows to (B, H, T, T); others as they are."""
    torch = require("torch", "explain")
    if rows.shape[-2] != 1 or rows.shape[-1] == 1:
        return rows
    return torch.nn.functional.pad(rows, (0, 0, 0, rows.shape[-1] - 1))

