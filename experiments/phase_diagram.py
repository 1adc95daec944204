"""The σ_w × σ_b phase diagram of random tanh RNNs: predicted and measured rates, trainability.

Command:   python experiments/phase_diagram.py [--quick | --full] [--out results/phase_diagram]
Runtime:   about 8 min on a 2-core CPU (7.4 min measured with other jobs sharing it;
           float32 rates of 66 networks of 300 units in one vmapped call; 4 rg.train grid
           calls of 1500 Adam steps, one per σ_b and T, 2 compiled programs); --quick:
           about 1 min.
What it does:
  (a) Rates: on a σ_w × σ_b grid (σ_w from 0.5 to 3, σ_b from 0 to 1, no input drive), the
      mean-field rate ½ ln χ₁ (rg.theory.meanfield, one call) beside the measured gradient
      rate and λ₁ of one random network per point (rg.theory.compare_meanfield, N = 300,
      vmapped over the grid), with the predicted edge of chaos χ₁ = 1
      (rg.theory.critical_gain over σ_b).
  (b) Trainability: a vanilla tanh RNN (H = 64) initialised from the same ensemble (W_ij ~
      N(0, σ_w²/H), b_i ~ N(0, σ_b²), input weights N(0, 1/2)) trained on the adding
      problem (rg.AddingTask, Pascanu et al.'s form; success = test MSE < 0.01, baseline
      1/6) at T ∈ {25, 100}, 3 seeds per setting, the σ_w axis a grid of rg.train (Adam 1e-3,
      cosine-decayed to 5 %, clipping at 1, batch 32), over σ_w ∈ {0.5, 0.8, 1, 1.2, 1.5,
      2} × σ_b ∈ {0, 0.5}; success against T/|ξ| with ξ = -1/ln χ₁ the mean-field depth
      scale. Schoenholz et al. (2017) found feed-forward networks trainable iff their depth
      is below about 6ξ; whether a recurrent net's T plays the role of depth here is what
      the record reports, either way.
What it shows: the measured rates follow ½ ln χ₁ across the diagram (within 0.09 per step
  at N = 300) and change sign at the predicted critical line. Trainability within this
  budget is scarce: at T = 25 the test MSE falls below the 1/6 plateau only where T/|ξ|
  is below about 8, and the one setting that succeeds (1 or 2 of 3 seeds: its median MSE
  sits at the 0.01 threshold) has T/|ξ| < 1; at T = 100 no setting learns. The record's
  success rates by T/|ξ| bin give the numbers.
Numbers: the printed tables; phase_diagram.json: rates (max |measured - predicted|, per
  phase), critical line, trainability[T][σ_w, σ_b] (successes, test MSE, T/|ξ|), checks;
  phase_diagram.npz: sigma_w, sigma_b, predicted_rate, measured_rate, lyapunov,
  critical_sigma_b, critical_sigma_w, trainability arrays. Figures: rates.png,
  trainability.png.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import rnngrad as rg

try:
    import _runner
except ImportError:  # imported as experiments.phase_diagram
    from experiments import _runner

LR_FLOOR = 0.05
MSE_THRESHOLD = 0.01
SIZES = {
    "quick": {
        "rates": {"sigma_w": [0.5, 1.0, 2.0], "sigma_b": [0.0, 0.5], "hidden": 60,
                  "steps": 120, "warmup": 40},
        "train": {"sigma_w": [0.8, 1.5], "sigma_b": [0.0], "lengths": [10], "hidden": 8,
                  "seeds": 2, "steps": 40, "batch_size": 8, "test_size": 64, "lr": 1e-3},
    },
    "full": {
        "rates": {"sigma_w": np.linspace(0.5, 3.0, 11).tolist(),
                  "sigma_b": np.linspace(0.0, 1.0, 6).tolist(), "hidden": 300, "steps": 500,
                  "warmup": 200},
        "train": {"sigma_w": [0.5, 0.8, 1.0, 1.2, 1.5, 2.0], "sigma_b": [0.0, 0.5],
                  "lengths": [25, 100], "hidden": 64, "seeds": 3, "steps": 1500,
                  "batch_size": 32, "test_size": 1000, "lr": 1e-3},
    },
}  # fmt: skip


def _max(values: np.ndarray) -> float | None:
    return float(np.max(values)) if values.size else None


def rates(cfg: dict) -> tuple[dict, dict]:
    sw, sb = np.asarray(cfg["sigma_w"]), np.asarray(cfg["sigma_b"])
    grid_w, grid_b = np.meshgrid(sw, sb)  # (ny = σ_b, nx = σ_w)
    predicted = np.asarray(rg.theory.meanfield("tanh", sigma_w=grid_w, sigma_b=grid_b).rate)
    keys = jax.random.split(jax.random.key(0), grid_w.size)

    def one(a, b, k):
        c = rg.theory.compare_meanfield(
            "tanh", sigma_w=a, sigma_b=b, hidden_size=cfg["hidden"], steps=cfg["steps"],
            warmup=cfg["warmup"], key=k,
        )  # fmt: skip
        return c.gradient_rate, c.lyapunov

    measured, lyap = jax.jit(jax.vmap(one))(
        jnp.asarray(grid_w.ravel()), jnp.asarray(grid_b.ravel()), keys
    )
    measured = np.asarray(measured).reshape(grid_w.shape)
    lyap = np.asarray(lyap).reshape(grid_w.shape)
    line_b = np.linspace(sb.min(), sb.max(), 41)
    line_w = np.asarray(rg.theory.critical_gain("tanh", sigma_b=jnp.asarray(line_b)))
    err = np.abs(measured - predicted)
    ordered = predicted < 0
    record = {
        "hidden": cfg["hidden"],
        "max_abs_rate_minus_predicted": float(np.max(err)),
        "max_abs_lyapunov_minus_predicted": float(np.max(np.abs(lyap - predicted))),
        "max_abs_rate_minus_predicted_ordered": _max(err[ordered]),
        "max_abs_rate_minus_predicted_chaotic": _max(err[~ordered]),
        "sign_agreement": float(np.mean(np.sign(measured) == np.sign(predicted))),
        "sign_agreement_away_from_edge": float(
            np.mean((np.sign(measured) == np.sign(predicted))[np.abs(predicted) > 0.02])
        ),
    }  # fmt: skip
    arrays = {
        "sigma_w": sw, "sigma_b": sb, "predicted_rate": predicted, "measured_rate": measured,
        "lyapunov": lyap, "critical_sigma_b": line_b, "critical_sigma_w": line_w,
    }  # fmt: skip
    return record, arrays


def make_cell(sigma_w: float, sigma_b: float, hidden: int, key):
    """A tanh RNN from the mean-field ensemble, with the adding problem's 2 inputs."""
    k_w, k_u, k_b = jax.random.split(key, 3)

    def recurrent(_k, shape, dtype):
        return (sigma_w / math.sqrt(hidden)) * jax.random.normal(k_w, shape, dtype)

    def inputs(_k, shape, dtype):
        return jax.random.normal(k_u, shape, dtype) / math.sqrt(2.0)

    cell = rg.VanillaCell(2, hidden, weight_hh_init=recurrent, weight_ih_init=inputs, key=k_u)
    bias = sigma_b * jax.random.normal(k_b, cell.bias.shape, cell.bias.dtype)
    return eqx.tree_at(lambda c: c.bias, cell, bias)


