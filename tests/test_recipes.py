"""Cell recipes (IRNN, orthogonal, spectral, LSTM forget bias and chrono, GRU); float64.

Each recipe is checked for what its paper prescribes, and shown to work with
``rg.unroll``, ``rg.timestep_contributions`` (its per-step parameter gradients summed
equal ``eqx.filter_grad`` of the total loss computed by a plain Python loop),
``rg.lyapunov_spectrum`` and, once, ``rg.train``. One jitted analysis per recipe.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rnngrad as rg

IN, H, T = 2, 4, 6
KEY = jax.random.key(0)

RECIPES = {
    "irnn": lambda k: rg.irnn(IN, H, key=k),
    "orthogonal": lambda k: rg.orthogonal_rnn(IN, H, key=k),
    "spectral": lambda k: rg.spectral_rnn(IN, H, rho=0.9, key=k),
    "lstm": lambda k: rg.lstm(IN, H, forget_bias=1.0, key=k),
    "chrono_lstm": lambda k: rg.chrono_lstm(IN, H, max_delay=50, key=k),
    "gru": lambda k: rg.gru(IN, H, key=k),
}


def _eig_radius(w):
    return float(np.max(np.abs(np.linalg.eigvals(np.asarray(w)))))


# --- what each recipe prescribes ----------------------------------------------------------


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_irnn_identity_relu_zero_bias(scale):
    cell = rg.irnn(IN, H, scale=scale, key=KEY)
    assert isinstance(cell, rg.VanillaCell) and cell.nonlinearity == "relu"
    np.testing.assert_array_equal(cell.weight_hh, scale * np.eye(H))
    np.testing.assert_array_equal(cell.bias, np.zeros(H))
    assert cell.weight_ih.shape == (H, IN) and cell.weight_hh.dtype == jnp.float64
    x, h = jnp.array([0.3, -0.7]), jnp.array([1.0, -1.0, 0.5, 0.0])
    expected = np.maximum(scale * np.asarray(h) + np.asarray(cell.weight_ih) @ np.asarray(x), 0)
    np.testing.assert_allclose(cell(x, h), expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("scale", [1.0, 0.7])
def test_orthogonal_rnn(scale):
    cell = rg.orthogonal_rnn(IN, H, scale=scale, key=KEY)
    w = np.asarray(cell.weight_hh)
    assert cell.nonlinearity == "tanh"
    np.testing.assert_allclose(w @ w.T, scale**2 * np.eye(H), rtol=0, atol=1e-12)
    np.testing.assert_allclose(w.T @ w, scale**2 * np.eye(H), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.svd(w, compute_uv=False), scale, rtol=1e-12)


@pytest.mark.parametrize("rho", [0.5, 0.9, 1.3])
def test_spectral_rnn_radius_is_exact(rho):
    cell = rg.spectral_rnn(IN, H, rho=rho, key=KEY)
    assert cell.nonlinearity == "tanh"
    assert abs(_eig_radius(cell.weight_hh) - rho) <= 1e-12
    # Not just a rescaled identity: a random (non-normal) Gaussian matrix.
    other = rg.spectral_rnn(IN, H, rho=rho, key=jax.random.key(1))
    assert not np.allclose(other.weight_hh, cell.weight_hh)


@pytest.mark.parametrize("forget_bias", [1.0, 0.0, -2.5, 3])
def test_lstm_forget_bias_only_changes_forget_gate(forget_bias):
    cell = rg.lstm(IN, H, forget_bias=forget_bias, key=KEY)
    plain = eqx.nn.LSTMCell(IN, H, key=KEY)
    assert isinstance(cell, eqx.nn.LSTMCell)
    np.testing.assert_array_equal(cell.weight_ih, plain.weight_ih)
    np.testing.assert_array_equal(cell.weight_hh, plain.weight_hh)
    np.testing.assert_array_equal(cell.bias[H : 2 * H], np.full(H, float(forget_bias)))
    np.testing.assert_array_equal(cell.bias[:H], plain.bias[:H])  # input gate
    np.testing.assert_array_equal(cell.bias[2 * H :], plain.bias[2 * H :])  # g and output
    assert cell.bias.dtype == plain.bias.dtype == jnp.float64


def test_lstm_bias_slot_is_the_forget_gate():
    """bias[H:2H] really gates the cell state: +30 keeps c (up to i·g), −30 erases it."""
    x, h, c = jnp.array([0.2, -0.4]), jnp.zeros(H), jnp.full(H, 5.0)
    keep = rg.lstm(IN, H, forget_bias=30.0, key=KEY)(x, (h, c))[1]
    erase = rg.lstm(IN, H, forget_bias=-30.0, key=KEY)(x, (h, c))[1]
    assert np.all(np.abs(np.asarray(keep) - 5.0) < 1.0)  # c' = f c + i g, f ≈ 1, |i g| < 1
    assert np.all(np.abs(np.asarray(erase)) < 1.0)  # f ≈ 0: only i g remains


@pytest.mark.parametrize("max_delay", [3, 50, 1000])
def test_chrono_lstm_biases_are_log_time_scales(max_delay):
    """Input bias -log τ, forget bias log τ, τ ~ U(1, max_delay - 1); weights as equinox's."""
    n = 512  # enough units to test the mean of the draws
    cell = rg.chrono_lstm(IN, n, max_delay=max_delay, key=KEY)
    k_cell, k_tau = jax.random.split(KEY)
    plain = eqx.nn.LSTMCell(IN, n, key=k_cell)
    np.testing.assert_array_equal(cell.weight_ih, plain.weight_ih)
    np.testing.assert_array_equal(cell.weight_hh, plain.weight_hh)
    np.testing.assert_array_equal(cell.bias[2 * n :], plain.bias[2 * n :])  # g and output
    tau = np.exp(np.asarray(cell.bias[n : 2 * n]))
    np.testing.assert_array_equal(cell.bias[:n], -cell.bias[n : 2 * n])
    assert np.all(tau >= 1.0 - 1e-12) and np.all(tau <= max_delay - 1.0 + 1e-9)
    # Uniform on [1, max_delay - 1]: the mean is the midpoint (4 standard errors).
    width = max_delay - 2.0
    assert abs(tau.mean() - (1.0 + width / 2)) < 4 * width / np.sqrt(12 * n)
    # The forget gate of unit j keeps a fraction τ/(1 + τ) per step.
    forget = np.asarray(jax.nn.sigmoid(cell.bias[n : 2 * n]))
    np.testing.assert_allclose(forget, tau / (1 + tau), rtol=1e-12)
    # Same key, same bits; another key, other time scales.
    again = rg.chrono_lstm(IN, n, max_delay=max_delay, key=KEY)
    np.testing.assert_array_equal(again.bias, cell.bias)
    if max_delay > 3:
        other = rg.chrono_lstm(IN, n, max_delay=max_delay, key=jax.random.key(1))
        assert not np.array_equal(other.bias, cell.bias)


