"""Training objectives: how the gradient of the summed per-step loss is taken.

An objective is a small ``eqx.Module`` with ``loss(cell, xs, carry0, step_loss, ys)``
(one example) and ``check(task)``; :func:`rnngrad.train` takes one as ``objective=``.
Full BPTT and Williams & Peng's truncated BPTT(k1, k2) are provided; a new objective
subclasses :class:`AbstractObjective`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, PyTree

from .._anatomy import _check_step_loss, _check_targets
from .._checks import Checked, check_int, check_positive_int
from .._tasks import AbstractTask
from .._unroll import check_cell_call, unroll
from ..cells import Cell

__all__ = ["AbstractObjective", "BPTT", "TruncatedBPTT", "truncated_loss"]


class AbstractObjective(eqx.Module):
    """How :func:`rnngrad.train` turns per-step losses into a differentiable loss.

    Subclasses implement ``loss(cell, xs, carry0, step_loss, ys) -> scalar`` for one
    example (its value is Σ_t step_loss(carry_t, ys[t]); its gradient is what the
    objective says) and may override ``check(task)`` to reject a task early.
    """

    @abc.abstractmethod
    def loss(
        self,
        cell: Cell,
        xs: Float[Array, "T input"],
        carry0: PyTree,
        step_loss: Callable[[PyTree, Any], Array],
        ys: PyTree,
    ) -> Float[Array, ""]:
        """Σ_t step_loss(carry_t, ys[t]) with this objective's gradient."""

    def check(self, task: AbstractTask) -> None:  # noqa: B027 - optional hook
        """Raise a ``ValueError`` if this objective cannot train on `task`."""


class BPTT(AbstractObjective):
    """Full backpropagation through time (Werbos 1990; Rumelhart et al. 1986).

    **Arguments:** `checkpoint`: rematerialise each step in the backward pass
    (``jax.checkpoint``), trading compute for memory on long sequences.
    """

    checkpoint: bool = eqx.field(default=False, static=True)

    def loss(self, cell, xs, carry0, step_loss, ys):
        carries = unroll(cell, xs, carry0, checkpoint=self.checkpoint)
        return jnp.sum(jax.vmap(step_loss)(carries, ys))


class TruncatedBPTT(AbstractObjective):
    """Truncated BPTT(k1, k2) of Williams & Peng (1990): see :func:`truncated_loss`.

    **Arguments:** `k1`: steps between backward passes; `k2`: steps each backward pass
    reaches, ``1 <= k1 <= k2 <= T``. ``k1 = k2`` is the usual chunked TBPTT.

    **Raises:** ``TypeError``/``ValueError`` for non-int or non-positive `k1`, `k2`, or
    ``k1 > k2``; at :func:`rnngrad.train`, ``k2 > T``.
    """

    k1: int = eqx.field(static=True)
    k2: int = eqx.field(static=True)

    def __init__(self, k1: Checked[int], k2: Checked[int]):
        self.k2 = check_positive_int("k2", k2)
        self.k1 = check_int(
            "k1", k1, minimum=1, why="each backward pass covers k1 steps", where="TruncatedBPTT"
        )
        if self.k1 > self.k2:
            raise ValueError(
                f"TruncatedBPTT: `k1` must be <= k2 = {self.k2} (each loss must reach its own "
                f"step), got {self.k1}."
            )

    def check(self, task: AbstractTask) -> None:
        if self.k2 > task.length:
            raise ValueError(
                f"TruncatedBPTT: `k2` must be <= T = {task.length} (the task's length), "
                f"got {self.k2}."
            )

    def loss(self, cell, xs, carry0, step_loss, ys):
        return truncated_loss(cell, xs, carry0, step_loss, ys, k1=self.k1, k2=self.k2)


