"""rg.plot: the figure defects of issue #11 stay fixed (read back from the drawn artists:
limits, colours, legend texts, error bars, colour limits), and every input is checked."""

import os
import sys

import numpy as np
import pytest

mpl = pytest.importorskip("matplotlib")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import rnngrad.plot as rgp  # noqa: E402

LAGS = np.arange(40.0)
GAINS = np.linspace(0.5, 1.5, 11)


def visible_labels(ax):
    artists = [*ax.lines, *ax.patches, *ax.collections, *ax.containers]
    return {a.get_label() for a in artists if not a.get_label().startswith("_")}


def legend_texts(ax):
    legend = ax.get_legend()
    return set() if legend is None else {t.get_text() for t in legend.get_texts()}


def assert_legend_complete(ax):
    labels = visible_labels(ax)
    assert labels and labels <= legend_texts(ax), (labels, legend_texts(ax))


def test_exploding_curve_is_not_squashed_by_a_vanishing_one():
    # one curve falls by 300 decades, one rises by 3: in one panel the rise would be 1 %
    curves = np.stack([-7.5 * LAGS, 3.0 * LAGS / LAGS[-1]])
    fig = rgp.lag_profiles(LAGS, curves, labels=["g = 0.3", "g = 1.2"])
    vanishing, exploding = fig.axes
    (line,) = [ln for ln in exploding.lines if ln.get_label() == "g = 1.2"]
    y, (lo, hi) = line.get_ydata(), exploding.get_ylim()
    assert lo <= y.min() and y.max() <= hi
    assert (y.max() - y.min()) / (hi - lo) > 0.8
    assert [ln.get_label() for ln in vanishing.lines] == ["g = 0.3"]
    assert exploding.get_ylabel() == "log10 ‖∂L/∂s_{T−d}‖"
    assert exploding.get_xlabel() == "lag d = T − k"
    for ax in fig.axes:
        assert_legend_complete(ax)


@pytest.mark.parametrize("cmap", ["viridis", "magma", "Blues", "Greys"])
def test_curves_near_gain_one_are_not_near_white(cmap):
    values = np.linspace(0.9, 1.1, 9)
    curves = np.outer(np.log10(values), LAGS)
    fig = rgp.lag_profiles(LAGS, curves, values=values, cmap=cmap, split=False)
    ax, colourbar = fig.axes
    assert len(ax.lines) == 9 and colourbar.get_ylabel() == "gain g"
    luminance = [np.dot(to_rgb(ln.get_color()), [0.2126, 0.7152, 0.0722]) for ln in ax.lines]
    assert max(luminance) < 0.82  # white is 1


def test_bounds_and_spans_are_in_the_legend_and_do_not_set_the_limits():
    curves = np.stack([-0.1 * LAGS, -0.2 * LAGS])
    bound = {"Pascanu bound": -0.05 * LAGS, "far bound": 100.0 + LAGS}
    fig = rgp.lag_profiles(
        LAGS, curves, labels=["a", "b"], bounds=bound, spans={"markers": (5.0, 9.0)}, split=False
    )
    (ax,) = fig.axes
    assert_legend_complete(ax)
    assert {"a", "b", "Pascanu bound", "markers"} <= legend_texts(ax)
    assert "far bound" not in visible_labels(ax)  # never enters the data range
    assert ax.get_ylim()[1] < 1.0


