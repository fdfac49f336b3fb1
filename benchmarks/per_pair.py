"""The reference code's per-pair ways for the CLIP, CLIPSeg and ViLT rows of
``explain_all.py``: each recipe's reference flow, one image-text pair a call, on the
explainer's own loaded model, with the parameters trainable as the reference scripts
leave them (nothing there calls ``requires_grad_(False)``).

- ``clip:gradcam``: jacobgil/pytorch-grad-cam ``usage_examples/clip_example.py``
  with ``GradCAM`` (``base_cam.py`` ``BaseCAM.forward``,
  ``activations_and_gradients.py``, ``utils/image.py`` ``preprocess_image`` and
  ``scale_cam_image``): ``cv2.resize`` to 224, a full CLIP forward that tokenizes
  its label, ``model.zero_grad()``, ``loss.backward(retain_graph=True)`` through the
  whole model, the activation and gradient of the last block's ``layer_norm1``
  kept by hooks, channel weights, ReLU, min-max and ``cv2.resize``. The example's
  wrapper returns the softmax over its labels; with one label a call the softmax is
  constant, so the per-pair target is the label's logit (as vista's score).
- ``clip:chefer`` and ``chefer-pad``: Transformer-MM-Explainability
  ``CLIP_explainability.ipynb`` ``interpret()`` with one text (the port in
  ``tests/explain_references.py``, ``chefer_interpret``): OpenAI's preprocessing,
  the text as ``clip.tokenize`` gives it (77 positions), the full forward and the
  gradient to the last block's attention. The notebook's text half (a second
  gradient, to the text tower's last attention) is left out, so this is a lower
  bound on the notebook's time.
- ``clipseg`` sigmoid recipes: clipseg ``Quickstart.ipynb`` with one prompt (the
  port ``clipseg_quickstart``): its transforms, the prompt as ``clip.tokenize``
  gives it (77 positions; the original ``CLIPDensePredT.compute_conditional``
  tokenizes so), the full model under ``torch.no_grad()``, ``torch.sigmoid``.
- ``vilt:ipot``: ViLT ``demo.py`` ``infer()`` for one text (the port
  ``vilt_demo_token_heatmaps``): ``pixelbert_transform``, the forward, IPOT with
  1000 iterations and the heatmap of every word.

``per_pair_way(ex)`` picks the way for an explainer, or ``None`` where the row has no
reference flow here (then ``explain_all.py`` times vista one text a call).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from explain_references import (  # the ports the recipes are tested against
    chefer_interpret,
    clipseg_quickstart,
    openai_clip_preprocess,
    vilt_demo_token_heatmaps,
    vilt_pixelbert_pixels,
)

#: A per-pair way: (explainer, image, texts) -> None, one reference call per text.
PerPair = Callable[[Any, np.ndarray, list[str]], None]


def _clip_tokenize(ex: Any, text: str) -> Any:
    """OpenAI ``clip.tokenize``: the text model's whole context (77 positions in every
    released CLIP), zero padded."""
    context = int(ex.model.config.text_config.max_position_embeddings)
    return ex.tokenizer([text], padding="max_length", max_length=context, truncation=True,
                        return_tensors="pt")


def clip_gradcam(ex: Any, image: np.ndarray, texts: list[str]) -> None:
    """pytorch-grad-cam's CLIP example, one label a call (see the module docstring)."""
    import cv2
    import torch

    proc = ex.image_processor
    for text in texts:
        rgb = np.float32(cv2.resize(image, (ex.input_size, ex.input_size))) / 255
        x = (rgb - np.asarray(proc.image_mean, np.float32)) / np.asarray(proc.image_std, np.float32)
        cam = _grad_cam(ex, torch.from_numpy(x.transpose(2, 0, 1).copy())[None], text)
        cv2.resize(cam, (ex.input_size, ex.input_size))  # scale_cam_image's target size


