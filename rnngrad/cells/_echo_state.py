"""The echo state reservoir cell (Jaeger 2001): a leaky tanh cell with a fixed random W_rec.

Analysis of echo state networks (states, ridge readout, prediction, the echo state
property, memory capacity) lives in ``rnngrad.esn``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._checks import (
    Checked,
    check_callable,
    check_float_dtype,
    check_key,
    check_positive_int,
    check_real_scalar,
    check_representable,
    describe,
    is_concrete,
    promote_types,
)
from ._abstract import AbstractCell
from ._init import _check_init_output, _spectral_radius
from ._vanilla import activation_of, check_nonlinearity, check_step_shapes, nonlinearity_gain

__all__ = ["EchoStateCell"]

_HIGHEST = jax.lax.Precision.HIGHEST
# One module-level object, so that the compiled draw of the default reservoir is cached.
_STANDARD_NORMAL = jax.nn.initializers.normal(1.0)


# ---------------------------------------------------------------------------------------
# The reservoir cell
# ---------------------------------------------------------------------------------------


def _step_array(name: str, value: Any, dtype: Any) -> Array:
    """One step's `value` (``x`` or ``h``) as a real float array of the cell's `dtype`.

    A lower precision is cast up (exact); a wider one is an error, not a silent downcast.
    """
    where = "EchoStateCell"
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise TypeError(
            f"{where}: `{name}` must be an array, got {describe(value)}: use jnp.asarray({name})."
        )
    if jnp.issubdtype(value.dtype, jnp.complexfloating):
        raise TypeError(
            f"{where}: `{name}` must be real, got {describe(value)}; complex values are not "
            "supported (split real and imaginary parts)."
        )
    if not jnp.issubdtype(value.dtype, jnp.floating):
        raise TypeError(
            f"{where}: `{name}` must have a floating dtype, got {describe(value)}: use "
            f"{name}.astype(jnp.{np.dtype(dtype).name})."
        )
    if promote_types(value.dtype, dtype) != dtype:
        raise TypeError(
            f"{where}: `{name}` has dtype {value.dtype}, wider than the cell's "
            f"{np.dtype(dtype).name}: use {name}.astype(jnp.{np.dtype(dtype).name}) or build "
            f"the cell with dtype=jnp.{value.dtype}."
        )
    return jnp.asarray(value).astype(dtype)


@functools.partial(jax.jit, static_argnames=("input_size", "hidden_size", "dtype", "base_init"))
def _draw_reservoir(
    key: PRNGKeyArray,
    spectral_radius: Array,
    input_scaling: Array,
    connectivity: Array,
    bias_scaling: Array,
    *,
    input_size: int,
    hidden_size: int,
    dtype: Any,
    base_init: Callable[..., Array],
) -> tuple[Array, Array, Array, Array]:
    """All random draws of an :class:`EchoStateCell` in one compiled program.

    Returns ``(W_hh, W_ih, b, radius of the masked base draw)``. The hyperparameters are
    traced, so one compilation serves every value (and ``vmap`` over them batches only the
    scaling: the eigenvalues depend on the key alone).
    """
    n = hidden_size
    k_base, k_mask, k_in, k_bias = jax.random.split(key, 4)
    base = jnp.asarray(base_init(k_base, (n, n), dtype), dtype)
    # Sparse by masking, stored dense: on CPU a dense BLAS matvec beats BCOO sparse kernels
    # at these sizes, and dense W_rec works with eigvals, vmap and jacrev as it is.
    mask = jax.random.bernoulli(k_mask, connectivity, (n, n))
    base = jnp.where(mask, base, jnp.zeros((), dtype))
    radius = _spectral_radius(base)
    # An all-zero spectrum (traced, so not caught) would give 0/0: keep W_rec finite instead.
    safe = jnp.where(radius > 0, radius, jnp.ones((), dtype))
    weight_hh = base * (spectral_radius / safe)
    weight_ih = input_scaling * jax.random.uniform(
        k_in, (n, input_size), dtype, minval=-1.0, maxval=1.0
    )
    bias = bias_scaling * jax.random.uniform(k_bias, (n,), dtype, minval=-1.0, maxval=1.0)
    return weight_hh, weight_ih, bias, radius


class EchoStateCell(AbstractCell):
    """Leaky-integrator echo state reservoir ``h' = (1 − a) h + a φ(W_hh h + W_ih x + b)``.

    One unbatched step, called like :class:`rnngrad.VanillaCell`: ``cell(x, h) -> h``.
    ``weight_hh`` is the reservoir matrix ``W_rec``, drawn once and never trained.

    Construction (Jaeger 2001; Lukoševičius 2012):

    - ``W_rec``: a base draw of ``weight_hh_init`` (default standard normal) times a
      Bernoulli(`connectivity`) mask, normalised to spectral radius 1 with
      ``jnp.linalg.eigvals`` and multiplied by `spectral_radius`. Because the random
      base draw depends on the key only, `spectral_radius` may be a traced value: the
      eigenvalues are computed once for the key and only the scaling is batched, so
      ``jax.vmap(lambda rho, a: EchoStateCell(..., spectral_radius=rho, leak_rate=a,
      key=key))`` builds a grid of reservoirs that share one random structure.
    - ``W_ih``: uniform in ``[−input_scaling, input_scaling]``, dense.
    - ``b``: uniform in ``[−bias_scaling, bias_scaling]`` (zero by default).
    - `leak_rate` ``a`` is stored as a (traceable, vmappable) array field, not a static one.

    The sparse reservoir is stored as a dense (N, N) array. On CPU, for the reservoir sizes
    of this toolkit (N up to a few thousand), a dense BLAS matrix-vector product beats
    ``jax.experimental.sparse`` (BCOO has no fast CPU kernels and a gather-scatter step
    per product), dense arrays compose with ``vmap`` over the scale and with
    ``jnp.linalg.eigvals``/``jacrev`` without special cases, and N² floats at N = 1000
    are only 8 MB.

    **Arguments:**

    - `input_size`, `hidden_size`: positive ints (`hidden_size` is the reservoir size N).
    - `spectral_radius`: the spectral radius of ``W_rec``, finite and > 0 (default 0.9).
    - `leak_rate`: ``a`` in (0, 1] (default 1: no leak, the plain ESN of Jaeger 2001).
    - `input_scaling`: half-width of the uniform input weights (default 1).
    - `connectivity`: density of ``W_rec`` in (0, 1] (default 0.1).
    - `bias_scaling`: half-width of the uniform bias, >= 0 (default 0).
    - `nonlinearity`: ``"tanh"`` (default), ``"identity"`` (a linear reservoir, as in the
      memory-capacity theory of Jaeger 2002), ``"relu"``, or a callable.
    - `weight_hh_init`: initialiser ``(key, shape, dtype) -> array`` for the base draw of
      ``W_rec`` before masking and normalisation (default
      ``jax.nn.initializers.normal(1.0)``); e.g. ``jax.nn.initializers.orthogonal()``
      with ``connectivity=1`` for an orthogonal reservoir.
    - `dtype`: parameter dtype; default float64 under ``jax_enable_x64``, else float32.
    - `key`: a ``jax.random`` key (keyword only).

    **Raises:** ``ValueError`` for a `spectral_radius` <= 0 or non-finite, a `leak_rate`
    outside (0, 1], a `connectivity` outside (0, 1], a negative `bias_scaling`, a
    hyperparameter that overflows `dtype` (e.g. 1e300 in float32), a `weight_hh_init`
    that returns another shape or dtype than it is given, a base draw that is not finite
    or has spectral radius 0 (when concrete), or non-positive sizes; ``TypeError`` for
    non-real hyperparameters, an unknown nonlinearity type, a `weight_hh_init` that is
    not an initialiser ``(key, shape, dtype)``, a non-floating `dtype`, or a `key` that
    is not one ``jax.random`` key.

    >>> import jax, jax.numpy as jnp
    >>> from rnngrad import EchoStateCell
    >>> cell = EchoStateCell(1, 20, spectral_radius=0.9, leak_rate=0.5, key=jax.random.key(0))
    >>> cell(jnp.ones(1), jnp.zeros(20)).shape
    (20,)
    >>> round(float(jnp.max(jnp.abs(jnp.linalg.eigvals(cell.weight_hh)))), 6)
    0.9
    """

    weight_ih: Float[Array, "hidden input"]
    weight_hh: Float[Array, "hidden hidden"]
    bias: Float[Array, " hidden"]
    leak_rate: Float[Array, ""]
    nonlinearity: str | Callable[[Array], Array] = eqx.field(static=True)
    input_size: int = eqx.field(static=True)
    hidden_size: int = eqx.field(static=True)

    def __init__(
        self,
        input_size: Checked[int],
        hidden_size: Checked[int],
        *,
        spectral_radius: Any = 0.9,
        leak_rate: Any = 1.0,
        input_scaling: Any = 1.0,
        connectivity: Any = 0.1,
        bias_scaling: Any = 0.0,
        nonlinearity: Checked[str | Callable[[Array], Array]] = "tanh",
        weight_hh_init: Checked[Callable[..., Array] | None] = None,
        dtype: Any = None,
        key: Checked[PRNGKeyArray],
    ):
        check_key("key", key, where="EchoStateCell")
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        check_real_scalar("spectral_radius", spectral_radius, positive=True)
        check_real_scalar("leak_rate", leak_rate, low=0.0, high=1.0)
        check_real_scalar("input_scaling", input_scaling)
        check_real_scalar("connectivity", connectivity, low=0.0, high=1.0)
        check_real_scalar("bias_scaling", bias_scaling, nonnegative=True)
        self.nonlinearity = check_nonlinearity(nonlinearity)
        dtype = check_float_dtype("dtype", dtype, where="EchoStateCell")
        for name, value in (
            ("spectral_radius", spectral_radius),
            ("input_scaling", input_scaling),
            ("bias_scaling", bias_scaling),
        ):
            check_representable(name, value, dtype, where="EchoStateCell")
        n = self.hidden_size
        base_init = _STANDARD_NORMAL if weight_hh_init is None else weight_hh_init
        check_callable(
            "weight_hh_init",
            base_init,
            expected="initialiser (key, shape, dtype) -> array",
            where="EchoStateCell",
        )
        _check_init_output("EchoStateCell", "weight_hh_init", base_init, key, (n, n), dtype)
        hyper = (spectral_radius, input_scaling, connectivity, bias_scaling)
        self.weight_hh, self.weight_ih, self.bias, radius = _draw_reservoir(
            key,
            *(jnp.asarray(v, dtype) for v in hyper),
            input_size=self.input_size,
            hidden_size=n,
            dtype=dtype,
            base_init=base_init,
        )
        if is_concrete(radius) and not np.isfinite(float(radius)):
            raise ValueError(
                "EchoStateCell: `weight_hh_init` returned non-finite values (NaN or inf); "
                "the reservoir cannot be normalised."
            )
        if is_concrete(radius) and float(radius) == 0.0:
            raise ValueError(
                f"EchoStateCell: the random reservoir (hidden_size={n}, "
                f"connectivity={connectivity}) has spectral radius 0 and cannot be scaled to "
                f"spectral_radius={spectral_radius}; raise `connectivity`, change `key`, or "
                "check `weight_hh_init` (the base draw before masking)."
            )
        self.leak_rate = jnp.asarray(leak_rate, dtype)

    @property
    def activation(self) -> Callable[[Array], Array]:
        """The nonlinearity φ as a function."""
        return activation_of(self.nonlinearity)

    def __call__(
        self,
        x: Checked[Float[Array, " input"]],
        h: Checked[Float[Array, " hidden"]],
        *,
        key: Any = None,
    ) -> Float[Array, " hidden"]:
        """One step: ``x`` (input_size,), ``h`` (hidden_size,) -> (hidden_size,).

        `x` and `h` of a lower float precision than the cell's are cast up to it.

        **Raises:** ``TypeError`` for a non-array, non-float or complex `x`/`h`, or one
        of a wider dtype than the cell's (cast it, or build the cell with that dtype);
        ``ValueError`` for wrong shapes.
        """
        del key
        dtype = self.weight_hh.dtype
        x, h = (_step_array(name, v, dtype) for name, v in (("x", x), ("h", h)))
        check_step_shapes("EchoStateCell", x, h, self.input_size, self.hidden_size)
        pre = (
            jnp.matmul(self.weight_hh, h, precision=_HIGHEST)
            + jnp.matmul(self.weight_ih, x, precision=_HIGHEST)
            + self.bias
        )
        a = self.leak_rate
        return (1 - a) * h + a * self.activation(pre)

    def scale_recurrent(self, scale: Any) -> EchoStateCell:
        """This cell with ``W_rec`` multiplied by `scale` (see ``rnngrad.scale_recurrent``).

        **Raises:** ``TypeError``/``ValueError`` for a `scale` that is not a finite real
        scalar or (when concrete) overflows the cell's dtype.
        """
        check_real_scalar("scale", scale)
        check_representable("scale", scale, self.weight_hh.dtype, where="EchoStateCell")
        scale = jnp.asarray(scale, self.weight_hh.dtype)
        return eqx.tree_at(lambda c: c.weight_hh, self, scale * self.weight_hh)

    def init_carry(self) -> Float[Array, " hidden"]:
        """Zeros of shape (hidden_size,), the dtype of ``weight_hh``."""
        return jnp.zeros((self.hidden_size,), self.weight_hh.dtype)

    @property
    def recurrent_weight(self) -> Float[Array, "hidden hidden"]:
        """The reservoir matrix ``W_rec``."""
        return self.weight_hh

    @property
    def gain(self) -> float:
        """γ = sup |φ'| (1 for tanh, ReLU, identity); ``TypeError`` for a callable φ."""
        return nonlinearity_gain(self.nonlinearity)
