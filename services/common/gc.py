"""Keep the garbage collector off the objects a process builds at start-up.

A started process holds about 259,000 objects the collector tracks (provider SDKs, pydantic
models, the app; measured after build_context), and every full collection walked them
again: on the sync chat path that was 13-17% of CPU and pauses up to ~1 s at p99
(bench/RESULTS.md, the peers profile).
`gc.freeze()` moves them to a permanent generation the collector skips; measured in the same
run, the GC share fell from 13.5% to 5.9%.

A worker holding thousands of jobs in flight has a second problem: each job keeps ~100
objects alive while it waits on its provider, so a young collection (every 700 allocations)
found most of its objects alive and promoted them, and the full collections that followed
walked every job in flight. At 6,000 jobs in flight that was 1.1 s of a 4.6 s run (24% of
the worker's CPU; 10 full collections of ~65 ms each). Collecting the young generation every
100,000 allocations instead, most of them have died by then: 0.07 s in the same run, for
~7 MB more resident memory.
"""

from __future__ import annotations

import gc

# Allocations between young collections in a worker (Python's default: 700).
WORKER_YOUNG_THRESHOLD = 100_000


def freeze_startup_heap() -> None:
    """Collect what start-up left behind, then freeze the survivors. Call once, when the
    process is about to serve."""
    gc.collect()
    gc.freeze()


def collect_less_often(young: int = WORKER_YOUNG_THRESHOLD) -> None:
    """Collect the young generation every `young` allocations (the older generations keep
    their default ratios to it)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)
