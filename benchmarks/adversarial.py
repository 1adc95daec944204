"""Adversarial check of rnngrad's public API: hundreds of malformed and extreme calls.

Drives the public names (``rg.*``, ``rg.esn``, ``rg.theory``, ``rg.tasks``, ``rg.init``,
``rg.plot``) as a newcomer and a hostile user would -- wrong types, NaN/inf, complex,
bool, None, strings, Python lists, wrong shapes, negative/zero/huge values, mismatched
carries, corrupted files -- plus valid-but-extreme regimes (tanh gains 0.1..100, float32
and float64, T up to 10^4, dead ReLU units), and classifies every outcome:

- ``good``: a ``ValueError``/``TypeError`` raised inside rnngrad whose message names the
  bad argument (and contains the fix, for cases that ask for a hint), or a warning
  issued by rnngrad (``rg.NumericalWarning`` or a Runtime/UserWarning from its files).
- ``vague``: such an error whose message does not name the argument (or lacks the hint).
- ``raw``: any other exception type, or a ``ValueError``/``TypeError`` raised by jax,
  numpy, equinox, optax, json, pathlib, ... code (the raising file is shown).
- ``silent``: returned normally with NaN/inf in an array leaf and no flag (``.finite``
  False, ``.saturated``/``.underflowed``/``.overflowed`` True), or accepted a call that
  is malformed, or failed a determinism check (same key twice, different bits).
- ``ok``: a valid-but-extreme call returned finite or flagged values (or a malformed call
  returned a flagged result).

Each case is ``Case(name, arg, call, expect)``; ``expect`` is ``"error"`` for a truly
malformed call and ``"flag_or_finite"`` for a valid-but-extreme one. The extreme-regime
cases run under ``eqx.filter_jit`` (one compilation per dtype and length; the values
are what matters there); every other call is made eagerly, as a user would.

Run from the repository root::

    .venv/bin/python benchmarks/adversarial.py [--only SUBSTRING] [--json PATH]

Runtime on 2 CPU cores: about 190 s of CPU time for the first run (3-5 minutes of wall
time, more on a busy machine), about 45 s once the XLA compilations are cached on disk
(``--cache-dir``, default ``$TMPDIR/rnngrad-adversarial-xla``; '' disables it).

It prints the count per class and one line per non-good case
(``class | case | arg | exception: message``). It is a report, not a test: the exit
status is 0 whatever it finds (1 only if a baseline call fails).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import jax

jax.config.update("jax_enable_x64", True)
# Without this, jax rewrites tracebacks and an error raised inside jax can look as if it
# came from the rnngrad frame that called it.
jax.config.update("jax_traceback_filtering", "off")

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import rnngrad as rg  # noqa: E402
from rnngrad._analysis import wilson_interval  # noqa: E402 - not exported; the issue names it

F32, F64 = jnp.float32, jnp.float64
NAN, INF = float("nan"), float("inf")
Expect = Literal["error", "flag_or_finite"]
CLASSES = ("good", "vague", "raw", "silent", "ok")
_PKG = f"{os.sep}rnngrad{os.sep}"
_HERE = os.path.abspath(__file__)


# --------------------------------------------------------------------------- cases


@dataclasses.dataclass
class Case:
    """One call: `name` (area/function/arg=variant), the argument it breaks, the call."""

    name: str
    arg: str
    call: Callable[[], Any]
    expect: Expect = "error"
    hint: str | None = None  # text the error message must also contain (the fix)
    check: Callable[[Any], str | None] | None = None  # a returned value's extra check
    also: tuple[str, ...] = ()  # other spellings that count as naming the argument
    good_types: tuple[type[BaseException], ...] = ()  # more exception types counted as errors


def E(name: str, arg: str, call: Callable[[], Any], **kw: Any) -> Case:
    """A malformed call: it should raise a clear error (or flag its result)."""
    return Case(name, arg, call, "error", **kw)


def F(name: str, arg: str, call: Callable[[], Any], **kw: Any) -> Case:
    """A valid-but-extreme call: finite or flagged values, or a clear error."""
    return Case(name, arg, call, "flag_or_finite", **kw)


Variant = tuple[str, Any, Expect, "str | None"]


def V(label: str, value: Any, expect: Expect = "error", hint: str | None = None) -> Variant:
    return (label, value, expect, hint)


def vary(name: str, arg: str, variants: list[Variant], fn: Callable[[Any], Any]) -> list[Case]:
    """One case per variant: ``fn(value)`` is the call."""
    return [
        Case(f"{name}/{arg}={label}", arg, (lambda v=value: fn(v)), expect, hint)
        for label, value, expect, hint in variants
    ]


# --------------------------------------------------------------------------- classification


@dataclasses.dataclass
class Outcome:
    case: Case
    cls: str
    kind: str  # exception type, "warning" or "returned"
    message: str
    where: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        msg = " ".join(self.message.split())[:150]
        where = f" [{self.where}]" if self.cls == "raw" and self.where else ""
        return f"{self.cls} | {self.case.name} | {self.case.arg} | {self.kind}: {msg}{where}"

    def record(self) -> dict[str, Any]:
        return {
            "name": self.case.name,
            "arg": self.case.arg,
            "expect": self.case.expect,
            "class": self.cls,
            "kind": self.kind,
            "message": self.message,
            "where": self.where,
            "seconds": round(self.seconds, 4),
        }


def _names_arg(message: str, case: Case) -> bool:
    for name in (case.arg, *case.also):
        if any(f"{q}{name}{q}" in message for q in ("`", "'", '"')):
            return True
        if f"`{name}." in message or f"`{name}[" in message:  # a field or entry of it
            return True
        if len(name) >= 3 and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", message):
            return True
    return False


def _short(filename: str) -> str:
    for marker in ("site-packages" + os.sep, _PKG[1:], "lib" + os.sep + "python"):
        if marker in filename:
            return filename[filename.index(marker) :]
    return filename


def _classify_error(case: Case, err: BaseException) -> tuple[str, str, str, str]:
    frames = traceback.extract_tb(err.__traceback__)
    last = frames[-1] if frames else None
    where = f"{_short(last.filename)}:{last.lineno}" if last else "?"
    from_pkg = last is not None and _PKG in last.filename
    message = str(err) or repr(err)
    kind = type(err).__name__
    expected_type = isinstance(err, (ValueError, TypeError, *case.good_types))
    if not (expected_type and from_pkg):
        return "raw", kind, message, where
    if not _names_arg(message, case):
        return "vague", kind, message, where
    if case.hint and case.hint not in message:
        return "vague", kind, f"(no hint {case.hint!r}) {message}", where
    return "good", kind, message, where


def _as_tree(result: Any) -> Any:
    if isinstance(result, rg.SweepResult):
        return {"axes": result.axes, "values": result.values}
    return result


def _nonfinite(result: Any) -> list[str]:
    """Where `result` holds NaN/inf: one entry per offending leaf."""
    try:
        leaves = jax.tree_util.tree_flatten_with_path(_as_tree(result))[0]
    except Exception:  # noqa: BLE001 - an odd object is simply not inspected
        return []
    bad = []
    for path, leaf in leaves:
        where = jax.tree_util.keystr(path) or "value"
        if isinstance(leaf, float):
            if not math.isfinite(leaf):
                bad.append(f"{where}={leaf}")
            continue
        if not hasattr(leaf, "dtype") or jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            continue
        try:
            arr = np.asarray(leaf)
        except Exception:  # noqa: BLE001
            continue
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.inexact):
            continue
        if isinstance(result, rg.Contributions) and where == ".log_norms" and arr.ndim == 2:
            # The strict upper triangle (k > t) is -inf by design: no gradient flows back.
            arr = np.where(np.triu(np.ones(arr.shape, bool), 1), 0.0, arr)
        if np.isfinite(arr).all():
            continue
        kinds = []
        if np.isnan(arr).any():
            kinds.append(f"{int(np.isnan(arr).sum())} NaN")
        if not np.iscomplexobj(arr):
            if np.isposinf(arr).any():
                kinds.append(f"{int(np.isposinf(arr).sum())} +inf")
            if np.isneginf(arr).any():
                kinds.append(f"{int(np.isneginf(arr).sum())} -inf")
        else:
            kinds.append(f"{int(np.isinf(arr).sum())} inf")
        bad.append(f"{where} has {' and '.join(kinds)}")
    return bad


def _flag(result: Any, depth: int = 0) -> str | None:
    """The first flag that marks `result` as non-finite or saturated, if any."""
    objs = [result]
    if depth < 2 and isinstance(result, (tuple, list)):
        objs += list(result)
    if depth < 2 and isinstance(result, dict):
        objs += list(result.values())
    for obj in objs:
        if obj is not result and (found := _flag(obj, depth + 1)):
            return found
        for name, bad_when in (
            ("finite", False),
            ("saturated", True),
            ("underflowed", True),
            ("overflowed", True),
        ):
            try:
                value = getattr(obj, name, None)
            except Exception:  # noqa: BLE001 - a property that fails is no flag
                continue
            if value is None or callable(value):
                continue
            try:
                arr = np.asarray(value)
            except Exception:  # noqa: BLE001
                continue
            if arr.dtype != bool:
                continue
            if (not bad_when and not arr.all()) or (bad_when and arr.any()):
                return f".{name} is {bad_when}"
    return None


def _summary(value: Any) -> str:
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        if np.ndim(value) == 0:
            try:
                return f"{value.dtype} {np.asarray(value).item()!r}"
            except Exception:  # noqa: BLE001
                return f"{value.dtype} scalar"
        return f"{value.dtype}{list(value.shape)}"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}" if len(text) < 200 else type(value).__name__


def _our_warning(w: warnings.WarningMessage) -> bool:
    numerical = getattr(rg, "NumericalWarning", None)
    if numerical is not None and issubclass(w.category, numerical):
        return True
    if not issubclass(w.category, (UserWarning, RuntimeWarning)):
        return False
    if issubclass(w.category, np.exceptions.ComplexWarning):
        return False
    text = str(w.message)
    if "encountered in" in text:  # numpy's floating-point warnings
        return False
    return _PKG in (w.filename or "")


def run_case(case: Case) -> Outcome:
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = case.call()
            jax.block_until_ready(
                [x for x in jax.tree_util.tree_leaves(_as_tree(result)) if isinstance(x, jax.Array)]
            )
        except Exception as err:  # noqa: BLE001 - classifying every failure is the point
            cls, kind, message, where = _classify_error(case, err)
            return Outcome(case, cls, kind, message, where, time.perf_counter() - start)
    seconds = time.perf_counter() - start
    try:
        reason = case.check(result) if case.check else None
        ours = [w for w in caught if _our_warning(w)]
        flag = _flag(result)
        bad = _nonfinite(result)
    except Exception as err:  # noqa: BLE001 - inspecting the result failed
        return Outcome(case, "raw", type(err).__name__, f"(inspecting the result) {err}", "")
    if reason:
        return Outcome(case, "silent", "returned", reason, seconds=seconds)
    if ours:
        w = ours[0]
        text = f"{w.category.__name__}: {w.message}"
        return Outcome(case, "good", "warning", text, seconds=seconds)
    summary = _summary(result)
    if case.expect == "error":
        if flag:
            return Outcome(case, "ok", "returned", f"flagged ({flag}): {summary}", seconds=seconds)
        detail = "; ".join(bad[:3]) if bad else summary
        return Outcome(case, "silent", "returned", f"accepted, returned {detail}", seconds=seconds)
    if bad and not flag:
        detail = "; ".join(bad[:3])
        message = f"{type(result).__name__}: {detail}; no flag"
        return Outcome(case, "silent", "returned", message, seconds=seconds)
    text = f"flagged ({flag})" if flag else "finite"
    return Outcome(case, "ok", "returned", f"{text}: {summary}", seconds=seconds)


# --------------------------------------------------------------------------- fixtures


def sq_loss(carry: Any, y: Any) -> jax.Array:
    """A per-step loss ``(carry_t, y_t) -> scalar`` on a vector carry."""
    return jnp.sum((carry - y) ** 2)


def final_loss(carry: Any) -> jax.Array:
    return jnp.sum(carry**2)


def sum_step_loss(carry: Any, y: Any) -> jax.Array:
    del y
    return jnp.sum(carry)


def sum_loss(carry: Any) -> jax.Array:
    return jnp.sum(carry)


def ones_init(key: Any, shape: Any, dtype: Any = None) -> jax.Array:
    del key
    return jnp.ones(shape, dtype)


class Grow(rg.AbstractCell):
    """A cell whose step returns a longer carry than it was given."""

    def __call__(self, x: Any, carry: Any) -> jax.Array:
        return jnp.concatenate([carry, carry])

    def init_carry(self) -> jax.Array:
        return jnp.zeros(3)


class TupleOut(rg.AbstractCell):
    """A cell whose init_carry is an array but whose step returns a tuple."""

    def __call__(self, x: Any, carry: Any) -> Any:
        return (carry, carry)

    def init_carry(self) -> jax.Array:
        return jnp.zeros(3)


class Fx:
    """The tiny valid baselines every case starts from (built after jax is configured)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.key = k = jax.random.key(0)
        self.cell = rg.VanillaCell(2, 3, key=k, dtype=F64)
        self.cell32 = rg.VanillaCell(2, 3, key=k, dtype=F32)
        self.xs = 0.5 * jnp.sin(jnp.arange(12.0)).reshape(6, 2)
        self.c0 = rg.init_carry(self.cell)
        self.ys = 0.1 * jnp.cos(jnp.arange(18.0)).reshape(6, 3)
        self.lstm = rg.lstm(2, 3, key=k)
        self.gru = rg.gru(2, 3, key=k)
        self.esn = rg.EchoStateCell(1, 4, connectivity=1.0, key=k, dtype=F64)
        self.u = 0.5 * jnp.sin(jnp.arange(40.0))[:, None]
        self.task = rg.AddingTask(10)
        self.states = jax.random.normal(jax.random.key(1), (30, 4))
        self.target = self.states @ jnp.arange(1.0, 5.0) + 1.0
        self._n = 0

    def path(self, name: str) -> Path:
        """A fresh path in the temporary folder."""
        self._n += 1
        folder = self.tmp / f"p{self._n}"
        folder.mkdir()
        return folder / name

    @functools.cached_property
    def trained(self) -> Any:
        """One real (tiny) training run, with a checkpoint folder; asserted on first use."""
        folder = self.tmp / "ckpt_base"
        res = rg.train(
            lambda k: rg.VanillaCell(2, 3, key=k),
            self.task,
            optimizer=optax.sgd(0.01),
            steps=2,
            batch_size=2,
            key=self.key,
            test_size=4,
            chunk_steps=1,
            checkpoint_dir=folder,
            progress=False,
        )
        assert np.isfinite(np.asarray(res.losses)).all(), "baseline rg.train diverged"
        assert (folder / "run.json").exists() and (folder / "state.eqx").exists()
        return res, folder

    @functools.cached_property
    def sweep_file(self) -> Path:
        """A valid saved sweep: values (2, 3) over axes a[2], b[3]."""
        res = rg.sweep(lambda a, b: a * b + jnp.zeros(()), a=jnp.arange(2.0), b=jnp.ones(3))
        return res.save(self.tmp / "valid_sweep.npz")


