"""Recurrent-weight initialisers with the ``jax.nn.initializers`` signature.

Each factory returns ``init(key, shape, dtype=None) -> array``, so it can be passed to
``rg.VanillaCell(weight_hh_init=...)`` or used anywhere a JAX initialiser is expected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._checks import (
    Checked,
    check_callable,
    check_float_dtype,
    check_key,
    check_real_scalar,
    check_representable,
    describe,
    is_concrete,
    promote_types,
)

Initializer = Callable[..., Float[Array, "rows cols"]]

__all__ = ["gaussian", "orthogonal", "identity", "spectral_radius"]


# ------------------------------------------------------------------ dtype helpers (private)
# Shared with EchoStateCell, rnngrad.esn and mackey_glass.


def _spectral_radius(w: Array) -> Array:
    """``max |eig(w)|`` in `w`'s dtype; computed in at least float32 (LAPACK has no float16)."""
    wide = promote_types(w.dtype, jnp.float32)
    return jnp.max(jnp.abs(jnp.linalg.eigvals(w.astype(wide)))).astype(w.dtype)


def _init_arguments(who: str, key: Any, shape: Any, dtype: Any) -> tuple[tuple[int, ...], Any]:
    """The checked `key`, `shape` (a tuple of ints) and `dtype` of an initialiser call."""
    check_key("key", key, where=who)
    dtype = check_float_dtype("dtype", dtype, where=who)
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence):
        raise TypeError(
            f"{who}: `shape` must be a tuple (rows, cols) of positive ints, got {describe(shape)}."
        )
    for size in shape:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
            raise TypeError(
                f"{who}: `shape` must be a tuple (rows, cols) of positive ints, got {shape!r}."
            )
    return tuple(int(s) for s in shape), dtype


def _matrix_shape(shape: tuple[int, ...], *, square: bool, who: str) -> tuple[int, int]:
    if len(shape) != 2 or min(shape) <= 0:
        raise ValueError(
            f"{who}: `shape` must be a 2-D (rows, cols) matrix shape with positive sizes, "
            f"got {shape}."
        )
    if square and shape[0] != shape[1]:
        raise ValueError(
            f"{who}: `shape` must be square (a recurrent weight maps the state to itself), "
            f"got {shape}."
        )
    return shape  # type: ignore[return-value]


def _scaled_call(
    who: str, key: Any, shape: Any, dtype: Any, scale: tuple[str, Any], *, square: bool = False
) -> tuple[int, int, Any]:
    """Check an initialiser call and its ``(name, value)`` scale; return (rows, cols, dtype)."""
    shape, dtype = _init_arguments(who, key, shape, dtype)
    rows, cols = _matrix_shape(shape, square=square, who=who)
    check_representable(*scale, dtype, where=who)
    return rows, cols, dtype


def _check_init_output(
    who: str, name: str, init: Any, key: Any, shape: tuple[int, ...], dtype: Any
) -> None:
    """``init(key, shape, dtype)`` must run and return that shape and dtype (traced only).

    `name` is the argument that supplied `init` (e.g. ``"base"``, ``"weight_hh_init"``).
    """
    try:
        out = jax.eval_shape(lambda k: init(k, shape, dtype), key)
    except TypeError as err:
        raise TypeError(
            f"{who}: `{name}` must be an initialiser called as init(key, shape, dtype); "
            f"calling it raised: {err}"
        ) from err
    if tuple(getattr(out, "shape", ())) != shape or getattr(out, "dtype", None) != dtype:
        raise ValueError(
            f"{who}: `{name}` must return an array of the shape {shape} and dtype "
            f"{np.dtype(dtype).name} it is given, got {describe(out)}."
        )


def _checked_draw(
    who: str, name: str, init: Any, key: Any, shape: tuple[int, ...], dtype: Any
) -> Array:
    """``init(key, shape, dtype)`` after :func:`_check_init_output`; finite when concrete."""
    _check_init_output(who, name, init, key, shape, dtype)
    draw = init(key, shape, dtype)
    if is_concrete(draw) and not bool(jnp.all(jnp.isfinite(draw))):
        raise ValueError(f"{who}: `{name}` returned non-finite values (NaN or inf).")
    return draw


def gaussian(scale: Checked[float] = 1.0) -> Initializer:
    """Gaussian init with entries ``N(0, scale² / n)`` (``n`` = number of columns).

    For a square ``n × n`` matrix the circular law puts the eigenvalues in a disc of
    radius ``scale`` (Girko 1984), so the spectral radius is ≈ ``scale`` for large ``n``:
    the classic gain ``g`` of Sompolinsky, Crisanti & Sommers (1988), whose ``g = 1`` is
    the edge of chaos of a random tanh network.

    **Arguments:** `scale`: the gain, a finite real number.

    **Returns:** ``init(key, shape, dtype=None) -> (rows, cols) array``.

    **Raises:** ``TypeError``/``ValueError`` for a non-real or non-finite `scale`; when
    called, for a `key` that is not one ``jax.random`` key, a `shape` that is not two
    positive ints, a non-floating `dtype`, or a `scale` that overflows `dtype`.

    >>> import jax, rnngrad as rg
    >>> w = rg.init.gaussian(1.0)(jax.random.key(0), (4, 4))
    >>> w.shape
    (4, 4)
    """
    check_real_scalar("scale", scale)

    def init(key: Checked[PRNGKeyArray], shape: Checked[Sequence[int]], dtype: Any = None) -> Array:
        rows, cols, dtype_ = _scaled_call("rg.init.gaussian", key, shape, dtype, ("scale", scale))
        std = jnp.asarray(scale, dtype_) / jnp.sqrt(jnp.asarray(cols, dtype_))
        return std * jax.random.normal(key, (rows, cols), dtype_)

    return init


