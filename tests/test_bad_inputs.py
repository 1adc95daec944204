"""Every bad input gets a clear error naming the argument; nothing is ever silent.

Covers rnngrad.esn, the tasks, rg.init, rg.EchoStateCell, mackey_glass and the analyses
(success statistics, growth rates, task lag profiles). Each test calls with a malformed
argument and checks the error type and that the message names the argument as the
function's signature spells it (in backticks). Sizes are tiny: the tests are about the
checks, not the numerics (float64 and strict promotion via conftest).
"""

import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnngrad as rg
from rnngrad._analysis import wilson_interval
from rnngrad._checks import NumericalWarning, flags_of
from rnngrad.esn import (
    EchoStateCell,
    echo_state_property,
    effective_spectral_radius,
    generate,
    memory_capacity,
    memory_curve,
    nrmse,
    predict,
    readout_apply,
    ridge_readout,
    select_ridge,
    states,
)
from rnngrad.tasks import (
    AddingTask,
    CopyTask,
    MultiplicationTask,
    SequenceTarget,
    TemporalOrderTask,
    mackey_glass,
    make_task,
)

KEY = jax.random.key(0)
CELL = EchoStateCell(1, 5, key=KEY)
U = jnp.linspace(-0.5, 0.5, 12)[:, None]
BAD_KEYS = [
    (None, TypeError),
    (12, TypeError),
    (jax.random.split(KEY, 3), ValueError),  # a batch of keys, not one
]
INITS = [
    rg.init.gaussian(1.0),
    rg.init.orthogonal(1.0),
    rg.init.identity(1.0),
    rg.init.spectral_radius(0.9),
]


def _collinear():
    """(20, 4) states whose last column repeats the first: X has rank 3."""
    x = np.random.default_rng(0).normal(size=(20, 3)) + 1.0
    return np.concatenate([x, x[:, :1]], axis=1)


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize("key, error", BAD_KEYS)
def test_esn_functions_name_a_bad_key(key, error):
    with pytest.raises(error, match="`key`"):
        echo_state_property(CELL, U, key=key)
    with pytest.raises(error, match="`key`"):
        memory_curve(CELL, key=key, k_max=2, train_length=10, test_length=10)
    with pytest.raises(error, match="`key`"):
        memory_capacity(CELL, key=key, k_max=2, train_length=10, test_length=10)
    with pytest.raises(error, match="`key`"):
        EchoStateCell(1, 5, key=key)


@pytest.mark.parametrize("key, error", BAD_KEYS)
def test_task_batch_names_a_bad_key(key, error):
    with pytest.raises(error, match=r"AddingTask\.batch: `key`"):
        AddingTask(10).batch(key, 2)
    with pytest.raises(error, match="`key`"):
        CopyTask(5, pattern_length=2).sample(key)


@pytest.mark.parametrize("key, error", BAD_KEYS)
@pytest.mark.parametrize("init", INITS)
def test_initialisers_name_a_bad_key(init, key, error):
    with pytest.raises(error, match="`key`"):
        init(key, (3, 3))


# --------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", [jnp.int32, "banana", jnp.complex64, bool])
def test_non_float_dtype_is_a_type_error_naming_dtype(dtype):
    with pytest.raises(TypeError, match="`dtype` must be a floating dtype"):
        EchoStateCell(1, 3, dtype=dtype, key=KEY)
    with pytest.raises(TypeError, match="`dtype` must be a floating dtype"):
        mackey_glass(5, dtype=dtype)
    for init in INITS:
        with pytest.raises(TypeError, match="`dtype` must be a floating dtype"):
            init(KEY, (3, 3), dtype)


