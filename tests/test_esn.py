"""Echo state networks and the Mackey-Glass series (float64 via conftest)."""

from collections import deque

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnngrad as rg
from rnngrad.cells._echo_state import _draw_base
from rnngrad.cells._reservoir import _arnoldi_radius
from rnngrad.esn import (
    EchoStateCell,
    echo_state_property,
    effective_spectral_radius,
    generate as esn_generate,
    memory_capacity,
    memory_curve,
    nrmse,
    predict as esn_predict,
    readout_apply,
    ridge_readout,
    states as esn_states,
)
from rnngrad.tasks import mackey_glass

RNG = np.random.default_rng  # test data from NumPy: the keys under test are the model's


def _radius(w):
    return float(np.max(np.abs(np.linalg.eigvals(np.asarray(w)))))


def _cell(input_size=1, hidden_size=20, **kwargs):
    options = dict(
        spectral_radius=0.95,
        leak_rate=0.3,
        input_scaling=0.7,
        connectivity=0.4,
        bias_scaling=0.2,
        key=jax.random.key(0),
    )
    options.update(kwargs)
    return EchoStateCell(input_size, hidden_size, **options)


# --- the cell -----------------------------------------------------------------------------


def test_cell_construction():
    cell = EchoStateCell(
        1,
        100,
        spectral_radius=1.3,
        leak_rate=0.25,
        input_scaling=0.5,
        connectivity=0.1,
        bias_scaling=0.2,
        key=jax.random.key(1),
    )
    assert cell.weight_hh.shape == (100, 100) and cell.weight_ih.shape == (100, 1)
    assert cell.weight_hh.dtype == jnp.float64 and cell.leak_rate.dtype == jnp.float64
    assert abs(_radius(cell.weight_hh) - 1.3) <= 1e-10
    density = float(jnp.mean(cell.weight_hh != 0))
    assert 0.08 <= density <= 0.12
    assert float(jnp.max(jnp.abs(cell.weight_ih))) <= 0.5
    assert float(jnp.max(jnp.abs(cell.weight_ih))) > 0.4
    assert 0.15 < float(jnp.max(jnp.abs(cell.bias))) <= 0.2
    assert float(cell.leak_rate) == 0.25
    # Same key, same reservoir; another key, another one.
    again = EchoStateCell(1, 100, spectral_radius=1.3, connectivity=0.1, key=jax.random.key(1))
    other = EchoStateCell(1, 100, spectral_radius=1.3, connectivity=0.1, key=jax.random.key(2))
    assert jnp.array_equal(again.weight_hh, cell.weight_hh)
    assert not jnp.array_equal(other.weight_hh, cell.weight_hh)
    # Hyperparameters are traced: new values reuse the compiled draw (no retracing).
    before = _draw_base._cache_size()
    for rho, leak in ((0.5, 0.1), (0.7, 0.9), (2.0, 1.0)):
        EchoStateCell(1, 100, spectral_radius=rho, leak_rate=leak, key=jax.random.key(3))
    assert _draw_base._cache_size() == before


def test_scale_recurrent_and_effective_radius():
    cell = _cell(leak_rate=1.0)
    scaled = rg.scale_recurrent(cell, 2.0)
    assert isinstance(scaled, EchoStateCell)
    np.testing.assert_allclose(scaled.weight_hh, 2.0 * cell.weight_hh, rtol=0, atol=0)
    assert abs(float(effective_spectral_radius(scaled)) - 1.9) <= 1e-10
    radii = jax.vmap(lambda s: effective_spectral_radius(rg.scale_recurrent(cell, s)))(
        jnp.array([0.5, 1.0, 3.0])
    )
    np.testing.assert_allclose(radii, 0.95 * np.array([0.5, 1.0, 3.0]), rtol=1e-10)
    leaky = _cell(leak_rate=0.4, spectral_radius=3.0)
    w, a = np.asarray(leaky.weight_hh), 0.4
    expected = _radius((1 - a) * np.eye(w.shape[0]) + a * w)
    assert abs(float(effective_spectral_radius(leaky)) - expected) <= 1e-10
    assert expected < 3.0


