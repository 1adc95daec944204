"""Exploding gradients: clipping, adaptive clipping, truncated BPTT and Pascanu's Ω, compared.

Command:   python experiments/exploding.py [--quick] [--out results/exploding]
Runtime:   about 29 min on 2 cores shared with other jobs (load 3-4): 15 rg.train calls
           of ~10-60 s (clip+Ω costs ~2x), then Pascanu's setup, 4 calls of 20,000 steps
           (~10 min per task); --quick: ~40 s, almost all of it compilation.
What it does (float32):
  A tanh RNN (rg.VanillaCell, H = 50 as in Pascanu et al. 2013) starts in the exploding
  regime: W_rec = 3 · W0, W0 ~ N(0, 1/H) (spectral radius ≈ 3, chaotic). It is trained
  with minibatch SGD, momentum 0.9, lr 0.01, batch 20, 3000 steps, 5 seeds (one vmapped
  rg.train call per row), under five remedies:
    none      no clipping
    clip      rescale the gradient to global norm <= 1 (rg.clipped(global_norm=1.0):
              Pascanu et al.'s "cutoff" 1; optax.clip_by_global_norm)
    adaptive  unit-wise adaptive clipping, ‖G‖/‖W‖ <= 0.1 (rg.clipped(adaptive=0.1):
              Brock et al. 2021; optax.adaptive_grad_clip)
    tbptt     rg.TruncatedBPTT(T/2, T/2): the gradient reaches only lags < T/2, so it
              cannot explode past T/2 steps, nor see the first symbol (lag > 0.8 T)
    clip+Ω    clipping at 1 plus rg.Omega(2/T). Pascanu's code puts α = 2 on the MEAN over
              steps of the squared-ratio Ω, gradient to W_rec only; rg.Omega is the paper's
              eq. 9 (a SUM over steps, ratios not squared, every cell weight): α = 2 is 2/T.
  on the temporal order problem (rg.TemporalOrderTask, 2 bits, 4 classes) at T = 20 and 50
  and the adding problem at T = 20. Pascanu et al. used plain SGD for up to 5·10^6 steps;
  our budget is ~10^3 times smaller, hence the momentum and the short lengths. --quick:
  temporal order T = 20 only, H = 8, 2 seeds, 60 steps of batch 8, 256 test sequences.
  Per row: success (the task's criterion: < 1 % test errors on 2000 fresh sequences) with
  its Wilson 95 % interval, median test loss and error rate, the pre-clip gradient norm
  (largest, median, fraction of steps above 1), each seed's first divergent step (-1:
  none), and the growth of ‖∂L/∂s_(T-1-d)‖ per lag at initialisation (seed 0).
  Then Pascanu et al.'s own setup, from their code (pascanur/trainingRNNs, RNN.py): their
  "smart_tanh" init (W_hh: N(0, 0.01²) with 15 non-zeros per row, rescaled to spectral
  radius 0.95; W_ih ~ N(0, 0.01²)), plain SGD at lr 0.01, batch 20, rescaling at global
  norm 1, and clipping alone vs clipping + Ω (alpha = 2 on the mean over steps of the
  squared ratios: rg.Omega(2, squared_norms=True, reduction="mean")), the same seeds' keys:
  temporal order with 2 and 3 bits at T = 50, 5 seeds, 20,000 steps; solved = no error on
  10,000 fresh sequences (their criterion).
  What still differs: they trained up to 5·10^6 steps on lengths drawn in [50, 200)
  per batch, applied Ω to W_hh only and replaced a NaN step by a shrink of W_hh.
What it shows: whether Pascanu et al.'s ordering (clip+Ω > clip ≈ adaptive > none; Fig. 7:
  clip+Ω solves most runs up to T = 200) holds at this budget, and how unclipped runs fail.
Numbers: the printed tables; record["results"][problem]["methods"][method] (solved,
  success_rate, success_95ci, test_loss, test_error_rate, first_divergent_step,
  max/median_grad_norm, frac_steps_above_clip), record["results"][problem]
  ["init_log10_profile"], record["checks"]; block-reduced curves in exploding.npz
  (grad_norm_curve_<problem>_<method>, loss_curve_...).
Outputs (in --out): grad_norms.png, success.png, exploding.json, exploding.npz.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rnngrad as rg

try:
    import _runner
except ImportError:  # imported as experiments.exploding
    from experiments import _runner

METHODS = ("none", "clip", "adaptive", "tbptt", "clip+omega")
LABELS = ["no clipping", "global-norm clipping (1)", "adaptive clipping (0.1)"]
LABELS += ["truncated BPTT (T/2)", "clipping + Ω"]  # of METHODS, in order
SCALE = 3.0  # W_rec = SCALE · W0, W0 ~ N(0, 1/H): the exploding regime
CLIP = 1.0  # Pascanu et al.'s cutoff
ADAPTIVE = 0.1  # Brock et al.'s unit-wise ratio
OMEGA_ALPHA = 2.0  # Pascanu et al.'s alpha, on the mean over steps: omega = alpha / T
PASCANU_BATCH = 20
TRAIN_LOSS_MARK = 0.05  # a run "has learned" once its training cross-entropy stays below
LR, MOMENTUM = 0.01, 0.9
YLABEL = "pre-clip ‖∂L/∂θ‖ (block max; median, range over seeds)"
HEADERS = ["problem", "method", "solved", "95% CI", "test loss", "test err", "log10 max|g|"]
HEADERS += [">clip frac", "diverged"]


def method_options(method: str, length: int) -> tuple[optax.GradientTransformation, dict]:
    """(optimizer, extra rg.train keywords) of one remedy."""
    base = optax.sgd(LR, momentum=MOMENTUM)
    clipped = rg.clipped(base, global_norm=CLIP)
    return {
        "none": (base, {}),
        "clip": (clipped, {}),
        "adaptive": (rg.clipped(base, adaptive=ADAPTIVE), {}),
        "tbptt": (base, {"objective": rg.TruncatedBPTT(length // 2, length // 2)}),
        "clip+omega": (clipped, {"penalties": (rg.Omega(OMEGA_ALPHA / length),)}),
    }[method]


def make_cell(task: rg.AbstractTask, hidden: int, key):
    return rg.scale_recurrent(rg.VanillaCell(task.input_size, hidden, key=key), SCALE)


# Pascanu et al. 2013's own setup (their code, pascanur/trainingRNNs, RNN.py): H = 50,
# "smart_tanh" init, plain SGD at lr 0.01, batch 20, rescaling at global norm 1, Ω with
# alpha = 2 on the MEAN over steps of the squared ratios, a run solved when it makes no
# error on 10,000 fresh sequences.
PASCANU_LR, PASCANU_RADIUS, PASCANU_NONZEROS, PASCANU_STD = 0.01, 0.95, 15, 0.01


def smart_tanh(key, shape, dtype=jnp.float32):
    """Pascanu's "smart_tanh" W_hh before rescaling: N(0, 0.01²) entries, 15 random
    non-zeros per row (jax.nn.initializers has no sparse draw, so it is written here)."""
    k_w, k_keep = jax.random.split(key)
    w = PASCANU_STD * jax.random.normal(k_w, shape, dtype)
    ranks = jnp.argsort(jax.random.uniform(k_keep, shape), axis=1).argsort(axis=1)
    return jnp.where(ranks < PASCANU_NONZEROS, w, jnp.zeros((), dtype))


def pascanu_cell(task: rg.AbstractTask, hidden: int, key):
    """Pascanu's init: W_hh = smart_tanh rescaled to spectral radius 0.95, W_ih ~ N(0, 0.01²)."""
    w_hh = rg.init.spectral_radius(PASCANU_RADIUS, base=smart_tanh)
    w_ih = jax.nn.initializers.normal(PASCANU_STD)
    return rg.VanillaCell(task.input_size, hidden, weight_hh_init=w_hh, weight_ih_init=w_ih,
                          key=key)  # fmt: skip


