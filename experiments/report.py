"""Run every experiment and write results/REPORT.md: figures, tables, paper vs ours.

Command:   python experiments/report.py [--full] [--out results]
Runtime:   quick (default): about 5 minutes on a 2-core CPU; --full: 57 min measured
           (2026-11-27: vanishing 48 min, exploding 5, benchmark 2, flossing 1.5,
           gradient_flow and echo_state under 20 s each).
           --reuse keeps the records of scripts already run into --out (e.g. by hand at
           full size) and only assembles the report for them.
What it does:
  Runs gradient_flow, vanishing, exploding, echo_state, flossing and benchmark (each in
  its own process, --quick unless --full, output in <out>/<script>/), keeps every printed
  table, and writes <out>/REPORT.md with each figure, each table, and for every
  reproduced paper result a row "paper value | our value | match?". It also checks the
  linear-RNN and Lyapunov identities directly (float64). A script that fails is reported
  as failed; the report is still written. REPORT.md and report.json are written atomically.
Expected: at --full, every identity row matches; the paper rows say "yes" or state by how
much they fall short.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

try:
    from _common import write_json
except ImportError:  # imported as experiments.report
    from experiments._common import write_json

HERE = Path(__file__).resolve().parent
SCRIPTS = ["gradient_flow", "vanishing", "exploding", "echo_state", "flossing", "benchmark"]


def run_script(name: str, out: Path, full: bool, timeout: float) -> dict:
    """Run one experiment in a fresh process; return its status, output and seconds."""
    path = HERE / f"{name}.py"
    if not path.exists():
        return {"status": "missing", "stdout": "", "seconds": 0.0}
    cmd = [sys.executable, str(path), "--out", str(out / name)]
    if not full:
        cmd.append("--quick")
    started = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        return {
            "status": f"timed out after {timeout:.0f} s",
            "stdout": str(err.stdout or ""),
            "seconds": timeout,
        }
    status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
    return {
        "status": status,
        "stdout": done.stdout,
        "stderr_tail": done.stderr[-3000:] if done.returncode else "",
        "seconds": time.perf_counter() - started,
        "command": " ".join(cmd[1:]),
    }


def tables_of(record: dict) -> str:
    """The tables a script recorded in its JSON (for a reused run, whose stdout is gone)."""
    parts = []
    for key in ("summary_table", "table", "tables"):
        value = record.get(key)
        if isinstance(value, dict) and "headers" in value and "rows" in value:
            parts.append(_format(value["headers"], value["rows"]))
        elif isinstance(value, dict):
            for sub, text in value.items():
                if isinstance(text, str):
                    parts.append(f"{sub}:\n{text}")
                elif isinstance(text, dict) and "headers" in text:
                    parts.append(f"{sub}:\n" + _format(text["headers"], text["rows"]))
        elif isinstance(value, str):
            parts.append(value)
    return "\n\n".join(parts)


def _format(headers: list, rows: list) -> str:
    def cell(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = [" | ".join(str(h) for h in headers)]
    lines += [" | ".join(cell(v) for v in row) for row in rows]
    return "\n".join(lines)


def load(out: Path, name: str) -> dict | None:
    path = out / name / f"{name}.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())


def identities() -> list[list[str]]:
    """The linear-RNN and Lyapunov identities, checked here in float64."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    import rnngrad as rg

    cell = rg.VanillaCell(1, 6, nonlinearity="identity", key=jax.random.key(0))
    w = np.asarray(cell.weight_hh)
    xs = jax.random.normal(jax.random.key(1), (12, 1))
    c = jnp.linspace(-1.0, 1.0, 6)
    res = rg.timestep_contributions(cell, xs, jnp.zeros(6), lambda h, y: y * (c @ h), jnp.ones(12))
    err = 0.0
    for t in range(12):
        for k in range(t + 1):
            want = np.linalg.norm(np.asarray(c) @ np.linalg.matrix_power(w, t - k))
            err = max(err, abs(float(res.norms[t, k]) - want) / want)
    cell2 = rg.VanillaCell(
        1, 6, nonlinearity="identity", weight_hh_init=rg.init.gaussian(0.9), key=jax.random.key(7)
    )
    lam = rg.lyapunov_spectrum(cell2, jax.random.normal(jax.random.key(8), (2000, 1)), jnp.zeros(6))
    eig = np.sort(np.log(np.abs(np.linalg.eigvals(np.asarray(cell2.weight_hh)))))[::-1]
    lyap_err = float(np.max(np.abs(np.asarray(lam) - eig)))
    orth = rg.VanillaCell(
        1, 4, nonlinearity="identity", weight_hh_init=rg.init.orthogonal(0.5), key=jax.random.key(0)
    )
    prof = rg.final_step_profile(orth, jnp.zeros((10001, 1)), jnp.ones(4), lambda h: jnp.sum(h))
    lag = float(prof.log_norms[0] - prof.log_norms[-1])
    return [
        [
            "linear RNN: ‖∂L_t/∂s_k‖ = ‖c W^(t−k)‖",
            "exact",
            f"max rel. error {err:.1e}",
            "yes" if err < 1e-10 else "no",
        ],
        [
            "linear RNN: λ_i = ln|eig_i(W)| (T = 2000)",
            "exact",
            f"max abs. error {lyap_err:.1e}",
            "yes" if lyap_err < 1e-3 else "no",
        ],
        [
            "0.5·orthogonal: log10 ratio at lag 10⁴",
            "−3010.30",
            f"{lag:.2f}",
            "yes" if abs(lag + 3010.2999566) < 1e-6 else "no",
        ],
    ]


