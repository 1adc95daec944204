"""Benchmark tasks for long-range credit assignment, and the Mackey-Glass series.

The task classes are also top-level names (``rg.AddingTask``, ...).

>>> import jax, rnngrad as rg
>>> xs, y = rg.tasks.AddingTask(20).sample(jax.random.key(0))
>>> xs.shape
(20, 2)
"""

from ._mackey_glass import mackey_glass as mackey_glass
from ._tasks import (
    TASK_NAMES as TASK_NAMES,
    AbstractTask as AbstractTask,
    AddingTask as AddingTask,
    CopyTask as CopyTask,
    DelayedXORTask as DelayedXORTask,
    FlipFlopTask as FlipFlopTask,
    MultiplicationTask as MultiplicationTask,
    SequenceTarget as SequenceTarget,
    TemporalOrderTask as TemporalOrderTask,
    make_task as make_task,
)

__all__ = [
    "TASK_NAMES",
    "AbstractTask",
    "AddingTask",
    "CopyTask",
    "DelayedXORTask",
    "FlipFlopTask",
    "MultiplicationTask",
    "SequenceTarget",
    "TemporalOrderTask",
    "make_task",
    "mackey_glass",
]
