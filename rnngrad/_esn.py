"""Echo state networks: a fixed random reservoir whose linear readout alone is trained.

The reservoir is :class:`EchoStateCell`, a leaky-integrator tanh cell with the same call
convention as :class:`rnngrad.VanillaCell` (one unbatched step ``cell(x, h) -> h``), so
every rnngrad tool (``unroll``, ``state_jacobians``, ``lyapunov_spectrum``, sweeps, ...)
works on it unchanged. The readout is solved in closed form by ridge regression.

Everything is a pure function of arrays and explicit keys: a grid over spectral radius ×
leak rate × ridge is one ``jax.vmap`` (see :class:`EchoStateCell`).

References:

- H. Jaeger, "The 'echo state' approach to analysing and training recurrent neural
  networks", GMD Report 148 (2001).
- H. Jaeger, "Short term memory in echo state networks", GMD Report 152 (2002).
- H. Jaeger & H. Haas, "Harnessing nonlinearity: predicting chaotic systems and saving
  energy in wireless communication", Science 304 (2004).
- H. Jaeger, M. Lukoševičius, D. Popovici & U. Siewert, "Optimization and applications of
  echo state networks with leaky-integrator neurons", Neural Networks 20 (2007).
- M. Lukoševičius, "A practical guide to applying echo state networks", in Neural
  Networks: Tricks of the Trade, 2nd ed. (2012).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from ._checks import (
    Checked,
    NumericalWarning,
    check_callable,
    check_finite,
    check_float_array,
    check_int,
    check_key,
    check_no_nan,
    check_positive_int,
    check_range,
    check_real_scalar,
    check_representable,
    check_washout,
    describe,
    is_concrete,
    promote_types,
)
from ._unroll import check_cell_call, unroll
from .cells import Cell, EchoStateCell, init_carry
from .cells._init import _spectral_radius

_HIGHEST = jax.lax.Precision.HIGHEST

__all__ = [
    "EchoStateCell",
    "EchoStateCheck",
    "echo_state_property",
    "effective_spectral_radius",
    "generate",
    "predict",
    "states",
    "memory_capacity",
    "memory_curve",
    "nrmse",
    "readout_apply",
    "ridge_readout",
    "RidgeSelection",
    "select_ridge",
]


def effective_spectral_radius(cell: Checked[EchoStateCell]) -> Float[Array, ""]:
    """Spectral radius of the leaky reservoir's linearisation ``(1 − a) I + a W_rec``.

    For a leaky-integrator ESN the relevant quantity is not ``ρ(W_rec)`` but
    ``ρ((1 − a) I + a W_rec)``, the spectral radius of the Jacobian of the update at the
    zero state (Jaeger et al. 2007). Above 1, the zero state of a tanh reservoir without
    bias is unstable under zero input, so two starts need not converge: the echo state
    property fails (the classic necessary condition of Jaeger 2001, here for leaky
    units). Below 1 is not sufficient in general; check with :func:`echo_state_property`.
    With ``a = 1`` it is ``ρ(W_rec)``. Computed with ``jnp.linalg.eigvals`` (vmappable
    over cells).

    **Arguments:** `cell`: an :class:`EchoStateCell`.

    **Returns:** a scalar.

    **Raises:** ``TypeError`` if `cell` has no ``weight_hh`` and ``leak_rate``.

    Reference: Jaeger, Lukoševičius, Popovici & Siewert, "Optimization and applications of
    echo state networks with leaky-integrator neurons", Neural Networks 20 (2007).

    >>> import jax
    >>> from rnngrad.esn import EchoStateCell, effective_spectral_radius
    >>> cell = EchoStateCell(1, 20, spectral_radius=3.0, leak_rate=0.1, key=jax.random.key(0))
    >>> bool(effective_spectral_radius(cell) < 3.0)
    True
    """
    w = getattr(cell, "weight_hh", None)
    a = getattr(cell, "leak_rate", None)
    if w is None or a is None:
        raise TypeError(
            f"`cell` must be an EchoStateCell (with `weight_hh` and `leak_rate`), "
            f"got {describe(cell)}."
        )
    return _leaky_radius(w, jnp.asarray(a, w.dtype))


@jax.jit
def _leaky_radius(w: Array, a: Array) -> Array:
    m = (1 - a) * jnp.eye(w.shape[-1], dtype=w.dtype) + a * w
    return _spectral_radius(m)


# ---------------------------------------------------------------------------------------
# States, readout, prediction
# ---------------------------------------------------------------------------------------


def _finite(name: str, value: Array) -> None:
    """A concrete `value` must hold no NaN (reported as such, with a count) and no inf."""
    check_no_nan(name, value)
    check_finite(name, value)


def _reservoir_state(cell: Cell) -> Array:
    """``init_carry(cell)``, which must be one array: the reservoir state (N,)."""
    h_ref = init_carry(cell)
    if not isinstance(h_ref, jax.Array) or h_ref.ndim != 1:
        raise TypeError(
            f"`cell` must be a reservoir whose state is one array (hidden_size,), e.g. an "
            f"EchoStateCell; {type(cell).__name__}.init_carry() gave {describe(h_ref)}."
        )
    return h_ref


def _in_dtype(name: str, value: Array, dtype: Any) -> Array:
    """`value` cast to the cell's `dtype` if that is exact (a lower precision), else raise."""
    if value.dtype == dtype:
        return value
    if promote_types(value.dtype, dtype) != dtype:
        raise TypeError(
            f"`{name}` has dtype {value.dtype}, wider than the cell's {np.dtype(dtype).name}: "
            f"use {name}.astype(jnp.{np.dtype(dtype).name}), or build the cell with "
            f"dtype=jnp.{value.dtype}."
        )
    return value.astype(dtype)


