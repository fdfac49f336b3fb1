"""BLIP image-text matching (``blip-itm-base``, ``blip-itm-large``): Grad-CAM on the
text encoder's cross-attention for the ITM "match" logit, the LAVIS recipe.

For one image and its segments:

1. The image goes through the vision encoder once, without an autograd graph.
2. All segments are tokenized as one padded batch (``[ENC] text [SEP]``), and run
   through the text encoder in one call, cross-attending to the single image
   embedding (broadcast over the batch, so the image keys and values are computed
   once per layer, not once per segment).
3. A forward pre-hook on cross-attention block ``block`` makes its input a leaf that
   requires grad (the blocks below run without a graph); a forward hook keeps the
   block's cross-attention probabilities. Both hooks are removed in ``finally``.
4. The score is the ITM head's "match" logit (index 1, before softmax), summed over
   the batch (each row depends only on its own segment), and
   ``torch.autograd.grad`` takes its gradient to the attention probabilities only.
5. :func:`vista.explain.cam.gradcam_attention`: gradient clamped at 0, times the
   attention, mean over heads, mean over the segment's text tokens (``[ENC]``,
   ``[SEP]`` and padding excluded), image CLS dropped, patches reshaped to the
   grid; then resized bilinearly onto the image.

This is LAVIS's ``compute_gradcam`` (``lavis/models/blip_models/
blip_image_text_matching.py``) and its demo notebook, which uses block 7. LAVIS
does this one image-text pair at a time with a full backward pass through the
trainable model; the maps are the same, the cost is not (``benchmarks/explain.py``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .._validation import check_int, check_option, require
from .base import (
    OVERFLOW_CHOICES,
    TOKENS_CHOICES,
    FusionGradCamExplainer,
    check_options,
    load_frozen,
    load_processors,
    pick_device,
    registered_weights,
    resolve_block,
)
from .cam import CLAMP_CHOICES, HEAD_REDUCE_CHOICES
from .registry import register

__all__ = ["DEFAULT_BLOCK", "DEFAULT_TOKEN_LIMIT", "BlipExplainer", "clean_caption", "load_blip"]

#: Cross-attention block of the LAVIS Grad-CAM demo (0-based): its notebook calls
#: ``compute_gradcam(..., block_num=7)``; the function's own default is 6.
DEFAULT_BLOCK = 7
#: LAVIS's ``max_txt_len`` for BLIP ITM: the text length the model was fine-tuned with.
DEFAULT_TOKEN_LIMIT = 35
FIRST_TOKEN_CHOICES = ("enc", "cls")
OPTIONS = (
    "block",
    "token_limit",
    "overflow",
    "first_token",
    "clean_text",
    "tokens",
    "clamp",
    "head_reduce",
    "flush_denormal",
    "revision",
)

_TOKENS_MEANING = {
    "text": "mean over the text tokens; [ENC]/[CLS], [SEP] and padding excluded",
    "cls": "the [ENC]/[CLS] row only (its output feeds the ITM head)",
}
_PUNCT = re.compile(r"([.!\"()*#:;~])")
_SPACES = re.compile(r"\s{2,}")


def clean_caption(text: str) -> str:
    """LAVIS's BLIP caption cleaning: lower case, ``.!"()*#:;~`` to spaces, runs of
    whitespace to one space, stripped. (LAVIS also cuts at 50 words; the 35-token
    limit is always shorter, so that is left to the tokenizer.)

    Examples
    --------
    >>> clean_caption("A cat (grey)  sits!")
    'a cat grey sits'
    """
    out = _SPACES.sub(" ", _PUNCT.sub(" ", text.lower()))
    return out.strip()


class BlipExplainer(FusionGradCamExplainer):
    """Grad-CAM on BLIP-ITM's cross-attention; built by :func:`load_blip`."""

    def __init__(
        self,
        *,
        name: str,
        model: Any,
        tokenizer: Any,
        image_processor: Any,
        model_id: str,
        revision: str | None,
        block: int,
        token_limit: int,
        overflow: str,
        first_token: str,
        clean_text: bool,
        tokens: str,
        clamp: str,
        head_reduce: str,
        flush_denormal: bool,
        device: str,
    ) -> None:
        super().__init__(
            name=name,
            model=model,
            tokenizer=tokenizer,
            image_processor=image_processor,
            model_id=model_id,
            revision=revision,
            method="gradcam",
            device=device,
        )
        vcfg = model.config.vision_config
        self.input_size = int(vcfg.image_size)
        side = self.input_size // int(vcfg.patch_size)
        self.grid = (side, side)
        self.block = block
        self.token_limit = token_limit
        self.overflow = overflow
        self.clean_text = clean_text
        self.tokens = tokens
        self.clamp = clamp
        self.head_reduce = head_reduce
        self.flush_denormal = flush_denormal
        self.enc_token_id = _enc_token_id(tokenizer, model) if first_token == "enc" else None
        self.options = {
            "block": block,
            "layer": f"text_encoder.encoder.layer[{block}].crossattention.self attention probs",
            "score": "ITM match logit (itm_head output index 1, before softmax)",
            "first_token": "enc" if self.enc_token_id is not None else "cls",
            "clean_text": clean_text,
            "tokens": tokens,
            "tokens_meaning": _TOKENS_MEANING[tokens],
            "clamp": clamp,
            "head_reduce": head_reduce,
            "token_reduce": "mean",
            "input_size": [self.input_size, self.input_size],
            "input_fit": "squash",
            "grid": list(self.grid),
            "flush_denormal": flush_denormal,
        }

    def _clean(self, text: str) -> str:
        return clean_caption(text)

    def _pixels(self, image: np.ndarray) -> Any:
        from PIL import Image

        return self.image_processor(
            images=Image.fromarray(image),
            return_tensors="pt",
            size={"height": self.input_size, "width": self.input_size},
        )["pixel_values"].to(self.device)

    def _encode_image(self, pixels: Any) -> Any:
        return self.model.vision_model(pixel_values=pixels).last_hidden_state

    def _input_ids(self, input_ids: Any) -> Any:
        if self.enc_token_id is not None:
            input_ids[:, 0] = self.enc_token_id
        return input_ids

    def _cross_attention(self) -> tuple[Any, Any]:
        cross = self.model.text_encoder.encoder.layer[self.block].crossattention
        return cross, cross.self

    def _match_logit(self, input_ids: Any, attention_mask: Any, image_embeds: Any) -> Any:
        hidden = self.model.text_encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            encoder_hidden_states=image_embeds,  # batch 1, broadcast over the texts
        ).last_hidden_state
        return self.model.itm_head(hidden[:, 0, :])[:, 1]


