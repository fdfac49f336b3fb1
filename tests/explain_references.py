"""Ports of the reference code each explain recipe follows, written for the tests.

Each function repeats the arithmetic of one original file, step by step and in the
original's order, on the transformers (or vista-rebuilt) model the recipe loads,
with a full backward pass through a trainable model as the original does (the
library instead differentiates from the hooked tensor only). The docstrings name the
file and function; the tests compare vista's maps with these to 1e-5 of their range.

Sources (read from the repositories):
- LAVIS ``lavis/models/blip_models/blip_image_text_matching.py`` ``compute_gradcam``
  and ``lavis/common/gradcam.py`` ``getAttMap``; ``examples/blip_text_localization.ipynb``.
- ALBEF ``Grounding.py`` ``val()`` and ``visualization.ipynb``.
- Transformer-MM-Explainability ``CLIP_explainability.ipynb`` ``interpret()``.
- ViLT ``demo.py`` and ``vilt/modules/objectives.py`` (``cost_matrix_cosine``, ``ipot``);
  ``vilt/transforms/utils.py`` ``MinMaxResize``.
- clipseg ``Quickstart.ipynb``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["assert_close_in_range", "getattmap_ref", "lavis_compute_gradcam", "saved_attention"]


def assert_close_in_range(got: np.ndarray, expected: np.ndarray, rel: float = 1e-5) -> None:
    """``got`` equals ``expected`` to ``rel`` of the expected map's range, and the
    expected map is not constant (so the comparison can fail)."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    span = float(expected.max() - expected.min())
    assert span > 0, "the reference map is constant: the comparison proves nothing"
    err = float(np.abs(got - expected).max())
    assert err <= rel * span, f"max difference {err:.3g} > {rel} x range {span:.3g}"


def getattmap_ref(img_shape: tuple[int, ...], att_map: Any) -> np.ndarray:
    """LAVIS ``lavis/common/gradcam.py`` ``getAttMap(img, attMap, blur=True,
    overlap=False)`` up to the colour map (the recipe keeps the map, not the jet
    overlay): the lines of the original, with ``scipy.ndimage.filters`` spelled
    ``scipy.ndimage`` (the ``filters`` namespace is deprecated)."""
    from scipy import ndimage
    from skimage import transform as skimage_transform

    att_map = np.array(att_map, dtype=np.float64)
    att_map -= att_map.min()
    if att_map.max() > 0:
        att_map /= att_map.max()
    att_map = skimage_transform.resize(att_map, (img_shape[:2]), order=3, mode="constant")
    att_map = ndimage.gaussian_filter(att_map, 0.02 * max(img_shape[:2]))
    att_map -= att_map.min()
    att_map /= att_map.max()
    return att_map


def saved_attention(module: Any, index: int | None = 1) -> tuple[dict[str, Any], Callable[[], None]]:
    """LAVIS/ALBEF ``save_attention = True``: a forward hook keeps the module's
    attention probabilities and, through ``register_hook``, their gradient.
    Returns (store, remove)."""
    store: dict[str, Any] = {}

    def hook(mod: Any, args: Any, output: Any) -> None:
        attn = output if index is None else output[index]
        store["attn"] = attn
        attn.register_hook(lambda g: store.__setitem__("grad", g))

    handle = module.register_forward_hook(hook)
    return store, handle.remove