def _state_arg(name: str, value: Any, h_ref: Array) -> Array:
    """A start state `value` for a reservoir with zero state `h_ref`: same shape and dtype."""
    value = check_float_array(
        name, value, shape=h_ref.shape, what=f"of shape {h_ref.shape} (the reservoir state)"
    )
    if value.dtype != h_ref.dtype:
        raise TypeError(
            f"`{name}` must have the cell's dtype {h_ref.dtype}, got {describe(value)}: use "
            f"{name}.astype(jnp.{h_ref.dtype})."
        )
    _finite(name, value)
    return value


def _drive(cell: Cell, inputs: Any, h0: Any) -> tuple[Array, Array]:
    """Check `inputs` (T, input_size) and the start state `h0` (None: zeros) for `cell`.

    Returns both in the cell's dtype. Concrete values must be finite; the cell itself is
    checked by :func:`rnngrad.unroll`'s checks (protocol, finite parameters).
    """
    h_ref = _reservoir_state(cell)
    inputs = check_float_array(
        "inputs",
        inputs,
        ndims=(2,),
        what="of shape (T, input_size): one sequence (jax.vmap over a batch)",
    )
    if inputs.shape[0] == 0:
        raise ValueError(
            f"`inputs` has T = 0 time steps, got {describe(inputs)}; give at least one step."
        )
    input_size = getattr(cell, "input_size", None)
    if isinstance(input_size, int) and inputs.shape[1] != input_size:
        raise ValueError(
            f"`inputs` must have shape (T, {input_size}) for this {type(cell).__name__} "
            f"(input_size = {input_size}; a time axis, then the input), got {describe(inputs)}."
        )
    _finite("inputs", inputs)
    inputs = _in_dtype("inputs", inputs, h_ref.dtype)
    h0 = h_ref if h0 is None else _state_arg("h0", h0, h_ref)
    check_cell_call(cell, inputs, h0)
    return inputs, h0


def states(
    cell: Cell,
    inputs: Checked[Float[Array, "T input"]],
    h0: Checked[Float[Array, " hidden"] | None] = None,
    *,
    washout: Checked[int] = 0,
) -> Float[Array, "T_minus_washout hidden"]:
    """Reservoir states driven by `inputs`, the first `washout` of them dropped.

    ``h_t = cell(inputs[t], h_{t-1})`` for t = 0..T−1 with ``lax.scan`` (via
    ``rnngrad.unroll``); state ``t`` has seen ``inputs[0..t]``. The washout forgets the
    arbitrary initial state (Jaeger 2001).

    **Arguments:**

    - `cell`: a reservoir (:class:`EchoStateCell`, or any cell with an array carry).
    - `inputs`: (T, input_size), T >= 1; a lower float precision than the cell's is cast
      up to it.
    - `h0`: the state before step 0, (hidden_size,) in the cell's dtype; default zeros.
    - `washout`: number of initial states to drop, an int in [0, T).

    **Returns:** (T − washout, hidden_size).

    **Raises:** ``ValueError`` for ``washout >= T`` or negative, T = 0, NaN or inf in
    `inputs` or `h0` (when concrete), or shapes that do not fit the cell (each message
    names `inputs` or `h0`); ``TypeError`` for a non-int `washout`, non-float or complex
    `inputs`, a Python list (use ``jnp.asarray``), `inputs` of a wider dtype than the
    cell's, an `h0` of another dtype, or a cell whose carry is not one array.

    Reference: Jaeger, GMD Report 148 (2001).

    >>> import jax, jax.numpy as jnp
    >>> from rnngrad.esn import EchoStateCell, states
    >>> cell = EchoStateCell(1, 20, key=jax.random.key(0))
    >>> states(cell, jnp.ones((100, 1)), washout=10).shape
    (90, 20)
    """
    inputs, h0 = _drive(cell, inputs, h0)
    washout = check_washout(washout, inputs.shape[0])
    states = _states(cell, inputs, h0)
    return states[washout:] if washout else states


_states = eqx.filter_jit(unroll)


