"""Gradient flossing (Engelken 2023) on the copy task at increasing delays.

Command:   python experiments/flossing.py [--quick] [--out results/flossing]
Runtime:   about 4 minutes on a 2-core CPU (--quick: about 30 s, mostly compilation).
What it does:
  A tanh RNN (H = 32, W_rec = 2 · W0, W0 ~ N(0, 1/H): chaotic, λ₁ > 0) learns the
  copy task (rg.CopyTask: 3 symbols of 4, then `delay` blanks, a delimiter, recall) at
  delays {5, 10, 20, 40}, over 4 seeds each, with Adam (lr 3e-3, clipped at global
  norm 1), 1500 steps of batch 32, in two arms:
    - plain: train from the chaotic initialisation;
    - flossed: first rg.floss the top 8 Lyapunov exponents to 0 (300 Adam steps on
      the flossing penalty along 8 task sequences back to back, 20 warm-up steps),
      then train the same way.
  Reported: the top Lyapunov exponents before and after flossing (seed 0), and per
  delay and arm the final test cross-entropy and symbol error rate (median over seeds)
  and the number of seeds that solved the task (every recalled symbol right on ≥ 99 %
  of 2000 test sequences, Pascanu's criterion for per-step tasks).
Expected numbers:
  flossing moves λ₁ from ≈ +0.05 to within ±0.02 of 0; at the longer delays the
  flossed arm reaches a lower test loss than the plain arm (Engelken 2023, Fig. 3:
  flossing before training extends the delay that can be learned). At delay 5 both arms
  solve the task.
Outputs (in --out): lyapunov.png, delays.png, flossing.json.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rnngrad as rg

try:
    from _common import parser, save_figure, table, write_json
except ImportError:  # imported as experiments.flossing
    from experiments._common import parser, save_figure, table, write_json

GAIN = 2.0
WARMUP = 20
SEQUENCES = 8  # task sequences back to back for one flossing trajectory


def floss_inputs(task, key):
    """SEQUENCES task input sequences back to back: a trajectory long enough for exponents."""
    return jnp.concatenate([task.sample(k)[0] for k in jax.random.split(key, SEQUENCES)])


def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__, "flossing").parse_args(argv)
    if args.quick:
        hidden, delays, seeds, steps, floss_steps, n_exp, test = 12, [4], 2, 40, 30, 4, 200
    else:
        hidden, delays, seeds, steps, floss_steps, n_exp, test = (
            32,
            [5, 10, 20, 40],
            4,
            1500,
            300,
            8,
            2000,
        )
    out = Path(args.out)
    started = time.perf_counter()
    optimizer = rg.clipped(optax.adam(3e-3), global_norm=1.0)
    record: dict = {
        "hidden": hidden,
        "gain": GAIN,
        "delays": delays,
        "seeds": seeds,
        "steps": steps,
        "floss_steps": floss_steps,
        "flossed_exponents": n_exp,
        "results": {},
    }

    def base_cell(key):
        return rg.fold_recurrent_scale(rg.scale_recurrent(rg.VanillaCell(6, hidden, key=key), GAIN))

    rows = []
    for delay in delays:
        task = rg.CopyTask.from_delay(delay, pattern_length=3, n_symbols=4)

        def flossed_cell(key, task=task):
            k_cell, k_data = jax.random.split(key)
            cell = base_cell(k_cell)
            flossed, _ = rg.floss(
                cell,
                floss_inputs(task, k_data),
                rg.zero_carry(cell),
                n=n_exp,
                target=0.0,
                steps=floss_steps,
                warmup=WARMUP,
            )
            return flossed

        arms = {}
        for arm, make in (("plain", base_cell), ("flossed", flossed_cell)):
            res = rg.train(
                make,
                task,
                optimizer=optimizer,
                steps=steps,
                batch_size=32,
                key=jax.random.key(delay),
                seeds=seeds,
                test_size=test,
                progress=False,
            )
            arms[arm] = {
                "test_loss": np.asarray(res.test_loss),
                "test_error_rate": np.asarray(res.test_error_rate),
                "solved": np.asarray(res.solved),
                "loss_curve_median": np.median(np.asarray(res.losses), axis=0),
            }
            rows.append(
                [
                    delay,
                    task.length,
                    arm,
                    float(np.median(arms[arm]["test_loss"])),
                    float(np.median(arms[arm]["test_error_rate"])),
                    f"{int(arms[arm]['solved'].sum())}/{seeds}",
                ]
            )
        record["results"][str(delay)] = arms

    # Lyapunov exponents of seed 0's cell at the longest delay, before and after flossing.
    task = rg.CopyTask.from_delay(delays[-1], pattern_length=3, n_symbols=4)
    k_cell, k_data = jax.random.split(jax.random.key(123))
    cell = base_cell(k_cell)
    carry0 = rg.zero_carry(cell)
    # Held-out inputs for the exponents, other inputs for flossing.
    xs = floss_inputs(task, jax.random.fold_in(k_data, 1))
    before = rg.lyapunov_spectrum(cell, xs, carry0, n=n_exp, warmup=WARMUP)
    flossed, history = rg.floss(
        cell,
        floss_inputs(task, k_data),
        carry0,
        n=n_exp,
        target=0.0,
        steps=floss_steps,
        warmup=WARMUP,
    )
    after = rg.lyapunov_spectrum(flossed, xs, carry0, n=n_exp, warmup=WARMUP)
    record["lyapunov_before"] = np.asarray(before)
    record["lyapunov_after"] = np.asarray(after)
    record["floss_history_top"] = np.asarray(history)[:, 0]
    record["seconds"] = time.perf_counter() - started

    print(f"Copy task, tanh RNN H = {hidden}, gain {GAIN}, {seeds} seeds, {steps} steps")
    headers = ["delay", "T", "arm", "test CE", "error rate", "solved"]
    print(table(headers, rows))
    record["table"] = {"headers": headers, "rows": rows}
    print("top Lyapunov exponents before flossing:", np.round(np.asarray(before), 4).tolist())
    print("top Lyapunov exponents after flossing: ", np.round(np.asarray(after), 4).tolist())
    print(f"computed in {record['seconds']:.1f} s")
    try:
        record["figures"] = plot(record, out)
    except ImportError:
        print("matplotlib missing: no figures (pip install 'rnngrad[plot]')")
        record["figures"] = []
    write_json(out / "flossing.json", record)
    print(f"wrote {out}/flossing.json and {len(record['figures'])} figures")
    return record


def plot(record: dict, out: Path) -> list[str]:
    """Write lyapunov.png and delays.png into `out`; return their names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    i = np.arange(1, len(record["lyapunov_before"]) + 1)
    axes[0].plot(i, record["lyapunov_before"], "o-", label="before flossing")
    axes[0].plot(i, record["lyapunov_after"], "s-", label="after flossing")
    axes[0].axhline(0.0, color="grey", lw=0.5)
    axes[0].set_xlabel("exponent index i")
    axes[0].set_ylabel("λ_i (per step)")
    axes[0].legend()
    axes[0].set_title("Lyapunov spectrum (seed 0)")
    axes[1].plot(record["floss_history_top"])
    axes[1].axhline(0.0, color="grey", lw=0.5)
    axes[1].set_xlabel("flossing step")
    axes[1].set_ylabel("λ_1")
    axes[1].set_title("top exponent during flossing")
    names = [save_figure(fig, out / "lyapunov.png").name]

    fig, ax = plt.subplots(figsize=(6.5, 4))
    delays = record["delays"]
    for arm, marker in (("plain", "o"), ("flossed", "s")):
        losses = [np.median(record["results"][str(d)][arm]["test_loss"]) for d in delays]
        ax.semilogy(delays, losses, marker=marker, label=arm)
    ax.set_xlabel("delay (steps)")
    ax.set_ylabel("median test cross-entropy")
    ax.set_title("Copy task: loss vs delay, with and without flossing")
    ax.legend()
    names.append(save_figure(fig, out / "delays.png").name)
    return names


if __name__ == "__main__":
    main()
