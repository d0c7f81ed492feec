"""Runs, retries, the sweep, the scheduler and the run action of the API and CLI, over in-memory
repositories and a scripted mailer: who is refused, what is claimed, sent and announced."""
from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from digest_service.adapters.render import DigestRenderer, Links
from digest_service.domain.delivery import RetryPolicy, SendOutcome, SendResult
from digest_service.domain.errors import DateInFuture, NoSuchDistrict, NotDistrictAdmin
from digest_service.service_layer.digests import OPERATOR, DigestRuns, district_in_reach
from digest_service.service_layer.runner import DigestRunner
from digest_service.service_layer.scheduler import Scheduler
from pur_contracts import DigestSent
from pur_kit.auth import Principal, PurposeTokens

from .fakes import ScriptedMailer, unit_of_work

D = "springfield"
MONDAY_0730_NY = datetime(2026, 3, 9, 11, 30, tzinfo=UTC)
MONDAY = date(2026, 3, 9)


class Clock:
    def __init__(self) -> None:
        self.now = MONDAY_0730_NY

    def __call__(self) -> datetime:
        return self.now


def world(*, enabled: bool = True):
    """A district with a district-scope manager, a school manager, a manager without an email, an
    admin, and two New requests (one per school)."""
    uow, clock, mailer = unit_of_work(), Clock(), ScriptedMailer()
    t = uow.repos.tables
    t.settings[D] = {"district_id": D, "version": 1, "enabled": enabled, "digest_enabled": True,
                     "digest_local_time": "07:00", "timezone": "America/New_York"}
    t.schools[(D, "sch-a")] = {"name": "Alder", "active": True, "version": 1}

    def person(email, scope=None, schools=(), admin=False, district=D):
        user_id = uuid.uuid4()
        t.users[user_id] = {"id": user_id, "district_id": district, "email": email, "given_name": "G",
                            "family_name": "F", "school_ids": [], "active": True, "district_admin": admin,
                            "manager_scope": scope, "manager_school_ids": list(schools), "version": 1}
        return user_id

    people = SimpleNamespace(dora=person("dora@example.org", "district"),
                             mia=person("mia@example.org", "schools", ["sch-a"]),
                             nomail=person(None, "district"), admin=person("ann@example.org", admin=True))
    for school, hours in (("sch-a", 3), ("sch-b", 2)):
        request_id = uuid.uuid4()
        t.requests[request_id] = {"id": request_id, "district_id": D, "requester_id": uuid.uuid4(),
                                  "requester_name": "Rita", "school_ids": [school], "status": "new",
                                  "fields": ["email"], "has_note": False, "appears_applied": False,
                                  "submitted_at": clock() - timedelta(hours=hours), "version": 1}
        t.request_schools[(request_id, school)] = {"district_id": D, "submitted_at": clock() - timedelta(hours=hours),
                                                   "shared": False}
    runner = DigestRunner(
        uow, lambda: contextlib.nullcontext(uow.repos), mailer,
        DigestRenderer("Digest <no-reply@pur.example>", Links("https://r.example", "https://s.example",
                                                             "https://d.example", PurposeTokens("k" * 32, "t"))),
        events_committed=lambda: None, clock=clock, owner="this-process", policy=RetryPolicy(3, timedelta(minutes=1), timedelta(hours=1)),
        max_listed=25, concurrency=1, claim_timeout=timedelta(minutes=15), run_lease=timedelta(minutes=10))
    return SimpleNamespace(uow=uow, t=t, clock=clock, mailer=mailer, runner=runner, people=people,
                           digests=DigestRuns(uow, runner, clock),
                           scheduler=Scheduler(uow, runner, clock=clock, owner="this-process",
                                               grace=timedelta(hours=6), run_lease=timedelta(minutes=10),
                                               tick_seconds=30))


def statuses(w) -> dict[str, str]:
    emails = {u["id"]: u["email"] for u in w.t.users.values()}
    return {emails[d["recipient_id"]]: d["status"] for d in w.t.deliveries.values()}


def announced(w) -> list[DigestSent]:
    """`digest.sent` events committed by a unit of work or written by a repository's own statement."""
    return w.uow.published + w.t.outbox


def person_of(w, user_id, district: str = D) -> Principal:
    return Principal(subject=str(user_id), district_id=district, is_system=False, token="t")


async def test_a_run_claims_sends_and_announces_one_digest_per_manager_with_something_new():
    w = world()
    report = await w.runner.run(D)
    assert report.local_date == MONDAY and (report.sent, report.skipped) == (2, 1)
    assert sorted(w.mailer.to()) == ["dora@example.org", "mia@example.org"]
    assert statuses(w) == {"dora@example.org": "sent", "mia@example.org": "sent"}
    assert sorted((e.recipient_id, e.request_count) for e in announced(w)) == sorted(
        [(w.people.dora, 2), (w.people.mia, 1)])
    assert all(isinstance(e, DigestSent) and e.local_date == MONDAY for e in announced(w))
    (run,) = w.t.runs.values()
    assert run["trigger"] == "manual" and run["status"] == "completed" and run["sent"] == 2


async def test_a_second_run_the_same_day_sends_nothing_more():
    w = world()
    await w.runner.run(D)
    again = await w.runner.run(D)
    assert again.sent == 0 and {d["reason"] for d in again.deliveries} == {"already_delivered", "no_email"}
    assert len(w.mailer.sent) == 2 and len(announced(w)) == 2


async def test_a_dry_run_previews_and_claims_sends_and_announces_nothing():
    w = world()
    report = await w.runner.run(D, dry_run=True)
    assert sorted(e["to"] for e in report.emails) == ["dora@example.org", "mia@example.org"]
    assert w.mailer.sent == [] and w.t.deliveries == {} and w.t.runs == {} and announced(w) == []


