"""Benchmark: rnngrad's one-program sweeps against loops, PyTorch and the machine's matmul peak.

Command:  python experiments/benchmark.py [--quick] [--out DIR] [--devices N] [--repeats R]
                                          [--scaling-scales 64,256,1024,4096]
                                          [--long-length 1000000]
          (PyTorch rows need the optional extra: pip install -e ".[bench]"; without torch
          they print "skipped: torch not installed". RNNGRAD_BENCH_NO_TORCH=1 hides torch.)
Runtime:  full size about 1.5-2 minutes on a 2-core CPU (torch rows included; up to ~5
          minutes when other jobs share the cores); --quick about 15 s. Results go to
          results/benchmark/benchmark.json (every printed number, plus all raw times).
Problem:  the reference problem of the issue: a vanilla tanh cell (H = 64, input 8),
          T = 100 steps, the per-timestep norms ‖∂L/∂s_k‖ of a final-step loss
          L = Σ_i h_T[i], for S = 256 recurrent-weight scales in [0.5, 1.5]; float32.
Rows:     rnngrad.sweep (one jit(vmap) program) | a Python loop over one jitted
          single-scale function | a PyTorch autograd loop with retain_grad | torch.func.vmap
          of torch.func.grad w.r.t. zero perturbations of every state | T × T contributions
          at S = 64 (rg.timestep_contributions under rg.sweep, a torch loop of
          torch.func.jacrev, jax.jit(jax.lax.map(...method="jacrev"))) | the float32 matmul
          peak (2048² and 4096² products) and rnngrad's achieved GFLOP/s | a scaling table
          S ∈ {64, 256, 1024, 4096} × T ∈ {100, 1000} with peak RSS, each configuration in a
          fresh subprocess | the ESN ridge readout fit (1000 units × 10,000 steps), when
          rg.ridge_readout exists | a T = 10⁶ final-step profile with checkpoint_every=1000,
          its peak RSS measured in a fresh subprocess.
Timing:   one warm-up call (compiles), then the median (and min) of --repeats (default 5)
          timed calls, each ending with block_until_ready or a host copy. Each torch row is
          timed with 1 thread and with torch.set_num_threads(cores); the faster counts (on
          a busy 2-core machine torch's OpenMP threads were up to 60x slower than one
          thread for these small products). FLOPs are counted analytically (XLA's cost
          analysis counts a scan body once): per step and scale 2·H² (W_hh h) + 2·H·I
          (W_ih x) forward and 2·H² for the backward vjp; elementwise work (tanh, its
          derivative, the per-step renormalisation) is not counted, nor is the forward that
          rg.final_step_profile's backward re-runs inside jax.vjp: "useful" GFLOP/s.
Accuracy: every row is checked against float64 BPTT in numpy (log space, so it does not
          underflow either); the torch rows' norms are taken in float64.
Expected: measured on a 2-core Xeon (Sapphire Rapids, KVM) shared with other jobs (load
          ~3); medians, rerun on a quiet machine for final numbers:
          - [1] rnngrad.sweep S = 256: ~10 ms (~44 GFLOP/s); loop of jitted calls ~50 ms
            (5x); torch autograd loop ~0.9 s (~85-90x); torch.func.vmap ~31-35 ms (~3x:
            it batches the scales into the same matrix products, so only per-op overhead
            separates it from rnngrad; 50x would need rnngrad above the machine's peak).
          - rnngrad (float32) equals float64 BPTT to ~2e-5 decades at every entry, down to
            1e-47 at scale 0.5; torch's float32 gradients underflow to exact zeros on ~30 of
            the 25,600 entries. Decay: -0.49, -0.21, -0.08 decades/step at scale 0.5, 1.0,
            1.5; Pascanu's bound holds everywhere.
          - [2] T × T at S = 64: rnngrad ~70 ms; jit(lax.map(jacrev)) ~150 ms (2.1x); torch
            jacrev loop ~1.1-1.2 s (~16x). rnngrad equals float64 to ~2e-5 decades;
            method="jacrev" (float32, linear space) is off by ~0.04 decades near 1e-18 and 0
            below ~1e-19 (jnp.linalg.norm's squares underflow).
          - [3] matmul peak ~130 GFLOP/s (4096²); [4] rnngrad 25-45 GFLOP/s, 38 % of peak at
            S = 4096, T = 1000 (1.4 s; 16-25 % in runs under heavier load), peak RSS
            ~1.3 GiB there (it stores all T·S·H states).
          - [5] ESN fit, 1000 units x 10,000 steps (fit on 9000): ~0.18 s (< 2 s).
          - [6] T = 10⁶ with checkpoint_every=1000: ~2 s, peak RSS ~0.38 GiB (< 1 GiB),
            log10 norm -198636 at lag 999999, all finite.
GPU:      one run on an NVIDIA H100 80GB (jax 0.11.2, CUDA; torch hidden), with
          RNNGRAD_BENCH_NO_TORCH=1 python experiments/benchmark.py --repeats 3
          --scaling-scales 256,1024,4096,16384,65536 --long-length 100000 (97 s):
          - [1] S = 256: 3.8 ms (116 GFLOP/s), loop of jitted calls 409 ms (106x).
          - [2] T x T at S = 64: 5.5 ms; jit(lax.map(jacrev)) 94 ms (17x).
          - [4] S x T = 65536 x 100: 30 ms (2.2 M scale-profiles/s); 65536 x 1000: 418 ms
            (2.7 TFLOP/s useful, 1.1 % of the TF32 matmul peak 252 TFLOP/s: the scan is
            65536-wide but each step is one small (S, 64) x (64, 64) product).
          - [5] ESN fit 4.5 ms. [6] T = 10^5: 3.3 s (one kernel chain per step).
          That run predates the cells' HIGHEST-precision products: XLA's GPU default ran
          the float32 products in TF32 and the norms were off by 0.02 decades (CPU: 2e-5);
          rnngrad's cells now ask for full precision (not yet re-measured on a GPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

WORKER_TAG = "RNNGRAD_BENCH_WORKER "
NO_TORCH_ENV = "RNNGRAD_BENCH_NO_TORCH"
DEVICE_FLAG = "--xla_force_host_platform_device_count"


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Problem sizes of one benchmark run (FULL or QUICK)."""

    hidden: int
    inputs: int
    length: int
    scales: int
    tt_scales: int
    matmul: tuple[int, ...]
    scaling_scales: tuple[int, ...]
    scaling_lengths: tuple[int, ...]
    esn_units: int
    esn_steps: int
    long_length: int
    long_block: int