def train_base(fx: Fx, **kw: Any) -> Any:
    """``rg.train`` on the tiny adding task with `kw` replacing the baseline arguments."""
    args: dict[str, Any] = {
        "optimizer": optax.sgd(0.01),
        "steps": 2,
        "batch_size": 2,
        "key": fx.key,
        "test_size": 4,
        "progress": False,
    }
    args.update(kw)
    make_cell = args.pop("make_cell", lambda k: rg.VanillaCell(2, 3, key=k))
    task = args.pop("task", fx.task)
    return rg.train(make_cell, task, **args)


def check_baselines(fx: Fx) -> None:
    """The valid calls the malformed variants start from must work, or nothing is tested."""
    assert rg.unroll(fx.cell, fx.xs, fx.c0).shape == (6, 3)
    contrib = rg.timestep_contributions(fx.cell, fx.xs, fx.c0, sq_loss, fx.ys)
    assert bool(contrib.finite) and not _nonfinite(contrib), _nonfinite(contrib)
    prof = rg.final_step_profile(fx.cell, fx.xs, fx.c0, final_loss)
    assert not _nonfinite(prof), _nonfinite(prof)
    assert not _nonfinite(rg.lyapunov_spectrum(fx.cell, fx.xs, fx.c0))
    assert not _nonfinite(rg.lag_profile(contrib))
    assert np.isfinite(float(rg.truncated_loss(fx.cell, fx.xs, fx.c0, sq_loss, fx.ys, k1=2, k2=3)))
    assert np.isfinite(float(rg.pascanu_omega(fx.cell, fx.xs, fx.c0, sq_loss, fx.ys)))
    assert rg.esn.states(fx.esn, fx.u, washout=5).shape == (35, 4)
    w = rg.esn.ridge_readout(fx.states, fx.target, ridge=1e-8)
    assert np.allclose(np.asarray(w), [1, 2, 3, 4, 1], atol=1e-5)
    assert float(rg.AddingTask(10).loss(jnp.zeros(1), jnp.ones(1))) == 1.0
    loaded = rg.load_sweep(fx.sweep_file)
    assert loaded.names == ("a", "b") and np.asarray(loaded.values).shape == (2, 3)
    assert np.isfinite(np.asarray(rg.theory.pascanu_bound(fx.cell, jnp.arange(3.0)))).all()
    assert 0.0 < wilson_interval(1, 3)[0] < wilson_interval(1, 3)[1] < 1.0
    assert rg.esn.generate(fx.esn, jnp.zeros(5), jnp.zeros(4), jnp.ones(1), 3).shape == (3, 1)


# --------------------------------------------------------------------------- hostile values


def bad_keys(key: Any) -> list[Variant]:
    return [
        V("None", None),
        V("int", 12),
        V("str", "key"),
        V("float_array", jnp.zeros(2)),
        V("batched", jax.random.split(key, 3), hint="vmap"),
        V("raw_wrong_shape", np.zeros(3, np.uint32)),
        V("int32_pair", jnp.asarray([0, 1], jnp.int32)),
        V("bool", True),
        V("legacy_PRNGKey", jax.random.PRNGKey(0), "flag_or_finite"),
    ]


def bad_sizes() -> list[Variant]:
    return [
        V("0", 0),
        V("-1", -1),
        V("2.5", 2.5),
        V("str", "2"),
        V("None", None),
        V("bool", True),
        V("np.int64", np.int64(2), "flag_or_finite"),
    ]


def bad_dtypes() -> list[Variant]:
    return [
        V("int32", jnp.int32),
        V("banana", "banana"),
        V("bool", jnp.bool_),
        V("complex64", jnp.complex64),
        V("object", object),
        V("float16", jnp.float16, "flag_or_finite"),
    ]


def bad_reals(*, zero: Expect = "error", negative: Expect = "error") -> list[Variant]:
    """Hostile values for a real scalar; whether 0 and negatives are valid depends on it."""
    return [
        V("None", None),
        V("str", "abc"),
        V("nan", NAN),
        V("inf", INF),
        V("-inf", -INF),
        V("negative", -1.0, negative),
        V("zero", 0.0, zero),
        V("complex", 1 + 1j),
        V("bool", True),
        V("list", [1.0]),
        V("vector", jnp.ones(2)),
        V("nan_array", jnp.asarray(NAN)),
    ]


def bad_ints(*, zero: Expect = "error") -> list[Variant]:
    return [
        V("None", None),
        V("str", "3"),
        V("float", 2.5),
        V("whole_float", 2.0),
        V("-1", -1),
        V("0", 0, zero),
        V("bool", True),
        V("nan", NAN),
    ]


def seq_variants(xs: jax.Array, *, dtypes: bool = True) -> list[Variant]:
    """Hostile inputs for a (T, input_size) float64 sequence argument."""
    length, size = xs.shape
    out = [
        V("nan", xs.at[2, 0].set(NAN)),
        V("inf", xs.at[2, 0].set(INF)),
        V("-inf", xs.at[2, 0].set(-INF)),
        V("huge", xs * 1e300, "flag_or_finite"),
        V("complex", xs.astype(jnp.complex128)),
        V("None", None),
        V("str", "xs"),
        V("list", xs.tolist(), hint="jnp.asarray"),
        V("1d", xs[:, 0]),
        V("wrong_size", jnp.ones((length, size + 1))),
        V("transposed", xs.T),
        V("batched", xs[None], hint="vmap"),
        V("T=0", jnp.zeros((0, size))),
        V("scalar", jnp.asarray(0.5)),
        V("numpy_wrong_size", np.ones((length, size + 1))),
    ]
    if dtypes:
        out += [
            V("bool", xs > 0, "flag_or_finite"),
            V("int", jnp.round(4 * xs).astype(jnp.int32), "flag_or_finite"),
            V("float32", xs.astype(F32), "flag_or_finite"),
            V("numpy", np.asarray(xs), "flag_or_finite"),
        ]
    return out


def carry_variants(c0: jax.Array, *, fix: str | None = "init_carry") -> list[Variant]:
    """Hostile initial carries for a (S,) float64 carry; `fix`: the hint a mismatch needs."""
    n = c0.shape[0]
    return [
        V("None", None, hint=fix),
        V("wrong_size", jnp.zeros(n + 1), hint=fix),
        V("int", jnp.zeros(n, jnp.int32), hint=fix),
        V("float32", jnp.zeros(n, F32), hint=fix),
        V("complex", jnp.zeros(n, jnp.complex128)),
        V("tuple", (c0,), hint=fix),
        V("batched", jnp.zeros((2, n)), hint=fix),
        V("list", [0.0] * n, hint=fix),
        V("str", "h0"),
        V("nan", c0.at[0].set(NAN)),
        V("inf", c0.at[0].set(INF)),
        V("huge", c0 + 1e300, "flag_or_finite"),
    ]


def cell_variants(fx: Fx, *, hint: str | None = "init_carry") -> list[Variant]:
    """Hostile cells; `hint` is the fix a message about a missing method should give."""
    return [
        V("None", None),
        V("str", "cell"),
        V("object", object()),
        V("function", lambda x, h: h, hint=hint),
        V("class", rg.VanillaCell),
        V("eqx.nn.Linear", eqx.nn.Linear(2, 3, key=fx.key), hint=hint),
    ]


def valid(variants: list[Variant], *labels: str) -> list[Variant]:
    """The same variants with those `labels` marked valid (e.g. None where it is the default)."""
    return [(lbl, v, "flag_or_finite" if lbl in labels else ex, h) for lbl, v, ex, h in variants]


# --------------------------------------------------------------------------- areas


def cells_cases(fx: Fx) -> list[Case]:
    """Cells, keys, dtypes, recipes, the protocol functions and a cell's own call."""
    k, cases = fx.key, []
    V_, ESN = rg.VanillaCell, rg.EchoStateCell
    cases += vary("VanillaCell", "key", bad_keys(k), lambda v: V_(2, 4, key=v))
    cases += vary("EchoStateCell", "key", bad_keys(k), lambda v: ESN(1, 4, key=v))
    for name, fn in (
        ("irnn", lambda v: rg.irnn(2, 3, key=v)),
        ("orthogonal_rnn", lambda v: rg.orthogonal_rnn(2, 3, key=v)),
        ("spectral_rnn", lambda v: rg.spectral_rnn(2, 3, key=v)),
        ("lstm", lambda v: rg.lstm(2, 3, key=v)),
        ("chrono_lstm", lambda v: rg.chrono_lstm(2, 3, max_delay=10, key=v)),
        ("gru", lambda v: rg.gru(2, 3, key=v)),
    ):
        cases += vary(name, "key", bad_keys(k)[:4], fn)
    cases += vary("VanillaCell", "input_size", bad_sizes(), lambda v: V_(v, 3, key=k))
    cases += vary("VanillaCell", "hidden_size", bad_sizes(), lambda v: V_(2, v, key=k))
    cases += vary("EchoStateCell", "hidden_size", bad_sizes()[:4], lambda v: ESN(1, v, key=k))
    cases += vary("lstm", "hidden_size", bad_sizes()[:4], lambda v: rg.lstm(2, v, key=k))
    cases += vary("gru", "input_size", bad_sizes()[:4], lambda v: rg.gru(v, 3, key=k))
    cases += vary("VanillaCell", "dtype", bad_dtypes(), lambda v: V_(2, 3, key=k, dtype=v))
    cases += vary("EchoStateCell", "dtype", bad_dtypes(), lambda v: ESN(1, 3, key=k, dtype=v))
    cases += vary(
        "VanillaCell",
        "nonlinearity",
        [V("sigmoid", "sigmoid"), V("int", 3), V("None", None), V("TANH", "TANH")],
        lambda v: V_(2, 3, nonlinearity=v, key=k),
    )
    cases.append(
        E(
            "VanillaCell/nonlinearity=shape_changing_callable",
            "nonlinearity",
            lambda: rg.unroll(V_(2, 3, nonlinearity=lambda a: a[:1], key=k), fx.xs, jnp.zeros(3)),
        )
    )
    cases += vary(
        "VanillaCell",
        "weight_hh_init",
        [
            V("str", "orthogonal"),
            V("factory_not_called", rg.init.orthogonal, hint="rg.init.orthogonal("),
            V("int", 3),
            V("wrong_shape", lambda key, shape, dtype=None: jnp.ones((2, 2))),
            V("nan_weights", lambda key, shape, dtype=None: jnp.full(shape, NAN, dtype)),
            V("jax_initializer", jax.nn.initializers.orthogonal(), "flag_or_finite"),
        ],
        lambda v: V_(2, 3, weight_hh_init=v, key=k),
    )
    cases += vary(
        "VanillaCell",
        "weight_ih_init",
        [V("str", "normal"), V("factory_not_called", rg.init.gaussian)],
        lambda v: V_(2, 3, weight_ih_init=v, key=k),
    )
    for arg, zero, negative in (
        ("spectral_radius", "error", "error"),
        ("leak_rate", "error", "error"),
        ("connectivity", "error", "error"),
        ("input_scaling", "flag_or_finite", "flag_or_finite"),
        ("bias_scaling", "flag_or_finite", "error"),
    ):
        cases += vary(
            "EchoStateCell",
            arg,
            bad_reals(zero=zero, negative=negative),
            lambda v, arg=arg: ESN(1, 4, key=k, **{arg: v}),
        )
    cases += vary(
        "EchoStateCell",
        "leak_rate",
        [V("1.5", 1.5)],
        lambda v: ESN(1, 4, leak_rate=v, key=k),
    )
    cases.append(
        E(
            "EchoStateCell/connectivity=empty_reservoir",
            "connectivity",
            lambda: ESN(1, 1, connectivity=1e-9, key=k),
        )
    )
    cases += vary(
        "EchoStateCell",
        "weight_hh_init",
        [V("str", "normal"), V("zeros", lambda key, shape, dtype=None: jnp.zeros(shape, dtype))],
        lambda v: ESN(1, 4, weight_hh_init=v, connectivity=1.0, key=k),
    )
    cases += vary(
        "irnn",
        "scale",
        bad_reals(zero="flag_or_finite", negative="flag_or_finite")[:9],
        lambda v: rg.irnn(2, 3, scale=v, key=k),
    )
    cases += vary(
        "spectral_rnn", "rho", bad_reals()[:9], lambda v: rg.spectral_rnn(2, 3, rho=v, key=k)
    )
    cases += vary(
        "lstm",
        "forget_bias",
        bad_reals(zero="flag_or_finite", negative="flag_or_finite")[:5],
        lambda v: rg.lstm(2, 3, forget_bias=v, key=k),
    )
    cases.append(
        E("lstm/use_bias=False", "forget_bias", lambda: rg.lstm(2, 3, use_bias=False, key=k))
    )
    cases += vary(
        "chrono_lstm",
        "max_delay",
        bad_ints()[:7] + [V("2", 2)],
        lambda v: rg.chrono_lstm(2, 3, max_delay=v, key=k),
    )
    # The protocol functions.
    for name, fn in (("init_carry", rg.init_carry), ("state_size", rg.state_size)):
        cases += vary(name, "cell", cell_variants(fx), fn)
    cases += vary(
        "recurrent_weight", "cell", cell_variants(fx, hint="recurrent_weight"), rg.recurrent_weight
    )
    cases.append(E("fold_recurrent_scale/cell=int", "cell", lambda: rg.fold_recurrent_scale(3)))
    cases.append(E("fold_recurrent_scale/cell=str", "cell", lambda: rg.fold_recurrent_scale("c")))
    cases.append(E("flatten_carry/carry=str", "carry", lambda: rg.flatten_carry("abc")))
    cases.append(E("flatten_carry/carry=None", "carry", lambda: rg.flatten_carry(None)))
    cases.append(E("flatten_carry/carry=object", "carry", lambda: rg.flatten_carry(object())))
    scale_bad = bad_reals(zero="flag_or_finite", negative="flag_or_finite")
    scale_bad = [
        (lbl, v, ex, "vmap" if lbl in ("list", "vector") else h) for lbl, v, ex, h in scale_bad
    ]
    cases += vary("scale_recurrent", "scale", scale_bad, lambda v: rg.scale_recurrent(fx.cell, v))
    cases += vary(
        "scale_recurrent",
        "scale",
        [
            V("1e300_into_float32", 1e300, "flag_or_finite"),
            V("1e-300_into_float32", 1e-300, "flag_or_finite"),
            V("matrix", jnp.eye(3), hint="vmap"),
        ],
        lambda v: rg.scale_recurrent(fx.cell32, v),
    )
    cases += vary(
        "scale_recurrent",
        "cell",
        cell_variants(fx)[:3] + [V("lstm", fx.lstm, "flag_or_finite")],
        lambda v: rg.scale_recurrent(v, 2.0),
    )
    # A cell called by hand, one step.
    x, h = jnp.ones(2), jnp.zeros(3)
    cases += [
        E("VanillaCell.__call__/x=wrong_size", "x", lambda: fx.cell(jnp.ones(3), h)),
        E("VanillaCell.__call__/h=wrong_size", "h", lambda: fx.cell(x, jnp.zeros(4))),
        E("VanillaCell.__call__/x=list", "x", lambda: fx.cell([1.0, 1.0], h)),
        E("VanillaCell.__call__/x=batched", "x", lambda: fx.cell(jnp.ones((5, 2)), h), hint="vmap"),
        E("VanillaCell.__call__/x=complex", "x", lambda: fx.cell(x * 1j, h)),
        E("VanillaCell.__call__/h=None", "h", lambda: fx.cell(x, None)),
        E("EchoStateCell.__call__/x=wrong_size", "x", lambda: fx.esn(jnp.ones(2), jnp.zeros(4))),
        E(
            "gain/callable_nonlinearity",
            "nonlinearity",
            lambda: rg.VanillaCell(2, 3, nonlinearity=jnp.sin, key=k).gain,
        ),
    ]
    return cases


