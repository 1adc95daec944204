"""Exact gradient anatomy: state Jacobians, per-timestep contributions, lag profiles.

Notation. The cell maps ``s_t = f(s_{t-1}, x_t; θ)`` for t = 0..T-1 with
``s_{-1} = carry0``; ``s`` is the flattened carry (size S). A loss ``L_t`` is read at
every step and ``L = Σ_t L_t``. Backpropagation through time gives

    ∂L_t/∂s_k = ∂L_t/∂s_t · J_t J_{t-1} ··· J_{k+1},      J_j = ∂s_j/∂s_{j-1}

(Bengio, Simard & Frasconi 1994; Pascanu, Mikolov & Bengio 2013).

How it is computed. A forward ``lax.scan`` stores the states; a backward ``lax.scan``
then pulls *all* cotangents ∂L_t/∂s_k (one row per t) back through each step with one
``jax.vjp`` of the cell, ``vmap``-ed over the rows, so that for a vanilla cell every step
is a single (rows, S) × (S, S) matrix product. Rows are renormalised after every step and
the log of each row's norm is accumulated, so ``log_norms`` stay exact where the norms
themselves under- or overflow. Rows ``t < k`` are identically zero (the upper triangle);
the backward pass is split into blocks so each block only carries the rows that can be
non-zero. A cell with ``carry_pullback`` (``rg.cells.carry_pullback``) pulls the rows back
from the stored output of each step (for a tanh cell one product ``(v ⊙ (1 − h'²)) W``)
instead of running the step again inside ``jax.vjp``. ``method="jacrev"`` computes the
same matrix the textbook way, as ``jax.jacrev`` of all step losses with respect to zero
perturbations added to every state.

Cells linear in their carry (the diagonal protocol, ``z_t = a_t ⊙ z_{t-1} + b_t``) have
``∂z_t/∂z_k = diag(Π_{j=k+1..t} a_j)``: ``method="diagonal"`` reads every contribution
in closed form from sums of ``log|a_j|``, without pulling any row back through the cell.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Bool, Float, PyTree

from ._checks import (
    Checked,
    check_bool,
    check_callable,
    check_choice,
    check_finite,
    check_positive_int,
    check_time_axis,
    describe,
    is_concrete,
    structure_of,
    warn_if_flagged,
)
from ._unroll import check_cell_call, check_diagonal_call
from .cells import (
    Cell,
    carry_pullback,
    diagonal_step,
    from_diagonal,
    has_carry_pullback,
    to_diagonal,
)

_LN10 = math.log(10.0)


# --------------------------------------------------------------------------- plumbing


class _Flat(eqx.Module):
    """A cell seen as a map on flat states: ``step(params, x, s) -> s'``."""

    static: Any
    unravel: Callable[[Array], PyTree] = eqx.field(static=True)

    def carry(self, s: Array) -> PyTree:
        return self.unravel(s)

    def __call__(self, params: PyTree, x: Array, s: Array) -> Array:
        cell = eqx.combine(params, self.static)
        return ravel_pytree(cell(x, self.unravel(s)))[0]

    def pullback(self, params: PyTree, x: Array, s: Array, new: Array, v: Array) -> Array:
        """``(∂s'/∂s)ᵀ v`` of the step ``s -> s' = new`` by the cell's ``carry_pullback``."""
        cell = eqx.combine(params, self.static)
        carries = (self.unravel(s), self.unravel(new), self.unravel(v))
        return ravel_pytree(carry_pullback(cell, x, *carries))[0]


def _flatten_problem(cell: Cell, xs: PyTree, carry0: PyTree) -> tuple[PyTree, _Flat, Array, int]:
    length = check_cell_call(cell, xs, carry0)
    params, static = eqx.partition(cell, eqx.is_inexact_array)
    s0, unravel = ravel_pytree(carry0)
    return params, _Flat(static, unravel), s0, length


def _forward_states(
    flat: _Flat, params: PyTree, xs: PyTree, s0: Array
) -> tuple[Float[Array, "T S"], Float[Array, "T S"]]:
    """All states s_0..s_{T-1} and the states entering each step, s_{-1}..s_{T-2}."""

    def step(s: Array, x: Array) -> tuple[Array, tuple[Array, Array]]:
        new = flat(params, x, s)
        return new, (new, s)

    _, (states, prev) = jax.lax.scan(step, s0, xs)
    return states, prev


def _safe_normalise(rows: Array) -> tuple[Array, Array]:
    """Scale each row to unit 2-norm without under/overflow; return rows and log norms.

    The max-abs prescale keeps the squares in range even when the entries are far from 1
    (``jnp.linalg.norm`` squares them, and float32 squares vanish below ~1e-19). Zero
    rows stay zero with log norm -inf. Rows holding NaN (or inf) come out NaN with log
    norm NaN (or inf): a broken input is never reported as a zero gradient. Safe under
    ``grad`` (no NaN from the branches not taken).
    """
    peak = jnp.max(jnp.abs(rows), axis=-1, keepdims=True)
    finite = jnp.isfinite(peak)
    ok = (peak > 0) & finite
    safe_peak = jnp.where(ok, peak, 1.0)
    scaled = rows * jnp.where(ok, 1.0 / safe_peak, 0.0)
    sq = jnp.where(ok, jnp.sum(scaled * scaled, axis=-1, keepdims=True), 1.0)
    unit = jnp.where(finite, scaled * jax.lax.rsqrt(sq), jnp.nan)
    log_norm = jnp.where(ok, jnp.log(safe_peak) + 0.5 * jnp.log(sq), -jnp.inf)
    log_norm = jnp.where(finite, log_norm, peak)
    return unit, log_norm[..., 0]


