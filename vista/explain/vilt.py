"""ViLT: its own word-patch alignment (recipe ``ipot``, the default) or Grad-CAM on
the text-to-image-patch self-attention for the ITM score (recipes ``gradcam`` and
``vista-0.1``).

``ipot`` follows ViLT's ``demo.py``: the IPOT optimal-transport plan
(``vilt/modules/objectives.py``) between the final-layer text and image features;
each word's row over the patches with the demo's display normalisation; the text's
map is the mean of its words' maps (:class:`ViltAlignmentExplainer`).

Grad-CAM:

ViLT is single-stream: text tokens and image patches share every transformer
block. The map for a text is Grad-CAM on one block's attention probabilities,
restricted to the rows of the text's word tokens (queries) and the columns of the
image patch tokens (keys), for the image-text matching logit (``rank_output`` of
``ViltForImageAndTextRetrieval``), with the LAVIS recipe shared with BLIP and ALBEF
(:func:`vista.explain.cam.gradcam_attention`): gradient clamped at 0, times the
attention, mean over heads, mean over the word tokens (``[CLS]``, ``[SEP]`` and
padding excluded), image CLS column dropped, patch columns reshaped to the grid.

Default block: 10 of 0-11, the second-to-last. In the last block only the text
``[CLS]`` row reaches the ITM head (the pooler reads token 0), so the gradient on
every word-token row there is exactly zero and the map would be empty; block 10 is
the deepest block whose word-token rows reach the score. For a model with ``L``
blocks the default is ``L - 2``.

Patch grid: ViLT keeps the aspect ratio (shorter side 384, sides floored to a
multiple of 32), so the grid is ``(H // 32, W // 32)`` of the resized image and
differs between images. The patch embedding is computed once per image with the
model's own ``visual_embed`` (all valid patches, ``max_image_length=-1``; the
model's random patch order is undone, and the random generator is forked so the
caller's torch random state is untouched) and shared by all texts, which run as
one batch. Patch tokens outside the image's ``pixel_mask`` get 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_int, check_option, require
from .base import Explainer, check_options, resolve_block, torch_call_scope
from .cam import CLAMP_CHOICES, gradcam_attention
from .hooks import attention_and_gradient
from .precision import full_precision
from .text import OVERFLOW_CHOICES, finish_texts, text_token_mask, tokenize_texts
from .weights import LoadedModel

__all__ = ["IPOT_DEFAULTS", "ViltAlignmentExplainer", "ViltExplainer", "build_gradcam", "build_ipot",
           "demo_normalise", "ipot_plan", "patch_tokens"]

class ViltExplainer(Explainer):
    """Grad-CAM on ViLT's text-to-patch attention; built by :func:`load_vilt`."""

    def __init__(self, loaded: LoadedModel, *, block: int, clamp: str, overflow: str) -> None:
        super().__init__(loaded, method="gradcam")
        self.block = block
        self.clamp = clamp
        self.overflow = overflow
        self.token_limit = int(loaded.model.config.max_position_embeddings)
        self.options = {
            "block": block,
            "layer": f"vilt.encoder.layer[{block}].attention probabilities "
                     "(word-token rows x image-patch columns)",
            "score": "itm",
            "score_meaning": "ITM logit (rank_output)",
            "clamp": clamp,
            "head_reduce": "mean",
            "token_reduce": "text",
            "token_reduce_meaning": "mean over word tokens ([CLS], [SEP], padding excluded)",
            "patches": "all valid patches (max_image_length=-1), raster order",
            "overflow": overflow,
        }

    def _explain_batch(
        self, image: np.ndarray, texts: list[str]
    ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        torch = require("torch", "explain")
        from PIL import Image

        model = self.model
        with torch_call_scope():
            img = self.image_processor(images=Image.fromarray(image), return_tensors="pt")
            pixels = img["pixel_values"].to(self.device)
            pixel_mask = img["pixel_mask"].to(self.device)
            embeds, image_mask, rows, cols, grid = patch_tokens(self.model, pixels, pixel_mask)
            enc, owners, infos = tokenize_texts(
                self.tokenizer, texts, limit=self.token_limit, overflow=self.overflow
            )
            n_rows, n_text = enc["input_ids"].shape
            input_ids = enc["input_ids"].to(self.device)
            attention_mask = enc["attention_mask"].to(self.device)
            attention = model.vilt.encoder.layer[self.block].attention.attention

            def forward() -> Any:
                return model(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    image_embeds=embeds.expand(n_rows, -1, -1),
                    pixel_mask=image_mask.expand(n_rows, -1),
                    output_attentions=True,  # the probabilities are the module's output[1]
                ).logits[:, 0]

            # queries: the word tokens only (image rows get weight 0); keys: the
            # patches (text columns and the image CLS dropped as prefix)
            words = text_token_mask(enc)
            token_mask = torch.cat([words, torch.zeros(n_rows, embeds.shape[1])], dim=1)
            attn, grad, logit_rows = attention_and_gradient(
                forward, block=attention, attention=attention)
            cam = gradcam_attention(attn, grad, token_mask=token_mask, clamp=self.clamp,
                                    n_prefix=n_text + 1, grid=(1, rows.numel()))
        r, c = rows.cpu().numpy(), cols.cpu().numpy()
        piece_maps = np.zeros((n_rows, *grid), dtype=np.float32)
        piece_maps[:, r, c] = cam[:, 0, :]
        out, infos = finish_texts(piece_maps, logit_rows.cpu().double().numpy(), enc, owners,
                                  infos, texts=texts, score_name="itm_logit")
        for info in infos:
            info["grid"] = list(grid)
        return out, infos


def patch_tokens(model: Any, pixels: Any, pixel_mask: Any) -> tuple[Any, ...]:
    """Patch embeddings of one image in raster order (``model``: a ViLT model with
    or without a head): ``(embeds (1, 1+Np, D),
    token_mask (1, 1+Np), rows (Np,), cols (Np,), grid)``."""
    torch = require("torch", "explain")
    emb = getattr(model, "vilt", model).embeddings
    devices = [pixels.device] if pixels.device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices):
        x, x_mask, (patch_index, (gh, gw)) = emb.visual_embed(
            pixels, pixel_mask, max_image_length=-1
        )
    index = patch_index[0]  # (Np, 2): row, col of each patch token
    order = torch.argsort(index[:, 0] * int(gw) + index[:, 1])
    keep = torch.cat([torch.zeros(1, dtype=order.dtype, device=order.device), order + 1])
    embeds = x[:, keep]
    token_mask = x_mask[:, keep]
    index = index[order]
    return embeds, token_mask, index[:, 0], index[:, 1], (int(gh), int(gw))