def ridge_readout(
    states: Checked[Float[Array, "T N"]],
    targets: Checked[Float[Array, "T ..."]],
    *,
    ridge: Any,
    bias: Checked[bool] = True,
) -> Float[Array, "*out N_or_N_plus_1"]:
    """Closed-form ridge-regression readout ``y_t ≈ W x_t + b``.

    Minimises ``Σ_t ‖y_t − W x_t − b‖² + ridge ‖W‖²_F``: the bias is **not** regularised
    (penalising it would shrink the output towards 0 rather than towards the target mean).
    It is eliminated by centring: ``W`` solves the normal equations of the centred data
    ``(X̃ᵀ X̃ + ridge I) Wᵀ = X̃ᵀ Ỹ`` and ``b = ȳ − W x̄``, exactly the least-squares
    solution of the augmented system ``[X 1; √ridge I 0] [Wᵀ; bᵀ] = [Y; 0]`` but with
    a better-conditioned Gram matrix. The N × N system is solved with
    ``jnp.linalg.solve`` (LU with partial pivoting), not Cholesky: reservoir states are
    strongly collinear, so the computed Gram matrix is often numerically indefinite
    (for 1000 tanh units driven by Mackey-Glass its smallest eigenvalues are ~ −1e-11),
    and Cholesky then returns NaN for any ridge below that (1e-12, 0), while LU still
    gives a finite readout that predicts well. A sweep over the ridge must not die on its
    small end; LU costs ~0.1-0.2 s more at N = 1000, small beside the O(T N²) Gram
    product. The products use ``Precision.HIGHEST`` so accelerators do not drop to
    reduced-precision matmuls. `ridge` may be traced (a ``vmap`` over a ridge grid
    shares the Gram matrix and batches only the solve).

    ``ridge = 0`` is ordinary least squares, which has many solutions when the states
    are collinear (rank-deficient): the readout is then the **minimum-norm** one, the
    pseudo-inverse solution ``W = Ỹᵀ (X̃⁺)ᵀ``, from the SVD of the centred states
    (singular values below ``max(T, N) · eps · σ_max`` are cut), never the NaN of a
    singular solve. The same solution replaces a solve that is not finite for a tiny
    positive ridge (a Gram matrix singular at working precision), its ``ridge → 0``
    limit. The SVD runs only when needed; under ``jax.vmap`` over the ridge both
    branches are evaluated (one SVD per call, ~10 s at T = 2000, N = 1000 on two
    CPU cores): for a ridge grid prefer :func:`select_ridge`, which solves the grid in
    one program and runs the SVD only if a ridge needs it.

    **Arguments:**

    - `states`: (T, N) reservoir states (from :func:`states`).
    - `targets`: (T,) or (T, out).
    - `ridge`: the Tikhonov coefficient, >= 0 (absolute, not scaled by T).
    - `bias`: fit an unregularised bias (default True).

    **Returns:** the readout matrix, (out, N + 1) with the bias in the last column (or
    (out, N) without bias); (N + 1,) or (N,) for 1-D `targets`. Apply it with
    :func:`readout_apply`.

    **Raises:** ``ValueError`` for ``ridge < 0``, non-finite or overflowing the dtype,
    T = 0 or N = 0, mismatched lengths, NaN or inf in `states` or `targets` (when
    concrete), or a readout that is not finite although they are (an overflow: rescale
    the data); ``TypeError`` for non-float or complex arrays, a Python list (use
    ``jnp.asarray``) or a non-bool `bias`.

    Reference: Jaeger, GMD Report 148 (2001); Lukoševičius (2012), Sec. 4.1.

    >>> import jax, jax.numpy as jnp
    >>> from rnngrad.esn import ridge_readout, readout_apply
    >>> x = jnp.sin(jnp.arange(200.0) ** 1.5).reshape(50, 4)
    >>> y = x @ jnp.arange(4.0) + 1.0
    >>> w = ridge_readout(x, y, ridge=0.0)
    >>> w.shape, [round(float(v), 6) for v in w]
    ((5,), [0.0, 1.0, 2.0, 3.0, 1.0])
    """
    check_real_scalar("ridge", ridge, nonnegative=True)
    states, targets = _ridge_inputs(states, targets, bias)
    check_representable("ridge", ridge, states.dtype)
    readout = _ridge(states, targets, jnp.asarray(ridge, states.dtype)[None], bias)[0]
    _check_fit(readout, "ridge_readout")
    return readout


def _ridge_inputs(states: Any, targets: Any, bias: Any) -> tuple[Array, Array]:
    """The checks of :func:`ridge_readout`'s data; both arrays in their common dtype."""
    states = check_float_array("states", states, ndims=(2,), what="of shape (T, N)")
    targets = check_float_array("targets", targets, ndims=(1, 2), what="of shape (T,) or (T, out)")
    if 0 in states.shape:
        raise ValueError(
            f"`states` must have T >= 1 steps and N >= 1 units, got {describe(states)}."
        )
    if targets.shape[0] != states.shape[0]:
        raise ValueError(
            f"`targets` must have the same length T as `states` ({states.shape[0]}), "
            f"got {describe(targets)}."
        )
    if not isinstance(bias, bool):
        raise TypeError(f"`bias` must be a bool, got {describe(bias)}.")
    _finite("states", states)
    _finite("targets", targets)
    dtype = promote_types(states.dtype, targets.dtype)
    return states.astype(dtype), targets.astype(dtype)


def _check_fit(readout: Array, where: str) -> None:
    """A concrete readout fitted from finite data must be finite (else: an overflow)."""
    if is_concrete(readout) and not bool(jnp.all(jnp.isfinite(readout))):
        raise ValueError(
            f"{where}: the readout is not finite although `states` and `targets` are: the "
            "Gram matrix or the weights overflow this dtype; rescale `states` and "
            "`targets` (or use float64)."
        )


@functools.partial(jax.jit, static_argnames="bias")
def _ridge(x: Array, targets: Array, ridges: Array, bias: bool) -> Array:
    """The readouts for every ridge in `ridges` (R,): (R, out, N [+ 1]), or (R, N [+ 1])."""
    dtype = x.dtype
    y = targets[:, None] if targets.ndim == 1 else targets
    if bias:
        x_mean = jnp.mean(x, axis=0)
        y_mean = jnp.mean(y, axis=0)
        x = x - x_mean
        y = y - y_mean
    n = x.shape[1]
    gram = jnp.matmul(x.T, x, precision=_HIGHEST)
    rhs = jnp.matmul(x.T, y, precision=_HIGHEST)
    eye = jnp.eye(n, dtype=dtype)
    # (R, out, N); LU, see the docstring for why not Cholesky
    ws = jax.vmap(lambda r: jnp.linalg.solve(gram + r * eye, rhs).T)(ridges)
    exact = (ridges == 0) | ~jnp.all(jnp.isfinite(ws), axis=(1, 2))
    ws = jax.lax.cond(
        jnp.any(exact),
        lambda: jnp.where(exact[:, None, None], _min_norm(x, y)[None], ws),
        lambda: ws,
    )
    if bias:
        b = y_mean - jnp.einsum("ron,n->ro", ws, x_mean, precision=_HIGHEST)
        ws = jnp.concatenate([ws, b[..., None]], axis=-1)
    return ws[:, 0] if targets.ndim == 1 else ws


def _min_norm(x: Array, y: Array) -> Array:
    """The minimum-norm least-squares ``W`` (out, N) of ``x Wᵀ ≈ y``: ``Wᵀ = x⁺ y`` by SVD."""
    u, s, vt = jnp.linalg.svd(x, full_matrices=False)
    keep = s > max(x.shape) * jnp.finfo(x.dtype).eps * s[0]
    s_inv = jnp.where(keep, 1 / jnp.where(keep, s, 1), 0)
    coef = s_inv[:, None] * jnp.matmul(u.T, y, precision=_HIGHEST)
    return jnp.matmul(vt.T, coef, precision=_HIGHEST).T


