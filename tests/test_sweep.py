"""rg.sweep: equals a Python loop, sharded = unsharded, chunked = whole, saves and loads."""

import json
import os
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnngrad as rg

CELL = rg.VanillaCell(2, 5, key=jax.random.key(0))
XS = jax.random.normal(jax.random.key(1), (12, 2))


def profile(scale, length_weight):
    cell = rg.scale_recurrent(CELL, scale)
    prof = rg.final_step_profile(cell, XS, jnp.zeros(5), lambda h: jnp.sum(h))
    return {"log": rg.lag_profile(prof, log10=True) * length_weight, "loss": prof.loss}


SCALES = jnp.linspace(0.5, 1.5, 5)
WEIGHTS = jnp.array([1.0, 2.0, 3.0])


@pytest.fixture(scope="module")
def whole():
    return rg.sweep(profile, scale=SCALES, length_weight=WEIGHTS)


def test_sweep_equals_python_loop(whole):
    assert whole.names == ("scale", "length_weight")
    assert whole.shape == (5, 3)
    assert whole.values["log"].shape == (5, 3, 12)
    for i, s in enumerate(SCALES):
        for j, w in enumerate(WEIGHTS):
            want = profile(s, w)
            np.testing.assert_allclose(whole.values["log"][i, j], want["log"], rtol=1e-12)
            np.testing.assert_allclose(whole.values["loss"][i, j], want["loss"], rtol=1e-12)


@pytest.mark.parametrize("chunk", [1, 4, 7, 15, 100])
def test_chunked_equals_whole(whole, chunk):
    got = rg.sweep(profile, scale=SCALES, length_weight=WEIGHTS, chunk_size=chunk, progress=False)
    # Batch size changes the matmul kernels, so rounding (not values) may differ.
    np.testing.assert_allclose(got.values["log"], whole.values["log"], rtol=1e-13)


def test_no_retrace_across_sweeps_and_chunks():
    @eqx.debug.assert_max_traces(max_traces=1)
    def fn(scale):
        return rg.lag_profile(
            rg.final_step_profile(rg.scale_recurrent(CELL, scale), XS, jnp.zeros(5), jnp.sum)
        )

    rg.sweep(fn, scale=jnp.linspace(0.5, 1.5, 8), chunk_size=3, progress=False)
    rg.sweep(fn, scale=jnp.linspace(0.7, 1.9, 8), chunk_size=3, progress=False)
    rg.sweep(fn, scale=jnp.linspace(0.1, 0.2, 6), chunk_size=3, progress=False)


def test_seed_axis_with_key_folds_in():
    base = jax.random.key(42)

    def draw(scale, seed, key):
        return scale * jax.random.normal(key, (3,))

    res = rg.sweep(draw, key=base, scale=jnp.array([1.0, 2.0]), seed=jnp.arange(4))
    for j in range(4):
        want = jax.random.normal(jax.random.fold_in(base, j), (3,))
        np.testing.assert_array_equal(res.values[0, j], want)
        np.testing.assert_allclose(res.values[1, j], 2.0 * want, rtol=1e-15)
    again = rg.sweep(draw, key=base, scale=jnp.array([1.0, 2.0]), seed=jnp.arange(4))
    np.testing.assert_array_equal(again.values, res.values)


SHARDED_SCRIPT = textwrap.dedent(
    """
    import sys
    import jax
    import jax.numpy as jnp
    import numpy as np
    sys.path.insert(0, {tests!r})
    import test_sweep as t
    import rnngrad as rg
    assert len(jax.devices()) == {n}, jax.devices()
    res = rg.sweep(t.profile, scale=t.SCALES, length_weight=t.WEIGHTS)
    chunked = rg.sweep(t.profile, scale=t.SCALES, length_weight=t.WEIGHTS, chunk_size=4,
                       progress=False)
    np.savez({out!r}, log=res.values["log"], chunked=chunked.values["log"])
    """
)


