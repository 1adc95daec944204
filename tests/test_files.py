"""Files and the arguments that lead to them: every bad input or bad file gets a named error.

Sweeps (``rg.sweep`` arguments, ``SweepResult.save``, ``rg.load_sweep``) and training
checkpoints: saves are atomic and never pickled, refused saves write nothing, and every
load checks what it reads and names the file and what is wrong.
"""

import io
import json
import shutil
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rnngrad as rg
from rnngrad._train._checkpoint import Checkpoint


def scaled(scale):
    return scale * jnp.ones(2)


@pytest.fixture(scope="module")
def result():
    """A small sweep with a pytree of values of several dtypes and two axes."""

    def fn(scale, n):
        return {
            "x": scale * jnp.arange(3.0),
            "count": jnp.stack([n, 2 * n]),
            "big": scale > 1.0,
            "z": jax.lax.complex(scale, 1.0),
        }

    return rg.sweep(fn, scale=jnp.array([0.5, 1.5]), n=jnp.arange(3, dtype=jnp.int32))


def _write_npz(path, meta, **members):
    """An .npz laid out like a sweep file, with `meta` as its JSON metadata."""
    meta_bytes = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, __meta__=meta_bytes, **members)
    return path


GOOD_META = {"format": "rnngrad.sweep", "version": 1, "axes": ["a"], "values": [""]}


# --------------------------------------------------------------------------- sweep arguments