def paper_rows(out: Path) -> list[list[str]]:
    """Rows "result | paper | ours | match?" from the scripts' JSON records."""
    rows: list[list[str]] = []
    for extractor in (_flow_rows, _vanishing_rows, _exploding_rows, _echo_rows, _flossing_rows):
        try:
            rows.extend(extractor(out))
        except (KeyError, TypeError, ValueError, IndexError) as err:
            rows.append(
                [
                    extractor.__name__.strip("_").replace("_rows", ""),
                    "",
                    f"record unreadable: {err}",
                    "?",
                ]
            )
    return rows


def _flow_rows(out: Path) -> list[list[str]]:
    rows: list[list[str]] = []
    flow = load(out, "gradient_flow")
    if flow is None:
        return rows
    tanh = flow["nonlinearities"]["tanh"]
    scales = np.asarray(flow["scales"], dtype=float)
    rate = np.asarray(tanh["fitted_rate"], dtype=float)
    one = int(np.argmin(np.abs(scales - 1.0)))
    agree = tanh["sign_agreement"]
    resolved = tanh["resolved_gains"]
    band = flow["marginal_band"]
    rows.append(
        [
            "tanh RNN at the edge of chaos (g = 1): gradient rate ≈ 0",
            "≈ 0 (Bengio et al. 1994; Pascanu et al. 2013)",
            f"{rate[one]:+.4f} per step",
            "yes" if abs(rate[one]) < 0.02 else "no",
        ]
    )
    rows.append(
        [
            f"gradient rate agrees in sign with λ₁ (gains where either is beyond ±{band})",
            "at every gain",
            f"{100 * agree:.1f} % of {resolved} gains",
            "yes" if agree == 1.0 else f"no ({100 * (1 - agree):.1f} % differ)",
        ]
    )
    return rows


def _vanishing_rows(out: Path) -> list[list[str]]:
    rec = load(out, "vanishing")
    if rec is None:
        return []
    res = rec["results"]

    def rate(model: str, length: str) -> tuple[float, str]:
        r = res[model][length]
        ok = r["mse_success"]
        return float(r["mse_success_rate"]), f"{int(sum(ok))}/{len(ok)}"

    rows = []
    for model, name in (
        ("lstm", "LSTM, forget bias 1 (Hochreiter & Schmidhuber 1997; Gers et al. 2000)"),
        ("lstm_chrono", "LSTM, chrono init (Tallec & Ollivier 2018)"),
    ):
        if model in res and "100" in res[model]:
            got, text = rate(model, "100")
            rows.append(
                [
                    f"adding T = 100, {name}",
                    "solved",
                    f"test MSE < 0.01 in {text} seeds",
                    "yes" if got >= 0.8 else f"no ({text} vs ≥ 4/5)",
                ]
            )
    for model, paper in (
        ("irnn", "IRNN ≈ LSTM, solves (Le et al. 2015)"),
        ("tanh_gaussian", "tanh RNN fails (Le et al. 2015)"),
    ):
        if model in res and "100" in res[model]:
            got, text = rate(model, "100")
            want_success = model == "irnn"
            match = (got >= 0.8) if want_success else (got <= 0.2)
            target = "≥ 4/5" if want_success else "≤ 1/5"
            med = float(np.median(res[model]["100"]["test_mse"]))
            rows.append(
                [
                    f"adding T = 100, {model}",
                    paper,
                    f"{text} seeds, median test MSE {med:.3g}",
                    "yes" if match else f"no ({text} vs {target})",
                ]
            )
    return rows


def _exploding_rows(out: Path) -> list[list[str]]:
    rec = load(out, "exploding")
    if rec is None:
        return []
    rows = []
    for problem, r in rec["results"].items():
        if not problem.startswith("temporal_order"):
            continue
        methods = r["methods"]
        best = max(methods, key=lambda m: methods[m]["success_rate"])
        cells = ", ".join(f"{m} {methods[m]['success_rate']:.0%}" for m in methods)
        omega = methods.get("clip+omega", {}).get("success_rate", float("nan"))
        rows.append(
            [
                f"temporal order T = {r['length']}: clipping + Ω best (Pascanu et al. 2013)",
                "clip + Ω solves most runs up to T = 200",
                cells,
                "yes" if best == "clip+omega" and omega >= 0.6 else f"no (clip + Ω {omega:.0%})",
            ]
        )
    return rows


