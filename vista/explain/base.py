"""What every explainer shares: image handling, resizing onto the image grid,
device choice, weight resolution, and scoped torch settings.

Model modules import torch inside functions or at their own top (they are only
imported when their explainer is loaded); this module imports torch lazily.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_int, check_option, require
from ..errors import WeightsNotFoundError
from ..records import SaliencyMap

__all__ = [
    "OVERFLOW_CHOICES",
    "TOKENS_CHOICES",
    "Explainer",
    "FusionGradCamExplainer",
    "as_rgb_array",
    "attention_gradcam",
    "capture_hook",
    "check_options",
    "check_texts",
    "combine_pieces",
    "combine_text_pieces",
    "denormals_flushed",
    "finish_texts",
    "leaf_hook",
    "leaf_input_hook",
    "load_frozen",
    "load_processors",
    "pick_device",
    "query_token_mask",
    "record_scores",
    "registered_weights",
    "remove_hooks",
    "resize_to_image",
    "resolve_block",
    "resolve_weights",
    "text_token_mask",
    "tokenize_texts",
    "torch_call_scope",
    "weights_and_revision",
]

#: How a text longer than the model's token limit is handled.
OVERFLOW_CHOICES = ("truncate", "split")


def as_rgb_array(image: Any) -> np.ndarray:
    """A PIL image or H×W×3 uint8 array as an H×W×3 uint8 array (never mutated)."""
    if hasattr(image, "convert") and hasattr(image, "size"):
        return np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(
            f"image must be a PIL image or an HxWx3 uint8 array; got shape {arr.shape}, "
            f"dtype {arr.dtype}"
        )
    return arr


def check_texts(texts: Any) -> list[str]:
    """``texts`` as a non-empty list of non-empty strings (a single str is rejected,
    so a caller does not explain each character)."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings; got a single str (wrap it in a list)")
    out = list(texts)
    if not out:
        raise ValueError("texts must not be empty")
    for i, t in enumerate(out):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"texts[{i}] must be a non-empty string; got {t!r}")
    return out


