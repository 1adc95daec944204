"""Modern recurrences: LRU, minGRU, minLSTM, IndRNN and the real diagonal linear cell.

Every cell is checked against a hand-written float64 NumPy step (states and step
Jacobians), then run through the generic tools (unroll, timestep contributions, final-step
profiles, Lyapunov spectra, sweeps over the recurrent scale, training), each compared with
the NumPy oracle of ``rnngrad._oracle`` or a closed form.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rnngrad as rg
from rnngrad._oracle import log10_contributions, log10_final_profile

IN, H, T = 2, 3, 8
NAMES = ("lru", "mingru", "minlstm", "indrnn", "diagonal")
DIAGONAL = ("lru", "mingru", "minlstm", "diagonal")


def _randomise(cell, names, key, std=0.5):
    """`cell` with the named (zero-initialised) fields replaced by N(0, std²) draws."""
    keys = jax.random.split(key, len(names))
    fields = [getattr(cell, n) for n in names]
    new = [std * jax.random.normal(k, f.shape, f.dtype) for k, f in zip(keys, fields)]
    return eqx.tree_at(lambda c: [getattr(c, n) for n in names], cell, new)


KEY = jax.random.key(0)


def make_cell(name, key=KEY, **options):
    """A cell of each kind with non-trivial biases (the oracle must see them)."""
    if name == "lru":
        return rg.LRUCell(IN, H, key=key, **options)
    if name == "mingru":
        cell = rg.MinGRUCell(IN, H, key=key, **options)
        return _randomise(cell, ["bias_z", "bias_h"], jax.random.fold_in(key, 1))
    if name == "minlstm":
        cell = rg.MinLSTMCell(IN, H, key=key, **options)
        return _randomise(cell, ["bias_f", "bias_i", "bias_h"], jax.random.fold_in(key, 1))
    if name == "indrnn":
        cell = rg.IndRNNCell(IN, H, key=key, **options)
        return _randomise(cell, ["bias"], jax.random.fold_in(key, 1))
    if name == "diagonal":
        return rg.DiagonalLinearCell(IN, H, key=key, **options)
    raise AssertionError(name)


def active_indrnn():
    """An IndRNN whose ReLU units are all active on XS (bias 1 > |W x|), so that no
    gradient is exactly zero."""
    cell = rg.IndRNNCell(
        IN, H, weight_ih_init=jax.nn.initializers.normal(0.1), key=jax.random.key(0)
    )
    return eqx.tree_at(lambda c: c.bias, cell, jnp.ones(H))


def tool_cell(name):
    return active_indrnn() if name == "indrnn" else make_cell(name)


XS = jax.random.normal(jax.random.key(1), (T, IN))
YS = jax.random.normal(jax.random.key(2), (T, 2 * H))


def _np(a):
    return np.asarray(a, np.float64)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _g(a):
    return np.where(a >= 0, a + 0.5, _sigmoid(a))


def _scale_of(cell):
    return 1.0 if cell.recurrent_scale is None else float(cell.recurrent_scale)


def oracle(cell, xs, carry0=None):
    """Float64 NumPy: states (T, S) and step Jacobians J_t = ∂s_t/∂s_{t-1} (T, S, S)."""
    xs = _np(xs)
    s = _scale_of(cell)
    if isinstance(cell, rg.LRUCell):
        nu, theta = _np(cell.nu_log), _np(cell.theta_log)
        lam = s * np.exp(-np.exp(nu) + 1j * np.exp(theta))
        gamma = np.sqrt(1.0 - np.exp(-2.0 * np.exp(nu))) if cell.gamma_log is not None else 1.0
        b = _np(cell.B_re) + 1j * _np(cell.B_im)
        jac = np.block(
            [[np.diag(lam.real), -np.diag(lam.imag)], [np.diag(lam.imag), np.diag(lam.real)]]
        )
        h = np.zeros(H, complex) if carry0 is None else _np(carry0)[:H] + 1j * _np(carry0)[H:]
        states = []
        for x in xs:
            h = lam * h + gamma * (b @ x)
            states.append(np.concatenate([h.real, h.imag]))
        return np.array(states), np.broadcast_to(jac, (len(xs), 2 * H, 2 * H))
    h = np.zeros(H) if carry0 is None else _np(carry0)
    states, jacs = [], []
    for x in xs:
        if isinstance(cell, rg.MinGRUCell):
            z = _sigmoid(_np(cell.weight_z) @ x + _np(cell.bias_z))
            a = s * (1.0 - z)
            h = a * h + z * _g(_np(cell.weight_h) @ x + _np(cell.bias_h))
        elif isinstance(cell, rg.MinLSTMCell):
            f = _sigmoid(_np(cell.weight_f) @ x + _np(cell.bias_f))
            i = _sigmoid(_np(cell.weight_i) @ x + _np(cell.bias_i))
            a = s * f / (f + i)
            h = a * h + i / (f + i) * _g(_np(cell.weight_h) @ x + _np(cell.bias_h))
        elif isinstance(cell, rg.IndRNNCell):
            pre = _np(cell.weight_ih) @ x + s * _np(cell.weight_hh) * h + _np(cell.bias)
            a = np.where(pre > 0, s * _np(cell.weight_hh), 0.0)
            h = np.maximum(pre, 0.0)
        else:
            a = s * _np(cell.lam)
            h = a * h + _np(cell.weight_ih) @ x
        states.append(h)
        jacs.append(np.diag(a))
    return np.array(states), np.array(jacs)


def assert_close(actual, expected, tol=1e-13):
    """max |actual − expected| <= tol · max |expected| (a relative error on the whole array)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(np.max(np.abs(expected)), np.finfo(np.float64).tiny)
    err = np.max(np.abs(actual - expected)) / scale
    assert err <= tol, err


