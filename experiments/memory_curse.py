"""The curse of memory, and which modern recurrence learns a long dependency.

Command:   python experiments/memory_curse.py [--quick | --full] [--out results/memory_curse]
Runtime:   35-45 min on a 2-core CPU (estimated from stop 25's run of the earlier
           configuration, 97 min beside another script under report.py --jobs 2, less
           the runs dropped since: the copy task and three models at T = 1000; float32
           training: 14 rg.train calls, 1500 Adam steps at T = 100 and 1000 at T = 1000;
           the encoded LRU's T = 1000 run is about 40 % of it);
           --quick: 2-3 min, mostly compiling.
What it does:
  (a) The 1-D picture of Zucchet & Orvieto (2024, section 2): h_t = λ h_{t-1} + γ x_t with
      stationary unit-variance AR(1) inputs (E[x_k x_l] = ρ^|k-l|), ρ ∈ {0, 0.5, 0.9}, for
      λ → 1. Lines: rg.theory.curse_of_memory (stationary closed form) of E[h²] and
      E[(∂h/∂λ)²], without normalisation (γ = 1) and with the LRU's input normalisation
      γ = √(1 - λ²) (γ a parameter of its own, as the LRU's γ_log: ∂/∂λ at fixed γ scales
      both moments by γ²); also the LRU's exponential parametrisation, E[(∂h/∂ν)²] for
      λ = exp(-exp(ν)) (= (λ ln λ)² × the normalised sensitivity). Points: Monte Carlo
      of the exact derivative rg.theory.measured_sensitivity (jax.jacfwd through a 1-D
      identity rg.VanillaCell) over independent AR(1) sequences of a finite length, next
      to the exact finite-length value curse_of_memory(..., length=T); the record gives
      each point's z-score (|MC - exact| / standard error).
  (b) Long-range learning on the adding problem (rg.AddingTask(T), Pascanu et al.'s form:
      success = test MSE < 0.01, baseline 1/6) at T ∈ {100, 1000} and the copy task
      (rg.CopyTask.from_delay(T): 8 symbols, K = 10, Arjovsky et al.'s layout; success =
      rg.CopyTask.solved, under 1 % wrong symbols on the output steps) at T = 100, 5 seeds
      in one vmapped rg.train call per model, task and T; all five models at T = 100, the
      tanh RNN and the LRU (the two the paper rows compare) at T = 1000 (config "only"):
        tanh_orthogonal  rg.orthogonal_rnn, H = 64 (Saxe et al. 2014)
        lstm_chrono      rg.chrono_lstm(max_delay = task length), H = 32 (Tallec & Ollivier)
        lru              rg.EncodedCell(MLP width 32) → rg.LRUCell(32, 64, r_min = 0.9,
                         r_max = 0.9999, max_phase = π/10) (Orvieto et al. 2023's long-range
                         ring). The LRU is linear in its input: without a nonlinear encoder it
                         cannot form the adding problem's value × marker product, so it gets
                         the position-wise MLP its paper's blocks have.
        mingru           rg.MinGRUCell, H = 64 (Feng et al. 2024)
        indrnn           rg.IndRNNCell, H = 64, |u| <= rg.IndRNNCell.recurrent_bound(length)
                         (Li et al. 2018)
      Adam (lr 1e-3 for the tanh RNN and IndRNN, 3e-3 for the others; cosine-decayed to
      5 %), global-norm clipping at 1, batch 32; test on fresh sequences. Each model's
      exact lag profile at initialisation (rg.task_lag_profile, relative to lag 0).
What it shows: without normalisation the sensitivity to λ grows like (1 - λ)^-3 (slope -3
  on log-log axes, ρ = 0) while the gradient through time stays bounded: the curse of
  memory. γ-normalisation bounds the variance and takes the sensitivity to (1 - λ)^-2;
  the exponential parametrisation takes it to O(1). On the adding problem at T = 100
  the models whose initial lag profile reaches the markers (chrono LSTM, LRU) learn and
  the others (tanh, minGRU, IndRNN) stay at the baseline; on the copy task and at
  T = 1000 the step budget here is too small (stop 25's full run, all five models on
  both tasks at T = 1000: every one 0/5), though the LRU's gradient still reaches the
  far inputs. The record ("gaps") says by how much each expectation is missed (issue
  #13's: LRU >= 4/5 seeds on adding at T = 1000).
Numbers: the printed tables; memory_curse.json: picture (slopes, max_z, per-ρ values),
  results[task][model][T] for the runs made (test_loss, success, success_rate,
  success_95ci, stuck, median_test_loss, first_divergent_step, seconds), lag_profiles,
  gaps, checks;
  memory_curse.npz: lam, theory_* and measured_* (ρ × λ), profile_<task>_T<T> (models ×
  lags), loss_curve_<task>_<model>_T<T>. Figures: memory_curse.png, success.png,
  lag_profiles.png, training.png.
"""

