"""Cells linear in their carry: the parallel unroll and the closed-form gradient anatomy.

``rg.unroll(..., parallel=True)`` (an associative scan of the diagonal protocol's
``(a_t, b_t)``) is checked against the sequential ``lax.scan`` in values and in
``jax.grad`` with respect to the cell's parameters and the inputs; ``method="diagonal"``
of ``rg.timestep_contributions`` (sums of ``log|a|``) against the generic backward scan,
against explicit products of the real step Jacobians (NumPy), and against the exact
``(t − k)·log10|λ|`` at lags of 2000 steps. Float64 throughout.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnngrad as rg

IN, H, T = 3, 4, 24
KEY = jax.random.key(0)
XS = jax.random.normal(jax.random.key(1), (T, IN))
YS = jax.random.normal(jax.random.key(2), (T, 2 * H))
LINEAR = ("diagonal", "lru", "lru_plain", "mingru", "minlstm")


def _randomise(cell, names, key, std=0.5):
    keys = jax.random.split(key, len(names))
    new = [std * jax.random.normal(k, getattr(cell, n).shape) for k, n in zip(keys, names)]
    return eqx.tree_at(lambda c: [getattr(c, n) for n in names], cell, new)


def make_cell(name):
    """Each cell linear in its carry, with non-zero biases, its recurrence scaled by 0.95."""
    if name == "diagonal":
        cell = rg.DiagonalLinearCell(IN, H, recurrent_range=(-0.9, 0.99), key=KEY)
    elif name == "lru":
        cell = rg.LRUCell(IN, H, r_min=0.5, key=KEY)
    elif name == "lru_plain":
        cell = rg.LRUCell(IN, H, r_min=0.5, normalize=False, key=KEY)
    elif name == "mingru":
        cell = _randomise(rg.MinGRUCell(IN, H, key=KEY), ["bias_z", "bias_h"], KEY)
    elif name == "minlstm":
        cell = _randomise(rg.MinLSTMCell(IN, H, key=KEY), ["bias_f", "bias_i", "bias_h"], KEY)
    else:
        raise AssertionError(name)
    return rg.scale_recurrent(cell, 0.95)


def carry0_of(cell):
    return jax.random.normal(jax.random.key(3), cell.init_carry().shape)


def step_loss(carry, y):
    """A loss that reads all but the last unit of the state, nonlinearly (so ĝ_t has zeros)."""
    n = carry.shape[0] - 1
    return 0.5 * jnp.sum((jnp.tanh(carry[:n]) - y[:n]) ** 2)


def params_of(tree):
    return eqx.filter(tree, eqx.is_inexact_array)


def assert_close(got, want, rtol):
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype
        scale = max(float(np.max(np.abs(w))), 1e-300)
        assert float(np.max(np.abs(g - w))) <= rtol * scale, (float(np.max(np.abs(g - w))), scale)


def assert_same_logs(got, want, atol):
    """Equal -inf entries, and finite ones within `atol` (log10 units)."""
    got, want = np.asarray(got), np.asarray(want)
    finite = np.isfinite(want)
    assert np.array_equal(finite, np.isfinite(got)) and not np.isnan(got).any()
    assert np.max(np.abs(got[finite] - want[finite])) <= atol


# --------------------------------------------------------------------------- parallel unroll


def sum_of_sines(cell, xs, carry0, parallel, checkpoint=False):
    """A loss of every carry (returned too), for gradients w.r.t. the cell and the inputs."""
    carries = rg.unroll(cell, xs, carry0, parallel=parallel, checkpoint=checkpoint)
    return jnp.sum(jnp.sin(carries) * YS[:, : carries.shape[1]]), carries


grads_of = eqx.filter_jit(jax.grad(sum_of_sines, argnums=(0, 1), has_aux=True))


@pytest.mark.parametrize("name", ("diagonal", "lru", "mingru", "minlstm"))
def test_parallel_unroll_equals_the_sequential_one_in_values_and_gradients(name):
    cell = make_cell(name)
    carry0 = carry0_of(cell)
    (got, carries), (want, sequential) = (grads_of(cell, XS, carry0, p) for p in (True, False))
    assert_close(carries, sequential, 1e-12)
    assert_close(params_of(got), params_of(want), 1e-12)


def test_final_carry_and_checkpoint_in_parallel():
    cell = make_cell("lru")
    carry0 = carry0_of(cell)
    last = rg.unroll(cell, XS, carry0)[-1]
    for checkpoint in (False, True):
        got = rg.final_carry(cell, XS, carry0, parallel=True, checkpoint=checkpoint)
        assert_close(got, last, 1e-12)
    got, _ = grads_of(cell, XS, carry0, True, True)
    want, _ = grads_of(cell, XS, carry0, False)
    assert_close(params_of(got), params_of(want), 1e-12)


def test_parallel_unroll_vmaps_over_scales():
    cell, carry0 = make_cell("lru"), jnp.zeros(2 * H)
    scales = jnp.array([0.5, 1.05])
    run = lambda s: rg.unroll(rg.scale_recurrent(cell, s), XS, carry0, parallel=True)
    by_scale = jax.vmap(run)(scales)
    for i, s in enumerate(scales):
        assert_close(by_scale[i], rg.unroll(rg.scale_recurrent(cell, s), XS, carry0), 1e-12)


class Leaky(rg.AbstractCell):
    """A user's cell with ``diagonal_step`` only: the carry is its diagonal coordinates."""

    a: jax.Array

    def diagonal_step(self, x):
        return self.a, x

    def __call__(self, x, carry):
        return self.a * carry + x

    def init_carry(self):
        return jnp.zeros(2)


