"""Gradient flossing (Engelken 2023) on his delayed-XOR task, with his training protocol.

Command:   python experiments/flossing.py [--quick] [--out results/flossing]
Runtime:   --full 8.5-9.5 min (508 s, 569 s) on 2 cores shared with other runs (load average
  3.5-4.4), so under 10 min idle; --quick about 20 s.
What it does (float32): Engelken's task and protocol (github RainerEngelken/GradientFlossing,
  GradientFlossing_XOR.jl; the paper's text gives no sizes) on a smaller network. DelayedXORTask
  (rg.DelayedXORTask): a stream of random bits x_t, target
  y_t = |x_{t-d} - x_{t-2d}| at every step t >= 2d (variant "copy": y_t = x_{t-d}, t >= d),
  cross-entropy on logits. A tanh RNN h_t = tanh(W h_{t-1} + w x_t + b) with Engelken's init
  (W ~ N(0, g²/N), g = 1; w ~ N(0, 1); b ~ U[0, 0.1]) and a linear readout of h_t learns with
  Adam (lr 1e-3) on the gradient clipped to norm 0.03, one batch of 16 fresh T = 300
  sequences per step. Three arms on the same seeds, data and test sets: "plain"; "before":
  rg.floss of the top k Lyapunov exponents to 0 before training (500 steps of Adam lr 1e-3
  on Σ_{i<=k} λ_i², the trajectory held fixed as Engelken does, exponents over 55-step bit
  inputs after 16 warm-up steps, fresh inputs every 50 steps); "during": the same, then 500
  steps again at training steps 100 and 200 (Engelken's Ep = Ei = 500, Ef = 100, Ni = 2).
  Solved: per-step test accuracy >= 0.99 on 256 fresh sequences (Engelken's accuracy:
  argmax of the logits right, averaged over the loss steps); success rates with Wilson
  95 % intervals (rg.success_stats; "stuck": test loss within 5 % of log 2). The training
  steps of every (arm, seed) are one vmapped compiled chunk per delay.
  Sizes: N = 32 units with k = 30 flossed exponents (Engelken: N = 80, k = 75, whose QR
  steps cost ~100x more here) and 2000 training steps (3001), so that --full fits 10 min
  on 2 cores. Delays 7, 10, 13: a first run at d = 2, 4, 6, 10
  (5 seeds) solved every seed of every arm up to d = 6 and 2/5 plain seeds at d = 10, so
  the sweep brackets d = 10, where plain training starts to fail at N = 32 (a delayed XOR
  needs the last 2d bits in memory; Engelken's d = 10 at N = 80 is a similar load).
  Our cell is the conjugate form of Engelken's x_{t+1} = J tanh(x_t) + b + w s_t: with
  h = tanh(x) both are the same map, so the Lyapunov exponents are identical; what differs
  is the readout (his reads the pre-activation x, ours h = tanh(x)), 2 softmax logits for
  his 1 sigmoid logit (the same model class and loss), a zero initial state (his is
  learned), Σ λ² for his mean λ² (Adam is almost scale-free), flossing inputs refreshed
  every 50 steps (every step, batch 1) and Adam restarted with them.
What it shows: flossing pulls λ₁ and the next exponents to 0 (not all k within 500
  steps); whether the flossed arms solve the task at delays where plain training fails,
  the benefit the paper's abstract claims ("enhances both the success rate and
  convergence speed"), with a paired sign test over seeds (8 seeds resolve only a large
  effect); whether flossing again during training adds to flossing before it.
Numbers: the printed tables; record["results"][delay][arm] (test_loss, accuracy, solved,
  success), record["lyapunov_before"] / ["lyapunov_after"] (seed 0's cell of the longest
  delay, on a held-out 400-step input), ["checks"]; median training-loss curves in the .npz.
Outputs (in --out): lyapunov.png, delays.png, flossing.json, flossing.npz.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import rnngrad as rg

try:
    import _runner
except ImportError:  # imported as experiments.flossing
    from experiments import _runner

ARMS = ("plain", "before", "during")
LE_LENGTH, WARMUP, LR, CLIP, BATCH, SOLVED_ACCURACY = 55, 16, 1e-3, 0.03, 16, 0.99


def make_cell(hidden: int, key) -> rg.VanillaCell:
    """Engelken's init: W ~ N(0, 1/N) (g = 1), input weights N(0, 1), bias U[0, 0.1]."""
    k_cell, k_bias = jax.random.split(key)
    init = rg.init.gaussian(1.0)
    cell = rg.VanillaCell(1, hidden, weight_hh_init=init, weight_ih_init=init, key=k_cell)
    return eqx.tree_at(lambda c: c.bias, cell, 0.1 * jax.random.uniform(k_bias, (hidden,)))


