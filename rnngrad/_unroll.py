"""Unrolling a cell over a sequence: ``lax.scan``, or an associative scan for cells linear
in their carry (``parallel=True``)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PyTree

from ._checks import (
    Checked,
    check_bool,
    check_carry,
    check_finite,
    check_same_structure,
    check_time_axis,
    describe,
    structure_of,
)
from .cells import (
    Cell,
    check_cell,
    check_diagonal,
    diagonal_step,
    from_diagonal,
    init_carry,
    to_diagonal,
)


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


def check_diagonal_call(
    cell: Cell, xs: PyTree, carry0: PyTree, needed_by: str, instead: str
) -> None:
    """Validate the diagonal protocol of `cell` at trace time (after :func:`check_cell_call`).

    ``diagonal_step(x)`` must return two arrays ``(a, b)`` of one shape (D,) and one
    inexact dtype; ``to_diagonal(carry0)`` must be a (D,) array of that dtype, and
    ``from_diagonal`` must give back a carry like `carry0`. `needed_by` (e.g.
    ``"`parallel=True`"``) opens the messages; `instead` names the option that works for
    every cell (e.g. ``"parallel=False"``).

    **Raises:** ``TypeError`` for a cell without ``diagonal_step`` (naming it and
    `needed_by`) or one whose diagonal methods return the wrong kind of value;
    ``ValueError`` for shapes that disagree.
    """
    check_diagonal(cell, needed_by, instead)
    name = type(cell).__name__
    x0 = jax.tree_util.tree_map(lambda x: x[0], xs)
    out = jax.eval_shape(lambda x: diagonal_step(cell, x), x0)
    if not (
        isinstance(out, tuple)
        and len(out) == 2
        and all(hasattr(o, "shape") and jnp.issubdtype(o.dtype, jnp.inexact) for o in out)
    ):
        raise TypeError(
            f"{needed_by}: {name}.diagonal_step(x) must return a pair (a, b) of floating or "
            f"complex (D,) arrays, got {structure_of(out)}."
        )
    a, b = out
    z0 = jax.eval_shape(lambda c: to_diagonal(cell, c), carry0)
    if not hasattr(z0, "shape"):
        raise TypeError(
            f"{needed_by}: the carry of this {name} is {structure_of(carry0)}, not one (D,) "
            "array of diagonal coordinates: add `to_diagonal(self, carry)` and "
            "`from_diagonal(self, z)` to the cell."
        )
    if not (a.shape == b.shape == z0.shape and len(a.shape) == 1):
        raise ValueError(
            f"{needed_by}: {name}.diagonal_step(x) returned a {structure_of(a)} and b "
            f"{structure_of(b)}, and to_diagonal(carry0) is {structure_of(z0)}: all three "
            "must have the same shape (D,)."
        )
    if not (a.dtype == b.dtype == z0.dtype):
        raise TypeError(
            f"{needed_by}: {name}.diagonal_step(x) returned a of dtype {a.dtype} and b of "
            f"dtype {b.dtype}, and to_diagonal(carry0) is {z0.dtype}: they must share one "
            "dtype (the step computes a * z + b)."
        )
    back = jax.eval_shape(lambda z: from_diagonal(cell, z), z0)
    check_same_structure(
        "from_diagonal(to_diagonal(carry0))", back, carry0, f"`carry0` ({name}'s carry)"
    )


def compose_affine(first: tuple[Array, Array], then: tuple[Array, Array]) -> tuple[Array, Array]:
    """Two affine steps, ``z -> a1 z + b1`` then ``z -> a2 z + b2``, as one:
    ``(a2 a1, a2 b1 + b2)`` (associative, so ``jax.lax.associative_scan`` can group them)."""
    a1, b1 = first
    a2, b2 = then
    return a2 * a1, a2 * b1 + b2


def diagonal_scan(cell: Cell, xs: PyTree, carry0: PyTree) -> tuple[Array, Array]:
    """``(a, z)``, each (T, D): every step's coefficient ``a_t`` and diagonal state ``z_t``.

    ``z_t = a_t z_{t-1} + b_t`` by ``jax.lax.associative_scan`` of :func:`compose_affine`, with
    ``z_{-1} = to_diagonal(carry0)`` folded into the first step, ``b_0' = a_0 z_{-1} + b_0``.
    Unchecked: call :func:`check_cell_call` and :func:`check_diagonal_call` first.
    """
    a, b = jax.vmap(lambda x: diagonal_step(cell, x))(xs)
    z0 = to_diagonal(cell, carry0)
    b = jnp.concatenate([(a[0] * z0 + b[0])[None], b[1:]])
    _, zs = jax.lax.associative_scan(compose_affine, (a, b))
    return a, zs


def _parallel_carries(cell: Cell, xs: PyTree, carry0: PyTree, *, last: bool) -> PyTree:
    """Every carry (or, with `last`, the final one) from :func:`diagonal_scan`."""
    _, zs = diagonal_scan(cell, xs, carry0)
    if last:
        return from_diagonal(cell, zs[-1])
    return jax.vmap(lambda z: from_diagonal(cell, z))(zs)


@eqx.filter_jit
def _parallel(cell: Cell, xs: PyTree, carry0: PyTree, *, checkpoint: bool, last: bool) -> PyTree:
    """The parallel unroll, compiled as one program (eagerly, an associative scan would
    dispatch its many small slices one by one)."""
    run = lambda c, x, s: _parallel_carries(c, x, s, last=last)
    if checkpoint:
        run = jax.checkpoint(run)
    return run(cell, xs, carry0)


def unroll(
    cell: Cell,
    xs: PyTree,
    carry0: PyTree,
    *,
    checkpoint: bool = False,
    parallel: Checked[bool] = False,
) -> PyTree:
    """Run ``carry_t = cell(xs[t], carry_{t-1})`` for t = 0..T-1 with ``lax.scan``.

    **Arguments:**

    - `cell`: a cell following the protocol (``rg.AbstractCell``; equinox's
      ``GRUCell``/``LSTMCell`` as they are), handling one example.
    - `xs`: inputs with a leading time axis, (T, input_size).
    - `carry0`: the initial carry (the state before step 0), e.g. ``rg.init_carry(cell)``.
    - `checkpoint`: rematerialise each step in the backward pass (``jax.checkpoint``),
      trading compute for memory on long sequences. With `parallel`, the whole parallel
      scan is rematerialised instead (the backward pass stores only the inputs and
      recomputes the scan's intermediate levels).
    - `parallel`: for a cell linear in its carry (the diagonal protocol:
      ``diagonal_step``, ``to_diagonal``, ``from_diagonal``, as ``LRUCell``,
      ``DiagonalLinearCell``, ``MinGRUCell`` and ``MinLSTMCell`` have), compute every
      ``(a_t, b_t)`` at once with ``jax.vmap`` and compose them with
      ``jax.lax.associative_scan``: O(log T) sequential depth instead of T. The same
      carries as the sequential scan up to rounding (the products are associated in
      another order), and differentiable.

    **Returns:** every carry stacked on a leading time axis: (T, H) for a vanilla cell,
    a tuple of two (T, H) arrays for an LSTM. ``carry0`` is not included.

    **Raises:** ``TypeError`` for a cell without ``__call__``/``init_carry``, a non-bool
    `parallel`, or ``parallel=True`` with a cell that has no ``diagonal_step`` (the
    message names both and the method's one-line form); ``ValueError`` for ``xs``
    without a time axis, T = 0, a wrong input size, a ``carry0`` that does not match the
    cell's carry, or (with `parallel`) diagonal coefficients whose shapes disagree with
    ``to_diagonal(carry0)``.

    Reference for the parallel scan: Blelloch, "Prefix sums and their applications"
    (1990); its use for linear recurrences: Martin & Cundy, "Parallelizing linear
    recurrent neural nets over sequence length", ICLR 2018; Orvieto et al., ICML 2023.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(2, 3, key=jax.random.key(0))
    >>> rg.unroll(cell, jnp.ones((10, 2)), rg.init_carry(cell)).shape
    (10, 3)
    >>> lru = rg.LRUCell(2, 3, key=jax.random.key(0))
    >>> xs = jax.random.normal(jax.random.key(1), (50, 2))
    >>> fast = rg.unroll(lru, xs, rg.init_carry(lru), parallel=True)
    >>> fast.shape, bool(jnp.allclose(fast, rg.unroll(lru, xs, rg.init_carry(lru))))
    ((50, 6), True)
    """
    parallel = check_bool("parallel", parallel)
    check_cell_call(cell, xs, carry0)
    if parallel:
        check_diagonal_call(cell, xs, carry0, "`parallel=True`", "parallel=False")
        return _parallel(cell, xs, carry0, checkpoint=checkpoint, last=False)

    def step(carry: PyTree, x: Array) -> tuple[PyTree, PyTree]:
        new = cell(x, carry)
        return new, new

    if checkpoint:
        step = jax.checkpoint(step)  # type: ignore[assignment]
    _, carries = jax.lax.scan(step, carry0, xs)
    return carries


def final_carry(
    cell: Cell,
    xs: PyTree,
    carry0: PyTree,
    *,
    checkpoint: bool = False,
    parallel: Checked[bool] = False,
) -> PyTree:
    """The last carry of :func:`unroll` without stacking the others (O(1) memory in T).

    `checkpoint` and `parallel` as in :func:`unroll` (with `parallel` the scan holds all
    T diagonal states, O(T) memory, and returns the last); raises as :func:`unroll`.
    """
    parallel = check_bool("parallel", parallel)
    check_cell_call(cell, xs, carry0)
    if parallel:
        check_diagonal_call(cell, xs, carry0, "`parallel=True`", "parallel=False")
        return _parallel(cell, xs, carry0, checkpoint=checkpoint, last=True)

    def step(carry: PyTree, x: Array) -> tuple[PyTree, None]:
        return cell(x, carry), None

    if checkpoint:
        step = jax.checkpoint(step)  # type: ignore[assignment]
    carry, _ = jax.lax.scan(step, carry0, xs)
    return carry


__all__ = [
    "unroll",
    "final_carry",
    "check_cell_call",
    "check_diagonal_call",
    "diagonal_scan",
    "compose_affine",
]
