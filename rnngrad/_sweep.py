"""Named-axis sweeps: one compiled, vmapped, device-sharded program over a grid.

``sweep(fn, scale=..., seed=...)`` evaluates ``fn(scale=s, seed=i)`` on the cartesian grid
of its axes. The grid is flattened, padded to a multiple of the device count (and of the
chunk size), sharded over a one-axis ``jax.sharding.Mesh`` and evaluated by one
``jit(vmap(fn))``; chunks are calls of the same compiled function. Results keep the axis
names and values and save atomically to a single ``.npz`` with JSON metadata.
"""

from __future__ import annotations

import inspect
import json
import math
import os
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._checks import (
    Checked,
    check_callable,
    check_finite,
    check_key,
    check_path,
    check_positive_int,
    describe,
    is_concrete,
)
from ._io import NO_PICKLE, NUMERIC_KINDS, atomic_write, dtype_kind, numeric_array

_FORMAT = "rnngrad.sweep"
_VERSION = 1
_META = "__meta__"
_CORRUPT = "it is not a readable rnngrad sweep file (truncated or corrupt)"


def _grid_problem(axes: Mapping[str, np.ndarray], leaves: Sequence[tuple[str, Any]]) -> str | None:
    """What keeps `axes` and the labelled value `leaves` from forming a grid, or None."""
    for name, axis in axes.items():
        if axis.ndim != 1 or axis.shape[0] == 0:
            return f"axis `{name}` must be a non-empty 1-D array, got shape {tuple(axis.shape)}"
    grid = tuple(len(axis) for axis in axes.values())
    for label, leaf in leaves:
        if tuple(leaf.shape[: len(grid)]) != grid:
            return (
                f"{label} has shape {tuple(leaf.shape)}, but the axes {list(axes)} give the "
                f"grid {grid}: every value must have shape (*grid, ...)"
            )
    return None


def _value_label(key: str) -> str:
    """How messages name the value leaf saved under `key` (``""``: the single array)."""
    return "`values`" + (f" leaf {key}" if key else "")


def _load_error(path: Path, problem: str) -> ValueError:
    """The error for a sweep file that cannot be loaded: names `path` and the `problem`."""
    return ValueError(f"Cannot load `path` {str(path)!r}: {problem}.")


def _read_members(path: Path) -> dict[str, np.ndarray]:
    """Every member of the ``.npz`` at `path`, read without pickle.

    Raises a ``ValueError`` naming the file (and the member) when it cannot be read.
    """
    if path.stat().st_size == 0:
        raise _load_error(path, "the file is empty (0 bytes)")
    if not zipfile.is_zipfile(path):
        raise _load_error(path, f"{_CORRUPT}: not an .npz archive")
    members: dict[str, np.ndarray] = {}
    name = None
    try:
        with np.load(path, allow_pickle=False) as data:
            for name in data.files:
                members[name] = data[name]
    except Exception as err:  # noqa: BLE001 - any failure to parse means a bad file
        where = "the archive" if name is None else f"member {name!r}"
        if isinstance(err, ValueError) and "allow_pickle" in str(err):
            problem = (
                f"{where} holds pickled objects; rnngrad never writes pickles and does not "
                "load them (unpickling can run arbitrary code)"
            )
        else:
            problem = f"{_CORRUPT}: {where} cannot be read ({type(err).__name__}: {err})"
        raise _load_error(path, problem) from err
    return members


def _meta_problem(meta: Any) -> str | None:
    """What is wrong with the decoded metadata of a sweep file, or None."""
    if not isinstance(meta, dict):
        return f"its metadata is a JSON {type(meta).__name__}, not an object"
    if meta.get("format") != _FORMAT:
        return f"it is not an rnngrad sweep (metadata format {meta.get('format')!r})"
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        return f"its metadata 'version' must be an int, got {describe(version)}"
    if version != _VERSION:
        newer = " (written by a newer rnngrad: upgrade)" if version > _VERSION else ""
        return f"it has sweep format version {version}, this rnngrad reads {_VERSION}{newer}"
    for key in ("axes", "values"):
        names = meta.get(key)
        if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
            return (
                f"its metadata {key!r} must be a non-empty list of strings, got {describe(names)}"
            )
        if len(set(names)) != len(names):
            return f"its metadata {key!r} repeats a name: {names}"
    return None