# --------------------------------------------------------------------------- steps vs NumPy


@pytest.mark.parametrize("name", NAMES)
def test_steps_match_a_numpy_float64_oracle(name):
    # Scaled by a negative factor, from a random carry: the unscaled cells meet the oracle
    # in the tool tests below.
    cell = rg.scale_recurrent(make_cell(name), -1.2)
    carry0 = jax.random.normal(jax.random.key(3), cell.init_carry().shape)
    states, jacs = oracle(cell, XS, carry0)
    assert_close(rg.unroll(cell, XS, carry0), states)
    # The step Jacobian at step 3, from the state before it.
    jac = jax.jacfwd(cell, argnums=1)(XS[3], jnp.asarray(states[2]))
    assert_close(jac, jacs[3])
    assert rg.unroll(cell, XS, carry0).dtype == jnp.float64


@pytest.mark.parametrize("name", NAMES)
def test_float32_cells_and_inputs(name):
    cell = make_cell(name, dtype=jnp.float32)
    out = cell(XS[0].astype(jnp.float32), cell.init_carry())
    assert out.dtype == jnp.float32 and cell.init_carry().dtype == jnp.float32
    with pytest.raises(TypeError, match="`x` has dtype float64, wider"):
        cell(XS[0], cell.init_carry())
    # A narrower input is cast up to a float64 cell.
    wide = make_cell(name)
    assert wide(XS[0].astype(jnp.float32), wide.init_carry()).dtype == jnp.float64


def test_lru_output_and_readout():
    cell = make_cell("lru", out_size=4)
    carry = jnp.asarray(oracle(cell, XS)[0][-1])
    h = _np(carry[:H]) + 1j * _np(carry[H:])
    c = _np(cell.C_re) + 1j * _np(cell.C_im)
    assert_close(cell.output(carry), (c @ h).real)
    assert_close(cell.readout(XS[-1], carry), (c @ h).real + _np(cell.D) @ _np(XS[-1]))
    assert rg.cells.cell_output(cell, carry).shape == (4,)
    assert rg.LRUCell(IN, H, key=jax.random.key(0)).out_size == IN  # the paper's default


# --------------------------------------------------------------------------- diagonal protocol


@pytest.mark.parametrize("name", DIAGONAL)
def test_diagonal_step_reproduces_the_step_and_a_parallel_scan(name):
    cell = rg.scale_recurrent(make_cell(name), 0.9)
    x = XS[0]
    a, b = cell.diagonal_step(x)
    for seed in range(3):
        carry = jax.random.normal(jax.random.key(seed), cell.init_carry().shape)
        assert_close(cell.from_diagonal(a * cell.to_diagonal(carry) + b), cell(x, carry), 1e-15)
        assert_close(cell.from_diagonal(cell.to_diagonal(carry)), carry, 0.0)
    expected_dtype = jnp.complex128 if name == "lru" else jnp.float64
    assert a.dtype == b.dtype == expected_dtype and a.shape == b.shape == (H,)

    # The contract of rg.unroll(..., parallel=True): an associative scan of (a, b).
    def combine(left, right):
        return right[0] * left[0], right[0] * left[1] + right[1]

    carry0 = jax.random.normal(jax.random.key(5), cell.init_carry().shape)
    coeff, offset = jax.lax.associative_scan(combine, jax.vmap(cell.diagonal_step)(XS))
    scanned = jax.vmap(cell.from_diagonal)(coeff * cell.to_diagonal(carry0) + offset)
    assert_close(scanned, rg.unroll(cell, XS, carry0), 1e-13)
    # to_diagonal/from_diagonal keep leading (time) axes as they are.
    assert_close(cell.from_diagonal(coeff * cell.to_diagonal(carry0) + offset), scanned, 0.0)
    assert_close(cell.to_diagonal(scanned), jax.vmap(cell.to_diagonal)(scanned), 0.0)


