"""Tiny random models for the explanation-method tests (SigLIP, BLIP-2, ViLT; CLIP's
is :mod:`explain_fixtures`'), saved with ``save_pretrained`` in the layout the real
weights use, and the checks every method shares (:func:`check_method`).

Import with ``from explain_fixtures_methods import ...`` (``tests/`` is on
``sys.path``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from explain_fixtures import (
    check_call_is_clean,
    check_deterministic_and_batched,
    clip_folder,
    make_bert_tokenizer,
    make_image_processor,
    save_folder,
    tiny_image,
)

__all__ = ["blip2_folder", "check_method", "clip_folder", "one_torch_thread", "realistic_init",
           "siglip_folder", "vilt_folder"]


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One torch thread for each test, restored after it: on the shared 2-core machine
    the tiny models run 30-100x faster than with threads fighting over busy cores.
    A test module turns it on by importing it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def siglip_folder(folder: Path) -> Path:
    """A tiny random SigLIP (3 vision blocks with the attention-pooling head, a 4x4
    patch grid, 2 text blocks, 16 text positions) with a tiny WordPiece tokenizer
    (the real one is SentencePiece; the model sees token ids either way)."""
    import torch
    import transformers

    tok = make_bert_tokenizer(folder, model_max_length=16)
    cfg = transformers.SiglipConfig(
        text_config={"vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 2,
                     "max_position_embeddings": 16, "pad_token_id": tok.pad_token_id},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
    )
    torch.manual_seed(0)
    model = transformers.SiglipModel(cfg)
    with torch.no_grad():  # a real model's scale and bias, so the sigmoid is not flat
        model.logit_scale.fill_(float(np.log(10.0)))
        model.logit_bias.fill_(-1.0)
    processor = transformers.SiglipImageProcessorPil(
        size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    return save_folder(folder, model, tok, processor)


def blip2_folder(folder: Path) -> Path:
    """A tiny random BLIP-2 ITM: a 2-block ViT (4x4 grid), a 4-layer Q-Former with
    cross-attention every 2nd layer, 4 query tokens, a tiny WordPiece tokenizer."""
    import torch
    import transformers

    tok = make_bert_tokenizer(folder)
    cfg = transformers.Blip2Config(
        vision_config={"hidden_size": 24, "intermediate_size": 48, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        qformer_config={"vocab_size": len(tok), "hidden_size": 16, "intermediate_size": 32,
                        "num_hidden_layers": 4, "num_attention_heads": 2,
                        "encoder_hidden_size": 24, "cross_attention_frequency": 2,
                        "max_position_embeddings": 32, "pad_token_id": tok.pad_token_id,
                        "use_qformer_text_input": True},
        text_config={"model_type": "opt", "vocab_size": 50, "hidden_size": 16,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "ffn_dim": 32,
                     "word_embed_proj_dim": 16},
        num_query_tokens=4,
        image_text_hidden_size=8,
    )
    torch.manual_seed(0)
    model = transformers.Blip2ForImageTextRetrieval(cfg)
    realistic_init(model)  # transformers' init leaves the ITM gradients near round-off
    return save_folder(folder, model, tok, make_image_processor("blip", size=32))


def vilt_folder(folder: Path) -> Path:
    """A tiny random ViLT retrieval model (3 blocks, 8 px patches) whose processor
    resizes the shorter side to 32 (sides multiples of 8), N(0, 1/fan_in) weights."""
    import torch
    import transformers
    from explain_fixtures import TOKEN_LIMIT

    tok = make_bert_tokenizer(folder, model_max_length=TOKEN_LIMIT)
    config = transformers.ViltConfig(
        vocab_size=len(tok), hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
        intermediate_size=64, image_size=32, patch_size=8, max_position_embeddings=TOKEN_LIMIT)
    torch.manual_seed(0)
    model = realistic_init(transformers.ViltForImageAndTextRetrieval(config))
    processor = make_image_processor("vilt", size=32, mean=(0.5,) * 3, std=(0.5,) * 3)
    return save_folder(folder, model, tok, processor)


def realistic_init(model: Any, *, seed: int = 0) -> Any:
    """Re-draw every weight matrix (and the query tokens) as N(0, 1/fan_in) and
    every LayerNorm as weight 1, bias 0, in place: activations and gradients keep a
    trained model's order of magnitude through the layers."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                fan_in = int(np.prod(p.shape[1:])) if "query_tokens" not in name else 1
                p.copy_(torch.randn(p.shape, generator=gen) / np.sqrt(fan_in))
            elif "LayerNorm" in name or "layernorm" in name or "layer_norm" in name:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
    return model


def check_method(explainer: Any, texts: list[str], score_key: str) -> None:
    """The checks every method shares: one finite float32 map per text on the image
    grid, the method in params; same maps twice and one-by-one as in the batch; no
    hook left, grad mode kept, parameters frozen."""
    image = tiny_image(24, 40)
    maps = explainer.explain(image, texts)
    assert len(maps) == len(texts)
    for m in maps:
        assert m.values.shape == (24, 40) and m.values.dtype == np.float32
        assert np.isfinite(m.values).all()
        assert m.method == explainer.method == m.params["method"]
        assert np.isfinite(m.params[score_key])
    check_deterministic_and_batched(explainer, texts, score_key)
    check_call_is_clean(explainer)
