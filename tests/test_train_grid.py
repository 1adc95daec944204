"""Training grids: hyperparameters as traced values, one program for grid × seeds.

Every grid point is checked against an independent ``rg.train`` call with the same
values written as constants (plain ``optax.sgd``, ``rg.Omega(strength)``,
``rg.scale_recurrent``), in float64; a second call with other hyperparameters is checked
to compile nothing; sharding over 2 CPU devices against one device.
"""

import logging
import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import optax
import pytest

import rnngrad as rg

TASK = rg.AddingTask(10)
KEY = jax.random.key(7)
STEPS, BATCH, SEEDS, TEST = 6, 4, 2, 64


def make_cell(key):
    return rg.VanillaCell(2, 4, key=key)


# One optimizer object, so that every call shares its compiled program.
OPT = rg.clipped(optax.inject_hyperparams(optax.sgd)(learning_rate=0.1), global_norm=1.0)
PENALTIES = (rg.Omega(0.5),)


def run(**kwargs):
    kwargs.setdefault("optimizer", OPT)
    kwargs.setdefault("penalties", PENALTIES)
    return rg.train(
        kwargs.pop("make_cell", make_cell),
        TASK,
        steps=STEPS,
        batch_size=BATCH,
        key=KEY,
        seeds=SEEDS,
        test_size=TEST,
        progress=False,
        **kwargs,
    )


GRID = {"learning_rate": [0.05, 0.3], "max_norm": [0.01, 1.0], "omega_strength": [0.0, 2.0]}


@pytest.fixture(scope="module")
def grid():
    return run(grid=GRID)