def lavis_compute_gradcam(model: Any, pixels: Any, input_ids: Any, attention_mask: Any,
                          block_num: int) -> list[Any]:
    """LAVIS ``compute_gradcam(model, visual_input, text_input, tokenized_text,
    block_num)`` on a transformers ``BlipForImageTextRetrieval`` (trainable).

    ``input_ids`` already carry ``[ENC]`` first, as ``BlipITM.forward`` writes them;
    ``pixels`` hold one image per row. Returns LAVIS's ``gradcam_list``: per row,
    ``[enc token map, average over the text tokens, each token's map...]``.
    """
    import torch

    layer = model.text_encoder.encoder.layer[block_num].crossattention.self
    store, remove = saved_attention(layer)
    try:
        output = model(input_ids=input_ids, pixel_values=pixels,
                       attention_mask=attention_mask).itm_score
        loss = output[:, 1].sum()
        model.zero_grad()
        loss.backward()
    finally:
        remove()
    with torch.no_grad():
        mask = attention_mask.view(attention_mask.size(0), 1, -1, 1, 1)
        token_length = attention_mask.sum(dim=-1) - 2
        grads, cams = store["grad"], store["attn"]
        heads = cams.shape[1]
        side = math.isqrt(cams.shape[-1] - 1)
        cams = cams[:, :, :, 1:].reshape(pixels.size(0), heads, -1, side, side) * mask
        grads = grads[:, :, :, 1:].clamp(0).reshape(pixels.size(0), heads, -1, side, side) * mask
        gradcams = cams * grads
        gradcam_list = []
        for ind in range(pixels.size(0)):
            token_length_ = token_length[ind]
            gradcam = gradcams[ind].mean(0).cpu().detach()
            gradcam = torch.cat((gradcam[0:1, :],
                                 gradcam[1:token_length_ + 1, :].sum(dim=0, keepdim=True)
                                 / token_length_,
                                 gradcam[1:, :]))
            gradcam_list.append(gradcam)
    return gradcam_list


def bicubic_square_pixels(image: np.ndarray, size: int,
                          mean: tuple[float, ...] = (0.48145466, 0.4578275, 0.40821073),
                          std: tuple[float, ...] = (0.26862954, 0.26130258, 0.27577711)) -> Any:
    """LAVIS ``BlipImageEvalProcessor`` and ALBEF's ``test_transform``:
    ``Resize((size, size), interpolation=BICUBIC)``, ``ToTensor``, ``Normalize``."""
    import torch
    from PIL import Image

    arr = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC))
    x = ((arr / 255.0 - np.asarray(mean)) / np.asarray(std)).astype(np.float32)
    return torch.from_numpy(x.transpose(2, 0, 1).copy())[None]


def albef_itm_gradcam(model: Any, pixels: Any, input_ids: Any, attention_mask: Any,
                      block_num: int) -> Any:
    """ALBEF ``Grounding.py`` ``val()`` ITM branch and ``visualization.ipynb`` up to
    the reduction: the trainable model's ITM forward, ``loss = vl_output[:, 1].sum()``,
    ``loss.backward()``; ``mask``, ``grads.clamp(min=0)``, ``cams * grads``. Returns
    the (B, heads, tokens, rows, cols) product; callers reduce it as their file does."""
    import torch

    store, remove = saved_attention(model.text_encoder.encoder.layer[block_num].crossattention.self)
    try:
        image_embeds = model.visual_encoder(pixels)
        output = model.text_encoder(input_ids, attention_mask, image_embeds)
        vl_output = model.itm_head(output[:, 0, :])
        loss = vl_output[:, 1].sum()
        model.zero_grad()
        loss.backward()
    finally:
        remove()
    with torch.no_grad():
        mask = attention_mask.view(attention_mask.size(0), 1, -1, 1, 1)
        grads, cams = store["grad"].detach(), store["attn"].detach()
        heads = cams.shape[1]
        side = math.isqrt(cams.shape[-1] - 1)
        cams = cams[:, :, :, 1:].reshape(pixels.size(0), heads, -1, side, side) * mask
        grads = grads[:, :, :, 1:].clamp(min=0).reshape(pixels.size(0), heads, -1, side, side) * mask
        return cams * grads


