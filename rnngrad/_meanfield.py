"""Mean-field theory of random recurrent networks: ``q*``, ``χ₁``, the gradient rate.

For ``s_t = φ(a_t)``, ``a_t = W s_{t-1} + U x_t + b`` with ``W_ij ~ N(0, σ_w²/N)``,
``b_i ~ N(0, σ_b²)`` and an input term of variance ``σ_x²``, the pre-activations of a wide
network become Gaussian with variance q, which settles at the fixed point

    q* = σ_w² E[φ(√q* z)²] + σ_b² + σ_x²,        z ~ N(0, 1),

and a gradient's squared norm is multiplied by ``χ₁ = σ_w² E[φ'(√q* z)²]`` per step
(Molgedey, Schuchhardt & Schuster 1992; Poole et al. 2016; Schoenholz et al. 2017; Chen,
Pennington & Schoenholz 2018). No maintained JAX library computes these (the papers' own
code is TensorFlow/NumPy notebooks), hence this module.

Gaussian expectations use the midpoint rule on z ∈ [-10, 10] (the Gaussian tail beyond is
below 1e-22). For an integrand analytic in a strip around the real axis the rule converges
exponentially (tanh(√q z) has its poles at distance π/(2√q)); with no node at z = 0, the
symmetric grid also gives ReLU's kinked integrands exactly (half of a symmetric sum).
Measured against adaptive quadrature (scipy.integrate.quad, 1e-13): with 1000 nodes
E[tanh'(√q z)²] is within 3e-15 relative up to q = 100, where 301 Gauss-Hermite nodes are
off by 8e-5 at q = 10 and by 0.4 at q = 100. The default 2000 nodes: ≤ 1e-15 up to
q = 100, 2e-2 at q = 10⁴ (pass `nodes=4000` there: 9e-6).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from ._checks import Checked, check_int, describe, is_concrete
from .cells._vanilla import activation_of, check_nonlinearity

__all__ = [
    "MeanField",
    "MeanFieldComparison",
    "compare_meanfield",
    "critical_gain",
    "meanfield",
    "random_vanilla_network",
]

_Z_MAX = 10.0  # the quadrature's range in z; P(|z| > 10) = 1.5e-23
_NEWTON_STEPS = 80  # quadratic convergence; linear (halving) at a double root (the edge)
_BISECTION_STEPS = 80  # in log σ_w over the bracket: relative width 2^-80 · ln(range)
_TINY_Q = 1e-30  # the smallest variance the moments see (√ = 1e-15; float32-safe)
_PROBE = np.asarray([-2.5, -0.7, 0.0, 0.3, 1.9])  # where a callable φ is checked


class MeanField(eqx.Module):
    """The mean-field prediction for a random vanilla RNN; see :func:`meanfield`.

    Arrays of the broadcast shape of the sigmas:

    - `q_star`: the fixed point q* of the pre-activation variance (``inf`` where q grows
      without bound: a ReLU or linear network with ``σ_w² E[φ'²] ≥ 1`` and a drive).
    - `chi1`: ``χ₁ = σ_w² E[φ'(√q* z)²]``, the per-step factor of a gradient's squared norm
      (at ``q* = inf``: its limit, ``σ_w²/2`` for ReLU, ``σ_w²`` for the identity).
    - `rate`: ``½ ln χ₁``, the predicted per-step growth of ``ln ‖∂L/∂s_k‖`` (negative:
      vanishing), the counterpart of the measured rate and of λ₁.
    - `depth_scale`: ``ξ = -1/ln χ₁`` (Schoenholz et al. 2017): a squared gradient norm
      changes by a factor e every |ξ| steps; positive in the ordered phase, negative in
      the chaotic phase, ``inf`` at the edge of chaos ``χ₁ = 1``.
    - `converged`: whether the fixed-point solve met its tolerance (False where q* is
      ``inf``); a flag, since inside ``jit`` it cannot be raised.
    """

    q_star: Float[Array, "..."]
    chi1: Float[Array, "..."]
    rate: Float[Array, "..."]
    depth_scale: Float[Array, "..."]
    converged: Bool[Array, "..."]


def _nodes(n: int, dtype: Any) -> tuple[Array, Array]:
    """Midpoint nodes z_i on [-10, 10] and weights h·N(z_i), renormalised to sum 1."""
    h = 2.0 * _Z_MAX / n
    z = -_Z_MAX + (np.arange(n) + 0.5) * h
    w = np.exp(-0.5 * z * z)
    return jnp.asarray(z, dtype), jnp.asarray(w / w.sum(), dtype)


def check_phi(nonlinearity: Any) -> Callable[[Array], Array]:
    """φ as a function of arrays, after checking it is element-wise and differentiable."""
    check_nonlinearity(nonlinearity)
    phi = activation_of(nonlinearity)
    if isinstance(nonlinearity, str):
        return phi
    probe = jnp.asarray(_PROBE)
    try:
        together = jnp.asarray(phi(probe))
        apart = jnp.stack([jnp.asarray(phi(p)) for p in probe])
        slopes = jax.vmap(jax.grad(lambda a: phi(a)))(probe)
    except Exception as err:  # noqa: BLE001 - any failure of the user's function
        raise TypeError(
            f"`nonlinearity` must be an element-wise function of jax arrays that jax.grad can "
            f"differentiate (e.g. jnp.tanh); calling it raised {type(err).__name__}: {err}"
        ) from err
    if together.shape != probe.shape or not np.allclose(
        together, apart, rtol=1e-12, atol=0, equal_nan=True
    ):
        raise ValueError(
            "`nonlinearity` must act element-wise (φ(a)[i] = φ(a[i])), got a function whose "
            f"output on an array of shape {probe.shape} is {describe(together)} and differs "
            "from its values element by element."
        )
    if not (np.isfinite(np.asarray(together)).all() and np.isfinite(np.asarray(slopes)).all()):
        raise ValueError(
            "`nonlinearity` must be finite with a finite derivative; at the probe points "
            f"{_PROBE.tolist()} it gave φ = {np.asarray(together).tolist()}, φ' = "
            f"{np.asarray(slopes).tolist()}."
        )
    return phi


def _check_nodes(nodes: Any) -> int:
    nodes = check_int("nodes", nodes, minimum=100, why="fewer points are not accurate")
    if nodes % 2:
        raise ValueError(
            f"`nodes` must be even (a symmetric grid without a node at z = 0), got {nodes}."
        )
    return nodes


def _check_sigma(name: str, value: Any, dtype: Any) -> Array:
    if isinstance(value, (bool, str)) or value is None:
        raise TypeError(f"`{name}` must be a real number or array, got {describe(value)}.")
    arr = jnp.asarray(value)
    if not (jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)):
        raise TypeError(f"`{name}` must be real, got {describe(value)}.")
    if is_concrete(arr):
        a = np.asarray(arr, dtype=float)
        if not np.isfinite(a).all() or (a < 0).any():
            raise ValueError(
                f"`{name}` must be finite and >= 0 (a standard deviation), got "
                f"{a.tolist() if a.size <= 8 else describe(value)}."
            )
    return arr.astype(dtype)


def _moments(phi: Callable[[Array], Array], z: Array, w: Array) -> Callable[[Array], tuple]:
    """q -> (E[φ²], E[φ'²], d/dq E[φ²]) at the pre-activations √q z."""
    d1 = jax.vmap(jax.grad(lambda a: phi(a)))
    d2 = jax.vmap(jax.grad(jax.grad(lambda a: phi(a))))

    def at(q: Array) -> tuple[Array, Array, Array]:
        # q* = 0 (no drive, ordered phase) is the limit q -> 0+: evaluated at a tiny q, so
        # that ReLU's E[φ'²] is its limit 1/2 rather than φ'(0)² (jax: 0).
        u = jnp.sqrt(jnp.maximum(q, _TINY_Q)) * z
        f, f1, f2 = phi(u), d1(u), d2(u)
        # d/dq E[φ(√q z)²] = ½ E[(φ²)''(√q z)] = E[φ'² + φ φ''] (Price's theorem): finite
        # at q = 0, where the chain rule through √q is not.
        return jnp.sum(w * f * f), jnp.sum(w * f1 * f1), jnp.sum(w * (f1 * f1 + f * f2))

    return at


def _solve(phi, z, w, sigma_w, sigma_b, sigma_x):
    """One (σ_w, σ_b, σ_x): q* by safeguarded Newton from above, χ₁ there."""
    moments = _moments(phi, z, w)
    sw2 = sigma_w**2
    drive = sigma_b**2 + sigma_x**2

    def newton(_, q):
        m, _, dm = moments(q)
        g = sw2 * m + drive - q
        slope = sw2 * dm - 1.0
        # A non-negative slope means q grows without a fixed point above: keep iterating
        # the map itself (q -> σ_w² E[φ²] + drive), which then grows, and is flagged below.
        step = jnp.where(slope < 0, q - g / jnp.where(slope < 0, slope, -1.0), q + g)
        return jnp.maximum(step, 0.0)

    start = sw2 * moments(jnp.asarray(1.0 + drive, z.dtype))[0] + drive + 1.0
    q = jax.lax.fori_loop(0, _NEWTON_STEPS, newton, start)
    m, e1, _ = moments(q)
    residual = jnp.abs(sw2 * m + drive - q)
    tol = max(1e-9, 100 * float(jnp.finfo(z.dtype).eps))  # 1e-9 in float64, 1e-5 in float32
    converged = jnp.isfinite(q) & (residual <= tol * jnp.maximum(q, 1.0))
    # Without a finite fixed point: q* = inf and χ₁ its limit, E[φ'(√q z)²] at a huge q
    # (exact for positively homogeneous φ such as ReLU and the identity).
    _, e_inf, _ = moments(jnp.asarray(1e16, z.dtype))
    q_star = jnp.where(converged, jnp.where(q <= 10 * _TINY_Q, 0.0, q), jnp.inf)
    chi1 = sw2 * jnp.where(converged, e1, e_inf)
    return q_star, chi1, converged


@functools.partial(jax.jit, static_argnums=(0, 1))
def _meanfield_grid(phi, nodes, sigma_w, sigma_b, sigma_x):
    """q*, χ₁ and the flag on a broadcast grid; one compile per (φ, nodes, shapes)."""
    z, w = _nodes(nodes, sigma_w.dtype)
    return jnp.vectorize(lambda a, b, c: _solve(phi, z, w, a, b, c))(sigma_w, sigma_b, sigma_x)


def meanfield(
    nonlinearity: Checked[str | Callable[[Array], Array]],
    *,
    sigma_w: Checked[ArrayLike],
    sigma_b: Checked[ArrayLike] = 0.0,
    sigma_x: Checked[ArrayLike] = 0.0,
    nodes: Checked[int] = 2000,
) -> MeanField:
    """The mean-field fixed point q*, χ₁, the gradient rate ½ ln χ₁ and the depth scale.

    For a vanilla RNN ``s_t = φ(W s_{t-1} + U x_t + b)`` with ``W_ij ~ N(0, σ_w²/N)``,
    ``b ~ N(0, σ_b²)`` and input drive ``U x_t`` of variance ``σ_x²`` per unit (for
    ``x ~ N(0, 1)`` and ``U_ij ~ N(0, σ_u²/n_in)``: ``σ_x = σ_u``), in the limit N → ∞:

        q* = σ_w² E[φ(√q* z)²] + σ_b² + σ_x²,      χ₁ = σ_w² E[φ'(√q* z)²],

    ``rate = ½ ln χ₁`` per step for ``ln ‖∂L/∂s_k‖`` and ``depth_scale = -1/ln χ₁``.
    The edge of chaos is χ₁ = 1 (:func:`critical_gain`). Finite networks differ: in the
    ordered phase the largest Lyapunov exponent is ``ln ρ(J*)`` at the network's fixed
    point, and the largest eigenvalue of a finite random W lies outside the circle of
    radius σ_w, so measured crossings sit slightly off the predicted σ_w.

    q* is found by Newton's method on ``q -> σ_w² E[φ(√q z)²] + drive - q`` from above
    (80 steps, safeguarded; derivative by Price's theorem), expectations by the midpoint
    rule with `nodes` points on z ∈ [-10, 10] (module docstring: accuracy). Closed forms:
    ReLU ``q* = (σ_b² + σ_x²)/(1 - σ_w²/2)``, ``χ₁ = σ_w²/2``; identity ``χ₁ = σ_w²``.

    Vectorised over the broadcast shape of the sigmas (one compiled call for a phase
    diagram), ``jax.vmap``-able and differentiable in them (through the Newton steps).

    **Arguments:**

    - `nonlinearity`: ``"tanh"``, ``"relu"``, ``"identity"`` or an element-wise callable
      of jax arrays (φ' and φ'' by ``jax.grad``).
    - `sigma_w`: σ_w >= 0 (the recurrent gain g); `sigma_b`, `sigma_x`: >= 0, default 0.
      Keyword only, any broadcastable shapes.
    - `nodes`: quadrature points (even int >= 100; default 2000).

    **Returns:** a :class:`MeanField` of arrays of the broadcast shape (float64 under
    ``jax_enable_x64``).

    **Raises:** ``ValueError`` for an unknown name, a negative or non-finite sigma (when
    concrete), shapes that do not broadcast, an odd or too small `nodes`, or a callable
    that is not element-wise or not finite; ``TypeError`` for a non-numeric sigma or a
    callable that jax cannot call or differentiate.

    References: B. Poole et al., "Exponential expressivity in deep neural networks through
    transient chaos", NeurIPS 2016; S. Schoenholz et al., "Deep information propagation",
    ICLR 2017; M. Chen, J. Pennington & S. Schoenholz, "Dynamical isometry and a mean field
    theory of RNNs", ICML 2018.

    >>> import rnngrad as rg
    >>> mf = rg.theory.meanfield("relu", sigma_w=1.0, sigma_b=0.5)
    >>> round(float(mf.q_star), 6), round(float(mf.chi1), 6)  # 0.25/(1 - 1/2), 1/2
    (0.5, 0.5)
    """
    phi = check_phi(nonlinearity)
    nodes = _check_nodes(nodes)
    dtype = jnp.zeros(()).dtype  # float64 under jax_enable_x64, else float32
    sigmas = [
        _check_sigma(n, v, dtype)
        for n, v in (("sigma_w", sigma_w), ("sigma_b", sigma_b), ("sigma_x", sigma_x))
    ]
    try:
        shape = jnp.broadcast_shapes(*(s.shape for s in sigmas))
    except ValueError as err:
        raise ValueError(
            "`sigma_w`, `sigma_b` and `sigma_x` must broadcast together, got shapes "
            f"{[s.shape for s in sigmas]}."
        ) from err
    grid = (jnp.broadcast_to(s, shape) for s in sigmas)
    q_star, chi1, converged = _meanfield_grid(phi, nodes, *grid)
    log_chi = jnp.log(chi1)
    depth = jnp.where(log_chi == 0, jnp.inf, -1.0 / jnp.where(log_chi == 0, 1.0, log_chi))
    return MeanField(q_star, chi1, 0.5 * log_chi, depth, converged)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _critical_grid(phi, nodes, low, high, sigma_b, sigma_x):
    """Bisection in ln σ_w for each (σ_b, σ_x): the gain and whether the bracket holds it."""
    dtype = sigma_b.dtype
    z, w = _nodes(nodes, dtype)

    def chi_minus_one(log_sw, b, x):
        return _solve(phi, z, w, jnp.exp(log_sw), b, x)[1] - 1.0

    def one(b, x):
        lo, hi = jnp.log(jnp.asarray(low, dtype)), jnp.log(jnp.asarray(high, dtype))
        f_lo, f_hi = chi_minus_one(lo, b, x), chi_minus_one(hi, b, x)

        def halve(_, ends):
            a, c = ends
            mid = 0.5 * (a + c)
            below = chi_minus_one(mid, b, x) < 0
            return jnp.where(below, mid, a), jnp.where(below, c, mid)

        a, c = jax.lax.fori_loop(0, _BISECTION_STEPS, halve, (lo, hi))
        found = (f_lo < 0) & (f_hi >= 0)
        return jnp.where(found, jnp.exp(0.5 * (a + c)), jnp.nan), found

    return jnp.vectorize(one)(sigma_b, sigma_x)


def critical_gain(
    nonlinearity: Checked[str | Callable[[Array], Array]],
    *,
    sigma_b: Checked[ArrayLike] = 0.0,
    sigma_x: Checked[ArrayLike] = 0.0,
    bracket: Checked[tuple[float, float]] = (1e-2, 1e2),
    nodes: Checked[int] = 2000,
) -> Float[Array, "..."]:
    """The gain σ_w at the edge of chaos, where the mean-field χ₁ equals 1.

    Bisection in ``ln σ_w`` over `bracket` (80 halvings) on ``χ₁(σ_w) - 1`` of
    :func:`meanfield` (χ₁ increases with σ_w). Closed forms: ReLU ``√2``, identity ``1``,
    tanh at ``σ_b = σ_x = 0``: ``1`` (then q* = 0 and χ₁ = σ_w²). A bias or an input
    drive moves tanh's edge above 1: the pre-activations spread out and E[φ'²] drops.

    **Arguments:** `nonlinearity` as :func:`meanfield`; `sigma_b`, `sigma_x` (>= 0,
    keyword only, broadcastable: the critical line of a phase diagram in one call);
    `bracket`: ``(low, high)``, 0 < low < high, where χ₁ - 1 changes sign; `nodes` as
    :func:`meanfield`.

    **Returns:** σ_w, of the broadcast shape of `sigma_b` and `sigma_x`. Under ``jit``
    (values unknown when traced) a point without a crossing in `bracket` gives NaN.

    **Raises:** ``ValueError`` when (concretely) χ₁ - 1 does not change sign over
    `bracket` for some point ("no critical gain in range": widen the bracket), for a bad
    `bracket`, and as :func:`meanfield`.

    Reference: S. Schoenholz et al., "Deep information propagation", ICLR 2017, section 3.

    >>> import rnngrad as rg
    >>> round(float(rg.theory.critical_gain("relu")), 6)  # χ₁ = σ_w²/2
    1.414214
    """
    phi = check_phi(nonlinearity)
    if (
        not isinstance(bracket, tuple)
        or len(bracket) != 2
        or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bracket)
    ):
        raise TypeError(
            f"`bracket` must be a tuple (low, high) of numbers, got {describe(bracket)}."
        )
    low, high = (float(b) for b in bracket)
    if not (0 < low < high and math.isfinite(high)):
        raise ValueError(f"`bracket` must satisfy 0 < low < high < inf, got {bracket}.")
    nodes = _check_nodes(nodes)
    dtype = jnp.zeros(()).dtype  # float64 under jax_enable_x64, else float32
    sb = _check_sigma("sigma_b", sigma_b, dtype)
    sx = _check_sigma("sigma_x", sigma_x, dtype)
    try:
        shape = jnp.broadcast_shapes(sb.shape, sx.shape)
    except ValueError as err:
        raise ValueError(
            f"`sigma_b` and `sigma_x` must broadcast together, got shapes {sb.shape} and "
            f"{sx.shape}."
        ) from err
    sb, sx = jnp.broadcast_to(sb, shape), jnp.broadcast_to(sx, shape)
    gain, found = _critical_grid(phi, nodes, low, high, sb, sx)
    if is_concrete(found) and not bool(np.all(np.asarray(found))):
        raise ValueError(
            f"critical_gain: no critical gain in range: χ₁ - 1 does not change sign for "
            f"σ_w in `bracket` = {bracket} at {int(np.sum(~np.asarray(found)))} of "
            f"{np.asarray(found).size} (sigma_b, sigma_x) points; widen `bracket`, or the "
            "nonlinearity has no edge of chaos (e.g. χ₁ < 1 at every gain)."
        )
    return gain


# --------------------------------------------------------------------------- measured


class MeanFieldComparison(eqx.Module):
    """A random network's measured gradient rate and λ₁ next to the mean-field prediction.

    Scalars (arrays of the sigmas' broadcast shape under ``jax.vmap``); natural log per step:

    - `predicted_rate`: ``½ ln χ₁`` of :func:`meanfield`.
    - `gradient_rate`: the least-squares slope of ``ln ‖∂L/∂s_{T-d}‖`` on the lag d
      (``rg.growth_rate`` of the exact ``rg.final_step_profile``, lags after the warm-up),
      for ``L = c · s_T`` with a random unit vector c.
    - `lyapunov`: λ₁ (``rg.lyapunov_spectrum`` with one vector, after the warm-up).
    - `predicted_q`: q*; `measured_q`: the mean squared pre-activation over units and the
      steps after the warm-up.
    """

    predicted_rate: Float[Array, "..."]
    gradient_rate: Float[Array, "..."]
    lyapunov: Float[Array, "..."]
    predicted_q: Float[Array, "..."]
    measured_q: Float[Array, "..."]


def random_vanilla_network(
    nonlinearity: Checked[str | Callable[[Array], Array]],
    *,
    sigma_w: Checked[ArrayLike],
    sigma_b: Checked[ArrayLike] = 0.0,
    sigma_x: Checked[ArrayLike] = 0.0,
    hidden_size: Checked[int],
    key: Any,
):
    """The mean-field ensemble's network: an ``rg.VanillaCell(N, N)`` with ``W_ij ~ N(0,
    σ_w²/N)``, ``b_i ~ N(0, σ_b²)`` and input weights ``σ_x I`` (inputs ``x_t ~ N(0, I)``
    then add an independent drive of variance σ_x² to every unit). Traceable in the sigmas
    and the key (``jax.vmap`` over them)."""
    from .cells import VanillaCell

    k_w, k_b, k_cell = jax.random.split(key, 3)
    n = hidden_size

    def recurrent(_key: Any, shape: tuple, dtype: Any) -> Array:
        return (sigma_w / math.sqrt(n)) * jax.random.normal(k_w, shape, dtype)

    def inputs(_key: Any, shape: tuple, dtype: Any) -> Array:
        return sigma_x * jnp.eye(n, dtype=dtype)

    cell = VanillaCell(
        n, n, nonlinearity=nonlinearity, weight_hh_init=recurrent, weight_ih_init=inputs,
        key=k_cell,
    )  # fmt: skip
    bias = sigma_b * jax.random.normal(k_b, cell.bias.shape, cell.bias.dtype)
    return eqx.tree_at(lambda c: c.bias, cell, bias)


def compare_meanfield(
    nonlinearity: Checked[str | Callable[[Array], Array]],
    *,
    sigma_w: Checked[ArrayLike],
    sigma_b: Checked[ArrayLike] = 0.0,
    sigma_x: Checked[ArrayLike] = 0.0,
    hidden_size: Checked[int] = 1000,
    steps: Checked[int] = 600,
    warmup: Checked[int] = 200,
    key: Any,
) -> MeanFieldComparison:
    """Measure a random vanilla RNN's gradient rate and λ₁, next to the mean-field rate.

    Draws one network of :func:`random_vanilla_network` (N = `hidden_size`), runs it for
    `steps` steps from a random state (``s_0 ~ N(0, 1)`` per unit) on inputs ``x_t ~ N(0,
    I)`` (only felt through σ_x), and measures, after `warmup` steps: the exact gradient
    rate, λ₁ and the pre-activation variance (:class:`MeanFieldComparison`), beside
    ``½ ln χ₁`` and q* of :func:`meanfield`.

    What differs at finite N (so the measured values scatter around the prediction by a
    few hundredths at N = 1000): in the ordered phase with a bias the network settles at
    a fixed point s*, and then λ₁ = ln ρ(J*) with ``J* = diag φ'(a*) W``, the spectral
    radius of one finite matrix rather than the mean-field average; the largest
    eigenvalue of a finite random W lies outside the circle of radius σ_w (by
    O(N^-1/2)); and the rate is fitted over a finite window. The mean-field rate describes
    ``E‖g‖²``, λ₁ the typical ``ln ‖g‖``; they coincide as N → ∞.

    **Arguments:** `nonlinearity` as :func:`meanfield`; `sigma_w`, `sigma_b`, `sigma_x`:
    scalars >= 0 (``jax.vmap`` this function for a grid); `hidden_size` N; `steps` T and
    `warmup` (0 <= warmup <= T - 10); `key`: a ``jax.random`` key.

    **Returns:** a :class:`MeanFieldComparison` of scalars.

    **Raises:** as :func:`meanfield`; ``ValueError``/``TypeError`` for bad sizes, a
    `warmup` leaving fewer than 10 steps, non-scalar sigmas, or a bad key.

    Reference: M. Chen, J. Pennington & S. Schoenholz, "Dynamical isometry and a mean
    field theory of RNNs", ICML 2018; R. Engelken, F. Wolf & L. F. Abbott, Phys. Rev.
    Research 5 (2023) (Lyapunov spectra of random RNNs).

    >>> import jax, rnngrad as rg
    >>> cmp = rg.theory.compare_meanfield("tanh", sigma_w=0.5, hidden_size=50, steps=60,
    ...                                   warmup=20, key=jax.random.key(0))
    >>> round(float(cmp.predicted_rate), 4)  # ln 0.5: the origin is the fixed point
    -0.6931
    """
    from ._analysis import growth_rate
    from ._anatomy import final_step_profile
    from ._checks import check_key
    from ._dynamics import lyapunov_spectrum

    check_key("key", key, where="compare_meanfield")
    n = check_int("hidden_size", hidden_size, minimum=1)
    steps = check_int("steps", steps, minimum=10)
    warmup = check_int("warmup", warmup, minimum=0)
    if steps - warmup < 10:
        raise ValueError(
            f"`warmup` must leave at least 10 measured steps, got warmup = {warmup} of "
            f"steps = {steps}."
        )
    for name, value in (("sigma_w", sigma_w), ("sigma_b", sigma_b), ("sigma_x", sigma_x)):
        if jnp.ndim(value) != 0:
            raise ValueError(
                f"`{name}` must be a scalar here (jax.vmap compare_meanfield for a grid), "
                f"got {describe(value)}."
            )
    predicted = meanfield(nonlinearity, sigma_w=sigma_w, sigma_b=sigma_b, sigma_x=sigma_x)
    k_net, k_s0, k_x, k_c = jax.random.split(key, 4)
    cell = random_vanilla_network(
        nonlinearity, sigma_w=sigma_w, sigma_b=sigma_b, sigma_x=sigma_x, hidden_size=n,
        key=k_net,
    )  # fmt: skip
    dtype = cell.weight_hh.dtype
    s0 = jax.random.normal(k_s0, (n,), dtype)
    xs = jax.random.normal(k_x, (steps, n), dtype)
    readout = jax.random.normal(k_c, (n,), dtype)
    readout = readout / jnp.linalg.norm(readout)
    profile = final_step_profile(cell, xs, s0, lambda s: readout @ s)
    lags = profile.log_norms[::-1]  # lag d = 0..T-1 before the final state
    window = steps - warmup  # lags whose states are past the warm-up
    rate = growth_rate(lags[:window], start=window // 4)  # after the readout aligns
    lyap = lyapunov_spectrum(cell, xs, s0, 1, warmup=warmup).exponents[0]

    from ._unroll import unroll

    states = unroll(cell, xs, s0)
    before = jnp.concatenate([s0[None], states[:-1]])[warmup:]
    pre = before @ cell.weight_hh.T + xs[warmup:] @ cell.weight_ih.T + cell.bias
    return MeanFieldComparison(predicted.rate, rate, lyap, predicted.q_star, jnp.mean(pre**2))