def test_row_sparse_storage_equals_dense():
    """The row-sparse (ELL) base gives the dense path's W_rec and states (float64)."""
    options = dict(spectral_radius=0.95, leak_rate=0.3, connectivity=0.1, key=jax.random.key(4))
    auto = EchoStateCell(1, 160, **options)
    dense = EchoStateCell(1, 160, storage="dense", **options)
    assert type(auto.reservoir).__name__ == "RowSparse"
    assert type(dense.reservoir).__name__ == "Dense"
    width = auto.reservoir.values.shape[1]
    assert width % 16 == 0 and width <= 160 // 4
    assert np.max(np.abs(np.asarray(auto.weight_hh - dense.weight_hh))) <= 1e-15
    assert abs(_radius(auto.weight_hh) - 0.95) <= 1e-10
    u = jnp.asarray(RNG(13).uniform(-1.0, 1.0, (300, 1)))
    diff = jnp.max(jnp.abs(esn_states(auto, u) - esn_states(dense, u)))
    assert float(diff) <= 1e-12
    # A small or dense reservoir stays dense under "auto"; "sparse" forces the format.
    assert type(_cell().reservoir).__name__ == "Dense"
    forced = _cell(storage="sparse")
    assert type(forced.reservoir).__name__ == "RowSparse"
    assert np.max(np.abs(np.asarray(forced.weight_hh - _cell().weight_hh))) <= 1e-15
    # A traced key draws in-graph (dense, jnp.linalg.eigvals): the same reservoir.
    traced = jax.jit(lambda k: EchoStateCell(1, 160, **{**options, "key": k}))(options["key"])
    assert type(traced.reservoir).__name__ == "Dense"
    assert np.max(np.abs(np.asarray(traced.weight_hh - dense.weight_hh))) <= 1e-12
    with pytest.raises(ValueError, match="storage='sparse' needs a concrete `key`"):
        jax.jit(lambda k: EchoStateCell(1, 8, storage="sparse", key=k))(options["key"])
    with pytest.raises(ValueError, match="`storage` must be one of"):
        EchoStateCell(1, 8, storage="csr", key=options["key"])
    with pytest.raises(TypeError, match="`storage` must be one of"):
        EchoStateCell(1, 8, storage=None, key=options["key"])


@pytest.mark.optimized
@pytest.mark.parametrize("storage", ["auto", "dense"])
def test_arnoldi_spectral_radius_matches_dense_eigenvalues(storage):
    """N >= 512: the Arnoldi radius of the stored base agrees with numpy's eigvals to 1e-8."""
    for seed, connectivity in ((0, 0.05), (1, 0.02)):
        cell = EchoStateCell(
            1,
            512,
            spectral_radius=1.0,
            connectivity=connectivity,
            storage=storage,
            key=jax.random.key(seed),
        )
        assert abs(_radius(cell.weight_hh) - 1.0) <= 1e-8
        # The Arnoldi iteration itself converged (no dense fallback) on the normalised base.
        arnoldi = _arnoldi_radius(cell.reservoir, 512)
        assert arnoldi is not None and abs(arnoldi - 1.0) <= 1e-8
    # An Arnoldi run that stops early (the identity's Krylov space is one vector) falls back
    # to the dense eigenvalues.
    eye = EchoStateCell(
        1,
        512,
        spectral_radius=0.5,
        connectivity=1.0,
        storage="sparse",
        weight_hh_init=lambda k, shape, dtype: 3.0 * jnp.eye(shape[0], dtype=dtype),
        key=jax.random.key(0),
    )
    assert eye.reservoir.values.shape == (512, 16)
    np.testing.assert_allclose(np.diag(np.asarray(eye.weight_hh)), 0.5, rtol=1e-15)


def test_radius_grid_shares_the_base_and_equals_loop():
    """A vmap over spectral radius and leak keeps one unbatched base; it equals single cells."""
    key, u = jax.random.key(5), jnp.asarray(RNG(14).uniform(-1.0, 1.0, (120, 1)))

    def run(rho, leak):
        cell = EchoStateCell(1, 128, spectral_radius=rho, leak_rate=leak, key=key)
        assert type(cell.reservoir).__name__ == "RowSparse"
        assert not isinstance(cell.reservoir.values, jax.core.Tracer)  # shared, not batched
        return esn_states(cell, u)

    rhos, leaks = jnp.array([0.5, 0.9, 1.3]), jnp.array([1.0, 0.4, 0.7])
    got = jax.jit(jax.vmap(run))(rhos, leaks)
    for i in range(3):
        ref = run(float(rhos[i]), float(leaks[i]))
        assert float(jnp.max(jnp.abs(got[i] - ref))) <= 1e-12


# --- states, readout, prediction ----------------------------------------------------------


