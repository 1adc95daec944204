"""Across processes: rg.sweep and a training grid under ``jax.distributed`` equal one process.

Two CPU processes on localhost (JAX's gloo CPU collectives), one device each: the grid is
sharded over both, each process computes its shards and gathers the whole result.
Process 0 writes what it got; the test compares it with the same calls in this process.
"""

import os
import socket
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rnngrad as rg

CELL = rg.VanillaCell(2, 4, key=jax.random.key(0))
XS = jax.random.normal(jax.random.key(1), (10, 2))
OPT = rg.clipped(optax.inject_hyperparams(optax.sgd)(learning_rate=0.1), global_norm=1.0)


def profile(scale, seed, key):
    h0 = jax.random.normal(key, (4,))
    prof = rg.final_step_profile(rg.scale_recurrent(CELL, scale), XS, h0, jnp.sum)
    return rg.lag_profile(prof, log10=True)


def run_sweep():
    # 15 points, chunks of 4 over 2 devices: padding and several chunks.
    return rg.sweep(
        profile,
        scale=jnp.linspace(0.5, 1.5, 5),
        seed=jnp.arange(3),
        key=jax.random.key(2),
        chunk_size=4,
        progress=False,
    ).values


def run_grid():
    return rg.train(
        lambda k: rg.VanillaCell(2, 4, key=k),
        rg.AddingTask(10),
        optimizer=OPT,
        steps=3,
        batch_size=4,
        key=jax.random.key(0),
        seeds=2,
        test_size=16,
        progress=False,
        grid={"learning_rate": [0.05, 0.1, 0.3]},
    ).results


WORKER = textwrap.dedent(
    """
    import sys
    import jax
    jax.config.update("jax_enable_x64", True)
    jax.distributed.initialize(
        coordinator_address="127.0.0.1:{port}", num_processes=2, process_id={pid}
    )
    assert jax.process_count() == 2 and len(jax.devices()) == 2
    sys.path.insert(0, {tests!r})
    import numpy as np
    import test_distributed as t
    sweep, grid = t.run_sweep(), t.run_grid()
    if {pid} == 0:
        np.savez({out!r}, sweep=sweep, losses=np.asarray(grid.losses),
                 test_loss=np.asarray(grid.test_loss),
                 weight_hh=np.asarray(grid.model.cell.weight_hh))
    """
)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one(tmp_path):
    out, port = str(tmp_path / "two.npz"), _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_ENABLE_X64="1")
    env.pop("XLA_FLAGS", None)
    tests = os.path.dirname(__file__)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER.format(port=port, pid=pid, tests=tests, out=out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for pid in (0, 1)
    ]
    try:
        outputs = [p.communicate(timeout=400) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    sweep, grid = run_sweep(), run_grid()
    with np.load(out) as two:
        assert two["sweep"].shape == (5, 3, 10)
        np.testing.assert_allclose(two["sweep"], sweep, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(two["losses"], np.asarray(grid.losses), rtol=1e-12)
        np.testing.assert_allclose(two["test_loss"], np.asarray(grid.test_loss), rtol=1e-12)
        np.testing.assert_allclose(
            two["weight_hh"], np.asarray(grid.model.cell.weight_hh), rtol=1e-12, atol=1e-15
        )
