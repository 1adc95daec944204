"""The Mackey-Glass delay differential equation, integrated with RK4 under ``lax.scan``."""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._checks import (
    Checked,
    check_choice,
    check_float_dtype,
    check_positive_int,
    check_real_scalar,
    check_representable,
    describe,
    is_concrete,
)

__all__ = ["mackey_glass"]

_MIDPOINTS = ("linear", "hold")
_MAX_STEPS = 2**31 - 1  # the RK step counter and the delay buffer are indexed in int32


def mackey_glass(
    n_samples: Checked[int],
    *,
    tau: Checked[float] = 17.0,
    a: Any = 0.2,
    b: Any = 0.1,
    n: Any = 10,
    x0: Any = 1.2,
    dt: Checked[float] = 1.0,
    subsample: Checked[int] = 1,
    midpoint: Checked[str] = "linear",
    dtype: Any = None,
) -> Float[Array, " n_samples"]:
    """A Mackey-Glass time series ``dx/dt = a x(t−τ) / (1 + x(t−τ)^n) − b x(t)``.

    Integrated with classic fourth-order Runge-Kutta with step `dt` in one ``lax.scan``
    (jittable; `a`, `b`, `n` and `x0` may be traced, e.g. ``vmap`` over `x0`). The history
    before t = 0 is the constant `x0`. Delayed values are read from the RK grid kept in a
    ring buffer of ``τ/dt + 1`` past values, so `tau` must be a multiple of `dt`. The RK
    stages at ``t`` and ``t + dt`` use the grid values ``x(t−τ)`` and ``x(t−τ+dt)``; the
    two midpoint stages use their mean (``midpoint="linear"``, second-order in the delay
    term) or hold ``x(t−τ)`` for all four stages (``midpoint="hold"``, the scheme of
    reservoirpy's ``mackey_glass``). The series is sampled every `subsample` RK steps,
    i.e. at ``t = 0, Δ, 2Δ, ...`` with ``Δ = dt · subsample``; sample 0 is `x0`.

    With the defaults (τ = 17, a = 0.2, b = 0.1, n = 10) the system is chaotic, on an
    attractor inside (0, 1.5) — the benchmark of Jaeger & Haas (2004).

    **Arguments:**

    - `n_samples`: number of samples, a positive int.
    - `tau`: the delay τ > 0, a multiple of `dt` (Python number: it sets the buffer size).
    - `a`, `b`, `n`: the equation's constants (an int `n` uses an exact integer power).
    - `x0`: the initial value and constant history.
    - `dt`: RK4 step > 0 (default 1; e.g. 0.1 with ``subsample=10`` for a finer solution
      sampled at unit time).
    - `subsample`: RK steps per output sample, a positive int.
    - `midpoint`: ``"linear"`` (default) or ``"hold"``, the delayed value at the RK
      midpoint stages (see above).
    - `dtype`: float dtype; default float64 under ``jax_enable_x64``, else float32.

    **Returns:** (n_samples,).

    **Raises:** ``ValueError`` for ``tau <= 0``, ``dt <= 0``, `tau` not a multiple of `dt`,
    non-finite constants or constants that overflow `dtype`, a non-positive
    `n_samples`/`subsample`, more than 2**31 - 1 RK steps or delay-buffer entries, an
    unknown `midpoint`, or (when the constants are concrete) a series that is not finite
    (e.g. a negative `x0` with a non-integer `n`, whose power is NaN, or a step `dt` too
    large for `b`); ``TypeError`` for a traced `tau` or `dt`, a non-string `midpoint` or
    a non-floating `dtype`. With traced constants (inside ``jit``/``vmap``) the series is
    not inspected: such a series holds NaN or inf.

    Reference: M. C. Mackey & L. Glass, "Oscillation and chaos in physiological control
    systems", Science 197 (1977); H. Jaeger & H. Haas, Science 304 (2004).

    >>> from rnngrad._mackey_glass import mackey_glass
    >>> x = mackey_glass(1000)
    >>> x.shape, round(float(x[0]), 6), bool(0.0 < x.min() and x.max() < 1.5)
    ((1000,), 1.2, True)
    """
    n_samples = check_positive_int("n_samples", n_samples)
    subsample = check_positive_int("subsample", subsample)
    for name, value in (("tau", tau), ("dt", dt)):
        if isinstance(value, jax.core.Tracer):
            raise TypeError(
                f"`{name}` must be a Python number (it fixes the size of the delay buffer), "
                f"got a traced {describe(value)}."
            )
        check_real_scalar(name, value, positive=True)
    for name, value in (("a", a), ("b", b), ("n", n), ("x0", x0)):
        check_real_scalar(name, value)
    check_choice("midpoint", midpoint, _MIDPOINTS)
    ratio = float(tau) / float(dt)
    delay = round(ratio)
    if delay < 1 or not math.isclose(ratio, delay, rel_tol=1e-9, abs_tol=1e-9):
        raise ValueError(
            f"`tau` must be a positive multiple of `dt` (delayed values are read from the RK "
            f"grid), got tau={tau}, dt={dt} (tau/dt = {ratio})."
        )
    if delay + 1 > _MAX_STEPS or n_samples * subsample > _MAX_STEPS:
        raise ValueError(
            f"the integration needs {n_samples * subsample} RK steps and a delay buffer of "
            f"tau/dt + 1 = {delay + 1} values; both must be <= {_MAX_STEPS}: lower "
            "`n_samples`, `subsample` or `tau`, or raise `dt`."
        )
    dtype = check_float_dtype("dtype", dtype)
    constants = {"a": a, "b": b, "n": n, "x0": x0, "dt": dt}
    for name, value in constants.items():
        check_representable(name, value, dtype)
    integer_n = isinstance(n, (int, np.integer)) and not isinstance(n, bool)
    series = _integrate(
        *(jnp.asarray(v, dtype) for v in (a, b, n, x0, dt)),
        n_samples=n_samples,
        delay=delay,
        subsample=subsample,
        midpoint=midpoint,
        int_exponent=int(n) if integer_n else None,
    )
    if all(is_concrete(v) for v in constants.values()):
        _check_series(series, constants)
    return series