def test_states_match_numpy_loop():
    cell = _cell(input_size=2)
    rng = RNG(3)
    u = jnp.asarray(rng.standard_normal((60, 2)))
    h0 = jnp.asarray(rng.uniform(-1.0, 1.0, 20))
    got = esn_states(cell, u, h0, washout=7)
    w_hh, w_ih, b = (np.asarray(v) for v in (cell.weight_hh, cell.weight_ih, cell.bias))
    a, h, ref = 0.3, np.asarray(h0), []
    for x in np.asarray(u):
        h = (1 - a) * h + a * np.tanh(w_hh @ h + w_ih @ x + b)
        ref.append(h)
    ref = np.stack(ref)[7:]
    assert got.shape == (53, 20)
    assert np.max(np.abs(np.asarray(got) - ref)) <= 1e-12
    zero_start = esn_states(cell, u)
    first = a * np.tanh(w_ih @ np.asarray(u[0]) + b)  # from h0 = 0
    assert np.max(np.abs(np.asarray(zero_start[0]) - first)) <= 1e-15


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("one_d", [True, False])
def test_ridge_matches_lstsq_on_augmented_system(bias, one_d):
    rng = RNG(4)
    x = jnp.asarray(rng.standard_normal((80, 12)) + 3.0)  # a large mean: the bias matters
    y = jnp.asarray(rng.standard_normal((80, 3)))
    if one_d:
        y = y[:, 0]
    ridge = 0.37
    w = ridge_readout(x, y, ridge=ridge, bias=bias)
    xn, yn = np.asarray(x), np.asarray(y).reshape(80, -1)
    n = xn.shape[1]
    top = np.hstack([xn, np.ones((80, 1))]) if bias else xn
    reg = np.sqrt(ridge) * np.eye(n)
    bottom = np.hstack([reg, np.zeros((n, 1))]) if bias else reg  # bias not regularised
    a_aug = np.vstack([top, bottom])
    b_aug = np.vstack([yn, np.zeros((n, yn.shape[1]))])
    ref = np.linalg.lstsq(a_aug, b_aug, rcond=None)[0].T  # (out, N [+ 1])
    if one_d:
        ref = ref[0]
    assert w.shape == ref.shape == ((n + bias,) if one_d else (3, n + bias))
    assert np.max(np.abs(np.asarray(w) - ref)) <= 1e-8
    pred = readout_apply(w, x)
    assert pred.shape == y.shape
    assert np.max(np.abs(np.asarray(pred) - (top @ ref.T).reshape(y.shape))) <= 1e-8
    # A single state maps to a single output.
    assert readout_apply(w, x[0]).shape == (() if one_d else (3,))


def test_ridge_regularisation_shrinks_weights():
    rng = RNG(5)
    x = jnp.asarray(rng.standard_normal((80, 12)))
    y = jnp.asarray(rng.standard_normal(80))
    norms = [float(jnp.linalg.norm(ridge_readout(x, y, ridge=r)[:12])) for r in (0.0, 1.0, 1e3)]
    assert norms[0] > norms[1] > norms[2]
    # With a huge ridge, W -> 0 and the unregularised bias -> mean(y).
    w = ridge_readout(x, y, ridge=1e12)
    assert abs(float(w[-1]) - float(jnp.mean(y))) <= 1e-9


def test_generate_matches_numpy_loop():
    cell = _cell(leak_rate=0.5)
    rng = RNG(6)
    readout = jnp.asarray(0.3 * rng.standard_normal((1, 21)))
    h = jnp.asarray(rng.uniform(-1.0, 1.0, 20))
    x0 = jnp.array([0.2])
    ys = esn_generate(cell, readout, h, x0, 12)
    w_hh, w_ih, b, r = (np.asarray(v) for v in (cell.weight_hh, cell.weight_ih, cell.bias, readout))
    ref, hh, xx = [], np.asarray(h), np.asarray(x0)
    for _ in range(12):
        hh = 0.5 * hh + 0.5 * np.tanh(w_hh @ hh + w_ih @ xx + b)
        xx = r[:, :20] @ hh + r[:, 20]  # the output is the next input
        ref.append(xx)
    assert ys.shape == (12, 1)
    assert np.max(np.abs(np.asarray(ys) - np.stack(ref))) <= 1e-13
    ys_1d = esn_generate(cell, readout[0], h, x0, 12)
    assert np.max(np.abs(np.asarray(ys_1d) - np.asarray(ys))) <= 1e-13
    with pytest.raises(ValueError, match="`readout` must have 1 output"):
        esn_generate(cell, jnp.zeros((2, 21)), h, x0, 3)


