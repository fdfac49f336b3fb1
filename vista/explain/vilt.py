"""ViLT: Grad-CAM on the text-to-image-patch self-attention for the ITM score.

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

from .._validation import check_option, require
from .base import Explainer, check_options, resolve_block, torch_call_scope
from .cam import CLAMP_CHOICES, gradcam_attention
from .hooks import attention_and_gradient
from .text import OVERFLOW_CHOICES, finish_texts, text_token_mask, tokenize_texts
from .weights import LoadedModel

__all__ = ["ViltExplainer", "build_gradcam"]

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
            embeds, image_mask, rows, cols, grid = self._image_tokens(pixels, pixel_mask)
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

    def _image_tokens(self, pixels: Any, pixel_mask: Any) -> tuple[Any, ...]:
        """Patch embeddings of one image in raster order: ``(embeds (1, 1+Np, D),
        token_mask (1, 1+Np), rows (Np,), cols (Np,), grid)``."""
        torch = require("torch", "explain")
        emb = self.model.vilt.embeddings
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
