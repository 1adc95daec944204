"""Test configuration: float64 and strict dtype promotion, set once for every test and doctest."""

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")


import atexit  # noqa: E402
import contextlib  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

import pytest  # noqa: E402

if os.environ.get("RNNGRAD_TEST_XLA_CACHE", "1") != "0":
    # A program compiled in one test module and again in another (conftest drops jax's
    # in-memory caches between modules, see below) is read back from disk, not compiled
    # twice. The folder is this run's own: nothing carries over between runs.
    # Measured on tests/test_train*.py + test_penalties.py: 147 of 919 programs read back,
    # 327 s -> 291 s. RNNGRAD_TEST_XLA_CACHE=0 turns it off.
    _cache = tempfile.mkdtemp(prefix="rnngrad-xla-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
    jax.config.update("jax_compilation_cache_dir", _cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


_NO_OPT = "JAX_DISABLE_MOST_OPTIMIZATIONS"
_FAST_COMPILE = os.environ.get("RNNGRAD_TEST_FAST_COMPILE", "1") != "0"
if _FAST_COMPILE:
    # The suite is compile-bound (issue #15): most tests compile a program and run it for
    # a few steps. jax's smoke-test switch (LLVM at -O0, no expensive passes) halves XLA's
    # compile time of a training program and makes its steps several times slower. Tests
    # that run many steps, and one whose subject is the optimised program's rounding (a
    # saturated float32 tanh cell whose derivatives round to exactly 0: without the
    # optimisation they did not, and no warning came), are marked `optimized` and
    # compile as users' code does.
    # Results agree to rounding, not bitwise (a float64 training run and a lag profile:
    # <= 1.5e-14 apart), so every program of a bitwise comparison compiles the same way;
    # the environment variable carries the switch into the subprocesses tests start.
    # RNNGRAD_TEST_FAST_COMPILE=0 turns it off.
    os.environ[_NO_OPT] = "1"
    jax.config.update("jax_disable_most_optimizations", True)


@contextlib.contextmanager
def _compiled_fully(marked: bool):
    """While `marked`, programs compile with XLA's full optimisation, here and in the
    subprocesses started meanwhile; afterwards the switch is as it was."""
    if not (_FAST_COMPILE and marked and os.environ.get(_NO_OPT) == "1"):
        yield
        return
    jax.config.update("jax_disable_most_optimizations", False)
    del os.environ[_NO_OPT]
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", True)
        os.environ[_NO_OPT] = "1"


@pytest.fixture(autouse=True, scope="module")
def _optimized_module(request):
    """A module marked `optimized` (``pytestmark``) compiles fully, its fixtures too."""
    with _compiled_fully(request.node.get_closest_marker("optimized") is not None):
        yield


@pytest.fixture(autouse=True)
def _optimized(request):
    """Tests marked `optimized` (many steps run) compile with XLA's full optimisation."""
    with _compiled_fully(any(m.name == "optimized" for m in request.node.own_markers)):
        yield


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop jax's compiled programs after each test module.

    Every XLA CPU executable keeps memory mappings; the whole suite compiles thousands of
    programs in one process, and without this the process neared the kernel's limit of
    65530 mappings (vm.max_map_count), where XLA's compiler crashed with a segfault.
    """
    yield
    jax.clear_caches()


# Where the suite's time goes: jax reports each trace, lowering and XLA compile; the sums
# are printed at the end of the run (the suite is compile-bound, issue #15).
_COMPILE_EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "tracing",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lowering to MLIR",
    "/jax/core/compile/backend_compile_duration": "XLA compile",
    "/jax/compilation_cache/cache_retrieval_time_sec": "read from the disk cache",
}
_compile_time = {name: [0.0, 0] for name in _COMPILE_EVENTS.values()}


def _on_event(event: str, duration: float, **_: object) -> None:
    if event in _COMPILE_EVENTS:
        total = _compile_time[_COMPILE_EVENTS[event]]
        total[0] += duration
        total[1] += 1


jax.monitoring.register_event_duration_secs_listener(_on_event)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    parts = [f"{name} {secs:.0f} s ({n})" for name, (secs, n) in _compile_time.items()]
    terminalreporter.write_line("jax, summed over the run (count): " + ", ".join(parts))