def _read_meta(path: Path, members: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The checked metadata of the sweep file at `path` (its `members` already read)."""
    raw = members.get(_META)
    if raw is None:
        raise _load_error(
            path,
            f"it is not an rnngrad sweep: it has no {_META!r} member (files written by "
            "SweepResult.save have one)",
        )
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _load_error(path, f"{_CORRUPT}: its metadata is {describe(raw)}, not JSON bytes")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (ValueError, RecursionError) as err:  # UnicodeDecodeError, JSONDecodeError
        raise _load_error(path, f"{_CORRUPT}: its metadata is not valid JSON ({err})") from err
    problem = _meta_problem(meta)
    if problem:
        raise _load_error(path, problem)
    return meta


def _member(path: Path, members: Mapping[str, np.ndarray], key: str, what: str) -> np.ndarray:
    """The numeric array `key` of a sweep file, or a ``ValueError`` naming file and member."""
    if key not in members:
        raise _load_error(path, f"{_CORRUPT}: member {key!r} ({what}) is missing")
    array = members[key]
    if dtype_kind(array.dtype) not in NUMERIC_KINDS:
        raise _load_error(
            path, f"member {key!r} ({what}) has dtype {array.dtype}, not a numeric or bool array"
        )
    return array


def _rebuild_like(path: Path, like: Any, names: Sequence[str], leaves: list, n_axes: int) -> Any:
    """`leaves` in the structure of `like`, after checking its leaves' shapes and dtypes.

    A leaf of `like` has the shape of the whole grid's values or of one point's.
    """
    flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    keys = [jax.tree_util.keystr(keypath) for keypath, _ in flat]
    if keys != list(names):
        raise ValueError(
            f"`like` does not match the structure saved in {str(path)!r}: `like` has the "
            f"leaves {keys}, the file has {list(names)}."
        )
    mismatches = []
    for key, (_, spec), leaf in zip(keys, flat, leaves):
        if not hasattr(spec, "shape") or not hasattr(spec, "dtype"):
            raise TypeError(
                f"`like` leaf {key or '(the array)'} must be an array or a "
                f"jax.ShapeDtypeStruct (e.g. from jax.eval_shape), got {describe(spec)}."
            )
        shape = tuple(spec.shape)
        same_dtype = dtype_kind(spec.dtype) != "" and np.dtype(spec.dtype) == leaf.dtype
        if not same_dtype or shape not in (leaf.shape, leaf.shape[n_axes:]):
            mismatches.append(
                f"{key or 'the array'}: expected (from `like`) {spec.dtype}{list(shape)}, "
                f"got {leaf.dtype}{list(leaf.shape)}"
            )
    if mismatches:
        raise ValueError(
            f"`like` does not match the values saved in {str(path)!r} (a leaf of `like` "
            "has the whole grid's shape or one point's): " + "; ".join(mismatches) + "."
        )
    return jax.tree_util.tree_unflatten(treedef, leaves)


class SweepResult:
    """The values of a sweep on its named grid.

    Attributes:

    - ``axes``: ``{name: 1-D numpy array}`` in grid order.
    - ``values``: what ``fn`` returns, every leaf with shape ``(*axis_lengths, ...)``
      (after :meth:`load` without ``like=``: a single array, or a dict keyed by the
      leaves' paths such as ``".norms"``).
    """

    def __init__(self, axes: Checked[Mapping[str, np.ndarray]], values: Any):
        if not isinstance(axes, Mapping) or not all(isinstance(n, str) for n in axes):
            raise TypeError(
                f"SweepResult: `axes` must be a mapping {{name (str): 1-D array}}, "
                f"got {describe(axes)}."
            )
        self.axes = {name: np.asarray(v) for name, v in axes.items()}
        self.values = values
        leaves = [
            (_value_label(jax.tree_util.keystr(keypath)), leaf)
            for keypath, leaf in jax.tree_util.tree_flatten_with_path(values)[0]
            if hasattr(leaf, "shape")
        ]
        problem = _grid_problem(self.axes, leaves)
        if problem:
            raise ValueError(f"SweepResult: `axes`/`values` do not form a grid: {problem}.")

    @property
    def names(self) -> tuple[str, ...]:
        """Axis names, in order."""
        return tuple(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """Grid shape: one length per axis."""
        return tuple(len(v) for v in self.axes.values())

    def __repr__(self) -> str:
        axes = ", ".join(f"{k}[{len(v)}]" for k, v in self.axes.items())
        leaves = jax.tree_util.tree_map(lambda a: f"{a.dtype}{list(a.shape)}", self.values)
        return f"SweepResult(axes=({axes}), values={leaves})"

    def save(self, path: Checked[str | os.PathLike]) -> Path:
        """Write the result to `path` (an ``.npz`` with JSON metadata), atomically.

        The file is written to a temporary name in the same folder, flushed to disk, then
        renamed over `path`: a crash or error leaves either the old file or the new one,
        never a half-written one. Every array is stored as plain ``.npy`` data, never
        pickled. Returns the path.

        **Raises** (before anything is written): ``TypeError`` when `path` is not a
        ``str``/``os.PathLike``, or a value leaf or axis is not a numeric or bool array
        (object, string or ``bfloat16`` data, ``None``); ``ValueError`` when `path` is an
        existing directory or a value leaf's leading shape is not the grid's.
        """
        path = check_path("path", path, kind="file")
        named = [
            (jax.tree_util.keystr(keypath), leaf)
            for keypath, leaf in jax.tree_util.tree_flatten_with_path(self.values)[0]
        ]
        if not named:
            raise TypeError(
                f"SweepResult.save: `values` holds no arrays, got {describe(self.values)}; "
                f"{NO_PICKLE}."
            )
        leaves = [numeric_array(f"SweepResult.save: {_value_label(k)}", v) for k, v in named]
        axes = {n: numeric_array(f"SweepResult.save: axis `{n}`", a) for n, a in self.axes.items()}
        problem = _grid_problem(axes, [(_value_label(k), v) for (k, _), v in zip(named, leaves)])
        if problem:
            raise ValueError(f"SweepResult.save: {problem}; nothing was written.")
        arrays = {f"value{i}": leaf for i, leaf in enumerate(leaves)}
        arrays.update({f"axis{i}": axis for i, axis in enumerate(axes.values())})
        meta = {
            "format": _FORMAT,
            "version": _VERSION,
            "axes": list(axes),
            "values": [key for key, _ in named],
        }
        arrays[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        atomic_write(path, lambda f: np.savez(f, **arrays))
        return path

    @classmethod
    def load(cls, path: Checked[str | os.PathLike], *, like: Any = None) -> SweepResult:
        """Read a result written by :meth:`save`.

        **Arguments:** `path`; `like`: optional pytree with the structure of ``values``,
        its leaves arrays or ``jax.ShapeDtypeStruct``s with the shape of the whole grid's
        values or of one point's (e.g. the output of ``jax.eval_shape(fn, ...)``), to
        rebuild ``values`` exactly.

        **Raises:** ``TypeError`` when `path` is not a ``str``/``os.PathLike`` or a leaf
        of `like` is not array-like; ``FileNotFoundError`` when there is no file at
        `path`; ``ValueError`` naming the file for a directory, an empty, truncated or
        corrupt file, a file that is not an rnngrad sweep (other metadata, a pickled
        member, axes whose lengths disagree with the values' shapes), or one that does
        not match `like` (its structure, or a leaf's shape or dtype).
        """
        path = check_path("path", path, kind="file")
        if not path.exists():
            raise FileNotFoundError(f"`path` {str(path)!r}: no such file (no sweep saved there).")
        members = _read_members(path)
        meta = _read_meta(path, members)
        axes = {
            name: _member(path, members, f"axis{i}", f"axis `{name}`")
            for i, name in enumerate(meta["axes"])
        }
        labels = [_value_label(key) for key in meta["values"]]
        leaves = [_member(path, members, f"value{i}", label) for i, label in enumerate(labels)]
        problem = _grid_problem(axes, list(zip(labels, leaves)))
        if problem:
            raise _load_error(path, f"{_CORRUPT}: {problem}")
        if like is not None:
            values = _rebuild_like(path, like, meta["values"], leaves, len(axes))
        elif meta["values"] == [""]:
            values = leaves[0]
        else:
            values = dict(zip(meta["values"], leaves))
        return cls(axes, values)


def load_sweep(path: Checked[str | os.PathLike], *, like: Any = None) -> SweepResult:
    """Load a :class:`SweepResult` saved with ``.save`` (see :meth:`SweepResult.load`)."""
    return SweepResult.load(path, like=like)


def _axis_array(name: str, values: Any) -> np.ndarray | jax.Array:
    """One sweep axis: a non-empty 1-D array of finite numbers, else a named error."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"axis `{name}` must be a 1-D array of values, got {describe(values)}.")
    if not is_concrete(values):
        raise TypeError(
            f"axis `{name}` is a traced value: rg.sweep compiles and runs its own program, "
            "so it cannot be called inside jit, vmap or grad; give it concrete arrays."
        )
    try:
        array = values if isinstance(values, jax.Array) else np.asarray(values)
    except Exception as err:  # noqa: BLE001 - report what was given
        raise TypeError(f"axis `{name}` must be a 1-D array, got {describe(values)}.") from err
    if array.dtype == object or not (
        jnp.issubdtype(array.dtype, jnp.number) or jnp.issubdtype(array.dtype, jnp.bool_)
    ):
        raise TypeError(f"axis `{name}` must hold numbers, got {describe(values)}.")
    if array.ndim != 1:
        raise ValueError(f"axis `{name}` must be 1-D, got shape {tuple(array.shape)}.")
    if array.shape[0] == 0:
        raise ValueError(f"axis `{name}` is empty; give it at least one value.")
    check_finite(name, array, hint=f"Every value on the sweep axis `{name}` must be finite.")
    return array


def _check_devices(devices: Any) -> list[jax.Device]:
    """`devices` as a non-empty list of distinct ``jax.Device`` (None: ``jax.devices()``)."""
    if devices is None:
        return list(jax.devices())
    want = "a non-empty sequence of jax.Device"
    if isinstance(devices, str):
        raise TypeError(
            f"`devices` must be {want}, got the string {devices!r}; "
            f"use devices=jax.devices({devices!r})."
        )
    if isinstance(devices, jax.Device):
        raise TypeError(f"`devices` must be {want}, got one device {devices}; use [device].")
    if not isinstance(devices, (Sequence, np.ndarray)):
        raise TypeError(f"`devices` must be {want} (e.g. jax.devices()), got {describe(devices)}.")
    found = list(devices.flat) if isinstance(devices, np.ndarray) else list(devices)
    for device in found:
        if not isinstance(device, jax.Device):
            raise TypeError(
                f"`devices` must be {want} (e.g. jax.devices()), got an item {describe(device)}."
            )
    if not found:
        raise ValueError(f"`devices` must be {want}, got an empty one; use jax.devices().")
    if len(set(found)) != len(found):
        raise ValueError(f"`devices` lists a device more than once: {found}.")
    return found


def _check_seed_axis(arrays: Mapping[str, Any]) -> None:
    """With a base `key`, the ``seed`` axis must hold integers in [0, 2**32) (fold_in's)."""
    if "seed" not in arrays:
        raise ValueError("`key` needs an integer `seed` axis to fold in, e.g. seed=jnp.arange(8).")
    seed = arrays["seed"]
    if dtype_kind(seed.dtype) not in ("i", "u"):
        raise ValueError(
            "axis `seed` must hold integers when `key` is given (each point gets "
            f"jax.random.fold_in(key, seed)), got {describe(seed)}; use e.g. "
            f"seed=jnp.arange({len(seed)})."
        )
    low, high = int(np.min(seed)), int(np.max(seed))
    if low < 0 or high >= 2**32:
        raise ValueError(
            f"axis `seed` must hold integers in [0, 2**32) (jax.random.fold_in wraps others "
            f"onto the same keys), got values from {low} to {high}."
        )


def _check_progress(progress: Any) -> None:
    """`progress` is True, False or None (auto)."""
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"`progress` must be True, False or None (auto), got {describe(progress)}.")


def _check_names(fn: Callable, names: Sequence[str], extra: Sequence[str]) -> None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    params = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    accepted = {n for n, p in params.items() if p.kind in keyword}
    label = f"{getattr(fn, '__name__', 'fn')}{signature}"
    for name in names:
        if name not in accepted:
            raise ValueError(
                f"axis `{name}` names no parameter of {label}; its parameters are "
                f"{sorted(accepted)}."
            )
    for name in extra:
        if name not in accepted:
            raise ValueError(
                f"`{name}` is given, so `fn` must take a `{name}` parameter (it receives "
                f"jax.random.fold_in({name}, seed)); {label} has {sorted(accepted)}."
            )
    missing = [
        n
        for n, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind in keyword
        and n not in names
        and n not in extra
    ]
    if missing:
        hint = (
            " Pass key=jax.random.key(0) and a seed axis to give it one key per seed."
            if "key" in missing
            else ""
        )
        raise ValueError(f"{label} needs {missing}, which no axis gives.{hint}")


@eqx.filter_jit
def _evaluate(fn: Callable, points: dict[str, jax.Array], base_key: Any) -> Any:
    def one(point: dict[str, jax.Array]) -> Any:
        if base_key is None:
            return fn(**point)
        return fn(**point, key=jax.random.fold_in(base_key, point["seed"]))

    return jax.vmap(one)(points)


def put_sharded(tree: Any, sharding: NamedSharding) -> Any:
    """Every leaf of `tree` (the full array, the same on every process) as one global
    array split by `sharding`; across processes each one supplies its own shards."""
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def one(leaf: Any) -> jax.Array:
        host = np.asarray(leaf)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree_util.tree_map(one, tree)


def to_host(tree: Any) -> Any:
    """Every leaf as a numpy array on this process; shards held by other processes
    (``jax.distributed``) are gathered with ``process_allgather``."""
    from jax.experimental import multihost_utils

    def one(leaf: Any) -> np.ndarray:
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))
        return np.asarray(leaf)

    return jax.tree_util.tree_map(one, tree)


def _check_outputs(result: Any, batch: int) -> None:
    leaves = jax.tree_util.tree_leaves(result)
    if not leaves:
        raise TypeError("sweep: `fn` returned no arrays.")
    for leaf in leaves:
        if not isinstance(leaf, jax.Array) or leaf.ndim == 0 or leaf.shape[0] != batch:
            raise TypeError(
                "sweep: `fn` must return arrays (or a pytree of arrays) that vmap can stack, "
                f"got a leaf {describe(leaf)}."
            )


def sweep(
    fn: Checked[Callable[..., Any]],
    /,
    *,
    chunk_size: Checked[int | None] = None,
    devices: Checked[Sequence[jax.Device] | None] = None,
    key: Checked[jax.Array | None] = None,
    progress: Checked[bool | None] = None,
    **axes: Any,
) -> SweepResult:
    """Evaluate ``fn(**point)`` on the cartesian grid of the named `axes`, in one program.

    The grid (``∏ len(axis)`` points) is flattened and evaluated by one
    ``jit(vmap(fn))``. With several devices the points are sharded over a
    ``jax.sharding.Mesh`` (``NamedSharding``), padded to a multiple of the device count;
    the padding is dropped from the result, which equals the single-device run up to
    float rounding. For multi-host runs call ``jax.distributed.initialize()`` first on
    every host (process); ``jax.devices()`` then spans all of them, every process runs the
    same call, computes its own shards, and gets the whole result (gathered).

    Keep large constants (a base cell) closed over or as defaults of `fn`, and put only
    the swept quantities on axes: with ``rg.scale_recurrent`` the base ``W_rec`` stays
    shared and each step over S scales is one (S, H) × (H, H) product.

    **Arguments:**

    - `fn`: a pure function of keyword arguments named like the axes, returning an array
      or a pytree of arrays (same shapes at every point).
    - `chunk_size`: evaluate at most this many points per call (each chunk a call of the
      same compiled function, so no retrace); for grids that do not fit in memory.
    - `devices`: a non-empty sequence of devices to shard over (default
      ``jax.devices()``; e.g. ``jax.devices("cpu")``).
    - `key`: a base ``jax.random`` key. When given, there must be an integer ``seed``
      axis and `fn` must take a ``key`` parameter; it receives
      ``jax.random.fold_in(key, seed)``, so each seed gets the same key at every other
      grid point (common random numbers across, say, scales).
    - `progress`: ``True``/``False``: tqdm bar over chunks (default ``None``: shown when
      there are several chunks).
    - `**axes`: ``name=1-D array`` per axis (names cannot be the options above).

    **Returns:** :class:`SweepResult` with ``axes`` and ``values`` of shape
    ``(*axis_lengths, ...)`` per leaf (numpy arrays on the host).

    **Raises:** ``ValueError`` for no axes, an empty or non-1-D axis, NaN or inf on an
    axis, an axis that names no parameter of `fn`, ``chunk_size <= 0``, an empty
    `devices` (or one listing a device twice), `key` without an integer ``seed`` axis
    (or with seeds outside [0, 2**32)), or `key` for an `fn` without a ``key``
    parameter; ``TypeError`` for a non-callable `fn`, an axis that is not numbers (or is
    traced: sweep cannot run inside ``jit``), a non-int `chunk_size`, `devices` that are
    not ``jax.Device``s (a string: use ``jax.devices("cpu")``), a `key` that is not one
    ``jax.random`` key, a non-bool `progress`, or when `fn` returns something that is
    not arrays.

    >>> import jax.numpy as jnp, rnngrad as rg
    >>> res = rg.sweep(lambda a, b: a * b + jnp.zeros(2), a=jnp.arange(3.0), b=jnp.ones(4))
    >>> res.names, res.values.shape
    (('a', 'b'), (3, 4, 2))
    """
    check_callable("fn", fn, expected="taking the axes as keyword arguments", where="sweep")
    if not axes:
        raise ValueError(
            "sweep needs at least one axis, e.g. sweep(fn, scale=jnp.linspace(0.5, 1.5, 64))."
        )
    arrays = {name: _axis_array(name, values) for name, values in axes.items()}
    if chunk_size is not None:
        chunk_size = check_positive_int("chunk_size", chunk_size)
    devices = _check_devices(devices)
    _check_progress(progress)
    extra: list[str] = []
    if key is not None:
        check_key("key", key, where="sweep")
        _check_seed_axis(arrays)
        extra.append("key")
    _check_names(fn, list(arrays), extra)

    names = list(arrays)
    lengths = [int(a.shape[0]) for a in arrays.values()]
    total = math.prod(lengths)
    index = np.indices(lengths).reshape(len(lengths), total)
    flat = {n: np.asarray(arrays[n])[index[i]] for i, n in enumerate(names)}

    n_dev = len(devices)
    per_call = total if chunk_size is None else min(chunk_size, total)
    per_call = -(-per_call // n_dev) * n_dev
    n_chunks = -(-total // per_call)
    padded = n_chunks * per_call
    flat = {n: np.concatenate([v, np.repeat(v[-1:], padded - total)]) for n, v in flat.items()}

    sharding = None
    if n_dev > 1:
        mesh = Mesh(np.asarray(devices), ("grid",))
        sharding = NamedSharding(mesh, PartitionSpec("grid"))

    show = n_chunks > 1 if progress is None else progress
    chunks = range(n_chunks)
    if show:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="sweep", unit="chunk")
    outputs = []
    for c in chunks:
        sl = slice(c * per_call, (c + 1) * per_call)
        points = {n: jnp.asarray(v[sl]) for n, v in flat.items()}
        if sharding is not None:
            points = put_sharded(points, sharding)
        elif devices != jax.devices()[:1]:
            points = jax.device_put(points, devices[0])
        try:
            result = _evaluate(fn, points, key)
        except TypeError as err:
            raise TypeError(
                "sweep: `fn` must return arrays (or a pytree of arrays) that vmap can stack; "
                f"evaluating it on the grid failed with: {err}"
            ) from err
        if c == 0:
            _check_outputs(result, per_call)
        outputs.append(to_host(result))
    stacked = jax.tree_util.tree_map(lambda *parts: np.concatenate(parts)[:total], *outputs)
    values = jax.tree_util.tree_map(lambda a: a.reshape(*lengths, *a.shape[1:]), stacked)
    return SweepResult({n: np.asarray(arrays[n]) for n in names}, values)
