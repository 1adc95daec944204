"""The standard figures: plain arrays in, a matplotlib ``Figure`` out.

Every function draws one kind of figure that the experiments need, into the Axes it is
given (``ax=``) or into a fresh ``matplotlib.figure.Figure`` with constrained layout, and
returns the Figure. Nothing touches pyplot's global state: no figure is registered with
pyplot, shown or closed behind the caller's back, and no backend is switched. matplotlib
is an optional dependency, imported on the first call (``pip install 'rnngrad[plot]'``).

Conventions shared by every figure:

- every drawn line carries a legend entry (or a colour bar, for a continuous family);
- a family of curves coloured by a number uses a sequential colormap cut before its
  brightest end (the high end of viridis, the low end of Blues), so no curve fades into
  the white background;
- theory and bound lines never set the axis limits: the measured data do, and a theory
  line is clipped where it leaves them;
- panels meant to be compared share one colour scale and one colour bar.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._checks import Checked, check_int, check_path, describe
from ._io import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_IMPORT_MESSAGE = "rnngrad.plot needs matplotlib: pip install 'rnngrad[plot]'"
_Z95 = 1.959963984540054  # the two-sided 95 % normal quantile
_CMAP_TOP = 0.88  # sequential colormaps are cut here: their last 12 % is near-white
_MAX_LUMA = 0.8  # ... and where their luminance first exceeds this (white is 1)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
_REF_STYLES = ("--", ":", "-.", (0, (5, 1, 1, 1)))


# --------------------------------------------------------------------------- plumbing


def _mpl() -> Any:
    """Import matplotlib lazily; the ImportError names the extra to install."""
    try:
        import matplotlib
        import matplotlib.cm
        import matplotlib.colors
        import matplotlib.figure
        import matplotlib.patheffects
    except ImportError as e:
        raise ImportError(_IMPORT_MESSAGE) from e
    return matplotlib


def _root_figure(ax: Any) -> Any:
    try:
        return ax.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10
        return ax.figure


def _axes(name: str, given: Any, n: int, figsize: tuple[float, float]) -> tuple[Any, list[Any]]:
    """The Figure and `n` Axes to draw into: new ones, or those the caller gave."""
    mpl = _mpl()
    if given is None:
        fig = mpl.figure.Figure(figsize=figsize, layout="constrained")
        return fig, list(fig.subplots(1, n, squeeze=False)[0])
    from matplotlib.axes import Axes

    if isinstance(given, Axes):
        axes = [given]
    elif isinstance(given, (Sequence, np.ndarray)) and not isinstance(given, (str, bytes)):
        axes = list(np.ravel(np.asarray(given, dtype=object)))
    else:
        raise TypeError(
            f"`{name}` must be a matplotlib Axes or a sequence of them, got {describe(given)}."
        )
    if len(axes) != n:
        raise ValueError(f"`{name}` must hold {n} Axes for this figure, got {len(axes)}.")
    for a in axes:
        if not isinstance(a, Axes):
            raise TypeError(f"`{name}` must hold matplotlib Axes, got {describe(a)}.")
    return _root_figure(axes[0]), axes


def _array(name: str, value: Any, ndims: tuple[int, ...]) -> np.ndarray:
    """`value` as a float64 numpy array with one of the allowed numbers of dimensions."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"`{name}` must be an array of numbers, got {describe(value)}.")
    try:
        arr = np.asarray(value)
    except Exception as e:  # ragged nested sequences
        raise ValueError(f"`{name}` must be a rectangular array of numbers: {e}") from e
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"`{name}` must be an array of numbers, got {describe(value)}.")
    if np.iscomplexobj(arr):
        raise TypeError(f"`{name}` must be real, got {describe(value)}.")
    if arr.ndim not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        raise ValueError(f"`{name}` must be {want}, got shape {arr.shape}.")
    return arr.astype(np.float64)


def _series(name: str, value: Any) -> list[np.ndarray]:
    """A 2-D array (rows) or a sequence of 1-D arrays, as a list of float64 rows."""
    if isinstance(value, (np.ndarray,)) or hasattr(value, "shape"):
        arr = _array(name, value, (1, 2))
        return list(np.atleast_2d(arr))
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise TypeError(
            f"`{name}` must be a 2-D array or a non-empty sequence of 1-D arrays, "
            f"got {describe(value)}."
        )
    return [_array(f"{name}[{i}]", v, (1,)) for i, v in enumerate(value)]


def _labels(name: str, labels: Any, n: int, *, required: bool = True) -> list[str] | None:
    if labels is None:
        if required:
            raise ValueError(f"`{name}` is required: one label per curve ({n}).")
        return None
    if isinstance(labels, str):
        labels = [labels]
    if not isinstance(labels, (Sequence, np.ndarray)):
        raise TypeError(f"`{name}` must be a sequence of strings, got {describe(labels)}.")
    labels = [str(s) for s in labels]
    if len(labels) != n:
        raise ValueError(f"`{name}` must hold {n} labels (one per curve), got {len(labels)}.")
    return labels


def _colors(name: str, colors: Any, n: int) -> list[Any]:
    if colors is None:
        return [f"C{i % 10}" for i in range(n)]
    if isinstance(colors, str) or len(colors) != n:
        raise ValueError(f"`{name}` must hold {n} colours (one per curve), got {colors!r}.")
    return list(colors)


def _references(name: str, refs: Any) -> list[tuple[str, Any]]:
    """A mapping label -> value as a list of pairs (labels are legend entries)."""
    if refs is None:
        return []
    if not isinstance(refs, Mapping):
        raise TypeError(
            f"`{name}` must be a mapping from legend label to value, got {describe(refs)}."
        )
    return [(str(k), v) for k, v in refs.items()]


def _finite_range(arrays: Sequence[np.ndarray]) -> tuple[float, float] | None:
    vals = [a[np.isfinite(a)] for a in arrays]
    vals = [v for v in vals if v.size]
    if not vals:
        return None
    cat = np.concatenate(vals)
    return float(cat.min()), float(cat.max())