def bits(key, length: int) -> jax.Array:
    return jax.random.bernoulli(key, 0.5, (length, 1)).astype(jnp.result_type(float))


def floss_cell(cell, key, cfg: dict):
    """cfg["floss_steps"] steps of rg.floss (k exponents to 0), fresh inputs every
    cfg["floss_round"] steps; returns the cell and λ₁ after each round."""
    rounds = cfg["floss_steps"] // cfg["floss_round"]
    kw = dict(n=cfg["flossed_exponents"], target=0.0, steps=cfg["floss_round"], warmup=WARMUP)
    kw |= dict(optimizer=optax.adam(LR), state_gradient=False)  # Engelken: fixed trajectory

    def one_round(cell, k):
        flossed, history = rg.floss(cell, bits(k, LE_LENGTH), rg.init_carry(cell), **kw)
        return flossed, history[-1, 0]

    return jax.lax.scan(one_round, cell, jax.random.split(key, rounds))


def spectrum(cell, key, n: int) -> jax.Array:
    return rg.lyapunov_spectrum(cell, bits(key, 400), rg.init_carry(cell), n=n, warmup=100)


def stack(*leaves):
    return jnp.stack(leaves) if eqx.is_array(leaves[0]) else leaves[0]


def run_delay(task: rg.DelayedXORTask, cfg: dict, key) -> dict[str, np.ndarray]:
    """Every arm × seed on `task`: losses (arms, seeds, steps), test loss/accuracy/solved."""
    optimizer = rg.clipped(optax.adam(LR), global_norm=CLIP)
    seeds, hidden, chunk = cfg["seeds"], cfg["hidden"], cfg["chunk"]
    params_of = lambda m: eqx.filter(m, eqx.is_inexact_array)  # noqa: E731

    def init(seed):
        keys = rg.train_keys(key, seed)
        model = rg.RNNModel(make_cell(hidden, keys.cell), 2, key=keys.readout)
        flossed = eqx.tree_at(lambda m: m.cell, model, floss_cell(model.cell, keys.cell, cfg)[0])
        models = jax.tree.map(stack, model, flossed, flossed)  # ARMS
        return models, keys.data, keys.test

    models, k_data, k_test = eqx.filter_jit(eqx.filter_vmap(init, out_axes=(1, 0, 0)))(
        jnp.arange(seeds)
    )
    opt_states = eqx.filter_vmap(eqx.filter_vmap(lambda m: optimizer.init(params_of(m))))(models)

    def batch_loss(model, xs, ys):
        preds = jax.vmap(lambda x: model.predict(x, "every"))(xs)
        return jnp.mean(jax.vmap(task.loss)(preds, ys))

    @eqx.filter_jit
    def train_chunk(models, opt_states, start):
        def one(model, opt_state, k):
            def step(carry, i):
                model, opt_state = carry
                xs, ys = task.batch(jax.random.fold_in(k, i), BATCH)
                loss, grads = eqx.filter_value_and_grad(batch_loss)(model, xs, ys)
                updates, opt_state = optimizer.update(grads, opt_state, params_of(model))
                return (eqx.apply_updates(model, updates), opt_state), loss

            (model, opt_state), losses = jax.lax.scan(
                step, (model, opt_state), start + jnp.arange(chunk)
            )
            return model, opt_state, losses

        per_seed = eqx.filter_vmap(one, in_axes=(0, 0, 0))
        return eqx.filter_vmap(per_seed, in_axes=(0, 0, None))(models, opt_states, k_data)

    @eqx.filter_jit
    def floss_during(models, step):
        """Arm "during" flossed again (fresh inputs keyed by the step); others unchanged."""

        def one(cell, k):
            return floss_cell(cell, jax.random.fold_in(k, step), cfg)[0]

        arrays, static = eqx.partition(models.cell, eqx.is_array)
        cells = eqx.filter_vmap(one)(
            eqx.combine(jax.tree.map(lambda a: a[2], arrays), static), k_data
        )
        new = jax.tree.map(lambda a, b: a.at[2].set(b), arrays, eqx.filter(cells, eqx.is_array))
        return eqx.tree_at(lambda m: m.cell, models, eqx.combine(new, static))

    losses = []
    for start in range(0, cfg["steps"], chunk):
        if start in cfg["floss_at"]:
            models = floss_during(models, jnp.asarray(start))
        models, opt_states, chunk_losses = train_chunk(models, opt_states, jnp.asarray(start))
        losses.append(np.asarray(chunk_losses))

    @eqx.filter_jit
    def evaluate(models):
        def one(model, k):
            xs, ys = task.batch(k, cfg["test_size"])
            preds = jax.vmap(lambda x: model.predict(x, "every"))(xs)
            hits = (jnp.argmax(preds, -1) == ys.labels) & ys.mask
            return jnp.mean(jax.vmap(task.loss)(preds, ys)), jnp.sum(hits) / jnp.sum(ys.mask)

        return eqx.filter_vmap(eqx.filter_vmap(one), in_axes=(0, None))(models, k_test)

    test_loss, accuracy = (np.asarray(v) for v in evaluate(models))
    return {"losses": np.concatenate(losses, axis=-1), "test_loss": test_loss, "accuracy": accuracy}


