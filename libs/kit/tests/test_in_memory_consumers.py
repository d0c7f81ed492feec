"""A service's typed handlers on FastStream's in-memory broker with a fake unit of work: the
subscriber per queue, the handler per event, decoding into the contract model and the inbox
claim, with no RabbitMQ and no database."""
from pur_contracts import DirectorySchool, DirectorySchoolUpserted, RequestsReplayRequested
from pur_kit.testing.fakes import FakeUnitOfWork
from pur_kit.testing.memory import consuming_in_memory


def school(version: int) -> DirectorySchoolUpserted:
    return DirectorySchoolUpserted(district_id="d1", version=version,
                                   school=DirectorySchool(id="s1", district_id="d1", name="North"))


async def test_each_event_reaches_its_typed_handler_once_and_its_events_are_committed():
    seen: list = []

    async def on_school(event: DirectorySchoolUpserted, uow) -> None:
        seen.append(event)
        uow.publish(RequestsReplayRequested(district_id=event.district_id, requested_by="test"))

    uow = FakeUnitOfWork(repos=None)
    async with consuming_in_memory("digest", {DirectorySchoolUpserted: on_school}, uow) as bus:
        event = school(1)
        await bus.deliver(event)
        await bus.deliver(event)  # the same message id again: the inbox stops it
    assert seen == [event] and isinstance(seen[0], DirectorySchoolUpserted)
    assert [e.event_name for e in uow.published] == [RequestsReplayRequested.event_name]
    assert uow.claimed == {str(event.event_id)}
    assert bus.processed == 2


async def test_a_body_that_does_not_validate_never_reaches_the_handler():
    seen: list = []

    async def on_school(event, uow) -> None:
        seen.append(event)

    uow = FakeUnitOfWork(repos=None)
    async with consuming_in_memory("digest", {DirectorySchoolUpserted: on_school}, uow) as bus:
        await bus.deliver(school(1), body=b'{"district_id": "d1"}')
    assert seen == [] and uow.claimed == set()
