"""Echo state networks on Mackey-Glass: prediction, hyperparameter map, echo state property, memory.

Command:   python experiments/echo_state.py [--quick] [--out results/echo_state]
Runtime:   about 30-50 s on a 2-core CPU (--quick: about 15 s, mostly compilation).
What it does (float64; reservoirs from rg.EchoStateCell, readouts by ridge regression):
  Data: rg.mackey_glass with τ = 17 (a = 0.2, b = 0.1, n = 10), RK4 step 0.1 sampled every
  time unit, the first 1000 samples (quick: 300) dropped as transient, minus 1 (mean ≈ 0).
  1. Prediction, Jaeger & Haas (2004) protocol: a reservoir (ρ(W_rec) = 1, no leak, input
     scaling 1, no bias; 100 units with connectivity 0.1 and 1000 units with 0.01; quick:
     50 units) is driven by the series; after a washout of 100 steps a readout is trained
     on 2000 steps to predict the next value. Ridge ∈ {1e-12, 1e-10, 1e-8, 1e-6, 1e-4} is
     chosen on the next 1000 steps (validation): by one-step NRMSE for the one-step
     readout, by the median step-84 error of free runs started every 100 steps there for
     the free-run readout. Test (the following 2000 steps): the one-step NRMSE
     (teacher forcing), and free runs of 84 steps started every 100 steps (the reservoir
     teacher-forced up to the start, then its own output fed back): the error at step 84
     |y − u|/σ (σ = std of the series), as the median over windows and as Jaeger & Haas's
     NRMSE_84 = sqrt(mean over windows of (y − u)²/σ²).
  2. One rg.sweep over spectral radius (15 values in [0.1, 1.5]) × leak rate (10 values in
     [0.1, 1]) of a 100-unit reservoir (quick: 50 units, 4 × 4): test one-step NRMSE
     (train 1000, validation 500 for the ridge, test 1000 steps).
  3. Echo state property (rg.echo_state_property: 2 pairs of random starts in [−1, 1]^N,
     1000 steps (quick: 300), final distance <= 1e-6 × initial) in one rg.sweep over
     spectral radius 0.1..3.0 (30 values; quick: 0.5..3.0, 6) × leak rate {1, 0.3} ×
     drive {none (zero input), Mackey-Glass}, of a 100-unit reservoir (quick: 50), next
     to rg.effective_spectral_radius ρ((1 − a) I + a W_rec).
  4. Memory capacity (rg.memory_capacity, Jaeger 2002: Σ_k r²(u_{t−k}, y_k), k <= 2N, i.i.d.
     uniform input in [−0.5, 0.5]) of a 100-unit tanh reservoir (quick: 20 units) in one
     rg.sweep over spectral radius (15 values in [0.1, 1.5]; quick: 5) × input scaling
     {0.1, 1}.
Expected numbers (default size; the seeds are fixed, so these are the printed values):
  one-step test NRMSE 5.2e-4 at 100 units (reservoirpy's documented figure is 0.00785) and
  4.3e-6 at 1000 units (<= 1e-4); free-run error at step 84 over 19 test windows: median
  0.29 (NRMSE_84 0.52) at 100 units, median 7.9e-5 (NRMSE_84 1.5e-4 = 10^-3.8) at 1000
  units (Jaeger & Haas report NRMSE_84 ≈ 10^-4.2 with 1000 units and a finer-tuned
  setup). Sweep: one-step NRMSE falls as the leak rate rises to 1 (unit-time sampling
  needs fast units), best at ρ = 0.8, a = 1 (2.5e-4). Echo state property: without input
  it holds up to ρ = 0.9 (a = 1) / 1.1 (a = 0.3) and fails from the first radius where
  the effective spectral radius reaches 1 (1.0 and 1.005); the Mackey-Glass drive
  extends it by one grid step (fails at ρ = 1.1 / 1.3, ρ_eff = 1.1 / 1.03); ρ = 3
  violates it in all four cases, ρ = 0.5 satisfies it in all four. Memory capacity peaks
  at ρ ≈ 1 (30 of the bound N = 100 at input scaling 0.1, 17 at 1: saturating tanh units
  forget faster) and falls on both sides. Wall time about 30-50 s, 2/3 of it the
  1000-unit reservoir.
Outputs (in --out): prediction.png, sweep.png, echo_state_property.png,
  memory_capacity.png, echo_state.json.
JSON fields:
  quick, seconds, seconds_per_part {prediction, sweep, echo_state_property,
    memory_capacity}, figures, series {tau, dt, subsample, transient, length, std};
  prediction {ridges, washout, train, validation, test, horizon, window_stride, sizes,
    results {"<N>": {hidden, connectivity, one_step_ridge, one_step_validation_nrmse
    (per ridge), one_step_nrmse, free_run_ridge, free_run_validation_median84 (per
    ridge), free_run_windows, free_run_starts, nrmse84_median, nrmse84_rms,
    free_run_error_median (horizon,), example_window {start, prediction, target}}}};
  sweep {hidden, connectivity, washout, train, validation, test, spectral_radius,
    leak_rate, one_step_nrmse (R, A), best {spectral_radius, leak_rate, one_step_nrmse}};
  echo_state_property {hidden, steps, num_pairs, tol, spectral_radius, leak_rate, drive,
    satisfied (R, A, D), final_distance (R, A, D), effective_spectral_radius (R, A),
    boundary {"a=<a>, <drive>": {last_satisfied, first_violated,
    effective_radius_at_first_violated}},
    radius_3_violates {"a=<a>, <drive>": bool}, radius_half_satisfies {same keys}};
  memory_capacity {hidden, k_max, train, test, spectral_radius, input_scaling, capacity
    (R, S), peak
    {"<scaling>": {spectral_radius, capacity}}};
  tables {prediction, sweep, echo_state_property, memory_capacity}: {headers, rows}, the
    printed tables.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import rnngrad as rg

try:
    from _common import parser, save_figure, table, write_outputs
except ImportError:  # imported as experiments.echo_state
    from experiments._common import parser, save_figure, table, write_outputs

# Ridge readouts solve ill-conditioned normal equations (1000 collinear tanh units): float64.
jax.config.update("jax_enable_x64", True)

TAU, DT, SUBSAMPLE = 17.0, 0.1, 10
RIDGES = (1e-12, 1e-10, 1e-8, 1e-6, 1e-4)
HORIZON = 84
STRIDE = 100
DRIVES = ("none", "mackey-glass")


def series(length: int, transient: int) -> jax.Array:
    """The Mackey-Glass series on its attractor, unit time step, shifted by −1."""
    x = rg.mackey_glass(length + transient, tau=TAU, dt=DT, subsample=SUBSAMPLE)
    return x[transient:] - 1.0


def predict(u: jax.Array, hidden: int, connectivity: float, layout: dict, key) -> dict:
    """One-step and 84-step free-run prediction with one reservoir (see the docstring)."""
    washout, train, val = layout["washout"], layout["train"], layout["validation"]
    val_start = washout + train
    test_start = val_start + val
    length = u.shape[0]
    sigma = float(jnp.std(u))
    ridges = jnp.asarray(RIDGES)
    cell = rg.EchoStateCell(
        1, hidden, spectral_radius=1.0, leak_rate=1.0, connectivity=connectivity, key=key
    )
    # Row t has seen u[0..t]; its one-step target is u[t + 1].
    states = rg.esn_states(cell, u[:-1, None])
    readouts = jax.vmap(
        lambda r: rg.ridge_readout(
            states[washout:val_start], u[washout + 1 : val_start + 1], ridge=r
        )
    )(ridges)

    def one_step(w, lo, hi):
        return rg.nrmse(rg.readout_apply(w, states[lo:hi]), u[lo + 1 : hi + 1])

    val_nrmse = np.asarray(jax.vmap(lambda w: one_step(w, val_start, test_start))(readouts))
    best = int(np.nanargmin(val_nrmse))
    test_nrmse = float(one_step(readouts[best], test_start, length - 1))

    # Free runs: start s is the first predicted index; h has seen u[..s-2], x0 = u[s-1].
    def free_runs(starts):
        hs, xs = states[starts - 2], u[starts - 1][:, None]
        ys = jax.vmap(
            lambda w: jax.vmap(lambda h, x: rg.esn_generate(cell, w[None], h, x, HORIZON))(hs, xs)
        )(readouts)[..., 0]  # (ridges, windows, horizon)
        targets = u[starts[:, None] + jnp.arange(HORIZON)[None, :]]
        return np.asarray(ys), np.asarray(targets)

    val_starts = np.arange(val_start + STRIDE, test_start - HORIZON + 1, STRIDE)
    test_starts = np.arange(test_start + STRIDE, length - HORIZON + 1, STRIDE)
    ys, targets = free_runs(jnp.asarray(val_starts))
    with np.errstate(invalid="ignore"):
        val_median84 = np.median(np.abs(ys[:, :, -1] - targets[None, :, -1]), axis=1) / sigma
    free_best = int(np.nanargmin(np.where(np.isfinite(val_median84), val_median84, np.nan)))
    ys, targets = free_runs(jnp.asarray(test_starts))
    errors = np.abs(ys[free_best] - targets) / sigma  # (windows, horizon)
    example = len(test_starts) // 2
    return {
        "hidden": hidden,
        "connectivity": connectivity,
        "one_step_ridge": RIDGES[best],
        "one_step_validation_nrmse": val_nrmse,
        "one_step_nrmse": test_nrmse,
        "free_run_ridge": RIDGES[free_best],
        "free_run_validation_median84": val_median84,
        "free_run_windows": len(test_starts),
        "free_run_starts": test_starts,
        "nrmse84_median": float(np.median(errors[:, -1])),
        "nrmse84_rms": float(np.sqrt(np.mean(errors[:, -1] ** 2))),
        "free_run_error_median": np.median(errors, axis=0),
        "example_window": {
            "start": int(test_starts[example]),
            "prediction": ys[free_best, example],
            "target": targets[example],
        },
    }


def boundary(radii: np.ndarray, satisfied: np.ndarray, effective: np.ndarray) -> dict:
    """Last radius that satisfies the property before the first that violates it."""
    bad = np.flatnonzero(~satisfied)
    if bad.size == 0:
        return {"last_satisfied": float(radii[-1]), "first_violated": None}
    i = int(bad[0])
    return {
        "last_satisfied": float(radii[i - 1]) if i > 0 else None,
        "first_violated": float(radii[i]),
        "effective_radius_at_first_violated": float(effective[i]),
    }


def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__, "echo_state").parse_args(argv)
    q = args.quick
    out = Path(args.out)
    started = time.perf_counter()
    key = jax.random.key(0)
    k_pred, k_sweep, k_esp, k_esp_starts, k_mc, k_mc_input = jax.random.split(key, 6)

    transient = 300 if q else 1000
    layout = (
        {"washout": 50, "train": 500, "validation": 300, "test": 500}
        if q
        else {"washout": 100, "train": 2000, "validation": 1000, "test": 2000}
    )
    length = sum(layout.values()) + 1
    u = series(length, transient)
    record: dict = {
        "quick": q,
        "series": {
            "tau": TAU,
            "dt": DT,
            "subsample": SUBSAMPLE,
            "transient": transient,
            "length": length,
            "std": float(jnp.std(u)),
        },
    }

    # ------------------------------------------------------------ 1. prediction
    sizes = ((50, 0.1),) if q else ((100, 0.1), (1000, 0.01))
    results = {}
    for hidden, connectivity in sizes:
        results[str(hidden)] = predict(u, hidden, connectivity, layout, k_pred)
    record["prediction"] = {
        "ridges": list(RIDGES),
        **layout,
        "horizon": HORIZON,
        "window_stride": STRIDE,
        "sizes": [h for h, _ in sizes],
        "results": results,
    }

    timings = {"prediction": time.perf_counter() - started}

    # ------------------------------------------------------------ 2. radius × leak sweep
    hidden = 50 if q else 100
    sw_len = (
        {"washout": 50, "train": 500, "validation": 300, "test": 500}
        if q
        else {"washout": 100, "train": 1000, "validation": 500, "test": 1000}
    )
    a0 = sw_len["washout"]
    a1 = a0 + sw_len["train"]
    a2 = a1 + sw_len["validation"]
    u_sw = u[: a2 + sw_len["test"] + 1]
    ridges = jnp.asarray(RIDGES)

    def one_step_nrmse(spectral_radius, leak_rate):
        cell = rg.EchoStateCell(
            1, hidden, spectral_radius=spectral_radius, leak_rate=leak_rate, key=k_sweep
        )
        s = rg.esn_states(cell, u_sw[:-1, None])
        ws = jax.vmap(lambda r: rg.ridge_readout(s[a0:a1], u_sw[a0 + 1 : a1 + 1], ridge=r))(ridges)
        val = jax.vmap(lambda w: rg.nrmse(rg.readout_apply(w, s[a1:a2]), u_sw[a1 + 1 : a2 + 1]))(ws)
        best = jnp.argmin(jnp.where(jnp.isnan(val), jnp.inf, val))
        return rg.nrmse(rg.readout_apply(ws[best], s[a2:]), u_sw[a2 + 1 :])

    radii = np.round(np.linspace(0.2, 1.4, 4) if q else np.linspace(0.1, 1.5, 15), 10)
    leaks = np.round(np.linspace(0.1, 1.0, 4 if q else 10), 10)
    grid = rg.sweep(one_step_nrmse, spectral_radius=radii, leak_rate=leaks).values
    i, j = np.unravel_index(np.nanargmin(grid), grid.shape)
    record["sweep"] = {
        "hidden": hidden,
        "connectivity": 0.1,
        **sw_len,
        "spectral_radius": radii,
        "leak_rate": leaks,
        "one_step_nrmse": grid,
        "best": {
            "spectral_radius": float(radii[i]),
            "leak_rate": float(leaks[j]),
            "one_step_nrmse": float(grid[i, j]),
        },
    }

    timings["sweep"] = time.perf_counter() - started - sum(timings.values())

    # ------------------------------------------------------------ 3. echo state property
    esp_steps, esp_pairs, esp_tol = (300, 2, 1e-6) if q else (1000, 2, 1e-6)
    u_esp = u[:esp_steps, None]

    def esp(spectral_radius, leak_rate, drive):
        cell = rg.EchoStateCell(
            1, hidden, spectral_radius=spectral_radius, leak_rate=leak_rate, key=k_esp
        )
        check = rg.echo_state_property(
            cell, drive * u_esp, key=k_esp_starts, num_pairs=esp_pairs, tol=esp_tol
        )
        return {
            "satisfied": check.satisfied,
            "final": check.final_distance,
            "effective": rg.effective_spectral_radius(cell),
        }

    esp_radii = np.round(np.linspace(0.5, 3.0, 6) if q else np.linspace(0.1, 3.0, 30), 10)
    esp_leaks = np.array([1.0, 0.3])
    drives = np.array([0.0, 1.0])
    res = rg.sweep(esp, spectral_radius=esp_radii, leak_rate=esp_leaks, drive=drives).values
    satisfied = np.asarray(res["satisfied"], bool)
    final = np.asarray(res["final"])
    effective = np.asarray(res["effective"])[:, :, 0]
    boundaries = {}
    for ia, a in enumerate(esp_leaks):
        for idr, name in enumerate(DRIVES):
            boundaries[f"a={a:g}, {name}"] = boundary(
                esp_radii, satisfied[:, ia, idr], effective[:, ia]
            )
    i3 = int(np.argmin(np.abs(esp_radii - 3.0)))
    ih = int(np.argmin(np.abs(esp_radii - 0.5)))
    record["echo_state_property"] = {
        "hidden": hidden,
        "steps": esp_steps,
        "num_pairs": esp_pairs,
        "tol": esp_tol,
        "spectral_radius": esp_radii,
        "leak_rate": esp_leaks,
        "drive": list(DRIVES),
        "satisfied": satisfied,
        "final_distance": final,
        "effective_spectral_radius": effective,
        "boundary": boundaries,
        "radius_3_violates": {
            f"a={a:g}, {name}": bool(not satisfied[i3, ia, idr])
            for ia, a in enumerate(esp_leaks)
            for idr, name in enumerate(DRIVES)
        },
        "radius_half_satisfies": {
            f"a={a:g}, {name}": bool(satisfied[ih, ia, idr])
            for ia, a in enumerate(esp_leaks)
            for idr, name in enumerate(DRIVES)
        },
    }

    timings["echo_state_property"] = time.perf_counter() - started - sum(timings.values())

    # ------------------------------------------------------------ 4. memory capacity
    mc_hidden = 20 if q else 100
    mc_radii = np.round(np.linspace(0.1, 1.5, 5 if q else 15), 10)
    scalings = np.array([0.1, 1.0])
    mc_train, mc_test = (500, 300) if q else (2000, 1000)

    def capacity(spectral_radius, input_scaling):
        cell = rg.EchoStateCell(
            1,
            mc_hidden,
            spectral_radius=spectral_radius,
            input_scaling=input_scaling,
            key=k_mc,
        )
        return rg.memory_capacity(cell, key=k_mc_input, train_length=mc_train, test_length=mc_test)

    mc = rg.sweep(capacity, spectral_radius=mc_radii, input_scaling=scalings).values
    record["memory_capacity"] = {
        "hidden": mc_hidden,
        "k_max": 2 * mc_hidden,
        "train": mc_train,
        "test": mc_test,
        "spectral_radius": mc_radii,
        "input_scaling": scalings,
        "capacity": mc,
        "peak": {
            f"{s:g}": {
                "spectral_radius": float(mc_radii[int(np.argmax(mc[:, k]))]),
                "capacity": float(np.max(mc[:, k])),
            }
            for k, s in enumerate(scalings)
        },
    }
    timings["memory_capacity"] = time.perf_counter() - started - sum(timings.values())
    elapsed = time.perf_counter() - started

    # ------------------------------------------------------------ printed summary
    tables = {}
    headers = [
        "N",
        "density",
        "ridge 1",
        "NRMSE 1",
        "ridge 84",
        "med e84",
        "NRMSE84",
        "windows",
    ]
    rows = [
        [
            r["hidden"],
            r["connectivity"],
            r["one_step_ridge"],
            r["one_step_nrmse"],
            r["free_run_ridge"],
            r["nrmse84_median"],
            r["nrmse84_rms"],
            r["free_run_windows"],
        ]
        for r in results.values()
    ]
    print(
        f"Mackey-Glass (τ = {TAU:g}) prediction: train {layout['train']}, one-step "
        f"(teacher forced) and {HORIZON}-step free run, ρ = 1, a = 1"
    )
    print(table(headers, rows))
    tables["prediction"] = {"headers": headers, "rows": rows}

    headers = ["leak a", "best ρ", "NRMSE 1", "ρ=1 NRMSE"]
    i1 = int(np.argmin(np.abs(radii - 1.0)))
    rows = []
    for jj, a in enumerate(leaks):
        ib = int(np.nanargmin(grid[:, jj]))
        rows.append([float(a), float(radii[ib]), float(grid[ib, jj]), float(grid[i1, jj])])
    print(
        f"\nOne-step NRMSE over ρ × a ({len(radii)} × {len(leaks)}, N = {hidden}, one "
        f"rg.sweep); best {record['sweep']['best']}"
    )
    print(table(headers, rows))
    tables["sweep"] = {"headers": headers, "rows": rows}

    headers = ["a, drive", "last ok ρ", "first bad ρ", "ρ_eff there"]
    rows = []
    for name, b in boundaries.items():
        rows.append(
            [
                name,
                b["last_satisfied"],
                b["first_violated"],
                b.get("effective_radius_at_first_violated"),
            ]
        )
    headers += ["ρ=0.5 ok", "ρ=3 ok"]
    for row, name in zip(rows, boundaries):
        row += [
            record["echo_state_property"]["radius_half_satisfies"][name],
            not record["echo_state_property"]["radius_3_violates"][name],
        ]
    print(
        f"\nEcho state property (N = {hidden}, {esp_steps} steps, {esp_pairs} pairs of starts, "
        f"satisfied if final distance <= {esp_tol:g} × initial)"
    )
    print(table(headers, rows, fmt="{:>14}"))
    tables["echo_state_property"] = {"headers": headers, "rows": rows}

    headers = ["ρ"] + [f"MC (in {s:g})" for s in scalings]
    picks = np.unique(np.round(np.linspace(0, len(mc_radii) - 1, 8)).astype(int))
    rows = [[float(mc_radii[p])] + [float(v) for v in mc[p]] for p in picks]
    print(f"\nMemory capacity (N = {mc_hidden}, bound N; k <= {2 * mc_hidden})")
    print(table(headers, rows, fmt="{:>12}"))
    tables["memory_capacity"] = {"headers": headers, "rows": rows}
    record["tables"] = tables
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
    print(f"computed in {elapsed:.1f} s ({parts})")
    record["seconds"] = elapsed
    record["seconds_per_part"] = timings

    return write_outputs(record, out, "echo_state", lambda: plot(record, out))


def plot(record: dict, out: Path) -> list[str]:
    """Write the four figures into `out`; return their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    pred = record["prediction"]
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.2))
    steps = np.arange(1, pred["horizon"] + 1)
    for k, (n, r) in enumerate(pred["results"].items()):
        ex = r["example_window"]
        if k == 0:
            ax0.plot(steps, ex["target"], "k", lw=2, label="Mackey-Glass (target)")
        ax0.plot(steps, ex["prediction"], f"C{k}--", label=f"free run, N = {n}")
        ax1.semilogy(steps, r["free_run_error_median"], f"C{k}", label=f"N = {n}: free run")
        ax1.axhline(r["one_step_nrmse"], color=f"C{k}", ls=":", label=f"N = {n}: one-step NRMSE")
    ax0.set_xlabel("steps after the last teacher-forced input")
    ax0.set_ylabel("x(t) − 1")
    ax0.set_title("free-running prediction, one test window")
    ax0.legend(fontsize=8)
    ax1.set_xlabel("prediction horizon (steps)")
    ax1.set_ylabel("median |y − u| / σ over test windows")
    ax1.set_title(
        f"free-run error ({pred['results'][str(pred['sizes'][0])]['free_run_windows']} windows)"
    )
    ax1.legend(fontsize=8)
    names.append(save_figure(fig, out / "prediction.png").name)

    sw = record["sweep"]
    fig, ax = plt.subplots(figsize=(6.5, 5))
    grid = np.log10(np.asarray(sw["one_step_nrmse"], dtype=float))
    radii, leaks = np.asarray(sw["spectral_radius"]), np.asarray(sw["leak_rate"])
    im = ax.pcolormesh(leaks, radii, grid, shading="nearest", cmap="viridis_r")
    fig.colorbar(im, ax=ax, label="log10 one-step test NRMSE")
    ax.plot(sw["best"]["leak_rate"], sw["best"]["spectral_radius"], "r*", ms=12, label="best")
    ax.set_xlabel("leak rate a")
    ax.set_ylabel("spectral radius ρ(W_rec)")
    ax.set_title(f"Mackey-Glass one-step NRMSE, N = {sw['hidden']}")
    ax.legend(fontsize=8)
    names.append(save_figure(fig, out / "sweep.png").name)

    esp = record["echo_state_property"]
    radii = np.asarray(esp["spectral_radius"])
    final = np.asarray(esp["final_distance"], dtype=float)
    satisfied = np.asarray(esp["satisfied"], dtype=bool)
    floor = 1e-20
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.2))
    for ia, a in enumerate(esp["leak_rate"]):
        for idr, drive in enumerate(esp["drive"]):
            ls = "-" if idr else "--"
            y = np.maximum(final[:, ia, idr], floor)
            ax0.semilogy(radii, y, f"C{ia}{ls}", lw=1, label=f"a = {a:g}, input: {drive}")
            bad = ~satisfied[:, ia, idr]
            ax0.semilogy(radii[bad], y[bad], f"C{ia}x", ms=6)
        ax1.plot(
            radii, np.asarray(esp["effective_spectral_radius"])[:, ia], f"C{ia}", label=f"a = {a:g}"
        )
    ax0.plot([], [], "kx", label="violated (distance > tol × initial)")
    ax0.set_xlabel("spectral radius ρ(W_rec)")
    ax0.set_ylabel(f"largest ‖h_T − h'_T‖ after T = {esp['steps']} steps")
    ax0.set_title(f"echo state property, N = {esp['hidden']} (floored at {floor:g})")
    ax0.legend(fontsize=7)
    ax1.axhline(1.0, color="k", lw=0.8, ls="--")
    ax1.set_xlabel("spectral radius ρ(W_rec)")
    ax1.set_ylabel("effective spectral radius ρ((1 − a) I + a W_rec)")
    ax1.set_title("linearisation at the zero state")
    ax1.legend(fontsize=8)
    names.append(save_figure(fig, out / "echo_state_property.png").name)

    mc = record["memory_capacity"]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    cap = np.asarray(mc["capacity"])
    for k, s in enumerate(mc["input_scaling"]):
        ax.plot(mc["spectral_radius"], cap[:, k], marker="o", label=f"tanh, input scaling {s:g}")
    ax.axhline(mc["hidden"], color="k", ls="--", lw=0.8, label="bound MC <= N")
    ax.set_xlabel("spectral radius ρ(W_rec)")
    ax.set_ylabel("memory capacity Σ_k r²")
    ax.set_title(f"short-term memory capacity, N = {mc['hidden']}")
    ax.legend(fontsize=8)
    names.append(save_figure(fig, out / "memory_capacity.png").name)
    return names


if __name__ == "__main__":
    main()
