"""An explanation method in its own package: the norm of the score's gradient at each
patch token entering the last vision block (CLIP, SigLIP). ``pip install`` this folder
and ``vista score --model clip/gradnorm`` finds it through the ``vista.plugins`` entry point."""

from __future__ import annotations

from typing import Any


def run(parts: Any, image: Any, texts: list[str]) -> tuple[Any, ...]:
    from vista.explain.cam import tokens_to_grid
    from vista.explain.hooks import batched_grads, capture_hook, run_with_hooks

    enc, owners, infos, text = parts.texts(texts)
    kept: list[Any] = []
    hook = (parts.layers()[-1].layer_norm1, "forward", capture_hook(kept))
    pixels = parts.pixels(image).requires_grad_(True)
    scores = parts.score(run_with_hooks(lambda: parts.image_embedding(pixels), [hook]), text)[0]
    (grad,) = batched_grads(scores, kept)  # one gradient per text: (texts, 1, tokens, channels)
    maps = tokens_to_grid(grad[:, 0].norm(dim=-1), n_prefix=parts.n_prefix, grid=parts.grid)
    return maps, scores.detach().cpu().double().numpy(), enc, owners, infos


def build(loaded: Any, choices: dict[str, Any]) -> Any:
    from vista.explain.dual import MethodExplainer
    from vista.explain.dual_methods import dual_parts

    return MethodExplainer(loaded, parts=dual_parts(loaded), method="gradnorm", runner=run,
                           options={"layer": "last vision block, layer_norm1 output"})


def register() -> None:
    from vista.explain.registry import register_method

    register_method("gradnorm", family=("clip", "siglip"), builder=build,
                    summary="gradient norm per patch token (example plugin)")