def readout_apply(
    readout: Checked[Float[Array, "*out N_or_N_plus_1"]],
    states: Checked[Float[Array, "*batch N"]],
) -> Float[Array, "*batch *out"]:
    """Apply a readout from :func:`ridge_readout`: ``y = W x + b``.

    Whether the readout has a bias is read from its last dimension (N + 1 vs N).

    **Arguments:** `readout`: (out, N [+ 1]) or (N [+ 1],); `states`: (..., N).

    **Returns:** (..., out), or (...) for a 1-D readout.

    **Raises:** ``ValueError`` if the readout's last dimension is neither N nor N + 1, or
    for NaN or inf in `readout` or `states` (when concrete); ``TypeError`` for non-float
    arrays or a Python list (use ``jnp.asarray``).

    >>> import jax.numpy as jnp
    >>> from rnngrad.esn import readout_apply
    >>> readout_apply(jnp.array([[1.0, 2.0, 0.5]]), jnp.ones((7, 2))).shape
    (7, 1)
    """
    states = check_float_array(
        "states", states, ndims=tuple(range(1, 32)), what="of shape (..., N)"
    )
    readout = _readout_arg(readout, states.shape[-1], "`states` of size")
    _finite("states", states)
    return _apply(readout, states)


def _readout_arg(readout: Any, n: int, of: str) -> Array:
    """A finite readout (out, N [+ 1]) or (N [+ 1],) for `n` units (`of` says whose)."""
    readout = check_float_array("readout", readout, ndims=(1, 2), what="of shape (out, N [+ 1])")
    if readout.shape[-1] - n not in (0, 1):
        raise ValueError(
            f"`readout` must have last dimension N = {n} (no bias) or N + 1 = {n + 1} "
            f"(bias last) for {of} N = {n}, got {describe(readout)}."
        )
    _finite("readout", readout)
    return readout


@jax.jit
def _apply(readout: Array, states: Array) -> Array:
    n = states.shape[-1]
    dtype = promote_types(readout.dtype, states.dtype)
    w = readout[..., :n].astype(dtype)
    out = jnp.matmul(states.astype(dtype), w.T, precision=_HIGHEST)
    if readout.shape[-1] > n:
        out = out + readout[..., n].astype(dtype)
    return out


def predict(
    cell: Cell,
    readout: Checked[Float[Array, "*out N_or_N_plus_1"]],
    inputs: Checked[Float[Array, "T input"]],
    h0: Checked[Float[Array, " hidden"] | None] = None,
    *,
    washout: Checked[int] = 0,
) -> Float[Array, "T_minus_washout ..."]:
    """Teacher-forced (e.g. one-step-ahead) prediction ``readout(states(...))``.

    Row ``t`` is the readout of the state that has seen ``inputs[0..washout + t]``; with a
    readout trained on ``targets[t] = series[t + 1]`` it is the one-step-ahead prediction.

    **Arguments:** as :func:`states` and :func:`readout_apply`.

    **Returns:** (T − washout, out), or (T − washout,) for a 1-D readout.

    **Raises:** as :func:`states` and :func:`readout_apply` (a `readout` that does not fit
    the cell's hidden size is reported before the states are computed).

    >>> import jax, jax.numpy as jnp
    >>> from rnngrad.esn import EchoStateCell, predict
    >>> cell = EchoStateCell(1, 20, key=jax.random.key(0))
    >>> predict(cell, jnp.zeros((1, 21)), jnp.ones((20, 1)), washout=5).shape
    (15, 1)
    """
    _readout_arg(readout, _reservoir_state(cell).shape[0], "the cell's hidden size")
    return readout_apply(readout, states(cell, inputs, h0, washout=washout))


def generate(
    cell: Cell,
    readout: Checked[Float[Array, "*out N_or_N_plus_1"]],
    h: Checked[Float[Array, " hidden"]],
    x0: Checked[Float[Array, " input"]],
    steps: Checked[int],
) -> Float[Array, "steps input"]:
    """Closed-loop (generative, free-running) prediction: the output is the next input.

    ``h_{s+1} = cell(x_s, h_s)``, ``y_s = readout(h_{s+1})``, ``x_{s+1} = y_s`` for
    s = 0..steps−1 (``lax.scan``). Typical use after teacher forcing on ``u[0..T−1]``:
    pass ``h`` = the state after ``u[T−2]`` and ``x0 = u[T−1]``; then ``ys[0]`` predicts
    ``u[T]`` and ``ys[k]`` predicts ``u[T + k]``.

    **Arguments:**

    - `cell`: the reservoir; `readout`: from :func:`ridge_readout`, trained for
      one-step-ahead prediction, with output size equal to the cell's input size
      ((input_size, N [+ 1]), or 1-D for ``input_size = 1``).
    - `h`: the starting state (hidden_size,); `x0`: the first input (input_size,).
    - `steps`: a positive int.

    **Returns:** the outputs ``ys``, (steps, input_size).

    A free run can diverge: called eagerly, outputs that are not finite (from finite
    arguments) raise a :class:`rnngrad.NumericalWarning`; inside ``jit``/``vmap`` they
    are returned as they are.

    **Raises:** ``ValueError`` if the readout's output size differs from the input size,
    for shapes that do not fit the cell (each message names `h`, `x0` or `readout`),
    NaN or inf in `readout`, `h` or `x0` (when concrete), or a non-positive `steps`;
    ``TypeError`` for non-float arrays, a Python list (use ``jnp.asarray``), an `h` of
    another dtype than the cell's or an `x0` of a wider one.

    Reference: Jaeger & Haas, "Harnessing nonlinearity", Science 304 (2004).

    >>> import jax, jax.numpy as jnp
    >>> from rnngrad.esn import EchoStateCell, generate
    >>> cell = EchoStateCell(1, 20, key=jax.random.key(0))
    >>> generate(cell, jnp.zeros((1, 21)), jnp.zeros(20), jnp.ones(1), 5).shape
    (5, 1)
    """
    steps = check_positive_int("steps", steps)
    h_ref = _reservoir_state(cell)
    h = _state_arg("h", h, h_ref)
    x0 = check_float_array("x0", x0, ndims=(1,), what="of shape (input_size,)")
    size = getattr(cell, "input_size", x0.shape[0])
    if x0.shape != (size,):
        raise ValueError(
            f"`x0` must have shape (input_size,) = ({size},) for this {type(cell).__name__}, "
            f"got {describe(x0)}."
        )
    _finite("x0", x0)
    x0 = _in_dtype("x0", x0, h_ref.dtype)
    readout = _readout_arg(readout, h_ref.shape[0], "`h` of size")
    out_size = 1 if readout.ndim == 1 else readout.shape[0]
    if out_size != size:
        raise ValueError(
            f"`readout` must have {size} output(s) to be fed back as the input "
            f"`x0` of shape {x0.shape}, got {describe(readout)}."
        )
    check_cell_call(cell, x0[None], h)
    ys = _generate(cell, readout, h, x0, steps)
    if is_concrete(ys) and not bool(jnp.all(jnp.isfinite(ys))):
        first = int(np.argmax(~np.isfinite(np.asarray(ys)).all(axis=-1)))
        warnings.warn(
            f"generate: the free run diverged: the outputs are not finite from step {first} "
            "on (a readout that amplifies its own feedback); check the ridge or the "
            "reservoir's spectral radius.",
            NumericalWarning,
            stacklevel=2,
        )
    return ys


