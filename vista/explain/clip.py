"""CLIP ViT: where the image encoder looks for the image-text similarity.

Two methods, picked at load time:

``"gradcam"`` (default)
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

The whole image is resized to the square model input (no centre crop, aspect not
kept) so that the map covers every pixel; CLIP's own preprocessing crops the
centre square.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_option, require
from .base import (
    OVERFLOW_CHOICES,
    Explainer,
    capture_hook,
    check_options,
    finish_texts,
    leaf_hook,
    load_frozen,
    load_processors,
    pick_device,
    registered_weights,
    remove_hooks,
    resolve_block,
    tokenize_texts,
    torch_call_scope,
)
from .cam import gradcam_tokens
from .registry import register
from .relevance import cls_relevance_map

__all__ = ["METHODS", "ClipExplainer", "load_clip"]

METHODS = ("gradcam", "relevance")


class ClipExplainer(Explainer):
    """Grad-CAM or relevance maps of a CLIP ViT for the image-text similarity.

    Built by :func:`load_clip` (``load_explainer("clip", ...)``); see the module
    docstring for the maths.
    """

    def __init__(
        self,
        *,
        name: str,
        model: Any,
        tokenizer: Any,
        image_processor: Any,
        model_id: str,
        revision: str | None,
        method: str,
        block: int,
        start_block: int,
        overflow: str,
        device: str,
    ) -> None:
        super().__init__(
            name=name,
            model=model,
            tokenizer=tokenizer,
            image_processor=image_processor,
            model_id=model_id,
            revision=revision,
            method=method,
            device=device,
        )
        self.overflow = overflow
        vcfg = model.config.vision_config
        self.input_size = int(vcfg.image_size)
        side = self.input_size // int(vcfg.patch_size)
        self.grid = (side, side)
        self.token_limit = int(model.config.text_config.max_position_embeddings)
        self.block = block
        self.start_block = start_block
        common = {
            "score": "logits_per_image (logit_scale * cosine of projected embeddings)",
            "input_size": [self.input_size, self.input_size],
            "input_fit": "squash",
            "grid": list(self.grid),
        }
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
        from PIL import Image

        model = self.model
        with torch_call_scope():
            pixels = self.image_processor(
                images=Image.fromarray(image),
                return_tensors="pt",
                do_center_crop=False,
                size={"height": self.input_size, "width": self.input_size},
            )["pixel_values"].to(self.device)
            enc, owners, infos = tokenize_texts(
                self.tokenizer, texts, limit=self.token_limit, overflow=self.overflow
            )
            with torch.no_grad():
                text = model.get_text_features(
                    input_ids=enc["input_ids"].to(self.device),
                    attention_mask=enc["attention_mask"].to(self.device),
                ).pooler_output
                text = text / text.norm(dim=-1, keepdim=True)

            layers = model.vision_model.encoder.layers
            first = self.block if self.method == "gradcam" else self.start_block
            leaves: list[Any] = []
            attentions: list[Any] = []
            handles = [layers[first].layer_norm1.register_forward_hook(leaf_hook(leaves))]
            try:
                if self.method == "relevance":
                    handles += [
                        layer.self_attn.register_forward_hook(capture_hook(attentions, 1))
                        for layer in layers[first:]
                    ]
                emb = model.get_image_features(pixel_values=pixels).pooler_output
            finally:
                remove_hooks(handles)
            emb = emb / emb.norm(dim=-1, keepdim=True)
            scores = model.logit_scale.exp() * (text @ emb[0])  # (rows,)
            rows = scores.shape[0]
            eye = torch.eye(rows, dtype=scores.dtype, device=scores.device)
            targets = leaves if self.method == "gradcam" else attentions
            grads = torch.autograd.grad(scores, targets, grad_outputs=eye, is_grads_batched=True)
            if self.method == "gradcam":
                act = leaves[0].detach().expand(rows, -1, -1)
                maps = gradcam_tokens(act, grads[0][:, 0], relu=True, grid=self.grid)
            else:
                attn = [a.detach().expand(rows, -1, -1, -1) for a in attentions]
                maps = cls_relevance_map(attn, [g[:, 0] for g in grads], grid=self.grid)
        values = scores.detach().cpu().double().numpy()
        return finish_texts(maps, values, enc, owners, infos, texts=texts, score_name="similarity")


@register("clip")
def load_clip(
    name: str,
    *,
    weights: str | None = None,
    device: str | None = None,
    method: str | None = None,
    **options: Any,
) -> ClipExplainer:
    """Load the ``clip`` explainer.

    Parameters
    ----------
    name : str
        Registry name (``"clip"``).
    weights : str, optional
        Hugging Face id or local folder in Hugging Face layout (model, tokenizer and
        image processor). Default ``openai/clip-vit-base-patch16`` at the registry's
        pinned commit.
    device : str, optional
        Torch device; cuda when available.
    method : {"gradcam", "relevance"}, optional
        Default ``"gradcam"``.
    **options
        ``block`` (gradcam): 0-based vision block whose ``layer_norm1`` output is
        explained, negative counts from the end; default -1 (the last block).
        ``start_block`` (relevance): first block the relevance is propagated
        through; default 0 (all blocks, as in the paper). ``overflow``:
        ``"truncate"`` (default) or ``"split"`` a text longer than the 77-token
        limit (see :func:`vista.explain.base.tokenize_texts`; split pieces are
        explained separately and their maps averaged, weighted by text tokens).
        ``revision``: Hub commit for a Hub id (default: the pinned one).

    Returns
    -------
    ClipExplainer

    Raises
    ------
    ValueError
        On an unknown method or option, or a block out of range.
    """
    transformers = require("transformers", "explain")
    method = check_option("method", "gradcam" if method is None else method, METHODS)
    allowed = {"gradcam": ("block", "overflow", "revision"),
               "relevance": ("start_block", "overflow", "revision")}
    check_options(options, allowed[method], context=f"clip with method={method!r}")
    overflow = check_option("overflow", options.get("overflow", "truncate"), OVERFLOW_CHOICES)
    model_id, revision, folder = registered_weights(name, weights, options.get("revision"))
    dev = pick_device(device)
    impl = "eager" if method == "relevance" else None
    model = load_frozen(transformers.CLIPModel, folder, device=dev, attn_implementation=impl)
    n_layers = int(model.config.vision_config.num_hidden_layers)
    tokenizer, image_processor = load_processors(folder)
    return ClipExplainer(
        name=name,
        model=model,
        tokenizer=tokenizer,
        image_processor=image_processor,
        model_id=model_id,
        revision=revision,
        method=method,
        block=resolve_block("block", options.get("block", -1), n_layers),
        start_block=resolve_block("start_block", options.get("start_block", 0), n_layers),
        overflow=overflow,
        device=dev,
    )
