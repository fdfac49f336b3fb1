"""Grad-CAM for image-text matching models whose text encoder cross-attends to the
image tokens (BLIP-ITM, ALBEF): the shared flow of one ``explain`` call."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_int, check_option, require
from .base import Explainer, resolve_block, torch_call_scope
from .cam import CLAMP_CHOICES, HEAD_REDUCE_CHOICES, gradcam_attention, gradcam_attention_per_token
from .hooks import attention_and_gradient
from .text import (
    OVERFLOW_CHOICES,
    TOKENS_CHOICES,
    finish_texts,
    query_token_mask,
    record_scores,
    tokenize_texts,
)
from .weights import LoadedModel

__all__ = ["FUSION_OPTIONS", "FusionChoices", "FusionGradCamExplainer", "fusion_choices"]

#: The choices every cross-attention Grad-CAM recipe may set (families add their own).
FUSION_OPTIONS = ("score", "tensor", "block", "token_limit", "overflow", "clean_text",
                  "token_reduce", "clamp", "head_reduce", "input_fit", "flush_denormal")


@dataclass(frozen=True)
class FusionChoices:
    """The choices BLIP and ALBEF Grad-CAM share, checked (:func:`fusion_choices`)."""

    block: int
    token_limit: int
    overflow: str
    clean_text: bool
    tokens: str
    clamp: str
    head_reduce: str
    flush_denormal: bool


def fusion_choices(choices: Mapping[str, Any], *, n_layers: int, max_tokens: int,
                   default_token_limit: int) -> FusionChoices:
    """Check and resolve the shared choices: ``block`` (negative counts from the
    end), ``token_limit`` (at most ``max_tokens``), ``overflow``, ``clean_text``,
    ``token_reduce``, ``clamp``, ``head_reduce``, ``flush_denormal``."""
    token_limit = check_int("token_limit", choices.get("token_limit", default_token_limit),
                            minimum=3)
    if token_limit > max_tokens:
        raise ValueError(f"token_limit must be <= {max_tokens} (the model's positions); "
                         f"got {token_limit}")
    return FusionChoices(
        block=resolve_block("block", choices.get("block", 6), n_layers),
        token_limit=token_limit,
        overflow=check_option("overflow", choices.get("overflow", "truncate"), OVERFLOW_CHOICES),
        clean_text=bool(choices.get("clean_text", True)),
        tokens=check_option("token_reduce", choices.get("token_reduce", "text"), TOKENS_CHOICES),
        clamp=check_option("clamp", choices.get("clamp", "gradient"), CLAMP_CHOICES),
        head_reduce=check_option("head_reduce", choices.get("head_reduce", "mean"),
                                 HEAD_REDUCE_CHOICES),
        flush_denormal=bool(choices.get("flush_denormal", True)),
    )


class FusionGradCamExplainer(Explainer):
    """Grad-CAM for image-text matching models whose text encoder cross-attends to
    the image tokens (BLIP-ITM, ALBEF): the shared flow of one ``explain`` call.

    The image is encoded once (no graph); all segments (or their pieces) run as one
    batch through the text encoder against that single image embedding (batch 1,
    broadcast in the cross-attention matmuls, so the image keys and values are
    computed once per layer); :func:`~vista.explain.hooks.attention_and_gradient` takes the gradient of
    the match logit to block ``block``'s cross-attention probabilities only, and
    :func:`~vista.explain.cam.gradcam_attention` makes the maps.

    Subclasses extend :attr:`options` and implement :meth:`_clean`, :meth:`_pixels`,
    :meth:`_encode_image`, :meth:`_cross_attention` and :meth:`_match_logit` (and may
    override :meth:`_input_ids` and :meth:`_tokenize`).
    """

    def __init__(self, loaded: LoadedModel, choices: FusionChoices, *, input_size: int,
                 patch_size: int) -> None:
        super().__init__(loaded, method="gradcam")
        self.input_size = input_size
        side = input_size // patch_size
        self.grid = (side, side)
        self.block = choices.block
        self.token_limit = choices.token_limit
        self.overflow = choices.overflow
        self.clean_text = choices.clean_text
        self.tokens = choices.tokens
        self.clamp = choices.clamp
        self.head_reduce = choices.head_reduce
        self.flush_denormal = choices.flush_denormal
        self.options = {
            "block": choices.block,
            "clean_text": choices.clean_text,
            "token_reduce": choices.tokens,
            "clamp": choices.clamp,
            "head_reduce": choices.head_reduce,
            "input_size": [input_size, input_size],
            "input_fit": "squash",
            "grid": list(self.grid),
            "token_limit": choices.token_limit,
            "overflow": choices.overflow,
            "flush_denormal": choices.flush_denormal,
        }

    def _clean(self, text: str) -> str:
        """The model's caption cleaning."""
        raise NotImplementedError

    def _pixels(self, image: np.ndarray) -> Any:
        """The image as the model's input tensor, batch 1, on the device."""
        raise NotImplementedError

    def _encode_image(self, pixels: Any) -> Any:
        """Image token embeddings (batch 1, CLS first)."""
        raise NotImplementedError

    def _cross_attention(self) -> tuple[Any, Any]:
        """(block module whose input becomes the gradient leaf, module whose output
        ``[1]`` is the attention probabilities)."""
        raise NotImplementedError

    def _match_logit(self, input_ids: Any, attention_mask: Any, image_embeds: Any) -> Any:
        """The ITM "match" logit per row."""
        raise NotImplementedError

    def _input_ids(self, input_ids: Any) -> Any:
        """Token ids as the model wants them (BLIP puts ``[ENC]`` first)."""
        return input_ids

    def _tokenize(
        self, texts: list[str]
    ) -> tuple[dict[str, Any], list[int], list[dict[str, Any]]]:
        """The (cleaned) texts as one padded batch: :func:`tokenize_texts`."""
        return tokenize_texts(self.tokenizer, texts, limit=self.token_limit, overflow=self.overflow)

    #: Whether :meth:`_explain_images` may run several images in one batch
    #: (:func:`vista.explain.batching.explain_many`).
    batches_images = True

    def _explain_batch(
        self, image: np.ndarray, texts: list[str]
    ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        return self._explain_images([image], [texts])[0]

    def _explain_images(
        self, images: list[np.ndarray], texts: list[list[str]]
    ) -> list[tuple[list[np.ndarray], list[dict[str, Any]]]]:
        """The raw maps and per-text info of several images, all their texts in one
        batch. One image is broadcast over its texts (batch 1 in the
        cross-attention); several are encoded as one batch and each text row gets its
        own image's tokens."""
        torch = require("torch", "explain")
        flat = [t for group in texts for t in group]
        used = [(self._clean(t) or t) if self.clean_text else t for t in flat]
        with torch_call_scope(flush_denormal=self.flush_denormal):
            pixels = torch.cat([self._pixels(image) for image in images])
            enc, owners, infos = self._tokenize(used)
            ids = self._input_ids(enc["input_ids"].clone()).to(self.device)
            mask = enc["attention_mask"].to(self.device)
            with torch.no_grad():
                image_embeds = self._encode_image(pixels)
            if len(images) > 1:
                of_text = [i for i, group in enumerate(texts) for _ in group]
                image_embeds = image_embeds[torch.tensor([of_text[o] for o in owners],
                                                         device=image_embeds.device)]
            block, attention = self._cross_attention()
            attn, grad, logits = attention_and_gradient(
                lambda: self._match_logit(ids, mask, image_embeds),
                block=block, attention=attention)
        rows = query_token_mask(enc, self.tokens)
        scores = logits.cpu().double().numpy()
        if self.tokens == "each":
            out = self._per_token_maps(attn, grad, rows, scores, owners, infos, flat, used)
        else:
            maps = gradcam_attention(attn, grad, token_mask=rows, clamp=self.clamp,
                                     head_reduce=self.head_reduce, n_prefix=1, grid=self.grid)
            out = finish_texts(maps, scores, enc, owners, infos, texts=flat, used=used,
                               score_name="itm_logit", weights=rows.sum(dim=1).tolist())
        bounds = np.cumsum([0, *(len(group) for group in texts)])
        return [(out[0][a:b], out[1][a:b]) for a, b in itertools.pairwise(bounds)]

    def _per_token_maps(self, attn: Any, grad: Any, rows: Any, scores: np.ndarray,
                        owners: list[int], infos: list[dict[str, Any]], texts: list[str],
                        used: list[str]) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        """``tokens="each"``: per text, the stack of its text tokens' maps (pieces
        concatenated), post-processed one by one and averaged on the image grid."""
        per_token = gradcam_attention_per_token(attn, grad, clamp=self.clamp,
                                                head_reduce=self.head_reduce, n_prefix=1,
                                                grid=self.grid)
        keep = rows.bool().cpu().numpy()
        out = []
        for i in range(len(texts)):
            stacks = [per_token[r][keep[r]] for r, owner in enumerate(owners) if owner == i]
            out.append(np.concatenate(stacks, axis=0))
        record_scores(infos, scores, owners, score_name="itm_logit")
        for i, info in enumerate(infos):
            info["n_token_maps"] = int(out[i].shape[0])
            if used[i] != texts[i]:
                info["text_used"] = used[i]
        return out, infos
