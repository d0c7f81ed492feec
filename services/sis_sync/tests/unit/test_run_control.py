"""Cancelling runs and failing orphaned ones, on in-memory repositories: which runs end, and the
`sis.sync.completed` (failed) each of them announces."""
from __future__ import annotations

from uuid import uuid4

from pur_contracts import SisSyncCompleted
from sis_sync_service.service_layer.run_control import INTERRUPTED, request_cancel, sweep_orphaned_run

from .fakes import unit_of_work


async def test_a_cancel_of_a_run_of_this_process_stops_it_there():
    uow = unit_of_work()
    run_id = uow.repos.runs.add()
    stopped = []

    async def stop_locally(run, reason: str) -> bool:
        stopped.append((run, reason))
        return True

    async with uow:
        assert await request_cancel(uow, run_id, "an operator (CLI)", stop_locally)
    assert stopped == [(run_id, "cancelled by an operator (CLI); nothing was changed")]
    assert uow.repos.runs.cancels == {run_id: "an operator (CLI)"}
    assert uow.published == []  # the run announces its own end


async def test_a_cancel_of_a_run_whose_process_died_fails_it_on_the_spot():
    uow = unit_of_work()
    run_id = uow.repos.runs.add(owned=False)
    async with uow:
        assert await request_cancel(uow, run_id, "the system credential")
    assert uow.repos.runs.rows[run_id]["failure"] == "cancelled by the system credential; nothing was changed"
    [event] = uow.published
    assert isinstance(event, SisSyncCompleted) and event.run_id == run_id and event.status == "failed"


async def test_a_cancel_of_a_run_another_live_process_owns_is_only_noted():
    uow = unit_of_work()
    run_id = uow.repos.runs.add()
    async with uow:
        assert await request_cancel(uow, run_id, "the system credential")
    assert uow.repos.runs.rows[run_id]["status"] == "running" and run_id in uow.repos.runs.cancels
    assert uow.published == []


async def test_a_cancel_of_an_ended_or_unknown_run_is_refused():
    uow = unit_of_work()
    ended = uow.repos.runs.add(status="succeeded")
    async with uow:
        assert not await request_cancel(uow, ended, "the system credential")
        assert not await request_cancel(uow, uuid4(), "the system credential")
    assert uow.repos.runs.cancels == {} and uow.commits == 0


async def test_the_sweep_fails_orphans_once_and_never_a_live_run():
    uow = unit_of_work()
    live, orphan = uow.repos.runs.add(), uow.repos.runs.add(owned=False)
    for run_id in (live, orphan, orphan):
        async with uow:
            await sweep_orphaned_run(uow, run_id)
    assert uow.repos.runs.rows[live]["status"] == "running"
    assert uow.repos.runs.rows[orphan]["failure"] == INTERRUPTED
    assert [(e.run_id, e.status) for e in uow.published] == [(orphan, "failed")]