def run(cfg: dict) -> tuple[dict, dict]:
    record, arrays, rows = {**cfg, "arms": list(ARMS), "results": {}}, {}, []
    record["solved_accuracy"] = SOLVED_ACCURACY
    for delay in cfg["delays"]:
        task = rg.DelayedXORTask(cfg["length"], delay=delay, variant=cfg["variant"])
        out = run_delay(task, cfg, jax.random.key(delay))
        arms = record["results"][str(delay)] = {}
        for i, arm in enumerate(ARMS):
            loss, acc = out["test_loss"][i], out["accuracy"][i]
            solved = acc >= SOLVED_ACCURACY
            stats = rg.success_stats(solved, test_loss=loss, baseline=task.baseline_loss)
            arms[arm] = {"test_loss": loss, "accuracy": acc, "solved": solved,
                         "success": stats.as_dict()}  # fmt: skip
            arrays[f"loss_curve_median_{delay}_{arm}"] = np.median(out["losses"][i], axis=0)
            wilson = f"[{stats.low:.2f}, {stats.high:.2f}]"
            rows.append([delay, arm, float(np.median(loss)), float(np.median(acc)),
                         f"{stats.successes}/{stats.trials}", wilson, stats.stuck])  # fmt: skip

    # λ_i of seed 0's cell (longest delay's key), before and after pre-flossing, held-out inputs.
    keys = rg.train_keys(jax.random.key(cfg["delays"][-1]), 0)
    cell, n_exp = make_cell(cfg["hidden"], keys.cell), cfg["reported_exponents"]
    flossed, history = jax.jit(lambda c, k: floss_cell(c, k, cfg))(cell, keys.cell)
    before = np.asarray(spectrum(cell, jax.random.key(7), n_exp).exponents)
    after = np.asarray(spectrum(flossed, jax.random.key(7), n_exp).exponents)
    record.update(lyapunov_before=before, lyapunov_after=after, floss_history_top=history)

    checks = {"lyapunov_before_top": before[0], "lyapunov_after_top": after[0]}
    checks |= {"lyapunov_after_kth": after[cfg["flossed_exponents"] - 1]}
    # The benefit's delay is chosen from the plain arm alone (its success rate nearest 1/2,
    # the longer delay on ties), not from the difference it reports.
    plain = lambda d: record["results"][str(d)]["plain"]["success"]["rate"]  # noqa: E731
    benefit = min(cfg["delays"], key=lambda d: (abs(plain(d) - 0.5), -d))
    checks |= {"benefit_delay": benefit, "benefit": gain(record, benefit)}
    checks |= {"benefit_interval": [gain(record, benefit, "low"), gain(record, benefit, "high")]}
    checks |= {"benefit_p": paired_p(record["results"][str(benefit)])}
    record["checks"] = checks
    spectra = [[i + 1, float(b), float(a)] for i, (b, a) in enumerate(zip(before, after))]
    title = (
        f"Delayed {cfg['variant']}, T = {cfg['length']}, tanh RNN N = {cfg['hidden']} "
        f"(k = {cfg['flossed_exponents']} flossed), {cfg['seeds']} seeds, {cfg['steps']} steps"
    )
    exps = "Top Lyapunov exponents (seed 0, before/after pre-flossing)"
    headers = ["delay", "arm", "test CE", "accuracy", "solved", "Wilson 95%", "stuck"]
    record["tables"] = {title: (headers, rows), exps: (["i", "before", "after"], spectra)}
    return record, arrays


