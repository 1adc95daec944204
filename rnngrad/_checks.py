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
    check_not_plain(name, value, where, "a floating JAX array")
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


# --------------------------------------------------------------------------- values and flags


class NumericalWarning(RuntimeWarning):
    """A result computed eagerly (outside ``jit``) holds flagged values.

    Raised as a warning, not an error: the result is still the exact value of what was
    asked (e.g. a gradient that is exactly zero because tanh saturated to ±1), and its
    flags (``finite``, ``saturated``, ``overflowed``) say what happened. Inside ``jit``
    or ``vmap`` only the flags are set. Silence with
    ``warnings.simplefilter("ignore", rg.NumericalWarning)``.
    """


def _first_bad(array: np.ndarray) -> str:
    bad = ~np.isfinite(array)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    kinds = []
    if np.isnan(array).any():
        kinds.append(f"{int(np.isnan(array).sum())} NaN")
    if np.isinf(array).any():
        kinds.append(f"{int(np.isinf(array).sum())} inf")
    return f"{' and '.join(kinds)} (first at index {first})"


def check_finite(name: str, tree: Any, *, hint: str = "") -> None:
    """Raise if a concrete array (or pytree of arrays) holds NaN or inf.

    Tracers (inside ``jit``/``vmap``/``grad``) are skipped: their values are unknown at
    trace time, and the results' flags report them instead. Leaves of integer or bool
    dtype are skipped (they are always finite). `hint` is appended to the message.
    """
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if not hasattr(leaf, "dtype") or not is_concrete(leaf):
            continue
        if not jnp.issubdtype(leaf.dtype, jnp.inexact):
            continue
        if isinstance(leaf, jax.Array) and not all(
            device.platform == "cpu" for device in leaf.devices()
        ):
            if bool(_all_finite(leaf)):
                continue
        array = np.asarray(leaf)
        if np.isfinite(array).all():
            continue
        where = jax.tree_util.keystr(path)
        label = f"`{name}`" + (f" (leaf {where})" if where else "")
        extra = f" {hint}" if hint else ""
        raise ValueError(
            f"{label} must be finite, got {_first_bad(array)} in {describe(leaf)}.{extra}"
        )


@jax.jit
def _all_finite(value: jax.Array) -> jax.Array:
    return jnp.all(jnp.isfinite(value))


def check_callable(name: str, value: Any, *, expected: str, where: str = "") -> Any:
    """Return `value` if it is callable, else raise a ``TypeError`` saying what is expected.

    `expected` describes the call, e.g. ``"(carry, y) -> scalar"``.
    """
    if not callable(value):
        prefix = f"{where}: " if where else ""
        raise TypeError(f"{prefix}`{name}` must be a callable {expected}, got {describe(value)}.")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...], *, where: str = "") -> str:
    """Return `value` if it is one of the strings `choices`, else raise."""
    prefix = f"{where}: " if where else ""
    if not isinstance(value, str):
        raise TypeError(f"{prefix}`{name}` must be one of {list(choices)}, got {describe(value)}.")
    if value not in choices:
        raise ValueError(f"{prefix}`{name}` must be one of {list(choices)}, got {value!r}.")
    return value


def check_path(name: str, value: Any, *, kind: str = "file") -> Any:
    """`value` as a ``pathlib.Path``: a ``str`` or ``os.PathLike``, else a ``TypeError``.

    With ``kind="file"`` an existing directory is refused; with ``kind="folder"`` an
    existing file is refused (both ``ValueError``s naming the argument and the path).
    """
    import os
    from pathlib import Path

    if isinstance(value, bool) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"`{name}` must be a path (str or pathlib.Path), got {describe(value)}.")
    path = Path(value)
    if kind == "file" and path.is_dir():
        raise ValueError(
            f"`{name}` must name a file, but {str(path)!r} is a directory; "
            "give a file name inside it, e.g. its / 'result.npz'."
        )
    if kind == "folder" and path.exists() and not path.is_dir():
        raise ValueError(
            f"`{name}` must name a folder, but {str(path)!r} is an existing file; "
            "choose another path."
        )
    return path


def flags_of(result: Any) -> dict[str, bool]:
    """The concrete flags of a result (``finite``, ``saturated``, ``overflowed``) that are set.

    Returns ``{}`` for traced flags (inside ``jit``) or a result without flags.
    """
    found = {}
    for flag in ("finite", "saturated", "overflowed"):
        value = getattr(result, flag, None)
        if value is None or not is_concrete(value):
            continue
        found[flag] = bool(np.all(np.asarray(value)))
    return found


