"""Vanishing gradients on the adding problem: which remedy learns the long dependency, and why.

Command:   python experiments/vanishing.py [--quick] [--out results/vanishing] [--steps N]
Runtime:   48 min wall (2877 s) in `report.py --full` on an idle 2-core CPU: 18
           rg.train calls, 12000 steps for the vanilla cells (T = 50/100/200: tanh
           81-83/134-142/249-284 s, IRNN 84/158/276 s) and 6000 for the gated ones
           (LSTM 82/147/266 s, chrono LSTM 86/143/278 s, GRU 59/99/194 s), + 20 s of ESN.
           Over the ~10 min aim: the IRNN needs ~10^4 Adam steps at T = 100 (at 6000
           it solved 3/5). --quick: ~50 s, almost all of it compiling the 6 training
           programs.
What it does:
  The adding problem (rg.AddingTask, Hochreiter & Schmidhuber 1997 in Pascanu et al.
  2013's form: values U(0, 1), the first marker in [0, T/10), the second in
  [T/10, T/2), target = sum of the two marked values, so BOTH marked inputs lie at
  least T/2 steps before the readout; predicting the mean scores MSE 1/6) at
  T ∈ {50, 100, 200}, 5 seeds each (one vmapped rg.train call per model and T), for
    tanh_gaussian    rg.VanillaCell, tanh, W_rec ~ N(0, 1/H) (gain 1), H = 64
    tanh_orthogonal  rg.orthogonal_rnn (Saxe et al. 2014), H = 64
    irnn             rg.irnn (Le, Jaitly & Hinton 2015): ReLU, W_rec = I, zero bias,
                     input weights N(0, 0.001²) as in the paper, H = 64
    lstm             rg.lstm(forget_bias=1.0) (Gers et al. 2000), H = 32
    lstm_chrono      rg.chrono_lstm(max_delay=T) (Tallec & Ollivier 2018), H = 32:
                     forget-gate bias log τ, input-gate bias -log τ, τ ~ U(1, T - 1)
    gru              rg.gru (Cho et al. 2014), H = 32
    esn              rg.EchoStateCell reservoir (N = 200, not trained) + closed-form
                     rg.ridge_readout of the final state (no BPTT); leaky units
                     (leak 0.1, spectral radius 0.99, input scaling 0.5, bias 0.5:
                     picked from a small grid at T = 50/100 during development), the
                     ridge from {1e-6, 1e-4, 1e-2, 1} on a validation split.
  The gated cells get H = 32 so that every trained model has ~4.4k parameters (vanilla
  H = 64: 4353; LSTM H = 32: 4513; GRU H = 32: 3457). All trained models: Adam with
  global-norm clipping at 1 (rg.clipped), batch 32; Adam's lr 1e-3 and 12000 steps for
  the vanilla cells, 3e-3 and 6000 steps for the gated ones, the lr decayed by a cosine
  to 5 % over the run (optax.cosine_decay_schedule; with a constant lr the IRNN sat at
  test MSE 0.012-0.018 after 6000 steps, with the decay 3 of 5 seeds went below 0.01,
  with 12000 steps 5 of 5). Le et al. trained their IRNN with plain SGD (100 units,
  batch 16, lr and clipping threshold from a grid, ~10^6 steps); with Adam lr 1e-3 +
  clipping it learns in ~10^4 steps (lr 2e-3 or 3e-3 is unstable).
  Test: 2000 fresh sequences per seed. Reported per model and T: the test MSE of every
  seed, the fraction of seeds with test MSE < 0.01 (and its Wilson 95 % interval), and
  the task's own criterion (rg.AddingTask.solved: < 1 % of test sequences with squared
  error > 0.04, Pascanu et al.).
  Why: the exact lag profile log10 ‖∂L/∂s_{T-1-d}‖ (rg.final_step_profile +
  rg.lag_profile) of every model at initialisation, and of seed 0 after training, at
  T = 100, averaged over 16 task sequences, relative to lag 0. The marked inputs sit at
  lags d > T/2: a model learns the task only if gradient reaches them.
Expected numbers (default size, float32; measured in report.py --full, 2026-11-27),
test-MSE successes (< 0.01) of 5 and the median test MSE:
                    T = 50          T = 100         T = 200
  tanh_gaussian     0/5 (0.170)     0/5 (0.169)     0/5 (0.167)
  tanh_orthogonal   0/5 (0.170)     0/5 (0.169)     0/5 (0.167)
  irnn              5/5 (1.6e-4)    5/5 (1.1e-3)    3/5 (4.0e-3)
  lstm              0/5 (0.170)     0/5 (0.169)     0/5 (0.168)
  lstm_chrono       5/5 (1.3e-4)    5/5 (1.4e-4)    5/5 (1.3e-4)
  gru               5/5 (5e-5)      5/5 (9e-5)      3/5 (6e-5; 2 seeds on the plateau)
  esn               5/5 (5e-4)      0/5 (0.017)     0/5 (0.146)
  (the task's own criterion gives the same counts). IRNN test MSE per seed at T = 100:
  0.0011, 0.0016, 0.0012, 0.0004, 0.0002; at T = 200: 0.0014, 0.0040, 0.020, 0.013,
  0.0020.
  Lag profile at initialisation, log10 of ‖∂L/∂s‖ at lag 90 relative to lag 0
  (T = 100): tanh Gaussian -8.5, orthogonal -8.0, LSTM (forget bias 1) -7.0, chrono
  LSTM -1.0, GRU -17.2, IRNN -0.18, ESN -1.0. So at initialisation only the IRNN, the
  chrono LSTM and the (leaky) ESN carry gradient / memory to the marked inputs. The GRU
  starts with the steepest decay of all yet solves T <= 100: after training (seed 0)
  its profile is flat (+0.05 at lag 90), the IRNN's and the chrono LSTM's too (+0.9,
  +0.8), while the tanh nets (-14, -18) and the forget-bias-1 LSTM (-7.7) still lose
  the marked inputs and sit on the predict-the-mean plateau 1/6 for the whole run.
Targets (issue): at T = 100, LSTM and IRNN test MSE < 0.01 in >= 4 of 5 seeds; tanh with
  Gaussian init in <= 1 of 5.
  - tanh + Gaussian <= 1/5: met (0/5).
  - IRNN >= 4/5: met (5/5). With 6000 steps (an earlier full run) it was 3/5.
  - LSTM >= 4/5: met by the chrono-initialised LSTM (5/5 at every T, in ~600-900
    steps); missed by the LSTM with forget bias 1 (0/5 at every T, even T = 50). Why:
    with the input gate half open (bias 0) the cell state sums every input, and with
    σ(1) ≈ 0.73 per step it forgets the marked values (all at lag > T/2 here) by
    10^-7 before the readout; the gradient reaching them is 10^-4..10^-7 of the one at
    lag 0 and the LSTM never leaves the 1/6 plateau. Development runs (2 seeds, 3000
    steps, T = 100) of the forget-bias-1 LSTM with H = 64, lr 3e-3, forget bias 5,
    values in [-1, 1] (Hochreiter's version), stayed on the plateau; closing the input
    gate (forget bias 3 with input bias -3) solved it in ~900 steps, chrono in ~600.
Outputs (in --out): lag_profiles.png, success.png, training.png, vanishing.json (every
  printed number; per model and T: test_mse, mse_success, mse_success_rate,
  mse_success_95ci, solved, solved_rate, solved_95ci, test_error_rate,
  first_divergent_step, loss_curve; lag_profiles; targets; summary_table; seconds).
"""

