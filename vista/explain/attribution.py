"""captum attributions on the pixel input of a model's matching score.

``method="captum:NAME"`` runs captum's ``NAME`` on the pixels the model sees (the
preprocessed, normalised input tensor), for the score the family explains (CLIP:
the image-text logit; SigLIP: the sigmoid pair score; BLIP, BLIP-2: the ITM match
logit), one text at a time. vista owns only the score function and the map;
captum does what captum does. The attribution (3 × H × W on the model input) is
reduced over the colour channels (``channels``) to one map, which is resized
bilinearly onto the image like every other map.

Methods and the choices recorded in each map's params:

``IntegratedGradients``
    ``baseline`` (``"zeros"``: the all-zero normalised input, i.e. the dataset's mean
    colour; ``"black"``: pixel value 0), ``n_steps`` (50), ``method``
    (``"gausslegendre"``, captum's default), ``internal_batch_size`` (16).
``GradientShap``
    ``baseline`` as above, ``n_samples`` (16), ``stdevs`` (0.0), ``seed`` (0: torch's
    and numpy's global generators are seeded for the call and restored after it,
    so a map does not depend on what ran before).
``Saliency``
    ``abs`` (True, captum's default).
``InputXGradient``
    no option.
``Occlusion``
    ``window`` (the model's patch size; a square, all channels), ``stride``
    (= ``window``), ``baseline``, ``perturbations_per_eval`` (16).
``FeatureAblation``
    SLIC superpixels of the model input (``skimage.segmentation.slic``;
    ``n_segments`` 50, ``compactness`` 10, ``start_label`` 0), all channels of a
    superpixel ablated together to ``baseline``; ``perturbations_per_eval`` (16).
``NoiseTunnel:NAME``
    captum's ``NoiseTunnel`` around any of the above (``nt_type`` ``"smoothgrad"``,
    ``nt_samples`` 10, ``stdevs`` 0.15, ``seed`` 0); the inner method's choices
    are recorded too. Under the tunnel GradientShap's own ``stdevs`` stays 0
    (captum's ``NoiseTunnel.attribute`` takes ``stdevs`` as its own and passes the
    inner method no other noise).

``baseline="black"`` and the superpixels un-normalise the model input with the
family's mean and std (:func:`pixel_norm`: its image processor's, or ALBEF's own
constants).

captum is imported here only (the ``explain`` extra).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._validation import check_int, check_option, check_range, require

__all__ = ["CAPTUM_METHODS", "CHANNEL_CHOICES", "captum_choices", "parse_captum", "pixel_norm",
           "reduce_channels", "run_captum"]

CAPTUM_METHODS = ("IntegratedGradients", "GradientShap", "Saliency", "InputXGradient",
                  "Occlusion", "FeatureAblation")
CHANNEL_CHOICES = ("abs-sum", "sum", "positive-sum", "l2")
BASELINE_CHOICES = ("zeros", "black")

#: Every option a captum method takes, with its default (None: set from the model).
_DEFAULTS: dict[str, dict[str, Any]] = {
    "IntegratedGradients": {"baseline": "zeros", "n_steps": 50, "ig_method": "gausslegendre",
                            "internal_batch_size": 16},
    "GradientShap": {"baseline": "zeros", "n_samples": 16, "stdevs": 0.0, "seed": 0},
    "Saliency": {"abs": True},
    "InputXGradient": {},
    "Occlusion": {"window": None, "stride": None, "baseline": "zeros",
                  "perturbations_per_eval": 16},
    "FeatureAblation": {"n_segments": 50, "compactness": 10.0, "baseline": "zeros",
                        "perturbations_per_eval": 16},
}
_TUNNEL = {"nt_type": "smoothgrad", "nt_samples": 10, "nt_stdevs": 0.15, "seed": 0}


def parse_captum(method: str) -> tuple[str, bool]:
    """``"captum:NAME"`` or ``"captum:NoiseTunnel:NAME"`` as ``(NAME, tunnel)``; an
    unknown name is one line listing the supported ones.

    Examples
    --------
    >>> parse_captum("captum:NoiseTunnel:Saliency")
    ('Saliency', True)
    >>> parse_captum("captum:Lime")
    Traceback (most recent call last):
    ...
    ValueError: unknown captum method 'Lime'; supported: IntegratedGradients, GradientShap, \
