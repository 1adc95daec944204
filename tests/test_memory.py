"""The curse of memory: closed forms against independent sums, and against measured derivatives.

Oracles: exact rational double sums (``fractions``) for short sequences, NumPy lag sums for
long ones, and ``jax`` derivatives of an unrolled linear cell (exactly, and in expectation
by Monte Carlo over AR(1) inputs).
"""

from __future__ import annotations

from fractions import Fraction

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnngrad as rg
from rnngrad.theory import curse_of_memory, measured_sensitivity


def _exact_double_sums(lam: float, rho: float, length: int) -> tuple[float, float]:
    """``Σ_{k,l<T} a_k a_l ρ^|k-l|`` for a_k = λ^k and a_k = k λ^(k-1), in exact rationals."""
    lam_q, rho_q = Fraction(lam), Fraction(rho)
    h = [lam_q**k for k in range(length)]
    g = [k * lam_q ** (k - 1) if k else Fraction(0) for k in range(length)]
    rho_pow = [rho_q**d for d in range(length)]

    def quad(a: list[Fraction]) -> float:
        return float(
            sum(a[k] * a[j] * rho_pow[abs(k - j)] for k in range(length) for j in range(length))
        )

    return quad(h), quad(g)


def _numpy_lag_sums(lam: float, rho: float, length: int) -> tuple[float, float]:
    """The same double sums in NumPy float64, as ``Σ_k a_k² + 2 Σ_{d≥1} ρ^d Σ_k a_k a_{k+d}``."""
    k = np.arange(length, dtype=np.float64)
    h = lam**k
    g = k * lam ** np.maximum(k - 1, 0)
    rho_pow = rho ** np.arange(1, length)

    def quad(a: np.ndarray) -> float:
        lagged = np.correlate(a, a, mode="full")[length:]  # Σ_k a_k a_{k+d}, d = 1..T-1
        return float(a @ a + 2 * rho_pow @ lagged)

    return quad(h), quad(g)


def _linear_cell(lam: float) -> rg.VanillaCell:
    """``h_t = λ h_{t-1} + x_t`` as a 1-unit identity vanilla cell (weight_hh = [[λ]])."""
    return rg.VanillaCell(
        1,
        1,
        nonlinearity="identity",
        use_bias=False,
        weight_hh_init=lambda key, shape, dtype: jnp.full(shape, lam, dtype),
        weight_ih_init=lambda key, shape, dtype: jnp.ones(shape, dtype),
        key=jax.random.key(0),
    )