def warn_if_flagged(result: Any, where: str) -> Any:
    """Issue a :class:`NumericalWarning` when an eager result is non-finite or saturated.

    Inside ``jit``/``vmap`` (traced flags) nothing happens: the flags on the result say it.
    Returns `result` unchanged.
    """
    import warnings

    flags = flags_of(result)
    if flags.get("finite") is False:
        warnings.warn(
            f"{where}: the result holds NaN or inf values (`.finite` is False): a parameter "
            "or intermediate value is not finite. Check the cell's parameters and the "
            "scale; in the exploding regime read the log values instead.",
            NumericalWarning,
            stacklevel=3,
        )
    elif flags.get("saturated") is True:
        warnings.warn(
            f"{where}: some gradients (or exponents) are exactly zero (log values -inf, "
            "`.saturated` is True): a step Jacobian lost rank, e.g. tanh saturated to ±1 "
            "at this precision or ReLU units are dead. The values are exact; use float64 "
            "or a smaller scale to resolve them.",
            NumericalWarning,
            stacklevel=3,
        )
    elif flags.get("overflowed") is True:
        warnings.warn(
            f"{where}: some values overflowed to inf (`.overflowed` is True); the log values "
            "(log_norms) stay exact, read those in the exploding regime.",
            NumericalWarning,
            stacklevel=3,
        )
    return result


def check_real_array(name: str, value: Any, *, nonnegative: bool = False) -> jax.Array:
    """`value` (a number, array or nested list of numbers) as a real array, else raise.

    Strings, ``None``, bools, complex numbers and object arrays are ``TypeError``s;
    concrete NaN/inf (and negatives with ``nonnegative=True``) are ``ValueError``s.
    Tracers are checked for dtype only.
    """
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"`{name}` must be a real number or array, got {describe(value)}.")
    if not hasattr(value, "dtype"):
        try:
            value = np.asarray(value)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"`{name}` must be a real number or array, got {describe(value)}."
            ) from err
    dtype = value.dtype
    if not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
        raise TypeError(
            f"`{name}` must be real (float or int dtype), got {describe(value)}"
            + (
                ": take .real or abs() first."
                if jnp.issubdtype(dtype, jnp.complexfloating)
                else "."
            )
        )
    if is_concrete(value):
        array = np.asarray(value)
        if jnp.issubdtype(dtype, jnp.floating) and not np.isfinite(array).all():
            raise ValueError(f"`{name}` must be finite, got {_first_bad(array)}.")
        if nonnegative and (array < 0).any():
            raise ValueError(f"`{name}` must be >= 0, got a minimum of {array.min()}.")
    return jnp.asarray(value)


def check_carry(name: str, carry: Any, *, hint: str = "start from rg.init_carry(cell)") -> None:
    """A carry: a pytree with at least one leaf, every leaf a real floating array."""
    leaves = jax.tree_util.tree_leaves(carry)
    if not leaves:
        raise ValueError(f"`{name}` must hold at least one array, got {describe(carry)}: {hint}.")
    for leaf in leaves:
        if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
            raise TypeError(
                f"`{name}` must be an array or a pytree of arrays, got a leaf "
                f"{describe(leaf)}: {hint}."
            )
        if not jnp.issubdtype(leaf.dtype, jnp.floating):
            raise TypeError(
                f"`{name}` must hold real floating arrays, got a leaf {describe(leaf)}: {hint}."
            )


def check_bool(name: str, value: Any, *, where: str = "") -> bool:
    """`value` if it is a Python (or NumPy) bool, else a ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        prefix = f"{where}: " if where else ""
        raise TypeError(f"{prefix}`{name}` must be True or False, got {describe(value)}.")
    return bool(value)


def check_not_plain(name: str, value: Any, where: str, want: str) -> None:
    """Raise the newcomer's fix for a Python list/tuple/number where an array is expected."""
    prefix = f"{where}: " if where else ""
    plain = isinstance(value, (list, int, float, complex)) or type(value) is tuple
    if plain and not isinstance(value, bool):
        raise TypeError(
            f"{prefix}`{name}` must be {want}, got {describe(value)}: use jnp.asarray({name})."
        )


def check_range(name: str, value: Any, *, where: str = "") -> tuple[float, float]:
    """A pair ``(low, high)`` of finite Python reals with ``low < high``."""
    prefix = f"{where}: " if where else ""
    try:
        low, high = value
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{prefix}`{name}` must be a pair (low, high) of finite reals, got {describe(value)}."
        ) from err
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(
                f"{prefix}`{name}` must be a pair (low, high) of finite reals, got {value!r}."
            )
    low, high = float(low), float(high)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"{prefix}`{name}` must be finite with low < high, got {value!r}.")
    return low, high


def promote_types(*dtypes: Any) -> np.dtype:
    """The common dtype of `dtypes` by JAX's standard rules, whatever the promotion mode.

    Under ``jax_numpy_dtype_promotion="strict"`` a float32/float64 mix has no implicit
    promotion; rnngrad casts its operands to this dtype explicitly instead.
    """
    with jax.numpy_dtype_promotion("standard"):
        return np.dtype(jnp.result_type(*dtypes))


def check_representable(name: str, value: Any, dtype: Any, *, where: str = "") -> None:
    """A concrete real scalar `value` must be finite in `dtype` (1e300 is inf in float32)."""
    if not is_concrete(value):
        return
    largest = float(jnp.finfo(dtype).max)
    number = float(np.asarray(value))
    if math.isfinite(number) and abs(number) > largest:
        prefix = f"{where}: " if where else ""
        raise ValueError(
            f"{prefix}`{name}` = {number:g} overflows {np.dtype(dtype).name} (largest "
            f"{largest:g}); use a smaller value or a wider dtype (e.g. jnp.float64)."
        )
