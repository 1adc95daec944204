"""Recurrent-weight initialisers with the ``jax.nn.initializers`` signature.

Each factory returns ``init(key, shape, dtype=None) -> array``, so it can be passed to
``rg.VanillaCell(weight_hh_init=...)`` or used anywhere a JAX initialiser is expected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._checks import Checked, check_float_dtype, check_real_scalar, describe

Initializer = Callable[..., Float[Array, "rows cols"]]

__all__ = ["gaussian", "orthogonal", "identity", "spectral_radius"]


def _dtype(dtype: Any) -> Any:
    return check_float_dtype("dtype", dtype, where="rg.init")


def _matrix_shape(shape: Sequence[int], *, square: bool, who: str) -> tuple[int, int]:
    shape = tuple(int(s) for s in shape)
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


def gaussian(scale: Checked[float] = 1.0) -> Initializer:
    """Gaussian init with entries ``N(0, scale² / n)`` (``n`` = number of columns).

    For a square ``n × n`` matrix the circular law puts the eigenvalues in a disc of
    radius ``scale`` (Girko 1984), so the spectral radius is ≈ ``scale`` for large ``n``:
    the classic gain ``g`` of Sompolinsky, Crisanti & Sommers (1988), whose ``g = 1`` is
    the edge of chaos of a random tanh network.

    **Arguments:** `scale`: the gain, a finite real number.

    **Returns:** ``init(key, shape, dtype=None) -> (rows, cols) array``.

    **Raises:** ``TypeError``/``ValueError`` for a non-real or non-finite `scale`, or a
    non-2-D `shape`.

    >>> import jax, rnngrad as rg
    >>> w = rg.init.gaussian(1.0)(jax.random.key(0), (4, 4))
    >>> w.shape
    (4, 4)
    """
    check_real_scalar("scale", scale)

    def init(key: PRNGKeyArray, shape: Sequence[int], dtype: Any = None) -> Array:
        rows, cols = _matrix_shape(shape, square=False, who="gaussian")
        dtype_ = _dtype(dtype)
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

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> w = rg.init.orthogonal(2.0)(jax.random.key(0), (3, 3))
    >>> bool(jnp.allclose(w @ w.T, 4.0 * jnp.eye(3), atol=1e-5))
    True
    """
    check_real_scalar("scale", scale)
    base = jax.nn.initializers.orthogonal(scale=1.0)

    def init(key: PRNGKeyArray, shape: Sequence[int], dtype: Any = None) -> Array:
        rows, cols = _matrix_shape(shape, square=False, who="orthogonal")
        dtype_ = _dtype(dtype)
        return jnp.asarray(scale, dtype_) * base(key, (rows, cols), dtype_)

    return init


def identity(scale: Checked[float] = 1.0) -> Initializer:
    """``scale · I``: the IRNN initialisation of Le, Jaitly & Hinton (2015).

    With ReLU and zero bias, an identity recurrent weight copies the state forward, so
    gradients neither vanish nor explode at the start of training. The key is unused;
    it is accepted for the initialiser signature. ``jax.nn.initializers`` has no
    identity initialiser, hence this one.

    **Raises:** ``ValueError`` for a non-square `shape`.

    >>> import jax, rnngrad as rg
    >>> rg.init.identity(0.5)(jax.random.key(0), (2, 2)).tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """
    check_real_scalar("scale", scale)

    def init(key: PRNGKeyArray, shape: Sequence[int], dtype: Any = None) -> Array:
        del key
        rows, _ = _matrix_shape(shape, square=True, who="identity")
        dtype_ = _dtype(dtype)
        return jnp.asarray(scale, dtype_) * jnp.eye(rows, dtype=dtype_)

    return init


def spectral_radius(rho: Checked[float], base: Initializer | None = None) -> Initializer:
    """Rescale a draw of ``base`` so that its spectral radius is exactly ``rho``.

    The recipe of echo state networks (Jaeger 2001) and of "spectral radius" inits for
    tanh RNNs: the largest ``|eigenvalue|`` sets the linearised dynamics' growth rate
    per step (Pascanu, Mikolov & Bengio 2013). Eigenvalues are computed with
    ``jnp.linalg.eigvals``.

    **Arguments:**

    - `rho`: target spectral radius, finite and > 0.
    - `base`: the initialiser to draw from (default ``gaussian(1.0)``).

    **Raises:** ``ValueError`` for ``rho <= 0``, non-finite ``rho``, a non-square
    `shape`, or a base draw with spectral radius 0.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> w = rg.init.spectral_radius(0.9)(jax.random.key(0), (5, 5))
    >>> round(float(jnp.max(jnp.abs(jnp.linalg.eigvals(w)))), 6)
    0.9
    """
    check_real_scalar("rho", rho, positive=True)
    if base is None:
        base = gaussian(1.0)
    if not callable(base):
        raise TypeError(f"`base` must be an initialiser (key, shape, dtype), got {describe(base)}.")

    def init(key: PRNGKeyArray, shape: Sequence[int], dtype: Any = None) -> Array:
        _matrix_shape(shape, square=True, who="spectral_radius")
        dtype_ = _dtype(dtype)
        w = base(key, tuple(shape), dtype_)
        radius = jnp.max(jnp.abs(jnp.linalg.eigvals(w))).astype(dtype_)
        if not isinstance(radius, jax.core.Tracer) and float(radius) == 0.0:
            raise ValueError(
                "spectral_radius: the base draw has spectral radius 0; cannot rescale."
            )
        return w * (jnp.asarray(rho, dtype_) / radius)

    return init