from __future__ import annotations

import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import rnngrad as rg

try:
    from _common import block_reduce, parser, save_figure, table, write_outputs
except ImportError:  # imported as experiments.vanishing
    from experiments._common import block_reduce, parser, save_figure, table, write_outputs

LR_FLOOR = 0.05  # the cosine schedule's final learning rate, as a fraction of the first
MSE_THRESHOLD = 0.01  # the success criterion: test MSE < 0.01 (baseline 1/6)
MODELS = ("tanh_gaussian", "tanh_orthogonal", "irnn", "lstm", "lstm_chrono", "gru", "esn")
TRAINED = MODELS[:-1]
LABELS = {
    "tanh_gaussian": "tanh, Gaussian init",
    "tanh_orthogonal": "tanh, orthogonal init",
    "irnn": "IRNN (ReLU, identity)",
    "lstm": "LSTM, forget bias 1",
    "lstm_chrono": "LSTM, chrono init",
    "gru": "GRU",
    "esn": "ESN + ridge readout",
}
COLOURS = {m: f"C{i}" for i, m in enumerate(MODELS)}


def sizes(quick: bool) -> dict:
    """Every size and hyperparameter of the run (all of it lands in the JSON)."""
    if quick:
        return {
            "lengths": [20],
            "profile_length": 20,
            "seeds": 2,
            "steps": {"vanilla": 100, "gated": 100},
            "batch_size": 16,
            "test_size": 256,
            "hidden": {"vanilla": 8, "gated": 4},
            "lr": {"vanilla": 1e-3, "gated": 3e-3},
            "clip_global_norm": 1.0,
            "profile_samples": 4,
            "esn": {"reservoir": 30, "train": 300, "validation": 100, "test": 256},
        }
    return {
        "lengths": [50, 100, 200],
        "profile_length": 100,
        "seeds": 5,
        # The vanilla cells learn with a 3x smaller lr (larger ones were unstable for the
        # IRNN) and get twice the steps; the gated cells reach MSE 1e-4 within 6000.
        "steps": {"vanilla": 12000, "gated": 6000},
        "batch_size": 32,
        "test_size": 2000,
        "hidden": {"vanilla": 64, "gated": 32},
        "lr": {"vanilla": 1e-3, "gated": 3e-3},
        "clip_global_norm": 1.0,
        "profile_samples": 16,
        "esn": {"reservoir": 200, "train": 3000, "validation": 1000, "test": 2000},
    }