def _ar1_inputs(key: jax.Array, rho: float, n: int, length: int) -> jax.Array:
    """n stationary AR(1) sequences (n, T, 1): x_1 ~ N(0, 1), x_t = ρ x_{t-1} + √(1-ρ²) ε_t."""
    eps = jax.random.normal(key, (length, n))
    scale = np.sqrt(1.0 - rho**2)

    def step(x: jax.Array, e: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = rho * x + scale * e
        return x, x

    _, rest = jax.lax.scan(step, eps[0], eps[1:])
    xs = jnp.concatenate([eps[:1], rest], axis=0)  # (T, n)
    return xs.T[:, :, None]


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("lam", [-0.99, -0.6, 0.0, 0.3, 0.9, 0.99])
@pytest.mark.parametrize("rho", [-0.9, 0.0, 0.5, 0.95])
def test_stationary_matches_long_double_sums(lam: float, rho: float) -> None:
    # At T = 5000 and |λ| ≤ 0.99 the truncated tail is below 1e-15 of the sums.
    variance, sensitivity = curse_of_memory(lam, rho)
    want_variance, want_sensitivity = _numpy_lag_sums(lam, rho, 5000)
    np.testing.assert_allclose(float(variance), want_variance, rtol=1e-10)
    np.testing.assert_allclose(float(sensitivity), want_sensitivity, rtol=1e-10)


@pytest.mark.parametrize(
    "lam, rho",
    [
        (0.3, 0.0),
        (-0.9, 0.7),
        (0.99, -0.99),
        (0.5, 0.5),  # λ = ρ
        (-0.8, 0.8),
        (1.0, 0.4),  # |λ| ≥ 1: defined for a finite length
        (-1.0, 0.0),
        (1.3, 0.6),
        (2.0, 0.5),  # λρ = 1
        (0.7, 1.0),  # constant inputs
        (0.7, -1.0),
        (0.0, 0.3),
    ],
)
@pytest.mark.parametrize("length", [1, 2, 3, 8, 25])
def test_finite_length_matches_exact_double_sums(lam: float, rho: float, length: int) -> None:
    variance, sensitivity = curse_of_memory(lam, rho, length=length)
    want_variance, want_sensitivity = _exact_double_sums(lam, rho, length)
    np.testing.assert_allclose(float(variance), want_variance, rtol=1e-12)
    np.testing.assert_allclose(float(sensitivity), want_sensitivity, rtol=1e-12, atol=0.0)


def test_white_noise_special_case_and_broadcasting() -> None:
    lam = jnp.linspace(-0.995, 0.995, 41)[:, None]
    result = curse_of_memory(lam, jnp.zeros(3))
    assert isinstance(result, rg.theory.MemoryMoments)
    assert result.variance.shape == result.sensitivity.shape == (41, 3)
    assert result.variance.dtype == jnp.float64
    one_minus_sq = 1 - lam**2
    np.testing.assert_allclose(result.variance, np.broadcast_to(1 / one_minus_sq, (41, 3)), 1e-13)
    np.testing.assert_allclose(
        result.sensitivity, np.broadcast_to((1 + lam**2) / one_minus_sq**3, (41, 3)), rtol=1e-13
    )


def test_long_finite_length_reaches_the_stationary_values_quickly() -> None:
    lam = jnp.asarray([-0.99, 0.5, 0.9, 0.999])[:, None]
    rho = jnp.asarray([-0.7, 0.0, 0.7])
    stationary = curse_of_memory(lam, rho)
    long = jax.jit(lambda a, b: curse_of_memory(a, b, length=100_000))(lam, rho)
    np.testing.assert_allclose(long.variance, stationary.variance, rtol=1e-12)
    np.testing.assert_allclose(long.sensitivity, stationary.sensitivity, rtol=1e-12)


@pytest.mark.parametrize("lam", [0.5 + 0.3j, -0.2 + 0.9j, 0.95j])
@pytest.mark.parametrize("rho", [0.0, 0.6, -0.8])
def test_complex_lambda(lam: complex, rho: float) -> None:
    def brute(length: int) -> tuple[float, float]:
        k = np.arange(length)
        h = lam**k
        g = np.where(k > 0, k * lam ** np.maximum(k - 1, 0), 0)
        corr = rho ** np.abs(k[:, None] - k[None, :])
        return float((h @ corr @ h.conj()).real), float((g @ corr @ g.conj()).real)

    short = curse_of_memory(lam, rho, length=12)
    np.testing.assert_allclose(np.asarray(short), brute(12), rtol=1e-12)
    stationary = curse_of_memory(lam, rho)
    assert stationary.variance.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(stationary), brute(3000), rtol=1e-10)


def test_complex_lambda_on_the_real_axis_is_the_real_case() -> None:
    lam, rho = jnp.asarray([-0.9, 0.2, 0.97]), jnp.asarray(0.6)
    for length in (None, 40):
        real = curse_of_memory(lam, rho, length=length)
        cplx = curse_of_memory(lam.astype(jnp.complex128), rho, length=length)
        np.testing.assert_allclose(np.asarray(cplx), np.asarray(real), rtol=1e-12)


