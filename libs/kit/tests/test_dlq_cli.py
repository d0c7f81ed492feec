"""`pur-dlq` on real dead letters, run as an operator would (a subprocess with the service's env)."""
import asyncio
import json
import os
import shutil
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import aio_pika
import pytest_asyncio
from faststream.rabbit import RabbitBroker
from prometheus_client import REGISTRY
from pur_contracts import SUBSCRIPTIONS, DirectorySchool, DirectorySchoolUpserted
from pur_kit import dlq
from pur_kit.config import ServiceSettings
from pur_kit.consumer import EventConsumer
from pur_kit.runtime import ServiceRuntime
from pur_kit.testing import TcpProxy, free_port, wait_until

SERVICE = "digest"  # bound to school events, like the kit's consumer tests
MAX_RETRIES = 2
FOREVER = 10**6
_script = shutil.which("pur-dlq", path=str(Path(sys.executable).parent))
PUR_DLQ = [_script] if _script else [sys.executable, "-m", "pur_kit.dlq"]


def school(key: str) -> DirectorySchoolUpserted:
    return DirectorySchoolUpserted(district_id="d1", version=1,
                                   school=DirectorySchool(id=key, district_id="d1", name=f"School {key}"))


class Handler:
    """Applies school events, except while `failing[school id]` says how many more times to fail."""

    def __init__(self) -> None:
        self.failing: dict[str, int] = {}
        self.attempts: dict[str, list[int]] = {}
        self.applied: list[str] = []

    async def __call__(self, event, delivery) -> None:
        key = event.school.id
        self.attempts.setdefault(key, []).append(delivery.attempt)
        if self.failing.get(key, 0) > 0:
            self.failing[key] -= 1
            raise RuntimeError("the handler fails on this one")
        self.applied.append(key)


async def publish_raw(url, exchange_name, body: bytes, *, type_: str, message_id: str, **props) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(exchange_name)
        await exchange.publish(aio_pika.Message(body, message_id=message_id, type=type_, content_type="application/json",
                                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT, **props),
                               routing_key=type_)