def test_min_cells_coefficients_are_the_papers():
    gru = make_cell("mingru")
    a, b = gru.diagonal_step(XS[0])
    z = _sigmoid(_np(gru.weight_z) @ _np(XS[0]) + _np(gru.bias_z))
    h_tilde = _g(_np(gru.weight_h) @ _np(XS[0]) + _np(gru.bias_h))
    assert_close(a, 1.0 - z)
    assert_close(b, z * h_tilde)
    lstm = make_cell("minlstm")
    a, b = lstm.diagonal_step(XS[0])
    f = _sigmoid(_np(lstm.weight_f) @ _np(XS[0]) + _np(lstm.bias_f))
    i = _sigmoid(_np(lstm.weight_i) @ _np(XS[0]) + _np(lstm.bias_i))
    assert_close(a, f / (f + i))
    # g is continuous at 0 and positive.
    assert float(rg.cells._minimal.g(jnp.zeros(()))) == 0.5
    assert bool(jnp.all(rg.cells._minimal.g(jnp.linspace(-40.0, 3.0, 50)) > 0))


# --------------------------------------------------------------------------- initialisation


def test_lru_ring_initialisation_and_normalisation():
    r_min, r_max, max_phase = 0.4, 0.8, math.pi / 10
    cell = rg.LRUCell(IN, 100, r_min=r_min, r_max=r_max, max_phase=max_phase, key=jax.random.key(0))
    lam = np.asarray(cell.eigenvalues)
    radius, phase = np.abs(lam), np.angle(lam)
    assert np.all((radius >= r_min) & (radius <= r_max))
    assert np.all((phase >= 0) & (phase <= max_phase))
    # |λ|² is uniform on [r_min², r_max²] (the ring's area): mean (r_min² + r_max²)/2.
    assert abs(np.mean(radius**2) - (r_min**2 + r_max**2) / 2) < 0.05
    assert_close(cell.gamma, np.sqrt(1.0 - radius**2))
    plain = rg.LRUCell(
        IN,
        100,
        r_min=r_min,
        r_max=r_max,
        max_phase=max_phase,
        normalize=False,
        key=jax.random.key(0),
    )
    assert plain.gamma_log is None and bool(jnp.all(plain.gamma == 1.0))
    assert_close(plain.eigenvalues, lam, 0.0)
    # The default ring, and r_min = 0 with r_max = 1 (the paper's code defaults).
    radius = np.abs(np.asarray(rg.LRUCell(IN, 100, key=jax.random.key(1)).eigenvalues))
    assert np.all((radius >= 0.9) & (radius <= 0.999))
    full = rg.LRUCell(IN, 100, r_min=0.0, r_max=1.0, key=jax.random.key(1))
    assert bool(jnp.all(jnp.isfinite(full.nu_log))) and bool(jnp.all(jnp.abs(full.eigenvalues) < 1))


def test_lru_normalisation_gives_unit_stationary_gain():
    # E|h_j|² = γ_j² Σ_k |λ_j|^{2k} E|(Bx)_j|² for inputs white in time: the squared
    # impulse response of every mode sums to 1, whatever |λ_j| (a float64 NumPy sum).
    cell = rg.LRUCell(IN, H, r_min=0.9, r_max=0.99, key=jax.random.key(0))
    radius, gamma = np.abs(np.asarray(cell.eigenvalues)), np.asarray(cell.gamma)
    energy = gamma**2 * np.sum(radius[None, :] ** (2 * np.arange(20_000)[:, None]), axis=0)
    assert_close(energy, np.ones(H), 1e-12)