from __future__ import annotations

import functools
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rnngrad as rg

try:
    import _runner
except ImportError:  # imported as experiments.memory_curse
    from experiments import _runner

LR_FLOOR = 0.05  # the cosine schedule's final learning rate, as a fraction of the first
MSE_THRESHOLD = 0.01  # adding problem: test MSE < 0.01 (baseline 1/6), as vanishing.py
MODELS = ("tanh_orthogonal", "lstm_chrono", "lru", "mingru", "indrnn")
LABELS = ("tanh, orthogonal", "LSTM, chrono", "LRU (MLP encoder)", "minGRU", "IndRNN")
TASKS = ("adding", "copy")
RHOS = (0.0, 0.5, 0.9)
HEADERS = ["task", "model", "T", "success", "95% CI", "median loss", "min loss", "stuck", "s"]
SIZES = {
    "quick": {
        "lengths": [12, 16],
        "only": {16: {"tasks": ["adding"], "models": ["tanh_orthogonal", "lru"]}},
        "seeds": 2,
        "steps": {12: 20, 16: 20},
        "batch_size": 8,
        "test_size": 64,
        "hidden": {"vanilla": 6, "gated": 4, "lru": 6, "encoder": 4},
        "lr": {"slow": 1e-3, "fast": 3e-3},
        "clip_global_norm": 1.0,
        "profile_samples": 2,
        "picture": {"points": 5, "lam_gap": [0.3, 0.05], "samples": 256, "length": 60},
    },
    "full": {
        "lengths": [100, 1000],
        # at T = 1000 only the two models the paper rows compare, on the adding problem:
        # in stop 25's full run every model was 0/5 on both tasks at T = 1000 with 1000
        # steps, and the copy task and the other three models took 56 of its 97 minutes
        "only": {1000: {"tasks": ["adding"], "models": ["tanh_orthogonal", "lru"]}},
        "seeds": 5,
        "steps": {100: 1500, 1000: 1000},
        "batch_size": 32,
        "test_size": 1000,
        "hidden": {"vanilla": 64, "gated": 32, "lru": 64, "encoder": 32},
        "lr": {"slow": 1e-3, "fast": 3e-3},
        "clip_global_norm": 1.0,
        "profile_samples": 8,
        # 1 - λ from 0.5 to 2e-3; Monte Carlo over 4000 sequences of 4000 steps
        "picture": {"points": 10, "lam_gap": [0.5, 2e-3], "samples": 4000, "length": 4000},
    },
}


# --------------------------------------------------------------------------- (a) the picture


def ar1_inputs(key, rho, samples: int, length: int):
    """(samples, length, 1) stationary AR(1) inputs: x_0 ~ N(0, 1), x_t = ρ x_{t-1} + √(1-ρ²) ε."""
    noise = jax.random.normal(key, (length, samples))

    def step(x, eps):
        x = rho * x + jnp.sqrt(1.0 - rho**2) * eps
        return x, x

    _, xs = jax.lax.scan(step, noise[0], noise[1:])
    return jnp.concatenate([noise[:1], xs]).T[..., None]


