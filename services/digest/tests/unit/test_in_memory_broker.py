"""The service's subscription table on FastStream's in-memory broker: each event reaches its typed
handler as the contract model, through the kit's subscriber, middleware, inbox claim and commit."""
from digest_service.bootstrap import SERVICE
from digest_service.entrypoints.consumers import subscriptions
from digest_service.service_layer.projections import ProjectionHandlers
from pur_contracts import DirectorySchool, DirectorySchoolUpserted, RequestMarkedDone, RequestSubmitted, UsersManagerScope
from pur_kit.testing.memory import consuming_in_memory

from .fakes import unit_of_work
from .test_projection_handlers import D, SUBMITTED, index, settings_event, snapshot, user, user_event


async def test_each_subscribed_event_reaches_its_handler_through_the_broker():
    uow = unit_of_work()
    manager = user(manager=UsersManagerScope(scope="schools", school_ids=["sch-a"]))
    pupil = user()
    new = snapshot(pupil)
    done = new.model_copy(update={"status": "done", "done_at": SUBMITTED, "done_by": "someone"})
    school = DirectorySchoolUpserted(district_id=D, version=1, school=DirectorySchool(id="sch-a", district_id=D,
                                                                                       name="Alder"))
    events = [settings_event(1), school, user_event(manager, 1), user_event(pupil, 1),
              RequestSubmitted(district_id=D, version=1, request=new)]
    async with consuming_in_memory(SERVICE, subscriptions(ProjectionHandlers(uow)), uow) as bus:
        for event in events:
            await bus.deliver(event)
        assert index(uow), "the New request is indexed for its schools"
        await bus.deliver(RequestMarkedDone(district_id=D, version=2, request=done))
    assert await uow.repos.directory.school_names(D) == {"sch-a": "Alder"}
    assert [r.id for r in await uow.repos.directory.recipients(D, SUBMITTED.date())] == [manager.id]
    assert index(uow) == set(), "a done request leaves the index"
    assert uow.repos.tables.settings[D]["version"] == 1
    assert uow.commits == 6 and bus.processed == 6
