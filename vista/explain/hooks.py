"""Hook plumbing, in one place: hooks are registered inside one call and removed in
``finally`` (captum's ``_forward_layer_distributed_eval`` pattern); no activation is
kept on a module or an explainer between calls.

:func:`run_with_hooks` is the one place hooks are registered. The hook factories
make a module's input or output a detached leaf that requires grad (so the layers
below build no autograd graph) or keep a module's output. :func:`attention_and_gradient`
runs a forward pass with both and returns one attention module's probabilities and
the gradient of a per-row score with respect to them; the Grad-CAM arithmetic on
them is :func:`vista.explain.cam.gradcam_attention`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._validation import check_option, require

__all__ = [
    "HOOK_KINDS",
    "attention_and_gradient",
    "batched_grads",
    "capture_hook",
    "leaf_hook",
    "leaf_input_hook",
    "remove_hooks",
    "run_with_hooks",
]

#: ``"forward"``: ``register_forward_hook``; ``"pre"``: ``register_forward_pre_hook``
#: with ``with_kwargs=True``.
HOOK_KINDS = ("forward", "pre")


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


def run_with_hooks(forward: Callable[[], Any],
                   hooks: Sequence[tuple[Any, str, Callable[..., Any]]]) -> Any:
    """Register ``hooks``, run ``forward()``, and remove every hook in ``finally``.

    Parameters
    ----------
    forward : callable
        Runs the model; its result is returned.
    hooks : sequence of (module, kind, hook)
        ``kind`` is one of :data:`HOOK_KINDS`. Registration happens inside ``try``,
        so a failure half-way removes the hooks already registered.
    """
    handles: list[Any] = []
    try:
        for module, kind, hook in hooks:
            check_option("kind", kind, HOOK_KINDS)
            if kind == "forward":
                handles.append(module.register_forward_hook(hook))
            else:
                handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
        return forward()
    finally:
        remove_hooks(handles)


def attention_and_gradient(
    forward: Callable[[], Any],
    *,
    block: Any,
    attention: Any,
    output_index: int | None = 1,
) -> tuple[Any, Any, Any]:
    """One attention module's probabilities and the gradient of a per-row score.

    ``forward()`` runs the model and returns one score per batch row. During it, a
    pre-hook makes ``block``'s input a leaf that requires grad (the layers below
    build no graph) and a hook keeps ``attention``'s output (``output[output_index]``:
    the probabilities, batch × heads × queries × keys). The gradient of the summed
    score is taken to the probabilities only (rows are independent, so each row
    gets its own gradient).

    Returns
    -------
    attention : torch.Tensor, shape (B, H, T, K)
        Detached probabilities.
    gradient : torch.Tensor, shape (B, H, T, K)
    scores : torch.Tensor, shape (B,)
        Detached.
    """
    torch = require("torch", "explain")
    leaves: list[Any] = []
    probs: list[Any] = []
    score = run_with_hooks(forward, [(block, "pre", leaf_input_hook(leaves)),
                                     (attention, "forward", capture_hook(probs, output_index))])
    if len(probs) != 1:
        raise RuntimeError(f"the attention module ran {len(probs)} times in one forward; expected 1")
    (grad,) = torch.autograd.grad(score.sum(), probs[0])
    return probs[0].detach(), grad, score.detach()


def batched_grads(scores: Any, targets: Sequence[Any], *, retain_graph: bool = False) -> Any:
    """The gradient of each of the ``rows`` scores to each target, in one vectorised
    backward pass: a tuple with one tensor (rows, *target.shape) per target."""
    torch = require("torch", "explain")
    rows = scores.shape[0]
    eye = torch.eye(rows, dtype=scores.dtype, device=scores.device)
    return torch.autograd.grad(scores, list(targets), grad_outputs=eye, is_grads_batched=True,
                               retain_graph=retain_graph)
