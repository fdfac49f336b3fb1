"""Chefer et al.'s bi-modal relevance (ICCV 2021) for BLIP-ITM and ALBEF, and the
pixel-score view of those families that captum uses.

"Generic Attention-model Explainability for Interpreting Bi-Modal and
Encoder-Decoder Transformers" propagates relevance through every attention layer
of both modalities, with a rule for self-attention and one for co-attention.
BLIP and ALBEF have a vision encoder (image self-attention only) and a text
encoder whose layers run text self-attention, then (ALBEF: from its fusion layer
on) cross-attention from the text to the image tokens. The image never attends to
the text, so the image-to-text relevance stays 0.

With ``Ā = E_h[(∇A ⊙ A)^+]`` (rule 5: the gradient of the ITM match logit times the
attention, clamped at 0, mean over heads), and ``R^{ii} = I``, ``R^{tt} = I``,
``R^{ti} = 0``:

- each vision block (rules 6-7): ``R^{ii} += Ā^{ii} R^{ii}``;
- each text self-attention (rules 6-7): ``R^{tt} += Ā^{tt} R^{tt}``,
  ``R^{ti} += Ā^{tt} R^{ti}``;
- each text-to-image cross-attention (rules 10-11):
  ``R^{ti} += (\\bar R^{tt})^T Ā^{ti} \\bar R^{ii}`` with ``\\bar R = (R - I)``
  row-normalised ``+ I`` (eqs. 8-9); ``R^{tt} += Ā^{ti} R^{it} = 0``.

The map is the row of the first text token (``[ENC]``/``[CLS]``, whose output feeds
the ITM head) of ``R^{ti}``, image ``[CLS]`` column dropped, on the patch grid.

This follows ``GeneratorOurs`` in hila-chefer/Transformer-MM-Explainability
``lxmert/lxmert/src/ExplanationGenerator.py`` (``avg_heads``,
``apply_self_attention_rules``, ``apply_mm_attention_rules``, ``handle_residual``)
with ``use_lrp=False`` (gradients times attention, the paper's method). Choices and
departures, recorded in every map:

- ``normalize_self_attention`` (default True) and ``apply_self_in_rule_10``
  (default True), the reference's switches;
- the reference explains one unpadded pair; vista explains every text of a call in
  one batch. A padding token's row of ``R - I`` sums to 0, and the reference's
  division would make it NaN; vista leaves such a row at 0, which leaves the
  ``[CLS]`` row unchanged (padding columns of ``Ā`` are 0);
- the text encoder's layers are taken in the order the model runs them
  (self-attention, then cross-attention), where LXMERT's cross layers run
  cross-attention first.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np

from .._validation import require
from .cam import to_float64, tokens_to_grid

__all__ = ["FusionParts", "avg_heads", "bimodal_relevance", "build", "handle_residual",
           "run_bimodal"]


def avg_heads(attention: Any, gradient: Any) -> np.ndarray:
    """Rule 5: ``(gradient * attention).clamp(0).mean(heads)``; (H, Q, K) -> (Q, K).

    Examples
    --------
    >>> avg_heads(np.full((2, 1, 2), 0.5), np.array([[[2.0, -2.0]], [[4.0, 0.0]]]))
    array([[1.5, 0. ]])
    """
    attn = to_float64("attention", attention)
    grad = to_float64("gradient", gradient)
    if attn.shape != grad.shape or attn.ndim != 3:
        raise ValueError(f"attention and gradient must both be (heads, queries, keys); got "
                         f"{attn.shape} and {grad.shape}")
    return np.clip(grad * attn, 0.0, None).mean(axis=0)


def handle_residual(relevance: Any) -> np.ndarray:
    """Eqs. 8-9: ``R - I`` with each row scaled to sum to 1, plus ``I``; a row of
    ``R - I`` that sums to 0 (a padding token) is left at 0.

    Examples
    --------
    >>> handle_residual(np.array([[3.0, 2.0], [0.0, 1.0]]))
    array([[1.5, 0.5],
           [0. , 1. ]])
    """
    r = to_float64("relevance", relevance)
    eye = np.eye(r.shape[-1])
    hat = r - eye
    total = hat.sum(axis=-1, keepdims=True)
    return np.divide(hat, total, out=np.zeros_like(hat), where=total != 0) + eye


def bimodal_relevance(
    vision: Sequence[Any],
    text: Sequence[tuple[str, Any]],
    *,
    normalize_self_attention: bool = True,
    apply_self_in_rule_10: bool = True,
) -> np.ndarray:
    """``R^{ti}`` after the vision blocks and the text layers (one text row).

    Parameters
    ----------
    vision : sequence of array, each (N, N)
        ``Ā`` of every vision block, in forward order (:func:`avg_heads`).
    text : sequence of (kind, array)
        The text encoder's attention steps in forward order: ``("self", Ā^{tt})``
        (T, T) or ``("cross", Ā^{ti})`` (T, N).
    normalize_self_attention, apply_self_in_rule_10 : bool
        The reference's switches (``False`` in the second: ``R^{ti} += Ā^{ti}``).

    Returns
    -------
    numpy.ndarray, shape (T, N)

    Examples
    --------
    One vision block and one cross-attention, two text tokens, image CLS + one patch:

    >>> r = bimodal_relevance([np.array([[0.0, 1.0], [0.0, 0.0]])],
    ...                       [("cross", np.array([[0.0, 2.0], [0.0, 0.0]]))])
    >>> r[0]  # R^ii = [[1, 1], [0, 1]]: the patch reaches [CLS] via the vision block
    array([0., 2.])
    """
    if not vision:
        raise ValueError("vision must hold at least one block")
    r_ii = np.eye(to_float64("vision[0]", vision[0]).shape[-1])
    for b, cam in enumerate(vision):
        r_ii = r_ii + to_float64(f"vision[{b}]", cam) @ r_ii
    r_tt: np.ndarray | None = None
    r_ti: np.ndarray | None = None
    for i, (kind, value) in enumerate(text):
        cam = to_float64(f"text[{i}]", value)
        if r_tt is None or r_ti is None:
            r_tt = np.eye(cam.shape[0])
            r_ti = np.zeros((cam.shape[0], r_ii.shape[0]))
        if kind == "self":
            r_tt, r_ti = r_tt + cam @ r_tt, r_ti + cam @ r_ti
        elif kind == "cross":
            if not apply_self_in_rule_10:
                r_ti = r_ti + cam
            elif normalize_self_attention:
                r_ti = r_ti + handle_residual(r_tt).T @ cam @ handle_residual(r_ii)
            else:
                r_ti = r_ti + r_tt.T @ cam @ r_ii
        else:
            raise ValueError(f"text[{i}] kind must be 'self' or 'cross'; got {kind!r}")
    if r_ti is None:
        raise ValueError("text must hold at least one step")
    return r_ti


class FusionParts:
    """BLIP-ITM or ALBEF (a loaded family Grad-CAM explainer, whose text handling
    and ITM logit are reused) as Chefer's rules and captum see it."""

    n_prefix = 1
    score_name = "itm_logit"

    def __init__(self, family: Any) -> None:
        self.family = family
        self.model = family.model
        self.tokenizer = family.tokenizer
        self.image_processor = family.image_processor
        self.device = family.device
        self.grid = tuple(family.grid)
        self.input_size = int(getattr(family, "input_size", 0) or 0)
        self.albef = hasattr(self.model, "visual_encoder")
        #: ALBEF normalises with its own constants (it has no image processor)
        self.pixel_norm: tuple[Any, Any] | None = None
        if self.albef:
            from .albef import MEAN, STD

            self.pixel_norm = (MEAN, STD)

    def pixels(self, image: np.ndarray) -> Any:
        return self.family._pixels(image)

    def texts(self, texts: list[str]) -> tuple[dict[str, Any], list[int], list[dict[str, Any]], Any]:
        fam = self.family
        used = [(fam._clean(t) or t) if fam.clean_text else t for t in texts]
        enc, owners, infos = fam._tokenize(used)
        for info, text, clean in zip(infos, texts, used, strict=True):
            if clean != text:
                info["text_used"] = clean
        ids = fam._input_ids(enc["input_ids"].clone()).to(self.device)
        return enc, owners, infos, (ids, enc["attention_mask"].to(self.device))

    def score_pixels(self, pixels: Any, handle: Any) -> Any:
        """The match logit of each model input (n) for each text row, (n, rows)."""
        torch = require("torch", "explain")
        ids, mask = handle
        embeds = self.family._encode_image(pixels)
        n = embeds.shape[0]
        return torch.stack([self.family._match_logit(ids[r:r + 1].expand(n, -1),
                                                     mask[r:r + 1].expand(n, -1), embeds)
                            for r in range(ids.shape[0])], dim=1)

    def vision_layers(self) -> list[Any]:
        if self.albef:
            return list(self.model.visual_encoder.blocks)
        return list(self.model.vision_model.encoder.layers)

    def vision_attention(self, layer: Any) -> tuple[Any, int | None]:
        """(module, output index) of a vision block's attention probabilities."""
        return (layer.attn.probs, None) if self.albef else (layer.self_attn, 1)

    def text_steps(self) -> list[tuple[str, Any]]:
        """The text encoder's attention modules in forward order, output ``[1]``."""
        steps: list[tuple[str, Any]] = []
        for layer in self.model.text_encoder.encoder.layer:
            steps.append(("self", layer.attention.self))
            if getattr(layer, "crossattention", None) is not None:
                steps.append(("cross", layer.crossattention.self))
        return steps


