"""Gradient flow through time: vanishing, the edge of chaos, exploding -- exactly.

Command:   python experiments/gradient_flow.py [--quick] [--out results/gradient_flow]
Runtime:   about 15 s end to end on an idle 2-core CPU (9 s of it computing), 30-40 s
           when other jobs share it (--quick: about 10 s, mostly compilation).
What it does:
  A tanh RNN, H = 64, W_rec = g · W0 with W0 ~ N(0, 1/H), runs autonomously (zero input)
  from a random initial state for T = 1000 steps; the loss reads the final state,
  L = c · h_T. For 257 gains g in [0.5, 1.5] (one rg.sweep) it computes the exact
  ‖∂L/∂s_{T-d}‖ for every lag d (log space), the largest Lyapunov exponent λ₁ (QR, 250
  warm-up steps) and Pascanu's rate ‖W_rec‖₂·γ; the same for ReLU (bias 0.1, so units
  stay alive) and linear cells; and
  the T × T contribution matrices ‖∂L_t/∂s_k‖ for g ∈ {0.8, 1.0, 1.2} with a loss at
  every step (T = 60). All in float64.
Expected numbers (default size, measured):
  fitted log-rate per step (slope of ln‖∂L/∂s_{T-d}‖ over d ≥ T/4) = log g for g < 1
  (-0.659 at g = 0.5, -0.254 at 0.75), ≈ 0 at g = 1 (+0.0005), > 0 at g = 1.5
  (+0.030); it equals λ₁ to 0.009 at every gain (max |rate - λ₁| = 0.0084 tanh,
  0.017 ReLU, 0.0001 linear). Sign agreement: at every gain where the rate or λ₁ is
  resolved (|·| > 0.01 per step, the finite-T resolution) the two have the same sign:
  100 % for tanh (150 gains), ReLU (197) and linear (253). Inside the band both are
  ≈ 0 and their signs are noise: for g ≳ 1 this autonomous tanh network mostly settles
  on limit cycles, where λ₁ is exactly 0 as T → ∞ (at T = 300 the finite-T estimates
  still differed by up to 0.02 and the signs agreed at 98 %). λ₁ of the tanh network
  crosses 0 at g ≈ 1.05. Pascanu's sufficient condition ‖W_rec‖₂γ < 1 holds only
  below g ≈ 0.5 (‖W0‖₂ ≈ 2): the bound is loose. The linear RNN's rate is log ρ(W_rec)
  exactly; ReLU stays contracting up to g ≈ 1.2 and is marginal beyond.
Outputs (in --out): profiles.png, contributions.png, rates.png, gradient_flow.json.
"""

from __future__ import annotations

import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import rnngrad as rg

try:
    from _common import parser, save_figure, table, write_outputs
except ImportError:  # imported as experiments.gradient_flow
    from experiments._common import parser, save_figure, table, write_outputs

RELU_BIAS = 0.1
MARGINAL = 0.01  # |rate| below this (per step) is "marginal": the sign is not resolved


def classify(rate: np.ndarray) -> np.ndarray:
    """-1 vanishing, 0 marginal, +1 exploding."""
    return np.where(rate < -MARGINAL, -1, np.where(rate > MARGINAL, 1, 0))


def sign_agreement(rate: np.ndarray, lyapunov: np.ndarray) -> tuple[float, int]:
    """Fraction of the resolved gains (|rate| or |λ₁| > MARGINAL) where the signs agree.

    Returns the fraction and the number of resolved gains. Inside the band the finite-T
    estimates cannot resolve a sign (on a limit cycle λ₁ is exactly 0).
    """
    resolved = (np.abs(rate) > MARGINAL) | (np.abs(lyapunov) > MARGINAL)
    same = np.sign(rate) == np.sign(lyapunov)
    return float(np.mean(same[resolved])) if resolved.any() else 1.0, int(resolved.sum())


def fitted_rate(log10_profile: np.ndarray, start: int) -> np.ndarray:
    """Least-squares slope of ln‖∂L/∂s_{T-d}‖ against d over d >= start (per step)."""
    lags = np.arange(log10_profile.shape[-1])
    sel = lags >= start
    return np.polyfit(lags[sel], np.log(10.0) * log10_profile[..., sel].T, 1)[0]


def float64(tree):
    """`tree` with its floating-point arrays cast to float64."""
    return jax.tree_util.tree_map(
        lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, tree
    )