def _check_series(series: Array, constants: dict[str, Any]) -> None:
    """Raise if a series integrated from concrete constants is not finite."""
    bad = np.flatnonzero(~np.isfinite(np.asarray(series)))
    if bad.size == 0:
        return
    given = ", ".join(f"{name}={float(np.asarray(v)):g}" for name, v in constants.items())
    raise ValueError(
        f"mackey_glass: the series is not finite from sample {int(bad[0])} on ({given}). "
        "A negative delayed value has no real power x^n for a non-integer `n` (use "
        "x0 >= 0 or an integer `n`), and a large `b` or `a` makes RK4 with this `dt` "
        "unstable (use a smaller `dt`)."
    )


@functools.partial(
    jax.jit, static_argnames=("n_samples", "delay", "subsample", "midpoint", "int_exponent")
)
def _integrate(
    a: Array,
    b: Array,
    n: Array,
    x0: Array,
    h: Array,
    *,
    n_samples: int,
    delay: int,
    subsample: int,
    midpoint: str,
    int_exponent: int | None,
) -> Array:
    """RK4 for the Mackey-Glass equation, compiled once per static configuration."""

    def power(v: Array) -> Array:
        return v**int_exponent if int_exponent is not None else jnp.power(v, n)

    def f(x: Array, x_delayed: Array) -> Array:
        return a * x_delayed / (1 + power(x_delayed)) - b * x

    size = delay + 1  # ring buffer: x_{i-delay} .. x_i

    def rk_step(carry: tuple[Array, Array, Array], _: None) -> tuple[tuple, None]:
        x, buf, i = carry
        buf = buf.at[i % size].set(x)
        d0 = buf[(i + 1) % size]  # x(t - tau)
        if midpoint == "hold":
            dm = d1 = d0
        else:
            d1 = buf[(i + 2) % size]  # x(t - tau + dt)
            dm = (d0 + d1) / 2
        k1 = f(x, d0)
        k2 = f(x + h / 2 * k1, dm)
        k3 = f(x + h / 2 * k2, dm)
        k4 = f(x + h * k3, d1)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return (x, buf, i + 1), None

    def sample(carry: tuple[Array, Array, Array], _: None) -> tuple[tuple, Array]:
        x = carry[0]
        carry, _ = jax.lax.scan(rk_step, carry, None, length=subsample)
        return carry, x

    init = (x0, jnp.full((size,), x0), jnp.zeros((), jnp.int32))
    _, xs = jax.lax.scan(sample, init, None, length=n_samples)
    return xs
