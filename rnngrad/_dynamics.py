"""The dynamics of a driven recurrent network: Lyapunov spectra and Jacobian-product spectra.

Lyapunov exponents by repeated QR (Benettin et al. 1980); singular values of long
Jacobian products (the dynamical-isometry view of Saxe et al. 2014 and Pennington,
Schoenholz & Ganguli 2017).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PyTree

from ._anatomy import _LN10, _flatten_problem, _forward_states
from ._checks import Checked, check_bool, check_int, warn_if_flagged
from .cells import Cell


class LyapunovSpectrum(eqx.Module):
    """Lyapunov exponents of a driven network, with flags.

    Attributes: ``exponents`` (n,) per step, natural log, descending.
    Flags: ``finite`` (no NaN/+inf), ``saturated`` (some exponent is ``-inf``: a step
    Jacobian was exactly singular, e.g. tanh saturated to ±1 at this precision or ReLU
    units dead, so the frame lost a direction; the exponent is then below the dtype's
    resolution, not a number).
    """

    exponents: Float[Array, " n"]

    @property
    def finite(self) -> Bool[Array, ""]:
        """False if an exponent is NaN or +inf (a non-finite parameter or state)."""
        return jnp.all(jnp.isfinite(self.exponents) | jnp.isneginf(self.exponents))

    @property
    def saturated(self) -> Bool[Array, ""]:
        """True if an exponent is ``-inf`` (an exactly singular step Jacobian)."""
        return jnp.any(jnp.isneginf(self.exponents))

    @property
    def largest(self) -> Float[Array, ""]:
        """λ₁, the largest exponent."""
        return self.exponents[0]


def lyapunov_spectrum(
    cell: Cell,
    xs: PyTree,
    carry0: PyTree,
    n: Checked[int | None] = None,
    *,
    warmup: Checked[int] = 0,
    state_gradient: Checked[bool] = True,
) -> LyapunovSpectrum:
    """The first `n` Lyapunov exponents of ``s_t = f(s_{t-1}, x_t)`` along the inputs `xs`.

    Benettin's algorithm: an orthonormal frame Q (S × n) is pushed forward by each step's
    Jacobian (``jax.linearize`` of the cell, ``vmap``-ed over the n columns) and
    re-orthonormalised by QR; λ_i = (1/T') Σ_t log |R_t[i, i]|, where T' = T − warmup
    counts the steps after the warm-up. Natural log, per step, sorted descending. The
    largest exponent is the asymptotic growth rate of ‖∂s_t/∂s_k‖, the dynamical face of
    exploding (λ₁ > 0) and vanishing (λ₁ < 0) gradients (Engelken, Wolf & Abbott 2023).
    For a linear RNN, λ_i = log |eig_i(W_rec)|.

    **Arguments:**

    - `cell`, `xs`, `carry0`: as :func:`rnngrad.unroll`.
    - `n`: how many exponents (default S, all of them); 1 <= n <= S.
    - `warmup`: steps run (frame included) before exponents are accumulated, so the
      state and frame forget their initial conditions; 0 <= warmup < T.
    - `state_gradient`: when False, derivatives of the exponents (``jax.grad``) treat
      the state trajectory as fixed and flow only through each step's Jacobian. The
      values are the same. In a chaotic network the full derivative through the states
      explodes with T (the very problem flossing treats), so gradient flossing uses
      False (Engelken 2023 differentiates the QR iteration of the Jacobians).

    **Returns:** :class:`LyapunovSpectrum`: ``exponents`` (n,) per step, descending, and
    the flags ``finite`` and ``saturated`` (an eager call with a flagged result also
    issues a ``rg.NumericalWarning``).

    **Raises:** ``ValueError`` for n outside [1, S], warmup outside [0, T), or bad
    `xs`/`carry0` (as :func:`rnngrad.unroll`, NaN or inf in concrete values included).

    Reference: G. Benettin, L. Galgani, A. Giorgilli & J.-M. Strelcyn, Meccanica 15
    (1980); R. Engelken, F. Wolf & L. F. Abbott, "Lyapunov spectra of chaotic recurrent
    neural networks", Phys. Rev. Research 5 (2023).

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(1, 3, weight_hh_init=rg.init.orthogonal(0.5),
    ...                       nonlinearity="identity", key=jax.random.key(0))
    >>> spectrum = rg.lyapunov_spectrum(cell, jnp.ones((50, 1)), jnp.zeros(3))
    >>> [round(float(v), 6) for v in spectrum.exponents]
    [-0.693147, -0.693147, -0.693147]
    """
    params, flat, s0, length = _flatten_problem(cell, xs, carry0)
    size = s0.shape[0]
    if n is None:
        n = size
    n = check_int("n", n, minimum=None)
    if not 1 <= n <= size:
        raise ValueError(f"`n` must lie in [1, S = {size}] (the state size), got {n}.")
    warmup = check_int("warmup", warmup, minimum=None)
    check_bool("state_gradient", state_gradient)
    if not 0 <= warmup < length:
        raise ValueError(f"`warmup` must lie in [0, T = {length}), got {warmup}.")

    def step(carry, inp):
        s, frame, total = carry
        x, t = inp
        if not state_gradient:
            s = jax.lax.stop_gradient(s)
        new, jvp_fn = jax.linearize(lambda s_: flat(params, x, s_), s)
        pushed = jax.vmap(jvp_fn, in_axes=1, out_axes=1)(frame)
        q, r = jnp.linalg.qr(pushed)
        diag = jnp.diagonal(r)
        # Fix signs so Q varies continuously; log |R_ii| is unchanged.
        sign = jnp.where(diag < 0, -1.0, 1.0).astype(q.dtype)
        q = q * sign[None, :]
        total = total + jnp.where(t >= warmup, jnp.log(jnp.abs(diag)), 0.0)
        return (new, q, total), None

    frame0 = jnp.eye(size, n, dtype=s0.dtype)
    init = (s0, frame0, jnp.zeros((n,), s0.dtype))
    (_, _, total), _ = jax.lax.scan(step, init, (xs, jnp.arange(length)))
    exponents = jnp.sort(total / (length - warmup))[::-1]
    return warn_if_flagged(LyapunovSpectrum(exponents), "lyapunov_spectrum")


class ProductSpectra(eqx.Module):
    """Singular values of Jacobian products ``∂s_{T-1}/∂s_{T-1-d}``, d = 1..T, in log10.

    Attributes: ``log10_singular_values`` (T, S), row d-1 for lag d, descending;
    ``lags`` (T,) = 1..T.
    """

    log10_singular_values: Float[Array, "T S"]
    lags: Int[Array, " T"]

    @property
    def finite(self) -> Bool[Array, ""]:
        """False if a value is NaN or +inf (a non-finite parameter or state)."""
        logs = self.log10_singular_values
        return jnp.all(jnp.isfinite(logs) | jnp.isneginf(logs))

    @property
    def saturated(self) -> Bool[Array, ""]:
        """True if a singular value is exactly 0 (log ``-inf``): the product lost rank."""
        return jnp.any(jnp.isneginf(self.log10_singular_values))

    @property
    def singular_values(self) -> Float[Array, "T S"]:
        """The singular values themselves (may under/overflow where the logs do not)."""
        return jnp.power(10.0, self.log10_singular_values)


def jacobian_product_spectra(cell: Cell, xs: PyTree, carry0: PyTree) -> ProductSpectra:
    """Singular values of ``∂s_{T-1}/∂s_{T-1-d}`` as a function of the lag d.

    The dynamical-isometry view (Saxe et al. 2014; Pennington, Schoenholz & Ganguli
    2017): a network trains well when all singular values of the long products stay
    near 1. The product is accumulated backward with one ``vjp`` per step on all S rows
    and a running scalar normalisation, so the log10 values stay exact where the
    product under/overflows; singular values smaller than ``eps × largest`` (the
    dtype's precision) are limited by rounding.

    **Returns:** :class:`ProductSpectra` with (T, S) log10 singular values.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(1, 4, weight_hh_init=rg.init.orthogonal(0.5),
    ...                       nonlinearity="identity", key=jax.random.key(0))
    >>> spec = rg.jacobian_product_spectra(cell, jnp.ones((3, 1)), jnp.zeros(4))
    >>> [round(float(v), 6) for v in spec.log10_singular_values[:, 0]]
    [-0.30103, -0.60206, -0.90309]
    """
    params, flat, s0, length = _flatten_problem(cell, xs, carry0)
    _, prev = _forward_states(flat, params, xs, s0)
    size = s0.shape[0]

    def back(carry: tuple[Array, Array], inp: tuple[Array, Array]) -> tuple[Any, Array]:
        rows, log_scale = carry
        x, s = inp
        _, vjp_fn = jax.vjp(lambda s_: flat(params, x, s_), s)
        rows = jax.vmap(lambda r: vjp_fn(r)[0])(rows)
        peak = jnp.max(jnp.abs(rows))
        peak = jnp.where(peak > 0, peak, 1.0)
        rows = rows / peak
        log_scale = log_scale + jnp.log(peak)
        sv = jnp.linalg.svd(rows, compute_uv=False)
        log10_sv = (jnp.log(sv) + log_scale) / _LN10
        return (rows, log_scale), log10_sv

    init = (jnp.eye(size, dtype=s0.dtype), jnp.zeros((), s0.dtype))
    _, log10_sv = jax.lax.scan(back, init, (xs, prev), reverse=True)
    # scan(reverse) stacks by original index: entry k holds the product back to s_{k-1},
    # i.e. lag T-k. Reorder to lag 1..T.
    spectra = ProductSpectra(log10_sv[::-1], jnp.arange(1, length + 1))
    return warn_if_flagged(spectra, "jacobian_product_spectra")
