"""Lyapunov spectra of driven recurrent dynamics, by repeated QR (Benettin et al. 1980)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

from ._anatomy import _flatten_problem
from ._checks import describe


def lyapunov_spectrum(
    cell: Any,
    xs: PyTree,
    carry0: PyTree,
    n: int | None = None,
    *,
    warmup: int = 0,
    state_gradient: bool = True,
) -> Float[Array, " n"]:
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

    **Returns:** (n,) exponents per step, descending.

    **Raises:** ``ValueError`` for n outside [1, S] or warmup outside [0, T).

    Reference: G. Benettin, L. Galgani, A. Giorgilli & J.-M. Strelcyn, Meccanica 15
    (1980); R. Engelken, F. Wolf & L. F. Abbott, "Lyapunov spectra of chaotic recurrent
    neural networks", Phys. Rev. Research 5 (2023).

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(1, 3, weight_hh_init=rg.init.orthogonal(0.5),
    ...                       nonlinearity="identity", key=jax.random.key(0))
    >>> [round(float(v), 6) for v in rg.lyapunov_spectrum(cell, jnp.ones((50, 1)), jnp.zeros(3))]
    [-0.693147, -0.693147, -0.693147]
    """
    params, flat, s0, length = _flatten_problem(cell, xs, carry0)
    size = s0.shape[0]
    if n is None:
        n = size
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"`n` must be an int or None, got {describe(n)}.")
    if not 1 <= n <= size:
        raise ValueError(f"`n` must lie in [1, S = {size}] (the state size), got {n}.")
    if isinstance(warmup, bool) or not isinstance(warmup, int):
        raise TypeError(f"`warmup` must be an int, got {describe(warmup)}.")
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
    return jnp.sort(total / (length - warmup))[::-1]