def pascanu_rows(cfg: dict) -> tuple[dict, dict, list]:
    """Temporal order in Pascanu et al.'s setup: clipping alone and clipping + Ω, the same
    seeds' keys; success = no error in `pascanu.test_size` fresh sequences (their
    criterion). Two calls, not a grid over Ω's strength: a grid computes Ω's gradient for
    the strength-0 arm too (2x the clip-only cost, measured)."""
    results, arrays, rows = {}, {}, []
    arms = {
        "clip": (),
        "clip+omega": (rg.Omega(OMEGA_ALPHA, squared_norms=True, reduction="mean"),),
    }
    optimizer = rg.clipped(optax.sgd(PASCANU_LR), global_norm=CLIP)
    for bits, length in cfg["pascanu"]["problems"]:
        task, problem = rg.TemporalOrderTask(length, bits=bits), f"temporal_order{bits}_T{length}"
        started, trained = time.perf_counter(), {}
        for method, penalties in arms.items():
            trained[method] = rg.train(
                lambda k, task=task: pascanu_cell(task, cfg["hidden"], k), task,
                optimizer=optimizer, penalties=penalties, steps=cfg["pascanu"]["steps"],
                batch_size=PASCANU_BATCH, seeds=cfg["seeds"], progress=False,
                test_size=cfg["pascanu"]["test_size"], key=jax.random.key(bits * 1000 + length),
            )  # fmt: skip
        seconds = time.perf_counter() - started
        entry = {"task": f"temporal order, {bits} bits", "length": length, "seconds": seconds}
        for method, res in trained.items():
            err = np.asarray(res.test_error_rate, float)
            hit = rg.success_stats(err == 0.0)
            losses = np.asarray(res.losses, float)
            entry[method] = {
                "solved": (err == 0.0).tolist(), "success_rate": hit.rate,
                "success_95ci": [hit.low, hit.high], "test_error_rate": err.tolist(),
                "test_loss": np.asarray(res.test_loss, float).tolist(),
                "steps_to_train_loss_below": _first_below(losses, TRAIN_LOSS_MARK),
            }  # fmt: skip
            arrays[f"pascanu_loss_curve_{problem}_{method}"] = _runner.block_reduce(losses)
            ci = f"[{hit.low:.2f},{hit.high:.2f}]"
            n = len(err)
            rows.append([problem, method, f"{int(np.sum(err == 0))}/{n}", ci,
                         float(np.median(err)), f"{seconds:.0f}"])  # fmt: skip
            print(f"pascanu {problem} {method}: {rows[-1][2]} solved", flush=True)
        results[problem] = entry
    return results, arrays, rows


