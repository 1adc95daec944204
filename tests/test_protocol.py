"""The cell protocol: a user's own cell goes through every tool; missing methods are named.

The user's cell here is a stacked two-layer tanh RNN with a tuple carry ``(h1, h2)``,
defined only through ``rg.AbstractCell`` (rnngrad knows nothing else about it). Every
derivative is checked against an independent method in float64.
"""

import ast
import pathlib
import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rnngrad as rg

IN, H1, H2, T = 2, 3, 2, 6
S = H1 + H2


class Stacked(rg.AbstractCell):
    """Two tanh layers; layer 2 reads layer 1's new state. Carry: (h1, h2)."""

    w1: jax.Array
    u1: jax.Array
    w2: jax.Array
    u2: jax.Array
    scale: float | jax.Array = 1.0

    def __init__(self, key, scale=1.0):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        self.w1 = jax.random.normal(k1, (H1, IN)) / np.sqrt(IN)
        self.u1 = jax.random.normal(k2, (H1, H1)) / np.sqrt(H1)
        self.w2 = jax.random.normal(k3, (H2, H1)) / np.sqrt(H1)
        self.u2 = jax.random.normal(k4, (H2, H2)) / np.sqrt(H2)
        self.scale = scale

    def __call__(self, x, carry):
        h1, h2 = carry
        h1 = jnp.tanh(self.w1 @ x + self.scale * (self.u1 @ h1))
        h2 = jnp.tanh(self.w2 @ h1 + self.scale * (self.u2 @ h2))
        return (h1, h2)

    def init_carry(self):
        return (jnp.zeros(H1), jnp.zeros(H2))

    def scale_recurrent(self, scale):
        return eqx.tree_at(lambda c: c.scale, self, self.scale * scale)

    def output(self, carry):
        return carry[1]  # the readout sees the top layer


CELL = Stacked(jax.random.key(0), scale=1.2)
XS = jax.random.normal(jax.random.key(1), (T, IN))
YS = jax.random.normal(jax.random.key(2), (T, H2))
CARRY0 = (jnp.full(H1, 0.1), jnp.full(H2, -0.1))


def mse(carry, y):
    return 0.5 * jnp.sum((carry[1] - y) ** 2)


def flat_step(cell, x, s):
    out = cell(x, (s[:H1], s[H1:]))
    return jnp.concatenate(out)


def hand_states(cell, xs, s0):
    states, s = [], s0
    for x in xs:
        s = flat_step(cell, x, s)
        states.append(s)
    return states


def test_carry_helpers_follow_the_tuple_carry():
    assert rg.state_size(CELL) == S
    carry = rg.init_carry(CELL)
    assert isinstance(carry, tuple) and [c.shape for c in carry] == [(H1,), (H2,)]
    flat = rg.flatten_carry(CARRY0)
    assert flat.shape == (S,)
    np.testing.assert_array_equal(flat, jnp.concatenate(CARRY0))
    carries = rg.unroll(CELL, XS, CARRY0)
    want = hand_states(CELL, XS, jnp.concatenate(CARRY0))
    # two separately compiled programs (the scan, the eager loop): equal to rounding
    np.testing.assert_allclose(jnp.concatenate(carries, axis=1), jnp.stack(want), rtol=1e-13)