def test_indrnn_recurrent_bound():
    low, high = rg.IndRNNCell.recurrent_bound(100)
    assert low == 0.0 and high == pytest.approx(2.0 ** (1 / 100), rel=1e-15)
    low, high = rg.IndRNNCell.recurrent_bound(100, gamma=2.0, epsilon=0.5)
    assert low == pytest.approx(0.5 ** (1 / 100), rel=1e-15)
    cell = rg.IndRNNCell(IN, 100, recurrent_range=(low, high), key=jax.random.key(0))
    u = np.asarray(cell.weight_hh)
    assert np.all((u >= low) & (u <= high))
    # Over T = 100 steps each unit's gradient factor |u|^T stays within [ε, γ] = [½, 2].
    assert np.all((u**100 >= 0.5 - 1e-12) & (u**100 <= 2.0 + 1e-12))
    assert rg.cells.gain(cell) == 1.0
    assert_close(rg.recurrent_weight(cell), np.diag(u), 0.0)


def test_diagonal_linear_range_and_protocol():
    cell = rg.DiagonalLinearCell(IN, 100, recurrent_range=(-0.5, 0.9), key=jax.random.key(0))
    lam = np.asarray(cell.eigenvalues)
    assert np.all((lam >= -0.5) & (lam < 0.9)) and lam.min() < 0
    assert_close(rg.recurrent_weight(cell), np.diag(lam), 0.0)
    assert rg.cells.gain(cell) == 1.0


# --------------------------------------------------------------------------- recurrent scale


@pytest.mark.parametrize("name", NAMES)
def test_scale_recurrent_is_vmappable_and_folds(name):
    cell = make_cell(name)
    scales = jnp.array([0.5, 1.0, 1.3])
    carry = jax.random.normal(jax.random.key(3), cell.init_carry().shape)
    stepped = jax.vmap(lambda s: rg.scale_recurrent(cell, s)(XS[0], carry))(scales)
    for s, row in zip(scales, stepped):
        scaled = rg.scale_recurrent(cell, s)
        assert_close(row, scaled(XS[0], carry), 1e-15)
        assert_close(oracle(scaled, XS[:1], carry)[0][0], row)
        if name == "lru" and s > 1:
            continue  # |sλ| > 1: not foldable (see the next test)
        folded = rg.fold_recurrent_scale(scaled)
        if name in ("mingru", "minlstm"):
            assert folded is scaled  # a gate has no weight to fold a scale into
        else:
            assert folded.recurrent_scale is None
            assert_close(folded(XS[0], carry), row, 1e-14)
    # Scales compose, and what is scaled: |λ|, λ, u, or the coefficient a.
    twice = rg.scale_recurrent(rg.scale_recurrent(cell, 0.5), 0.8)
    assert float(twice.recurrent_scale) == pytest.approx(0.4, rel=1e-15)
    if name == "lru":
        assert_close(jnp.abs(twice.eigenvalues), 0.4 * jnp.abs(cell.eigenvalues))
    elif name == "diagonal":
        assert_close(twice.eigenvalues, 0.4 * cell.eigenvalues)
    elif name == "indrnn":
        assert_close(twice.recurrent_vector, 0.4 * cell.weight_hh)
    else:
        assert_close(twice.diagonal_step(XS[0])[0], 0.4 * cell.diagonal_step(XS[0])[0])


def test_lru_fold_keeps_the_scaled_eigenvalues_and_refuses_unstable_ones():
    cell = make_cell("lru")
    for s in (0.5, -0.9):
        folded = rg.fold_recurrent_scale(rg.scale_recurrent(cell, s))
        assert_close(folded.eigenvalues, s * cell.eigenvalues, 1e-14)
    with pytest.raises(ValueError, match=r"\|scale·λ\| < 1"):
        rg.fold_recurrent_scale(rg.scale_recurrent(cell, 1.5))
    with pytest.raises(ValueError, match=r"\|scale·λ\| < 1"):
        rg.fold_recurrent_scale(rg.scale_recurrent(cell, 0.0))
    # The real step Jacobian of the carry, scale included.
    scaled = rg.scale_recurrent(cell, 1.5)
    jac = jax.jacfwd(scaled, argnums=1)(XS[0], scaled.init_carry())
    assert_close(rg.recurrent_weight(scaled), jac, 1e-15)


# --------------------------------------------------------------------------- generic tools