ESN_PARAMS = {
    "spectral_radius": 0.99,
    "leak_rate": 0.1,
    "input_scaling": 0.5,
    "bias_scaling": 0.5,
    "connectivity": 0.1,
}
RIDGES = (1e-6, 1e-4, 1e-2, 1.0)


def make_cell(model: str, hidden: dict, key, length: int):
    """The initial cell of `model` (input size 2: value and marker) for sequences of `length`."""
    hv, hg = hidden["vanilla"], hidden["gated"]
    if model == "tanh_gaussian":
        return rg.VanillaCell(2, hv, key=key)
    if model == "tanh_orthogonal":
        return rg.orthogonal_rnn(2, hv, key=key)
    if model == "irnn":
        # Le et al. (2015): input-to-hidden weights N(0, 0.001²).
        return rg.irnn(2, hv, weight_ih_init=jax.nn.initializers.normal(1e-3), key=key)
    if model == "lstm":
        return rg.lstm(2, hg, forget_bias=1.0, key=key)
    if model == "lstm_chrono":
        # Tallec & Ollivier (2018): time scales up to the longest dependency, T.
        return rg.chrono_lstm(2, hg, max_delay=length, key=key)
    if model == "gru":
        return rg.gru(2, hg, key=key)
    raise ValueError(f"unknown model {model!r}")


def initial_model(model: str, hidden: dict, key, length: int, seed: int = 0) -> rg.RNNModel:
    """Seed `seed`'s model before training, drawn exactly as rg.train draws it.

    rg.train gives seed i the key ``fold_in(key, i)``, split into (cell, readout, data,
    test) keys, in that order (see its docstring).
    """
    k_cell, k_read, _, _ = jax.random.split(jax.random.fold_in(key, seed), 4)
    return rg.RNNModel(make_cell(model, hidden, k_cell, length), 1, key=k_read)