def _padded(lo: float, hi: float, frac: float = 0.05, *, log: bool = False) -> tuple[float, float]:
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    span = hi - lo
    pad = frac * span if span > 0 else max(0.5, 0.05 * abs(hi))
    lo, hi = lo - pad, hi + pad
    return (10**lo, 10**hi) if log else (lo, hi)


def _truncated(cmap: Any) -> Any:
    """A sequential colormap without its near-white end, whichever end that is: at least
    its last 12 % and every colour past the first brighter than `_MAX_LUMA` are cut."""
    mpl = _mpl()
    base = mpl.colormaps[cmap] if isinstance(cmap, str) else cmap
    x = np.linspace(0.0, 1.0, 256)
    luma = base(x)[:, :3] @ np.array([0.2126, 0.7152, 0.0722])
    if luma[0] > luma[-1]:  # a light-to-dark map (Blues, Greys): cut its low end
        x, luma = x[::-1], luma[::-1]
    keep = (np.abs(x - x[0]) <= _CMAP_TOP) & (np.maximum.accumulate(luma) <= _MAX_LUMA)
    keep[: x.size // 2] = True  # never less than half the map
    lo, hi = sorted((float(x[0]), float(x[keep][-1])))
    return mpl.colors.ListedColormap(base(np.linspace(lo, hi, 256)), name=f"{base.name}_cut")


def _legend(ax: Any, **kwargs: Any) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=kwargs.pop("fontsize", 8), **kwargs)


def _hlines(ax: Any, refs: list[tuple[str, Any]]) -> None:
    for i, (label, y) in enumerate(refs):
        ax.axhline(float(y), color="k", lw=0.9, ls=_REF_STYLES[i % len(_REF_STYLES)], label=label)


def _set_text(ax: Any, *, xlabel: str | None, ylabel: str | None, title: str | None) -> None:
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)


