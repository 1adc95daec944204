"""Gradient flow through time: vanishing, the edge of chaos, exploding -- exactly.

Command:   python experiments/gradient_flow.py [--quick] [--out results/gradient_flow]
Runtime:   about 15 s on an idle 2-core CPU, 30-40 s under load (--quick: about 10 s).
What it does (float64): a tanh RNN, H = 64, W_rec = g · W0, W0 ~ N(0, 1/H), runs with
  zero input from a random state for T = 1000 steps; L = c · h_T. For 257 gains g in
  [0.5, 1.5] (one rg.sweep): the exact ‖∂L/∂s_{T-d}‖ at every lag d, its rate per step
  (rg.growth_rate over d ≥ T/4), λ₁ (QR, T/4 warm-up steps) and Pascanu's ln(‖W_rec‖₂·γ);
  the same for ReLU (bias 0.1 keeps units alive) and linear cells; the T × T ‖∂L_t/∂s_k‖
  (loss at every step, T = 60) at g = 0.8, 1, 1.2. --quick: H = 16, T = 400, 33 gains, 30.
What it shows: the rate is negative (vanishing) below the edge, ≈ 0 at g = 1 (full size)
  and positive beyond; it equals λ₁, and where either is resolved (beyond ±0.01 per step)
  their signs agree. Pascanu's condition ‖W_rec‖₂γ < 1 holds only far below the edge.
  Beside them, mean-field theory (rg.theory.meanfield: ½ ln χ₁ for W_ij ~ N(0, g²/H);
  edge χ₁ = 1 at g = 1). Why λ₁ does not cross 0 at exactly 1: this finite W0's spectral
  radius ρ ≠ 1 puts the loss of stability of the origin at g = 1/ρ (below it λ₁ = ln gρ),
  and past it the network first oscillates (λ₁ ≈ 0) before it turns chaotic.
Numbers: the printed tables; record["nonlinearities"][cell] (per-gain fitted_rate,
  lyapunov, log_pascanu_rate; the agreement scores), record["tanh_lyapunov_zero_crossing"],
  record["meanfield"] (predicted rates, critical gain, ρ(W0)), record["checks"]; the lag
  profiles and contribution matrices are in gradient_flow.npz.
Outputs (in --out): profiles.png, contributions.png, rates.png, gradient_flow.json/.npz.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import rnngrad as rg

try:
    import _runner
except ImportError:  # imported as experiments.gradient_flow
    from experiments import _runner

RELU_BIAS = 0.1
MARGINAL = 0.01  # |rate| below this (per step) is "marginal": the sign is not resolved
CELLS = {"tanh": "tanh", "relu": "relu", "identity": "linear"}
HEAT_SCALES = (0.8, 1.0, 1.2)


def agreement(rate: np.ndarray, lam: np.ndarray) -> dict:
    """How rate and λ₁ agree: in sign where either is resolved (|·| > MARGINAL; inside
    the band finite-T estimates cannot resolve a sign), and in class (-1, 0, +1)."""
    resolved = (np.abs(rate) > MARGINAL) | (np.abs(lam) > MARGINAL)
    same = np.sign(rate) == np.sign(lam)
    cls = [np.where(r < -MARGINAL, -1, np.where(r > MARGINAL, 1, 0)) for r in (rate, lam)]
    return {
        "sign_agreement": float(np.mean(same[resolved])) if resolved.any() else 1.0,
        "resolved_gains": int(resolved.sum()),
        "class_agreement": float(np.mean(cls[0] == cls[1])),
        "max_abs_rate_minus_lyapunov": float(np.max(np.abs(rate - lam))),
    }


def float64(tree):
    """`tree` with its floating-point arrays cast to float64."""
    cast = lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a
    return jax.tree_util.tree_map(cast, tree)


def run(cfg: dict) -> tuple[dict, dict]:
    # float64: near the edge rates are ~1e-3 per step, as much as float32 round-off moves
    # them. Draws stay float32 (then cast): the same sample at either precision.
    hidden, length, heat_len, warmup = map(cfg.get, ("hidden", "length", "heat_length", "warmup"))
    k_cell, k_state, k_read = jax.random.split(jax.random.key(0), 3)
    s = np.asarray(jnp.linspace(0.5, 1.5, cfg["gains"]))
    xs = jnp.zeros((length, 1))
    carry0, readout = (jax.random.normal(k, (hidden,), jnp.float32) for k in (k_state, k_read))
    carry0, readout = 0.5 * float64(carry0), float64(readout) / np.sqrt(hidden)
    cells, nonlin, arrays = {}, {}, {"scales": s, "heat_scales": np.asarray(HEAT_SCALES)}
    for name in CELLS:
        cell = float64(rg.VanillaCell(1, hidden, nonlinearity=name, key=k_cell, dtype=jnp.float32))
        if name == "relu":  # a small positive bias keeps ReLU units alive (else all-zero grads)
            cell = eqx.tree_at(lambda c: c.bias, cell, jnp.full(hidden, RELU_BIAS))
        cells[name] = cell

        def point(scale, cell=cell):
            scaled = rg.scale_recurrent(cell, scale)
            prof = rg.final_step_profile(scaled, xs, carry0, lambda h: readout @ h)
            return {
                "log10_profile": rg.lag_profile(prof, log10=True),
                "lyapunov": rg.lyapunov_spectrum(scaled, xs, carry0, n=1, warmup=warmup).largest,
                "log_pascanu_rate": jnp.log(rg.theory.pascanu_rate(scaled)),
            }

        res = {k: np.asarray(v) for k, v in rg.sweep(point, scale=jnp.asarray(s)).values.items()}
        arrays[f"{name}_log10_profile"] = res.pop("log10_profile")
        rate = np.asarray(rg.growth_rate(arrays[f"{name}_log10_profile"], start=warmup))
        nonlin[name] = {"fitted_rate": rate, **res, **agreement(rate, res["lyapunov"])}
    tanh, lam = nonlin["tanh"], nonlin["tanh"]["lyapunov"]
    up = np.flatnonzero(np.diff(np.sign(lam)) > 0)[:1]  # λ₁'s first upward zero crossing
    transition = next((float(np.interp(0.0, lam[i : i + 2], s[i : i + 2])) for i in up), None)

    def contributions(scale):  # T × T contribution matrices with a loss at every step
        c = rg.timestep_contributions(rg.scale_recurrent(cells["tanh"], scale), jnp.zeros((
            heat_len, 1)), carry0, lambda h, y: readout @ h, jnp.zeros(heat_len))  # fmt: skip
        return {"log10_norms": c.log_norms, "lag_profiles": rg.lag_profile(c, log10=True)}

    heat = rg.sweep(contributions, scale=jnp.asarray(HEAT_SCALES)).values
    arrays.update({f"contribution_{k}": np.asarray(v) for k, v in heat.items()})

    # Mean-field theory (W_ij ~ N(0, g²/H), no bias, no input): rate ½ ln χ₁(g), edge at
    # χ₁ = 1, g = 1. A finite W0 has its own spectral radius ρ: its origin is stable for
    # g < 1/ρ, where λ₁ = ln(g ρ) (linear decay), not ln g.
    theory = {n: np.asarray(rg.theory.meanfield(n, sigma_w=jnp.asarray(s)).rate)
              for n in ("tanh", "identity")}  # fmt: skip
    edge = float(rg.theory.critical_gain("tanh"))
    rho = float(np.max(np.abs(np.linalg.eigvals(np.asarray(cells["tanh"].weight_hh)))))
    stable = s < 0.95 / rho
    chaotic = np.flatnonzero(lam > MARGINAL)
    onset = float(s[chaotic[0]]) if chaotic.size else None
    band = (s >= 1.0 / rho) & (s < (onset if onset is not None else np.inf))
    meanfield = {
        "tanh_rate": theory["tanh"],
        "identity_rate": theory["identity"],
        "critical_gain": edge,
        "spectral_radius_W0": rho,
        "finite_size_edge": 1.0 / rho,
        "stable_max_abs_lyapunov_minus_ln_g_rho": float(
            np.max(np.abs(lam - np.log(s * rho))[stable]) if stable.any() else np.nan
        ),
        "chaos_onset": onset,
        "marginal_band_max_abs_lyapunov": float(np.max(np.abs(lam[band]))) if band.any() else None,
        "chaotic_max_abs_lyapunov_minus_meanfield": float(
            np.max(np.abs(lam - theory["tanh"])[chaotic]) if chaotic.size else np.nan
        ),
    }
    picks = np.unique(np.round(np.linspace(0, len(s) - 1, 9)).astype(int))
    cols = [tanh["fitted_rate"], lam, theory["tanh"], tanh["log_pascanu_rate"]]
    cols += [nonlin[n]["fitted_rate"] for n in ("relu", "identity")]
    keys = ("sign_agreement", "resolved_gains", "class_agreement", "max_abs_rate_minus_lyapunov")
    crosses = "no crossing" if transition is None else f"crosses 0 at g ≈ {transition:.3f}"
    tables = {
        f"Gradient flow, H = {hidden}, T = {length}: rates are ln-growth per step": (
            ["g", "tanh rate", "tanh λ1", "mean-field", "ln‖W‖₂γ", "relu rate", "linear rate"],
            [[float(s[i])] + [float(c[i]) for c in cols] for i in picks],
        ),
        f"Rate vs λ1 over {len(s)} gains (resolved: |·| > {MARGINAL}); tanh λ1 {crosses}": (
            ["cell", "sign agree", "resolved", "class agree", "max|rate-λ1|"],
            [[n] + [r[k] for k in keys] for n, r in nonlin.items()],
        ),
    }
    edges = (
        f"Edge of chaos: mean-field χ₁ = 1 at g = {edge:.3f}. This W0 (H = {hidden}) has "
        f"spectral radius ρ = {rho:.3f}: its origin is stable up to g = 1/ρ = {1 / rho:.3f} "
        "(there λ1 = ln(g ρ), not ln g); beyond, a finite network first sits on a periodic "
        "or quasi-periodic attractor with λ1 ≈ 0, and only later turns chaotic (λ1 > "
        f"{MARGINAL}), where mean-field predicts weak chaos at once; tanh λ1 {crosses}"
    )
    mf = meanfield
    tables[edges] = (
        ["MF edge", "1/ρ(W0)", "chaos onset", "max|λ1| band", "max|λ1-ln gρ|", "max|λ1-MF|"],
        [[edge, 1.0 / rho, onset if onset is not None else float("nan"),
          mf["marginal_band_max_abs_lyapunov"] if mf["marginal_band_max_abs_lyapunov"]
          is not None else float("nan"), mf["stable_max_abs_lyapunov_minus_ln_g_rho"],
          mf["chaotic_max_abs_lyapunov_minus_meanfield"]]],
    )  # fmt: skip
    checks = {f"tanh_{k}": tanh[k] for k in keys[:2]}  # sign_agreement, resolved_gains
    checks["stable_lyapunov_minus_ln_g_rho"] = mf["stable_max_abs_lyapunov_minus_ln_g_rho"]
    checks["tanh_rate_at_g1"] = float(tanh["fitted_rate"][int(np.argmin(np.abs(s - 1.0)))])
    record = {**cfg, "scales": s, "marginal_band": MARGINAL, "nonlinearities": nonlin}
    record["tanh_lyapunov_zero_crossing"] = transition
    record["meanfield"] = meanfield
    return {**record, "tables": tables, "checks": checks}, arrays


def draw(record: dict, arrays: dict, cfg: dict) -> dict:
    s, nonlin = np.asarray(record["scales"]), record["nonlinearities"]
    profiles, pascanu = arrays["tanh_log10_profile"], nonlin["tanh"]["log_pascanu_rate"]
    lags = np.arange(profiles.shape[1])
    picks = np.unique(np.round(np.linspace(0, len(s) - 1, min(len(s), 25))).astype(int))
    at = {g: int(np.argmin(np.abs(s - g))) for g in (0.5, 1.0, 1.5)}
    bounds = {f"Pascanu bound, g = {g}": lags * pascanu[i] / np.log(10.0) for g, i in at.items()}
    return {
        "profiles.png": rg.plot.lag_profiles(
            lags, profiles[picks], values=s[picks], relative=True, bounds=bounds,
            title="tanh RNN: exact gradient norm vs lag (W_rec = g W0)",
        ),
        "contributions.png": rg.plot.contributions(
            arrays["contribution_log10_norms"],
            titles=[f"g = {g}: loss at every step" for g in arrays["heat_scales"]],
        ),
        "rates.png": rg.plot.rates(
            s, [nonlin[n]["fitted_rate"] for n in CELLS], labels=list(CELLS.values()),
            lyapunov=[nonlin[n]["lyapunov"] for n in CELLS],
            theory={"tanh: ln(‖W_rec‖₂ γ)": pascanu,
                    "tanh: mean-field ½ ln χ₁": record["meanfield"]["tanh_rate"],
                    "linear: mean-field ln g": record["meanfield"]["identity_rate"]},
            band=MARGINAL,
            vlines={"tanh: λ1 = 0": record["tanh_lyapunov_zero_crossing"] or np.nan,
                    "mean-field edge χ₁ = 1": record["meanfield"]["critical_gain"],
                    "1/ρ(W0)": record["meanfield"]["finite_size_edge"]},
            title="Gradient growth rate (lines) vs largest Lyapunov exponent (markers)",
        ),
    }  # fmt: skip


EXPECTED = (
    _runner.Expect("tanh RNN at the edge of chaos (g = 1): gradient rate ≈ 0",
                   "≈ 0 (Bengio et al. 1994; Pascanu et al. 2013)",
                   "tanh_rate_at_g1", "abs<", 0.02, "{:+.4f} per step"),
    _runner.Expect("gradient rate agrees in sign with λ₁ (gains where either is beyond ±0.01)",
                   "at every gain", "tanh_sign_agreement", ">=", 1.0, "{:.1%}"),
    _runner.Expect("below g = 1/ρ(W0): max |λ₁ - ln(g ρ(W0))|",
                   "mean-field: ln g below the edge g = 1 (H → ∞; Poole et al. 2016)",
                   "stable_lyapunov_minus_ln_g_rho", "abs<", 0.01, "{:.4f}"),
)  # fmt: skip
SIZES = {
    "quick": {"hidden": 16, "length": 400, "warmup": 100, "gains": 33, "heat_length": 30},
    "full": {"hidden": 64, "length": 1000, "warmup": 250, "gains": 257, "heat_length": 60},
}
EXPERIMENT = _runner.Experiment(
    "gradient_flow", doc=__doc__, sizes=SIZES, run=run, draw=draw, expected=EXPECTED, x64=True
)


def main(argv: list[str] | None = None) -> dict:
    return _runner.main(EXPERIMENT, argv)


if __name__ == "__main__":
    main()
