"""Shared by the benchmark scripts: command line, timing, optional torch, RSS, JSON record.

Flags: ``--quick``, ``--out`` (default results/benchmarks), ``--repeats``, ``--devices N``
(host devices through XLA_FLAGS, set before the scripts import jax). A row times the first
call (compile + run), then the median and min of ``--repeats`` blocking calls; ``compile_s``
= first call - median. PyTorch (extra ``rnngrad[bench]``; RNNGRAD_BENCH_NO_TORCH=1 hides it)
is timed with 1 thread and with all cores, the faster counting.
"""

import argparse
import contextlib
import importlib.util
import json
import os
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

NO_TORCH_ENV = "RNNGRAD_BENCH_NO_TORCH"
DEVICE_FLAG = "--xla_force_host_platform_device_count"
NUMPY_KEYS = ("weight_hh", "weight_ih", "bias", "xs")  # the oracle's and torch's arguments


def parse(doc: str, argv: list[str] | None, **extra: dict) -> argparse.Namespace:
    """The common flags and the script's own (``name=add_argument kwargs``); sets XLA_FLAGS
    for --devices (it fails if jax was imported before)."""
    raw = argparse.RawDescriptionHelpFormatter  # --help shows the whole docstring
    p = argparse.ArgumentParser(description=doc, formatter_class=raw)
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    p.add_argument("--out", default="results/benchmarks", help="output folder")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per row (>= 1)")
    p.add_argument("--devices", type=int, default=None, help="force N host (CPU) devices")
    for name, kwargs in extra.items():
        p.add_argument(f"--{name}", **kwargs)
    args = p.parse_args(argv)
    if args.repeats < 1 or (args.devices or 1) < 1:
        p.error(f"--repeats and --devices must be >= 1, got {args.repeats}, {args.devices}")
    if args.devices is not None:
        flags = re.sub(rf"{DEVICE_FLAG}=\S+", "", os.environ.get("XLA_FLAGS", "")).split()
        os.environ["XLA_FLAGS"] = " ".join([*flags, f"{DEVICE_FLAG}={args.devices}"])
        import jax

        if jax.device_count() != args.devices:
            p.error(f"--devices {args.devices}: jax was imported before XLA_FLAGS was set")
    args.error = p.error
    return args


def time_fn(fn: Callable[[], Any], repeats: int) -> tuple[dict, Any]:
    """Time a first call (compiles), then `repeats` calls; `fn` must block on its result.

    ``cpu_median_s`` is the median CPU time of this process (all its threads) per call: on
    a machine shared with other jobs it moves less than the wall-clock ``median_s``."""
    times, cpu = [], []
    for _ in range(repeats + 1):
        start, cpu_start, value = time.perf_counter(), time.process_time(), fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    med = statistics.median(times[1:])
    row = {"median_s": med, "min_s": min(times[1:]), "times_s": times[1:], "first_s": times[0]}
    row["cpu_median_s"] = statistics.median(cpu[1:])
    return {**row, "compile_s": max(times[0] - med, 0.0)}, value


def time_torch(rows: dict, fns: dict, fn_args: tuple, repeats: int) -> tuple[dict, str]:
    """Time ``fns[name](torch, *fn_args)`` into ``rows[name]`` with 1 thread and all cores (the
    faster counts; one whose first call is 3x slower than the other's median is not repeated),
    or mark it skipped; return the values and torch's version or why it was skipped."""
    if os.environ.get(NO_TORCH_ENV) or importlib.util.find_spec("torch") is None:
        skip = f" (hidden by {NO_TORCH_ENV})" if os.environ.get(NO_TORCH_ENV) else ""
        rows.update({name: {"skipped": f"torch not installed{skip}"} for name in fns})
        return {}, f"skipped: torch not installed{skip}"
    import torch

    values = {}
    for name, fn in fns.items():
        call, by = lambda fn=fn: fn(torch, *fn_args), {}
        for n in sorted({1, os.cpu_count() or 1}):  # all cores last: torch keeps that setting
            torch.set_num_threads(n)
            start, values[name] = time.perf_counter(), call()
            first = time.perf_counter() - start
            if by and first > 3 * by["1"]["median_s"]:
                by[str(n)] = {"first_s": first, "not_repeated": "first call > 3x slower"}
            else:
                by[str(n)], values[name] = time_fn(call, repeats)
        best = min((k for k in by if "median_s" in by[k]), key=lambda k: by[k]["median_s"])
        rows[name] = {**by[best], "threads": int(best), "by_threads": by}
    return values, torch.__version__


