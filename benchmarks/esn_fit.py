"""Speed: fitting an echo state network's ridge readout.

Command:  python benchmarks/esn_fit.py [--quick] [--out DIR] [--repeats R]
Runtime:  about 5 s on a 2-core CPU; --quick ~3 s.
Measures: the time of rg.esn.ridge_readout (float32) on the states of a 1000-unit
          rg.EchoStateCell (spectral radius 0.9) driven by 10,000 steps of a quasi-periodic
          signal (washout 10 %, one-step-ahead targets) against 2 s; the train NRMSE.
Numbers:  printed, and in <out>/esn_fit.json.
"""

import time

import numpy as np

try:
    import _timing as tm
except ImportError:  # imported as benchmarks.esn_fit
    from benchmarks import _timing as tm


def main(argv: list[str] | None = None) -> dict:
    args = tm.parse(__doc__, argv)
    import jax
    import jax.numpy as jnp

    import rnngrad as rg

    started, f32 = time.perf_counter(), jnp.float32
    units, steps = (100, 1000) if args.quick else (1000, 10_000)
    cell = rg.EchoStateCell(1, units, spectral_radius=0.9, dtype=f32, key=jax.random.key(20))
    t = jnp.arange(steps + 1, dtype=f32)
    signal, washout = jnp.sin(0.2 * t) * jnp.cos(0.031 * t), steps // 10
    states = rg.esn.states(cell, signal[:-1, None], washout=washout)
    targets = signal[1 + washout :]
    fit = lambda: np.asarray(rg.esn.ridge_readout(states, targets, ridge=1e-6))
    row, readout = tm.time_fn(fit, args.repeats)
    row.update(units=units, steps=steps, washout=washout, dtype="float32")
    pred = rg.esn.readout_apply(jnp.asarray(readout), states)
    row["train_nrmse"] = float(rg.esn.nrmse(pred, targets))
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
