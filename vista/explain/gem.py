"""GEM, the Grounding Everything Module (Bousselham et al., CVPR 2024), for CLIP: a
training-free change of the last blocks' attention that makes CLIP's patch tokens
comparable with the text, without gradients.

Over the last ``depth - 1`` vision blocks (default ``depth=7``: the last 6), a second
token stream runs beside the model's own. At each of those blocks the block's input
from the model's stream, after ``layer_norm1``, gives the keys ``k``, queries ``q``
and values ``v`` (per head); **self-self attention** replaces the query-key
attention: for each of ``v``, ``k`` and ``q`` separately, ``ss_attn_iter`` rounds of
``x ← softmax(τ · x̂ x̂ᵀ) x`` (``x̂``: ``x`` normalised per token), then a last
``softmax(τ · x̂ x̂ᵀ) v``; the three results are averaged, go through ``out_proj``
and are added to the GEM stream (no MLP on that stream). ``τ`` is the mean token
norm of the block's (layer-normed) input times ``head_dim ** -0.5``. The GEM
stream's patch tokens then go through ``post_layernorm`` and the projection, are
normalised, and their cosine with each normalised text embedding is the map,
min-max scaled.

This follows WalBouss/GEM ``gem/gem_utils.py`` (``SelfSelfAttention``,
``GEMResidualBlock``, ``modified_vit_forward``) and ``gem/gem_wrapper.py``
(``GEMWrapper.forward``), written for OpenCLIP; here on Hugging Face ``CLIPModel``
(``in_proj`` is ``q_proj``/``k_proj``/``v_proj``). Departures, recorded:

- the texts are used as they are; the wrapper wraps each class name as
  ``"a photo of a {}."`` (``template="a photo of a {}."`` does the same);
- the image is squashed to the model's square input (the wrapper takes any size and
  interpolates the position embeddings);
- min-max on the patch grid, then bilinear onto the image (the wrapper up-samples
  first).

The map needs no gradient; the text's score recorded is the model's own (the
unmodified stream).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_int, require
from .cam import min_max, tokens_to_grid

__all__ = ["check_gem_depth", "run_gem", "self_self_attention"]


def self_self_attention(q: Any, k: Any, v: Any, inv_temp: Any, *, iterations: int = 1) -> Any:
    """GEM's self-self attention of (B, heads, N, head_dim) ``q``, ``k``, ``v``: the
    mean of the v-v, k-k and q-q attentions applied to ``v``, (B, heads, N, head_dim)."""
    torch = require("torch", "explain")
    normalize = torch.nn.functional.normalize

    def attend(x: Any, values: Any) -> Any:
        unit = normalize(x, dim=-1)
        return torch.softmax(unit @ unit.transpose(-2, -1) * inv_temp, dim=-1) @ (
            unit if values is None else values)

    streams = [v, k, q]
    for _ in range(iterations):
        streams = [attend(x, None) for x in streams]
    out = [attend(x, v) for x in streams]
    return (out[0] + out[1] + out[2]) / 3


def _gem_tokens(parts: Any, pixels: Any, depth: int, iterations: int) -> tuple[Any, Any]:
    """(the GEM stream's projected, normalised tokens (B, N, D), the model's own
    normalised image embedding (B, D))."""
    torch = require("torch", "explain")
    vision = parts.vision
    layers = parts.layers()
    first = len(layers) - (depth - 1)
    with torch.no_grad():
        out = vision(pixel_values=pixels, output_hidden_states=True)
        states = out.hidden_states  # states[i]: the input of block i
        gem = states[first]
        for i in range(first, len(layers)):
            layer, att = layers[i], layers[i].self_attn
            h = layer.layer_norm1(states[i])
            b, n, c = h.shape
            heads = int(att.num_heads)
            q, k, v = (t.view(b, n, heads, c // heads).transpose(1, 2)
                       for t in (att.q_proj(h), att.k_proj(h), att.v_proj(h)))
            inv_temp = h.norm(dim=-1).mean(dim=-1).view(b, 1, 1, 1) * (c // heads) ** -0.5
            mixed = self_self_attention(q, k, v, inv_temp, iterations=iterations)
            gem = gem + att.out_proj(mixed.transpose(1, 2).reshape(b, n, c))
        tokens = parts.model.visual_projection(vision.post_layernorm(gem))
        emb = parts.final_embedding(states[-1])
    return tokens / tokens.norm(dim=-1, keepdim=True), emb


def check_gem_depth(depth: Any, n_layers: int) -> int:
    """``depth`` as an int in [2, n_layers + 1] (GEM changes the last ``depth - 1``
    blocks)."""
    depth = check_int("depth", depth, minimum=2)
    if depth - 1 > n_layers:
        raise ValueError(f"depth must be <= {n_layers + 1} for a model with {n_layers} blocks "
                         f"(GEM changes the last depth - 1); got {depth}")
    return depth


def run_gem(parts: Any, image: np.ndarray, texts: list[str], *, depth: int = 7,
            iterations: int = 1, template: str = "{}"
            ) -> tuple[np.ndarray, np.ndarray, Any, list[int], list[dict[str, Any]]]:
    """GEM maps of a CLIP (:class:`vista.explain.dual.ClipParts`): see the module
    docstring."""

    depth = check_gem_depth(depth, len(parts.layers()))
    if "{}" not in template:
        raise ValueError(f"template must hold '{{}}' where the text goes; got {template!r}")
    pixels = parts.pixels(image)
    enc, owners, infos, plain = parts.texts(texts)
    text = plain if template == "{}" else parts.texts([template.format(t) for t in texts])[3]
    tokens, emb = _gem_tokens(parts, pixels, depth, check_int("iterations", iterations,
                                                              minimum=0))
    sims = (tokens[0] @ text.T).T  # (rows, N)
    maps = min_max(tokens_to_grid(sims, n_prefix=parts.n_prefix, grid=parts.grid))
    scores = parts.score(emb, plain)[0]
    return maps, scores.detach().cpu().double().numpy(), enc, owners, infos
