"""CLIPSeg: the segmentation map for each text, or Grad-CAM on its decoder.

Recipes (:mod:`vista.explain.catalog`): ``rd64``, ``rd64-refined`` (the default of
``clipseg``) and ``rd16`` follow the repository's ``Quickstart.ipynb`` (its transform,
``input_fit="quickstart"``, and the sigmoid of the logits); ``vista-0.1`` uses the
transformers processor's resize.

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
from .base import Explainer, check_options, resolve_block, torch_call_scope
from .cam import gradcam_tokens
from .hooks import leaf_hook, run_with_hooks
from .text import OVERFLOW_CHOICES, combine_text_pieces, tokenize_texts
from .weights import LoadedModel

__all__ = ["METHODS", "ClipSegExplainer", "build_gradcam", "build_sigmoid"]

METHODS = ("sigmoid", "gradcam")
#: The quickstart's ``transforms.Normalize`` (ImageNet constants).
QUICKSTART_MEAN = (0.485, 0.456, 0.406)
QUICKSTART_STD = (0.229, 0.224, 0.225)
_FIT_MEANING = {
    "squash": "the transformers processor: PIL bilinear resize of the uint8 image to the "
              "square input, then normalise",
    "quickstart": "clipseg Quickstart.ipynb: ToTensor, Normalize(ImageNet), Resize((352, "
                  "352)) on the float tensor (bilinear, antialiased as torchvision >= 0.17)",
}


def vision_states(model: Any, pixels: Any) -> list[Any]:
    """The CLIP vision tower's hidden states (embeddings after the pre-layernorm, then
    each layer's output) up to the deepest of ``model.extract_layers``: the decoder
    reads no later layer, so the layers above it (2 of 12 in CLIPSeg: layers 10 and 11)
    are not run.
    Equal to ``get_image_features(output_hidden_states=True).hidden_states[:k + 2]``."""
    vision = model.clip.vision_model
    hidden = vision.pre_layrnorm(vision.embeddings(pixels, interpolate_pos_encoding=True))
    states = [hidden]
    for layer in vision.encoder.layers[: max(model.extract_layers) + 1]:
        out = layer(hidden, None)
        hidden = out[0] if isinstance(out, tuple) else out
        states.append(hidden)
    return states


class ClipSegExplainer(Explainer):
    """Sigmoid maps or decoder Grad-CAM of CLIPSeg; built by :func:`load_clipseg`."""

    def __init__(self, loaded: LoadedModel, *, method: str, block: int, overflow: str,
                 input_fit: str = "squash") -> None:
        super().__init__(loaded, method=method)
        self.input_fit = input_fit
        model = loaded.model
        self.block = block
        self.overflow = overflow
        self.token_limit = int(model.config.text_config.max_position_embeddings)
        common = {
            "extract_layers": list(model.config.extract_layers),
            "input_fit": input_fit,
            "input_fit_meaning": _FIT_MEANING[input_fit],
            "overflow": overflow,
        }
        if method == "sigmoid":
            self.options = {"score": "sigmoid", "tensor": "logits", **common}
        else:
            self.options = {
                "block": block,
                "layer": f"decoder.layers[{block}] output",
                "score": "logits-sum",
                "score_meaning": "sum of segmentation logits",
                "tensor": "decoder-tokens",
                "relu": True,
                **common,
            }

    def _explain_batch(
        self, image: np.ndarray, texts: list[str]
    ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        torch = require("torch", "explain")

        model = self.model
        with torch_call_scope():
            pixels = self._pixels(image).to(self.device)
            enc, owners, infos = tokenize_texts(
                self.tokenizer, texts, limit=self.token_limit, overflow=self.overflow
            )
            n = enc["input_ids"].shape[0]  # rows: texts, or pieces of split texts
            with torch.no_grad():
                states = vision_states(model, pixels)
                activations = [states[i + 1].expand(n, -1, -1) for i in model.extract_layers]
                conditional = model.clip.get_text_features(
                    input_ids=enc["input_ids"].to(self.device),
                    attention_mask=enc["attention_mask"].to(self.device),
                ).pooler_output
            if self.method == "sigmoid":
                with torch.no_grad():
                    logits = model.decoder(activations, conditional).logits
                maps = torch.sigmoid(logits.reshape(n, *logits.shape[-2:])).float().cpu().numpy()
            else:
                leaves: list[Any] = []
                logits = run_with_hooks(
                    lambda: model.decoder(activations, conditional).logits,
                    [(model.decoder.layers[self.block], "forward", leaf_hook(leaves))])
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

    def _pixels(self, image: np.ndarray) -> Any:
        """The model input, batch 1: the processor's resize (``"squash"``) or the
        quickstart's transform (``"quickstart"``)."""
        torch = require("torch", "explain")
        from PIL import Image

        if self.input_fit == "squash":
            return self.image_processor(images=Image.fromarray(image),
                                        return_tensors="pt")["pixel_values"]
        size = self.image_processor.size
        side = (int(size["height"]), int(size["width"])) if "height" in size else \
            (int(size["shortest_edge"]),) * 2
        x = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255.0
        mean = torch.tensor(QUICKSTART_MEAN)[:, None, None]
        std = torch.tensor(QUICKSTART_STD)[:, None, None]
        x = ((x - mean) / std)[None]
        return torch.nn.functional.interpolate(x, size=side, mode="bilinear", align_corners=False,
                                               antialias=True)


def _build(loaded: LoadedModel, choices: dict[str, Any], method: str) -> ClipSegExplainer:
    allowed = {"sigmoid": ("score", "tensor", "input_fit", "overflow"),
               "gradcam": ("score", "tensor", "block", "input_fit", "overflow")}
    check_options(choices, allowed[method], context=f"{loaded.family} {method}")
    score, tensor = ("sigmoid", "logits") if method == "sigmoid" else ("logits-sum",
                                                                        "decoder-tokens")
    check_option("score", choices.get("score", score), (score,))
    check_option("tensor", choices.get("tensor", tensor), (tensor,))
    fit = check_option("input_fit", choices.get("input_fit", "squash"), tuple(_FIT_MEANING))
    return ClipSegExplainer(
        loaded,
        method=method,
        block=resolve_block("block", choices.get("block", 0), len(loaded.model.decoder.layers)),
        overflow=check_option("overflow", choices.get("overflow", "truncate"), OVERFLOW_CHOICES),
        input_fit=fit,
    )


def build_sigmoid(loaded: LoadedModel, choices: dict[str, Any]) -> ClipSegExplainer:
    """The ``sigmoid`` method of ``clipseg`` and ``clipseg-rd16``: ``choices``
    ``input_fit`` and ``overflow`` (``"truncate"`` or ``"split"`` a text longer than
    the 77-token limit; split pieces are segmented separately and their maps
    averaged, weighted by text tokens)."""
    return _build(loaded, choices, "sigmoid")


def build_gradcam(loaded: LoadedModel, choices: dict[str, Any]) -> ClipSegExplainer:
    """The ``gradcam`` method of ``clipseg`` and ``clipseg-rd16``: ``choices``
    ``block`` (0-based decoder block whose output tokens are explained, negative
    counts from the end; default 0), ``input_fit``, ``overflow``."""
    return _build(loaded, choices, "gradcam")