def test_values_that_overflow_the_dtype_are_named():
    f32 = jnp.float32
    with pytest.raises(ValueError, match=r"`spectral_radius` = 1e\+300 overflows float32"):
        EchoStateCell(1, 3, spectral_radius=1e300, dtype=f32, key=KEY)
    with pytest.raises(ValueError, match="`input_scaling`.*overflows float32"):
        EchoStateCell(1, 3, input_scaling=-1e300, dtype=f32, key=KEY)
    with pytest.raises(ValueError, match="`rho`.*overflows float32"):
        rg.init.spectral_radius(1e300)(KEY, (3, 3), f32)
    with pytest.raises(ValueError, match="`scale`.*overflows float32"):
        rg.init.gaussian(1e300)(KEY, (3, 3), f32)
    with pytest.raises(ValueError, match="`a`.*overflows float32"):
        mackey_glass(5, a=1e300, dtype=f32)
    with pytest.raises(ValueError, match="`scale`.*overflows float32"):
        EchoStateCell(1, 3, dtype=f32, key=KEY).scale_recurrent(1e300)


def test_mixed_float_precisions_are_cast_up_never_down():
    # Lower-precision inputs are cast up (exact); strict promotion never reaches the user.
    u32 = U.astype(jnp.float32)
    np.testing.assert_array_equal(states(CELL, u32), states(CELL, u32.astype(jnp.float64)))
    x = jnp.asarray(_collinear())
    y = x[:, 1]
    np.testing.assert_array_equal(
        ridge_readout(x.astype(jnp.float32), y, ridge=1.0),
        ridge_readout(x.astype(jnp.float32).astype(jnp.float64), y, ridge=1.0),
    )
    assert nrmse(y.astype(jnp.float32), y).dtype == jnp.float64
    # A wider dtype than the cell's is an error with the fix, not a silent downcast.
    cell32 = EchoStateCell(1, 5, dtype=jnp.float32, key=KEY)
    with pytest.raises(TypeError, match=r"`inputs` has dtype float64.*inputs\.astype"):
        states(cell32, U)
    with pytest.raises(TypeError, match="`h0` must have the cell's dtype float64"):
        states(CELL, U, jnp.zeros(5, jnp.float32))
    with pytest.raises(TypeError, match="`x` has dtype float64, wider than the cell's float32"):
        cell32(jnp.ones(1), jnp.zeros(5, jnp.float32))


def test_half_precision_reservoirs_are_normalised_in_float32():
    # LAPACK has no float16 eigensolver: the spectral radius is computed in float32.
    cell = EchoStateCell(1, 4, connectivity=1.0, dtype=jnp.float16, key=KEY)
    assert cell.weight_hh.dtype == jnp.float16
    radius = np.max(np.abs(np.linalg.eigvals(np.asarray(cell.weight_hh, np.float64))))
    assert abs(radius - 0.9) < 1e-2
    assert rg.init.spectral_radius(0.9)(KEY, (3, 3), jnp.float16).dtype == jnp.float16


def test_cell_step_names_x_and_h():
    h = jnp.zeros(5)
    with pytest.raises(TypeError, match=r"`x` must be an array.*jnp\.asarray\(x\)"):
        CELL([0.5], h)
    with pytest.raises(TypeError, match="`x` must have a floating dtype"):
        CELL(jnp.ones(1, jnp.int32), h)
    with pytest.raises(TypeError, match="`h` must be real.*complex"):
        CELL(jnp.ones(1), h.astype(jnp.complex128))
    with pytest.raises(ValueError, match=r"`h` must have shape \(5,\)"):
        CELL(jnp.ones(1), jnp.zeros(4))