def _check_scalar_fn(
    name: str, fn: Any, form: str, *args: Any, hint: str = "", source: str = ""
) -> None:
    """`fn(*args)` must be a callable returning a real floating scalar (checked by shape)."""
    check_callable(name, fn, expected=form)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: the call decides
        signature = None
    if signature is not None:
        try:
            signature.bind(*args)
        except TypeError as err:
            raise TypeError(
                f"`{name}` must be callable as {form}, but its signature {signature} does not "
                f"take {len(args)} positional argument(s).{hint}"
            ) from err
    try:
        out = jax.eval_shape(fn, *args)
    except Exception as err:  # noqa: BLE001 - the user's function failed: say on what
        given = ", ".join(structure_of(a) for a in args)
        raise TypeError(
            f"`{name}` ({form}) failed on arguments shaped {given}{source}: "
            f"{type(err).__name__}: {err}"
        ) from err
    if not (hasattr(out, "shape") and out.shape == () and jnp.issubdtype(out.dtype, jnp.floating)):
        raise ValueError(
            f"`{name}` must return a real floating scalar ({form}), got "
            f"{jax.tree_util.tree_map(lambda o: f'{o.dtype}{list(o.shape)}', out)}."
        )


def _check_step_loss(step_loss: Any, carry_example: PyTree, y_example: PyTree) -> None:
    _check_scalar_fn(
        "step_loss",
        step_loss,
        "step_loss(carry_t, y_t) -> scalar",
        carry_example,
        y_example,
        hint=" A loss that ignores the targets: `lambda carry, y: loss(carry)` with ys=None.",
        source=" (a carry like `carry0`, one step of `ys`"
        + ("; ys=None was given: pass the targets" if y_example is None else "")
        + ")",
    )


def _check_targets(ys: PyTree, length: int) -> PyTree:
    """The per-step targets' first entry (for shape checks); ``ys=None`` means no targets."""
    if ys is None:
        return None
    if isinstance(ys, (list, tuple)) and ys and not hasattr(ys[0], "shape"):
        raise TypeError(f"`ys` must be an array (T, ...), got {describe(ys)}: use jnp.asarray(ys).")
    y_length = check_time_axis("ys", ys)
    if y_length != length:
        raise ValueError(
            f"`ys` must have the same number of steps as `xs`: xs has T = {length}, "
            f"ys has {y_length}."
        )
    check_finite("ys", ys)
    return jax.tree_util.tree_map(lambda y: y[0], ys)


# --------------------------------------------------------------------------- Jacobians


def state_jacobians(cell: Cell, xs: PyTree, carry0: PyTree) -> Float[Array, "T S S"]:
    """The one-step state Jacobians ``J_t = ∂s_t/∂s_{t-1}`` along a trajectory.

    The state is the flattened carry (S = H for vanilla and GRU cells, 2H for an LSTM,
    whose ``(h, c)`` is flattened in that order). Computed with ``jax.jacfwd`` of the
    cell at each stored state, in parallel over t.

    **Arguments:** `cell` (any ``cell(x, carry) -> carry``), `xs` (T, input_size),
    `carry0` (the carry before step 0).

    **Returns:** (T, S, S); entry [t] is ∂s_t/∂s_{t-1} with s_{-1} = carry0.

    **Raises:** as :func:`rnngrad.unroll` for bad `xs`/`carry0`.

    Reference: Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent
    neural networks", ICML 2013, eq. (5).

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(2, 3, nonlinearity="identity", key=jax.random.key(0))
    >>> J = rg.state_jacobians(cell, jnp.ones((4, 2)), jnp.zeros(3))
    >>> J.shape, bool(jnp.allclose(J[0], cell.weight_hh))
    ((4, 3, 3), True)
    """
    params, flat, s0, _ = _flatten_problem(cell, xs, carry0)
    _, prev = _forward_states(flat, params, xs, s0)
    return jax.vmap(lambda x, s: jax.jacfwd(lambda s_: flat(params, x, s_))(s))(xs, prev)


def jacobian_spectral_norms(cell: Cell, xs: PyTree, carry0: PyTree) -> Float[Array, " T"]:
    """``‖J_t‖₂`` per step: the largest singular value of each one-step Jacobian.

    Pascanu et al. (2013) bound each factor of the BPTT product by this number.

    **Returns:** (T,).

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(1, 3, weight_hh_init=rg.init.orthogonal(0.5),
    ...                       nonlinearity="identity", key=jax.random.key(0))
    >>> norms = rg.jacobian_spectral_norms(cell, jnp.ones((2, 1)), jnp.zeros(3))
    >>> [round(float(v), 6) for v in norms]
    [0.5, 0.5]
    """
    jac = state_jacobians(cell, xs, carry0)
    return jnp.linalg.svd(jac, compute_uv=False)[:, 0]


# --------------------------------------------------------------------------- contributions


