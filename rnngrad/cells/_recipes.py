"""Named cell recipes for the vanishing-gradient remedies.

Each returns a cell that works with ``rg.unroll``, ``rg.timestep_contributions``,
``rg.lyapunov_spectrum`` and ``rg.train`` unchanged.
"""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PRNGKeyArray

from .._checks import Checked, check_key, check_positive_int, check_real_scalar
from . import _init
from ._vanilla import VanillaCell


def irnn(
    input_size: Checked[int],
    hidden_size: Checked[int],
    *,
    scale: Checked[float] = 1.0,
    key: Checked[PRNGKeyArray],
    **kw: Any,
) -> VanillaCell:
    """IRNN: ReLU vanilla cell, identity ``W_rec`` (times `scale`), zero bias.

    Reference: Q. V. Le, N. Jaitly & G. E. Hinton, "A simple way to initialize recurrent
    networks of rectified linear units", arXiv:1504.00941 (2015). They also scale the
    input weights to N(0, 0.001²); pass ``weight_ih_init=`` to do so.

    >>> import jax, rnngrad as rg
    >>> cell = rg.irnn(2, 3, key=jax.random.key(0))
    >>> cell.weight_hh.tolist(), cell.nonlinearity
    ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], 'relu')
    """
    return VanillaCell(
        input_size,
        hidden_size,
        nonlinearity="relu",
        weight_hh_init=_init.identity(scale),
        key=key,
        **kw,
    )


def orthogonal_rnn(
    input_size: Checked[int],
    hidden_size: Checked[int],
    *,
    scale: Checked[float] = 1.0,
    key: Checked[PRNGKeyArray],
    **kw: Any,
) -> VanillaCell:
    """tanh vanilla cell with an orthogonal ``W_rec`` times `scale` (Saxe et al. 2014).

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> w = rg.orthogonal_rnn(2, 4, key=jax.random.key(0)).weight_hh
    >>> bool(jnp.allclose(w @ w.T, jnp.eye(4), atol=1e-6))
    True
    """
    return VanillaCell(
        input_size,
        hidden_size,
        nonlinearity="tanh",
        weight_hh_init=_init.orthogonal(scale),
        key=key,
        **kw,
    )


def spectral_rnn(
    input_size: Checked[int],
    hidden_size: Checked[int],
    *,
    rho: Checked[float] = 1.0,
    key: Checked[PRNGKeyArray],
    **kw: Any,
) -> VanillaCell:
    """tanh vanilla cell whose Gaussian ``W_rec`` is rescaled to spectral radius `rho`.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> w = rg.spectral_rnn(2, 5, rho=0.9, key=jax.random.key(0)).weight_hh
    >>> round(float(jnp.max(jnp.abs(jnp.linalg.eigvals(w)))), 6)
    0.9
    """
    return VanillaCell(
        input_size,
        hidden_size,
        nonlinearity="tanh",
        weight_hh_init=_init.spectral_radius(rho),
        key=key,
        **kw,
    )


def lstm(
    input_size: Checked[int],
    hidden_size: Checked[int],
    *,
    forget_bias: Checked[float] = 1.0,
    key: Checked[PRNGKeyArray],
    **kw: Any,
) -> eqx.nn.LSTMCell:
    """``eqx.nn.LSTMCell`` with its forget-gate bias set to `forget_bias`.

    equinox's LSTM has no forget-bias option; its gates are ordered (i, f, g, o), so the
    forget gate's bias is ``bias[H:2H]``, set here with ``eqx.tree_at``. A bias of 1
    keeps the cell state (the constant error carousel) open at the start of training.

    **Raises:** ``ValueError`` for non-positive sizes, a non-finite or non-scalar
    `forget_bias`, or ``use_bias=False``; ``TypeError`` for a non-real `forget_bias`.

    Reference: F. A. Gers, J. Schmidhuber & F. Cummins, "Learning to forget", Neural
    Computation 12 (2000); R. Jozefowicz, W. Zaremba & I. Sutskever, ICML 2015.

    >>> import jax, rnngrad as rg
    >>> cell = rg.lstm(2, 3, forget_bias=1.0, key=jax.random.key(0))
    >>> cell.bias[3:6].tolist()
    [1.0, 1.0, 1.0]
    """
    # equinox does not check sizes (0 builds an empty cell, negatives fail in math.sqrt).
    input_size = check_positive_int("input_size", input_size)
    hidden_size = check_positive_int("hidden_size", hidden_size)
    check_real_scalar("forget_bias", forget_bias)
    check_key("key", key, where="lstm")
    cell = eqx.nn.LSTMCell(input_size, hidden_size, key=key, **kw)
    if cell.bias is None:
        raise ValueError("`forget_bias` needs an LSTM with a bias (use_bias=True).")
    bias = cell.bias.at[hidden_size : 2 * hidden_size].set(
        jnp.asarray(forget_bias, cell.bias.dtype)
    )
    return eqx.tree_at(lambda c: c.bias, cell, bias)