def _first_below(losses: np.ndarray, mark: float, window: int = 100) -> list[int]:
    """Per seed, the first step whose trailing `window`-step mean training loss is below
    `mark` (-1: never): when each run learned, read from its training curve."""
    kernel = np.ones(window) / window
    firsts = []
    for curve in losses:
        smooth = np.convolve(np.nan_to_num(curve, nan=np.inf), kernel, mode="valid")
        hit = np.flatnonzero(smooth < mark)
        firsts.append(int(hit[0] + window - 1) if hit.size else -1)
    return firsts


def train_row(task, method: str, cfg: dict, key) -> tuple[dict, dict, rg.TrainResult]:
    """One row: train every seed under `method`; the record entry and its curves."""
    started, (optimizer, extra) = time.perf_counter(), method_options(method, task.length)
    res = rg.train(lambda k: make_cell(task, cfg["hidden"], k), task, optimizer=optimizer,
                   steps=cfg["steps"], batch_size=cfg["batch_size"], key=key, seeds=cfg["seeds"],
                   test_size=cfg["test_size"], progress=False, **extra)  # fmt: skip
    norms = np.asarray(res.grad_norms, dtype=float)
    with np.errstate(all="ignore"):
        max_norm = np.nanmax(np.where(np.isnan(norms), -np.inf, norms), axis=1)
        median_norm = np.nanmedian(np.where(np.isfinite(norms), norms, np.nan), axis=1)
        curves = {"grad_norm_curve": _runner.block_reduce(norms, np.nanmax)}
        curves["loss_curve"] = _runner.block_reduce(np.asarray(res.losses, float), np.nanmean)
    entry = {
        **res.summary(),
        **{k: np.asarray(getattr(res, k)) for k in ("solved", "test_loss", "test_error_rate")},
        "first_divergent_step": [int(v) for v in np.asarray(res.first_divergent_step)],
        "max_grad_norm": max_norm,
        "median_grad_norm": median_norm,
        "frac_steps_above_clip": np.mean(~(norms <= CLIP), axis=1),
        "seconds": time.perf_counter() - started,
    }
    return entry, curves, res


