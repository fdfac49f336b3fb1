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
the last block only). Parameters are frozen; the graph starts at the captured
tensor, so nothing below it is differentiated.

The model helpers at the bottom (:func:`load_frozen`, :func:`weights_and_revision`,
:func:`tokenize_limited`, :func:`leaf_hook`) are shared with the ViLT and CLIPSeg
modules.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_int, check_option, require
from .base import Explainer, pick_device, resolve_weights, torch_call_scope
from .cam import gradcam_tokens
from .registry import register
from .relevance import cls_relevance_map

__all__ = ["METHODS", "PINNED_REVISIONS", "ClipExplainer", "load_clip"]

DEFAULT_WEIGHTS = "openai/clip-vit-base-patch16"

#: Hub commits the default weights are loaded at. ``None``: no commit could be
#: verified offline; the Hub's ``main`` is used and recorded as ``None``.
PINNED_REVISIONS: dict[str, str | None] = {
    "openai/clip-vit-base-patch16": "57c216476eefef5ab752ec549e440a49ae4ae5f3",
    "CIDAS/clipseg-rd64-refined": "999e0328d9e10b484360c477313983f9afdd7050",
    "CIDAS/clipseg-rd16": None,
    "dandelin/vilt-b32-finetuned-coco": None,
}

METHODS = ("gradcam", "relevance")
INPUT_FIT = "squash"  # the whole image resized to the square model input, no crop


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
        device: str,
    ) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.model_id = model_id
        self.revision = revision
        self.method = method
        self.device = device
        vcfg = model.config.vision_config
        self.input_size = int(vcfg.image_size)
        side = self.input_size // int(vcfg.patch_size)
        self.grid = (side, side)
        self.token_limit = int(model.config.text_config.max_position_embeddings)
        self.block = block
        self.start_block = start_block
        common = {
            "score": "logits_per_image (logit_scale * cosine of projected embeddings)",
            "token_limit": self.token_limit,
            "input_size": [self.input_size, self.input_size],
            "input_fit": INPUT_FIT,
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
            self.options = {"start_block": start_block, "clamp": "product", "head_reduce": "mean",
                            **common}

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
            enc, infos = tokenize_limited(self.tokenizer, texts, self.token_limit, self.device)
            with torch.no_grad():
                text = model.get_text_features(**enc).pooler_output
                text = text / text.norm(dim=-1, keepdim=True)

            layers = model.vision_model.encoder.layers
            first = self.block if self.method == "gradcam" else self.start_block
            leaves: list[Any] = []
            attentions: list[Any] = []
            handles = [layers[first].layer_norm1.register_forward_hook(leaf_hook(leaves))]
            try:
                if self.method == "relevance":
                    for layer in layers[first:]:
                        handles.append(
                            layer.self_attn.register_forward_hook(_attention_hook(attentions))
                        )
                emb = model.get_image_features(pixel_values=pixels).pooler_output
            finally:
                for handle in handles:
                    handle.remove()
            emb = emb / emb.norm(dim=-1, keepdim=True)
            scores = model.logit_scale.exp() * (text @ emb[0])  # (T,)
            n = len(texts)
            eye = torch.eye(n, dtype=scores.dtype, device=scores.device)
            targets = leaves if self.method == "gradcam" else attentions
            grads = torch.autograd.grad(scores, targets, grad_outputs=eye, is_grads_batched=True)
            if self.method == "gradcam":
                act = leaves[0].detach().expand(n, -1, -1)
                maps = gradcam_tokens(act, grads[0][:, 0], relu=True, grid=self.grid)
            else:
                attn = [a.detach().expand(n, -1, -1, -1) for a in attentions]
                maps = cls_relevance_map(attn, [g[:, 0] for g in grads], grid=self.grid)
        values = scores.detach().cpu().tolist()
        for info, score in zip(infos, values, strict=True):
            info["score"] = float(score)
        return list(maps), infos


def _attention_hook(store: list[Any]) -> Callable[..., None]:
    """A forward hook that keeps a CLIP attention module's probabilities."""

    def hook(module: Any, args: Any, output: Any) -> None:
        if output[1] is None:
            raise RuntimeError("attention probabilities are not returned; load the model "
                               "with attn_implementation='eager'")
        store.append(output[1])

    return hook


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
        image processor). Default ``openai/clip-vit-base-patch16`` at the commit in
        :data:`PINNED_REVISIONS`.
    device : str, optional
        Torch device; cuda when available.
    method : {"gradcam", "relevance"}, optional
        Default ``"gradcam"``.
    **options
        ``block`` (gradcam): 0-based vision block whose ``layer_norm1`` output is
        explained, negative counts from the end; default -1 (the last block).
        ``start_block`` (relevance): first block the relevance is propagated
        through; default 0 (all blocks, as in the paper). ``revision``: Hub commit
        for a Hub id (default: the pinned one).

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
    allowed = {"gradcam": ("block", "revision"), "relevance": ("start_block", "revision")}
    check_options(options, allowed[method], context=f"clip with method={method!r}")
    model_id, revision, folder = weights_and_revision(weights, DEFAULT_WEIGHTS, options)
    dev = pick_device(device)
    impl = "eager" if method == "relevance" else None
    model = load_frozen(transformers.CLIPModel, folder, device=dev, attn_implementation=impl)
    n_layers = int(model.config.vision_config.num_hidden_layers)
    block = resolve_block("block", options.get("block", -1), n_layers)
    start_block = resolve_block("start_block", options.get("start_block", 0), n_layers)
    return ClipExplainer(
        name=name,
        model=model,
        tokenizer=transformers.AutoTokenizer.from_pretrained(folder),
        image_processor=transformers.AutoImageProcessor.from_pretrained(folder, backend="pil"),
        model_id=model_id,
        revision=revision,
        method=method,
        block=block,
        start_block=start_block,
        device=dev,
    )


