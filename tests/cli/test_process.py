"""The garbage-collector settings of the processes the CLI owns."""

from __future__ import annotations

import gc

from streamkit.cli.process import GEN0_THRESHOLD, tune_gc


def test_tune_gc_raises_thresholds_and_freezes_startup_objects() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == (GEN0_THRESHOLD, 10, 10)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