def linear_cell(lam, gamma):
    """The 1-D cell h_t = λ h_{t-1} + γ x_t (an identity rg.VanillaCell without bias)."""
    return rg.VanillaCell(
        1,
        1,
        nonlinearity="identity",
        use_bias=False,
        weight_hh_init=lambda k, s, d: jnp.full(s, lam, d),
        weight_ih_init=lambda k, s, d: jnp.full(s, gamma, d),
        key=jax.random.key(0),
    )


@functools.partial(jax.jit, static_argnames=("samples", "length"))
def _monte_carlo(key, lam, gamma, rho, samples: int, length: int):
    """Mean and standard error of h_T² and (∂h_T/∂λ)² over `samples` AR(1) sequences."""
    xs = ar1_inputs(key, rho, samples, length)

    def one(x):
        cell = linear_cell(lam, gamma)
        sens = rg.theory.measured_sensitivity(
            cell, x, rg.init_carry(cell), select=lambda c: c.weight_hh
        )
        return sens.output[0] ** 2, sens.total

    h2, s2 = jax.vmap(one)(xs)
    stats = [(jnp.mean(v), jnp.std(v) / math.sqrt(samples)) for v in (h2, s2)]
    return stats


def picture(cfg: dict) -> tuple[dict, dict]:
    """Theory lines and Monte Carlo points of the 1-D curse of memory."""
    hi, lo = cfg["lam_gap"]
    gap = np.geomspace(hi, lo, cfg["points"])
    lam = 1.0 - gap
    gamma = np.sqrt(1.0 - lam**2)
    length, samples = cfg["length"], cfg["samples"]
    arrays: dict = {"lam": lam, "rho": np.asarray(RHOS)}
    theory = {k: [] for k in ("variance", "sensitivity", "finite_variance", "finite_sensitivity")}
    measured = {k: [] for k in ("variance", "sensitivity", "variance_se", "sensitivity_se")}
    for i, rho in enumerate(RHOS):
        stat = rg.theory.curse_of_memory(jnp.asarray(lam), rho)
        fin = rg.theory.curse_of_memory(jnp.asarray(lam), rho, length=length)
        theory["variance"].append(np.asarray(stat.variance))
        theory["sensitivity"].append(np.asarray(stat.sensitivity))
        theory["finite_variance"].append(np.asarray(fin.variance))
        theory["finite_sensitivity"].append(np.asarray(fin.sensitivity))
        row = [
            _monte_carlo(jax.random.key(100 * i + j), lam_j, 1.0, rho, samples, length)
            for j, lam_j in enumerate(lam)
        ]
        measured["variance"].append([float(r[0][0]) for r in row])
        measured["variance_se"].append([float(r[0][1]) for r in row])
        measured["sensitivity"].append([float(r[1][0]) for r in row])
        measured["sensitivity_se"].append([float(r[1][1]) for r in row])
    th = {k: np.asarray(v) for k, v in theory.items()}
    me = {k: np.asarray(v) for k, v in measured.items()}
    g2 = gamma**2
    nu_factor = (lam * np.log(lam)) ** 2  # (dλ/dν)² for λ = exp(-exp(ν))
    arrays.update(
        theory_variance=th["variance"],
        theory_sensitivity=th["sensitivity"],
        theory_variance_normalised=g2 * th["variance"],
        theory_sensitivity_normalised=g2 * th["sensitivity"],
        theory_sensitivity_nu=nu_factor * g2 * th["sensitivity"],
        theory_finite_variance=th["finite_variance"],
        theory_finite_sensitivity=th["finite_sensitivity"],
        measured_variance=me["variance"],
        measured_sensitivity=me["sensitivity"],
        measured_variance_se=me["variance_se"],
        measured_sensitivity_se=me["sensitivity_se"],
        # γ is a fixed factor of the input at fixed λ: both moments scale by γ² exactly
        measured_variance_normalised=g2 * me["variance"],
        measured_sensitivity_normalised=g2 * me["sensitivity"],
    )
    z_var = np.abs(me["variance"] - th["finite_variance"]) / me["variance_se"]
    z_sens = np.abs(me["sensitivity"] - th["finite_sensitivity"]) / me["sensitivity_se"]

    def slope(values):  # d log(values) / d log(1 - λ) over the two points nearest λ = 1
        return float(np.diff(np.log(values[-2:]))[0] / np.diff(np.log(gap[-2:]))[0])

    slopes = {
        "variance": slope(arrays["theory_variance"][0]),
        "sensitivity": slope(arrays["theory_sensitivity"][0]),
        "variance_normalised": slope(arrays["theory_variance_normalised"][0]),
        "sensitivity_normalised": slope(arrays["theory_sensitivity_normalised"][0]),
        "sensitivity_nu": slope(arrays["theory_sensitivity_nu"][0]),
    }
    # The measured points' own slope at ρ = 0 (a finite length bends it near λ = 1).
    slopes["measured_sensitivity"] = slope(me["sensitivity"][0])
    record = {
        "lam": lam.tolist(),
        "length": length,
        "samples": samples,
        "slopes_rho0": slopes,
        "max_z_variance": float(np.max(z_var)),
        "max_z_sensitivity": float(np.max(z_sens)),
        "z_variance": z_var.tolist(),
        "z_sensitivity": z_sens.tolist(),
    }
    return record, arrays