FULL = Sizes(
    hidden=64,
    inputs=8,
    length=100,
    scales=256,
    tt_scales=64,
    matmul=(2048, 4096),
    scaling_scales=(64, 256, 1024, 4096),
    scaling_lengths=(100, 1000),
    esn_units=1000,
    esn_steps=10_000,
    long_length=1_000_000,
    long_block=1000,
)
QUICK = Sizes(
    hidden=16,
    inputs=8,
    length=20,
    scales=16,
    tt_scales=4,
    matmul=(256, 512),
    scaling_scales=(4, 16),
    scaling_lengths=(10, 20),
    esn_units=100,
    esn_steps=1000,
    long_length=10_000,
    long_block=100,
)

# key: (what, comparison, threshold)
TARGETS = {
    "speedup_vs_torch_loop": ("rnngrad.sweep vs torch autograd loop", ">=", 100.0),
    "speedup_vs_torch_vmap": ("rnngrad.sweep vs torch.func.vmap", ">=", 50.0),
    "speedup_vs_jit_loop": ("rnngrad.sweep vs loop of jitted single scales", ">=", 4.0),
    "fraction_of_peak": ("GFLOP/s / matmul peak at the largest S, T", ">=", 0.40),
    "tt_speedup_vs_torch_jacrev": ("T×T: rnngrad vs torch jacrev loop", ">=", 20.0),
    "tt_speedup_vs_jacrev_map": ("T×T: rnngrad vs jit(lax.map(jacrev))", ">=", 1.5),
    "esn_fit_s": ("ESN ridge readout fit time [s]", "<", 2.0),
    "long_rss_gib": ("long-sequence profile peak RSS [GiB]", "<", 1.0),
}


