"""Checkpoints of :func:`rnngrad.train`: a run's identity and its state, written atomically.

A checkpoint folder holds ``run.json`` (the format version and every argument that
decides the run's bits) and ``state.eqx`` (the batched training state and the loss and
gradient-norm records, in one file so they never disagree), both written through
:func:`rnngrad._io.atomic_write`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np

from .._io import atomic_write

__all__ = ["FORMAT", "Checkpoint", "fingerprint"]

FORMAT = 2  # 1: rnngrad 0.1 (flags tbptt/omega/flossing); 2: objective + penalties modules


def fingerprint(tree: Any) -> str:
    """A short hash of a pytree's arrays (dtype, shape and bytes of every leaf)."""
    digest = hashlib.sha256()
    for leaf in jax.tree_util.tree_leaves(tree):
        arr = np.asarray(leaf)
        digest.update(str(arr.dtype).encode())
        digest.update(str(arr.shape).encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()[:16]


class Checkpoint:
    """One checkpoint folder: check the run's identity, restore, save."""

    def __init__(self, folder: Any, identity: dict[str, Any]):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.identity = {"format": FORMAT, **identity}
        run_file = self.folder / "run.json"
        if not run_file.exists():
            text = json.dumps(self.identity, indent=1)
            atomic_write(run_file, lambda f: f.write(text), mode="w")
            return
        saved = json.loads(run_file.read_text())
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
        """The saved snapshot shaped like `template`, or None before the first save."""
        if not self._state_file.exists():
            return None
        with open(self._state_file, "rb") as f:
            return eqx.tree_deserialise_leaves(f, template)

    def save(self, snapshot: Any) -> None:
        """Write `snapshot` atomically (a crash leaves the previous one intact)."""
        atomic_write(self._state_file, lambda f: eqx.tree_serialise_leaves(f, snapshot))
