"""Keep the garbage collector off the objects a process builds at start-up.

A started process holds about 259,000 objects the collector tracks (provider SDKs, pydantic
models, the app; measured after build_context), and every full collection walked them
again: on the sync chat path that was 13-17% of CPU and pauses up to ~1 s at p99
(bench/RESULTS.md, the peers profile).
`gc.freeze()` moves them to a permanent generation the collector skips; measured in the same
run, the GC share fell from 13.5% to 5.9%.

Then the young generation is made ten times larger. A request allocates a few hundred
container objects that live until it answers; with 32 requests in flight, a collection
every 700 allocations found most of them alive and promoted them, to be scanned again by
the older generations. Timed with gc.callbacks over a 5 s proxied load (bench/peers.py):
1,335 young, 121 middle and 10 full collections took 3.3% of the CPU at the default 700;
19, 1 and 0 took 0.3% at 7,000.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 7000  # allocations between young collections; CPython's default is 700


def freeze_startup_heap() -> None:
    """Collect what start-up left behind, then freeze the survivors. Call once, when the
    process is about to serve."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
