"""Grad-CAM for image-text matching models whose text encoder cross-attends to the
image tokens (BLIP-ITM, ALBEF): the shared flow of one ``explain`` call."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import require
from .base import Explainer, torch_call_scope
from .cam import gradcam_attention, gradcam_attention_per_token
from .hooks import attention_and_gradient
from .text import finish_texts, query_token_mask, record_scores, tokenize_texts

__all__ = ["FusionGradCamExplainer"]


class FusionGradCamExplainer(Explainer):
    """Grad-CAM for image-text matching models whose text encoder cross-attends to
    the image tokens (BLIP-ITM, ALBEF): the shared flow of one ``explain`` call.

    The image is encoded once (no graph); all segments (or their pieces) run as one
    batch through the text encoder against that single image embedding (batch 1,
    broadcast in the cross-attention matmuls, so the image keys and values are
    computed once per layer); :func:`~vista.explain.hooks.attention_and_gradient` takes the gradient of
    the match logit to block ``block``'s cross-attention probabilities only, and
    :func:`~vista.explain.cam.gradcam_attention` makes the maps.

    Subclasses set the attributes below in ``__init__`` (after
    :meth:`Explainer.__init__`) and implement
    :meth:`_clean`, :meth:`_pixels`, :meth:`_encode_image`, :meth:`_cross_attention`
    and :meth:`_match_logit` (and may override :meth:`_input_ids` and :meth:`_tokenize`).
    """

    grid: tuple[int, int]
    block: int
    token_limit: int
    overflow: str
    clean_text: bool
    tokens: str
    clamp: str
    head_reduce: str
    flush_denormal: bool

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

    def _explain_batch(
        self, image: np.ndarray, texts: list[str]
    ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        torch = require("torch", "explain")
        used = [(self._clean(t) or t) if self.clean_text else t for t in texts]
        with torch_call_scope(flush_denormal=self.flush_denormal):
            pixels = self._pixels(image)
            enc, owners, infos = self._tokenize(used)
            ids = self._input_ids(enc["input_ids"].clone()).to(self.device)
            mask = enc["attention_mask"].to(self.device)
            with torch.no_grad():
                image_embeds = self._encode_image(pixels)
            block, attention = self._cross_attention()
            attn, grad, logits = attention_and_gradient(
                lambda: self._match_logit(ids, mask, image_embeds),
                block=block, attention=attention)
        rows = query_token_mask(enc, self.tokens)
        scores = logits.cpu().double().numpy()
        if self.tokens == "each":
            return self._per_token_maps(attn, grad, rows, scores, owners, infos, texts, used)
        maps = gradcam_attention(attn, grad, token_mask=rows, clamp=self.clamp,
                                 head_reduce=self.head_reduce, n_prefix=1, grid=self.grid)
        return finish_texts(maps, scores, enc, owners, infos, texts=texts, used=used,
                            score_name="itm_logit", weights=rows.sum(dim=1).tolist())

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