# --------------------------------------------------------------------------- ridge = 0


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("one_d", [True, False])
def test_ridge_zero_on_collinear_states_is_the_pseudo_inverse_solution(bias, one_d):
    x = _collinear()
    rng = np.random.default_rng(1)
    y = x[:, :3] @ np.array([[1.0, -2.0], [0.5, 0.0], [2.0, 1.0]]) + rng.normal(size=(20, 2))
    y = y[:, 0] if one_d else y
    got = np.asarray(ridge_readout(jnp.asarray(x), jnp.asarray(y), ridge=0.0, bias=bias))
    # Independent reference: NumPy's pseudo-inverse of the (centred) states.
    y2 = y.reshape(20, -1)
    if bias:
        xm, ym = x.mean(0), y2.mean(0)
        w = np.linalg.pinv(x - xm) @ (y2 - ym)  # (N, out)
        ref = np.concatenate([w.T, (ym - xm @ w)[:, None]], axis=1)
    else:
        ref = (np.linalg.pinv(x) @ y2).T
    ref = ref[0] if one_d else ref
    assert np.all(np.isfinite(got))
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
    # The collinear pair shares its weight equally (the minimum-norm split).
    w_x = got if one_d else got[0]
    assert abs(w_x[0] - w_x[3]) <= 1e-9 * abs(w_x[0])


def test_singular_solves_fall_back_to_the_minimum_norm_readout():
    x, y = jnp.asarray(_collinear()), jnp.asarray(_collinear()[:, 1])
    exact = ridge_readout(x, y, ridge=0.0)
    # A ridge below the Gram matrix's rounding leaves it singular: same answer, finite.
    np.testing.assert_allclose(ridge_readout(x, y, ridge=1e-300), exact, rtol=1e-9, atol=1e-12)
    # Constant states: the readout is the bias alone.
    w = ridge_readout(jnp.ones((6, 2)), jnp.arange(6.0), ridge=0.0)
    np.testing.assert_allclose(w, [0.0, 0.0, 2.5], atol=1e-15)
    # Traced ridges (a vmap over a grid) give the same readouts as eager calls.
    grid = jnp.array([0.0, 1e-300, 1.0])
    batched = jax.vmap(lambda r: ridge_readout(x, y, ridge=r))(grid)
    for i, r in enumerate([0.0, 1e-300, 1.0]):
        np.testing.assert_allclose(batched[i], ridge_readout(x, y, ridge=r), rtol=1e-12, atol=1e-12)


def test_select_ridge_with_a_zero_ridge_is_finite_and_flagged():
    x, y = jnp.asarray(_collinear()), jnp.asarray(_collinear()[:, 1] + 0.1 * _collinear()[:, 2])
    pick = select_ridge(x[:14], y[:14], ridges=[0.0, 1e3], validation=(x[14:], y[14:]))
    assert np.all(np.isfinite(pick.scores)) and pick.ridge == 0.0
    exact = ridge_readout(x[:14], y[:14], ridge=0.0)
    np.testing.assert_allclose(pick.readout, exact, rtol=1e-12, atol=1e-12)
    assert bool(pick.finite) and flags_of(pick) == {"finite": True}


# --------------------------------------------------------------------------- ESN values


def test_memory_capacity_needs_a_defined_correlation():
    for length in (1, 2):
        with pytest.raises(ValueError, match=rf"`test_length` must be >= 3.*got {length}"):
            memory_capacity(CELL, key=KEY, k_max=2, train_length=10, test_length=length)
    with pytest.raises(ValueError, match="`train_length` must be >= 2.*got 1"):
        memory_capacity(CELL, key=KEY, k_max=2, train_length=1, test_length=10)
    # A reservoir deaf to its input gives a constant readout: r² = 0, not 0/0 = NaN.
    deaf = rg.VanillaCell(1, 3, weight_ih_init=lambda k, s, d=None: jnp.zeros(s, d), key=KEY)
    curve = memory_curve(deaf, key=KEY, k_max=2, train_length=10, test_length=10)
    assert np.all(np.isfinite(curve)) and float(jnp.max(curve)) < 1e-20