def init_cases(fx: Fx) -> list[Case]:
    """``rg.init``: factories and the initialisers they return."""
    k, init, cases = fx.key, rg.init, []
    scales = bad_reals(zero="flag_or_finite", negative="flag_or_finite")
    for name in ("gaussian", "orthogonal", "identity"):
        cases += vary(f"init.{name}", "scale", scales, getattr(init, name))
    cases += vary("init.spectral_radius", "rho", bad_reals(), init.spectral_radius)
    cases += vary(
        "init.spectral_radius",
        "base",
        [V("str", "gaussian"), V("zeros", lambda key, shape, dtype=None: jnp.zeros(shape, dtype))],
        lambda v: init.spectral_radius(1.0, base=v)(k, (3, 3)),
    )
    makers = {
        "gaussian": init.gaussian(1.0),
        "orthogonal": init.orthogonal(1.0),
        "identity": init.identity(1.0),
        "spectral_radius": init.spectral_radius(0.9),
    }
    for name, made in makers.items():
        cases += vary(
            f"init.{name}()", "dtype", bad_dtypes()[:4], lambda v, f=made: f(k, (3, 3), v)
        )
        cases += vary(
            f"init.{name}()",
            "shape",
            [
                V("1d", (3,)),
                V("3d", (3, 3, 3)),
                V("zero", (0, 3)),
                V("negative", (-1, 3)),
                V("str", "ab"),
                V("None", None),
                V("float", (2.5, 3)),
            ],
            lambda v, f=made: f(k, v),
        )
    for name in ("gaussian", "orthogonal", "spectral_radius"):
        cases += vary(
            f"init.{name}()",
            "key",
            bad_keys(k)[:4],
            lambda v, f=makers[name]: f(v, (3, 3)),
        )
    cases.append(
        E("init.identity()/shape=non_square", "shape", lambda: init.identity(1.0)(k, (2, 3)))
    )
    cases.append(
        E(
            "init.spectral_radius()/shape=non_square",
            "shape",
            lambda: init.spectral_radius(1.0)(k, (2, 3)),
        )
    )
    return cases


def _traj_functions(fx: Fx) -> dict[str, Callable[..., Any]]:
    ys = fx.ys
    return {
        "unroll": rg.unroll,
        "final_carry": rg.final_carry,
        "state_jacobians": rg.state_jacobians,
        "jacobian_spectral_norms": rg.jacobian_spectral_norms,
        "timestep_contributions": lambda c, x, h: rg.timestep_contributions(c, x, h, sq_loss, ys),
        "final_step_profile": lambda c, x, h: rg.final_step_profile(c, x, h, final_loss),
        "lyapunov_spectrum": rg.lyapunov_spectrum,
        "jacobian_product_spectra": rg.jacobian_product_spectra,
        "truncated_loss": lambda c, x, h: rg.truncated_loss(c, x, h, sq_loss, ys, k1=2, k2=3),
        "pascanu_omega": lambda c, x, h: rg.pascanu_omega(c, x, h, sq_loss, ys),
        "flossing_penalty": lambda c, x, h: rg.flossing_penalty(c, x, h, n=1),
    }


def trajectory_cases(fx: Fx) -> list[Case]:
    """Every ``(cell, xs, carry0)`` function with hostile xs, carry0 and cell."""
    cases = []
    cheap = {"unroll", "final_carry", "final_step_profile", "lyapunov_spectrum"}
    for name, fn in _traj_functions(fx).items():
        xs_variants = seq_variants(fx.xs, dtypes=name in cheap)
        cases += vary(name, "xs", xs_variants, lambda v, fn=fn: fn(fx.cell, v, fx.c0))
        cases += vary(name, "carry0", carry_variants(fx.c0), lambda v, fn=fn: fn(fx.cell, fx.xs, v))
        cases += vary(name, "cell", cell_variants(fx), lambda v, fn=fn: fn(v, fx.xs, fx.c0))
    # Mixed precision, custom and gated cells, mismatched carry pytrees.
    lstm_c0 = rg.init_carry(fx.lstm)
    h3 = jnp.zeros(3)
    cases += [
        F(
            "unroll/xs=float64_into_float32_cell",
            "xs",
            lambda: rg.unroll(fx.cell32, fx.xs, rg.init_carry(fx.cell32)),
        ),
        F(
            "unroll/xs=float32_into_float64_cell",
            "xs",
            lambda: rg.unroll(fx.cell, fx.xs.astype(F32), fx.c0),
        ),
        E("unroll/cell=grows_its_carry", "cell", lambda: rg.unroll(Grow(), fx.xs, h3)),
        E("unroll/cell=returns_tuple", "cell", lambda: rg.unroll(TupleOut(), fx.xs, h3)),
        E("unroll/xs=list_of_arrays", "xs", lambda: rg.unroll(fx.cell, list(fx.xs), fx.c0)),
        E("unroll/xs=dict", "xs", lambda: rg.unroll(fx.cell, {"x": fx.xs}, fx.c0)),
        F("unroll/lstm_valid", "carry0", lambda: rg.unroll(fx.lstm, fx.xs, lstm_c0)),
    ]
    bad_lstm = [
        V("array", h3, hint="init_carry"),
        V("one_tuple", (h3,), hint="init_carry"),
        V("three_tuple", (h3, h3, h3), hint="init_carry"),
        V("list", [h3, h3], hint="init_carry"),
        V("dict", {"h": h3, "c": h3}, hint="init_carry"),
        V("wrong_c", (h3, jnp.zeros(4)), hint="init_carry"),
        V("float32", (h3.astype(F32), h3.astype(F32)), hint="init_carry"),
    ]
    for name in ("unroll", "lyapunov_spectrum", "final_step_profile"):
        fn = _traj_functions(fx)[name]
        cases += vary(f"{name}[lstm]", "carry0", bad_lstm, lambda v, fn=fn: fn(fx.lstm, fx.xs, v))
    cases += vary("unroll[gru]", "carry0", bad_lstm[1:3], lambda v: rg.unroll(fx.gru, fx.xs, v))
    cases.append(
        E("unroll[lstm]/xs=wrong_size", "xs", lambda: rg.unroll(fx.lstm, jnp.ones((6, 3)), lstm_c0))
    )
    return cases


def anatomy_cases(fx: Fx) -> list[Case]:
    """The loss-specific arguments of the anatomy functions, and lag_profile."""
    cell, xs, c0, ys, cases = fx.cell, fx.xs, fx.c0, fx.ys, []

    def tc(**kw: Any) -> Any:
        args = {"step_loss": sq_loss, "ys": ys, **kw}
        return rg.timestep_contributions(
            cell, xs, c0, args.pop("step_loss"), args.pop("ys"), **args
        )

    step_losses = [
        V("None", None),
        V("str", "mse"),
        V("one_argument", lambda h: jnp.sum(h**2)),
        V("vector", lambda h, y: h - y),
        V("int", lambda h, y: jnp.sum(h > 0)),
        V("complex", lambda h, y: jnp.sum(h) * 1j),
        V("tuple", lambda h, y: (jnp.sum(h), jnp.sum(y))),
        V("nan", lambda h, y: jnp.sum(h) * NAN),
    ]
    cases += vary("timestep_contributions", "step_loss", step_losses, lambda v: tc(step_loss=v))
    cases += vary(
        "timestep_contributions",
        "ys",
        [
            V("None", None),
            V("short", ys[:2]),
            V("long", jnp.zeros((9, 3))),
            V("nan", ys.at[1, 0].set(NAN)),
            V("list", ys.tolist(), hint="jnp.asarray"),
            V("str", "ys"),
            V("wrong_feature", jnp.zeros((6, 5))),
            V("int", jnp.zeros((6, 3), jnp.int32), "flag_or_finite"),
        ],
        lambda v: tc(ys=v),
    )
    cases.append(
        F(
            "timestep_contributions/ys=omitted_for_a_loss_that_ignores_it",
            "ys",
            lambda: rg.timestep_contributions(cell, xs, c0, lambda h, y: jnp.sum(h**2)),
        )
    )
    cases += vary(
        "timestep_contributions",
        "method",
        [V("fast", "fast"), V("None", None), V("int", 1), V("JACREV", "JACREV")],
        lambda v: tc(method=v),
    )
    cases += vary(
        "timestep_contributions",
        "blocks",
        bad_ints(),
        lambda v: tc(blocks=v),
    )
    cases.append(
        E(
            "timestep_contributions/xs=nan[jacrev]",
            "xs",
            lambda: rg.timestep_contributions(
                cell, xs.at[0, 0].set(NAN), c0, sq_loss, ys, method="jacrev"
            ),
        )
    )

    def fsp(**kw: Any) -> Any:
        loss = kw.pop("loss", final_loss)
        return rg.final_step_profile(cell, xs, c0, loss, **kw)

    cases += vary(
        "final_step_profile",
        "loss",
        [
            V("None", None),
            V("str", "mse"),
            V("two_arguments", lambda h, y: jnp.sum(h)),
            V("vector", lambda h: h),
            V("int", lambda h: jnp.sum(h > 0)),
            V("nan", lambda h: jnp.sum(h) * NAN),
            V("log_of_negative", lambda h: jnp.log(-1.0 - jnp.sum(h**2))),
        ],
        lambda v: fsp(loss=v),
    )
    cases += vary(
        "final_step_profile",
        "checkpoint_every",
        bad_ints()[1:] + [V("not_dividing_T", 4), V("T", 6, "flag_or_finite"), V("huge", 10**6)],
        lambda v: fsp(checkpoint_every=v),
    )
    # lag_profile on hand-made norms matrices and on broken results.
    m = jnp.array([[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.25, 0.5, 1.0]])
    # Built under jit, where no eager check sees the NaN: the results carry it.
    nan_xs = xs.at[0, 0].set(NAN)
    nan_contrib = functools.partial(
        eqx.filter_jit(rg.timestep_contributions), cell, nan_xs, c0, sq_loss, ys
    )
    nan_profile = functools.partial(
        eqx.filter_jit(rg.final_step_profile), cell, nan_xs, c0, final_loss
    )
    cases += vary(
        "lag_profile",
        "norms_or_result",
        [
            V("list", m.tolist(), hint="jnp.asarray"),
            V("complex", m.astype(jnp.complex128)),
            V("negative", m.at[1, 0].set(-0.5)),
            V("nan_row", m.at[2].set(NAN)),
            V("nan_entry", m.at[2, 0].set(NAN)),
            V("inf_entry", m.at[2, 0].set(INF)),
            V("3d", m[None]),
            V("1d", m[0]),
            V("non_square", m[:2]),
            V("empty", jnp.zeros((0, 0))),
            V("bool", m > 0),
            V("None", None),
            V("str", "norms"),
            V("int", (m * 4).astype(jnp.int32), "flag_or_finite"),
            V("numpy", np.asarray(m), "flag_or_finite"),
            V("all_zero", jnp.zeros((3, 3)), "flag_or_finite"),
        ],
        rg.lag_profile,
    )
    cases += [
        E(
            "lag_profile/norms_or_result=nan_contributions",
            "norms_or_result",
            lambda: rg.lag_profile(nan_contrib()),
        ),
        E(
            "lag_profile/norms_or_result=nan_final_profile",
            "norms_or_result",
            lambda: rg.lag_profile(nan_profile()),
        ),
        E("lag_profile/log10=str", "log10", lambda: rg.lag_profile(m, log10="no")),
    ]
    return cases


