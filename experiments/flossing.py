"""Gradient flossing (Engelken 2023) on the copy task at increasing delays.

Command:   python experiments/flossing.py [--quick] [--out results/flossing]
Runtime:   about 85 s on an idle 2-core CPU, ~4 min under load (--quick: about 30 s).
What it does (float32): a chaotic tanh RNN (H = 32, W_rec = 2 · W0, W0 ~ N(0, 1/H)) learns
  rg.CopyTask (3 of 4 symbols, `delay` blanks, delimiter, recall; solved: ≥ 99 % of 2000 test
  sequences right) at delays 5, 10, 20, 40 (4 seeds; Adam 3e-3 clipped at norm 1; 1500 steps
  of batch 32), plain or after rg.floss of the top 8 Lyapunov exponents to 0 (10 rounds of 30
  steps, each on 8 fresh task sequences, 20 warm-up steps). --quick: H = 12, delay 4, 2 seeds.
What it shows: flossing pulls λ₁ to 0 (lower exponents fall); does the flossed arm learn more?
Numbers: the printed tables; record["results"][delay][arm], record["lyapunov_before"] /
  ["lyapunov_after"] (seed 0), ["floss_history_top"], ["checks"]; loss curves in the .npz.
Outputs (in --out): lyapunov.png, delays.png, flossing.json, flossing.npz.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rnngrad as rg

try:
    import _runner
except ImportError:  # imported as experiments.flossing
    from experiments import _runner

GAIN, WARMUP, SEQUENCES, ROUNDS = 2.0, 20, 8, 10  # SEQUENCES per flossing input; ROUNDS rounds


def floss_inputs(task, key):
    """SEQUENCES task input sequences back to back: a trajectory long enough for exponents."""
    return jnp.concatenate([task.sample(k)[0] for k in jax.random.split(key, SEQUENCES)])


def floss_rounds(cell, task, key, n, steps):
    """ROUNDS rounds of rg.floss, each on fresh task inputs; the cell and λ₁ after each."""

    def one_round(cell, k):
        kw = {"n": n, "target": 0.0, "steps": steps // ROUNDS, "warmup": WARMUP}
        flossed, history = rg.floss(cell, floss_inputs(task, k), rg.init_carry(cell), **kw)
        return flossed, history[-1, 0]

    return jax.lax.scan(one_round, cell, jax.random.split(key, ROUNDS))


def run(cfg: dict) -> tuple[dict, dict]:
    hidden, n_floss, n_exp = cfg["hidden"], cfg["flossed_exponents"], cfg["reported_exponents"]
    kw = {k: cfg[k] for k in ("steps", "seeds", "test_size")} | {"batch_size": 32}
    kw |= {"progress": False, "optimizer": rg.clipped(optax.adam(3e-3), global_norm=1.0)}
    record, arrays, rows = {**cfg, "gain": GAIN, "results": {}}, {}, []

    def base_cell(key):
        return rg.fold_recurrent_scale(rg.scale_recurrent(rg.VanillaCell(6, hidden, key=key), GAIN))

    for delay in cfg["delays"]:
        task = rg.CopyTask.from_delay(delay, pattern_length=3, n_symbols=4)

        def flossed_cell(key, task=task):
            k_cell, k_data = jax.random.split(key)
            return floss_rounds(base_cell(k_cell), task, k_data, n_floss, cfg["floss_steps"])[0]

        arms = record["results"][str(delay)] = {}
        for arm, make in (("plain", base_cell), ("flossed", flossed_cell)):
            res = rg.train(make, task, key=jax.random.key(delay), **kw)
            e = {k: np.asarray(getattr(res, k)) for k in ("test_loss", "test_error_rate")}
            arms[arm] = {**e, "solved": np.asarray(res.solved), "success": res.success.as_dict()}
            arrays[f"loss_curve_median_{delay}_{arm}"] = np.median(np.asarray(res.losses), axis=0)
            medians = [float(np.median(v)) for v in e.values()]
            rows.append([delay, task.length, arm, *medians, f"{res.success.successes}/{res.seeds}"])

    # λ_i of seed 0's cell at the longest delay (task), before and after, on held-out inputs.
    k_cell, k_data = jax.random.split(jax.random.key(123))
    cell = base_cell(k_cell)
    xs, carry0 = floss_inputs(task, jax.random.fold_in(k_data, 1)), rg.init_carry(cell)
    before = np.asarray(rg.lyapunov_spectrum(cell, xs, carry0, n=n_exp, warmup=WARMUP).exponents)
    flossed, history = floss_rounds(cell, task, k_data, n_floss, cfg["floss_steps"])
    after = np.asarray(rg.lyapunov_spectrum(flossed, xs, carry0, n=n_exp, warmup=WARMUP).exponents)
    record.update(lyapunov_before=before, lyapunov_after=after, floss_history_top=history)
    record["checks"] = {"lyapunov_before_top": before[0], "lyapunov_after_top": after[0]}
    spectra = [[i + 1, float(b), float(a)] for i, (b, a) in enumerate(zip(before, after))]
    title = f"Copy task, tanh RNN H = {hidden}, gain {GAIN}, {cfg['seeds']} seeds, "
    title, exps = title + f"{cfg['steps']} steps", "Top Lyapunov exponents (seed 0, longest delay)"
    headers = ["delay", "T", "arm", "test CE", "error rate", "solved"]
    record["tables"] = {title: (headers, rows), exps: (["i", "before", "after"], spectra)}
    return record, arrays


def draw(record: dict, arrays: dict, cfg: dict) -> dict:
    spectra = [record["lyapunov_before"], record["lyapunov_after"]]
    d, res, arms = record["delays"], record["results"], ("plain", "flossed")
    losses = [[np.median(res[str(k)][a]["test_loss"]) for k in d] for a in arms]
    return {
        "lyapunov.png": rg.plot.spectra(spectra, labels=["before flossing", "after flossing"],
                                        hlines={"λ = 0": 0.0}, title="Lyapunov spectrum (seed 0)"),
        "delays.png": rg.plot.curves(d, losses, labels=list(arms), log=True, xlabel="delay (steps)",
                                     ylabel="median test cross-entropy",
                                     title="Copy task: loss vs delay, with and without flossing"),
    }  # fmt: skip


SIZES = {  # flossing 8 exponents, not 1, keeps several directions near 0 (not all collapse)
    "quick": {"hidden": 12, "delays": [4], "seeds": 2, "steps": 40, "floss_steps": 100,
              "flossed_exponents": 2, "reported_exponents": 4, "test_size": 200},
    "full": {"hidden": 32, "delays": [5, 10, 20, 40], "seeds": 4, "steps": 1500, "floss_steps": 300,
             "flossed_exponents": 8, "reported_exponents": 8, "test_size": 2000},
}  # fmt: skip
EXPERIMENT = _runner.Experiment(
    "flossing", doc=__doc__, sizes=SIZES, run=run, draw=draw, x64=False,
    expected=(_runner.Expect("gradient flossing pulls λ₁ to 0 (Engelken 2023)", "λ₁ → 0",
                             "lyapunov_after_top", "abs<", 0.02, "{:+.4f}"),),
)  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    return _runner.main(EXPERIMENT, argv)


if __name__ == "__main__":
    main()