# --------------------------------------------------------------------------- (b) learning


def make_task(name: str, length: int):
    return rg.AddingTask(length) if name == "adding" else rg.CopyTask.from_delay(length)


def make_cell(model: str, hidden: dict, n_in: int, horizon: int, key):
    """The initial cell of `model` for inputs of size `n_in` and sequences of `horizon` steps."""
    hv, hg = hidden["vanilla"], hidden["gated"]
    if model == "tanh_orthogonal":
        return rg.orthogonal_rnn(n_in, hv, key=key)
    if model == "lstm_chrono":
        return rg.chrono_lstm(n_in, hg, max_delay=horizon, key=key)
    if model == "lru":
        k_lru, k_mlp = jax.random.split(key)
        ring = dict(r_min=0.9, r_max=0.9999, max_phase=math.pi / 10)
        lru = rg.LRUCell(hidden["encoder"], hidden["lru"], **ring, key=k_lru)
        return rg.EncodedCell(n_in, lru, width=hidden["encoder"], key=k_mlp)
    if model == "mingru":
        return rg.MinGRUCell(n_in, hv, key=key)
    if model == "indrnn":
        bound = rg.IndRNNCell.recurrent_bound(horizon)
        return rg.IndRNNCell(n_in, hv, recurrent_range=bound, key=key)
    raise ValueError(f"unknown model {model!r}")


def entry(task, res, seconds: float, steps: int) -> dict:
    """One model on one task at one T: per-seed lists and the success statistics."""
    loss = np.asarray(res.test_loss, float)
    success = loss < MSE_THRESHOLD if task.name == "adding" else np.asarray(res.solved, bool)
    stats = rg.success_stats(success, test_loss=loss, baseline=task.baseline_loss)
    return {
        "test_loss": loss.tolist(),
        "median_test_loss": float(np.median(loss)),
        "baseline_loss": float(task.baseline_loss),
        "success": success.tolist(),
        "success_rate": stats.rate,
        "success_95ci": [stats.low, stats.high],
        "stuck": stats.stuck,
        "test_error_rate": np.asarray(res.test_error_rate, float).tolist(),
        "first_divergent_step": np.asarray(res.first_divergent_step, int).tolist(),
        "steps": steps,
        "seconds": seconds,
    }


def row(task: str, model: str, length: int, e: dict) -> list:
    n, (lo, hi) = len(e["success"]), e["success_95ci"]
    count = f"{sum(e['success'])}/{n}"
    losses = [e["median_test_loss"], min(e["test_loss"])]
    return [task, model, length, count, f"[{lo:.2f},{hi:.2f}]", *losses, e["stuck"], e["seconds"]]