def dynamics_cases(fx: Fx) -> list[Case]:
    cell, xs, c0, cases = fx.cell, fx.xs, fx.c0, []
    cases += vary(
        "lyapunov_spectrum",
        "n",
        bad_ints()[1:]
        + [V("above_S", 4), V("huge", 10**9), V("np.int64", np.int64(2), "flag_or_finite")],
        lambda v: rg.lyapunov_spectrum(cell, xs, c0, v),
    )
    cases += vary(
        "lyapunov_spectrum",
        "warmup",
        bad_ints(zero="flag_or_finite") + [V("T", 6), V("T-1", 5, "flag_or_finite")],
        lambda v: rg.lyapunov_spectrum(cell, xs, c0, warmup=v),
    )
    cases.append(
        E(
            "lyapunov_spectrum/state_gradient=str",
            "state_gradient",
            lambda: rg.lyapunov_spectrum(cell, xs, c0, state_gradient="no"),
        )
    )
    return cases


def theory_cases(fx: Fx) -> list[Case]:
    cell, th, cases = fx.cell, rg.theory, []
    lags = jnp.arange(3.0)
    cases += vary(
        "theory.pascanu_bound",
        "lags",
        [
            V("str", "abc"),
            V("nan", NAN),
            V("nan_array", jnp.asarray([0.0, NAN])),
            V("complex", jnp.asarray([1j, 2.0])),
            V("negative", jnp.asarray([-1.0])),
            V("None", None),
            V("list", [0, 1, 2], "flag_or_finite"),
            V("bool", jnp.asarray([True, False])),
            V("inf", INF),
            V("fractional", jnp.asarray([0.5]), "flag_or_finite"),
        ],
        lambda v: th.pascanu_bound(cell, v),
    )
    cases += vary(
        "theory.pascanu_bound",
        "grad_norm",
        [
            V("-1", -1.0),
            V("str", "abc"),
            V("nan", NAN),
            V("inf", INF),
            V("complex", 1j),
            V("None", None),
            V("zero", 0.0, "flag_or_finite"),
            V("vector", jnp.ones(3), "flag_or_finite"),
            V("wrong_length", jnp.ones(4)),
        ],
        lambda v: th.pascanu_bound(cell, lags, grad_norm=v),
    )
    cases += vary(
        "theory.pascanu_bound",
        "gamma",
        valid(bad_reals(zero="flag_or_finite")[:9], "None"),
        lambda v: th.pascanu_bound(cell, lags, gamma=v),
    )
    cases += vary(
        "theory.pascanu_bound",
        "cell",
        cell_variants(fx, hint=None)[:3] + [V("lstm", fx.lstm)],
        lambda v: th.pascanu_bound(v, lags),
    )
    cases += vary("theory.pascanu_rate", "cell", cell_variants(fx, hint=None)[:3], th.pascanu_rate)
    cases += vary(
        "theory.pascanu_rate",
        "gamma",
        valid(bad_reals(zero="flag_or_finite")[:6], "None"),
        lambda v: th.pascanu_rate(cell, gamma=v),
    )
    callable_cell = rg.VanillaCell(2, 3, nonlinearity=jnp.sin, key=fx.key)
    big = rg.scale_recurrent(cell, 4.0)
    cases += [
        E(
            "theory.pascanu_rate/cell=callable_nonlinearity",
            "gamma",
            lambda: th.pascanu_rate(callable_cell),
        ),
        E(
            "theory.vanishing_guaranteed/cell=lstm",
            "gamma",
            lambda: th.vanishing_guaranteed(fx.lstm),
        ),
        E(
            "theory.vanishing_guaranteed/gamma=str",
            "gamma",
            lambda: th.vanishing_guaranteed(cell, gamma="1"),
        ),
        F(
            "theory.pascanu_bound/lags=1e4_exploding",
            "lags",
            lambda: th.pascanu_bound(big, jnp.asarray([1e4])),
        ),
        F(
            "theory.pascanu_bound/lags=1e4_exploding_log10",
            "lags",
            lambda: th.pascanu_bound(big, jnp.asarray([1e4]), log10=True),
        ),
    ]
    return cases


def esn_cases(fx: Fx) -> list[Case]:
    esn, u, k, cases = fx.esn, fx.u, fx.key, []
    S, y = fx.states, fx.target
    h4 = jnp.zeros(4)
    cases += vary("esn.states", "inputs", seq_variants(u), lambda v: rg.esn.states(esn, v))
    cases += vary(
        "esn.states",
        "h0",
        valid(carry_variants(h4, fix=None), "None"),
        lambda v: rg.esn.states(esn, u, v),
    )
    cases += vary(
        "esn.states",
        "washout",
        [V("-1", -1), V("T", 40), V("float", 2.5), V("bool", True), V("str", "3"), V("None", None)],
        lambda v: rg.esn.states(esn, u, washout=v),
    )
    cases += vary("esn.states", "cell", cell_variants(fx)[:4], lambda v: rg.esn.states(v, u))
    collinear = jnp.concatenate([S[:, :2], S[:, :2]], axis=1)
    cases += vary(
        "esn.ridge_readout",
        "ridge",
        bad_reals(zero="flag_or_finite"),
        lambda v: rg.esn.ridge_readout(S, y, ridge=v),
    )
    cases += [
        F(
            "esn.ridge_readout/ridge=0_collinear_states",
            "ridge",
            lambda: rg.esn.ridge_readout(collinear, y, ridge=0.0),
        ),
        F(
            "esn.ridge_readout/ridge=0_constant_state",
            "ridge",
            lambda: rg.esn.ridge_readout(jnp.ones((30, 4)), y, ridge=0.0),
        ),
        F(
            "esn.ridge_readout/ridge=1e300",
            "ridge",
            lambda: rg.esn.ridge_readout(S, y, ridge=1e300),
        ),
    ]
    cases += vary(
        "esn.ridge_readout",
        "states",
        [
            V("1d", S[:, 0]),
            V("int", S.astype(jnp.int32)),
            V("nan", S.at[0, 0].set(NAN)),
            V("inf", S.at[0, 0].set(INF)),
            V("complex", S.astype(jnp.complex128)),
            V("list", S.tolist(), hint="jnp.asarray"),
            V("None", None),
            V("3d", S[None]),
            V("T=0", jnp.zeros((0, 4))),
            V("T=1", S[:1], "flag_or_finite"),
        ],
        lambda v: rg.esn.ridge_readout(v, y[: (np.shape(v) or (30,))[0]], ridge=1e-6),
    )
    cases += vary(
        "esn.ridge_readout",
        "targets",
        [
            V("wrong_length", y[:5]),
            V("3d", y[:, None, None]),
            V("nan", y.at[3].set(NAN)),
            V("inf", y.at[3].set(INF)),
            V("int", y.astype(jnp.int32)),
            V("list", y.tolist(), hint="jnp.asarray"),
            V("None", None),
        ],
        lambda v: rg.esn.ridge_readout(S, v, ridge=1e-6),
    )
    cases += vary(
        "esn.ridge_readout",
        "bias",
        [V("str", "yes"), V("int", 1), V("None", None)],
        lambda v: rg.esn.ridge_readout(S, y, ridge=1e-6, bias=v),
    )
    w = jnp.zeros(5)
    cases += vary(
        "esn.readout_apply",
        "readout",
        [
            V("wrong_last_dim", jnp.zeros(7)),
            V("3d", jnp.zeros((1, 1, 5))),
            V("nan", w.at[0].set(NAN)),
            V("int", jnp.zeros(5, jnp.int32)),
            V("list", [0.0] * 5, hint="jnp.asarray"),
            V("None", None),
        ],
        lambda v: rg.esn.readout_apply(v, S),
    )
    cases += vary(
        "esn.readout_apply",
        "states",
        [V("scalar", jnp.asarray(1.0)), V("wrong_N", jnp.zeros((3, 7))), V("int", S.astype(int))],
        lambda v: rg.esn.readout_apply(w, v),
    )
    cases += [
        E(
            "esn.predict/readout=wrong_size",
            "readout",
            lambda: rg.esn.predict(esn, jnp.zeros(9), u),
        ),
        E(
            "esn.predict/inputs=wrong_size",
            "inputs",
            lambda: rg.esn.predict(esn, w, jnp.ones((40, 3))),
        ),
        E("esn.predict/h0=wrong_size", "h0", lambda: rg.esn.predict(esn, w, u, jnp.zeros(5))),
        E("esn.predict/washout=T", "washout", lambda: rg.esn.predict(esn, w, u, washout=40)),
    ]

    def gen(readout: Any = w, h: Any = h4, x0: Any = None, steps: Any = 3) -> Any:
        return rg.esn.generate(esn, readout, h, jnp.ones(1) if x0 is None else x0, steps)

    cases += vary(
        "esn.generate",
        "h",
        [
            V("wrong_size", jnp.zeros(5)),
            V("2d", jnp.zeros((1, 4))),
            V("nan", h4.at[0].set(NAN)),
            V("int", jnp.zeros(4, jnp.int32)),
            V("None", None),
        ],
        lambda v: gen(h=v),
    )
    cases += vary(
        "esn.generate",
        "x0",
        [
            V("wrong_size", jnp.ones(2)),
            V("2d", jnp.ones((1, 1))),
            V("scalar", jnp.asarray(1.0)),
            V("nan", jnp.asarray([NAN])),
        ],
        lambda v: gen(x0=v),
    )
    cases += vary("esn.generate", "steps", bad_ints(), lambda v: gen(steps=v))
    cases += vary(
        "esn.generate",
        "readout",
        [V("two_outputs", jnp.zeros((2, 5))), V("nan", w.at[4].set(NAN)), V("3d", w[None, None])],
        lambda v: gen(readout=v),
    )
    t = jnp.sin(jnp.arange(20.0))
    cases += [
        F("esn.nrmse/target=constant", "target", lambda: rg.esn.nrmse(t, jnp.ones(20))),
        E("esn.nrmse/prediction=wrong_shape", "prediction", lambda: rg.esn.nrmse(t[:5], t)),
        E("esn.nrmse/target=nan", "target", lambda: rg.esn.nrmse(t, t.at[0].set(NAN))),
        F("esn.nrmse/prediction=nan", "prediction", lambda: rg.esn.nrmse(t.at[0].set(NAN), t)),
        E("esn.nrmse/prediction=int", "prediction", lambda: rg.esn.nrmse(jnp.ones(20, int), t)),
        E("esn.nrmse/target=list", "target", lambda: rg.esn.nrmse(t, t.tolist())),
        E("esn.nrmse/target=empty", "target", lambda: rg.esn.nrmse(jnp.zeros(0), jnp.zeros(0))),
        E("esn.nrmse/target=single", "target", lambda: rg.esn.nrmse(jnp.ones(1), jnp.ones(1))),
    ]

    def mc(**kw: Any) -> Any:
        args = {"key": k, "k_max": 3, "train_length": 30, "test_length": 20, "washout": 5, **kw}
        cell = args.pop("cell", esn)
        return rg.esn.memory_capacity(cell, **args)

    cases += [
        E("esn.memory_capacity/test_length=1", "test_length", lambda: mc(test_length=1)),
        E("esn.memory_capacity/test_length=0", "test_length", lambda: mc(test_length=0)),
        E("esn.memory_capacity/train_length=1", "train_length", lambda: mc(train_length=1)),
        E("esn.memory_capacity/train_length=0", "train_length", lambda: mc(train_length=0)),
        E("esn.memory_capacity/k_max=0", "k_max", lambda: mc(k_max=0)),
        E("esn.memory_capacity/k_max=2.5", "k_max", lambda: mc(k_max=2.5)),
        E("esn.memory_capacity/washout=below_k_max", "washout", lambda: mc(washout=1)),
        E("esn.memory_capacity/ridge=-1", "ridge", lambda: mc(ridge=-1.0)),
        E("esn.memory_capacity/ridge=nan", "ridge", lambda: mc(ridge=NAN)),
        E(
            "esn.memory_capacity/input_range=reversed",
            "input_range",
            lambda: mc(input_range=(1.0, 0.0)),
        ),
        E("esn.memory_capacity/input_range=str", "input_range", lambda: mc(input_range=("a", "b"))),
        E("esn.memory_capacity/input_range=nan", "input_range", lambda: mc(input_range=(0.0, NAN))),
        E("esn.memory_capacity/input_range=one", "input_range", lambda: mc(input_range=(0.0,))),
        E("esn.memory_capacity/key=None", "key", lambda: mc(key=None)),
        E("esn.memory_capacity/key=int", "key", lambda: mc(key=12)),
        E(
            "esn.memory_capacity/cell=input_size_2",
            "cell",
            lambda: mc(cell=rg.EchoStateCell(2, 4, key=k)),
        ),
        F("esn.memory_capacity/ridge=0", "ridge", lambda: mc(ridge=0.0)),
        E(
            "esn.memory_curve/test_length=1",
            "test_length",
            lambda: rg.esn.memory_curve(
                esn, key=k, k_max=3, train_length=30, test_length=1, washout=5
            ),
        ),
        E("esn.memory_curve/key=str", "key", lambda: rg.esn.memory_curve(esn, key="k", k_max=3)),
    ]

    def esp(**kw: Any) -> Any:
        args = {"key": k, **kw}
        return rg.esn.echo_state_property(esn, args.pop("inputs", u), **args)

    cases += vary("esn.echo_state_property", "key", bad_keys(k)[:5], lambda v: esp(key=v))
    cases += vary(
        "esn.echo_state_property", "num_pairs", bad_ints()[:6], lambda v: esp(num_pairs=v)
    )
    cases += vary(
        "esn.echo_state_property", "init_scale", bad_reals()[:8], lambda v: esp(init_scale=v)
    )
    cases += vary(
        "esn.echo_state_property", "tol", bad_reals(zero="flag_or_finite")[:7], lambda v: esp(tol=v)
    )
    cases += vary(
        "esn.echo_state_property",
        "inputs",
        [
            V("nan", u.at[0, 0].set(NAN)),
            V("T=0", jnp.zeros((0, 1))),
            V("list", u.tolist()),
            V("wrong_size", jnp.ones((40, 2))),
        ],
        lambda v: esp(inputs=v),
    )
    cases += vary(
        "esn.effective_spectral_radius",
        "cell",
        [V("VanillaCell", fx.cell), V("str", "esn"), V("lstm", fx.lstm), V("None", None)],
        rg.esn.effective_spectral_radius,
    )

    def sel(**kw: Any) -> Any:
        args = {"ridges": [1e-6, 1.0], "validation": (S, y), **kw}
        return rg.esn.select_ridge(S, y, **args)

    cases += vary(
        "esn.select_ridge",
        "ridges",
        [
            V("empty", []),
            V("negative", [-1.0]),
            V("nan", [NAN]),
            V("str", "abc"),
            V("2d", [[1.0, 2.0]]),
            V("None", None),
            V("scalar", 1e-6),
        ],
        lambda v: sel(ridges=v),
    )
    cases += [
        E(
            "esn.select_ridge/validation=and_score",
            "score",
            lambda: sel(score=lambda r: jnp.sum(r)),
        ),
        E(
            "esn.select_ridge/validation=None_and_no_score",
            "validation",
            lambda: sel(validation=None),
        ),
        E("esn.select_ridge/validation=list", "validation", lambda: sel(validation=[S, y])),
        E(
            "esn.select_ridge/validation=wrong_N",
            "validation",
            lambda: sel(validation=(jnp.ones((5, 7)), jnp.ones(5))),
        ),
        E(
            "esn.select_ridge/score=vector",
            "score",
            lambda: sel(validation=None, score=lambda r: r),
        ),
        E("esn.select_ridge/score=str", "score", lambda: sel(validation=None, score="nrmse")),
        F(
            "esn.select_ridge/ridges=0_collinear",
            "ridges",
            lambda: rg.esn.select_ridge(collinear, y, ridges=[0.0], validation=(collinear, y)),
        ),
    ]
    return cases