class Readout(eqx.Module):
    """The trained model's linear readout of the hidden state, as a pytree callable."""

    linear: eqx.nn.Linear

    def __call__(self, carry):
        return self.linear(rg.readout_features(carry))


class RidgeReadout(eqx.Module):
    """The ESN's closed-form readout (rg.readout_apply), as a pytree callable."""

    weights: jax.Array

    def __call__(self, carry):
        return rg.readout_apply(self.weights, carry)


@eqx.filter_jit
def _mean_log_profile(cell, readout, task, xs, ys):
    def one(x, y):
        prof = rg.final_step_profile(
            cell, x, rg.zero_carry(cell), lambda c: task.loss(readout(c), y)
        )
        logs = rg.lag_profile(prof, log10=True)
        return logs - logs[0]

    return jnp.mean(jax.vmap(one)(xs, ys), axis=0)


def mean_log_profile(cell, readout, task, xs, ys) -> np.ndarray:
    """Mean over sequences of log10 ‖∂L/∂s_{T-1-d}‖ - log10 ‖∂L/∂s_{T-1}‖, d = 0..T-1.

    One compilation per cell type (the initial and the trained model share it).
    """
    return np.asarray(_mean_log_profile(cell, readout, task, xs, ys))


def seed_slice(tree, i: int):
    """Seed i of a pytree batched over seeds (e.g. TrainResult.model)."""
    arrays, static = eqx.partition(tree, eqx.is_array)
    return eqx.combine(jax.tree_util.tree_map(lambda a: a[i], arrays), static)


@eqx.filter_jit
def _final_states(cell, xs):
    return jax.vmap(lambda x: rg.final_carry(cell, x, jnp.zeros(cell.hidden_size, xs.dtype)))(xs)


def run_esn(task: rg.AddingTask, key, cfg: dict) -> dict:
    """One ESN seed: reservoir, ridge readout of the final state, test metrics."""
    k_res, k_train, k_val, k_test = jax.random.split(key, 4)
    cell = rg.EchoStateCell(2, cfg["reservoir"], **ESN_PARAMS, key=k_res)
    x_tr, y_tr = task.batch(k_train, cfg["train"])
    x_va, y_va = task.batch(k_val, cfg["validation"])
    x_te, y_te = task.batch(k_test, cfg["test"])
    # One compiled call for all three sets.
    states = _final_states(cell, jnp.concatenate([x_tr, x_va, x_te]))
    n_tr, n_va = cfg["train"], cfg["validation"]
    s_tr, s_va, s_te = states[:n_tr], states[n_tr : n_tr + n_va], states[n_tr + n_va :]
    val = []
    for ridge in RIDGES:
        w = rg.ridge_readout(s_tr, y_tr, ridge=ridge)
        val.append(float(jnp.mean(jnp.sum((rg.readout_apply(w, s_va) - y_va) ** 2, -1))))
    ridge = RIDGES[int(np.argmin(val))]
    w = rg.ridge_readout(s_tr, y_tr, ridge=ridge)
    pred = rg.readout_apply(w, s_te)
    return {
        "cell": cell,
        "readout": w,
        "ridge": ridge,
        "test_mse": float(jnp.mean(jnp.sum((pred - y_te) ** 2, -1))),
        "test_error_rate": float(task.error_rate(pred, y_te)),
        "solved": bool(task.solved(pred, y_te)),
    }


def curve(losses: np.ndarray, points: int = 100) -> np.ndarray:
    """(seeds, steps) training losses as (seeds, <= points) block means."""
    return block_reduce(losses, np.mean, points)


