"""rg.theory.meanfield and rg.theory.critical_gain against closed forms and scipy quadrature.

ReLU and the identity have closed forms; tanh is checked against an independent solve:
scipy.integrate.quad (adaptive, 1e-13) for the Gaussian expectations and scipy.optimize
brentq for q*. Derivatives against the implicit function theorem with quad's moments.
Float64 throughout (conftest).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, optimize

import rnngrad as rg


def gauss(f, q):
    """E[f(√q z)], z ~ N(0, 1), by adaptive quadrature on each half line."""

    def g(z):
        return f(math.sqrt(q) * z) * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    opts = dict(epsabs=0.0, epsrel=1e-13, limit=500)
    return integrate.quad(g, -np.inf, 0.0, **opts)[0] + integrate.quad(g, 0.0, np.inf, **opts)[0]


def tanh2(u):
    return math.tanh(u) ** 2


def dtanh2(u):
    return (1.0 - math.tanh(u) ** 2) ** 2


def dq_tanh(u):  # φ'² + φ φ'' for tanh: d/dq E[φ²] by Price's theorem
    t = math.tanh(u)
    return (1 - t * t) ** 2 - 2 * t * t * (1 - t * t)


def scipy_tanh(sw, sb, sx=0.0):
    """q*, χ₁ of a tanh network by brentq on the quad map (the largest root)."""
    drive = sb**2 + sx**2

    def g(q):
        return sw**2 * gauss(tanh2, q) + drive - q

    if drive == 0 and sw <= 1:
        q = 0.0
    else:
        q = optimize.brentq(g, 1e-12, sw**2 + drive + 1.0, xtol=1e-15, rtol=1e-15)
    return q, sw**2 * gauss(dtanh2, q) if q > 0 else sw**2


TANH_POINTS = [(0.5, 0, 0), (0.9, 0.3, 0), (1.2, 0, 0), (1.5, 0.3, 0.5), (2, 0.1, 0), (3, 0, 1)]


@pytest.mark.parametrize("sw, sb, sx", TANH_POINTS)
def test_tanh_against_scipy(sw, sb, sx):
    mf = rg.theory.meanfield("tanh", sigma_w=sw, sigma_b=sb, sigma_x=sx)
    q, chi = scipy_tanh(sw, sb, sx)
    assert bool(mf.converged)
    assert float(mf.q_star) == pytest.approx(q, rel=1e-9, abs=1e-12)
    assert float(mf.chi1) == pytest.approx(chi, rel=1e-9)
    assert float(mf.rate) == pytest.approx(0.5 * math.log(chi), rel=1e-9, abs=1e-12)
    assert float(mf.depth_scale) == pytest.approx(-1.0 / math.log(chi), rel=1e-9)


def test_quadrature_at_large_variance():
    # σ_b = 3 puts q* near 10, where 301 Gauss-Hermite nodes are off by 1e-4 (module doc).
    mf = rg.theory.meanfield("tanh", sigma_w=1.0, sigma_b=3.0)
    q, chi = scipy_tanh(1.0, 3.0)
    assert 9.5 < q < 10.5
    assert float(mf.q_star) == pytest.approx(q, rel=1e-10)
    assert float(mf.chi1) == pytest.approx(chi, rel=1e-9)


@pytest.mark.parametrize("sw", [0.3, 0.9, 1.2, 1.4])
@pytest.mark.parametrize("sb, sx", [(0.0, 0.0), (0.5, 0.0), (0.2, 0.7)])
def test_relu_closed_form(sw, sb, sx):
    mf = rg.theory.meanfield("relu", sigma_w=sw, sigma_b=sb, sigma_x=sx)
    q = (sb**2 + sx**2) / (1 - sw**2 / 2)
    assert float(mf.q_star) == pytest.approx(q, rel=1e-12, abs=1e-25)
    assert float(mf.chi1) == pytest.approx(sw**2 / 2, rel=1e-12)
    assert bool(mf.converged)


def test_unbounded_variance_is_flagged():
    # ReLU above √2 and the identity above 1 with a drive: q grows without bound.
    mf = rg.theory.meanfield("relu", sigma_w=jnp.array([1.5, 2.0]), sigma_b=0.3)
    assert np.all(np.isinf(mf.q_star)) and not np.any(mf.converged)
    np.testing.assert_allclose(mf.chi1, [1.125, 2.0], rtol=1e-12)  # the limit σ_w²/2
    ident = rg.theory.meanfield("identity", sigma_w=jnp.array([0.5, 0.8, 1.5]), sigma_x=1.0)
    np.testing.assert_allclose(ident.chi1, [0.25, 0.64, 2.25], rtol=1e-12)
    np.testing.assert_allclose(ident.q_star[:2], [1 / 0.75, 1 / 0.36], rtol=1e-12)
    assert np.isinf(ident.q_star[2]) and list(np.asarray(ident.converged)) == [True, True, False]


def test_vectorised_jit_vmap_and_callable():
    sw = jnp.linspace(0.5, 2.5, 5)[:, None]
    sb = jnp.array([0.0, 0.4])[None, :]
    grid = rg.theory.meanfield("tanh", sigma_w=sw, sigma_b=sb)
    assert grid.chi1.shape == (5, 2) and grid.chi1.dtype == jnp.float64
    one = rg.theory.meanfield("tanh", sigma_w=sw[3, 0], sigma_b=sb[0, 1])
    assert float(grid.chi1[3, 1]) == pytest.approx(float(one.chi1), rel=1e-13)
    vmapped = jax.vmap(lambda s: rg.theory.meanfield("tanh", sigma_w=s, sigma_b=0.4).rate)
    np.testing.assert_allclose(vmapped(sw[:, 0]), grid.rate[:, 1], rtol=1e-13)
    jitted = jax.jit(lambda s: rg.theory.meanfield("tanh", sigma_w=s).chi1)
    assert float(jitted(2.0)) == pytest.approx(float(grid.chi1[3, 0]), rel=1e-13)
    # A callable φ: jnp.tanh by another name gives the same numbers.
    mine = rg.theory.meanfield(lambda a: jnp.tanh(a), sigma_w=sw, sigma_b=sb)
    np.testing.assert_allclose(mine.chi1, grid.chi1, rtol=1e-13)
    # The rate crosses 0 at the edge: negative below σ_w = 1 (σ_b = 0), positive above.
    assert float(grid.rate[0, 0]) < 0 < float(grid.rate[2, 0])


def test_derivatives_match_the_implicit_function_theorem():
    sw, sb = 1.5, 0.3
    q, _ = scipy_tanh(sw, sb)
    dm = gauss(dq_tanh, q)  # d/dq E[φ(√q z)²]
    dq_dsb = 2 * sb / (1 - sw**2 * dm)
    dq_dsw = 2 * sw * gauss(tanh2, q) / (1 - sw**2 * dm)
    grad = jax.grad(lambda a, b: rg.theory.meanfield("tanh", sigma_w=a, sigma_b=b).q_star,
                    argnums=(0, 1))(sw, sb)  # fmt: skip
    assert float(grad[0]) == pytest.approx(dq_dsw, rel=1e-9)
    assert float(grad[1]) == pytest.approx(dq_dsb, rel=1e-9)
    # ReLU: q* = σ_b²/(1 - σ_w²/2) in closed form.
    g = jax.grad(lambda b: rg.theory.meanfield("relu", sigma_w=1.0, sigma_b=b).q_star)(0.5)
    assert float(g) == pytest.approx(2 * 0.5 / 0.5, rel=1e-12)


def test_critical_gain():
    assert float(rg.theory.critical_gain("relu")) == pytest.approx(math.sqrt(2), rel=1e-12)
    assert float(rg.theory.critical_gain("identity")) == pytest.approx(1.0, rel=1e-12)
    sb = jnp.array([0.0, 0.3, 1.0])
    gains = rg.theory.critical_gain("tanh", sigma_b=sb)
    # At σ_b = 0 the crossing is tangential: just above σ_w = 1, q* ≈ (1 - σ_w⁻²)/2 and
    # χ₁ = σ_w²(1 - 2q*) + O(q*²) = 1 + O((σ_w - 1)²), so float64 locates it to ~1e-8.
    assert gains.shape == (3,) and float(gains[0]) == pytest.approx(1.0, rel=1e-7)
    assert np.all(np.diff(np.asarray(gains)) > 0)  # a bias moves the edge to larger gains
    for g, b in zip(np.asarray(gains[1:]), np.asarray(sb[1:])):
        assert scipy_tanh(float(g), float(b))[1] == pytest.approx(1.0, rel=1e-9)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: rg.theory.meanfield("tanh", sigma_w=-1.0), ValueError, "`sigma_w` must be"),
        (lambda: rg.theory.meanfield("tanh", sigma_w=1.0, sigma_b=np.nan), ValueError, "`sigma_b`"),
        (lambda: rg.theory.meanfield("tanh", sigma_w="1"), TypeError, "`sigma_w`"),
        (lambda: rg.theory.meanfield("tanh", sigma_w=1.0, sigma_x=1j), TypeError, "`sigma_x`"),
        (lambda: rg.theory.meanfield("tanhh", sigma_w=1.0), ValueError, "`nonlinearity`"),
        (lambda: rg.theory.meanfield(3, sigma_w=1.0), TypeError, "`nonlinearity`"),
        (lambda: rg.theory.meanfield(lambda a: a - a.mean(), sigma_w=1.0), ValueError,
         "element-wise"),
        (lambda: rg.theory.meanfield(lambda a: np.tanh(np.asarray(a)), sigma_w=1.0), TypeError,
         "differentiate"),
        (lambda: rg.theory.meanfield(jnp.log, sigma_w=1.0), ValueError, "finite"),
        (lambda: rg.theory.meanfield("tanh", sigma_w=1.0, nodes=1001), ValueError, "`nodes`"),
        (lambda: rg.theory.meanfield("tanh", sigma_w=1.0, nodes=10), ValueError, "`nodes`"),
        (lambda: rg.theory.meanfield("tanh", sigma_w=jnp.ones(2), sigma_b=jnp.ones(3)),
         ValueError, "broadcast"),
        (lambda: rg.theory.critical_gain("tanh", bracket=(0.1, 0.5)), ValueError,
         "no critical gain in range"),
        (lambda: rg.theory.critical_gain("tanh", bracket=(2.0, 1.0)), ValueError, "`bracket`"),
        (lambda: rg.theory.critical_gain("tanh", bracket=[0.1, 2.0]), TypeError, "`bracket`"),
        (lambda: rg.theory.critical_gain("tanh", sigma_b=-0.1), ValueError, "`sigma_b`"),
    ],
)  # fmt: skip
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.optimized
def test_measured_rates_match_the_prediction_at_n_1000():
    # The grid: N = 1000, σ_w ∈ {0.5, 0.8, 1.2, 1.5, 2, 3}, σ_b ∈ {0, 0.3}; one
    # compiled, vmapped call over the 12 networks.
    sw = jnp.tile(jnp.array([0.5, 0.8, 1.2, 1.5, 2.0, 3.0]), 2)
    sb = jnp.repeat(jnp.array([0.0, 0.3]), 6)
    keys = jax.random.split(jax.random.key(1), 12)

    def one(a, b, k):
        return rg.theory.compare_meanfield("tanh", sigma_w=a, sigma_b=b, key=k)

    cmp = jax.jit(jax.vmap(one))(sw, sb, keys)
    predicted = np.array([rg.theory.meanfield("tanh", sigma_w=a, sigma_b=b).rate
                          for a, b in zip(np.asarray(sw), np.asarray(sb))])  # fmt: skip
    np.testing.assert_allclose(cmp.predicted_rate, predicted, rtol=1e-12)
    assert np.max(np.abs(np.asarray(cmp.gradient_rate) - predicted)) < 0.05
    assert np.max(np.abs(np.asarray(cmp.lyapunov) - predicted)) < 0.05
    # The sign flips between σ_w = 0.8 and 1.2 without a bias, measured and predicted.
    for rates in (cmp.gradient_rate, cmp.lyapunov, cmp.predicted_rate):
        assert float(rates[1]) < 0 < float(rates[2])
    # The pre-activation variance settles near q*: within 15 % where q* > 0.1 (the worst,
    # 13 %, at σ_w = 1.2 near the edge, where q* is small and moves fastest with σ_w).
    big = np.asarray(cmp.predicted_q) > 0.1
    np.testing.assert_allclose(np.asarray(cmp.measured_q)[big], np.asarray(cmp.predicted_q)[big],
                               rtol=0.15)  # fmt: skip


def test_random_network_is_the_meanfield_ensemble():
    cell = rg.theory.random_vanilla_network(
        "tanh", sigma_w=1.5, sigma_b=0.3, sigma_x=0.7, hidden_size=400, key=jax.random.key(2)
    )
    w = np.asarray(cell.weight_hh)
    assert w.shape == (400, 400) and abs(w.std() * math.sqrt(400) / 1.5 - 1) < 0.01
    np.testing.assert_array_equal(np.asarray(cell.weight_ih), 0.7 * np.eye(400))
    assert abs(float(np.std(cell.bias)) / 0.3 - 1) < 0.15


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(sigma_w=jnp.ones(2)), ValueError, "`sigma_w` must be a scalar"),
        (dict(sigma_w=1.0, steps=50, warmup=45), ValueError, "`warmup`"),
        (dict(sigma_w=1.0, hidden_size=0), ValueError, "`hidden_size`"),
        (dict(sigma_w=-1.0), ValueError, "`sigma_w`"),
    ],
)
def test_compare_meanfield_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        rg.theory.compare_meanfield("tanh", key=jax.random.key(0), **kwargs)
    with pytest.raises(TypeError, match="`key`"):
        rg.theory.compare_meanfield("tanh", sigma_w=1.0, key=0)