class Contributions(eqx.Module):
    """Per-timestep gradient anatomy of a sequence loss ``L = Σ_t L_t``.

    Attributes:

    - ``norms``: (T, T), [t, k] = ‖∂L_t/∂s_k‖₂ for k ≤ t, 0 above the diagonal. Can
      under/overflow in the exploding or strongly vanishing regime (use ``log_norms``).
    - ``log_norms``: (T, T) log10 of the same, exact where ``norms`` is 0 or inf;
      ``-inf`` where the gradient is exactly zero (above the diagonal, or no loss at t).
    - ``param_grads``: pytree shaped like the cell (its inexact arrays) with a leading T
      axis: [k] is the part of ∂L/∂θ that enters through the use of θ at step k. The sum
      over the leading axis is ``jax.grad`` of L.
    - ``losses``: (T,) the step losses L_t.
    """

    norms: Float[Array, "T T"]
    log_norms: Float[Array, "T T"]
    param_grads: PyTree
    losses: Float[Array, " T"]

    @property
    def total_loss(self) -> Float[Array, ""]:
        """L = Σ_t L_t."""
        return jnp.sum(self.losses)

    @property
    def grad(self) -> PyTree:
        """∂L/∂θ: ``param_grads`` summed over steps."""
        return jax.tree_util.tree_map(lambda g: jnp.sum(g, axis=0), self.param_grads)

    @property
    def finite(self) -> Bool[Array, ""]:
        """False if any log norm, loss or parameter gradient is NaN.

        A non-finite parameter, input or loss shows up here instead of raising: inside
        ``jit``/``vmap`` the values are not known at trace time. (Values that overflowed
        to inf in the exploding regime set ``overflowed`` instead.)
        """
        return _no_nan(self.log_norms, self.losses, self.param_grads)

    @property
    def saturated(self) -> Bool[Array, ""]:
        """True if some contribution ‖∂L_t/∂s_k‖ (k ≤ t, with a loss at t) is exactly 0.

        Its ``log_norms`` entry is then ``-inf``: a step Jacobian lost rank along the
        way, e.g. tanh saturated to ±1 at this precision (its derivative rounds to 0) or
        ReLU units are dead. The value is the exact derivative of the computed model.
        """
        return _any_lower_zero(self.log_norms)

    @property
    def overflowed(self) -> Bool[Array, ""]:
        """True if some ``norms`` entry or parameter gradient overflowed to inf.

        The ``log_norms`` stay exact in that case; the parameter gradients are true
        derivatives and are not rescaled, so they overflow with the gradient itself.
        """
        return _any_overflow(self.norms, self.log_norms, self.param_grads)


# The flags are jitted: one compiled reduction each instead of a dozen eager operations.


@jax.jit
def _no_nan(log_norms: Array, losses: Array, param_grads: PyTree) -> Array:
    ok = ~jnp.any(jnp.isnan(log_norms)) & ~jnp.any(jnp.isnan(losses))
    for g in jax.tree_util.tree_leaves(param_grads):
        ok = ok & ~jnp.any(jnp.isnan(g))
    return ok


@jax.jit
def _any_overflow(norms: Array, log_norms: Array, param_grads: PyTree) -> Array:
    over = jnp.any(jnp.isinf(norms) & jnp.isfinite(log_norms))
    for g in jax.tree_util.tree_leaves(param_grads):
        over = over | jnp.any(jnp.isinf(g))
    return over


@jax.jit
def _any_lower_zero(log_norms: Array) -> Array:
    """Whether a lower-triangle entry is -inf in a row whose diagonal is not (a loss at t)."""
    length = log_norms.shape[0]
    lower = jnp.tril(jnp.ones((length, length), bool))
    has_loss = ~jnp.isneginf(jnp.diagonal(log_norms))[:, None]
    return jnp.any(lower & has_loss & jnp.isneginf(log_norms))


def _step_loss_grads(
    flat: _Flat, step_loss: Callable, states: Array, ys: PyTree
) -> tuple[Array, Array]:
    def one(s: Array, y: Any) -> tuple[Array, Array]:
        value, grad = jax.value_and_grad(lambda s_: step_loss(flat.carry(s_), y))(s)
        return value, grad

    return jax.vmap(one)(states, ys)


def _block_bounds(length: int, blocks: int) -> list[tuple[int, int]]:
    edges = np.unique(np.linspace(0, length, min(blocks, length) + 1).round().astype(int))
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _contributions_scan(
    flat: _Flat,
    params: PyTree,
    xs: PyTree,
    s0: Array,
    step_loss: Callable,
    ys: PyTree,
    blocks: int,
) -> Contributions:
    length = jax.tree_util.tree_leaves(xs)[0].shape[0]
    states, prev = _forward_states(flat, params, xs, s0)
    losses, grads = _step_loss_grads(flat, step_loss, states, ys)
    size = s0.shape[0]
    dtype = s0.dtype

    fast = has_carry_pullback(eqx.combine(params, flat.static))
    log_matrix = jnp.full((length, length), -jnp.inf, dtype)
    rows = jnp.zeros((0, size), dtype)
    row_logs = jnp.zeros((0,), dtype)
    lam = jnp.zeros((size,), dtype)
    param_grad_blocks = []
    for lo, hi in reversed(_block_bounds(length, blocks)):
        # Rows t in [lo, T) can be non-zero while k runs through [lo, hi).
        rows = jnp.concatenate([jnp.zeros((hi - lo, size), dtype), rows])
        row_logs = jnp.concatenate([jnp.full((hi - lo,), -jnp.inf, dtype), row_logs])

        def back(carry, inp):
            rows, row_logs, lam = carry
            x, s, new, g, local = inp
            unit, log_g = _safe_normalise(g)
            rows = jax.lax.dynamic_update_index_in_dim(rows, unit, local, 0)
            row_logs = jax.lax.dynamic_update_index_in_dim(row_logs, log_g, local, 0)
            lam = lam + g
            column = row_logs
            _, vjp_fn = jax.vjp(lambda p, s_: flat(p, x, s_), params, s)
            grad_params, lam = vjp_fn(lam)
            if fast:  # the cell's own pullback reads s' instead of running the step again
                pulled = jax.vmap(lambda r: flat.pullback(params, x, s, new, r))(rows)
            else:
                pulled = jax.vmap(lambda r: vjp_fn(r)[1])(rows)
            rows, log_step = _safe_normalise(pulled)
            row_logs = row_logs + log_step
            return (rows, row_logs, lam), (column, grad_params)

        sl = slice(lo, hi)
        inputs = (
            jax.tree_util.tree_map(lambda a, sl=sl: a[sl], xs),
            prev[sl],
            states[sl],
            grads[sl],
            jnp.arange(hi - lo),
        )
        (rows, row_logs, lam), (columns, grad_params) = jax.lax.scan(
            back, (rows, row_logs, lam), inputs, reverse=True
        )
        # columns[k - lo, t - lo] = log ‖∂L_t/∂s_k‖ for t >= lo.
        log_matrix = log_matrix.at[lo:, lo:hi].set(columns.T)
        param_grad_blocks.append(grad_params)
    param_grads = jax.tree_util.tree_map(
        lambda *parts: jnp.concatenate(parts[::-1]), *param_grad_blocks
    )
    # Rows that were never reached keep -inf; the upper triangle is -inf (norm 0).
    tri = jnp.tril(jnp.ones((length, length), bool))
    log_matrix = jnp.where(tri, log_matrix, -jnp.inf)
    return Contributions(
        norms=jnp.exp(log_matrix),
        log_norms=log_matrix / _LN10,
        param_grads=param_grads,
        losses=losses,
    )


