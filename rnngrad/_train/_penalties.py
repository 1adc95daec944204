"""Gradient penalties: Pascanu's vanishing-gradient regulariser Ω and gradient flossing.

Notation (as in :mod:`rnngrad._anatomy`). The cell maps ``s_k = f(s_{k-1}, x_k; θ)`` for
k = 0..T-1 with ``s_{-1} = carry0``; ``s`` is the flattened carry (size S). A loss
``L_t = step_loss(carry_t, y_t)`` is read at every step and ``L = Σ_t L_t``. The one-step
Jacobian is ``J_k = ∂s_k/∂s_{k-1}`` and the *total* adjoint (backprop cotangent) of
state k is

    λ_k = ∂L/∂s_k = ∂L_k/∂s_k + λ_{k+1} J_{k+1},        λ_{T-1} = ∂L_{T-1}/∂s_{T-1}.

Pascanu's Ω asks every pullback ``λ_k ↦ λ_k J_k`` to preserve the norm of the error
signal it carries; gradient flossing asks the Lyapunov exponents of the dynamics (the
long-run growth rates of products of the J_k) to sit at a target, usually 0.
"""

from __future__ import annotations

import abc
import warnings
from collections.abc import Callable
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PyTree

from .._anatomy import (
    _check_step_loss,
    _check_targets,
    _Flat,
    _flatten_problem,
    _forward_states,
    _safe_normalise,
    _step_loss_grads,
)
from .._checks import (
    Checked,
    NumericalWarning,
    check_bool,
    check_choice,
    check_int,
    check_positive_int,
    check_real_scalar,
    describe,
    is_concrete,
)
from .._dynamics import lyapunov_spectrum
from ..cells import Cell, fold_recurrent_scale

__all__ = ["pascanu_omega", "flossing_penalty", "floss"]


# --------------------------------------------------------------------------- Pascanu's Ω


def _adjoint_directions(
    flat: _Flat,
    params: PyTree,
    xs: PyTree,
    states: Array,
    prev: Array,
    step_loss: Callable,
    ys: PyTree,
) -> tuple[Float[Array, "T S"], Float[Array, " T"]]:
    """λ_k = ∂L/∂s_k for k = 0..T-1 as unit directions and natural-log norms.

    Backward recursion ``λ_k = g_k + λ_{k+1} J_{k+1}`` with ``g_k = ∂L_k/∂s_k``, carried
    as ``λ = exp(log_norm) · unit`` so that exploding or vanishing adjoints stay exact
    (no overflow to inf, no underflow to 0). A zero adjoint has unit 0 and log norm -inf.
    """
    _, grads = _step_loss_grads(flat, step_loss, states, ys)
    g_units, g_logs = _safe_normalise(grads)
    size = states.shape[-1]
    dtype = states.dtype

    def back(carry, inp):
        p_unit, p_log = carry  # λ_{k+1} J_{k+1} (zero at k = T-1)
        x, s, g_unit, g_log = inp
        top = jnp.maximum(p_log, g_log)
        top = jnp.where(jnp.isfinite(top), top, 0.0)
        mixed = jnp.exp(p_log - top) * p_unit + jnp.exp(g_log - top) * g_unit
        unit, log_norm = _safe_normalise(mixed)
        log_norm = log_norm + top
        _, vjp_fn = jax.vjp(lambda s_: flat(params, x, s_), s)
        pulled_unit, pulled_log = _safe_normalise(vjp_fn(unit)[0])
        return (pulled_unit, log_norm + pulled_log), (unit, log_norm)

    init = (jnp.zeros((size,), dtype), jnp.full((), -jnp.inf, dtype))
    _, (units, logs) = jax.lax.scan(back, init, (xs, prev, g_units, g_logs), reverse=True)
    return units, logs


def _safe_norm(v: Array) -> Array:
    """‖v‖₂ with a finite (zero) gradient at v = 0; NaN stays NaN (never a zero norm)."""
    sq = jnp.sum(v * v)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), jnp.where(sq == 0, 0.0, sq))