def test_nrmse_of_a_constant_target():
    with pytest.raises(ValueError, match="`target` is constant"):
        nrmse(jnp.array([1.0, 2.0]), jnp.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="`target` must not be empty"):
        nrmse(jnp.ones(0), jnp.ones(0))
    with pytest.raises(ValueError, match="`target` must be finite"):
        nrmse(jnp.ones(2), jnp.array([1.0, jnp.inf]))
    # Traced: inf, as documented (no value to check at trace time).
    assert float(jax.jit(nrmse)(jnp.array([1.0, 2.0]), jnp.array([1.0, 1.0]))) == np.inf
    with pytest.warns(NumericalWarning, match="`prediction` holds NaN"):
        nrmse(jnp.array([jnp.nan, 1.0]), jnp.array([0.0, 1.0]))


def test_non_finite_esn_arguments_are_named():
    bad = U.at[3, 0].set(jnp.inf)
    readout = jnp.ones(6)
    with pytest.raises(ValueError, match="`inputs` must be finite"):
        states(CELL, bad)
    with pytest.raises(ValueError, match="`h0` must not contain NaN"):
        states(CELL, U, jnp.full(5, jnp.nan))
    with pytest.raises(ValueError, match="`inputs` must be finite"):
        predict(CELL, readout, bad)
    with pytest.raises(ValueError, match="`readout` must not contain NaN"):
        predict(CELL, readout.at[0].set(jnp.nan), U)
    with pytest.raises(ValueError, match="`inputs` must be finite"):
        echo_state_property(CELL, bad, key=KEY)
    x, y = jnp.asarray(_collinear()), jnp.asarray(_collinear()[:, 0])
    with pytest.raises(ValueError, match="`states` must be finite"):
        ridge_readout(x.at[0, 0].set(jnp.inf), y, ridge=1.0)
    with pytest.raises(ValueError, match="`targets` must be finite"):
        ridge_readout(x, y.at[0].set(-jnp.inf), ridge=1.0)
    with pytest.raises(ValueError, match="`h` must not contain NaN"):
        generate(CELL, readout, jnp.full(5, jnp.nan), jnp.ones(1), 2)
    with pytest.raises(ValueError, match="`x0` must not contain NaN"):
        generate(CELL, readout, jnp.zeros(5), jnp.array([jnp.nan]), 2)
    with pytest.raises(ValueError, match="`readout` must not contain NaN"):
        readout_apply(readout.at[2].set(jnp.nan), jnp.ones((3, 5)))


def test_a_diverging_free_run_warns():
    linear = EchoStateCell(1, 5, nonlinearity="identity", key=KEY)  # unbounded feedback
    with pytest.warns(NumericalWarning, match="free run diverged"):
        generate(linear, jnp.full(6, 1e300), jnp.zeros(5), jnp.ones(1), 5)


# --------------------------------------------------------------------------- ESN messages


