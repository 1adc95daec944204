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

from ._checks import Checked, check_positive_int, describe
from ._io import atomic_write

_FORMAT = "rnngrad.sweep"
_VERSION = 1
_META = "__meta__"


class SweepResult:
    """The values of a sweep on its named grid.

    Attributes:

    - ``axes``: ``{name: 1-D numpy array}`` in grid order.
    - ``values``: what ``fn`` returns, every leaf with shape ``(*axis_lengths, ...)``
      (after :meth:`load` without ``like=``: a single array, or a dict keyed by the
      leaves' paths such as ``".norms"``).
    """

    def __init__(self, axes: Mapping[str, np.ndarray], values: Any):
        self.axes = {name: np.asarray(v) for name, v in axes.items()}
        self.values = values

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

    def save(self, path: str | os.PathLike) -> Path:
        """Write the result to `path` (an ``.npz`` with JSON metadata), atomically.

        The file is written to a temporary name in the same folder, flushed to disk, then
        renamed over `path`: a crash or error leaves either the old file or the new one,
        never a half-written one. Returns the path.
        """
        path = Path(path)
        leaves = jax.tree_util.tree_flatten_with_path(self.values)[0]
        arrays: dict[str, np.ndarray] = {}
        value_keys = []
        for i, (keypath, leaf) in enumerate(leaves):
            arrays[f"value{i}"] = np.asarray(leaf)
            value_keys.append(jax.tree_util.keystr(keypath))
        for i, axis in enumerate(self.axes.values()):
            arrays[f"axis{i}"] = np.asarray(axis)
        meta = {
            "format": _FORMAT,
            "version": _VERSION,
            "axes": list(self.axes),
            "values": value_keys,
        }
        arrays[_META] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        atomic_write(path, lambda f: np.savez(f, **arrays))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, *, like: Any = None) -> SweepResult:
        """Read a result written by :meth:`save`.

        **Arguments:** `path`; `like`: optional pytree with the structure of ``values``
        (e.g. the output of ``jax.eval_shape(fn, ...)``) to rebuild it exactly.

        **Raises:** ``FileNotFoundError``; ``ValueError`` for a file that is not an
        rnngrad sweep, is truncated, or does not match `like`.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no sweep file at {str(path)!r}")
        if not zipfile.is_zipfile(path):
            raise ValueError(
                f"{str(path)!r} is not a readable rnngrad sweep file (truncated or corrupt): "
                "not an .npz archive."
            )
        try:
            with np.load(path, allow_pickle=False) as data:
                if _META not in data.files:
                    raise ValueError(f"{str(path)!r} is not an rnngrad sweep (no metadata).")
                meta = json.loads(bytes(data[_META]).decode())
                if meta.get("format") != _FORMAT:
                    raise ValueError(f"{str(path)!r} is not an rnngrad sweep.")
                axes = {name: data[f"axis{i}"] for i, name in enumerate(meta["axes"])}
                leaves = [data[f"value{i}"] for i in range(len(meta["values"]))]
        except (
            zipfile.BadZipFile,
            EOFError,
            OSError,
            KeyError,
            UnicodeDecodeError,
            json.JSONDecodeError,
        ) as err:
            raise ValueError(
                f"{str(path)!r} is not a readable rnngrad sweep file (truncated or corrupt): {err}"
            ) from err
        if like is not None:
            treedef = jax.tree_util.tree_structure(like)
            if treedef.num_leaves != len(leaves):
                raise ValueError(
                    f"`like` has {treedef.num_leaves} leaves, the file has {len(leaves)}."
                )
            values = jax.tree_util.tree_unflatten(treedef, leaves)
        elif meta["values"] == [""]:
            values = leaves[0]
        else:
            values = dict(zip(meta["values"], leaves))
        return cls(axes, values)


def load_sweep(path: str | os.PathLike, *, like: Any = None) -> SweepResult:
    """Load a :class:`SweepResult` saved with ``.save`` (see :meth:`SweepResult.load`)."""
    return SweepResult.load(path, like=like)


def _axis_array(name: str, values: Any) -> np.ndarray | jax.Array:
    if isinstance(values, (str, bytes)):
        raise TypeError(f"axis `{name}` must be a 1-D array of values, got {describe(values)}.")
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
    return array


def _check_names(fn: Callable, names: Sequence[str], extra: Sequence[str]) -> None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: let the call decide
        return
    params = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = {
        n
        for n, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    for name in list(names) + list(extra):
        if name not in accepted:
            raise ValueError(
                f"axis `{name}` names no parameter of {getattr(fn, '__name__', 'fn')}"
                f"{signature}; its parameters are {sorted(accepted)}."
            )
    missing = [
        n
        for n, p in params.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and n not in names
        and n not in extra
    ]
    if missing:
        raise ValueError(
            f"{getattr(fn, '__name__', 'fn')}{signature} needs {missing}, which no axis gives."
        )


@eqx.filter_jit
def _evaluate(fn: Callable, points: dict[str, jax.Array], base_key: Any) -> Any:
    def one(point: dict[str, jax.Array]) -> Any:
        if base_key is None:
            return fn(**point)
        return fn(**point, key=jax.random.fold_in(base_key, point["seed"]))

    return jax.vmap(one)(points)


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
    fn: Callable[..., Any],
    /,
    *,
    chunk_size: Checked[int | None] = None,
    devices: Sequence[jax.Device] | None = None,
    key: Any = None,
    progress: bool | None = None,
    **axes: Any,
) -> SweepResult:
    """Evaluate ``fn(**point)`` on the cartesian grid of the named `axes`, in one program.

    The grid (``∏ len(axis)`` points) is flattened and evaluated by one
    ``jit(vmap(fn))``. With several devices the points are sharded over a
    ``jax.sharding.Mesh`` (``NamedSharding``), padded to a multiple of the device count;
    the padding is dropped from the result, which equals the single-device run up to
    float rounding. For multi-host runs call ``jax.distributed.initialize()`` first on
    every host; ``jax.devices()`` then spans all hosts and the same call shards over them.

    Keep large constants (a base cell) closed over or as defaults of `fn`, and put only
    the swept quantities on axes: with ``rg.scale_recurrent`` the base ``W_rec`` stays
    shared and each step over S scales is one (S, H) × (H, H) product.

    **Arguments:**

    - `fn`: a pure function of keyword arguments named like the axes, returning an array
      or a pytree of arrays (same shapes at every point).
    - `chunk_size`: evaluate at most this many points per call (each chunk a call of the
      same compiled function, so no retrace); for grids that do not fit in memory.
    - `devices`: devices to shard over (default ``jax.devices()``).
    - `key`: a base ``jax.random`` key. When given, there must be an integer ``seed``
      axis and `fn` must take a ``key`` parameter; it receives
      ``jax.random.fold_in(key, seed)``, so each seed gets the same key at every other
      grid point (common random numbers across, say, scales).
    - `progress`: tqdm bar over chunks (default: shown when there are several chunks).
    - `**axes`: ``name=1-D array`` per axis (names cannot be the options above).

    **Returns:** :class:`SweepResult` with ``axes`` and ``values`` of shape
    ``(*axis_lengths, ...)`` per leaf (numpy arrays on the host).

    **Raises:** ``ValueError`` for no axes, an empty or non-1-D axis, an axis that names
    no parameter of `fn`, ``chunk_size <= 0``, `key` without a ``seed`` axis;
    ``TypeError`` when `fn` returns something that is not arrays.

    >>> import jax.numpy as jnp, rnngrad as rg
    >>> res = rg.sweep(lambda a, b: a * b + jnp.zeros(2), a=jnp.arange(3.0), b=jnp.ones(4))
    >>> res.names, res.values.shape
    (('a', 'b'), (3, 4, 2))
    """
    if not callable(fn):
        raise TypeError(f"`fn` must be callable, got {describe(fn)}.")
    if not axes:
        raise ValueError(
            "sweep needs at least one axis, e.g. sweep(fn, scale=jnp.linspace(0.5, 1.5, 64))."
        )
    arrays = {name: _axis_array(name, values) for name, values in axes.items()}
    if chunk_size is not None:
        chunk_size = check_positive_int("chunk_size", chunk_size)
    extra: list[str] = []
    if key is not None:
        if "seed" not in arrays or not jnp.issubdtype(arrays["seed"].dtype, jnp.integer):
            raise ValueError(
                "`key` needs an integer `seed` axis to fold in, e.g. seed=jnp.arange(8)."
            )
        extra.append("key")
    _check_names(fn, list(arrays), extra)

    names = list(arrays)
    lengths = [int(a.shape[0]) for a in arrays.values()]
    total = math.prod(lengths)
    index = np.indices(lengths).reshape(len(lengths), total)
    flat = {n: np.asarray(arrays[n])[index[i]] for i, n in enumerate(names)}

    devices = list(jax.devices() if devices is None else devices)
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
            points = jax.device_put(points, sharding)
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
        outputs.append(jax.tree_util.tree_map(np.asarray, result))
    stacked = jax.tree_util.tree_map(lambda *parts: np.concatenate(parts)[:total], *outputs)
    values = jax.tree_util.tree_map(lambda a: a.reshape(*lengths, *a.shape[1:]), stacked)
    return SweepResult({n: np.asarray(arrays[n]) for n in names}, values)