def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__, "gradient_flow").parse_args(argv)
    # Computed in float64: near the edge the rates are ~1e-3 per step, and float32
    # round-off in 300-step products moves them by as much (it flips signs at a few
    # gains). The random draws stay float32 (then cast), so the network is the same
    # sample at either precision: jax.random draws other bits for another dtype.
    jax.config.update("jax_enable_x64", True)
    hidden, length, n_scales, heat_len = (16, 400, 33, 30) if args.quick else (64, 1000, 257, 60)
    warmup = length // 4
    out = Path(args.out)
    k_cell, k_state, k_read = jax.random.split(jax.random.key(0), 3)
    scales = jnp.linspace(0.5, 1.5, n_scales)
    xs = jnp.zeros((length, 1))
    carry0 = 0.5 * jax.random.normal(k_state, (hidden,), jnp.float32).astype(jnp.float64)
    readout = jax.random.normal(k_read, (hidden,), jnp.float32).astype(jnp.float64)
    readout = readout / np.sqrt(hidden)
    started = time.perf_counter()

    record: dict = {
        "hidden": hidden,
        "length": length,
        "scales": np.asarray(scales),
        "marginal_band": MARGINAL,
        "nonlinearities": {},
    }
    for name in ("tanh", "relu", "identity"):
        cell = float64(rg.VanillaCell(1, hidden, nonlinearity=name, key=k_cell, dtype=jnp.float32))
        if name == "relu":
            # A small positive bias keeps ReLU units alive; with none, the autonomous
            # network falls silent and every gradient is exactly zero.
            cell = eqx.tree_at(lambda c: c.bias, cell, jnp.full(hidden, RELU_BIAS))

        def point(scale, cell=cell):
            scaled = rg.scale_recurrent(cell, scale)
            prof = rg.final_step_profile(scaled, xs, carry0, lambda h: readout @ h)
            lam = rg.lyapunov_spectrum(scaled, xs, carry0, n=1, warmup=warmup)[0]
            return {
                "log10_profile": rg.lag_profile(prof, log10=True),
                "lyapunov": lam,
                "pascanu_rate": rg.pascanu_rate(scaled),
            }

        res = rg.sweep(point, scale=scales).values
        rate = fitted_rate(res["log10_profile"], warmup)
        agree = classify(rate) == classify(res["lyapunov"])
        sign_agree, resolved = sign_agreement(rate, np.asarray(res["lyapunov"]))
        record["nonlinearities"][name] = {
            "log10_profile": res["log10_profile"],
            "fitted_rate": rate,
            "lyapunov": res["lyapunov"],
            "log_pascanu_rate": np.log(res["pascanu_rate"]),
            "class_agreement": float(np.mean(agree)),
            "sign_agreement": sign_agree,
            "resolved_gains": resolved,
            "max_abs_rate_minus_lyapunov": float(np.max(np.abs(rate - res["lyapunov"]))),
        }

    tanh = record["nonlinearities"]["tanh"]
    lam = tanh["lyapunov"]
    crossing = np.where(np.diff(np.sign(lam)) > 0)[0]
    transition = None
    if crossing.size:
        i = int(crossing[0])
        s = np.asarray(scales)
        transition = float(s[i] - lam[i] * (s[i + 1] - s[i]) / (lam[i + 1] - lam[i]))
    record["tanh_lyapunov_zero_crossing"] = transition

    # T × T contribution matrices with a loss at every step.
    heat_cell = float64(rg.VanillaCell(1, hidden, key=k_cell, dtype=jnp.float32))
    heat_scales = [0.8, 1.0, 1.2]
    heat_xs = jnp.zeros((heat_len, 1))

    def contributions(scale):
        return rg.timestep_contributions(
            rg.scale_recurrent(heat_cell, scale),
            heat_xs,
            carry0,
            lambda h, y: readout @ h,
            jnp.zeros(heat_len),
        ).log_norms

    heat = rg.sweep(contributions, scale=jnp.asarray(heat_scales)).values
    record["contribution_log10_norms"] = {str(s): heat[i] for i, s in enumerate(heat_scales)}
    record["contribution_lag_profiles"] = {
        str(s): rg.lag_profile(jnp.asarray(10.0 ** heat[i]), log10=True)
        for i, s in enumerate(heat_scales)
    }
    elapsed = time.perf_counter() - started

    # ------------------------------------------------------------------ printed summary
    picks = np.unique(np.round(np.linspace(0, n_scales - 1, 9)).astype(int))
    rows = []
    for i in picks:
        rows.append(
            [
                float(scales[i]),
                float(tanh["fitted_rate"][i]),
                float(tanh["lyapunov"][i]),
                float(tanh["log_pascanu_rate"][i]),
                float(record["nonlinearities"]["relu"]["fitted_rate"][i]),
                float(record["nonlinearities"]["identity"]["fitted_rate"][i]),
            ]
        )
    headers = ["g", "tanh rate", "tanh λ1", "ln‖W‖₂γ", "relu rate", "linear rate"]
    print(f"Gradient flow, H = {hidden}, T = {length}: rates are ln-growth per step")
    print(table(headers, rows))
    record["summary_table"] = {"headers": headers, "rows": rows}
    for name, rec in record["nonlinearities"].items():
        print(
            f"{name:>8}: rate and λ1 agree in sign at {100 * rec['sign_agreement']:.1f}% of "
            f"the {rec['resolved_gains']} gains where either is beyond ±{MARGINAL}; "
            f"same class at {100 * rec['class_agreement']:.1f}% of {n_scales}; "
            f"max |rate - λ1| = {rec['max_abs_rate_minus_lyapunov']:.4f}"
        )
    print(f"tanh: λ1 crosses 0 at g ≈ {transition}")
    print(f"computed in {elapsed:.1f} s")
    record["seconds"] = elapsed

    return write_outputs(
        record, out, "gradient_flow", lambda: plot(record, np.asarray(scales), heat_scales, out)
    )


