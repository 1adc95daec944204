"""Speed: final-step gradient profiles for S recurrent scales in one compiled program.

Command:  python benchmarks/sweep_profile.py [--quick] [--out DIR] [--repeats R] [--devices N]
Runtime:  about 10 s on a 2-core CPU without torch, about a minute with it; --quick ~5 s.
Shows:    ‖∂L/∂s_k‖ of L = Σ_i h_T[i] for a vanilla tanh cell (H = 64, input 8, T = 100),
          S = 256 scales of W_rec in [0.5, 1.5], float32, computed by rg.sweep (one
          jit(vmap)), a Python loop over one jitted single-scale function, a PyTorch autograd
          loop (retain_grad) and torch.func.vmap of grad w.r.t. zero state perturbations;
          how many times slower each is than rg.sweep, and rg.sweep's useful GFLOP/s. Every
          row is checked against the float64 oracle (rnngrad._oracle, log space), and the
          physics: Pascanu's bound √H (‖W_rec‖₂)^lag holds; decay in decades/step at scales
          0.5, 1.0, 1.5. Record: <out>/sweep_profile.json (rows, checks, targets).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

try:
    import _timing as tm
except ImportError:  # imported as benchmarks.sweep_profile
    from benchmarks import _timing as tm


def torch_profile_loop(torch: Any, p: dict, scales: np.ndarray) -> np.ndarray:
    """‖∂L/∂h_k‖ (S, T) by a PyTorch autograd loop over scales, retain_grad on every state."""
    w_hh, w_ih, b, xs = (torch.from_numpy(np.array(p[k], np.float32)) for k in tm.NUMPY_KEYS)
    out = torch.empty(len(scales), len(xs), dtype=torch.float64)
    for i, scale in enumerate(torch.from_numpy(scales)):
        h, states = torch.zeros(w_hh.shape[0], requires_grad=True), []
        for x in xs:
            h = torch.tanh(scale * (w_hh @ h) + w_ih @ x + b)
            h.retain_grad()
            states.append(h)
        h.sum().backward()
        with torch.no_grad():
            out[i] = torch.linalg.vector_norm(torch.stack([s.grad for s in states]).double(), dim=1)
    return out.numpy()


def torch_profile_vmap(torch: Any, p: dict, scales: np.ndarray) -> np.ndarray:
    """‖∂L/∂h_k‖ (S, T) by torch.func.vmap over scales of grad w.r.t. zero perturbations."""
    from torch.func import grad, vmap

    w_hh, w_ih, b, xs = (torch.from_numpy(np.array(p[k], np.float32)) for k in tm.NUMPY_KEYS)

    def final_loss(eps: Any, scale: Any) -> Any:
        h = torch.zeros(w_hh.shape[0])
        for x, e in zip(xs, eps.unbind(0)):
            h = torch.tanh(scale * (w_hh @ h) + w_ih @ x + b) + e
        return h.sum()

    eps = torch.zeros(len(xs), w_hh.shape[0])
    grads = vmap(grad(final_loss), in_dims=(None, 0))(eps, torch.from_numpy(scales))
    return torch.linalg.vector_norm(grads.double(), dim=-1).detach().numpy()


def main(argv: list[str] | None = None) -> dict:
    args = tm.parse(tm.parser(__doc__), argv)
    import jax

    import rnngrad as rg
    from rnngrad import _oracle

    pascanu_bound = rg.theory.pascanu_bound if hasattr(rg, "theory") else rg.pascanu_bound
    started, (torch, skip) = time.perf_counter(), tm.torch_or_skip()
    hidden, inputs, length, n_s = (16, 8, 20, 16) if args.quick else (64, 8, 100, 256)
    prob, scales, rows = tm.Problem(hidden, inputs, length), tm.scales(n_s), {}
    sweep = lambda: np.asarray(rg.sweep(prob.profile, scale=scales).values)
    rows["rnngrad_sweep"], logs = tm.time_fn(sweep, args.repeats)
    single = jax.jit(prob.profile)
    loop = lambda: np.stack([np.asarray(o) for o in [single(s) for s in scales]])
    rows["jit_loop"], loop_logs = tm.time_fn(loop, args.repeats)
    p = prob.numpy()
    reference = _oracle.tanh_final_profile(*(p[k] for k in tm.NUMPY_KEYS), scales)
    lags = np.arange(length - 1, -1, -1, dtype=np.float32)  # lag of state k = 0..T-1
    bound = lambda s: pascanu_bound(
        rg.scale_recurrent(prob.cell, s), lags, grad_norm=math.sqrt(hidden), log10=True
    )
    excess = float(np.max(logs - np.asarray(jax.vmap(bound)(scales))))
    checks: dict[str, Any] = {
        "sweep_vs_jit_loop_max_abs_dlog10": float(np.max(np.abs(logs - loop_logs))),
        "rnngrad_vs_float64_max_abs_dlog10": tm.agreement(logs, reference, -np.inf),
        "rnngrad_all_finite": bool(np.isfinite(logs).all()),
        "rnngrad_min_log10_norm": float(np.min(logs)),
        "pascanu_bound_max_excess_log10": excess,
        "pascanu_bound_holds": excess <= 1e-3,
        "decay_by_scale": {},
    }
    for name, fn in (("torch_loop", torch_profile_loop), ("torch_vmap", torch_profile_vmap)):
        if torch is None:
            rows[name] = {"skipped": skip}
            continue
        rows[name], norms = tm.time_torch(torch, lambda fn=fn: fn(torch, p, scales), args.repeats)
        checks[f"{name}_vs_float64_max_abs_dlog10"] = tm.agreement(tm.log10(norms), reference)
        checks[f"{name}_zeros_where_rnngrad_finite"] = int(np.sum((norms == 0) & np.isfinite(logs)))
    lines = [
        f"per-step ||dL/ds_k|| of a final-step loss: tanh, H={hidden}, I={inputs}, T={length}, "
        f"S={n_s} scales in [0.5, 1.5], float32"
    ]
    for s in (0.5, 1.0, 1.5):
        i = int(np.argmin(np.abs(scales - s)))
        d = checks["decay_by_scale"][f"{scales[i]:.3f}"] = {
            "log10_norm_lag0": float(logs[i, -1]),
            "log10_norm_max_lag": float(logs[i, 0]),
            "decades_per_step": float((logs[i, 0] - logs[i, -1]) / (length - 1)),
        }
        lines.append(
            f"  scale {scales[i]:.3f}: log10 norm {d['log10_norm_lag0']:.2f} at lag 0, "
            f"{d['log10_norm_max_lag']:.2f} at lag {length - 1} ({d['decades_per_step']:+.3f}/step)"
        )
    tm.speedups(rows, "rnngrad_sweep")
    flops = tm.profile_flops(n_s, length, hidden, inputs)
    gflops = rows["rnngrad_sweep"]["gflops"] = flops / rows["rnngrad_sweep"]["median_s"] / 1e9
    labels = {
        "rnngrad_sweep": "rnngrad.sweep (one jit(vmap))",
        "jit_loop": "Python loop over jit(single scale)",
        "torch_loop": "torch autograd loop (retain_grad)",
        "torch_vmap": "torch.func.vmap(grad) over scales",
    }
    lines[1:1] = tm.table(rows, labels, {"rnngrad_sweep": f"{gflops:.1f} GFLOP/s"})
    goals = {"torch_loop": 100.0, "torch_vmap": 50.0, "jit_loop": 4.0}
    targets = {
        f"speedup_vs_{k}": tm.target(
            f"rnngrad.sweep vs {labels[k]}", ">=", goal, rows[k].get("speedup_of_rnngrad")
        )
        for k, goal in goals.items()
    }
    config = {"hidden": hidden, "inputs": inputs, "length": length, "scales": n_s, "flops": flops}
    record = {"config": config, "dtype": str(logs.dtype), "rows": rows, "checks": checks}
    record.update(targets=targets, torch=torch.__version__ if torch else f"skipped: {skip}")
    return tm.finish(args, "sweep_profile", started, lines, record)


if __name__ == "__main__":
    main()