def test_esn_messages_name_the_signature_parameters():
    with pytest.raises(ValueError, match="`inputs` has T = 0"):
        states(CELL, jnp.ones((0, 1)))
    with pytest.raises(ValueError, match="`inputs` has T = 0"):
        echo_state_property(CELL, jnp.ones((0, 1)), key=KEY)
    with pytest.raises(ValueError, match=r"`inputs` must have shape \(T, 1\)"):
        states(CELL, jnp.ones((4, 2)))
    with pytest.raises(ValueError, match=r"`inputs` must have shape \(T, 1\)"):
        echo_state_property(CELL, jnp.ones((4, 2)), key=KEY)
    with pytest.raises(ValueError, match=r"`h0` must be of shape \(5,\)"):
        states(CELL, U, jnp.zeros(3))
    with pytest.raises(ValueError, match=r"`inputs` must be of shape \(T, input_size\).*vmap"):
        states(CELL, U[None])
    with pytest.raises(TypeError, match="`inputs` must have a floating dtype.*complex"):
        states(CELL, U.astype(jnp.complex128))
    with pytest.raises(ValueError, match=r"`h` must be of shape \(5,\)"):
        generate(CELL, jnp.ones(6), jnp.zeros(3), jnp.ones(1), 2)
    with pytest.raises(ValueError, match=r"`x0` must have shape \(input_size,\) = \(1,\)"):
        generate(CELL, jnp.ones(6), jnp.zeros(5), jnp.ones(2), 2)
    with pytest.raises(ValueError, match="`readout` must have last dimension N = 5"):
        generate(CELL, jnp.ones(9), jnp.zeros(5), jnp.ones(1), 2)
    with pytest.raises(ValueError, match="`states` must have T >= 1"):
        ridge_readout(jnp.ones((0, 3)), jnp.ones(0), ridge=1.0)
    with pytest.raises(TypeError, match="`bias` must be a bool"):
        ridge_readout(jnp.ones((4, 3)), jnp.ones(4), ridge=1.0, bias=1)
    with pytest.raises(TypeError, match="`cell` must be an EchoStateCell"):
        effective_spectral_radius(rg.VanillaCell(1, 3, key=KEY))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: states(CELL, [[0.0]] * 4), "inputs"),
        (lambda: ridge_readout([[1.0]], jnp.ones(1), ridge=1.0), "states"),
        (lambda: readout_apply([1.0] * 6, jnp.ones((3, 5))), "readout"),
        (lambda: nrmse([1.0, 2.0], jnp.ones(2)), "prediction"),
        (lambda: generate(CELL, jnp.ones(6), jnp.zeros(5), [1.0], 2), "x0"),
        (lambda: AddingTask(10).loss(jnp.zeros(1), [0.5]), "y"),
        (lambda: TemporalOrderTask(10).loss([0.0] * 4, jnp.array(1)), "prediction"),
        (lambda: AddingTask(10).error_rate([[0.0]] * 2, jnp.zeros((2, 1))), "predictions"),
    ],
)
def test_a_python_list_gets_the_jnp_asarray_fix(call, name):
    with pytest.raises(TypeError, match=rf"`{name}`.*use jnp\.asarray\({name}\)"):
        call()


def test_memory_and_esp_arguments():
    with pytest.raises(TypeError, match="`input_range` must be a pair"):
        memory_curve(CELL, key=KEY, input_range=None)
    with pytest.raises(TypeError, match="`input_range` must be a pair"):
        memory_curve(CELL, key=KEY, input_range=(1.0,))
    with pytest.raises(ValueError, match="`input_range` must be finite with low < high"):
        memory_curve(CELL, key=KEY, input_range=(1.0, 1.0))
    with pytest.raises(ValueError, match="`init_scale` must be finite"):
        echo_state_property(CELL, U, key=KEY, init_scale=float("nan"))


def test_select_ridge_arguments():
    x, y = jnp.asarray(_collinear()), jnp.asarray(_collinear()[:, 0])
    val = (x, y)
    for ridges in ("abc", [True], [1j]):
        with pytest.raises(TypeError, match="`ridges` must be a sequence of real numbers"):
            select_ridge(x, y, ridges=ridges, validation=val)
    with pytest.raises(ValueError, match=r"`validation\[0\]` \(val_states\) must have shape"):
        select_ridge(x, y, ridges=[1.0], validation=(x[:, :2], y))
    with pytest.raises(ValueError, match=r"`validation\[1\]` must be of shape \(20,\)"):
        select_ridge(x, y, ridges=[1.0], validation=(x, y[:, None]))  # no broadcasting
    with pytest.raises(ValueError, match=r"`validation\[1\]` must be of shape \(5,\)"):
        select_ridge(x, y, ridges=[1.0], validation=(x[:5], y))
    with pytest.raises(ValueError, match=r"`validation\[1\]` must not contain NaN"):
        select_ridge(x, y, ridges=[1.0], validation=(x, y.at[0].set(jnp.nan)))
    with pytest.raises(TypeError, match="`score` must be a callable"):
        select_ridge(x, y, ridges=[1.0], score=3)
    with pytest.raises(ValueError, match="`score` must return a scalar"):
        select_ridge(x, y, ridges=[1.0], score=lambda w: w)


