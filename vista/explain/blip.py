"""BLIP image-text matching (``blip-itm-base``, ``blip-itm-large``): Grad-CAM on the
text encoder's cross-attention for the ITM "match" logit, as LAVIS makes it.

Recipes (:mod:`vista.explain.catalog`): ``lavis`` (``compute_gradcam`` with its
default block 6, the default), ``lavis-notebook`` (block 7 and ``getAttMap``, LAVIS's
text-localisation notebook), ``vista-0.1`` (block 7, bilinear).

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
   grid; then brought onto the image by the recipe's post-processing.

This is LAVIS's ``compute_gradcam`` (``lavis/models/blip_models/
blip_image_text_matching.py``). LAVIS does this one image-text pair at a time with a
full backward pass through the trainable model; the maps are the same (tested to
1e-5 of their range), the cost is not (``benchmarks/explain.py``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from .._validation import check_option
from .base import check_options
from .fusion import FUSION_OPTIONS, FusionChoices, FusionGradCamExplainer, fusion_choices
from .weights import LoadedModel

__all__ = ["DEFAULT_TOKEN_LIMIT", "BlipExplainer", "build_gradcam", "clean_caption"]

#: LAVIS's ``max_txt_len`` for BLIP ITM: the text length the model was fine-tuned with.
DEFAULT_TOKEN_LIMIT = 35
FIRST_TOKEN_CHOICES = ("enc", "cls")
OPTIONS = (*FUSION_OPTIONS, "first_token")

_TOKENS_MEANING = {
    "text": "mean over the text tokens; [ENC]/[CLS], [SEP] and padding excluded",
    "all": "mean over every attended row: [ENC]/[CLS], text, [SEP]; padding excluded",
    "cls": "the [ENC]/[CLS] row only (its output feeds the ITM head)",
    "each": "each text token's own map, post-processed, then averaged",
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

    def __init__(self, loaded: LoadedModel, choices: FusionChoices, *, first_token: str) -> None:
        vcfg = loaded.model.config.vision_config
        super().__init__(loaded, choices, input_size=int(vcfg.image_size),
                         patch_size=int(vcfg.patch_size))
        self.enc_token_id = (_enc_token_id(loaded.tokenizer, loaded.model)
                             if first_token == "enc" else None)
        self.options.update({
            "layer": f"text_encoder.encoder.layer[{self.block}].crossattention.self "
                     "attention probs",
            "score": "itm",
            "score_meaning": "ITM match logit (itm_head output index 1, before softmax)",
            "tensor": "cross-attention",
            "first_token": "enc" if self.enc_token_id is not None else "cls",
            "token_reduce_meaning": _TOKENS_MEANING[self.tokens],
        })

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


def build_gradcam(loaded: LoadedModel, choices: dict[str, Any]) -> BlipExplainer:
    """The ``gradcam`` method of ``blip-itm-base`` and ``blip-itm-large``.

    Parameters
    ----------
    loaded : LoadedModel
        A ``BlipForImageTextRetrieval`` with its tokenizer and image processor.
    choices : dict
        The recipe's choices with the overrides applied:
        ``block`` (int): 0-based text-encoder layer whose cross-attention is
        explained; negative counts from the end (LAVIS ``compute_gradcam``: 6; its
        text-localisation notebook: 7).
        ``token_reduce`` ("text", "all", "cls" or "each", default "text"): the query
        rows averaged (LAVIS: the text tokens, ``gradcam[1:n+1].sum(0) / n``).
        ``clamp`` and ``head_reduce``: see
        :func:`vista.explain.cam.gradcam_attention` (LAVIS: "gradient", "mean").
        ``first_token`` ("enc" or "cls", default "enc"): LAVIS's ``BlipITM.forward``
        replaces ``[CLS]`` by ``[ENC]``; "cls" feeds ``[CLS]`` as the transformers
        processor does. ``clean_text`` (bool, default True): LAVIS's caption cleaning.
        ``token_limit`` (int, default 35, LAVIS's ``max_txt_len``), ``overflow``
        ("truncate" or "split"; see :func:`vista.explain.text.tokenize_texts`),
        ``flush_denormal`` (bool, default True).

    Raises
    ------
    ValueError
        On an unknown choice, or one out of range; the message lists the valid ones.
    """
    check_options(choices, OPTIONS, context=f"{loaded.family} gradcam")
    check_option("score", choices.get("score", "itm"), ("itm",))
    check_option("tensor", choices.get("tensor", "cross-attention"), ("cross-attention",))
    check_option("input_fit", choices.get("input_fit", "squash"), ("squash",))
    tcfg = loaded.model.config.text_config
    shared = fusion_choices(choices, n_layers=int(tcfg.num_hidden_layers),
                            max_tokens=int(tcfg.max_position_embeddings),
                            default_token_limit=DEFAULT_TOKEN_LIMIT)
    return BlipExplainer(loaded, shared, first_token=check_option(
        "first_token", choices.get("first_token", "enc"), FIRST_TOKEN_CHOICES))