def albef_itc_gradcam(model: Any, pixels: Any, input_ids: Any, attention_mask: Any,
                      block_num: int) -> Any:
    """ALBEF ``Grounding.py`` ``val()`` ITC branch: ``sim = image_feat @ text_feat.t() /
    model.temp``, ``loss = sim.diag().sum()``, the visual block's attention and
    gradient at the ``[CLS]`` row, ``grad.clamp(0)``, ``(cam * grad).mean(1)``."""
    import torch
    import torch.nn.functional as F

    store, remove = saved_attention(model.visual_encoder.blocks[block_num].attn.probs, None)
    try:
        image_embeds = model.visual_encoder(pixels)
        image_feat = F.normalize(model.vision_proj(image_embeds[:, 0, :]), dim=-1)
        text_embeds = model.text_encoder.text_only(input_ids, attention_mask)
        text_feat = F.normalize(model.text_proj(text_embeds[:, 0, :]), dim=-1)
        sim = image_feat @ text_feat.t() / model.temp
        loss = sim.diag().sum()
        model.zero_grad()
        loss.backward()
    finally:
        remove()
    with torch.no_grad():
        grad, cam = store["grad"].detach(), store["attn"].detach()
        side = math.isqrt(cam.shape[-1] - 1)
        cam = cam[:, :, 0, 1:].reshape(pixels.size(0), -1, side, side)
        grad = grad[:, :, 0, 1:].reshape(pixels.size(0), -1, side, side).clamp(0)
        return (cam * grad).mean(1)


