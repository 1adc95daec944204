"""Float64 backpropagation through time by hand in plain NumPy: the one oracle that the
tests and the benchmarks compare rnngrad against.

It shares no code with rnngrad's scans: states come from a Python loop, and a cotangent is
pulled back one step at a time, ``∂L_t/∂s_{k-1} = ∂L_t/∂s_k · J_k``. Every cotangent is
rescaled to unit norm after each step with its log10 norm accumulated, so the results stay
exact far below float64's range (a norm of 1e-400 is just -400).

    >>> import numpy as np
    >>> w = 0.5 * np.eye(2)  # a linear RNN: ‖∂L_t/∂s_k‖ = ‖g_t‖ 0.5^(t-k)
    >>> logs = log10_contributions(lambda k, g: g @ w, np.ones((3, 2)))
    >>> np.round(10.0 ** logs, 4).tolist()
    [[1.4142, 0.0, 0.0], [0.7071, 1.4142, 0.0], [0.3536, 0.7071, 1.4142]]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

Pullback = Callable[[int, np.ndarray], np.ndarray]


def _unit(g: np.ndarray) -> tuple[np.ndarray, np.ndarray | np.floating]:
    """`g` rescaled to unit norm along the last axis (zero rows stay zero), log10 norms."""
    norm = np.linalg.norm(g, axis=-1)
    with np.errstate(divide="ignore"):
        return g / np.where(norm > 0, norm, 1.0)[..., None], np.log10(norm)


def log10_final_profile(pullback: Pullback, grad: np.ndarray, length: int) -> np.ndarray:
    """log10 ‖∂L/∂s_k‖, k = 0..T-1, of a loss on the final state.

    **Arguments:** `pullback(k, g)` returns ``g J_k`` (the cotangent of s_{k-1} from that
    of s_k; leading axes of `g` are batch axes); `grad` (..., n): ∂L/∂s_{T-1};
    `length`: T. **Returns:** (..., T) float64.
    """
    g, log_scale = _unit(np.asarray(grad, np.float64))
    out = np.empty((*g.shape[:-1], length))
    out[..., -1] = log_scale
    for k in range(length - 1, 0, -1):
        g, log_norm = _unit(pullback(k, g))
        log_scale = out[..., k - 1] = log_scale + log_norm
    return out


def log10_contributions(pullback: Pullback, grads: np.ndarray) -> np.ndarray:
    """log10 ‖∂L_t/∂s_k‖ (t, k) for a loss L = Σ_t L_t read at every step.

    **Arguments:** `pullback` as in :func:`log10_final_profile`, applied to (..., T, n)
    rows; `grads` (..., T, n): ∂L_t/∂s_t. **Returns:** (..., T, T) float64, -inf above
    the diagonal (k > t).
    """
    grads = np.asarray(grads, np.float64)
    length = grads.shape[-2]
    rows = np.zeros_like(grads)  # row t: ∂L_t/∂s_k rescaled by 10**-log_scale[..., t]
    log_scale = np.full(grads.shape[:-1], -np.inf)
    out = np.full((*grads.shape[:-1], length), -np.inf)
    for k in range(length - 1, -1, -1):
        rows[..., k, :], log_scale[..., k] = _unit(grads[..., k, :])
        out[..., k:, k] = log_scale[..., k:]
        if k:
            rows, log_norm = _unit(pullback(k, rows))
            log_scale = log_scale + log_norm
    return out


def tanh_rnn(
    weight_hh: np.ndarray,
    weight_ih: np.ndarray,
    bias: np.ndarray,
    xs: np.ndarray,
    scales: ArrayLike,
) -> tuple[np.ndarray, Pullback]:
    """States and pullback of ``h_t = tanh(s W_hh h_{t-1} + W_ih x_t + b)``, ``h_{-1} = 0``,
    for every recurrent scale s. **Returns:** states (T, S, H) and ``pullback(k, g)`` for
    g of shape (S, ..., H), with ``J_k = s diag(1 - h_k²) W_hh``.
    """
    w, w_ih, b, xs = (np.asarray(a, np.float64) for a in (weight_hh, weight_ih, bias, xs))
    s = np.asarray(scales, np.float64).reshape(-1, 1)
    h, states = np.zeros((len(s), w.shape[0])), []
    for x in xs:
        h = np.tanh(s * (h @ w.T) + w_ih @ x + b)
        states.append(h)

    def pullback(k: int, g: np.ndarray) -> np.ndarray:
        shape = (len(s),) + (1,) * (g.ndim - 2) + (-1,)
        return s.reshape(shape) * ((g * (1.0 - states[k] ** 2).reshape(shape)) @ w)

    return np.stack(states), pullback


def tanh_final_profile(weight_hh, weight_ih, bias, xs, scales) -> np.ndarray:
    """log10 ‖∂L/∂h_k‖ (S, T) for ``L = Σ_i h_T[i]`` of :func:`tanh_rnn`."""
    states, pullback = tanh_rnn(weight_hh, weight_ih, bias, xs, scales)
    return log10_final_profile(pullback, np.ones_like(states[-1]), len(states))


def tanh_contributions(weight_hh, weight_ih, bias, xs, ys, scales) -> np.ndarray:
    """log10 ‖∂L_t/∂h_k‖ (S, T, T) for ``L_t = ½‖h_t − y_t‖²`` of :func:`tanh_rnn`."""
    states, pullback = tanh_rnn(weight_hh, weight_ih, bias, xs, scales)
    grads = np.moveaxis(states - np.asarray(ys, np.float64)[:, None], 0, -2)
    return log10_contributions(pullback, grads)
