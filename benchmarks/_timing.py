"""Shared by the benchmark scripts: command line, timing, optional torch, RSS, JSON record.

Every script takes ``--quick`` (seconds), ``--out`` (default results/benchmarks; the record
is ``<out>/<script>.json``), ``--repeats`` and ``--devices N`` (N host devices through
XLA_FLAGS, which must be set before jax is imported: the scripts import jax only after
:func:`parse`). Times: the first call (compile + run) on its own, then the median and min
of ``--repeats`` calls, each ending in a host copy or ``block_until_ready``; ``compile_s`` =
first call - median. PyTorch rows (optional extra ``rnngrad[bench]``; RNNGRAD_BENCH_NO_TORCH=1
hides it) are timed with 1 thread and with all cores, the faster counts: on a small busy CPU
torch's OpenMP threads were up to 60x slower than one for these small products.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

NO_TORCH_ENV = "RNNGRAD_BENCH_NO_TORCH"
DEVICE_FLAG = "--xla_force_host_platform_device_count"
NUMPY_KEYS = ("weight_hh", "weight_ih", "bias", "xs")  # the oracle's and torch's arguments


def parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    p.add_argument("--out", default="results/benchmarks", help="output folder")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per row (>= 1)")
    p.add_argument("--devices", type=int, default=None, help="force N host (CPU) devices")
    return p


def parse(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse; set XLA_FLAGS for --devices (it fails if jax was imported before)."""
    args = p.parse_args(argv)
    if args.repeats < 1 or (args.devices or 1) < 1:
        p.error(f"--repeats and --devices must be >= 1, got {args.repeats}, {args.devices}")
    if args.devices is not None:
        flags = re.sub(rf"{DEVICE_FLAG}=\S+", "", os.environ.get("XLA_FLAGS", "")).split()
        os.environ["XLA_FLAGS"] = " ".join([*flags, f"{DEVICE_FLAG}={args.devices}"])
        import jax

        if jax.device_count() != args.devices:
            p.error(f"--devices {args.devices}: jax was imported before XLA_FLAGS was set")
    return args


def time_fn(fn: Callable[[], Any], repeats: int) -> tuple[dict, Any]:
    """Time a first call (compiles), then `repeats` calls; `fn` must block on its result."""
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    med = statistics.median(times[1:])
    row = {"median_s": med, "min_s": min(times[1:]), "times_s": times[1:], "first_s": times[0]}
    return {**row, "compile_s": max(times[0] - med, 0.0)}, value


def torch_or_skip() -> tuple[Any, str | None]:
    """PyTorch, or None and why it is unavailable."""
    if os.environ.get(NO_TORCH_ENV):
        return None, f"torch not installed (hidden by {NO_TORCH_ENV})"
    try:
        import torch
    except ImportError:
        return None, "torch not installed"
    return torch, None


def time_torch(torch: Any, fn: Callable[[], Any], repeats: int) -> tuple[dict, Any]:
    """Time with 1 thread and with all cores; the faster median is the row. A thread count
    whose first call is over 3x slower than the other's median is not repeated."""
    cores, rows = os.cpu_count() or 1, {}
    for n in sorted({1, cores}):  # all cores last: torch keeps that setting
        torch.set_num_threads(n)
        start = time.perf_counter()
        value, first = fn(), time.perf_counter() - start
        if rows and first > 3 * rows["1"]["median_s"]:
            rows[str(n)] = {"first_s": first, "not_repeated": "first call > 3x slower"}
        else:
            rows[str(n)], value = time_fn(fn, repeats)
    best = min((k for k in rows if "median_s" in rows[k]), key=lambda k: rows[k]["median_s"])
    return {**rows[best], "threads": int(best), "by_threads": rows}, value


def speedups(rows: dict, base: str) -> None:
    """Add ``speedup_of_rnngrad`` = row median / base median to every other timed row."""
    for name, row in rows.items():
        if name != base and "median_s" in row:
            row["speedup_of_rnngrad"] = row["median_s"] / rows[base]["median_s"]


def agreement(logs: Any, reference: np.ndarray, floor: float = -30.0) -> float:
    """Max |Δ log10| where the reference is finite and above 10**floor (float32 norms lose
    digits near its smallest normal, ~1e-38; jnp.linalg.norm's squares underflow ~1e-19)."""
    mask = np.isfinite(reference) & (reference > floor)
    diff = np.abs(np.asarray(logs, np.float64)[mask] - reference[mask])
    return float(np.max(diff)) if mask.any() else float("nan")


def log10(norms: Any) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log10(np.asarray(norms, np.float64))