def _contributions_jacrev(
    flat: _Flat, params: PyTree, xs: PyTree, s0: Array, step_loss: Callable, ys: PyTree
) -> Contributions:
    length = jax.tree_util.tree_leaves(xs)[0].shape[0]
    size = s0.shape[0]
    stacked = jax.tree_util.tree_map(lambda p: jnp.broadcast_to(p, (length, *p.shape)), params)

    def step_losses(eps: Array, per_step_params: PyTree) -> Array:
        def step(s, inp):
            p, x, e = inp
            new = flat(p, x, s) + e
            return new, new

        _, states = jax.lax.scan(step, s0, (per_step_params, xs, eps))
        return jax.vmap(lambda s, y: step_loss(flat.carry(s), y))(states, ys)

    eps = jnp.zeros((length, size), s0.dtype)
    jac = jax.jacrev(step_losses)(eps, stacked)  # (T, T, S)
    # Norms via the max-abs prescale: jnp.linalg.norm would square entries to 0 in float32.
    log_norms = _safe_normalise(jac)[1] / _LN10  # -inf above the diagonal
    norms = jnp.power(jnp.asarray(10.0, log_norms.dtype), log_norms)
    param_grads = jax.grad(lambda p: jnp.sum(step_losses(eps, p)))(stacked)
    losses = step_losses(eps, stacked)
    return Contributions(norms=norms, log_norms=log_norms, param_grads=param_grads, losses=losses)


def _check_isometric(cell: Cell, carry0: PyTree) -> None:
    """`to_diagonal` must keep the norm of the carry and `from_diagonal` undo it.

    The closed form reads ‖∂L_t/∂s_k‖ in the diagonal coordinates, which is exact when
    they are the carry itself or its complex pairing ``(Re h, Im h) ↦ h``. Checked on two
    random carries when the maps give concrete numbers (outside ``jit``, or when they do
    not read traced parameters); a linear map that keeps their norms is an isometry
    with probability one.
    """
    s0, unravel = ravel_pytree(carry0)
    rng = np.random.default_rng(0)
    tol = 1e3 * float(jnp.finfo(s0.dtype).eps)
    with jax.ensure_compile_time_eval():
        for _ in range(2):
            probe = rng.standard_normal(s0.shape).astype(s0.dtype)
            z = to_diagonal(cell, unravel(jnp.asarray(probe)))
            back = ravel_pytree(from_diagonal(cell, z))[0]
            if not (is_concrete(z) and is_concrete(back)):
                return
            size, kept = float(np.linalg.norm(probe)), float(np.linalg.norm(np.asarray(z)))
            undone = float(np.max(np.abs(np.asarray(back) - probe)))
            if abs(kept - size) > tol * size or undone > tol * size:
                raise ValueError(
                    f'`method="diagonal"` reads the gradient norms in the coordinates of '
                    f"{type(cell).__name__}.to_diagonal, which must keep the norm of the "
                    "carry and be undone by from_diagonal (the identity, or (Re h, Im h) -> "
                    f"h); on a random carry of norm {size:.6g} it gave a norm of {kept:.6g} "
                    f"and from_diagonal missed the carry by {undone:.3g}. Use "
                    'method="scan".'
                )


_ROWS_PER_BLOCK = 16  # rows sharing one suffix sum: the rounding grows with lag + 16
_ELEMENTS_PER_STEP = 2**21  # (rows, T, D) entries evaluated at once: bounds the memory