@pytest.mark.parametrize("rho", [0.0, 0.5, -0.5])
def test_divergence_as_lambda_goes_to_one(rho: float) -> None:
    # The curse of memory: variance ~ (1 - λ)^-1, sensitivity ~ (1 - λ)^-3.
    gaps = jnp.asarray([1e-3, 1e-4, 1e-5, 1e-6])
    variance, sensitivity = curse_of_memory(1 - gaps, rho)
    log_gap = np.log(np.asarray(gaps))
    variance_slopes = np.diff(np.log(np.asarray(variance))) / np.diff(log_gap)
    sensitivity_slopes = np.diff(np.log(np.asarray(sensitivity))) / np.diff(log_gap)
    np.testing.assert_allclose(variance_slopes, -1.0, atol=2e-3)
    np.testing.assert_allclose(sensitivity_slopes, -3.0, atol=2e-3)
    ratio = np.log(np.asarray(sensitivity)[-1]) / np.log(np.asarray(variance)[-1])
    assert 2.5 < ratio < 3.5
    # The finite-length values stay finite at λ = 1 and grow polynomially in T.
    at_one = curse_of_memory(1.0, rho, length=1000)
    assert np.isfinite(float(at_one.sensitivity)) and float(at_one.sensitivity) > 1e8


def test_differentiable_vmappable_and_dtypes() -> None:
    # d/dλ 1/(1 - λ²) = 2λ/(1 - λ²)² at ρ = 0.
    lam = 0.8
    grad = jax.grad(lambda a: curse_of_memory(a, 0.0).variance)(lam)
    np.testing.assert_allclose(float(grad), 2 * lam / (1 - lam**2) ** 2, rtol=1e-13)
    stationary_grad = jax.grad(lambda a: curse_of_memory(a, 0.5).sensitivity)(0.9)
    long_grad = jax.grad(lambda a: curse_of_memory(a, 0.5, length=4000).sensitivity)(0.9)
    np.testing.assert_allclose(float(long_grad), float(stationary_grad), rtol=1e-12)
    rho_grad = jax.grad(lambda r: curse_of_memory(0.7, r, length=6).variance)(0.3)
    eps = 1e-6
    numeric = (
        float(curse_of_memory(0.7, 0.3 + eps, length=6).variance)
        - float(curse_of_memory(0.7, 0.3 - eps, length=6).variance)
    ) / (2 * eps)
    np.testing.assert_allclose(float(rho_grad), numeric, rtol=1e-8)

    lams, rhos = jnp.asarray([0.1, 0.5, 0.9]), jnp.asarray([0.0, 0.3, -0.6])
    vmapped = jax.vmap(lambda a, r: curse_of_memory(a, r, length=30))(lams, rhos)
    direct = curse_of_memory(lams, rhos, length=30)
    np.testing.assert_allclose(np.asarray(vmapped), np.asarray(direct), rtol=1e-14)

    single = curse_of_memory(jnp.float32(0.5), 0.3)
    assert single.variance.dtype == single.sensitivity.dtype == jnp.float32
    assert curse_of_memory(0.5, jnp.float32(0.3), length=4).variance.dtype == jnp.float32
    assert curse_of_memory(jnp.asarray([0, 0]), 0.5).variance.dtype == jnp.float64


# --------------------------------------------------------------------------- measured