def row(problem: str, method: str, e: dict) -> list:
    n, (lo, hi) = len(e["solved"]), e["success_95ci"]
    with np.errstate(all="ignore"):
        max_log = float(np.median(np.log10(np.asarray(e["max_grad_norm"], dtype=float))))
    med = [float(np.median(e[k])) for k in ("test_loss", "test_error_rate")]
    frac = float(np.median(e["frac_steps_above_clip"]))
    solved, ci, div = f"{int(np.sum(e['solved']))}/{n}", f"[{lo:.2f},{hi:.2f}]", e["diverged_seeds"]
    return [problem, method, solved, ci, *med, max_log, frac, f"{div}/{n}"]


def run(cfg: dict) -> tuple[dict, dict]:
    config = {**cfg, "scale": SCALE, "optimizer": f"optax.sgd(lr={LR}, momentum={MOMENTUM})"}
    config.update(clip_global_norm=CLIP, adaptive_clip=ADAPTIVE, omega_alpha=OMEGA_ALPHA)
    config.update(omega_weight="alpha / T", tbptt="(T // 2, T // 2)")
    record, arrays, checks = {"config": config, "results": {}}, {}, {}
    rows, diverged, growth = [], [], []
    for name, length in cfg["problems"]:
        task, problem = rg.make_task(name, length), f"{name}_T{length}"
        pkey = jax.random.fold_in(jax.random.key(0), length + (name != "temporal_order") * 1000)
        entry_p = {"task": name, "length": length, "baseline_loss": task.baseline_loss}
        record["results"][problem] = entry_p
        entry_p["methods"] = methods = {}
        for method in METHODS:
            methods[method], curves, res = train_row(task, method, cfg, pkey)
            arrays.update({f"{k}_{problem}_{method}": v for k, v in curves.items()})
            rows.append(row(problem, method, methods[method]))
            diverged.append([problem, method, str(methods[method]["first_divergent_step"])])
            print(f"{problem} {method}: {rows[-1][2]} solved", flush=True)
        # Gradient growth per lag at initialisation: seed 0's initial model (every method's).
        model = res.seed_model(0, initial=True)
        xs, ys = task.batch(jax.random.key(54321), cfg["profile_samples"])
        prof = np.asarray(rg.task_lag_profile(model.cell, task, xs, ys, readout=model.readout))
        entry_p["init_log10_profile"] = prof
        entry_p["init_log10_growth_per_lag"] = float((prof[-1] - prof[0]) / (length - 1))
        growth.append([problem, entry_p["init_log10_growth_per_lag"]])
        if name == "temporal_order":
            rate = {m: methods[m]["success_rate"] for m in METHODS}
            best_other = max(v for m, v in rate.items() if m != "clip+omega")
            checks[f"temporal_order_{length}_clip_omega_success"] = rate["clip+omega"]
            ci = methods["clip+omega"]["success_95ci"]
            checks[f"temporal_order_{length}_clip_omega_success_95ci"] = ci
            checks[f"temporal_order_{length}_clip_omega_margin"] = rate["clip+omega"] - best_other
    title = f"tanh RNN, H = {cfg['hidden']}, W_rec = {SCALE} W0; SGD+momentum lr {LR}, batch "
    title += f"{cfg['batch_size']}, {cfg['steps']} steps, {cfg['seeds']} seeds; success = task "
    title += f"criterion on {cfg['test_size']} test sequences"
    record["tables"] = {
        title: (HEADERS, rows),
        "First divergent step per seed (-1: none)": (["problem", "method", "steps"], diverged),
        "Gradient growth at initialisation (seed 0)": (["problem", "log10/lag"], growth),
    }
    p_results, p_arrays, p_rows = pascanu_rows(cfg)
    record["pascanu"], arrays = p_results, {**arrays, **p_arrays}
    for problem, e in p_results.items():
        for method in ("clip", "clip+omega"):
            checks[f"pascanu_{problem}_{method}_success"] = e[method]["success_rate"]
            checks[f"pascanu_{problem}_{method}_success_95ci"] = e[method]["success_95ci"]
        margin = e["clip+omega"]["success_rate"] - e["clip"]["success_rate"]
        checks[f"pascanu_{problem}_omega_margin"] = margin
    p = cfg["pascanu"]
    p_title = (
        f"Pascanu et al. 2013's setup: tanh RNN H = {cfg['hidden']}, smart_tanh init (15 "
        f"non-zeros per row, ρ = {PASCANU_RADIUS}), SGD lr {PASCANU_LR}, batch {PASCANU_BATCH}, "
        f"clipping at {CLIP}, Ω alpha {OMEGA_ALPHA} (mean of squared ratios), {p['steps']} "
        f"steps, {cfg['seeds']} seeds; solved = no error on {p['test_size']} test sequences"
    )
    headers = ["problem", "method", "solved", "95% CI", "median err", "both arms s"]
    record["tables"][p_title] = (headers, p_rows)
    record["checks"] = checks
    return record, arrays