# --------------------------------------------------------------------------- tasks


def test_out_of_range_class_labels():
    task = TemporalOrderTask(10)
    for label in (4, -1):
        with pytest.raises(
            ValueError, match=rf"`y` must hold class labels in \[0, 4\), got {label}"
        ):
            task.loss(jnp.zeros(4), jnp.array(label))
        with pytest.raises(ValueError, match="`y` must hold class labels"):
            task.is_correct(jnp.zeros(4), jnp.array(label))
        # Traced: NaN, never the wrapped-around value of the last class.
        assert np.isnan(float(jax.jit(task.loss)(jnp.zeros(4), jnp.array(label))))
    copy = CopyTask(5, pattern_length=2, n_symbols=3)
    _, y = copy.sample(KEY)
    bad = y._replace(labels=y.labels.at[-1].set(9))
    with pytest.raises(ValueError, match=r"`y\.labels` must hold class labels in \[0, 4\), got 9"):
        copy.loss(jnp.zeros((5, 4)), bad)
    assert np.isnan(float(jax.jit(copy.loss)(jnp.zeros((5, 4)), bad)))
    with pytest.raises(ValueError, match=r"`ys\.labels` must hold class labels"):
        copy.error_rate(jnp.zeros((1, 5, 4)), jax.tree_util.tree_map(lambda a: a[None], bad))


def test_copy_targets_are_checked():
    copy = CopyTask(5, pattern_length=2, n_symbols=3)
    _, y = copy.sample(KEY)
    logits = jnp.zeros((5, 4))
    with pytest.raises(TypeError, match="`y` must be a SequenceTarget"):
        copy.loss(logits, y.labels)
    with pytest.raises(TypeError, match=r"`y\.mask` must be a bool array of shape \(5,\)"):
        copy.loss(logits, y._replace(mask=y.mask.astype(jnp.int32)))
    with pytest.raises(ValueError, match=r"`y\.mask` selects no step"):
        copy.loss(logits, SequenceTarget(y.labels, jnp.zeros(5, bool)))
    with pytest.raises(ValueError, match=r"`y\.labels` must be class labels of shape \(5,\)"):
        copy.loss(logits, y._replace(labels=y.labels[:3]))


@pytest.mark.parametrize("task", [AddingTask(10), MultiplicationTask(10)])
def test_regression_targets_are_never_broadcast(task):
    pred = jnp.zeros(1)
    for y in (jnp.zeros(3), jnp.zeros((3, 1)), jnp.zeros(())):
        pattern = r"`y` must have shape \(1,\).*got .*shape " + re.escape(str(tuple(y.shape)))
        with pytest.raises(ValueError, match=pattern):
            task.loss(pred, y)
        with pytest.raises(ValueError, match=r"`y` must have shape \(1,\)"):
            task.is_correct(pred, y)
    with pytest.raises(ValueError, match=r"`prediction` must have shape \(1,\)"):
        task.loss(jnp.zeros(3), jnp.zeros(1))
    with pytest.raises(ValueError, match=r"`ys` must have shape \(4, 1\)"):
        task.error_rate(jnp.zeros((4, 1)), jnp.zeros((4, 3)))
    with pytest.raises(TypeError, match="`y` must be a real array"):
        task.loss(pred, jnp.zeros(1, jnp.complex128))
    with pytest.raises(ValueError, match="`y` must be finite"):
        task.loss(pred, jnp.array([jnp.nan]))


