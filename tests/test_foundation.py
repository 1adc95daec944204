"""Foundation: VanillaCell, initialisers, scale_recurrent, unroll, and their bad input."""

import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnngrad as rg
from rnngrad._io import atomic_write

KEY = jax.random.key(0)


def numpy_step(cell, x, h, phi):
    w_hh = np.asarray(cell.weight_hh)
    if cell.weight_hh_scale is not None:
        w_hh = float(cell.weight_hh_scale) * w_hh
    pre = w_hh @ np.asarray(h) + np.asarray(cell.weight_ih) @ np.asarray(x)
    if cell.bias is not None:
        pre = pre + np.asarray(cell.bias)
    return phi(pre)


@pytest.mark.parametrize(
    "name,phi",
    [("tanh", np.tanh), ("relu", lambda a: np.maximum(a, 0.0)), ("identity", lambda a: a)],
)
def test_vanilla_cell_matches_numpy(name, phi):
    cell = rg.VanillaCell(3, 5, nonlinearity=name, key=KEY)
    # A non-zero bias so the bias term is exercised.
    cell = eqx.tree_at(lambda c: c.bias, cell, jnp.linspace(-0.3, 0.4, 5))
    x = jax.random.normal(jax.random.key(1), (3,))
    h = jax.random.normal(jax.random.key(2), (5,))
    np.testing.assert_allclose(cell(x, h), numpy_step(cell, x, h, phi), rtol=1e-13, atol=1e-14)


def test_vanilla_cell_callable_nonlinearity_and_no_bias():
    cell = rg.VanillaCell(2, 4, nonlinearity=jnp.sin, use_bias=False, key=KEY)
    assert cell.bias is None
    x, h = jnp.ones(2), jnp.linspace(-1.0, 1.0, 4)
    np.testing.assert_allclose(cell(x, h), numpy_step(cell, x, h, np.sin), rtol=1e-13)


def test_dtype_follows_x64_and_can_be_set():
    assert rg.VanillaCell(2, 3, key=KEY).weight_hh.dtype == jnp.float64
    cell32 = rg.VanillaCell(2, 3, dtype=jnp.float32, key=KEY)
    assert cell32.weight_hh.dtype == jnp.float32
    assert cell32(jnp.ones(2, jnp.float32), jnp.zeros(3, jnp.float32)).dtype == jnp.float32


def python_loop(cell, xs, carry):
    out = []
    for t in range(xs.shape[0]):
        carry = cell(xs[t], carry)
        out.append(carry)
    return jax.tree_util.tree_map(lambda *c: jnp.stack(c), *out)


def gated(kind, key=KEY):
    return {"gru": eqx.nn.GRUCell, "lstm": eqx.nn.LSTMCell}[kind](3, 4, key=key)


