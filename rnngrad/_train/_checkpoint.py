"""Checkpoints of :func:`rnngrad.train`: a run's identity and its state, written atomically.

A checkpoint folder holds ``run.json`` (the format version and every argument that
decides the run's bits) and ``state.eqx`` (the batched training state and the loss and
gradient-norm records, in one file so they never disagree), both written through
:func:`rnngrad._io.atomic_write`. Arrays are stored as ``.npy`` records without pickle;
every read checks what it finds and names the file when it is unusable.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import IO, Any

import equinox as eqx
import jax
import numpy as np

from .._checks import check_path
from .._io import atomic_write, make_folder, numeric_array

__all__ = ["FORMAT", "Checkpoint", "fingerprint"]

FORMAT = 3  # 1: rnngrad 0.1 flags; 2: objective + penalties modules; 3: hyperparams + grid


def fingerprint(tree: Any) -> str:
    """A short hash of a pytree's arrays (dtype, shape and bytes of every leaf)."""
    digest = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(tree):
        arr = np.asarray(leaf)
        digest.update(str(arr.dtype).encode())
        digest.update(str(arr.shape).encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()[:16]


def _unusable(file: Path, problem: str) -> ValueError:
    """The error for a checkpoint file that cannot be used, with the way out."""
    return ValueError(
        f"`checkpoint_dir`: {str(file)!r} {problem}; it is corrupted or was written by "
        f"something else. Delete the folder {str(file.parent)!r} (the run then starts from "
        "step 0) or choose another `checkpoint_dir`."
    )


def _innermost(err: BaseException) -> BaseException:
    """The original error under equinox's per-leaf wrappers (``raise ... from``)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def _serialise_leaf(f: IO[bytes], leaf: Any) -> None:
    """Write one leaf as an ``.npy`` record, never as a pickle."""
    if isinstance(leaf, np.ndarray):
        np.save(f, leaf, allow_pickle=False)
    else:
        eqx.default_serialise_filter_spec(f, leaf)


def _deserialise_leaf(f: IO[bytes], like: Any) -> Any:
    """Read one leaf saved by :func:`_serialise_leaf`, refusing pickles."""
    if isinstance(like, np.ndarray):
        return np.load(f, allow_pickle=False)
    return eqx.default_deserialise_filter_spec(f, like)


def _read_json(file: Path) -> dict[str, Any]:
    """The JSON object in `file`, or a ``ValueError`` naming the file and the problem."""
    try:
        saved = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        raise _unusable(file, f"cannot be read as JSON ({err})") from err
    if not isinstance(saved, dict):
        raise _unusable(file, f"holds a JSON {type(saved).__name__}, not an object")
    return saved


class Checkpoint:
    """One checkpoint folder: check the run's identity, restore, save.

    **Raises** (on construction): ``TypeError`` when `folder` is not a path;
    ``ValueError`` when it is an existing file, when its ``run.json`` is unreadable (empty,
    corrupt, not a JSON object) or missing next to a ``state.eqx``, or records an older
    format or a run with other arguments.
    """

    def __init__(self, folder: Any, identity: dict[str, Any]):
        self.folder = check_path("checkpoint_dir", folder, kind="folder")
        make_folder("checkpoint_dir", self.folder)
        self.identity = {"format": FORMAT, **identity}
        run_file = self.folder / "run.json"
        if not run_file.exists():
            if self._state_file.exists():
                raise _unusable(self._state_file, "has no run.json next to it (its run is unknown)")
            text = json.dumps(self.identity, indent=1)
            atomic_write(run_file, lambda f: f.write(text), mode="w", name="checkpoint_dir")
            return
        saved = _read_json(run_file)
        if saved.get("format") != FORMAT:
            raise ValueError(
                f"`checkpoint_dir` {str(self.folder)!r} holds a checkpoint in an older format "
                f"(format {saved.get('format', 1)}, this rnngrad writes format {FORMAT}: "
                "objective= and penalties= replaced the tbptt/omega/flossing flags); it cannot "
                "be resumed. Use a new folder (or rerun with the rnngrad that wrote it)."
            )
        for name, value in self.identity.items():
            if saved.get(name) != json.loads(json.dumps(value)):
                raise ValueError(
                    f"`checkpoint_dir` {str(self.folder)!r} holds a run with other arguments: "
                    f"`{name}` was {saved.get(name)!r}, now {value!r}. Use a new folder."
                )

    @property
    def _state_file(self) -> Path:
        return self.folder / "state.eqx"

    def restore(self, template: Any) -> Any | None:
        """The saved snapshot shaped like `template`, or None before the first save.

        **Raises:** ``ValueError`` naming ``state.eqx`` when it is empty, truncated,
        corrupt, holds more data than `template` needs, or has leaves of other shapes or
        dtypes than `template`.
        """
        file = self._state_file
        if not file.exists():
            return None
        try:
            with open(file, "rb") as f:
                snapshot = eqx.tree_deserialise_leaves(f, template, filter_spec=_deserialise_leaf)
                extra = len(f.read())
        except Exception as err:  # noqa: BLE001 - any failure to parse means a bad file
            cause = _innermost(err)
            leaf = getattr(err, "path", None)  # equinox's TreePathError: the failing leaf
            where = f" at leaf {jax.tree_util.keystr(leaf)}" if isinstance(leaf, tuple) else ""
            problem = f"cannot be read as this run's state{where} ({type(cause).__name__}: {cause})"
            raise _unusable(file, problem) from err
        if extra:
            raise _unusable(file, f"holds {extra} bytes more than this run's state")
        return snapshot

    def save(self, snapshot: Any) -> None:
        """Write `snapshot` atomically (a crash leaves the previous one intact), no pickle.

        **Raises:** ``TypeError`` (nothing written) for a NumPy leaf that is not a numeric
        or bool array.
        """
        for keypath, leaf in jax.tree_util.tree_flatten_with_path(snapshot)[0]:
            if isinstance(leaf, np.ndarray):
                numeric_array(f"checkpoint state leaf {jax.tree_util.keystr(keypath)}", leaf)
        atomic_write(
            self._state_file,
            lambda f: eqx.tree_serialise_leaves(f, snapshot, filter_spec=_serialise_leaf),
            name="checkpoint_dir",
        )