@pytest.mark.parametrize("n_devices", [2, 3])
def test_sharded_equals_unsharded(whole, tmp_path, n_devices):
    out = str(tmp_path / "sharded.npz")
    script = SHARDED_SCRIPT.format(tests=os.path.dirname(__file__), n=n_devices, out=out)
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n_devices}"
    env["JAX_ENABLE_X64"] = "1"
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with np.load(out) as data:
        # 15 points over 2 or 3 devices: padding is exercised (and dropped) for 2.
        np.testing.assert_allclose(data["log"], whole.values["log"], rtol=1e-12)
        np.testing.assert_allclose(data["chunked"], whole.values["log"], rtol=1e-12)


def test_save_load_round_trip(whole, tmp_path):
    path = whole.save(tmp_path / "grid.npz")
    loaded = rg.load_sweep(path)
    assert loaded.names == whole.names
    for name in whole.names:
        np.testing.assert_array_equal(loaded.axes[name], whole.axes[name])
        assert loaded.axes[name].dtype == whole.axes[name].dtype
    assert set(loaded.values) == {"['log']", "['loss']"}
    np.testing.assert_array_equal(loaded.values["['log']"], whole.values["log"])
    rebuilt = rg.load_sweep(path, like=whole.values)
    np.testing.assert_array_equal(rebuilt.values["loss"], whole.values["loss"])
    assert rebuilt.values["loss"].dtype == whole.values["loss"].dtype
    # A single-array sweep loads back as an array; integer axes keep their dtype.
    single = rg.sweep(lambda n: jnp.ones(2, jnp.int32) * n, n=jnp.arange(3, dtype=jnp.int32))
    back = rg.load_sweep(single.save(tmp_path / "single.npz"))
    assert back.values.dtype == np.int32 and back.axes["n"].dtype == np.int32
    np.testing.assert_array_equal(back.values, single.values)
    assert [p.name for p in tmp_path.iterdir()].count("grid.npz") == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_failed_save_leaves_no_partial_file(whole, tmp_path, monkeypatch):
    target = tmp_path / "grid.npz"
    whole.save(target)
    before = target.read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        whole.save(target)
    assert target.read_bytes() == before  # the old file is untouched
    with pytest.raises(OSError, match="disk full"):
        whole.save(tmp_path / "new.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.npz"]


def test_loading_bad_files(whole, tmp_path):
    path = whole.save(tmp_path / "grid.npz")
    data = path.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        rg.load_sweep(truncated)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.ones(3))
    with pytest.raises(ValueError, match="not an rnngrad sweep"):
        rg.load_sweep(other)
    text = tmp_path / "notes.npz"
    text.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not a readable rnngrad sweep"):
        rg.load_sweep(text)
    with pytest.raises(FileNotFoundError):
        rg.load_sweep(tmp_path / "missing.npz")


def test_bad_axes_and_options():
    def fn(scale):
        return scale * jnp.ones(2)

    with pytest.raises(ValueError, match="axis `scale` is empty"):
        rg.sweep(fn, scale=jnp.array([]))
    with pytest.raises(ValueError, match=r"axis `scale` must be 1-D, got shape \(2, 2\)"):
        rg.sweep(fn, scale=jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="axis `gain` names no parameter of fn"):
        rg.sweep(fn, gain=jnp.ones(2))
    with pytest.raises(ValueError, match="needs \\['scale'\\], which no axis gives"):
        rg.sweep(lambda scale, seed: scale, seed=jnp.arange(2))
    with pytest.raises(ValueError, match="`chunk_size` must be a positive int, got 0"):
        rg.sweep(fn, scale=jnp.ones(2), chunk_size=0)
    with pytest.raises(ValueError, match="at least one axis"):
        rg.sweep(fn)
    with pytest.raises(TypeError, match="axis `scale` must hold numbers"):
        rg.sweep(fn, scale=["a", "b"])
    with pytest.raises(ValueError, match="integer `seed` axis"):
        rg.sweep(lambda scale, key: scale, key=jax.random.key(0), scale=jnp.ones(2))
    with pytest.raises(TypeError, match="vmap can stack"):
        rg.sweep(lambda scale: "not an array", scale=jnp.ones(2))