def test_one_step_mackey_glass_100_units():
    """One-step-ahead prediction reaches reservoirpy's documented NRMSE 0.00785 (quick size)."""
    u = mackey_glass(1601) - 1.0
    cell = EchoStateCell(
        1, 100, spectral_radius=1.0, leak_rate=1.0, connectivity=0.1, key=jax.random.key(0)
    )
    states = esn_states(cell, u[:-1, None])
    train, washout = 1000, 100
    w = ridge_readout(states[washout:train], u[washout + 1 : train + 1], ridge=1e-8)
    pred = readout_apply(w, states[train:])
    score = float(nrmse(pred, u[train + 1 :]))
    assert score <= 0.00785
    # esn_predict is the same thing; the free-running prediction is far worse than
    # teacher forcing but stays bounded and informative for a few steps.
    same = esn_predict(cell, w, u[:-1, None], washout=train)
    assert np.max(np.abs(np.asarray(same) - np.asarray(pred))) <= 1e-12
    ys = esn_generate(cell, w[None], states[train - 2], u[train - 1 : train], 20)[:, 0]
    assert float(nrmse(ys, u[train : train + 20])) < 0.1


def test_vmap_over_radius_leak_ridge_equals_loop():
    u = mackey_glass(301) - 1.0
    key = jax.random.key(8)

    def score(rho, leak, ridge):
        cell = EchoStateCell(1, 20, spectral_radius=rho, leak_rate=leak, key=key)
        states = esn_states(cell, u[:-1, None])
        w = ridge_readout(states[50:200], u[51:201], ridge=ridge)
        error = nrmse(readout_apply(w, states[200:]), u[201:])
        return error, effective_spectral_radius(cell), states[-1]

    grid = [(r, a, lam) for r in (0.8, 1.2) for a in (0.3, 1.0) for lam in (1e-6, 1e-3)]
    rhos, leaks, ridges = (jnp.array(v) for v in zip(*grid))
    got = jax.jit(jax.vmap(score))(rhos, leaks, ridges)
    one = jax.jit(score)  # one compiled point, called in a Python loop
    for i, point in enumerate(grid):
        ref = one(*(jnp.asarray(v) for v in point))
        assert abs(float(got[0][i]) - float(ref[0])) <= 1e-8 * float(ref[0])
        assert abs(float(got[1][i]) - float(ref[1])) <= 1e-12
        assert float(jnp.max(jnp.abs(got[2][i] - ref[2]))) <= 1e-12
    np.testing.assert_allclose(got[1][2::4], [0.8, 1.2], rtol=1e-10)  # leak 1: radius = rho
    assert len(set(np.round(np.asarray(got[0]), 12))) == len(grid)  # every knob matters


# --- echo state property, memory capacity -------------------------------------------------


def test_echo_state_property_separates_radius_09_from_3():
    u = jnp.asarray(RNG(9).uniform(-0.5, 0.5, (300, 1)))
    good = EchoStateCell(1, 100, spectral_radius=0.9, input_scaling=0.5, key=jax.random.key(10))
    bad = EchoStateCell(1, 100, spectral_radius=3.0, input_scaling=0.5, key=jax.random.key(10))
    check = eqx.filter_jit(lambda c: echo_state_property(c, u, key=jax.random.key(11)))
    ok, ko = check(good), check(bad)
    assert ok.distances.shape == (300,)
    assert bool(ok.satisfied) and float(ok.final_distance) < 1e-8
    assert not bool(ko.satisfied) and float(ko.final_distance) > 0.5
    assert float(effective_spectral_radius(good)) < 1.0 < float(effective_spectral_radius(bad))