def build_gradcam(loaded: LoadedModel, choices: dict[str, Any]) -> ViltExplainer:
    """The ``gradcam`` method of ``vilt``.

    ``choices``: ``block`` (0-based block whose attention is explained, negative
    counts from the end; default -2, i.e. ``L - 2``: see the module docstring),
    ``clamp`` (``"gradient"``: LAVIS, ``"product"``: Chefer et al., or ``"none"``),
    ``overflow`` (``"truncate"`` or ``"split"`` a text longer than the 40-token
    limit; split pieces are explained separately and their maps averaged, weighted
    by word tokens, which equals the mean over all the text's word rows).
    """
    check_options(choices, ("score", "tensor", "block", "clamp", "head_reduce", "token_reduce",
                            "input_fit", "overflow"), context="vilt gradcam")
    check_option("score", choices.get("score", "itm"), ("itm",))
    check_option("tensor", choices.get("tensor", "self-attention"), ("self-attention",))
    check_option("head_reduce", choices.get("head_reduce", "mean"), ("mean",))
    check_option("token_reduce", choices.get("token_reduce", "text"), ("text",))
    check_option("input_fit", choices.get("input_fit", "shorter-384"), ("shorter-384",))
    n_layers = int(loaded.model.config.num_hidden_layers)
    return ViltExplainer(
        loaded,
        block=resolve_block("block", choices.get("block", -2), n_layers),
        clamp=check_option("clamp", choices.get("clamp", "gradient"), CLAMP_CHOICES),
        overflow=check_option("overflow", choices.get("overflow", "truncate"), OVERFLOW_CHOICES),
    )


# --- ipot: ViLT's own word-patch alignment ----------------------------------------------

