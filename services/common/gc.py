"""Keep the garbage collector off the objects a process builds at start-up.

A started process holds about 259,000 objects the collector tracks (provider SDKs, pydantic
models, the app; measured after build_context), and every full collection walked them
again: on the sync chat path that was 13-17% of CPU and pauses up to ~1 s at p99
(bench/RESULTS.md, the peers profile).
`gc.freeze()` moves them to a permanent generation the collector skips; measured in the same
run, the GC share fell from 13.5% to 5.9%.

Then the young generation is made larger. A request or a job keeps a few hundred container
objects alive until it ends, so a young collection every 700 allocations (CPython's
default) found most of them alive and promoted them, to be walked again by the older
generations:
- API: timed with gc.callbacks over a 5 s proxied load (bench/peers.py), 1,335 young, 121
  middle and 10 full collections took 3.3% of the CPU at 700; 19, 1 and 0 took 0.3% at
  7,000 (YOUNG_THRESHOLD).
- A worker holding 6,000 jobs in flight: 1.1 s of a 4.6 s run (24% of its CPU; 10 full
  collections of ~65 ms each) at 700; 0.07 s at 100,000 (WORKER_YOUNG_THRESHOLD), for
  ~7 MB more resident memory.
"""

from __future__ import annotations

import gc

# Allocations between young collections (CPython's default: 700).
YOUNG_THRESHOLD = 7000
WORKER_YOUNG_THRESHOLD = 100_000


def freeze_startup_heap(young: int = YOUNG_THRESHOLD) -> None:
    """Collect what start-up left behind, freeze the survivors, and collect the young
    generation every `young` allocations (the older generations keep their ratios to it).
    Call once, when the process is about to serve."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)