@pytest.mark.parametrize("kind", ["vanilla", "gru", "lstm"])
@pytest.mark.parametrize("checkpoint", [False, True])
def test_unroll_matches_python_loop(kind, checkpoint):
    cell = rg.VanillaCell(3, 4, key=KEY) if kind == "vanilla" else gated(kind)
    xs = jax.random.normal(jax.random.key(3), (9, 3))
    carry0 = jax.tree_util.tree_map(lambda z: z + 0.1, rg.init_carry(cell))
    got = rg.unroll(cell, xs, carry0, checkpoint=checkpoint)
    want = python_loop(cell, xs, carry0)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        assert g.shape == (9, 4)
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
    final = rg.final_carry(cell, xs, carry0)
    for f, w in zip(jax.tree_util.tree_leaves(final), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(f, w[-1], rtol=1e-12, atol=1e-14)


def with_weight(cell, weight):
    return eqx.tree_at(lambda c: c.weight_hh, cell, weight)


@pytest.mark.parametrize("kind", ["vanilla", "gru", "lstm"])
def test_scale_recurrent_equals_scaled_weight(kind):
    cell = rg.VanillaCell(3, 4, key=KEY) if kind == "vanilla" else gated(kind)
    xs = jax.random.normal(jax.random.key(4), (6, 3))
    carry0 = jax.tree_util.tree_map(lambda z: z + 0.2, rg.init_carry(cell))
    scaled = rg.scale_recurrent(cell, 1.7)
    reference = with_weight(cell, 1.7 * cell.weight_hh)
    for g, w in zip(
        jax.tree_util.tree_leaves(rg.unroll(scaled, xs, carry0)),
        jax.tree_util.tree_leaves(python_loop(reference, xs, carry0)),
    ):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
    # Scales compose, and folding gives a plain cell with the scaled weight.
    twice = rg.scale_recurrent(rg.scale_recurrent(cell, 2.0), 0.85)
    np.testing.assert_allclose(rg.recurrent_weight(twice), 1.7 * cell.weight_hh, rtol=1e-14)
    folded = rg.fold_recurrent_scale(scaled)
    assert type(folded) is type(cell)
    np.testing.assert_allclose(folded.weight_hh, 1.7 * cell.weight_hh, rtol=1e-14)


@pytest.mark.parametrize("kind", ["vanilla", "gru", "lstm"])
def test_scale_recurrent_under_vmap_equals_loop(kind):
    cell = rg.VanillaCell(3, 4, key=KEY) if kind == "vanilla" else gated(kind)
    xs = jax.random.normal(jax.random.key(5), (5, 3))
    carry0 = rg.init_carry(cell)
    scales = jnp.linspace(0.5, 1.5, 4)
    batched = jax.vmap(lambda s: rg.unroll(rg.scale_recurrent(cell, s), xs, carry0))(scales)
    for i, s in enumerate(scales):
        single = python_loop(with_weight(cell, s * cell.weight_hh), xs, carry0)
        for b, w in zip(jax.tree_util.tree_leaves(batched), jax.tree_util.tree_leaves(single)):
            np.testing.assert_allclose(b[i], w, rtol=1e-12, atol=1e-14)


def test_scale_keeps_base_weight_shared_under_vmap():
    cell = rg.VanillaCell(3, 4, key=KEY)
    scaled = eqx.filter_vmap(lambda s: rg.scale_recurrent(cell, s))(jnp.ones(3))
    # Only the scale is batched; weight_hh stays the one base weight (not copied per scale).
    assert scaled.weight_hh_scale.shape == (3,)
    jaxpr = jax.make_jaxpr(jax.vmap(lambda s, h: rg.scale_recurrent(cell, s)(jnp.ones(3), h)))(
        jnp.ones(5), jnp.ones((5, 4))
    )
    # The batched step is one (5, 4) x (4, 4) product, not 5 products with 5 weights.
    dots = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "dot_general"]
    shapes = [sorted(v.aval.shape for v in e.invars) for e in dots]
    assert [(4, 4), (5, 4)] in shapes
    assert all(v.aval.size != 4 * 4 * 5 for e in dots for v in e.invars)


@pytest.mark.parametrize("make", ["vanilla", "esn"])
def test_cell_products_ask_for_full_precision(make):
    """Every matrix product of a step, and of its derivative, asks for HIGHEST precision
    (on GPUs the default lets float32 products run in TF32)."""
    if make == "vanilla":
        cell = rg.VanillaCell(3, 4, key=KEY)
    else:
        cell = rg.EchoStateCell(3, 4, key=KEY)
    x, h = jnp.ones(3), jnp.ones(4)
    for fn in (
        lambda h: cell(x, h),
        lambda h: jax.vjp(lambda s: cell(x, s), h)[1](h),
        lambda h: jax.jvp(lambda s: cell(x, s), (h,), (h,))[1],
    ):
        jaxpr = jax.make_jaxpr(fn)(h)
        dots = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "dot_general"]
        assert dots
        for e in dots:
            precision = e.params["precision"]
            assert precision is not None and all(
                p == jax.lax.Precision.HIGHEST for p in precision
            ), precision


