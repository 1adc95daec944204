"""Linear diagonal recurrences: the LRU (Orvieto et al. 2023) and a plain real diagonal cell.

Both follow the *diagonal protocol* shared by the cells whose carry enters linearly
(``LRUCell``, ``DiagonalLinearCell``, ``MinGRUCell``, ``MinLSTMCell``), on which a
parallel (associative) scan and closed-form gradient anatomy are built:

- ``diagonal_step(x) -> (a, b)``: arrays of shape (D,), real or complex, with ``a``
  depending on the input (gates) but never on the carry, such that for every carry
  ``cell(x, carry) == cell.from_diagonal(a * cell.to_diagonal(carry) + b)``;
- ``to_diagonal(carry) -> z`` (D,) and ``from_diagonal(z) -> carry``: the carry in the
  coordinates where the recurrence is diagonal (the identity for a real diagonal cell).

Each cell's ``__call__`` is computed through these three methods, so they cannot disagree.
The helpers ``check_input``, ``check_step`` and ``uniform_in`` are shared with
``_minimal`` and ``_indrnn``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, PRNGKeyArray

from .._checks import (
    Checked,
    check_bool,
    check_float_dtype,
    check_key,
    check_positive_int,
    check_real_scalar,
    describe,
    is_concrete,
    promote_types,
)
from ._abstract import AbstractCell
from ._vanilla import HIGHEST

__all__ = ["LRUCell", "check_input", "check_step", "uniform_in"]


def check_input(who: str, name: str, value: Any, size: int, dtype: Any) -> Array:
    """One step's `value` (`x` or the carry), shape (size,), as an array of the cell's `dtype`.

    Raises a ``TypeError`` for a non-array, a complex or integer array, or one wider than
    the cell's dtype (a silent downcast would lose precision), and a ``ValueError`` for a
    wrong shape (one example: ``jax.vmap`` for batches). A narrower float is cast up.
    """
    name_of = np.dtype(dtype).name
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise TypeError(
            f"{who}: `{name}` must be an array of shape ({size},), got {describe(value)}"
            + (": use jnp.asarray(...)." if isinstance(value, (list, tuple)) else ".")
        )
    if jnp.issubdtype(value.dtype, jnp.complexfloating):
        raise TypeError(
            f"{who}: `{name}` must be real, got {describe(value)}; complex values are not "
            "supported (split real and imaginary parts)."
        )
    if not jnp.issubdtype(value.dtype, jnp.floating):
        raise TypeError(
            f"{who}: `{name}` must be a real floating array of shape ({size},), got "
            f"{describe(value)}: use {name}.astype(jnp.{name_of})."
        )
    if tuple(value.shape) != (size,):
        raise ValueError(
            f"{who}: `{name}` must have shape ({size},) (one example; vmap for batches), "
            f"got {describe(value)}."
        )
    if promote_types(value.dtype, dtype) != dtype:
        raise TypeError(
            f"{who}: `{name}` has dtype {value.dtype}, wider than the cell's {name_of}: use "
            f"{name}.astype(jnp.{name_of}) or build the cell with dtype=jnp.{value.dtype}."
        )
    return jnp.asarray(value).astype(dtype)


def check_step(
    who: str, x: Any, carry: Any, input_size: int, state_size: int, dtype: Any
) -> tuple[Array, Array]:
    """`x` (input_size,) and `carry` (state_size,) checked by :func:`check_input`."""
    return (
        check_input(who, "x", x, input_size, dtype),
        check_input(who, "carry", carry, state_size, dtype),
    )


def uniform_in(key: PRNGKeyArray, shape: tuple[int, ...], dtype: Any, low: Any, high: Any) -> Array:
    """Uniform draws in ``[low, high)`` of `dtype` (bounds may be traced)."""
    low = jnp.asarray(low, dtype)
    high = jnp.asarray(high, dtype)
    return low + (high - low) * jax.random.uniform(key, shape, dtype)


def _as_scale(scale: Any, old: Array | None, dtype: Any) -> Array:
    """`scale` as a 0-d array of `dtype`, composed (multiplied) with an `old` scale."""
    scale = jnp.asarray(scale).astype(dtype)
    return scale if old is None else old * scale


def _set_scale(cell: Any, scale: Array | None) -> Any:
    return eqx.tree_at(lambda c: c.recurrent_scale, cell, scale, is_leaf=lambda x: x is None)


def _complex_dtype(who: str, dtype: Any) -> Any:
    if dtype == jnp.float64:
        return jnp.complex128
    if dtype == jnp.float32:
        return jnp.complex64
    raise TypeError(
        f"{who}: `dtype` must be jnp.float32 or jnp.float64 (the complex recurrence needs "
        f"complex64/complex128), got {np.dtype(dtype).name}."
    )


# --------------------------------------------------------------------------- LRU


@functools.partial(jax.jit, static_argnames=("shape", "dtype"))
def _draw_lru(
    key: PRNGKeyArray,
    r_min: Array,
    r_max: Array,
    max_phase: Array,
    *,
    shape: tuple[int, int, int],
    dtype: Any,
) -> tuple[Array, ...]:
    """Every random draw of an :class:`LRUCell` in one compiled program (one compilation
    per shape and dtype, the hyperparameters traced).

    Returns ``(ν_log, θ_log, γ_log, Re B, Im B, Re C, Im C, D)``.
    """
    n, m, p = shape
    k_uniform, k_normal = jax.random.split(key)
    # Two draws (uniform and normal) cut into parts: one threefry each, a fast compile.
    tiny = float(jnp.finfo(dtype).tiny)  # u = 0 would give ν_log or θ_log = ±inf
    u1, u2 = jax.random.uniform(k_uniform, (2, n), dtype, minval=tiny, maxval=1.0)
    sizes = (n * m, n * m, p * n, p * n, p * m)
    normal = jax.random.normal(k_normal, (sum(sizes),), dtype)
    b_re, b_im, c_re, c_im, d = jnp.split(normal, np.cumsum(sizes)[:-1].tolist())
    lo2, hi2 = jnp.square(r_min), jnp.square(r_max)
    nu_log = jnp.log(-0.5 * jnp.log(u1 * (hi2 - lo2) + lo2))
    theta_log = jnp.log(max_phase * u2)
    # log √(1 − |λ|²) with 1 − |λ|² = −expm1(−2 exp ν), accurate as |λ| → 1.
    gamma_log = 0.5 * jnp.log(-jnp.expm1(-2.0 * jnp.exp(nu_log)))
    b_std = 1.0 / math.sqrt(2.0 * m)
    return (
        nu_log,
        theta_log,
        gamma_log,
        b_std * b_re.reshape(n, m),
        b_std * b_im.reshape(n, m),
        c_re.reshape(p, n) / math.sqrt(n),
        c_im.reshape(p, n) / math.sqrt(n),
        d.reshape(p, m) / math.sqrt(m),
    )


class LRUCell(AbstractCell):
    """The Linear Recurrent Unit (Orvieto et al. 2023): a diagonal complex linear recurrence.

    ``h_t = λ ⊙ h_{t−1} + γ ⊙ (B x_t)`` with ``h`` complex (H,), ``λ = exp(−exp(ν) +
    i·exp(θ))`` (the exponential parametrisation keeps ``|λ| < 1`` for any real ν),
    ``B`` complex (H, input_size) and the normalisation ``γ = exp(γ_log)`` (H,). The
    layer's output is ``y_t = Re(C h_t) + D x_t`` with ``C`` complex (out_size, H) and
    ``D`` real (out_size, input_size).

    The carry is real so that every rnngrad tool sees a real state: ``s = concat(Re h,
    Im h)``, shape (2H,). Its step Jacobian is the real (2H, 2H) matrix
    :attr:`recurrent_weight`, a rotation-dilation ``|λ_j|·R(arg λ_j)`` on each pair
    ``(Re h_j, Im h_j)``, so the Lyapunov exponents are ``log |λ_j|``, each twice.

    Initialisation, as in the paper and its code ("ring initialisation"):

    - ``|λ|`` uniform on the ring ``r_min <= |λ| < r_max`` of the complex plane: with
      ``u₁ ~ U(0, 1)``, ``ν_log = log(−½ log(u₁ (r_max² − r_min²) + r_min²))``;
    - the phase ``arg λ = exp(θ_log)`` uniform in ``[0, max_phase)``:
      ``θ_log = log(max_phase · u₂)``;
    - ``Re B``, ``Im B`` entries ``N(0, 1/(2·input_size))``, so that
      ``E|(B x)_j|² = |x|²/input_size`` as for a real ``N(0, 1/input_size)`` matrix;
      ``Re C``, ``Im C`` entries ``N(0, 1/H)``; ``D`` entries ``N(0, 1/input_size)``
      (the paper's ``D`` is a diagonal N(0, 1) skip for ``out_size = input_size``; a
      full matrix with variance 1/input_size gives the same output variance for
      unit-variance inputs and allows other sizes);
    - ``γ_log = log √(1 − |λ|²)`` (`normalize`), a trainable parameter as in the
      paper, initialised so that an input ``B x_t`` white in time gives
      ``E|h_j|² = E|(B x)_j|²`` in the stationary state, whatever ``|λ_j|``.
      ``normalize=False`` drops it (γ = 1, no parameter), for comparisons: then
      ``E|h_j|²`` grows like ``1/(1 − |λ_j|²)``.

    Defaults ``r_min = 0.9``, ``r_max = 0.999``, ``max_phase = 2π``: a ring of the kind
    the paper initialises for its long-range (LRA) tasks (closer still to 1 for the
    longest), memory time-scales of 10 to 1000 steps, where the curse of memory (Zucchet
    & Orvieto 2024) shows. The paper's code defaults ``r_min = 0, r_max = 1`` spread
    ``|λ|`` over the whole disc (half of them below 0.71: short memory); a smaller phase
    range (the paper uses ``π/10`` for some tasks) slows the rotation of the modes.

    **Readout.** ``output(carry) = Re(C h)`` (out_size,) is what a readout sees (e.g.
    ``rg.RNNModel``, and so ``rg.train``): ``output`` gets the carry only, so the skip
    ``D x`` is not part of it (under ``rg.train`` the gradient of ``D`` is zero).
    :meth:`readout` ``(x, carry) = Re(C h) + D x`` is the paper's full layer output,
    for models that pass the step's input on. `out_size` defaults to `input_size`, as
    in the paper (the LRU maps the model dimension to itself, with a residual
    connection around it).

    **Diagonal protocol** (for ``rg.unroll(..., parallel=True)``): ``diagonal_step(x)``
    returns ``a = λ`` (scale included) and ``b = γ ⊙ (B x)``, complex (H,);
    ``to_diagonal(s) = s[:H] + i·s[H:]`` and ``from_diagonal(h) = concat(Re h, Im h)``.

    **Arguments:**

    - `input_size`, `hidden_size`: positive ints (`hidden_size` is the number H of
      complex modes; the carry has 2H reals).
    - `r_min`: inner radius of the ring, in [0, 1) (default 0.9).
    - `r_max`: outer radius, in (0, 1] and > `r_min` (default 0.999).
    - `max_phase`: largest initial phase, > 0 (default 2π).
    - `normalize`: whether to have the normalisation γ (default True).
    - `out_size`: rows of ``C`` and ``D``, a positive int (default `input_size`).
    - `dtype`: ``jnp.float32`` or ``jnp.float64`` (the complex arithmetic runs in
      complex64/complex128); default float64 under ``jax_enable_x64``, else float32.
    - `key`: a ``jax.random`` key (keyword only).

    Protocol: ``init_carry`` (zeros (2H,)), ``scale_recurrent`` (multiplies λ),
    ``fold_recurrent_scale``, ``recurrent_weight`` (the real (2H, 2H) step Jacobian),
    ``gain`` (1: linear), ``output``, and the diagonal protocol above. Also
    :attr:`eigenvalues` (the complex λ, (H,)).

    **Raises:** ``ValueError`` for `r_min` outside [0, 1), `r_max` outside (0, 1],
    ``r_min >= r_max``, a non-positive or non-finite `max_phase`, or non-positive sizes;
    ``TypeError`` for non-real radii or phase, a non-bool `normalize`, a `dtype` other
    than float32/float64, or a `key` that is not one ``jax.random`` key.

    Reference: A. Orvieto, S. L. Smith, A. Gu, A. Fernando, C. Gulcehre, R. Pascanu &
    S. De, "Resurrecting recurrent neural networks for long sequences", ICML 2023.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.LRUCell(2, 8, key=jax.random.key(0))
    >>> carry = cell(jnp.ones(2), cell.init_carry())
    >>> carry.shape, cell.output(carry).shape, cell.readout(jnp.ones(2), carry).shape
    ((16,), (2,), (2,))
    >>> radii = jnp.abs(cell.eigenvalues)
    >>> bool(jnp.all((radii >= 0.9) & (radii < 0.999)))
    True
    """

    nu_log: Float[Array, " hidden"]
    theta_log: Float[Array, " hidden"]
    gamma_log: Float[Array, " hidden"] | None
    B_re: Float[Array, "hidden input"]
    B_im: Float[Array, "hidden input"]
    C_re: Float[Array, "out hidden"]
    C_im: Float[Array, "out hidden"]
    D: Float[Array, "out input"]
    recurrent_scale: Float[Array, ""] | None
    input_size: int = eqx.field(static=True)
    hidden_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)

    def __init__(
        self,
        input_size: Checked[int],
        hidden_size: Checked[int],
        *,
        r_min: Checked[float] = 0.9,
        r_max: Checked[float] = 0.999,
        max_phase: Checked[float] = 2 * math.pi,
        normalize: Checked[bool] = True,
        out_size: Checked[int | None] = None,
        dtype: Any = None,
        key: Checked[PRNGKeyArray],
    ):
        who = "LRUCell"
        check_key("key", key, where=who)
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.out_size = input_size if out_size is None else check_positive_int("out_size", out_size)
        check_real_scalar("r_min", r_min, low=0.0, low_open=False, high=1.0)
        if is_concrete(r_min) and float(r_min) >= 1.0:
            raise ValueError(f"{who}: `r_min` must lie in [0, 1), got {float(r_min)}.")
        check_real_scalar("r_max", r_max, low=0.0, high=1.0)
        if is_concrete(r_min) and is_concrete(r_max) and not float(r_min) < float(r_max):
            raise ValueError(
                f"{who}: `r_min` must be < `r_max` (the ring r_min <= |λ| < r_max), got "
                f"r_min = {float(r_min)} and r_max = {float(r_max)}."
            )
        check_real_scalar("max_phase", max_phase, positive=True)
        normalize = check_bool("normalize", normalize, where=who)
        dtype = check_float_dtype("dtype", dtype, where=who)
        _complex_dtype(who, dtype)
        (
            self.nu_log,
            self.theta_log,
            gamma_log,
            self.B_re,
            self.B_im,
            self.C_re,
            self.C_im,
            self.D,
        ) = _draw_lru(
            key,
            jnp.asarray(r_min, dtype),
            jnp.asarray(r_max, dtype),
            jnp.asarray(max_phase, dtype),
            shape=(hidden_size, input_size, self.out_size),
            dtype=dtype,
        )
        self.gamma_log = gamma_log if normalize else None
        self.recurrent_scale = None

    @property
    def dtype(self) -> Any:
        """The real dtype of the parameters and the carry."""
        return self.nu_log.dtype

    @property
    def eigenvalues(self) -> Complex[Array, " hidden"]:
        """λ (H,), complex: the diagonal of the recurrence, scale included."""
        radius = jnp.exp(-jnp.exp(self.nu_log))
        if self.recurrent_scale is not None:
            radius = self.recurrent_scale * radius
        phase = jnp.exp(self.theta_log)
        return jax.lax.complex(radius * jnp.cos(phase), radius * jnp.sin(phase))

    @property
    def gamma(self) -> Float[Array, " hidden"]:
        """γ (H,): the input normalisation (ones without `normalize`)."""
        if self.gamma_log is None:
            return jnp.ones((self.hidden_size,), self.dtype)
        return jnp.exp(self.gamma_log)

    def diagonal_step(
        self, x: Checked[Float[Array, " input"]]
    ) -> tuple[Complex[Array, " hidden"], Complex[Array, " hidden"]]:
        """``(a, b) = (λ, γ ⊙ B x)``, complex (H,): ``h' = a ⊙ h + b`` for every ``h``."""
        x = check_input("LRUCell", "x", x, self.input_size, self.dtype)
        bx_re = jnp.matmul(self.B_re, x, precision=HIGHEST)
        bx_im = jnp.matmul(self.B_im, x, precision=HIGHEST)
        if self.gamma_log is not None:
            gamma = jnp.exp(self.gamma_log)
            bx_re, bx_im = gamma * bx_re, gamma * bx_im
        return self.eigenvalues, jax.lax.complex(bx_re, bx_im)

    def to_diagonal(
        self, carry: Checked[Float[Array, "*batch state"]]
    ) -> Complex[Array, "*batch hidden"]:
        """The complex state ``h = s[:H] + i·s[H:]`` (H,) of a carry ``s`` (2H,) (leading
        axes, e.g. time, are kept)."""
        n = self.hidden_size
        return jax.lax.complex(carry[..., :n], carry[..., n:])

    def from_diagonal(
        self, z: Checked[Complex[Array, "*batch hidden"]]
    ) -> Float[Array, "*batch state"]:
        """The carry ``concat(Re h, Im h)`` (2H,) of a complex state ``h`` (H,) (leading
        axes are kept)."""
        return jnp.concatenate([jnp.real(z), jnp.imag(z)], axis=-1)

    def __call__(
        self, x: Checked[Float[Array, " input"]], carry: Checked[Float[Array, " state"]]
    ) -> Float[Array, " state"]:
        """One step: ``x`` (input_size,) and the carry (2H,) -> the next carry (2H,)."""
        x, carry = check_step(
            "LRUCell", x, carry, self.input_size, 2 * self.hidden_size, self.dtype
        )
        a, b = self.diagonal_step(x)
        return self.from_diagonal(a * self.to_diagonal(carry) + b)

    def init_carry(self) -> Float[Array, " state"]:
        """Zeros of shape (2H,): ``h = 0``."""
        return jnp.zeros((2 * self.hidden_size,), self.dtype)

    def output(self, carry: Checked[Float[Array, " state"]]) -> Float[Array, " out"]:
        """``Re(C h)`` (out_size,): the readout features (the skip ``D x`` needs `x`, see
        :meth:`readout`)."""
        n = self.hidden_size
        return jnp.matmul(self.C_re, carry[:n], precision=HIGHEST) - jnp.matmul(
            self.C_im, carry[n:], precision=HIGHEST
        )

    def readout(
        self, x: Checked[Float[Array, " input"]], carry: Checked[Float[Array, " state"]]
    ) -> Float[Array, " out"]:
        """The paper's layer output ``y = Re(C h) + D x`` (out_size,) for the step's `x`."""
        x, carry = check_step(
            "LRUCell", x, carry, self.input_size, 2 * self.hidden_size, self.dtype
        )
        return self.output(carry) + jnp.matmul(self.D, x, precision=HIGHEST)

    def scale_recurrent(self, scale: Any) -> LRUCell:
        """This cell with λ multiplied by `scale` (|λ| scaled; a negative scale adds π to the
        phase). Vmappable over `scale`; scales compose. ``γ`` is unchanged."""
        return _set_scale(self, _as_scale(scale, self.recurrent_scale, self.dtype))

    def fold_recurrent_scale(self) -> LRUCell:
        """This cell with its scale folded into ``ν_log`` and ``θ_log`` (no separate scale).

        ``ν' = log(exp(ν) − log|s|)``, and ``θ' = θ + π`` for ``s < 0``. The exponential
        parametrisation only holds ``0 < |s λ| < 1``: a concrete scale outside that
        raises a ``ValueError``; a traced one gives non-finite parameters (which
        ``rg.train`` flags).
        """
        scale = self.recurrent_scale
        if scale is None:
            return self
        exp_nu = jnp.exp(self.nu_log) - jnp.log(jnp.abs(scale))
        if is_concrete(exp_nu) and not bool(jnp.all(exp_nu > 0) & jnp.all(jnp.isfinite(exp_nu))):
            largest = float(jnp.max(jnp.abs(self.eigenvalues)))
            raise ValueError(
                f"LRUCell.fold_recurrent_scale: the scaled eigenvalues must satisfy "
                f"0 < |scale·λ| < 1 (the LRU's λ = exp(−exp(ν) + iθ) cannot hold others), "
                f"got scale = {float(scale)} and max |scale·λ| = {largest}. Train the "
                "scaled cell without folding, or use a smaller scale."
            )
        theta = jnp.exp(self.theta_log) + jnp.where(scale < 0, jnp.pi, 0.0).astype(self.dtype)
        folded = eqx.tree_at(
            lambda c: (c.nu_log, c.theta_log), self, (jnp.log(exp_nu), jnp.log(theta))
        )
        return _set_scale(folded, None)

    @property
    def recurrent_weight(self) -> Float[Array, "state state"]:
        """The real (2H, 2H) step Jacobian ``[[diag Re λ, −diag Im λ], [diag Im λ, diag Re λ]]``
        acting on the carry ``(Re h, Im h)``, scale included."""
        lam = self.eigenvalues
        re, im = jnp.diag(jnp.real(lam)), jnp.diag(jnp.imag(lam))
        return jnp.block([[re, -im], [im, re]])

    @property
    def gain(self) -> float:
        """γ = sup |φ'| = 1: the recurrence is linear."""
        return 1.0


# --------------------------------------------------------------------------- diagonal linear