def test_contributions_share_one_colour_scale_and_do_not_overlap():
    rng = np.random.default_rng(0)
    mats = [np.tril(rng.normal(size=(6, 6)) + 10.0 * i) for i in range(3)]
    for m in mats:
        m[np.triu_indices(6, 1)] = -np.inf
    fig = rgp.contributions(mats, titles=["g = 0.5", "g = 1.0", "g = 1.5"])
    panels = [a for a in fig.axes if a.images]
    assert len(panels) == 3 and len(fig.axes) == 4  # one colour bar for all
    clims = {p.images[0].get_clim() for p in panels}
    finite = np.concatenate([m[np.isfinite(m)] for m in mats])
    assert clims == {(finite.min(), finite.max())}
    assert [p.get_title() for p in panels] == ["g = 0.5", "g = 1.0", "g = 1.5"]
    assert panels[0].get_xlabel() == "k (state)" and panels[0].get_ylabel() == "t (loss)"
    assert fig.axes[3].get_ylabel() == "log10 ‖∂L_t/∂s_k‖"
    FigureCanvasAgg(fig).draw()
    boxes = [a.get_tightbbox(fig.canvas.get_renderer()) for a in fig.axes]
    page = fig.bbox.padded(1.0)
    assert all(page.containsx(b.x0) and page.containsx(b.x1) for b in boxes)  # nothing cut off
    assert not any(boxes[i].overlaps(boxes[j]) for i in range(4) for j in range(i))


def test_rates_markers_lines_theory_clipped_and_legend():
    r = np.stack([np.log(GAINS), 0.9 * np.log(GAINS)])
    theory = {"ln ‖W‖γ": 50.0 * np.log(GAINS), "mean field": (np.linspace(0, 3, 31), np.ones(31))}
    fig = rgp.rates(
        GAINS,
        r,
        labels=["tanh", "relu"],
        lyapunov=r + 0.01,
        theory=theory,
        vlines={"edge": 1.0, "missing": np.nan},
        band=0.05,
    )
    (ax,) = fig.axes
    by_label = {ln.get_label(): ln for ln in ax.lines}
    for name in ("tanh", "relu"):
        rate, lyap = by_label[f"{name}: gradient rate"], by_label[f"{name}: λ₁"]
        assert rate.get_marker() in ("None", None, "") and rate.get_linestyle() == "-"
        assert lyap.get_marker() not in ("None", None, "") and lyap.get_linestyle() == "None"
    lo, hi = ax.get_ylim()
    assert lo > r.min() - 0.5 and hi < r.max() + 0.5  # set by the data, not the 50x theory
    xs = by_label["mean field"].get_xdata()
    assert xs.min() >= GAINS[0] and xs.max() <= GAINS[-1]
    assert_legend_complete(ax)
    assert "missing" not in legend_texts(ax) and "edge" in legend_texts(ax)
    assert ax.get_xlabel() == "gain g" and ax.get_ylabel() == "growth rate per step (natural log)"


def test_success_bars_are_wilson_intervals():
    stats = pytest.importorskip("scipy.stats")
    # trials per group; 0 of 3 and 0 of 7 leave 5.6e-17 in the textbook formula
    k, n = np.array([[0, 3, 7], [3, 5, 0]]), np.array([3, 5, 7])
    fig = rgp.success(["BPTT", "flossing"], k, n, groups=["T=10", "T=20", "T=40"])
    (ax,) = fig.axes
    bars = [c for c in ax.containers if isinstance(c, mpl.container.ErrorbarContainer)]
    assert len(bars) == 2
    for i, container in enumerate(bars):
        segments = container.lines[2][0].get_segments()
        got = np.array([[s[0][1], s[1][1]] for s in segments])
        ci = [
            stats.binomtest(int(a), int(b)).proportion_ci(method="wilson") for a, b in zip(k[i], n)
        ]
        np.testing.assert_allclose(got, [[c.low, c.high] for c in ci], atol=1e-12)
        assert all(got[j, 0] == 0.0 for j in range(3) if k[i, j] == 0)  # exactly 0
        assert all(got[j, 1] == 1.0 for j in range(3) if k[i, j] == n[j])
    assert ax.get_ylabel() == "fraction of seeds solved"
    assert_legend_complete(ax)
    assert {"0/3", "0/7", "7/7"} <= {t.get_text() for t in ax.texts}


