"""Gradient anatomy, each derivative checked against an independent method in float64."""

import warnings

import equinox as eqx
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings

import rnngrad as rg
from rnngrad import _oracle

T, H, IN = 7, 3, 2
XS = jax.random.normal(jax.random.key(10), (T, IN))
YS = jax.random.normal(jax.random.key(11), (T, H))


def mse(carry, y):
    h = carry[0] if isinstance(carry, tuple) else carry
    return 0.5 * jnp.sum((h - y) ** 2)


def make_cell(kind, scale=1.3):
    key = jax.random.key(1)
    if kind == "gru":
        return eqx.nn.GRUCell(IN, H, key=key)
    if kind == "lstm":
        return eqx.nn.LSTMCell(IN, H, key=key)
    cell = rg.VanillaCell(IN, H, nonlinearity=kind, key=key)
    cell = eqx.tree_at(lambda c: c.bias, cell, jnp.array([0.1, -0.2, 0.3]))
    return rg.scale_recurrent(cell, scale)


def carry0_of(cell):
    return jax.tree_util.tree_map(lambda z: z + 0.05, rg.init_carry(cell))


def python_loop_norms(cell, xs, carry0, ys):
    """Hand-unrolled BPTT, ∂L_t/∂s_k = g_t J_t J_{t-1} ... J_{k+1}, by the shared float64
    NumPy oracle (rnngrad._oracle) with each step's Jacobian J_k taken by jax.jacobian."""
    s_prev, unravel = jax.flatten_util.ravel_pytree(carry0)
    states, jacs = [], []
    for t in range(xs.shape[0]):

        def f(s, t=t):
            return jax.flatten_util.ravel_pytree(cell(xs[t], unravel(s)))[0]

        jacs.append(np.asarray(jax.jacobian(f)(s_prev)))
        s_prev = f(s_prev)
        states.append(s_prev)
    grads = [jax.grad(lambda s, t=t: mse(unravel(s), ys[t]))(states[t]) for t in range(len(xs))]
    # J_k in the right order: the cotangent multiplies from the left
    logs = _oracle.log10_contributions(lambda k, rows: rows @ jacs[k], np.stack(grads))
    return 10.0**logs


def finite_difference_norms(cell, xs, carry0, ys, eps=1e-6):
    """Central differences of every L_t w.r.t. a perturbation added to state s_k."""
    s0, unravel = jax.flatten_util.ravel_pytree(carry0)
    size = s0.shape[0]

    @jax.jit
    def losses(eps_matrix):
        def step(s, inp):
            x, e = inp
            new = jax.flatten_util.ravel_pytree(cell(x, unravel(s)))[0] + e
            return new, new

        _, states = jax.lax.scan(step, s0, (xs, eps_matrix))
        return jax.vmap(lambda s, y: mse(unravel(s), y))(states, ys)

    grads = np.zeros((xs.shape[0], xs.shape[0], size))
    for k in range(xs.shape[0]):
        for i in range(size):
            e = np.zeros((xs.shape[0], size))
            e[k, i] = eps
            grads[:, k, i] = (losses(jnp.asarray(e)) - losses(jnp.asarray(-e))) / (2 * eps)
    return np.linalg.norm(grads, axis=-1)


@pytest.fixture(scope="module", params=["tanh", "relu", "gru", "lstm"])
def problem(request):
    cell = make_cell(request.param)
    carry0 = carry0_of(cell)
    scan = rg.timestep_contributions(cell, XS, carry0, mse, YS)
    return request.param, cell, carry0, scan


def test_norms_match_hand_unrolled_loop(problem):
    _, cell, carry0, scan = problem
    want = python_loop_norms(cell, XS, carry0, YS)
    np.testing.assert_allclose(scan.norms, want, rtol=1e-10, atol=0)
    assert np.all(np.asarray(scan.norms)[np.triu_indices(T, 1)] == 0)