def analysis_cases(fx: Fx) -> list[Case]:
    cases = []
    cases += [
        E("wilson_interval/successes>trials", "successes", lambda: wilson_interval(5, 3)),
        E("wilson_interval/successes=-1", "successes", lambda: wilson_interval(-1, 3)),
        E("wilson_interval/successes=1.5", "successes", lambda: wilson_interval(1.5, 3)),
        E("wilson_interval/successes=str", "successes", lambda: wilson_interval("a", 3)),
        E("wilson_interval/trials=-5", "trials", lambda: wilson_interval(0, -5)),
        F("wilson_interval/trials=0", "trials", lambda: wilson_interval(0, 0)),
        E("wilson_interval/trials=str", "trials", lambda: wilson_interval(1, "3")),
        E("wilson_interval/z=-1", "z", lambda: wilson_interval(1, 3, z=-1.0)),
        E("wilson_interval/z=nan", "z", lambda: wilson_interval(1, 3, z=NAN)),
        E("wilson_interval/z=str", "z", lambda: wilson_interval(1, 3, z="a")),
    ]
    ok = [True, False, False]
    cases += vary(
        "success_stats",
        "solved",
        [
            V("empty", []),
            V("2d", [[True]]),
            V("ints", [1, 0]),
            V("None", None),
            V("str", "yes"),
            V("floats", [1.0, 0.0]),
            V("scalar", True),
        ],
        rg.success_stats,
    )
    cases += [
        E(
            "success_stats/test_loss=without_baseline",
            "baseline",
            lambda: rg.success_stats(ok, test_loss=[0.1, 0.2, 0.3]),
        ),
        E(
            "success_stats/test_loss=wrong_length",
            "test_loss",
            lambda: rg.success_stats(ok, test_loss=[0.1], baseline=0.2),
        ),
        F(
            "success_stats/test_loss=nan",
            "test_loss",
            lambda: rg.success_stats(ok, test_loss=[NAN, 0.1, 0.2], baseline=0.2),
        ),
        E(
            "success_stats/test_loss=str",
            "test_loss",
            lambda: rg.success_stats(ok, test_loss=["a", "b", "c"], baseline=0.2),
        ),
        E(
            "success_stats/baseline=nan",
            "baseline",
            lambda: rg.success_stats(ok, test_loss=[0.1, 0.2, 0.3], baseline=NAN),
        ),
        E(
            "success_stats/baseline=str",
            "baseline",
            lambda: rg.success_stats(ok, test_loss=[0.1, 0.2, 0.3], baseline="a"),
        ),
        E(
            "success_stats/tolerance=-1",
            "tolerance",
            lambda: rg.success_stats(ok, test_loss=[0.1, 0.2, 0.3], baseline=0.2, tolerance=-1.0),
        ),
        E(
            "success_stats/tolerance=nan",
            "tolerance",
            lambda: rg.success_stats(ok, test_loss=[0.1, 0.2, 0.3], baseline=0.2, tolerance=NAN),
        ),
    ]
    prof = jnp.arange(6.0) * -0.3
    cases += vary(
        "growth_rate",
        "log10_profile",
        [
            V("list", prof.tolist(), "flag_or_finite"),
            V("int", jnp.arange(6)),
            V("length_1", prof[:1]),
            V("scalar", jnp.asarray(1.0)),
            V("-inf", prof.at[3].set(-INF)),
            V("nan", prof.at[3].set(NAN)),
            V("complex", prof.astype(jnp.complex128)),
            V("None", None),
            V("str", "abc"),
            V("bool", prof > -1),
            V("batched", jnp.stack([prof, 2 * prof]), "flag_or_finite"),
        ],
        rg.growth_rate,
    )
    cases += vary(
        "growth_rate",
        "start",
        bad_ints(zero="flag_or_finite") + [V("T-1", 5), V("T", 6)],
        lambda v: rg.growth_rate(prof, start=v),
    )
    model = rg.RNNModel(rg.VanillaCell(2, 3, key=fx.key), 1, key=fx.key)
    bx, by = fx.task.batch(fx.key, 2)
    copy = rg.CopyTask(5, pattern_length=2)
    cases += [
        E(
            "task_lag_profile/task=str",
            "task",
            lambda: rg.task_lag_profile(model.cell, "adding", bx, by, readout=model.readout),
        ),
        E(
            "task_lag_profile/task=copy",
            "task",
            lambda: rg.task_lag_profile(model.cell, copy, bx, by, readout=model.readout),
        ),
        E(
            "task_lag_profile/readout=None",
            "readout",
            lambda: rg.task_lag_profile(model.cell, fx.task, bx, by, readout=None),
        ),
        E(
            "task_lag_profile/xs=unbatched",
            "xs",
            lambda: rg.task_lag_profile(model.cell, fx.task, bx[0], by, readout=model.readout),
        ),
        E(
            "task_lag_profile/xs=wrong_size",
            "xs",
            lambda: rg.task_lag_profile(
                model.cell, fx.task, jnp.ones((2, 10, 3)), by, readout=model.readout
            ),
        ),
        E(
            "task_lag_profile/xs=nan",
            "xs",
            lambda: rg.task_lag_profile(
                model.cell, fx.task, bx.at[0, 0, 0].set(NAN), by, readout=model.readout
            ),
        ),
        E(
            "task_lag_profile/ys=wrong_batch",
            "ys",
            lambda: rg.task_lag_profile(model.cell, fx.task, bx, by[:1], readout=model.readout),
        ),
    ]
    return cases


def tasks_cases(fx: Fx) -> list[Case]:
    k, cases = fx.key, []
    task_classes = {
        "AddingTask": rg.AddingTask,
        "MultiplicationTask": rg.MultiplicationTask,
        "TemporalOrderTask": rg.TemporalOrderTask,
        "CopyTask": rg.CopyTask,
    }
    for name, cls in task_classes.items():
        cases += vary(
            name,
            "length",
            bad_ints() + [V("too_short", 5)],
            lambda v, cls=cls: cls(v),
        )
        cases += vary(name, "dtype", bad_dtypes()[:4], lambda v, cls=cls: cls(30, dtype=v))
        cases += vary(
            f"{name}.sample", "key", bad_keys(k)[:5], lambda v, cls=cls: cls(30).sample(v)
        )
        cases += vary(
            f"{name}.batch", "batch_size", bad_ints()[:7], lambda v, cls=cls: cls(30).batch(k, v)
        )
    for name in ("AddingTask", "MultiplicationTask"):
        cls = task_classes[name]
        cases += vary(
            name,
            "value_range",
            [
                V("reversed", (1.0, 0.0)),
                V("nan", (0.0, NAN)),
                V("inf", (0.0, INF)),
                V("str", "ab"),
                V("triple", (0.0, 1.0, 2.0)),
                V("None", None),
                V("equal", (1.0, 1.0)),
            ],
            lambda v, cls=cls: cls(30, value_range=v),
        )
    cases += vary(
        "AddingTask",
        "variant",
        [V("prod", "prod"), V("None", None), V("bool", True)],
        lambda v: rg.AddingTask(30, variant=v),
    )
    cases += vary(
        "TemporalOrderTask",
        "bits",
        [V("4", 4), V("float", 2.0), V("str", "2"), V("bool", True)],
        lambda v: rg.TemporalOrderTask(30, bits=v),
    )
    cases += vary(
        "CopyTask", "pattern_length", bad_ints()[:7], lambda v: rg.CopyTask(30, pattern_length=v)
    )
    cases += vary(
        "CopyTask",
        "n_symbols",
        [V("1", 1), V("0", 0), V("float", 3.5)],
        lambda v: rg.CopyTask(30, n_symbols=v),
    )
    cases += vary(
        "CopyTask",
        "loss_steps",
        [V("some", "some"), V("None", None)],
        lambda v: rg.CopyTask(30, loss_steps=v),
    )
    cases += vary(
        "CopyTask.from_delay",
        "delay",
        [V("-1", -1), V("float", 2.5), V("None", None)],
        lambda v: rg.CopyTask.from_delay(v),
    )
    add = rg.AddingTask(30)
    cases += vary(
        "AddingTask.loss",
        "prediction",
        [
            V("wrong_shape", jnp.zeros(2)),
            V("2d", jnp.zeros((1, 1))),
            V("int", jnp.zeros(1, int)),
            V("list", [0.5]),
            V("scalar", jnp.asarray(0.5)),
            V("None", None),
        ],
        lambda v: add.loss(v, jnp.ones(1)),
    )
    cases += vary(
        "AddingTask.loss",
        "y",
        [
            V("wrong_shape", jnp.ones(3)),
            V("2d", jnp.ones((4, 1))),
            V("None", None),
            V("str", "1.0"),
            V("nan", jnp.asarray([NAN])),
        ],
        lambda v: add.loss(jnp.zeros(1), v),
    )
    order = rg.TemporalOrderTask(30)
    logits = jnp.zeros(order.output_size)
    cases += vary(
        "TemporalOrderTask.loss",
        "y",
        [
            V("out_of_range", jnp.asarray(99)),
            V("negative", jnp.asarray(-1)),
            V("float", jnp.asarray(1.0)),
            V("shape_2", jnp.asarray([1, 2])),
            V("bool", jnp.asarray(True)),
            V("python_int_99", 99),
        ],
        lambda v: order.loss(logits, v),
    )
    copy = rg.CopyTask(7, pattern_length=2, n_symbols=3)
    _, target = copy.sample(k)
    bad_target = rg.tasks.SequenceTarget
    cases += vary(
        "CopyTask.loss",
        "y",
        [
            V("labels_out_of_range", bad_target(target.labels.at[-1].set(50), target.mask)),
            V("mask_all_false", bad_target(target.labels, jnp.zeros(7, bool))),
            V("labels_wrong_length", bad_target(target.labels[:3], target.mask)),
            V("plain_array", target.labels),
            V("float_labels", bad_target(target.labels.astype(float), target.mask)),
        ],
        lambda v: copy.loss(jnp.zeros(copy.prediction_shape), v),
    )
    cases += vary(
        "AddingTask.is_correct",
        "criterion",
        [V("strict", "strict"), V("None", None)],
        lambda v: add.is_correct(jnp.zeros(1), jnp.ones(1), criterion=v),
    )
    cases += [
        E(
            "AddingTask.error_rate/ys=wrong_batch",
            "ys",
            lambda: add.error_rate(jnp.zeros((4, 1)), jnp.zeros((3, 1))),
        ),
        E(
            "AddingTask.error_rate/predictions=unbatched",
            "predictions",
            lambda: add.error_rate(jnp.zeros(1), jnp.zeros(1)),
        ),
        E(
            "AddingTask.solved/criterion=str",
            "criterion",
            lambda: add.solved(jnp.zeros((4, 1)), jnp.zeros((4, 1)), criterion="x"),
        ),
    ]
    cases += vary(
        "make_task",
        "name",
        [V("unknown", "add"), V("int", 3), V("None", None), V("case", "Adding")],
        lambda v: rg.make_task(v, 30),
    )
    cases += [
        E("make_task/variant=bad", "variant", lambda: rg.make_task("adding", 30, variant="x")),
        E("make_task/bits=clash", "bits", lambda: rg.make_task("temporal_order", 30, bits=3)),
        E("make_task/foo=unknown_option", "foo", lambda: rg.make_task("adding", 30, foo=1)),
        E("make_task/length=str", "length", lambda: rg.make_task("copy", "30")),
    ]
    mg = rg.tasks.mackey_glass
    cases += vary("mackey_glass", "n_samples", bad_ints()[:7], lambda v: mg(v))
    cases += vary("mackey_glass", "dtype", bad_dtypes()[:4], lambda v: mg(50, dtype=v))
    cases += vary(
        "mackey_glass",
        "tau",
        [V("0", 0.0), V("not_multiple", 17.5), V("nan", NAN), V("str", "17")],
        lambda v: mg(50, tau=v),
    )
    cases += vary(
        "mackey_glass", "dt", [V("0", 0.0), V("nan", NAN), V("-1", -1.0)], lambda v: mg(50, dt=v)
    )
    for arg in ("a", "b", "n", "x0"):
        cases += vary(
            "mackey_glass",
            arg,
            [V("nan", NAN), V("str", "1"), V("None", None)],
            lambda v, arg=arg: mg(50, **{arg: v}),
        )
    cases += [
        E("mackey_glass/midpoint=cubic", "midpoint", lambda: mg(50, midpoint="cubic")),
        E("mackey_glass/subsample=0", "subsample", lambda: mg(50, subsample=0)),
        F("mackey_glass/x0=huge", "x0", lambda: mg(50, x0=1e10)),
        F("mackey_glass/n=0.5_fractional_power", "n", lambda: mg(50, n=0.5, x0=-1.0)),
    ]
    return cases