def main(argv: list[str] | None = None) -> dict:
    p = parser(__doc__, "vanishing")
    p.add_argument(
        "--steps", type=int, default=None, help="training steps of every model (overrides both)"
    )
    args = p.parse_args(argv)
    cfg = sizes(args.quick)
    if args.steps is not None:
        cfg["steps"] = {"vanilla": args.steps, "gated": args.steps}
    out = Path(args.out)
    key = jax.random.key(0)
    started = time.perf_counter()
    record: dict = {
        "quick": bool(args.quick),
        "config": {
            **cfg,
            "lr_schedule": f"cosine decay over the run to {LR_FLOOR} x lr",
            "esn_params": ESN_PARAMS,
            "esn_ridges": list(RIDGES),
        },
        "mse_threshold": MSE_THRESHOLD,
        "results": {m: {} for m in MODELS},
    }

    rows = []
    for length in cfg["lengths"]:
        task = rg.AddingTask(length)
        record["baseline_mse"] = task.baseline_loss
        for model in TRAINED:
            t0 = time.perf_counter()
            kind = "gated" if model in ("lstm", "lstm_chrono", "gru") else "vanilla"
            # Adam, its learning rate decayed by a cosine to 5 % over the run (optax).
            steps = cfg["steps"][kind]
            lr = optax.cosine_decay_schedule(cfg["lr"][kind], steps, alpha=LR_FLOOR)
            optimizer = rg.clipped(optax.adam(lr), global_norm=cfg["clip_global_norm"])
            res = rg.train(
                lambda k, model=model, length=length: make_cell(model, cfg["hidden"], k, length),
                task,
                optimizer=optimizer,
                steps=steps,
                batch_size=cfg["batch_size"],
                key=jax.random.fold_in(key, length),
                seeds=cfg["seeds"],
                test_size=cfg["test_size"],
                progress=False,
            )
            mse = np.asarray(res.test_loss, dtype=float)
            ok = mse < MSE_THRESHOLD
            entry = {
                "test_mse": mse,
                "mse_success": ok,
                "mse_success_rate": float(ok.mean()),
                "mse_success_95ci": list(rg.wilson_interval(int(ok.sum()), ok.size)),
                "solved": np.asarray(res.solved),
                "solved_rate": res.success_rate,
                "solved_95ci": list(res.success_interval),
                "test_error_rate": np.asarray(res.test_error_rate),
                "first_divergent_step": np.asarray(res.first_divergent_step),
                "steps": steps,
                "loss_curve": curve(np.asarray(res.losses)),
                "seconds": time.perf_counter() - t0,
            }
            record["results"][model][str(length)] = entry
            if length == cfg["profile_length"]:
                record.setdefault("_trained", {})[model] = seed_slice(res.model, 0)
            rows.append(row(model, length, entry))
            print(table(HEADERS, [rows[-1]], fmt="{:>15}").splitlines()[-1], flush=True)
        t0 = time.perf_counter()
        esn = [
            run_esn(task, jax.random.fold_in(jax.random.fold_in(key, length), s), cfg["esn"])
            for s in range(cfg["seeds"])
        ]
        mse = np.array([e["test_mse"] for e in esn])
        ok = mse < MSE_THRESHOLD
        solved = np.array([e["solved"] for e in esn])
        entry = {
            "test_mse": mse,
            "mse_success": ok,
            "mse_success_rate": float(ok.mean()),
            "mse_success_95ci": list(rg.wilson_interval(int(ok.sum()), ok.size)),
            "solved": solved,
            "solved_rate": float(solved.mean()),
            "solved_95ci": list(rg.wilson_interval(int(solved.sum()), solved.size)),
            "test_error_rate": np.array([e["test_error_rate"] for e in esn]),
            "first_divergent_step": np.full(len(esn), -1),
            "ridge": [e["ridge"] for e in esn],
            "seconds": time.perf_counter() - t0,
        }
        record["results"]["esn"][str(length)] = entry
        if length == cfg["profile_length"]:
            record["_esn0"] = esn[0]
        rows.append(row("esn", length, entry))
        print(table(HEADERS, [rows[-1]], fmt="{:>15}").splitlines()[-1], flush=True)

    # ------------------------------------------------------------- lag profiles at T_ref
    t_ref = cfg["profile_length"]
    task = rg.AddingTask(t_ref)
    xs, ys = task.batch(jax.random.key(12345), cfg["profile_samples"])
    profiles: dict = {}
    for model in TRAINED:
        init = initial_model(model, cfg["hidden"], jax.random.fold_in(key, t_ref), t_ref)
        trained = record["_trained"][model]
        profiles[model] = {
            "init": mean_log_profile(init.cell, Readout(init.readout), task, xs, ys),
            "trained_seed0": mean_log_profile(trained.cell, Readout(trained.readout), task, xs, ys),
        }
    esn0 = record.pop("_esn0")
    esn_profile = mean_log_profile(esn0["cell"], RidgeReadout(esn0["readout"]), task, xs, ys)
    profiles["esn"] = {"init": esn_profile, "trained_seed0": esn_profile}
    record.pop("_trained")
    half, far = t_ref // 2, int(0.9 * t_ref)
    record["lag_profiles"] = {
        "length": t_ref,
        "samples": cfg["profile_samples"],
        "lags": np.arange(t_ref),
        "log10_relative": profiles,
        "at_half_T": {m: float(profiles[m]["init"][half]) for m in MODELS},
        "at_0.9T": {m: float(profiles[m]["init"][far]) for m in MODELS},
        "trained_at_0.9T": {m: float(profiles[m]["trained_seed0"][far]) for m in MODELS},
    }

    elapsed = time.perf_counter() - started
    record["seconds"] = elapsed
    headers = HEADERS
    record["summary_table"] = {"headers": headers, "rows": rows}
    print()
    print(
        f"Adding problem, {cfg['seeds']} seeds, {cfg['steps']['vanilla']} steps (vanilla "
        f"cells) / {cfg['steps']['gated']} (gated), batch "
        f"{cfg['batch_size']}; success = test MSE < {MSE_THRESHOLD} (baseline "
        f"{record['baseline_mse']:.4f}); 'solved' = task criterion (Pascanu et al.)"
    )
    print(table(headers, rows, fmt="{:>15}"))
    prof_rows = [
        [
            m,
            record["lag_profiles"]["at_half_T"][m],
            record["lag_profiles"]["at_0.9T"][m],
            record["lag_profiles"]["trained_at_0.9T"][m],
        ]
        for m in MODELS
    ]
    prof_headers = ["model", f"init d={half}", f"init d={far}", f"trained d={far}"]
    record["profile_table"] = {"headers": prof_headers, "rows": prof_rows}
    print(
        f"\nlog10 ‖∂L/∂s_(T-1-d)‖ / ‖∂L/∂s_(T-1)‖ at T = {t_ref} "
        f"(mean of {cfg['profile_samples']} sequences)"
    )
    print(table(prof_headers, prof_rows, fmt="{:>16}"))

    record["targets"] = targets(record, cfg)
    for name, value in record["targets"].items():
        print(f"target {name}: {value}")
    print(f"computed in {elapsed:.1f} s")

    return write_outputs(record, out, "vanishing", lambda: plot(record, cfg, out))