def assert_same_run(a, b):
    np.testing.assert_allclose(np.asarray(a.losses), np.asarray(b.losses), rtol=1e-12, atol=0)
    np.testing.assert_allclose(
        np.asarray(a.grad_norms), np.asarray(b.grad_norms), rtol=1e-12, atol=0
    )
    np.testing.assert_allclose(np.asarray(a.test_loss), np.asarray(b.test_loss), rtol=1e-12, atol=0)
    wa = np.asarray(a.model.cell.weight_hh)
    np.testing.assert_allclose(wa, np.asarray(b.model.cell.weight_hh), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("i, j, k", [(0, 0, 0), (1, 1, 1), (1, 0, 1)])
def test_each_grid_point_equals_a_run_with_constants(grid, i, j, k):
    lr, clip, omega = GRID["learning_rate"][i], GRID["max_norm"][j], GRID["omega_strength"][k]
    plain = run(
        optimizer=optax.chain(optax.clip_by_global_norm(clip), optax.sgd(lr)),
        penalties=(rg.Omega(omega),),
    )
    assert_same_run(grid[i, j, k], plain)
    assert_same_run(grid.point(learning_rate=lr, max_norm=clip, omega_strength=omega), plain)
    # The points differ from one another: the values reached the program.
    assert not np.allclose(np.asarray(grid[0, 0, 0].losses), np.asarray(grid[1, 1, 1].losses))


def test_grid_statistics_keep_the_axis_names(grid, tmp_path):
    assert grid.names == ("learning_rate", "max_norm", "omega_strength")
    assert grid.shape == (2, 2, 2) and grid.seeds == SEEDS
    assert grid.results.losses.shape == (2, 2, 2, SEEDS, STEPS)
    rates = grid.success_rate
    low, high = grid.success_interval
    for idx in np.ndindex(grid.shape):
        one = grid[idx]
        assert rates[idx] == one.success_rate
        assert (low[idx], high[idx]) == one.success_interval
    stats = grid.stats()
    np.testing.assert_array_equal(stats.values["success_rate"], rates)
    loaded = rg.load_sweep(grid.save(tmp_path / "grid.npz"))
    assert loaded.names == grid.names
    np.testing.assert_array_equal(
        loaded.values["['test_loss']"], np.asarray(grid.results.test_loss)
    )


def test_scale_and_hyperparams_match_constants():
    got = run(hyperparams={"learning_rate": 0.2, "recurrent_scale": 0.7, "omega_strength": 1.0})
    plain = run(
        make_cell=lambda k: rg.scale_recurrent(make_cell(k), 0.7),
        optimizer=rg.clipped(optax.sgd(0.2), global_norm=1.0),
        penalties=(rg.Omega(1.0),),
    )
    assert_same_run(got, plain)


def test_other_hyperparameters_do_not_recompile(caplog):
    run(hyperparams={"learning_rate": 0.01})  # compiled here (or by an earlier test)
    with jax.log_compiles(), caplog.at_level(logging.WARNING):
        again = run(hyperparams={"learning_rate": 0.02, "max_norm": 0.5, "omega_strength": 3.0})
    compiled = [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]
    assert not compiled, compiled
    assert np.all(np.isfinite(np.asarray(again.losses)))


def test_bad_hyperparameters_are_named():
    with pytest.raises(ValueError, match=r"`grid` names 'lr'.*'learning_rate'"):
        run(grid={"lr": [0.1]})
    with pytest.raises(ValueError, match="optax.inject_hyperparams"):
        run(optimizer=optax.sgd(0.1), hyperparams={"learning_rate": 0.1})
    with pytest.raises(ValueError, match=r"grid\['learning_rate'\].*1-D.*shape \(2, 1\)"):
        run(grid={"learning_rate": [[0.1], [0.2]]})
    with pytest.raises(ValueError, match=r"grid\['learning_rate'\].*empty"):
        run(grid={"learning_rate": []})
    with pytest.raises(ValueError, match=r"grid\['max_norm'\].*(NaN|finite)"):
        run(grid={"max_norm": [1.0, float("nan")]})
    with pytest.raises(TypeError, match=r"grid\['max_norm'\].*numbers"):
        run(grid={"max_norm": ["a", "b"]})
    with pytest.raises(ValueError, match=r"hyperparams\['learning_rate'\].*one number.*grid"):
        run(hyperparams={"learning_rate": np.array([0.1, 0.2])})
    with pytest.raises(ValueError, match="both in `hyperparams` and in `grid`"):
        run(hyperparams={"max_norm": 1.0}, grid={"max_norm": [1.0]})
    with pytest.raises(TypeError, match="`hyperparams` must be a dict"):
        run(hyperparams=[("learning_rate", 0.1)])
    with pytest.raises(TypeError, match=r"grid\['max_norm'\].*real numbers"):
        run(grid={"max_norm": [1.0 + 1j]})
    with pytest.raises(ValueError, match=r"two omega penalties.*'omega_strength'"):
        run(penalties=(rg.Omega(1.0), rg.Omega(2.0)))
    with pytest.raises(ValueError, match=r"hyperparams\['learning_rate'\].*finite"):
        run(hyperparams={"learning_rate": float("inf")})


SHARDED = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import jax, numpy as np
    import test_train_grid as t
    assert len(jax.devices()) == 2
    g = t.run(grid={{"learning_rate": [0.05, 0.1, 0.3]}})
    one = t.run(grid={{"learning_rate": [0.05, 0.1, 0.3]}}, devices=jax.devices()[:1])
    np.savez({out!r}, two=np.asarray(g.results.losses), one=np.asarray(one.results.losses))
    """
)


def test_grid_sharded_over_two_devices_equals_one(tmp_path):
    out = str(tmp_path / "sharded.npz")
    env = dict(os.environ)
    env.update(
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        JAX_ENABLE_X64="1",
        JAX_PLATFORMS="cpu",
    )
    script = SHARDED.format(tests=os.path.dirname(__file__), out=out)
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        # 3 points over 2 devices: one padded point, dropped.
        assert data["two"].shape == (3, SEEDS, STEPS)
        np.testing.assert_allclose(data["two"], data["one"], rtol=1e-12, atol=0)


def test_train_grid_benchmark_quick(tmp_path):
    from benchmarks import train_grid

    rec = train_grid.main(["--quick", "--repeats", "1", "--out", str(tmp_path)])
    assert (tmp_path / "train_grid.json").exists()
    row = rec["rows"]["vanilla"]
    assert row["first_call_s"] >= row["run_s"] > 0 and row["compile_s"] >= 0
    assert "lstm" not in rec["rows"] and rec["targets"]["first_call_lstm"]["status"] == "skipped"
    assert rec["rows"]["grid"]["points"] == 2 and rec["rows"]["grid"]["seeds"] == 2
    # float64 here (the test session's x64): the one program equals the loop of calls.
    assert rec["checks"]["grid_vs_loop_max_rel_loss"] < 1e-12
    assert rec["checks"]["grid_vs_loop_max_rel_loss_step_1"] < 1e-12
    assert set(rec["targets"]) == {
        "first_call_vanilla",
        "first_call_lstm",
        "no_recompile_overhead",
        "grid_speedup",
    }


def test_divergent_grid_points_are_named():
    with pytest.warns(rg.NumericalWarning, match=r"1 of 2 grid points: learning_rate=1e\+200"):
        g = run(grid={"learning_rate": [0.1, 1e200]}, hyperparams={"max_norm": 1e300})
    finite = np.asarray(g.results.finite)
    assert finite[0].all() and not finite[1].any()
    assert np.all(np.asarray(g.results.first_divergent_step)[1] >= 0)
