"""Speed: how rg.sweep of final-step profiles scales with S × T, against the matmul peak.

Command:  python benchmarks/scaling.py [--quick] [--out DIR] [--repeats R] [--devices N]
                                       [--scales 64,256,1024,4096] [--lengths 100,1000]
          (on a GPU e.g. --scales 256,1024,4096,16384,65536)
Runtime:  about 1 minute on a 2-core CPU; --quick ~8 s.
Measures: the float32 matmul peak (2048², 4096² jnp.matmul at HIGHEST precision, as the cells
          use), then for each S × T (tanh, H = 64, smallest first) the time, useful GFLOP/s
          (_timing.profile_flops: XLA's cost analysis counts a scan body once), the fraction
          of the peak and the peak RSS so far.
Numbers:  printed, and in <out>/scaling.json (matmul, rows, targets).
"""

import itertools
import time

import numpy as np

try:
    import _timing as tm
except ImportError:  # imported as benchmarks.scaling
    from benchmarks import _timing as tm


def main(argv: list[str] | None = None) -> dict:
    ints = {"type": lambda a: [int(v) for v in a.split(",")], "help": "comma-separated, see above"}
    args = tm.parse(__doc__, argv, scales=ints, lengths=ints)
    import jax
    import jax.numpy as jnp

    import rnngrad as rg

    started, hidden = time.perf_counter(), 16 if args.quick else 64
    default = ([4, 16], [10, 20]) if args.quick else ([64, 256, 1024, 4096], [100, 1000])
    grid = {"scales": args.scales or default[0], "lengths": args.lengths or default[1]}
    matmul, mm = jax.jit(lambda a, b: jnp.matmul(a, b, precision="highest")), {}
    lines = ["float32 matmul peak (jnp.matmul, n x n, precision=highest)"]
    for n in (256, 512) if args.quick else (2048, 4096):
        a, b = (jax.random.normal(jax.random.key(i), (n, n), jnp.float32) for i in (10, 11))
        run = lambda a=a, b=b: matmul(a, b).block_until_ready()
        row = mm[str(n)] = tm.time_fn(run, args.repeats)[0]
        row["gflops"] = 2 * n**3 / row["median_s"] / 1e9
        lines.append(f"  n={n:<6} {tm.fmt_s(row['median_s'])} {row['gflops']:8.1f} GFLOP/s")
    peak = mm["peak_gflops"] = max(v["gflops"] for v in mm.values())
    lines += [
        f"  peak: {peak:.1f} GFLOP/s",
        f"rg.sweep of final-step profiles, tanh H={hidden}, smallest S x T first",
        f"  {'S':>6} {'T':>6} {'median':>10} {'min':>10} {'1st call':>10} {'GFLOP/s':>9} "
        f"{'% peak':>7} {'RSS MiB':>8}",
    ]
    rows = []
    with tm.peak_rss() as peak_mib:
        for n_s, length in sorted(itertools.product(*grid.values()), key=np.prod):
            prob, scales = tm.problem(hidden, 8, length), tm.scales(n_s)
            sweep = lambda p=prob, s=scales: np.asarray(rg.sweep(p.profile, scale=s).values)
            row, logs = tm.time_fn(sweep, args.repeats)
            flops = tm.profile_flops(n_s, length, hidden, 8)
            row.update(scales=n_s, length=length, flops=flops, gflops=flops / row["median_s"] / 1e9)
            row.update(fraction_of_peak=row["gflops"] / peak, peak_rss_mib=peak_mib())
            rows.append({**row, "all_finite": bool(np.isfinite(logs).all())})
            times = " ".join(tm.fmt_s(row[k]) for k in ("median_s", "min_s", "first_s"))
            lines.append(
                f"  {n_s:>6} {length:>6} {times} {row['gflops']:9.1f} "
                f"{100 * row['fraction_of_peak']:6.1f}% {row['peak_rss_mib']:8.0f}"
            )
    what = f"GFLOP/s / matmul peak at S={n_s}, T={length}"
    targets = {"fraction_of_peak": tm.target(what, ">=", 0.40, rows[-1]["fraction_of_peak"])}
    record = {"hidden": hidden, "grid": grid, "matmul": mm, "rows": rows, "targets": targets}
    return tm.finish(args, "scaling", started, lines, record)


if __name__ == "__main__":
    main()