def resize_to_image(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a model's map to the image's H×W grid, bilinear, as float32.

    Pixel centres are aligned (OpenCV's ``INTER_LINEAR``, half-pixel convention), so a
    patch-grid map is stretched over the whole image.
    """
    import cv2

    arr = np.asarray(values, dtype=np.float32)
    h, w = int(shape[0]), int(shape[1])
    if arr.shape == (h, w):
        return arr.copy()
    return cv2.resize(arr, (w, h), interpolation=cv2.INTER_LINEAR)


def pick_device(device: str | None) -> str:
    """``device`` if given, else ``"cuda"`` when available, else ``"cpu"``."""
    torch = require("torch", "explain")
    if device is not None:
        return str(device)
    return "cuda" if torch.cuda.is_available() else "cpu"


#: Files of other frameworks in a Hub repository, never downloaded (torch only).
_NOT_TORCH_WEIGHTS = ("*.h5", "*.msgpack", "*.onnx", "*.ot", "*.tflite", "tf_model*", "flax_model*",
                      "rust_model*", "coreml/*", "onnx/*")


def _hf_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def resolve_weights(weights: str | os.PathLike[str], revision: str | None) -> str:
    """Return a local folder holding ``weights``.

    A local folder is returned as it is. A Hugging Face id is looked up in the cache
    at ``revision`` (and downloaded when online and not cached; TensorFlow, Flax
    and ONNX files are skipped). Offline and not cached raises :class:`WeightsNotFoundError` with the command that fetches them.
    """
    path = Path(weights)
    if path.exists():
        if not path.is_dir() and path.suffix not in {".pth", ".pt", ".bin", ".safetensors"}:
            raise WeightsNotFoundError(f"weights {path} is neither a folder nor a checkpoint file")
        return str(path)
    repo_id = str(weights)
    if repo_id.startswith((".", "/", "~")) or repo_id.count("/") != 1:
        raise WeightsNotFoundError(
            f"weights {repo_id!r} is neither an existing local folder nor a Hugging Face id"
        )
    hub = require("huggingface_hub", "explain")
    rev = f" --revision {revision}" if revision else ""
    fetch = (
        f"hf download {repo_id}{rev} (with network; `huggingface-cli download` before "
        f"huggingface_hub 1.0), or use a local folder: --weights DIR on the command line, "
        f"weights=DIR in Python (e.g. one made by `hf download {repo_id}{rev} --local-dir DIR`)"
    )
    try:
        return str(
            hub.snapshot_download(
                repo_id,
                revision=revision,
                local_files_only=_hf_offline(),
                ignore_patterns=list(_NOT_TORCH_WEIGHTS),
            )
        )
    except Exception as exc:  # hub raises many types: offline, missing, network
        raise WeightsNotFoundError(
            f"weights for {repo_id} (revision {revision or 'main'}) are not in the Hugging Face "
            f"cache and could not be downloaded ({type(exc).__name__}); get them with: {fetch}"
        ) from exc


def denormals_flushed() -> bool:
    """Whether torch currently flushes denormal floats to zero.

    torch has no getter, so this probes the effect of one multiplication on a
    denormal float32.
    """
    torch = require("torch", "explain")
    probe = torch.tensor([1e-40], dtype=torch.float32)
    return bool((probe * 1.0).item() == 0.0)


@contextlib.contextmanager
def torch_call_scope(*, flush_denormal: bool = False) -> Iterator[None]:
    """Settings for the span of one ``explain`` call, restored afterwards.

    Grad mode is enabled inside (the caller may be in ``torch.no_grad`` or
    ``torch.inference_mode``) and restored; denormal flushing is set only when asked
    and put back to what it was. Thread counts are never touched.
    """
    torch = require("torch", "explain")
    prev_grad = torch.is_grad_enabled()
    prev_denormal: bool | None = None
    if flush_denormal:
        prev_denormal = denormals_flushed()
        torch.set_flush_denormal(True)
    torch.set_grad_enabled(True)
    try:
        with torch.inference_mode(False):
            yield
    finally:
        torch.set_grad_enabled(prev_grad)
        if prev_denormal is not None:
            torch.set_flush_denormal(prev_denormal)


class Explainer:
    """Base class: subclasses implement :meth:`_explain_batch` for one image.

    Attributes
    ----------
    name : str
        Registry name.
    model : torch.nn.Module
        The frozen model, in eval mode on ``device``.
    tokenizer : transformers tokenizer
        The model's tokenizer.
    image_processor : transformers image processor or None
        The model's image processor (None where the explainer preprocesses itself).
    model_id : str
        Weights id or folder.
    revision : str or None
        Pinned revision of the weights (None for a local folder).
    method : str
        Saliency method.
    device : str
        Torch device the model runs on.
    options : dict
        Method options, recorded in every map's ``params`` (set by the subclass).
    """

    name: str
    model: Any
    tokenizer: Any
    image_processor: Any
    model_id: str
    revision: str | None
    method: str
    device: str
    options: dict[str, Any]

    def __init__(
        self,
        *,
        name: str,
        model: Any,
        tokenizer: Any,
        image_processor: Any = None,
        model_id: str,
        revision: str | None,
        method: str,
        device: str,
    ) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.model_id = model_id
        self.revision = revision
        self.method = method
        self.device = device

    def explain(self, image: Any, texts: Sequence[str]) -> list[SaliencyMap]:
        """One map per text, float32 on the image's own pixel grid."""
        rgb = as_rgb_array(image)
        texts = check_texts(texts)
        raw, extra = self._explain_batch(rgb, texts)
        h, w = rgb.shape[:2]
        maps = []
        for values, info in zip(raw, extra, strict=True):
            params = {
                "model_id": self.model_id,
                "revision": self.revision,
                **self.options,
                **info,
                "resize": "bilinear",
            }
            maps.append(SaliencyMap(resize_to_image(values, (h, w)), self.name, self.method, params))
        return maps

    def _explain_batch(
        self, image: np.ndarray, texts: list[str]
    ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        """Return the raw (model-grid) maps and per-text info (e.g. truncation)."""
        raise NotImplementedError


# --- options, weights and loading -------------------------------------------------


def check_options(options: Mapping[str, Any], allowed: Iterable[str], *, context: str) -> None:
    """Raise a ValueError naming any option not in ``allowed``.

    Examples
    --------
    >>> check_options({"block": 3}, ("block",), context="blip-itm-base")
    >>> check_options({"blok": 3}, ("block",), context="blip-itm-base")
    Traceback (most recent call last):
    ...
    ValueError: unknown option(s) 'blok' for blip-itm-base; allowed: 'block'
    """
    allowed = list(allowed)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        names = ", ".join(repr(u) for u in unknown)
        known = ", ".join(repr(a) for a in allowed) or "none"
        raise ValueError(f"unknown option(s) {names} for {context}; allowed: {known}")


def resolve_block(name: str, value: Any, n_layers: int) -> int:
    """A 0-based block index (negative counts from the end) as a non-negative int.

    Examples
    --------
    >>> resolve_block("block", -1, 12)
    11
    >>> resolve_block("block", 12, 12)
    Traceback (most recent call last):
    ...
    ValueError: block must be in [-12, 11] for a model with 12 blocks; got 12
    """
    index = check_int(name, value)
    if not -n_layers <= index < n_layers:
        raise ValueError(
            f"{name} must be in [{-n_layers}, {n_layers - 1}] for a model with "
            f"{n_layers} blocks; got {index}"
        )
    return index % n_layers


def weights_and_revision(
    weights: str | os.PathLike[str] | None,
    default: str,
    revision: str | None = None,
    *,
    pinned: str | None = None,
) -> tuple[str, str | None, str]:
    """``(model_id, revision, local_path)`` for ``weights`` (``default`` when None).

    A local folder or file has revision ``None``. A Hugging Face id is loaded at
    ``revision`` when given, else at ``pinned`` when the id is ``default`` (the
    registry's pinned commit), else at ``main`` (recorded as ``None``).
    """
    model_id = default if weights is None else str(weights)
    path = Path(model_id).expanduser()
    if path.exists():
        return model_id, None, resolve_weights(path, None)
    if revision is None and model_id == default:
        revision = pinned
    return model_id, revision, resolve_weights(model_id, revision)


def registered_weights(
    name: str, weights: str | os.PathLike[str] | None, revision: str | None = None
) -> tuple[str, str | None, str]:
    """:func:`weights_and_revision` with the default id and pinned commit that the
    registry holds for ``name``: ``(model_id, revision, local_path)``."""
    from .registry import explainer_spec

    spec = explainer_spec(name)
    return weights_and_revision(weights, spec.default_weights, revision, pinned=spec.revision)


def load_processors(folder: str) -> tuple[Any, Any]:
    """``(tokenizer, image_processor)`` saved in ``folder`` (transformers ``Auto``
    classes; the PIL image backend, so torchvision is not needed)."""
    transformers = require("transformers", "explain")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    image_processor = transformers.AutoImageProcessor.from_pretrained(folder, backend="pil")
    return tokenizer, image_processor


def load_frozen(
    model_cls: Any, folder: str, *, device: str, attn_implementation: str | None = None
) -> Any:
    """``model_cls.from_pretrained(folder)`` in float32 eval mode, parameters frozen,
    on ``device``."""
    torch = require("torch", "explain")
    kwargs: dict[str, Any] = {"dtype": torch.float32}
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    model = model_cls.from_pretrained(folder, **kwargs)
    model.eval()
    model.requires_grad_(False)
    return model.to(device)


# --- texts ------------------------------------------------------------------------


def tokenize_texts(
    tokenizer: Any,
    texts: Sequence[str],
    *,
    limit: int,
    overflow: str = "truncate",
) -> tuple[dict[str, Any], list[int], list[dict[str, Any]]]:
    """Tokenize ``texts`` as one padded batch of at most ``limit`` tokens a row.

    Parameters
    ----------
    tokenizer : transformers tokenizer
        A fast tokenizer that adds its own special tokens (e.g. ``[CLS] … [SEP]``).
    texts : sequence of str
        The segments.
    limit : int
        Token limit per row, special tokens included.
    overflow : {"truncate", "split"}
        A text longer than ``limit``: ``"truncate"`` keeps its first ``limit - 2``
        text tokens (the special tokens are kept); ``"split"`` cuts it into
        consecutive pieces of at most ``limit`` tokens, each with its own special
        tokens, explained as separate rows (see :func:`combine_pieces`).

    Returns
    -------
    encoding : dict
        ``input_ids``, ``attention_mask`` and ``special_tokens_mask`` as torch
        tensors, one row per piece.
    owners : list of int
        For each row, the index of the text it belongs to.
    infos : list of dict
        Per text: ``n_tokens`` (text tokens, specials excluded, before any
        truncation), ``token_limit``, ``overflow``, ``truncated`` and ``n_pieces``.
    """
    check_option("overflow", overflow, OVERFLOW_CHOICES)
    limit = check_int("limit", limit, minimum=3)
    texts = list(texts)
    n_special = int(tokenizer.num_special_tokens_to_add(pair=False))
    if limit <= n_special:
        raise ValueError(f"limit must exceed the {n_special} special tokens; got {limit}")
    body = limit - n_special
    full = tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)
    enc = tokenizer(
        texts,
        truncation=True,
        max_length=limit,
        padding=True,
        return_overflowing_tokens=overflow == "split",
        return_special_tokens_mask=True,
        return_tensors="pt",
    )
    if overflow == "split":
        owners = [int(i) for i in enc["overflow_to_sample_mapping"]]
    else:
        owners = list(range(len(texts)))
    infos: list[dict[str, Any]] = []
    for i, ids in enumerate(full["input_ids"]):
        n = len(ids)
        infos.append(
            {
                "n_tokens": n,
                "token_limit": limit,
                "overflow": overflow,
                "truncated": overflow == "truncate" and n > body,
                "n_pieces": owners.count(i),
            }
        )
    keep = ("input_ids", "attention_mask", "special_tokens_mask")
    return {k: enc[k] for k in keep}, owners, infos


def text_token_mask(encoding: Mapping[str, Any]) -> Any:
    """The tokens a map averages over: attended and not special (no ``[CLS]``,
    ``[ENC]``, ``[SEP]`` or padding), as a 0/1 tensor like ``input_ids``."""
    return encoding["attention_mask"] * (1 - encoding["special_tokens_mask"])


def combine_pieces(
    maps: np.ndarray, owners: Sequence[int], weights: Sequence[float], n_texts: int
) -> list[np.ndarray]:
    """Weighted mean of the piece maps of each text (weights: text tokens a piece).

    With the token-mean Grad-CAM this is the mean over all of a text's tokens, as
    if the model had seen them in one row.

    Examples
    --------
    >>> maps = np.array([[[1.0]], [[4.0]], [[7.0]]])
    >>> [m.item() for m in combine_pieces(maps, [0, 0, 1], [2, 1, 5], 2)]
    [2.0, 7.0]
    """
    out = []
    owner_arr = np.asarray(owners)
    w = np.asarray(weights, dtype=np.float64)
    for i in range(n_texts):
        rows = np.flatnonzero(owner_arr == i)
        if rows.size == 0:
            raise ValueError(f"text {i} has no piece")
        acc = np.tensordot(w[rows], np.asarray(maps, dtype=np.float64)[rows], axes=1)
        out.append((acc / w[rows].sum()).astype(np.float32))
    return out


# --- hooks --------------------------------------------------------------------------


def leaf_hook(store: list[Any]) -> Callable[..., Any]:
    """A forward hook that replaces a module's output by a detached copy that
    requires grad, and keeps it: the backward pass starts there and goes no lower."""

    def hook(module: Any, args: Any, output: Any) -> Any:
        leaf = output.detach().requires_grad_(True)
        store.append(leaf)
        return leaf

    return hook


def leaf_input_hook(store: list[Any]) -> Callable[..., Any]:
    """A forward pre-hook (``with_kwargs=True``) that makes the module's first input
    (``hidden_states``) a detached leaf requiring grad.

    Everything before the module runs without an autograd graph (parameters are
    frozen), everything after records one, so a gradient taken to a tensor inside
    the module never goes lower than its input.
    """

    def hook(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if args:
            leaf = args[0].detach().requires_grad_(True)
            store.append(leaf)
            return (leaf, *args[1:]), kwargs
        leaf = kwargs["hidden_states"].detach().requires_grad_(True)
        store.append(leaf)
        return args, {**kwargs, "hidden_states": leaf}

    return hook


def capture_hook(store: list[Any], index: int | None = None) -> Callable[..., None]:
    """A forward hook that keeps a module's output (``output[index]`` for tuples)."""

    def hook(module: Any, args: Any, output: Any) -> None:
        store.append(output if index is None else output[index])

    return hook


def remove_hooks(handles: Iterable[Any]) -> None:
    """Remove every hook handle (use in ``finally``)."""
    for handle in handles:
        handle.remove()


def attention_gradcam(
    forward: Callable[[], Any],
    *,
    block: Any,
    attention: Any,
    token_mask: Any,
    clamp: str = "gradient",
    head_reduce: str = "mean",
    n_prefix: int = 1,
    grid: tuple[int, int] | None = None,
    output_index: int | None = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM on one attention module's probabilities for a per-row score.

    ``forward()`` runs the model and returns one score per batch row. During it, a
    pre-hook makes ``block``'s input a leaf that requires grad (the layers below
    build no graph) and a hook keeps ``attention``'s output (``output[output_index]``:
    the probabilities, batch × heads × queries × keys). Both hooks are removed in
    ``finally``. The gradient of the summed score is taken to the probabilities
    only (rows are independent, so each row gets its own gradient), and
    :func:`vista.explain.cam.gradcam_attention` makes the maps.

    Returns
    -------
    maps : numpy.ndarray, shape (B, rows, cols)
    scores : numpy.ndarray, shape (B,)
    """
    torch = require("torch", "explain")
    from .cam import gradcam_attention

    leaves: list[Any] = []
    probs: list[Any] = []
    handles = [
        block.register_forward_pre_hook(leaf_input_hook(leaves), with_kwargs=True),
        attention.register_forward_hook(capture_hook(probs, output_index)),
    ]
    try:
        score = forward()
    finally:
        remove_hooks(handles)
    if len(probs) != 1:
        raise RuntimeError(f"the attention module ran {len(probs)} times in one forward; expected 1")
    (grad,) = torch.autograd.grad(score.sum(), probs[0])
    maps = gradcam_attention(
        probs[0].detach(),
        grad,
        token_mask=token_mask,
        clamp=clamp,
        head_reduce=head_reduce,
        n_prefix=n_prefix,
        grid=grid,
    )
    return maps, score.detach().cpu().double().numpy()


#: Which query tokens a cross-attention map averages over.
TOKENS_CHOICES = ("text", "cls")


def query_token_mask(encoding: Mapping[str, Any], tokens: str) -> Any:
    """``"text"``: the segment's text tokens (:func:`text_token_mask`); ``"cls"``:
    the first token only (``[CLS]``/``[ENC]``, whose output feeds the ITM head)."""
    check_option("tokens", tokens, TOKENS_CHOICES)
    if tokens == "text":
        return text_token_mask(encoding)
    mask = encoding["attention_mask"] * 0
    mask[:, 0] = 1
    return mask


def combine_text_pieces(
    maps: np.ndarray, encoding: Mapping[str, Any], owners: Sequence[int], n_texts: int
) -> list[np.ndarray]:
    """:func:`combine_pieces` weighted by each piece's text tokens
    (:func:`text_token_mask` of ``encoding``)."""
    weights = text_token_mask(encoding).sum(dim=1).tolist()
    return combine_pieces(maps, owners, weights, n_texts)


def record_scores(
    infos: list[dict[str, Any]],
    scores: Any,
    owners: Sequence[int],
    *,
    score_name: str,
) -> None:
    """Put each text's score into its info under ``score_name``: one float, or a
    list with one per piece of a split text (``infos`` is updated in place; it is
    the explainer's own per-call list).

    Examples
    --------
    >>> infos = [{}, {}]
    >>> record_scores(infos, np.array([0.5, 1.0, 2.0]), [0, 1, 1], score_name="itm_logit")
    >>> infos
    [{'itm_logit': 0.5}, {'itm_logit': [1.0, 2.0]}]
    """
    owner_arr = np.asarray(owners)
    values = np.asarray(scores)
    for i, info in enumerate(infos):
        rows = values[owner_arr == i]
        info[score_name] = float(rows[0]) if rows.size == 1 else [float(v) for v in rows]


def finish_texts(
    maps: np.ndarray,
    scores: np.ndarray,
    encoding: Mapping[str, Any],
    owners: Sequence[int],
    infos: list[dict[str, Any]],
    *,
    texts: Sequence[str],
    used: Sequence[str] | None = None,
    score_name: str,
) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """Per text: the piece maps combined (:func:`combine_text_pieces`), the score
    under ``score_name`` (:func:`record_scores`), and ``text_used`` where cleaning
    changed the text (``used``: the texts as fed to the model; default ``texts``)."""
    out = combine_text_pieces(maps, encoding, owners, len(texts))
    record_scores(infos, scores, owners, score_name=score_name)
    if used is not None:
        for i, info in enumerate(infos):
            if used[i] != texts[i]:
                info["text_used"] = used[i]
    return out, infos


class FusionGradCamExplainer(Explainer):
    """Grad-CAM for image-text matching models whose text encoder cross-attends to
    the image tokens (BLIP-ITM, ALBEF): the shared flow of one ``explain`` call.

    The image is encoded once (no graph); all segments (or their pieces) run as one
    batch through the text encoder against that single image embedding (batch 1,
    broadcast in the cross-attention matmuls, so the image keys and values are
    computed once per layer); :func:`attention_gradcam` takes the gradient of the
    match logit to block ``block``'s cross-attention probabilities only.

    Subclasses set the attributes below in ``__init__`` (after
    :meth:`Explainer.__init__`) and implement
    :meth:`_clean`, :meth:`_pixels`, :meth:`_encode_image`, :meth:`_cross_attention`
    and :meth:`_match_logit` (and may override :meth:`_input_ids` and :meth:`_tokenize`).
    """

    grid: tuple[int, int]
    block: int
    token_limit: int
    overflow: str
    clean_text: bool
    tokens: str
    clamp: str
    head_reduce: str
    flush_denormal: bool

    def _clean(self, text: str) -> str:
        """The model's caption cleaning."""
        raise NotImplementedError

    def _pixels(self, image: np.ndarray) -> Any:
        """The image as the model's input tensor, batch 1, on the device."""
        raise NotImplementedError

    def _encode_image(self, pixels: Any) -> Any:
        """Image token embeddings (batch 1, CLS first)."""
        raise NotImplementedError

    def _cross_attention(self) -> tuple[Any, Any]:
        """(block module whose input becomes the gradient leaf, module whose output
        ``[1]`` is the attention probabilities)."""
        raise NotImplementedError

    def _match_logit(self, input_ids: Any, attention_mask: Any, image_embeds: Any) -> Any:
        """The ITM "match" logit per row."""
        raise NotImplementedError

    def _input_ids(self, input_ids: Any) -> Any:
        """Token ids as the model wants them (BLIP puts ``[ENC]`` first)."""
        return input_ids

    def _tokenize(
        self, texts: list[str]
    ) -> tuple[dict[str, Any], list[int], list[dict[str, Any]]]:
        """The (cleaned) texts as one padded batch: :func:`tokenize_texts`."""
        return tokenize_texts(self.tokenizer, texts, limit=self.token_limit, overflow=self.overflow)

    def _explain_batch(
        self, image: np.ndarray, texts: list[str]
    ) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
        torch = require("torch", "explain")
        used = [(self._clean(t) or t) if self.clean_text else t for t in texts]
        with torch_call_scope(flush_denormal=self.flush_denormal):
            pixels = self._pixels(image)
            enc, owners, infos = self._tokenize(used)
            ids = self._input_ids(enc["input_ids"].clone()).to(self.device)
            mask = enc["attention_mask"].to(self.device)
            with torch.no_grad():
                image_embeds = self._encode_image(pixels)
            block, attention = self._cross_attention()
            maps, logits = attention_gradcam(
                lambda: self._match_logit(ids, mask, image_embeds),
                block=block,
                attention=attention,
                token_mask=query_token_mask(enc, self.tokens),
                clamp=self.clamp,
                head_reduce=self.head_reduce,
                n_prefix=1,
                grid=self.grid,
            )
        return finish_texts(maps, logits, enc, owners, infos, texts=texts, used=used,
                            score_name="itm_logit")
