"""Texts and tokenising: the checks on ``texts``, one padded batch of token rows
(with long texts truncated or split into pieces), the token masks a map averages
over, and putting piece maps and scores back together per text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import check_int, check_option

__all__ = [
    "OVERFLOW_CHOICES",
    "TOKENS_CHOICES",
    "check_texts",
    "combine_pieces",
    "combine_text_pieces",
    "finish_texts",
    "query_token_mask",
    "record_scores",
    "text_token_mask",
    "tokenize_texts",
]

#: How a text longer than the model's token limit is handled.
OVERFLOW_CHOICES = ("truncate", "split")


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
    arr = np.asarray(maps, dtype=np.float64)
    for i in range(n_texts):
        rows = np.flatnonzero(owner_arr == i)
        if rows.size == 0:
            raise ValueError(f"text {i} has no piece")
        acc = np.tensordot(w[rows], arr[rows], axes=1)
        out.append((acc / w[rows].sum()).astype(np.float32))
    return out


#: Which query tokens a cross-attention map averages over: ``"text"`` the text
#: tokens (LAVIS); ``"all"`` every attended row, ``[CLS]`` included (ALBEF
#: ``Grounding.py``); ``"cls"`` the first row only; ``"each"`` every text token's
#: own map (ALBEF ``visualization.ipynb``), averaged after post-processing.
TOKENS_CHOICES = ("text", "all", "cls", "each")


def query_token_mask(encoding: Mapping[str, Any], tokens: str) -> Any:
    """The query rows a map uses, as a 0/1 tensor like ``input_ids``: ``"text"`` and
    ``"each"``: the text tokens (:func:`text_token_mask`); ``"all"``: every attended
    row; ``"cls"``: the first token only (``[CLS]``/``[ENC]``, whose output feeds the
    ITM head)."""
    check_option("tokens", tokens, TOKENS_CHOICES)
    if tokens in ("text", "each"):
        return text_token_mask(encoding)
    if tokens == "all":
        return encoding["attention_mask"].clone()
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
    weights: Sequence[float] | None = None,
) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """Per text: the piece maps combined (:func:`combine_text_pieces`, or
    :func:`combine_pieces` with ``weights``: the rows each piece's map averaged),
    the score under ``score_name`` (:func:`record_scores`), and ``text_used`` where
    cleaning changed the text (``used``: the texts as fed to the model; default
    ``texts``)."""
    if weights is None:
        out = combine_text_pieces(maps, encoding, owners, len(texts))
    else:
        out = combine_pieces(maps, owners, weights, len(texts))
    record_scores(infos, scores, owners, score_name=score_name)
    if used is not None:
        for i, info in enumerate(infos):
            if used[i] != texts[i]:
                info["text_used"] = used[i]
    return out, infos
