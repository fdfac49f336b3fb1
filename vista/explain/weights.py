"""Weights and devices: where a model's files are, which exact files they are, and
the one loader every Hugging Face family goes through.

- :func:`resolve_weights` finds a local folder for a Hub id (cache, or download
  when online) or accepts a local folder or checkpoint file.
- :func:`weights_provenance` says exactly which weights made a map: the resolved Hub
  snapshot commit (the cache folder's name, which *is* the commit) or, for local
  files, a sha256 of their contents.
- :func:`load_model` is the loader helper driven by a family's
  :class:`~vista.explain.registry.ExplainerSpec`: weights, model class in float32 eval
  mode with frozen parameters, tokenizer, image processor, device, provenance, as one
  :class:`LoadedModel` that a method's builder receives.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import _io
from .._validation import require
from ..errors import WeightsNotFoundError

__all__ = [
    "TRANSFORMERS_FLOOR",
    "LoadedModel",
    "file_sha256",
    "load_frozen",
    "load_model",
    "load_processors",
    "pick_device",
    "require_transformers",
    "resolve_weights",
    "weights_and_revision",
    "weights_provenance",
]

#: The oldest transformers the explainers are tested with (the explain tests pass on
#: 5.20.0 and 5.25.0). 4.x returns tensors from ``get_text_features`` (CLIP fails with
#: an AttributeError on ``pooler_output``) and has no ``dtype=`` or image-processor
#: ``backend=``; 5.0.0 does not broadcast one image over a batch of texts in BLIP's
#: cross-attention. Checked at load time by :func:`require_transformers`.
TRANSFORMERS_FLOOR = (5, 20)


def require_transformers() -> Any:
    """Import transformers, refusing a version below :data:`TRANSFORMERS_FLOOR` with
    one line that says what to install."""
    transformers = require("transformers", "explain")
    version = str(transformers.__version__)
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    if tuple(parts) < TRANSFORMERS_FLOOR:
        floor = ".".join(map(str, TRANSFORMERS_FLOOR))
        raise ImportError(
            f"vista's explainers need transformers>={floor}; found {version}: "
            f"pip install 'transformers>={floor}'"
        )
    return transformers


@dataclass(frozen=True)
class LoadedModel:
    """A family's model as a method's builder receives it.

    Attributes
    ----------
    family : str
        Registry name of the family (``"clip"``, ``"blip-itm-base"``, ...).
    model : torch.nn.Module
        float32, eval mode, parameters frozen, on ``device``.
    tokenizer, image_processor
        The model's own (``image_processor`` is None where the family preprocesses
        itself, as ALBEF).
    model_id : str
        Hub id or local path as given.
    revision : str or None
        The Hub revision asked for (None for local files).
    provenance : dict
        :func:`weights_provenance`: ``weights_commit`` or ``weights_sha256``.
    device : str
    folder : str
        The local folder or file the weights were read from.
    extra : dict
        Anything else the family's loader found (ALBEF: its inferred config).
    """

    family: str
    model: Any
    tokenizer: Any
    image_processor: Any
    model_id: str
    revision: str | None
    provenance: dict[str, Any]
    device: str
    folder: str
    extra: dict[str, Any] = field(default_factory=dict)


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


def load_processors(folder: str) -> tuple[Any, Any]:
    """``(tokenizer, image_processor)`` saved in ``folder`` (transformers ``Auto``
    classes; the PIL image backend, so torchvision is not needed)."""
    transformers = require_transformers()
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


_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's contents (remembered per path, size and mtime in this
    process, so a second load of the same file does not read it again)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = _io.file_sha256(p, what="weights file")
    return _HASHES[key]


def weights_provenance(folder: str | os.PathLike[str], *, hub: bool) -> dict[str, Any]:
    """Which weights exactly: ``{"weights_commit": SHA}`` for a Hub snapshot (the
    cache folder ``.../snapshots/<commit>`` is named by the resolved commit), else
    ``{"weights_sha256": HEX}`` of the local file, or of a folder's files (each
    file's relative path and content hash, in sorted order).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "a.bin").write_bytes(b"x")
    >>> weights_provenance(d, hub=False)["weights_sha256"][:12]
    '206010e98533'
    """
    path = Path(folder)
    if hub and path.parent.name == "snapshots":
        return {"weights_commit": path.name}
    if path.is_file():
        return {"weights_sha256": file_sha256(path)}
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(f"{p.relative_to(path).as_posix()}\0{file_sha256(p)}\n".encode())
    return {"weights_sha256": h.hexdigest()}


def load_model(
    spec: Any,
    *,
    weights: str | os.PathLike[str] | None,
    revision: str | None = None,
    device: str | None = None,
    attn_implementation: str | None = None,
) -> LoadedModel:
    """The loader helper: a Hugging Face family's model as its spec describes it.

    Parameters
    ----------
    spec : ExplainerSpec
        ``spec.model_class`` names the transformers class; ``spec.default_weights``
        and ``spec.revision`` are used when ``weights`` is None.
    weights : str or path, optional
        Hub id or local folder in Hugging Face layout.
    revision : str, optional
        Hub commit; default the spec's pinned one for its default id.
    device : str, optional
        Torch device; cuda when available.
    attn_implementation : str, optional
        ``"eager"`` for methods that read attention probabilities through hooks.
    """
    transformers = require_transformers()
    model_id, rev, folder = weights_and_revision(weights, spec.default_weights, revision,
                                                 pinned=spec.revision)
    dev = pick_device(device)
    model = load_frozen(getattr(transformers, spec.model_class), folder, device=dev,
                        attn_implementation=attn_implementation)
    tokenizer, image_processor = load_processors(folder)
    return LoadedModel(
        family=spec.name,
        model=model,
        tokenizer=tokenizer,
        image_processor=image_processor,
        model_id=model_id,
        revision=rev,
        provenance=weights_provenance(folder, hub=not Path(model_id).expanduser().exists()),
        device=dev,
        folder=folder,
    )
