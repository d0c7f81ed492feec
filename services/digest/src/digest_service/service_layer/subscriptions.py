"""A Users Manager's own digest subscription: the one-click link of an email (RFC 8058) and the
person's GET/PUT. Each change is one unit of work; no event leaves (the opt-out is the digest's own)."""
from __future__ import annotations

from uuid import UUID

from pur_kit.auth import InvalidPurposeToken, Principal, PurposeClaims, PurposeTokens

from ..adapters.repositories import UnitOfWorkFactory
from ..domain.errors import InvalidUnsubscribeLink, NotAPerson
from ..domain.subscription import Subscription
from .runner import Clock


class DigestSubscriptions:
    def __init__(self, unit_of_work: UnitOfWorkFactory, tokens: PurposeTokens, clock: Clock) -> None:
        self.unit_of_work = unit_of_work
        self.tokens = tokens
        self.clock = clock

    def check_link(self, token: str) -> tuple[UUID, str]:
        """The manager and district an unsubscribe link stands for; InvalidUnsubscribeLink otherwise."""
        try:
            claims: PurposeClaims = self.tokens.verify(token)
            user_id = UUID(claims.subject)
        except (InvalidPurposeToken, ValueError):
            raise InvalidUnsubscribeLink() from None
        if not claims.district_id:
            raise InvalidUnsubscribeLink()
        return user_id, claims.district_id

    async def unsubscribe_by_link(self, token: str) -> None:
        """Opt the link's manager out. Repeating it changes nothing (mail clients may POST twice)."""
        user_id, district_id = self.check_link(token)
        async with self.unit_of_work() as uow:
            await uow.repos.subscriptions.opt_out(user_id, district_id, self.clock(), "email_link")
            await uow.commit()

    async def status(self, caller: Principal) -> Subscription:
        user_id, district_id = _person(caller)
        async with self.unit_of_work() as uow:
            return await uow.repos.subscriptions.status(user_id, district_id)

    async def change(self, caller: Principal, subscribed: bool) -> Subscription:
        """The caller's own choice: on (the opt-out removed) or off (recorded once)."""
        user_id, district_id = _person(caller)
        async with self.unit_of_work() as uow:
            if subscribed:
                await uow.repos.subscriptions.opt_in(user_id)
            else:
                await uow.repos.subscriptions.opt_out(user_id, district_id, self.clock(), "api")
            answer = await uow.repos.subscriptions.status(user_id, district_id)
            await uow.commit()
        return answer


def _person(caller: Principal) -> tuple[UUID, str]:
    if caller.is_system or caller.user_id is None or not caller.district_id:
        raise NotAPerson()
    return caller.user_id, caller.district_id