def trainability(cfg: dict) -> tuple[dict, dict, list]:
    sizes = {k: cfg[k] for k in ("batch_size", "seeds", "test_size")}
    lr = optax.cosine_decay_schedule(cfg["lr"], cfg["steps"], alpha=LR_FLOOR)
    adam = rg.clipped(optax.adam(lr), global_norm=1.0)
    results: dict = {}
    rows: list = []
    ratio, success = [], []
    for length in cfg["lengths"]:
        task = rg.AddingTask(length)
        results[str(length)] = {}
        # One compiled program per length: σ_w is the grid's recurrent scale of a σ_w = 1
        # draw (the same seeds at every σ_w), σ_b a cell field (same program, new values).
        grids = {
            b: rg.train(
                lambda k, b=b: make_cell(1.0, b, cfg["hidden"], k),
                task,
                optimizer=adam,
                steps=cfg["steps"],
                key=jax.random.key(length),
                progress=False,
                grid={"recurrent_scale": cfg["sigma_w"]},
                **sizes,
            )  # fmt: skip
            for b in cfg["sigma_b"]
        }
        for i, a in enumerate(cfg["sigma_w"]):
            for b in cfg["sigma_b"]:
                mf = rg.theory.meanfield("tanh", sigma_w=a, sigma_b=b)
                xi = float(mf.depth_scale)
                mse = np.asarray(grids[b][i].test_loss, float)
                ok = mse < MSE_THRESHOLD
                t_over_xi = length / abs(xi) if math.isfinite(xi) and xi != 0 else 0.0
                results[str(length)][f"{a:g},{b:g}"] = {
                    "sigma_w": a, "sigma_b": b, "depth_scale": xi, "T_over_xi": t_over_xi,
                    "test_mse": mse.tolist(), "successes": int(ok.sum()),
                    "predicted_rate": float(mf.rate),
                }  # fmt: skip
                ratio.append(t_over_xi)
                success.append(float(ok.mean()))
                rows.append([length, a, b, xi, t_over_xi, f"{int(ok.sum())}/{len(ok)}",
                             float(np.median(mse))])  # fmt: skip
                print(_runner.format_table(TRAIN_HEADERS, rows[-1:]).splitlines()[-1], flush=True)
    return (
        results,
        {"train_T_over_xi": np.asarray(ratio), "train_success": np.asarray(success)},
        rows,
    )