HEADERS = ["model", "T", "median MSE", "min MSE", "MSE<0.01", "95% CI", "solved", "diverged"]


def row(model: str, length: int, e: dict) -> list:
    n = len(e["test_mse"])
    lo, hi = e["mse_success_95ci"]
    return [
        model,
        length,
        float(np.median(e["test_mse"])),
        float(np.min(e["test_mse"])),
        f"{int(np.sum(e['mse_success']))}/{n}",
        f"[{lo:.2f},{hi:.2f}]",
        f"{int(np.sum(e['solved']))}/{n}",
        int(np.sum(np.asarray(e["first_divergent_step"]) >= 0)),
    ]


def targets(record: dict, cfg: dict) -> dict:
    """The issue's targets at T = 100 (only when T = 100 was run)."""
    res = record["results"]
    if "100" not in res["lstm"]:
        return {}
    n = cfg["seeds"]

    def count(m):
        return int(np.sum(res[m]["100"]["mse_success"]))

    return {
        "lstm_T100_mse_success": f"{count('lstm')}/{n} (target >= 4/5)",
        "lstm_chrono_T100_mse_success": f"{count('lstm_chrono')}/{n} (target >= 4/5)",
        "irnn_T100_mse_success": f"{count('irnn')}/{n} (target >= 4/5)",
        "tanh_gaussian_T100_mse_success": f"{count('tanh_gaussian')}/{n} (target <= 1/5)",
        "lstm_met": count("lstm") >= 4,
        "lstm_chrono_met": count("lstm_chrono") >= 4,
        "irnn_met": count("irnn") >= 4,
        "tanh_gaussian_met": count("tanh_gaussian") <= 1,
    }