def test_norms_match_jacrev_reference(problem):
    _, cell, carry0, scan = problem
    ref = rg.timestep_contributions(cell, XS, carry0, mse, YS, method="jacrev")
    np.testing.assert_allclose(scan.norms, ref.norms, rtol=1e-10, atol=0)
    np.testing.assert_allclose(scan.losses, ref.losses, rtol=1e-13)
    for a, b in zip(
        jax.tree_util.tree_leaves(scan.param_grads), jax.tree_util.tree_leaves(ref.param_grads)
    ):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_norms_match_jacfwd(problem):
    _, cell, carry0, scan = problem
    s0, unravel = jax.flatten_util.ravel_pytree(carry0)

    def losses(eps_matrix):
        def step(s, inp):
            x, e = inp
            new = jax.flatten_util.ravel_pytree(cell(x, unravel(s)))[0] + e
            return new, new

        _, states = jax.lax.scan(step, s0, (XS, eps_matrix))
        return jax.vmap(lambda s, y: mse(unravel(s), y))(states, YS)

    jac = jax.jacfwd(losses)(jnp.zeros((T, s0.shape[0])))
    np.testing.assert_allclose(scan.norms, jnp.linalg.norm(jac, axis=-1), rtol=1e-10, atol=0)


def test_norms_match_finite_differences(problem):
    kind, cell, carry0, scan = problem
    if kind == "relu":
        pytest.skip("ReLU kinks make central differences unreliable; covered by the others")
    want = finite_difference_norms(cell, XS, carry0, YS)
    np.testing.assert_allclose(scan.norms, want, rtol=1e-6, atol=1e-9)


def test_param_grads_sum_to_grad(problem):
    _, cell, carry0, scan = problem

    def total(c):
        return jnp.sum(jax.vmap(mse)(rg.unroll(c, XS, carry0), YS))

    grad = eqx.filter_grad(total)(cell)
    got = jax.tree_util.tree_leaves(scan.grad)
    want = jax.tree_util.tree_leaves(eqx.filter(grad, eqx.is_inexact_array))
    assert len(got) == len(want) > 0
    for g, w in zip(got, want):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-14)
    for leaf in jax.tree_util.tree_leaves(scan.param_grads):
        assert leaf.shape[0] == T
    assert bool(scan.finite) and not bool(scan.overflowed)


@pytest.mark.parametrize("blocks", [1, 3, T])
def test_blocks_do_not_change_the_answer(blocks):
    cell = make_cell("tanh")
    a = rg.timestep_contributions(cell, XS, carry0_of(cell), mse, YS, blocks=blocks)
    b = rg.timestep_contributions(cell, XS, carry0_of(cell), mse, YS, method="jacrev")
    np.testing.assert_allclose(a.norms, b.norms, rtol=1e-10)


def orth_linear(scale, hidden=4, key=0):
    return rg.VanillaCell(
        1,
        hidden,
        nonlinearity="identity",
        weight_hh_init=rg.init.orthogonal(scale),
        key=jax.random.key(key),
    )