def test_measured_sensitivity_is_the_exact_derivative() -> None:
    lam, length = 0.93, 40
    cell = _linear_cell(lam)
    xs = jax.random.normal(jax.random.key(1), (length, 1))
    result = measured_sensitivity(cell, xs, rg.init_carry(cell), select=lambda c: c.weight_hh)
    x = np.asarray(xs[:, 0])
    k = np.arange(length)
    h_final = np.sum(lam**k * x[::-1])  # Σ_k λ^k x_{T-k}
    dh = np.sum(k[1:] * lam ** (k[1:] - 1) * x[::-1][1:])  # Σ_k k λ^(k-1) x_{T-k}
    assert result.output.shape == (1,) and result.jacobian.shape == (1, 1, 1)
    np.testing.assert_allclose(float(result.output[0]), h_final, rtol=1e-12)
    np.testing.assert_allclose(float(result.jacobian[0, 0, 0]), dh, rtol=1e-10)
    np.testing.assert_allclose(float(result.total), dh**2, rtol=1e-10)
    np.testing.assert_allclose(float(result.squared_norms), dh**2, rtol=1e-10)

    # Default selection: every floating array; ∂h_T/∂W_ih = h_T / W_ih = h_T here.
    everything = measured_sensitivity(cell, xs, rg.init_carry(cell))
    np.testing.assert_allclose(float(everything.squared_norms.weight_hh), dh**2, rtol=1e-10)
    np.testing.assert_allclose(float(everything.squared_norms.weight_ih), h_final**2, rtol=1e-10)
    np.testing.assert_allclose(float(everything.total), dh**2 + h_final**2, rtol=1e-10)

    # A readout, e.g. a loss ½ h_T²: ∂L/∂λ = h_T ∂h_T/∂λ.
    loss = measured_sensitivity(
        cell,
        xs,
        rg.init_carry(cell),
        select=lambda c: c.weight_hh,
        readout=lambda h: 0.5 * jnp.sum(h**2),
    )
    assert loss.output.shape == () and loss.jacobian.shape == (1, 1)
    np.testing.assert_allclose(float(loss.jacobian[0, 0]), h_final * dh, rtol=1e-10)


def test_measured_sensitivity_works_for_any_cell_and_forward_mode() -> None:
    class Leaky(eqx.Module):
        lam: jax.Array
        weight: jax.Array

        def __call__(self, x: jax.Array, h: jax.Array) -> jax.Array:
            return self.lam * h + self.weight @ x

        def init_carry(self) -> jax.Array:
            return jnp.zeros(3)

    lam = jnp.asarray([0.9, -0.5, 0.99])
    cell = Leaky(lam, jnp.eye(3))
    xs = jax.random.normal(jax.random.key(2), (25, 3))
    result = measured_sensitivity(cell, xs, rg.init_carry(cell), select=lambda c: (c.lam, c.weight))
    k = np.arange(25)
    x_rev = np.asarray(xs)[::-1]  # x_{T-k}
    dh = (k[1:, None] * np.asarray(lam) ** (k[1:, None] - 1) * x_rev[1:]).sum(axis=0)
    np.testing.assert_allclose(np.asarray(result.jacobian[0]), np.diag(dh), rtol=1e-10)
    np.testing.assert_allclose(float(result.squared_norms[0]), np.sum(dh**2), rtol=1e-10)
    # One parameter, three outputs: forward mode; same numbers.
    scalar = Leaky(jnp.asarray(0.8), jnp.eye(3))
    forward = measured_sensitivity(scalar, xs, rg.init_carry(scalar), select=lambda c: c.lam)
    dh_scalar = (k[1:, None] * 0.8 ** (k[1:, None] - 1) * x_rev[1:]).sum(axis=0)
    assert forward.jacobian.shape == (3,)
    np.testing.assert_allclose(np.asarray(forward.jacobian), dh_scalar, rtol=1e-10)