def gain(record: dict, delay: int, end: str = "rate") -> float:
    """Success rate of "before" minus "plain" at `delay`; `end` "low"/"high": the ends of a
    conservative interval (the Wilson intervals' far ends: low - high, high - low)."""
    arms = record["results"][str(delay)]
    f, p = arms["before"]["success"], arms["plain"]["success"]
    if end == "rate":
        return f["rate"] - p["rate"]
    return f["ci95"][0] - p["ci95"][1] if end == "low" else f["ci95"][1] - p["ci95"][0]


def paired_p(arms: dict) -> float:
    """One-sided exact sign (McNemar) test that "before" solves more seeds than "plain":
    the arms share seeds, so only the seeds where they disagree count."""
    before, plain = (np.asarray(arms[a]["solved"], bool) for a in ("before", "plain"))
    wins, losses = int(np.sum(before & ~plain)), int(np.sum(plain & ~before))
    n = wins + losses
    return sum(math.comb(n, i) for i in range(wins, n + 1)) / 2**n


def draw(record: dict, arrays: dict, cfg: dict) -> dict:
    spectra = [record["lyapunov_before"], record["lyapunov_after"]]
    d, res = record["delays"], record["results"]
    rates = [[res[str(k)][a]["success"]["rate"] for k in d] for a in ARMS]
    return {
        "lyapunov.png": rg.plot.spectra(spectra, labels=["before flossing", "after flossing"],
                                        hlines={"λ = 0": 0.0}, title="Lyapunov spectrum (seed 0)"),
        "delays.png": rg.plot.curves(d, rates, labels=list(ARMS), xlabel="delay d (steps)",
                                     ylabel=f"seeds solved (accuracy ≥ {SOLVED_ACCURACY})",
                                     title=f"Delayed {cfg['variant']}: success vs delay"),
    }  # fmt: skip


SIZES = {
    "quick": {"variant": "xor", "hidden": 12, "delays": [2], "length": 40, "seeds": 2, "steps": 40,
              "chunk": 10, "floss_at": [10, 20], "floss_steps": 60, "floss_round": 20,
              "flossed_exponents": 10, "reported_exponents": 12, "test_size": 64},
    "full": {"variant": "xor", "hidden": 32, "delays": [7, 10, 13], "length": 300, "seeds": 8,
             "steps": 2000, "chunk": 100, "floss_at": [100, 200], "floss_steps": 500,
             "floss_round": 50, "flossed_exponents": 30, "reported_exponents": 32,
             "test_size": 256},
}  # fmt: skip
DIFFERS = (
    "N = 32, k = 30 (Engelken: N = 80, k = 75), 2000 training steps (3001); h = tanh(x) read "
    "out, not x; 2 logits; zero initial state (his is learned); flossing loss Σ λ² (mean), "
    "inputs refreshed every 50 steps (every step)"
)
EXPERIMENT = _runner.Experiment(
    "flossing", doc=__doc__, sizes=SIZES, run=run, draw=draw, x64=False,
    expected=(
        _runner.Expect("gradient flossing pulls λ₁ to 0 (Engelken 2023)", "λ₁ → 0",
                       "lyapunov_after_top", "abs<", 0.05, "{:+.4f}",
                       variant="delayed XOR (Engelken's code)",
                       size="N = 32, k = 30, 500 flossing steps", differs=DIFFERS),
        _runner.Expect("flossing before training raises the success rate (Engelken 2023)",
                       "abstract: higher success rate (no numbers found)", "benefit", ">", 0.0,
                       "{:+.2f}", variant="delayed XOR, T = 300 (Engelken's code)",
                       size="N = 32, 8 seeds, 2000 steps, the delay where plain is nearest 50 %",
                       differs=DIFFERS, interval="benefit_interval"),
        _runner.Expect("... and the benefit is significant: paired sign test over seeds",
                       "(the paper gives no test)", "benefit_p", "<", 0.05, "p = {:.3f}",
                       variant="delayed XOR, T = 300 (Engelken's code)",
                       size="N = 32, 8 seeds, 2000 steps, the same delay", differs=DIFFERS),
    ),
)  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    return _runner.main(EXPERIMENT, argv)


if __name__ == "__main__":
    main()
