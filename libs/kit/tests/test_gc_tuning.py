"""The service process's garbage-collector settings (runtime.tune_gc)."""
import gc

import pytest
from pur_kit.config import ServiceSettings
from pur_kit.runtime import tune_gc


@pytest.fixture
def restored_gc():
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_start_up_objects_are_frozen_and_the_young_generation_is_collected_less_often(restored_gc):
    tune_gc(20_000)
    assert gc.get_threshold() == (20_000, 50, 100)
    assert gc.get_freeze_count() > 10_000  # pytest, pydantic, SQLAlchemy... are out of the scans


def test_zero_leaves_the_collector_as_python_set_it(restored_gc):
    before = gc.get_threshold(), gc.get_freeze_count()
    tune_gc(0)
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_services_tune_the_collector_unless_the_process_is_told_not_to(monkeypatch):
    monkeypatch.delenv("GC_GEN0_THRESHOLD", raising=False)  # the test plugin sets it to 0
    assert ServiceSettings().gc_gen0_threshold == 20_000
    monkeypatch.setenv("GC_GEN0_THRESHOLD", "0")
    assert ServiceSettings().gc_gen0_threshold == 0
