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
    check_choice,
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
from ._reservoir import Dense, RowSparse, row_sparse, spectral_radius as host_spectral_radius
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


@functools.partial(jax.jit, static_argnames=("hidden_size", "dtype", "base_init"))
def _draw_base(
    key: PRNGKeyArray,
    connectivity: Array,
    *,
    hidden_size: int,
    dtype: Any,
    base_init: Callable[..., Array],
) -> Array:
    """The masked base draw of ``W_rec`` (N, N), before normalisation.

    `connectivity` is traced, so one compilation serves every value. The key is split as
    by every earlier version, so a key gives the same reservoir as before.
    """
    n = hidden_size
    k_base, k_mask, _, _ = jax.random.split(key, 4)
    base = jnp.asarray(base_init(k_base, (n, n), dtype), dtype)
    mask = jax.random.bernoulli(k_mask, connectivity, (n, n))
    return jnp.where(mask, base, jnp.zeros((), dtype))


@functools.partial(jax.jit, static_argnames=("input_size", "hidden_size", "dtype"))
def _draw_input(
    key: PRNGKeyArray,
    input_scaling: Array,
    bias_scaling: Array,
    *,
    input_size: int,
    hidden_size: int,
    dtype: Any,
) -> tuple[Array, Array]:
    """``(W_ih, b)``, uniform in ``±input_scaling`` and ``±bias_scaling``."""
    _, _, k_in, k_bias = jax.random.split(key, 4)
    n = hidden_size
    uniform = functools.partial(jax.random.uniform, dtype=dtype, minval=-1.0, maxval=1.0)
    return input_scaling * uniform(k_in, (n, input_size)), bias_scaling * uniform(k_bias, (n,))


@jax.jit
def _normalise(base: Array) -> tuple[Array, Array]:
    """`base` / ρ(`base`) and ρ(`base`) in-graph, for a traced draw (dense eigvals)."""
    radius = _spectral_radius(base)
    # An all-zero spectrum (traced, so not caught) would give 0/0: keep W_rec finite instead.
    safe = jnp.where(radius > 0, radius, jnp.ones((), base.dtype))
    return base / safe, radius


_STORAGES = ("auto", "sparse", "dense")


def _base_reservoir(
    key: PRNGKeyArray,
    connectivity: Any,
    storage: str,
    *,
    hidden_size: int,
    dtype: Any,
    base_init: Callable[..., Array],
) -> Dense | RowSparse:
    """The base ``B`` of ``W_rec``, spectral radius 1, stored as `storage` asks.

    Drawn eagerly when `key` and `connectivity` are concrete (its spectral radius then
    comes from the host, once), else in-graph and dense.
    """
    where = "EchoStateCell"
    with jax.ensure_compile_time_eval():
        base = _draw_base(
            key,
            jnp.asarray(connectivity, dtype),
            hidden_size=hidden_size,
            dtype=dtype,
            base_init=base_init,
        )
    if not is_concrete(base):
        if storage == "sparse":
            raise ValueError(
                f"{where}: storage='sparse' needs a concrete `key` and `connectivity` (the "
                "number of nonzeros per row is a shape), but one of them is traced (jit or "
                "vmap over seeds): draw the cell outside the transformation, or use "
                "storage='dense' (or 'auto', which falls back to dense)."
            )
        return Dense(_normalise(base)[0])
    drawn = np.asarray(base)
    if not np.all(np.isfinite(drawn)):
        raise ValueError(
            f"{where}: `weight_hh_init` returned non-finite values (NaN or inf); "
            "the reservoir cannot be normalised."
        )
    with jax.ensure_compile_time_eval():  # concrete even while an outer jit traces
        stored = None if storage == "dense" else row_sparse(drawn, force=storage == "sparse")
        stored = Dense(base) if stored is None else stored
        radius = host_spectral_radius(stored)
    if radius == 0.0:
        raise ValueError(
            f"{where}: the random reservoir (hidden_size={hidden_size}, "
            f"connectivity={connectivity}) has spectral radius 0 and cannot be scaled to a "
            "spectral radius; raise `connectivity`, change `key`, or check `weight_hh_init` "
            "(the base draw before masking)."
        )
    wide = promote_types(dtype, jnp.float32)

    def normalise(x: Array) -> Array:
        divisor = jnp.asarray(radius, wide)
        return (
            (x.astype(wide) / divisor).astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x
        )

    with jax.ensure_compile_time_eval():
        return jax.tree_util.tree_map(normalise, stored)