async def depth(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        return (await channel.declare_queue(queue, passive=True)).declaration_result.message_count


@pytest_asyncio.fixture
async def dead(rabbitmq_url, topology, tmp_path):
    """A running digest consumer whose DLQ holds two handler failures (alpha, beta) and one malformed message."""
    handler = Handler()
    broker = RabbitBroker(rabbitmq_url, logger=None)
    consumer = EventConsumer(broker, topology, SERVICE, {DirectorySchoolUpserted: handler},
                             max_retries=MAX_RETRIES, retry_delay_ms=20)
    await broker.connect()
    await consumer.declare()
    await broker.start()
    handler.failing = {"alpha": FOREVER, "beta": FOREVER}
    events = {key: school(key) for key in ("alpha", "beta")}
    for key, event in events.items():
        await publish_raw(rabbitmq_url, topology.exchange, event.model_dump_json().encode(), type_=event.event_name,
                          message_id=str(event.event_id), correlation_id=f"corr-{key}", headers={"x-tenant": "d1"})
    malformed = f"malformed-{uuid.uuid4().hex[:8]}"
    await publish_raw(rabbitmq_url, topology.exchange, b'{"district_id": "d1", "version":', type_=school("x").event_name,
                      message_id=malformed)
    await wait_until(lambda: _equals(depth(rabbitmq_url, consumer.dlq_name), 3), message="three dead letters")

    env = {**os.environ, f"{SERVICE.upper()}_RABBITMQ_URL": rabbitmq_url,
           f"{SERVICE.upper()}_EVENTS_NAMESPACE": topology.namespace}

    async def cli(*args: str) -> SimpleNamespace:
        proc = await asyncio.create_subprocess_exec(
            *PUR_DLQ, SERVICE, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path)
        out, err = await proc.communicate()
        return SimpleNamespace(rc=proc.returncode, out=out.decode(), err=err.decode())

    yield SimpleNamespace(handler=handler, consumer=consumer, broker=broker, dlq=consumer.dlq_name, cli=cli,
                          ids={key: str(e.event_id) for key, e in events.items()}, malformed=malformed,
                          bodies={key: e.model_dump_json().encode() for key, e in events.items()},
                          url=rabbitmq_url, namespace=topology.namespace,
                          depth=lambda: depth(rabbitmq_url, consumer.dlq_name))
    await broker.stop()


async def _equals(awaitable, expected) -> bool:
    return await awaitable == expected


async def listed(dead) -> list[dict]:
    result = await dead.cli("list", "--json")
    assert result.rc == 0, result.err
    return [m for q in json.loads(result.out)["dlqs"] for m in q["messages"]]


async def test_list_shows_every_dead_letter_with_its_reason_and_leaves_the_queue_as_it_was(dead, topology):
    result = await dead.cli("list", "--json")
    assert result.rc == 0, result.err
    report = json.loads(result.out)
    purposes = [purpose for service, purpose in SUBSCRIPTIONS if service == SERVICE]
    assert [q["dlq"] for q in report["dlqs"]] == [f"{topology.queue(SERVICE, p)}.dlq" for p in purposes]
    messages = {m["message_id"]: m for q in report["dlqs"] for m in q["messages"]}
    assert set(messages) == {*dead.ids.values(), dead.malformed}
    alpha = messages[dead.ids["alpha"]]
    assert alpha["reason"] == f"handler_failed: RuntimeError after {MAX_RETRIES + 1} attempts"
    assert (alpha["type"], alpha["retry_count"], alpha["consumer"]) == ("directory.school.upserted", 2, "digest.main")
    assert alpha["dead_lettered_at"] and alpha["size"] == len(school("alpha").model_dump_json())
    assert messages[dead.malformed]["reason"].startswith("validation_error")

    text = await dead.cli("list")
    assert text.rc == 0 and f"{dead.dlq}: depth 3" in text.out
    assert f"{dead.ids['beta']}  directory.school.upserted  retries=2" in text.out

    order = [m["message_id"] for m in await listed(dead)]
    assert order == [m["message_id"] for q in report["dlqs"] for m in q["messages"]]
    assert await dead.depth() == 3


async def test_show_prints_the_headers_and_a_printable_preview_of_a_binary_or_huge_body(dead, rabbitmq_url, topology):
    hostile = b"\x1b[2J\xff\x00" + "\u202e".encode() + b"A" * 300_000
    await publish_raw(rabbitmq_url, topology.exchange, hostile, type_="directory.school.upserted", message_id="hostile-1")
    await wait_until(lambda: _equals(dead.depth(), 4), message="the hostile message dead-lettered")

    result = await dead.cli("show", "hostile-1", dead.ids["alpha"], "--bytes", "16")
    assert result.rc == 0, result.err
    assert "\x1b" not in result.out and "\u202e" not in result.out
    assert f"\\x1b[2J\\xff\\x00\\u202eAAAAAAA ... (+{len(hostile) - 16} bytes)" in result.out
    assert f"x-dead-letter-reason: \"handler_failed: RuntimeError after {MAX_RETRIES + 1} attempts\"" in result.out
    assert 'x-consumer: "digest.main"' in result.out and 'x-tenant: "d1"' in result.out
    assert "correlation_id: corr-alpha" in result.out and "x-death:" in result.out
    assert '{"event_id":' in result.out  # alpha's body preview
    assert await dead.depth() == 4


async def test_a_requeued_copy_keeps_the_message_and_drops_what_dead_lettering_added(dead, rabbitmq_url, topology):
    await dead.broker.stop()  # nobody consumes the main queue: the copy stays there to be looked at
    result = await dead.cli("requeue", dead.ids["alpha"])
    assert result.rc == 0, result.err
    assert f"requeued {dead.ids['alpha']} (directory.school.upserted) {dead.dlq} -> {dead.consumer.queue_name}" in result.out
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        copy = await (await channel.get_queue(dead.consumer.queue_name)).get(no_ack=True)
    assert (copy.message_id, copy.type, copy.correlation_id, copy.content_type) == (
        dead.ids["alpha"], "directory.school.upserted", "corr-alpha", "application/json")
    assert copy.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    # A quorum queue marks each delivery with its own x-delivery-count (0 here: a first delivery).
    assert copy.headers.pop("x-delivery-count", 0) == 0
    assert copy.headers == {"x-tenant": "d1", "x-requeued": 1}
    assert copy.body == dead.bodies["alpha"]
    assert await dead.depth() == 2


async def requeue_after_a_fix_that_still_fails_once(dead, monkeypatch, *, naive: bool) -> None:
    """The handler is fixed but fails once more on its first try (a dependency still warming up)."""
    if naive:  # what an operator could do by hand before pur-dlq: republish with the headers as they are
        monkeypatch.setattr(dlq, "requeue_copy", lambda m: aio_pika.Message(
            m.body, headers=dict(m.headers), message_id=m.message_id, type=m.type, content_type=m.content_type))
    dead.handler.failing["alpha"] = 1
    dead.handler.attempts["alpha"] = []
    code = await dlq.run(["--rabbitmq-url", dead.url, "--namespace", dead.namespace, SERVICE,
                          "requeue", dead.ids["alpha"]])
    assert code == 0


async def test_a_requeued_message_starts_its_retries_again_and_is_applied(dead, monkeypatch):
    await requeue_after_a_fix_that_still_fails_once(dead, monkeypatch, naive=False)
    await wait_until(lambda: "alpha" in dead.handler.applied, message="alpha applied after the requeue")
    assert dead.handler.attempts["alpha"] == [0, 1]
    assert dead.ids["alpha"] not in [m["message_id"] for m in await listed(dead)]


async def test_a_naive_requeue_keeping_x_retry_count_sends_the_message_straight_back(dead, monkeypatch):
    """Why the requeue resets the count: the test above fails this way against a naive requeue."""
    await requeue_after_a_fix_that_still_fails_once(dead, monkeypatch, naive=True)
    await wait_until(lambda: dead.handler.attempts["alpha"], message="alpha delivered again")
    await wait_until(lambda: _equals(dead.depth(), 3), message="alpha back in the DLQ")
    assert dead.handler.attempts["alpha"] == [MAX_RETRIES] and "alpha" not in dead.handler.applied


async def test_requeue_all_with_a_reason_filter_requeues_only_the_matching_dead_letters(dead):
    dead.handler.failing.clear()
    result = await dead.cli("requeue", "--all", "--reason-contains", "HANDLER_FAILED")
    assert result.rc == 0, result.err
    assert result.out.count("requeued ") == 2
    await wait_until(lambda: sorted(dead.handler.applied) == ["alpha", "beta"], message="both applied")
    assert [m["message_id"] for m in await listed(dead)] == [dead.malformed]
    nothing = await dead.cli("requeue", "--all", "--reason-contains", "handler_failed")
    assert (nothing.rc, nothing.err.strip()) == (1, "pur-dlq: nothing matched")


async def test_purge_drops_the_named_dead_letters_then_the_rest_only_when_confirmed(dead):
    refused = await dead.cli("purge", dead.malformed)
    assert refused.rc == 1 and "refusing to purge without --yes" in refused.err
    assert await dead.depth() == 3

    one = await dead.cli("purge", dead.malformed, "--yes")
    assert one.rc == 0, one.err
    assert sorted(m["message_id"] for m in await listed(dead)) == sorted(dead.ids.values())

    everything = await dead.cli("purge", "--yes")
    assert (everything.rc, everything.out.strip()) == (0, f"purged 2 from {dead.dlq}")
    assert await dead.depth() == 0
    again = await dead.cli("purge", "--yes")
    assert again.rc == 1 and again.err.count("\n") == 1


async def test_unknown_ids_and_an_unreachable_broker_end_in_one_line_and_exit_code_1(dead):
    for args in (["show", "no-such-id"], ["requeue", "no-such-id"], ["purge", "no-such-id", "--yes"]):
        result = await dead.cli(*args)
        assert result.rc == 1 and "no-such-id" in result.err and "Traceback" not in result.err, (args, result.err)
    down = await dead.cli("--rabbitmq-url", f"amqp://guest:s3cret@127.0.0.1:{free_port()}/", "list")
    assert down.rc == 1 and down.out == ""
    assert down.err.startswith("pur-dlq: cannot connect to RabbitMQ at amqp://guest:***@127.0.0.1:")
    assert down.err.count("\n") == 1 and "s3cret" not in down.err
    assert await dead.depth() == 3


async def test_a_requeue_to_a_queue_that_is_gone_keeps_the_dead_letter(dead, rabbitmq_url):
    await dead.broker.stop()
    connection = await aio_pika.connect(rabbitmq_url)
    async with connection:
        await (await connection.channel()).queue_delete(dead.consumer.queue_name)
    result = await dead.cli("requeue", dead.ids["beta"])
    assert result.rc == 1 and "NO_ROUTE" in result.err and result.err.count("\n") == 1
    assert await dead.depth() == 3


def gauge(queue: str) -> float | None:
    return REGISTRY.get_sample_value("consumer_dead_letter_messages", {"queue": queue})


async def test_the_depth_gauge_follows_the_dlq_and_survives_a_broker_outage(dead, rabbitmq_url, capsys):
    host, port = rabbitmq_url.rsplit("@", 1)[1].rstrip("/").split(":")
    async with TcpProxy(host, int(port)) as proxy:
        url = rabbitmq_url.replace(f"@{host}:{port}", f"@127.0.0.1:{proxy.port}")
        task = asyncio.create_task(dlq.dlq_depth_loop(url, [dead.dlq], interval=0.05))
        try:
            await wait_until(lambda: gauge(dead.dlq) == 3, message="the gauge at 3")
            await proxy.cut()
            output = ""

            def outage_lines() -> int:
                nonlocal output
                captured = capsys.readouterr()
                output += captured.out + captured.err
                return output.count("dlq_depth_unavailable")

            await wait_until(outage_lines, message="the outage logged")
            assert (await dead.cli("purge", dead.malformed, "--yes")).rc == 0
            await asyncio.sleep(0.3)  # several more failing rounds, still one line
            assert outage_lines() == 1 and gauge(dead.dlq) == 3 and not task.done()
            await proxy.restore()
            await wait_until(lambda: gauge(dead.dlq) == 2, message="the gauge back and at 2")
        finally:
            task.cancel()


async def test_every_service_runtime_exports_the_depth_of_its_dead_letter_queues(rabbitmq_url, postgres_url, topology,
                                                                                  monkeypatch):
    monkeypatch.setattr(dlq, "DEPTH_INTERVAL_SECONDS", 0.05)
    settings = ServiceSettings(rabbitmq_url=rabbitmq_url, database_url=postgres_url,
                               events_namespace=topology.namespace)
    runtime = ServiceRuntime(settings, SERVICE)
    consumers = runtime.add_consumers({DirectorySchoolUpserted: Handler()})
    main = next(c for c in consumers if c.queue_name == topology.queue(SERVICE))
    await runtime.start()
    try:
        await wait_until(lambda: all(gauge(c.dlq_name) == 0 for c in consumers), message="every DLQ's gauge at 0")
        await publish_raw(rabbitmq_url, topology.exchange, b"not json", type_="directory.school.upserted",
                          message_id="poison-1")
        await wait_until(lambda: gauge(main.dlq_name) == 1, message="the main DLQ's gauge at 1")
    finally:
        await runtime.stop()