def _check_omega_options(
    mask_below: Any, squared_norms: Any, reduction: Any, through_states: Any, where: str = ""
) -> None:
    check_real_scalar("mask_below", mask_below, nonnegative=True)
    check_bool("squared_norms", squared_norms, where=where)
    check_bool("through_states", through_states, where=where)
    check_choice("reduction", reduction, ("sum", "mean"), where=where)


def pascanu_omega(
    cell: Cell,
    xs: PyTree,
    carry0: PyTree,
    step_loss: Checked[Callable[[PyTree, Any], Array]],
    ys: PyTree,
    *,
    mask_below: Checked[float] = 0.0,
    squared_norms: Checked[bool] = False,
    reduction: Checked[Literal["sum", "mean"]] = "sum",
    through_states: Checked[bool] = False,
) -> Float[Array, ""]:
    """Pascanu's vanishing-gradient regulariser Ω (Pascanu, Mikolov & Bengio 2013, eq. 9).

    With the total adjoints ``λ_k = ∂L/∂s_k`` of ``L = Σ_t L_t`` and the one-step
    Jacobians ``J_k = ∂s_k/∂s_{k-1}`` (module notation; ``s_{-1} = carry0``),

        Ω = Σ_{k=0}^{T-1} ( ‖λ_k J_k‖ / ‖λ_k‖ − 1 )²,

    one term per step k: the factor by which pulling the error signal back through step
    k (from ``s_k`` to ``s_{k-1}``) changes its norm. The paper's term Ω_k, written with
    ``∂E/∂x_{k+1} · ∂x_{k+1}/∂x_k``, is our term k+1. All T steps are included, the
    first one (the pullback into `carry0`) too, as in the reference code.

    How it is computed: a forward ``lax.scan`` stores the states; a backward ``lax.scan``
    computes every λ_k with one ``jax.vjp`` per step, carried as a unit direction and a
    log norm, so exploding and vanishing adjoints neither overflow nor underflow (the
    ratio is scale-free: ``‖λ J‖/‖λ‖ = ‖u J‖`` with ``u = λ/‖λ‖``). Each term then
    recomputes the vjp of step k at ``s_{k-1}`` with the parameters as a differentiable
    input.

    **Gradient.** As in the paper (eq. 10 uses the "immediate" derivative ∂⁺), Ω is
    differentiated with the adjoints λ_k held constant (``jax.lax.stop_gradient``) and,
    by default, also the states ``s_{k-1}`` entering each step: the gradient flows only
    through the parameters' use inside step k, seen as a black box
    ``f(s_{k-1}, x_k; θ)``. For a vanilla cell ``J_k = diag(φ'(a_k)) W_rec`` with
    ``a_k = W_rec s_{k-1} + W_in x_k + b``, so θ moves both the explicit W_rec and φ'(a_k).
    (The paper writes the state before the nonlinearity, and the reference code holds
    the post-step state h_k fixed, so there only the explicit W_rec moves; the value of
    Ω is the same.) With ``through_states=True`` the states are recomputed from θ as
    well, only λ being held constant. The gradient reaches every inexact array of the
    cell; the paper adds it to W_rec only: take that leaf of
    ``eqx.filter_grad(pascanu_omega)(cell, ...)`` to do the same. A readout closed over
    by `step_loss` gets no gradient (it only enters through λ).

    **Arguments:**

    - `cell`: any callable pytree ``cell(x, carry) -> carry`` (one example), e.g.
      :class:`rnngrad.VanillaCell`, ``eqx.nn.GRUCell``, ``eqx.nn.LSTMCell``.
    - `xs`: inputs (T, input_size). `carry0`: the carry before step 0.
    - `step_loss`: ``step_loss(carry_t, y_t) -> scalar`` (same convention as
      :func:`rnngrad.timestep_contributions`); close over any readout.
    - `ys`: per-step targets, a pytree with leading axis T.
    - `mask_below`: terms whose adjoint has ``‖λ_k‖ <= mask_below`` are dropped (they
      contribute 0). Default 0.0: only exactly-zero adjoints (no loss downstream of
      step k), where the ratio is 0/0, are dropped. Because the adjoints are carried in
      log space the ratio is exact for any non-zero λ, so no floor is needed for
      stability; a positive floor is scale-dependent (it depends on the size of L) and
      would switch the regulariser off exactly where gradients have vanished. The
      reference Theano code uses ``‖λ‖² >= 1e-20``, i.e. ``mask_below=1e-10``.
    - `squared_norms`: False (default, the paper's eq. 9) uses ``‖λ J‖/‖λ‖``; True uses
      the ratio of squared norms ``‖λ J‖²/‖λ‖²``, as the reference Theano code
      (pascanur/trainingRNNs) does.
    - `reduction`: ``"sum"`` (default, eq. 9) or ``"mean"``: the mean over the kept
      terms (0 if none), as the reference code normalises it.
    - `through_states`: see **Gradient** above (default False, the paper's ∂⁺).

    **Returns:** Ω, a scalar (). Differentiable w.r.t. `cell` with ``eqx.filter_grad``.

    **Raises:** ``ValueError`` for T = 0, mismatched `xs`/`ys` lengths, a `step_loss`
    that does not return a real scalar, a negative or non-finite `mask_below`, or an
    unknown `reduction`; ``TypeError`` for a non-callable `step_loss` or a non-bool
    `squared_norms`/`through_states`; as :func:`rnngrad.unroll` for bad `xs`/`carry0`.

    Reference: R. Pascanu, T. Mikolov & Y. Bengio, "On the difficulty of training
    recurrent neural networks", ICML 2013, eqs. (9)-(10); code: github.com/pascanur/
    trainingRNNs.

    >>> import jax, jax.numpy as jnp, equinox as eqx, rnngrad as rg
    >>> from rnngrad import pascanu_omega
    >>> cell = rg.VanillaCell(1, 4, weight_hh_init=rg.init.orthogonal(0.5),
    ...                       nonlinearity="identity", key=jax.random.key(0))
    >>> loss = lambda h, y: jnp.sum(h * y)
    >>> xs, ys = jnp.ones((3, 1)), jnp.ones((3, 4))
    >>> round(float(pascanu_omega(cell, xs, jnp.zeros(4), loss, ys)), 6)  # 3 × (0.5 - 1)²
    0.75
    >>> grad = eqx.filter_grad(pascanu_omega)(cell, xs, jnp.zeros(4), loss, ys)
    >>> grad.weight_hh.shape
    (4, 4)
    """
    params, flat, s0, length = _flatten_problem(cell, xs, carry0)
    _check_step_loss(step_loss, carry0, _check_targets(ys, length))
    _check_omega_options(mask_below, squared_norms, reduction, through_states)

    omega = _omega(
        params, flat, xs, s0, step_loss, ys, mask_below, squared_norms, reduction, through_states
    )
    if is_concrete(omega) and not np.isfinite(np.asarray(omega)):
        warnings.warn(
            f"pascanu_omega: Ω is {float(omega)}: the adjoints ∂L/∂s_k are not finite (a "
            "step loss or its gradient is NaN/inf); check `step_loss`.",
            NumericalWarning,
            stacklevel=2,
        )
    return omega