def test_linear_rnn_products_are_matrix_powers():
    cell = rg.VanillaCell(1, 4, nonlinearity="identity", key=jax.random.key(3))
    w = np.asarray(cell.weight_hh)
    xs = jnp.ones((6, 1))
    jac = rg.state_jacobians(cell, xs, jnp.zeros(4))
    for t in range(6):
        np.testing.assert_allclose(jac[t], w, rtol=1e-14)
    # ∂s_t/∂s_k = W^{t-k}, seen through a loss c·s_t: ‖∂L_t/∂s_k‖ = ‖c W^{t-k}‖.
    c = jnp.array([1.0, -2.0, 0.5, 3.0])
    res = rg.timestep_contributions(cell, xs, jnp.zeros(4), lambda h, y: y * (c @ h), jnp.ones(6))
    for t in range(6):
        for k in range(t + 1):
            want = np.linalg.norm(np.asarray(c) @ np.linalg.matrix_power(w, t - k))
            np.testing.assert_allclose(res.norms[t, k], want, rtol=1e-12)
    # The full product through jacfwd of the unroll w.r.t. the initial state.
    prod = jax.jacfwd(lambda h0: rg.unroll(cell, xs, h0)[-1])(jnp.zeros(4))
    np.testing.assert_allclose(prod, np.linalg.matrix_power(w, 6), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("scale,sign", [(0.5, -1.0), (2.0, 1.0)])
def test_log_path_exact_at_lag_ten_thousand(scale, sign):
    cell = orth_linear(scale)
    xs = jnp.zeros((10001, 1))
    if sign > 0:
        # The states overflow (2^10000), so the loss is inf - inf = NaN and flagged, with a
        # warning; the log norms of the gradient stay exact.
        with pytest.warns(rg.NumericalWarning, match="final_step_profile"):
            prof = rg.final_step_profile(cell, xs, jnp.ones(4), lambda h: jnp.sum(h))
        assert not bool(prof.finite) and bool(jnp.all(jnp.isfinite(prof.log_norms)))
    else:
        prof = rg.final_step_profile(cell, xs, jnp.ones(4), lambda h: jnp.sum(h))
        assert bool(prof.finite) and not bool(prof.saturated)
    ratio = prof.log_norms[0] - prof.log_norms[-1]
    np.testing.assert_allclose(ratio, sign * 10000 * np.log10(2.0), rtol=1e-12)
    lags = rg.lag_profile(prof, log10=True)
    np.testing.assert_allclose(lags - lags[0], sign * np.arange(10001) * np.log10(2), atol=1e-9)
    # The plain norms under/overflow where the logs do not; that is why they exist.
    assert float(prof.norms[0]) in (0.0, float("inf"))
    # Two-level checkpointing gives the same numbers.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rg.NumericalWarning)
        ckpt = rg.final_step_profile(
            cell, xs, jnp.ones(4), lambda h: jnp.sum(h), checkpoint_every=73
        )
    np.testing.assert_allclose(ckpt.log_norms, prof.log_norms, rtol=1e-13)


def test_log_path_agrees_with_direct_float64_where_finite():
    cell = rg.scale_recurrent(rg.VanillaCell(1, 5, key=jax.random.key(4)), 0.6)
    xs = jax.random.normal(jax.random.key(5), (40, 1))
    prof = rg.final_step_profile(cell, xs, jnp.zeros(5), lambda h: jnp.sum(jnp.sin(h)))
    s0 = jnp.zeros(5)

    def final_loss(eps):
        def step(s, inp):
            x, e = inp
            return cell(x, s) + e, None

        s, _ = jax.lax.scan(step, s0, (xs, eps))
        return jnp.sum(jnp.sin(s))

    direct = jnp.linalg.norm(jax.grad(final_loss)(jnp.zeros((40, 5))), axis=-1)
    np.testing.assert_allclose(prof.norms, direct, rtol=1e-11)
    np.testing.assert_allclose(prof.log_norms, np.log10(np.asarray(direct)), rtol=1e-12)


def test_log_path_in_float32_survives_underflow():
    cell = rg.VanillaCell(
        1,
        4,
        nonlinearity="identity",
        weight_hh_init=rg.init.orthogonal(0.5),
        dtype=jnp.float32,
        key=jax.random.key(0),
    )
    prof = rg.final_step_profile(
        cell, jnp.zeros((300, 1), jnp.float32), jnp.ones(4, jnp.float32), lambda h: jnp.sum(h)
    )
    assert float(prof.norms[0]) == 0.0  # 0.5**299 underflows float32
    np.testing.assert_allclose(
        prof.log_norms[0] - prof.log_norms[-1], -299 * np.log10(2), rtol=1e-5
    )


@pytest.mark.optimized
def test_contributions_log_norms_beyond_float64_range():
    cell = orth_linear(0.25)
    length = 600  # 0.25**599 ~ 1e-361: below float64's smallest subnormal
    res = rg.timestep_contributions(
        cell, jnp.zeros((length, 1)), jnp.ones(4), lambda h, y: y * jnp.sum(h), jnp.ones(length)
    )
    assert float(res.norms[-1, 0]) == 0.0
    np.testing.assert_allclose(
        res.log_norms[-1, 0] - res.log_norms[-1, -1], -(length - 1) * np.log10(4.0), rtol=1e-12
    )
    profile = rg.lag_profile(res, log10=True)
    np.testing.assert_allclose(profile - profile[0], -np.arange(length) * np.log10(4.0), atol=1e-8)


def test_lag_profile_geometric_mean_by_hand():
    m = np.array([[2.0, 0.0, 0.0], [0.5, 4.0, 0.0], [0.1, 0.2, 8.0]])
    want = [
        (2.0 * 4.0 * 8.0) ** (1 / 3),
        (0.5 * 0.2) ** 0.5,
        0.1,
    ]
    np.testing.assert_allclose(rg.lag_profile(jnp.asarray(m)), want, rtol=1e-14)
    # A step without a loss (zero diagonal) is left out of the mean.
    m[1] = 0.0
    want = [(2.0 * 8.0) ** 0.5, 0.2, 0.1]
    np.testing.assert_allclose(rg.lag_profile(jnp.asarray(m)), want, rtol=1e-14)


RATE_T = 12


@jax.jit
def _bound_gap(weight, xs):
    cell = eqx.tree_at(lambda c: c.weight_hh, rg.VanillaCell(2, 5, key=jax.random.key(0)), weight)
    res = rg.timestep_contributions(cell, xs, jnp.zeros(5), mse, jnp.ones((RATE_T, 5)), blocks=1)
    diag = jnp.diagonal(res.log_norms)
    lags = jnp.arange(RATE_T)[:, None] - jnp.arange(RATE_T)[None, :]
    bound = rg.theory.pascanu_bound(cell, lags, grad_norm=10.0 ** diag[:, None], log10=True)
    lower = jnp.tril(jnp.ones((RATE_T, RATE_T), bool))
    return jnp.max(jnp.where(lower, res.log_norms - bound, -jnp.inf))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.1, 3.0))
