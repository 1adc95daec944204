"""The cell protocol's functions: what every rnngrad tool asks of a recurrent cell.

Tools never look at a cell's class: they call these functions, which ask the cell for a
method, fall back to the one adapter for equinox's own gated cells (``_gated``), and
otherwise raise a ``TypeError`` that names the method to add.
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, PyTree

from .._checks import (
    Checked,
    check_carry,
    check_finite,
    check_real_scalar,
    check_representable,
    describe,
)
from . import _gated
from ._abstract import Cell

__all__ = [
    "check_cell",
    "init_carry",
    "scale_recurrent",
    "recurrent_weight",
    "fold_recurrent_scale",
    "gain",
    "cell_output",
    "flatten_carry",
    "state_size",
    "diagonal_step",
    "to_diagonal",
    "from_diagonal",
    "has_diagonal_step",
    "check_diagonal",
    "carry_pullback",
    "has_carry_pullback",
]


_INIT_CARRY_HINT = (
    "add a method `def init_carry(self): return jnp.zeros(self.hidden_size)` (the zero "
    "carry, with the structure and dtype the cell returns) or subclass rg.AbstractCell"
)


def check_cell(cell: Cell, name: Checked[str] = "cell", *, needs: Checked[str] = "") -> None:
    """Raise a ``TypeError`` naming the missing required method of the protocol.

    `needs` names an optional method the calling tool also needs, for the message.
    """
    if isinstance(cell, type):
        raise TypeError(
            f"`{name}` must be a cell instance, got the class {cell.__name__}: build one, "
            f"e.g. {cell.__name__}(input_size, hidden_size, key=jax.random.key(0))."
        )
    if _gated.is_gated(cell):
        return
    missing = [m for m in ("__call__", "init_carry") if not callable(getattr(cell, m, None))]
    if missing:
        hint = _INIT_CARRY_HINT if "init_carry" in missing else "subclass rg.AbstractCell"
        if needs:
            hint += f"; this tool also needs `{needs}`"
        raise TypeError(
            f"`{name}` must follow the cell protocol (rg.AbstractCell); "
            f"{describe(cell)} has no method {' or '.join(f'`{m}`' for m in missing)}: {hint}."
        )


def init_carry(cell: Cell) -> PyTree:
    """The all-zero initial carry of `cell`: ``cell.init_carry()``.

    (H,) for the vanilla, echo state and GRU cells, ``(h, c)`` for an LSTM; equinox's
    gated cells are adapted here.

    **Raises:** ``TypeError`` for a cell without ``init_carry``, naming the method to add.

    >>> import jax, rnngrad as rg
    >>> [c.shape for c in rg.init_carry(rg.lstm(2, 3, key=jax.random.key(0)))]
    [(3,), (3,)]
    """
    check_cell(cell)
    if _gated.is_gated(cell):
        return _gated.init_carry(cell)
    return cell.init_carry()


def _optional(cell: Cell, method: str, form: str) -> Any:
    found = getattr(cell, method, None)
    if found is None:
        raise TypeError(
            f"{type(cell).__name__} has no `{method}`, which this tool needs. Add it to the "
            f"cell, e.g. `{form}`."
        )
    return found


def scale_recurrent(cell: Cell, scale: Any) -> Any:
    """The same cell with its recurrent weight (W_rec) multiplied by `scale`.

    Asks the cell's ``scale_recurrent(scale)``; equinox's ``GRUCell``/``LSTMCell`` are
    wrapped so that their ``weight_hh`` acts scaled. Works under ``jax.vmap`` over
    `scale` with the base weight shared (for the vanilla cell each step stays one
    matrix-matrix product). Scales compose: scaling twice multiplies.

    **Arguments:** `cell`: the cell; `scale`: a real scalar (array or number, may be traced).

    **Returns:** the scaled cell.

    **Raises:** ``TypeError`` for a non-real `scale` (string, complex, bool) or a cell
    without ``scale_recurrent`` (the message shows its one-line form); ``ValueError`` for
    a non-scalar `scale` (vmap over scales, or use ``rg.sweep``) or a concrete
    non-finite one.

    Reference: the recurrent gain of Pascanu, Mikolov & Bengio, "On the difficulty of
    training recurrent neural networks", ICML 2013.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(2, 4, key=jax.random.key(0))
    >>> h = jax.vmap(lambda s: rg.scale_recurrent(cell, s)(jnp.ones(2), jnp.ones(4)))(
    ...     jnp.linspace(0.5, 1.5, 3))
    >>> h.shape
    (3, 4)
    """
    check_cell(cell, needs="scale_recurrent")
    if isinstance(scale, (list, tuple)) or (hasattr(scale, "shape") and jnp.ndim(scale) != 0):
        raise ValueError(
            f"`scale` must be one scalar, got {describe(scale)}: for many scales use "
            "jax.vmap(lambda s: rg.scale_recurrent(cell, s)) or rg.sweep(fn, scale=...)."
        )
    check_real_scalar("scale", scale)
    _check_scale_fits(cell, scale)
    if _gated.is_gated(cell):
        return _gated.scale_recurrent(cell, scale)
    method = _optional(
        cell,
        "scale_recurrent",
        "def scale_recurrent(self, scale): return eqx.tree_at(lambda c: c.weight_hh, self, "
        "scale * self.weight_hh)",
    )
    return method(scale)


def _check_scale_fits(cell: Cell, scale: Any) -> None:
    """A concrete `scale` must stay finite in the cell's dtype (1e300 is inf in float32)."""
    leaves = [x for x in jax.tree_util.tree_leaves(cell) if eqx.is_inexact_array(x)]
    if leaves:
        check_representable("scale", scale, jnp.result_type(*leaves))


