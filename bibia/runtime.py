"""Process-wide settings of a process that runs a job (the main process and the worker)."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import sys

import pyarrow

# A run allocates millions of short-lived objects (parsed pages, records): with Python's
# default thresholds, the collector ran every 700 allocations and walked every object of
# pandas, pandera and DuckDB each time it reached the oldest generation (measured: 3.4 s of
# a 50,000-submission run). What is imported is frozen out of its reach; collections are rarer.
GC_THRESHOLDS = (50_000, 20, 20)


def prepare_process() -> None:
    """Call once the modules are imported, before the work starts."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    # Arrow allocates with jemalloc where the wheel has it: it gives freed pages back
    with contextlib.suppress(NotImplementedError, AttributeError):
        pyarrow.set_memory_pool(pyarrow.jemalloc_memory_pool())


def without_hypothesis() -> None:
    """In bibia's own processes (the command, the worker): pandera registers its checks on a
    process's first validation and, where hypothesis is installed (a development environment:
    the tests use it), imports it to offer strategies that generate data, 0.18 s of every run
    for nothing a run uses. Marked as absent, it is not imported (pandera does without it).
    Not in a process that imports it later (a test session): call it at an entry point only."""
    sys.modules.setdefault("hypothesis", None)  # type: ignore[arg-type]


def give_back_memory() -> None:
    """Return the heap's free pages to the system (glibc keeps them otherwise: a batch's
    transient peak would stay in the process's resident memory for the rest of the run)."""
    with contextlib.suppress(OSError, AttributeError):
        _libc().malloc_trim(0)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL("libc.so.6")