def test_pascanu_bound_holds(seed, scale):
    key_w, key_x = jax.random.split(jax.random.key(seed))
    weight = rg.init.gaussian(scale)(key_w, (5, 5))
    xs = jax.random.normal(key_x, (RATE_T, 2))
    assert float(_bound_gap(weight, xs)) <= 1e-12


def test_pascanu_rate_and_condition():
    cell = rg.VanillaCell(1, 6, weight_hh_init=rg.init.orthogonal(0.9), key=jax.random.key(0))
    np.testing.assert_allclose(rg.theory.pascanu_rate(cell), 0.9, rtol=1e-12)
    assert bool(rg.theory.vanishing_guaranteed(cell))
    assert not bool(rg.theory.vanishing_guaranteed(rg.scale_recurrent(cell, 1.2)))
    np.testing.assert_allclose(rg.theory.pascanu_rate(cell, gamma=0.25), 0.225, rtol=1e-12)
    with pytest.raises(TypeError, match="callable nonlinearity"):
        rg.theory.pascanu_rate(rg.VanillaCell(1, 2, nonlinearity=jnp.sin, key=jax.random.key(0)))
    with pytest.raises(TypeError, match="vanilla cell"):
        rg.theory.pascanu_rate(eqx.nn.GRUCell(1, 2, key=jax.random.key(0)))


