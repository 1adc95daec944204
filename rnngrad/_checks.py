"""Input validation shared by every public function.

All checks run at trace time on shapes, dtypes and (where the value is concrete) numbers,
so a bad call raises a clear ``ValueError``/``TypeError`` before XLA sees it.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

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
) -> Any:
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


def check_int(
    name: str, value: Any, *, minimum: int | None = 1, why: str = "", where: str = ""
) -> int:
    """Return ``value`` as an ``int`` if it is an integer ``>= minimum``, else raise.

    `where` prefixes the message (e.g. the class name); `why` explains the minimum.
    ``minimum=None`` checks the type only (the caller checks a range of its own).
    """
    prefix = f"{where}: " if where else ""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        want = "an int" if minimum is None else f"an int >= {minimum}"
        raise TypeError(f"{prefix}`{name}` must be {want}, got {describe(value)}.")
    if minimum is not None and value < minimum:
        reason = f" ({why})" if why else ""
        raise ValueError(f"{prefix}`{name}` must be >= {minimum}{reason}, got {int(value)}.")
    return int(value)


def check_float_dtype(name: str, dtype: Any, *, where: str = "") -> np.dtype:
    """A floating dtype: ``None`` means the default (float64 under x64, else float32)."""
    prefix = f"{where}: " if where else ""
    if dtype is None:
        return jnp.asarray(0.0).dtype
    try:
        resolved = jnp.dtype(dtype)
    except TypeError as err:
        raise TypeError(
            f"{prefix}`{name}` must be a floating dtype, got {dtype!r} (e.g. jnp.float32)."
        ) from err
    if not jnp.issubdtype(resolved, jnp.floating):
        raise TypeError(
            f"{prefix}`{name}` must be a floating dtype, got {resolved} (e.g. jnp.float32)."
        )
    return resolved


def check_key(name: str, key: Any, *, where: str = "") -> Any:
    """One ``jax.random`` key (new-style of shape () or raw uint32 of shape (2,)), else raise."""
    prefix = f"{where}: " if where else ""
    if not hasattr(key, "dtype") or not hasattr(key, "shape"):
        raise TypeError(
            f"{prefix}`{name}` must be a jax.random key (jax.random.key(seed)), "
            f"got {describe(key)}."
        )
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(
                f"{prefix}`{name}` must be ONE key of shape () (one example; use jax.vmap "
                f"for batches), got {describe(key)}."
            )
    elif key.dtype == jnp.uint32:
        if key.shape != (2,):
            raise ValueError(
                f"{prefix}`{name}` must be ONE raw key of shape (2,) (one example; use "
                f"jax.vmap for batches), got {describe(key)}."
            )
    else:
        raise TypeError(
            f"{prefix}`{name}` must be a jax.random key (jax.random.key(seed)), "
            f"got {describe(key)}."
        )
    return key


def check_float_array(
    name: str,
    value: Any,
    *,
    ndims: tuple[int, ...] | None = None,
    shape: tuple[int, ...] | None = None,
    what: str = "",
    where: str = "",
) -> jax.Array:
    """``value`` as a floating array with one of `ndims` dimensions or exactly `shape`.

    `what` describes the expected array for the message (e.g. ``"of shape (T, N)"``);
    `where` prefixes it (e.g. the class name).
    """
    prefix = f"{where}: " if where else ""
    if what:
        as_array, expected = f"be an array {what}", f"be {what}"
    elif shape is not None:
        as_array, expected = f"be an array of shape {shape}", f"have shape {shape}"
    else:
        as_array = expected = f"be an array with ndim in {ndims}"
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise TypeError(f"{prefix}`{name}` must {as_array}, got {describe(value)}.")
    if not jnp.issubdtype(value.dtype, jnp.floating):
        raise TypeError(f"{prefix}`{name}` must have a floating dtype, got {describe(value)}.")
    if (ndims is not None and value.ndim not in ndims) or (
        shape is not None and tuple(value.shape) != tuple(shape)
    ):
        raise ValueError(f"{prefix}`{name}` must {expected}, got {describe(value)}.")
    return jnp.asarray(value)


@jax.jit
def _any_nan(value: jax.Array) -> jax.Array:
    return jnp.any(jnp.isnan(value))


def check_no_nan(name: str, value: Any) -> None:
    """Raise if a concrete ``value`` contains NaN (tracers are skipped: no value yet)."""
    if not is_concrete(value):
        return
    on_cpu = all(device.platform == "cpu" for device in value.devices())
    # On CPU, NumPy reads the buffer in place; elsewhere reduce on the device and fetch
    # one bool instead of copying the whole series to the host.
    if not (np.isnan(np.asarray(value)).any() if on_cpu else bool(_any_nan(value))):
        return
    bad = np.isnan(np.asarray(value))
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    raise ValueError(
        f"`{name}` must not contain NaN, got {int(bad.sum())} NaN value(s) in "
        f"{describe(value)} (first at index {first})."
    )


def check_washout(washout: Any, length: int) -> int:
    """``washout`` as an int in [0, length): the number of initial states to drop."""
    if isinstance(washout, bool) or not isinstance(washout, (int, np.integer)):
        raise TypeError(f"`washout` must be an int in [0, {length}), got {describe(washout)}.")
    if not 0 <= washout < length:
        raise ValueError(
            f"`washout` must be an int in [0, T) = [0, {length}) (the number of initial "
            f"states to drop; T = {length} is the series length), got {washout}."
        )
    return int(washout)


class Checked:
    """``Checked[T]``: an argument of type ``T`` that rnngrad validates itself.

    The test run checks every annotation at runtime (jaxtyping's import hook with
    beartype). For an argument that rnngrad checks with its own message (naming the
    argument, what was expected, what was given and the fix), the runtime checker sees
    ``Any``, so that a bad value reaches that message instead of a generic type error;
    readers and the docs still see ``T``.
    """

    def __class_getitem__(cls, item: Any) -> Any:
        return Annotated[Any, item]