# --------------------------------------------------------------------------- setup


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--out", default="results/benchmark", help="output folder")
    parser.add_argument(
        "--devices", type=int, default=None, help="force N host (CPU) devices via XLA_FLAGS"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per row (>= 1)")
    parser.add_argument(
        "--scaling-scales",
        default=None,
        help="comma-separated S values of the scaling table (default 64,256,1024,4096), "
        "e.g. 64,1024,16384,65536 on a GPU",
    )
    parser.add_argument(
        "--long-length",
        type=int,
        default=None,
        help="T of the long-sequence row (default 10^6; a multiple of 1000), e.g. 10^5 on "
        "a GPU, where each of the 10^6 sequential steps costs a kernel launch",
    )
    parser.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.devices is not None and args.devices < 1:
        parser.error(f"--devices must be >= 1, got {args.devices}")
    if args.scaling_scales is not None:
        try:
            scales = tuple(int(v) for v in args.scaling_scales.split(","))
        except ValueError:
            scales = ()
        if not scales or min(scales) < 1:
            parser.error(
                "--scaling-scales must be positive ints separated by commas, "
                f"got {args.scaling_scales!r}"
            )
        args.scaling_scales = scales
    if args.long_length is not None and (args.long_length < 1000 or args.long_length % 1000):
        parser.error(f"--long-length must be a positive multiple of 1000, got {args.long_length}")
    return args


def _force_devices(n: int | None) -> None:
    """Set XLA_FLAGS for N host devices; must run before jax is imported."""
    if n is None:
        return
    flags = re.sub(rf"{DEVICE_FLAG}=\S+", "", os.environ.get("XLA_FLAGS", "")).split()
    os.environ["XLA_FLAGS"] = " ".join([*flags, f"{DEVICE_FLAG}={n}"])


def _jax(devices: int | None = None) -> tuple[Any, Any, Any]:
    """Import jax (after XLA_FLAGS is set), float32 everywhere, and rnngrad."""
    import jax
    import jax.numpy as jnp

    import rnngrad as rg

    jax.config.update("jax_enable_x64", False)
    if devices is not None and jax.device_count() != devices:
        raise RuntimeError(
            f"--devices {devices} asked for {devices} host devices but jax sees "
            f"{jax.device_count()}: jax was imported before XLA_FLAGS could be set. Run the "
            "script as a program (python experiments/benchmark.py --devices N)."
        )
    return jax, jnp, rg


def _torch() -> tuple[Any, str | None]:
    """PyTorch, or None and the reason it is unavailable."""
    if os.environ.get(NO_TORCH_ENV):
        return None, f"torch not installed (hidden by {NO_TORCH_ENV})"
    try:
        import torch
    except ImportError:
        return None, "torch not installed"
    torch.set_num_threads(os.cpu_count() or 1)
    return torch, None


def _max_rss_mib() -> float:
    """This process's peak resident set size (a high-water mark), in MiB.

    On Linux, VmHWM from /proc/self/status: the high-water mark of this process's own
    address space. (``getrusage().ru_maxrss`` survives ``exec``, so a worker started
    from a big parent would report the parent's peak.) Elsewhere, ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes / KiB


class _RssSampler:
    """Sample this process's resident set size every `interval` seconds in a thread.

    Linux updates VmHWM lazily (memory handed back with madvise is never counted), so the
    peak reported is the larger of VmHWM and the sampled maximum of VmRSS.
    """

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.max_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current_mib() -> float:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, AttributeError):
            return 0.0

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.max_mib = max(self.max_mib, self.current_mib())

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak_mib(self) -> float:
        return max(_max_rss_mib(), self.max_mib, self.current_mib())


def _loadavg() -> list[float] | None:
    """1, 5 and 15 minute load averages: other jobs on the machine distort the timings."""
    try:
        return list(os.getloadavg())
    except (OSError, AttributeError):
        return None


def _timeit(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> tuple[dict, Any]:
    """Warm up, then time `repeats` calls; `fn` must block until its result is ready."""
    value = None
    for _ in range(warmup):
        value = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    stats = {"median_s": statistics.median(times), "min_s": min(times), "times_s": times}
    return stats, value


def _time_torch(torch: Any, fn: Callable[[], Any], repeats: int) -> tuple[dict, Any]:
    """Time a PyTorch row with 1 thread and with all cores; the faster median is the row.

    Both are reported. On a small, busy CPU torch's multi-threaded (OpenMP) kernels can be
    many times slower than one thread for these small products, so taking only the
    all-cores time would flatter rnngrad. A thread count whose warm-up call is over 3x
    slower than the other's median is recorded but not repeated (it would dominate the
    runtime).
    """
    cores = os.cpu_count() or 1
    by_threads: dict[str, dict] = {}
    value = None
    for n in sorted({1, cores}):
        torch.set_num_threads(n)
        start = time.perf_counter()
        value = fn()
        warmup = time.perf_counter() - start
        done = [r["median_s"] for r in by_threads.values() if "median_s" in r]
        if done and warmup > 3 * min(done):
            by_threads[str(n)] = {"warmup_s": warmup, "not_repeated": "warm-up > 3x slower"}
            continue
        stats, value = _timeit(fn, repeats, warmup=0)
        stats["warmup_s"] = warmup
        by_threads[str(n)] = stats
    torch.set_num_threads(cores)
    best = min(
        (k for k, r in by_threads.items() if "median_s" in r),
        key=lambda k: by_threads[k]["median_s"],
    )
    row = dict(by_threads[best])
    row.update(threads=int(best), by_threads=by_threads)
    return row, value


def _profile_flops(scales: int, length: int, hidden: int, inputs: int) -> int:
    """Analytic FLOPs of S final-step profiles: (2H² + 2HI) forward + 2H² backward per step."""
    return scales * length * (4 * hidden * hidden + 2 * hidden * inputs)


class _Problem:
    """The reference problem: a vanilla tanh cell, inputs, scales (all float32)."""

    def __init__(self, hidden: int, inputs: int, length: int):
        jax, jnp, rg = _jax()
        self.hidden, self.inputs, self.length = hidden, inputs, length
        self.cell = rg.VanillaCell(inputs, hidden, key=jax.random.key(0))
        self.xs = jax.random.normal(jax.random.key(1), (length, inputs), jnp.float32)
        self.ys = 0.5 * jax.random.normal(jax.random.key(2), (length, hidden), jnp.float32)
        self.carry0 = jnp.zeros((hidden,), jnp.float32)

    def profile(self, scale: Any) -> Any:
        """log10 ‖∂L/∂s_k‖, k = 0..T-1, for L = Σ h_T and W_rec scaled by `scale`."""
        _, jnp, rg = _jax()
        cell = rg.scale_recurrent(self.cell, scale)
        return rg.final_step_profile(cell, self.xs, self.carry0, jnp.sum).log_norms

    def step_loss(self, h: Any, y: Any) -> Any:
        _, jnp, _ = _jax()
        return 0.5 * jnp.sum((h - y) ** 2)

    def contributions(self, scale: Any, method: str = "scan") -> Any:
        """(T, T) log10 ‖∂L_t/∂s_k‖ for L = Σ_t ½‖h_t − y_t‖²."""
        _, _, rg = _jax()
        cell = rg.scale_recurrent(self.cell, scale)
        res = rg.timestep_contributions(
            cell, self.xs, self.carry0, self.step_loss, self.ys, method=method
        )
        return res.log_norms

    def numpy_params(self) -> dict[str, np.ndarray]:
        return {
            "weight_hh": np.asarray(self.cell.weight_hh),
            "weight_ih": np.asarray(self.cell.weight_ih),
            "bias": np.asarray(self.cell.bias),
            "xs": np.asarray(self.xs),
            "ys": np.asarray(self.ys),
        }


def _scales(n: int) -> np.ndarray:
    return np.linspace(0.5, 1.5, n, dtype=np.float32)


# --------------------------------------------------------------------------- PyTorch


def _torch_tensors(torch: Any, params: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: torch.from_numpy(np.array(v, np.float32)) for k, v in params.items()}


def torch_profile_loop(torch: Any, params: dict[str, np.ndarray], scales: np.ndarray) -> Any:
    """‖∂L/∂h_k‖ (S, T) by a PyTorch autograd loop: retain_grad on every state."""
    p = _torch_tensors(torch, params)
    w_hh, w_ih, b, xs = p["weight_hh"], p["weight_ih"], p["bias"], p["xs"]
    length, hidden = xs.shape[0], w_hh.shape[0]
    out = torch.empty(len(scales), length, dtype=torch.float64)
    for i, scale in enumerate(torch.from_numpy(scales)):
        h = torch.zeros(hidden, requires_grad=True)
        states = []
        for t in range(length):
            h = torch.tanh(scale * (w_hh @ h) + w_ih @ xs[t] + b)
            h.retain_grad()
            states.append(h)
        h.sum().backward()
        with torch.no_grad():
            out[i] = torch.linalg.vector_norm(torch.stack([s.grad for s in states]).double(), dim=1)
    return out.numpy()


def torch_profile_vmap(torch: Any, params: dict[str, np.ndarray], scales: np.ndarray) -> Any:
    """‖∂L/∂h_k‖ (S, T) with torch.func: vmap over scales of grad w.r.t. zero perturbations."""
    from torch.func import grad, vmap

    p = _torch_tensors(torch, params)
    w_hh, w_ih, b, xs = p["weight_hh"], p["weight_ih"], p["bias"], p["xs"]
    length, hidden = xs.shape[0], w_hh.shape[0]

    def final_loss(eps: Any, scale: Any) -> Any:
        h = torch.zeros(hidden)
        for t, e in enumerate(eps.unbind(0)):
            h = torch.tanh(scale * (w_hh @ h) + w_ih @ xs[t] + b) + e
        return h.sum()

    eps = torch.zeros(length, hidden)
    grads = vmap(grad(final_loss), in_dims=(None, 0))(eps, torch.from_numpy(scales))
    return torch.linalg.vector_norm(grads.double(), dim=-1).detach().numpy()


def torch_contributions_jacrev(
    torch: Any, params: dict[str, np.ndarray], scales: np.ndarray
) -> Any:
    """(S, T, T) ‖∂L_t/∂h_k‖ by a loop over scales of torch.func.jacrev (T × T × H each)."""
    from torch.func import jacrev

    p = _torch_tensors(torch, params)
    w_hh, w_ih, b, xs, ys = p["weight_hh"], p["weight_ih"], p["bias"], p["xs"], p["ys"]
    length, hidden = xs.shape[0], w_hh.shape[0]

    def step_losses(eps: Any, scale: Any) -> Any:
        h = torch.zeros(hidden)
        losses = []
        for t, e in enumerate(eps.unbind(0)):
            h = torch.tanh(scale * (w_hh @ h) + w_ih @ xs[t] + b) + e
            losses.append(0.5 * torch.sum((h - ys[t]) ** 2))
        return torch.stack(losses)

    jac = jacrev(step_losses)
    eps = torch.zeros(length, hidden)
    out = [torch.linalg.vector_norm(jac(eps, s).double(), dim=-1) for s in torch.from_numpy(scales)]
    return torch.stack(out).detach().numpy()


# --------------------------------------------------------------------------- rows


def _log10(norms: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log10(np.asarray(norms, np.float64))


def reference_log10_profile_f64(params: dict[str, np.ndarray], scales: np.ndarray) -> np.ndarray:
    """log10 ‖∂L/∂h_k‖ (S, T) by textbook BPTT in float64 numpy, batched over scales.

    The cotangent is rescaled to unit norm after every step (its log norm accumulated), so
    the reference does not underflow either.
    """
    w_hh, w_ih, b, xs = (
        np.asarray(params[k], np.float64) for k in ("weight_hh", "weight_ih", "bias", "xs")
    )
    s = np.asarray(scales, np.float64)[:, None]
    h = np.zeros((len(s), w_hh.shape[0]))
    states = []
    for x in xs:
        h = np.tanh(s * (h @ w_hh.T) + w_ih @ x + b)
        states.append(h)
    g = np.ones_like(h)  # ∂(Σ h_T)/∂h_T
    log_scale = np.zeros(len(s))
    out = np.empty((len(s), len(xs)))
    for k in range(len(xs) - 1, -1, -1):
        norm = np.linalg.norm(g, axis=1)
        out[:, k] = log_scale + np.log10(norm)
        g = g / norm[:, None]
        log_scale = out[:, k]
        g = s * ((g * (1.0 - states[k] ** 2)) @ w_hh)  # pull back through step k
    return out


def reference_log10_contributions_f64(
    params: dict[str, np.ndarray], scales: np.ndarray
) -> np.ndarray:
    """log10 ‖∂L_t/∂h_k‖ (S, T, T) for L_t = ½‖h_t − y_t‖², float64 numpy BPTT (log space).

    All rows t are pulled back together, each renormalised every step; entries above the
    diagonal (k > t) are -inf.
    """
    w_hh, w_ih, b, xs, ys = (
        np.asarray(params[k], np.float64) for k in ("weight_hh", "weight_ih", "bias", "xs", "ys")
    )
    s = np.asarray(scales, np.float64)[:, None]
    n_s, length, hidden = len(s), len(xs), w_hh.shape[0]
    h = np.zeros((n_s, hidden))
    states = []
    for x in xs:
        h = np.tanh(s * (h @ w_hh.T) + w_ih @ x + b)
        states.append(h)
    rows = np.zeros((n_s, length, hidden))  # row t: ∂L_t/∂h_k / exp(log_scale[:, t])
    log_scale = np.full((n_s, length), -np.inf)
    out = np.full((n_s, length, length), -np.inf)
    with np.errstate(divide="ignore"):
        for k in range(length - 1, -1, -1):
            g = states[k] - ys[k]  # ∂L_k/∂h_k
            norm = np.linalg.norm(g, axis=1)
            rows[:, k] = g / norm[:, None]
            log_scale[:, k] = np.log10(norm)
            out[:, k:, k] = log_scale[:, k:]
            rows = s[:, :, None] * ((rows * (1.0 - states[k][:, None, :] ** 2)) @ w_hh)
            norm = np.linalg.norm(rows, axis=2)
            safe = np.where(norm > 0, norm, 1.0)
            rows = rows / safe[:, :, None]
            log_scale = log_scale + np.log10(norm)
    return out


def _agreement(logs: np.ndarray, reference_logs: np.ndarray, floor: float = -30.0) -> float:
    """Max |Δ log10| where the reference is finite and its norm above 10**floor.

    The floor leaves out norms that a float32 computation cannot represent accurately:
    jnp.linalg.norm squares without rescaling, so in float32 (denormals flushed on CPU)
    it returns 0 or a truncated sum below ~1e-19; a float32 gradient loses digits once
    its entries approach the smallest normal float32 (~1.2e-38).
    """
    mask = np.isfinite(reference_logs) & (reference_logs > floor)
    if not mask.any():
        return float("nan")
    return float(np.max(np.abs(logs[mask].astype(np.float64) - reference_logs[mask])))


def bench_profile(sizes: Sizes, repeats: int, torch: Any, skip: str | None) -> dict:
    jax, jnp, rg = _jax()
    prob = _Problem(sizes.hidden, sizes.inputs, sizes.length)
    scales = _scales(sizes.scales)
    n_s, length, hidden = sizes.scales, sizes.length, sizes.hidden
    flops = _profile_flops(n_s, length, hidden, sizes.inputs)
    rows: dict[str, Any] = {}

    stats, logs = _timeit(lambda: rg.sweep(prob.profile, scale=scales).values, repeats)
    stats["gflops"] = flops / stats["median_s"] / 1e9
    rows["rnngrad_sweep"] = stats

    single = jax.jit(prob.profile)

    def loop() -> np.ndarray:
        outs = [single(s) for s in scales]
        return np.stack([np.asarray(o) for o in outs])

    rows["jit_loop"], loop_logs = _timeit(loop, repeats)
    checks: dict[str, Any] = {
        "sweep_vs_jit_loop_max_abs_dlog10": float(np.max(np.abs(logs - loop_logs))),
        "rnngrad_all_finite": bool(np.isfinite(logs).all()),
        "rnngrad_min_log10_norm": float(np.min(logs)),
    }
    reference = reference_log10_profile_f64(prob.numpy_params(), scales)
    checks["rnngrad_vs_float64_max_abs_dlog10"] = _agreement(logs, reference, -np.inf)
    checks["float64_min_log10_norm"] = float(np.min(reference))

    # Physics: Pascanu et al.'s bound ‖∂L/∂s_k‖ ≤ ‖g‖ (γ‖W_rec‖₂)^(T-1-k), with ‖g‖ = √H.
    lags = np.arange(length - 1, -1, -1, dtype=np.float32)  # lag of k = 0..T-1

    def bound(scale: Any) -> Any:
        cell = rg.scale_recurrent(prob.cell, scale)
        return rg.pascanu_bound(cell, lags, grad_norm=math.sqrt(hidden), log10=True)

    bounds = np.asarray(jax.jit(jax.vmap(bound))(jnp.asarray(scales)))
    checks["pascanu_bound_max_excess_log10"] = float(np.max(logs - bounds))
    checks["pascanu_bound_holds"] = bool(np.max(logs - bounds) <= 1e-3)
    decay = {}
    for s in (0.5, 1.0, 1.5):
        i = int(np.argmin(np.abs(scales - s)))
        decay[f"{float(scales[i]):.3f}"] = {
            "log10_norm_lag0": float(logs[i, -1]),
            f"log10_norm_lag{length - 1}": float(logs[i, 0]),
            "decades_per_step": float((logs[i, 0] - logs[i, -1]) / (length - 1)),
        }
    checks["decay_by_scale"] = decay

    for name, fn in (("torch_loop", torch_profile_loop), ("torch_vmap", torch_profile_vmap)):
        if torch is None:
            rows[name] = {"skipped": skip}
            continue
        params = prob.numpy_params()
        rows[name], norms = _time_torch(
            torch, lambda fn=fn, params=params: fn(torch, params, scales), repeats
        )
        t_logs = _log10(norms)
        checks[f"{name}_vs_float64_max_abs_dlog10"] = _agreement(t_logs, reference)
        checks[f"{name}_vs_rnngrad_max_abs_dlog10"] = _agreement(logs, t_logs)
        checks[f"{name}_zeros_where_rnngrad_finite"] = int(np.sum((norms == 0) & np.isfinite(logs)))
    for name in ("jit_loop", "torch_loop", "torch_vmap"):
        if "median_s" in rows[name]:
            rows[name]["speedup_of_rnngrad"] = rows[name]["median_s"] / stats["median_s"]
    return {
        "config": {"hidden": hidden, "inputs": sizes.inputs, "length": length, "scales": n_s},
        "rows_entries": n_s * length,
        "flops": flops,
        "rows": rows,
        "checks": checks,
    }


def bench_contributions(sizes: Sizes, repeats: int, torch: Any, skip: str | None) -> dict:
    jax, jnp, rg = _jax()
    prob = _Problem(sizes.hidden, sizes.inputs, sizes.length)
    scales = _scales(sizes.tt_scales)
    rows: dict[str, Any] = {}
    stats, logs = _timeit(lambda: rg.sweep(prob.contributions, scale=scales).values, repeats)
    rows["rnngrad_sweep"] = stats

    mapped = jax.jit(lambda s: jax.lax.map(lambda c: prob.contributions(c, "jacrev"), s))
    scales_j = jnp.asarray(scales)
    rows["jacrev_lax_map"], ref = _timeit(lambda: np.asarray(mapped(scales_j)), repeats)
    reference = reference_log10_contributions_f64(prob.numpy_params(), scales)
    lower = np.tril(np.ones((sizes.length, sizes.length), bool))
    low_ref, low_jac = reference[:, lower], ref[:, lower]
    checks = {
        "rnngrad_vs_float64_max_abs_dlog10": _agreement(logs[:, lower], low_ref, -np.inf),
        # method="jacrev" is linear-space float32 and takes jnp.linalg.norm, whose squares
        # underflow: sound above ~1e-15, off near 1e-18, 0 below ~1e-19.
        "jacrev_vs_float64_max_abs_dlog10_above_1e-15": _agreement(low_jac, low_ref, -15.0),
        "jacrev_vs_float64_max_abs_dlog10_nonzero": _agreement(
            low_ref, np.where(np.isfinite(low_jac), low_jac, np.nan), -np.inf
        ),
        "jacrev_zeros_where_float64_nonzero": int(np.sum(~np.isfinite(low_jac))),
        "lower_triangle_entries": int(low_ref.size),
    }
    if torch is None:
        rows["torch_jacrev_loop"] = {"skipped": skip}
    else:
        params = prob.numpy_params()
        rows["torch_jacrev_loop"], norms = _time_torch(
            torch, lambda: torch_contributions_jacrev(torch, params, scales), repeats
        )
        t_low = _log10(norms)[:, lower]
        checks["torch_jacrev_vs_float64_max_abs_dlog10"] = _agreement(t_low, low_ref)
        checks["torch_jacrev_zeros_where_float64_nonzero"] = int(np.sum(t_low == -np.inf))
    for name in ("jacrev_lax_map", "torch_jacrev_loop"):
        if "median_s" in rows[name]:
            rows[name]["speedup_of_rnngrad"] = rows[name]["median_s"] / stats["median_s"]
    config = {"hidden": sizes.hidden, "length": sizes.length, "scales": sizes.tt_scales}
    return {"config": config, "rows": rows, "checks": checks}


def bench_matmul(sizes: Sizes, repeats: int) -> dict:
    jax, jnp, _ = _jax()
    matmul = jax.jit(jnp.matmul)
    out: dict[str, Any] = {}
    for n in sizes.matmul:
        a = jax.random.normal(jax.random.key(10), (n, n), jnp.float32)
        b = jax.random.normal(jax.random.key(11), (n, n), jnp.float32)
        stats, _ = _timeit(lambda a=a, b=b: matmul(a, b).block_until_ready(), repeats)
        stats["gflops"] = 2 * n**3 / stats["median_s"] / 1e9
        out[str(n)] = stats
    out["peak_gflops"] = max(v["gflops"] for v in out.values())
    return out


def _run_worker(spec: dict) -> Any:
    """Run this script in a fresh Python on `spec`; return the JSON its worker prints."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_worker", json.dumps(spec)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=os.environ.copy())
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(WORKER_TAG)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(
            f"benchmark worker {spec} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return json.loads(lines[-1][len(WORKER_TAG) :])


def bench_scaling(sizes: Sizes, repeats: int, quick: bool) -> dict:
    configs = [
        {"scales": s, "length": t} for t in sizes.scaling_lengths for s in sizes.scaling_scales
    ]
    base = {"kind": "scaling", "hidden": sizes.hidden, "inputs": sizes.inputs, "repeats": repeats}
    if quick:  # one worker for all (fast); its RSS is a cumulative high-water mark
        results = _run_worker({**base, "configs": configs})
    else:  # a fresh process per configuration: each RSS is that configuration's own peak
        results = [_run_worker({**base, "configs": [c]})[0] for c in configs]
    return {"rows": results, "rss_cumulative": quick, "own_process_per_config": not quick}


def bench_long(sizes: Sizes, repeats: int) -> dict:
    spec = {
        "kind": "long",
        "hidden": 64,
        "inputs": 8,
        "length": sizes.long_length,
        "block": sizes.long_block,
        "repeats": repeats,
    }
    return _run_worker(spec)


def bench_esn(sizes: Sizes, repeats: int) -> dict:
    jax, jnp, rg = _jax()
    if not hasattr(rg, "ridge_readout"):
        return {"skipped": "rg.ridge_readout not available"}
    n, steps = sizes.esn_units, sizes.esn_steps
    key = jax.random.key(20)
    if hasattr(rg, "EchoStateCell"):
        cell = rg.EchoStateCell(1, n, spectral_radius=0.9, key=key)
        reservoir = "rg.EchoStateCell(spectral_radius=0.9)"
    else:
        cell = rg.VanillaCell(1, n, weight_hh_init=rg.init.gaussian(0.9), key=key)
        reservoir = "rg.VanillaCell(gaussian(0.9))"
    t = jnp.arange(steps + 1, dtype=jnp.float32)
    signal = jnp.sin(0.2 * t) * jnp.cos(0.031 * t)
    inputs, targets = signal[:-1, None], signal[1:]
    washout = steps // 10
    states = jax.jit(rg.unroll)(cell, inputs, jnp.zeros((n,), jnp.float32))[washout:]
    targets = targets[washout:]
    states.block_until_ready()
    stats, readout = _timeit(
        lambda: np.asarray(rg.ridge_readout(states, targets, ridge=1e-6)), repeats
    )
    x = np.asarray(states, np.float64)
    pred = x @ readout[:-1] + readout[-1]
    y = np.asarray(targets, np.float64)
    stats["train_nrmse"] = float(np.sqrt(np.mean((pred - y) ** 2)) / np.std(y))
    stats.update(units=n, steps=steps, washout=washout, reservoir=reservoir, dtype="float32")
    return stats


# --------------------------------------------------------------------------- workers


def _worker(spec: dict) -> None:
    with _RssSampler() as rss:
        _worker_body(spec, rss)


def _worker_body(spec: dict, rss: _RssSampler) -> None:
    jax, jnp, rg = _jax()
    hidden, inputs, repeats = spec["hidden"], spec["inputs"], spec["repeats"]
    if spec["kind"] == "scaling":
        rows = []
        for config in spec["configs"]:
            n_s, length = config["scales"], config["length"]
            prob = _Problem(hidden, inputs, length)
            scales = _scales(n_s)
            rss_before = rss.peak_mib()
            stats, logs = _timeit(
                lambda prob=prob, scales=scales: rg.sweep(prob.profile, scale=scales).values,
                repeats,
            )
            flops = _profile_flops(n_s, length, hidden, inputs)
            stats.update(
                scales=n_s,
                length=length,
                flops=flops,
                gflops=flops / stats["median_s"] / 1e9,
                peak_rss_mib=rss.peak_mib(),
                rss_before_mib=rss_before,
                all_finite=bool(np.isfinite(logs).all()),
            )
            rows.append(stats)
        print(WORKER_TAG + json.dumps(rows), flush=True)
        return
    if spec["kind"] == "long":
        length, block = spec["length"], spec["block"]
        cell = rg.VanillaCell(inputs, hidden, key=jax.random.key(0))
        xs = jax.random.normal(jax.random.key(3), (length, inputs), jnp.float32)
        carry0 = jnp.zeros((hidden,), jnp.float32)

        @jax.jit
        def profile(xs: Any) -> Any:
            prof = rg.final_step_profile(cell, xs, carry0, jnp.sum, checkpoint_every=block)
            return prof.log_norms

        xs.block_until_ready()
        rss_before = rss.peak_mib()
        start = time.perf_counter()
        compiled = profile.lower(xs).compile()
        compile_s = time.perf_counter() - start
        stats, logs = _timeit(lambda: np.asarray(compiled(xs)), repeats)
        stats.update(
            length=length,
            hidden=hidden,
            checkpoint_every=block,
            compile_s=compile_s,
            peak_rss_mib=rss.peak_mib(),
            rss_before_mib=rss_before,
            all_finite=bool(np.isfinite(logs).all()),
            log10_norm_lag0=float(logs[-1]),
            log10_norm_max_lag=float(logs[0]),
            stored_states_without_checkpointing_mib=length * hidden * 4 / 2**20,
        )
        print(WORKER_TAG + json.dumps(stats), flush=True)
        return
    raise ValueError(f"unknown worker kind {spec['kind']!r}")


# --------------------------------------------------------------------------- report


def _fmt_s(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:7.1f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:7.2f} ms"
    return f"{seconds:7.3f} s "


def _target(key: str, value: float | None) -> dict:
    what, op, threshold = TARGETS[key]
    if value is None or not math.isfinite(value):
        return {"what": what, "op": op, "target": threshold, "value": None, "status": "skipped"}
    met = value >= threshold if op == ">=" else value < threshold
    return {
        "what": what,
        "op": op,
        "target": threshold,
        "value": value,
        "status": "met" if met else "short",
    }


def _row(label: str, row: dict, extra: str = "") -> None:
    if "skipped" in row:
        print(f"  {label:<42} skipped: {row['skipped']}")
        return
    speed = row.get("speedup_of_rnngrad")
    speed_s = f"{speed:9.1f}x" if speed is not None else f"{'1.0x':>10}"
    if "threads" in row:  # a torch row: say which thread count won and what the other took
        others = [
            f"{n} threads: "
            + (
                _fmt_s(r["median_s"]).strip()
                if "median_s" in r
                else f"warm-up {r['warmup_s']:.2f} s"
            )
            for n, r in row["by_threads"].items()
            if n != str(row["threads"])
        ]
        extra = f"torch threads={row['threads']}" + (f" ({'; '.join(others)})" if others else "")
    print(f"  {label:<42} {_fmt_s(row['median_s'])}  {_fmt_s(row['min_s'])}  {speed_s}  {extra}")


def _report(record: dict) -> None:
    env, prof, tt = record["environment"], record["profile"], record["contributions"]
    mm, sc, lg, esn = record["matmul"], record["scaling"], record["long"], record["esn"]
    print(
        f"rnngrad benchmark ({'quick' if record['quick'] else 'full'}): jax "
        f"{env['jax']} on {env['device_count']} {env['backend']} device(s), "
        f"{env['cpu_count']} cores, {env['dtype']}; torch {env['torch']}"
    )
    if env["loadavg_start"] is not None:
        start, end = env["loadavg_start"][0], env["loadavg_end"][0]
        print(
            f"load average (1 min) {start:.2f} at start, {end:.2f} at end "
            "(well above 0: other jobs share the CPU)"
        )
    c = prof["config"]
    print(
        f"\n[1] per-step ||dL/ds_k|| of a final-step loss: tanh, H={c['hidden']}, "
        f"I={c['inputs']}, T={c['length']}, S={c['scales']} scales in [0.5, 1.5]"
    )
    print(f"  {'method':<42} {'median':>10}  {'min':>10}  {'rnngrad is':>10}")
    rows = prof["rows"]
    _row(
        "rnngrad.sweep (one jit(vmap))",
        rows["rnngrad_sweep"],
        f"{rows['rnngrad_sweep']['gflops']:.1f} GFLOP/s",
    )
    _row("Python loop over jit(single scale)", rows["jit_loop"])
    _row("torch autograd loop (retain_grad)", rows["torch_loop"])
    _row("torch.func.vmap(grad) over scales", rows["torch_vmap"])
    ch = prof["checks"]
    print(
        f"  checks: sweep == loop to {ch['sweep_vs_jit_loop_max_abs_dlog10']:.1e} decades; "
        f"rnngrad (float32) == float64 BPTT to {ch['rnngrad_vs_float64_max_abs_dlog10']:.1e} "
        f"decades at every entry, down to 1e{ch['rnngrad_min_log10_norm']:.1f} "
        f"(all finite: {ch['rnngrad_all_finite']})"
    )
    print(
        f"  Pascanu bound sqrt(H) (||W_rec||_2)^lag holds: {ch['pascanu_bound_holds']} "
        f"(max excess {ch['pascanu_bound_max_excess_log10']:.2f} decades)"
    )
    for name in ("torch_loop", "torch_vmap"):
        if f"{name}_vs_float64_max_abs_dlog10" in ch:
            print(
                f"  {name}: == float64 to {ch[f'{name}_vs_float64_max_abs_dlog10']:.1e} decades "
                f"where its norm > 1e-30; exact zeros (float32 underflow) on "
                f"{ch[f'{name}_zeros_where_rnngrad_finite']} of {prof['rows_entries']} entries"
            )
    for s, d in ch["decay_by_scale"].items():
        lag_key = [k for k in d if k.startswith("log10_norm_lag") and k != "log10_norm_lag0"][0]
        print(
            f"  scale {s}: log10 norm {d['log10_norm_lag0']:.2f} at lag 0, {d[lag_key]:.2f} at "
            f"lag {lag_key[len('log10_norm_lag') :]} ({d['decades_per_step']:+.3f} decades/step)"
        )

    c = tt["config"]
    print(f"\n[2] T x T contributions ||dL_t/ds_k||: T={c['length']}, S={c['scales']} scales")
    _row("rg.timestep_contributions under rg.sweep", tt["rows"]["rnngrad_sweep"])
    _row("jit(lax.map(method='jacrev'))", tt["rows"]["jacrev_lax_map"])
    _row("torch loop of torch.func.jacrev", tt["rows"]["torch_jacrev_loop"])
    tch = tt["checks"]
    n_low = tch["lower_triangle_entries"]
    print(
        f"  checks vs float64 BPTT (lower triangle, {n_low} entries): rnngrad to "
        f"{tch['rnngrad_vs_float64_max_abs_dlog10']:.1e} decades at every entry; "
        f"method='jacrev' (float32, linear space) to "
        f"{tch['jacrev_vs_float64_max_abs_dlog10_above_1e-15']:.1e} above 1e-15, "
        f"{tch['jacrev_vs_float64_max_abs_dlog10_nonzero']:.1e} over its nonzero entries, "
        f"0 on {tch['jacrev_zeros_where_float64_nonzero']}"
    )
    if "torch_jacrev_vs_float64_max_abs_dlog10" in tch:
        print(
            f"  torch jacrev: to {tch['torch_jacrev_vs_float64_max_abs_dlog10']:.1e} decades where"
            f" its norm > 1e-30, 0 on {tch['torch_jacrev_zeros_where_float64_nonzero']}"
        )

    print("\n[3] float32 matmul peak (jnp.matmul, n x n)")
    for n in (k for k in mm if k != "peak_gflops"):
        print(f"  n={n:<6} {_fmt_s(mm[n]['median_s'])}  {mm[n]['gflops']:8.1f} GFLOP/s")
    print(f"  peak: {mm['peak_gflops']:.1f} GFLOP/s")

    print(
        "\n[4] scaling of rnngrad.sweep (final-step profile): peak RSS "
        + (
            "cumulative over configs (quick: one process)"
            if sc["rss_cumulative"]
            else "of a fresh process per config"
        )
    )
    print(
        f"  {'S':>6} {'T':>6} {'median':>10} {'min':>10} {'GFLOP/s':>9} {'% peak':>7} "
        f"{'RSS MiB':>8}"
    )
    for r in sc["rows"]:
        print(
            f"  {r['scales']:>6} {r['length']:>6} {_fmt_s(r['median_s'])} {_fmt_s(r['min_s'])} "
            f"{r['gflops']:9.1f} {100 * r['fraction_of_peak']:6.1f}% {r['peak_rss_mib']:8.0f}"
        )

    print("\n[5] ESN ridge readout fit")
    if "skipped" in esn:
        print(f"  skipped: {esn['skipped']}")
    else:
        print(
            f"  {esn['units']} units x {esn['steps']} steps (washout {esn['washout']}, "
            f"{esn['dtype']}, {esn['reservoir']}):"
            f" {_fmt_s(esn['median_s'])} median, {_fmt_s(esn['min_s'])} min; train NRMSE "
            f"{esn['train_nrmse']:.2e}"
        )

    print(
        f"\n[6] long sequence: final_step_profile, T={lg['length']}, H={lg['hidden']}, "
        f"checkpoint_every={lg['checkpoint_every']} (fresh process)"
    )
    print(
        f"  time {_fmt_s(lg['median_s'])} (compile {_fmt_s(lg['compile_s'])}); peak RSS "
        f"{lg['peak_rss_mib']:.0f} MiB ({lg['rss_before_mib']:.0f} MiB before compiling; "
        f"storing all states would take {lg['stored_states_without_checkpointing_mib']:.0f} "
        f"MiB); log10 norm at lag {lg['length'] - 1}: {lg['log10_norm_max_lag']:.1f}, "
        f"all finite: {lg['all_finite']}"
    )

    print(
        "\n[7] targets (ratios measured in this run"
        + (", quick sizes)" if record["quick"] else ")")
    )
    for t in record["targets"].values():
        value = "-" if t["value"] is None else f"{t['value']:.3g}"
        print(f"  {t['what']:<48} {value:>9}  {t['op']} {t['target']:<6g} {t['status']}")
    for note in record["notes"]:
        print(f"  note: {note}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _write_json(record: dict, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    import rnngrad as rg  # imported only here: jax must not load before _force_devices

    text = json.dumps(_jsonable(record), indent=1, allow_nan=False)
    return rg.atomic_write(out / "benchmark.json", lambda f: f.write(text), mode="w")


def main(argv: list[str] | None = None) -> dict:
    args = _parse(argv)
    _force_devices(args.devices)
    if args._worker is not None:
        _worker(json.loads(args._worker))
        return {}
    jax, jnp, rg = _jax(args.devices)
    torch, skip = _torch()
    sizes = QUICK if args.quick else FULL
    if args.scaling_scales is not None:
        sizes = dataclasses.replace(sizes, scaling_scales=args.scaling_scales)
    if args.long_length is not None:
        sizes = dataclasses.replace(sizes, long_length=args.long_length)
    start = time.perf_counter()

    record: dict[str, Any] = {
        "quick": args.quick,
        "sizes": dataclasses.asdict(sizes),
        "repeats": args.repeats,
        "environment": {
            "jax": jax.__version__,
            "rnngrad": rg.__version__,
            "backend": jax.default_backend(),
            "device_count": jax.device_count(),
            "cpu_count": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "dtype": str(jnp.zeros(()).dtype),
            "torch": torch.__version__ if torch is not None else f"skipped: {skip}",
            "torch_threads": torch.get_num_threads() if torch is not None else None,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "loadavg_start": _loadavg(),
        },
    }
    sections = {
        "matmul": lambda: bench_matmul(sizes, args.repeats),
        "profile": lambda: bench_profile(sizes, args.repeats, torch, skip),
        "contributions": lambda: bench_contributions(sizes, args.repeats, torch, skip),
        "esn": lambda: bench_esn(sizes, args.repeats),
        "scaling": lambda: bench_scaling(sizes, args.repeats, args.quick),
        "long": lambda: bench_long(sizes, args.repeats),
    }
    record["section_s"] = {}
    for name, run in sections.items():
        print(f"[benchmark] {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        record[name] = run()
        record["section_s"][name] = time.perf_counter() - t0
    peak = record["matmul"]["peak_gflops"]
    record["profile"]["rows"]["rnngrad_sweep"]["fraction_of_peak"] = (
        record["profile"]["rows"]["rnngrad_sweep"]["gflops"] / peak
    )
    for row in record["scaling"]["rows"]:
        row["fraction_of_peak"] = row["gflops"] / peak

    prof_rows, tt_rows = record["profile"]["rows"], record["contributions"]["rows"]
    largest = max(record["scaling"]["rows"], key=lambda r: r["scales"] * r["length"])
    values = {
        "speedup_vs_torch_loop": prof_rows["torch_loop"].get("speedup_of_rnngrad"),
        "speedup_vs_torch_vmap": prof_rows["torch_vmap"].get("speedup_of_rnngrad"),
        "speedup_vs_jit_loop": prof_rows["jit_loop"]["speedup_of_rnngrad"],
        "fraction_of_peak": largest["fraction_of_peak"],
        "tt_speedup_vs_torch_jacrev": tt_rows["torch_jacrev_loop"].get("speedup_of_rnngrad"),
        "tt_speedup_vs_jacrev_map": tt_rows["jacrev_lax_map"]["speedup_of_rnngrad"],
        "esn_fit_s": record["esn"].get("median_s"),
        "long_rss_gib": record["long"]["peak_rss_mib"] / 1024,
    }
    record["targets"] = {k: _target(k, v) for k, v in values.items()}
    record["targets"]["fraction_of_peak"]["at"] = {
        "scales": largest["scales"],
        "length": largest["length"],
    }
    record["notes"] = [
        "GFLOP/s count 2H^2 + 2HI forward and 2H^2 backward per step and scale (analytic); "
        "rg.final_step_profile's backward also re-runs each step's forward inside jax.vjp "
        "(one more H x H product and tanh per step) and renormalises the cotangent every "
        "step; neither is counted.",
        "Times are medians of the timed calls after one warm-up (compile) call.",
        "Each torch row is timed with 1 thread and with all cores; the faster is compared.",
        "Peak RSS: max of VmHWM and VmRSS sampled every 2 ms in a fresh process (Linux); it "
        "includes the jax runtime (~0.2-0.3 GiB after import).",
    ]
    record["runtime_s"] = time.perf_counter() - start
    record["environment"]["loadavg_end"] = _loadavg()
    _report(record)
    path = _write_json(record, Path(args.out))
    print(f"\nwrote {path} ({record['runtime_s']:.1f} s)")
    return record


if __name__ == "__main__":
    main()