class EchoStateCell(AbstractCell):
    """Leaky-integrator echo state reservoir ``h' = (1 − a) h + a φ(W_hh h + W_ih x + b)``.

    One unbatched step, called like :class:`rnngrad.VanillaCell`: ``cell(x, h) -> h``.
    ``weight_hh`` is the reservoir matrix ``W_rec``, drawn once and never trained.

    Construction (Jaeger 2001; Lukoševičius 2012):

    - ``W_rec = recurrent_scale · B``: the base ``B`` is a draw of ``weight_hh_init``
      (default standard normal) times a Bernoulli(`connectivity`) mask, normalised to
      spectral radius 1, and ``recurrent_scale`` is `spectral_radius` (a scalar array
      field). The base depends on `key` and `connectivity` only: when both are concrete
      it is drawn eagerly (even inside ``jit``/``vmap``) and its spectral radius is
      computed once, on the host in float64 (an Arnoldi iteration for N >= 512, dense
      eigenvalues below; see ``rnngrad.cells._reservoir``). `spectral_radius` and
      `leak_rate` may then be traced, so ``jax.vmap(lambda rho, a: EchoStateCell(...,
      spectral_radius=rho, leak_rate=a, key=key))`` builds a grid of reservoirs that
      share one unbatched ``B``; each step multiplies ``B h`` by the scalar instead of
      materialising ``W_rec`` per point. A traced `key` (``vmap`` over seeds) or
      `connectivity` draws ``B`` in-graph, dense, normalised with ``jnp.linalg.eigvals``.
    - ``W_ih``: uniform in ``[−input_scaling, input_scaling]``, dense.
    - ``b``: uniform in ``[−bias_scaling, bias_scaling]`` (zero by default).
    - `leak_rate` ``a`` is stored as a (traceable, vmappable) array field, not a static one.

    Storage (`storage`): ``"auto"`` keeps ``B`` in a fixed-nonzeros-per-row gather format
    (ELLPACK, ``rnngrad.cells._reservoir.RowSparse``) when N >= 128 and no row has more
    than N/4 nonzeros, else dense; ``"sparse"`` and ``"dense"`` force one. At 1000 units
    and connectivity 0.1 the row-sparse product is about 3× faster than the dense one on
    CPU, and ``jax.experimental.sparse`` formats (BCOO, CSR segment sums) were slower than
    dense (``benchmarks/esn_vs_reservoirpy.py``). ``weight_hh`` materialises the dense
    ``W_rec`` on demand (for eigenvalues, Jacobians, plots).

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
    - `storage`: ``"auto"`` (default), ``"sparse"`` or ``"dense"``: how ``B`` is stored
      (see above). ``"sparse"`` needs a concrete `key` and `connectivity`.
    - `dtype`: parameter dtype; default float64 under ``jax_enable_x64``, else float32.
    - `key`: a ``jax.random`` key (keyword only).

    **Raises:** ``ValueError`` for a `spectral_radius` <= 0 or non-finite, a `leak_rate`
    outside (0, 1], a `connectivity` outside (0, 1], a negative `bias_scaling`, a
    hyperparameter that overflows `dtype` (e.g. 1e300 in float32), a `weight_hh_init`
    that returns another shape or dtype than it is given, a base draw that is not finite
    or has spectral radius 0 (when concrete), non-positive sizes, an unknown `storage`, or
    ``storage="sparse"`` with a traced `key` or `connectivity`; ``TypeError`` for
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
    reservoir: Dense | RowSparse
    recurrent_scale: Float[Array, ""]
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
        storage: Checked[str] = "auto",
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
        storage = check_choice("storage", storage, _STORAGES, where="EchoStateCell")
        self.weight_ih, self.bias = _draw_input(
            key,
            jnp.asarray(input_scaling, dtype),
            jnp.asarray(bias_scaling, dtype),
            input_size=self.input_size,
            hidden_size=n,
            dtype=dtype,
        )
        self.reservoir = _base_reservoir(
            key, connectivity, storage, hidden_size=n, dtype=dtype, base_init=base_init
        )
        self.recurrent_scale = jnp.asarray(spectral_radius, dtype)
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
        dtype = self.weight_ih.dtype
        x, h = (_step_array(name, v, dtype) for name, v in (("x", x), ("h", h)))
        check_step_shapes("EchoStateCell", x, h, self.input_size, self.hidden_size)
        pre = (
            self.recurrent_scale * self.reservoir.matvec(h)
            + jnp.matmul(self.weight_ih, x, precision=_HIGHEST)
            + self.bias
        )
        a = self.leak_rate
        return (1 - a) * h + a * self.activation(pre)

    def scale_recurrent(self, scale: Any) -> EchoStateCell:
        """This cell with ``W_rec`` multiplied by `scale` (see ``rnngrad.scale_recurrent``).

        Only the scalar ``recurrent_scale`` changes: the base ``B`` stays shared.

        **Raises:** ``TypeError``/``ValueError`` for a `scale` that is not a finite real
        scalar or (when concrete) overflows the cell's dtype.
        """
        dtype = self.weight_ih.dtype
        check_real_scalar("scale", scale)
        check_representable("scale", scale, dtype, where="EchoStateCell")
        scaled = jnp.asarray(scale, dtype) * self.recurrent_scale
        return eqx.tree_at(lambda c: c.recurrent_scale, self, scaled)

    def init_carry(self) -> Float[Array, " hidden"]:
        """Zeros of shape (hidden_size,), the cell's dtype."""
        return jnp.zeros((self.hidden_size,), self.weight_ih.dtype)

    @property
    def weight_hh(self) -> Float[Array, "hidden hidden"]:
        """The reservoir matrix ``W_rec = recurrent_scale · B``, materialised dense (N, N)."""
        return self.recurrent_scale * self.reservoir.todense()

    @property
    def recurrent_weight(self) -> Float[Array, "hidden hidden"]:
        """The reservoir matrix ``W_rec`` (dense, see ``weight_hh``)."""
        return self.weight_hh

    @property
    def gain(self) -> float:
        """γ = sup |φ'| (1 for tanh, ReLU, identity); ``TypeError`` for a callable φ."""
        return nonlinearity_gain(self.nonlinearity)