def _enc_token_id(tokenizer: Any, model: Any) -> int | None:
    """The ``[ENC]`` id LAVIS puts in place of ``[CLS]``, or None when unknown.

    The tokenizer's own ``[ENC]`` if it has one; else, when the model's vocabulary
    is longer than the tokenizer's, its last id (BLIP's tokenizer appends ``[DEC]``
    then ``[ENC]`` to bert-base-uncased: ids 30522 and 30523 of 30524).
    """
    unk = tokenizer.unk_token_id
    tid = tokenizer.convert_tokens_to_ids("[ENC]")
    if isinstance(tid, int) and tid != unk:
        return tid
    vocab_size = int(model.config.text_config.vocab_size)
    if vocab_size > len(tokenizer):
        return vocab_size - 1
    return None


@register("blip-itm-base")
@register("blip-itm-large")
def load_blip(
    name: str,
    *,
    weights: str | None = None,
    device: str | None = None,
    method: str | None = None,
    **options: Any,
) -> BlipExplainer:
    """Load the ``blip-itm-base`` or ``blip-itm-large`` explainer.

    Parameters
    ----------
    name : {"blip-itm-base", "blip-itm-large"}
        Registry name.
    weights : str, optional
        Hugging Face id or local folder in Hugging Face layout (model, tokenizer and
        image processor, as ``save_pretrained`` writes them). Default: the
        registry's id (``Salesforce/blip-itm-{base,large}-coco``) at its pinned
        revision.
    device : str, optional
        Torch device; cuda when available.
    method : {"gradcam"}, optional
        The only method.
    **options
        ``block`` (int, default 7): 0-based text-encoder layer whose
        cross-attention is explained; negative counts from the end.
        ``token_limit`` (int, default 35): tokens per row, specials included.
        ``overflow`` ("truncate" or "split", default "truncate"): what happens to a
        longer text (see :func:`vista.explain.base.tokenize_texts`).
        ``first_token`` ("enc" or "cls", default "enc"): LAVIS replaces ``[CLS]``
        by ``[ENC]``; "cls" feeds ``[CLS]`` as the transformers processor does.
        ``clean_text`` (bool, default True): LAVIS's caption cleaning.
        ``tokens`` ("text" or "cls", default "text"): average the map over the
        segment's text tokens (LAVIS's sentence map) or take the first token's row
        (LAVIS returns it too, as ``gradcam[0]``).
        ``clamp`` and ``head_reduce``: see
        :func:`vista.explain.cam.gradcam_attention` (defaults "gradient", "mean").
        ``flush_denormal`` (bool, default True): flush denormal floats during the
        call (restored afterwards). ``revision``: Hub commit for a Hub id.

    Returns
    -------
    BlipExplainer

    Raises
    ------
    ValueError
        On an unknown method or option, or an option out of range.
    WeightsNotFoundError
        When the weights are neither a local folder nor obtainable.
    """
    transformers = require("transformers", "explain")
    check_option("method", "gradcam" if method is None else method, ("gradcam",))
    check_options(options, OPTIONS, context=name)
    overflow = check_option("overflow", options.get("overflow", "truncate"), OVERFLOW_CHOICES)
    first_token = check_option("first_token", options.get("first_token", "enc"),
                               FIRST_TOKEN_CHOICES)
    clamp = check_option("clamp", options.get("clamp", "gradient"), CLAMP_CHOICES)
    head_reduce = check_option("head_reduce", options.get("head_reduce", "mean"),
                               HEAD_REDUCE_CHOICES)
    clean_text = bool(options.get("clean_text", True))
    flush_denormal = bool(options.get("flush_denormal", True))
    model_id, revision, folder = registered_weights(name, weights, options.get("revision"))
    dev = pick_device(device)
    model = load_frozen(transformers.BlipForImageTextRetrieval, folder, device=dev)
    tcfg = model.config.text_config
    block = resolve_block("block", options.get("block", DEFAULT_BLOCK),
                          int(tcfg.num_hidden_layers))
    token_limit = check_int("token_limit", options.get("token_limit", DEFAULT_TOKEN_LIMIT),
                            minimum=3)
    if token_limit > int(tcfg.max_position_embeddings):
        raise ValueError(
            f"token_limit must be <= {tcfg.max_position_embeddings} (the model's positions); "
            f"got {token_limit}"
        )
    tokenizer, image_processor = load_processors(folder)
    return BlipExplainer(
        name=name,
        model=model,
        tokenizer=tokenizer,
        image_processor=image_processor,
        model_id=model_id,
        revision=revision,
        block=block,
        token_limit=token_limit,
        overflow=overflow,
        first_token=first_token,
        clean_text=clean_text,
        tokens=check_option("tokens", options.get("tokens", "text"), TOKENS_CHOICES),
        clamp=clamp,
        head_reduce=head_reduce,
        flush_denormal=flush_denormal,
        device=dev,
    )