def test_lyapunov_of_linear_rnn_is_log_abs_eigenvalues():
    cell = rg.VanillaCell(
        1, 6, nonlinearity="identity", weight_hh_init=rg.init.gaussian(0.9), key=jax.random.key(7)
    )
    xs = jax.random.normal(jax.random.key(8), (2000, 1))
    got = rg.lyapunov_spectrum(cell, xs, jnp.zeros(6)).exponents
    want = np.sort(np.log(np.abs(np.linalg.eigvals(np.asarray(cell.weight_hh)))))[::-1]
    np.testing.assert_allclose(got, want, atol=1e-3)
    top = rg.lyapunov_spectrum(cell, xs, jnp.zeros(6), n=2, warmup=100).exponents
    np.testing.assert_allclose(top, want[:2], atol=1e-3)


@pytest.mark.parametrize("kind", ["tanh", "gru", "lstm"])
def test_lyapunov_sum_equals_mean_log_det(kind):
    """Σλ_i = (1/T) Σ_t log|det J_t| exactly: an independent check for nonlinear cells."""
    cell = make_cell(kind, scale=1.5)
    xs = jax.random.normal(jax.random.key(9), (50, IN))
    carry0 = carry0_of(cell)
    lam = rg.lyapunov_spectrum(cell, xs, carry0).exponents
    _, logdet = jnp.linalg.slogdet(rg.state_jacobians(cell, xs, carry0))
    np.testing.assert_allclose(jnp.sum(lam), jnp.mean(logdet), rtol=1e-10)
    assert lam.shape == (2 * H if kind == "lstm" else H,)
    assert np.all(np.diff(np.asarray(lam)) <= 0)


def test_product_spectra_match_direct_products():
    cell = make_cell("tanh")
    carry0 = carry0_of(cell)
    jac = np.asarray(rg.state_jacobians(cell, XS, carry0))
    spectra = rg.jacobian_product_spectra(cell, XS, carry0)
    prod = np.eye(H)
    for d in range(1, T + 1):
        prod = prod @ jac[T - d]  # ∂s_{T-1}/∂s_{T-1-d} = J_{T-1} ... J_{T-d}
        want = np.log10(np.linalg.svd(prod, compute_uv=False))
        np.testing.assert_allclose(spectra.log10_singular_values[d - 1], want, rtol=1e-10)
    norms = rg.jacobian_spectral_norms(cell, XS, carry0)
    np.testing.assert_allclose(norms, np.linalg.svd(jac, compute_uv=False)[:, 0], rtol=1e-12)


def test_vmap_and_jit_equal_the_loop():
    cell = make_cell("tanh", scale=1.0)
    carry0 = carry0_of(cell)
    scales = jnp.array([0.5, 1.0, 1.7])

    @jax.jit
    def norms(scale):
        return rg.timestep_contributions(rg.scale_recurrent(cell, scale), XS, carry0, mse, YS)

    batched = jax.vmap(norms)(scales)
    for i, s in enumerate(scales):
        single = rg.timestep_contributions(rg.scale_recurrent(cell, s), XS, carry0, mse, YS)
        np.testing.assert_allclose(batched.norms[i], single.norms, rtol=1e-12)
        np.testing.assert_allclose(
            batched.param_grads.weight_hh[i], single.param_grads.weight_hh, rtol=1e-12, atol=1e-15
        )
    lam = jax.vmap(
        lambda s: rg.lyapunov_spectrum(rg.scale_recurrent(cell, s), XS, carry0).exponents
    )(scales)
    for i, s in enumerate(scales):
        np.testing.assert_allclose(
            lam[i],
            rg.lyapunov_spectrum(rg.scale_recurrent(cell, s), XS, carry0).exponents,
            rtol=1e-12,
        )


# ------------------------------------------------------------------ bad input