def openai_clip_preprocess(image: np.ndarray, n_px: int, mean: Any, std: Any) -> Any:
    """OpenAI ``clip/clip.py`` ``_transform(n_px)``: ``Resize(n_px, BICUBIC)`` (the
    shorter side to ``n_px``, the longer ``int(n_px * long / short)``, torchvision's
    ``_compute_resized_output_size``), ``CenterCrop(n_px)`` (offsets
    ``int(round((h - n_px) / 2.0))``), ``ToTensor``, ``Normalize``. Returns
    (pixels, (top, left, new_h, new_w))."""
    import torch
    from PIL import Image

    pil = Image.fromarray(image)
    w, h = pil.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = n_px, int(n_px * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    pil = pil.resize((new_w, new_h), Image.Resampling.BICUBIC)
    top = round((new_h - n_px) / 2.0)
    left = round((new_w - n_px) / 2.0)
    arr = np.asarray(pil.crop((left, top, left + n_px, top + n_px)).convert("RGB"))
    x = ((arr / 255.0 - np.asarray(mean)) / np.asarray(std)).astype(np.float32)
    return torch.from_numpy(x.transpose(2, 0, 1).copy())[None], (top, left, new_h, new_w)


def chefer_interpret(model: Any, image: Any, input_ids: Any, attention_mask: Any,
                     start_layer: int = -1) -> Any:
    """Transformer-MM-Explainability ``CLIP_explainability.ipynb`` ``interpret()``,
    the image half, on a transformers ``CLIPModel`` (eager attention): the image
    repeated once per text, ``one_hot`` on ``logits_per_image``'s diagonal, then for
    each block from ``start_layer``: ``grad * cam``, ``clamp(min=0).mean(dim=1)``,
    ``R = R + bmm(cam, R)``; returns ``R[:, 0, 1:]``."""
    import torch

    batch_size = input_ids.shape[0]
    images = image.repeat(batch_size, 1, 1, 1)
    layers = model.vision_model.encoder.layers
    stores, removes = zip(*(saved_attention(layer.self_attn) for layer in layers), strict=True)
    try:
        logits_per_image = model(input_ids=input_ids, attention_mask=attention_mask,
                                 pixel_values=images).logits_per_image
    finally:
        for remove in removes:
            remove()
    one_hot = np.zeros((logits_per_image.shape[0], logits_per_image.shape[1]), dtype=np.float32)
    one_hot[torch.arange(logits_per_image.shape[0]), list(range(batch_size))] = 1
    one_hot_t = torch.from_numpy(one_hot).requires_grad_(True)
    score = torch.sum(one_hot_t * logits_per_image)
    model.zero_grad()
    if start_layer == -1:
        start_layer = len(layers) - 1
    num_tokens = stores[0]["attn"].shape[-1]
    R = torch.eye(num_tokens, num_tokens, dtype=stores[0]["attn"].dtype)
    R = R.unsqueeze(0).expand(batch_size, num_tokens, num_tokens)
    for i, store in enumerate(stores):
        if i < start_layer:
            continue
        grad = torch.autograd.grad(score, [store["attn"]], retain_graph=True)[0].detach()
        cam = store["attn"].detach()
        cam = cam.reshape(-1, cam.shape[-1], cam.shape[-1])
        grad = grad.reshape(-1, grad.shape[-1], grad.shape[-1])
        cam = grad * cam
        cam = cam.reshape(batch_size, -1, cam.shape[-1], cam.shape[-1])
        cam = cam.clamp(min=0).mean(dim=1)
        R = R + torch.bmm(cam, R)
    return R[:, 0, 1:]


def vilt_pixelbert_pixels(image: np.ndarray, shorter: int, divisor: int = 32) -> Any:
    """ViLT ``pixelbert_transform(size=shorter)``: ``MinMaxResize(shorter, longer=int(1333
    / 800 * shorter))`` (``vilt/transforms/utils.py``; its ``// 32 * 32`` is the patch
    size, ``divisor`` here so a tiny model can use its own), ``ToTensor``,
    ``inception_normalize`` (mean = std = 0.5)."""
    import torch
    from PIL import Image

    pil = Image.fromarray(image)
    longer = int((1333 / 800) * shorter)
    w, h = pil.size
    scale = shorter / min(w, h)
    newh: float
    neww: float
    if h < w:
        newh, neww = shorter, scale * w
    else:
        newh, neww = scale * h, shorter
    if max(newh, neww) > longer:
        scale = longer / max(newh, neww)
        newh = newh * scale
        neww = neww * scale
    newh, neww = int(newh + 0.5), int(neww + 0.5)
    newh, neww = newh // divisor * divisor, neww // divisor * divisor
    arr = np.asarray(pil.resize((neww, newh), resample=Image.Resampling.BICUBIC))
    x = ((arr / 255.0 - 0.5) / 0.5).astype(np.float32)
    return torch.from_numpy(x.transpose(2, 0, 1).copy())[None]


def vilt_cost_matrix_cosine(x: Any, y: Any, eps: float = 1e-5) -> Any:
    """ViLT ``objectives.cost_matrix_cosine``."""
    import torch.nn.functional as F

    x_norm = F.normalize(x, p=2, dim=-1, eps=eps)
    y_norm = F.normalize(y, p=2, dim=-1, eps=eps)
    return 1 - x_norm.matmul(y_norm.transpose(1, 2))


def vilt_ipot(C: Any, x_len: Any, x_pad: Any, y_len: Any, y_pad: Any, joint_pad: Any,
              beta: float, iteration: int, k: int) -> Any:
    """ViLT ``objectives.ipot``, line by line."""
    import torch

    b, m, n = C.size()
    sigma = torch.ones(b, m, dtype=C.dtype, device=C.device) / x_len.unsqueeze(1)
    T = torch.ones(b, n, m, dtype=C.dtype, device=C.device)
    A = torch.exp(-C.transpose(1, 2) / beta)
    sigma.masked_fill_(x_pad, 0)
    joint_pad = joint_pad.transpose(1, 2)
    T.masked_fill_(joint_pad, 0)
    A.masked_fill_(joint_pad, 0)
    x_len = x_len.unsqueeze(1).unsqueeze(2)
    y_len = y_len.unsqueeze(1).unsqueeze(2)
    x_mask = (x_pad.to(C.dtype) * 1e4).unsqueeze(1)
    y_mask = (y_pad.to(C.dtype) * 1e4).unsqueeze(1)
    for _ in range(iteration):
        Q = A * T
        sigma = sigma.view(b, m, 1)
        for _ in range(k):
            delta = 1 / (y_len * Q.matmul(sigma).view(b, 1, n) + y_mask)
            sigma = 1 / (x_len * delta.matmul(Q) + x_mask)
        T = delta.view(b, n, 1) * Q * sigma
    T.masked_fill_(joint_pad, 0)
    return T


def vilt_demo_token_heatmaps(vilt: Any, pixels: Any, input_ids: Any) -> list[np.ndarray]:
    """ViLT ``demo.py`` ``infer()``'s heatmap for every ``hidx`` of one text (batch 1):
    the model's own ``visual_embed`` (random patch order, ``max_image_len=-1``), the
    final features, the masks (``[CLS]``, ``[SEP]`` and the image CLS out),
    ``cost_matrix_cosine``, ``ipot(..., 0.1, 1000, 1)``, ``plan * len(txt_emb)``, the
    token's row over the patches placed by ``patch_index``, then the display
    normalisation (z-score, ``np.clip(1.0, 3.0)``, min-max). A constant clipped map
    (0 / 0 in the demo) is returned as zeros, as vista documents."""
    import torch

    with torch.no_grad():
        pixel_mask = torch.ones(pixels.shape[0], *pixels.shape[2:], dtype=torch.long)
        x, x_mask, (patch_index, (H, W)) = vilt.embeddings.visual_embed(
            pixels, pixel_mask, max_image_length=-1)
        attention_mask = torch.ones_like(input_ids)
        feats = vilt(input_ids=input_ids, attention_mask=attention_mask, image_embeds=x,
                     pixel_mask=x_mask).last_hidden_state
        n_text = input_ids.shape[1]
        txt_emb, img_emb = feats[:, :n_text], feats[:, n_text:]
        txt_mask, img_mask = attention_mask.bool(), x_mask.bool()
        for i, _len in enumerate(txt_mask.sum(dim=1)):
            txt_mask[i, _len - 1] = False
        txt_mask[:, 0] = False
        img_mask[:, 0] = False
        txt_pad, img_pad = ~txt_mask, ~img_mask
        cost = vilt_cost_matrix_cosine(txt_emb.float(), img_emb.float())
        joint_pad = txt_pad.unsqueeze(-1) | img_pad.unsqueeze(-2)
        cost.masked_fill_(joint_pad, 0)
        txt_len = (txt_pad.size(1) - txt_pad.sum(dim=1, keepdim=False)).to(dtype=cost.dtype)
        img_len = (img_pad.size(1) - img_pad.sum(dim=1, keepdim=False)).to(dtype=cost.dtype)
        T = vilt_ipot(cost.detach(), txt_len, txt_pad, img_len, img_pad, joint_pad, 0.1, 1000, 1)
        plan = T[0]
        plan_single = plan * len(txt_emb)
        cost_t = plan_single.t()
    out = []
    for hidx in range(1, n_text - 1):
        row = cost_t[hidx][1:].cpu()
        heatmap = torch.zeros(int(H), int(W))
        for i, pidx in enumerate(patch_index[0]):
            heatmap[pidx[0].item(), pidx[1].item()] = row[i]
        heatmap = (heatmap - heatmap.mean()) / heatmap.std()
        clipped = np.clip(heatmap.numpy(), 1.0, 3.0)
        span = clipped.max() - clipped.min()
        out.append(np.zeros_like(clipped) if span == 0 else
                   (clipped - clipped.min()) / span)
    return out


def clipseg_quickstart(model: Any, image: np.ndarray, input_ids: Any, attention_mask: Any,
                       size: int) -> Any:
    """clipseg ``Quickstart.ipynb``: ``transforms.Compose([ToTensor(), Normalize(mean=[0.485,
    0.456, 0.406], std=[0.229, 0.224, 0.225]), Resize((352, 352))])`` (``size`` for a
    tiny model; torchvision resizes a tensor with ``interpolate(mode="bilinear",
    align_corners=False, antialias=True)``), ``model(img.repeat(n, 1, 1, 1), prompts)``
    on a transformers ``CLIPSegForImageSegmentation``, ``torch.sigmoid`` per prompt."""
    import torch

    x = torch.from_numpy(image.transpose(2, 0, 1).copy()).float().div(255)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    x = (x - mean) / std
    x = torch.nn.functional.interpolate(x[None], size=(size, size), mode="bilinear",
                                        align_corners=False, antialias=True)[0]
    img = x.unsqueeze(0)
    with torch.no_grad():
        preds = model(input_ids=input_ids, attention_mask=attention_mask,
                      pixel_values=img.repeat(input_ids.shape[0], 1, 1, 1)).logits
    return torch.sigmoid(preds.reshape(input_ids.shape[0], *preds.shape[-2:]))
