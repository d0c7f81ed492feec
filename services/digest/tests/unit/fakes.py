"""In-memory repositories with the interface of adapters/ (projections, directory, scopes,
deliveries, runs, subscriptions), over one shared `Tables` state, for the service layer's unit tests under
`pur_kit.testing.fakes.FakeUnitOfWork`; and a mailer that answers as scripted."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

from digest_service.adapters.projections import IndexedRequest
from digest_service.adapters.smtp import OutgoingMail
from digest_service.domain.delivery import DueRetry, NextState, SendOutcome
from digest_service.domain.digest import Recipient, RequestLine, ScopeView
from digest_service.domain.district import District
from digest_service.domain.subscription import Subscription
from pur_contracts import DirectorySchool, DirectoryUser, DistrictSettings, Event, RequestSnapshot
from pur_kit.testing.fakes import FakeUnitOfWork


@dataclass
class Tables:
    """The rows of the digest database, by key."""

    settings: dict[str, dict] = field(default_factory=dict)
    schools: dict[tuple[str, str], dict] = field(default_factory=dict)
    users: dict[UUID, dict] = field(default_factory=dict)
    requests: dict[UUID, dict] = field(default_factory=dict)
    request_schools: dict[tuple[UUID, str], dict] = field(default_factory=dict)
    deliveries: dict[UUID, dict] = field(default_factory=dict)
    runs: dict[UUID, dict] = field(default_factory=dict)
    opt_outs: dict[UUID, dict] = field(default_factory=dict)
    outbox: list[Event] = field(default_factory=list)   # events a repository wrote itself (one statement)


def _newer(rows: dict, key, version: int) -> bool:
    return key not in rows or rows[key]["version"] < version


def _indexed(row: dict) -> IndexedRequest:
    return IndexedRequest(row["id"], row["district_id"], row["status"], row["submitted_at"], tuple(row["school_ids"]))


class FakeProjections:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def upsert_settings(self, district_id: str, version: int, settings: DistrictSettings) -> bool:
        if not _newer(self.t.settings, district_id, version):
            return False
        n = settings.notifications
        self.t.settings[district_id] = {
            "district_id": district_id, "version": version, "enabled": settings.profile_update_requests_enabled,
            "digest_enabled": n.daily_digest_enabled, "digest_local_time": n.digest_local_time, "timezone": n.timezone}
        return True

    async def upsert_school(self, school: DirectorySchool, version: int) -> bool:
        key = (school.district_id, school.id)
        if not _newer(self.t.schools, key, version):
            return False
        self.t.schools[key] = {"name": school.name, "active": school.active, "version": version}
        return True

    async def upsert_user(self, user: DirectoryUser, version: int) -> bool:
        if not _newer(self.t.users, user.id, version):
            return False
        manager = user.permissions.users_manager
        self.t.users[user.id] = {
            "id": user.id, "district_id": user.district_id, "version": version, "given_name": user.given_name,
            "family_name": user.family_name, "email": user.email, "school_ids": list(user.school_ids),
            "active": user.active, "district_admin": user.permissions.district_admin,
            "manager_scope": manager.scope if manager else None,
            "manager_school_ids": list(manager.school_ids) if manager and manager.scope == "schools" else []}
        return True

    async def upsert_request(self, request: RequestSnapshot, version: int) -> IndexedRequest | None:
        if not _newer(self.t.requests, request.id, version):
            return None
        requester = self.t.users.get(request.requester_id)
        name = f"{requester['given_name']} {requester['family_name']}".strip() if requester else request.requester_name
        schools = requester["school_ids"] if requester else list(request.school_ids)
        self.t.requests[request.id] = row = {
            "id": request.id, "district_id": request.district_id, "requester_id": request.requester_id,
            "requester_name": name, "school_ids": list(dict.fromkeys(schools)), "status": request.status,
            "fields": list(request.fields), "has_note": request.has_note, "appears_applied": request.appears_applied,
            "submitted_at": request.submitted_at, "version": version}
        return _indexed(row)

    async def follow_requester(self, requester_id: UUID, name: str,
                               school_ids: tuple[str, ...]) -> list[IndexedRequest]:
        rows = [r for r in self.t.requests.values() if r["requester_id"] == requester_id]
        for row in rows:
            row.update(requester_name=name, school_ids=list(school_ids))
        return [_indexed(r) for r in rows]

    async def index_schools(self, request: IndexedRequest) -> None:
        for key in [k for k in self.t.request_schools if k[0] == request.id]:
            del self.t.request_schools[key]
        if request.status == "new":
            for school in request.school_ids:
                self.t.request_schools[(request.id, school)] = {
                    "district_id": request.district_id, "submitted_at": request.submitted_at,
                    "shared": len(request.school_ids) > 1}

    async def empty(self) -> set[str]:
        tables = {"settings": self.t.settings, "directory": self.t.users, "requests": self.t.requests}
        return {name for name, rows in tables.items() if not rows}


class FakeDirectory:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def district(self, district_id: str) -> District | None:
        row = self.t.settings.get(district_id)
        return District.from_row(row) if row else None

    async def digest_districts(self) -> list[District]:
        return [District.from_row(r) for _, r in sorted(self.t.settings.items())
                if r["enabled"] and r["digest_enabled"]]

    async def district_ids(self) -> list[str]:
        return sorted(self.t.settings)

    async def district_exists(self, district_id: str) -> bool:
        return district_id in self.t.settings or any(u["district_id"] == district_id for u in self.t.users.values())

    async def district_administered_by(self, user_id: UUID | None) -> str | None:
        user = self.t.users.get(user_id)
        return user["district_id"] if user and user["active"] and user["district_admin"] else None

    async def school_names(self, district_id: str) -> dict[str, str]:
        return {school: row["name"] for (district, school), row in self.t.schools.items() if district == district_id}

    async def recipients(self, district_id: str, local_date: date) -> list[Recipient]:
        return [self._recipient(u, local_date) for _, u in sorted(self.t.users.items())
                if u["district_id"] == district_id and u["active"] and u["manager_scope"]]

    async def recipient(self, recipient_id: UUID, local_date: date) -> Recipient | None:
        u = self.t.users.get(recipient_id)
        return self._recipient(u, local_date) if u and u["active"] and u["manager_scope"] else None

    def _recipient(self, u: dict, local_date: date) -> Recipient:
        mine = [d for d in self.t.deliveries.values() if d["recipient_id"] == u["id"]]
        return Recipient(
            id=u["id"], district_id=u["district_id"], email=u["email"], given_name=u["given_name"],
            family_name=u["family_name"], scope=u["manager_scope"], school_ids=tuple(u["manager_school_ids"]),
            last_digest_at=max((d["content_as_of"] for d in mine if d["status"] == "sent"), default=None),
            delivered_on_date=any(d["local_date"] == local_date for d in mine), opted_out=u["id"] in self.t.opt_outs)


class FakeScopes:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def _line(self, request_id: UUID) -> RequestLine:
        r = self.t.requests[request_id]
        return RequestLine(r["id"], r["requester_name"], tuple(r["school_ids"]), r["submitted_at"], tuple(r["fields"]),
                           r["has_note"], r["appears_applied"])

    def _new(self, district_id: str) -> list[dict]:
        return [r for r in self.t.requests.values() if r["district_id"] == district_id and r["status"] == "new"]

    def _indexed(self, district_id: str, school_ids) -> list[tuple[UUID, dict]]:
        return [(request_id, row) for (request_id, school), row in self.t.request_schools.items()
                if row["district_id"] == district_id and school in school_ids]

    async def district_view(self, district_id: str, limit: int) -> ScopeView:
        rows = sorted(self._new(district_id), key=lambda r: (r["submitted_at"], r["id"]), reverse=True)
        return ScopeView(len(rows), min((r["submitted_at"] for r in rows), default=None),
                         tuple(self._line(r["id"]) for r in rows[:limit]))

    async def school_view(self, district_id: str, school_id: str, limit: int) -> ScopeView:
        rows = sorted(self._indexed(district_id, {school_id}), key=lambda i: (i[1]["submitted_at"], i[0]),
                      reverse=True)
        return ScopeView(len(rows), min((row["submitted_at"] for _, row in rows), default=None),
                         tuple(self._line(request_id) for request_id, _ in rows[:limit]),
                         shared=sum(row["shared"] for _, row in rows))

    async def shared_overlap(self, district_id: str, school_ids: Sequence[str]) -> int:
        shared = [request_id for request_id, row in self._indexed(district_id, set(school_ids)) if row["shared"]]
        return len(shared) - len(set(shared))

    async def count_new_since(self, district_id: str, scope_key: tuple, since: datetime) -> int:
        if scope_key[0] == "district":
            return sum(r["submitted_at"] > since for r in self._new(district_id))
        newer = {request_id for request_id, row in self._indexed(district_id, set(scope_key[1:]))
                 if row["submitted_at"] > since}
        return len(newer)


class FakeDeliveries:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def claim(self, *, delivery_id: UUID, district_id: str, recipient_id: UUID, local_date: date,
                    request_ids: Sequence[UUID], total_open: int, new_count: int, content_as_of: datetime,
                    now: datetime, message_id: str, run_id: UUID | None) -> bool:
        if any(d["recipient_id"] == recipient_id and d["local_date"] == local_date for d in self.t.deliveries.values()):
            return False
        self.t.deliveries[delivery_id] = {
            "id": delivery_id, "district_id": district_id, "recipient_id": recipient_id, "local_date": local_date,
            "status": "claimed", "attempts": 1, "request_ids": list(request_ids), "total_open": total_open,
            "new_count": new_count, "content_as_of": content_as_of, "claimed_at": now, "sent_at": None,
            "next_attempt_at": None, "last_error": None, "message_id": message_id, "run_id": run_id}
        return True

    def _record(self, delivery_id: UUID, state: NextState, at: datetime) -> bool:
        row = self.t.deliveries[delivery_id]
        if row["status"] not in ("claimed", "unknown"):
            return False
        row.update(status=state.status.value, sent_at=at if state.status == "sent" else None,
                   next_attempt_at=state.next_attempt_at, last_error=state.error)
        return True

    async def record_outcome(self, delivery_id: UUID, state: NextState, *, now: datetime,
                             request_ids: Sequence[UUID], total_open: int, new_count: int,
                             content_as_of: datetime, event: Event | None) -> None:
        if self._record(delivery_id, state, now):
            self.t.deliveries[delivery_id].update(request_ids=list(request_ids), total_open=total_open,
                                                  new_count=new_count, content_as_of=content_as_of)
            self.t.outbox.extend([event] if event is not None else [])

    async def record_outcomes(self, outcomes: Sequence[tuple[UUID, NextState, datetime]], now: datetime) -> set[UUID]:
        return {delivery_id for delivery_id, state, at in outcomes if self._record(delivery_id, state, at)}

    async def cancel(self, delivery_id: UUID, reason: str, now: datetime) -> None:
        row = self.t.deliveries[delivery_id]
        if row["status"] == "claimed":
            row.update(status="cancelled", next_attempt_at=None, last_error=reason)

    async def claim_due_retries(self, now: datetime, limit: int) -> list[DueRetry]:
        due = sorted((d for d in self.t.deliveries.values()
                      if d["status"] == "retrying" and d["next_attempt_at"] <= now),
                     key=lambda d: d["next_attempt_at"])[:limit]
        for d in due:
            d.update(status="claimed", attempts=d["attempts"] + 1, claimed_at=now, next_attempt_at=None)
        return [DueRetry(d["id"], d["district_id"], d["recipient_id"], d["local_date"], d["attempts"]) for d in due]

    async def mark_stale_claims_unknown(self, cutoff: datetime, now: datetime) -> int:
        stale = [d for d in self.t.deliveries.values() if d["status"] == "claimed" and d["claimed_at"] < cutoff]
        for d in stale:
            d.update(status="unknown", last_error="claim timed out before its outcome was recorded")
        return len(stale)


class FakeRuns:
    def __init__(self, t: Tables) -> None:
        self.t = t

    def _scheduled(self, district_id: str, local_date: date) -> dict | None:
        return next((r for r in self.t.runs.values() if r["trigger"] == "schedule"
                     and (r["district_id"], r["local_date"]) == (district_id, local_date)), None)

    async def scheduled_run_done(self, district_id: str, local_date: date) -> bool:
        run = self._scheduled(district_id, local_date)
        return run is not None and run["status"] == "completed"

    async def acquire_scheduled(self, run_id: UUID, district_id: str, local_date: date, owner: str, now: datetime,
                                lease_until: datetime) -> UUID | None:
        run = self._scheduled(district_id, local_date)
        if run is None:
            self.t.runs[run_id] = run = {"id": run_id, "district_id": district_id, "local_date": local_date,
                                         "trigger": "schedule", "status": "running"}
        elif run["status"] != "running" or run["lease_until"] >= now:
            return None
        run.update(owner=owner, lease_until=lease_until)
        return run["id"]

    async def start_manual(self, run_id: UUID, district_id: str, local_date: date, owner: str,
                           now: datetime) -> None:
        self.t.runs[run_id] = {"id": run_id, "district_id": district_id, "local_date": local_date,
                               "trigger": "manual", "status": "running", "owner": owner, "lease_until": now}

    async def renew(self, run_id: UUID, owner: str, lease_until: datetime) -> None:
        run = self.t.runs[run_id]
        if run["owner"] == owner and run["status"] == "running":
            run["lease_until"] = lease_until

    async def complete(self, run_id: UUID, now: datetime, sent: int, skipped: int, failed: int) -> None:
        self.t.runs[run_id].update(status="completed", sent=sent, skipped=skipped, failed=failed)


class FakeSubscriptions:
    def __init__(self, t: Tables) -> None:
        self.t = t

    async def opt_out(self, user_id: UUID, district_id: str, at: datetime, via: str) -> None:
        self.t.opt_outs.setdefault(user_id, {"district_id": district_id, "opted_out_at": at, "via": via})

    async def opt_in(self, user_id: UUID) -> None:
        self.t.opt_outs.pop(user_id, None)

    async def status(self, user_id: UUID, district_id: str) -> Subscription:
        row, user, district = self.t.opt_outs.get(user_id), self.t.users.get(user_id), self.t.settings.get(district_id)
        return Subscription(
            subscribed=row is None, changed_at=row and row["opted_out_at"], via=row and row["via"],
            users_manager=bool(user and user["active"] and user["manager_scope"]),
            district_digest_on=bool(district and district["enabled"] and district["digest_enabled"]))


class FakeRepositories:
    def __init__(self, tables: Tables | None = None) -> None:
        self.tables = tables or Tables()
        self.projections = FakeProjections(self.tables)
        self.directory = FakeDirectory(self.tables)
        self.scopes = FakeScopes(self.tables)
        self.deliveries = FakeDeliveries(self.tables)
        self.runs = FakeRuns(self.tables)
        self.subscriptions = FakeSubscriptions(self.tables)


def unit_of_work() -> FakeUnitOfWork[FakeRepositories]:
    return FakeUnitOfWork(FakeRepositories(), consumer="digest.main")


async def deliver(handler, event: Event, uow: FakeUnitOfWork, message_id: str | None = None) -> None:
    """What the kit's runtime does with a delivery: claim it, hand it to the handler, commit."""
    async with uow:
        if await uow.claim(message_id or str(event.event_id)):
            await handler(event, uow)
            await uow.commit()


class ScriptedMailer:
    """Accepts every email, except that the next answers can be scripted (`outcomes`)."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMail] = []
        self.outcomes: list[SendOutcome] = []

    async def send(self, mail: OutgoingMail) -> SendOutcome:
        outcome = self.outcomes.pop(0) if self.outcomes else SendOutcome.sent()
        if outcome == SendOutcome.sent():
            self.sent.append(mail)
        return outcome

    def to(self) -> list[str]:
        return [m.recipient for m in self.sent]
