"""Fixed points of networks trained on the 3-bit flip-flop, and the gradient decay they imply.

Command:   python experiments/fixed_points.py [--quick | --full] [--out results/fixed_points]
Runtime:   about 3 min on a 2-core CPU (float32: two rg.train calls of 3000 Adam steps and
           two fixed-point searches from 1024 states); --quick: about 1 min.
What it does: trains a GRU (rg.gru, H = 64) and a vanilla tanh RNN (rg.orthogonal_rnn,
  H = 64) on rg.FlipFlopTask (3 bits, T = 100, pulse probability 0.05; Sussillo & Barak
  2013, section 3.1), one seed each (Adam 3e-3 cosine-decayed to 5 %, global-norm clipping
  at 1, batch 64). Then rg.fixed_points of each trained cell at zero input, started from
  states of 16 test trajectories plus noise (Sussillo & Barak's recipe), tolerance q <
  1e-10 (float32, after Newton polishing). Each stable point's memory is the sign pattern
  of the trained readout there. The gradient decay the fixed points predict, ln ρ(J*) per
  step (J* = ∂F/∂s at the point; averaged over the stable points nearest to where the test
  sequences end, "visited"), is set beside the measured one: the per-step rate of the
  exact final-step gradient profile (rg.final_step_profile of the squared error at the
  last step) of the trained network on test sequences, fitted over the last half of the
  lags.
What it shows: the trained networks hold each of the 8 memories in a stable fixed point
  (the GRU sometimes in a few nearby ones), with saddles between them, and the gradient
  decay measured on test sequences is compared with the slowest eigenvalue of the memory
  points they rest in (the record says by how much they differ).
Numbers: the printed tables; fixed_points.json: results[model] (test_loss, error_rate,
  fixed, stable, unstable, memories, distinct_memories, log_rho_stable, log_rho_visited,
  measured_rate, max_residual, seconds), checks; fixed_points.npz: points_<model>, stable_<model>,
  eigenvalues_abs_<model>, trajectories_<model>, profile_<model>, loss_curve_<model>.
  Figures: state_space.png, eigenvalues.png, training.png.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rnngrad as rg

try:
    import _runner
except ImportError:  # imported as experiments.fixed_points
    from experiments import _runner

LR_FLOOR = 0.05
MODELS = ("gru", "tanh")
LABELS = {"gru": "GRU", "tanh": "tanh RNN (orthogonal init)"}
HEADERS = ["model", "test loss", "error rate", "fixed", "stable", "memories", "mean ln ρ(J*)",
           "ln ρ visited", "measured rate", "max q"]  # fmt: skip
SIZES = {
    "quick": {
        "length": 40, "hidden": 8, "steps": 80, "batch_size": 16, "test_size": 64,
        "trajectories": 4, "starts": 64, "fp_steps": 300, "noise": 0.05, "lr": 3e-3,
    },
    "full": {
        "length": 100, "hidden": 64, "steps": 3000, "batch_size": 64, "test_size": 1000,
        "trajectories": 16, "starts": 1024, "fp_steps": 2000, "noise": 0.05, "lr": 3e-3,
    },
}  # fmt: skip


def make_cell(model: str, hidden: int, key):
    if model == "gru":
        return rg.gru(3, hidden, key=key)
    return rg.orthogonal_rnn(3, hidden, key=key)


def memory_code(model, point) -> str:
    """The 3-bit memory a state holds: the signs of the trained readout there."""
    out = np.asarray(model.readout(model.features(jnp.asarray(point))))
    return "".join("+" if v > 0 else "-" for v in out)


def run(cfg: dict) -> tuple[dict, dict]:
    task = rg.FlipFlopTask(cfg["length"])
    key = jax.random.key(0)
    results, arrays, rows = {}, {}, []
    for i, model_name in enumerate(MODELS):
        started = time.perf_counter()
        lr = optax.cosine_decay_schedule(cfg["lr"], cfg["steps"], alpha=LR_FLOOR)
        res = rg.train(
            lambda k, m=model_name: make_cell(m, cfg["hidden"], k),
            task,
            optimizer=rg.clipped(optax.adam(lr), global_norm=1.0),
            steps=cfg["steps"],
            batch_size=cfg["batch_size"],
            key=jax.random.fold_in(key, i),
            test_size=cfg["test_size"],
            progress=False,
        )
        model = res.seed_model(0)
        xs, ys = task.batch(jax.random.key(777), cfg["trajectories"])
        carries = jax.vmap(model.carries)(xs)  # (B, T, S); the cells' carries are flat
        flat = np.asarray(carries).reshape(-1, carries.shape[-1])
        k_pick, k_noise = jax.random.split(jax.random.fold_in(key, 100 + i))
        picks = jax.random.choice(k_pick, flat.shape[0], (cfg["starts"],))
        spread = cfg["noise"] * float(np.std(flat))
        starts = jnp.asarray(flat)[picks] + spread * jax.random.normal(
            k_noise, (cfg["starts"], flat.shape[1])
        )
        found = rg.fixed_points(
            model.cell, jnp.zeros(3), starts, steps=cfg["fp_steps"], tolerance=1e-10
        )
        stable = np.asarray(found.stable)
        codes = [memory_code(model, p) for p in np.asarray(found.points)[stable]]
        log_rho = np.log(np.asarray(found.spectral_radius))[stable]

        def profile(x, y, model=model):
            def loss(carry):
                pred = model.readout(model.features(carry))
                return jnp.sum((pred - y[-1]) ** 2)

            return rg.final_step_profile(model.cell, x, rg.init_carry(model.cell), loss).log_norms

        # The prediction for these sequences: ln ρ(J*) at the stable point nearest to
        # where each one ends (the memory its final steps rest in), averaged.
        ends = np.asarray(carries)[:, -1]
        stable_points = np.asarray(found.points)[stable]
        if len(stable_points):
            nearest = np.argmin(
                np.linalg.norm(ends[:, None] - stable_points[None], axis=-1), axis=1
            )
            visited = float(np.mean(log_rho[nearest]))
        else:
            visited = None
        logs = np.asarray(jax.vmap(profile)(xs, ys))[:, ::-1]  # lag order
        mean_profile = np.mean(logs, axis=0)
        half = task.length // 2
        measured = float(rg.growth_rate(jnp.asarray(mean_profile), start=half))
        seconds = time.perf_counter() - started
        e = {
            "test_loss": float(res.test_loss[0]),
            "error_rate": float(res.test_error_rate[0]),
            "fixed": int(len(stable)),
            "stable": int(stable.sum()),
            "unstable": int((~stable).sum()),
            "memories": codes,
            "distinct_memories": len(set(codes)),
            "log_rho_stable": log_rho.tolist(),
            "mean_log_rho_stable": float(np.mean(log_rho)) if log_rho.size else None,
            "log_rho_visited": visited,
            "measured_rate": measured,
            "max_residual": float(np.max(found.residual)) if len(stable) else None,
            "counts": np.asarray(found.counts).tolist(),
            "seconds": seconds,
        }
        results[model_name] = e
        arrays[f"points_{model_name}"] = np.asarray(found.points)
        arrays[f"stable_{model_name}"] = stable
        arrays[f"eigenvalues_abs_{model_name}"] = np.abs(np.asarray(found.eigenvalues))
        arrays[f"trajectories_{model_name}"] = np.asarray(carries)
        arrays[f"profile_{model_name}"] = mean_profile
        arrays[f"loss_curve_{model_name}"] = _runner.block_reduce(np.asarray(res.losses))
        nan = float("nan")
        rows.append([
            model_name, e["test_loss"], e["error_rate"], e["fixed"], e["stable"],
            e["distinct_memories"],
            nan if e["mean_log_rho_stable"] is None else e["mean_log_rho_stable"],
            nan if visited is None else visited,
            measured, nan if e["max_residual"] is None else e["max_residual"],
        ])  # fmt: skip
        print(_runner.format_table(HEADERS, rows[-1:]).splitlines()[-1], flush=True)
    checks = {}
    for m in MODELS:
        checks[f"{m}_distinct_memories"] = results[m]["distinct_memories"]
        if results[m]["log_rho_visited"] is not None:
            gap = results[m]["measured_rate"] - results[m]["log_rho_visited"]
            checks[f"{m}_rate_minus_log_rho"] = gap
    title = (
        f"3-bit flip-flop, T = {cfg['length']}, H = {cfg['hidden']}, {cfg['steps']} steps; "
        "fixed points at zero input (q < 1e-10); memories = distinct readout sign patterns "
        "at stable points; rates per step (natural log)"
    )
    record = {
        "config": {**cfg, "lr_floor": LR_FLOOR, "task": "flipflop", "n_bits": 3},
        "baseline_loss": task.baseline_loss,
        "results": results,
        "checks": checks,
        "tables": {title: (HEADERS, rows)},
    }
    return record, arrays


def draw(record: dict, arrays: dict, cfg: dict) -> dict:
    from matplotlib.figure import Figure

    space = Figure(figsize=(12, 5), layout="constrained")
    for ax, m in zip(space.subplots(1, 2), MODELS):
        stable = arrays[f"stable_{m}"]
        names = []
        codes = iter(record["results"][m]["memories"])
        for s in stable:
            names.append(next(codes) if s else "")
        rg.plot.state_space(
            arrays[f"trajectories_{m}"], arrays[f"points_{m}"], stable=stable, labels=names,
            ax=ax, title=f"{LABELS[m]}: trajectories and fixed points",
        )  # fmt: skip
    eig = Figure(figsize=(12, 4.5), layout="constrained")
    for ax, m in zip(eig.subplots(1, 2), MODELS):
        stable = arrays[f"stable_{m}"]
        mags = arrays[f"eigenvalues_abs_{m}"][stable][:, :20]
        if len(mags):
            rg.plot.spectra(
                mags, labels=record["results"][m]["memories"], ax=ax, hlines={"|λ| = 1": 1.0},
                title=f"{LABELS[m]}: |eigenvalues| of ∂F/∂s at the stable points",
                ylabel="|λ_i|",
            )  # fmt: skip
    training = rg.plot.training_curves(
        [arrays[f"loss_curve_{m}"] for m in MODELS], labels=[LABELS[m] for m in MODELS],
        steps=cfg["steps"], hlines={"predict 0": record["baseline_loss"]},
        title="3-bit flip-flop: training loss",
    )  # fmt: skip
    return {"state_space.png": space, "eigenvalues.png": eig, "training.png": training}


PAPER = "8 stable, one per memory (Sussillo & Barak 2013)"
EXPECTED = (
    _runner.Expect("GRU: distinct memories at stable points", PAPER, "gru_distinct_memories",
                   "==", 8, "{:.0f}"),
    _runner.Expect("tanh RNN: distinct memories at stable points", PAPER,
                   "tanh_distinct_memories", "==", 8, "{:.0f}"),
    _runner.Expect("GRU: measured gradient rate - ln ρ(J*) of the memories visited",
                   "≈ 0 (our prediction)", "gru_rate_minus_log_rho", "abs<", 0.05, "{:+.3f}"),
    _runner.Expect("tanh RNN: measured gradient rate - ln ρ(J*) of the memories visited",
                   "≈ 0 (our prediction)", "tanh_rate_minus_log_rho", "abs<", 0.05, "{:+.3f}"),
)  # fmt: skip
EXPERIMENT = _runner.Experiment("fixed_points", __doc__, SIZES, run, draw, EXPECTED, x64=False)


def main(argv: list[str] | None = None) -> dict:
    return _runner.main(EXPERIMENT, argv)


if __name__ == "__main__":
    main()
