"""The cap on runs per process is bounded, and the import pool is sized from it: one connection per
run, and room for the short checks beside them."""
from __future__ import annotations

import pytest
from pydantic import ValidationError
from sis_sync_service.config import IMPORT_CHECK_CONNECTIONS, Settings


def test_the_import_pool_holds_every_run_and_the_short_checks():
    assert Settings().max_concurrent_imports == 4
    assert Settings().import_pool_size == 4 + IMPORT_CHECK_CONNECTIONS
    assert Settings(max_concurrent_imports=12).import_pool_size == 12 + IMPORT_CHECK_CONNECTIONS


def test_the_cap_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SIS_SYNC_MAX_CONCURRENT_IMPORTS", "2")
    assert Settings().import_pool_size == 2 + IMPORT_CHECK_CONNECTIONS


@pytest.mark.parametrize("cap", [0, -1, 65])
def test_a_cap_out_of_bounds_is_refused_at_start(cap):
    with pytest.raises(ValidationError, match="max_concurrent_imports"):
        Settings(max_concurrent_imports=cap)