def chrono_lstm(
    input_size: Checked[int],
    hidden_size: Checked[int],
    *,
    max_delay: Checked[int],
    key: Checked[PRNGKeyArray],
    **kw: Any,
) -> eqx.nn.LSTMCell:
    """``eqx.nn.LSTMCell`` with chrono initialisation of its gate biases.

    Each unit j draws a time scale ``τ_j ~ U(1, max_delay - 1)``; its forget-gate bias is
    ``log τ_j`` and its input-gate bias ``-log τ_j`` (Tallec & Ollivier 2018). The forget
    gates start open at time scales spread up to `max_delay` steps, so gradient reaches
    inputs that far back, and the closed input gates keep the cell state from filling
    up with (and saturating on) every input. Weights are ``eqx.nn.LSTMCell``'s; gates are
    ordered (i, f, g, o), so the input-gate bias is ``bias[:H]`` and the forget-gate bias
    ``bias[H:2H]``.

    **Arguments:** sizes as ``eqx.nn.LSTMCell``; `max_delay` (int >= 3): the longest
    dependency expected, e.g. the sequence length; `key` (split into the cell's key and
    the time scales' key); other keywords go to ``eqx.nn.LSTMCell``.

    **Raises:** ``ValueError`` for non-positive sizes, ``max_delay < 3`` or
    ``use_bias=False``; ``TypeError`` for a non-int `max_delay`.

    Reference: C. Tallec & Y. Ollivier, "Can recurrent neural networks warp time?",
    ICLR 2018.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.chrono_lstm(2, 3, max_delay=100, key=jax.random.key(0))
    >>> bool(jnp.all(cell.bias[:3] == -cell.bias[3:6]))
    True
    """
    input_size = check_positive_int("input_size", input_size)
    hidden_size = check_positive_int("hidden_size", hidden_size)
    max_delay = check_positive_int("max_delay", max_delay)
    if max_delay < 3:
        raise ValueError(
            f"`max_delay` must be >= 3 (time scales U(1, max_delay - 1)), got {max_delay}."
        )
    check_key("key", key, where="chrono_lstm")
    k_cell, k_scale = jax.random.split(key)
    cell = eqx.nn.LSTMCell(input_size, hidden_size, key=k_cell, **kw)
    if cell.bias is None:
        raise ValueError("`chrono_lstm` needs an LSTM with a bias (use_bias=True).")
    dtype = cell.bias.dtype
    tau = jax.random.uniform(
        k_scale, (hidden_size,), dtype=dtype, minval=1.0, maxval=max_delay - 1.0
    )
    log_tau = jnp.log(tau)
    bias = cell.bias.at[:hidden_size].set(-log_tau).at[hidden_size : 2 * hidden_size].set(log_tau)
    return eqx.tree_at(lambda c: c.bias, cell, bias)


def gru(
    input_size: Checked[int], hidden_size: Checked[int], *, key: Checked[PRNGKeyArray], **kw: Any
) -> eqx.nn.GRUCell:
    """``eqx.nn.GRUCell`` (Cho et al. 2014), as it is.

    **Raises:** ``ValueError`` for non-positive sizes.

    >>> import jax, rnngrad as rg
    >>> rg.gru(2, 3, key=jax.random.key(0)).hidden_size
    3
    """
    input_size = check_positive_int("input_size", input_size)
    hidden_size = check_positive_int("hidden_size", hidden_size)
    check_key("key", key, where="gru")
    return eqx.nn.GRUCell(input_size, hidden_size, key=key, **kw)