def _closed_form_rows(
    log_g: Float[Array, "T D"], log_a: Float[Array, "T D"]
) -> Float[Array, "T T"]:
    """[t, k] = ½ log Σ_d exp(2 (log|ĝ_{t,d}| + Σ_{j=k+1..t} log|a_{j,d}|)) for k <= t.

    Rows come in blocks of 16 ending at row e. One reverse cumulative sum per block gives
    ``S_k = Σ_{j=k+1..e} log|a_j|``, and row t of the block reads its sums as
    ``S_k − S_t``: the rounding grows with ``e − k`` (the lag plus at most 15), as in a
    step-by-step product, never with t. Zeros of ``a`` (log −inf) are counted apart the
    same way, so an exactly zero product gives −inf and never NaN. Blocks are evaluated
    a few at a time (about 2²¹ entries), so the memory stays O(T·D) per block.
    """
    length, width = log_a.shape
    dtype = log_a.dtype
    zero = jnp.isneginf(log_a)
    finite_log_a = jnp.where(zero, 0.0, log_a).astype(dtype)
    zeros = zero.astype(dtype)
    steps = jnp.arange(length)
    rows = min(length, _ROWS_PER_BLOCK)
    blocks = -(-length // rows)
    per_step = max(1, min(blocks, _ELEMENTS_PER_STEP // (rows * length * width)))
    blocks = -(-blocks // per_step) * per_step
    padding = jnp.zeros((blocks * rows - length, width), dtype)
    log_g = jnp.concatenate([log_g, padding]).reshape(blocks // per_step, per_step, rows, width)
    starts = (jnp.arange(blocks) * rows).reshape(blocks // per_step, per_step)

    def suffix(values: Array, last: Array) -> Array:
        through = jax.lax.cumsum(
            jnp.where((steps <= last)[:, None], values, 0.0), axis=0, reverse=True
        )
        return jnp.concatenate([through[1:], jnp.zeros_like(through[:1])])  # Σ_{k<j<=last}

    def block(first: Array, lg: Array) -> Array:
        t = jnp.minimum(first + jnp.arange(rows), length - 1)
        last = t[-1]
        sums, cut = suffix(finite_log_a, last), suffix(zeros, last)
        y = (sums[None, :, :] - sums[t][:, None, :]) + lg[:, None, :]  # (rows, T, D)
        y = jnp.where(cut[None, :, :] > cut[t][:, None, :], -jnp.inf, y)
        peak = jnp.max(y, axis=-1, keepdims=True)
        safe = jnp.where(jnp.isfinite(peak), peak, 0.0)
        logs = safe[..., 0] + 0.5 * jnp.log(jnp.sum(jnp.exp(2.0 * (y - safe)), axis=-1))
        return jnp.where(steps[None, :] <= t[:, None], logs, -jnp.inf)

    out = jax.lax.map(lambda args: jax.vmap(block)(*args), (starts, log_g))
    return out.reshape(blocks * rows, length)[:length]


@eqx.filter_jit
def _contributions_diagonal(
    cell: Cell, xs: PyTree, carry0: PyTree, step_loss: Callable, ys: PyTree
) -> Contributions:
    """Closed-form contributions of a cell linear in its carry (module docstring), compiled
    as one program.

    The states and the adjoints are O(T·D) linear recurrences, run with ``lax.scan``
    (cheaper to compile than an associative scan, and negligible next to the O(T²·D)
    matrix); the states are the cell's own steps, as in the generic path.
    """
    params, static = eqx.partition(cell, eqx.is_inexact_array)
    s0, unravel = ravel_pytree(carry0)
    flat = _Flat(static, unravel)
    states, prev = _forward_states(flat, params, xs, s0)
    losses, grads = _step_loss_grads(flat, step_loss, states, ys)
    a, _ = jax.vmap(lambda x: diagonal_step(cell, x))(xs)

    # ĝ_t = ∂L_t/∂z_t in the diagonal coordinates (from_diagonal is linear: any point will do).
    def to_state(z: Array) -> Array:
        return ravel_pytree(from_diagonal(cell, z))[0]

    _, pull_state = jax.vjp(to_state, jnp.zeros_like(a[0]))
    g_diag = jax.vmap(lambda g: pull_state(g)[0])(grads)
    log_matrix = _closed_form_rows(jnp.log(jnp.abs(g_diag)), jnp.log(jnp.abs(a)))

    # λ_k = Σ_{t>=k} ∂L_t/∂s_k. In diagonal coordinates μ_k = ĝ_k + c_{k+1} μ_{k+1}, with
    # c_j the transpose of z -> a_j z (a_j itself in JAX's convention for complex a).
    _, pull_mul = jax.vjp(lambda z: a * z, jnp.zeros_like(a))
    coeff = pull_mul(jnp.ones_like(a))[0]
    coeff = jnp.concatenate([coeff[1:], jnp.zeros_like(coeff[:1])])

    def adjoint(mu: Array, inp: tuple[Array, Array]) -> tuple[Array, Array]:
        c, g = inp
        mu = g + c * mu
        return mu, mu

    _, mu = jax.lax.scan(adjoint, jnp.zeros_like(g_diag[0]), (coeff, g_diag), reverse=True)
    _, pull_diag = jax.vjp(lambda s: to_diagonal(cell, flat.carry(s)), s0)
    lam = jax.vmap(lambda m: pull_diag(m)[0])(mu)

    def step_grad(x: Array, s: Array, cot: Array) -> PyTree:
        _, vjp_fn = jax.vjp(lambda p: flat(p, x, s), params)
        return vjp_fn(cot)[0]

    param_grads = jax.vmap(step_grad)(xs, prev, lam)
    return Contributions(
        norms=jnp.exp(log_matrix),
        log_norms=log_matrix / _LN10,
        param_grads=param_grads,
        losses=losses,
    )


def timestep_contributions(
    cell: Cell,
    xs: PyTree,
    carry0: PyTree,
    step_loss: Checked[Callable[[PyTree, Any], Array]],
    ys: PyTree = None,
    *,
    method: Checked[str] = "scan",
    blocks: Checked[int] = 4,
) -> Contributions:
    """Exact per-timestep gradient contributions ‖∂L_t/∂s_k‖ and ∂L/∂θ split by step.

    **Arguments:**

    - `cell`: any callable pytree ``cell(x, carry) -> carry`` (one example).
    - `xs`: inputs (T, input_size). `carry0`: the carry before step 0.
    - `step_loss`: ``step_loss(carry_t, y_t) -> scalar``; close over any readout.
    - `ys`: per-step targets, a pytree with leading axis T (e.g. (T, out)); ``None``
      (the default) when the loss needs none (``step_loss`` then receives ``y=None``).
    - `method`: ``"scan"`` (default; batched backward scan, log-space, triangular),
      ``"jacrev"`` (``jax.jacrev`` of all step losses w.r.t. zero perturbations added
      to every state, a reference that is O(T²·S) in memory, linear-space only), or
      ``"diagonal"``, the closed form for cells linear in their carry (the diagonal
      protocol: ``LRUCell``, ``DiagonalLinearCell``, ``MinGRUCell``, ``MinLSTMCell``).
      There ``∂z_t/∂z_k = diag(Π_{j=k+1..t} a_j)``, so with ĝ_t = ∂L_t/∂z_t

          log ‖∂L_t/∂s_k‖ = ½ log Σ_d |ĝ_{t,d}|² exp(2 Σ_{j=k+1..t} log|a_{j,d}|),

      a log-sum-exp over the units of running sums of ``log|a|``, exact in the vanishing
      and exploding regimes alike (for the LRU's complex ``a`` each unit's 2×2 block is
      ``|Π a|`` times a rotation, so ``|ĝ_{t,d}|`` is the norm of its (Re, Im) pair;
      ``to_diagonal`` must keep the carry's norm, as it does for these cells: checked).
      ``param_grads`` come from one vjp of each step (vmapped) with the adjoints
      ``λ_k = Σ_{t≥k} ∂L_t/∂s_k``, themselves the elementwise linear recurrence
      ``μ_k = ĝ_k + a_{k+1} μ_{k+1}``: no row is pulled back through the cell. O(T²·D)
      elementwise work, vectorised over rows.
    - `blocks`: with ``"scan"``, how many row blocks to split the backward pass into
      (each block carries only the rows t ≥ its start; 4 does ≈ 62 % of the full work);
      unused by the other methods.

    **Returns:** :class:`Contributions` (``norms`` (T, T), ``log_norms`` (T, T),
    ``param_grads`` (T, ...) per leaf, ``losses`` (T,)) with flags ``finite``,
    ``saturated`` and ``overflowed``. Inside ``jit`` non-finite values only set the
    flags; an eager call whose result is flagged also issues a ``rg.NumericalWarning``.

    **Raises:** ``ValueError`` for T = 0, mismatched `xs`/`ys` lengths, NaN or inf in
    concrete `xs`/`carry0`/`ys`/cell parameters, a `step_loss` that does not return a
    real scalar, an unknown `method`, or (``"diagonal"``) a cell whose ``to_diagonal``
    does not keep the carry's norm; ``TypeError`` for a `step_loss` that is not
    callable with ``(carry, y)``, a Python list for `xs`/`ys`, or ``method="diagonal"``
    with a cell without ``diagonal_step`` (the message names `method`, the method to add
    and its one-line form).

    Reference: Pascanu, Mikolov & Bengio, ICML 2013, eqs. (3)-(5); the closed form for
    diagonal linear recurrences: Orvieto et al., ICML 2023; Zucchet & Orvieto,
    NeurIPS 2024.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(1, 4, weight_hh_init=rg.init.orthogonal(0.5),
    ...                       nonlinearity="identity", key=jax.random.key(0))
    >>> res = rg.timestep_contributions(cell, jnp.ones((3, 1)), jnp.zeros(4),
    ...                                 lambda h, y: jnp.sum(h * y), jnp.ones((3, 4)))
    >>> [round(float(v), 6) for v in res.norms[2]]
    [0.5, 1.0, 2.0]
    >>> import equinox as eqx
    >>> lin = rg.DiagonalLinearCell(1, 2, key=jax.random.key(0))
    >>> lin = eqx.tree_at(lambda c: c.lam, lin, jnp.full(2, 0.5))  # λ = 0.5
    >>> res = rg.timestep_contributions(lin, jnp.ones((2000, 1)), jnp.zeros(2),
    ...                                 lambda h, y: jnp.sum(h), method="diagonal")
    >>> round(float(res.log_norms[-1, 0]), 6)  # log10(‖(1, 1)‖ · 0.5^1999)
    -601.608446
    """
    check_choice("method", method, ("scan", "jacrev", "diagonal"))
    params, flat, s0, length = _flatten_problem(cell, xs, carry0)
    if method == "diagonal":
        check_diagonal_call(cell, xs, carry0, '`method="diagonal"`', 'method="scan"')
        _check_isometric(cell, carry0)
    _check_step_loss(step_loss, carry0, _check_targets(ys, length))
    if method == "diagonal":
        result = _contributions_diagonal(cell, xs, carry0, step_loss, ys)
    elif method == "jacrev":
        result = _contributions_jacrev(flat, params, xs, s0, step_loss, ys)
    else:
        blocks = check_positive_int("blocks", blocks)
        result = _contributions_scan(flat, params, xs, s0, step_loss, ys, blocks)
    return warn_if_flagged(result, "timestep_contributions")


# --------------------------------------------------------------------------- final-step profile


class FinalProfile(eqx.Module):
    """‖∂L_T/∂s_k‖ for a loss read at the final step only (the textbook picture).

    Attributes: ``norms`` (T,) with [k] = ‖∂L/∂s_k‖ (k = 0..T-1, so [T-1] is the
    final state); ``log_norms`` (T,) log10 of the same, exact at any lag; ``loss``.
    """

    norms: Float[Array, " T"]
    log_norms: Float[Array, " T"]
    loss: Float[Array, ""]

    @property
    def finite(self) -> Bool[Array, ""]:
        """False if a log norm or the loss is NaN, or a log norm is +inf.

        Inside ``jit``/``vmap`` this flag is the only report; eager calls also warn.
        (An infinite loss from states that overflowed sets ``overflowed`` instead: the
        log norms can still be exact, e.g. for a linear network.)
        """
        logs_ok = jnp.all(jnp.isfinite(self.log_norms) | jnp.isneginf(self.log_norms))
        return logs_ok & ~jnp.isnan(self.loss)

    @property
    def saturated(self) -> Bool[Array, ""]:
        """True if ‖∂L/∂s_k‖ is exactly 0 at some step (``log_norms`` ``-inf``).

        A step Jacobian lost rank: tanh saturated to ±1 at this precision, or ReLU units
        are dead. The zero is the exact derivative of the computed model.
        """
        return jnp.any(jnp.isneginf(self.log_norms))

    @property
    def overflowed(self) -> Bool[Array, ""]:
        """True if some ``norms`` entry (its ``log_norms`` stays exact) or the loss is inf."""
        return jnp.any(jnp.isinf(self.norms) & jnp.isfinite(self.log_norms)) | jnp.isinf(self.loss)


def final_step_profile(
    cell: Cell,
    xs: PyTree,
    carry0: PyTree,
    loss: Checked[Callable[[PyTree], Array]],
    *,
    checkpoint_every: Checked[int | None] = None,
) -> FinalProfile:
    """Gradient norms ‖∂L/∂s_k‖ of a loss on the final carry, for every step k.

    One cotangent is pulled back through the sequence, one step at a time by the cell's
    ``carry_pullback`` (which reads the stored output of the step; ``jax.vjp`` of the
    step for a cell without one, see :func:`rnngrad.cells.carry_pullback`), renormalised
    each step with its log accumulated, so ``log_norms`` are exact at lags
    of 10⁴ and beyond (e.g. -3010.3 for a 0.5·orthogonal linear RNN at lag 10⁴).

    **Arguments:**

    - `cell`, `xs`, `carry0`: as :func:`rnngrad.unroll`.
    - `loss`: ``loss(final_carry) -> scalar``.
    - `checkpoint_every`: store only every B-th state in the forward pass and recompute
      each block of B states in the backward pass (two-level checkpointing): memory
      O((T/B + B)·S) instead of O(T·S). Must divide T.

    **Returns:** :class:`FinalProfile`, arrays of shape (T,), with flags ``finite``,
    ``saturated`` and ``overflowed`` (an eager call whose result is flagged also issues
    a ``rg.NumericalWarning``).

    **Raises:** ``ValueError`` for bad `xs`/`carry0` (as :func:`rnngrad.unroll`: NaN or
    inf in concrete values included), a non-scalar `loss`, or a `checkpoint_every` that
    does not divide T; ``TypeError`` for a `loss` not callable with one argument.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(1, 4, weight_hh_init=rg.init.orthogonal(2.0),
    ...                       nonlinearity="identity", key=jax.random.key(0))
    >>> prof = rg.final_step_profile(cell, jnp.ones((3, 1)), jnp.zeros(4),
    ...                              lambda h: h[0])
    >>> [round(float(v), 6) for v in prof.log_norms]
    [0.60206, 0.30103, 0.0]
    """
    params, flat, s0, length = _flatten_problem(cell, xs, carry0)
    _check_scalar_fn("loss", loss, "loss(final_carry) -> scalar", carry0)

    def back(carry, inp):
        # `new` is the step's output s_k (the input of the step after), `s` its input.
        unit, log_scale, new = carry
        x, s = inp
        column = log_scale
        unit, log_step = _safe_normalise(flat.pullback(params, x, s, new, unit))
        return (unit, log_scale + log_step, s), column

    def start(final_state: Array) -> tuple[Array, tuple[Array, Array, Array]]:
        value, grad = jax.value_and_grad(lambda s: loss(flat.carry(s)))(final_state)
        unit, log_g = _safe_normalise(grad)
        return value, (unit, log_g, final_state)

    if checkpoint_every is None:
        final, prev = jax.lax.scan(lambda s, x: (flat(params, x, s), s), s0, xs)
        value, init = start(final)
        _, logs = jax.lax.scan(back, init, (xs, prev), reverse=True)
    else:
        block = check_positive_int("checkpoint_every", checkpoint_every)
        if length % block:
            raise ValueError(f"`checkpoint_every` must divide T = {length}, got {block}.")
        xs_blocks = jax.tree_util.tree_map(
            lambda a: a.reshape(length // block, block, *a.shape[1:]), xs
        )

        def run_block(s, xb):
            return jax.lax.scan(lambda s_, x: (flat(params, x, s_), s_), s, xb)

        final, starts = jax.lax.scan(lambda s, xb: (run_block(s, xb)[0], s), s0, xs_blocks)
        value, init = start(final)

        def back_block(carry, inp):
            xb, sb = inp
            _, prev = run_block(sb, xb)
            return jax.lax.scan(back, carry, (xb, prev), reverse=True)  # ends on s = sb

        _, logs = jax.lax.scan(back_block, init, (xs_blocks, starts), reverse=True)
        logs = logs.reshape(length)
    # logs[k] is log ‖∂L/∂s_k‖ (the cotangent entering step k+1's pullback).
    result = FinalProfile(norms=jnp.exp(logs), log_norms=logs / _LN10, loss=value)
    return warn_if_flagged(result, "final_step_profile")


# --------------------------------------------------------------------------- lag profiles


def _log_norms_of_matrix(norms: Any) -> Array:
    """log10 of a (T, T) matrix of norms: checked real, square, non-negative, not NaN."""
    if not jnp.issubdtype(norms.dtype, jnp.floating):
        raise TypeError(
            "`norms_or_result` must be a real floating (T, T) array of norms, got "
            f"{describe(norms)}."
        )
    matrix = jnp.asarray(norms)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(
            f"`norms_or_result` must be a (T, T) norms matrix, got {describe(matrix)}."
        )
    if matrix.shape[0] == 0:
        raise ValueError("`norms_or_result` is an empty (0, 0) matrix; T must be >= 1.")
    if is_concrete(matrix):
        values = np.asarray(matrix)
        if np.isposinf(values).any():
            raise ValueError(
                "`norms_or_result` holds inf norms (they overflowed): pass the Contributions "
                "itself, whose log_norms stay exact, instead of its `.norms`."
            )
        if np.isnan(values).any():
            raise ValueError(
                "`norms_or_result` holds NaN norms (first at index "
                f"{tuple(int(i) for i in np.argwhere(np.isnan(values))[0])}): the result it "
                "came from is not finite; check its `.finite` flag."
            )
        if (values < 0).any():
            raise ValueError(
                f"`norms_or_result` must hold norms (>= 0), got a minimum of {values.min()}."
            )
    positive = matrix > 0
    log_matrix = jnp.log10(jnp.where(positive, matrix, 1.0))
    return jnp.where(positive, log_matrix, jnp.where(jnp.isnan(matrix), jnp.nan, -jnp.inf))


def lag_profile(
    norms_or_result: Checked[Contributions | FinalProfile | Array],
    *,
    log10: Checked[bool] = False,
) -> Float[Array, " T"]:
    """Gradient norm as a function of the lag d = t − k, for d = 0..T-1.

    - From a (T, T) ``norms`` matrix or :class:`Contributions`: the geometric mean over
      all t ≥ d of ‖∂L_t/∂s_{t-d}‖, averaged in log space (so values spanning hundreds
      of orders of magnitude are fine). Steps without a loss (‖∂L_t/∂s_t‖ = 0) are left
      out of the mean; a lag with no usable step gives 0 (log: -inf).
    - From a :class:`FinalProfile`: ‖∂L_T/∂s_{T-1-d}‖, the profile of the final-step loss.

    **Arguments:** `norms_or_result`; `log10`: return log10 values instead of norms.

    **Returns:** (T,).

    **Raises:** ``ValueError`` for an array that is not square (T, T), or (when
    concrete) holds negative or NaN norms; ``TypeError`` for a non-real array or anything
    else. Under ``jit`` a NaN entry gives NaN at its lags (never a zero gradient); an
    eager profile with NaN or ``-inf`` (exactly zero) lags issues a ``rg.NumericalWarning``.

    >>> import jax.numpy as jnp, rnngrad as rg
    >>> m = jnp.array([[1.0, 0.0], [0.5, 1.0]])
    >>> [float(v) for v in rg.lag_profile(m)]
    [1.0, 0.5]
    """
    check_bool("log10", log10)
    if isinstance(norms_or_result, FinalProfile):
        logs = norms_or_result.log_norms[::-1]
    else:
        if isinstance(norms_or_result, Contributions):
            log_matrix = norms_or_result.log_norms
        elif hasattr(norms_or_result, "shape") and hasattr(norms_or_result, "dtype"):
            log_matrix = _log_norms_of_matrix(norms_or_result)
        else:
            hint = ": use jnp.asarray(...)" if isinstance(norms_or_result, (list, tuple)) else ""
            raise TypeError(
                "`norms_or_result` must be a Contributions, a FinalProfile or a (T, T) "
                f"array of norms, got {describe(norms_or_result)}{hint}."
            )
        length = log_matrix.shape[0]
        t = jnp.arange(length)[:, None]
        d = jnp.arange(length)[None, :]
        k = t - d
        # Steps without a loss (diagonal exactly 0) are left out; a NaN diagonal is kept,
        # so a broken row makes its lags NaN instead of vanishing from the mean.
        valid = (k >= 0) & ~jnp.isneginf(jnp.diagonal(log_matrix))[:, None]
        by_lag = log_matrix[t, jnp.clip(k, 0, None)]  # [t, d] = log ‖∂L_t/∂s_{t-d}‖
        count = jnp.sum(valid, axis=0).astype(log_matrix.dtype)
        total = jnp.sum(jnp.where(valid, by_lag, 0.0), axis=0)
        logs = jnp.where(count > 0, total / jnp.maximum(count, 1.0), -jnp.inf)
        # A -inf entry among valid ones makes the geometric mean 0.
        zero = jnp.any(valid & jnp.isneginf(by_lag), axis=0)
        logs = jnp.where(zero & ~jnp.isnan(logs), -jnp.inf, logs)
    warn_if_flagged(_LagFlags(logs), "lag_profile")
    if log10:
        return logs
    return jnp.power(10.0, logs)


class _LagFlags(eqx.Module):
    """The flags of a lag profile (a bare array), for the eager warning."""

    logs: Array

    @property
    def finite(self) -> Array:
        return ~jnp.any(jnp.isnan(self.logs) | jnp.isposinf(self.logs))

    @property
    def saturated(self) -> Array:
        return jnp.any(jnp.isneginf(self.logs))