def _wilson(successes: np.ndarray, trials: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (Wilson 1927), elementwise; exactly [0, ·] at 0 successes and
    [·, 1] at `trials` successes; (0, 1) where there are no trials."""
    n = np.maximum(trials, 1.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denom
    half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    lo = np.where(successes <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    hi = np.where(successes >= trials, 1.0, np.clip(centre + half, 0.0, 1.0))
    empty = trials <= 0
    return np.where(empty, 0.0, lo), np.where(empty, 1.0, hi)


# --------------------------------------------------------------------------- lag profiles


def lag_profiles(
    lags: Any,
    log10_norms: Any,
    *,
    values: Any = None,
    value_label: str = "gain g",
    labels: Sequence[str] | None = None,
    colors: Sequence[Any] | None = None,
    relative: bool = False,
    split: bool = True,
    bounds: Mapping[str, Any] | None = None,
    spans: Mapping[str, tuple[float | int, float | int]] | None = None,
    cmap: Any = "viridis",
    ax: Any = None,
    title: str | None = None,
    xlabel: str = "lag d = T − k",
    ylabel: str | None = None,
) -> Figure:
    """Gradient norm against lag, ``log10 ‖∂L/∂s_{T−d}‖`` vs d, for a family of curves.

    With ``split=True`` (default) the curves that decay with the lag (vanishing) and those
    that grow (exploding) are drawn in two panels with their own y-ranges, so a curve
    rising by a few decades stays visible next to one falling by hundreds. A continuous
    family (`values`, e.g. the gain g) is coloured by a sequential colormap without a
    near-white end, with one colour bar shared by the panels; a categorical family
    (`labels`) gets a legend.

    **Arguments:**

    - `lags`: (n,) the lags d.
    - `log10_norms`: (M, n) or (n,) one row per curve (e.g. :func:`rnngrad.lag_profile`
      or ``FinalProfile.log10_norms`` reversed to lag order). Non-finite entries are gaps.
    - `values`: (M,) numbers that colour the curves (colour bar labelled `value_label`).
    - `labels`: (M,) legend labels. At least one of `values` and `labels` is required.
    - `colors`: (M,) colours for a categorical family (default: the colour cycle).
    - `relative`: subtract each curve's lag-0 value (the plot then starts at 0).
    - `split`: two panels, "vanishing" (last finite value below the first) and
      "exploding" (the others); ``False`` draws everything into one panel.
    - `bounds`: ``{label: (n,) array}`` theory or bound lines in the same units (e.g. the
      Pascanu bound ``d · log10(‖W_rec‖₂ γ)``), dashed, in the legend, clipped to the
      panel's data range and drawn only in a panel whose range they enter.
    - `spans`: ``{label: (start, stop)}`` shaded lag ranges (e.g. where the task's
      markers sit), in the legend.
    - `cmap`: a sequential colormap (name or object) for `values`.
    - `ax`: an Axes (``split=False``) or two Axes (``split=True``); default new ones.
    - `title`, `xlabel`, `ylabel`: text (`title` is the figure's suptitle when split).

    **Returns:** the matplotlib ``Figure``.

    **Raises:** ``ValueError`` for shapes that disagree, neither `values` nor `labels`,
    or a bound of the wrong length; ``TypeError`` for non-numeric arrays;
    ``ImportError`` without matplotlib.

    Reference: Bengio, Simard & Frasconi 1994; Pascanu, Mikolov & Bengio, ICML 2013.
    """
    lags = _array("lags", lags, (1,))
    curves = np.atleast_2d(_array("log10_norms", log10_norms, (1, 2)))
    n_curves, n = curves.shape
    if n != lags.shape[0]:
        raise ValueError(
            f"`log10_norms` has {n} lags per curve but `lags` has {lags.shape[0]}; they must agree."
        )
    if values is None and labels is None:
        raise ValueError("pass `values` (colour bar) or `labels` (legend) for the curves.")
    vals = None
    if values is not None:
        vals = _array("values", values, (0, 1)).reshape(-1)
        if vals.shape[0] != n_curves:
            raise ValueError(
                f"`values` must hold {n_curves} numbers (one per curve), got {vals.shape[0]}."
            )
        if not np.all(np.isfinite(vals)):
            raise ValueError("`values` must be finite.")
    labels = _labels("labels", labels, n_curves, required=False)
    bound_list = []
    for label, b in _references("bounds", bounds):
        b = _array(f"bounds[{label!r}]", b, (1,))
        if b.shape[0] != n:
            raise ValueError(
                f"`bounds[{label!r}]` must have {n} entries (one per lag), got {b.shape[0]}."
            )
        bound_list.append((label, b))
    span_list = _references("spans", spans)

    curves = np.where(np.isfinite(curves), curves, np.nan)
    if relative:
        curves = curves - curves[:, :1]
    mpl = _mpl()
    if vals is not None:
        cm = _truncated(cmap)
        lo, hi = float(vals.min()), float(vals.max())
        norm = mpl.colors.Normalize(lo, hi if hi > lo else lo + 1.0)
        colours = [cm(norm(v)) for v in vals]
    else:
        cm = norm = None
        colours = _colors("colors", colors, n_curves)

    def grows(row: np.ndarray) -> bool:
        finite = row[np.isfinite(row)]
        return bool(finite.size >= 2 and finite[-1] > finite[0])

    if split:
        growing = np.array([grows(r) for r in curves], dtype=bool)
        groups = [
            ("vanishing (decays with lag)", np.flatnonzero(~growing)),
            ("exploding (grows with lag)", np.flatnonzero(growing)),
        ]
    else:
        groups = [(None, np.arange(n_curves))]
    fig, axes = _axes("ax", ax, len(groups), (12.0 if split else 7.0, 4.5))
    if ylabel is None:
        ylabel = "log10 ‖∂L/∂s_{T−d}‖ / ‖∂L/∂s_T‖" if relative else "log10 ‖∂L/∂s_{T−d}‖"

    for a, (panel_title, idx) in zip(axes, groups):
        for label, (start, stop) in span_list:
            a.axvspan(float(start), float(stop), color="0.5", alpha=0.18, lw=0, label=label)
        if idx.size == 0:
            a.text(0.5, 0.5, "no curves", ha="center", va="center", transform=a.transAxes)
        n_idx = max(len(idx), 1)
        for j, i in enumerate(idx):
            lw = 1.4 if vals is None else 1.2
            label = labels[i] if labels is not None else "_nolegend_"
            a.plot(lags, curves[i], color=colours[i], lw=lw, label=label, zorder=2 + j / n_idx)
        rng = _finite_range([curves[i] for i in idx])
        a.set_xlim(float(lags.min()), float(lags.max()) if lags.max() > lags.min() else None)
        if rng is not None:
            ylo, yhi = _padded(*rng)
            a.set_ylim(ylo, yhi)
            a.set_autoscaley_on(False)
            for k, (label, b) in enumerate(bound_list):
                inside = np.isfinite(b) & (b >= ylo) & (b <= yhi)
                if inside.any():
                    a.plot(
                        lags,
                        b,
                        color="k",
                        lw=1.0,
                        ls=_REF_STYLES[k % len(_REF_STYLES)],
                        label=label,
                        zorder=4,
                    )
        a.grid(alpha=0.3)
        _set_text(
            a,
            xlabel=xlabel,
            ylabel=ylabel,
            title=panel_title if not (title and not split) else title,
        )
        _legend(a, loc="best")
    if split and title:
        if ax is None:
            fig.suptitle(title)
        else:
            for a, (panel_title, _) in zip(axes, groups):
                a.set_title(f"{title}: {panel_title}")
    if vals is not None:
        sm = mpl.cm.ScalarMappable(norm=norm, cmap=cm)
        fig.colorbar(sm, ax=axes, label=value_label)
    return fig


# --------------------------------------------------------------------------- heatmaps


def _color_limits(
    mats: Sequence[np.ndarray], vmin: float | None, vmax: float | None, center: float | None
) -> tuple[float, float]:
    rng = _finite_range(mats) or (0.0, 1.0)
    lo = rng[0] if vmin is None else float(vmin)
    hi = rng[1] if vmax is None else float(vmax)
    if center is not None:
        half = max(abs(hi - center), abs(lo - center)) or 1.0
        lo, hi = center - half, center + half
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def contributions(
    matrices: Any,
    *,
    titles: Sequence[str] | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: Any = "viridis",
    colorbar_label: str = "log10 ‖∂L_t/∂s_k‖",
    axes: Any = None,
    title: str | None = None,
    xlabel: str = "k (state)",
    ylabel: str = "t (loss)",
) -> Figure:
    """T × T heatmaps of ``log10 ‖∂L_t/∂s_k‖``, one panel per matrix, one colour scale.

    Every panel shares `vmin`/`vmax` (default: the finite range over all panels) and one
    colour bar, so a regime that vanishes looks different from one that explodes.
    Non-finite entries (the structurally zero t < k triangle, underflow) are left blank.

    **Arguments:**

    - `matrices`: (P, T, T) or a sequence of 2-D arrays, e.g. ``Contributions.log_norms /
      ln 10`` for each gain (rows t, columns k).
    - `titles`: (P,) panel titles (e.g. ``"g = 0.5"``).
    - `vmin`, `vmax`: override the shared colour limits.
    - `cmap`: the colormap; `colorbar_label`: the shared colour bar's label.
    - `axes`: P Axes to draw into (default: a new row of panels).
    - `title`, `xlabel`, `ylabel`: text (`title` is the suptitle of a new figure).

    **Returns:** the matplotlib ``Figure``.

    **Raises:** ``ValueError`` for a matrix that is not 2-D or a `titles` of the wrong
    length; ``TypeError`` for non-numeric input; ``ImportError`` without matplotlib.

    Reference: Pascanu, Mikolov & Bengio, ICML 2013, eqs. (3)-(5).
    """
    mats = _series_2d("matrices", matrices)
    titles = _labels("titles", titles, len(mats), required=False)
    lo, hi = _color_limits(mats, vmin, vmax, None)
    fig, axs = _axes("axes", axes, len(mats), (4.2 * len(mats) + 1.2, 4.0))
    mpl = _mpl()
    norm = mpl.colors.Normalize(lo, hi)
    cm = (mpl.colormaps[cmap] if isinstance(cmap, str) else cmap).with_extremes(bad="0.92")
    im = None
    for i, (a, m) in enumerate(zip(axs, mats)):
        masked = np.ma.masked_invalid(m)
        im = a.imshow(masked, origin="lower", cmap=cm, norm=norm, interpolation="nearest")
        _set_text(a, xlabel=xlabel, ylabel=ylabel, title=titles[i] if titles else None)
    fig.colorbar(im, ax=axs, label=colorbar_label, shrink=0.9)
    if title is not None:
        if axes is None:
            fig.suptitle(title)
        else:
            axs[0].set_title(f"{title}: {axs[0].get_title()}" if titles else title)
    return fig


def _series_2d(name: str, value: Any) -> list[np.ndarray]:
    if hasattr(value, "shape"):
        arr = _array(name, value, (2, 3))
        return list(arr[None] if arr.ndim == 2 else arr)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise TypeError(
            f"`{name}` must be a 3-D array or a non-empty sequence of 2-D arrays, "
            f"got {describe(value)}."
        )
    return [_array(f"{name}[{i}]", v, (2,)) for i, v in enumerate(value)]


def phase_diagram(
    x: Any,
    y: Any,
    values: Any,
    *,
    critical: Mapping[str, tuple[Any, Any]] | None = None,
    points: Mapping[str, tuple[float | int, float | int]] | None = None,
    titles: Sequence[str] | None = None,
    center: float | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: Any = None,
    colorbar_label: str = "",
    ax: Any = None,
    title: str | None = None,
    xlabel: str = "σ_w",
    ylabel: str = "σ_b",
) -> Figure:
    """A quantity over a 2-D grid (e.g. σ_w × σ_b, or leak rate × spectral radius).

    Panels (a 3-D `values`) share one colour scale and one colour bar. With `center`
    the scale is symmetric about it and the default colormap diverging (e.g. a rate
    centred on 0, or χ₁ centred on 1); otherwise sequential.

    **Arguments:**

    - `x`: (nx,) the grid's columns; `y`: (ny,) its rows (monotonic).
    - `values`: (ny, nx) or (P, ny, nx); non-finite cells are blank.
    - `critical`: ``{label: (xs, ys)}`` curves such as the edge of chaos χ₁ = 1 (from
      :func:`rnngrad.theory.critical_gain` over σ_b), drawn on every panel, clipped to
      the grid and in the legend.
    - `points`: ``{label: (x, y)}`` marked points (e.g. the best setting), in the legend.
    - `titles`: (P,) panel titles. `center`, `vmin`, `vmax`, `cmap`: the colour scale.
    - `colorbar_label`: label of the shared colour bar.
    - `ax`: an Axes (or P Axes); default new ones.
    - `title`, `xlabel`, `ylabel`: text (`title` is the suptitle for several panels).

    **Returns:** the matplotlib ``Figure``.

    **Raises:** ``ValueError`` if `values` does not have shape (ny, nx) per panel or a
    critical curve's xs and ys differ in length; ``TypeError`` for non-numeric input;
    ``ImportError`` without matplotlib.

    Reference: Poole et al. 2016; Schoenholz et al. 2017 (mean-field phase diagrams).
    """
    x = _array("x", x, (1,))
    y = _array("y", y, (1,))
    mats = _series_2d("values", values)
    for i, m in enumerate(mats):
        if m.shape != (y.shape[0], x.shape[0]):
            raise ValueError(
                f"`values` must have shape (len(y), len(x)) = "
                f"({y.shape[0]}, {x.shape[0]}) per panel, got {m.shape} "
                f"(panel {i})."
            )
    titles = _labels("titles", titles, len(mats), required=False)
    curves = []
    for label, cv in _references("critical", critical):
        if not isinstance(cv, (tuple, list)) or len(cv) != 2:
            raise TypeError(f"`critical[{label!r}]` must be a pair (xs, ys), got {describe(cv)}.")
        cx = _array(f"critical[{label!r}] xs", cv[0], (0, 1)).reshape(-1)
        cy = _array(f"critical[{label!r}] ys", cv[1], (0, 1)).reshape(-1)
        if cx.shape != cy.shape:
            raise ValueError(
                f"`critical[{label!r}]`: xs has {cx.shape[0]} entries, ys "
                f"{cy.shape[0]}; they must agree."
            )
        curves.append((label, cx, cy))
    marks = [(label, tuple(float(v) for v in p)) for label, p in _references("points", points)]
    lo, hi = _color_limits(mats, vmin, vmax, center)
    fig, axs = _axes("ax", ax, len(mats), (5.6 * len(mats) + 1.0, 4.6))
    mpl = _mpl()
    if cmap is None:
        cmap = "RdBu_r" if center is not None else "viridis"
    cm = (mpl.colormaps[cmap] if isinstance(cmap, str) else cmap).with_extremes(bad="0.92")
    norm = mpl.colors.Normalize(lo, hi)
    stroke = [mpl.patheffects.withStroke(linewidth=3.0, foreground="w")]
    xlim = _cell_edges(x)
    ylim = _cell_edges(y)
    mesh = None
    for i, (a, m) in enumerate(zip(axs, mats)):
        mesh = a.pcolormesh(x, y, np.ma.masked_invalid(m), shading="nearest", cmap=cm, norm=norm)
        for k, (label, cx, cy) in enumerate(curves):
            inside = (cx >= min(xlim)) & (cx <= max(xlim)) & (cy >= min(ylim)) & (cy <= max(ylim))
            a.plot(
                np.where(inside, cx, np.nan),
                np.where(inside, cy, np.nan),
                color="k",
                lw=1.6,
                ls=_REF_STYLES[k % len(_REF_STYLES)],
                label=label,
                path_effects=stroke,
            )
        for k, (label, (px, py)) in enumerate(marks):
            a.plot(
                px,
                py,
                ls="none",
                marker=_MARKERS[(k + 9) % len(_MARKERS)],
                ms=13,
                color="r",
                mec="w",
                label=label,
            )
        a.set_xlim(*xlim)
        a.set_ylim(*ylim)
        _set_text(
            a,
            xlabel=xlabel,
            ylabel=ylabel,
            title=titles[i] if titles else (title if len(mats) == 1 else None),
        )
        _legend(a, loc="best")
    fig.colorbar(mesh, ax=axs, label=colorbar_label)
    if title is not None and len(mats) > 1:
        if ax is None:
            fig.suptitle(title)
        else:
            axs[0].set_title(f"{title}: {axs[0].get_title()}")
    return fig


def _cell_edges(v: np.ndarray) -> tuple[float, float]:
    """The outer edges of a ``shading="nearest"`` grid along one axis."""
    if v.shape[0] == 1:
        return float(v[0]) - 0.5, float(v[0]) + 0.5
    return float(v[0] - (v[1] - v[0]) / 2), float(v[-1] + (v[-1] - v[-2]) / 2)


# --------------------------------------------------------------------------- rates


def rates(
    gains: Any,
    rates: Any,
    *,
    labels: Sequence[str],
    lyapunov: Any = None,
    theory: Mapping[str, Any] | None = None,
    vlines: Mapping[str, float | int] | None = None,
    band: float | None = None,
    colors: Sequence[Any] | None = None,
    ax: Any = None,
    title: str | None = None,
    xlabel: str = "gain g",
    ylabel: str = "growth rate per step (natural log)",
) -> Figure:
    """Per-step gradient growth rate against the gain, with λ₁ and the theory beside it.

    Measured rates are lines (the first series widest, so a later series that coincides
    with it still shows on top); the largest Lyapunov exponents are open markers of the
    same colour; theory lines are black, clipped to the measured data's x- and y-range.
    Every line is in the legend.

    **Arguments:**

    - `gains`: (G,) the gains g.
    - `rates`: (M, G) or (G,) fitted ln-rates per step (e.g. :func:`rnngrad.decay_rate`).
    - `labels`: (M,) series names (e.g. ``"tanh"``).
    - `lyapunov`: (M, G) largest Lyapunov exponents λ₁, same series (optional).
    - `theory`: ``{label: (G,) array}`` on `gains`, or ``{label: (xs, ys)}`` on its own
      grid: predictions such as ``ln(‖W_rec‖₂ γ)`` or mean-field ``½ ln χ₁``.
    - `vlines`: ``{label: x}`` vertical markers, e.g. a measured zero crossing and the
      predicted edge of chaos; non-finite values are skipped (and not in the legend).
    - `band`: half-width of a shaded "marginal" band around rate 0.
    - `colors`: (M,) colours; `ax`: the Axes (default new).
    - `title`, `xlabel`, `ylabel`: text.

    **Returns:** the matplotlib ``Figure``.

    **Raises:** ``ValueError`` for shapes that disagree or a missing label;
    ``TypeError`` for non-numeric input; ``ImportError`` without matplotlib.

    Reference: Pascanu, Mikolov & Bengio, ICML 2013; Poole et al. 2016.
    """
    g = _array("gains", gains, (1,))
    r = np.atleast_2d(_array("rates", rates, (1, 2)))
    if r.shape[1] != g.shape[0]:
        raise ValueError(
            f"`rates` has {r.shape[1]} gains per series but `gains` has "
            f"{g.shape[0]}; they must agree."
        )
    m = r.shape[0]
    labels = _labels("labels", labels, m)
    lyap = None
    if lyapunov is not None:
        lyap = np.atleast_2d(_array("lyapunov", lyapunov, (1, 2)))
        if lyap.shape != r.shape:
            raise ValueError(
                f"`lyapunov` must have the shape of `rates` {r.shape}, got {lyap.shape}."
            )
    theories = []
    for label, t in _references("theory", theory):
        if isinstance(t, tuple) and len(t) == 2:
            tx = _array(f"theory[{label!r}] xs", t[0], (1,))
            ty = _array(f"theory[{label!r}] ys", t[1], (1,))
        else:
            tx, ty = g, _array(f"theory[{label!r}]", t, (1,))
        if tx.shape != ty.shape:
            raise ValueError(
                f"`theory[{label!r}]` has {ty.shape[0]} values for "
                f"{tx.shape[0]} gains; they must agree."
            )
        theories.append((label, tx, ty))
    verticals = [(label, float(v)) for label, v in _references("vlines", vlines)]
    colours = _colors("colors", colors, m)

    fig, (a,) = _axes("ax", ax, 1, (7.5, 4.8))
    gmin, gmax = float(np.nanmin(g)), float(np.nanmax(g))
    widths = np.linspace(3.2, 1.3, m) if m > 1 else np.array([1.8])
    for i in range(m):
        a.plot(
            g,
            r[i],
            color=colours[i],
            lw=float(widths[i]),
            solid_capstyle="butt",
            label=f"{labels[i]}: gradient rate",
            zorder=2 + i / m,
        )
    if lyap is not None:
        every = max(1, g.shape[0] // 25)
        for i in range(m):
            a.plot(
                g,
                lyap[i],
                ls="none",
                marker=_MARKERS[i % len(_MARKERS)],
                ms=5,
                mfc="none",
                mec=colours[i],
                mew=1.2,
                markevery=(i % every, every),
                label=f"{labels[i]}: λ₁",
                zorder=3.5,
            )
    rng = _finite_range([r] + ([lyap] if lyap is not None else []))
    lo, hi = _padded(*(rng or (-1.0, 1.0)))
    if band is not None:
        band = float(band)
        lo, hi = min(lo, -1.5 * band), max(hi, 1.5 * band)
        a.axhspan(
            -band, band, color="0.5", alpha=0.2, lw=0, label=f"marginal band |rate| ≤ {band:g}"
        )
    for k, (label, tx, ty) in enumerate(theories):
        inside = (tx >= gmin) & (tx <= gmax)
        a.plot(
            tx[inside],
            ty[inside],
            color="k",
            lw=1.1,
            ls=_REF_STYLES[k % len(_REF_STYLES)],
            label=label,
            zorder=4,
        )
    for k, (label, v) in enumerate(verticals):
        if math.isfinite(v):
            a.axvline(
                v,
                color=f"C{(m + k) % 10}",
                lw=1.1,
                ls=_REF_STYLES[(k + 1) % len(_REF_STYLES)],
                label=label,
            )
    a.set_xlim(gmin, gmax if gmax > gmin else gmin + 1.0)
    a.set_ylim(lo, hi)
    a.grid(alpha=0.3)
    _set_text(a, xlabel=xlabel, ylabel=ylabel, title=title)
    _legend(a, fontsize=7, loc="best")
    return fig


# --------------------------------------------------------------------------- training


def success(
    names: Sequence[str],
    successes: Any,
    trials: Any,
    *,
    groups: Sequence[str] | None = None,
    z: float = _Z95,
    colors: Sequence[Any] | None = None,
    ax: Any = None,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str = "fraction of seeds solved",
) -> Figure:
    """Success-rate bars with Wilson score intervals, grouped (e.g. by length T).

    Each bar is ``successes / trials`` with its Wilson interval as the error bar (the
    lower end is exactly 0 at 0 successes, the upper exactly 1 at all successes) and the
    count ``k/n`` written above it.

    **Arguments:**

    - `names`: (M,) the methods (legend entries).
    - `successes`: (M,) or (M, G) integer counts.
    - `trials`: the number of seeds, an int or an array broadcastable to `successes`; 0
      where a method was not run in a group (no bar there, labelled "not run").
    - `groups`: (G,) group names on the x-axis (e.g. ``["T = 100", "T = 200"]``).
    - `z`: the normal quantile of the interval (default 95 %).
    - `colors`: (M,) colours; `ax`: the Axes (default new).
    - `title`, `xlabel`, `ylabel`: text.

    **Returns:** the matplotlib ``Figure``.

    **Raises:** ``ValueError`` for non-integer or negative counts, ``successes >
    trials``, or labels of the wrong length; ``ImportError`` without matplotlib.

    Reference: Wilson, "Probable inference, the law of succession, and statistical
    inference", JASA 1927.
    """
    k = _array("successes", successes, (1, 2))
    k2 = k.reshape(k.shape[0], -1)
    try:
        n = np.broadcast_to(_array("trials", trials, (0, 1, 2)), k.shape).reshape(k2.shape)
    except ValueError as e:
        raise ValueError(
            f"`trials` must broadcast to the shape of `successes` {k.shape}: {e}"
        ) from e
    for name, arr in (("successes", k2), ("trials", n)):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)) or np.any(arr < 0):
            raise ValueError(f"`{name}` must hold non-negative integers.")
    if np.any(k2 > n):
        raise ValueError("`successes` must not exceed `trials`.")
    if not (isinstance(z, (int, float)) and z > 0):
        raise ValueError(f"`z` must be a positive number, got {z!r}.")
    m, ng = k2.shape
    names = _labels("names", names, m)
    groups = _labels("groups", groups, ng, required=ng > 1)
    colours = _colors("colors", colors, m)
    lo, hi = _wilson(k2, n, float(z))
    rate = np.where(n > 0, k2 / np.maximum(n, 1.0), 0.0)

    fig, (a,) = _axes("ax", ax, 1, (max(5.0, 1.1 * ng * (m + 1) + 2.5), 4.5))
    width = 0.8 / m
    run = n > 0  # 0 trials: that method was not run in that group (no bar, "not run")
    for i in range(m):
        xs = np.arange(ng) + (i - m / 2 + 0.5) * width
        err = np.where(run[i], np.stack([rate[i] - lo[i], hi[i] - rate[i]]), 0.0)
        a.bar(
            xs,
            np.where(run[i], rate[i], 0.0),
            width,
            color=colours[i],
            label=names[i],
            yerr=err,
            capsize=2,
            error_kw={"lw": 0.9},
        )
        for x_, ki, ni in zip(xs, k2[i], n[i]):
            text = f"{int(ki)}/{int(ni)}" if ni > 0 else "not run"
            a.text(x_, 1.02, text, ha="center", va="bottom", fontsize=6, rotation=90 * (ni <= 0))
    a.set_xticks(np.arange(ng), groups if groups is not None else [""])
    a.set_ylim(0, 1.1)
    a.set_xlim(-0.5, ng - 0.5)
    _set_text(a, xlabel=xlabel, ylabel=ylabel, title=title)
    a.legend(
        fontsize=7,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        title=f"Wilson {100 * (1 - 2 * _normal_tail(float(z))):.0f} % intervals",
        title_fontsize=7,
    )
    return fig


def _normal_tail(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def training_curves(
    curves: Any,
    *,
    labels: Sequence[str],
    steps: Any = None,
    band: str | None = "range",
    log: bool = True,
    hlines: Mapping[str, float | int] | None = None,
    colors: Sequence[Any] | None = None,
    ax: Any = None,
    title: str | None = None,
    xlabel: str = "training step",
    ylabel: str = "loss",
) -> Figure:
    """Loss or gradient-norm curves: the median over seeds and a band, one line per method.

    **Arguments:**

    - `curves`: a sequence (one per method) of (seeds, n) or (n,) arrays, or one
      (M, seeds, n) array; non-finite entries (diverged seeds) are ignored.
    - `labels`: (M,) method names (legend entries).
    - `steps`: the x-axis: ``None`` (0..n−1), an int (the run's total steps, the n
      points spread over it; block-reduced curves) or a sequence of them per method.
    - `band`: ``"range"`` (min–max over seeds), ``"iqr"`` (25–75 %) or ``None``.
    - `log`: logarithmic y-axis.
    - `hlines`: ``{label: y}`` horizontal references (e.g. the clip threshold, the
      loss of predicting the mean), in the legend.
    - `colors`: (M,) colours; `ax`: the Axes (default new).
    - `title`, `xlabel`, `ylabel`: text.

    **Returns:** the matplotlib ``Figure``.

    **Raises:** ``ValueError`` for labels or steps of the wrong length or an unknown
    `band`; ``TypeError`` for non-numeric input; ``ImportError`` without matplotlib.
    """
    if hasattr(curves, "shape"):
        arr = _array("curves", curves, (1, 2, 3))
        per = [arr] if arr.ndim < 3 else list(arr)
    elif isinstance(curves, Sequence) and not isinstance(curves, (str, bytes)) and curves:
        per = [_array(f"curves[{i}]", c, (1, 2)) for i, c in enumerate(curves)]
    else:
        raise TypeError(
            f"`curves` must be an array or a non-empty sequence of arrays, got {describe(curves)}."
        )
    per = [np.atleast_2d(c) for c in per]
    m = len(per)
    labels = _labels("labels", labels, m)
    if band not in ("range", "iqr", None):
        raise ValueError(f"`band` must be 'range', 'iqr' or None, got {band!r}.")
    if steps is None or isinstance(steps, (int, np.integer)):
        steps_list = [steps] * m
    elif isinstance(steps, Sequence) and len(steps) == m:
        steps_list = list(steps)
    else:
        raise ValueError(
            f"`steps` must be None, an int, or {m} ints (one per curve), got {steps!r}."
        )
    refs = _references("hlines", hlines)
    colours = _colors("colors", colors, m)

    fig, (a,) = _axes("ax", ax, 1, (7.0, 4.5))
    for i, c in enumerate(per):
        npts = c.shape[1]
        s = steps_list[i]
        x = np.arange(npts, dtype=float) if s is None else np.linspace(0.0, float(s), npts)
        c = np.where(np.isfinite(c), c, np.nan)
        if log:
            c = np.where(c > 0, c, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
            med = np.nanmedian(c, axis=0)
            if band == "range":
                blo, bhi = np.nanmin(c, axis=0), np.nanmax(c, axis=0)
            elif band == "iqr":
                blo, bhi = np.nanpercentile(c, [25.0, 75.0], axis=0)
        a.plot(x, med, color=colours[i], lw=1.4, label=labels[i], zorder=3)
        if band is not None and c.shape[0] > 1:
            ok = np.isfinite(blo) & np.isfinite(bhi)
            a.fill_between(
                x,
                np.where(ok, blo, np.nan),
                np.where(ok, bhi, np.nan),
                color=colours[i],
                alpha=0.15,
                lw=0,
            )
    _hlines(a, refs)
    if log:
        a.set_yscale("log")
    a.grid(alpha=0.3)
    _set_text(a, xlabel=xlabel, ylabel=ylabel, title=title)
    band_text = {"range": "min–max", "iqr": "25–75 %", None: None}[band]
    legend_title = "median over seeds" + (f"; band {band_text}" if band_text else "")
    _legend(a, fontsize=7, loc="best", title=legend_title, title_fontsize=7)
    return fig


# --------------------------------------------------------------------------- series


def curves(
    x: Any,
    ys: Any,
    *,
    labels: Sequence[str],
    markers: bool = True,
    log: bool = False,
    hlines: Mapping[str, float | int] | None = None,
    colors: Sequence[Any] | None = None,
    linestyles: Sequence[Any] | None = None,
    ax: Any = None,
    title: str | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
) -> Figure:
    """Several labelled series over one x-axis (memory capacity vs spectral radius, loss
    vs delay, a prediction vs its target, ...), each with its own marker.

    **Arguments:**

    - `x`: (n,) shared x values, or a sequence of per-series (n_i,) arrays.
    - `ys`: (M, n) or a sequence of (n_i,) arrays.
    - `labels`: (M,) legend entries. `markers`: a distinct marker per series.
    - `log`: logarithmic y-axis (non-positive values are gaps).
    - `hlines`: ``{label: y}`` horizontal references, in the legend.
    - `colors`, `linestyles`: (M,) styles; `ax`: the Axes (default new).
    - `title`, `xlabel`, `ylabel`: text.

    **Returns:** the matplotlib ``Figure``.

    **Raises:** ``ValueError`` for lengths that disagree; ``TypeError`` for non-numeric
    input; ``ImportError`` without matplotlib.
    """
    rows = _series("ys", ys)
    m = len(rows)
    if hasattr(x, "shape") or (isinstance(x, Sequence) and x and np.isscalar(x[0])):
        xs = [_array("x", x, (1,))] * m
    else:
        xs = _series("x", x)
        if len(xs) != m:
            raise ValueError(f"`x` holds {len(xs)} series but `ys` {m}; they must agree.")
    for i, (xi, yi) in enumerate(zip(xs, rows)):
        if xi.shape != yi.shape:
            raise ValueError(
                f"series {i}: `x` has {xi.shape[0]} points, `ys` {yi.shape[0]}; they must agree."
            )
    labels = _labels("labels", labels, m)
    colours = _colors("colors", colors, m)
    styles = ["-"] * m if linestyles is None else list(linestyles)
    if len(styles) != m:
        raise ValueError(f"`linestyles` must hold {m} styles, got {len(styles)}.")
    refs = _references("hlines", hlines)

    fig, (a,) = _axes("ax", ax, 1, (6.5, 4.5))
    for i in range(m):
        y = np.where(np.isfinite(rows[i]), rows[i], np.nan)
        if log:
            y = np.where(y > 0, y, np.nan)
        mk = _MARKERS[i % len(_MARKERS)] if markers else None
        a.plot(xs[i], y, color=colours[i], ls=styles[i], marker=mk, ms=4, lw=1.3, label=labels[i])
    _hlines(a, refs)
    if log:
        a.set_yscale("log")
    a.grid(alpha=0.3)
    _set_text(a, xlabel=xlabel, ylabel=ylabel, title=title)
    _legend(a, fontsize=7, loc="best")
    return fig


def spectra(
    values: Any,
    *,
    labels: Sequence[str],
    index: Any = None,
    log: bool = False,
    hlines: Mapping[str, float | int] | None = None,
    colors: Sequence[Any] | None = None,
    ax: Any = None,
    title: str | None = None,
    xlabel: str = "index i",
    ylabel: str = "λ_i (per step)",
) -> Figure:
    """Spectra: Lyapunov exponents or singular values against their index, several series.

    **Arguments:**

    - `values`: (M, n) or a sequence of (n_i,) arrays, each sorted as it should be read
      (e.g. :func:`rnngrad.lyapunov_spectrum` before and after flossing).
    - `labels`: (M,) legend entries.
    - `index`: (n,) x values (default 1..n_i per series).
    - `log`: logarithmic y-axis (singular values). `hlines`: ``{label: y}`` references
      such as ``{"λ = 0": 0.0}``, in the legend.
    - `colors`: (M,) colours; `ax`: the Axes (default new).
    - `title`, `xlabel`, `ylabel`: text.

    **Returns:** the matplotlib ``Figure``.

    **Raises:** as :func:`curves`.

    Reference: Engelken, "Gradient flossing", NeurIPS 2023 (spectra before/after).
    """
    rows = _series("values", values)
    x = [np.arange(1, r.shape[0] + 1, dtype=float) for r in rows] if index is None else index
    return curves(
        x,
        rows,
        labels=labels,
        markers=True,
        log=log,
        hlines=hlines,
        colors=colors,
        ax=ax,
        title=title,
        xlabel=xlabel,
        ylabel=ylabel,
    )


def state_space(
    trajectories: Any,
    points: Any = None,
    *,
    stable: Any = None,
    labels: Any = None,
    components: tuple[int, int] = (0, 1),
    ax: Any = None,
    title: str | None = None,
) -> Figure:
    """Trajectories and fixed points in the top principal components of the states.

    The principal axes come from the trajectories' states (all of them, centred); fixed
    points are projected on the same axes: stable ones filled, unstable ones hollow
    (Sussillo & Barak 2013, Fig. 2).

    **Arguments:**

    - `trajectories`: (B, T, S) states of B runs (or (T, S): one).
    - `points`: (M, S) fixed points (e.g. ``rg.fixed_points(...).points``), optional.
    - `stable`: (M,) bools (``FixedPoints.stable``); default all stable.
    - `labels`: (M,) annotations written beside the points (e.g. the memory each one
      holds), optional.
    - `components`: the two principal components to show (0-based, default the top two).
    - `ax`: the Axes (default new); `title`: text.

    **Returns:** the matplotlib ``Figure`` (axes labelled with each component's share of
    the variance).

    **Raises:** ``ValueError`` for shapes that disagree or a component beyond S;
    ``TypeError`` for non-numeric input; ``ImportError`` without matplotlib.
    """
    traj = _array("trajectories", trajectories, (2, 3))
    traj = traj[None] if traj.ndim == 2 else traj
    size = traj.shape[-1]
    if (
        not isinstance(components, tuple)
        or len(components) != 2
        or not all(isinstance(c, int) and 0 <= c < size for c in components)
    ):
        raise ValueError(
            f"`components` must be two ints in [0, {size}) (principal components), got "
            f"{components!r}."
        )
    pts = np.zeros((0, size)) if points is None else _array("points", points, (2,))
    if pts.shape[1] != size:
        raise ValueError(
            f"`points` must have the trajectories' state size {size}, got shape {pts.shape}."
        )
    keep = np.ones(len(pts), bool) if stable is None else _array("stable", stable, (1,)) > 0
    if keep.shape != (len(pts),):
        raise ValueError(f"`stable` must hold {len(pts)} flags, got {keep.shape[0]}.")
    names = None if labels is None else _labels("labels", labels, len(pts))
    flat = traj.reshape(-1, size)
    mean = flat.mean(axis=0)
    _, sing, vt = np.linalg.svd(flat - mean, full_matrices=False)
    share = sing**2 / max(float(np.sum(sing**2)), np.finfo(float).tiny)
    axes = vt[list(components)].T
    fig, (a,) = _axes("ax", ax, 1, (6.0, 5.0))
    for run in traj:
        xy = (run - mean) @ axes
        a.plot(xy[:, 0], xy[:, 1], color="0.6", lw=0.6, alpha=0.7)
    xy = (pts - mean) @ axes
    if len(pts):
        a.scatter(*xy[keep].T, s=40, color="C3", zorder=3, label="stable fixed point")
        a.scatter(*xy[~keep].T, s=40, facecolors="none", edgecolors="C0", zorder=3,
                  label="unstable fixed point")  # fmt: skip
        for (x, y), name in zip(xy, names or []):
            a.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    i, j = components
    a.set_xlabel(f"PC{i + 1} ({share[i]:.0%} of variance)")
    a.set_ylabel(f"PC{j + 1} ({share[j]:.0%} of variance)")
    a.grid(alpha=0.3)
    _set_text(a, xlabel=None, ylabel=None, title=title)
    _legend(a, fontsize=7, loc="best")
    return fig


# --------------------------------------------------------------------------- save


def save(fig: Figure, path: Checked[str | Path], *, dpi: Checked[int] = 110) -> Path:
    """Write `fig` atomically (PNG, or the format the suffix names) and close it.

    The file is written to a temporary name and renamed, so a reader never sees half a
    figure. A figure that pyplot manages is closed there too, freeing its memory.

    **Arguments:** `fig` (a matplotlib ``Figure``), `path` (the file; its suffix picks
    the format, ``.png`` by default), `dpi` (resolution).

    **Returns:** the ``Path`` written.

    **Raises:** ``TypeError`` if `fig` is not a Figure; ``ValueError`` for a suffix
    matplotlib cannot write; ``ImportError`` without matplotlib.
    """
    _mpl()
    from matplotlib.figure import Figure as _Figure

    if not isinstance(fig, _Figure):
        raise TypeError(f"`fig` must be a matplotlib Figure, got {describe(fig)}.")
    path = check_path("path", path, kind="file")
    check_int("dpi", dpi, minimum=1, where="save")
    fmt = path.suffix[1:].lower() or "png"
    if fmt not in fig.canvas.get_supported_filetypes():
        raise ValueError(
            f"`path` {str(path)!r}: matplotlib cannot write {fmt!r} files; use '.png'."
        )
    atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight"))
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
    return path