async def test_a_district_without_the_feature_gets_nothing():
    w = world(enabled=False)
    report = await w.runner.run(D)
    assert report.status == "feature_disabled" and w.mailer.sent == [] and w.t.deliveries == {}


async def test_a_transient_failure_is_retried_after_its_backoff_and_announced_once_sent():
    w = world()
    w.mailer.outcomes = [SendOutcome(SendResult.TRANSIENT, "421")] * 2
    report = await w.runner.run(D)
    assert report.retrying == 2 and announced(w) == []
    assert set(statuses(w).values()) == {"retrying"}
    assert await w.runner.retry_due() == 0                  # backoff not over
    w.clock.now += timedelta(minutes=2)
    assert await w.runner.retry_due() == 2
    assert set(statuses(w).values()) == {"sent"} and len(announced(w)) == 2


async def test_a_retry_is_cancelled_when_the_recipient_no_longer_manages_users():
    w = world()
    w.mailer.outcomes = [SendOutcome(SendResult.TRANSIENT, "421")] * 2
    await w.runner.run(D)
    w.t.users[w.people.mia]["manager_scope"] = None
    w.clock.now += timedelta(minutes=2)
    await w.runner.retry_due()
    assert statuses(w) == {"dora@example.org": "sent", "mia@example.org": "cancelled"}
    assert [e.recipient_id for e in announced(w)] == [w.people.dora]


async def test_an_unsubscribed_manager_is_skipped_with_the_reason_and_the_others_still_get_theirs():
    w = world()
    w.t.opt_outs[w.people.mia] = {"district_id": D, "opted_out_at": w.clock(), "via": "email_link"}
    report = await w.runner.run(D)
    assert w.mailer.to() == ["dora@example.org"] and statuses(w) == {"dora@example.org": "sent"}
    reasons = {d["recipient_id"]: d["reason"] for d in report.deliveries}
    assert reasons[str(w.people.mia)] == "unsubscribed"
    preview = await w.runner.run(D, MONDAY, dry_run=True)   # a preview leaves them out too
    assert [e["to"] for e in preview.emails] == ["dora@example.org"]
    del w.t.opt_outs[w.people.mia]
    again = await w.runner.run(D)
    assert w.mailer.to() == ["dora@example.org", "mia@example.org"] and again.sent == 1


async def test_a_retry_is_cancelled_when_the_recipient_unsubscribed_meanwhile():
    w = world()
    w.mailer.outcomes = [SendOutcome(SendResult.TRANSIENT, "421")] * 2
    await w.runner.run(D)
    w.t.opt_outs[w.people.mia] = {"district_id": D, "opted_out_at": w.clock(), "via": "api"}
    w.clock.now += timedelta(minutes=2)
    await w.runner.retry_due()
    assert statuses(w) == {"dora@example.org": "sent", "mia@example.org": "cancelled"}
    assert w.t.deliveries[next(i for i, d in w.t.deliveries.items() if d["recipient_id"] == w.people.mia)][
        "last_error"] == "unsubscribed"


async def test_a_claim_never_recorded_becomes_unknown_after_the_claim_timeout_and_is_never_sent_again():
    w = world()
    w.t.users[w.people.mia]["manager_scope"] = None
    await w.runner.run(D)
    (delivery,) = w.t.deliveries.values()
    delivery["status"] = "claimed"   # as if the process died before recording the outcome
    assert await w.runner.sweep_stale_claims() == 0
    w.clock.now += timedelta(minutes=16)
    assert await w.runner.sweep_stale_claims() == 1 and delivery["status"] == "unknown"
    assert (await w.runner.run(D)).sent == 0


async def test_the_scheduler_runs_a_due_district_once_under_its_lease():
    w = world()
    (run,) = (await w.scheduler.tick()).runs
    assert run.sent == 2
    assert (await w.scheduler.tick()).runs == []
    (row,) = w.t.runs.values()
    assert row["trigger"] == "schedule" and row["status"] == "completed"


async def test_a_district_administrator_runs_their_own_district_only():
    w = world()
    admin = person_of(w, w.people.admin)
    assert [r.sent for r in await w.digests.run(admin, None, None, dry_run=False)] == [2]
    with pytest.raises(NoSuchDistrict):
        await w.digests.run(admin, "shelbyville", None, dry_run=False)
    with pytest.raises(NotDistrictAdmin):
        await w.digests.run(person_of(w, w.people.mia), D, None, dry_run=False)


async def test_the_system_credential_and_the_operator_run_every_district_or_a_known_one():
    w = world()
    system = Principal(subject="system", district_id=None, is_system=True, token="t")
    with pytest.raises(NoSuchDistrict):
        await w.digests.run(system, "nowhere", None, dry_run=True)
    assert [r.district_id for r in await w.digests.run(OPERATOR, None, None, dry_run=True)] == [D]
    assert await district_in_reach(w.uow, system, None) is None
    assert await district_in_reach(w.uow, person_of(w, w.people.admin), None) == D


async def test_a_run_for_a_future_local_date_is_refused_before_anything_runs():
    w = world()
    tomorrow = MONDAY + timedelta(days=1)
    with pytest.raises(DateInFuture) as refused:
        await w.digests.run(OPERATOR, D, tomorrow, dry_run=False)
    assert refused.value.field == "date"
    assert w.mailer.sent == [] and w.t.runs == {}
    reports = await w.digests.run(OPERATOR, D, MONDAY - timedelta(days=1), dry_run=False)   # a past day: allowed
    assert reports[0].local_date == MONDAY - timedelta(days=1) and reports[0].sent == 2
