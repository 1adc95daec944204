"""Memory: a final-step gradient profile over T = 10⁶ steps with two-level checkpointing.

Command:  python benchmarks/long_sequence.py [--quick] [--out DIR] [--repeats R]
                                             [--length 1000000] [--devices N]
          (on a GPU e.g. --length 100000: each sequential step costs a kernel launch)
Runtime:  about 15 s on a 2-core CPU; --quick ~3 s.
Measures: rg.final_step_profile of a tanh cell (H = 64, input 8, float32), checkpoint_every=1000:
          compile and run time, this process's peak RSS (run it as a program) against 1 GiB and
          the T·H·4 bytes of all states, and that every log10 norm stays finite.
Numbers:  printed, and in <out>/long_sequence.json.
"""

import time

import numpy as np

try:
    import _timing as tm
except ImportError:  # imported as benchmarks.long_sequence
    from benchmarks import _timing as tm


def main(argv: list[str] | None = None) -> dict:
    args = tm.parse(__doc__, argv, length={"type": int, "help": "T (default 10^6; quick 10^4)"})
    length = args.length or (10_000 if args.quick else 1_000_000)
    block = 100 if args.quick else 1000
    if length % block:
        args.error(f"--length must be a multiple of {block}, got {length}")
    import jax
    import jax.numpy as jnp

    import rnngrad as rg

    started, hidden, f32 = time.perf_counter(), 64, jnp.float32
    with tm.peak_rss() as peak_mib:
        cell = rg.VanillaCell(8, hidden, dtype=f32, key=jax.random.key(0))
        xs = jax.random.normal(jax.random.key(3), (length, 8), f32)
        carry0 = jnp.zeros((hidden,), f32)
        run = lambda xs: rg.final_step_profile(cell, xs, carry0, jnp.sum, checkpoint_every=block)
        profile = jax.jit(lambda xs: run(xs).log_norms)
        rss_before = peak_mib()
        row, logs = tm.time_fn(lambda: np.asarray(profile(xs)), args.repeats)
        row.update(peak_rss_mib=peak_mib(), rss_before_mib=rss_before)
    row.update(length=length, hidden=hidden, checkpoint_every=block)
    row.update(all_finite=bool(np.isfinite(logs).all()), log10_norm_lag0=float(logs[-1]))
    row["log10_norm_max_lag"] = float(logs[0])
    row["stored_states_without_checkpointing_mib"] = length * hidden * 4 / 2**20
    target = tm.target("long-sequence profile peak RSS [GiB]", "<", 1.0, row["peak_rss_mib"] / 1024)
    lines = [
        f"long sequence: final_step_profile, T={length}, H={hidden}, checkpoint_every={block}",
        f"  time {tm.fmt_s(row['median_s'])} (first call {tm.fmt_s(row['first_s'])}, compile "
        f"{tm.fmt_s(row['compile_s'])}); peak RSS {row['peak_rss_mib']:.0f} MiB "
        f"({rss_before:.0f} MiB before compiling; all states would take "
        f"{row['stored_states_without_checkpointing_mib']:.0f} MiB)",
        f"  log10 norm at lag {length - 1}: {row['log10_norm_max_lag']:.1f}, all finite: "
        f"{row['all_finite']}",
    ]
    record = {"long": row, "targets": {"long_rss_gib": target}}
    return tm.finish(args, "long_sequence", started, lines, record)


if __name__ == "__main__":
    main()