def torch_rnn(torch: Any, p: dict) -> Callable:
    """The oracle's tanh RNN in float32 torch: ``states(scale, eps=None, h=None)`` lists h_1..h_T
    from h (default 0), ``eps[t]`` added to h_t (zero perturbations to differentiate against)."""
    w_hh, w_ih, b, xs = (torch.from_numpy(np.array(p[k], np.float32)) for k in NUMPY_KEYS)

    def states(scale: Any, eps: Any = None, h: Any = None) -> list:
        h, out = torch.zeros(w_hh.shape[0]) if h is None else h, []
        for t, x in enumerate(xs):
            h = torch.tanh(scale * (w_hh @ h) + w_ih @ x + b)
            out.append(h := h if eps is None else h + eps[t])
        return out

    return states


def agreement(logs: Any, reference: np.ndarray, floor: float = -30.0) -> float:
    """Max |Δ log10| where the reference is finite and above 10**floor (float32 norms lose
    digits near its smallest normal, ~1e-38; jnp.linalg.norm's squares underflow ~1e-19)."""
    mask = np.isfinite(reference) & (reference > floor)
    diff = np.abs(np.asarray(logs, np.float64)[mask] - reference[mask])
    return float(np.max(diff)) if mask.any() else float("nan")


def log10(norms: Any) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log10(np.asarray(norms, np.float64))


def _status_mib(field: str) -> float:
    try:
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1]) / 1024 for ln in f if ln.startswith(field))
    except (OSError, StopIteration):
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss / 2**20 if sys.platform == "darwin" else rss / 1024


@contextlib.contextmanager
def peak_rss() -> Any:
    """Yields ``peak_mib()``: the process's peak RSS [MiB] so far, max of VmHWM and VmRSS sampled
    every 2 ms (Linux; VmHWM misses memory handed back with madvise); elsewhere ru_maxrss."""
    stop, peak = threading.Event(), [0.0]

    def sample() -> None:
        while not stop.wait(0.002):
            peak[0] = max(peak[0], _status_mib("VmRSS:"))

    threading.Thread(target=sample, daemon=True).start()
    try:
        yield lambda: max(peak[0], _status_mib("VmHWM:"), _status_mib("VmRSS:"))
    finally:
        stop.set()


def target(what: str, op: str, goal: float, value: float | None) -> dict:
    """A target row: met / short / skipped (value None or not finite)."""
    ok = value is not None and bool(np.isfinite(value))
    met = ok and (value >= goal if op == ">=" else value < goal)
    status = "met" if met else "short" if ok else "skipped"
    return dict(what=what, op=op, target=goal, value=value if ok else None, status=status)


def fmt_s(s: float) -> str:
    return f"{s * 1e6:7.1f} us" if s < 1e-3 else f"{s * 1e3:7.2f} ms" if s < 1 else f"{s:7.3f} s "


def compare(rows: dict, labels: dict, what: str, goals: dict, notes: dict | None = None) -> tuple:
    """Add ``speedup_of_rnngrad`` (row median / the first row's) to the other timed rows;
    return the table and the targets ``"<what> vs <label>" >= goal`` of ``{key: (row, goal)}``."""
    first = next(iter(labels))
    lines = [f"  {'method':<40} {'median':>10} {'min':>10} {'1st call':>10} {'rnngrad is':>10}"]
    for name, label in labels.items():
        row, note = rows[name], (notes or {}).get(name, "")
        if "skipped" in row:
            lines.append(f"  {label:<40} skipped: {row['skipped']}")
            continue
        speed = row["median_s"] / rows[first]["median_s"]
        if name != first:
            row["speedup_of_rnngrad"] = speed
        times = " ".join(fmt_s(row[k]) for k in ("median_s", "min_s", "first_s"))
        note = f"torch threads={row['threads']} {note}" if "threads" in row else note
        lines.append(f"  {label:<40} {times} {speed:9.1f}x  {note}".rstrip())
    targets = {
        k: target(f"{what} vs {labels[n]}", ">=", goal, rows[n].get("speedup_of_rnngrad"))
        for k, (n, goal) in goals.items()
    }
    return lines, targets