@eqx.filter_jit
def _omega(
    params: PyTree,
    flat: _Flat,
    xs: PyTree,
    s0: Array,
    step_loss: Callable,
    ys: PyTree,
    mask_below: Any,
    squared_norms: bool,
    reduction: str,
    through_states: bool,
) -> Array:
    states, prev = _forward_states(flat, params, xs, s0)
    # The adjoints are constants for differentiation (the paper's convention).
    const_params, const_states, const_prev = jax.lax.stop_gradient((params, states, prev))
    units, logs = _adjoint_directions(
        flat, const_params, xs, const_states, const_prev, step_loss, ys
    )
    units, logs = jax.lax.stop_gradient((units, logs))
    entering = prev if through_states else const_prev

    def ratio(x: Any, s: Array, unit: Array) -> Array:
        _, vjp_fn = jax.vjp(lambda s_: flat(params, x, s_), s)
        pulled = vjp_fn(unit)[0]
        if squared_norms:
            return jnp.sum(pulled * pulled)
        return _safe_norm(pulled)

    ratios = jax.vmap(ratio)(xs, entering, units)
    bound = jnp.asarray(mask_below, logs.dtype)
    # log(0) = -inf keeps every non-zero adjoint; a NaN adjoint is kept so that it shows
    # as a NaN Ω instead of being dropped as a zero one.
    keep = (logs > jnp.log(bound)) | jnp.isnan(logs)
    terms = jnp.where(keep, (ratios - 1.0) ** 2, 0.0)
    total = jnp.sum(terms)
    if reduction == "mean":
        count = jnp.sum(keep).astype(total.dtype)
        total = total / jnp.maximum(count, 1.0)
    return total


