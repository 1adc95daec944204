"""The trained model: a recurrent cell and a linear readout, and its per-step task loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from .._checks import Checked, check_key, check_positive_int, describe
from .._tasks import AbstractTask
from .._unroll import unroll
from ..cells import Cell, cell_output, check_cell, init_carry

__all__ = ["RNNModel", "step_loss_of", "step_targets_of"]


class RNNModel(eqx.Module):
    """A recurrent cell followed by a linear readout of what the cell outputs.

    **Arguments:** `cell`: any cell following the protocol (``rg.AbstractCell``, or
    equinox's ``GRUCell``/``LSTMCell``); `out_size`: a positive int; `key` (keyword
    only). The readout is ``eqx.nn.Linear(features, out_size)`` on
    ``cell.output(carry)`` (by default the whole flattened carry; ``h`` of an LSTM).

    **Raises:** ``TypeError`` for a cell without ``__call__``/``init_carry``.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> model = rg.RNNModel(rg.VanillaCell(2, 8, key=jax.random.key(0)), 1, key=jax.random.key(1))
    >>> model.predict(jnp.ones((5, 2))).shape
    (1,)
    """

    cell: Cell
    readout: eqx.nn.Linear

    def __init__(self, cell: Cell, out_size: Checked[int], *, key: Checked[PRNGKeyArray]):
        check_cell(cell)
        out_size = check_positive_int("out_size", out_size)
        check_key("key", key, where="RNNModel")
        self.cell = cell
        features = jax.eval_shape(lambda: cell_output(cell, init_carry(cell)))
        if len(features.shape) != 1:
            raise ValueError(
                f"the cell's output must be one vector (features,), got shape {features.shape}"
                ": give the cell an `output(self, carry)` method returning a 1-D array."
            )
        self.readout = eqx.nn.Linear(features.shape[0], out_size, key=key, dtype=features.dtype)

    def carries(self, xs: Float[Array, "T input"], carry0: PyTree | None = None) -> PyTree:
        """Every carry (leading axis T) of the cell on `xs`, from ``carry0`` (default zero)."""
        carry0 = init_carry(self.cell) if carry0 is None else carry0
        return unroll(self.cell, xs, carry0)

    def features(self, carry: PyTree) -> Float[Array, " features"]:
        """What the readout sees of one carry."""
        return cell_output(self.cell, carry)

    def predict(
        self, xs: Float[Array, "T input"], readout: Checked[Literal["last", "every"]] = "last"
    ) -> Float[Array, "..."]:
        """Predictions: (out,) from the final step, or (T, out) for ``readout="every"``."""
        if readout not in ("last", "every"):
            raise ValueError(f'`readout` must be "last" or "every", got {describe(readout)}.')
        feats = jax.vmap(self.features)(self.carries(xs))
        if readout == "last":
            return self.readout(feats[-1])
        return jax.vmap(self.readout)(feats)


def step_targets_of(task: AbstractTask, y: PyTree) -> PyTree:
    """Per-step targets ``(t, target_t)`` (leading axis T) of one example's target `y`."""
    t = jnp.arange(task.length)
    if task.readout == "last":
        return (
            t,
            jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (task.length, *a.shape)), y),
        )
    if task.kind == "regression":  # a target per step (flip-flop): (T, out)
        return (t, y)
    weights = y.mask.astype(jnp.result_type(float))
    return (t, (y.labels, weights / jnp.sum(weights)))


def step_loss_of(task: AbstractTask, model: RNNModel) -> Callable[[PyTree, Any], Array]:
    """``step_loss(carry_t, target_t)`` whose sum over t is ``task.loss`` of one example.

    For ``readout="last"`` tasks only the final step carries loss; for per-step tasks
    each step carries its share: of the masked mean cross-entropy (copy), or of the mean
    squared error over steps (flip-flop). The targets come
    from :func:`step_targets_of`.
    """
    last = task.length - 1

    def step_loss(carry: PyTree, target: Any) -> Array:
        t, y = target
        pred = model.readout(model.features(carry))
        if task.readout == "last":
            value = task.loss(pred, y)
            return jnp.where(t == last, value, jnp.zeros_like(value))
        if task.kind == "regression":  # the mean over steps of the squared error
            diff = pred - y.astype(pred.dtype)
            return jnp.sum(diff * diff) / task.length
        label, weight = y
        ce = optax.softmax_cross_entropy_with_integer_labels(pred, label)
        return weight.astype(ce.dtype) * ce

    return step_loss