def _grad_cam(ex: Any, pixels: Any, text: str) -> np.ndarray:
    """``GradCAM(model, [layers[-1].layer_norm1], reshape_transform)(pixels, targets)``
    for one label: ``ActivationsAndGradients``, ``BaseCAM.forward``, ``GradCAM``'s
    weights, ReLU and ``scale_cam_image``'s min-max; the patch-grid map (the caller
    resizes it)."""

    model = ex.model
    vcfg = model.config.vision_config
    side = int(vcfg.image_size) // int(vcfg.patch_size)

    def reshape_transform(t: Any) -> Any:
        return t[:, 1:, :].reshape(t.size(0), side, side, t.size(2)).transpose(2, 3).transpose(1, 2)

    acts: list[Any] = []
    grads: list[Any] = []

    def save(module: Any, args: Any, output: Any) -> None:
        acts.append(reshape_transform(output).cpu().detach())
        output.register_hook(lambda grad: grads.insert(0, reshape_transform(grad).cpu().detach()))

    handle = model.vision_model.encoder.layers[ex.block].layer_norm1.register_forward_hook(save)
    try:
        enc = ex.tokenizer([text], return_tensors="pt", padding=True)
        logits = model(pixel_values=pixels, input_ids=enc["input_ids"],
                       attention_mask=enc["attention_mask"]).logits_per_image
    finally:
        handle.remove()
    model.zero_grad()
    logits[0, 0].backward(retain_graph=True)
    act, grad = acts[0].numpy(), grads[0].numpy()
    cam = np.maximum((grad.mean(axis=(2, 3))[:, :, None, None] * act).sum(axis=1), 0)[0]
    cam = cam - cam.min()
    return np.float32(cam / (1e-7 + cam.max()))


def clip_chefer(ex: Any, image: np.ndarray, texts: list[str]) -> None:
    """The CLIP notebook's ``interpret()`` (image half), one text a call."""
    proc = ex.image_processor
    for text in texts:
        pixels, _ = openai_clip_preprocess(image, ex.input_size, proc.image_mean, proc.image_std)
        enc = _clip_tokenize(ex, text)
        chefer_interpret(ex.model, pixels, enc["input_ids"], enc["attention_mask"],
                         start_layer=ex.start_block)
        ex.model.zero_grad()


def clipseg_sigmoid(ex: Any, image: np.ndarray, texts: list[str]) -> None:
    """clipseg's Quickstart, one prompt a call."""
    size = int(ex.model.config.vision_config.image_size)
    for text in texts:
        enc = _clip_tokenize(ex, text)
        clipseg_quickstart(ex.model, image, enc["input_ids"], enc["attention_mask"], size)


def vilt_ipot(ex: Any, image: np.ndarray, texts: list[str]) -> None:
    """ViLT's ``demo.py``, one text a call."""
    import torch

    shorter = int(ex.image_processor.size["shortest_edge"])
    for text in texts:
        pixels = vilt_pixelbert_pixels(image, shorter)
        ids = torch.as_tensor([ex.tokenizer(text)["input_ids"]])
        vilt_demo_token_heatmaps(ex.base, pixels, ids)


def per_pair_way(family: str, ex: Any) -> tuple[PerPair, str] | None:
    """The reference flow for ``ex`` and its label, or None."""
    if family == "clip" and ex.method == "gradcam" and ex.block == len(
            ex.model.vision_model.encoder.layers) - 1:
        return clip_gradcam, "pytorch-grad-cam CLIP example per pair"
    if family == "clip" and ex.options.get("input_fit") in ("crop", "pad") and (
            ex.method == "relevance"):
        return clip_chefer, "CLIP notebook interpret() per pair"
    if family.startswith("clipseg") and ex.method == "sigmoid":
        return clipseg_sigmoid, "clipseg Quickstart per prompt"
    if family == "vilt" and ex.method == "ipot":
        return vilt_ipot, "ViLT demo.py per text"
    return None
