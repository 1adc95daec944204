"""Input validation shared by every public function.

All checks run at trace time on shapes, dtypes and (where the value is concrete) numbers,
so a bad call raises a clear ``ValueError``/``TypeError`` before XLA sees it.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def describe(value: Any) -> str:
    """A short description of a value for an error message: its type and shape/dtype."""
    if isinstance(value, (jax.Array, np.ndarray)) or hasattr(value, "shape"):
        shape = getattr(value, "shape", None)
        dtype = getattr(value, "dtype", None)
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {dtype}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def is_concrete(value: Any) -> bool:
    """Whether ``value`` holds known numbers (not a tracer inside jit/vmap/grad)."""
    return not isinstance(value, jax.core.Tracer)


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an ``int`` if it is a positive integer, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be a positive int, got {describe(value)}.")
    if value <= 0:
        raise ValueError(f"`{name}` must be a positive int, got {value}.")
    return int(value)


def check_real_scalar(
    name: str,
    value: Any,
    *,
    positive: bool = False,
    nonnegative: bool = False,
    finite: bool = True,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = True,
) -> jax.Array | float:
    """Check a real scalar; concrete values are also checked for finiteness and range.

    Tracers (inside ``vmap``/``jit``) are checked for dtype and shape only.
    Returns the value unchanged (python numbers stay python numbers, keeping weak types).
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"`{name}` must be a real number, got {describe(value)}.")
    if isinstance(value, bool) or isinstance(value, np.bool_):
        raise TypeError(f"`{name}` must be a real number, got bool {value!r}.")
    if isinstance(value, complex):
        raise TypeError(f"`{name}` must be a real number, got complex {value!r}.")
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        shape: tuple[int, ...] = ()
    else:
        try:
            dtype = jnp.result_type(value)
        except TypeError as err:
            raise TypeError(f"`{name}` must be a real number, got {describe(value)}.") from err
        if not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
            raise TypeError(
                f"`{name}` must be a real number (float or int dtype), got {describe(value)}."
            )
        shape = tuple(jnp.shape(value))
        if shape != ():
            raise ValueError(f"`{name}` must be a scalar, got {describe(value)}.")
        if not is_concrete(value):
            return value
        number = float(np.asarray(value))
    if finite and not math.isfinite(number):
        raise ValueError(f"`{name}` must be finite, got {number}.")
    if positive and not number > 0:
        raise ValueError(f"`{name}` must be > 0, got {number}.")
    if nonnegative and not number >= 0:
        raise ValueError(f"`{name}` must be >= 0, got {number}.")
    if low is not None and (number <= low if low_open else number < low):
        bracket = "(" if low_open else "["
        raise ValueError(
            f"`{name}` must lie in {bracket}{low}, {high if high is not None else 'inf'}], "
            f"got {number}."
        )
    if high is not None and number > high:
        raise ValueError(f"`{name}` must be <= {high}, got {number}.")
    return value


def check_time_axis(name: str, xs: Any) -> int:
    """Check that every leaf of ``xs`` has the same, non-empty leading time axis; return T."""
    leaves = jax.tree_util.tree_leaves(xs)
    if not leaves:
        raise ValueError(f"`{name}` must hold arrays with a leading time axis, got {describe(xs)}.")
    lengths = set()
    for leaf in leaves:
        if not hasattr(leaf, "shape"):
            raise TypeError(f"`{name}` must hold arrays, got a leaf {describe(leaf)}.")
        if len(leaf.shape) == 0:
            raise ValueError(
                f"`{name}` must have a leading time axis (T, ...), got a scalar {describe(leaf)}."
            )
        lengths.add(leaf.shape[0])
    if len(lengths) != 1:
        raise ValueError(f"`{name}` leaves disagree on the time axis length: {sorted(lengths)}.")
    (length,) = lengths
    if length == 0:
        raise ValueError(f"`{name}` has T = 0 time steps; at least one step is needed.")
    return int(length)


def structure_of(tree: Any) -> str:
    """Human-readable structure, shapes and dtypes of a pytree."""
    return str(jax.tree_util.tree_map(lambda x: f"{jnp.result_type(x)}{list(jnp.shape(x))}", tree))


def check_same_structure(name: str, given: Any, expected: Any, what: str) -> None:
    """Raise if ``given`` does not match ``expected`` in tree structure, shapes and dtypes."""
    given_def = jax.tree_util.tree_structure(given)
    expected_def = jax.tree_util.tree_structure(expected)
    mismatch = given_def != expected_def
    if not mismatch:
        for g, e in zip(jax.tree_util.tree_leaves(given), jax.tree_util.tree_leaves(expected)):
            if jnp.shape(g) != jnp.shape(e) or jnp.result_type(g) != jnp.result_type(e):
                mismatch = True
                break
    if mismatch:
        raise ValueError(
            f"`{name}` does not match {what}: expected {structure_of(expected)}, "
            f"got {structure_of(given)}."
        )