def test_bad_input():
    cell = make_cell("tanh")
    carry0 = carry0_of(cell)
    with pytest.raises(ValueError, match="`ys` must have the same number of steps.*T = 7.*6"):
        rg.timestep_contributions(cell, XS, carry0, mse, YS[:6])
    with pytest.raises(ValueError, match="must return a real floating scalar"):
        rg.timestep_contributions(cell, XS, carry0, lambda h, y: h - y, YS)
    with pytest.raises(ValueError, match="must return a real floating scalar"):
        rg.final_step_profile(cell, XS, carry0, lambda h: h)
    with pytest.raises(ValueError, match="T = 0"):
        rg.timestep_contributions(cell, XS[:0], carry0, mse, YS[:0])
    with pytest.raises(ValueError, match="T = 0"):
        rg.lyapunov_spectrum(cell, XS[:0], carry0)
    with pytest.raises(ValueError, match=r"`n` must lie in \[1, S = 3\].*got 4"):
        rg.lyapunov_spectrum(cell, XS, carry0, n=4)
    with pytest.raises(ValueError, match="`warmup` must lie in"):
        rg.lyapunov_spectrum(cell, XS, carry0, warmup=T)
    with pytest.raises(ValueError, match="`method` must be"):
        rg.timestep_contributions(cell, XS, carry0, mse, YS, method="fd")
    with pytest.raises(ValueError, match="`checkpoint_every` must divide T = 7"):
        rg.final_step_profile(cell, XS, carry0, lambda h: jnp.sum(h), checkpoint_every=3)
    with pytest.raises(ValueError, match=r"\(T, T\)"):
        rg.lag_profile(jnp.ones((3, 4)))


