"""Speed: final-step gradient profiles for S recurrent scales in one compiled program.

Command:  python benchmarks/sweep_profile.py [--quick] [--out DIR] [--repeats R] [--devices N]
Runtime:  about 10 s on a 2-core CPU without torch, about a minute with it; --quick ~5 s.
Measures: ‖∂L/∂s_k‖ of L = Σ_i h_T[i], tanh cell (H = 64, input 8, T = 100), S = 256 scales
          of W_rec in [0.5, 1.5], float32, by rg.sweep (one jit(vmap)), a Python loop of one
          jitted scale, a torch autograd loop (retain_grad) and torch.func.vmap(grad): times,
          slowdowns against rg.sweep, its GFLOP/s; agreement with the float64 oracle; that
          Pascanu's bound √H ‖W_rec‖₂^lag holds; decades/step at scales 0.5, 1.0, 1.5.
Numbers:  printed, and in <out>/sweep_profile.json (rows, checks, targets).
"""

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
    run, out = tm.torch_rnn(torch, p), []
    for scale in torch.from_numpy(scales):
        states = run(scale, h=torch.zeros(len(p["bias"]), requires_grad=True))
        for h in states:
            h.retain_grad()
        states[-1].sum().backward()
        out.append(torch.linalg.vector_norm(torch.stack([h.grad for h in states]).double(), dim=1))
    return torch.stack(out).numpy()


def torch_profile_vmap(torch: Any, p: dict, scales: np.ndarray) -> np.ndarray:
    """‖∂L/∂h_k‖ (S, T) by torch.func.vmap over scales of grad w.r.t. zero perturbations."""
    from torch.func import grad, vmap

    run, eps = tm.torch_rnn(torch, p), torch.zeros(len(p["xs"]), len(p["bias"]))
    final_loss = lambda eps, scale: run(scale, eps)[-1].sum()
    grads = vmap(grad(final_loss), in_dims=(None, 0))(eps, torch.from_numpy(scales))
    return torch.linalg.vector_norm(grads.double(), dim=-1).detach().numpy()


def main(argv: list[str] | None = None) -> dict:
    args = tm.parse(__doc__, argv)
    import jax

    import rnngrad as rg
    from rnngrad import _oracle

    started = time.perf_counter()
    hidden, inputs, length, n_s = (16, 8, 20, 16) if args.quick else (64, 8, 100, 256)
    prob, scales, rows = tm.problem(hidden, inputs, length), tm.scales(n_s), {}
    sweep = lambda: np.asarray(rg.sweep(prob.profile, scale=scales).values)
    rows["rnngrad_sweep"], logs = tm.time_fn(sweep, args.repeats)
    single = jax.jit(prob.profile)
    loop = lambda: np.stack([np.asarray(o) for o in [single(s) for s in scales]])
    rows["jit_loop"], loop_logs = tm.time_fn(loop, args.repeats)
    p = prob.numpy
    reference = _oracle.tanh_final_profile(*(p[k] for k in tm.NUMPY_KEYS), scales)
    lags = np.arange(length - 1, -1, -1, dtype=np.float32)  # lag of state k = 0..T-1
    bound = lambda s: rg.theory.pascanu_bound(
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
    fns = {"torch_loop": torch_profile_loop, "torch_vmap": torch_profile_vmap}
    values, torch_note = tm.time_torch(rows, fns, (p, scales), args.repeats)
    for name, norms in values.items():
        checks[f"{name}_vs_float64_max_abs_dlog10"] = tm.agreement(tm.log10(norms), reference)
        checks[f"{name}_zeros_where_rnngrad_finite"] = int(np.sum((norms == 0) & np.isfinite(logs)))
    flops = tm.profile_flops(n_s, length, hidden, inputs)
    gflops = rows["rnngrad_sweep"]["gflops"] = flops / rows["rnngrad_sweep"]["median_s"] / 1e9
    labels = {
        "rnngrad_sweep": "rnngrad.sweep (one jit(vmap))",
        "jit_loop": "Python loop over jit(single scale)",
        "torch_loop": "torch autograd loop (retain_grad)",
        "torch_vmap": "torch.func.vmap(grad) over scales",
    }
    goals = {f"speedup_vs_{k}": (k, g) for k, g in (("torch_loop", 100.0), ("torch_vmap", 50.0))}
    goals["speedup_vs_jit_loop"] = ("jit_loop", 4.0)
    notes = {"rnngrad_sweep": f"{gflops:.1f} GFLOP/s"}
    lines, targets = tm.compare(rows, labels, "rnngrad.sweep", goals, notes)
    title = f"per-step ||dL/ds_k|| of a final-step loss: tanh, H={hidden}, I={inputs}, T={length}"
    lines.insert(0, f"{title}, S={n_s} scales in [0.5, 1.5], float32")
    for s in (0.5, 1.0, 1.5):
        i = int(np.argmin(np.abs(scales - s)))
        lag0, far = float(logs[i, -1]), float(logs[i, 0])
        rate = float((logs[i, 0] - logs[i, -1]) / (length - 1))
        checks["decay_by_scale"][f"{scales[i]:.3f}"] = dict(
            log10_norm_lag0=lag0, log10_norm_max_lag=far, decades_per_step=rate
        )
        lines.append(
            f"  scale {scales[i]:.3f}: log10 norm {lag0:.2f} at lag 0, "
            f"{far:.2f} at lag {length - 1} ({rate:+.3f}/step)"
        )
    config = {"hidden": hidden, "inputs": inputs, "length": length, "scales": n_s, "flops": flops}
    record = {"config": config, "dtype": str(logs.dtype), "rows": rows, "checks": checks}
    record.update(targets=targets, torch=torch_note)
    return tm.finish(args, "sweep_profile", started, lines, record)


if __name__ == "__main__":
    main()