def recurrent_weight(cell: Cell) -> Float[Array, "rows hidden"]:
    """The effective recurrent weight ``W_rec`` of a cell, scale included.

    (H, H) for a vanilla cell, (3H, H) for a GRU, (4H, H) for an LSTM.

    **Raises:** ``TypeError`` for a cell without a ``recurrent_weight`` property.
    """
    check_cell(cell, needs="recurrent_weight")
    if _gated.is_gated(cell):
        return _gated.recurrent_weight(cell)
    return _optional(
        cell, "recurrent_weight", "@property def recurrent_weight(self): return self.weight_hh"
    )


def fold_recurrent_scale(cell: Cell) -> Any:
    """Fold a scale from :func:`scale_recurrent` into the weights.

    Returns a cell whose recurrent parameters are plain weights: use it before training
    a scaled cell, so that the optimiser does not also train the scale. A cell without
    ``fold_recurrent_scale`` is returned unchanged (it keeps no separate scale).
    """
    check_cell(cell)
    if _gated.is_gated(cell):
        return cell
    method = getattr(cell, "fold_recurrent_scale", None)
    return cell if method is None else method()


def gain(cell: Cell) -> float:
    """γ = sup |φ'| of the cell's nonlinearity (1 for tanh, ReLU and the identity).

    **Raises:** ``TypeError`` for a cell without a ``gain`` property (equinox's gated
    cells, or a vanilla cell with a callable nonlinearity: pass ``gamma=`` instead).
    """
    check_cell(cell, needs="gain")
    return _optional(cell, "gain", "@property def gain(self): return 1.0  # sup |phi'|")


def cell_output(cell: Cell, carry: PyTree) -> Float[Array, " features"]:
    """What a readout of `cell` sees: ``cell.output(carry)``, by default the flat carry.

    For equinox's LSTM it is ``h`` of ``(h, c)``.
    """
    check_cell(cell)
    if _gated.is_gated(cell):
        return _gated.output(cell, carry)
    method = getattr(cell, "output", None)
    return flatten_carry(carry) if method is None else method(carry)


def flatten_carry(carry: PyTree) -> Float[Array, " S"]:
    """The state vector ``s`` (size S): every leaf of the carry, flattened and concatenated.

    rnngrad's gradient analysis treats the whole carry as the state (for an LSTM,
    ``s = concat(h, c)``, size 2H), so gated memory shows where it lives.

    **Raises:** ``TypeError`` for a carry whose leaves are not real floating arrays;
    ``ValueError`` for a carry without any array.
    """
    check_carry("carry", carry)
    check_finite("carry", carry)
    return ravel_pytree(carry)[0]


def state_size(cell: Cell) -> int:
    """S, the size of the cell's state: the number of scalars in ``init_carry()``.

    **Raises:** ``TypeError`` for something that is not a cell (the message names the
    missing method).
    """
    shapes = jax.eval_shape(lambda: init_carry(cell))
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes))


# --------------------------------------------------------------------------- pullback


def has_carry_pullback(cell: Cell) -> bool:
    """Whether `cell` has its own ``carry_pullback`` (else :func:`carry_pullback` falls back
    to ``jax.vjp`` of the step)."""
    return callable(getattr(cell, "carry_pullback", None))