# --------------------------------------------------------------------------- gradient flossing


def _check_n(n: Any) -> int:
    return check_int("n", n, minimum=None)


def flossing_penalty(
    cell: Cell,
    xs: PyTree,
    carry0: PyTree,
    *,
    n: Checked[int] = 1,
    target: Checked[float] = 0.0,
    warmup: Checked[int] = 0,
    state_gradient: Checked[bool] = True,
) -> Float[Array, ""]:
    """Gradient-flossing penalty ``Σ_{i=1}^{n} (λ_i − target)²`` on the top Lyapunov exponents.

    λ_1 ≥ … ≥ λ_n are the first `n` Lyapunov exponents (natural log, per step) of the
    dynamics ``s_k = f(s_{k-1}, x_k)`` driven by `xs`, from
    :func:`rnngrad.lyapunov_spectrum` (Benettin's QR algorithm). λ_i is the growth rate
    of the i-th singular value of long Jacobian products, so pushing the top exponents
    to 0 keeps backpropagated gradients from exploding or vanishing along n directions
    (Engelken 2023). The whole computation (``jax.linearize`` per step, QR, log |R_ii|)
    is differentiable, so ``eqx.filter_grad`` of this function gives the gradient
    through the QR iteration w.r.t. every inexact array of `cell` (with the state
    trajectory held fixed unless ``state_gradient=True``).

    **Arguments:**

    - `cell`, `xs`, `carry0`: as :func:`rnngrad.lyapunov_spectrum`.
    - `n`: how many exponents to penalise, 1 <= n <= S (the flattened carry size).
    - `target`: the value the exponents are pushed to (0: neither exploding nor
      vanishing); a finite real number.
    - `warmup`: steps run before exponents are accumulated (0 <= warmup < T).
    - `state_gradient`: whether the gradient also flows through the state trajectory
      (default True: the exact derivative of this finite-T penalty). False holds the
      trajectory fixed, as Engelken (2023) does: the gradient flows through each
      step's Jacobian and the QR iteration only. Which works better depends on how far
      the trajectory amplifies perturbations. On a short one the exact gradient
      converges and the fixed one fluctuates: gain-1.5 tanh RNN, H = 64, T = 100, n = 1,
      100 Adam steps (lr 1e-2) took λ₁ from +0.075 to 1e-4 (exact) and to within
      ±0.05 of 0 (fixed). On a long one the exact derivative explodes with T and is not
      a descent direction: gain-2 tanh RNN, H = 32, 5 N(0, 1) inputs, T = 400, n = 8
      (float64): its norm was 9.5e3 against 3.3 for the fixed-trajectory gradient, a
      step of 1e-5 along it *raised* the penalty by 4.6e-3, and 300 Adam steps
      (lr 1e-2) raised the penalty from 0.39 to 1.04 (exact) but lowered it to 0.25
      (fixed).

    **Returns:** the penalty, a scalar ().

    **Raises:** ``ValueError`` for `n` outside [1, S], a non-finite or non-scalar
    `target`, or `warmup` outside [0, T); ``TypeError`` for a non-int `n` or a
    non-real `target`.

    Reference: R. Engelken, "Gradient flossing: improving gradient descent through
    dynamic control of Jacobians", NeurIPS 2023.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> from rnngrad import flossing_penalty
    >>> cell = rg.VanillaCell(1, 3, weight_hh_init=rg.init.orthogonal(0.5),
    ...                       nonlinearity="identity", key=jax.random.key(0))
    >>> pen = flossing_penalty(cell, jnp.ones((20, 1)), jnp.zeros(3), n=2)
    >>> round(float(pen), 6)  # 2 × log(0.5)²
    0.960906
    """
    n = _check_n(n)
    check_real_scalar("target", target)
    exponents = lyapunov_spectrum(
        cell, xs, carry0, n, warmup=warmup, state_gradient=state_gradient
    ).exponents
    return jnp.sum((exponents - jnp.asarray(target, exponents.dtype)) ** 2)