@pytest.mark.parametrize("name", NAMES)
def test_timestep_contributions_and_final_profile_match_the_oracle(name):
    cell = tool_cell(name)
    size = cell.init_carry().shape[0]
    ys = YS[:, :size]
    states, jacs = oracle(cell, XS)

    def pullback(k, g):
        return g @ jacs[k]

    res = rg.timestep_contributions(
        cell, XS, cell.init_carry(), lambda s, y: 0.5 * jnp.sum((s - y) ** 2), ys, blocks=1
    )
    expected = log10_contributions(pullback, states - _np(ys))
    np.testing.assert_allclose(res.log_norms, expected, atol=1e-12)
    assert res.norms.shape == (T, T)
    # Every parameter of the step gets a finite, non-zero gradient (the LRU's C and D
    # only enter its readout, so the state loss does not see them).
    grads = res.param_grads
    if name == "lru":
        grads = eqx.tree_at(lambda c: (c.C_re, c.C_im, c.D), grads, (None, None, None))
    for leaf in jax.tree_util.tree_leaves(eqx.filter(grads, eqx.is_inexact_array)):
        assert leaf.shape[0] == T and bool(jnp.all(jnp.isfinite(leaf)))
        assert float(jnp.max(jnp.abs(leaf))) > 0
    prof = rg.final_step_profile(cell, XS, cell.init_carry(), jnp.sum)
    np.testing.assert_allclose(
        prof.log_norms, log10_final_profile(pullback, np.ones(size), T), atol=1e-12
    )


@pytest.mark.parametrize("name", NAMES)
def test_lyapunov_spectrum_matches_the_closed_form(name):
    cell = tool_cell(name)
    spectrum = rg.lyapunov_spectrum(cell, XS, cell.init_carry())
    _, jacs = oracle(cell, XS)
    if name == "lru":
        # Each mode is a rotation-dilation of its (Re, Im) plane: log |λ_j| twice.
        expected = np.repeat(np.log(np.abs(np.asarray(cell.eigenvalues))), 2)
    elif name == "diagonal":
        expected = np.log(np.abs(np.asarray(cell.eigenvalues)))
    else:
        # Diagonal Jacobians: the mean log of each unit's coefficient.
        expected = np.mean(np.log(np.abs(np.diagonal(jacs, axis1=1, axis2=2))), axis=0)
    np.testing.assert_allclose(spectrum.exponents, np.sort(expected)[::-1], atol=1e-13)


@pytest.mark.parametrize("name", NAMES)
def test_sweep_over_the_recurrent_scale(name):
    cell = tool_cell(name)
    scales = np.array([0.5, 1.0, 1.4])
    size = cell.init_carry().shape[0]

    def fn(scale):
        scaled = rg.scale_recurrent(cell, scale)
        return rg.final_step_profile(scaled, XS, scaled.init_carry(), jnp.sum).log_norms

    res = rg.sweep(fn, scale=scales)
    assert res.values.shape == (3, T)
    for s, row in zip(scales, res.values):
        _, jacs = oracle(rg.scale_recurrent(cell, float(s)), XS)
        expected = log10_final_profile(lambda k, g, j=jacs: g @ j[k], np.ones(size), T)
        np.testing.assert_allclose(row, expected, atol=1e-12)


MAKERS = {
    "mingru": lambda k: rg.scale_recurrent(rg.MinGRUCell(2, 4, key=k), 0.9),
    "minlstm": lambda k: rg.MinLSTMCell(2, 4, key=k),
    "indrnn": lambda k: rg.scale_recurrent(rg.IndRNNCell(2, 4, key=k), 0.9),
    "diagonal": lambda k: rg.DiagonalLinearCell(2, 4, key=k),
}


def test_rg_train_runs_a_scaled_lru():
    # One full rg.train (its compile dominates this file's runtime): 3 steps, 2 seeds,
    # the cells built from traced keys and the LRU's scale folded into ν under vmap.
    res = rg.train(
        lambda k: rg.scale_recurrent(rg.LRUCell(2, 4, key=k), 0.9),
        rg.AddingTask(10),
        optimizer=optax.sgd(1e-2),
        steps=3,
        batch_size=4,
        key=jax.random.key(0),
        seeds=2,
        test_size=8,
        progress=False,
    )
    assert res.losses.shape == (2, 3) and bool(jnp.all(res.finite))
    trained = res.seed_model(1).cell
    assert isinstance(trained, rg.LRUCell) and trained.recurrent_scale is None
    initial = res.seed_model(1, initial=True).cell
    expected = 0.9 * rg.LRUCell(2, 4, key=rg.train_keys(jax.random.key(0), 1).cell).eigenvalues
    assert_close(initial.eigenvalues, expected, 1e-14)
    # Training moved every parameter but D: the skip D x is in cell.readout(x, carry),
    # not in what a readout of the carry sees.
    for field in ("nu_log", "theta_log", "gamma_log", "B_re", "B_im", "C_re", "C_im", "D"):
        moved = not bool(jnp.all(getattr(trained, field) == getattr(initial, field)))
        assert moved == (field != "D"), field


