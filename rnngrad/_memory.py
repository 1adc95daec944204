"""The curse of memory (Zucchet & Orvieto 2024): closed forms and their measured counterpart.

For the scalar linear recurrence ``h_t = λ h_{t-1} + x_t`` (``h_0 = 0``) driven by
stationary unit-variance AR(1) inputs, ``E[x_k x_l] = ρ^|k-l|``,

    h_t = Σ_{k=0}^{t-1} λ^k x_{t-k},        ∂h_t/∂λ = Σ_{k=1}^{t-1} k λ^{k-1} x_{t-k}.

Both second moments are derivatives of one generating function. With
``S(λ, μ) = Σ_{k,l≥0} λ^k μ^l ρ^|k-l| = (1 - λμρ²) / ((1 - λμ)(1 - λρ)(1 - μρ))``,
``E[h²] = S(λ, λ)`` and ``E[(∂h/∂λ)²] = ∂_λ ∂_μ S(λ, μ)`` at ``μ = λ`` (at ``μ = λ̄`` for
complex λ, giving ``E|h|²`` and ``E|∂h/∂λ|²``). As ``|λ| → 1`` the variance grows like
``(1 - |λ|)^-1`` but the sensitivity like ``(1 - |λ|)^-3``: the longer the memory, the
more a small change of λ moves the state, although the gradient neither vanishes nor
explodes.

The finite-length values (``h_0 = 0``, inputs ``x_1..x_T``) are the second moments of the
linear system ``v_t = (h_t, ∂h_t/∂λ, x_t)``, ``v_{t+1} = A v_t + b ε_{t+1}``, with
``A = [[λ, 0, ρ], [1, λ, 0], [0, 0, ρ]]``, ``b b^T = (1 - ρ²) [[1, 0, 1], [0, 0, 0],
[1, 0, 1]]`` and ``v_0 = (0, 0, x_0)``: ``E[v_T v_T^H] = A^T e₃e₃^T A^{T,H} +
Σ_{j<T} A^j b b^T A^{j,H}``, computed by doubling (``O(log T)`` 3×3 matrix products, exact
up to rounding, with no removable singularity at ``λ = ρ`` or ``λ = 1``).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PyTree

from ._checks import (
    Checked,
    NumericalWarning,
    check_callable,
    check_int,
    check_real_array,
    describe,
    is_concrete,
    promote_types,
    structure_of,
)
from ._unroll import check_cell_call
from .cells import Cell, flatten_carry

__all__ = ["MemoryMoments", "curse_of_memory", "ParameterSensitivity", "measured_sensitivity"]

_REFERENCE = (
    "N. Zucchet & A. Orvieto, 'Recurrent neural networks: vanishing and exploding "
    "gradients are not the end of the story', NeurIPS 2024, section 2"
)


# --------------------------------------------------------------------------- closed forms


class MemoryMoments(NamedTuple):
    """The second moments of :func:`curse_of_memory`; unpacks as ``(variance, sensitivity)``.

    - `variance`: ``E[h²]`` (``E|h|²`` for complex λ).
    - `sensitivity`: ``E[(∂h/∂λ)²]`` (``E|∂h/∂λ|²`` for complex λ).

    Both are real arrays shaped like `lam` and `rho` broadcast together.
    """

    variance: Float[Array, "..."]
    sensitivity: Float[Array, "..."]


def _python_number(value: Any) -> bool:
    return isinstance(value, (int, float, complex)) and not isinstance(value, (bool, np.generic))


def _check_lam(lam: Any) -> jax.Array:
    """`lam` as a real or complex array; strings, bools, None and NaN/inf are refused."""
    if isinstance(lam, (str, bytes, bool, np.bool_)) or lam is None:
        raise TypeError(f"`lam` must be a real or complex number or array, got {describe(lam)}.")
    if not hasattr(lam, "dtype"):
        try:
            lam = np.asarray(lam)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"`lam` must be a real or complex number or array, got {describe(lam)}."
            ) from err
    if not jnp.issubdtype(lam.dtype, jnp.complexfloating):
        return check_real_array("lam", lam)
    if is_concrete(lam):
        array = np.asarray(lam)
        if not np.isfinite(array).all():
            raise ValueError(f"`lam` must be finite, got {describe(lam)} holding NaN or inf.")
    return jnp.asarray(lam)


def _dtypes(lam_raw: Any, rho_raw: Any, lam: jax.Array, rho: jax.Array) -> tuple[Any, Any]:
    """The computation dtype (complex for complex λ) and the real dtype of the results.

    Python numbers stay weak (``0.9`` with a float32 `rho` computes in float32).
    """
    parts = [
        raw if _python_number(raw) else array.dtype
        for raw, array in ((lam_raw, lam), (rho_raw, rho))
    ]
    dtype = promote_types(*parts, 0.0)
    return dtype, np.finfo(dtype).dtype


@functools.partial(jax.jit, static_argnums=2)
def _stationary(lam: jax.Array, rho: jax.Array, complex_lam: bool) -> MemoryMoments:
    if not complex_lam:
        one_minus_sq = (1 - lam) * (1 + lam)  # 1 - λ², without cancellation near |λ| = 1
        lr = lam * rho
        variance = (1 + lr) / (one_minus_sq * (1 - lr))
        numerator = (1 + lam * lam) * ((1 - lr) * (1 + lr)) + 2 * lr * one_minus_sq
        sensitivity = numerator / (one_minus_sq**3 * (1 - lr) ** 2)
        return MemoryMoments(variance, sensitivity)
    p = lam.real**2 + lam.imag**2  # λ λ̄ = |λ|²
    s = 2 * lam.real  # λ + λ̄
    one_minus_p = 1 - p
    q = 1 - rho * s + rho**2 * p  # |1 - λρ|²
    variance = (1 - p * rho**2) / (one_minus_p * q)
    numerator = (
        (1 + p) * (1 - rho**4 * p**2)
        - 2 * rho * (1 - rho**2) * p * s
        - 4 * rho**2 * p * one_minus_p
    )
    sensitivity = numerator / (one_minus_p**3 * q**2)
    return MemoryMoments(variance, sensitivity)


def _compose(first: tuple[Array, Array], second: tuple[Array, Array]) -> tuple[Array, Array]:
    """``(A^m, S_m)`` and ``(A^n, S_n)`` to ``(A^{m+n}, S_{m+n})``.

    ``S_n = Σ_{j<n} A^j Q A^{j,H}``, so ``S_{m+n} = S_m + A^m S_n A^{m,H}``.
    """
    power, total = first
    power2, total2 = second
    power_h = jnp.conj(jnp.swapaxes(power, -1, -2))
    return power @ power2, total + power @ total2 @ power_h


@functools.partial(jax.jit, static_argnums=2)
def _finite(lam: jax.Array, rho: jax.Array, length: int) -> MemoryMoments:
    shape = jnp.broadcast_shapes(lam.shape, rho.shape)
    lam = jnp.broadcast_to(lam, shape)
    rho_c = jnp.broadcast_to(rho, shape).astype(lam.dtype)
    zero, one = jnp.zeros_like(lam), jnp.ones_like(lam)
    # v = (h, ∂h/∂λ, x): h' = λ h + ρ x + σε, g' = λ g + h, x' = ρ x + σε.
    a = jnp.stack(
        [
            jnp.stack([lam, zero, rho_c], axis=-1),
            jnp.stack([one, lam, zero], axis=-1),
            jnp.stack([zero, zero, rho_c], axis=-1),
        ],
        axis=-2,
    )
    pattern = jnp.asarray([[1, 0, 1], [0, 0, 0], [1, 0, 1]], dtype=lam.dtype)
    innovation = ((1 - rho_c) * (1 + rho_c))[..., None, None] * pattern  # b b^T, σ² = 1 - ρ²
    identity = jnp.broadcast_to(jnp.eye(3, dtype=lam.dtype), (*shape, 3, 3))
    bits = jnp.asarray([(length >> i) & 1 for i in range(length.bit_length())], dtype=bool)

    def binary_power(
        carry: tuple[tuple[Array, Array], tuple[Array, Array]], bit: Array
    ) -> tuple[tuple[tuple[Array, Array], tuple[Array, Array]], None]:
        # Binary powering over the bits of T: O(log T) compositions, one compiled step.
        acc, base = carry
        acc = jax.tree_util.tree_map(
            lambda new, old: jnp.where(bit, new, old), _compose(acc, base), acc
        )
        return (acc, _compose(base, base)), None

    start = ((identity, jnp.zeros_like(identity)), (a, innovation))
    (acc, _), _ = jax.lax.scan(binary_power, start, bits)
    power, total = acc
    column = power[..., :, 2]  # A^T e₃: the response to x_0 (E[x_0²] = 1)
    variance = jnp.abs(column[..., 0]) ** 2 + total[..., 0, 0].real
    sensitivity = jnp.abs(column[..., 1]) ** 2 + total[..., 1, 1].real
    return MemoryMoments(variance, sensitivity)


def curse_of_memory(
    lam: Checked[ArrayLike],
    rho: Checked[ArrayLike],
    *,
    length: Checked[int | None] = None,
) -> MemoryMoments:
    """``E[h²]`` and ``E[(∂h/∂λ)²]`` for ``h_t = λ h_{t-1} + x_t`` with AR(1) inputs.

    The inputs are stationary, zero-mean, unit-variance, with ``E[x_k x_l] = ρ^|k-l|``
    (an AR(1) process ``x_t = ρ x_{t-1} + √(1-ρ²) ε_t``). For ``|λ| < 1`` and
    ``length=None`` (the stationary state, ``t → ∞``):

        E[h²]      = (1 + λρ) / ((1 - λ²)(1 - λρ))
        E[(∂h/∂λ)²] = ((1 + λ²)(1 - λ²ρ²) + 2λρ(1 - λ²)) / ((1 - λ²)³ (1 - λρ)²)

    (for ``ρ = 0``: ``1/(1 - λ²)`` and ``(1 + λ²)/(1 - λ²)³``). As ``λ → 1`` the variance
    grows like ``(1 - λ)^-1`` and the sensitivity like ``(1 - λ)^-3``: the curse of memory.
    For complex λ (a diagonal linear recurrence such as the LRU) the moments are
    ``E|h|²`` and ``E|∂h/∂λ|²``; with ``p = |λ|²``, ``s = 2 Re λ``, ``q = |1 - λρ|²``:

        E|h|²      = (1 - pρ²) / ((1 - p) q)
        E|∂h/∂λ|²  = ((1 + p)(1 - ρ⁴p²) - 2ρ(1 - ρ²) p s - 4ρ²p(1 - p)) / ((1 - p)³ q²)

    With ``length=T`` the values are exact for ``h_0 = 0`` and inputs ``x_1..x_T``
    (``E[h_T²] = Σ_{k,l<T} λ^{k+l} ρ^|k-l|``, ``E[(∂h_T/∂λ)²] = Σ_{k,l<T} k l λ^{k+l-2}
    ρ^|k-l|``), computed in ``O(log T)`` by doubling. A finite length is defined for every
    λ, also ``|λ| ≥ 1`` (the values then grow like ``|λ|^{2T}``).

    Vectorised (broadcasting over `lam` and `rho`), differentiable and ``jax.vmap``-able
    in both; float64 when the inputs are (or under ``jax_enable_x64`` for Python numbers).

    **Arguments:**

    - `lam`: λ, real or complex, any shape.
    - `rho`: ρ, the inputs' lag-one correlation, real in ``[-1, 1]`` (``ρ = 1``: constant
      inputs; ``ρ = 0``: white noise); broadcast with `lam`.
    - `length`: ``None`` for the stationary closed form, or the number of inputs T ≥ 1
      (a static Python int).

    **Returns:** a :class:`MemoryMoments` ``(variance, sensitivity)`` of real arrays of
    shape ``broadcast(lam.shape, rho.shape)``.

    **Raises:** ``TypeError`` for a non-numeric `lam` (string, bool, None), a non-real
    `rho`, or a `length` that is not an int; ``ValueError`` for concrete NaN/inf, ``|ρ| >
    1``, ``|λ| ≥ 1`` with ``length=None`` (the stationary moments diverge; pass a finite
    `length`), ``length < 1``, or shapes that do not broadcast. Traced values (under
    ``jit``/``vmap``/``grad``) are not range-checked. An eager finite-length value that
    overflows (large T with ``|λ| > 1``) gives a ``rg.NumericalWarning``.

    Reference: N. Zucchet & A. Orvieto, "Recurrent neural networks: vanishing and
    exploding gradients are not the end of the story", NeurIPS 2024, section 2.

    >>> import rnngrad as rg
    >>> variance, sensitivity = rg.theory.curse_of_memory(0.5, 0.0)
    >>> round(float(variance), 6), round(float(sensitivity), 6)  # 1/(1-λ²), (1+λ²)/(1-λ²)³
    (1.333333, 2.962963)
    >>> [round(float(v), 6) for v in rg.theory.curse_of_memory(0.5, 0.0, length=2)]
    [1.25, 1.0]
    """
    lam_raw, rho_raw = lam, rho
    if isinstance(rho, complex) or (
        hasattr(rho, "dtype") and jnp.issubdtype(rho.dtype, jnp.complexfloating)
    ):
        raise TypeError(
            f"`rho` must be real (the inputs' lag-one correlation), got {describe(rho)}."
        )
    lam = _check_lam(lam)
    rho = check_real_array("rho", rho)
    if length is not None:
        length = check_int("length", length, minimum=1, why="the number of inputs x_1..x_T")
    try:
        shape = jnp.broadcast_shapes(lam.shape, rho.shape)
    except ValueError as err:
        raise ValueError(
            f"`lam` (shape {lam.shape}) and `rho` (shape {rho.shape}) must broadcast together."
        ) from err
    if is_concrete(rho):
        worst = float(np.max(np.abs(np.asarray(rho)), initial=0.0))
        if worst > 1:
            raise ValueError(
                f"`rho` must lie in [-1, 1] (a correlation), got a value of magnitude {worst}."
            )
    if length is None and is_concrete(lam):
        worst = float(np.max(np.abs(np.asarray(lam)), initial=0.0))
        if worst >= 1:
            raise ValueError(
                f"`lam` must satisfy |lam| < 1 for the stationary moments (length=None), "
                f"which diverge as |lam| → 1; got |lam| = {worst}. Pass length=T for the "
                "exact value after T steps, defined for every lam."
            )
    dtype, real_dtype = _dtypes(lam_raw, rho_raw, lam, rho)
    lam = lam.astype(dtype)
    rho = rho.astype(real_dtype)
    complex_lam = bool(jnp.issubdtype(dtype, jnp.complexfloating))
    if length is None:
        variance, sensitivity = _stationary(lam, rho, complex_lam)
        return MemoryMoments(
            jnp.broadcast_to(variance, shape).astype(real_dtype),
            jnp.broadcast_to(sensitivity, shape).astype(real_dtype),
        )
    result = _finite(lam, rho, length)
    result = MemoryMoments(
        result.variance.astype(real_dtype), result.sensitivity.astype(real_dtype)
    )
    if is_concrete(result.sensitivity) and not bool(
        np.isfinite(np.asarray(result.variance)).all()
        and np.isfinite(np.asarray(result.sensitivity)).all()
    ):
        warnings.warn(
            f"curse_of_memory: the moments after length={length} steps overflow "
            f"{np.dtype(real_dtype).name} (inf or NaN): with |lam| > 1 they grow like "
            "|lam|^(2T). Use a shorter length or a wider dtype.",
            NumericalWarning,
            stacklevel=2,
        )
    return result


# --------------------------------------------------------------------------- measured


class ParameterSensitivity(eqx.Module):
    """The sensitivity of a cell's final state to its parameters; see :func:`measured_sensitivity`.

    - `output`: the readout of the final carry, ``readout(h_T)``: (S,) by default.
    - `jacobian`: ``∂ output / ∂θ``, structured like the selected parameters, each leaf of
      shape ``output.shape + leaf.shape``.
    - `squared_norms`: ``‖∂ output / ∂θ‖²`` (squared Frobenius norm) per selected leaf,
      structured like the selected parameters, each a scalar.
    - `total`: the sum of `squared_norms`, a scalar.
    """

    output: Float[Array, "..."]
    jacobian: PyTree
    squared_norms: PyTree
    total: Float[Array, ""]


def _select_parameters(cell: Cell, select: Any) -> tuple[PyTree, Callable[[PyTree], Any]]:
    """The parameters to differentiate and a function that puts new values back in `cell`."""
    name = type(cell).__name__
    if select is None:
        params, static = eqx.partition(cell, eqx.is_inexact_array)
        if not jax.tree_util.tree_leaves(params):
            raise ValueError(f"`cell` ({name}) has no floating parameters to differentiate.")
        return params, lambda p: eqx.combine(p, static)
    check_callable("select", select, expected="(cell) -> parameter(s) of the cell")
    try:
        params = select(cell)
    except Exception as err:  # noqa: BLE001 - any failure of the user's function
        raise TypeError(
            f"`select` must pick parameters of the cell, e.g. `lambda cell: cell.weight_hh`; "
            f"calling it on this {name} raised {type(err).__name__}: {err}"
        ) from err
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError(
            f"`select` picked no arrays from this {name} (got {describe(params)}): return a "
            "parameter, e.g. `lambda cell: cell.weight_hh`."
        )
    for leaf in leaves:
        if not (hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jnp.inexact)):
            raise TypeError(
                f"`select` must pick floating arrays of the cell, got a leaf {describe(leaf)}."
            )
    try:
        eqx.tree_at(select, cell, params)
    except Exception as err:  # noqa: BLE001 - equinox's message for a node not in the cell
        raise ValueError(
            f"`select` must return parameters that are part of this {name} (as "
            f"eqx.tree_at's `where`), not new arrays: {err}"
        ) from err
    return params, lambda p: eqx.tree_at(select, cell, p)


def measured_sensitivity(
    cell: Cell,
    xs: PyTree,
    carry0: PyTree,
    *,
    select: Checked[Callable[[Any], Any] | None] = None,
    readout: Checked[Callable[[Any], Any] | None] = None,
) -> ParameterSensitivity:
    """The exact sensitivity ``∂h_T/∂θ`` of a cell's final state to its parameters.

    The measured counterpart of :func:`curse_of_memory` for any cell: the cell is unrolled
    over `xs` from `carry0` and the final carry ``h_T`` (flattened, or ``readout(h_T)``,
    e.g. a loss) is differentiated with respect to the selected parameters θ by
    ``jax.jacrev`` (or ``jax.jacfwd`` when θ has fewer entries than the output). For the
    scalar linear cell ``h_t = λ h_{t-1} + x_t``, ``∂h_T/∂λ = Σ_{k≥1} k λ^{k-1} x_{T-k}``,
    and its mean square over AR(1) inputs is ``curse_of_memory(λ, ρ, length=T).sensitivity``.
    ``jax.vmap`` over `xs` for a Monte Carlo estimate.

    **Arguments:**

    - `cell`: any cell following the protocol, one example.
    - `xs`: the inputs (T, input_size).
    - `carry0`: the initial carry, e.g. ``rg.init_carry(cell)``; it does not depend on θ.
    - `select`: which parameters, as in ``eqx.tree_at``'s `where`: a function from the
      cell to one of its arrays or a tuple of them, e.g. ``lambda cell: cell.weight_hh``.
      Default: every floating array of the cell.
    - `readout`: a function of the final carry returning a floating array (or a scalar
      loss); default the flattened carry (all of the state, ``rg.flatten_carry``).

    **Returns:** a :class:`ParameterSensitivity` with `output` (the readout's shape),
    `jacobian` (per selected leaf, ``output.shape + leaf.shape``), `squared_norms` (per
    leaf, scalars) and `total` (a scalar).

    **Raises:** the errors of :func:`rnngrad.unroll` for the cell, `xs` and `carry0`;
    ``TypeError`` for a `select`/`readout` that is not callable, a `select` that fails on
    the cell or picks non-floating leaves, or a `readout` that does not return a floating
    array; ``ValueError`` for a `select` that picks nothing or arrays not in the cell.

    Reference: N. Zucchet & A. Orvieto, "Recurrent neural networks: vanishing and
    exploding gradients are not the end of the story", NeurIPS 2024, section 2.

    >>> import jax, jax.numpy as jnp, rnngrad as rg
    >>> cell = rg.VanillaCell(1, 1, nonlinearity="identity", use_bias=False,
    ...                       weight_hh_init=lambda k, s, d: jnp.full(s, 0.5, d),
    ...                       weight_ih_init=lambda k, s, d: jnp.ones(s, d), key=jax.random.key(0))
    >>> xs = jnp.ones((3, 1))  # h_3 = 1 + λ + λ², ∂h_3/∂λ = 1 + 2λ
    >>> sens = rg.theory.measured_sensitivity(cell, xs, rg.init_carry(cell),
    ...                                       select=lambda c: c.weight_hh)
    >>> float(sens.output[0]), float(sens.jacobian[0, 0, 0])
    (1.75, 2.0)
    """
    check_cell_call(cell, xs, carry0)
    if readout is None:
        readout = flatten_carry
    else:
        check_callable("readout", readout, expected="(final carry) -> array")
    params, rebuild = _select_parameters(cell, select)

    def output_of(p: PyTree) -> Any:
        stepped = rebuild(p)

        def step(carry: PyTree, x: Array) -> tuple[PyTree, None]:
            return stepped(x, carry), None

        final, _ = jax.lax.scan(step, carry0, xs)
        return readout(final)

    shape = jax.eval_shape(output_of, params)
    if not (hasattr(shape, "dtype") and jnp.issubdtype(shape.dtype, jnp.floating)):
        raise TypeError(
            "`readout` must return one floating array (the flattened state, or a scalar "
            f"loss), got {structure_of(shape) if hasattr(shape, 'dtype') else describe(shape)}."
        )
    n_params = sum(math.prod(jnp.shape(leaf)) for leaf in jax.tree_util.tree_leaves(params))
    differentiate = jax.jacfwd if n_params < math.prod(shape.shape) else jax.jacrev
    jacobian, output = differentiate(lambda p: (output_of(p),) * 2, has_aux=True)(params)
    squared_norms = jax.tree_util.tree_map(lambda j: jnp.sum(jnp.abs(j) ** 2), jacobian)
    total = sum(jax.tree_util.tree_leaves(squared_norms))
    return ParameterSensitivity(output, jacobian, squared_norms, jnp.asarray(total))