@eqx.filter_jit
def _generate(cell: Cell, readout: Array, h: Array, x0: Array, steps: int) -> Array:
    def step(carry: tuple[Array, Array], _: None) -> tuple[tuple[Array, Array], Array]:
        h_, x_ = carry
        h_ = cell(x_, h_)
        y = _apply(readout, h_).reshape(x_.shape).astype(x_.dtype)
        return (h_, y), y

    _, ys = jax.lax.scan(step, (h, x0), None, length=steps)
    return ys


def nrmse(
    prediction: Checked[Float[Array, "*shape"]], target: Checked[Float[Array, "*shape"]]
) -> Float[Array, ""]:
    """Normalised root-mean-square error ``RMSE(prediction, target) / std(target)``.

    Means and the (population, ddof = 0) standard deviation run over all elements. A
    NaN or inf in `prediction` (e.g. a diverged free run) gives NaN or inf: called
    eagerly, with a :class:`rnngrad.NumericalWarning`. The NRMSE of a constant `target`
    (std 0) is undefined: an error when concrete; inside ``jit``/``vmap`` it is inf (or
    NaN for a perfect prediction), as is the NRMSE of a traced non-finite `target`.

    **Arguments:** `prediction`, `target`: non-empty float arrays of the same shape (in
    their common dtype).

    **Returns:** a scalar.

    **Raises:** ``ValueError`` for different shapes, empty arrays, or (when concrete) a
    NaN/inf or constant `target`; ``TypeError`` for non-float arrays or a Python list
    (use ``jnp.asarray``).

    Reference: Jaeger & Haas (2004) use the NRMSE of Mackey-Glass predictions.

    >>> import jax.numpy as jnp
    >>> from rnngrad.esn import nrmse
    >>> float(nrmse(jnp.array([0.0, 2.0]), jnp.array([1.0, 3.0])))
    1.0
    """
    any_shape = dict(ndims=tuple(range(32)), what="of any shape")
    prediction = check_float_array("prediction", prediction, **any_shape)
    target = check_float_array("target", target, **any_shape)
    if prediction.shape != target.shape:
        raise ValueError(
            f"`prediction` must have the shape of `target` {target.shape}, "
            f"got {describe(prediction)}."
        )
    if target.size == 0:
        raise ValueError(f"`target` must not be empty, got {describe(target)}.")
    _finite("target", target)
    if is_concrete(target) and float(jnp.std(target)) == 0.0:
        raise ValueError(
            f"`target` is constant (std 0), so NRMSE = RMSE / std(`target`) is undefined, "
            f"got {describe(target)} with every value {float(target.reshape(-1)[0])}; "
            "compare with the RMSE instead, or use a target that varies."
        )
    error = _nrmse(prediction, target)
    if is_concrete(error) and not np.isfinite(float(error)):
        warnings.warn(
            "nrmse: `prediction` holds NaN or inf (e.g. a diverged free run): the NRMSE is "
            f"{float(error)}.",
            NumericalWarning,
            stacklevel=2,
        )
    return error


@jax.jit
def _nrmse(prediction: Array, target: Array) -> Array:
    dtype = promote_types(prediction.dtype, target.dtype)
    p, t = prediction.astype(dtype), target.astype(dtype)
    return jnp.sqrt(jnp.mean((p - t) ** 2)) / jnp.std(t)


# ---------------------------------------------------------------------------------------
# Echo state property and memory capacity
# ---------------------------------------------------------------------------------------


class EchoStateCheck(NamedTuple):
    """Result of :func:`echo_state_property`.

    - `distances`: (T,) the largest ``‖h_t − h'_t‖₂`` over the pairs of starts, per step.
    - `final_distance`: scalar, ``distances[-1]``.
    - `satisfied`: bool scalar, ``final_distance <= tol · (largest initial distance)``.
    """

    distances: Float[Array, " T"]
    final_distance: Float[Array, ""]
    satisfied: Bool[Array, ""]