def floss(
    cell: Cell,
    xs: PyTree,
    carry0: PyTree,
    *,
    n: Checked[int] = 1,
    target: Checked[float] = 0.0,
    steps: Checked[int] = 100,
    optimizer: Checked[optax.GradientTransformation | None] = None,
    warmup: Checked[int] = 0,
    filter_spec: Checked[Any] = eqx.is_inexact_array,
    state_gradient: Checked[bool] = True,
) -> tuple[Any, Float[Array, "steps_plus_1 n"]]:
    """Gradient flossing: minimise :func:`flossing_penalty` alone for a number of steps.

    Use it before training (to start at the edge of chaos, λ_1 ≈ 0) and periodically
    during it (Engelken 2023 flosses at initialisation and then every few hundred
    training steps). One compiled program: a ``lax.scan`` over `steps` optax updates, each
    ``value_and_grad`` of the penalty through the QR iteration.

    What is trained: a scale from :func:`rnngrad.scale_recurrent` is first folded into
    ``weight_hh`` with :func:`rnngrad.fold_recurrent_scale`, so the returned cell is a
    plain cell; then every leaf selected by `filter_spec` (default: all inexact arrays,
    i.e. recurrent and input weights and biases) is updated. Pass e.g.
    ``eqx.tree_at(lambda c: c.weight_hh, jax.tree_util.tree_map(lambda _: False, cell),
    True)`` to train ``weight_hh`` only. The inputs `xs` are fixed: to floss over fresh
    input streams, call ``floss`` again with new `xs`.

    **Arguments:**

    - `cell`, `xs`, `carry0`, `n`, `target`, `warmup`: as :func:`flossing_penalty`.
    - `steps`: number of optimiser updates, a positive int.
    - `optimizer`: an ``optax.GradientTransformation``; default ``optax.adam(1e-2)``.
    - `filter_spec`: which leaves to train, as in ``eqx.partition``.
    - `state_gradient`: as :func:`flossing_penalty` (default True, the exact gradient).

    **Returns:** ``(cell, history)``: the flossed cell (same structure as the folded
    input cell) and the exponents (steps + 1, n); row i holds the top n exponents after
    i updates (row 0: the input cell, row -1: the returned cell).

    **Raises:** as :func:`flossing_penalty`; ``ValueError``/``TypeError`` for a
    non-positive or non-int `steps`; ``TypeError`` for an `optimizer` that is not an
    optax ``GradientTransformation``.

    Reference: R. Engelken, "Gradient flossing: improving gradient descent through
    dynamic control of Jacobians", NeurIPS 2023.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> from rnngrad import floss
    >>> cell = rg.VanillaCell(1, 3, weight_hh_init=rg.init.orthogonal(0.5),
    ...                       nonlinearity="identity", key=jax.random.key(0))
    >>> new, hist = floss(cell, jnp.ones((20, 1)), jnp.zeros(3), n=1, steps=20)
    >>> hist.shape, bool(abs(hist[-1, 0]) < abs(hist[0, 0]))
    ((21, 1), True)
    """
    n = _check_n(n)
    check_real_scalar("target", target)
    steps = check_positive_int("steps", steps)
    if optimizer is None:
        optimizer = optax.adam(1e-2)
    if not (
        callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))
    ):
        raise TypeError(
            f"`optimizer` must be an optax.GradientTransformation, got {describe(optimizer)}."
        )
    cell = fold_recurrent_scale(cell)
    # Validate n, warmup, xs and carry0 once, with clear errors, before compiling the loop.
    jax.eval_shape(lambda c: lyapunov_spectrum(c, xs, carry0, n, warmup=warmup), cell)
    if not (callable(filter_spec) or isinstance(filter_spec, eqx.Module)):
        raise TypeError(
            "floss: `filter_spec` must be a filter as in eqx.partition: a function leaf -> "
            "bool (e.g. eqx.is_inexact_array) or a pytree of bools shaped like the cell, got "
            f"{describe(filter_spec)}."
        )
    params, static = eqx.partition(cell, filter_spec)
    return _floss_loop(
        params, static, xs, carry0, target, optimizer, n, warmup, steps, state_gradient
    )