def test_sweep_refuses_bad_devices():
    with pytest.raises(ValueError, match="`devices` must be a non-empty sequence"):
        rg.sweep(scaled, scale=jnp.ones(2), devices=[])
    with pytest.raises(TypeError, match=r"`devices`.*use devices=jax.devices\('cpu'\)"):
        rg.sweep(scaled, scale=jnp.ones(2), devices="cpu")
    with pytest.raises(TypeError, match=r"`devices`.*one device.*\[device\]"):
        rg.sweep(scaled, scale=jnp.ones(2), devices=jax.devices()[0])
    with pytest.raises(TypeError, match="`devices`.*got an item int 0"):
        rg.sweep(scaled, scale=jnp.ones(2), devices=[0])
    with pytest.raises(ValueError, match="`devices` lists a device more than once"):
        rg.sweep(scaled, scale=jnp.ones(2), devices=jax.devices()[:1] * 2)
    got = rg.sweep(scaled, scale=jnp.ones(2), devices=tuple(jax.devices()[:1]))
    np.testing.assert_array_equal(got.values, np.ones((2, 2)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_sweep_refuses_non_finite_axis_values(bad):
    with pytest.raises(ValueError, match="`scale` must be finite.*sweep axis `scale`"):
        rg.sweep(scaled, scale=jnp.array([1.0, bad]))


def test_sweep_checks_key_and_seed_axis():
    def draw(seed, key):
        return jax.random.normal(key, (2,))

    with pytest.raises(ValueError, match=r"axis `seed` must hold integers.*seed=jnp.arange\(3\)"):
        rg.sweep(draw, key=jax.random.key(0), seed=jnp.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"axis `seed` must hold integers in \[0, 2\*\*32\)"):
        rg.sweep(draw, key=jax.random.key(0), seed=jnp.array([-1, 0]))
    with pytest.raises(TypeError, match="sweep: `key` must be a jax.random key"):
        rg.sweep(draw, key=3, seed=jnp.arange(2))
    with pytest.raises(ValueError, match="`key` is given, so `fn` must take a `key` parameter"):
        rg.sweep(lambda seed: seed * jnp.ones(1), key=jax.random.key(0), seed=jnp.arange(2))
    with pytest.raises(ValueError, match=r"needs \['key'\].*Pass key=jax.random.key\(0\)"):
        rg.sweep(draw, seed=jnp.arange(2))


def test_sweep_refuses_bad_options():
    with pytest.raises(TypeError, match="`chunk_size` must be a positive int, got float"):
        rg.sweep(scaled, scale=jnp.ones(2), chunk_size=1.5)
    with pytest.raises(ValueError, match="`chunk_size` must be a positive int, got -1"):
        rg.sweep(scaled, scale=jnp.ones(2), chunk_size=-1)
    with pytest.raises(TypeError, match="`progress` must be True, False or None"):
        rg.sweep(scaled, scale=jnp.ones(2), progress="yes")
    with pytest.raises(TypeError, match="sweep: `fn` must be a callable"):
        rg.sweep(3, scale=jnp.ones(2))
    with pytest.raises(TypeError, match="axis `scale` is a traced value.*inside jit"):
        jax.jit(lambda s: rg.sweep(scaled, scale=s).values)(jnp.ones(2))


# --------------------------------------------------------------------------- saving


def test_save_round_trips_exactly_without_pickle(result, tmp_path):
    path = result.save(tmp_path / "grid.npz")
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            np.load(io.BytesIO(archive.read(name)), allow_pickle=False)  # never a pickle
    back = rg.load_sweep(path, like=result.values)
    for name in result.names:
        np.testing.assert_array_equal(back.axes[name], result.axes[name])
        assert back.axes[name].dtype == result.axes[name].dtype
    for key in result.values:
        np.testing.assert_array_equal(back.values[key], result.values[key])
        assert back.values[key].dtype == result.values[key].dtype
    # `like` may also give one point's shapes, e.g. from jax.eval_shape.
    point = jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct(a.shape[2:], a.dtype), result.values
    )
    again = rg.load_sweep(path, like=point)
    np.testing.assert_array_equal(again.values["z"], result.values["z"])


@pytest.mark.parametrize(
    ("axes", "values", "match"),
    [
        ({"a": np.arange(2)}, np.array([object(), 1], dtype=object), "`values` has dtype object"),
        ({"a": np.array([1, "x"], dtype=object)}, np.zeros(2), "axis `a` has dtype object"),
        ({"a": np.arange(2)}, {"v": "hello"}, r"`values` leaf \['v'\] must be an array"),
        ({"a": np.arange(2)}, None, "`values` holds no arrays"),
        ({"a": np.arange(2)}, jnp.zeros(2, jnp.bfloat16), "`values` has dtype bfloat16"),
        ({"a": np.array(["x", "y"])}, np.zeros(2), "axis `a` has dtype <U1"),
    ],
)
def test_save_refuses_what_cannot_be_stored_without_pickle(tmp_path, axes, values, match):
    target = tmp_path / "grid.npz"
    with pytest.raises(TypeError, match=match + ".*only numeric or bool arrays can be saved"):
        rg.SweepResult(axes, values).save(target)
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary left


def test_refused_save_leaves_the_old_file_untouched(result, tmp_path):
    target = result.save(tmp_path / "grid.npz")
    before = target.read_bytes()
    bad = rg.SweepResult(result.axes, {"x": np.full(result.shape, None, dtype=object)})
    with pytest.raises(TypeError, match=r"leaf \['x'\] has dtype object"):
        bad.save(target)
    with pytest.raises(ValueError, match=r"SweepResult: .*`values` has shape \(3, 3\).*grid"):
        rg.SweepResult(result.axes, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="axis `a` must be a non-empty 1-D array"):
        rg.SweepResult({"a": np.zeros((2, 2))}, np.zeros((2, 2)))
    off_grid = rg.SweepResult(result.axes, np.zeros(result.shape))
    off_grid.values = np.zeros((3, 3))  # changed after construction: save checks again
    with pytest.raises(ValueError, match=r"`values` has shape \(3, 3\).*grid \(2, 3\)"):
        off_grid.save(target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.npz"]


def test_save_refuses_bad_paths(result, tmp_path):
    with pytest.raises(TypeError, match="`path` must be a path"):
        result.save(123)
    with pytest.raises(ValueError, match="`path` must name a file.*is a directory"):
        result.save(tmp_path)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    with pytest.raises(ValueError, match="`path`: cannot create the folder.*existing file"):
        result.save(blocker / "grid.npz")
    assert blocker.read_text() == "a file"


# --------------------------------------------------------------------------- loading


def test_load_refuses_bad_paths(tmp_path):
    with pytest.raises(TypeError, match="`path` must be a path"):
        rg.load_sweep(123)
    with pytest.raises(ValueError, match="`path` must name a file.*is a directory"):
        rg.load_sweep(tmp_path)
    with pytest.raises(FileNotFoundError, match="`path` .*missing.npz.*no such file"):
        rg.load_sweep(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ([1, 2], "metadata is a JSON list, not an object"),
        ({"format": "rnngrad.sweep", "version": 1}, "'axes' must be a non-empty list"),
        ({**GOOD_META, "axes": "a"}, "'axes' must be a non-empty list of strings, got str"),
        ({**GOOD_META, "values": [0]}, "'values' must be a non-empty list of strings"),
        ({**GOOD_META, "version": "1"}, "'version' must be an int"),
        ({**GOOD_META, "version": 7}, "version 7.*newer rnngrad"),
        ({**GOOD_META, "values": ["['a']", "['a']"]}, "'values' repeats a name"),
        ({**GOOD_META, "format": "other"}, "not an rnngrad sweep"),
    ],
)
def test_load_refuses_bad_metadata(tmp_path, meta, match):
    path = _write_npz(tmp_path / "meta.npz", meta, axis0=np.arange(2), value0=np.zeros(2))
    with pytest.raises(ValueError, match=f"Cannot load `path` .*meta.npz.*{match}"):
        rg.load_sweep(path)


def test_load_refuses_a_pickled_member(tmp_path):
    pickled = np.array([{"a": 1}, None], dtype=object)
    path = _write_npz(tmp_path / "pickled.npz", GOOD_META, axis0=np.arange(2), value0=pickled)
    with pytest.raises(ValueError, match="pickled.npz.*member 'value0' holds pickled objects"):
        rg.load_sweep(path)


def test_load_refuses_a_missing_member(tmp_path):
    path = _write_npz(tmp_path / "partial.npz", GOOD_META, axis0=np.arange(2))
    with pytest.raises(ValueError, match=r"partial.npz.*member 'value0' \(`values`\) is missing"):
        rg.load_sweep(path)


def test_load_refuses_a_corrupt_npy_header(tmp_path):
    good = io.BytesIO()
    np.save(good, np.zeros(2))
    broken = good.getvalue().replace(b"'descr'", b"'dexcr'")
    path = tmp_path / "header.npz"
    meta = np.frombuffer(json.dumps(GOOD_META).encode(), dtype=np.uint8)
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in (("__meta__", meta), ("axis0", np.arange(2))):
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(f"{name}.npy", buffer.getvalue())
        archive.writestr("value0.npy", broken)
    with pytest.raises(ValueError, match="header.npz.*truncated or corrupt.*member 'value0'"):
        rg.load_sweep(path)


def test_load_refuses_empty_and_truncated_files(result, tmp_path):
    data = result.save(tmp_path / "grid.npz").read_bytes()
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.npz.*the file is empty \(0 bytes\)"):
        rg.load_sweep(empty)
    for cut in (1, 100, len(data) // 2, len(data) - 30, len(data) - 1):
        truncated = tmp_path / f"cut{cut}.npz"
        truncated.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=f"cut{cut}.npz.*truncated or corrupt"):
            rg.load_sweep(truncated)


def test_load_refuses_axes_that_disagree_with_the_values(tmp_path):
    path = _write_npz(tmp_path / "offgrid.npz", GOOD_META, axis0=np.arange(3), value0=np.zeros(2))
    with pytest.raises(ValueError, match=r"offgrid.npz.*`values` has shape \(2,\).*grid \(3,\)"):
        rg.load_sweep(path)
    path = _write_npz(tmp_path / "flat.npz", GOOD_META, axis0=np.ones((2, 2)), value0=np.zeros(2))
    with pytest.raises(ValueError, match="flat.npz.*axis `a` must be a non-empty 1-D array"):
        rg.load_sweep(path)


def test_load_checks_like(result, tmp_path):
    path = result.save(tmp_path / "grid.npz")
    wrong_shape = {**result.values, "x": np.zeros((2, 3, 4))}
    with pytest.raises(ValueError, match=r"`like` does not match.*\['x'\]: expected .*\[2, 3, 4\]"):
        rg.load_sweep(path, like=wrong_shape)
    wrong_dtype = {**result.values, "count": result.values["count"].astype(np.float64)}
    with pytest.raises(
        ValueError, match=r"\['count'\]: expected \(from `like`\) float64.*got int32"
    ):
        rg.load_sweep(path, like=wrong_dtype)
    renamed = {f"_{k}": v for k, v in result.values.items()}
    with pytest.raises(ValueError, match="`like` does not match the structure saved in"):
        rg.load_sweep(path, like=renamed)
    with pytest.raises(ValueError, match="`like` does not match the structure"):
        rg.load_sweep(path, like=np.zeros(1))
    with pytest.raises(TypeError, match=r"`like` leaf \['x'\] must be an array"):
        rg.load_sweep(path, like={**result.values, "x": 1.0})


# --------------------------------------------------------------------------- checkpoints

TINY = dict(
    optimizer=optax.sgd(1e-2),
    steps=2,
    batch_size=2,
    key=jax.random.key(0),
    test_size=4,
    progress=False,
    chunk_steps=1,
)


def tiny_train(folder):
    with jax.numpy_dtype_promotion("standard"):  # optax mixes weak floats and int32 counts
        return rg.train(
            lambda k: rg.VanillaCell(2, 3, key=k), rg.AddingTask(10), checkpoint_dir=folder, **TINY
        )


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A checkpoint folder of a finished tiny run."""
    folder = tmp_path_factory.mktemp("ckpt") / "run"
    tiny_train(folder)
    return folder


def test_checkpoint_dir_must_be_a_folder_path(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="`checkpoint_dir` must name a folder.*existing file"):
        tiny_train(blocker)
    with pytest.raises(ValueError, match="`checkpoint_dir`: cannot create the folder"):
        Checkpoint(blocker / "inside", {})
    assert blocker.read_text() == "not a folder"
    # rg.train's annotation lets only paths through under the test type checker, so the
    # message rnngrad gives a non-path (when no type checker runs) is checked here.
    with pytest.raises(TypeError, match="`checkpoint_dir` must be a path"):
        Checkpoint(123, {})


@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]", b"\xff\xfe\x00"])
def test_corrupt_run_json_is_named(finished, tmp_path, content):
    folder = tmp_path / "run"
    shutil.copytree(finished, folder)
    (folder / "run.json").write_bytes(content)
    with pytest.raises(
        ValueError, match=r"run.json.*corrupted.*Delete the folder.*`checkpoint_dir`"
    ):
        tiny_train(folder)


@pytest.mark.parametrize("damage", ["empty", "half", "garbage", "longer"])
def test_corrupt_state_is_named(finished, tmp_path, damage):
    folder = tmp_path / "run"
    shutil.copytree(finished, folder)
    state = folder / "state.eqx"
    data = state.read_bytes()
    state.write_bytes(
        {"empty": b"", "half": data[: len(data) // 2], "garbage": b"\x93NUMPY junk" * 9,
         "longer": data + data[:64]}[damage]
    )  # fmt: skip
    with pytest.raises(
        ValueError, match=r"state.eqx.*corrupted.*Delete the folder.*`checkpoint_dir`"
    ):
        tiny_train(folder)


def test_state_without_run_json_is_named(finished, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(finished, folder)
    (folder / "run.json").unlink()
    with pytest.raises(ValueError, match=r"state.eqx.*has no run.json next to it"):
        tiny_train(folder)


def test_state_of_other_shapes_is_named(tmp_path):
    ckpt = Checkpoint(tmp_path, {"run": 1})
    ckpt.save((np.zeros(3), jnp.ones((2, 2)), np.asarray(5, np.int64)))
    back = ckpt.restore((np.ones(3), jnp.zeros((2, 2)), np.zeros((), np.int64)))
    np.testing.assert_array_equal(back[0], np.zeros(3))
    assert int(back[2]) == 5
    with pytest.raises(ValueError, match=r"state.eqx.*changed shape.*corrupted"):
        ckpt.restore((np.ones(4), jnp.zeros((2, 2)), np.zeros((), np.int64)))
    with pytest.raises(ValueError, match=r"state.eqx.*changed dtype.*corrupted"):
        ckpt.restore((np.ones(3), jnp.zeros((2, 2), jnp.float32), np.zeros((), np.int64)))
    with pytest.raises(ValueError, match=r"state.eqx.*bytes more than this run's state"):
        ckpt.restore((np.ones(3),))


def test_checkpoint_never_pickles(tmp_path):
    ckpt = Checkpoint(tmp_path, {"run": 1})
    with pytest.raises(TypeError, match=r"leaf \[0\] has dtype object.*never writes pickles"):
        ckpt.save((np.array([object()], dtype=object),))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]