def _echo_rows(out: Path) -> list[list[str]]:
    rec = load(out, "echo_state")
    if rec is None:
        return []
    results = rec["prediction"]["results"]
    rows = []
    for size, bound, paper in (
        ("100", 0.00785, "reservoirpy: NRMSE 0.00785"),
        ("1000", 1e-4, "≤ 1e-4 (issue target)"),
    ):
        if size in results:
            got = float(results[size]["one_step_nrmse"])
            rows.append(
                [
                    f"Mackey-Glass one-step, ESN {size} units",
                    paper,
                    f"{got:.2e}",
                    "yes" if got <= bound else f"no ({got / bound:.1f}× the figure)",
                ]
            )
    if "1000" in results:
        got = float(results["1000"]["nrmse84_rms"])
        rows.append(
            [
                "Mackey-Glass 84-step free run, 1000 units (Jaeger & Haas 2004)",
                "NRMSE ≈ 10^-4.2",
                f"{got:.2e} (10^{np.log10(got):.1f})",
                "yes" if got <= 10**-4.2 * 1.5 else f"no ({got / 10**-4.2:.1f}× theirs)",
            ]
        )
    viol = rec["echo_state_property"]["radius_3_violates"]
    rows.append(
        [
            "tanh reservoir with ρ = 3 violates the echo state property",
            "violated",
            ", ".join(f"{k}: {'violated' if v else 'holds'}" for k, v in viol.items()),
            "yes" if all(viol.values()) else "no",
        ]
    )
    return rows


def _flossing_rows(out: Path) -> list[list[str]]:
    rec = load(out, "flossing")
    if rec is None:
        return []
    before, after = rec["lyapunov_before"][0], rec["lyapunov_after"][0]
    return [
        [
            "gradient flossing pulls λ₁ to 0 (Engelken 2023)",
            "λ₁ → 0",
            f"{before:+.4f} → {after:+.4f}",
            "yes" if abs(after) < 0.02 else "no",
        ]
    ]


def markdown(
    out: Path, runs: dict, rows: list[list[str]], ident: list[list[str]], full: bool
) -> str:
    lines = [
        "# rnngrad: reproduction report",
        "",
        f"Size: {'full' if full else 'quick (--quick; run with --full for the published sizes)'}."
        f" Generated by `python experiments/report.py{' --full' if full else ''}`.",
        "",
        "## Paper results and identities",
        "",
        "| result | paper | ours | match? |",
        "| --- | --- | --- | --- |",
    ]
    for r in ident + rows:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in r) + " |")
    for name, run in runs.items():
        lines += ["", f"## {name}", "", f"Status: {run['status']}, {run['seconds']:.0f} s."]
        if run.get("command"):
            lines.append(f"Command: `python {run['command']}`")
        if run.get("stdout"):
            lines += ["", "```", run["stdout"].rstrip(), "```"]
        if run.get("stderr_tail"):
            lines += ["", "Error output (tail):", "", "```", run["stderr_tail"].rstrip(), "```"]
        for png in sorted((out / name).glob("*.png")) if (out / name).exists() else []:
            lines += ["", f"![{name}: {png.stem}]({name}/{png.name})"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="the published sizes (slow)")
    p.add_argument("--out", default="results", help="output folder")
    p.add_argument("--only", nargs="*", default=None, help="run only these scripts")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds per script")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="do not rerun a script whose JSON record already exists in --out",
    )
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = {}
    for name in args.only or SCRIPTS:
        if args.reuse and (out / name / f"{name}.json").exists():
            record = json.loads((out / name / f"{name}.json").read_text())
            size = "quick" if record.get("quick") else "full"
            runs[name] = {
                "status": f"reused an earlier run's record ({size} size unless marked)",
                "stdout": tables_of(record),
                "seconds": float(record.get("seconds", 0.0) or 0.0),
            }
            print(f"reusing {out / name / (name + '.json')}", flush=True)
            continue
        print(f"running {name} ({'full' if args.full else 'quick'}) ...", flush=True)
        runs[name] = run_script(name, out, args.full, args.timeout)
        print(f"  {runs[name]['status']} in {runs[name]['seconds']:.0f} s", flush=True)
    ident = identities()
    rows = paper_rows(out)
    text = markdown(out, runs, rows, ident, args.full)
    fd, tmp = tempfile.mkstemp(prefix=".REPORT.", suffix=".md", dir=out)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, out / "REPORT.md")
    record = {"full": args.full, "runs": runs, "identities": ident, "paper_rows": rows}
    write_json(out / "report.json", record)
    print("\n".join(" | ".join(r) for r in ident + rows))
    print(f"wrote {out / 'REPORT.md'}")
    return record


if __name__ == "__main__":
    main()
