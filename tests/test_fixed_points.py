"""rg.fixed_points against closed forms: W = 2I tanh units, a linear cell, λ₁ = ln ρ(J*).

Float64 (conftest). x* of tanh(2x) = x comes from scipy's brentq; the linear cell's fixed
point from numpy's solve; the stable point's λ₁ from rg.lyapunov_spectrum on a trajectory
that falls into it from elsewhere.
"""

import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import optimize

import rnngrad as rg

X_STAR = optimize.brentq(lambda v: math.tanh(2 * v) - v, 0.5, 1.5, xtol=1e-15, rtol=1e-15)


def two_unit_cell():
    return rg.VanillaCell(
        1, 2, weight_hh_init=lambda k, s, d: 2 * jnp.eye(2, dtype=d), use_bias=False,
        key=jax.random.key(0),
    )  # fmt: skip


@pytest.fixture(scope="module")
def found():
    starts = jax.random.uniform(jax.random.key(1), (96, 2), minval=-1.5, maxval=1.5)
    return rg.fixed_points(two_unit_cell(), jnp.zeros(1), starts)


def test_two_tanh_units_with_w_2i(found):
    # Each unit is x = tanh(2x): x ∈ {-x*, 0, x*}, so nine points; J = diag(2(1 - x²)).
    expected = {tuple(p) for p in itertools.product((-X_STAR, 0.0, X_STAR), repeat=2)}
    points = np.asarray(found.points)
    assert len(points) == 9
    for p in expected:
        assert np.min(np.max(np.abs(points - np.asarray(p)), axis=1)) < 1e-12, p
    assert np.all(np.asarray(found.residual) < 1e-20) and not np.any(found.slow)
    assert int(found.counts.sum()) <= 96 and np.all(np.asarray(found.counts) >= 1)
    for p, eig, stable in zip(points, np.asarray(found.eigenvalues), np.asarray(found.stable)):
        want = np.sort(2 * (1 - p**2))[::-1]
        np.testing.assert_allclose(eig.real, want, rtol=1e-10, atol=1e-12)
        assert np.all(eig.imag == 0)
        # Stable exactly at the four corners (±x*, ±x*): 2(1 - x*²) < 1 < 2.
        assert stable == bool(np.all(np.abs(p) > 0.5))
    origin = int(np.argmin(np.linalg.norm(points, axis=1)))
    np.testing.assert_allclose(found.eigenvalues[origin].real, [2.0, 2.0], rtol=1e-12)
    assert not bool(found.stable[origin])
    assert 2 * (1 - X_STAR**2) < 1


def test_linear_cell_has_one_fixed_point_solving_the_linear_system():
    cell = rg.VanillaCell(3, 5, nonlinearity="identity", key=jax.random.key(2),
                          weight_hh_init=rg.init.orthogonal(0.8))  # fmt: skip
    cell = eqx.tree_at(lambda c: c.bias, cell, jax.random.normal(jax.random.key(3), (5,)))
    x = jnp.array([0.3, -1.0, 0.5])
    w, u, b = (np.asarray(a) for a in (cell.weight_hh, cell.weight_ih, cell.bias))
    star = np.linalg.solve(np.eye(5) - w, u @ np.asarray(x) + b)
    starts = 3.0 * jax.random.normal(jax.random.key(4), (16, 5))
    res = rg.fixed_points(cell, x, starts, steps=200)
    assert len(res.points) == 1 and int(res.counts[0]) == 16
    np.testing.assert_allclose(res.points[0], star, rtol=1e-12, atol=1e-13)
    eig = np.linalg.eigvals(w)
    np.testing.assert_allclose(np.sort(np.abs(res.eigenvalues[0])), np.sort(np.abs(eig)),
                               rtol=1e-12)  # fmt: skip
    assert float(res.spectral_radius[0]) == pytest.approx(0.8, rel=1e-12)
    assert bool(res.stable[0])


