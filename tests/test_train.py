"""Training: seed-vmapped loop, optax clipping, truncated BPTT, divergence, checkpoints."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rnngrad as rg

SMALL = rg.AddingTask(10)


@pytest.fixture(autouse=True)
def standard_promotion():
    """optax's Adam mixes a Python float with an int32 step count, which strict dtype
    promotion (conftest) rejects; rnngrad's own code runs under strict elsewhere."""
    with jax.numpy_dtype_promotion("standard"):
        yield


def vanilla(key, hidden=8, scale=1.0):
    return rg.scale_recurrent(rg.VanillaCell(2, hidden, key=key), scale)


@pytest.mark.optimized
def test_lstm_solves_short_adding_task():
    res = rg.train(
        lambda k: rg.lstm(2, 16, key=k),
        SMALL,
        optimizer=optax.adam(1e-2),
        steps=400,
        batch_size=32,
        key=jax.random.key(0),
        seeds=2,
        test_size=2000,
        chunk_steps=200,
        progress=False,
    )
    assert res.losses.shape == (2, 400) and res.grad_norms.shape == (2, 400)
    # Loss falls far below the baseline 1/6 for both seeds.
    final = np.asarray(res.losses[:, -50:]).mean(axis=1)
    assert np.all(final < 0.1 * SMALL.baseline_loss), final
    assert np.all(np.asarray(res.test_loss) < 0.1 * SMALL.baseline_loss)
    assert np.all(np.asarray(res.first_divergent_step) == -1)
    summary = res.summary()
    assert summary["seeds"] == 2 and 0.0 <= summary["success_95ci"][0] <= summary["success_rate"]


def test_pre_clip_norm_is_true_norm_and_clipping_bounds_update():
    key = jax.random.key(3)
    lr, clip = 1.0, 1e-3
    res = rg.train(
        lambda k: vanilla(k, scale=2.0),
        SMALL,
        optimizer=rg.clipped(optax.sgd(lr), global_norm=clip),
        steps=2,
        batch_size=4,
        key=key,
        seeds=1,
        test_size=10,
        progress=False,
    )
    # Rebuild seed 0's initial model and first batch exactly as train documents.
    k_cell, k_read, k_data, _ = jax.random.split(jax.random.fold_in(key, 0), 4)
    model = rg.RNNModel(rg.fold_recurrent_scale(vanilla(k_cell, scale=2.0)), 1, key=k_read)
    xs, ys = SMALL.batch(jax.random.fold_in(k_data, 0), 4)

    def loss(m):
        return jnp.mean(jax.vmap(lambda x, y: SMALL.loss(m.predict(x), y))(xs, ys))

    grads = eqx.filter_grad(loss)(model)
    true_norm = optax.tree.norm(eqx.filter(grads, eqx.is_inexact_array))
    np.testing.assert_allclose(res.grad_norms[0, 0], true_norm, rtol=1e-10)
    assert float(true_norm) > 10 * clip  # so clipping is active
    # The applied update (params after step 1 minus before) has norm lr * clip.
    trained = rg.train(
        lambda k: vanilla(k, scale=2.0),
        SMALL,
        optimizer=rg.clipped(optax.sgd(lr), global_norm=clip),
        steps=1,
        batch_size=4,
        key=key,
        test_size=10,
        progress=False,
    )
    after = jax.tree_util.tree_map(lambda a: a[0], eqx.filter(trained.model, eqx.is_inexact_array))
    before = eqx.filter(model, eqx.is_inexact_array)
    step = jax.tree_util.tree_map(lambda a, b: a - b, after, before)
    np.testing.assert_allclose(optax.tree.norm(step), lr * clip, rtol=1e-9)