#: ``demo.py``'s call: ``ipot(cost, ..., beta=0.1, iteration=1000, k=1)``.
IPOT_DEFAULTS = {"beta": 0.1, "iterations": 1000, "inner": 1}


def ipot_plan(cost: Any, text_pad: Any, image_pad: Any, *, beta: float, iterations: int,
              inner: int) -> Any:
    """The IPOT transport plan (Xie et al. 2019), as ViLT's ``objectives.ipot``.

    Parameters
    ----------
    cost : torch.Tensor, shape (B, M, N)
        Cosine distance between text tokens (M) and image tokens (N), 0 where either
        is padding.
    text_pad, image_pad : torch.Tensor of bool, shapes (B, M), (B, N)
        True where a token does not take part.
    beta, iterations, inner : float, int, int
        Proximal step, outer and inner (Sinkhorn) iterations.

    Returns
    -------
    torch.Tensor, shape (B, N, M)
        The plan, image tokens first as ViLT returns it; 0 on padding.
    """
    torch = require("torch", "explain")
    b, m, n = cost.shape
    text_len = (~text_pad).sum(dim=1).to(cost.dtype)
    image_len = (~image_pad).sum(dim=1).to(cost.dtype)
    pad = (text_pad[:, :, None] | image_pad[:, None, :]).transpose(1, 2)  # (B, N, M)
    sigma = torch.ones(b, m, dtype=cost.dtype, device=cost.device) / text_len[:, None]
    sigma = sigma.masked_fill(text_pad, 0)
    plan = torch.ones(b, n, m, dtype=cost.dtype, device=cost.device).masked_fill(pad, 0)
    kernel = torch.exp(-cost.transpose(1, 2) / beta).masked_fill(pad, 0)
    text_big = (text_pad.to(cost.dtype) * 1e4)[:, None, :]
    image_big = (image_pad.to(cost.dtype) * 1e4)[:, None, :]
    tl, il = text_len[:, None, None], image_len[:, None, None]
    for _ in range(iterations):
        q = kernel * plan
        sigma = sigma.view(b, m, 1)
        for _ in range(inner):
            delta = 1 / (il * q.matmul(sigma).view(b, 1, n) + image_big)
            sigma = 1 / (tl * delta.matmul(q) + text_big)
        plan = delta.view(b, n, 1) * q * sigma
    return plan.masked_fill(pad, 0)


def demo_normalise(heatmap: Any) -> np.ndarray:
    """ViLT ``demo.py``'s display normalisation of one token's heatmap: z-score
    (``torch.std``, unbiased), clipped to [1, 3], min-max scaled. Where the clipped
    map is constant (no patch a standard deviation above the mean), the demo
    divides 0 by 0; vista returns zeros.

    Examples
    --------
    >>> demo_normalise(np.array([[0.0, 0.0, 0.0, 4.0]])).tolist()
    [[0.0, 0.0, 0.0, 1.0]]
    """
    arr = np.asarray(heatmap, dtype=np.float64)
    z = (arr - arr.mean()) / arr.std(ddof=1)
    z = np.clip(z, 1.0, 3.0)
    span = z.max() - z.min()
    return np.zeros_like(z) if span == 0 else (z - z.min()) / span