def test_success_marks_methods_not_run_in_a_group():
    # the second method ran only in the first group: no bar, no error bar, "not run"
    k, n = np.array([[1, 2], [3, 0]]), np.array([[5, 5], [5, 0]])
    (ax,) = rgp.success(["a", "b"], k, n, groups=["T=100", "T=1000"]).axes
    heights = [[p.get_height() for p in c.patches] for c in ax.containers if hasattr(c, "patches")]
    assert heights == [[0.2, 0.4], [0.6, 0.0]]
    bars = [c for c in ax.containers if isinstance(c, mpl.container.ErrorbarContainer)]
    _, (lo, hi) = (np.array(s).T[1] for s in bars[1].lines[2][0].get_segments())
    assert lo == hi == 0.0  # the empty group's error bar has no extent
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("not run") == 1 and "0/0" not in texts and "3/5" in texts


def test_other_figures_labels_and_legends():
    figs = {
        "training": rgp.training_curves(
            [np.abs(np.random.default_rng(0).normal(size=(3, 20))) + 0.1, np.ones(20)],
            labels=["BPTT", "Ω"],
            hlines={"clip": 1.0},
        ),
        "curves": rgp.curves(GAINS, [GAINS, GAINS**2], labels=["a", "b"], hlines={"0": 0.0}),
        "spectra": rgp.spectra([np.array([0.1, -0.5, -1.0])], labels=["λ"], hlines={"λ=0": 0.0}),
        "phase": rgp.phase_diagram(
            GAINS,
            GAINS[:5],
            np.ones((5, 11)),
            critical={"χ₁ = 1": (GAINS, GAINS)},
            points={"best": (1.0, 0.6)},
        ),
    }
    axes = {k: f.axes[0] for k, f in figs.items()}
    xy = {k: (a.get_xlabel(), a.get_ylabel()) for k, a in axes.items()}
    assert xy["training"] == ("training step", "loss") and xy["phase"] == ("σ_w", "σ_b")
    assert xy["spectra"] == ("index i", "λ_i (per step)")
    for ax in axes.values():
        assert_legend_complete(ax)
    markers = {ln.get_marker() for ln in axes["curves"].lines[:2]}
    assert len(markers) == 2  # a distinct marker per series


def test_given_axes_are_drawn_into():
    fig = Figure()
    ax = fig.add_subplot()
    assert rgp.rates(GAINS, np.log(GAINS), labels=["tanh"], ax=ax) is fig
    assert rgp.curves(GAINS, [GAINS], labels=["a"], ax=ax) is fig and len(ax.lines) == 2
    fig2 = Figure()
    axs = fig2.subplots(1, 2)
    assert rgp.lag_profiles(LAGS, -LAGS, labels=["a"], ax=axs) is fig2
    assert rgp.contributions(np.zeros((2, 3, 3)), axes=axs) is fig2
    assert all(a.images for a in axs)
    with pytest.raises(ValueError, match="`ax` must hold 2 Axes"):
        rgp.lag_profiles(LAGS, -LAGS, labels=["a"], ax=ax)