Saliency, InputXGradient, Occlusion, FeatureAblation, and NoiseTunnel:NAME around any of them
    """
    if not method.startswith("captum:"):
        raise ValueError(f"a captum method is spelt captum:NAME; got {method!r}")
    name = method[len("captum:"):]
    tunnel = name.startswith("NoiseTunnel:")
    if tunnel:
        name = name[len("NoiseTunnel:"):]
    if name not in CAPTUM_METHODS:
        raise ValueError(f"unknown captum method {name!r}; supported: {', '.join(CAPTUM_METHODS)}, "
                         f"and NoiseTunnel:NAME around any of them")
    return name, tunnel


def captum_choices(method: str, options: dict[str, Any], *, patch: int) -> dict[str, Any]:
    """Every choice of ``method`` (``"captum:..."``), ``options`` over the defaults,
    checked; unknown options are an error naming the allowed ones."""
    name, tunnel = parse_captum(method)
    defaults = {**_DEFAULTS[name], **(_TUNNEL if tunnel else {}), "channels": "abs-sum"}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(map(repr, unknown))} for {method}; "
                         f"allowed: {', '.join(map(repr, defaults))}")
    c = {**defaults, **options}
    check_option("channels", c["channels"], CHANNEL_CHOICES)
    if "baseline" in c:
        check_option("baseline", c["baseline"], BASELINE_CHOICES)
    if name == "Occlusion":
        c["window"] = check_int("window", c["window"] or patch, minimum=1)
        c["stride"] = check_int("stride", c["stride"] or c["window"], minimum=1)
    for key in ("n_steps", "n_samples", "nt_samples", "internal_batch_size",
                "perturbations_per_eval", "n_segments", "seed"):
        if key in c:
            c[key] = check_int(key, c[key], minimum=0 if key == "seed" else 1)
    for key in ("stdevs", "nt_stdevs"):
        if key in c:
            c[key] = check_range(key, c[key], 0.0, 10.0)
    if tunnel and name == "GradientShap" and c["stdevs"] != 0.0:
        raise ValueError(f"stdevs (GradientShap's own noise) must be 0 under NoiseTunnel, whose "
                         f"attribute() takes stdevs as its own (set nt_stdevs); got {c['stdevs']}")
    return {"captum_method": name, "noise_tunnel": tunnel, **c}


def reduce_channels(attribution: Any, channels: str) -> np.ndarray:
    """(B, 3, H, W) attributions as (B, H, W) maps: ``"abs-sum"`` (sum of absolute
    values, captum's ``visualize_image_attr`` ``absolute_value`` sign), ``"sum"``
    (signed), ``"positive-sum"`` (sum, then clamped at 0), ``"l2"`` (the norm over
    channels).

    Examples
    --------
    >>> a = np.array([[[[1.0]], [[-3.0]], [[0.0]]]])
    >>> [reduce_channels(a, c).item() for c in ("abs-sum", "sum", "positive-sum", "l2")]
    [4.0, -2.0, 0.0, 3.1622776601683795]
    """
    from .cam import to_float64

    check_option("channels", channels, CHANNEL_CHOICES)
    arr = to_float64("attribution", attribution)
    if channels == "abs-sum":
        return np.abs(arr).sum(axis=1)
    if channels == "sum":
        return arr.sum(axis=1)
    if channels == "positive-sum":
        return np.clip(arr.sum(axis=1), 0.0, None)
    return np.sqrt((arr ** 2).sum(axis=1))


def pixel_norm(parts: Any) -> tuple[np.ndarray, np.ndarray]:
    """The (3,) mean and std that normalise the model input: ``parts.pixel_norm``
    where the family defines its own (ALBEF has no Hugging Face image processor),
    else its image processor's ``image_mean`` and ``image_std``."""
    own = getattr(parts, "pixel_norm", None)
    if own is None:
        processor = getattr(parts, "image_processor", None)
        if processor is None or getattr(processor, "image_mean", None) is None:
            raise ValueError(f"{type(parts).__name__} has no image mean/std (no pixel_norm "
                             f"and no image processor); baseline 'black' and superpixels need "
                             f"them")
        own = (processor.image_mean, processor.image_std)
    mean, std = (np.asarray(v, dtype=np.float64).reshape(-1) for v in own)
    return mean, std


def _baseline(pixels: Any, kind: str, parts: Any) -> Any:
    torch = require("torch", "explain")
    if kind == "zeros":
        return torch.zeros_like(pixels)
    mean, std = (torch.tensor(v, dtype=pixels.dtype, device=pixels.device)
                 for v in pixel_norm(parts))
    return ((0.0 - mean) / std).view(1, -1, 1, 1).expand_as(pixels).clone()


def superpixels(pixels: Any, parts: Any, *, n_segments: int, compactness: float) -> Any:
    """SLIC superpixels of the (un-normalised) model input as a captum feature mask
    (1, 1, H, W), labels from 0."""
    torch = require("torch", "explain")
    from skimage.segmentation import slic

    mean, std = (v.reshape(-1, 1, 1) for v in pixel_norm(parts))
    rgb = np.clip(pixels[0].detach().cpu().double().numpy() * std + mean, 0, 1).transpose(1, 2, 0)
    labels = slic(rgb, n_segments=n_segments, compactness=compactness, start_label=0)
    return torch.as_tensor(labels, device=pixels.device).view(1, 1, *labels.shape)


def attribute(forward: Callable[[Any], Any], pixels: Any, c: dict[str, Any], parts: Any) -> Any:
    """captum's attribution of ``forward`` (pixels (n, 3, H, W) -> scores (n,)) at
    ``pixels`` with the choices ``c`` (from :func:`captum_choices`)."""
    torch = require("torch", "explain")
    captum_attr = require("captum.attr", "explain", package="captum")
    name = c["captum_method"]
    algo = getattr(captum_attr, name)(forward)
    kwargs: dict[str, Any] = {}
    if "baseline" in c:
        kwargs["baselines"] = _baseline(pixels, c["baseline"], parts)
    if name == "IntegratedGradients":
        kwargs.update(n_steps=c["n_steps"], method=c["ig_method"],
                      internal_batch_size=c["internal_batch_size"])
    elif name == "GradientShap":
        kwargs["n_samples"] = c["n_samples"]
        if not c["noise_tunnel"]:  # NoiseTunnel takes ``stdevs`` as its own
            kwargs["stdevs"] = c["stdevs"]
    elif name == "Saliency":
        kwargs["abs"] = bool(c["abs"])
    elif name == "Occlusion":
        kwargs.update(sliding_window_shapes=(pixels.shape[1], c["window"], c["window"]),
                      strides=(pixels.shape[1], c["stride"], c["stride"]),
                      perturbations_per_eval=c["perturbations_per_eval"])
    elif name == "FeatureAblation":
        kwargs.update(feature_mask=superpixels(pixels, parts, n_segments=c["n_segments"],
                                               compactness=c["compactness"]),
                      perturbations_per_eval=c["perturbations_per_eval"])
    # captum draws from torch's and numpy's global generators (GradientShap's
    # interpolation points come from numpy): both seeded for the call, then restored
    state = np.random.get_state()  # noqa: NPY002 (captum uses the legacy global generator)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(c.get("seed", 0))
            np.random.seed(c.get("seed", 0))  # noqa: NPY002
            if c["noise_tunnel"]:
                tunnel = captum_attr.NoiseTunnel(algo)
                return tunnel.attribute(pixels, nt_type=c["nt_type"], nt_samples=c["nt_samples"],
                                        stdevs=c["nt_stdevs"], **kwargs)
            return algo.attribute(pixels, **kwargs)
    finally:
        np.random.set_state(state)  # noqa: NPY002


def run_captum(
    parts: Any, image: np.ndarray, texts: list[str], *, choices: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, Any, list[int], list[dict[str, Any]]]:
    """captum maps, one text row at a time, on the model-input grid.

    ``parts`` gives ``pixels(image)``, ``texts(texts) -> (encoding, owners, infos,
    handle)`` and ``score_pixels(pixels, handle) -> (n, rows)``.
    """
    torch = require("torch", "explain")
    pixels = parts.pixels(image)
    enc, owners, infos, handle = parts.texts(texts)
    with torch.no_grad():
        scores = parts.score_pixels(pixels, handle)[0]
    maps = []
    for row in range(scores.shape[0]):
        def forward(px: Any, row: int = row) -> Any:
            return parts.score_pixels(px, handle)[:, row]

        attr = attribute(forward, pixels.clone().requires_grad_(True), choices, parts)
        maps.append(reduce_channels(attr, choices["channels"])[0])
    return np.stack(maps).astype(np.float32), scores.detach().cpu().double().numpy(), enc, owners, \
        infos