def draw(record: dict, arrays: dict, cfg: dict) -> dict:
    from matplotlib.figure import Figure

    problems = list(record["results"])
    fig = Figure(figsize=(5.5 * len(problems), 4.2), layout="constrained")
    for ax, problem in zip(fig.subplots(1, len(problems), squeeze=False)[0], problems):
        curves = [arrays[f"grad_norm_curve_{problem}_{m}"] for m in METHODS]
        rg.plot.training_curves(curves, labels=LABELS, steps=cfg["steps"], ax=ax, title=problem,
                                hlines={"clip threshold": CLIP}, ylabel=YLABEL)  # fmt: skip
    solved = [
        [sum(record["results"][p]["methods"][m]["solved"]) for p in problems] for m in METHODS
    ]
    success = rg.plot.success(LABELS, solved, cfg["seeds"], groups=problems,
                              title=f"Training from W_rec = {SCALE}·W0")  # fmt: skip
    p_problems = list(record["pascanu"])
    pascanu = Figure(figsize=(5.5 * len(p_problems), 4.2), layout="constrained")
    axes = pascanu.subplots(1, len(p_problems), squeeze=False)[0]
    for ax, problem in zip(axes, p_problems):
        curves = [arrays[f"pascanu_loss_curve_{problem}_{m}"] for m in ("clip", "clip+omega")]
        task = record["pascanu"][problem]
        rg.plot.training_curves(
            curves, labels=["clipping", "clipping + Ω"], steps=cfg["pascanu"]["steps"], ax=ax,
            title=f"Pascanu et al.'s setup: {task['task']}, T = {task['length']}",
            hlines={"learned (training CE)": TRAIN_LOSS_MARK},
            ylabel="training cross-entropy (median, range over seeds)",
        )  # fmt: skip
    return {"grad_norms.png": fig, "success.png": success, "pascanu.png": pascanu}