def lag_profile(model, task, xs, ys) -> np.ndarray:
    """The model's mean log10 ‖∂L/∂s_(t-d)‖ - log10 ‖∂L/∂s_t‖ over the batch, d = 0..t.

    Adding: L is the final-step loss (rg.task_lag_profile), t = T - 1. Copy: L is the
    cross-entropy of the first output step t = T - K, which must recall the first
    pattern symbol (input at step 0, lag t): the exact rg.final_step_profile of the
    sequence cut after step t.
    """
    if task.readout == "last":
        prof = rg.task_lag_profile(model.cell, task, xs, ys, readout=model.readout, relative=True)
        return np.asarray(prof, float)
    first = task.length - task.pattern_length
    carry0 = rg.init_carry(model.cell)

    def one(x, labels):
        def loss(h):
            logits = model.readout(rg.cells.cell_output(model.cell, h))
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels[first])

        logs = rg.final_step_profile(model.cell, x[: first + 1], carry0, loss).log_norms
        return logs[::-1] - logs[-1]  # lag order, relative to lag 0

    return np.asarray(jnp.mean(jax.vmap(one)(xs, ys.labels), axis=0), float)


def far_lag(task) -> int:
    """The lag read off each profile: 0.9 T (adding: inside the first marker's half) or
    the first pattern symbol's (copy)."""
    return int(0.9 * task.length) if task.readout == "last" else task.length - task.pattern_length


def planned(cfg: dict, task: str, length: int) -> tuple[str, ...]:
    """The models trained on `task` at `length`: all of MODELS unless ``cfg["only"]``
    narrows that length (to some tasks and models; none for the other tasks)."""
    only = cfg.get("only", {}).get(length)
    if only is None:
        return MODELS
    return tuple(m for m in MODELS if m in only["models"]) if task in only["tasks"] else ()


def learning(cfg: dict) -> tuple[dict, dict, dict, list]:
    key = jax.random.key(0)
    sizes = {k: cfg[k] for k in ("batch_size", "seeds", "test_size")}
    results: dict = {t: {m: {} for m in MODELS} for t in TASKS}
    profiles: dict = {}
    arrays: dict = {}
    rows: list = []
    for task_name in TASKS:
        for length in cfg["lengths"]:
            models = planned(cfg, task_name, length)
            if not models:
                continue
            task = make_task(task_name, length)
            horizon = task.length
            k_run = jax.random.fold_in(jax.random.fold_in(key, TASKS.index(task_name)), length)
            xs, ys = task.batch(jax.random.key(12345), cfg["profile_samples"])
            steps = cfg["steps"][length]
            prof = []
            for model in models:
                rate = cfg["lr"]["slow" if model in ("tanh_orthogonal", "indrnn") else "fast"]
                lr = optax.cosine_decay_schedule(rate, steps, alpha=LR_FLOOR)
                adam = rg.clipped(optax.adam(lr), global_norm=cfg["clip_global_norm"])
                make = functools.partial(make_cell, model, cfg["hidden"], task.input_size, horizon)
                started = time.perf_counter()
                res = rg.train(
                    make, task, optimizer=adam, steps=steps, key=k_run, progress=False, **sizes
                )
                seconds = time.perf_counter() - started
                e = entry(task, res, seconds, steps)
                results[task_name][model][str(length)] = e
                curve = _runner.block_reduce(np.asarray(res.losses))
                arrays[f"loss_curve_{task_name}_{model}_T{length}"] = curve
                m0 = res.seed_model(0, initial=True)
                prof.append(lag_profile(m0, task, xs, ys))
                rows.append(row(task_name, model, length, e))
                print(_runner.format_table(HEADERS, rows[-1:]).splitlines()[-1], flush=True)
            arrays[f"profile_{task_name}_T{length}"] = np.stack(prof)
            far = far_lag(task)
            profiles[f"{task_name}_T{length}"] = {m: float(p[far]) for m, p in zip(models, prof)}
    return results, profiles, arrays, rows