def sweep_cases(fx: Fx) -> list[Case]:
    """``rg.sweep``, ``SweepResult.save`` and ``rg.load_sweep`` on corrupted files."""
    cell, xs, c0, cases = fx.cell, fx.xs, fx.c0, []

    def on_scale(scale: Any) -> Any:
        return rg.final_carry(rg.scale_recurrent(cell, scale), xs, c0)

    def with_key(scale: Any, seed: Any, key: Any) -> Any:
        return scale * jax.random.normal(key, (2,))

    grid = jnp.linspace(0.5, 1.5, 3)
    cases += [
        E("sweep/fn=str", "fn", lambda: rg.sweep("fn", scale=grid)),
        E("sweep/axes=none", "axes", lambda: rg.sweep(on_scale), also=("axis",)),
    ]
    cases += vary(
        "sweep",
        "scale",
        [
            V("str", "abc"),
            V("empty", []),
            V("2d", jnp.ones((2, 2))),
            V("nan_value", jnp.asarray([NAN, 1.0])),
            V("inf_value", jnp.asarray([INF, 1.0])),
            V("mixed_types", [1, "a"]),
            V("complex", jnp.asarray([1j, 2.0])),
            V("None", None),
            V("scalar", 1.0),
            V("ragged", [[1.0], [1.0, 2.0]]),
            V("bool", jnp.asarray([True, False])),
            V("list", [0.5, 1.0], "flag_or_finite"),
        ],
        lambda v: rg.sweep(on_scale, scale=v),
    )
    cases += [
        E("sweep/axis_name=not_a_parameter", "gain", lambda: rg.sweep(on_scale, gain=grid)),
        E(
            "sweep/axis=missing_parameter",
            "scale",
            lambda: rg.sweep(lambda scale, other: scale * other, scale=grid),
        ),
    ]
    cases += vary(
        "sweep",
        "chunk_size",
        valid(bad_ints()[:7], "None"),
        lambda v: rg.sweep(on_scale, chunk_size=v, scale=grid),
    )
    cases += vary(
        "sweep",
        "devices",
        [
            V("empty", []),
            V("str", "cpu"),
            V("None_entry", [None]),
            V("one_device", jax.devices()[0]),
            V("int", 1),
        ],
        lambda v: rg.sweep(on_scale, devices=v, scale=grid),
    )
    seeds = jnp.arange(2)
    cases += [
        E("sweep/key=int", "key", lambda: rg.sweep(with_key, key=0, scale=grid, seed=seeds)),
        E("sweep/key=str", "key", lambda: rg.sweep(with_key, key="k", scale=grid, seed=seeds)),
        E(
            "sweep/key=batched",
            "key",
            lambda: rg.sweep(with_key, key=jax.random.split(fx.key, 2), scale=grid, seed=seeds),
        ),
        E(
            "sweep/key=without_seed_axis",
            "seed",
            lambda: rg.sweep(lambda scale, key: scale, key=fx.key, scale=grid),
        ),
        E(
            "sweep/seed=float_axis",
            "seed",
            lambda: rg.sweep(with_key, key=fx.key, scale=grid, seed=jnp.arange(2.0)),
        ),
        E(
            "sweep/seed=negative",
            "seed",
            lambda: rg.sweep(with_key, key=fx.key, scale=grid, seed=jnp.asarray([-1, 0])),
        ),
        E(
            "sweep/fn=without_key_parameter",
            "key",
            lambda: rg.sweep(lambda scale, seed: scale, key=fx.key, scale=grid, seed=seeds),
        ),
        E("sweep/fn=returns_str", "fn", lambda: rg.sweep(lambda scale: "x", scale=grid)),
        E("sweep/fn=returns_None", "fn", lambda: rg.sweep(lambda scale: None, scale=grid)),
        F("sweep/fn=returns_python_float", "fn", lambda: rg.sweep(lambda scale: 1.0, scale=grid)),
        E("sweep/progress=str", "progress", lambda: rg.sweep(on_scale, progress="no", scale=grid)),
    ]

    # SweepResult: construction and save.
    res = rg.SweepResult({"a": np.arange(2)}, np.zeros((2, 3)))
    cases += [
        E("SweepResult.save/path=int", "path", lambda: res.save(123)),
        E("SweepResult.save/path=None", "path", lambda: res.save(None)),
        E("SweepResult.save/path=directory", "path", lambda: res.save(fx.tmp), also=(str(fx.tmp),)),
        E(
            "SweepResult.save/values=object_dtype",
            "values",
            lambda: rg.SweepResult({"a": np.arange(2)}, np.array([None, 1], object)).save(
                fx.path("o.npz")
            ),
        ),
        E(
            "SweepResult.save/values=str",
            "values",
            lambda: rg.SweepResult({"a": np.arange(2)}, "abc").save(fx.path("s.npz")),
        ),
        E(
            "SweepResult.save/values=None",
            "values",
            lambda: rg.SweepResult({"a": np.arange(2)}, None).save(fx.path("n.npz")),
        ),
        E(
            "SweepResult/axes=length_disagrees_with_values",
            "values",
            lambda: rg.SweepResult({"a": np.arange(3)}, np.zeros((2, 3))),
        ),
        E("SweepResult/axes=str", "axes", lambda: rg.SweepResult("abc", np.zeros(3))),
        E(
            "SweepResult/axes=2d_axis",
            "axes",
            lambda: rg.SweepResult({"a": np.zeros((2, 2))}, np.zeros((2, 2))),
        ),
        E(
            "SweepResult/axes=object_axis",
            "axes",
            lambda: rg.SweepResult({"a": np.array([None, 1], object)}, np.zeros(2)).save(
                fx.path("a.npz")
            ),
            also=("axis",),
        ),
    ]

    # Corrupted files.
    def write(name: str, data: bytes) -> Path:
        path = fx.path(name)
        path.write_bytes(data)
        return path

    def npz(name: str, **arrays: Any) -> Path:
        path = fx.path(name)
        np.savez(path, **arrays)
        return path

    def meta(obj: Any) -> np.ndarray:
        return np.frombuffer(json.dumps(obj).encode(), np.uint8)

    good_meta = {"format": "rnngrad.sweep", "version": 1, "axes": ["a"], "values": [""]}
    ax, vals = np.arange(2.0), np.zeros((2, 3))

    def corrupt_header() -> Path:
        src = fx.sweep_file
        path = fx.path("bad_header.npz")
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path, "w") as zout:
            for item in zin.infolist():
                data = zin.read(item.filename)
                if item.filename == "value0.npy":
                    data = data[:10] + b"{'descr': 'garbage'" + data[29:]
                zout.writestr(item, data)
        return path

    def load(make_path: Callable[[], Any], **kw: Any) -> Callable[[], Any]:
        return lambda: rg.load_sweep(make_path(), **kw)

    missing = fx.tmp / "does_not_exist.npz"
    cases += [
        E("load_sweep/file=empty", "path", load(lambda: write("empty.npz", b""))),
        E(
            "load_sweep/file=truncated",
            "path",
            load(lambda: write("trunc.npz", fx.sweep_file.read_bytes()[:300])),
        ),
        E("load_sweep/file=text", "path", load(lambda: write("t.npz", b"hello"))),
        E(
            "load_sweep/meta=json_list",
            "path",
            load(lambda: npz("l.npz", __meta__=meta([1, 2]), axis0=ax, value0=vals)),
        ),
        E(
            "load_sweep/meta=json_string",
            "path",
            load(lambda: npz("js.npz", __meta__=meta("x"), axis0=ax, value0=vals)),
        ),
        E(
            "load_sweep/meta=not_utf8",
            "path",
            load(lambda: npz("u.npz", __meta__=np.frombuffer(b"\xff\xfe", np.uint8))),
        ),
        E("load_sweep/meta=missing", "path", load(lambda: npz("m.npz", axis0=ax, value0=vals))),
        E(
            "load_sweep/meta=no_axes_key",
            "path",
            load(
                lambda: npz(
                    "k.npz", __meta__=meta({"format": "rnngrad.sweep", "values": [""]}), value0=vals
                )
            ),
        ),
        E(
            "load_sweep/meta=future_version",
            "path",
            load(
                lambda: npz(
                    "v.npz", __meta__=meta({**good_meta, "version": 99}), axis0=ax, value0=vals
                )
            ),
        ),
        E(
            "load_sweep/meta=missing_member",
            "path",
            load(
                lambda: npz(
                    "mm.npz",
                    __meta__=meta({**good_meta, "values": ["a", "b"]}),
                    axis0=ax,
                    value0=vals,
                )
            ),
        ),
        E(
            "load_sweep/member=object_array",
            "path",
            load(
                lambda: npz(
                    "ob.npz", __meta__=meta(good_meta), axis0=ax, value0=np.array([None, 1], object)
                )
            ),
        ),
        E("load_sweep/member=corrupted_npy_header", "path", load(corrupt_header)),
        E(
            "load_sweep/axis=length_disagrees_with_values",
            "path",
            load(
                lambda: npz("len.npz", __meta__=meta(good_meta), axis0=np.arange(5.0), value0=vals)
            ),
        ),
        E(
            "load_sweep/axis=2d",
            "path",
            load(
                lambda: npz("a2.npz", __meta__=meta(good_meta), axis0=np.zeros((2, 2)), value0=vals)
            ),
        ),
        E("load_sweep/path=int", "path", lambda: rg.load_sweep(123)),
        E("load_sweep/path=None", "path", lambda: rg.load_sweep(None)),
        E("load_sweep/path=directory", "path", lambda: rg.load_sweep(fx.tmp), also=(str(fx.tmp),)),
        E(
            "load_sweep/path=missing",
            "path",
            lambda: rg.load_sweep(missing),
            also=(str(missing),),
            good_types=(FileNotFoundError,),
        ),
        E(
            "load_sweep/like=other_shape",
            "like",
            lambda: rg.load_sweep(fx.sweep_file, like=jnp.zeros(5)),
        ),
        E(
            "load_sweep/like=two_leaves",
            "like",
            lambda: rg.load_sweep(fx.sweep_file, like=(jnp.zeros(1), jnp.zeros(1))),
        ),
        E("load_sweep/like=str", "like", lambda: rg.load_sweep(fx.sweep_file, like="values")),
    ]
    return cases


