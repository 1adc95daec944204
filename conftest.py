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
