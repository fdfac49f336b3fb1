"""ALBEF (Li et al., NeurIPS 2021): Grad-CAM for the ITM or ITC score, the recipes of
ALBEF's ``Grounding.py`` and ``visualization.ipynb``.

The model is rebuilt in :mod:`vista.explain.albef_model` from the original
checkpoint files (``ALBEF.pth``, ``mscoco.pth``, ``refcoco.pth``, ...).

``score="itm"`` (recipes ``grounding``, ``notebook``, ``vista-0.1``)
    Grad-CAM on the fusion encoder's cross-attention at ``block`` (8 in both
    reference files) for the ITM match logit: the shared flow of
    :class:`~vista.explain.fusion.FusionGradCamExplainer`, gradient clamped at 0,
    mean over heads, then the token reduction of the recipe.
``score="itc"`` (recipe ``grounding-itc``)
    ``Grounding.py``'s ITC mode: Grad-CAM on the *visual* encoder's self-attention
    at ``block``, the ``[CLS]`` query row, for the image-text similarity
    ``vision_proj(image CLS) · text_proj(text CLS) / temp`` (both normalised; the
    text encoded by the layers below the fusion layers, xbert's ``mode="text"``).
    The image is encoded once and the per-text gradients come from one batched
    backward pass (``Grounding.py`` runs one image copy per text).

Text input: ALBEF's own BERT tokenizer (``models/tokenization_bert.py``) writes a
single text as ``[CLS] text`` without the final ``[SEP]``; ALBEF was pre-trained and
fine-tuned that way, and both reference files explain such rows. The default
``sep_token="none"`` does the same with transformers' tokenizer (the ``[SEP]`` it
appends becomes masked padding); ``sep_token="sep"`` keeps it, as LAVIS's ALBEF port
does.

The head counts, which a checkpoint's shapes do not give, default to width / 64 (12
for ALBEF) and can be set with ``text_heads`` / ``vision_heads`` or a
``config_bert.json`` next to the checkpoint (ALBEF's own config file).

This module imports torch at its top; it is imported only when ``albef`` is loaded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._validation import check_int, check_option
from ..errors import WeightsNotFoundError
from .albef_model import albef_state_dict, build_albef, infer_config
from .base import check_options, torch_call_scope
from .cam import gradcam_attention
from .fusion import FUSION_OPTIONS, FusionChoices, FusionGradCamExplainer, fusion_choices
from .hooks import batched_grads, capture_hook, leaf_input_hook, run_with_hooks
from .text import finish_texts, tokenize_texts
from .weights import LoadedModel, file_sha256, pick_device, require_transformers, resolve_weights

__all__ = [
    "DEFAULT_TOKEN_LIMIT",
    "AlbefExplainer",
    "build_gradcam",
    "clean_caption",
    "load_albef_model",
]

#: ALBEF cuts captions at 30 words (``pre_caption(max_words=30)``); 40 tokens hold
#: that plus ``[CLS]``/``[SEP]`` for typical English.
DEFAULT_TOKEN_LIMIT = 40
#: ALBEF's image normalisation (the CLIP constants), after a bicubic resize.
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
DEFAULT_TOKENIZER = "google-bert/bert-base-uncased"
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin")
#: ``"none"``: ``[CLS] text``, as ALBEF's own tokenizer writes it (its
#: ``models/tokenization_bert.py`` adds no ``[SEP]`` to a single text; pre-training,
#: fine-tuning and ``visualization.ipynb`` all use it). ``"sep"``: ``[CLS] text [SEP]``,
#: as transformers' BertTokenizer (and LAVIS's ALBEF port) writes it.
SEP_TOKEN_CHOICES = ("none", "sep")
SCORE_CHOICES = ("itm", "itc")
OPTIONS = (*FUSION_OPTIONS, "sep_token")
_PUNCT = re.compile(r"([,.'!?\"()*#:;~])")
_SPACES = re.compile(r"\s{2,}")
_TENSOR = {"itm": "cross-attention", "itc": "self-attention"}


def clean_caption(text: str) -> str:
    """ALBEF's ``pre_caption`` without the word cap: lower case, ``,.'!?"()*#:;~``
    removed, ``-`` and ``/`` to spaces, whitespace runs to one space, stripped.

    Examples
    --------
    >>> clean_caption("A dog's ball, on the sea-side!")
    'a dogs ball on the sea side'
    """
    out = _PUNCT.sub("", text.lower()).replace("-", " ").replace("/", " ")
    return _SPACES.sub(" ", out).strip()


class AlbefExplainer(FusionGradCamExplainer):
    """Grad-CAM on ALBEF for the ITM or ITC score; built by :func:`build_gradcam`."""

    def __init__(self, loaded: LoadedModel, choices: FusionChoices, *, score: str,
                 sep_token: str) -> None:
        cfg = loaded.extra["config"]
        super().__init__(loaded, choices, input_size=int(cfg["image_size"]),
                         patch_size=int(cfg["patch_size"]))
        self.score = score
        self.batches_images = score == "itm"  # ITC has its own one-image flow
        self.sep_token = sep_token
        if score == "itm":
            layer = f"text_encoder.encoder.layer[{self.block}].crossattention.self attention probs"
            meaning = "ITM match logit (itm_head output index 1, before softmax)"
        else:
            layer = f"visual_encoder.blocks[{self.block}].attn attention probs, [CLS] query row"
            meaning = "ITC similarity vision_proj(image CLS) . text_proj(text CLS) / temp"
        self.options.update({
            "layer": layer,
            "score": score,
            "score_meaning": meaning,
            "tensor": _TENSOR[score],
            "sep_token": sep_token,
            "token_reduce": self.tokens if score == "itm" else "cls",
            "input_fit_meaning": "bicubic resize to the square input, CLIP mean/std",
            "tokenizer": loaded.extra["tokenizer_id"],
        })

    def _explain_batch(
        self, image: np.ndarray, texts: list[str]
    ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        if self.score == "itm":
            return super()._explain_batch(image, texts)
        return self._explain_itc(image, texts)

    def _explain_itc(
        self, image: np.ndarray, texts: list[str]
    ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        """``Grounding.py`` ITC mode, the image encoded once for all texts."""
        model = self.model
        used = [(self._clean(t) or t) if self.clean_text else t for t in texts]
        with torch_call_scope(flush_denormal=self.flush_denormal):
            pixels = self._pixels(image)
            enc, owners, infos = self._tokenize(used)
            with torch.no_grad():
                text = model.text_encoder.text_only(enc["input_ids"].to(self.device),
                                                    enc["attention_mask"].to(self.device))
                text_feat = torch.nn.functional.normalize(model.text_proj(text[:, 0, :]), dim=-1)
            blk = model.visual_encoder.blocks[self.block]
            leaves: list[Tensor] = []
            probs: list[Tensor] = []
            embeds = run_with_hooks(lambda: model.visual_encoder(pixels),
                                    [(blk, "pre", leaf_input_hook(leaves)),
                                     (blk.attn.probs, "forward", capture_hook(probs))])
            image_feat = torch.nn.functional.normalize(model.vision_proj(embeds[:, 0, :]), dim=-1)
            sims = (text_feat @ image_feat[0]) / model.temp  # (rows,)
            rows = sims.shape[0]
            (grad,) = batched_grads(sims, probs)
        attn = probs[0].detach().expand(rows, -1, -1, -1)
        cls_row = torch.zeros(rows, attn.shape[2])
        cls_row[:, 0] = 1
        maps = gradcam_attention(attn, grad[:, 0], token_mask=cls_row, clamp=self.clamp,
                                 head_reduce=self.head_reduce, n_prefix=1, grid=self.grid)
        scores = sims.detach().cpu().double().numpy()
        return finish_texts(maps, scores, enc, owners, infos, texts=texts, used=used,
                            score_name="itc_similarity")

    def _pixels(self, image: np.ndarray) -> Tensor:
        from PIL import Image

        size = (self.input_size, self.input_size)
        arr = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))
        x = (arr.astype(np.float32) / 255.0 - np.asarray(MEAN, np.float32)) / np.asarray(
            STD, np.float32
        )
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(self.device)

    def _clean(self, text: str) -> str:
        return clean_caption(text)

    def _tokenize(
        self, texts: list[str]
    ) -> tuple[dict[str, Any], list[int], list[dict[str, Any]]]:
        if self.sep_token == "sep":
            return super()._tokenize(texts)
        # ALBEF's tokenizer writes "[CLS] text": tokenize with room for one more
        # token, then turn each row's final [SEP] into padding (masked, so the row is
        # exactly "[CLS] text"; right padding does not move the other positions).
        enc, owners, infos = tokenize_texts(
            self.tokenizer, texts, limit=self.token_limit + 1, overflow=self.overflow
        )
        ids = enc["input_ids"].clone()
        mask = enc["attention_mask"].clone()
        rows = torch.arange(ids.shape[0])
        last = mask.sum(dim=1) - 1
        if not bool((ids[rows, last] == self.tokenizer.sep_token_id).all()):
            raise RuntimeError("the ALBEF tokenizer did not end every row with [SEP]")
        ids[rows, last] = self.tokenizer.pad_token_id
        mask[rows, last] = 0
        out = {**enc, "input_ids": ids, "attention_mask": mask}
        if not bool(mask[:, -1].any()):  # the column the [SEP]s left is padding only
            out = {k: v[:, :-1] for k, v in out.items()}
        for info in infos:
            info["token_limit"] = self.token_limit
        return out, owners, infos

    def _encode_image(self, pixels: Tensor) -> Tensor:
        return self.model.visual_encoder(pixels)

    def _cross_attention(self) -> tuple[Any, Any]:
        cross = self.model.text_encoder.encoder.layer[self.block].crossattention
        return cross, cross.self

    def _match_logit(
        self, input_ids: Tensor, attention_mask: Tensor, image_embeds: Tensor
    ) -> Tensor:
        hidden = self.model.text_encoder(input_ids, attention_mask, image_embeds)
        return self.model.itm_head(hidden[:, 0, :])[:, 1]


def _find_checkpoint(path: Path) -> tuple[Path, Path]:
    """(checkpoint file, folder to look for tokenizer and config_bert.json in)."""
    if path.is_file():
        return path, path.parent
    found = sorted(p for p in path.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise WeightsNotFoundError(
            f"weights folder {path} must hold exactly one ALBEF checkpoint "
            f"({'/'.join(CHECKPOINT_SUFFIXES)}); found {names}"
        )
    return found[0], path


def _heads(name: str, value: Any, width: int) -> int:
    if value is None:
        if width % 64:
            raise ValueError(f"{name} must be given for width {width} (not a multiple of 64)")
        return width // 64
    heads = check_int(name, value, minimum=1)
    if width % heads:
        raise ValueError(f"{name} must divide the width {width}; got {heads}")
    return heads


def load_albef_model(spec: Any, *, weights: str | None, device: str | None,
                     attn_implementation: str | None, options: dict[str, Any]) -> LoadedModel:
    """The ``albef`` family's loader: an original ALBEF checkpoint.

    Parameters
    ----------
    spec : ExplainerSpec
        The ``albef`` spec.
    weights : str
        An ALBEF checkpoint file (``ALBEF.pth``, ``mscoco.pth``, ``refcoco.pth``, ...)
        or a folder holding exactly one, optionally with the BERT tokenizer files
        and ALBEF's ``config_bert.json``. There is no default: ALBEF's weights are
        not on the Hugging Face hub under an official id.
    device : str, optional
        Torch device; cuda when available.
    attn_implementation : str, optional
        Unused (the rebuilt model has one attention implementation).
    options : dict
        ``tokenizer``: folder or Hub id of the BERT tokenizer (default: the
        checkpoint's folder when it holds ``vocab.txt`` or ``tokenizer.json``, else
        ``google-bert/bert-base-uncased``). ``text_heads``, ``vision_heads``:
        attention heads (default width / 64). ``trust_checkpoint`` (bool, default
        False): unpickle arbitrary objects in the file
        (``torch.load(weights_only=False)``); only for files you trust.

    Returns
    -------
    LoadedModel
        ``provenance`` holds the sha256 of the checkpoint file.

    Raises
    ------
    WeightsNotFoundError
        No weights given, or the file or folder is not there.
    ValueError
        On an unknown option or a checkpoint without the needed keys.
    """
    transformers = require_transformers()
    check_options(options, spec.loader_options, context="albef's loader")
    if weights is None:
        raise WeightsNotFoundError(
            "albef needs weights=: an ALBEF checkpoint file (e.g. ALBEF.pth, mscoco.pth or "
            "refcoco.pth, linked from the README of github.com/salesforce/ALBEF) or a folder "
            "holding one; download it on a machine with network and pass its path"
        )
    path = Path(weights).expanduser()
    if not path.exists():
        raise WeightsNotFoundError(f"albef weights {str(path)!r} do not exist")
    ckpt_path, folder = _find_checkpoint(path)
    model, cfg = _read_checkpoint(ckpt_path, folder, options)
    dev = pick_device(device)
    model.eval()
    model.requires_grad_(False)
    model.to(dev)
    tok_src = options.get("tokenizer")
    if tok_src is None:
        has_tok = (folder / "vocab.txt").is_file() or (folder / "tokenizer.json").is_file()
        tok_src = str(folder) if has_tok else DEFAULT_TOKENIZER
    tok_path = Path(str(tok_src)).expanduser()
    tok_folder = str(tok_path) if tok_path.exists() else resolve_weights(str(tok_src), None)
    return LoadedModel(
        family=spec.name, model=model,
        tokenizer=transformers.BertTokenizer.from_pretrained(tok_folder),
        image_processor=None, model_id=str(path), revision=None,
        provenance={"weights_sha256": file_sha256(ckpt_path), "weights_file": ckpt_path.name},
        device=dev, folder=str(folder),
        extra={"config": cfg, "tokenizer_id": str(tok_src)},
    )


def _read_checkpoint(ckpt_path: Path, folder: Path, options: dict[str, Any]
                     ) -> tuple[Any, dict[str, int]]:
    """The model with the checkpoint's weights, and its inferred config."""
    trust = bool(options.get("trust_checkpoint", False))
    try:
        raw = torch.load(ckpt_path, map_location="cpu", weights_only=not trust)
    except Exception as exc:
        raise ValueError(
            f"could not read ALBEF checkpoint {ckpt_path} ({type(exc).__name__}: {exc}); if "
            "you trust the file, pass trust_checkpoint=True"
        ) from exc
    state = albef_state_dict(raw)
    del raw
    for key in ("visual_encoder.pos_embed", "text_encoder.embeddings.word_embeddings.weight",
                "itm_head.weight"):
        if key not in state:
            raise ValueError(f"{ckpt_path} is not an ALBEF ITM checkpoint: no {key!r}")
    cfg = infer_config(state)
    if not cfg["embed_dim"]:  # ITC parts incomplete: the ITM path does not use them
        state = {k: v for k, v in state.items()
                 if not k.startswith(("vision_proj.", "text_proj.")) and k != "temp"}
    bert_cfg = folder / "config_bert.json"
    file_cfg = json.loads(bert_cfg.read_text()) if bert_cfg.is_file() else {}
    text_heads = _heads("text_heads", options.get("text_heads",
                        file_cfg.get("num_attention_heads")), cfg["text_width"])
    vision_heads = _heads("vision_heads", options.get("vision_heads"), cfg["vision_width"])
    model = build_albef(cfg, text_heads=text_heads, vision_heads=vision_heads)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{ckpt_path}: the checkpoint does not fit the ALBEF architecture; "
            f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}"
        )
    return model, cfg