def test_chrono_lstm_rejects_bad_max_delay():
    with pytest.raises(ValueError, match="`max_delay` must be >= 3"):
        rg.chrono_lstm(IN, H, max_delay=2, key=KEY)
    with pytest.raises(ValueError, match="`max_delay` must be a positive int"):
        rg.chrono_lstm(IN, H, max_delay=0, key=KEY)
    with pytest.raises(TypeError, match="`max_delay` must be a positive int"):
        rg.chrono_lstm(IN, H, max_delay=100.0, key=KEY)
    with pytest.raises(ValueError, match="needs an LSTM with a bias"):
        rg.chrono_lstm(IN, H, max_delay=10, key=KEY, use_bias=False)


def test_lstm_keeps_dtype_and_gru_is_equinox_as_is():
    assert rg.lstm(IN, H, key=KEY, dtype=jnp.float32).bias.dtype == jnp.float32
    cell, plain = rg.gru(IN, H, key=KEY), eqx.nn.GRUCell(IN, H, key=KEY)
    assert isinstance(cell, eqx.nn.GRUCell)
    for a, b in zip(jax.tree_util.tree_leaves(cell), jax.tree_util.tree_leaves(plain)):
        np.testing.assert_array_equal(a, b)


# --- every recipe with every tool ---------------------------------------------------------


def _step_loss(carry, y):
    s = rg.flatten_carry(carry)[0]
    return jnp.sum((jnp.tanh(s) - y) ** 2)


def _loop_loss(cell, xs, carry0, ys):
    """Σ_t L_t by a plain Python loop over steps: independent of lax.scan and rg.unroll."""
    carry, total = carry0, jnp.zeros(())
    for t in range(xs.shape[0]):
        carry = cell(xs[t], carry)
        total = total + _step_loss(carry, ys[t])
    return total, carry