def gaps(results: dict, lengths: list, seeds: int) -> dict:
    """How far each paper expectation is from the measurement (at the longest T)."""
    t = str(max(lengths))
    lru, tanh = results["adding"]["lru"][t], results["adding"]["tanh_orthogonal"][t]
    need = math.ceil(0.8 * seeds)
    return {
        f"lru_adding_T{t}": {
            "paper": f"issue #13 expects >= 4/5 seeds (Orvieto et al. 2023 report the LRU on "
            f"the Long Range Arena, not this task); here >= {need}/{seeds}",
            "successes": sum(lru["success"]),
            "seeds_short": max(0, need - sum(lru["success"])),
            "median_test_mse": lru["median_test_loss"],
            "median_over_threshold": lru["median_test_loss"] / MSE_THRESHOLD,
        },
        f"tanh_adding_T{t}": {
            "paper": "fails in every seed (0/5)",
            "successes": sum(tanh["success"]),
            "seeds_over": sum(tanh["success"]),
            "median_test_mse": tanh["median_test_loss"],
        },
    }


def run(cfg: dict) -> tuple[dict, dict]:
    pic, arrays = picture(cfg["picture"])
    slopes = pic["slopes_rho0"]
    pic_rows = [[k, v] for k, v in slopes.items()]
    pic_rows += [["max z (E[h²])", pic["max_z_variance"]]]
    pic_rows += [["max z (E[(∂h/∂λ)²])", pic["max_z_sensitivity"]]]
    pic_title = (
        "1-D curse of memory: log-log slope vs (1 - λ) nearest λ = 1 (ρ = 0), and the largest "
        f"|Monte Carlo - exact| / s.e. over ρ × λ ({pic['samples']} sequences of "
        f"{pic['length']} steps)"
    )
    results, profiles, more, rows = learning(cfg)
    arrays.update(more)
    t = str(max(cfg["lengths"]))
    checks = {  # slopes as their deviation from the paper's exponent
        "sensitivity_slope_minus_-3": slopes["sensitivity"] + 3.0,
        "sensitivity_normalised_slope_minus_-2": slopes["sensitivity_normalised"] + 2.0,
        "variance_normalised_slope": slopes["variance_normalised"],
        "max_z": max(pic["max_z_variance"], pic["max_z_sensitivity"]),
        "lru_adding_success": results["adding"]["lru"][t]["success_rate"],
        "lru_adding_success_95ci": results["adding"]["lru"][t]["success_95ci"],
        "tanh_adding_success": results["adding"]["tanh_orthogonal"][t]["success_rate"],
        "tanh_adding_success_95ci": results["adding"]["tanh_orthogonal"][t]["success_95ci"],
    }
    narrowed = "".join(
        f"; at T = {n} only {', '.join(o['models'])} on {', '.join(o['tasks'])}"
        for n, o in cfg.get("only", {}).items()
    )
    title = (
        f"Learning at T ∈ {cfg['lengths']}, {cfg['seeds']} seeds, batch {cfg['batch_size']}, "
        f"steps {cfg['steps']}{narrowed}; success: adding test MSE < {MSE_THRESHOLD}, copy "
        "< 1 % wrong symbols; 'stuck': seeds at the baseline loss"
    )
    prof_headers = ["task, T", *MODELS]
    prof_rows = [[k, *(v.get(m, "not run") for m in MODELS)] for k, v in profiles.items()]
    prof_title = (
        "log10 ‖∂L/∂s_(t-d)‖ / ‖∂L/∂s_t‖ at initialisation (mean over sequences): adding at "
        "d = 0.9 T from the final step; copy from the first output step at the first "
        "symbol's lag d = T - K"
    )
    config = {
        **cfg,
        "steps": {str(k): v for k, v in cfg["steps"].items()},
        "only": {str(k): v for k, v in cfg.get("only", {}).items()},
    }
    record = {
        "config": {**config, "lr_floor": LR_FLOOR, "mse_threshold": MSE_THRESHOLD},
        "picture": pic,
        "results": results,
        "lag_profiles": profiles,
        "gaps": gaps(results, cfg["lengths"], cfg["seeds"]),
        "checks": checks,
        "tables": {
            pic_title: (["quantity", "value"], pic_rows),
            title: (HEADERS, rows),
            prof_title: (prof_headers, prof_rows),
        },
    }
    return record, arrays