def build_gradcam(loaded: LoadedModel, choices: dict[str, Any]) -> AlbefExplainer:
    """The ``gradcam`` method of ``albef``.

    Parameters
    ----------
    loaded : LoadedModel
        From :func:`load_albef_model`.
    choices : dict
        ``score`` ("itm" or "itc"), ``tensor`` (must agree: "cross-attention" for
        itm, "self-attention" for itc). ``block`` (int, default 8): for itm a
        fusion layer of the text encoder, for itc a visual-encoder block.
        ``token_reduce`` (itm): "text" (mean over the text tokens), "all" (every
        attended row, ``[CLS]`` included: ``Grounding.py``'s
        ``gradcam.mean(1).mean(1)`` for a batch of one), "cls", or "each" (each
        token's map, post-processed, then averaged: ``visualization.ipynb``).
        ``clamp``, ``head_reduce``, ``token_limit`` (default 40), ``overflow``,
        ``clean_text`` (ALBEF's ``pre_caption``), ``flush_denormal``: as for BLIP.
        ``sep_token`` ("none" or "sep", default "none"; see the module docstring).

    Raises
    ------
    ValueError
        On an unknown choice or one out of range; the message lists the valid ones.
    """
    check_options(choices, OPTIONS, context="albef gradcam")
    score = check_option("score", choices.get("score", "itm"), SCORE_CHOICES)
    check_option("tensor", choices.get("tensor", _TENSOR[score]), (_TENSOR[score],))
    check_option("input_fit", choices.get("input_fit", "squash"), ("squash",))
    cfg = loaded.extra["config"]
    if score == "itc" and not loaded.model.has_itc:
        raise ValueError(f"{loaded.model_id} has no vision_proj/text_proj/temp: the ITC "
                         "score needs a checkpoint with them (refcoco.pth, mscoco.pth)")
    depth = cfg["vision_depth"] if score == "itc" else cfg["text_layers"]
    shared = fusion_choices({"block": 8, **choices}, n_layers=depth,
                            max_tokens=cfg["max_positions"],
                            default_token_limit=DEFAULT_TOKEN_LIMIT)
    if score == "itm" and shared.block < cfg["fusion_layer"]:
        raise ValueError(f"block must be a fusion layer (>= {cfg['fusion_layer']}) with "
                         f"cross-attention; got {shared.block}")
    return AlbefExplainer(loaded, shared, score=score, sep_token=check_option(
        "sep_token", choices.get("sep_token", "none"), SEP_TOKEN_CHOICES))