TRAIN_HEADERS = ["T", "σ_w", "σ_b", "ξ", "T/|ξ|", "success", "median MSE"]


def run(cfg: dict) -> tuple[dict, dict]:
    rate_record, arrays = rates(cfg["rates"])
    train_results, more, rows = trainability(cfg["train"])
    arrays.update(more)
    ratio, success = more["train_T_over_xi"], more["train_success"]
    bins = [0.0, 1.0, 3.0, 10.0, np.inf]
    by_bin = []
    for lo, hi in zip(bins[:-1], bins[1:]):
        inside = (ratio >= lo) & (ratio < hi)
        rate = float(success[inside].mean()) if inside.any() else float("nan")
        by_bin.append([f"[{lo:g}, {hi:g})", int(inside.sum()), rate])
    checks = {
        "max_abs_rate_minus_predicted": rate_record["max_abs_rate_minus_predicted"],
        "sign_agreement_away_from_edge": rate_record["sign_agreement_away_from_edge"],
    }
    rate_title = (
        f"Random tanh RNNs (N = {cfg['rates']['hidden']}), {len(cfg['rates']['sigma_w'])} × "
        f"{len(cfg['rates']['sigma_b'])} grid: measured gradient rate and λ1 vs ½ ln χ₁"
    )
    rate_rows = [[k, v] for k, v in rate_record.items() if k != "hidden"]
    record = {
        "config": {**cfg, "lr_floor": LR_FLOOR, "mse_threshold": MSE_THRESHOLD},
        "rates": rate_record,
        "trainability": train_results,
        "success_by_T_over_xi": by_bin,
        "checks": checks,
        "tables": {
            rate_title: (["quantity", "value"], rate_rows),
            "Trainability (adding, success = test MSE < 0.01)": (TRAIN_HEADERS, rows),
            "Success rate by T/|ξ| bin": (["T/|ξ|", "settings", "success rate"], by_bin),
        },
    }
    return record, arrays


def draw(record: dict, arrays: dict, cfg: dict) -> dict:
    critical = {"χ₁ = 1 (mean field)": (arrays["critical_sigma_w"], arrays["critical_sigma_b"])}
    values = np.stack([arrays["predicted_rate"], arrays["measured_rate"], arrays["lyapunov"]])
    fig = rg.plot.phase_diagram(
        arrays["sigma_w"], arrays["sigma_b"], values, critical=critical, center=0.0,
        titles=["predicted ½ ln χ₁", "measured gradient rate", "measured λ₁"],
        colorbar_label="rate per step (natural log)",
    )  # fmt: skip
    ratio, success = arrays["train_T_over_xi"], arrays["train_success"]
    order = np.argsort(ratio)
    train = rg.plot.curves(
        ratio[order], success[order][None], labels=["settings (σ_w, σ_b, T)"],
        linestyles=["none"], title="Adding problem: success vs T/|ξ| (mean-field depth scale)",
        xlabel="T / |ξ|", ylabel="fraction of seeds with test MSE < 0.01",
    )  # fmt: skip
    train.axes[0].set_xscale("symlog", linthresh=0.1)
    return {"rates.png": fig, "trainability.png": train}


PAPER = "Poole et al. 2016; Schoenholz et al. 2017; Chen et al. 2018"
EXPECTED = (
    _runner.Expect("measured gradient rate vs ½ ln χ₁ over the grid: max |difference|",
                   PAPER, "max_abs_rate_minus_predicted", "<", 0.1, "{:.3f}"),
    _runner.Expect("sign of the measured rate = predicted, |½ ln χ₁| > 0.02", PAPER,
                   "sign_agreement_away_from_edge", ">=", 1.0, "{:.0%}"),
)  # fmt: skip
EXPERIMENT = _runner.Experiment("phase_diagram", __doc__, SIZES, run, draw, EXPECTED, x64=False)


def main(argv: list[str] | None = None) -> dict:
    return _runner.main(EXPERIMENT, argv)


if __name__ == "__main__":
    main()
