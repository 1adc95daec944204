"""Speed: rg.train's compile, its reuse across hyperparameters, and a grid in one program.

Command:  python benchmarks/train_grid.py [--quick] [--out DIR]
Runtime:  about 4 minutes on a 2-core CPU; --quick ~30 s.
Measures: (1) the first rg.train call of the process (vanilla tanh, and an LSTM but not
          in --quick; H = 64, adding T = 100, 20 steps, batch 32, 1 seed, 500 test
          samples), split into compile and run (a repeat of the same call is the run);
          (2) a second call that differs only in learning rate and clip threshold: with
          one optax.inject_hyperparams optimizer and hyperparams={...} (no recompile) and,
          as before training grids, with a new optimizer object (recompiles); (3) a
          learning-rate × clip-threshold × seed grid (4 × 4 × 5) by one
          rg.train(grid=...) against 16 sequential calls of 5 seeds with a new optimizer
          each (the loop one wrote before) and with one reused optimizer; that the grid's
          losses equal the loop's (to float32 rounding after one update; at the largest
          Adam step training amplifies rounding differences to O(1) within 10 steps).
Numbers:  printed, and in <out>/train_grid.json (rows, checks, targets).
"""

import time

import numpy as np

try:
    import _timing as tm
except ImportError:  # imported as benchmarks.train_grid
    from benchmarks import _timing as tm


def timed(fn, *args, **kwargs):
    """(seconds, value) of one blocking call ``fn(*args, **kwargs)``."""
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    np.asarray(value.losses if hasattr(value, "losses") else value.results.losses)
    return time.perf_counter() - start, value


def main(argv: list[str] | None = None) -> dict:
    args = tm.parse(__doc__, argv)
    import jax
    import optax

    import rnngrad as rg

    started = time.perf_counter()
    hidden, length, steps, batch, test = (8, 20, 5, 8, 50) if args.quick else (64, 100, 20, 32, 500)
    n_lr, n_clip, seeds = (2, 1, 2) if args.quick else (4, 4, 5)
    task = rg.make_task("adding", length)
    cells = {"vanilla": lambda k: rg.VanillaCell(2, hidden, key=k)}
    if not args.quick:  # the LSTM's compile is the quick run's largest cost
        cells["lstm"] = lambda k: rg.lstm(2, hidden, key=k)

    def injected():
        return rg.clipped(optax.inject_hyperparams(optax.adam)(learning_rate=1e-3), global_norm=1.0)

    def train(make_cell, optimizer, n_seeds=1, **kw):
        with jax.numpy_dtype_promotion("standard"):  # Adam's count under strict promotion
            return rg.train(
                make_cell,
                task,
                optimizer=optimizer,
                steps=steps,
                batch_size=batch,
                key=jax.random.key(0),
                seeds=n_seeds,
                test_size=test,
                progress=False,
                **kw,
            )

    rows, lines = {}, []
    for name, make_cell in cells.items():
        opt = injected()
        first, _ = timed(train, make_cell, opt)
        repeat, _ = timed(train, make_cell, opt)
        new_hp, _ = timed(
            train, make_cell, opt, hyperparams={"learning_rate": 3e-3, "max_norm": 0.5}
        )
        fresh = rg.clipped(optax.adam(3e-3), global_norm=0.5)
        new_opt, _ = timed(train, make_cell, fresh)
        rows[name] = {
            "first_call_s": first,
            "run_s": repeat,
            "compile_s": max(first - repeat, 0.0),
            "other_hyperparams_s": new_hp,
            "other_hyperparams_overhead_s": new_hp - repeat,
            "new_optimizer_object_s": new_opt,
        }
        lines.append(
            f"  {name:<8} first call {first:6.2f} s (compile {first - repeat:5.2f} s, run "
            f"{repeat:5.2f} s); other lr/clip via hyperparams {new_hp:5.2f} s; "
            f"via a new optimizer {new_opt:5.2f} s"
        )

    lrs, clips = np.geomspace(3e-4, 3e-2, n_lr), np.geomspace(0.1, 10.0, n_clip)
    make_cell, opt = cells["vanilla"], injected()
    grid_s, grid = timed(
        train, make_cell, opt, seeds, grid={"learning_rate": lrs, "max_norm": clips}
    )
    start = time.perf_counter()
    loop = [
        [train(make_cell, rg.clipped(optax.adam(lr), global_norm=c), seeds) for c in clips]
        for lr in lrs
    ]
    np.asarray(loop[-1][-1].losses)
    loop_fresh_s = time.perf_counter() - start
    start = time.perf_counter()
    for lr in lrs:
        for c in clips:
            np.asarray(
                train(
                    make_cell, opt, seeds, hyperparams={"learning_rate": lr, "max_norm": c}
                ).losses
            )
    loop_reused_s = time.perf_counter() - start
    got = np.asarray(grid.results.losses)
    want = np.stack([np.stack([np.asarray(r.losses) for r in row]) for row in loop])
    rows["grid"] = {
        "points": n_lr * n_clip,
        "seeds": seeds,
        "one_program_s": grid_s,
        "loop_new_optimizers_s": loop_fresh_s,
        "loop_one_optimizer_s": loop_reused_s,
    }
    lines.append(
        f"  grid {n_lr} lr x {n_clip} clip x {seeds} seeds: one program {grid_s:6.2f} s; "
        f"{n_lr * n_clip} sequential calls {loop_fresh_s:6.2f} s (new optimizers, "
        f"{loop_fresh_s / grid_s:.1f}x), {loop_reused_s:6.2f} s (one optimizer, "
        f"{loop_reused_s / grid_s:.1f}x)"
    )
    checks = {
        # After one update the two differ by rounding only; a large Adam step amplifies
        # that over the steps (float32: ~1e-5 after one update, O(1) by step 10 at 3e-2).
        "grid_vs_loop_max_rel_loss_step_1": float(
            np.max(np.abs(got - want)[..., :2] / np.abs(want)[..., :2])
        ),
        "grid_vs_loop_max_rel_loss": float(np.max(np.abs(got - want) / np.abs(want))),
        "grid_success_rate_points": int(np.size(grid.success_rate)),
    }
    targets = {
        "first_call_vanilla": tm.target(
            "rg.train first call, vanilla (s)", "<", 3.0, rows["vanilla"]["first_call_s"]
        ),
        "first_call_lstm": tm.target(
            "rg.train first call, LSTM (s)", "<", 3.0, rows.get("lstm", {}).get("first_call_s")
        ),
        "no_recompile_overhead": tm.target(
            "other lr/clip: overhead over a repeat (s)",
            "<",
            0.5,
            max(rows[n]["other_hyperparams_overhead_s"] for n in cells),
        ),
        "grid_speedup": tm.target(
            "grid: 16 sequential calls / one program",
            ">=",
            5.0,
            loop_fresh_s / grid_s,
        ),
    }
    head = [
        f"rg.train: adding T={length}, H={hidden}, {steps} steps, batch {batch}, "
        f"{test} test samples, Adam + global-norm clipping"
    ]
    record = {
        "config": {"hidden": hidden, "length": length, "steps": steps, "batch": batch},
        "rows": rows,
        "checks": checks,
        "targets": targets,
    }
    return tm.finish(args, "train_grid", started, head + lines, record)


if __name__ == "__main__":
    main()
