"""Pascanu, Mikolov & Bengio (2013)'s conditions and bound for the vanilla cell."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float

from ._checks import (
    Checked,
    NumericalWarning,
    check_bool,
    check_real_array,
    check_real_scalar,
    is_concrete,
)
from .cells import Cell, gain, recurrent_weight


def _gamma(cell: Cell, gamma: float | None) -> float:
    if gamma is not None:
        check_real_scalar("gamma", gamma, positive=True)
        return float(gamma)
    try:
        return gain(cell)
    except TypeError as err:
        raise TypeError(
            f"{err} Pascanu's rate is for a vanilla cell, whose Jacobian is diag(φ') W_rec: "
            "pass gamma= (sup |φ'|), or for gated cells use rg.jacobian_spectral_norms on a "
            "trajectory."
        ) from None


def pascanu_rate(cell: Cell, *, gamma: Checked[float | None] = None) -> Float[Array, ""]:
    """``‖W_rec‖₂ · γ``: the per-step factor of Pascanu et al.'s bound.

    Since ``‖J_j‖ ≤ ‖diag φ'(a_j)‖ ‖W_rec‖ ≤ γ ‖W_rec‖₂`` with γ = sup |φ'| (1 for tanh,
    ReLU and the identity), every factor of the BPTT product shrinks a gradient by at most
    this rate. ``rate < 1`` is *sufficient* for vanishing gradients.

    **Arguments:** `cell`: any cell with the optional ``recurrent_weight`` and ``gain``
    of the protocol (:class:`rnngrad.VanillaCell`, scaled or not); `gamma`: override
    sup |φ'| (needed for a callable nonlinearity or a cell without ``gain``).

    **Returns:** a scalar.

    **Raises:** ``TypeError`` for a cell without ``recurrent_weight`` or (with `gamma`
    unset) ``gain``, naming the method; for gated cells, whose Jacobian is not
    ``diag(φ') W_rec``, use :func:`rnngrad.jacobian_spectral_norms` on a trajectory.

    Reference: R. Pascanu, T. Mikolov & Y. Bengio, "On the difficulty of training
    recurrent neural networks", ICML 2013, section 2.1.

    >>> import jax, rnngrad as rg
    >>> cell = rg.VanillaCell(1, 4, weight_hh_init=rg.init.orthogonal(0.5), key=jax.random.key(0))
    >>> round(float(rg.theory.pascanu_rate(cell)), 6)
    0.5
    """
    weight = recurrent_weight(cell)
    return jnp.linalg.norm(weight, ord=2) * jnp.asarray(_gamma(cell, gamma), weight.dtype)


def vanishing_guaranteed(cell: Cell, *, gamma: Checked[float | None] = None) -> Bool[Array, ""]:
    """Pascanu et al.'s sufficient condition for vanishing gradients: ``‖W_rec‖₂ γ < 1``."""
    return pascanu_rate(cell, gamma=gamma) < 1.0


def pascanu_bound(
    cell: Cell,
    lags: Checked[ArrayLike],
    *,
    grad_norm: Checked[ArrayLike] = 1.0,
    gamma: Checked[float | None] = None,
    log10: Checked[bool] = False,
) -> Float[Array, "..."]:
    """Upper bound ``(‖W_rec‖₂ γ)^{t−k} · ‖∂L_t/∂s_t‖`` on ``‖∂L_t/∂s_k‖``.

    **Arguments:** `cell` (vanilla); `lags`: t − k (any shape); `grad_norm`:
    ‖∂L_t/∂s_t‖ (broadcast); `gamma`: as :func:`pascanu_rate`; `log10`: return log10.

    **Returns:** the bound, shaped like ``lags`` broadcast with ``grad_norm``.

    **Raises:** ``TypeError`` for non-real `lags`/`grad_norm` (strings, complex, bool) or
    a cell without ``recurrent_weight``/``gain``; ``ValueError`` for NaN/inf in concrete
    `lags`/`grad_norm`, negative values, or shapes that do not broadcast. A bound that
    overflows to inf (use ``log10=True``) gives a ``rg.NumericalWarning`` when eager.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(1, 4, weight_hh_init=rg.init.orthogonal(0.5), key=jax.random.key(0))
    >>> [round(float(v), 6) for v in rg.theory.pascanu_bound(cell, jnp.arange(3.0))]
    [1.0, 0.5, 0.25]
    """
    lags = check_real_array("lags", lags, nonnegative=True)
    grad_norm = check_real_array("grad_norm", grad_norm, nonnegative=True)
    check_bool("log10", log10)
    try:
        jnp.broadcast_shapes(lags.shape, grad_norm.shape)
    except ValueError as err:
        raise ValueError(
            f"`grad_norm` (shape {grad_norm.shape}) must broadcast with `lags` (shape "
            f"{lags.shape}): give one norm, or one per lag."
        ) from err
    rate = pascanu_rate(cell, gamma=gamma)
    lags = lags.astype(rate.dtype)
    grad_norm = grad_norm.astype(rate.dtype)
    # rate**0 = 1 also for a zero rate (0 × log 0 would be NaN).
    log_bound = jnp.where(lags == 0, 0.0, lags * jnp.log10(rate)) + jnp.log10(grad_norm)
    if log10:
        return log_bound
    bound = jnp.power(10.0, log_bound)
    if is_concrete(bound) and bool(jnp.any(jnp.isinf(bound))):
        warnings.warn(
            "pascanu_bound: the bound overflows to inf at some lags (it exceeds the dtype's "
            "largest number); pass log10=True for exact log10 values.",
            NumericalWarning,
            stacklevel=2,
        )
    return bound