class ViltParts:
    """ViLT (one transformer over text and patch tokens) as captum sees it: the
    processor's pixels (shorter side 384, aspect kept, sides multiples of 32), the
    ITM logit of ``ViltForImageAndTextRetrieval``, every valid patch embedded
    (``max_image_length=-1``, as the family's Grad-CAM does)."""

    n_prefix = 1
    score_name = "itm_logit"

    def __init__(self, loaded: Any, *, overflow: str) -> None:
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.image_processor = loaded.image_processor
        self.device = loaded.device
        self.overflow = overflow
        self.token_limit = int(self.model.config.max_position_embeddings)
        self.patch = int(self.model.config.patch_size)
        self.input_size = 384
        self.grid = (1, 1)
        self.pixel_mask: Any = None

    def pixels(self, image: np.ndarray) -> Any:
        from PIL import Image

        out = self.image_processor(images=Image.fromarray(image), return_tensors="pt")
        self.pixel_mask = out["pixel_mask"].to(self.device)
        pixels = out["pixel_values"].to(self.device)
        self.grid = (pixels.shape[-2] // self.patch, pixels.shape[-1] // self.patch)
        return pixels

    def texts(self, texts: list[str]) -> tuple[dict[str, Any], list[int], list[dict[str, Any]], Any]:
        from .text import tokenize_texts

        enc, owners, infos = tokenize_texts(self.tokenizer, texts, limit=self.token_limit,
                                            overflow=self.overflow)
        return enc, owners, infos, (enc["input_ids"].to(self.device),
                                    enc["attention_mask"].to(self.device))

    def score_pixels(self, pixels: Any, handle: Any) -> Any:
        """The ITM logit of each model input (n) for each text row, (n, rows)."""
        torch = require("torch", "explain")
        ids, mask = handle
        n = pixels.shape[0]
        devices = [pixels.device] if pixels.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            embeds, embeds_mask, _ = self.model.vilt.embeddings.visual_embed(
                pixels, self.pixel_mask.expand(n, -1, -1), max_image_length=-1)
        return torch.stack([self.model(input_ids=ids[r:r + 1].expand(n, -1),
                                       attention_mask=mask[r:r + 1].expand(n, -1),
                                       image_embeds=embeds, pixel_mask=embeds_mask).logits[:, 0]
                            for r in range(ids.shape[0])], dim=1)


def run_bimodal(parts: FusionParts, image: np.ndarray, texts: list[str], *,
                normalize_self_attention: bool = True, apply_self_in_rule_10: bool = True
                ) -> tuple[np.ndarray, np.ndarray, Any, list[int], list[dict[str, Any]]]:
    """Bi-modal relevance maps, one per text row (see the module docstring): the
    image and all texts run once; one backward pass per row, from its match logit
    to every attention tensor."""
    torch = require("torch", "explain")
    from .hooks import capture_hook, leaf_input_hook, run_with_hooks

    pixels = parts.pixels(image)
    enc, owners, infos, (ids, mask) = parts.texts(texts)
    vision_probs: list[Any] = []
    text_probs: list[Any] = []
    layers = parts.vision_layers()
    # the first vision block's and the first text layer's inputs become leaves, so
    # every attention tensor is in the graph (the parameters are frozen)
    hooks: list[tuple[Any, str, Any]] = [
        (layers[0], "pre", leaf_input_hook([])),
        (parts.model.text_encoder.encoder.layer[0], "pre", leaf_input_hook([]))]
    for layer in layers:
        module, index = parts.vision_attention(layer)
        hooks.append((module, "forward", capture_hook(vision_probs, index)))
    steps = parts.text_steps()
    hooks += [(module, "forward", capture_hook(text_probs, 1)) for _, module in steps]
    scores = run_with_hooks(
        lambda: parts.family._match_logit(ids, mask, parts.family._encode_image(pixels)), hooks)
    targets = [*vision_probs, *text_probs]
    maps = []
    nv = len(vision_probs)
    for row in range(scores.shape[0]):
        grads = torch.autograd.grad(scores[row], targets, retain_graph=row + 1 < scores.shape[0])
        vision = [avg_heads(a[0], g[0]) for a, g in zip(vision_probs, grads[:nv], strict=True)]
        text = [(kind, avg_heads(a[row], g[row]))
                for (kind, _), a, g in zip(steps, text_probs, grads[nv:], strict=True)]
        r_ti = bimodal_relevance(vision, text, normalize_self_attention=normalize_self_attention,
                                 apply_self_in_rule_10=apply_self_in_rule_10)
        maps.append(r_ti[0])
    grid = tokens_to_grid(np.stack(maps), n_prefix=parts.n_prefix, grid=parts.grid)
    return grid, scores.detach().cpu().double().numpy(), enc, owners, infos


#: Choices passed on to the family's own text handling (its Grad-CAM builder).
_TEXT_OPTIONS = ("token_limit", "overflow", "clean_text", "first_token", "sep_token",
                 "flush_denormal")
_BIMODAL = {"normalize_self_attention": True, "apply_self_in_rule_10": True}


def build(loaded: Any, choices: dict[str, Any], *, method: str) -> Any:
    """The builder of ``bimodal`` or ``captum:NAME`` for ``blip-itm-*`` and ``albef``."""
    import importlib

    from .dual import DESCRIPTIVE, MethodExplainer

    if loaded.family == "vilt":
        return _build_vilt_captum(loaded, choices, method)
    module = importlib.import_module(f"{__package__}.{'albef' if loaded.family == 'albef' else 'blip'}")
    text = {k: v for k, v in choices.items() if k in _TEXT_OPTIONS}
    family = module.build_gradcam(loaded, text)
    parts = FusionParts(family)
    rest = {k: v for k, v in choices.items() if k not in _TEXT_OPTIONS and k not in DESCRIPTIVE}
    if choices.get("input_fit", "squash") != "squash":
        raise ValueError(f"input_fit must be 'squash' for method {method!r}; "
                         f"got {choices['input_fit']!r}")
    recorded = {k: family.options[k] for k in ("token_limit", "overflow", "clean_text",
                                               "first_token", "sep_token") if k in family.options}
    if method.startswith("captum:"):
        from .attribution import captum_choices, run_captum

        patch = parts.input_size // parts.grid[0] if parts.input_size else 16
        captum = captum_choices(method, rest, patch=patch)
        return MethodExplainer(loaded, parts=parts, method=method,
                               runner=partial(run_captum, choices=captum),
                               options={**recorded, **captum})
    unknown = sorted(set(rest) - set(_BIMODAL))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for method "
                         f"'bimodal'; allowed: {', '.join(map(repr, [*_BIMODAL, *_TEXT_OPTIONS]))}")
    chosen = {k: bool(v) for k, v in {**_BIMODAL, **rest}.items()}
    return MethodExplainer(loaded, parts=parts, method=method,
                           runner=partial(run_bimodal, normalize_self_attention=chosen[
                               "normalize_self_attention"], apply_self_in_rule_10=chosen[
                               "apply_self_in_rule_10"]),
                           options={**recorded, **chosen, "token_row": "first ([ENC]/[CLS])"})


def _build_vilt_captum(loaded: Any, choices: dict[str, Any], method: str) -> Any:
    """``captum:NAME`` on ViLT's pixels: the map is on the processor's pixel grid
    (its aspect is the image's), then resized onto the image like every map."""
    from .._validation import check_option
    from .attribution import captum_choices, run_captum
    from .dual import DESCRIPTIVE, MethodExplainer
    from .text import OVERFLOW_CHOICES

    rest = {k: v for k, v in choices.items() if k not in DESCRIPTIVE and k != "overflow"}
    overflow = check_option("overflow", choices.get("overflow", "truncate"), OVERFLOW_CHOICES)
    parts = ViltParts(loaded, overflow=overflow)
    captum = captum_choices(method, rest, patch=parts.patch)
    explainer = MethodExplainer(loaded, parts=parts, method=method,
                                runner=partial(run_captum, choices=captum),
                                options={"overflow": overflow, **captum})
    explainer.options.update(input_fit="shorter-384 (ViLT's processor)", input_size="image's",
                             grid="the processor's pixels")
    return explainer