def test_non_finite_parameters_raise_eagerly_and_are_flagged_under_jit():
    cell = make_cell("tanh")
    bad = eqx.tree_at(lambda c: c.weight_hh, cell, cell.weight_hh.at[0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match=r"`cell` \(leaf \.weight_hh\) must be finite"):
        rg.timestep_contributions(bad, XS, carry0_of(cell), mse, YS)
    # Inside jit the values are unknown at trace time: the flag reports them.
    res = eqx.filter_jit(rg.timestep_contributions)(bad, XS, carry0_of(cell), mse, YS)
    assert not bool(res.finite)
    good = rg.timestep_contributions(cell, XS, carry0_of(cell), mse, YS)
    assert bool(good.finite) and not bool(good.saturated)


def test_exploding_regime_gives_large_logs_with_flag():
    cell = orth_linear(3.0)
    length = 800  # 3**799 ~ 1e381 overflows float64
    # The states overflow too (their sum is inf - inf = NaN): flagged with a warning.
    with pytest.warns(rg.NumericalWarning, match="timestep_contributions"):
        res = rg.timestep_contributions(
            cell, jnp.zeros((length, 1)), jnp.ones(4), lambda h, y: y * jnp.sum(h), jnp.ones(length)
        )
    assert bool(res.overflowed)
    assert not np.any(np.isnan(np.asarray(res.log_norms)))
    np.testing.assert_allclose(
        res.log_norms[-1, 0] - res.log_norms[-1, -1], 799 * np.log10(3.0), rtol=1e-12
    )


def test_nan_input_raises_eagerly_and_is_never_a_zero_gradient_under_jit():
    cell = make_cell("tanh")
    bad_xs = XS.at[3, 0].set(jnp.nan)
    with pytest.raises(
        ValueError, match=r"`xs` must be finite, got 1 NaN \(first at index \(3, 0\)\)"
    ):
        rg.final_step_profile(cell, bad_xs, carry0_of(cell), lambda h: jnp.sum(h))
    with pytest.raises(ValueError, match="`carry0` must be finite"):
        rg.unroll(cell, XS, carry0_of(cell).at[0].set(jnp.inf))
    prof = jax.jit(
        lambda xs: rg.final_step_profile(cell, xs, carry0_of(cell), lambda h: jnp.sum(h))
    )(bad_xs)
    logs = np.asarray(prof.log_norms)
    assert np.all(np.isnan(logs[:4]))  # every state the NaN reaches back to
    assert not bool(prof.finite)
    res = jax.jit(lambda xs: rg.timestep_contributions(cell, xs, carry0_of(cell), mse, YS))(bad_xs)
    assert not bool(res.finite)
    assert np.isnan(np.asarray(res.log_norms)[T - 1, 0])
    # A NaN row in a norms matrix shows as NaN at its lags, never as a zero gradient.
    lags = jax.jit(rg.lag_profile)(res.norms)
    assert np.isnan(np.asarray(lags)[0])
    with pytest.raises(ValueError, match="`norms_or_result` holds NaN"):
        rg.lag_profile(res.norms)
    with pytest.raises(ValueError, match=r"`norms_or_result` must hold norms \(>= 0\)"):
        rg.lag_profile(-jnp.eye(3))
    with pytest.raises(TypeError, match="`norms_or_result` must be a real floating"):
        rg.lag_profile(jnp.eye(3, dtype=jnp.complex128))


@pytest.mark.optimized
def test_saturation_is_flagged_and_warned():
    """tanh at a huge scale in float32: derivatives round to exactly 0, logs are -inf."""
    cell = rg.scale_recurrent(rg.VanillaCell(1, 4, dtype=jnp.float32, key=jax.random.key(3)), 50.0)
    xs = jnp.ones((60, 1), jnp.float32)
    carry0 = jnp.zeros(4, jnp.float32)
    with pytest.warns(rg.NumericalWarning, match="saturated"):
        prof = rg.final_step_profile(cell, xs, carry0, lambda h: jnp.sum(h))
    assert bool(prof.saturated) and bool(prof.finite)
    with pytest.warns(rg.NumericalWarning, match="saturated"):
        lam = rg.lyapunov_spectrum(cell, xs, carry0)
    assert bool(lam.saturated) and bool(lam.finite)
    # Under jit: no warning, the flags say it.
    flags = jax.jit(lambda c: rg.lyapunov_spectrum(c, xs, carry0).saturated)(cell)
    assert bool(flags)
    relu = rg.VanillaCell(1, 4, nonlinearity="relu", key=jax.random.key(3))
    dead = eqx.tree_at(lambda c: c.bias, relu, -10.0 * jnp.ones(4))
    with pytest.warns(rg.NumericalWarning, match="dead"):
        res = rg.timestep_contributions(dead, XS[:, :1], jnp.zeros(4), mse, jnp.ones((T, 4)))
    assert bool(res.saturated)


def test_jacrev_reference_keeps_tiny_norms_in_float32():
    cell = rg.VanillaCell(
        1,
        3,
        nonlinearity="identity",
        weight_hh_init=rg.init.orthogonal(0.1),
        dtype=jnp.float32,
        key=jax.random.key(0),
    )
    length = 30  # 0.1**29: far below float32's squares (~1e-19 after squaring)
    res = rg.timestep_contributions(
        cell,
        jnp.zeros((length, 1), jnp.float32),
        jnp.ones(3, jnp.float32),
        lambda h, y: y * jnp.sum(h),
        jnp.ones(length, jnp.float32),
        method="jacrev",
    )
    np.testing.assert_allclose(res.log_norms[-1, 0] - res.log_norms[-1, -1], -29.0, rtol=1e-5)


# --------------------------------------------------------------------------- carry_pullback


class Hidden(rg.AbstractCell):
    """The step of `inner` without its `carry_pullback`: the tools take jax.vjp instead."""

    inner: rg.AbstractCell

    def __call__(self, x, carry):
        return self.inner(x, carry)

    def init_carry(self):
        return self.inner.init_carry()


class Doubled(Hidden):
    """A `carry_pullback` twice the true one: shows which path the tools take."""

    def carry_pullback(self, x, carry, new_carry, cotangent):
        return 2.0 * jax.vjp(lambda c: self.inner(x, c), carry)[1](cotangent)[0]


def vanilla_variants():
    key = jax.random.key(5)
    base = dict(weight_hh_init=rg.init.gaussian(1.5), key=key)
    tanh = rg.VanillaCell(IN, 8, **base)
    tanh = eqx.tree_at(lambda c: c.bias, tanh, jax.random.normal(jax.random.key(6), (8,)))
    return {
        "tanh_scaled_bias": rg.scale_recurrent(tanh, 0.9),
        "tanh_no_bias": rg.VanillaCell(IN, 8, use_bias=False, **base),
        "relu_scaled": rg.scale_recurrent(rg.VanillaCell(IN, 8, nonlinearity="relu", **base), 0.7),
        "identity_scaled_twice": rg.scale_recurrent(
            rg.scale_recurrent(rg.VanillaCell(IN, 8, nonlinearity="identity", **base), 0.5), 1.5
        ),
        "callable": rg.VanillaCell(IN, 8, nonlinearity=jax.nn.sigmoid, **base),
        "encoded_tanh": rg.EncodedCell(IN, tanh, key=jax.random.key(7)),
    }


VARIANTS = vanilla_variants()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_carry_pullback_is_the_vjp_of_the_step(name):
    cell, x = VARIANTS[name], XS[0]
    h = jax.random.normal(jax.random.key(7), (8,))
    v = jax.random.normal(jax.random.key(8), (8,))
    assert rg.cells.has_carry_pullback(cell) and not rg.cells.has_carry_pullback(Hidden(cell))
    want = jax.vjp(lambda c: cell(x, c), h)[1](v)[0]
    for pulled in (cell, Hidden(cell)):  # the cell's own and the generic fallback
        got = rg.cells.carry_pullback(pulled, x, h, cell(x, h), v)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15 * float(jnp.max(abs(want))))