def orthogonal(scale: Checked[float] = 1.0) -> Initializer:
    """Random (semi-)orthogonal init times ``scale``: ``W Wᵀ = scale² I`` for square ``W``.

    Every singular value equals ``scale``, so a linear RNN preserves gradient norms
    exactly at ``scale = 1`` (Saxe, McClelland & Ganguli 2014; used against vanishing
    gradients by Le, Jaitly & Hinton 2015 and Henaff et al. 2016). Reuses
    ``jax.nn.initializers.orthogonal``.

    **Arguments:** `scale`: a finite real number.

    **Returns:** ``init(key, shape, dtype=None) -> (rows, cols) array``.

    **Raises:** as :func:`gaussian`.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> w = rg.init.orthogonal(2.0)(jax.random.key(0), (3, 3))
    >>> bool(jnp.allclose(w @ w.T, 4.0 * jnp.eye(3), atol=1e-5))
    True
    """
    check_real_scalar("scale", scale)
    base = jax.nn.initializers.orthogonal(scale=1.0)

    def init(key: Checked[PRNGKeyArray], shape: Checked[Sequence[int]], dtype: Any = None) -> Array:
        rows, cols, dtype_ = _scaled_call("rg.init.orthogonal", key, shape, dtype, ("scale", scale))
        return jnp.asarray(scale, dtype_) * base(key, (rows, cols), dtype_)

    return init


def identity(scale: Checked[float] = 1.0) -> Initializer:
    """``scale · I``: the IRNN initialisation of Le, Jaitly & Hinton (2015).

    With ReLU and zero bias, an identity recurrent weight copies the state forward, so
    gradients neither vanish nor explode at the start of training. The key is unused;
    it is accepted for the initialiser signature. ``jax.nn.initializers`` has no
    identity initialiser, hence this one.

    **Raises:** as :func:`gaussian` (the key is checked too, although unused), and
    ``ValueError`` for a non-square `shape`.

    >>> import jax, rnngrad as rg
    >>> rg.init.identity(0.5)(jax.random.key(0), (2, 2)).tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """
    check_real_scalar("scale", scale)

    def init(key: Checked[PRNGKeyArray], shape: Checked[Sequence[int]], dtype: Any = None) -> Array:
        rows, _, dtype_ = _scaled_call(
            "rg.init.identity", key, shape, dtype, ("scale", scale), square=True
        )
        return jnp.asarray(scale, dtype_) * jnp.eye(rows, dtype=dtype_)

    return init


def spectral_radius(rho: Checked[float], base: Checked[Initializer | None] = None) -> Initializer:
    """Rescale a draw of ``base`` so that its spectral radius is exactly ``rho``.

    The recipe of echo state networks (Jaeger 2001) and of "spectral radius" inits for
    tanh RNNs: the largest ``|eigenvalue|`` sets the linearised dynamics' growth rate
    per step (Pascanu, Mikolov & Bengio 2013). Eigenvalues are computed with
    ``jnp.linalg.eigvals``.

    **Arguments:**

    - `rho`: target spectral radius, finite and > 0.
    - `base`: the initialiser to draw from (default ``gaussian(1.0)``).

    **Raises:** ``ValueError`` for ``rho <= 0`` or non-finite ``rho``; ``TypeError`` for
    a `base` that is not callable. When called: as :func:`gaussian`, and ``ValueError``
    for a non-square `shape`, a `base` draw of another shape or dtype, or (when
    concrete) a base draw that is not finite or has spectral radius 0. Inside ``jit``
    a traced draw is not inspected: a zero-radius draw then gives non-finite weights.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> w = rg.init.spectral_radius(0.9)(jax.random.key(0), (5, 5))
    >>> round(float(jnp.max(jnp.abs(jnp.linalg.eigvals(w)))), 6)
    0.9
    """
    check_real_scalar("rho", rho, positive=True)
    who = "rg.init.spectral_radius"
    base = gaussian(1.0) if base is None else base
    check_callable("base", base, expected="initialiser (key, shape, dtype) -> array", where=who)

    def init(key: Checked[PRNGKeyArray], shape: Checked[Sequence[int]], dtype: Any = None) -> Array:
        rows, cols, dtype_ = _scaled_call(who, key, shape, dtype, ("rho", rho), square=True)
        w = _checked_draw(who, "base", base, key, (rows, cols), dtype_)
        radius = _spectral_radius(w)
        if is_concrete(radius) and float(radius) == 0.0:
            raise ValueError(f"{who}: the `base` draw has spectral radius 0; cannot rescale.")
        return w * (jnp.asarray(rho, dtype_) / radius)

    return init