def test_memory_capacity_of_linear_reservoirs():
    n = 20
    common = dict(connectivity=1.0, nonlinearity="identity", key=jax.random.key(0))
    orth = EchoStateCell(
        1, n, spectral_radius=0.9, weight_hh_init=jax.nn.initializers.orthogonal(), **common
    )
    gauss = EchoStateCell(1, n, spectral_radius=0.9, **common)
    tanh = EchoStateCell(1, n, spectral_radius=0.9, connectivity=1.0, key=jax.random.key(0))
    options = dict(key=jax.random.key(12), k_max=3 * n, train_length=2000, test_length=1000)

    cells = {"orth": orth, "gauss": gauss, "tanh": tanh}
    curves = {name: memory_curve(c, **options) for name, c in cells.items()}
    for curve in curves.values():
        assert curve.shape == (3 * n,)
        assert float(curve.min()) >= 0.0 and float(curve.max()) <= 1.0
    totals = {name: float(jnp.sum(curve)) for name, curve in curves.items()}
    assert n - 1.5 <= totals["orth"] <= n  # MC_0 ≈ 1 is not counted: about N − 1
    assert totals["gauss"] <= n
    assert totals["tanh"] < totals["orth"]
    assert float(curves["orth"][0]) > 0.95  # u_{t-1} is remembered
    assert abs(float(memory_capacity(orth, **options)) - totals["orth"]) <= 1e-9


# --- Mackey-Glass -------------------------------------------------------------------------


def _mackey_glass_numpy(n_samples, tau=17, a=0.2, b=0.1, n=10, x0=1.2, dt=1.0, sub=1, mid="linear"):
    d = round(tau / dt)
    history = deque([x0] * d, maxlen=d)  # x_{i-d} .. x_{i-1}

    def f(x, xd):
        return a * xd / (1 + xd**n) - b * x

    x, out = x0, []
    for i in range(n_samples * sub):
        if i % sub == 0:
            out.append(x)
        d0 = history[0]
        d1 = history[1] if d > 1 else x
        dm, d1 = (d0, d0) if mid == "hold" else ((d0 + d1) / 2, d1)
        k1 = f(x, d0)
        k2 = f(x + dt / 2 * k1, dm)
        k3 = f(x + dt / 2 * k2, dm)
        k4 = f(x + dt * k3, d1)
        history.append(x)
        x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return np.array(out)


@pytest.mark.parametrize(
    "options", [{}, {"midpoint": "hold"}, {"dt": 0.5, "subsample": 2}, {"tau": 2.0, "x0": 0.5}]
)
def test_mackey_glass_matches_numpy_reference(options):
    got = mackey_glass(300, **options)
    mid = options.get("midpoint", "linear")
    ref = _mackey_glass_numpy(
        300,
        tau=options.get("tau", 17.0),
        x0=options.get("x0", 1.2),
        dt=options.get("dt", 1.0),
        sub=options.get("subsample", 1),
        mid=mid,
    )
    assert np.max(np.abs(np.asarray(got) - ref)) <= 1e-12


def test_mackey_glass_bounded_and_chaotic():
    starts = jnp.array([1.2, 1.2 + 1e-8])
    xs = jax.jit(jax.vmap(lambda x0: mackey_glass(4000, x0=x0)))(starts)
    assert float(xs.min()) > 0.0 and float(xs.max()) < 1.5
    assert float(xs[0, 0]) == 1.2
    gap = jnp.abs(xs[0] - xs[1])
    assert float(gap[:200].max()) < 1e-6
    assert float(gap[-500:].max()) > 0.1  # 1e-8 grew by 7 orders (λ ≈ 0.005 per unit time)