@eqx.filter_jit
def _floss_loop(
    params: PyTree,
    static: PyTree,
    xs: PyTree,
    carry0: PyTree,
    target: Any,
    optimizer: optax.GradientTransformation,
    n: int,
    warmup: int,
    steps: int,
    state_gradient: bool,
) -> tuple[Any, Array]:
    def loss(p: PyTree) -> tuple[Array, Array]:
        exponents = lyapunov_spectrum(
            eqx.combine(p, static), xs, carry0, n, warmup=warmup, state_gradient=state_gradient
        ).exponents
        return jnp.sum((exponents - jnp.asarray(target, exponents.dtype)) ** 2), exponents

    def update(carry, _):
        p, opt_state = carry
        (_, exponents), grads = jax.value_and_grad(loss, has_aux=True)(p)
        # optax mixes python floats with int32 step counts (e.g. adam's bias correction),
        # which strict dtype promotion rejects; the optimiser runs under standard promotion.
        with jax.numpy_dtype_promotion("standard"):
            updates, opt_state = optimizer.update(grads, opt_state, p)
            p = optax.apply_updates(p, updates)
        return (p, opt_state), exponents

    with jax.numpy_dtype_promotion("standard"):
        opt_state = optimizer.init(params)
    (params, _), history = jax.lax.scan(update, (params, opt_state), None, length=steps)
    final = loss(params)[1]
    return eqx.combine(params, static), jnp.concatenate([history, final[None]])


# --------------------------------------------------------------------------- as modules


class AbstractPenalty(eqx.Module):
    """A term added to the training loss by :func:`rnngrad.train` (``penalties=(...)``).

    Subclasses implement ``__call__(cell, xs, carry0, step_loss, ys) -> scalar`` on one
    batch (`xs` (B, T, input), `ys` the per-step targets with leading axes (B, T)),
    already multiplied by their strength. They are ``eqx.Module``s, so their fields
    are part of a checkpoint's identity.
    """

    @abc.abstractmethod
    def __call__(
        self,
        cell: Cell,
        xs: Float[Array, "B T input"],
        carry0: PyTree,
        step_loss: Callable[[PyTree, Any], Array],
        ys: PyTree,
    ) -> Float[Array, ""]:
        """The weighted penalty of one batch."""


def _scaled(strength: Any, value: Array) -> Array:
    """``strength × value`` in `value`'s dtype (a traced strength may be float64)."""
    return jnp.asarray(strength).astype(value.dtype) * value


