"""CLIPSeg: the segmentation map for each text, or Grad-CAM on its decoder.

``"sigmoid"`` (default)
    ``sigmoid(logits)`` of ``CLIPSegForImageSegmentation`` for each text, on the
    logits grid (352 x 352 for the released weights, the processor's input size).
``"gradcam"``
    captum-style Grad-CAM (:func:`vista.explain.cam.gradcam_tokens`) on the output
    tokens of one decoder block, for the sum of the text's segmentation logits (the
    Seg-Grad-CAM score of Vinogradova et al. 2020 with the whole image as the
    region). Default block 0: the first decoder block, where the text conditioning
    (FiLM) has just been applied to the deepest extracted vision features; later
    blocks are close to a linear read-out of the logits (for ``clipseg-rd16``,
    whose up-sampling is one transposed convolution, Grad-CAM on the last block is
    the patch-averaged logit map up to a constant), so they would repeat
    ``"sigmoid"`` rather than explain it.

The image is encoded once per call (``clip.get_image_features`` with the vision
hidden states the decoder reads, ``extract_layers``); the texts' conditional
embeddings are one batch, and the decoder runs once on the batch of texts with the
image activations shared. This is the model's own forward (which requires one
image copy per prompt and encodes each copy) with the vision encoder run once.

The processor resizes the whole image to its square input (no crop, aspect not
kept), as CLIPSeg does; the map is resized back to the image grid.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validation import check_option, require
from .base import (
    OVERFLOW_CHOICES,
    Explainer,
    check_options,
    combine_text_pieces,
    leaf_hook,
    load_frozen,
    load_processors,
    pick_device,
    registered_weights,
    remove_hooks,
    resolve_block,
    tokenize_texts,
    torch_call_scope,
)
from .cam import gradcam_tokens
from .registry import register

__all__ = ["METHODS", "ClipSegExplainer", "load_clipseg"]

METHODS = ("sigmoid", "gradcam")


class ClipSegExplainer(Explainer):
    """Sigmoid maps or decoder Grad-CAM of CLIPSeg; built by :func:`load_clipseg`."""

    def __init__(
        self,
        *,
        name: str,
        model: Any,
        tokenizer: Any,
        image_processor: Any,
        model_id: str,
        revision: str | None,
        method: str,
        block: int,
        overflow: str,
        device: str,
    ) -> None:
        super().__init__(
            name=name,
            model=model,
            tokenizer=tokenizer,
            image_processor=image_processor,
            model_id=model_id,
            revision=revision,
            method=method,
            device=device,
        )
        self.block = block
        self.overflow = overflow
        self.token_limit = int(model.config.text_config.max_position_embeddings)
        common = {
            "extract_layers": list(model.config.extract_layers),
            "input_fit": "squash",
        }
        if method == "sigmoid":
            self.options = {"score": "sigmoid(segmentation logits)", **common}
        else:
            self.options = {
                "block": block,
                "layer": f"decoder.layers[{block}] output",
                "score": "sum of segmentation logits",
                "relu": True,
                **common,
            }

    def _explain_batch(
        self, image: np.ndarray, texts: list[str]
    ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        torch = require("torch", "explain")
        from PIL import Image

        model = self.model
        with torch_call_scope():
            pixels = self.image_processor(images=Image.fromarray(image), return_tensors="pt")[
                "pixel_values"
            ].to(self.device)
            enc, owners, infos = tokenize_texts(
                self.tokenizer, texts, limit=self.token_limit, overflow=self.overflow
            )
            n = enc["input_ids"].shape[0]  # rows: texts, or pieces of split texts
            with torch.no_grad():
                vision = model.clip.get_image_features(
                    pixel_values=pixels, output_hidden_states=True
                )
                activations = [
                    vision.hidden_states[i + 1].expand(n, -1, -1) for i in model.extract_layers
                ]
                conditional = model.clip.get_text_features(
                    input_ids=enc["input_ids"].to(self.device),
                    attention_mask=enc["attention_mask"].to(self.device),
                ).pooler_output
            if self.method == "sigmoid":
                with torch.no_grad():
                    logits = model.decoder(activations, conditional).logits
                maps = torch.sigmoid(logits.reshape(n, *logits.shape[-2:])).cpu().numpy()
            else:
                leaves: list[Any] = []
                hook = leaf_hook(leaves)
                handle = model.decoder.layers[self.block].register_forward_hook(hook)
                try:
                    logits = model.decoder(activations, conditional).logits
                finally:
                    remove_hooks([handle])
                logits = logits.reshape(n, *logits.shape[-2:])
                # Each text is its own batch row, so d(sum)/d(tokens) is per text.
                (grad,) = torch.autograd.grad(logits.sum(), leaves)
                side = math.isqrt(leaves[0].shape[1] - 1)
                maps = gradcam_tokens(leaves[0].detach(), grad, relu=True, grid=(side, side))
            grid = list(maps.shape[-2:])
        out = combine_text_pieces(maps, enc, owners, len(texts))
        for info in infos:
            info["grid"] = grid
            info["input_size"] = list(pixels.shape[-2:])
        return out, infos


@register("clipseg")
@register("clipseg-rd16")
def load_clipseg(
    name: str,
    *,
    weights: str | None = None,
    device: str | None = None,
    method: str | None = None,
    **options: Any,
) -> ClipSegExplainer:
    """Load the ``clipseg`` or ``clipseg-rd16`` explainer.

    Parameters
    ----------
    name : {"clipseg", "clipseg-rd16"}
        Registry name; picks the default weights.
    weights : str, optional
        Hugging Face id or local folder (``CLIPSegForImageSegmentation`` weights, CLIP
        tokenizer, image processor). Default ``CIDAS/clipseg-rd64-refined``
        (``clipseg``) or ``CIDAS/clipseg-rd16`` (``clipseg-rd16``).
    device : str, optional
        Torch device; cuda when available.
    method : {"sigmoid", "gradcam"}, optional
        Default ``"sigmoid"``.
    **options
        ``block`` (gradcam): 0-based decoder block whose output tokens are
        explained, negative counts from the end; default 0. ``overflow``:
        ``"truncate"`` (default) or ``"split"`` a text longer than the 77-token
        limit (split pieces are segmented separately and their maps averaged,
        weighted by text tokens). ``revision``: Hub commit for a Hub id.

    Returns
    -------
    ClipSegExplainer

    Raises
    ------
    ValueError
        On an unknown method or option, or a block out of range.
    """
    transformers = require("transformers", "explain")
    method = check_option("method", "sigmoid" if method is None else method, METHODS)
    allowed = {"sigmoid": ("overflow", "revision"), "gradcam": ("block", "overflow", "revision")}
    check_options(options, allowed[method], context=f"{name} with method={method!r}")
    overflow = check_option("overflow", options.get("overflow", "truncate"), OVERFLOW_CHOICES)
    model_id, revision, folder = registered_weights(name, weights, options.get("revision"))
    dev = pick_device(device)
    model = load_frozen(transformers.CLIPSegForImageSegmentation, folder, device=dev)
    block = resolve_block("block", options.get("block", 0), len(model.decoder.layers))
    tokenizer, image_processor = load_processors(folder)
    return ClipSegExplainer(
        name=name,
        model=model,
        tokenizer=tokenizer,
        image_processor=image_processor,
        model_id=model_id,
        revision=revision,
        method=method,
        block=block,
        overflow=overflow,
        device=dev,
    )