def test_every_cell_traces_through_the_training_step():
    # What rg.train does per seed, traced (not compiled: a full rg.train per cell would
    # multiply this file's runtime): build the cell from a traced key under vmap over
    # seeds, fold its scale, add the readout, differentiate the task loss.
    task = rg.AddingTask(10)
    xs, ys = task.batch(jax.random.key(4), 3)
    keys = jax.random.split(jax.random.key(0), 2)
    for name, make in MAKERS.items():

        def one(key, make=make):
            model = rg.RNNModel(rg.fold_recurrent_scale(make(key)), 1, key=key)

            def loss(m):
                return jnp.mean(jax.vmap(lambda x, y: task.loss(m.predict(x), y))(xs, ys))

            return eqx.filter_value_and_grad(loss)(model)

        value, grad = eqx.filter_eval_shape(eqx.filter_vmap(one), keys)
        assert value.shape == (2,), name
        cell = rg.fold_recurrent_scale(make(jax.random.key(0)))
        expected = jax.tree_util.tree_leaves(eqx.filter(cell, eqx.is_inexact_array))
        traced = jax.tree_util.tree_leaves(grad.cell)  # ShapeDtypeStructs, one per array
        assert [leaf.shape for leaf in traced] == [(2, *leaf.shape) for leaf in expected], name


def test_protocol_gaps_are_named():
    with pytest.raises(TypeError, match="recurrent_weight"):
        rg.recurrent_weight(make_cell("mingru"))
    with pytest.raises(TypeError, match="gain"):
        rg.cells.gain(make_cell("minlstm"))


# --------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        ({"r_min": 0.9, "r_max": 0.9}, ValueError, "`r_min`"),
        ({"r_min": 0.99, "r_max": 0.9}, ValueError, "`r_min`"),
        ({"r_min": -0.1}, ValueError, "`r_min`"),
        ({"r_min": 1.0, "r_max": 1.0}, ValueError, "`r_min`"),
        ({"r_max": 1.5}, ValueError, "`r_max`"),
        ({"r_min": 0.0, "r_max": 0.0}, ValueError, "`r_max`"),
        ({"r_max": float("nan")}, ValueError, "`r_max`"),
        ({"r_min": "0.9"}, TypeError, "`r_min`"),
        ({"max_phase": 0.0}, ValueError, "`max_phase`"),
        ({"max_phase": -1.0}, ValueError, "`max_phase`"),
        ({"max_phase": float("inf")}, ValueError, "`max_phase`"),
        ({"normalize": 1}, TypeError, "`normalize`"),
        ({"out_size": 0}, ValueError, "`out_size`"),
        ({"dtype": jnp.float16}, TypeError, "`dtype`"),
        ({"dtype": jnp.int32}, TypeError, "`dtype`"),
    ],
)
def test_lru_bad_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        rg.LRUCell(IN, H, key=KEY, **kwargs)


