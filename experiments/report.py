"""Run every experiment and benchmark; write results/REPORT.md: figures, tables, paper vs ours.

Command:   python experiments/report.py [--full] [--out results] [--only NAME ...] [--reuse]
Runtime:   quick (default): about 11 minutes on a 2-core CPU; --full: 99 min measured
           with two scripts at a time (the default --jobs 2 on 2 cores; 197 min of script
           time, e.g. memory_curse 97 min, vanishing 51, exploding 24, flossing 11,
           phase_diagram 6, the rest a few minutes each). memory_curse alone bounds it.
           Each run's seconds and the wall time are in <out>/report.json.
What it does:
  Runs each experiment (gradient_flow, vanishing, exploding, echo_state, flossing,
  memory_curse, phase_diagram, fixed_points) and each benchmark script in its own
  process (--quick unless --full, output in <out>/<name>/), keeps every printed table,
  and writes <out>/REPORT.md with each figure, each table and one row per paper
  comparison: result and paper, task variant, size, the paper's value, ours (with its
  95 % interval), match?, and what differs from the paper's setup. The comparisons are
  the scripts' own `EXPERIMENT.expected` (data) applied to their records' "checks", so
  a script and the report never disagree. It also checks the linear-RNN and Lyapunov
  identities directly (float64). A script that fails is reported as failed; the report
  is still written. --reuse keeps the records of scripts already run into --out (e.g.
  by hand at full size). Every file is written atomically.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

try:
    import _runner
except ImportError:  # imported as experiments.report
    from experiments import _runner

HERE = Path(__file__).resolve().parent
EXPERIMENTS = [
    "gradient_flow",
    "vanishing",
    "exploding",
    "echo_state",
    "flossing",
    "memory_curse",
    "phase_diagram",
    "fixed_points",
]
BENCHMARKS = [
    "sweep_profile",
    "contributions",
    "scaling",
    "long_sequence",
    "esn_fit",
    "parallel_scan",
]


# Minutes of each script at --full, measured two at a time on 2 cores: the longest start
# first, so that --jobs 2 ends close to half the total.
FULL_MINUTES = {"memory_curse": 40, "vanishing": 51, "exploding": 24, "flossing": 11,
                "phase_diagram": 6, "fixed_points": 3, "echo_state": 2.5}  # fmt: skip


def _path(name: str) -> Path:
    folder = HERE if name in EXPERIMENTS else HERE.parent / "benchmarks"
    return folder / f"{name}.py"


def run_script(name: str, out: Path, full: bool, timeout: float) -> dict:
    """Run one script in a fresh process; return its status, output and seconds."""
    cmd = [sys.executable, str(_path(name)), "--out", str(out / name)]
    if not full:
        cmd.append("--quick")
    started = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        return {"status": f"timed out after {timeout:.0f} s", "stdout": str(err.stdout or "")}
    return {
        "status": "ok" if done.returncode == 0 else f"failed (exit {done.returncode})",
        "stdout": done.stdout,
        "stderr_tail": done.stderr[-3000:] if done.returncode else "",
        "seconds": time.perf_counter() - started,
        "command": " ".join(cmd[1:]),
    }


def record_of(out: Path, name: str) -> dict | None:
    path = out / name / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def paper_rows(out: Path) -> list[dict[str, str]]:
    """One row per declared comparison of every experiment that left a record."""
    rows: list[list[str]] = []
    sys.path.insert(0, str(HERE))
    try:
        for name in EXPERIMENTS:
            record = record_of(out, name)
            if record is not None:
                experiment = importlib.import_module(name).EXPERIMENT
                rows += _runner.comparisons(experiment, record)
    finally:
        sys.path.remove(str(HERE))
    return rows


def identities() -> list[dict[str, str]]:
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
    err = max(
        abs(float(res.norms[t, k]) - want) / want
        for t in range(12)
        for k in range(t + 1)
        for want in [np.linalg.norm(np.asarray(c) @ np.linalg.matrix_power(w, t - k))]
    )
    gauss = rg.VanillaCell(
        1, 6, nonlinearity="identity", weight_hh_init=rg.init.gaussian(0.9), key=jax.random.key(7)
    )
    lam = rg.lyapunov_spectrum(
        gauss, jax.random.normal(jax.random.key(8), (2000, 1)), jnp.zeros(6)
    ).exponents
    eig = np.sort(np.log(np.abs(np.linalg.eigvals(np.asarray(gauss.weight_hh)))))[::-1]
    lyap_err = float(np.max(np.abs(np.asarray(lam) - eig)))
    orth = rg.VanillaCell(
        1, 4, nonlinearity="identity", weight_hh_init=rg.init.orthogonal(0.5), key=jax.random.key(0)
    )
    prof = rg.final_step_profile(orth, jnp.zeros((10001, 1)), jnp.ones(4), jnp.sum)
    lag = float(prof.log_norms[0] - prof.log_norms[-1])
    yes = {True: "yes", False: "no"}
    rows = [
        ("linear RNN: ‖∂L_t/∂s_k‖ = ‖c W^(t−k)‖", "H = 6, T = 12", "exact",
         f"max rel. error {err:.1e}", yes[err < 1e-10]),
        ("linear RNN: λ_i = ln|eig_i(W)|", "H = 6, T = 2000", "exact",
         f"max abs. error {lyap_err:.1e}", yes[lyap_err < 1e-3]),
        ("0.5·orthogonal: log10 ratio at lag 10⁴", "H = 4, T = 10001", "−3010.30", f"{lag:.2f}",
         yes[abs(lag + 3010.2999566) < 1e-6]),
    ]  # fmt: skip
    return [
        dict(result=r, variant="identity (float64)", size=n, paper=p, ours=o, match=m, differs="-")
        for r, n, p, o, m in rows
    ]


def markdown(
    out: Path, runs: dict, rows: list[dict[str, str]], full: bool, *, wall: str = ""
) -> str:
    size = "full" if full else "quick (--quick; run with --full for the published sizes)"
    reused = {name: run["size"] for name, run in runs.items() if "size" in run}
    if reused:  # records made earlier keep their own size
        made = ", ".join(f"{name} ({s})" for name, s in reused.items())
        size = f"{size}; reused records: {made}"
    fields = _runner.ROW_FIELDS
    lines = [
        "# rnngrad: reproduction report",
        "",
        f"Size: {size}. Generated by `python experiments/report.py{' --full' if full else ''}`"
        f"{wall}.",
        "",
        "## Paper results and identities",
        "",
        "Each row: the result and its paper; the task variant both sides ran (whose "
        "definition); the size of our run at --full; the paper's value; ours with its Wilson 95 % "
        "interval where it is a success rate (or the range the row names); whether it matches; "
        "and what differs from the paper's setup.",
        "",
        "| " + " | ".join(fields.values()) + " |",
        "|" + " --- |" * len(fields),
        *("| " + " | ".join(r[k].replace("|", "/") for k in fields) + " |" for r in rows),
    ]
    for name, run in runs.items():
        lines += ["", f"## {name}", "", f"Status: {run['status']}, {run['seconds']:.0f} s."]
        if run.get("command"):
            lines.append(f"Command: `python {run['command']}`")
        if run.get("stdout"):
            lines += ["", "```", run["stdout"].rstrip(), "```"]
        if run.get("stderr_tail"):
            lines += ["", "Error output (tail):", "", "```", run["stderr_tail"].rstrip(), "```"]
        for png in sorted((out / name).glob("*.png")):
            lines += ["", f"![{name}: {png.stem}]({name}/{png.name})"]
    return "\n".join(lines) + "\n"


def _reused(record: dict) -> dict:
    tables = record.get("tables", {})
    text = "\n\n".join(
        f"{title}\n{_runner.format_table(*table)}" for title, table in tables.items()
    )
    size = record.get("size", "full")
    return {
        "status": f"reused an earlier run's record ({size} size)",
        "size": size,
        "stdout": text,
        "seconds": float(record.get("seconds", 0.0)),
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="the published sizes (slow)")
    p.add_argument("--out", default="results", help="output folder")
    p.add_argument("--only", nargs="*", default=None, help="run only these scripts")
    p.add_argument("--timeout", type=float, default=7200.0, help="seconds per script")
    p.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1),
        help="scripts run at once (default: 2, or 1 on a 1-core machine)",
    )  # fmt: skip
    p.add_argument("--reuse", action="store_true", help="keep records already in --out")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error(f"--jobs must be a positive number of processes, got {args.jobs}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    names = args.only or EXPERIMENTS + BENCHMARKS
    unknown = sorted(set(names) - set(EXPERIMENTS + BENCHMARKS))
    if unknown:
        p.error(f"unknown script(s) {unknown}; choose from {EXPERIMENTS + BENCHMARKS}")
    runs, todo = {}, []
    for name in names:
        record = record_of(out, name)
        if args.reuse and record is not None:
            runs[name] = _reused(record)
            print(f"reusing {out / name / (name + '.json')}", flush=True)
        else:
            todo.append(name)
    # One process per script, --jobs at a time: a script's training uses about 1.2 of
    # 2 cores, so two at once finish ~1.6x sooner than one after the other.
    size = "full" if args.full else "quick"
    todo.sort(key=lambda name: -FULL_MINUTES.get(name, 0.5))
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        started = {}
        for name in todo:
            started[pool.submit(run_script, name, out, args.full, args.timeout)] = name
            print(f"queued {name} ({size})", flush=True)
        for done in concurrent.futures.as_completed(started):
            name = started[done]
            runs[name] = done.result()
            runs[name].setdefault("seconds", args.timeout)
            print(f"  {name}: {runs[name]['status']} in {runs[name]['seconds']:.0f} s", flush=True)
    runs = {name: runs[name] for name in names}  # the report keeps the scripts' order
    ident, paper = identities(), paper_rows(out)
    rows = ident + paper
    wall = time.perf_counter() - clock
    ran = f" in {wall / 60:.1f} min, {args.jobs} script(s) at a time" if todo else ""
    text = markdown(out, runs, rows, args.full, wall=ran)
    from rnngrad._io import atomic_write

    atomic_write(out / "REPORT.md", lambda f: f.write(text), mode="w")
    record = {"full": args.full, "runs": runs, "identities": ident, "paper_rows": paper,
              "wall_seconds": wall, "jobs": args.jobs}  # fmt: skip
    _runner.write_record(out / "report.json", record)
    print("\n".join(" | ".join(r[k] for k in ("result", "paper", "ours", "match")) for r in rows))
    print(f"wrote {out / 'REPORT.md'}")
    return record


if __name__ == "__main__":
    main()