def carry_pullback(
    cell: Cell, x: PyTree, carry: PyTree, new_carry: PyTree, cotangent: PyTree
) -> PyTree:
    """The cotangent pulled back through one step: ``(∂ cell(x, carry)/∂ carry)ᵀ cotangent``.

    Asks the cell's ``carry_pullback(x, carry, new_carry, cotangent)``, which may read the
    step's output ``new_carry = cell(x, carry)`` instead of running the step again (for a
    tanh cell ``Wᵀ (v ⊙ (1 − h'²))``: one matrix product where ``jax.vjp`` needs two);
    otherwise ``jax.vjp`` of the step at `carry` (which re-runs the step). Both give the
    same derivative; the gradient-anatomy scans pull every cotangent back through this.

    **Arguments:** `cell`; `x`: the step's input; `carry`: the carry entering the step;
    `new_carry`: ``cell(x, carry)``; `cotangent`: shaped like the carry.

    **Returns:** the cotangent of `carry`, shaped like the carry.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(1, 3, key=jax.random.key(0))
    >>> x, h, v = jnp.ones(1), jnp.full(3, 0.1), jnp.arange(3.0)
    >>> fast = rg.cells.carry_pullback(cell, x, h, cell(x, h), v)
    >>> bool(jnp.allclose(fast, jax.vjp(lambda c: cell(x, c), h)[1](v)[0]))
    True
    """
    method = getattr(cell, "carry_pullback", None)
    if callable(method):
        return method(x, carry, new_carry, cotangent)
    return jax.vjp(lambda c: cell(x, c), carry)[1](cotangent)[0]


# --------------------------------------------------------------------------- diagonal protocol

_DIAGONAL_FORM = (
    "def diagonal_step(self, x): return a, b  # (D,) each, a independent of the carry, "
    "with cell(x, carry) == from_diagonal(a * to_diagonal(carry) + b)"
)


def has_diagonal_step(cell: Cell) -> bool:
    """Whether `cell` says it is linear in its carry: it has a ``diagonal_step`` method."""
    return callable(getattr(cell, "diagonal_step", None))


def check_diagonal(cell: Cell, needed_by: str, instead: str) -> None:
    """Raise a ``TypeError`` unless `cell` has ``diagonal_step`` (the diagonal protocol).

    `needed_by` is the option that asked for it (e.g. ``"`parallel=True`"``), quoted
    first in the message; `instead` the option that works for every cell (e.g.
    ``"parallel=False"``). The message names the missing method and its one-line form.
    """
    check_cell(cell, needs="diagonal_step")
    if not has_diagonal_step(cell):
        raise TypeError(
            f"{needed_by} needs a cell linear in its carry, with `diagonal_step`: "
            f"{type(cell).__name__} has none (its step is not affine in the carry, or it "
            f"does not say so). Use {instead}, or add to the cell `{_DIAGONAL_FORM}` "
            "(with `to_diagonal`/`from_diagonal` when the carry is not already the "
            "diagonal coordinates)."
        )


def diagonal_step(cell: Cell, x: PyTree) -> tuple[Array, Array]:
    """``(a, b)`` of one step of a cell linear in its carry: ``cell.diagonal_step(x)``.

    The *diagonal protocol* of the cells whose carry enters linearly (``LRUCell``,
    ``DiagonalLinearCell``, ``MinGRUCell``, ``MinLSTMCell``): ``a`` and ``b`` are arrays
    of shape (D,), real or complex, with ``a`` depending on the input but never on the
    carry, such that for every carry ``cell(x, carry) == from_diagonal(a *
    to_diagonal(carry) + b)``. ``rg.unroll(..., parallel=True)`` composes them with an
    associative scan; ``rg.timestep_contributions(..., method="diagonal")`` reads the
    gradient's products ``Π a`` in closed form.

    **Arguments:** `cell`; `x`: one step's input (input_size,).

    **Returns:** ``(a, b)``, each (D,).

    **Raises:** ``TypeError`` for a cell without ``diagonal_step`` (the message shows its
    one-line form).

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.DiagonalLinearCell(1, 3, key=jax.random.key(0))
    >>> a, b = rg.cells.diagonal_step(cell, jnp.ones(1))
    >>> a.shape, bool(jnp.allclose(cell(jnp.ones(1), jnp.ones(3)), a + b))
    ((3,), True)
    """
    check_cell(cell, needs="diagonal_step")
    return _optional(cell, "diagonal_step", _DIAGONAL_FORM)(x)


def to_diagonal(cell: Cell, carry: PyTree) -> Array:
    """The carry in the coordinates where the recurrence is diagonal: ``cell.to_diagonal``.

    A cell without ``to_diagonal`` keeps its carry as it is (the identity: a carry that
    is one (D,) array, as for the real diagonal cells). For ``LRUCell`` the real carry
    ``(Re h, Im h)`` (2H,) becomes the complex ``h`` (H,).

    **Returns:** z, (D,).
    """
    method = getattr(cell, "to_diagonal", None)
    return carry if method is None else method(carry)


def from_diagonal(cell: Cell, z: Array) -> PyTree:
    """The carry of diagonal coordinates `z` (D,): ``cell.from_diagonal(z)``, the inverse
    of :func:`to_diagonal` (the identity for a cell without ``from_diagonal``)."""
    method = getattr(cell, "from_diagonal", None)
    return z if method is None else method(z)