@pytest.mark.parametrize(
    "make, error, name",
    [
        (
            lambda: rg.IndRNNCell(IN, H, recurrent_range=(1.0, 0.5), key=KEY),
            ValueError,
            "`recurrent_range`",
        ),
        (
            lambda: rg.IndRNNCell(IN, H, recurrent_range=0.5, key=KEY),
            TypeError,
            "`recurrent_range`",
        ),
        (
            lambda: rg.IndRNNCell(IN, H, nonlinearity="sigmoid", key=KEY),
            ValueError,
            "`nonlinearity`",
        ),
        (lambda: rg.IndRNNCell(IN, H, use_bias="yes", key=KEY), TypeError, "`use_bias`"),
        (lambda: rg.IndRNNCell.recurrent_bound(0), ValueError, "`length`"),
        (lambda: rg.IndRNNCell.recurrent_bound(10.0), TypeError, "`length`"),
        (lambda: rg.IndRNNCell.recurrent_bound(10, gamma=0.0), ValueError, "`gamma`"),
        (lambda: rg.IndRNNCell.recurrent_bound(10, epsilon=-0.1), ValueError, "`epsilon`"),
        (lambda: rg.IndRNNCell.recurrent_bound(10, epsilon=3.0), ValueError, "`epsilon`"),
        (
            lambda: rg.DiagonalLinearCell(IN, H, recurrent_range=(0.0, 1.5), key=KEY),
            ValueError,
            "`recurrent_range`",
        ),
        (
            lambda: rg.DiagonalLinearCell(IN, H, recurrent_range=(0.5, 0.5), key=KEY),
            ValueError,
            "`recurrent_range`",
        ),
        (
            lambda: rg.DiagonalLinearCell(IN, H, weight_ih_init="gaussian", key=KEY),
            TypeError,
            "`weight_ih_init`",
        ),
        (lambda: rg.MinGRUCell(IN, 0, key=KEY), ValueError, "`hidden_size`"),
        (lambda: rg.MinLSTMCell(IN, H, use_bias=None, key=KEY), TypeError, "`use_bias`"),
        (lambda: rg.MinLSTMCell(2.0, H, key=KEY), TypeError, "`input_size`"),
        (lambda: rg.MinGRUCell(IN, H, key=0), TypeError, "`key`"),
        (lambda: rg.LRUCell(IN, H, key=jax.random.split(KEY, 2)), ValueError, "`key`"),
    ],
)
def test_other_bad_arguments(make, error, name):
    with pytest.raises(error, match=name):
        make()


@pytest.mark.parametrize("name", NAMES)
def test_bad_steps_name_the_argument(name):
    cell = make_cell(name)
    carry = cell.init_carry()
    with pytest.raises(ValueError, match=r"`x` must have shape \(2,\)"):
        cell(jnp.ones(3), carry)
    with pytest.raises(ValueError, match="`carry` must have shape"):
        cell(XS[0], jnp.ones(carry.shape[0] + 1))
    with pytest.raises(TypeError, match="`x` must be a real floating"):
        cell(jnp.ones(IN, jnp.int32), carry)
    with pytest.raises(TypeError, match="`carry` must be real"):
        cell(XS[0], carry.astype(jnp.complex128))
    with pytest.raises(TypeError, match="`x` must be an array"):
        cell([1.0, 2.0], carry)
    with pytest.raises(ValueError, match="vmap for batches"):
        cell(XS, carry)


# --------------------------------------------------------------------------- EncodedCell


def _gelu(a):
    """jax.nn.gelu's default (tanh) approximation, in NumPy."""
    return 0.5 * a * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (a + 0.044715 * a**3)))


def _np_encode(encoder, x, activation):
    """The MLP by hand: hidden layers with `activation`, a linear output layer."""
    a = _np(x)
    for i, layer in enumerate(encoder.layers):
        a = _np(layer.weight) @ a + _np(layer.bias)
        if i < len(encoder.layers) - 1:
            a = activation(a)
    return a


@pytest.mark.parametrize(
    "inner, depth, activation, np_activation",
    [
        ("lru", 1, jax.nn.gelu, _gelu),
        ("mingru", 2, jnp.tanh, np.tanh),
        ("indrnn", 0, jax.nn.gelu, _gelu),
    ],
)
def test_encoded_cell_matches_a_numpy_mlp_then_the_inner_oracle(
    inner, depth, activation, np_activation
):
    inner_cell = tool_cell(inner)
    cell = rg.EncodedCell(
        5, inner_cell, width=7, depth=depth, activation=activation, key=jax.random.key(4)
    )
    assert len(cell.encoder.layers) == depth + 1
    xs = jax.random.normal(jax.random.key(6), (T, 5))
    encoded = np.stack([_np_encode(cell.encoder, x, np_activation) for x in xs])
    states, jacs = oracle(inner_cell, encoded)
    assert_close(rg.unroll(cell, xs, cell.init_carry()), states)
    assert_close(jax.jacfwd(cell, argnums=1)(xs[3], jnp.asarray(states[2])), jacs[3])
    last = jnp.asarray(states[-1])
    assert_close(cell.output(last), rg.cells.cell_output(inner_cell, last), 0.0)
    assert rg.cells.has_diagonal_step(cell) == (inner in DIAGONAL)