@eqx.filter_jit
def _analyse(cell, xs, carry0, ys):
    """Everything at once, so that each recipe compiles one program."""
    carries = rg.unroll(cell, xs, carry0)
    contributions = rg.timestep_contributions(cell, xs, carry0, _step_loss, ys, blocks=1)
    (loss, last), grad = eqx.filter_value_and_grad(_loop_loss, has_aux=True)(cell, xs, carry0, ys)
    lyapunov = rg.lyapunov_spectrum(cell, xs, carry0).exponents
    return carries, last, contributions, grad, loss, lyapunov


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_works_with_every_tool(name):
    cell = RECIPES[name](KEY)
    k_x, k_y = jax.random.split(jax.random.key(1))
    # Small inputs and a start at 1: the IRNN's ReLU units all stay active.
    xs = 0.1 * jax.random.normal(k_x, (T, IN))
    carry0 = jax.tree_util.tree_map(jnp.ones_like, rg.init_carry(cell))
    size = rg.state_size(cell)
    assert size == (2 * H if "lstm" in name else H)
    ys = jax.random.normal(k_y, (T, size))

    carries, last, contrib, grad, loss, lyapunov = _analyse(cell, xs, carry0, ys)

    # unroll: every carry, stacked on a leading time axis; the last equals the loop's.
    for stacked, ref in zip(jax.tree_util.tree_leaves(carries), jax.tree_util.tree_leaves(last)):
        assert stacked.shape == (T, H)
        np.testing.assert_allclose(stacked[-1], ref, rtol=0, atol=1e-14)

    # timestep_contributions: per-step parameter gradients sum to the true gradient.
    assert contrib.norms.shape == (T, T) and bool(contrib.finite)
    assert abs(float(contrib.total_loss) - float(loss)) <= 1e-12
    summed = contrib.grad
    assert jax.tree_util.tree_structure(summed) == jax.tree_util.tree_structure(grad)
    leaves = jax.tree_util.tree_leaves(grad)
    assert leaves and all(leaf.dtype == jnp.float64 for leaf in leaves)
    for mine, ref in zip(jax.tree_util.tree_leaves(summed), leaves):
        assert float(jnp.max(jnp.abs(mine - ref))) <= 1e-10
    for per_step, ref in zip(jax.tree_util.tree_leaves(contrib.param_grads), leaves):
        assert per_step.shape == (T, *ref.shape)

    # lyapunov_spectrum: one finite exponent per state dimension, descending.
    lam = np.asarray(lyapunov)
    assert lam.shape == (size,) and np.all(np.isfinite(lam))
    assert np.all(np.diff(lam) <= 1e-12)
    if name == "irnn":
        # Identity W_rec and active ReLUs: every Jacobian is I, every exponent 0 —
        # why Le et al. start there: gradients neither vanish nor explode.
        np.testing.assert_allclose(lam, 0.0, rtol=0, atol=1e-12)
    if name == "orthogonal":
        # ‖diag(tanh') W‖₂ <= 1 with W orthogonal: no direction can grow.
        assert np.all(lam <= 1e-12)


def test_train_runs_with_a_recipe():
    """One cheap rg.train call (IRNN on a short adding task) to show the recipe trains."""
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam is not strict-safe
        res = rg.train(
            lambda k: rg.irnn(2, H, key=k),
            rg.AddingTask(10),
            optimizer=optax.adam(1e-3),
            steps=2,
            batch_size=4,
            key=jax.random.key(2),
            test_size=8,
            progress=False,
        )
    assert res.losses.shape == (1, 2) and np.all(np.isfinite(np.asarray(res.losses)))
    assert np.all(np.asarray(res.first_divergent_step) == -1)
    # The model holds an IRNN whose recurrent weight Adam has moved off the identity.
    w = np.asarray(res.model.cell.weight_hh)[0]
    assert w.shape == (H, H) and 0 < np.max(np.abs(w - np.eye(H))) < 0.01


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_lstm_rejects_non_finite_forget_bias(value):
    with pytest.raises(ValueError, match="`forget_bias` must be finite"):
        rg.lstm(IN, H, forget_bias=value, key=KEY)


def test_lstm_rejects_other_bad_forget_bias():
    with pytest.raises(TypeError, match="`forget_bias` must be a real number"):
        rg.lstm(IN, H, forget_bias="1", key=KEY)
    with pytest.raises(ValueError, match="`forget_bias` must be a scalar"):
        rg.lstm(IN, H, forget_bias=jnp.ones(2), key=KEY)
    with pytest.raises(ValueError, match="needs an LSTM with a bias"):
        rg.lstm(IN, H, key=KEY, use_bias=False)


@pytest.mark.parametrize("name", sorted(RECIPES))
@pytest.mark.parametrize(
    "sizes, which", [((0, 3), "input_size"), ((2, 0), "hidden_size"), ((2, -1), "hidden_size")]
)
def test_non_positive_sizes(name, sizes, which):
    recipe = {
        "irnn": rg.irnn,
        "orthogonal": rg.orthogonal_rnn,
        "spectral": rg.spectral_rnn,
        "lstm": rg.lstm,
        "chrono_lstm": lambda *a, key: rg.chrono_lstm(*a, max_delay=10, key=key),
        "gru": rg.gru,
    }[name]
    with pytest.raises(ValueError, match=f"`{which}` must be a positive int"):
        recipe(*sizes, key=KEY)


def test_bad_scale_and_radius():
    with pytest.raises(ValueError, match="`scale` must be finite"):
        rg.irnn(IN, H, scale=float("nan"), key=KEY)
    with pytest.raises(ValueError, match="`scale` must be finite"):
        rg.orthogonal_rnn(IN, H, scale=float("inf"), key=KEY)
    with pytest.raises(ValueError, match="`rho` must be > 0"):
        rg.spectral_rnn(IN, H, rho=0.0, key=KEY)
