"""The service's subscription table on FastStream's in-memory broker: each event reaches its typed
handler as the contract model, through the kit's subscriber, middleware, inbox claim and commit."""
import uuid

from pur_contracts import SettingsReplayRequested
from pur_kit.testing.memory import consuming_in_memory
from settings_service.bootstrap import SERVICE
from settings_service.domain.access import DirectoryRecord
from settings_service.domain.model import DistrictSettings
from settings_service.entrypoints.consumers import subscriptions
from settings_service.service_layer.messages import MessageHandlers

from .fakes import unit_of_work
from .test_message_handlers import user_event


async def test_directory_events_and_replay_requests_reach_their_handlers_through_the_broker():
    uow = unit_of_work()
    await uow.repos.settings.save(DistrictSettings("springfield", version=3, profile_update_requests_enabled=True))
    user_id = uuid.uuid4()
    async with consuming_in_memory(SERVICE, subscriptions(MessageHandlers(uow)), uow) as bus:
        await bus.deliver(user_event(1, user_id=user_id))
        await bus.deliver(user_event(2, user_id=user_id, deactivated=True))
        replay = SettingsReplayRequested(district_id=None, requested_by="requests")
        await bus.deliver(replay)
        await bus.deliver(replay)  # redelivered: the inbox stops it
    assert await uow.repos.directory.record(user_id) == DirectoryRecord("springfield", False, True)
    assert [(e.district_id, e.version) for e in uow.published] == [("springfield", 3)]
    assert uow.commits == 3 and bus.processed == 4
