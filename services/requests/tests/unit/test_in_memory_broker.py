"""The service's subscription table on FastStream's in-memory broker: each event reaches its typed
handler as the contract model, through the kit's subscriber, middleware, inbox claim and commit."""
from pur_contracts import DirectorySchool, DirectorySchoolUpserted, DirectoryUserUpserted, RequestsReplayRequested
from pur_kit.testing.fakes import FakeUnitOfWork
from pur_kit.testing.memory import consuming_in_memory
from requests_service.bootstrap import SERVICE
from requests_service.entrypoints.consumers import subscriptions
from requests_service.service_layer.projections import ProjectionHandlers

from .fakes import FakeRepositories
from .test_projection_handlers import NOW, a_request, person, settings_event


async def test_each_subscribed_event_reaches_its_handler_through_the_broker():
    uow = FakeUnitOfWork(FakeRepositories())
    user = person(phone="+15555550100")
    request = a_request(uow, user, {"phone": "+15555550199"})
    school = DirectorySchoolUpserted(district_id="d1", version=1,
                                     school=DirectorySchool(id="sch-a", district_id="d1", name="Alder"))
    updated = DirectoryUserUpserted(district_id="d1", version=2,
                                    user=user.model_copy(update={"phone": "+15555550199"}))
    replay = RequestsReplayRequested(district_id="d1", requested_by="digest")
    async with consuming_in_memory(SERVICE, subscriptions(ProjectionHandlers(clock=lambda: NOW)), uow) as bus:
        for event in (settings_event(1, True), school, updated, replay, replay):
            await bus.deliver(event)
    projections = uow.repos.projections
    assert projections.settings["d1"]["version"] == 1 and projections.schools[("d1", "sch-a")]["name"] == "Alder"
    assert uow.repos.requests.rows[request.id].appears_applied
    names = [e.event_name for e in uow.published]
    assert names == ["request.appears_applied_changed", "request.submitted"], "one replay answered, not two"
    assert uow.commits == 4 and bus.processed == 5
