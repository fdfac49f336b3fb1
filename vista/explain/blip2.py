"""BLIP-2 image-text matching (``blip2-itm``; transformers
``Blip2ForImageTextRetrieval``, ``Salesforce/blip2-itm-vit-g``): Grad-CAM on the
Q-Former's cross-attention for the ITM "match" logit.

BLIP-2 does not let the text look at the image. 32 learnt query tokens do: in
every second Q-Former layer they cross-attend to the frozen ViT-g's image tokens
(``[CLS]`` + 16 × 16 patches at 224 px), and in every layer they share
self-attention with the text tokens. The ITM head reads the 32 query outputs, and
the logit is their mean: ``itm_head(query_outputs).mean(dim=1)[:, 1]``, as in
LAVIS's ``Blip2ITM.forward`` (``lavis/models/blip2_models/blip2_image_text_matching.py``,
``match_head="itm"``) and in transformers.

The map (:func:`run_gradcam`), LAVIS's ``compute_gradcam`` arithmetic moved from
BLIP's text tokens to BLIP-2's query tokens:

1. the image is encoded once without a graph; all texts run as one batch;
2. a pre-hook makes the chosen Q-Former layer's input a leaf that requires grad,
   and a hook keeps its cross-attention probabilities (batch × heads × 32 queries ×
   257 image tokens);
3. the gradient of the match logit to those probabilities, clamped at 0, times the
   probabilities, averaged over the heads;
4. **the 32 query rows are averaged** (``token_reduce="queries"``): the logit is
   the mean of the head over the query outputs, so every query enters the score
   with the same weight, as every text token does in LAVIS's BLIP sentence map.
   The text tokens have no row: they never attend to the image;
5. the image ``[CLS]`` column is dropped and the 256 patches reshaped to 16 × 16.

``block`` counts the Q-Former layers *that have cross-attention* (layers 0, 2, ...,
10 of 12 in the released model): the default -1 is the last of them (layer 10),
the one nearest the ITM head, as Grad-CAM's last-layer rule would choose. No
reference code makes BLIP-2 Grad-CAM maps; the choice is recorded in every map.

Text: LAVIS's ``blip_caption`` cleaning (as for BLIP), ``[CLS] text [SEP]``, at most
``token_limit`` = 32 tokens (LAVIS's ``max_txt_len``); a longer text is truncated or
split (``overflow``). ``captum:NAME`` runs on the pixels of the same match logit.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from .._validation import check_int, check_option, require
from .base import resolve_block
from .text import OVERFLOW_CHOICES, tokenize_texts

__all__ = ["DEFAULT_TOKEN_LIMIT", "Blip2Parts", "build", "run_gradcam"]

#: LAVIS's ``max_txt_len`` for the BLIP-2 ITM models.
DEFAULT_TOKEN_LIMIT = 32
_OPTIONS = {"block": -1, "token_limit": DEFAULT_TOKEN_LIMIT, "overflow": "truncate",
            "clean_text": True}


class Blip2Parts:
    """BLIP-2 ITM as the methods see it: pixels, texts, the match logit."""

    n_prefix = 1
    score_name = "itm_logit"

    def __init__(self, loaded: Any, *, token_limit: int, overflow: str, clean_text: bool) -> None:
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.image_processor = loaded.image_processor
        self.device = loaded.device
        vcfg = self.model.config.vision_config
        self.input_size = int(vcfg.image_size)
        side = self.input_size // int(vcfg.patch_size)
        self.grid = (side, side)
        self.token_limit = token_limit
        self.overflow = overflow
        self.clean_text = clean_text

    def cross_layers(self) -> list[int]:
        """Indices of the Q-Former layers with cross-attention."""
        return [i for i, layer in enumerate(self.model.qformer.encoder.layer)
                if layer.has_cross_attention]

    def pixels(self, image: np.ndarray) -> Any:
        from PIL import Image

        return self.image_processor(
            images=Image.fromarray(image), return_tensors="pt",
            size={"height": self.input_size, "width": self.input_size},
        )["pixel_values"].to(self.device)

    def texts(self, texts: list[str]) -> tuple[dict[str, Any], list[int], list[dict[str, Any]], Any]:
        """``(encoding, owners, infos, (ids, mask))``; cleaned texts are recorded."""
        from .blip import clean_caption

        used = [(clean_caption(t) or t) if self.clean_text else t for t in texts]
        enc, owners, infos = tokenize_texts(self.tokenizer, used, limit=self.token_limit,
                                            overflow=self.overflow)
        for info, text, clean in zip(infos, texts, used, strict=True):
            if clean != text:
                info["text_used"] = clean
        handle = (enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device))
        return enc, owners, infos, handle

    def image_embeds(self, pixels: Any) -> Any:
        return self.model.vision_model(pixel_values=pixels).last_hidden_state

    def match_logit(self, ids: Any, mask: Any, image_embeds: Any) -> Any:
        """The ITM match logit per row (``image_embeds`` has one row or one per text)."""
        torch = require("torch", "explain")
        model = self.model
        rows = ids.shape[0]
        image_embeds = image_embeds.expand(rows, -1, -1)
        queries = model.query_tokens.expand(rows, -1, -1)
        n_query = queries.shape[1]
        attention = torch.cat([torch.ones(rows, n_query, dtype=mask.dtype, device=mask.device),
                               mask], dim=1)
        embeds = model.embeddings(input_ids=ids, query_embeds=queries)
        image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=ids.device)
        hidden = model.qformer(query_embeds=embeds, query_length=n_query, attention_mask=attention,
                               encoder_hidden_states=image_embeds,
                               encoder_attention_mask=image_mask).last_hidden_state
        return model.itm_head(hidden[:, :n_query, :]).mean(dim=1)[:, 1]

    def score_pixels(self, pixels: Any, handle: Any) -> Any:
        """The match logit of each model input (n) for each text row, (n, rows)."""
        torch = require("torch", "explain")
        ids, mask = handle
        embeds = self.image_embeds(pixels)
        n = embeds.shape[0]
        columns = []
        for row in range(ids.shape[0]):
            columns.append(self.match_logit(ids[row:row + 1].expand(n, -1),
                                            mask[row:row + 1].expand(n, -1), embeds))
        return torch.stack(columns, dim=1)


def run_gradcam(parts: Blip2Parts, image: np.ndarray, texts: list[str], *, layer: int
                ) -> tuple[np.ndarray, np.ndarray, Any, list[int], list[dict[str, Any]]]:
    """Grad-CAM on Q-Former layer ``layer``'s cross-attention, 32 query rows averaged
    (see the module docstring)."""
    torch = require("torch", "explain")
    from .cam import gradcam_attention
    from .hooks import attention_and_gradient

    pixels = parts.pixels(image)
    enc, owners, infos, (ids, mask) = parts.texts(texts)
    with torch.no_grad():
        embeds = parts.image_embeds(pixels)
    block = parts.model.qformer.encoder.layer[layer]
    attn, grad, scores = attention_and_gradient(
        lambda: parts.match_logit(ids, mask, embeds), block=block,
        attention=block.crossattention.attention)
    maps = gradcam_attention(attn, grad, token_mask=None, clamp="gradient", head_reduce="mean",
                             n_prefix=1, grid=parts.grid)
    return maps, scores.cpu().double().numpy(), enc, owners, infos


def build(loaded: Any, choices: dict[str, Any], *, method: str) -> Any:
    """The builder of ``method`` (``"gradcam"`` or ``"captum:NAME"``) for ``blip2-itm``."""
    from .dual import DESCRIPTIVE, MethodExplainer, method_options

    allowed = dict(_OPTIONS)
    if method.startswith("captum:"):
        allowed.pop("block")
        given = {k: v for k, v in choices.items() if k in allowed or k == "input_fit"}
        captum_given = {k: v for k, v in choices.items()
                        if k not in allowed and k not in DESCRIPTIVE}
        chosen = method_options(method, given, allowed)
    else:
        chosen = method_options(method, choices, allowed)
    overflow = check_option("overflow", chosen["overflow"], OVERFLOW_CHOICES)
    limit = check_int("token_limit", chosen["token_limit"], minimum=3)
    parts = Blip2Parts(loaded, token_limit=limit, overflow=overflow,
                       clean_text=bool(chosen["clean_text"]))
    recorded: dict[str, Any] = {"token_limit": limit, "overflow": overflow,
                                "clean_text": bool(chosen["clean_text"])}
    if method.startswith("captum:"):
        from .attribution import captum_choices, run_captum

        captum = captum_choices(method, captum_given, patch=parts.input_size // parts.grid[0])
        runner: Any = partial(run_captum, choices=captum)
        recorded.update(captum)
    else:
        cross = parts.cross_layers()
        index = resolve_block("block", chosen["block"], len(cross))
        runner = partial(run_gradcam, layer=cross[index])
        recorded.update(block=index, layer=f"qformer.encoder.layer[{cross[index]}].crossattention",
                        clamp="gradient", head_reduce="mean", token_reduce="queries",
                        tokens_meaning="mean over the query tokens (the ITM logit averages "
                                       "the head over them)")
    return MethodExplainer(loaded, parts=parts, method=method, runner=runner, options=recorded)