def finish(args: Any, name: str, started: float, lines: list, record: dict) -> dict:
    """Head the lines with the environment, add the checks and targets, print them, keep
    them in the record (``table``) and write ``<out>/<name>.json`` atomically."""
    import jax

    from rnngrad._io import atomic_write

    env = {
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "device_count": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "loadavg": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "torch": record.pop("torch", "not used"),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }
    checks = {k: v for k, v in record.get("checks", {}).items() if not isinstance(v, dict)}
    lines = [
        f"{name} ({'quick' if args.quick else 'full'} sizes): jax {env['jax']}, "
        f"{env['device_count']} {env['backend']} device(s), {env['cpu_count']} cores, "
        f"load {env['loadavg']}, torch {env['torch']}",
        *lines,
        *(f"  {k}: {v:.3g}" if isinstance(v, float) else f"  {k}: {v}" for k, v in checks.items()),
        "  targets (ratios of this run" + (", quick sizes):" if args.quick else "):"),
    ]
    for t in record["targets"].values():
        value = "-" if t["value"] is None else f"{t['value']:.3g}"
        lines.append(f"  {t['what']:<48} {value:>9}  {t['op']} {t['target']:<6g} {t['status']}")
    print("\n".join(lines))
    record.update(quick=args.quick, repeats=args.repeats, environment=env, table="\n".join(lines))
    record["seconds"] = time.perf_counter() - started
    blob = json.dumps(record, indent=1, default=lambda v: v.item())  # numpy scalars
    path = atomic_write(Path(args.out) / f"{name}.json", lambda f: f.write(blob), mode="w")
    print(f"wrote {path} ({record['seconds']:.1f} s)")
    return record


def problem(hidden: int, inputs: int, length: int) -> SimpleNamespace:
    """The reference tanh `cell`, inputs, targets in float32 (also under x64); with W_rec scaled,
    ``profile(scale)``: (T,) log10 ‖∂L/∂s_k‖ of L = Σ h_T, ``contributions(scale, method)``:
    (T, T) log10 ‖∂L_t/∂s_k‖ of L_t = ½‖h_t − y_t‖²; `numpy`: the oracle's and torch's arrays."""
    import jax
    import jax.numpy as jnp

    import rnngrad as rg

    f32, key, scaled = jnp.float32, jax.random.key, lambda s: rg.scale_recurrent(cell, s)
    cell = rg.VanillaCell(inputs, hidden, dtype=f32, key=key(0))
    xs = jax.random.normal(key(1), (length, inputs), f32)
    ys = 0.5 * jax.random.normal(key(2), (length, hidden), f32)
    h0, loss = jnp.zeros((hidden,), f32), lambda h, y: 0.5 * jnp.sum((h - y) ** 2)
    arrays = dict(weight_hh=cell.weight_hh, weight_ih=cell.weight_ih, bias=cell.bias, xs=xs, ys=ys)
    return SimpleNamespace(
        cell=cell,
        numpy={k: np.asarray(v) for k, v in arrays.items()},
        profile=lambda scale: rg.final_step_profile(scaled(scale), xs, h0, jnp.sum).log_norms,
        contributions=lambda scale, method="scan": (
            rg.timestep_contributions(scaled(scale), xs, h0, loss, ys, method=method).log_norms
        ),
    )


def scales(n: int) -> np.ndarray:
    return np.linspace(0.5, 1.5, n, dtype=np.float32)


def profile_flops(n_scales: int, length: int, hidden: int, inputs: int) -> int:
    """Analytic FLOPs of S final-step profiles: (2H² + 2HI) forward + 2H² backward per step
    (elementwise work and the forward that the backward re-runs inside jax.vjp uncounted)."""
    return n_scales * length * (4 * hidden * hidden + 2 * hidden * inputs)