# --- helpers shared by the CLIP, CLIPSeg and ViLT modules -------------------------


def check_options(options: dict[str, Any], allowed: tuple[str, ...], *, context: str) -> None:
    """Raise a ValueError naming any option not in ``allowed``.

    Examples
    --------
    >>> check_options({"block": 3}, ("block",), context="clip")
    >>> check_options({"blok": 3}, ("block",), context="clip")
    Traceback (most recent call last):
    ...
    ValueError: unknown option(s) 'blok' for clip; allowed: 'block'
    """
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        names = ", ".join(repr(u) for u in unknown)
        known = ", ".join(repr(a) for a in allowed) or "none"
        raise ValueError(f"unknown option(s) {names} for {context}; allowed: {known}")


def resolve_block(name: str, value: Any, n_layers: int) -> int:
    """A 0-based block index (negative counts from the end) as a non-negative int.

    Examples
    --------
    >>> resolve_block("block", -1, 12)
    11
    >>> resolve_block("block", 12, 12)
    Traceback (most recent call last):
    ...
    ValueError: block must be in [-12, 11] for a model with 12 blocks; got 12
    """
    index = check_int(name, value)
    if not -n_layers <= index < n_layers:
        raise ValueError(
            f"{name} must be in [{-n_layers}, {n_layers - 1}] for a model with "
            f"{n_layers} blocks; got {index}"
        )
    return index % n_layers


def weights_and_revision(
    weights: str | None, default: str, options: dict[str, Any]
) -> tuple[str, str | None, str]:
    """``(model_id, revision, local_folder)`` for ``weights`` (default ``default``).

    A local folder has revision ``None``; a Hub id is loaded at ``options["revision"]``
    or its pinned commit (:data:`PINNED_REVISIONS`).
    """
    model_id = default if weights is None else str(weights)
    local = Path(model_id).expanduser().exists()
    revision = None if local else options.get("revision", PINNED_REVISIONS.get(model_id))
    folder = resolve_weights(str(Path(model_id).expanduser()) if local else model_id, revision)
    return model_id, revision, folder


def load_frozen(
    model_cls: Any, folder: str, *, device: str, attn_implementation: str | None = None
) -> Any:
    """``model_cls.from_pretrained(folder)`` in eval mode, parameters frozen, on ``device``."""
    kwargs = {} if attn_implementation is None else {"attn_implementation": attn_implementation}
    model = model_cls.from_pretrained(folder, **kwargs)
    model.eval()
    model.requires_grad_(False)
    return model.to(device)


def tokenize_limited(
    tokenizer: Any, texts: list[str], limit: int, device: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Tokenize ``texts`` as one padded batch, truncated to ``limit`` tokens.

    Truncation keeps the special tokens (start and end) and drops the text tokens
    past the limit. Each text's info records ``n_tokens`` (its length with special
    tokens before truncation) and ``truncated``.
    """
    full = tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False)
    infos = []
    for ids in full["input_ids"]:
        infos.append({"n_tokens": len(ids), "truncated": len(ids) > limit})
    enc = tokenizer(
        texts, padding=True, truncation=True, max_length=limit, return_tensors="pt"
    )
    return {k: v.to(device) for k, v in enc.items()}, infos


def leaf_hook(store: list[Any]) -> Callable[..., Any]:
    """A forward hook that replaces a module's output by a detached copy that
    requires grad, and keeps it: the backward pass starts there and goes no lower."""

    def hook(module: Any, args: Any, output: Any) -> Any:
        leaf = output.detach().requires_grad_(True)
        store.append(leaf)
        return leaf

    return hook
