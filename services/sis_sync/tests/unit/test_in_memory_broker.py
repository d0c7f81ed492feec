"""The service's subscription table on FastStream's in-memory broker: each event reaches its typed
handler as the contract model, through the kit's subscriber, middleware, inbox claim and commit."""
from pur_contracts import DirectoryReplayRequested, DirectorySchoolUpserted, DirectoryUserUpserted
from pur_kit.testing.memory import consuming_in_memory
from sis_sync_service.bootstrap import SERVICE
from sis_sync_service.entrypoints.consumers import subscriptions
from sis_sync_service.service_layer.messages import MessageHandlers

from .fakes import unit_of_work
from .test_message_handlers import settings_changed


async def test_each_subscribed_event_reaches_its_handler_through_the_broker():
    uow = unit_of_work()
    uow.repos.schools.add("springfield", "s1")
    uow.repos.users.add(sis_id="S-1", version=4)
    replay = DirectoryReplayRequested(district_id="springfield", requested_by="requests")
    async with consuming_in_memory(SERVICE, subscriptions(MessageHandlers(uow)), uow) as bus:
        await bus.deliver(settings_changed("springfield", 2, False))
        await bus.deliver(replay)
        await bus.deliver(replay)  # redelivered: the inbox stops it
    assert await uow.repos.settings.contact_auto_update("springfield") is False
    assert [type(e) for e in uow.published] == [DirectorySchoolUpserted, DirectoryUserUpserted]
    assert uow.published[1].version == 4
    assert uow.commits == 2 and bus.processed == 3
