"""Speed: fitting an echo state network's ridge readout.

Command:  python benchmarks/esn_fit.py [--quick] [--out DIR] [--repeats R]
Runtime:  about 5 s on a 2-core CPU; --quick ~3 s.
Shows:    the time of the ridge readout fit (float32) on the states of a 1000-unit
          rg.EchoStateCell (spectral radius 0.9) driven by 10,000 steps of a quasi-periodic
          signal, washout 10 %, one-step-ahead targets; the target is < 2 s. The train NRMSE
          is there to show the fit is real. Record: <out>/esn_fit.json.
"""

from __future__ import annotations

import time

import numpy as np

try:
    import _timing as tm
except ImportError:  # imported as benchmarks.esn_fit
    from benchmarks import _timing as tm


def main(argv: list[str] | None = None) -> dict:
    args = tm.parse(tm.parser(__doc__), argv)
    import jax
    import jax.numpy as jnp

    import rnngrad as rg

    ridge_readout = rg.esn.ridge_readout if hasattr(rg, "esn") else rg.ridge_readout
    started = time.perf_counter()
    units, steps = (100, 1000) if args.quick else (1000, 10_000)
    cell = rg.EchoStateCell(
        1, units, spectral_radius=0.9, dtype=jnp.float32, key=jax.random.key(20)
    )
    t = jnp.arange(steps + 1, dtype=jnp.float32)
    signal = jnp.sin(0.2 * t) * jnp.cos(0.031 * t)
    washout = steps // 10
    states = jax.jit(rg.unroll)(cell, signal[:-1, None], jnp.zeros((units,), jnp.float32))
    states, targets = states[washout:], signal[1 + washout :]
    row, readout = tm.time_fn(
        lambda: np.asarray(ridge_readout(states, targets, ridge=1e-6)), args.repeats
    )
    pred = np.asarray(states, np.float64) @ readout[:-1] + readout[-1]
    y = np.asarray(targets, np.float64)
    row.update(units=units, steps=steps, washout=washout, dtype="float32")
    row["train_nrmse"] = float(np.sqrt(np.mean((pred - y) ** 2)) / np.std(y))
    target = tm.target("ESN ridge readout fit time [s]", "<", 2.0, row["median_s"])
    lines = [
        f"ESN ridge readout fit: {units} units x {steps} steps (washout {washout}, float32, "
        "rg.EchoStateCell(spectral_radius=0.9))",
        f"  {tm.fmt_s(row['median_s'])} median, {tm.fmt_s(row['min_s'])} min, first call "
        f"{tm.fmt_s(row['first_s'])}; train NRMSE {row['train_nrmse']:.2e}",
    ]
    record = {"esn": row, "targets": {"esn_fit_s": target}}
    return tm.finish(args, "esn_fit", started, lines, record)


if __name__ == "__main__":
    main()