# --------------------------------------------------------------------------- figures


def draw(record: dict, arrays: dict, cfg: dict) -> dict:
    from matplotlib.figure import Figure

    gap = 1.0 - arrays["lam"]
    fig = Figure(figsize=(13, 4.6), layout="constrained")
    axes = fig.subplots(1, 3)
    colors = ["C0", "C1", "C2"]
    names = [f"ρ = {r:g}" for r in RHOS]
    panels = [
        ("variance", "E[h²]", "no normalisation (γ = 1)"),
        ("sensitivity", "E[(∂h/∂λ)²]", "no normalisation (γ = 1)"),
        ("sensitivity_normalised", "E[(∂h/∂λ)²]", "γ = √(1-λ²) (LRU)"),
    ]
    for ax, (what, ylabel, title) in zip(axes, panels):
        rg.plot.curves(
            gap, arrays[f"theory_{what}"], labels=[f"{n}, theory" for n in names],
            markers=False, log=True, colors=colors, ax=ax, title=title,
            xlabel="1 - λ", ylabel=ylabel,
        )  # fmt: skip
        rg.plot.curves(
            gap, arrays[f"measured_{what}"],
            labels=[f"{n}, Monte Carlo (T = {record['picture']['length']})" for n in names],
            log=True, colors=colors, linestyles=["none"] * len(RHOS), ax=ax,
        )  # fmt: skip
        ax.set_xscale("log")
    axes[2].plot(gap, arrays["theory_sensitivity_nu"][0], "k--", label="E[(∂h/∂ν)²], ρ = 0")
    axes[2].legend(fontsize=7)

    lengths = cfg["lengths"]
    res = record["results"]
    ran = [(task, n) for task in TASKS for n in lengths if planned(cfg, task, n)]
    groups = [f"{task}, T = {n}" for task, n in ran]
    counts = [[sum(res[t][m].get(str(n), {}).get("success", [])) for t, n in ran] for m in MODELS]
    trials = [[cfg["seeds"] * (m in planned(cfg, t, n)) for t, n in ran] for m in MODELS]
    success = rg.plot.success(
        LABELS, counts, trials, groups=groups, title="Long-range learning: success rate"
    )
    label = dict(zip(MODELS, LABELS))
    color = {m: f"C{i}" for i, m in enumerate(MODELS)}  # one colour per model in every panel
    profiles = Figure(figsize=(6.5 * len(lengths), 8), layout="constrained")
    grid = profiles.subplots(len(TASKS), len(lengths), squeeze=False)
    for i, task in enumerate(TASKS):
        for j, n in enumerate(lengths):
            models = planned(cfg, task, n)
            if not models:
                grid[i, j].set_axis_off()
                grid[i, j].set_title(f"{task}, T = {n}: not run")
                continue
            p = arrays[f"profile_{task}_T{n}"]
            rg.plot.lag_profiles(
                np.arange(p.shape[1]), p, labels=[label[m] for m in models], split=False,
                colors=[color[m] for m in models], ax=grid[i, j],
                title=f"{task}, T = {n}, at initialisation", xlabel="lag d",
                ylabel="log10 ‖∂L/∂s_(t-d)‖ / ‖∂L/∂s_t‖",
            )  # fmt: skip
    training = Figure(figsize=(6 * len(lengths), 8), layout="constrained")
    grid = training.subplots(len(TASKS), len(lengths), squeeze=False)
    for i, task in enumerate(TASKS):
        for j, n in enumerate(lengths):
            models = planned(cfg, task, n)
            if not models:
                grid[i, j].set_axis_off()
                grid[i, j].set_title(f"{task}, T = {n}: not run")
                continue
            curves = [arrays[f"loss_curve_{task}_{m}_T{n}"] for m in models]
            base = res[task][models[0]][str(n)]["baseline_loss"]
            rg.plot.training_curves(
                curves, labels=[label[m] for m in models], steps=cfg["steps"][n], ax=grid[i, j],
                colors=[color[m] for m in models],
                hlines={"baseline": base}, title=f"{task}, T = {n}",
            )  # fmt: skip
    return {
        "memory_curse.png": fig,
        "success.png": success,
        "lag_profiles.png": profiles,
        "training.png": training,
    }