def echo_state_property(
    cell: Cell,
    inputs: Checked[Float[Array, "T input"]],
    *,
    key: Checked[PRNGKeyArray],
    num_pairs: Checked[int] = 4,
    init_scale: Any = 1.0,
    tol: Any = 1e-6,
) -> EchoStateCheck:
    """Check the echo state property by its definition: different starts forget themselves.

    A reservoir has the echo state property if its state is asymptotically a function of
    the input history only: two trajectories driven by the same input from different
    initial states converge (Jaeger 2001, Def. 1). This draws `num_pairs` pairs of
    initial states uniformly in ``[−init_scale, init_scale]^N``, drives both with
    `inputs`, and reports their distance. It is an empirical check for this input (the
    property is input-dependent); see also :func:`effective_spectral_radius`.

    **Arguments:**

    - `cell`: the reservoir; `inputs`: (T, input_size) driving input.
    - `key`: a ``jax.random`` key for the initial states (keyword only).
    - `num_pairs`: how many pairs of starts (default 4).
    - `init_scale`: half-width of the initial states (default 1, the range of tanh).
    - `tol`: relative tolerance of the final distance (default 1e-6).

    **Returns:** an :class:`EchoStateCheck` ``(distances (T,), final_distance (),
    satisfied ())``.

    **Raises:** as :func:`states` for `inputs`; ``ValueError`` for non-positive
    `init_scale` (or one that overflows the cell's dtype) or negative `tol`;
    ``TypeError``/``ValueError`` for a `key` that is not one ``jax.random`` key.

    Reference: Jaeger, GMD Report 148 (2001); Yildiz, Jaeger & Kiebel, "Re-visiting the
    echo state property", Neural Networks 35 (2012).

    >>> import jax, jax.numpy as jnp
    >>> from rnngrad.esn import EchoStateCell, echo_state_property
    >>> cell = EchoStateCell(1, 20, spectral_radius=0.9, key=jax.random.key(0))
    >>> u = 0.5 * jnp.sin(jnp.arange(300.0))[:, None]
    >>> bool(echo_state_property(cell, u, key=jax.random.key(2)).satisfied)
    True
    """
    check_key("key", key)
    num_pairs = check_positive_int("num_pairs", num_pairs)
    check_real_scalar("init_scale", init_scale, positive=True)
    check_real_scalar("tol", tol, nonnegative=True)
    inputs, h_ref = _drive(cell, inputs, None)
    dtype = h_ref.dtype
    check_representable("init_scale", init_scale, dtype)
    return _esp(
        cell, inputs, key, jnp.asarray(init_scale, dtype), jnp.asarray(tol, dtype), num_pairs
    )


@eqx.filter_jit
def _esp(
    cell: Cell, inputs: Array, key: PRNGKeyArray, init_scale: Array, tol: Array, num_pairs: int
) -> EchoStateCheck:
    h_ref = init_carry(cell)
    dtype = h_ref.dtype
    starts = init_scale * jax.random.uniform(
        key, (num_pairs, 2) + h_ref.shape, dtype, minval=-1.0, maxval=1.0
    )

    def pair_distances(pair: Array) -> Array:
        run = jax.vmap(lambda h0: unroll(cell, inputs, h0))(pair)  # (2, T, N)
        return jnp.linalg.norm(run[0] - run[1], axis=-1)  # (T,)

    dist = jnp.max(jax.vmap(pair_distances)(starts), axis=0)
    initial = jnp.max(jnp.linalg.norm(starts[:, 0] - starts[:, 1], axis=-1))
    final = dist[-1]
    return EchoStateCheck(dist, final, final <= tol * initial)


def memory_curve(
    cell: Cell,
    *,
    key: Checked[PRNGKeyArray],
    k_max: Checked[int | None] = None,
    train_length: Checked[int] = 2000,
    test_length: Checked[int] = 1000,
    washout: Checked[int | None] = None,
    ridge: Any = 1e-8,
    input_range: Checked[tuple[float, float]] = (-0.5, 0.5),
) -> Float[Array, " k_max"]:
    """The forgetting curve ``MC_k = r²(u_{t−k}, y_k(t))`` for k = 1..k_max (Jaeger 2002).

    The reservoir is driven by i.i.d. uniform input ``u`` (drawn from `key`); for every
    delay k a ridge readout ``y_k`` (:func:`ridge_readout`, one solve for all k) is fitted
    on `train_length` steps to reproduce ``u_{t−k}`` from the state ``h_t`` (which has
    seen ``u_0..u_t``), and ``r²`` — the squared correlation coefficient, Jaeger's
    determination coefficient — is measured on the next `test_length` held-out steps
    (a training-set r² would be inflated by ~N/T per delay).

    **Arguments:**

    - `cell`: a reservoir with ``input_size == 1``.
    - `key`: a ``jax.random`` key for the input (keyword only).
    - `k_max`: largest delay (default ``2 · hidden_size``).
    - `train_length`, `test_length`: steps used to fit and to score the readouts;
      ``test_length >= 3`` (the squared correlation of two points is always 1).
    - `washout`: initial steps dropped, >= k_max (default ``max(k_max, 100)``).
    - `ridge`: ridge coefficient of the readouts (>= 0).
    - `input_range`: ``(low, high)`` of the uniform input.

    **Returns:** (k_max,) the ``MC_k``, each in [0, 1]; 0 for a delay whose readout
    output is constant on the test steps (it explains nothing of the input).

    **Raises:** ``ValueError`` for a cell whose input size is not 1, ``washout < k_max``,
    ``train_length < 2``, ``test_length < 3``, ``ridge < 0``, or ``low >= high``;
    ``TypeError``/``ValueError`` for a `key` that is not one ``jax.random`` key or an
    `input_range` that is not a pair of finite reals.

    Reference: H. Jaeger, "Short term memory in echo state networks", GMD Report 152
    (2002).

    >>> import jax
    >>> from rnngrad.esn import EchoStateCell, memory_curve
    >>> cell = EchoStateCell(1, 20, key=jax.random.key(0))
    >>> memory_curve(cell, key=jax.random.key(1), k_max=40, train_length=500,
    ...              test_length=500).shape
    (40,)
    """
    check_key("key", key)
    h_ref = _reservoir_state(cell)
    hidden = h_ref.shape[0]
    if getattr(cell, "input_size", 1) != 1:
        raise ValueError(
            f"memory capacity needs a cell with scalar input: `cell.input_size` must be 1, "
            f"got {cell.input_size}."
        )
    k_max = 2 * hidden if k_max is None else check_positive_int("k_max", k_max)
    train_length = check_int(
        "train_length",
        train_length,
        minimum=2,
        why="fitted to one step, the readout is its bias alone: a constant",
    )
    test_length = check_int(
        "test_length",
        test_length,
        minimum=3,
        why="the squared correlation r² of the readout with the delayed input needs a "
        "variance, and r² of two points is always 1",
    )
    if washout is None:
        washout = max(k_max, 100)
    washout = check_int("washout", washout, minimum=None)
    if washout < k_max:
        raise ValueError(
            f"`washout` must be >= k_max = {k_max} (every target u_(t-k) must exist), "
            f"got {washout}."
        )
    check_real_scalar("ridge", ridge, nonnegative=True)
    low, high = check_range("input_range", input_range)

    check_cell_call(cell, jnp.zeros((1, 1), h_ref.dtype), h_ref)
    dtype = h_ref.dtype
    return _memory_curve(
        cell,
        key,
        jnp.asarray(ridge, dtype),
        jnp.asarray(low, dtype),
        jnp.asarray(high, dtype),
        k_max,
        washout,
        train_length,
        test_length,
    )


