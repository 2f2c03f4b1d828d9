"""Process-wide settings of a process that runs a job (the main process and the worker)."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc

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


def give_back_memory() -> None:
    """Return the heap's free pages to the system (glibc keeps them otherwise: a batch's
    transient peak would stay in the process's resident memory for the rest of the run)."""
    with contextlib.suppress(OSError, AttributeError):
        _libc().malloc_trim(0)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL("libc.so.6")