def test_encoded_lru_parallel_unroll_and_diagonal_anatomy():
    k1, k2 = jax.random.split(jax.random.key(7))
    cell = rg.EncodedCell(5, rg.LRUCell(4, H, r_min=0.5, key=k1), key=k2)
    xs = jax.random.normal(jax.random.key(8), (T, 5))
    carry0 = jax.random.normal(jax.random.key(9), (2 * H,))
    assert_close(rg.unroll(cell, xs, carry0, parallel=True), rg.unroll(cell, xs, carry0), 1e-13)

    def loss(c, parallel):
        return jnp.sum(jnp.sin(rg.unroll(c, xs, carry0, parallel=parallel)))

    params = eqx.filter(cell, eqx.is_inexact_array)
    g_par = jax.grad(lambda p: loss(eqx.combine(p, cell), True))(params)
    g_seq = jax.grad(lambda p: loss(eqx.combine(p, cell), False))(params)
    for a, b in zip(jax.tree_util.tree_leaves(g_par), jax.tree_util.tree_leaves(g_seq)):
        assert_close(a, b, 1e-12)

    def step_loss(carry, y):
        return 0.5 * jnp.sum((jnp.tanh(carry) - y) ** 2)

    diag = rg.timestep_contributions(cell, xs, carry0, step_loss, YS, method="diagonal")
    scan = rg.timestep_contributions(cell, xs, carry0, step_loss, YS)
    finite = np.isfinite(np.asarray(scan.log_norms))
    assert np.array_equal(finite, np.isfinite(np.asarray(diag.log_norms)))
    err = np.max(np.abs(np.asarray(diag.log_norms)[finite] - np.asarray(scan.log_norms)[finite]))
    assert err <= 1e-10


def test_encoded_cell_scales_and_folds_the_inner_recurrence():
    k1, k2 = jax.random.split(jax.random.key(10))
    inner = make_cell("lru", key=k1)
    cell = rg.EncodedCell(5, inner, key=k2)
    x, carry = jnp.ones(5), jnp.ones(2 * H)
    scales = jnp.array([0.5, 0.9])
    stepped = jax.vmap(lambda s: rg.scale_recurrent(cell, s)(x, carry))(scales)
    for s, row in zip(scales, stepped):
        assert_close(row, rg.scale_recurrent(inner, s)(cell.encode(x), carry))
    one = rg.scale_recurrent(cell, 0.9)
    assert_close(rg.recurrent_weight(one), rg.recurrent_weight(rg.scale_recurrent(inner, 0.9)))
    xs = jax.random.normal(jax.random.key(11), (T, 5))
    folded = rg.cells.fold_recurrent_scale(one)
    assert_close(rg.unroll(folded, xs, folded.init_carry()), rg.unroll(one, xs, one.init_carry()))
    assert rg.cells.gain(cell) == rg.cells.gain(inner)


class _NoSize(rg.AbstractCell):
    """A cell of the protocol without an ``input_size`` attribute."""

    def __call__(self, x, carry):
        return carry

    def init_carry(self):
        return jnp.zeros(2)


def test_encoded_cell_bad_arguments_and_steps():
    lru = rg.LRUCell(IN, H, key=KEY)
    with pytest.raises(ValueError, match="EncodedCell: `depth` must be >= 0, got -1"):
        rg.EncodedCell(3, lru, depth=-1, key=KEY)
    with pytest.raises(ValueError, match="`width`"):
        rg.EncodedCell(3, lru, width=0, key=KEY)
    with pytest.raises(TypeError, match="`input_size`"):
        rg.EncodedCell(3.0, lru, key=KEY)
    with pytest.raises(TypeError, match="`activation`"):
        rg.EncodedCell(3, lru, activation="gelu", key=KEY)
    with pytest.raises(TypeError, match="`key`"):
        rg.EncodedCell(3, lru, key=0)
    with pytest.raises(TypeError, match="int `input_size`"):
        rg.EncodedCell(3, _NoSize(), key=KEY)
    with pytest.raises(TypeError, match="cell protocol"):
        rg.EncodedCell(3, "lru", key=KEY)
    cell = rg.EncodedCell(3, lru, key=KEY)
    with pytest.raises(ValueError, match=r"`x` must have shape \(3,\)"):
        cell(jnp.ones(IN), cell.init_carry())
    with pytest.raises(TypeError, match="`x` must be a real floating"):
        cell(jnp.ones(3, jnp.int32), cell.init_carry())
