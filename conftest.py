"""Test configuration: float64 and strict dtype promotion, set once for every test and doctest."""

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")


import pytest  # noqa: E402


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
