"""Speed: the T × T per-timestep contributions ‖∂L_t/∂s_k‖ for S scales in one program.

Command:  python benchmarks/contributions.py [--quick] [--out DIR] [--repeats R] [--devices N]
Runtime:  about 15 s on a 2-core CPU without torch, about 30 s with it; --quick ~5 s.
Measures: L = Σ_t ½‖h_t − y_t‖², tanh cell (H = 64, T = 100), S = 64 scales, float32: the time
          of rg.timestep_contributions under rg.sweep, jit(lax.map(method="jacrev")) and a torch
          loop of torch.func.jacrev; their agreement with the float64 oracle on the lower
          triangle (method="jacrev" only above 1e-15: jnp.linalg.norm's squares underflow).
Numbers:  printed, and in <out>/contributions.json (rows, checks, targets).
"""

import time
from typing import Any

import numpy as np

try:
    import _timing as tm
except ImportError:  # imported as benchmarks.contributions
    from benchmarks import _timing as tm


def torch_contributions_jacrev(torch: Any, p: dict, scales: np.ndarray) -> np.ndarray:
    """(S, T, T) ‖∂L_t/∂h_k‖ by a loop over scales of torch.func.jacrev (T × T × H each)."""
    from torch.func import jacrev

    run, ys = tm.torch_rnn(torch, p), torch.from_numpy(np.array(p["ys"], np.float32))
    losses = lambda eps, scale: torch.stack(
        [0.5 * torch.sum((h - y) ** 2) for h, y in zip(run(scale, eps), ys)]
    )
    jac, eps = jacrev(losses), torch.zeros(len(p["xs"]), len(p["bias"]))
    out = [torch.linalg.vector_norm(jac(eps, s).double(), dim=-1) for s in torch.from_numpy(scales)]
    return torch.stack(out).detach().numpy()


def main(argv: list[str] | None = None) -> dict:
    args = tm.parse(__doc__, argv)
    import jax

    import rnngrad as rg
    from rnngrad import _oracle

    started = time.perf_counter()
    hidden, length, n_s = (16, 20, 4) if args.quick else (64, 100, 64)
    prob, scales, rows = tm.problem(hidden, 8, length), tm.scales(n_s), {}
    sweep = lambda: np.asarray(rg.sweep(prob.contributions, scale=scales).values)
    rows["rnngrad_sweep"], logs = tm.time_fn(sweep, args.repeats)
    mapped = jax.jit(lambda s: jax.lax.map(lambda c: prob.contributions(c, "jacrev"), s))
    rows["jacrev_lax_map"], jac = tm.time_fn(lambda: np.asarray(mapped(scales)), args.repeats)
    p, lower = prob.numpy, np.tril(np.ones((length, length), bool))
    ref = _oracle.tanh_contributions(*(p[k] for k in tm.NUMPY_KEYS), p["ys"], scales)[:, lower]
    logs, jac = logs[:, lower], jac[:, lower]
    checks = {
        "rnngrad_vs_float64_max_abs_dlog10": tm.agreement(logs, ref, -np.inf),
        "jacrev_vs_float64_max_abs_dlog10_above_1e-15": tm.agreement(jac, ref, -15.0),
        "jacrev_vs_float64_max_abs_dlog10_nonzero": tm.agreement(
            ref, np.where(np.isfinite(jac), jac, np.nan), -np.inf
        ),
        "jacrev_zeros_where_float64_nonzero": int(np.sum(~np.isfinite(jac))),
        "lower_triangle_entries": int(ref.size),
    }
    fns = {"torch_jacrev_loop": torch_contributions_jacrev}
    values, torch_note = tm.time_torch(rows, fns, (p, scales), args.repeats)
    for norms in values.values():
        t_low = tm.log10(norms)[:, lower]
        checks["torch_jacrev_vs_float64_max_abs_dlog10"] = tm.agreement(t_low, ref)
        checks["torch_jacrev_zeros_where_float64_nonzero"] = int(np.sum(t_low == -np.inf))
    labels = {
        "rnngrad_sweep": "rg.timestep_contributions under rg.sweep",
        "jacrev_lax_map": "jit(lax.map(method='jacrev'))",
        "torch_jacrev_loop": "torch loop of torch.func.jacrev",
    }
    goals = {"tt_speedup_vs_torch_jacrev": ("torch_jacrev_loop", 20.0)}
    goals["tt_speedup_vs_jacrev_map"] = ("jacrev_lax_map", 1.5)
    table, targets = tm.compare(rows, labels, "T×T: rnngrad", goals)
    lines = [f"T x T contributions ||dL_t/ds_k||: tanh, H={hidden}, T={length}, S={n_s} scales"]
    record = {"config": {"hidden": hidden, "length": length, "scales": n_s}, "rows": rows}
    record.update(checks=checks, targets=targets, torch=torch_note)
    return tm.finish(args, "contributions", started, lines + table, record)


if __name__ == "__main__":
    main()