def test_a_cell_with_diagonal_step_only_runs_in_parallel():
    cell, xs = Leaky(jnp.array([0.5, -1.5])), jax.random.normal(jax.random.key(5), (9, 2))
    want = rg.unroll(cell, xs, jnp.ones(2))
    assert_close(rg.unroll(cell, xs, jnp.ones(2), parallel=True), want, 1e-14)


# --------------------------------------------------------------------------- closed-form anatomy


@pytest.mark.parametrize("name", LINEAR)
def test_closed_form_contributions_equal_the_generic_backward_scan(name):
    cell = make_cell(name)
    carry0 = carry0_of(cell)
    generic = rg.timestep_contributions(cell, XS, carry0, step_loss, YS, blocks=1)
    closed = rg.timestep_contributions(cell, XS, carry0, step_loss, YS, method="diagonal")
    assert_same_logs(closed.log_norms, generic.log_norms, 1e-10)
    assert np.array_equal(np.isfinite(closed.log_norms), np.tril(np.ones((T, T), bool)))
    assert_close(closed.norms, generic.norms, 1e-10)
    assert_close(closed.losses, generic.losses, 1e-12)
    assert_close(closed.param_grads, generic.param_grads, 1e-10)
    assert bool(closed.finite) and not bool(closed.saturated) and not bool(closed.overflowed)


def test_closed_form_matches_explicit_jacobian_products():
    """‖g_t J_t ··· J_{k+1}‖ with the real (S, S) Jacobians of jax.jacobian, in NumPy, for the
    LRU (complex a: each unit's 2×2 block is |a| times a rotation)."""
    cell, length = make_cell("lru"), 6
    xs, carry0 = XS[:length], carry0_of(cell)
    states = np.asarray(rg.unroll(cell, xs, carry0))
    prev = np.concatenate([np.asarray(carry0)[None], states[:-1]])
    jac = jax.jit(jax.jacobian(lambda x, s: cell(x, s), argnums=1))
    grad = jax.jit(jax.grad(step_loss))
    jacs = [np.asarray(jac(x, jnp.asarray(p))) for x, p in zip(xs, prev)]
    grads = [np.asarray(grad(jnp.asarray(s), YS[t])) for t, s in enumerate(states)]
    want = np.full((length, length), -np.inf)
    for t in range(length):
        row = grads[t]
        for k in range(t, -1, -1):
            want[t, k] = np.log10(np.linalg.norm(row))
            row = row @ jacs[k]
    res = rg.timestep_contributions(cell, xs, carry0, step_loss, YS[:length], method="diagonal")
    assert_same_logs(res.log_norms, want, 1e-12)
    # The product of the step Jacobians is W_rec^(t-k), a matrix power.
    direct = np.linalg.norm(grads[5] @ np.linalg.matrix_power(np.asarray(cell.recurrent_weight), 5))
    assert math.isclose(float(res.norms[5, 0]), direct, rel_tol=1e-12)


@pytest.mark.parametrize("name", ("diagonal", "lru"))
def test_closed_form_is_exact_at_long_lags(name):
    """|a| = 0.5 over T = 2000 steps: log10 ‖∂L_t/∂s_k‖ = log10 ‖ĝ_t‖ + (t − k) log10 0.5
    (about −600 at the longest lag), where the norms themselves underflow to 0."""
    length = 2000
    if name == "diagonal":
        cell = eqx.tree_at(lambda c: c.lam, rg.DiagonalLinearCell(1, 2, key=KEY), jnp.full(2, 0.5))
    else:  # |λ| = 0.5 with two phases: ν = log(log 2)
        cell = rg.LRUCell(1, 2, key=KEY)
        cell = eqx.tree_at(lambda c: c.nu_log, cell, jnp.full(2, math.log(math.log(2.0))))
    xs = jax.random.normal(jax.random.key(6), (length, 1))
    loss = lambda carry, y: jnp.sum(carry * jnp.arange(1.0, carry.shape[0] + 1.0))
    res = rg.timestep_contributions(cell, xs, cell.init_carry(), loss, method="diagonal")
    lag = np.arange(length)[:, None] - np.arange(length)[None, :]
    head = 0.5 * math.log10(float(np.sum(np.arange(1.0, 2 * cell.hidden_size + 1) ** 2)))
    if name == "diagonal":
        head = 0.5 * math.log10(1.0 + 4.0)
    want = np.where(lag >= 0, head + lag * math.log10(0.5), -np.inf)
    logs = np.asarray(res.log_norms)
    assert_same_logs(logs, want, 1e-9)
    assert logs[-1, 0] == pytest.approx(head + 1999 * math.log10(0.5), abs=1e-9)
    assert logs[-1, 0] < -600 and float(res.norms[-1, 0]) == 0.0  # underflowed, logs exact