def plot(record: dict, scales: np.ndarray, heat_scales: list[float], out: Path) -> list[str]:
    """Write the three figures into `out`; return their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    tanh = record["nonlinearities"]["tanh"]
    profiles = np.asarray(tanh["log10_profile"])
    lags = np.arange(profiles.shape[1])

    fig, ax = plt.subplots(figsize=(7, 4.5))
    cmap = plt.get_cmap("coolwarm")
    for i in range(0, len(scales), max(1, len(scales) // 24)):
        colour = cmap((scales[i] - scales[0]) / (scales[-1] - scales[0]))
        ax.plot(lags, profiles[i] - profiles[i, 0], color=colour, lw=1)
    for g in (0.5, 1.0, 1.5):
        i = int(np.argmin(np.abs(scales - g)))
        bound = lags * np.log10(np.exp(tanh["log_pascanu_rate"][i]))
        ax.plot(lags, bound, "k--", lw=0.8)
    ax.set_ylim(profiles.min() - profiles[:, :1].max() - 1, max(5.0, float(np.max(profiles)) + 2))
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(scales[0], scales[-1]))
    fig.colorbar(sm, ax=ax, label="gain g (W_rec = g W0)")
    ax.set_xlabel("lag d = T - k")
    ax.set_ylabel("log10 ‖∂L_T/∂s_k‖ / ‖∂L_T/∂s_T‖")
    ax.set_title("tanh RNN: exact gradient norm vs lag (dashed: Pascanu bound, g = 0.5, 1, 1.5)")
    names.append(save_figure(fig, out / "profiles.png").name)

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, g in zip(axes, heat_scales):
        m = np.asarray(record["contribution_log10_norms"][str(g)], dtype=float)
        m = np.where(np.isfinite(m), m, np.nan)
        im = ax.imshow(m, origin="lower", cmap="viridis")
        ax.set_title(f"g = {g}: log10 ‖∂L_t/∂s_k‖")
        ax.set_xlabel("k (state)")
        ax.set_ylabel("t (loss)")
        fig.colorbar(im, ax=ax)
    names.append(save_figure(fig, out / "contributions.png").name)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, style in (("tanh", "C0"), ("relu", "C1"), ("identity", "C2")):
        rec = record["nonlinearities"][name]
        ax.plot(scales, rec["fitted_rate"], color=style, label=f"{name}: fitted gradient rate")
        ax.plot(scales, rec["lyapunov"], color=style, ls=":", label=f"{name}: λ1")
    ax.plot(scales, tanh["log_pascanu_rate"], "k--", lw=0.8, label="tanh: ln(‖W_rec‖₂ γ)")
    ax.axhline(0.0, color="grey", lw=0.5)
    ax.axhspan(-MARGINAL, MARGINAL, color="grey", alpha=0.2, label="marginal band")
    if record["tanh_lyapunov_zero_crossing"] is not None:
        ax.axvline(record["tanh_lyapunov_zero_crossing"], color="C0", lw=0.8, ls="--")
    ax.set_xlabel("gain g")
    ax.set_ylabel("growth rate per step (natural log)")
    ax.set_ylim(-1.2, 1.0)
    ax.legend(fontsize=7)
    ax.set_title("Gradient growth rate vs largest Lyapunov exponent")
    names.append(save_figure(fig, out / "rates.png").name)
    return names


if __name__ == "__main__":
    main()