@pytest.mark.parametrize("lam, rho", [(0.9, 0.6), (-0.8, 0.3), (0.95, 0.0)])
def test_monte_carlo_matches_the_finite_length_moments(lam: float, rho: float) -> None:
    n, length = 20_000, 30
    cell = _linear_cell(lam)
    xs = _ar1_inputs(jax.random.key(3), rho, n, length)
    carry0 = rg.init_carry(cell)
    measure = jax.jit(
        jax.vmap(lambda x: measured_sensitivity(cell, x, carry0, select=lambda c: c.weight_hh))
    )
    result = measure(xs)
    h_sq = np.asarray(result.output[:, 0]) ** 2
    g_sq = np.asarray(result.total)
    variance, sensitivity = curse_of_memory(lam, rho, length=length)
    for sample, want in ((h_sq, float(variance)), (g_sq, float(sensitivity))):
        error = abs(sample.mean() - want)
        standard_error = sample.std(ddof=1) / np.sqrt(n)
        assert error < 4 * standard_error, (sample.mean(), want, standard_error)


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "args, kwargs, error, name",
    [
        (("0.5", 0.0), {}, TypeError, "lam"),
        ((True, 0.0), {}, TypeError, "lam"),
        ((None, 0.0), {}, TypeError, "lam"),
        ((float("nan"), 0.0), {}, ValueError, "lam"),
        ((complex(float("nan"), 0.0), 0.0), {}, ValueError, "lam"),
        ((1.0, 0.0), {}, ValueError, "lam"),
        (([0.5, -1.2], 0.0), {}, ValueError, "lam"),
        ((0.5 + 0.9j, 0.0), {}, ValueError, "lam"),
        ((0.5, 1.5), {}, ValueError, "rho"),
        ((0.5, -1.01), {"length": 5}, ValueError, "rho"),
        ((0.5, 0.5j), {}, TypeError, "rho"),
        ((0.5, "x"), {}, TypeError, "rho"),
        ((0.5, float("nan")), {}, ValueError, "rho"),
        ((0.5, np.inf), {"length": 3}, ValueError, "rho"),
        ((0.5, 0.0), {"length": 0}, ValueError, "length"),
        ((0.5, 0.0), {"length": 2.0}, TypeError, "length"),
        ((0.5, 0.0), {"length": True}, TypeError, "length"),
        ((0.5, 0.0), {"length": "10"}, TypeError, "length"),
        ((jnp.zeros(3), jnp.zeros(2)), {}, ValueError, "lam"),
    ],
)
def test_bad_inputs_are_named(args: tuple, kwargs: dict, error: type, name: str) -> None:
    with pytest.raises(error, match=f"`{name}`"):
        curse_of_memory(*args, **kwargs)


def test_finite_length_allows_large_lambda_and_flags_overflow() -> None:
    variance, _ = curse_of_memory(1.5, 0.0, length=10)  # Σ_k 1.5^(2k)
    np.testing.assert_allclose(float(variance), (1.5**20 - 1) / (1.5**2 - 1), rtol=1e-13)
    with pytest.warns(rg.NumericalWarning, match="overflow"):
        curse_of_memory(2.0, 0.0, length=2000)
    # Traced values are not range-checked (no concrete value to check).
    traced = jax.jit(lambda a: curse_of_memory(a, 0.0).variance)(jnp.asarray(0.5))
    np.testing.assert_allclose(float(traced), 4 / 3, rtol=1e-14)


def test_measured_sensitivity_bad_inputs() -> None:
    cell = _linear_cell(0.5)
    xs, carry0 = jnp.ones((4, 1)), jnp.zeros(1)
    with pytest.raises(TypeError, match="`select`"):
        measured_sensitivity(cell, xs, carry0, select="weight_hh")
    with pytest.raises(TypeError, match="`select`.*AttributeError"):
        measured_sensitivity(cell, xs, carry0, select=lambda c: c.no_such_weight)
    with pytest.raises(ValueError, match="`select`"):
        measured_sensitivity(cell, xs, carry0, select=lambda c: jnp.ones((1, 1)))
    with pytest.raises(ValueError, match="`select`"):
        measured_sensitivity(cell, xs, carry0, select=lambda c: c.bias)
    with pytest.raises(TypeError, match="`select`"):
        measured_sensitivity(cell, xs, carry0, select=lambda c: c.hidden_size)
    with pytest.raises(TypeError, match="`readout`"):
        measured_sensitivity(cell, xs, carry0, readout=3)
    with pytest.raises(TypeError, match="`readout`"):
        measured_sensitivity(cell, xs, carry0, readout=lambda h: (h, h))
    with pytest.raises(ValueError, match="`xs`"):
        measured_sensitivity(cell, jnp.ones((4, 2)), carry0)
    with pytest.raises(ValueError, match="`carry0`"):
        measured_sensitivity(cell, xs, jnp.zeros(2))