@pytest.mark.parametrize(("midpoint", "order"), [("linear", 2), ("hold", 1)])
def test_mackey_glass_convergence_order(midpoint, order):
    """Halving dt divides the error by 2**order: RK4 is limited by the delayed midpoint value."""

    def solve(substeps):
        return mackey_glass(150, dt=1 / substeps, subsample=substeps, midpoint=midpoint)

    ref = solve(32)
    errors = [float(jnp.max(jnp.abs(solve(s) - ref))) for s in (1, 2, 4)]
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    np.testing.assert_allclose(ratios, 2.0**order, rtol=0.15)
    assert errors[0] < (4e-3 if order == 2 else 0.3)


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"spectral_radius": 0.0}, r"`spectral_radius` must be > 0, got 0\.0"),
        ({"spectral_radius": -1.0}, r"`spectral_radius` must be > 0, got -1\.0"),
        ({"spectral_radius": float("inf")}, r"`spectral_radius` must be finite, got inf"),
        ({"spectral_radius": float("nan")}, r"`spectral_radius` must be finite, got nan"),
        ({"leak_rate": 0.0}, r"`leak_rate` must lie in \(0\.0, 1\.0\], got 0\.0"),
        ({"leak_rate": 1.5}, r"`leak_rate` must be <= 1\.0, got 1\.5"),
        ({"leak_rate": -0.2}, r"`leak_rate` must lie in \(0\.0, 1\.0\], got -0\.2"),
        ({"connectivity": 0.0}, r"`connectivity` must lie in \(0\.0, 1\.0\], got 0\.0"),
        ({"connectivity": 1.5}, r"`connectivity` must be <= 1\.0, got 1\.5"),
        ({"bias_scaling": -1.0}, r"`bias_scaling` must be >= 0, got -1\.0"),
    ],
)
def test_bad_hyperparameters(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        EchoStateCell(1, 5, key=jax.random.key(0), **kwargs)


def test_bad_hyperparameter_types():
    with pytest.raises(TypeError, match="`spectral_radius` must be a real number"):
        EchoStateCell(1, 5, spectral_radius="1", key=jax.random.key(0))
    with pytest.raises(ValueError, match="`hidden_size` must be a positive int, got 0"):
        EchoStateCell(1, 0, key=jax.random.key(0))


def test_bad_washout():
    cell = _cell()
    u = jnp.ones((40, 1))
    for washout in (40, 41, -1):
        pattern = rf"`washout` must be an int in \[0, T\) = \[0, 40\).*got {washout}"
        with pytest.raises(ValueError, match=pattern):
            esn_states(cell, u, washout=washout)
    with pytest.raises(TypeError, match="`washout` must be an int"):
        esn_states(cell, u, washout=2.0)
    # Raised at trace time, inside jit too.
    with pytest.raises(ValueError, match="`washout`"):
        jax.jit(lambda v: esn_states(cell, v, washout=40))(u)
    with pytest.raises(ValueError, match=r"`washout` must be >= k_max = 10.*got 5"):
        memory_curve(cell, key=jax.random.key(0), k_max=10, washout=5)


def test_bad_ridge():
    x, y = jnp.ones((10, 3)), jnp.ones((10,))
    with pytest.raises(ValueError, match=r"`ridge` must be >= 0, got -1\.0"):
        ridge_readout(x, y, ridge=-1.0)
    with pytest.raises(ValueError, match=r"`ridge` must be finite, got inf"):
        ridge_readout(x, y, ridge=float("inf"))
    with pytest.raises(ValueError, match=r"`targets` must have the same length T as `states`"):
        ridge_readout(x, y[:5], ridge=1.0)
    with pytest.raises(ValueError, match=r"`readout` must have last dimension N = 3"):
        readout_apply(jnp.ones((1, 7)), x)


def test_nan_series_rejected():
    cell = _cell()
    u = jnp.ones((20, 1)).at[4, 0].set(jnp.nan)
    with pytest.raises(ValueError, match=r"`inputs` must not contain NaN, got 1 NaN.*\(4, 0\)"):
        esn_states(cell, u)
    x = jnp.ones((10, 3))
    with pytest.raises(ValueError, match="`targets` must not contain NaN"):
        ridge_readout(x, jnp.ones(10).at[2].set(jnp.nan), ridge=1.0)
    with pytest.raises(ValueError, match="`states` must not contain NaN"):
        ridge_readout(x.at[0, 0].set(jnp.nan), jnp.ones(10), ridge=1.0)
    with pytest.raises(ValueError, match="`target` must not contain NaN"):
        nrmse(jnp.ones(3), jnp.array([1.0, jnp.nan, 2.0]))
    # Traced values are not inspected: a NaN inside jit propagates instead.
    out = jax.jit(lambda v: esn_states(cell, v))(u)
    assert bool(jnp.isnan(out[-1]).all())


def test_nrmse_and_mackey_glass_errors():
    assert (
        abs(
            float(nrmse(jnp.array([1.0, 2.0, 3.0]), jnp.array([1.0, 2.0, 4.0])))
            - np.sqrt(1 / 3) / np.std([1.0, 2.0, 4.0])
        )
        <= 1e-15
    )
    with pytest.raises(ValueError, match="`prediction` must have the shape of `target`"):
        nrmse(jnp.ones(3), jnp.ones(4))
    with pytest.raises(ValueError, match=r"`tau` must be a positive multiple of `dt`.*dt=0\.3"):
        mackey_glass(10, dt=0.3)
    with pytest.raises(ValueError, match=r"`dt` must be > 0, got 0\.0"):
        mackey_glass(10, dt=0.0)
    with pytest.raises(ValueError, match="`midpoint` must be one of"):
        mackey_glass(10, midpoint="cubic")
    with pytest.raises(ValueError, match="input_size` must be 1"):
        memory_curve(_cell(input_size=2), key=jax.random.key(0))