def test_lyapunov_exponent_at_a_stable_fixed_point_is_ln_rho():
    # An ordered random tanh network with a bias: from a random state it falls into a
    # stable fixed point; λ₁ of that trajectory (after a warm-up) is ln ρ(J*) there.
    cell = rg.theory.random_vanilla_network(
        "tanh", sigma_w=0.9, sigma_b=0.5, hidden_size=20, key=jax.random.key(5)
    )
    x = jnp.zeros(20)
    s0 = jax.random.normal(jax.random.key(6), (20,))
    xs = jnp.zeros((600, 20))
    lam = rg.lyapunov_spectrum(cell, xs, s0, 1, warmup=300).largest
    settled = rg.final_carry(cell, xs, s0)
    starts = settled[None] + 0.3 * jax.random.normal(jax.random.key(7), (8, 20))
    res = rg.fixed_points(cell, x, starts)
    stable = np.flatnonzero(np.asarray(res.stable))
    assert stable.size == 1
    point = res.points[stable[0]]
    assert float(jnp.max(jnp.abs(point - settled))) < 1e-8  # the trajectory's end
    assert float(lam) == pytest.approx(math.log(float(res.spectral_radius[stable[0]])), abs=1e-3)


def test_slow_points_are_kept_when_asked():
    # F(s) = s + a (s² + c) has no fixed point for c > 0 (the ghost of a saddle-node):
    # q = a² (s² + c)² / 2 is smallest, a²c²/2, at s = 0, the slow point. q is so flat there
    # that the descents stop up to 3e-3 apart: one point at unique_tolerance = 1e-2.
    class Ghost(rg.AbstractCell):
        def __call__(self, x, carry):
            return carry + 0.1 * (carry**2 + 1e-3)

        def init_carry(self):
            return jnp.zeros(1)

    starts = jnp.linspace(-0.5, 0.5, 11)[:, None]
    none = rg.fixed_points(Ghost(), jnp.zeros(1), starts, steps=2000)
    assert len(none.points) == 0 and np.all(np.asarray(none.final_residuals) > 4e-9)
    slow = rg.fixed_points(
        Ghost(), jnp.zeros(1), starts, steps=2000, slow_tolerance=1e-7, unique_tolerance=1e-2
    )
    assert len(slow.points) == 1 and bool(slow.slow[0]) and int(slow.counts[0]) == 11
    assert abs(float(slow.points[0, 0])) < 1e-3
    assert float(slow.residual[0]) == pytest.approx(0.5 * (0.1 * 1e-3) ** 2, rel=1e-3)


def test_custom_optimizer_and_float32():
    cell = two_unit_cell()
    starts = jnp.array([[0.8, 0.9], [-0.7, 1.0]])
    res = rg.fixed_points(cell, jnp.zeros(1), starts, optimizer=optax.sgd(0.1))
    np.testing.assert_allclose(np.abs(res.points), X_STAR, rtol=1e-12)
    cell32 = rg.VanillaCell(1, 2, weight_hh_init=lambda k, s, d: 2 * jnp.eye(2, dtype=d),
                            use_bias=False, dtype=jnp.float32, key=jax.random.key(0))  # fmt: skip
    res32 = rg.fixed_points(cell32, jnp.zeros(1, jnp.float32), starts, tolerance=1e-10)
    assert res32.points.dtype == jnp.float32 and res32.eigenvalues.dtype == jnp.complex64
    np.testing.assert_allclose(np.abs(res32.points), X_STAR, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(initial_states=jnp.zeros((4, 3))), ValueError, r"\(K, S\) with K >= 1 and S = 2"),
        (dict(initial_states=jnp.zeros(2)), ValueError, r"initial_states\[None\]"),
        (dict(initial_states=[[0.0, 0.0]]), TypeError, "jnp.asarray"),
        (dict(initial_states=jnp.zeros((4, 2), jnp.int32)), TypeError, "floating"),
        (dict(initial_states=jnp.full((1, 2), jnp.nan)), ValueError, "finite"),
        (dict(slow_tolerance=1e-30), ValueError, "`slow_tolerance`"),
        (dict(tolerance=-1.0), ValueError, "`tolerance`"),
        (dict(steps=-1), ValueError, "`steps`"),
        (dict(optimizer="adam"), TypeError, "`optimizer`"),
        (dict(x=jnp.zeros(3)), ValueError, "`x`"),
    ],
)  # fmt: skip
def test_bad_input(kwargs, error, match):
    args = {"x": jnp.zeros(1), "initial_states": jnp.zeros((4, 2)), **kwargs}
    with pytest.raises(error, match=match):
        rg.fixed_points(two_unit_cell(), args.pop("x"), args.pop("initial_states"), **args)


def test_non_float_carry_is_refused():
    class Counter(rg.AbstractCell):
        def __call__(self, x, carry):
            return carry + 1

        def init_carry(self):
            return jnp.zeros(2, jnp.int32)

    with pytest.raises(TypeError, match="carry must be floating"):
        rg.fixed_points(Counter(), jnp.zeros(1), jnp.zeros((1, 2)))