# ------------------------------------------------------------------ initialisers


def test_orthogonal_init():
    for shape in [(6, 6), (12, 4)]:
        w = rg.init.orthogonal(1.5)(jax.random.key(1), shape)
        np.testing.assert_allclose(w.T @ w, 2.25 * np.eye(shape[1]), atol=1e-12)
    w = rg.init.orthogonal(1.5)(jax.random.key(1), (6, 6))
    np.testing.assert_allclose(w @ w.T, 2.25 * np.eye(6), atol=1e-12)


def test_identity_init():
    w = rg.init.identity(0.7)(jax.random.key(1), (5, 5))
    np.testing.assert_array_equal(w, 0.7 * np.eye(5))


@pytest.mark.parametrize("base", [None, rg.init.orthogonal(3.0)])
def test_spectral_radius_init_is_exact(base):
    w = rg.init.spectral_radius(1.3, base)(jax.random.key(2), (16, 16))
    radius = np.max(np.abs(np.linalg.eigvals(np.asarray(w))))
    assert abs(radius - 1.3) < 1e-10


def test_gaussian_init_spectral_radius_near_scale():
    w = rg.init.gaussian(0.8)(jax.random.key(3), (512, 512))
    radius = np.max(np.abs(np.linalg.eigvals(np.asarray(w))))
    assert abs(radius - 0.8) < 0.05
    assert abs(float(jnp.std(w)) * np.sqrt(512) - 0.8) < 0.01


def test_initialisers_are_reproducible():
    for init in [rg.init.gaussian(1.0), rg.init.orthogonal(1.0), rg.init.spectral_radius(0.9)]:
        a = init(jax.random.key(7), (8, 8))
        b = init(jax.random.key(7), (8, 8))
        c = init(jax.random.key(8), (8, 8))
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)


def test_vanilla_cell_uses_given_init():
    cell = rg.VanillaCell(2, 4, weight_hh_init=rg.init.identity(1.0), key=KEY)
    np.testing.assert_array_equal(cell.weight_hh, np.eye(4))


# ------------------------------------------------------------------ bad input


def test_bad_step_shapes():
    cell = rg.VanillaCell(3, 4, key=KEY)
    with pytest.raises(ValueError, match=r"`x` must have shape \(3,\)"):
        cell(jnp.ones(2), jnp.zeros(4))
    with pytest.raises(ValueError, match=r"`h` must have shape \(4,\)"):
        cell(jnp.ones(3), jnp.zeros((2, 4)))


def test_bad_xs():
    cell = rg.VanillaCell(3, 4, key=KEY)
    with pytest.raises(ValueError, match=r"`xs` must have shape \(T, 3\)"):
        rg.unroll(cell, jnp.ones(3), jnp.zeros(4))
    with pytest.raises(ValueError, match="T = 0"):
        rg.unroll(cell, jnp.ones((0, 3)), jnp.zeros(4))
    with pytest.raises(ValueError, match="leading time axis"):
        rg.unroll(cell, jnp.ones(()), jnp.zeros(4))


def test_bad_sizes_and_nonlinearity():
    with pytest.raises(ValueError, match="`hidden_size` must be a positive int, got 0"):
        rg.VanillaCell(3, 0, key=KEY)
    with pytest.raises(ValueError, match="`input_size` must be a positive int, got -2"):
        rg.VanillaCell(-2, 3, key=KEY)
    with pytest.raises(TypeError, match="`hidden_size` must be a positive int"):
        rg.VanillaCell(3, 2.5, key=KEY)
    with pytest.raises(ValueError, match="`nonlinearity` must be one of .* got 'tahn'"):
        rg.VanillaCell(3, 4, nonlinearity="tahn", key=KEY)
    with pytest.raises(TypeError, match="`nonlinearity` must be a name or a callable"):
        rg.VanillaCell(3, 4, nonlinearity=3, key=KEY)


