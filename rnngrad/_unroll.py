"""Unrolling a cell over a sequence with ``lax.scan``."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PyTree

from ._checks import (
    check_carry,
    check_finite,
    check_same_structure,
    check_time_axis,
    describe,
    structure_of,
)
from .cells import Cell, check_cell, init_carry


def _same_structure(a: PyTree, b: PyTree) -> bool:
    if jax.tree_util.tree_structure(a) != jax.tree_util.tree_structure(b):
        return False
    return all(
        x.shape == y.shape and x.dtype == y.dtype
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
    )


def check_cell_call(cell: Cell, xs: PyTree, carry0: PyTree) -> int:
    """Validate ``cell``, ``xs`` and ``carry0`` at trace time; return T.

    ``cell`` must follow the protocol (``__call__`` and ``init_carry``); ``xs`` must hold
    real floating arrays with a leading time axis, T >= 1; for cells with an
    ``input_size``, each step's input must be (input_size,). ``carry0`` must match
    ``cell.init_carry()`` and what the cell returns, in structure, shapes and dtypes.
    Concrete values (outside ``jit``) must be finite: NaN or inf in ``xs``, ``carry0`` or
    the cell's parameters raise here instead of spreading silently through every result.
    """
    check_cell(cell)
    if isinstance(xs, (list, tuple)) and xs and not hasattr(xs[0], "shape"):
        raise TypeError(
            f"`xs` must be an array (T, input_size), got {describe(xs)}: use jnp.asarray(xs)."
        )
    length = check_time_axis("xs", xs)
    for leaf in jax.tree_util.tree_leaves(xs):
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise TypeError(
                f"`xs` must hold real floating arrays (the cell's dtype), got {describe(leaf)}"
                + (
                    ": use xs.astype(jnp.float32) (or float64)."
                    if not jnp.issubdtype(leaf.dtype, jnp.complexfloating)
                    else "; complex inputs are not supported (split real and imaginary parts)."
                )
            )
    input_size = getattr(cell, "input_size", None)
    if isinstance(input_size, int) and not isinstance(xs, (jax.Array, np.ndarray)):
        raise TypeError(
            f"`xs` must be one array (T, {input_size}) for this {type(cell).__name__}, got "
            f"{describe(xs)}" + (": use jnp.stack(xs)." if isinstance(xs, (list, tuple)) else ".")
        )
    if isinstance(input_size, int):
        if xs.ndim != 2 or xs.shape[1] != input_size:
            raise ValueError(
                f"`xs` must have shape (T, {input_size}) for this {type(cell).__name__} "
                f"(a time axis, then the input; vmap for batches), got {describe(xs)}."
            )
    expected = jax.eval_shape(lambda: init_carry(cell))
    name = type(cell).__name__
    check_carry("carry0", carry0)
    check_same_structure(
        "carry0", carry0, expected, f"{name}.init_carry() (start from rg.init_carry(cell))"
    )
    x0 = jax.tree_util.tree_map(lambda x: x[0], xs)
    out = jax.eval_shape(lambda x, s: cell(x, s), x0, carry0)
    carry_dtypes = {jnp.result_type(c) for c in jax.tree_util.tree_leaves(carry0)}
    out_dtypes = {o.dtype for o in jax.tree_util.tree_leaves(out)}
    x_dtypes = {leaf.dtype for leaf in jax.tree_util.tree_leaves(xs)}
    if out_dtypes != carry_dtypes and x_dtypes != carry_dtypes:
        raise ValueError(
            f"`xs` has dtype {sorted(map(str, x_dtypes))} but the carry of this {name} is "
            f"{sorted(map(str, carry_dtypes))}, and a step returned "
            f"{sorted(map(str, out_dtypes))}: cast the inputs, "
            f"xs.astype({sorted(map(str, carry_dtypes))[0]})."
        )
    if not _same_structure(out, expected):
        raise TypeError(
            f"`cell` ({name}) does not keep its carry's structure: from a carry "
            f"{structure_of(expected)} (its init_carry()) one step returns "
            f"{structure_of(out)}. A cell's step must return a carry like the one it takes "
            "(check its nonlinearity and its __call__)."
        )
    check_finite("xs", xs)
    check_finite("carry0", carry0)
    check_finite(
        "cell",
        eqx.filter(cell, eqx.is_inexact_array),
        hint="Its parameters hold NaN/inf (a diverged training run, or a scale that "
        "overflowed); rebuild or rescale the cell.",
    )
    return length


def unroll(cell: Cell, xs: PyTree, carry0: PyTree, *, checkpoint: bool = False) -> PyTree:
    """Run ``carry_t = cell(xs[t], carry_{t-1})`` for t = 0..T-1 with ``lax.scan``.

    **Arguments:**

    - `cell`: a cell following the protocol (``rg.AbstractCell``; equinox's
      ``GRUCell``/``LSTMCell`` as they are), handling one example.
    - `xs`: inputs with a leading time axis, (T, input_size).
    - `carry0`: the initial carry (the state before step 0), e.g. ``rg.init_carry(cell)``.
    - `checkpoint`: rematerialise each step in the backward pass (``jax.checkpoint``),
      trading compute for memory on long sequences.

    **Returns:** every carry stacked on a leading time axis: (T, H) for a vanilla cell,
    a tuple of two (T, H) arrays for an LSTM. ``carry0`` is not included.

    **Raises:** ``TypeError`` for a cell without ``__call__``/``init_carry``;
    ``ValueError`` for ``xs`` without a time axis, T = 0, a wrong input size, or a
    ``carry0`` that does not match the cell's carry.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(2, 3, key=jax.random.key(0))
    >>> rg.unroll(cell, jnp.ones((10, 2)), rg.init_carry(cell)).shape
    (10, 3)
    """
    check_cell_call(cell, xs, carry0)

    def step(carry: PyTree, x: Array) -> tuple[PyTree, PyTree]:
        new = cell(x, carry)
        return new, new

    if checkpoint:
        step = jax.checkpoint(step)  # type: ignore[assignment]
    _, carries = jax.lax.scan(step, carry0, xs)
    return carries


def final_carry(cell: Cell, xs: PyTree, carry0: PyTree, *, checkpoint: bool = False) -> PyTree:
    """The last carry of :func:`unroll` without stacking the others (O(1) memory in T)."""
    check_cell_call(cell, xs, carry0)

    def step(carry: PyTree, x: Array) -> tuple[PyTree, None]:
        return cell(x, carry), None

    if checkpoint:
        step = jax.checkpoint(step)  # type: ignore[assignment]
    carry, _ = jax.lax.scan(step, carry0, xs)
    return carry


__all__ = ["unroll", "final_carry", "check_cell_call"]