PAPER = "Zucchet & Orvieto 2024, sec. 2"
_PIC, _FULL = SIZES["full"]["picture"], SIZES["full"]
ONE_D = "1-D h_t = λ h_(t-1) + γ x_t, stationary AR(1) inputs (Zucchet & Orvieto 2024, sec. 2)"
ONE_D_SIZE = f"ρ = 0, {_PIC['points']} values of λ up to 1 - {_PIC['lam_gap'][1]:g}"
SLOPE = "their stationary closed form (rg.theory.curse_of_memory); slope read at the λ nearest 1"
T_LONG = max(_FULL["lengths"])
LEARN_SIZE = (
    f"T = {T_LONG}, {_FULL['seeds']} seeds, {_FULL['steps'][T_LONG]} Adam steps of "
    f"{_FULL['batch_size']}"
)
ADDING = "adding, Hochreiter & Schmidhuber 1997 / Pascanu et al. 2013 windows (rg.AddingTask)"
EXPECTED = (
    _runner.Expect(
        "E[(∂h/∂λ)²] ~ (1-λ)^-3, γ = 1: slope + 3", PAPER, "sensitivity_slope_minus_-3",
        "abs<", 0.05, "{:+.3f}", variant=ONE_D, size=ONE_D_SIZE, differs=SLOPE,
    ),
    _runner.Expect(
        "E[(∂h/∂λ)²] ~ (1-λ)^-2 with γ: slope + 2", PAPER,
        "sensitivity_normalised_slope_minus_-2", "abs<", 0.05, "{:+.3f}",
        variant=ONE_D, size=ONE_D_SIZE, differs=SLOPE,
    ),
    _runner.Expect(
        "E[h²] bounded with γ: slope", PAPER, "variance_normalised_slope", "abs<", 0.05,
        "{:+.3f}", variant=ONE_D, size=ONE_D_SIZE, differs=SLOPE,
    ),
    _runner.Expect(
        "Monte Carlo = exact finite-T value", "(our check)", "max_z", "<", 4.0,
        variant=ONE_D, differs="largest |z| over ρ × λ; none (our own check)",
        size=f"{_PIC['samples']} sequences of {_PIC['length']} steps per (ρ, λ)",
    ),
    _runner.Expect(
        "LRU (Orvieto et al. 2023), adding, longest T",
        "not reported on this task (issue #13 expects >= 4/5 seeds)",
        "lru_adding_success", ">=", 0.8, "{:.0%}", variant=ADDING,
        size=f"{LEARN_SIZE}; one LRU layer (64 states) behind an MLP encoder (32)",
        differs="Orvieto et al. report the LRU on the Long Range Arena (deep stacks of LRU "
        f"blocks, long training), not on the adding problem; one layer and "
        f"{_FULL['steps'][T_LONG]} steps here",
        interval="lru_adding_success_95ci",
    ),
    _runner.Expect(
        "tanh RNN, adding, longest T", "fails, 0/5 seeds", "tanh_adding_success", "==", 0.0,
        "{:.0%}", variant=ADDING, size=f"{LEARN_SIZE}; orthogonal init, H = 64",
        differs="the same budget as the LRU row", interval="tanh_adding_success_95ci",
    ),
)  # fmt: skip
EXPERIMENT = _runner.Experiment("memory_curse", __doc__, SIZES, run, draw, EXPECTED, x64=False)


def main(argv: list[str] | None = None) -> dict:
    return _runner.main(EXPERIMENT, argv)


if __name__ == "__main__":
    main()