def test_divergence_is_reported_and_skips_are_counted():
    kwargs = dict(
        steps=30,
        batch_size=4,
        key=jax.random.key(1),
        seeds=2,
        test_size=10,
        progress=False,
    )
    # A huge learning rate with a linear RNN at scale 3 overflows quickly.
    make = lambda k: rg.scale_recurrent(  # noqa: E731
        rg.VanillaCell(2, 8, nonlinearity="identity", key=k), 3.0
    )
    task = rg.AddingTask(30)
    with pytest.warns(rg.NumericalWarning, match="2 of 2 seeds went non-finite"):
        res = rg.train(make, task, optimizer=optax.sgd(1e3), **kwargs)
    assert not np.any(np.asarray(res.finite))
    first = np.asarray(res.first_divergent_step)
    assert np.all(first >= 0), first
    losses = np.asarray(res.losses)
    for seed in range(2):
        assert np.all(np.isfinite(losses[seed, : first[seed]]))
        assert not np.isfinite(losses[seed, first[seed]]) or not np.isfinite(
            np.asarray(res.grad_norms)[seed, first[seed]]
        )
    with pytest.warns(rg.NumericalWarning, match="went non-finite"):
        skipping = rg.train(
            make, task, optimizer=rg.clipped(optax.sgd(1e3), skip_nonfinite=1000), **kwargs
        )
    assert np.all(np.asarray(skipping.skipped) > 0)
    # With non-finite updates skipped, the parameters stay finite.
    params = eqx.filter(skipping.model, eqx.is_inexact_array)
    assert all(np.all(np.isfinite(p)) for p in jax.tree_util.tree_leaves(params))


TB_LENGTH = 8
TB_CELL = rg.VanillaCell(1, 3, nonlinearity="identity", key=jax.random.key(2))
TB_XS = jax.random.normal(jax.random.key(3), (TB_LENGTH, 1))
TB_YS = jax.random.normal(jax.random.key(4), (TB_LENGTH, 3))
TB_CARRY0 = jnp.full(3, 0.3)


def tb_step_loss(h, y):
    return 0.5 * jnp.sum((h - y) ** 2)


@jax.jit
def _per_loss_param_grads(only_t):
    """param_grads[k] of the single loss L_t (selected by the one-hot `only_t`)."""
    res = rg.timestep_contributions(
        TB_CELL, TB_XS, TB_CARRY0, lambda h, y: y[0] * tb_step_loss(h, y[1]), (only_t, TB_YS)
    )
    return res.param_grads