def training_cases(fx: Fx) -> list[Case]:
    k, cases = fx.key, []
    tb = functools.partial(train_base, fx)
    cases += vary("train", "key", bad_keys(k)[:5], lambda v: tb(key=v))
    cases += vary(
        "train",
        "make_cell",
        [
            V("str", "cell"),
            V("None", None),
            V("no_key_parameter", lambda: rg.VanillaCell(2, 3, key=k)),
            V("returns_None", lambda key: None),
            V("returns_str", lambda key: "cell"),
            V("wrong_input_size", lambda key: rg.VanillaCell(3, 3, key=key)),
            V("a_cell_not_a_maker", rg.VanillaCell(2, 3, key=k)),
        ],
        lambda v: tb(make_cell=v),
    )
    cases += vary(
        "train",
        "task",
        [V("str", "adding"), V("None", None), V("class", rg.AddingTask)],
        lambda v: tb(task=v),
    )
    cases += vary(
        "train",
        "optimizer",
        [V("str", "adam"), V("factory_not_called", optax.adam), V("None", None)],
        lambda v: tb(optimizer=v),
    )
    cases += vary("train", "steps", bad_ints()[:7], lambda v: tb(steps=v))
    cases += vary("train", "batch_size", bad_ints()[:7], lambda v: tb(batch_size=v))
    cases += vary("train", "seeds", bad_ints()[:7], lambda v: tb(seeds=v))
    cases += vary("train", "test_size", [V("0", 0), V("float", 2.5)], lambda v: tb(test_size=v))
    cases += vary(
        "train", "chunk_steps", [V("3", 3), V("0", 0), V("float", 1.0)], lambda v: tb(chunk_steps=v)
    )
    cases += vary("train", "on_chunk", [V("str", "x"), V("int", 3)], lambda v: tb(on_chunk=v))
    cases += vary(
        "train",
        "objective",
        [V("str", "bptt"), V("class", rg.BPTT)],
        lambda v: tb(objective=v),
    )
    cases.append(
        E(
            "train/objective=k2_above_T",
            "objective",
            lambda: tb(objective=rg.TruncatedBPTT(20, 20)),
            also=("k2",),
        )
    )
    cases += vary(
        "train",
        "penalties",
        [
            V("str", "omega"),
            V("pairs", [("omega", 1.0)]),
            V("class", rg.Omega),
            V("mixed", [rg.Omega(1.0), "x"]),
            V("dict", {"omega": 1.0}),
        ],
        lambda v: tb(penalties=v),
    )
    for name, value in (
        ("tbptt", 5),
        ("omega", 1.0),
        ("flossing", True),
        ("flossing_n", 2),
        ("lr", 0.1),
    ):
        cases.append(E(f"train/{name}=removed_flag", name, lambda n=name, v=value: tb(**{n: v})))

    # Checkpoint folders.
    def ckpt_dir(files: dict[str, bytes | None]) -> Path:
        folder = fx.path("ckpt")
        folder.mkdir()
        for name, data in files.items():
            if data is not None:
                (folder / name).write_bytes(data)
        return folder

    def existing_file() -> Path:
        path = fx.path("a_file")
        path.write_text("not a folder")
        return path

    def other_args() -> Path:
        _, base = fx.trained
        folder = fx.path("ckpt_copy")
        shutil.copytree(base, folder)
        return folder

    def corrupted_state() -> Path:
        folder = other_args()
        (folder / "state.eqx").write_bytes(b"\x00garbage" * 10)
        return folder

    cases += [
        E(
            "train/checkpoint_dir=existing_file",
            "checkpoint_dir",
            lambda: tb(checkpoint_dir=existing_file()),
        ),
        E("train/checkpoint_dir=int", "checkpoint_dir", lambda: tb(checkpoint_dir=123)),
        E(
            "train/checkpoint_dir=empty_run.json",
            "checkpoint_dir",
            lambda: tb(checkpoint_dir=ckpt_dir({"run.json": b""})),
        ),
        E(
            "train/checkpoint_dir=run.json_is_list",
            "checkpoint_dir",
            lambda: tb(checkpoint_dir=ckpt_dir({"run.json": b"[]"})),
        ),
        E(
            "train/checkpoint_dir=run.json_binary",
            "checkpoint_dir",
            lambda: tb(checkpoint_dir=ckpt_dir({"run.json": b"\xff\xfe\x00"})),
        ),
        E(
            "train/checkpoint_dir=run.json_old_format",
            "checkpoint_dir",
            lambda: tb(checkpoint_dir=ckpt_dir({"run.json": b"{}"})),
        ),
        E(
            "train/checkpoint_dir=garbage_state.eqx",
            "checkpoint_dir",
            lambda: tb(checkpoint_dir=ckpt_dir({"state.eqx": b"\x00garbage" * 10})),
        ),
        E(
            "train/checkpoint_dir=empty_state.eqx",
            "checkpoint_dir",
            lambda: tb(checkpoint_dir=ckpt_dir({"state.eqx": b""})),
        ),
        E(
            "train/checkpoint_dir=state.eqx_is_folder",
            "checkpoint_dir",
            lambda: tb(checkpoint_dir=(lambda d: ((d / "state.eqx").mkdir(), d)[1])(ckpt_dir({}))),
        ),
        E(
            "train/checkpoint_dir=corrupted_state_of_this_run",
            "checkpoint_dir",
            lambda: tb(checkpoint_dir=corrupted_state(), chunk_steps=1),
        ),
        E(
            "train/checkpoint_dir=other_arguments",
            "checkpoint_dir",
            lambda: tb(checkpoint_dir=other_args(), steps=4, chunk_steps=1),
        ),
    ]

    # Objectives, penalties and the optimiser helper.
    cases += vary("Omega", "strength", bad_reals(zero="flag_or_finite")[:9], rg.Omega)
    cases += [
        E("Omega/reduction=max", "reduction", lambda: rg.Omega(1.0, reduction="max")),
        E("Omega/mask_below=-1", "mask_below", lambda: rg.Omega(1.0, mask_below=-1.0)),
        E("Omega/squared_norms=str", "squared_norms", lambda: rg.Omega(1.0, squared_norms="yes")),
    ]
    cases += vary("Flossing", "strength", bad_reals(zero="flag_or_finite")[:6], rg.Flossing)
    cases += vary("Flossing", "n", bad_ints()[:7], lambda v: rg.Flossing(1.0, n=v))
    cases += vary(
        "Flossing",
        "target",
        bad_reals(zero="flag_or_finite", negative="flag_or_finite")[:5],
        lambda v: rg.Flossing(1.0, target=v),
    )
    cases += vary(
        "Flossing",
        "warmup",
        [V("-1", -1), V("float", 2.5), V("str", "2")],
        lambda v: rg.Flossing(1.0, warmup=v),
    )
    cases += vary(
        "TruncatedBPTT", "k1", bad_ints()[:7] + [V("above_k2", 9)], lambda v: rg.TruncatedBPTT(v, 5)
    )
    cases += vary("TruncatedBPTT", "k2", bad_ints()[:7], lambda v: rg.TruncatedBPTT(1, v))
    sgd = optax.sgd(0.1)
    cases.append(
        E("clipped/optimizer=str", "optimizer", lambda: rg.clipped("adam", global_norm=1.0))
    )
    cases.append(E("clipped/optimizer=None", "optimizer", lambda: rg.clipped(None)))
    cases.append(
        E("clipped/optimizer=factory", "optimizer", lambda: rg.clipped(optax.adam, value=1.0))
    )
    for arg in ("global_norm", "value", "adaptive"):
        cases += vary(
            "clipped",
            arg,
            valid(bad_reals()[:9], "None"),
            lambda v, arg=arg: rg.clipped(sgd, **{arg: v}),
        )
    cases += vary(
        "clipped",
        "skip_nonfinite",
        valid(bad_ints()[:7], "None"),
        lambda v: rg.clipped(sgd, skip_nonfinite=v),
    )

    # truncated_loss, pascanu_omega, flossing_penalty, floss: their own arguments.
    cell, xs, c0, ys = fx.cell, fx.xs, fx.c0, fx.ys

    def tl(**kw: Any) -> Any:
        args = {"step_loss": sq_loss, "ys": ys, "k1": 2, "k2": 3, **kw}
        return rg.truncated_loss(cell, xs, c0, args.pop("step_loss"), args.pop("ys"), **args)

    cases += vary("truncated_loss", "k1", bad_ints()[:7] + [V("above_k2", 4)], lambda v: tl(k1=v))
    cases += vary("truncated_loss", "k2", bad_ints()[:7] + [V("above_T", 7)], lambda v: tl(k2=v))
    cases += vary(
        "truncated_loss",
        "ys",
        [
            V("4_steps_short", ys[:2]),
            V("long", jnp.zeros((9, 3))),
            V("None", None),
            V("nan", ys.at[0, 0].set(NAN)),
            V("list", ys.tolist(), hint="jnp.asarray"),
        ],
        lambda v: tl(ys=v),
    )
    cases += vary(
        "truncated_loss",
        "step_loss",
        [
            V("None", None),
            V("str", "mse"),
            V("one_argument", lambda h: jnp.sum(h)),
            V("vector", lambda h, y: h),
        ],
        lambda v: tl(step_loss=v),
    )

    def om(**kw: Any) -> Any:
        args = {"step_loss": sq_loss, "ys": ys, **kw}
        return rg.pascanu_omega(cell, xs, c0, args.pop("step_loss"), args.pop("ys"), **args)

    cases += vary(
        "pascanu_omega",
        "mask_below",
        bad_reals(zero="flag_or_finite")[:8],
        lambda v: om(mask_below=v),
    )
    cases += vary(
        "pascanu_omega", "reduction", [V("max", "max"), V("None", None)], lambda v: om(reduction=v)
    )
    cases += vary(
        "pascanu_omega", "squared_norms", [V("str", "yes")], lambda v: om(squared_norms=v)
    )
    cases += vary("pascanu_omega", "through_states", [V("int", 1)], lambda v: om(through_states=v))
    cases += vary(
        "pascanu_omega",
        "ys",
        [V("short", ys[:2]), V("nan", ys.at[0, 0].set(NAN)), V("None", None)],
        lambda v: om(ys=v),
    )
    cases += vary(
        "pascanu_omega",
        "step_loss",
        [
            V("None", None),
            V("one_argument", lambda h: jnp.sum(h)),
            V("vector", lambda h, y: h),
            V("nan", lambda h, y: jnp.sum(h) * NAN),
        ],
        lambda v: om(step_loss=v),
    )

    def fp(**kw: Any) -> Any:
        return rg.flossing_penalty(cell, xs, c0, **kw)

    cases += vary("flossing_penalty", "n", bad_ints()[:7] + [V("above_S", 4)], lambda v: fp(n=v))
    cases += vary(
        "flossing_penalty",
        "target",
        bad_reals(zero="flag_or_finite", negative="flag_or_finite")[:5]
        + [V("vector", jnp.zeros(2))],
        lambda v: fp(target=v),
    )
    cases += vary("flossing_penalty", "warmup", [V("-1", -1), V("T", 6)], lambda v: fp(warmup=v))

    def fl(**kw: Any) -> Any:
        args = {"n": 1, "steps": 2, **kw}
        return rg.floss(cell, args.pop("xs", xs), c0, **args)

    cases += vary("floss", "steps", bad_ints()[:7], lambda v: fl(steps=v))
    cases += vary(
        "floss",
        "optimizer",
        [V("str", "adam"), V("factory", optax.adam)],
        lambda v: fl(optimizer=v),
    )
    cases += vary("floss", "n", [V("0", 0), V("above_S", 4)], lambda v: fl(n=v))
    cases += vary("floss", "filter_spec", [V("str", "x"), V("int", 3)], lambda v: fl(filter_spec=v))
    cases.append(E("floss/xs=nan", "xs", lambda: fl(xs=xs.at[0, 0].set(NAN))))

    # RNNModel, train_keys, TrainResult.
    cases += vary("RNNModel", "cell", cell_variants(fx)[:4], lambda v: rg.RNNModel(v, 1, key=k))
    cases += vary("RNNModel", "out_size", bad_ints()[:7], lambda v: rg.RNNModel(cell, v, key=k))
    cases += vary("RNNModel", "key", bad_keys(k)[:4], lambda v: rg.RNNModel(cell, 1, key=v))
    model = rg.RNNModel(cell, 1, key=k)
    cases += [
        E(
            "RNNModel.predict/readout=middle",
            "readout",
            lambda: model.predict(xs, readout="middle"),
        ),
        E("RNNModel.predict/xs=wrong_size", "xs", lambda: model.predict(jnp.ones((6, 3)))),
        E("RNNModel.predict/xs=batched", "xs", lambda: model.predict(xs[None]), hint="vmap"),
    ]
    cases += vary("train_keys", "key", bad_keys(k)[:4], lambda v: rg.train_keys(v, 0))
    cases += vary(
        "train_keys",
        "seed",
        [V("-1", -1), V("float", 1.5), V("str", "a"), V("None", None)],
        lambda v: rg.train_keys(k, v),
    )
    cases += vary(
        "TrainResult.seed_model",
        "seed",
        [V("beyond_seeds", 5), V("-1", -1), V("str", "a"), V("float", 0.5)],
        lambda v: fx.trained[0].seed_model(v),
    )
    return cases


def plot_cases(fx: Fx) -> list[Case]:
    p, cases = rg.plot, []
    gains = [0.5, 1.0]
    cases += vary(
        "plot.rates",
        "gains",
        [V("str", "abc"), V("2d", [[0.5, 1.0]]), V("complex", [1j, 2.0]), V("None", None)],
        lambda v: p.rates(v, [[0.1, 0.2]], labels=["a"]),
    )
    cases += [
        E(
            "plot.rates/rates=wrong_length",
            "rates",
            lambda: p.rates(gains, [[0.1, 0.2, 0.3]], labels=["a"]),
        ),
        E(
            "plot.rates/labels=wrong_count",
            "labels",
            lambda: p.rates(gains, [[0.1, 0.2]], labels=["a", "b"]),
        ),
        E("plot.rates/labels=int", "labels", lambda: p.rates(gains, [[0.1, 0.2]], labels=3)),
        E(
            "plot.rates/lyapunov=wrong_shape",
            "lyapunov",
            lambda: p.rates(gains, [[0.1, 0.2]], labels=["a"], lyapunov=[[1.0]]),
        ),
        E(
            "plot.lag_profiles/lags=wrong_length",
            "lags",
            lambda: p.lag_profiles([0, 1, 2], [[0.0, -1.0]], labels=["a"]),
        ),
        E(
            "plot.lag_profiles/values=nan",
            "values",
            lambda: p.lag_profiles([0, 1], [[0.0, -1.0]], values=[NAN]),
        ),
        E(
            "plot.lag_profiles/labels=None_and_values=None",
            "labels",
            lambda: p.lag_profiles([0, 1], [[0.0, -1.0]]),
            also=("values",),
        ),
        F(
            "plot.lag_profiles/log10_norms=all_-inf",
            "log10_norms",
            lambda: p.lag_profiles([0, 1], [[-INF, -INF]], labels=["a"]),
        ),
        E("plot.contributions/matrices=1d", "matrices", lambda: p.contributions(np.zeros(3))),
        E("plot.contributions/matrices=str", "matrices", lambda: p.contributions("m")),
        E("plot.curves/ys=wrong_length", "ys", lambda: p.curves([1, 2], [[1, 2, 3]], labels=["a"])),
        E("plot.curves/labels=empty", "labels", lambda: p.curves([1, 2], [[1, 2]], labels=[])),
        E("plot.spectra/values=str", "values", lambda: p.spectra("x", labels=["a"])),
        F("plot.spectra/values=nan", "values", lambda: p.spectra([[NAN, NAN]], labels=["a"])),
        E("plot.success/successes>trials", "successes", lambda: p.success(["a"], [5], 3)),
        E("plot.success/successes=negative", "successes", lambda: p.success(["a"], [-1], 3)),
        E("plot.success/successes=float", "successes", lambda: p.success(["a"], [1.5], 3)),
        E("plot.success/names=wrong_count", "names", lambda: p.success(["a", "b"], [1], 3)),
        E(
            "plot.training_curves/band=wide",
            "band",
            lambda: p.training_curves([[1.0, 2.0]], labels=["a"], band="wide"),
        ),
        E(
            "plot.training_curves/curves=str",
            "curves",
            lambda: p.training_curves("x", labels=["a"]),
        ),
        E(
            "plot.phase_diagram/values=wrong_shape",
            "values",
            lambda: p.phase_diagram([1, 2], [1, 2], np.zeros((3, 3))),
        ),
        E("plot.save/fig=str", "fig", lambda: p.save("fig", fx.path("f.png"))),
    ]

    def fig() -> Any:
        return p.curves([1, 2], [[1, 2]], labels=["a"])

    cases += [
        E("plot.save/path=unknown_suffix", "path", lambda: p.save(fig(), fx.path("f.xyz"))),
        E("plot.save/path=int", "path", lambda: p.save(fig(), 123)),
        E("plot.save/path=directory", "path", lambda: p.save(fig(), fx.tmp), also=(str(fx.tmp),)),
        E("plot.save/dpi=negative", "dpi", lambda: p.save(fig(), fx.path("d.png"), dpi=-5)),
    ]
    return cases