def plot(record: dict, cfg: dict, out: Path) -> list[str]:
    """Write the three figures into `out`; return their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    lp = record["lag_profiles"]
    t_ref = lp["length"]
    lags = np.asarray(lp["lags"])
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    for ax, which, title in (
        (axes[0], "init", "at initialisation"),
        (axes[1], "trained_seed0", "after training (seed 0)"),
    ):
        for m in MODELS:
            ax.plot(lags, lp["log10_relative"][m][which], color=COLOURS[m], label=LABELS[m])
        ax.axvspan(t_ref // 2, int(0.9 * t_ref), color="grey", alpha=0.15, label="second marker")
        ax.axvspan(int(0.9 * t_ref), t_ref - 1, color="grey", alpha=0.3, label="first marker")
        ax.set_xlabel("lag d (steps before the readout)")
        ax.set_title(f"{title}, T = {t_ref}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("log10 ‖∂L/∂s_(T-1-d)‖ / ‖∂L/∂s_(T-1)‖")
    axes[0].legend(fontsize=7, loc="lower left")
    names.append(save_figure(fig, out / "lag_profiles.png").name)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    lengths = cfg["lengths"]
    width = 0.8 / len(MODELS)
    for i, m in enumerate(MODELS):
        rates = [record["results"][m][str(t)]["mse_success_rate"] for t in lengths]
        ci = np.array([record["results"][m][str(t)]["mse_success_95ci"] for t in lengths])
        x = np.arange(len(lengths)) + (i - len(MODELS) / 2 + 0.5) * width
        err = np.clip(np.stack([np.array(rates) - ci[:, 0], ci[:, 1] - np.array(rates)]), 0, None)
        ax.bar(x, rates, width, color=COLOURS[m], label=LABELS[m], yerr=err, capsize=2)
    ax.set_xticks(np.arange(len(lengths)), [f"T = {t}" for t in lengths])
    ax.set_ylabel(f"fraction of seeds with test MSE < {MSE_THRESHOLD}")
    ax.set_ylim(0, 1.05)
    ax.set_title("Adding problem: success rate (Wilson 95 % intervals)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    names.append(save_figure(fig, out / "success.png").name)

    fig, axes = plt.subplots(1, len(lengths), figsize=(5 * len(lengths), 4), squeeze=False)
    for ax, t in zip(axes[0], lengths):
        for m in TRAINED:
            c = np.asarray(record["results"][m][str(t)]["loss_curve"], dtype=float)
            x = np.linspace(0, record["results"][m][str(t)]["steps"], c.shape[1])
            ax.plot(x, np.median(c, axis=0), color=COLOURS[m], label=LABELS[m])
            ax.fill_between(x, c.min(0), c.max(0), color=COLOURS[m], alpha=0.15)
        ax.axhline(record["baseline_mse"], color="k", ls="--", lw=0.8, label="predict the mean")
        ax.axhline(MSE_THRESHOLD, color="k", ls=":", lw=0.8, label="MSE 0.01")
        ax.set_yscale("log")
        ax.set_xlabel("training step")
        ax.set_ylabel("training MSE (median and range over seeds)")
        ax.set_title(f"T = {t}")
    axes[0][0].legend(fontsize=7)
    names.append(save_figure(fig, out / "training.png").name)
    return names


if __name__ == "__main__":
    main()