def truncated_loss(
    cell: Cell,
    xs: Checked[Float[Array, "T input"]],
    carry0: PyTree,
    step_loss: Checked[Callable[[PyTree, Any], Array]],
    ys: PyTree,
    *,
    k1: Checked[int],
    k2: Checked[int],
) -> Float[Array, ""]:
    """Σ_t L_t computed so that its gradient is truncated BPTT(k2; k1).

    Williams & Peng (1990)'s BPTT(h; h'): every `k1` steps (at τ = k1-1, 2k1-1, ...,
    and at the last step) the losses of the last `k1` steps are backpropagated `k2`
    steps, to s_{τ-k2+1}. So L_t reaches s_k only if ``t - k < k2 - (τ - t)``; with
    ``k1 = 1`` this is ``t - k < k2``, and ``k1 = k2`` is the usual chunked TBPTT. The
    forward pass runs on unbroken (one ``rg.unroll``): every window restarts from the
    true (stop-gradient) state. The value equals the full loss; only the gradient is
    truncated.

    Each window of `k2` steps is recomputed from its stored start state (cost
    O(T · k2 / k1)); windows are ``vmap``-ed, so this is one batched program.

    **Arguments:** `cell`, `xs` (T, input), `carry0` as :func:`rnngrad.unroll`;
    `step_loss(carry_t, y_t) -> scalar`; `ys`: per-step targets (leading axis T);
    `k1`, `k2`: ints with ``1 <= k1 <= k2 <= T``.

    **Returns:** a scalar.

    **Raises:** ``ValueError`` for k2 outside [1, T], k1 outside [1, k2], `ys` with
    another number of steps than `xs`; as :func:`rnngrad.unroll` for bad
    `xs`/`carry0`; ``TypeError`` for a `step_loss` not callable as ``(carry, y)``.

    Reference: R. J. Williams & J. Peng, "An efficient gradient-based algorithm for
    on-line training of recurrent network trajectories", Neural Computation 2 (1990).
    """
    length = check_cell_call(cell, xs, carry0)
    _check_step_loss(step_loss, carry0, _check_targets(ys, length))
    k2 = check_positive_int("k2", k2)
    k1 = check_positive_int("k1", k1)
    if k2 > length:
        raise ValueError(f"`k2` must be <= T = {length} (steps to backpropagate), got {k2}.")
    if k1 > k2:
        raise ValueError(
            f"`k1` must be <= k2 = {k2} (each loss must reach its own step), got {k1}."
        )
    s0, unravel = ravel_pytree(carry0)
    carries = jax.lax.stop_gradient(unroll(cell, xs, carry0))
    states = jax.vmap(lambda c: ravel_pytree(c)[0])(carries)  # states[t] = s_t
    n_windows = -(-length // k1)
    ends = np.minimum(np.arange(n_windows) * k1 + k1 - 1, length - 1)
    starts = ends - k2 + 1
    idx = starts[:, None] + np.arange(k2)[None, :]  # (W, k2), may be negative: padding
    valid = idx >= 0
    loss_lo = np.arange(n_windows) * k1
    counted = (idx >= loss_lo[:, None]) & (idx <= ends[:, None])
    safe = np.clip(idx, 0, None)
    x_win = xs[safe]
    y_win = jax.tree_util.tree_map(lambda a: a[safe], ys)
    before = np.clip(starts - 1, 0, None)
    start_state = jnp.where((starts > 0)[:, None], states[before], s0)

    def flat_step(s: Array, x: Array) -> Array:
        return ravel_pytree(cell(x, unravel(s)))[0]

    def window(s, x_w, y_w, v_w, c_w):
        def step(s, inp):
            x, y, v, c = inp
            new = jnp.where(v, flat_step(s, x), s)
            value = step_loss(unravel(new), y)
            return new, jnp.where(c, value, jnp.zeros_like(value))

        _, values = jax.lax.scan(step, s, (x_w, y_w, v_w, c_w))
        return jnp.sum(values)

    return jnp.sum(
        jax.vmap(window)(start_state, x_win, y_win, jnp.asarray(valid), jnp.asarray(counted))
    )