class ViltAlignmentExplainer(Explainer):
    """ViLT's word-patch alignment (``demo.py``): per text token, its row of the IPOT
    plan between the final-layer text and image features, on the patch grid, with
    the demo's display normalisation; the text's map is the mean of its tokens' maps
    (post-processed one by one). Built by :func:`build_ipot`.

    Summed over a text's tokens the plan would be its image marginal, uniform by
    construction, so the per-token normalisation is what makes a text map.
    """

    def __init__(self, loaded: LoadedModel, *, overflow: str, beta: float, iterations: int,
                 inner: int) -> None:
        super().__init__(loaded, method="ipot")
        model = loaded.model
        self.base = getattr(model, "vilt", model)
        self.overflow = overflow
        self.beta, self.iterations, self.inner = beta, iterations, inner
        self.token_limit = int(model.config.max_position_embeddings)
        self.options = {
            "score": "alignment",
            "score_meaning": "IPOT transport plan between final-layer text and image features",
            "tensor": "final-features",
            "token_reduce": "each",
            "token_reduce_meaning": "each word token's plan row, demo-normalised, averaged",
            "normalise": "demo",
            "normalise_meaning": "demo.py: z-score, clip [1, 3], min-max (per token)",
            "beta": beta, "iterations": iterations, "inner": inner,
            "patches": "all valid patches (max_image_length=-1), raster order",
            "overflow": overflow,
        }

    def _explain_batch(
        self, image: np.ndarray, texts: list[str]
    ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        torch = require("torch", "explain")
        from PIL import Image

        with torch_call_scope(), torch.no_grad():
            img = self.image_processor(images=Image.fromarray(image), return_tensors="pt")
            embeds, image_mask, rows, cols, grid = patch_tokens(
                self.model, img["pixel_values"].to(self.device), img["pixel_mask"].to(self.device))
            enc, owners, infos = tokenize_texts(self.tokenizer, texts, limit=self.token_limit,
                                                overflow=self.overflow)
            n_rows, n_text = enc["input_ids"].shape
            mask = enc["attention_mask"].to(self.device)
            hidden = self.base(input_ids=enc["input_ids"].to(self.device), attention_mask=mask,
                               image_embeds=embeds.expand(n_rows, -1, -1),
                               pixel_mask=image_mask.expand(n_rows, -1)).last_hidden_state
            words = text_token_mask(enc).bool().to(self.device)
            image_pad = ~image_mask.expand(n_rows, -1).bool().clone()
            image_pad[:, 0] = True  # the image CLS takes no part
            txt, img_feat = hidden[:, :n_text].float(), hidden[:, n_text:].float()
            with full_precision(self.device):  # the transport plan in float32 always
                cos = torch.nn.functional.normalize(txt, dim=-1, eps=1e-5) @ \
                    torch.nn.functional.normalize(img_feat, dim=-1, eps=1e-5).transpose(1, 2)
                cost = (1 - cos).masked_fill(~words[:, :, None] | image_pad[:, None, :], 0)
                plan = ipot_plan(cost, ~words, image_pad, beta=self.beta,
                                 iterations=self.iterations, inner=self.inner)
        r, c = rows.cpu().numpy(), cols.cpu().numpy()
        per_row = plan.transpose(1, 2)[:, :, 1:].cpu().double().numpy()  # (B, M, patches)
        keep = words.cpu().numpy()
        out = []
        for i in range(len(texts)):
            stack = []
            for row in (k for k, owner in enumerate(owners) if owner == i):
                for token in np.flatnonzero(keep[row]):
                    heat = np.zeros(grid)
                    heat[r, c] = per_row[row, token]
                    stack.append(demo_normalise(heat))
            out.append(np.asarray(stack, dtype=np.float32))
        for info, maps in zip(infos, out, strict=True):
            info["grid"] = list(grid)
            info["n_token_maps"] = int(maps.shape[0])
        return out, infos


def build_ipot(loaded: LoadedModel, choices: dict[str, Any]) -> ViltAlignmentExplainer:
    """The ``ipot`` method of ``vilt``: ``choices`` ``beta``, ``iterations``,
    ``inner`` (default ``demo.py``'s 0.1, 1000, 1) and ``overflow``."""
    check_options(choices, ("score", "tensor", "token_reduce", "input_fit", "overflow",
                            "normalise", *IPOT_DEFAULTS), context="vilt ipot")
    check_option("score", choices.get("score", "alignment"), ("alignment",))
    check_option("tensor", choices.get("tensor", "final-features"), ("final-features",))
    check_option("token_reduce", choices.get("token_reduce", "each"), ("each",))
    check_option("normalise", choices.get("normalise", "demo"), ("demo",))
    check_option("input_fit", choices.get("input_fit", "shorter-384"), ("shorter-384",))
    beta = float(choices.get("beta", IPOT_DEFAULTS["beta"]))
    if not beta > 0:
        raise ValueError(f"beta must be > 0; got {beta}")
    return ViltAlignmentExplainer(
        loaded,
        overflow=check_option("overflow", choices.get("overflow", "truncate"), OVERFLOW_CHOICES),
        beta=beta,
        iterations=check_int("iterations", choices.get("iterations", 1000), minimum=1),
        inner=check_int("inner", choices.get("inner", 1), minimum=1),
    )