@eqx.filter_jit
def _memory_curve(
    cell: Cell,
    key: PRNGKeyArray,
    ridge: Array,
    low: Array,
    high: Array,
    k_max: int,
    washout: int,
    train_length: int,
    test_length: int,
) -> Array:
    h_ref = init_carry(cell)
    dtype = h_ref.dtype
    total = washout + train_length + test_length
    u = jax.random.uniform(key, (total, 1), dtype, minval=low, maxval=high)
    states = unroll(cell, u, h_ref)[washout:]  # (train + test, N)
    t = jnp.arange(washout, total)[:, None]
    delays = jnp.arange(1, k_max + 1)[None, :]
    delayed = u[t - delays, 0]  # (train + test, k_max): entry [t, k-1] = u_{t-k}
    w = _ridge(states[:train_length], delayed[:train_length], ridge[None], True)[0]
    pred = _apply(w, states[train_length:])
    target = delayed[train_length:]
    pc = pred - jnp.mean(pred, axis=0)
    tc = target - jnp.mean(target, axis=0)
    cov = jnp.sum(pc * tc, axis=0)
    var = jnp.sum(pc**2, axis=0) * jnp.sum(tc**2, axis=0)
    # A constant output (var 0) explains nothing: r² = 0, not 0/0.
    return jnp.where(var > 0, cov**2 / jnp.where(var > 0, var, 1), 0)


def memory_capacity(
    cell: Cell,
    *,
    key: Checked[PRNGKeyArray],
    k_max: Checked[int | None] = None,
    train_length: Checked[int] = 2000,
    test_length: Checked[int] = 1000,
    washout: Checked[int | None] = None,
    ridge: Any = 1e-8,
    input_range: Checked[tuple[float, float]] = (-0.5, 0.5),
) -> Float[Array, ""]:
    """Short-term memory capacity ``MC = Σ_{k=1..k_max} r²(u_{t−k}, y_k)`` (Jaeger 2002).

    The sum of :func:`memory_curve` (see there for the protocol and arguments). Jaeger
    proved ``MC <= N`` for i.i.d. input, with equality approached by linear reservoirs
    (``nonlinearity="identity"``) whose Krylov vectors ``W^k w_in`` span the state space.
    Since the state ``h_t`` also holds the current input ``u_t`` (delay 0, not counted),
    a linear reservoir reaches about ``N − r²(u_t, y_0)`` here.

    **Returns:** a scalar.

    **Raises:** as :func:`memory_curve`.

    Reference: H. Jaeger, "Short term memory in echo state networks", GMD Report 152
    (2002).

    >>> import jax
    >>> from rnngrad.esn import EchoStateCell, memory_capacity
    >>> cell = EchoStateCell(1, 20, key=jax.random.key(0))
    >>> mc = memory_capacity(cell, key=jax.random.key(1), train_length=500, test_length=500)
    >>> bool(0.0 < mc <= 20.0)
    True
    """
    return jnp.sum(
        memory_curve(
            cell,
            key=key,
            k_max=k_max,
            train_length=train_length,
            test_length=test_length,
            washout=washout,
            ridge=ridge,
            input_range=input_range,
        )
    )


# ---------------------------------------------------------------------------------------
# Ridge selection on a validation split
# ---------------------------------------------------------------------------------------


class RidgeSelection(NamedTuple):
    """The readout chosen by :func:`select_ridge`.

    - `readout`: the readout at the chosen ridge (as :func:`ridge_readout` returns it).
    - `ridge`: the chosen ridge, a float.
    - `index`: its position in `ridges`.
    - `scores`: (R,) the validation score of every ridge (lower is better; NaN for a
      readout that gave a non-finite score).
    - `finite` (property): whether `readout` is finite, as the flags of rnngrad's other
      results (``rg.flags_of``).
    """

    readout: Array
    ridge: float
    index: int
    scores: np.ndarray

    @property
    def finite(self) -> Bool[Array, ""]:
        """Whether the chosen readout is finite (always, for a selection that returned)."""
        return jnp.all(jnp.isfinite(self.readout))