def test_exact_zeros_give_minus_inf_without_nan():
    """a = 0 on one unit cuts its gradient beyond lag 0: log −inf, never NaN."""
    cell = eqx.tree_at(lambda c: c.lam, rg.DiagonalLinearCell(1, 2, key=KEY), jnp.array([0.0, 0.5]))
    xs = jnp.ones((4, 1))
    loss = lambda carry, y: carry[0] + 0.0 * carry[1]  # only the cut unit has a loss
    with pytest.warns(rg.NumericalWarning, match="exactly zero"):
        res = rg.timestep_contributions(cell, xs, jnp.zeros(2), loss, method="diagonal")
    logs = np.asarray(res.log_norms)
    assert not np.isnan(logs).any()
    assert np.array_equal(np.isfinite(logs), np.eye(4, dtype=bool))
    assert bool(res.saturated)
    with pytest.warns(rg.NumericalWarning, match="exactly zero"):
        generic = rg.timestep_contributions(cell, xs, jnp.zeros(2), loss, blocks=1)
    assert_same_logs(res.log_norms, generic.log_norms, 1e-14)
    assert_close(res.param_grads, generic.param_grads, 1e-14)


def test_closed_form_under_jit_and_vmap_over_scales():
    cell = make_cell("minlstm")
    carry0 = carry0_of(cell)

    def logs(scale):
        c = rg.scale_recurrent(cell, scale)
        res = rg.timestep_contributions(c, XS, carry0, step_loss, YS, method="diagonal")
        return res.log_norms

    scales = jnp.array([0.5, 1.0, 1.5])
    batched = jax.jit(jax.vmap(logs))(scales)
    for i, scale in enumerate(scales):
        assert_same_logs(batched[i], logs(scale), 1e-12)


# --------------------------------------------------------------------------- errors


def test_nonlinear_cells_are_refused_naming_the_option_and_the_method():
    vanilla = rg.VanillaCell(IN, H, key=KEY)
    for cell in (vanilla, rg.IndRNNCell(IN, H, key=KEY), rg.gru(IN, H, key=KEY)):
        carry0 = rg.init_carry(cell)
        with pytest.raises(TypeError, match=r"`parallel=True` needs .*`diagonal_step`"):
            rg.unroll(cell, XS, carry0, parallel=True)
        with pytest.raises(TypeError, match=r"`parallel=True` needs .*def diagonal_step"):
            rg.final_carry(cell, XS, carry0, parallel=True)
    with pytest.raises(TypeError, match=r'`method="diagonal"` needs .*`diagonal_step`'):
        rg.timestep_contributions(vanilla, XS, jnp.zeros(H), step_loss, YS, method="diagonal")
    with pytest.raises(TypeError, match=r"VanillaCell has no `diagonal_step`.*def diagonal_step"):
        rg.cells.diagonal_step(vanilla, XS[0])
    with pytest.raises(ValueError, match=r"`method` must be one of \[.*'diagonal'\]"):
        rg.timestep_contributions(vanilla, XS, jnp.zeros(H), step_loss, YS, method="closed")


@pytest.mark.parametrize("bad", ["yes", 1, None, 0.5, jnp.array(True)])
def test_parallel_must_be_a_bool(bad):
    cell = make_cell("diagonal")
    for fn in (rg.unroll, rg.final_carry):
        with pytest.raises(TypeError, match="`parallel` must be True or False"):
            fn(cell, XS, cell.init_carry(), parallel=bad)


class WrongShape(Leaky):
    def diagonal_step(self, x):
        return jnp.ones(3), x


class Stretched(Leaky):
    """Diagonal coordinates that are not an isometry of the carry (z = 2 s)."""

    def diagonal_step(self, x):
        return self.a, 2.0 * x

    def to_diagonal(self, carry):
        return 2.0 * carry

    def from_diagonal(self, z):
        return 0.5 * z


def test_broken_diagonal_protocols_are_named():
    xs = jnp.ones((4, 2))
    with pytest.raises(ValueError, match=r"`parallel=True`: WrongShape.diagonal_step.*same shape"):
        rg.unroll(WrongShape(jnp.ones(2)), xs, jnp.zeros(2), parallel=True)
    stretched = Stretched(jnp.array([0.5, 0.9]))
    want = rg.unroll(stretched, xs, jnp.ones(2))
    assert_close(rg.unroll(stretched, xs, jnp.ones(2), parallel=True), want, 1e-14)
    loss = lambda c, y: jnp.sum(c)
    with pytest.raises(ValueError, match=r'`method="diagonal"`.*keep the norm.*method="scan"'):
        rg.timestep_contributions(stretched, xs, jnp.zeros(2), loss, method="diagonal")