def _strength(strength: Any, where: str) -> float:
    if hasattr(strength, "shape") and jnp.ndim(strength) != 0:
        raise ValueError(f"{where}: `strength` must be one number, got {strength!r}.")
    check_real_scalar("strength", strength, nonnegative=True)
    return float(strength)


class Omega(AbstractPenalty):
    """Pascanu's Ω, ``strength × mean over the batch of`` :func:`pascanu_omega`.

    **Arguments:** `strength` >= 0; keyword options of :func:`pascanu_omega`
    (`mask_below`, `squared_norms`, `reduction`, `through_states`).

    Reference: Pascanu, Mikolov & Bengio, ICML 2013, eq. 9.
    """

    strength: Checked[float]  # a leaf: rg.train traces it (no recompile per strength)
    mask_below: Checked[float] = eqx.field(default=0.0, static=True)
    squared_norms: Checked[bool] = eqx.field(default=False, static=True)
    reduction: Checked[Literal["sum", "mean"]] = eqx.field(default="sum", static=True)
    through_states: Checked[bool] = eqx.field(default=False, static=True)

    def __init__(
        self,
        strength: Checked[float],
        *,
        mask_below: Checked[float] = 0.0,
        squared_norms: Checked[bool] = False,
        reduction: Checked[Literal["sum", "mean"]] = "sum",
        through_states: Checked[bool] = False,
    ):
        # Checked before the fields are set: equinox warns about arrays in static fields.
        self.strength = _strength(strength, "Omega")
        _check_omega_options(mask_below, squared_norms, reduction, through_states, "Omega")
        self.mask_below = float(mask_below)
        self.squared_norms = squared_norms
        self.reduction = reduction
        self.through_states = through_states

    def __call__(self, cell, xs, carry0, step_loss, ys):
        def one(x: Array, y: PyTree) -> Array:
            return pascanu_omega(
                cell,
                x,
                carry0,
                step_loss,
                y,
                mask_below=self.mask_below,
                squared_norms=self.squared_norms,
                reduction=self.reduction,
                through_states=self.through_states,
            )

        return _scaled(self.strength, jnp.mean(jax.vmap(one)(xs, ys)))


class Flossing(AbstractPenalty):
    """Gradient flossing, ``strength ×`` :func:`flossing_penalty` on the batch's first input.

    **Arguments:** `strength` >= 0; `n`: exponents pulled to `target` (default 1 and 0);
    `warmup`, `state_gradient`: as :func:`flossing_penalty`.

    Reference: R. Engelken, "Gradient flossing", NeurIPS 2023.
    """

    strength: Checked[float]  # a leaf: rg.train traces it (no recompile per strength)
    n: Checked[int] = eqx.field(default=1, static=True)
    target: Checked[float] = eqx.field(default=0.0, static=True)
    warmup: Checked[int] = eqx.field(default=0, static=True)
    state_gradient: Checked[bool] = eqx.field(default=True, static=True)

    def __init__(
        self,
        strength: Checked[float],
        *,
        n: Checked[int] = 1,
        target: Checked[float] = 0.0,
        warmup: Checked[int] = 0,
        state_gradient: Checked[bool] = True,
    ):
        self.strength = _strength(strength, "Flossing")
        self.n = check_int("n", n, where="Flossing")
        check_real_scalar("target", target)
        self.target = float(target)
        self.warmup = check_int("warmup", warmup, minimum=0, where="Flossing")
        self.state_gradient = check_bool("state_gradient", state_gradient, where="Flossing")

    def __call__(self, cell, xs, carry0, step_loss, ys):
        del step_loss, ys
        return _scaled(
            self.strength,
            flossing_penalty(
                cell,
                xs[0],
                carry0,
                n=self.n,
                target=self.target,
                warmup=self.warmup,
                state_gradient=self.state_gradient,
            ),
        )