def select_ridge(
    states: Checked[Float[Array, "T N"]],
    targets: Checked[Float[Array, "T ..."]],
    *,
    ridges: Any,
    validation: Checked[tuple[Any, Any] | None] = None,
    score: Checked[Callable[[Array], Any] | None] = None,
    bias: Checked[bool] = True,
) -> RidgeSelection:
    """Fit a ridge readout for every ridge in `ridges`; keep the best on a validation split.

    All R readouts are fitted in one program (the Gram matrix is shared; a ridge of 0
    gives the minimum-norm readout, see :func:`ridge_readout`). Runs eagerly.
    The score of a readout is its NRMSE on ``validation = (val_states, val_targets)``,
    or ``score(readout)`` for any other criterion (e.g. a free-run error); the lowest
    finite score wins, ties to the smaller ridge.

    **Arguments:**

    - `states`, `targets`: the training split, as :func:`ridge_readout`.
    - `ridges`: (R,) candidate ridges, each >= 0.
    - `validation`: ``(val_states, val_targets)``, shaped as `states` and `targets`
      (same N and output size, any length); or
    - `score`: a function readout → scalar (lower is better), vmapped over the ridges.
      Give exactly one of `validation` and `score`.
    - `bias`: as :func:`ridge_readout`.

    **Returns:** a :class:`RidgeSelection`.

    **Raises:** ``ValueError`` for an empty, non-1-D, negative or non-finite `ridges`,
    for both or neither of `validation` and `score`, a `validation` split whose shapes
    do not fit `states`/`targets` or that holds NaN/inf, a `score` that does not return
    a scalar, or when no ridge gives a finite score; ``TypeError`` for `ridges` that
    are not real numbers (strings, bools, complex, traced values), a `validation` that
    is not a pair, or a `score` that is not callable; otherwise as
    :func:`ridge_readout`.

    Reference: Lukoševičius, "A practical guide to applying echo state networks" (2012),
    Sec. 4.1 (the ridge is chosen on validation data).

    >>> import jax.numpy as jnp
    >>> from rnngrad.esn import select_ridge
    >>> x = jnp.sin(jnp.arange(400.0) ** 1.5).reshape(100, 4)
    >>> y = x @ jnp.arange(4.0)
    >>> pick = select_ridge(x[:60], y[:60], ridges=[10.0, 1e-8], validation=(x[60:], y[60:]))
    >>> pick.ridge, pick.index
    (1e-08, 1)
    """
    ridge_grid = _ridge_grid(ridges)
    if (validation is None) == (score is None):
        raise ValueError(
            "give exactly one of `validation=(val_states, val_targets)` and `score=`, got "
            f"validation={describe(validation)}, score={describe(score)}."
        )
    states, targets = _ridge_inputs(states, targets, bias)
    if validation is not None:
        score = _validation_score(validation, states, targets)
    check_callable("score", score, expected="readout -> scalar (lower is better)")
    grid = jnp.asarray(ridge_grid, states.dtype)
    readouts = _ridge(states, targets, grid, bias)
    score_shape = jax.eval_shape(score, readouts[0]).shape
    if score_shape != ():
        raise ValueError(f"`score` must return a scalar for one readout, got shape {score_shape}.")
    scores = np.asarray(jax.vmap(score)(readouts), dtype=np.float64)
    scores = np.where(np.isfinite(scores), scores, np.nan)
    if np.all(np.isnan(scores)):
        raise ValueError(
            f"no ridge in {ridge_grid.tolist()} gave a finite validation score; try larger "
            "ridges or check the states for saturation."
        )
    index = int(np.nanargmin(scores))
    return RidgeSelection(readouts[index], float(ridge_grid[index]), index, scores)


def _ridge_grid(ridges: Any) -> np.ndarray:
    """`ridges` as a non-empty 1-D float64 grid of finite values >= 0."""
    if isinstance(ridges, jax.core.Tracer):
        raise TypeError(
            "`ridges` must be concrete: select_ridge runs eagerly (it returns Python "
            "numbers); inside jit, jax.vmap ridge_readout over the ridges instead."
        )
    grid = np.asarray(ridges) if ridges is not None else np.asarray([])
    if grid.dtype.kind not in "iuf":
        raise TypeError(
            f"`ridges` must be a sequence of real numbers, got {describe(ridges)} "
            f"(dtype {grid.dtype})."
        )
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"`ridges` must be a non-empty 1-D sequence, got {describe(ridges)}.")
    grid = grid.astype(np.float64)
    if not np.all(np.isfinite(grid)) or np.any(grid < 0):
        raise ValueError(f"`ridges` must all be finite and >= 0, got {grid.tolist()}.")
    return grid


def _validation_score(validation: Any, states: Array, targets: Array) -> Callable:
    """The NRMSE on a checked `validation` split, as a score function of the readout."""
    if not (isinstance(validation, tuple) and len(validation) == 2):
        raise TypeError(
            f"`validation` must be a pair (val_states, val_targets), got {describe(validation)}."
        )
    n, rest = states.shape[1], targets.shape[1:]
    val_states = check_float_array(
        "validation[0]", validation[0], ndims=(2,), what=f"of shape (T_val, {n}) (val_states)"
    )
    length = val_states.shape[0]
    val_targets = check_float_array(
        "validation[1]",
        validation[1],
        shape=(length, *rest),
        what=f"of shape {(length, *rest)} (val_targets, shaped as `targets`)",
    )
    if length == 0 or val_states.shape[1] != n:
        raise ValueError(
            f"`validation[0]` (val_states) must have shape (T_val, {n}) with T_val >= 1, "
            f"as `states`, got {describe(val_states)}."
        )
    _finite("validation[0]", val_states)
    _finite("validation[1]", val_targets)

    def score(readout: Array) -> Array:
        return _nrmse(_apply(readout, val_states), val_targets)

    return score