@pytest.mark.parametrize(
    "call, error, name",
    [
        (lambda: rgp.lag_profiles(LAGS[:5], np.zeros((1, 6)), labels=["a"]), ValueError, "lags"),
        (lambda: rgp.lag_profiles(LAGS, -LAGS), ValueError, "values"),
        (lambda: rgp.lag_profiles(LAGS, -LAGS, labels=["a", "b"]), ValueError, "labels"),
        (lambda: rgp.rates(np.zeros((2, 3)), np.zeros(3), labels=["a"]), ValueError, "gains"),
        (lambda: rgp.rates(GAINS, np.zeros(3), labels=["a"]), ValueError, "rates"),
        (lambda: rgp.rates(GAINS, "fast", labels=["a"]), TypeError, "rates"),
        (lambda: rgp.contributions(np.zeros(4)), ValueError, "matrices"),
        (lambda: rgp.success(["a"], [3], 2), ValueError, "successes"),
        (lambda: rgp.success(["a"], [1.5], 2), ValueError, "successes"),
        (lambda: rgp.phase_diagram(GAINS, GAINS, np.zeros((3, 3))), ValueError, "values"),
        (lambda: rgp.curves([1.0, 2.0], [[1.0, 2.0, 3.0]], labels=["a"]), ValueError, "`x`"),
        (lambda: rgp.training_curves([np.ones(3)], labels=["a", "b"]), ValueError, "labels"),
    ],
)
def test_bad_input_names_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_save_is_atomic_and_checks_its_arguments(tmp_path, monkeypatch):
    path = tmp_path / "fig.png"
    fig = rgp.curves(GAINS, [GAINS], labels=["a"])
    assert rgp.save(fig, path) == path
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.endswith(b"IEND\xaeB`\x82")

    def broken(f, **kwargs):
        f.write(b"half a figure")
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        rgp.save(fig, path)
    assert path.read_bytes() == data and os.listdir(tmp_path) == ["fig.png"]
    with pytest.raises(ValueError, match="`path`"):
        rgp.save(Figure(), tmp_path / "fig.xyz")
    with pytest.raises(TypeError, match="`fig`"):
        rgp.save(fig.axes[0], tmp_path / "ax.png")
    plt = pytest.importorskip("matplotlib.pyplot")
    before = plt.get_fignums()
    rgp.rates(GAINS, np.log(GAINS), labels=["tanh"])
    assert plt.get_fignums() == before  # figures leave pyplot alone ...
    managed = plt.figure()
    rgp.save(managed, tmp_path / "managed.png")
    assert not plt.fignum_exists(managed.number)  # ... but save closes pyplot's figures


@pytest.mark.parametrize(
    "call",
    [
        lambda: rgp.lag_profiles(LAGS, -LAGS, labels=["a"]),
        lambda: rgp.rates(GAINS, np.log(GAINS), labels=["tanh"]),
        lambda: rgp.save(object(), "x.png"),
    ],
)
def test_without_matplotlib_the_error_names_the_extra(call, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"rnngrad\[plot\]") as info:
        call()
    assert "matplotlib" in str(info.value)


def test_state_space_projects_on_the_principal_axes():
    # Trajectories spread along e1 (std 3) and e2 (std 1) in 4-D: PC1 = ±e1, PC2 = ±e2.
    rng = np.random.default_rng(0)
    traj = np.zeros((2, 50, 4))
    traj[..., 0] = 3.0 * rng.standard_normal((2, 50))
    traj[..., 1] = rng.standard_normal((2, 50))
    traj[..., 2] = 0.01 * rng.standard_normal((2, 50))
    mean = traj.reshape(-1, 4).mean(0)
    points = np.array([[2.0, -1.0, 0.0, 0.0], [0.0, 0.5, 0.0, 0.0]])
    fig = rgp.state_space(traj, points, stable=[True, False], labels=["+", "saddle"])
    ax = fig.axes[0]
    # The principal axes by an independent route: eigenvectors of the covariance.
    flat = traj.reshape(-1, 4) - mean
    _, vecs = np.linalg.eigh(flat.T @ flat)
    top = vecs[:, ::-1][:, :2]  # by decreasing variance
    line = ax.get_lines()[0].get_xydata()
    want = (traj[0] - mean) @ top
    np.testing.assert_allclose(np.abs(line), np.abs(want), rtol=1e-9, atol=1e-9)
    filled, hollow = ax.collections[:2]
    np.testing.assert_allclose(np.abs(filled.get_offsets()[0]), np.abs((points[0] - mean) @ top),
                               rtol=1e-9)  # fmt: skip
    assert len(hollow.get_offsets()) == 1
    assert ax.get_xlabel().startswith("PC1 (") and [t.get_text() for t in ax.texts] == [
        "+",
        "saddle",
    ]
    with pytest.raises(ValueError, match="`points` must have the trajectories' state size 4"):
        rgp.state_space(traj, points[:, :3])
    with pytest.raises(ValueError, match="`components`"):
        rgp.state_space(traj, components=(0, 4))
    with pytest.raises(ValueError, match="`stable` must hold 2 flags"):
        rgp.state_space(traj, points, stable=[True])
