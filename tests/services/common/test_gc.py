"""A serving process freezes its start-up heap and collects its young generation less often."""

from __future__ import annotations

import gc

from services.common.gc import YOUNG_THRESHOLD, freeze_startup_heap


def test_the_startup_heap_is_frozen_and_the_young_generation_enlarged() -> None:
    before = gc.get_threshold()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (YOUNG_THRESHOLD, before[1], before[2])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