def test_state_jacobians_and_spectral_norms_match_jacfwd():
    s0 = jnp.concatenate(CARRY0)
    prev = [s0, *hand_states(CELL, XS, s0)[:-1]]
    want = np.stack([jax.jacfwd(lambda s, x=x: flat_step(CELL, x, s))(p) for x, p in zip(XS, prev)])
    got = rg.state_jacobians(CELL, XS, CARRY0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    norms = rg.jacobian_spectral_norms(CELL, XS, CARRY0)
    np.testing.assert_allclose(norms, np.linalg.norm(want, ord=2, axis=(1, 2)), rtol=1e-12)


def test_contributions_and_profiles_match_finite_differences():
    res = rg.timestep_contributions(CELL, XS, CARRY0, mse, YS)
    s0 = jnp.concatenate(CARRY0)
    eps = 1e-6

    def loss_t_from_state_k(t, k, delta):
        s = s0
        for i in range(t + 1):
            s = flat_step(CELL, XS[i], s)
            if i == k:
                s = s + delta
        return mse((s[:H1], s[H1:]), YS[t])

    for t, k in [(5, 0), (5, 3), (2, 2), (4, 1)]:
        grad = np.array(
            [
                (loss_t_from_state_k(t, k, eps * e) - loss_t_from_state_k(t, k, -eps * e))
                / (2 * eps)
                for e in np.eye(S)
            ]
        )
        np.testing.assert_allclose(res.norms[t, k], np.linalg.norm(grad), rtol=1e-7)
    assert float(res.norms[1, 4]) == 0.0  # no gradient from the past to the future
    final = rg.final_step_profile(CELL, XS, CARRY0, lambda c: mse(c, YS[-1]))
    np.testing.assert_allclose(
        rg.lag_profile(final), res.norms[T - 1, ::-1], rtol=1e-10, atol=1e-300
    )


def test_dynamics_on_the_stacked_cell():
    s0 = jnp.concatenate(CARRY0)
    states = [s0, *hand_states(CELL, XS, s0)[:-1]]
    jacs = [
        np.asarray(jax.jacfwd(lambda s, x=x: flat_step(CELL, x, s))(p)) for x, p in zip(XS, states)
    ]
    product = np.eye(S)
    for j in jacs:
        product = j @ product
    spectra = rg.jacobian_product_spectra(CELL, XS, CARRY0)
    np.testing.assert_allclose(
        spectra.log10_singular_values[-1],
        np.log10(np.linalg.svd(product, compute_uv=False)),
        rtol=1e-10,
    )
    # Lyapunov exponents over the whole (short) trajectory: the log of R's diagonal of
    # the QR of the full product, i.e. log singular-value-like growth; their sum is exact.
    exps = rg.lyapunov_spectrum(CELL, XS, CARRY0).exponents
    logdet = np.sum([np.log(abs(np.linalg.det(j))) for j in jacs]) / T
    np.testing.assert_allclose(np.sum(exps), logdet, rtol=1e-10)


def test_penalties_truncation_and_sweep_on_the_stacked_cell():
    omega = rg.pascanu_omega(CELL, XS, CARRY0, mse, YS)
    assert np.isfinite(float(omega)) and float(omega) > 0.0
    pen = rg.flossing_penalty(CELL, XS, CARRY0, n=2)
    np.testing.assert_allclose(
        pen, np.sum(np.asarray(rg.lyapunov_spectrum(CELL, XS, CARRY0, 2).exponents) ** 2)
    )
    full = rg.BPTT().loss(CELL, XS, CARRY0, mse, YS)
    trunc = rg.truncated_loss(CELL, XS, CARRY0, mse, YS, k1=2, k2=3)
    np.testing.assert_allclose(trunc, full, rtol=1e-13)
    result = rg.sweep(
        lambda scale: rg.jacobian_spectral_norms(rg.scale_recurrent(CELL, scale), XS, CARRY0),
        scale=jnp.array([0.5, 1.0]),
    )
    np.testing.assert_allclose(
        result.values[1], rg.jacobian_spectral_norms(CELL, XS, CARRY0), rtol=1e-13
    )


def test_the_stacked_cell_trains_and_its_task_profile_is_exact():
    task = rg.AddingTask(10)
    length = task.length

    def make(key):
        return Stacked(key)

    res = rg.train(
        make,
        task,
        optimizer=optax.sgd(1e-2),
        steps=3,
        batch_size=4,
        key=jax.random.key(3),
        seeds=2,
        test_size=8,
        progress=False,
    )
    assert res.losses.shape == (2, 3) and np.all(np.isfinite(np.asarray(res.losses)))
    model = res.seed_model(1)
    assert model.readout.weight.shape == (1, H2)  # the readout sees cell.output: layer 2
    keys = rg.train_keys(jax.random.key(3), 1)
    initial = rg.RNNModel(Stacked(keys.cell), 1, key=keys.readout)
    # Drawn inside train's one compiled program: equal to float rounding.
    assert eqx.tree_equal(initial, res.seed_model(1, initial=True), rtol=1e-15, atol=1e-15)
    xs, ys = task.batch(jax.random.key(4), 2)
    prof = rg.task_lag_profile(model.cell, task, xs, ys, readout=model.readout)

    def loss_of_state(s, x, y, k):  # L as a function of s_k, by hand
        for i in range(k + 1, length):
            s = flat_step(model.cell, x[i], s)
        return task.loss(model.readout(s[H1:]), y)

    lags = (0, 4, length - 1)  # a few lags, checked by hand: each is one eager grad
    want = []
    for d in lags:
        k = length - 1 - d
        logs = []
        for x, y in zip(xs, ys):
            s_k = hand_states(model.cell, x, jnp.zeros(S))[k]
            logs.append(np.log10(np.linalg.norm(jax.grad(loss_of_state)(s_k, x, y, k))))
        want.append(np.mean(logs))
    np.testing.assert_allclose(prof[np.array(lags)], want, rtol=1e-10)


class NoInit(eqx.Module):
    def __call__(self, x, carry):
        return carry


class NoScale(rg.AbstractCell):
    def __call__(self, x, carry):
        return carry + x

    def init_carry(self):
        return jnp.zeros(2)


def test_a_missing_method_is_named_at_the_first_tool_call():
    xs = jnp.ones((3, 2))
    for call in (
        lambda: rg.unroll(NoInit(), xs, jnp.zeros(2)),
        lambda: rg.init_carry(NoInit()),
        lambda: rg.state_size(NoInit()),
        lambda: rg.RNNModel(NoInit(), 1, key=jax.random.key(0)),
        lambda: rg.train(
            lambda k: NoInit(),
            rg.AddingTask(10),
            optimizer=optax.sgd(0.1),
            steps=1,
            batch_size=1,
            key=jax.random.key(0),
        ),
    ):
        with pytest.raises(TypeError, match="has no method `init_carry`.*def init_carry"):
            call()
    with pytest.raises(TypeError, match=r"NoScale has no `scale_recurrent`.*def scale_recurrent"):
        rg.scale_recurrent(NoScale(), 0.5)
    with pytest.raises(TypeError, match="NoScale has no `recurrent_weight`"):
        rg.theory.pascanu_rate(NoScale())
    with pytest.raises(TypeError, match="Can't instantiate abstract class"):
        type("Half", (rg.AbstractCell,), {"__call__": lambda self, x, c: c})()


ROOT = pathlib.Path(rg.__file__).parent
CELL_CLASSES = r"VanillaCell|EchoStateCell|GRUCell|LSTMCell|RecurrentScaled|AbstractCell"


def test_no_isinstance_on_cell_classes_outside_cells():
    offenders = []
    for path in ROOT.rglob("*.py"):
        if "cells" in path.relative_to(ROOT).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
                text = ast.unparse(node.args[1])
                if re.search(CELL_CLASSES, text):
                    offenders.append(f"{path.name}: isinstance(..., {text})")
    assert offenders == []


def _imports(path: pathlib.Path) -> set[str]:
    """The rnngrad modules `path` imports (relative imports resolved)."""
    module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            target = f"{base}.{node.module}" if node.module else base
            names = [f"{target}.{a.name}" for a in node.names]
            found.update(n for n in [target, *names] if _exists(n))
    return found


def _exists(module: str) -> bool:
    rel = pathlib.Path(*module.split(".")[1:])
    return (ROOT / rel).with_suffix(".py").exists() or (ROOT / rel / "__init__.py").exists()


def test_no_import_cycles():
    graph = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        graph[name] = {m.removesuffix(".__init__") for m in _imports(path)}

    def parents(name):  # importing a.b.c runs a/__init__ and a/b/__init__ first
        parts = name.split(".")
        return {".".join(parts[:i]) for i in range(2, len(parts))}

    def visit(node, stack):
        if node in stack:
            cycle = stack[stack.index(node) :] + [node]
            if not all(b in parents(a) or a in parents(b) for a, b in zip(cycle, cycle[1:])):
                raise AssertionError(" -> ".join(cycle))
            return
        for nxt in graph.get(node, ()):
            if nxt not in ("rnngrad", node) and not node.startswith(nxt + "."):
                visit(nxt, [*stack, node])

    for name in graph:
        if name != "rnngrad":
            visit(name, [])
