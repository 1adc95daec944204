"""Gradient penalties: Pascanu's Ω and gradient flossing, checked in float64.

Ω is checked against a hand-unrolled NumPy computation (explicit J_k = diag(1 - h_k²) W
and an explicit backward loop for λ), its gradient against central finite differences of
Ω with the adjoints λ precomputed as constants; the flossing penalty's gradient (through
the QR iteration) against finite differences.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rnngrad as rg
from rnngrad._train._penalties import floss, flossing_penalty, pascanu_omega

T, H, IN = 6, 3, 2
XS = jax.random.normal(jax.random.key(20), (T, IN))
YS = jax.random.normal(jax.random.key(21), (T, H))
H0 = jnp.array([0.05, -0.1, 0.2])


def mse(carry, y):
    h = carry[0] if isinstance(carry, tuple) else carry
    return 0.5 * jnp.sum((h - y) ** 2)


def linear_loss(carry, y):
    return jnp.sum(carry * y)


def vanilla(scale=1.3, nonlinearity="tanh", key=1):
    cell = rg.VanillaCell(IN, H, nonlinearity=nonlinearity, key=jax.random.key(key))
    cell = eqx.tree_at(lambda c: c.bias, cell, jnp.array([0.1, -0.2, 0.3]))
    return rg.scale_recurrent(cell, scale)


# --------------------------------------------------------------------------- NumPy reference


def np_forward(w, u, b, xs, h0):
    hs, h = [], np.asarray(h0)
    for x in np.asarray(xs):
        h = np.tanh(w @ h + u @ x + b)
        hs.append(h)
    return np.array(hs)


def np_adjoints(w, hs, grads):
    """λ_{T-1} = g_{T-1}; λ_k = g_k + λ_{k+1} J_{k+1} with J_j = diag(1 - h_j²) W."""
    lam = np.zeros_like(grads)
    lam[-1] = grads[-1]
    for k in range(len(hs) - 2, -1, -1):
        jac = np.diag(1 - hs[k + 1] ** 2) @ w
        lam[k] = grads[k] + lam[k + 1] @ jac
    return lam


def np_loss_grads(hs, ys, loss):
    return hs - np.asarray(ys) if loss == "mse" else np.asarray(ys).copy()


def np_terms(w, u, b, xs, h0, lam, squared, hs=None):
    """Per-step (ratio - 1)² with λ given; states recomputed from w unless `hs` is given."""
    if hs is None:
        hs = np_forward(w, u, b, xs, h0)
    out = []
    for k in range(len(hs)):
        jac = np.diag(1 - hs[k] ** 2) @ w  # J_k = ∂h_k/∂h_{k-1}
        num, den = np.linalg.norm(lam[k] @ jac), np.linalg.norm(lam[k])
        ratio = (num / den) ** 2 if squared else num / den
        out.append((ratio - 1.0) ** 2)
    return np.array(out)


def np_omega(cell, xs, h0, ys, *, loss="mse", squared=False, mask_below=0.0, mean=False):
    w = np.asarray(rg.recurrent_weight(cell))
    u, b = np.asarray(cell.weight_ih), np.asarray(cell.bias)
    hs = np_forward(w, u, b, xs, h0)
    lam = np_adjoints(w, hs, np_loss_grads(hs, ys, loss))
    keep = np.linalg.norm(lam, axis=1) > mask_below
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(keep, np_terms(w, u, b, xs, h0, lam, squared, hs=hs), 0.0)
    return terms.sum() / max(keep.sum(), 1) if mean else terms.sum()


def rel_err(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# --------------------------------------------------------------------------- Ω values


@pytest.mark.parametrize("squared, mean", [(False, False), (True, True)])
def test_omega_matches_hand_unrolled_numpy(squared, mean):
    cell = vanilla()
    reduction = "mean" if mean else "sum"
    got = pascanu_omega(cell, XS, H0, mse, YS, squared_norms=squared, reduction=reduction)
    want = np_omega(cell, XS, H0, YS, squared=squared, mean=mean)
    assert want > 1e-3  # a non-trivial value
    np.testing.assert_allclose(float(got), want, rtol=1e-10, atol=0)
    # The two norm forms give different numbers: the check can fail.
    other = np_omega(cell, XS, H0, YS, squared=not squared, mean=mean)
    assert abs(other - want) > 1e-3


def test_orthogonal_linear_rnn_has_zero_omega():
    cell = rg.VanillaCell(
        IN,
        H,
        weight_hh_init=rg.init.orthogonal(1.0),
        nonlinearity="identity",
        key=jax.random.key(3),
    )
    gains = jnp.array([1.0, 1.1])
    omega = jax.vmap(lambda g: pascanu_omega(rg.scale_recurrent(cell, g), XS, H0, mse, YS))(gains)
    assert abs(float(omega[0])) <= 1e-12
    # Not trivially zero: the same cell at gain 1.1 has Ω = T (1.1 - 1)².
    np.testing.assert_allclose(float(omega[1]), T * 0.1**2, rtol=1e-10)


def test_omega_exact_where_adjoints_overflow_or_underflow():
    # ‖λ_0‖ ~ 3^700 ≈ 1e334 (overflows float64) or 0.5^700 ≈ 1e-211; each ratio is exactly
    # the gain for a scaled orthogonal linear RNN, so Ω = T (gain - 1)².
    length, size = 700, 4
    cell = rg.VanillaCell(
        1,
        size,
        weight_hh_init=rg.init.orthogonal(1.0),
        nonlinearity="identity",
        key=jax.random.key(6),
    )
    ys = jnp.zeros((length, size)).at[-1].set(1.0)  # one loss, at the final step only
    xs = jnp.zeros((length, 1))

    def value_and_grad(gain):
        return eqx.filter_value_and_grad(pascanu_omega)(
            rg.scale_recurrent(cell, gain), xs, jnp.zeros(size), linear_loss, ys
        )

    omega, grad = jax.vmap(value_and_grad)(jnp.array([3.0, 0.5]))
    np.testing.assert_allclose(np.asarray(omega), [length * 4.0, length * 0.25], rtol=1e-10)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grad))


def test_masking_zero_adjoints():
    # Losses only up to t = 2: λ_k = 0 exactly for k > 2, where the ratio is 0/0.
    ys = YS.at[3:].set(0.0)
    cell = vanilla()
    value_and_grad = eqx.filter_value_and_grad(pascanu_omega)
    omega, grad = value_and_grad(cell, XS, H0, linear_loss, ys)
    want = np_omega(cell, XS, H0, ys, loss="linear")
    assert np.isfinite(want) and want > 1e-3
    np.testing.assert_allclose(float(omega), want, rtol=1e-10)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grad))
    # No loss at all: every term is masked, Ω = 0 with a zero (finite) gradient.
    omega0, grad0 = value_and_grad(cell, XS, H0, linear_loss, jnp.zeros_like(YS))
    assert float(omega0) == 0.0
    assert all(bool(jnp.all(g == 0)) for g in jax.tree_util.tree_leaves(grad0))


def test_mask_below_positive_bound():
    cell = vanilla()
    w = np.asarray(rg.recurrent_weight(cell))
    hs = np_forward(w, np.asarray(cell.weight_ih), np.asarray(cell.bias), XS, H0)
    norms = np.linalg.norm(np_adjoints(w, hs, np_loss_grads(hs, YS, "mse")), axis=1)
    bound = float(np.median(norms))  # masks about half of the steps
    got = pascanu_omega(cell, XS, H0, mse, YS, mask_below=jnp.asarray(bound), reduction="mean")
    want = np_omega(cell, XS, H0, YS, mask_below=bound, mean=True)
    np.testing.assert_allclose(float(got), want, rtol=1e-10)
    full = np_omega(cell, XS, H0, YS, mean=True)
    assert abs(want - full) > 1e-3
    # Everything masked: the mean over no terms is 0, not NaN.
    none = pascanu_omega(cell, XS, H0, mse, YS, mask_below=jnp.asarray(1e300), reduction="mean")
    assert float(none) == 0.0


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_omega_gated_cells_against_state_jacobians(kind):
    # Reference: λ by an explicit loop over rg.state_jacobians on the flattened carry.
    make = eqx.nn.GRUCell if kind == "gru" else eqx.nn.LSTMCell
    cell = make(IN, H, key=jax.random.key(7))
    carry0 = jax.tree_util.tree_map(lambda z: z + 0.1, rg.init_carry(cell))
    jacs = np.asarray(rg.state_jacobians(cell, XS, carry0))
    carries = rg.unroll(cell, XS, carry0)
    flat = np.asarray(jax.vmap(lambda c: jax.flatten_util.ravel_pytree(c)[0])(carries))
    _, unravel = jax.flatten_util.ravel_pytree(carry0)
    grads = np.asarray(jax.vmap(jax.grad(lambda s, y: mse(unravel(s), y)))(jnp.asarray(flat), YS))
    lam = np.zeros_like(grads)
    lam[-1] = grads[-1]
    for k in range(T - 2, -1, -1):
        lam[k] = grads[k] + lam[k + 1] @ jacs[k + 1]
    ratios = np.linalg.norm(np.einsum("ks,ksr->kr", lam, jacs), axis=1) / np.linalg.norm(
        lam, axis=1
    )
    want = np.sum((ratios - 1) ** 2)
    np.testing.assert_allclose(float(pascanu_omega(cell, XS, carry0, mse, YS)), want, rtol=1e-10)
    if kind == "lstm":  # differentiable through the gates too (one compile is enough)
        grad = eqx.filter_grad(pascanu_omega)(cell, XS, carry0, mse, YS)
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grad))


def test_omega_under_vmap_over_scale():
    base = vanilla(scale=1.0)
    scales = jnp.array([0.7, 1.3, 2.0])
    got = jax.vmap(lambda s: pascanu_omega(rg.scale_recurrent(base, s), XS, H0, mse, YS))(scales)
    for i, s in enumerate([0.7, 1.3, 2.0]):
        want = np_omega(rg.scale_recurrent(base, s), XS, H0, YS)
        np.testing.assert_allclose(float(got[i]), want, rtol=1e-10)


# --------------------------------------------------------------------------- Ω gradients


def fd_grad(fn, w, eps=1e-6):
    out = np.zeros_like(w)
    for idx in np.ndindex(*w.shape):
        dw = np.zeros_like(w)
        dw[idx] = eps
        out[idx] = (fn(w + dw) - fn(w - dw)) / (2 * eps)
    return out


@pytest.mark.parametrize("squared, through_states", [(False, False), (True, True)])
def test_omega_gradient_against_finite_differences_with_adjoints_fixed(squared, through_states):
    cell = rg.fold_recurrent_scale(vanilla())
    w0 = np.asarray(cell.weight_hh)
    u, b = np.asarray(cell.weight_ih), np.asarray(cell.bias)
    hs0 = np_forward(w0, u, b, XS, H0)
    lam = np_adjoints(w0, hs0, np_loss_grads(hs0, YS, "mse"))  # fixed: computed at w0

    prev = np.vstack([np.asarray(H0)[None], hs0[:-1]])  # s_{k-1} at w0

    def omega_fixed(w):
        # through_states: states recomputed from w. Otherwise the paper's ∂⁺: s_{k-1} held
        # at its w0 value; only step k's own use of W moves (W and φ'(W s_{k-1} + ...)).
        hs = None if through_states else np.tanh(prev @ w.T + np.asarray(XS) @ u.T + b)
        return np_terms(w, u, b, XS, H0, lam, squared, hs=hs).sum()

    want = fd_grad(omega_fixed, w0)
    got = eqx.filter_grad(pascanu_omega)(
        cell, XS, H0, mse, YS, squared_norms=squared, through_states=through_states
    ).weight_hh
    assert rel_err(got, want) <= 1e-6

    # The test can fail: the gradient of the same Ω with λ *not* held fixed is different.
    def omega_full(w):
        c = eqx.tree_at(lambda c: c.weight_hh, cell, jnp.asarray(w))
        return np_omega(c, XS, H0, YS, squared=squared)

    assert rel_err(got, fd_grad(omega_full, w0)) > 1e-3


# --------------------------------------------------------------------------- Ω bad input


def test_omega_bad_input():
    cell = vanilla()
    with pytest.raises(ValueError, match="ys"):
        pascanu_omega(cell, XS, H0, mse, YS[:-1])
    with pytest.raises(ValueError, match="step_loss"):
        pascanu_omega(cell, XS, H0, lambda h, y: h - y, YS)
    with pytest.raises(TypeError, match="step_loss"):
        pascanu_omega(cell, XS, H0, "mse", YS)
    with pytest.raises(ValueError, match="mask_below"):
        pascanu_omega(cell, XS, H0, mse, YS, mask_below=-1.0)
    with pytest.raises(ValueError, match="mask_below"):
        pascanu_omega(cell, XS, H0, mse, YS, mask_below=float("nan"))
    with pytest.raises(ValueError, match="reduction"):
        pascanu_omega(cell, XS, H0, mse, YS, reduction="max")
    with pytest.raises(TypeError, match="squared_norms"):
        pascanu_omega(cell, XS, H0, mse, YS, squared_norms=1)
    with pytest.raises(ValueError, match="xs"):
        pascanu_omega(cell, XS[:0], H0, mse, YS[:0])


# --------------------------------------------------------------------------- flossing


def test_flossing_penalty_value_and_gradient_against_finite_differences():
    length = 30
    xs = 0.3 * jax.random.normal(jax.random.key(8), (length, IN))
    cell = rg.fold_recurrent_scale(vanilla(scale=1.4))

    @jax.jit
    def value_and_grad(w):
        def pen(w_):
            c = eqx.tree_at(lambda c: c.weight_hh, cell, w_)
            return flossing_penalty(c, xs, H0, n=2, target=0.1, warmup=5, state_gradient=True)

        return jax.value_and_grad(pen)(w)

    lam = rg.lyapunov_spectrum(cell, xs, H0, 2, warmup=5).exponents
    value, got = value_and_grad(cell.weight_hh)
    np.testing.assert_allclose(float(value), float(jnp.sum((lam - 0.1) ** 2)), rtol=1e-12)
    want = fd_grad(lambda w: float(value_and_grad(jnp.asarray(w))[0]), np.asarray(cell.weight_hh))
    assert np.all(np.isfinite(np.asarray(got)))
    assert np.linalg.norm(want) > 1e-3
    assert rel_err(got, want) <= 1e-6


def test_flossing_gradient_with_the_trajectory_held_fixed():
    """state_gradient=False: the derivative of a hand-built Benettin iteration whose
    Jacobians J_t(W) are taken at a fixed, precomputed state trajectory."""
    length, warmup = 25, 5
    xs = 0.3 * jax.random.normal(jax.random.key(9), (length, IN))
    cell = rg.fold_recurrent_scale(vanilla(scale=1.4))
    prev = jnp.concatenate([H0[None], rg.unroll(cell, xs, H0)[:-1]])  # s_{t-1}, fixed

    def by_hand(w):
        c = eqx.tree_at(lambda c: c.weight_hh, cell, jnp.asarray(w))
        q, total = jnp.eye(H, 2), jnp.zeros(2)
        for t in range(length):
            jac = jax.jacfwd(lambda s, t=t: c(xs[t], s))(prev[t])
            q, r = jnp.linalg.qr(jac @ q)
            if t >= warmup:
                total = total + jnp.log(jnp.abs(jnp.diagonal(r)))
        lam = jnp.sort(total / (length - warmup))[::-1]
        return jnp.sum((lam - 0.1) ** 2)

    def grad_weight_hh(state_gradient):
        def penalty(w):
            c = eqx.tree_at(lambda c: c.weight_hh, cell, w)
            return flossing_penalty(
                c, xs, H0, n=2, target=0.1, warmup=5, state_gradient=state_gradient
            )

        return jax.jit(jax.grad(penalty))(cell.weight_hh)

    got = grad_weight_hh(False)
    w0 = np.asarray(cell.weight_hh)
    np.testing.assert_allclose(
        float(by_hand(w0)),
        float(flossing_penalty(cell, xs, H0, n=2, target=0.1, warmup=5)),
        rtol=1e-12,
    )
    by_hand_jit = jax.jit(by_hand)
    want = fd_grad(lambda w: float(by_hand_jit(jnp.asarray(w))), w0)
    assert rel_err(got, want) <= 1e-6
    full = grad_weight_hh(True)
    assert rel_err(got, full) > 1e-3  # the two derivatives really differ


def test_floss_moves_top_exponent_toward_zero():
    size, length = 64, 100
    cell = rg.VanillaCell(1, size, weight_hh_init=rg.init.gaussian(1.0), key=jax.random.key(0))
    cell = rg.scale_recurrent(cell, 1.5)  # tanh RNN with gain 1.5: chaotic, λ_1 > 0
    xs = 0.1 * jax.random.normal(jax.random.key(10), (length, 1))
    carry0 = 0.5 * jax.random.normal(jax.random.key(99), (size,))
    new, hist = floss(cell, xs, carry0, n=1, target=0.0, steps=30, warmup=20)
    assert hist.shape == (31, 1)
    assert new.weight_hh_scale is None  # the scale was folded into weight_hh
    before, after = float(hist[0, 0]), float(hist[-1, 0])
    assert before > 0.05
    assert abs(after) < 0.5 * abs(before)
    again = rg.lyapunov_spectrum(new, xs, carry0, 1, warmup=20).exponents
    np.testing.assert_allclose(float(again[0]), after, rtol=1e-9)


def test_floss_gru_filter_spec_runs_and_is_finite():
    # An equinox GRU, training only its recurrent weight.
    cell = eqx.nn.GRUCell(IN, H, key=jax.random.key(11))
    spec = jax.tree_util.tree_map(lambda _: False, cell)
    spec = eqx.tree_at(lambda c: c.weight_hh, spec, True)
    new, hist = floss(
        cell, XS, rg.init_carry(cell), n=2, steps=3, optimizer=optax.sgd(1e-1), filter_spec=spec
    )
    assert isinstance(new, eqx.nn.GRUCell)
    assert hist.shape == (4, 2) and bool(jnp.all(jnp.isfinite(hist)))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(new))
    assert not np.allclose(np.asarray(new.weight_hh), np.asarray(cell.weight_hh))
    np.testing.assert_array_equal(np.asarray(new.weight_ih), np.asarray(cell.weight_ih))
    np.testing.assert_array_equal(np.asarray(new.bias), np.asarray(cell.bias))


def test_flossing_bad_input():
    cell = vanilla()
    with pytest.raises(ValueError, match="`n`"):
        flossing_penalty(cell, XS, H0, n=0)
    with pytest.raises(ValueError, match="`n`"):
        flossing_penalty(cell, XS, H0, n=H + 1)
    with pytest.raises(TypeError, match="`n`"):
        flossing_penalty(cell, XS, H0, n=1.0)
    with pytest.raises(ValueError, match="target"):
        flossing_penalty(cell, XS, H0, target=float("inf"))
    with pytest.raises(ValueError, match="target"):
        floss(cell, XS, H0, target=float("nan"), steps=2)
    with pytest.raises(ValueError, match="`n`"):
        floss(cell, XS, H0, n=H + 1, steps=2)
    with pytest.raises(ValueError, match="steps"):
        floss(cell, XS, H0, steps=0)
    with pytest.raises(TypeError, match="optimizer"):
        floss(cell, XS, H0, steps=2, optimizer="adam")
    with pytest.raises(ValueError, match="warmup"):
        floss(cell, XS, H0, steps=2, warmup=T)
