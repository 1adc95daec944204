"""Tests of the synthetic long-term-dependency tasks (rnngrad._tasks).

Window positions and constants below are computed by hand from the papers' definitions,
independently of the implementation.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnngrad as rg
from rnngrad._tasks import (
    TASK_NAMES,
    AbstractTask,
    AddingTask,
    CopyTask,
    DelayedXORTask,
    MultiplicationTask,
    SequenceTarget,
    TemporalOrderTask,
    batch,
    make_task,
)

N_KEYS = 1000


def _samples(task, n=N_KEYS, seed=0):
    keys = jax.random.split(jax.random.key(seed), n)
    xs, ys = jax.vmap(task.sample)(keys)
    return np.asarray(xs), jax.tree_util.tree_map(np.asarray, ys)


# --------------------------------------------------------------------------- adding, product

# T -> (first window, second window), written out from the papers, with floors:
# Hochreiter & Schmidhuber / Pascanu et al.: [0, 0.1T) and [0.1T, 0.5T);
# Arjovsky et al. 2016: [0, 0.5T) and [0.5T, T).
HOCHREITER = {50: ((0, 5), (5, 25)), 57: ((0, 5), (5, 28)), 10: ((0, 1), (1, 5))}
ARJOVSKY = {50: ((0, 25), (25, 50)), 57: ((0, 28), (28, 57)), 10: ((0, 5), (5, 10))}


@pytest.mark.parametrize("length", [50, 57, 10])
@pytest.mark.parametrize(
    "make, combine, windows",
    [
        (lambda t: AddingTask(t), lambda a, b: a + b, HOCHREITER),
        (lambda t: AddingTask(t, target="mean"), lambda a, b: (a + b) / 2, HOCHREITER),
        (lambda t: AddingTask(t, variant="arjovsky"), lambda a, b: a + b, ARJOVSKY),
        (lambda t: AddingTask(t, variant="pascanu"), lambda a, b: a + b, HOCHREITER),
        (lambda t: MultiplicationTask(t), lambda a, b: a * b, HOCHREITER),
    ],
    ids=["adding-sum", "adding-mean", "adding-arjovsky", "adding-pascanu", "multiplication"],
)
def test_marker_tasks_layout_and_target(length, make, combine, windows):
    task = make(length)
    xs, ys = _samples(task)
    assert xs.shape == (N_KEYS, length, 2) and ys.shape == (N_KEYS, 1)
    values, markers = xs[..., 0], xs[..., 1]
    assert np.all((values >= 0) & (values < 1))
    assert set(np.unique(markers)) <= {0.0, 1.0}
    assert np.all(markers.sum(axis=1) == 2)  # exactly two markers
    first = np.argmax(markers, axis=1)
    second = length - 1 - np.argmax(markers[:, ::-1], axis=1)
    (lo0, hi0), (lo1, hi1) = windows[length]
    if isinstance(task, AddingTask):  # the windows it reports are the papers' too
        assert task.windows == windows[length]
    assert np.all((first >= lo0) & (first < hi0))
    assert np.all((second >= lo1) & (second < hi1))
    # every position of each window is used (a too narrow window would fail)
    assert set(first) == set(range(lo0, hi0))
    assert set(second) == set(range(lo1, hi1))
    rows = np.arange(N_KEYS)
    a, b = values[rows, first], values[rows, second]
    np.testing.assert_allclose(ys[:, 0], combine(a, b), rtol=1e-14)


def test_value_range_is_respected():
    xs, ys = _samples(AddingTask(20, value_range=(-1.0, 1.0)), n=500)
    assert xs[..., 0].min() < -0.5 and xs[..., 0].max() > 0.5
    assert np.all((xs[..., 0] >= -1) & (xs[..., 0] < 1))


@pytest.mark.parametrize(
    "task, by_hand",
    [
        (AddingTask(10), 1 / 6),
        (AddingTask(10, target="mean"), 1 / 24),
        (AddingTask(10, variant="arjovsky"), 1 / 6),
        (AddingTask(10, value_range=(-1.0, 1.0)), 2 * 4 / 12),
        (MultiplicationTask(10), 1 / 9 - 1 / 16),
        # a in U(1, 3): E a = 2, E a^2 = 1/3 + 4, Var(ab) = (13/3)^2 - 16
        (MultiplicationTask(10, value_range=(1.0, 3.0)), (13 / 3) ** 2 - 16),
    ],
    ids=["sum", "mean", "sum-arjovsky", "sum-pm1", "product", "product-1-3"],
)
def test_baseline_is_mse_of_mean_predictor(task, by_hand):
    assert task.baseline_loss == pytest.approx(by_hand, rel=1e-12)
    _, ys = _samples(task, n=8000, seed=3)
    y = ys[:, 0]
    assert abs(y.mean() - task.target_mean) < 5 * y.std() / math.sqrt(y.size)
    squared = (y - y.mean()) ** 2
    standard_error = squared.std() / math.sqrt(y.size)
    assert abs(squared.mean() - task.baseline_loss) < 5 * standard_error
    # the mean predictor through task.loss gives the same number
    pred = jnp.full((1,), task.target_mean, jnp.float64)
    losses = jax.vmap(lambda yy: task.loss(pred, yy))(jnp.asarray(ys))
    assert abs(float(losses.mean()) - task.baseline_loss) < 5 * standard_error


# --------------------------------------------------------------------------- temporal order

ORDER_WINDOWS = {
    (50, 2): [(5, 10), (25, 30)],
    (57, 2): [(5, 10), (28, 33)],
    (50, 3): [(5, 10), (15, 20), (30, 35)],
    (57, 3): [(5, 10), (17, 22), (34, 39)],
    (10, 2): [(1, 2), (5, 6)],
    (10, 3): [(1, 2), (3, 4), (6, 7)],
}
# chi-square critical values at p = 1e-4 for 3 and 7 degrees of freedom
CHI2_CRITICAL = {3: 21.11, 7: 29.88}


@pytest.mark.parametrize("length, bits", sorted(ORDER_WINDOWS))
def test_temporal_order_layout_and_class(length, bits):
    task = TemporalOrderTask(length, bits=bits)
    assert task.windows == tuple(ORDER_WINDOWS[length, bits])
    xs, ys = _samples(task)
    assert xs.shape == (N_KEYS, length, 6) and ys.shape == (N_KEYS,)
    assert np.issubdtype(ys.dtype, np.integer)
    assert np.all(xs.sum(axis=-1) == 1) and set(np.unique(xs)) == {0.0, 1.0}  # one-hot
    symbols = xs.argmax(axis=-1)
    relevant = symbols < 2
    assert np.all(relevant.sum(axis=1) == bits)
    names = task.class_names
    for i in range(N_KEYS):
        positions = np.flatnonzero(relevant[i])
        for p, (lo, hi) in zip(positions, ORDER_WINDOWS[length, bits], strict=True):
            assert lo <= p < hi
        word = "".join("XY"[s] for s in symbols[i, positions])
        assert names[ys[i]] == word
    # every position in every window is used
    for j, (lo, hi) in enumerate(ORDER_WINDOWS[length, bits]):
        used = {int(np.flatnonzero(relevant[i])[j]) for i in range(N_KEYS)}
        assert used == set(range(lo, hi))


@pytest.mark.parametrize("bits", [2, 3])
def test_temporal_order_classes_and_distractors_uniform(bits):
    task = TemporalOrderTask(30, bits=bits)
    assert task.class_names[:4] == (
        ("XX", "XY", "YX", "YY") if bits == 2 else ("XXX", "XXY", "XYX", "XYY")
    )
    n = 4000
    xs, ys = _samples(task, n=n, seed=1)
    k = 2**bits
    counts = np.bincount(ys, minlength=k)
    assert counts.size == k
    expected = n / k
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < CHI2_CRITICAL[k - 1], counts
    distractors = xs.argmax(-1)[xs.argmax(-1) >= 2]
    freq = np.bincount(distractors, minlength=6)[2:] / distractors.size
    np.testing.assert_allclose(freq, 0.25, atol=0.01)


def test_temporal_order_baseline_is_best_constant_cross_entropy():
    task = TemporalOrderTask(20, bits=3)
    assert task.baseline_loss == pytest.approx(math.log(8))
    _, ys = _samples(task, n=4000, seed=2)
    logits = jnp.log(jnp.asarray(np.bincount(ys, minlength=8) / ys.size))
    ce = jax.vmap(lambda y: task.loss(logits, y))(jnp.asarray(ys))
    assert abs(float(ce.mean()) - task.baseline_loss) < 0.01


# --------------------------------------------------------------------------- copy


@pytest.mark.parametrize("loss_steps", ["output", "all"])
def test_copy_layout_target_and_mask(loss_steps):
    k, n, delay = 3, 4, 5
    task = CopyTask.from_delay(delay, pattern_length=k, n_symbols=n, loss_steps=loss_steps)
    t = delay + 2 * k + 1
    assert (task.length, task.delay, task.input_size, task.output_size) == (t, delay, 6, 5)
    xs, ys = _samples(task)
    assert isinstance(ys, SequenceTarget)
    assert xs.shape == (N_KEYS, t, n + 2)
    assert np.all(xs.sum(-1) == 1)
    inputs = xs.argmax(-1)
    pattern = inputs[:, :k]
    assert np.all(pattern < n)
    np.testing.assert_array_equal(inputs[:, k : k + delay], n)  # blanks
    np.testing.assert_array_equal(inputs[:, k + delay], n + 1)  # the delimiter, once
    np.testing.assert_array_equal(inputs[:, k + delay + 1 :], n)
    assert np.all((inputs == n + 1).sum(1) == 1)
    # target: blank, then the input pattern in the last k steps
    np.testing.assert_array_equal(ys.labels[:, : t - k], n)
    np.testing.assert_array_equal(ys.labels[:, t - k :], pattern)
    expected_mask = np.arange(t) >= t - k if loss_steps == "output" else np.ones(t, bool)
    np.testing.assert_array_equal(ys.mask, np.broadcast_to(expected_mask, (N_KEYS, t)))
    # symbols uniform
    freq = np.bincount(pattern.ravel(), minlength=n) / pattern.size
    np.testing.assert_allclose(freq, 1 / n, atol=0.03)


@pytest.mark.parametrize("loss_steps", ["output", "all"])
def test_copy_baseline_is_memoryless_cross_entropy(loss_steps):
    task = CopyTask(15, pattern_length=4, n_symbols=5, loss_steps=loss_steps)
    by_hand = math.log(5) if loss_steps == "output" else 4 * math.log(5) / 15
    assert task.baseline_loss == pytest.approx(by_hand)
    _, ys = _samples(task, n=4000, seed=4)
    # best input-independent predictor: per-step empirical label frequencies
    freq = np.stack([np.bincount(col, minlength=6) for col in ys.labels.T]) / 4000
    logits = jnp.log(jnp.asarray(np.maximum(freq, 1e-300)))
    ce = jax.vmap(lambda y: task.loss(logits, y))(jax.tree_util.tree_map(jnp.asarray, ys))
    assert abs(float(ce.mean()) - task.baseline_loss) < 0.02


@pytest.mark.parametrize("t", [1, 100])
def test_copy_arjovsky_is_their_sequence(t):
    """Arjovsky et al. 2016, written out: 10 symbols of 8, T - 1 blanks, the delimiter,
    10 blanks; the output is T + 10 blanks then the 10 symbols; the loss averages all
    T + 20 steps, baseline 10 log 8 / (T + 20)."""
    task = CopyTask.arjovsky(t)
    assert task.baseline_loss == pytest.approx(10 * math.log(8) / (t + 20), rel=1e-14)
    xs, ys = _samples(task, n=200)
    inputs = xs.argmax(-1)
    assert xs.shape == (200, t + 20, 10) and np.all(inputs[:, :10] < 8)
    blank, delim = 8, 9
    expected = np.r_[np.full(t - 1, blank), delim, np.full(10, blank)]
    np.testing.assert_array_equal(inputs[:, 10:], np.broadcast_to(expected, (200, t + 10)))
    np.testing.assert_array_equal(ys.labels[:, : t + 10], blank)
    np.testing.assert_array_equal(ys.labels[:, t + 10 :], inputs[:, :10])
    assert np.all(ys.mask)
    with pytest.raises(ValueError, match=r"CopyTask.arjovsky: `blank_steps` must be >= 1"):
        CopyTask.arjovsky(0)


@pytest.mark.parametrize("variant", ["xor", "copy"])
def test_delayed_xor_targets_written_out(variant):
    """Engelken 2023's targets written out: y_t = |x_{t-d} - x_{t-2d}| (copy: x_{t-d})
    where the mask is on, from t = 2d (copy: d); a constant prediction scores log 2."""
    task = DelayedXORTask(20, delay=3, variant=variant)
    xs, ys = _samples(task, n=300)
    x = xs[..., 0].astype(int)
    assert xs.shape == (300, 20, 1) and set(np.unique(x)) == {0, 1}
    first = 6 if variant == "xor" else 3
    assert task.first_loss_step == first and task.name == f"delayed_{variant}"
    np.testing.assert_array_equal(ys.mask, np.broadcast_to(np.arange(20) >= first, (300, 20)))
    for t in range(first, 20):
        want = np.abs(x[:, t - 3] - x[:, t - 6]) if variant == "xor" else x[:, t - 3]
        np.testing.assert_array_equal(ys.labels[:, t], want)
    assert abs(ys.labels[:, first:].mean() - 0.5) < 0.03  # fair targets: baseline log 2
    y0 = jax.tree_util.tree_map(lambda a: a[0], ys)  # NumPy labels and mask: accepted
    loss = task.loss(jnp.zeros((20, 2), xs.dtype), y0)
    assert float(loss) == pytest.approx(task.baseline_loss) == pytest.approx(math.log(2))
    assert make_task(f"delayed_{variant}", 20, delay=3) == task


def test_delayed_xor_bad_input():
    with pytest.raises(ValueError, match=r"DelayedXORTask: `length` must be >= 21.*2d"):
        DelayedXORTask(20, delay=10)
    assert DelayedXORTask(20, delay=10, variant="copy").first_loss_step == 10
    with pytest.raises(ValueError, match=r"`delay` must be >= 1"):
        DelayedXORTask(20, delay=0)
    with pytest.raises(ValueError, match=r"`variant` must be one of \['xor', 'copy'\]"):
        DelayedXORTask(20, delay=2, variant="parity")
    with pytest.raises(TypeError, match=r"missing.*delay"):
        DelayedXORTask(20)


# --------------------------------------------------------------------------- keys, jit, vmap

ALL_TASKS = [
    AddingTask(20),
    MultiplicationTask(20),
    TemporalOrderTask(20),
    TemporalOrderTask(20, bits=3),
    CopyTask(25, pattern_length=5),
]


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


@pytest.mark.parametrize("task", ALL_TASKS, ids=lambda t: t.name)
def test_keys_determine_samples(task):
    a = task.sample(jax.random.key(7))
    b = task.sample(jax.random.key(7))
    c = task.sample(jax.random.key(8))
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(_leaves(a)[0], _leaves(c)[0])
    # legacy raw uint32 keys work too
    legacy = task.sample(jax.random.PRNGKey(7))
    assert legacy[0].shape == a[0].shape


@pytest.mark.parametrize("task", ALL_TASKS, ids=lambda t: t.name)
def test_jit_vmap_and_batch(task):
    key = jax.random.key(3)
    eager = task.sample(key)
    jitted = jax.jit(lambda tk, k: tk.sample(k))(task, key)  # the task passes through jit
    for x, y in zip(_leaves(eager), _leaves(jitted), strict=True):
        np.testing.assert_array_equal(x, y)
    xs, ys = task.batch(key, 5)
    xs2, ys2 = jax.vmap(task.sample)(jax.random.split(key, 5))
    for x, y in zip(_leaves((xs, ys)), _leaves((xs2, ys2)), strict=True):
        np.testing.assert_array_equal(x, y)
    assert xs.shape == (5, task.length, task.input_size)
    xs3, _ = batch(task, key, 5)
    np.testing.assert_array_equal(xs3, xs)
    # batch examples differ from each other
    assert not np.array_equal(np.asarray(xs[0]), np.asarray(xs[1]))


def test_sample_traces_once():
    task = AddingTask(20)
    traces = []

    @jax.jit
    def f(key):
        traces.append(None)
        return task.sample(key)

    for seed in range(3):
        f(jax.random.key(seed))
    assert len(traces) == 1


# --------------------------------------------------------------------------- criteria


def test_regression_criteria_by_hand():
    task = AddingTask(10)
    ys = jnp.array([[0.5], [1.0], [1.5], [0.2]])
    preds = jnp.array([[0.5], [1.1], [1.8], [0.05]])
    # squared errors 0, 0.01, 0.09, 0.0225 -> Pascanu: one above 0.04
    assert float(task.error_rate(preds, ys)) == 0.25
    # absolute errors 0, 0.1, 0.3, 0.15 -> Hochreiter: three at or above 0.04
    assert float(task.error_rate(preds, ys, criterion="hochreiter")) == 0.75
    assert float(task.loss(preds[2], ys[2])) == pytest.approx(0.09)
    assert bool(task.is_correct(jnp.array([1.19]), jnp.array([1.0])))  # 0.0361 <= 0.04
    assert not bool(task.is_correct(jnp.array([1.21]), jnp.array([1.0])))  # 0.0441
    assert bool(task.is_correct(jnp.array([1.03]), jnp.array([1.0]), criterion="hochreiter"))
    assert not bool(task.is_correct(jnp.array([1.05]), jnp.array([1.0]), criterion="hochreiter"))


@pytest.mark.parametrize("n, wrong, solved", [(100, 1, False), (200, 1, True), (50, 0, True)])
def test_solved_pascanu_threshold(n, wrong, solved):
    task = MultiplicationTask(10)
    ys = jnp.zeros((n, 1))
    preds = ys.at[:wrong].set(1.0)
    assert float(task.error_rate(preds, ys)) == pytest.approx(wrong / n)
    assert bool(task.solved(preds, ys)) is solved  # strictly below 1 %
    assert bool(task.solved(preds, ys, criterion="hochreiter")) is (wrong == 0)


def test_classification_criteria_by_hand():
    task = TemporalOrderTask(10)
    ys = jnp.array([0, 3, 2, 1], jnp.int32)
    logits = jnp.array([[5.0, 0, 0, 0], [0, 0, 0, 1.0], [0, 0, 1.0, 2.0], [0, 3.0, 0, 0]])
    assert float(task.error_rate(logits, ys)) == 0.25
    assert not bool(task.solved(logits, ys))
    expected = -jax.nn.log_softmax(logits[1])[3]
    assert float(task.loss(logits[1], ys[1])) == pytest.approx(float(expected))


def test_copy_criteria_respect_mask():
    task = CopyTask(7, pattern_length=2, n_symbols=3)  # T = 7, output steps 5, 6
    labels = jnp.array([3, 3, 3, 3, 3, 1, 2], jnp.int32)
    y = SequenceTarget(labels, jnp.arange(7) >= 5)
    perfect = 4.0 * jax.nn.one_hot(labels, 4)
    assert bool(task.is_correct(perfect, y))
    wrong_unmasked = perfect.at[0].set(4.0 * jax.nn.one_hot(0, 4))
    assert bool(task.is_correct(wrong_unmasked, y))  # step 0 carries no loss
    wrong_masked = perfect.at[6].set(4.0 * jax.nn.one_hot(0, 4))
    assert not bool(task.is_correct(wrong_masked, y))
    ys = jax.tree_util.tree_map(lambda a: jnp.stack([a, a]), y)
    assert float(task.error_rate(jnp.stack([perfect, wrong_masked]), ys)) == 0.5
    # loss: mean cross-entropy over the two masked steps only
    ce = -jax.nn.log_softmax(wrong_unmasked)[jnp.arange(7), labels]
    assert float(task.loss(wrong_unmasked, y)) == pytest.approx(float(ce[5:].mean()))
    all_steps = CopyTask(7, pattern_length=2, n_symbols=3, loss_steps="all")
    y_all = SequenceTarget(labels, jnp.ones(7, bool))
    assert not bool(all_steps.is_correct(wrong_unmasked, y_all))


# --------------------------------------------------------------------------- factory


def test_make_task_by_name():
    assert TASK_NAMES == (
        "adding",
        "multiplication",
        "temporal_order",
        "temporal_order_3bit",
        "copy",
        "flipflop",
        "delayed_xor",
        "delayed_copy",
    )
    kinds = {
        "adding": AddingTask,
        "multiplication": MultiplicationTask,
        "temporal_order": TemporalOrderTask,
        "temporal_order_3bit": TemporalOrderTask,
        "copy": CopyTask,
        "flipflop": rg.FlipFlopTask,
        "delayed_xor": DelayedXORTask,
        "delayed_copy": DelayedXORTask,
    }
    for name in TASK_NAMES:
        task = make_task(name, 40, **({"delay": 5} if name.startswith("delayed") else {}))
        assert isinstance(task, kinds[name]) and isinstance(task, AbstractTask)
        assert task.name == name and task.length == 40
        assert task.prediction_shape == (
            (40, task.output_size) if task.readout == "every" else (task.output_size,)
        )
    assert make_task("temporal_order_3bit", 40).output_size == 8
    assert make_task("adding", 40, target="mean").target == "mean"
    assert make_task("adding", 40, variant="arjovsky").variant == "arjovsky"
    assert make_task("copy", 40, pattern_length=4).delay == 40 - 9
    assert AddingTask(12) == AddingTask(12) and hash(AddingTask(12)) == hash(AddingTask(12))


# --------------------------------------------------------------------------- bad input


def test_unknown_task_name_lists_known():
    with pytest.raises(ValueError, match=r"unknown task `name` 'addition'.*'adding'.*'copy'"):
        make_task("addition", 50)
    with pytest.raises(TypeError, match="`name` must be a str"):
        make_task(3, 50)
    with pytest.raises(TypeError, match="fixed by the name"):
        make_task("temporal_order", 50, bits=3)


@pytest.mark.parametrize(
    "make, minimum",
    [
        (lambda t: AddingTask(t), 10),
        (lambda t: MultiplicationTask(t), 10),
        (lambda t: TemporalOrderTask(t), 10),
        (lambda t: TemporalOrderTask(t, bits=3), 10),
        (lambda t: CopyTask(t), 21),
        (lambda t: CopyTask(t, pattern_length=3), 7),
    ],
)
def test_length_minimum(make, minimum):
    assert make(minimum).length == minimum
    with pytest.raises(ValueError, match=rf"`length` must be >= {minimum} .*got {minimum - 1}"):
        make(minimum - 1)
    with pytest.raises(TypeError, match="`length`.*must be an int"):
        make(float(minimum))


@pytest.mark.parametrize("size, error", [(0, ValueError), (-2, ValueError), (2.0, TypeError)])
def test_bad_batch_size(size, error):
    with pytest.raises(error, match=r"batch: `batch_size` must be a positive int, got"):
        AddingTask(10).batch(jax.random.key(0), size)
    with pytest.raises(error, match="batch_size"):
        batch(CopyTask(25, pattern_length=5), jax.random.key(0), size)


def test_bad_copy_parameters():
    with pytest.raises(ValueError, match=r"`pattern_length` must be >= 1.*got 0"):
        CopyTask(30, pattern_length=0)
    with pytest.raises(TypeError, match="`pattern_length` must be an int"):
        CopyTask(30, pattern_length=2.5)
    with pytest.raises(ValueError, match=r"`n_symbols` must be >= 2.*got 1"):
        CopyTask(30, n_symbols=1)
    with pytest.raises(ValueError, match=r"`loss_steps` must be one of \[.output., .all.\], got"):
        CopyTask(30, loss_steps="x")
    with pytest.raises(ValueError, match=r"`length` must be >= 9 \(2 \* pattern_length"):
        CopyTask(8, pattern_length=4)
    with pytest.raises(ValueError, match=r"`delay` must be >= 0.*got -1"):
        CopyTask.from_delay(-1)


def test_bad_options():
    with pytest.raises(ValueError, match=r"`target` must be one of \['sum', 'mean'\], got 'avg'"):
        AddingTask(20, target="avg")
    with pytest.raises(
        ValueError, match=r"`variant` must be one of \['hochreiter', 'pascanu', 'arjovsky'\]"
    ):
        AddingTask(20, variant="le")
    # The meaning `variant` had before: the message points to `target`.
    with pytest.raises(ValueError, match=r"marker windows.*use target='mean'"):
        AddingTask(20, variant="mean")
    with pytest.raises(ValueError, match=r"`length` must be >= 10"):
        AddingTask(9)
    assert AddingTask(2, variant="arjovsky").length == 2
    with pytest.raises(ValueError, match=r"`length` must be >= 2.*each half"):
        AddingTask(1, variant="arjovsky")
    with pytest.raises(ValueError, match=r"`bits` must be 2 or 3, got 4"):
        TemporalOrderTask(20, bits=4)
    with pytest.raises(ValueError, match="`value_range` must be finite with low < high"):
        MultiplicationTask(20, value_range=(1.0, 0.0))
    with pytest.raises(TypeError, match="`value_range` must be a pair"):
        AddingTask(20, value_range=1.0)
    with pytest.raises(TypeError, match="`dtype` must be a floating dtype, got int32"):
        AddingTask(20, dtype=jnp.int32)
    with pytest.raises(TypeError, match="positional argument"):
        AddingTask(20, 3)  # options are keyword only


def test_bad_keys_predictions_and_criteria():
    task = AddingTask(20)
    with pytest.raises(ValueError, match=r"ONE key of shape \(\).*shape \(3,\)"):
        task.sample(jax.random.split(jax.random.key(0), 3))
    with pytest.raises(TypeError, match="`key` must be a jax.random key"):
        task.sample(jnp.zeros(2))
    with pytest.raises(ValueError, match=r"`prediction` must have shape \(1,\), got .*\(\)"):
        task.loss(jnp.array(1.0), jnp.array([1.0]))
    with pytest.raises(ValueError, match=r"`criterion` must be one of \['pascanu', 'hochreiter'\]"):
        task.is_correct(jnp.array([1.0]), jnp.array([1.0]), criterion="strict")
    with pytest.raises(ValueError, match="batch size 2 but `ys` has 3"):
        task.error_rate(jnp.zeros((2, 1)), jnp.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"`predictions` must have shape \(2, 1\)"):
        task.error_rate(jnp.zeros((2,)), jnp.zeros((2, 1)))
    with pytest.raises(TypeError, match="`prediction` must have a floating dtype"):
        TemporalOrderTask(20).loss(jnp.zeros(4, jnp.int32), jnp.array(0))
    with pytest.raises(TypeError, match="class labels must have an integer dtype"):
        TemporalOrderTask(20).is_correct(jnp.zeros(4), jnp.array(1.0))


# --------------------------------------------------------------------------- flip-flop


def test_flipflop_targets_hold_the_last_pulse():
    task = rg.FlipFlopTask(200, n_bits=4, pulse_prob=0.1)
    xs, ys = task.batch(jax.random.key(3), 16)
    xs, ys = np.asarray(xs), np.asarray(ys)
    assert xs.shape == ys.shape == (16, 200, 4) and task.input_size == task.output_size == 4
    assert set(np.unique(xs)) <= {-1.0, 0.0, 1.0} and set(np.unique(ys)) == {-1.0, 1.0}
    assert np.all(xs[:, 0] != 0)  # every channel pulses at step 0
    for x, y in zip(xs, ys):  # a hand-written hold
        last = np.zeros(4)
        for t in range(200):
            last = np.where(x[t] != 0, x[t], last)
            np.testing.assert_array_equal(y[t], last)
    # Pulses after step 0 at the rate asked (16 × 199 × 4 draws), signs balanced.
    rate = np.mean(xs[:, 1:] != 0)
    assert abs(rate - 0.1) < 4 * math.sqrt(0.1 * 0.9 / xs[:, 1:].size)
    assert abs(np.mean(xs[xs != 0])) < 0.05


def test_flipflop_loss_baseline_and_criterion():
    task = rg.FlipFlopTask(30)
    xs, y = task.sample(jax.random.key(0))
    assert task.baseline_loss == 3.0 and task.name == "flipflop" and task.kind == "regression"
    assert float(task.loss(jnp.zeros((30, 3)), y)) == pytest.approx(3.0)  # Σ_i y² per step
    pred = y + 0.1
    assert float(task.loss(pred, y)) == pytest.approx(3 * 0.01)
    assert bool(task.is_correct(0.5 * y, y)) and not bool(task.is_correct(-0.1 * y, y))
    flipped = y.at[7, 1].multiply(-1.0)
    assert not bool(task.is_correct(flipped, y))
    assert not bool(task.is_correct(jnp.full((30, 3), jnp.nan), y))
    with pytest.raises(ValueError, match=r"`y` must have shape \(30, 3\)"):
        task.loss(pred, y[:, :2])
    with pytest.raises(ValueError, match="`pulse_prob`"):
        rg.FlipFlopTask(30, pulse_prob=1.0)
    with pytest.raises(TypeError, match="`pulse_prob`"):
        rg.FlipFlopTask(30, pulse_prob="often")
    with pytest.raises(ValueError, match="`n_bits`"):
        rg.FlipFlopTask(30, n_bits=0)


def test_flipflop_step_losses_sum_to_the_task_loss():
    # rg.train splits the loss over steps; the pieces must add up to task.loss.
    from rnngrad._train._model import step_loss_of, step_targets_of

    task = rg.FlipFlopTask(25)
    model = rg.RNNModel(rg.gru(3, 5, key=jax.random.key(1)), 3, key=jax.random.key(2))
    xs, y = task.sample(jax.random.key(4))
    carries = model.carries(xs)
    steps = jax.vmap(step_loss_of(task, model))(carries, step_targets_of(task, y))
    total = task.loss(model.predict(xs, "every"), y)
    assert float(jnp.sum(steps)) == pytest.approx(float(total), rel=1e-12)