@pytest.mark.parametrize("bad", ["1.0", 1 + 2j, jnp.asarray(1 + 0j), True])
def test_non_real_scale(bad):
    cell = rg.VanillaCell(3, 4, key=KEY)
    with pytest.raises(TypeError, match="`scale` must be a real number"):
        rg.scale_recurrent(cell, bad)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), jnp.asarray(-jnp.inf)])
def test_non_finite_concrete_scale(bad):
    cell = rg.VanillaCell(3, 4, key=KEY)
    with pytest.raises(ValueError, match="`scale` must be finite"):
        rg.scale_recurrent(cell, bad)


def test_non_scalar_scale():
    with pytest.raises(ValueError, match="`scale` must be one scalar"):
        rg.scale_recurrent(rg.VanillaCell(3, 4, key=KEY), jnp.ones(2))


def test_unknown_cell_is_not_sweepable():
    with pytest.raises(TypeError, match="no method `init_carry`.*also needs `scale_recurrent`"):
        rg.scale_recurrent(eqx.nn.Linear(2, 2, key=KEY), 1.0)


@pytest.mark.parametrize("init", [rg.init.identity(1.0), rg.init.spectral_radius(1.0)])
def test_non_square_recurrent_init(init):
    with pytest.raises(ValueError, match=r"`shape` must be square.*got \(3, 4\)"):
        init(KEY, (3, 4))


def test_bad_init_arguments():
    with pytest.raises(ValueError, match="`rho` must be > 0"):
        rg.init.spectral_radius(0.0)
    with pytest.raises(ValueError, match="`rho` must be finite"):
        rg.init.spectral_radius(float("inf"))
    with pytest.raises(TypeError, match="`scale` must be a real number"):
        rg.init.orthogonal("big")
    with pytest.raises(ValueError, match="2-D"):
        rg.init.gaussian()(KEY, (3, 3, 3))


def test_carry0_structure_mismatch():
    lstm = gated("lstm")
    xs = jnp.ones((4, 3))
    with pytest.raises(ValueError, match=r"`carry0` does not match LSTMCell.init_carry\(\)"):
        rg.unroll(lstm, xs, jnp.zeros(4))
    with pytest.raises(ValueError, match="`carry0` does not match"):
        rg.unroll(rg.VanillaCell(3, 4, key=KEY), xs, jnp.zeros(5))
    with pytest.raises(ValueError, match="`carry0` does not match"):
        rg.unroll(rg.VanillaCell(3, 4, key=KEY), xs, jnp.zeros(4, jnp.float32))

    class Growing(rg.AbstractCell):  # returns a carry of another shape than it starts with
        def __call__(self, x, carry):
            return jnp.concatenate([carry, x])

        def init_carry(self):
            return jnp.zeros(2)

    with pytest.raises(TypeError, match=r"`cell` \(Growing\) does not keep its carry's"):
        rg.unroll(Growing(), xs, jnp.zeros(2))

    def generic(x, carry):  # a plain function is not a cell: it has no init_carry
        return carry

    with pytest.raises(TypeError, match="has no method `init_carry`"):
        rg.unroll(generic, xs, jnp.zeros(2))


def test_nonlinearity_gain():
    assert rg.VanillaCell(1, 2, nonlinearity="relu", key=KEY).gain == 1.0
    assert rg.EchoStateCell(1, 3, key=KEY).gain == 1.0
    with pytest.raises(TypeError, match="callable nonlinearity"):
        rg.theory.pascanu_rate(rg.VanillaCell(1, 2, nonlinearity=jnp.sin, key=KEY))
    with pytest.raises(TypeError, match="GRUCell has no `gain`"):
        rg.theory.pascanu_rate(gated("gru"))


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "out.txt"
    atomic_write(target, lambda f: f.write("old"), mode="w")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # as open() would, not mkstemp's 0600

    def failing(f):
        f.write("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic_write(target, failing, mode="w")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