SIZES = {
    "quick": {"problems": [["temporal_order", 20]], "seeds": 2, "steps": 60, "batch_size": 8,
              "hidden": 8, "test_size": 256, "profile_samples": 4,
              "pascanu": {"problems": [[2, 20]], "steps": 40, "test_size": 256}},
    "full": {"problems": [["temporal_order", 20], ["temporal_order", 50], ["adding", 20]],
             "seeds": 5, "steps": 3000, "batch_size": 20, "hidden": 50, "test_size": 2000,
             "profile_samples": 16,
             "pascanu": {"problems": [[2, 50], [3, 50]], "steps": 20000, "test_size": 10000}},
}  # fmt: skip
ORDER = "Hochreiter & Schmidhuber 1997 as Pascanu's tempOrder{}.py: {} symbols in {}"
WINDOWS = {2: "[0.1T, 0.2T), [0.5T, 0.6T)", 3: "[0.1T, 0.2T), [0.3T, 0.4T), [0.6T, 0.7T)"}
FULL = SIZES["full"]
CHAOTIC = (
    f"starts chaotic (W_rec = {SCALE}·W0, ρ ≈ {SCALE}; theirs ρ = 0.95), SGD + momentum "
    f"{MOMENTUM}, {FULL['steps']} steps (theirs up to 5·10^6), success = < 1 % errors, "
    "Ω as eq. 9 (sum, unsquared)"
)
PASCANU_DIFFERS = (
    f"{FULL['pascanu']['steps']} steps (theirs up to 5·10^6); T fixed (theirs "
    "drawn in [50, 200) per batch); Ω on every cell weight (theirs: W_hh only); "
    "no NaN-step fallback"
)


def _chaotic(t: int, result: str, paper: str, check: str, op: str, bound: float, fmt: str, **kw):
    return _runner.Expect(
        f"temporal order T = {t} from the chaotic regime: {result}", paper,
        f"temporal_order_{t}_clip_omega_{check}", op, bound, fmt,
        variant=ORDER.format("", 2, WINDOWS[2]), differs=CHAOTIC,
        size=f"T = {t}, H = {FULL['hidden']}, {FULL['seeds']} seeds", **kw,
    )  # fmt: skip


PAPER = "clip + Ω solves most runs up to T = 200"
EXPECTED = tuple(e for name, t in FULL["problems"] if name == "temporal_order" for e in (
    _chaotic(t, "clipping + Ω (Pascanu et al. 2013)", PAPER, "success", ">=", 0.6, "{:.0%}",
             interval=f"temporal_order_{t}_clip_omega_success_95ci"),
    _chaotic(t, "clipping + Ω is the best remedy", "clip + Ω > clip ≈ adaptive > none",
             "margin", ">", 0.0, "{:+.0%}"),  # a tie (all at 0/5) is no ordering
)) + tuple(
    _runner.Expect(f"temporal order T = {t}, {bits} bits, Pascanu et al.'s setup: clipping + "
                   "Ω (Pascanu et al. 2013)", PAPER,
                   f"pascanu_temporal_order{bits}_T{t}_clip+omega_success", ">=", 0.6, "{:.0%}",
                   variant=ORDER.format("" if bits == 2 else "3bit", bits, WINDOWS[bits]),
                   size=(f"T = {t}, H = {FULL['hidden']}, {FULL['seeds']} seeds, "
                         f"{FULL['pascanu']['steps']} SGD steps of {PASCANU_BATCH}"),
                   differs=PASCANU_DIFFERS,
                   interval=f"pascanu_temporal_order{bits}_T{t}_clip+omega_success_95ci")
    for bits, t in FULL["pascanu"]["problems"]
)  # fmt: skip
EXPECTED += tuple(
    _runner.Expect(f"temporal order T = {t}, {bits} bits, Pascanu et al.'s setup: Ω adds to "
                   "clipping", "clip + Ω solves more runs than clipping alone",
                   f"pascanu_temporal_order{bits}_T{t}_omega_margin", ">", 0.0, "{:+.0%}",
                   variant=ORDER.format("" if bits == 2 else "3bit", bits, WINDOWS[bits]),
                   size=f"as above, {FULL['seeds']} seeds per arm", differs=PASCANU_DIFFERS)
    for bits, t in FULL["pascanu"]["problems"]
)  # fmt: skip
EXPERIMENT = _runner.Experiment(
    "exploding", doc=__doc__, sizes=SIZES, run=run, draw=draw, expected=EXPECTED, x64=False
)


def main(argv: list[str] | None = None) -> dict:
    return _runner.main(EXPERIMENT, argv)


if __name__ == "__main__":
    main()