@pytest.mark.parametrize("name", ["tanh_scaled_bias", "relu_scaled"])
def test_profiles_and_contributions_with_carry_pullback_equal_the_generic_path(name):
    """float64: the cell's pullback and jax.vjp give the same log norms to 1e-12."""
    cell, length = VARIANTS[name], 12
    xs = jax.random.normal(jax.random.key(9), (length, IN))
    ys = jax.random.normal(jax.random.key(10), (length, 8))
    h0 = jnp.full(8, 0.1)

    @jax.jit  # one program: compiling it costs less than the eager scans
    def both(cell):
        profile = lambda c, every=None: (
            rg.final_step_profile(c, xs, h0, jnp.sum, checkpoint_every=every).log_norms
        )
        contributions = lambda c: rg.timestep_contributions(c, xs, h0, mse, ys, blocks=2)
        fast = (profile(cell), profile(cell, 4), contributions(cell))
        return fast, (profile(Hidden(cell)), contributions(Hidden(cell)))

    (fast, fast_blocks, fast_c), (generic, generic_c) = both(cell)
    np.testing.assert_allclose(fast, generic, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast_blocks, generic, rtol=0, atol=1e-12)
    lower = np.tril_indices(length)
    np.testing.assert_allclose(
        fast_c.log_norms[lower], generic_c.log_norms[lower], rtol=0, atol=1e-12
    )
    for a, b in zip(jax.tree.leaves(fast_c.param_grads), jax.tree.leaves(generic_c.param_grads)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_the_tools_use_the_cells_pullback_and_fall_back_without_one():
    cell, h0, ys = VARIANTS["tanh_scaled_bias"], jnp.full(8, 0.1), jnp.zeros((T, 8))

    @jax.jit
    def logs(c):
        profile = rg.final_step_profile(c, XS, h0, jnp.sum).log_norms
        return profile, rg.timestep_contributions(c, XS, h0, mse, ys, blocks=1).log_norms

    (once, once_c), (twice, twice_c) = logs(Hidden(cell)), logs(Doubled(cell))
    # Each step back through Doubled's pullback doubles the norm: log10 2 per step of lag.
    lags = np.arange(T - 1, -1, -1)
    np.testing.assert_allclose(twice - once, lags * np.log10(2.0), atol=1e-12)
    t, k = np.tril_indices(T)
    np.testing.assert_allclose(twice_c[t, k] - once_c[t, k], (t - k) * np.log10(2.0), atol=1e-12)
