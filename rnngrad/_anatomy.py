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
non-zero. ``method="jacrev"`` computes the same matrix the textbook way, as ``jax.jacrev``
of all step losses with respect to zero perturbations added to every state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Bool, Float, PyTree

from ._checks import Checked, check_positive_int, check_time_axis, describe
from ._unroll import check_cell_call
from .cells import Cell

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


def _check_step_loss(step_loss: Callable, carry_example: PyTree, y_example: PyTree) -> None:
    if not callable(step_loss):
        raise TypeError(
            f"`step_loss` must be a callable (carry, y) -> scalar, got {describe(step_loss)}."
        )
    out = jax.eval_shape(step_loss, carry_example, y_example)
    if not (hasattr(out, "shape") and out.shape == () and jnp.issubdtype(out.dtype, jnp.floating)):
        raise ValueError(
            "`step_loss(carry_t, y_t)` must return a real floating scalar, got "
            f"{jax.tree_util.tree_map(lambda o: f'{o.dtype}{list(o.shape)}', out)}."
        )


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
        """False if any log norm is NaN or any parameter gradient is non-finite.

        A non-finite parameter, input or loss shows up here instead of raising: inside
        ``jit``/``vmap`` the values are not known at trace time.
        """
        ok = ~jnp.any(jnp.isnan(self.log_norms))
        for g in jax.tree_util.tree_leaves(self.param_grads):
            ok = ok & jnp.all(jnp.isfinite(g))
        return ok

    @property
    def overflowed(self) -> Bool[Array, ""]:
        """True if some ``norms`` entry or parameter gradient overflowed to inf.

        The ``log_norms`` stay exact in that case; the parameter gradients are true
        derivatives and are not rescaled, so they overflow with the gradient itself.
        """
        over = jnp.any(jnp.isinf(self.norms) & jnp.isfinite(self.log_norms))
        for g in jax.tree_util.tree_leaves(self.param_grads):
            over = over | jnp.any(jnp.isinf(g))
        return over


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
            x, s, g, local = inp
            unit, log_g = _safe_normalise(g)
            rows = jax.lax.dynamic_update_index_in_dim(rows, unit, local, 0)
            row_logs = jax.lax.dynamic_update_index_in_dim(row_logs, log_g, local, 0)
            lam = lam + g
            column = row_logs
            _, vjp_fn = jax.vjp(lambda p, s_: flat(p, x, s_), params, s)
            grad_params, lam = vjp_fn(lam)
            pulled = jax.vmap(lambda r: vjp_fn(r)[1])(rows)
            rows, log_step = _safe_normalise(pulled)
            row_logs = row_logs + log_step
            return (rows, row_logs, lam), (column, grad_params)

        sl = slice(lo, hi)
        inputs = (
            jax.tree_util.tree_map(lambda a, sl=sl: a[sl], xs),
            prev[sl],
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


def timestep_contributions(
    cell: Cell,
    xs: PyTree,
    carry0: PyTree,
    step_loss: Callable[[PyTree, Any], Array],
    ys: PyTree,
    *,
    method: Checked[str] = "scan",
    blocks: Checked[int] = 4,
) -> Contributions:
    """Exact per-timestep gradient contributions ‖∂L_t/∂s_k‖ and ∂L/∂θ split by step.

    **Arguments:**

    - `cell`: any callable pytree ``cell(x, carry) -> carry`` (one example).
    - `xs`: inputs (T, input_size). `carry0`: the carry before step 0.
    - `step_loss`: ``step_loss(carry_t, y_t) -> scalar``; close over any readout.
    - `ys`: per-step targets, a pytree with leading axis T (e.g. (T, out)).
    - `method`: ``"scan"`` (default; batched backward scan, log-space, triangular) or
      ``"jacrev"`` (``jax.jacrev`` of all step losses w.r.t. zero perturbations added
      to every state, a reference that is O(T²·S) in memory, linear-space only).
    - `blocks`: with ``"scan"``, how many row blocks to split the backward pass into
      (each block carries only the rows t ≥ its start; 4 does ≈ 62 % of the full work).

    **Returns:** :class:`Contributions` (``norms`` (T, T), ``log_norms`` (T, T),
    ``param_grads`` (T, ...) per leaf, ``losses`` (T,)). Non-finite parameters or
    inputs give NaNs flagged by ``.finite == False``; nothing raises inside ``jit``.

    **Raises:** ``ValueError`` for T = 0, mismatched `xs`/`ys` lengths, a `step_loss`
    that does not return a real scalar, or an unknown `method`.

    Reference: Pascanu, Mikolov & Bengio, ICML 2013, eqs. (3)-(5).

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(1, 4, weight_hh_init=rg.init.orthogonal(0.5),
    ...                       nonlinearity="identity", key=jax.random.key(0))
    >>> res = rg.timestep_contributions(cell, jnp.ones((3, 1)), jnp.zeros(4),
    ...                                 lambda h, y: jnp.sum(h * y), jnp.ones((3, 4)))
    >>> [round(float(v), 6) for v in res.norms[2]]
    [0.5, 1.0, 2.0]
    """
    if method not in ("scan", "jacrev"):
        raise ValueError(f"`method` must be 'scan' or 'jacrev', got {method!r}.")
    params, flat, s0, length = _flatten_problem(cell, xs, carry0)
    y_length = check_time_axis("ys", ys)
    if y_length != length:
        raise ValueError(
            f"`ys` must have the same number of steps as `xs`: xs has T = {length}, "
            f"ys has {y_length}."
        )
    _check_step_loss(step_loss, carry0, jax.tree_util.tree_map(lambda y: y[0], ys))
    if method == "jacrev":
        return _contributions_jacrev(flat, params, xs, s0, step_loss, ys)
    blocks = check_positive_int("blocks", blocks)
    return _contributions_scan(flat, params, xs, s0, step_loss, ys, blocks)


# --------------------------------------------------------------------------- final-step profile


class FinalProfile(eqx.Module):
    """‖∂L_T/∂s_k‖ for a loss read at the final step only (the textbook picture).

    Attributes: ``norms`` (T,) with [k] = ‖∂L/∂s_k‖ (k = 0..T-1, so [T-1] is the
    final state); ``log_norms`` (T,) log10 of the same, exact at any lag; ``loss``.
    """

    norms: Float[Array, " T"]
    log_norms: Float[Array, " T"]
    loss: Float[Array, ""]


def final_step_profile(
    cell: Cell,
    xs: PyTree,
    carry0: PyTree,
    loss: Callable[[PyTree], Array],
    *,
    checkpoint_every: Checked[int | None] = None,
) -> FinalProfile:
    """Gradient norms ‖∂L/∂s_k‖ of a loss on the final carry, for every step k.

    One cotangent is pulled back through the sequence with one ``jax.vjp`` per step,
    renormalised each step with its log accumulated, so ``log_norms`` are exact at lags
    of 10⁴ and beyond (e.g. -3010.3 for a 0.5·orthogonal linear RNN at lag 10⁴).

    **Arguments:**

    - `cell`, `xs`, `carry0`: as :func:`rnngrad.unroll`.
    - `loss`: ``loss(final_carry) -> scalar``.
    - `checkpoint_every`: store only every B-th state in the forward pass and recompute
      each block of B states in the backward pass (two-level checkpointing): memory
      O((T/B + B)·S) instead of O(T·S). Must divide T.

    **Returns:** :class:`FinalProfile`, arrays of shape (T,).

    **Raises:** ``ValueError`` for bad `xs`/`carry0`, a non-scalar `loss`, or a
    `checkpoint_every` that does not divide T.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(1, 4, weight_hh_init=rg.init.orthogonal(2.0),
    ...                       nonlinearity="identity", key=jax.random.key(0))
    >>> prof = rg.final_step_profile(cell, jnp.ones((3, 1)), jnp.zeros(4),
    ...                              lambda h: h[0])
    >>> [round(float(v), 6) for v in prof.log_norms]
    [0.60206, 0.30103, 0.0]
    """
    params, flat, s0, length = _flatten_problem(cell, xs, carry0)
    if not callable(loss):
        raise TypeError(f"`loss` must be a callable carry -> scalar, got {describe(loss)}.")
    out = jax.eval_shape(loss, carry0)
    if not (hasattr(out, "shape") and out.shape == () and jnp.issubdtype(out.dtype, jnp.floating)):
        raise ValueError(f"`loss(final_carry)` must return a real floating scalar, got {out}.")

    def back(carry, inp):
        unit, log_scale = carry
        x, s = inp
        column = log_scale
        _, vjp_fn = jax.vjp(lambda s_: flat(params, x, s_), s)
        unit, log_step = _safe_normalise(vjp_fn(unit)[0])
        return (unit, log_scale + log_step), column

    def start(final_state: Array) -> tuple[Array, tuple[Array, Array]]:
        value, grad = jax.value_and_grad(lambda s: loss(flat.carry(s)))(final_state)
        unit, log_g = _safe_normalise(grad)
        return value, (unit, log_g)

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
            return jax.lax.scan(back, carry, (xb, prev), reverse=True)

        _, logs = jax.lax.scan(back_block, init, (xs_blocks, starts), reverse=True)
        logs = logs.reshape(length)
    # logs[k] is log ‖∂L/∂s_k‖ (the cotangent entering step k+1's pullback).
    return FinalProfile(norms=jnp.exp(logs), log_norms=logs / _LN10, loss=value)


# --------------------------------------------------------------------------- lag profiles


def lag_profile(
    norms_or_result: Contributions | FinalProfile | Array, *, log10: bool = False
) -> Float[Array, " T"]:
    """Gradient norm as a function of the lag d = t − k, for d = 0..T-1.

    - From a (T, T) ``norms`` matrix or :class:`Contributions`: the geometric mean over
      all t ≥ d of ‖∂L_t/∂s_{t-d}‖, averaged in log space (so values spanning hundreds
      of orders of magnitude are fine). Steps without a loss (‖∂L_t/∂s_t‖ = 0) are left
      out of the mean; a lag with no usable step gives 0 (log: -inf).
    - From a :class:`FinalProfile`: ‖∂L_T/∂s_{T-1-d}‖, the profile of the final-step loss.

    **Arguments:** `norms_or_result`; `log10`: return log10 values instead of norms.

    **Returns:** (T,).

    **Raises:** ``ValueError`` for an array that is not square (T, T); ``TypeError`` for
    anything else.

    >>> import jax.numpy as jnp, rnngrad as rg
    >>> m = jnp.array([[1.0, 0.0], [0.5, 1.0]])
    >>> [float(v) for v in rg.lag_profile(m)]
    [1.0, 0.5]
    """
    if isinstance(norms_or_result, FinalProfile):
        logs = norms_or_result.log_norms[::-1]
    else:
        if isinstance(norms_or_result, Contributions):
            log_matrix = norms_or_result.log_norms
        elif hasattr(norms_or_result, "shape"):
            matrix = jnp.asarray(norms_or_result)
            if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
                raise ValueError(
                    f"`norms_or_result` must be a (T, T) norms matrix, got {describe(matrix)}."
                )
            log_matrix = jnp.log10(jnp.where(matrix > 0, matrix, 1.0))
            log_matrix = jnp.where(matrix > 0, log_matrix, -jnp.inf)
        else:
            raise TypeError(
                "`norms_or_result` must be a Contributions, a FinalProfile or a (T, T) "
                f"array, got {describe(norms_or_result)}."
            )
        length = log_matrix.shape[0]
        t = jnp.arange(length)[:, None]
        d = jnp.arange(length)[None, :]
        k = t - d
        valid = (k >= 0) & jnp.isfinite(jnp.diagonal(log_matrix))[:, None]
        by_lag = log_matrix[t, jnp.clip(k, 0, None)]  # [t, d] = log ‖∂L_t/∂s_{t-d}‖
        count = jnp.sum(valid, axis=0).astype(log_matrix.dtype)
        total = jnp.sum(jnp.where(valid, by_lag, 0.0), axis=0)
        logs = jnp.where(count > 0, total / jnp.maximum(count, 1.0), -jnp.inf)
        # A -inf entry among valid ones makes the geometric mean 0.
        logs = jnp.where(jnp.any(valid & jnp.isneginf(by_lag), axis=0), -jnp.inf, logs)
    if log10:
        return logs
    return jnp.power(10.0, logs)