def extreme_cases(fx: Fx) -> list[Case]:
    """Valid-but-extreme regimes: tanh gains 0.1..100, float32/float64, T up to 10^4, ReLU.

    Run under ``eqx.filter_jit``: one compilation per dtype and length serves every gain.
    """
    k, cases = fx.key, []

    @eqx.filter_jit
    def lyap(cell: Any, xs: Any) -> Any:
        return rg.lyapunov_spectrum(cell, xs, rg.init_carry(cell))

    @eqx.filter_jit
    def prof(cell: Any, xs: Any) -> Any:
        return rg.final_step_profile(cell, xs, rg.init_carry(cell), sum_loss)

    @eqx.filter_jit
    def contrib(cell: Any, xs: Any) -> Any:
        ys = jnp.zeros(xs.shape[:1], xs.dtype)
        return rg.timestep_contributions(cell, xs, rg.init_carry(cell), sum_step_loss, ys, blocks=1)

    @eqx.filter_jit
    def spectra(cell: Any, xs: Any) -> Any:
        return rg.jacobian_product_spectra(cell, xs, rg.init_carry(cell))

    def drive(length: int, dtype: Any) -> jax.Array:
        t = jnp.arange(2 * length, dtype=F64)
        return (0.8 * jnp.sin(0.7 * t + 0.3)).reshape(length, 2).astype(dtype)

    @functools.cache
    def tanh_cell(dtype_name: str, scale: float) -> Any:
        base = rg.VanillaCell(2, 4, key=k, dtype=jnp.dtype(dtype_name))
        return rg.scale_recurrent(base, scale)

    @functools.cache
    def contributions(dtype_name: str, scale: float) -> Any:
        return contrib(tanh_cell(dtype_name, scale), drive(40, jnp.dtype(dtype_name)))

    for dtype_name in ("float32", "float64"):
        dt = jnp.dtype(dtype_name)
        for scale in (0.1, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0):
            tag = f"extreme/tanh_{dtype_name}_g{scale:g}"
            c = functools.partial(tanh_cell, dtype_name, scale)
            cases += [
                F(
                    f"{tag}/lyapunov_spectrum_T200",
                    "scale",
                    lambda c=c, dt=dt: lyap(c(), drive(200, dt)),
                ),
                F(
                    f"{tag}/final_step_profile_T200",
                    "scale",
                    lambda c=c, dt=dt: prof(c(), drive(200, dt)),
                ),
                F(
                    f"{tag}/timestep_contributions_T40",
                    "scale",
                    lambda d=dtype_name, s=scale: contributions(d, s),
                ),
                F(
                    f"{tag}/lag_profile_T40",
                    "scale",
                    lambda d=dtype_name, s=scale: rg.lag_profile(contributions(d, s), log10=True),
                ),
                F(
                    f"{tag}/growth_rate_T40",
                    "scale",
                    lambda d=dtype_name, s=scale: rg.growth_rate(
                        rg.lag_profile(contributions(d, s), log10=True), start=1
                    ),
                ),
            ]
        for scale in (30.0, 100.0):
            tag = f"extreme/tanh_{dtype_name}_g{scale:g}"
            c = functools.partial(tanh_cell, dtype_name, scale)
            cases += [
                F(
                    f"{tag}/lyapunov_spectrum_T200",
                    "scale",
                    lambda c=c, dt=dt: lyap(c(), drive(200, dt)),
                ),
                F(
                    f"{tag}/final_step_profile_T200",
                    "scale",
                    lambda c=c, dt=dt: prof(c(), drive(200, dt)),
                ),
                F(
                    f"{tag}/jacobian_product_spectra_T50",
                    "scale",
                    lambda c=c, dt=dt: spectra(c(), drive(50, dt)),
                ),
            ]
    # T = 10^4: two cheap tanh cases and the linear network's exact log-space profile.
    long32 = drive(10_000, F32)
    lin_half = rg.VanillaCell(
        2, 4, nonlinearity="identity", weight_hh_init=rg.init.orthogonal(0.5), key=k, dtype=F32
    )
    lin_two = rg.VanillaCell(
        2, 4, nonlinearity="identity", weight_hh_init=rg.init.orthogonal(2.0), key=k, dtype=F32
    )
    cases += [
        F(
            "extreme/tanh_float32_g1/final_step_profile_T10000",
            "xs",
            lambda: prof(tanh_cell("float32", 1.0), long32),
        ),
        F(
            "extreme/tanh_float32_g3/lyapunov_spectrum_T10000",
            "xs",
            lambda: lyap(tanh_cell("float32", 3.0), long32),
        ),
        F(
            "extreme/linear_float32_g0.5/final_step_profile_T10000_checkpointed",
            "xs",
            lambda: rg.final_step_profile(
                lin_half, long32, rg.init_carry(lin_half), sum_loss, checkpoint_every=100
            ),
        ),
        F(
            "extreme/linear_float32_g2/final_step_profile_T1000",
            "xs",
            lambda: rg.final_step_profile(lin_two, long32[:1000], rg.init_carry(lin_two), sum_loss),
        ),
        F(
            "extreme/linear_float32_g2/timestep_contributions_T40",
            "xs",
            lambda: contrib(lin_two, drive(40, F32) + 1.0),
        ),
        F(
            "extreme/linear_float32_g2/jacobian_product_spectra_T200",
            "xs",
            lambda: spectra(lin_two, drive(200, F32)),
        ),
    ]
    # ReLU: units driven negative die and pass back exactly zero gradient.
    for dtype_name in ("float32", "float64"):
        dt = jnp.dtype(dtype_name)
        dead = rg.irnn(2, 4, weight_ih_init=ones_init, key=k, dtype=dt)
        neg = -jnp.ones((20, 2), dt)
        tag = f"extreme/relu_{dtype_name}_all_dead"
        dead_contrib = functools.partial(contrib, dead, neg)
        cases += [
            F(f"{tag}/final_step_profile", "xs", lambda d=dead, x=neg: prof(d, x)),
            F(f"{tag}/timestep_contributions", "xs", dead_contrib),
            F(
                f"{tag}/lag_profile",
                "xs",
                lambda f=dead_contrib: rg.lag_profile(f(), log10=True),
            ),
            F(f"{tag}/lyapunov_spectrum", "xs", lambda d=dead, x=neg: lyap(d, x)),
            F(f"{tag}/jacobian_product_spectra", "xs", lambda d=dead, x=neg: spectra(d, x)),
            F(
                f"{tag}/growth_rate",
                "log10_profile",
                lambda f=dead_contrib: rg.growth_rate(rg.lag_profile(f(), log10=True)),
            ),
            F(
                f"{tag}/final_step_profile[eager]",
                "xs",
                lambda d=dead, x=neg: rg.final_step_profile(d, x, rg.init_carry(d), sum_loss),
            ),
            F(
                f"{tag}/lyapunov_spectrum[eager]",
                "xs",
                lambda d=dead, x=neg: rg.lyapunov_spectrum(d, x, rg.init_carry(d)),
            ),
        ]
        some = rg.irnn(2, 4, key=k, dtype=dt)
        x20 = drive(20, dt)
        cases += [
            F(
                f"extreme/relu_{dtype_name}_some_dead/final_step_profile",
                "xs",
                lambda d=some, x=x20: prof(d, x),
            ),
            F(
                f"extreme/relu_{dtype_name}_some_dead/lyapunov_spectrum",
                "xs",
                lambda d=some, x=x20: lyap(d, x),
            ),
        ]
    # Eager float32 saturation, as a user would call it.
    sat = tanh_cell("float32", 10.0)
    cases += [
        F(
            "extreme/tanh_float32_g10/lyapunov_spectrum[eager]",
            "scale",
            lambda: rg.lyapunov_spectrum(sat, drive(200, F32), rg.init_carry(sat)),
        ),
        F(
            "extreme/tanh_float32_g10/final_step_profile[eager]",
            "scale",
            lambda: rg.final_step_profile(sat, drive(200, F32), rg.init_carry(sat), sum_loss),
        ),
    ]
    # Gated cells and a saturated reservoir.
    lstm = rg.lstm(2, 4, forget_bias=10.0, key=k)
    big_esn = rg.EchoStateCell(2, 4, spectral_radius=10.0, connectivity=1.0, key=k, dtype=F32)
    cases += [
        F(
            "extreme/lstm_forget_bias10/final_step_profile_T200",
            "forget_bias",
            lambda: rg.final_step_profile(
                lstm, drive(200, F64), rg.init_carry(lstm), lambda c: jnp.sum(c[0])
            ),
        ),
        F(
            "extreme/gru/lyapunov_spectrum_T200",
            "xs",
            lambda: rg.lyapunov_spectrum(fx.gru, drive(200, F64), rg.init_carry(fx.gru)),
        ),
        F(
            "extreme/esn_float32_rho10/lyapunov_spectrum_T200",
            "spectral_radius",
            lambda: rg.lyapunov_spectrum(big_esn, drive(200, F32), rg.init_carry(big_esn)),
        ),
    ]
    return cases


def determinism_cases(fx: Fx) -> list[Case]:
    """The same key twice must give the same bits."""
    k = fx.key

    def twice(fn: Callable[[], Any]) -> Callable[[], Any]:
        return lambda: (fn(), fn())

    def identical(result: Any) -> str | None:
        a, b = (_as_tree(r) for r in result)
        la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
        if len(la) != len(lb):
            return "two calls with the same key gave results of different structure"
        for x, y in zip(la, lb):
            if not hasattr(x, "dtype"):
                continue
            if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
                x, y = jax.random.key_data(x), jax.random.key_data(y)
            xa, ya = np.asarray(x), np.asarray(y)
            if xa.shape != ya.shape or xa.tobytes() != ya.tobytes():
                return "two calls with the same key gave different bits"
        return None

    calls = {
        "VanillaCell": lambda: rg.VanillaCell(2, 4, key=k),
        "EchoStateCell": lambda: rg.EchoStateCell(1, 6, key=k),
        "init.orthogonal": lambda: rg.init.orthogonal(1.0)(k, (4, 4)),
        "AddingTask.batch": lambda: rg.AddingTask(20).batch(k, 2),
        "esn.memory_capacity": lambda: rg.esn.memory_capacity(
            fx.esn, key=k, k_max=3, train_length=30, test_length=20, washout=5
        ),
        "esn.echo_state_property": lambda: rg.esn.echo_state_property(fx.esn, fx.u, key=k),
        "sweep_with_key": lambda: rg.sweep(
            lambda scale, seed, key: scale * jax.random.normal(key, (2,)),
            key=k,
            scale=jnp.ones(2),
            seed=jnp.arange(2),
        ),
        "train_keys": lambda: rg.train_keys(k, 3),
    }
    return [
        F(f"determinism/{name}", "key", twice(fn), check=identical) for name, fn in calls.items()
    ]


AREAS: dict[str, Callable[[Fx], list[Case]]] = {
    "cells": cells_cases,
    "init": init_cases,
    "trajectory": trajectory_cases,
    "anatomy": anatomy_cases,
    "dynamics": dynamics_cases,
    "theory": theory_cases,
    "esn": esn_cases,
    "analysis": analysis_cases,
    "tasks": tasks_cases,
    "sweep": sweep_cases,
    "training": training_cases,
    "plot": plot_cases,
    "extreme": extreme_cases,
    "determinism": determinism_cases,
}


# --------------------------------------------------------------------------- main


def report(outcomes: list[Outcome], seconds: float, cpu: float) -> str:
    counts = {c: sum(o.cls == c for o in outcomes) for c in CLASSES}
    malformed = sum(o.case.expect == "error" for o in outcomes)
    lines = [
        f"rnngrad adversarial check: {len(outcomes)} cases ({malformed} malformed, "
        f"{len(outcomes) - malformed} valid-but-extreme) in {seconds:.0f} s "
        f"(CPU {cpu:.0f} s)",
        "  " + "  ".join(f"{c}={n}" for c, n in counts.items()),
        "",
    ]
    for cls in ("raw", "silent", "vague", "ok"):
        for o in outcomes:
            if o.cls == cls:
                lines.append(o.line())
    slow = sorted(outcomes, key=lambda o: -o.seconds)[:5]
    lines += ["", "slowest: " + ", ".join(f"{o.case.name} {o.seconds:.1f}s" for o in slow)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=None, help="run only cases whose name contains this")
    parser.add_argument("--json", default=None, help="write the per-case results here")
    parser.add_argument(
        "--cache-dir",
        default=os.path.join(tempfile.gettempdir(), "rnngrad-adversarial-xla"),
        help="persistent XLA compilation cache ('' to disable)",
    )
    args = parser.parse_args(argv)
    if args.cache_dir:
        jax.config.update("jax_compilation_cache_dir", args.cache_dir)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)

    start, cpu_start = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="rnngrad-adversarial-") as tmp:
        fx = Fx(Path(tmp))
        try:
            check_baselines(fx)
        except Exception:  # noqa: BLE001 - the malformed variants would test nothing
            traceback.print_exc()
            print("a baseline call failed: fix it before reading the adversarial cases")
            return 1
        cases = [case for build in AREAS.values() for case in build(fx)]
        names = [c.name for c in cases]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        assert not duplicates, f"duplicate case names: {duplicates}"
        if args.only:
            cases = [c for c in cases if args.only in c.name]
        outcomes = []
        for case in cases:
            outcomes.append(run_case(case))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(report(outcomes, seconds, cpu))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "seconds": seconds,
                    "cpu_seconds": cpu,
                    "counts": {c: sum(o.cls == c for o in outcomes) for c in CLASSES},
                    "cases": [o.record() for o in outcomes],
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
