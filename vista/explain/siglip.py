"""SigLIP (Zhai et al., ICCV 2023; transformers ``SiglipModel``): the image-text
pair score is a sigmoid, not a softmax over a batch, so each text is scored on its
own: ``sigmoid(logit_scale.exp() * cosine + logit_bias)``. That sigmoid pairwise
score is what every method explains (``score="logit"`` explains the logit before
the sigmoid).

SigLIP's vision tower has no ``[CLS]`` token: its tokens are all patches, and the
image embedding is an attention-pooling head (a learnt probe query attending over
the ``post_layernorm``-ed last block, then a residual MLP). Methods:

``"gradcam"`` (default)
    captum-style Grad-CAM on the tokens entering the last block's attention
    (its ``layer_norm1`` output), as for CLIP (:func:`vista.explain.dual.run_gradcam`).
``"legrad"``
    :mod:`vista.explain.legrad`, the ``compute_legrad_siglip`` arithmetic: the
    gradient with respect to the pooling head's attention over each block's tokens,
    with the neutral-prompt correction on by default (``correction=False``
    turns it off).
``"rollout"``
    :mod:`vista.explain.rollout`, read through the pooling head's attention.
``"captum:NAME"``
    :mod:`vista.explain.attribution` on the pixels of the sigmoid score.

Text: SigLIP was trained on texts padded to 64 tokens without an attention mask,
and pools the last position; texts are padded to ``max_position_embeddings`` the
same way (``padding="max_length"``), and a longer text is truncated.

The whole image is squashed to the square input (224 × 224 for
``google/siglip-base-patch16-224``), which is also what SigLIP's own processor
does (it resizes without a crop).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_option, require
from .dual import DualParts

__all__ = ["DEFAULT_WEIGHTS", "SCORE_CHOICES", "SiglipParts", "pool_with_probs"]

DEFAULT_WEIGHTS = "google/siglip-base-patch16-224"
SCORE_CHOICES = ("sigmoid", "logit")


def pool_with_probs(head: Any, hidden: Any) -> tuple[Any, Any]:
    """SigLIP's attention-pooling head (``SiglipMultiheadAttentionPoolingHead``)
    computed step by step, so that its attention probabilities are a tensor in the
    graph: ``(pooled (B, D), probs (B, heads, 1, N))``.

    ``torch.nn.MultiheadAttention`` returns the probabilities only as a copy
    outside the path to its output; this is its arithmetic (one probe query, the
    packed ``in_proj``, scale ``head_dim ** -0.5``, ``out_proj``), then the head's
    ``layernorm`` and residual ``mlp``.
    """
    torch = require("torch", "explain")
    mha = head.attention
    batch, n, dim = hidden.shape
    heads = int(mha.num_heads)
    hd = dim // heads
    w, b = mha.in_proj_weight, mha.in_proj_bias
    probe = head.probe.expand(batch, -1, -1)
    q = torch.nn.functional.linear(probe, w[:dim], b[:dim]).view(batch, 1, heads, hd).transpose(1, 2)
    k = torch.nn.functional.linear(hidden, w[dim:2 * dim], b[dim:2 * dim])
    v = torch.nn.functional.linear(hidden, w[2 * dim:], b[2 * dim:])
    k = k.view(batch, n, heads, hd).transpose(1, 2)
    v = v.view(batch, n, heads, hd).transpose(1, 2)
    probs = torch.softmax((q * hd ** -0.5) @ k.transpose(-1, -2), dim=-1)
    out = mha.out_proj((probs @ v).transpose(1, 2).reshape(batch, 1, dim))
    out = out + head.mlp(head.layernorm(out))
    return out[:, 0], probs


class SiglipParts(DualParts):
    """SigLIP as :mod:`vista.explain.dual` methods see it (no ``[CLS]``; pooled by
    an attention head; sigmoid pair score)."""

    n_prefix = 0

    def __init__(self, loaded: Any, *, score: str = "sigmoid") -> None:
        super().__init__(loaded)
        self.score_kind = check_option("score", score, SCORE_CHOICES)
        self.score_name = "sigmoid_score" if score == "sigmoid" else "logit"
        self.token_limit = int(self.model.config.text_config.max_position_embeddings)

    def pixels(self, image: np.ndarray) -> Any:
        from PIL import Image

        return self.image_processor(
            images=Image.fromarray(image),
            return_tensors="pt",
            size={"height": self.input_size, "width": self.input_size},
        )["pixel_values"].to(self.device)

    def texts(self, texts: list[str]) -> tuple[dict[str, Any], list[int], list[dict[str, Any]], Any]:
        torch = require("torch", "explain")
        limit = self.token_limit
        enc = self.tokenizer(texts, padding="max_length", max_length=limit, truncation=True,
                             return_special_tokens_mask=True, return_tensors="pt")
        full = self.tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)
        body = limit - int(self.tokenizer.num_special_tokens_to_add(pair=False))
        infos = [{"n_tokens": len(ids), "token_limit": limit, "overflow": "truncate",
                  "truncated": len(ids) > body, "n_pieces": 1} for ids in full["input_ids"]]
        if "attention_mask" not in enc:
            enc["attention_mask"] = (enc["input_ids"] != self.tokenizer.pad_token_id).long()
        with torch.no_grad():
            emb = self.model.get_text_features(input_ids=enc["input_ids"].to(self.device)).pooler_output
        keep = {k: enc[k] for k in ("input_ids", "attention_mask", "special_tokens_mask")}
        return keep, list(range(len(texts))), infos, emb / emb.norm(dim=-1, keepdim=True)

    def final_embedding(self, hidden: Any) -> Any:
        pooled = self.vision.head(self.vision.post_layernorm(hidden))
        return pooled / pooled.norm(dim=-1, keepdim=True)

    def pool(self, hidden: Any) -> tuple[Any, Any]:
        pooled, probs = pool_with_probs(self.vision.head, hidden)
        return pooled / pooled.norm(dim=-1, keepdim=True), probs

    def score(self, image_embedding: Any, text_embeddings: Any) -> Any:
        logits = (image_embedding @ text_embeddings.T) * self.model.logit_scale.exp() \
            + self.model.logit_bias
        return logits.sigmoid() if self.score_kind == "sigmoid" else logits