@pytest.mark.parametrize("k1,k2", [(1, 3), (1, 1), (2, 4), (3, 3)])
def test_truncated_bptt_equals_lag_limited_contributions(k1, k2):
    length, cell = TB_LENGTH, TB_CELL
    truncated = eqx.filter_grad(
        lambda c: rg.truncated_loss(c, TB_XS, TB_CARRY0, tb_step_loss, TB_YS, k1=k1, k2=k2)
    )(cell)
    # Independent: per-loss contributions from timestep_contributions, kept where L_t may
    # reach step k under BPTT(k2; k1): t - k < k2 - (tau(t) - t), tau(t) = end of t's block.
    want = jax.tree_util.tree_map(jnp.zeros_like, eqx.filter(cell, eqx.is_inexact_array))
    for t in range(length):
        grads = _per_loss_param_grads(jnp.zeros(length).at[t].set(1.0))
        tau = min((t // k1) * k1 + k1 - 1, length - 1)
        for k in range(t + 1):
            if t - k < k2 - (tau - t):
                want = jax.tree_util.tree_map(lambda w, g, k=k: w + g[k], want, grads)
    for g, w in zip(
        jax.tree_util.tree_leaves(eqx.filter(truncated, eqx.is_inexact_array)),
        jax.tree_util.tree_leaves(want),
    ):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-13)
    # The value is the full loss.
    value = rg.truncated_loss(cell, TB_XS, TB_CARRY0, tb_step_loss, TB_YS, k1=k1, k2=k2)
    full = jnp.sum(jax.vmap(tb_step_loss)(rg.unroll(cell, TB_XS, TB_CARRY0), TB_YS))
    np.testing.assert_allclose(value, full, rtol=1e-12)


def test_truncation_with_k2_equal_T_is_full_bptt():
    cell = rg.VanillaCell(1, 3, key=jax.random.key(2))
    xs = jax.random.normal(jax.random.key(3), (6, 1))
    ys = jax.random.normal(jax.random.key(4), (6, 3))

    def step_loss(h, y):
        return jnp.sum((h - y) ** 2)

    a = eqx.filter_grad(lambda c: rg.truncated_loss(c, xs, jnp.zeros(3), step_loss, ys, k1=1, k2=6))
    b = eqx.filter_grad(lambda c: rg.BPTT().loss(c, xs, jnp.zeros(3), step_loss, ys))
    np.testing.assert_allclose(a(cell).weight_hh, b(cell).weight_hh, rtol=1e-12)


RESUME_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import jax, numpy as np, optax
    import rnngrad as rg
    slow = sys.argv[2] == "slow"
    res = rg.train(
        lambda k: rg.VanillaCell(2, 6, key=k), rg.AddingTask(10),
        optimizer=optax.adam(1e-2), steps=40, batch_size=4, key=jax.random.key(7),
        seeds=2, chunk_steps=4, test_size=50, checkpoint_dir=sys.argv[1], progress=False,
        on_chunk=(lambda i, rec: time.sleep(0.4)) if slow else None,
    )
    np.savez(sys.argv[3], losses=np.asarray(res.losses),
             w=np.asarray(res.model.cell.weight_hh), test=np.asarray(res.test_loss))
    """
)


def _run_resume(args, env):
    return subprocess.Popen(
        [sys.executable, "-c", RESUME_SCRIPT, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigkill_and_resume_is_bitwise_equal(tmp_path):
    env = dict(os.environ, JAX_ENABLE_X64="1", JAX_PLATFORMS="cpu")
    ckpt = tmp_path / "ckpt"
    proc = _run_resume([str(ckpt), "slow", str(tmp_path / "killed.npz")], env)
    deadline = time.time() + 240
    while not (ckpt / "state.eqx").exists():
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert not (tmp_path / "killed.npz").exists()  # it really died before finishing
    resumed = _run_resume([str(ckpt), "fast", str(tmp_path / "resumed.npz")], env)
    fresh = _run_resume([str(tmp_path / "fresh"), "fast", str(tmp_path / "fresh.npz")], env)
    for p in (resumed, fresh):
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]
    with np.load(tmp_path / "resumed.npz") as a, np.load(tmp_path / "fresh.npz") as b:
        for name in ("losses", "w", "test"):
            np.testing.assert_array_equal(a[name], b[name])


def test_checkpoint_dir_with_other_arguments_is_refused(tmp_path):
    common = dict(
        optimizer=optax.sgd(1e-2),
        batch_size=2,
        key=jax.random.key(0),
        test_size=4,
        progress=False,
        checkpoint_dir=tmp_path,
        chunk_steps=1,
    )
    make = lambda k: rg.VanillaCell(2, 3, key=k)  # noqa: E731
    rg.train(make, SMALL, steps=2, **common)
    with pytest.raises(ValueError, match="`steps` was 2, now 3"):
        rg.train(make, SMALL, steps=3, **common)
    with pytest.raises(ValueError, match="`task` was"):
        rg.train(make, rg.AddingTask(11), steps=2, **common)


def test_bad_training_input():
    make = lambda k: rg.VanillaCell(2, 3, key=k)  # noqa: E731
    kw = dict(optimizer=optax.sgd(0.1), steps=2, batch_size=2, key=jax.random.key(0))
    with pytest.raises(ValueError, match="`batch_size` must be a positive int, got 0"):
        rg.train(make, SMALL, **{**kw, "batch_size": 0})
    with pytest.raises(ValueError, match="`k2` must be <= T = 10 .*got 11"):
        rg.train(make, SMALL, objective=rg.TruncatedBPTT(1, 11), **kw)
    with pytest.raises(ValueError, match="`k2` must be a positive int, got 0"):
        rg.TruncatedBPTT(1, 0)
    with pytest.raises(ValueError, match="`k1` must be <= k2 = 2"):
        rg.TruncatedBPTT(3, 2)
    with pytest.raises(TypeError, match=r"`tbptt=` was replaced by `objective=rg.TruncatedBPTT"):
        rg.train(make, SMALL, tbptt=(1, 5), **kw)
    with pytest.raises(TypeError, match=r"`omega=` was replaced by `penalties=\(rg.Omega"):
        rg.train(make, SMALL, omega=1.0, **kw)
    with pytest.raises(TypeError, match="`objective` must be an rnngrad objective"):
        rg.train(make, SMALL, objective=(1, 5), **kw)
    with pytest.raises(TypeError, match="`penalties` must be a tuple of rnngrad penalties"):
        rg.train(make, SMALL, penalties=(2.0,), **kw)
    with pytest.raises(ValueError, match="`strength` must be >= 0"):
        rg.Omega(-1.0)
    with pytest.raises(TypeError, match="optax GradientTransformation"):
        rg.train(make, SMALL, **{**kw, "optimizer": "adam"})
    with pytest.raises(TypeError, match="rnngrad task"):
        rg.train(make, "adding", **kw)
    with pytest.raises(ValueError, match="`global_norm` must be > 0, got 0.0"):
        rg.clipped(optax.sgd(0.1), global_norm=0.0)
    with pytest.raises(ValueError, match="`adaptive` must be > 0"):
        rg.clipped(optax.sgd(0.1), adaptive=-1.0)
    with pytest.raises(ValueError, match="`value` must be finite"):
        rg.clipped(optax.sgd(0.1), value=float("nan"))
    with pytest.raises(ValueError, match=r"`k2` must be <= T = 4 .*got 5"):
        rg.truncated_loss(
            rg.VanillaCell(1, 2, key=jax.random.key(0)),
            jnp.ones((4, 1)),
            jnp.zeros(2),
            lambda h, y: jnp.sum(h),
            jnp.ones(4),
            k1=1,
            k2=5,
        )
    with pytest.raises(ValueError, match="unknown task"):
        rg.make_task("addition", 50)


def test_training_with_omega_and_flossing_penalties():
    """Both penalties enter the training loss (Ω per example, flossing per batch)."""
    kwargs = dict(
        optimizer=optax.sgd(1e-2),
        steps=3,
        batch_size=2,
        key=jax.random.key(4),
        test_size=4,
        progress=False,
    )
    make = lambda k: vanilla(k, hidden=4, scale=1.5)  # noqa: E731
    plain = rg.train(make, SMALL, **kwargs)
    penalties = (rg.Omega(2.0), rg.Flossing(1.0, n=1))
    penalised = rg.train(make, SMALL, penalties=penalties, **kwargs)
    assert np.all(np.isfinite(np.asarray(penalised.losses)))
    # Same data, same init: the first loss differs exactly by the penalties' values.
    keys = rg.train_keys(jax.random.key(4), 0)
    model = rg.RNNModel(rg.fold_recurrent_scale(make(keys.cell)), 1, key=keys.readout)
    # Training draws the model inside one compiled program: equal to float rounding.
    assert eqx.tree_equal(model, penalised.seed_model(0, initial=True), rtol=1e-15, atol=1e-15)
    xs, ys = SMALL.batch(jax.random.fold_in(keys.data, 0), 2)
    carry0 = rg.init_carry(model.cell)
    last = SMALL.length - 1

    def step_loss(carry, target):  # the final-step task loss, written out by hand
        t, y = target
        value = SMALL.loss(model.readout(carry), y)
        return jnp.where(t == last, value, 0.0)

    def targets(y):
        return jnp.arange(SMALL.length), jnp.broadcast_to(y, (SMALL.length, *y.shape))

    omega = jnp.mean(
        jax.vmap(lambda x, y: rg.pascanu_omega(model.cell, x, carry0, step_loss, targets(y)))(
            xs, ys
        )
    )
    floss = rg.flossing_penalty(model.cell, xs[0], carry0, n=1, target=0.0)
    np.testing.assert_allclose(
        penalised.losses[0, 0] - plain.losses[0, 0], 2.0 * omega + floss, rtol=1e-9
    )


def test_checkpoint_of_an_older_format_gets_a_clear_error(tmp_path):
    # A folder written by rnngrad 0.1: run.json without a format field (flags, no modules).
    (tmp_path / "run.json").write_text('{"task": "AddingTask(10)", "tbptt": null, "omega": 0.0}')
    with pytest.raises(ValueError, match="older format.*Use a new folder"):
        rg.train(
            lambda k: rg.VanillaCell(2, 3, key=k), SMALL, optimizer=optax.sgd(1e-2), steps=2,
            batch_size=2, key=jax.random.key(0), test_size=4, progress=False,
            checkpoint_dir=tmp_path,
        )  # fmt: skip


@pytest.mark.optimized
def test_lstm_solves_arjovsky_adding_at_t50():
    """The check that would have caught #16's row 1: with Arjovsky et al.'s marker windows
    a forget-bias-1 LSTM solves the adding problem at T = 50 within 2000 Adam steps (both
    seeds; test MSE < 0.01), where the Hochreiter/Pascanu windows keep it on the plateau."""
    task = rg.AddingTask(50, variant="arjovsky")
    res = rg.train(
        lambda k: rg.lstm(2, 32, forget_bias=1.0, key=k),
        task,
        optimizer=rg.clipped(optax.adam(3e-3), global_norm=1.0),
        steps=2000,
        batch_size=32,
        key=jax.random.key(0),
        seeds=2,
        test_size=1000,
        progress=False,
    )
    assert np.all(np.asarray(res.solved)), np.asarray(res.test_loss)