class RssSampler(threading.Thread):
    """Peak RSS [MiB] of this process: max of VmHWM and VmRSS sampled every 2 ms (Linux;
    VmHWM alone misses memory handed back with madvise); elsewhere ru_maxrss."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.max_mib, self.stop = 0.0, threading.Event()

    @staticmethod
    def read(field: str) -> float:
        try:
            with open("/proc/self/status") as f:
                return next(int(ln.split()[1]) / 1024 for ln in f if ln.startswith(field))
        except (OSError, StopIteration):
            import resource

            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            return rss / 2**20 if sys.platform == "darwin" else rss / 1024

    def run(self) -> None:
        while not self.stop.wait(0.002):
            self.max_mib = max(self.max_mib, self.read("VmRSS:"))

    def __enter__(self) -> RssSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()

    def peak_mib(self) -> float:
        return max(self.max_mib, self.read("VmHWM:"), self.read("VmRSS:"))


def target(what: str, op: str, goal: float, value: float | None) -> dict:
    """A target row: met / short / skipped (value None or not finite)."""
    ok = value is not None and bool(np.isfinite(value))
    met = ok and (value >= goal if op == ">=" else value < goal)
    status = "met" if met else "short" if ok else "skipped"
    return {
        "what": what,
        "op": op,
        "target": goal,
        "value": value if ok else None,
        "status": status,
    }


def fmt_s(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:7.1f} us"
    return f"{seconds * 1e3:7.2f} ms" if seconds < 1 else f"{seconds:7.3f} s "


def table(rows: dict, labels: dict, notes: dict | None = None) -> list[str]:
    """A timing table: median, min, first call, how many times slower than rnngrad."""
    lines = [f"  {'method':<40} {'median':>10} {'min':>10} {'1st call':>10} {'rnngrad is':>10}"]
    for name, label in labels.items():
        row, note = rows[name], (notes or {}).get(name, "")
        if "skipped" in row:
            lines.append(f"  {label:<40} skipped: {row['skipped']}")
            continue
        times = " ".join(fmt_s(row[k]) for k in ("median_s", "min_s", "first_s"))
        note = f"torch threads={row['threads']} {note}" if "threads" in row else note
        speed = row.get("speedup_of_rnngrad", 1.0)
        lines.append(f"  {label:<40} {times} {speed:9.1f}x  {note}".rstrip())
    return lines


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


class Problem:
    """The reference problem: a vanilla tanh cell, inputs, targets; float32 throughout
    (explicit dtypes: the same numbers under jax_enable_x64)."""

    def __init__(self, hidden: int, inputs: int, length: int):
        import jax
        import jax.numpy as jnp

        import rnngrad as rg

        self.rg, self.jnp, f32, key = rg, jnp, jnp.float32, jax.random.key
        self.cell = rg.VanillaCell(inputs, hidden, dtype=f32, key=key(0))
        self.xs = jax.random.normal(key(1), (length, inputs), f32)
        self.ys = 0.5 * jax.random.normal(key(2), (length, hidden), f32)
        self.carry0 = jnp.zeros((hidden,), f32)

    def profile(self, scale: Any) -> Any:
        """log10 ‖∂L/∂s_k‖ (T,) for L = Σ h_T with W_rec scaled by `scale`."""
        cell = self.rg.scale_recurrent(self.cell, scale)
        return self.rg.final_step_profile(cell, self.xs, self.carry0, self.jnp.sum).log_norms

    def contributions(self, scale: Any, method: str = "scan") -> Any:
        """(T, T) log10 ‖∂L_t/∂s_k‖ for L_t = ½‖h_t − y_t‖²."""
        cell, loss = self.rg.scale_recurrent(self.cell, scale), self.step_loss
        rg, xs, ys = self.rg, self.xs, self.ys
        return rg.timestep_contributions(cell, xs, self.carry0, loss, ys, method=method).log_norms

    def step_loss(self, h: Any, y: Any) -> Any:
        return 0.5 * self.jnp.sum((h - y) ** 2)

    def numpy(self) -> dict[str, np.ndarray]:
        arrays = {k: getattr(self.cell, k) for k in NUMPY_KEYS[:3]}
        return {k: np.asarray(v) for k, v in {**arrays, "xs": self.xs, "ys": self.ys}.items()}


def scales(n: int) -> np.ndarray:
    return np.linspace(0.5, 1.5, n, dtype=np.float32)


def profile_flops(n_scales: int, length: int, hidden: int, inputs: int) -> int:
    """Analytic FLOPs of S final-step profiles: (2H² + 2HI) forward + 2H² backward per step
    (elementwise work and the forward that the backward re-runs inside jax.vjp uncounted)."""
    return n_scales * length * (4 * hidden * hidden + 2 * hidden * inputs)
