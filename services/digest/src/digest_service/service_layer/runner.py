"""A digest run of one district and local date, the retries of failed deliveries, and the sweep of
claims a dead process left behind.

Per recipient: select (per scope, shared within the run) → render → **claim (committed)** → send →
record the outcome with its `digest.sent` event (batched, recording.py). The claim is the
unique (recipient, local date) row, so replicas, restarts and manual runs can never send twice;
a claim whose outcome was never recorded becomes 'unknown' and is not sent again.

A run's workers each hold one pooled connection for their share of recipients, where every
statement is its own transaction (the claim must commit before the email leaves); the steps around
them (starting and completing the run, its lease, the outcome batches) are units of work.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from prometheus_client import Counter
from pur_contracts import DigestSent
from pur_kit.logging import get_logger

from ..adapters.render import DigestRenderer, InvalidAddress, RenderedEmail
from ..adapters.smtp import Mailer, OutgoingMail
from ..adapters.repositories import HeldRepositories, Repositories, UnitOfWorkFactory
from ..domain.delivery import DeliveryStatus, DueRetry, NextState, RetryPolicy, SendOutcome, after_attempt
from ..domain.digest import DigestContent, Recipient, new_since_from_listing
from ..domain.district import District
from ..domain.schedule import local_date_of
from .recording import OutcomeRecorder
from .reports import RunReport
from .selection import Selection

log = get_logger(__name__)
Clock = Callable[[], datetime]
DELIVERIES = Counter("digest_deliveries_total", "Digest delivery attempts by outcome", ["outcome"])
RETRY_BATCH = 200


@dataclass
class _Run:
    district: District
    local_date: date
    run_id: UUID | None
    dry_run: bool
    school_names: dict[str, str]
    report: RunReport
    selection: Selection
    recorder: OutcomeRecorder | None
    rows: dict = field(default_factory=dict)   # rendered request rows, shared by the run's emails

    @property
    def zone(self) -> ZoneInfo:
        return self.district.schedule.zone


class DigestRunner:
    def __init__(self, unit_of_work: UnitOfWorkFactory, held_repositories: HeldRepositories, mailer: Mailer,
                 renderer: DigestRenderer, *, events_committed: Callable[[], None], clock: Clock, owner: str,
                 policy: RetryPolicy, max_listed: int, concurrency: int, claim_timeout: timedelta,
                 run_lease: timedelta) -> None:
        self.unit_of_work = unit_of_work
        self.held_repositories = held_repositories
        self.events_committed = events_committed   # wakes the outbox relay after a statement wrote events
        self.mailer = mailer
        self.renderer = renderer
        self.clock = clock
        self.owner = owner
        self.policy = policy
        self.max_listed = max_listed
        self.concurrency = concurrency
        self.claim_timeout = claim_timeout
        self.run_lease = run_lease

    # --- runs ----------------------------------------------------------------------------------
    async def run(self, district_id: str, local_date: date | None = None, *, dry_run: bool = False,
                  scheduled_run_id: UUID | None = None) -> RunReport:
        """Digests of one district for `local_date` (default: today there), now, whatever the hour."""
        started = time.perf_counter()
        report = RunReport(district_id)
        async with self.unit_of_work() as uow:
            district = await uow.repos.directory.district(district_id)
            if district is None:
                report.status = "feature_disabled"  # no settings published yet: the feature is off by default
                return report
            if refusal := district.refusal():
                report.status = refusal
                if scheduled_run_id is not None:
                    await uow.repos.runs.complete(scheduled_run_id, self.clock(), 0, 0, 0)
                    await uow.commit()
                return report
            report.local_date = local_date or local_date_of(self.clock(), district.schedule.zone)
            names = await uow.repos.directory.school_names(district_id)
            recipients = await uow.repos.directory.recipients(district_id, report.local_date)
            run_id = scheduled_run_id
            if run_id is None and not dry_run:
                run_id = uuid4()
                await uow.repos.runs.start_manual(run_id, district_id, report.local_date, self.owner, self.clock())
            await uow.commit()
        run = _Run(district, report.local_date, run_id, dry_run, names, report,
                   Selection(district_id, self.max_listed, self.clock),
                   None if dry_run else OutcomeRecorder(self.unit_of_work, self.clock))
        keeper = asyncio.create_task(self._keep_lease(scheduled_run_id)) if scheduled_run_id else None
        try:
            report.errors = await self._for_each(recipients, lambda repos, r: self._deliver(repos, run, r))
            if run.recorder is not None:
                await run.recorder.close()
                report.errors += run.recorder.failed
        finally:
            if keeper is not None:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
        # A scheduled run with errors stays open: once its lease ends a tick runs it again, and
        # the claims make sure that only the recipients it missed get their digest.
        if run_id is not None and not (report.errors and scheduled_run_id):
            async with self.unit_of_work() as uow:
                await uow.repos.runs.complete(run_id, self.clock(), report.sent, report.skipped,
                                              report.failed + report.retrying)
                await uow.commit()
        log.info("digest_run", district_id=district_id, local_date=report.local_date.isoformat(), dry_run=dry_run,
                 trigger="schedule" if scheduled_run_id else "manual", recipients=len(recipients), sent=report.sent,
                 skipped=report.skipped, retrying=report.retrying, failed=report.failed, errors=report.errors,
                 ms=round((time.perf_counter() - started) * 1000, 1))
        return report

    async def _for_each(self, items: list, work: Callable[[Repositories, Any], Awaitable[None]]) -> int:
        """Up to `concurrency` workers, each holding one database connection for its share
        (`held_repositories`, the kit's `Database.repositories`): every statement used there is
        complete on its own (a claim; a retry's outcome with its event), and a unit of work per
        recipient (a pooled connection taken, BEGIN, COMMIT) made a run of bench/bench_digest.py
        ~20% slower.

        One recipient's unexpected error is logged and counted, never allowed to cancel the sends
        of the others (a send cut short between claim and record would end up 'unknown').
        """
        queue: asyncio.Queue = asyncio.Queue()
        for item in items:
            queue.put_nowait(item)
        errors = 0

        async def worker() -> None:
            nonlocal errors
            async with self.held_repositories() as repos:
                while not queue.empty():
                    try:
                        await work(repos, queue.get_nowait())
                    except Exception as exc:
                        errors += 1
                        log.warning("digest_recipient_failed", error=type(exc).__name__)

        workers = [asyncio.create_task(worker()) for _ in range(min(self.concurrency, len(items)))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
        return errors

    async def _keep_lease(self, run_id: UUID) -> None:
        while True:
            await asyncio.sleep(self.run_lease.total_seconds() / 3)
            async with self.unit_of_work() as uow:
                await uow.repos.runs.renew(run_id, self.owner, self.clock() + self.run_lease)
                await uow.commit()

    async def _deliver(self, repos: Repositories, run: _Run, recipient: Recipient) -> None:
        report = run.report

        def skip(reason: str) -> None:
            report.skipped += 1
            report.deliveries.append({"recipient_id": str(recipient.id), "delivery_id": None,
                                      "status": "skipped", "reason": reason, "request_count": 0})

        if recipient.opted_out:   # their own choice (GET/PUT /api/v1/digest/subscription, the email's link)
            return skip("unsubscribed")
        if recipient.delivered_on_date and not run.dry_run:
            return skip("already_delivered")
        if not recipient.email:
            return skip("no_email")
        content = await self._content(repos, run.district.district_id, recipient, run.local_date, run.selection)
        if content.is_empty:
            return skip("nothing_new")
        delivery_id = uuid4()
        try:
            rendered = self.renderer.render(content, school_names=run.school_names, zone=run.zone,
                                            delivery_id=delivery_id, now=self.clock(), row_cache=run.rows)
        except InvalidAddress:
            return skip("invalid_email")
        if run.dry_run:
            report.emails.append({
                "to": rendered.to, "subject": rendered.subject, "text": rendered.text, "html": rendered.html,
                "request_ids": [str(i) for i in rendered.request_ids], "recipient_id": str(recipient.id),
                "district_id": recipient.district_id, "local_date": run.local_date.isoformat(),
                "already_delivered": recipient.delivered_on_date,
            })
            return None
        claimed = await repos.deliveries.claim(
            delivery_id=delivery_id, district_id=recipient.district_id, recipient_id=recipient.id,
            local_date=run.local_date, request_ids=rendered.request_ids, total_open=content.total_open,
            new_count=content.new_since_last, content_as_of=content.as_of, now=self.clock(),
            message_id=self.renderer.message_id(delivery_id), run_id=run.run_id)
        if not claimed:
            return skip("already_delivered")
        outcome = await self.mailer.send(OutgoingMail(self.renderer.envelope_from, rendered.to, rendered.data))
        state = self._after(delivery_id, 1, outcome)
        run.recorder.add(delivery_id, state, self._sent_event(delivery_id, content, state))
        report.count(state.status)
        report.deliveries.append({"recipient_id": str(recipient.id), "delivery_id": str(delivery_id),
                                  "status": state.status.value, "reason": None, "request_count": content.total_open})
        return None

    async def _content(self, repos: Repositories, district_id: str, recipient: Recipient, local_date: date,
                       selection: Selection) -> DigestContent:
        key = recipient.scope_key
        as_of, view = await selection.view(repos.scopes, key)
        new = new_since_from_listing(view, recipient.last_digest_at)
        if new is None:
            new = await repos.scopes.count_new_since(district_id, key, recipient.last_digest_at)
        return DigestContent(recipient=recipient, local_date=local_date, as_of=as_of, total_open=view.total_open,
                             new_since_last=new, oldest_submitted_at=view.oldest_submitted_at, requests=view.newest)

    def _after(self, delivery_id: UUID, attempt: int, outcome: SendOutcome) -> NextState:
        state = after_attempt(outcome, attempt, self.clock(), self.policy)
        DELIVERIES.labels(state.status.value).inc()
        if state.status is not DeliveryStatus.SENT:
            log.warning("digest_delivery_failed", delivery_id=str(delivery_id), attempt=attempt,
                        status=state.status.value, error=state.error)
        return state

    @staticmethod
    def _sent_event(delivery_id: UUID, content: DigestContent, state: NextState) -> DigestSent | None:
        if state.status is not DeliveryStatus.SENT:
            return None
        return DigestSent(district_id=content.recipient.district_id, delivery_id=delivery_id,
                          recipient_id=content.recipient.id, local_date=content.local_date,
                          request_count=content.total_open)

    # --- retries and stale claims ------------------------------------------------------------
    async def retry_due(self) -> int:
        """Send again the deliveries whose transient failure's backoff is over."""
        async with self.unit_of_work() as uow:
            due = await uow.repos.deliveries.claim_due_retries(self.clock(), RETRY_BATCH)
            await uow.commit()
        if due:
            await self._for_each(due, self._retry)
        return len(due)

    async def _retry(self, repos: Repositories, due: DueRetry) -> None:
        prepared = await self._prepare_retry(repos, due)
        if prepared is None:
            return
        content, rendered = prepared
        outcome = await self.mailer.send(OutgoingMail(self.renderer.envelope_from, rendered.to, rendered.data))
        state = self._after(due.id, due.attempts, outcome)
        event = self._sent_event(due.id, content, state)
        # A retry lists what is New now: its content is recorded along with the outcome.
        await repos.deliveries.record_outcome(due.id, state, now=self.clock(), request_ids=rendered.request_ids,
                                              total_open=content.total_open, new_count=content.new_since_last,
                                              content_as_of=content.as_of, event=event)
        if event is not None:
            self.events_committed()

    async def _prepare_retry(self, repos: Repositories, due: DueRetry) -> tuple[DigestContent, RenderedEmail] | None:
        """The content and email of a retry, or None when it was cancelled instead."""
        district = await repos.directory.district(due.district_id)
        refusal = "feature_disabled" if district is None else district.refusal()
        if refusal:
            return await repos.deliveries.cancel(due.id, refusal, self.clock())
        recipient = await repos.directory.recipient(due.recipient_id, due.local_date)
        if recipient is None or not recipient.email:
            return await repos.deliveries.cancel(due.id, "no longer an active Users Manager", self.clock())
        if recipient.opted_out:
            return await repos.deliveries.cancel(due.id, "unsubscribed", self.clock())
        selection = Selection(district.district_id, self.max_listed, self.clock)
        content = await self._content(repos, district.district_id, recipient, due.local_date, selection)
        if content.is_empty:
            return await repos.deliveries.cancel(due.id, "nothing New any more", self.clock())
        names = await repos.directory.school_names(district.district_id)
        try:
            rendered = self.renderer.render(content, school_names=names, zone=district.schedule.zone,
                                            delivery_id=due.id, now=self.clock())
        except InvalidAddress:
            return await repos.deliveries.cancel(due.id, "invalid email address", self.clock())
        return content, rendered

    async def sweep_stale_claims(self) -> int:
        """Claims whose outcome was never recorded (the process died mid-send) become 'unknown'."""
        now = self.clock()
        async with self.unit_of_work() as uow:
            count = await uow.repos.deliveries.mark_stale_claims_unknown(now - self.claim_timeout, now)
            await uow.commit()
        if count:
            DELIVERIES.labels(DeliveryStatus.UNKNOWN.value).inc(count)
            log.warning("digest_claims_unknown", count=count)
        return count