def test_task_constructors_and_factory():
    with pytest.raises(TypeError, match="`bits` must be an int"):
        TemporalOrderTask(10, bits=2.0)
    with pytest.raises(TypeError, match="`variant` must be one of"):
        AddingTask(10, variant=3)
    with pytest.raises(TypeError, match="`loss_steps` must be one of"):
        CopyTask(30, loss_steps=1)
    with pytest.raises(ValueError, match="`value_range` must lie within"):
        AddingTask(10, value_range=(-1e300, 1e300), dtype=jnp.float32)
    with pytest.raises(ValueError, match="`value_range` must lie within"):
        MultiplicationTask(10, value_range=(0.0, 1e300))
    with pytest.raises(ValueError, match="unknown task `name` 'nonsense'.*'adding'.*'copy'"):
        make_task("nonsense", 10)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['bits'\].*'variant'"):
        make_task("adding", 10, bits=3)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['foo'\].*'pattern_length'"):
        CopyTask.from_delay(3, foo=1)
    for size, error in ((0, ValueError), (-1, ValueError), (2.0, TypeError)):
        with pytest.raises(error, match="`batch_size` must be a positive int"):
            AddingTask(10).batch(KEY, size)


# --------------------------------------------------------------------------- analyses


def test_wilson_interval_arguments():
    with pytest.raises(ValueError, match="`successes` must be <= `trials`.*5 > trials = 3"):
        wilson_interval(5, 3)
    with pytest.raises(ValueError, match="`successes` must be >= 0"):
        wilson_interval(-1, 3)
    with pytest.raises(ValueError, match="`trials` must be >= 0"):
        wilson_interval(0, -3)
    for bad in (1.5, True, "1"):
        with pytest.raises(TypeError, match="`successes` must be an int"):
            wilson_interval(bad, 3)
    with pytest.raises(ValueError, match="`z` must be > 0"):
        wilson_interval(1, 3, z=-1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(jnp.array(1), np.int64(3)) == wilson_interval(1, 3)


def test_success_stats_arguments():
    solved = [True, False]
    with pytest.raises(ValueError, match="`test_loss` must have the shape"):
        rg.success_stats(solved, test_loss=[0.1], baseline=0.2)
    # A NaN/inf loss is a diverged seed: reported as such, never silently "not stuck".
    for bad in (float("nan"), float("inf")):
        s = rg.success_stats(solved + [False], test_loss=[0.1, 0.3, bad], baseline=0.2)
        assert (s.stuck, s.diverged) == (1, 1) and s.as_dict()["diverged"] == 1
    with pytest.raises(TypeError, match="`test_loss` must be an array of real numbers"):
        rg.success_stats(solved, test_loss=["a", "b"], baseline=0.2)
    with pytest.raises(ValueError, match="`baseline` must be finite"):
        rg.success_stats(solved, test_loss=[0.1, 0.3], baseline=float("nan"))
    with pytest.raises(ValueError, match="`tolerance` must lie in"):
        rg.success_stats(solved, test_loss=[0.1, 0.3], baseline=0.2, tolerance=-1.0)
    with pytest.raises(TypeError, match=r"`solved` must be an array of bools.*np\.asarray"):
        rg.success_stats([1, 0])


def test_growth_rate_and_task_lag_profile_arguments():
    for bad in ("abc", None):
        with pytest.raises(TypeError, match="`log10_profile` must be a real array"):
            rg.growth_rate(bad)
    with pytest.raises(ValueError, match="`log10_profile` must have at least two lags"):
        rg.growth_rate(jnp.zeros(1))
    task = AddingTask(10)
    model = rg.RNNModel(rg.VanillaCell(2, 3, key=KEY), 1, key=KEY)
    xs, ys = task.batch(KEY, 2)
    kw = dict(readout=model.readout)
    with pytest.raises(ValueError, match=r"`xs` must be of shape \(B, T, 2\)"):
        rg.task_lag_profile(model.cell, task, xs[0], ys[0], **kw)
    with pytest.raises(ValueError, match=r"`xs` must have shape \(B, T, 2\)"):
        rg.task_lag_profile(model.cell, task, xs[..., :1], ys, **kw)
    with pytest.raises(ValueError, match=r"`ys` must have shape \(2, 1\)"):
        rg.task_lag_profile(model.cell, task, xs, ys[:1], **kw)
    with pytest.raises(ValueError, match="`xs` must be finite"):
        rg.task_lag_profile(model.cell, task, xs.at[0, 0, 0].set(jnp.nan), ys, **kw)
    with pytest.raises(ValueError, match=r"`readout` must map .* shape \(1,\)"):
        rg.task_lag_profile(model.cell, task, xs, ys, readout=lambda f: f)
    with pytest.raises(TypeError, match="`relative` must be a bool"):
        rg.task_lag_profile(model.cell, task, xs, ys, relative="no", **kw)
    copy = CopyTask(5, pattern_length=2)
    with pytest.raises(ValueError, match="`task` must have a final-step loss"):
        rg.task_lag_profile(model.cell, copy, *copy.batch(KEY, 2), **kw)


# --------------------------------------------------------------------------- init, cell, MG


def test_initialiser_arguments():
    init = rg.init.gaussian(1.0)
    for shape in (3, "ab", (2.5, 3)):
        with pytest.raises(TypeError, match="`shape` must be a tuple"):
            init(KEY, shape)
    with pytest.raises(ValueError, match=r"`base` must return an array of the shape \(3, 3\)"):
        rg.init.spectral_radius(1.0, base=lambda k, s, d: jnp.ones(2, d))(KEY, (3, 3))
    with pytest.raises(ValueError, match="`base` returned non-finite values"):
        rg.init.spectral_radius(1.0, base=lambda k, s, d: jnp.full(s, jnp.nan, d))(KEY, (3, 3))
    with pytest.raises(TypeError, match="`base` must be a callable"):
        rg.init.spectral_radius(1.0, base=3)


def test_echo_state_cell_arguments():
    def nan_init(k, s, d):
        return jnp.full(s, jnp.nan, d)

    with pytest.raises(ValueError, match="`weight_hh_init` returned non-finite values"):
        EchoStateCell(1, 3, weight_hh_init=nan_init, key=KEY)
    with pytest.raises(ValueError, match="`weight_hh_init` must return .*dtype float64"):
        EchoStateCell(1, 3, weight_hh_init=lambda k, s, d: jnp.ones(s, jnp.int32), key=KEY)
    with pytest.raises(TypeError, match=r"`weight_hh_init` must be an initialiser called as"):
        EchoStateCell(1, 3, weight_hh_init=lambda k: jnp.ones((3, 3)), key=KEY)
    with pytest.raises(TypeError, match="`weight_hh_init` must be a callable"):
        EchoStateCell(1, 3, weight_hh_init=3, key=KEY)
    with pytest.raises(ValueError, match="spectral radius 0.*`weight_hh_init`"):
        EchoStateCell(1, 3, weight_hh_init=lambda k, s, d: jnp.zeros(s, d), key=KEY)
    with pytest.raises(TypeError, match="`scale` must be a real number"):
        CELL.scale_recurrent("a")
    with pytest.raises(ValueError, match="`scale` must be finite"):
        CELL.scale_recurrent(float("nan"))


def test_mackey_glass_never_returns_nan_silently():
    with pytest.raises(ValueError, match="not finite from sample 1.*non-integer `n`"):
        mackey_glass(10, x0=-1.0, n=10.5)
    with pytest.raises(ValueError, match="not finite.*b=1e\\+300"):
        mackey_glass(10, b=1e300)
    with pytest.raises(TypeError, match="`midpoint` must be one of"):
        mackey_glass(10, midpoint=3)
    with pytest.raises(ValueError, match="`tau`"):
        mackey_glass(10, tau=1e12)
    # Traced constants are not inspected (documented): no error inside jit.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = jax.jit(lambda x0: mackey_glass(5, x0=x0, n=10.5))(-1.0)
    assert np.isnan(np.asarray(out)[1:]).all()
