"""Work a service's dead-letter queues: `pur-dlq SERVICE list|show|requeue|purge`, and their depth metric.

Reading is non-destructive: messages are taken with basic.get and held unacknowledged, never
nacked one by one (a requeued message would come straight back at the head and loop); closing the
channel returns every held message to its original position, in order, which is also what happens
if the tool dies midway. A run only looks at the messages present when it started, so a requeued
message dead-lettered again meanwhile is not seen (nor requeued) twice. Bodies may hold personal
data: they go to stdout when asked for, never to a log.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import sys
from collections.abc import Callable, Iterable
from datetime import datetime, timezone

import aio_pika
import aiormq
from prometheus_client import Gauge
from pur_contracts import SUBSCRIPTIONS, Topology
from pydantic_settings import BaseSettings, SettingsConfigDict

from .config import ServiceSettings
from .consumer import DELIVERY_COUNT_HEADER, REASON_HEADER, RETRY_COUNT_HEADER
from .logging import get_logger

log = get_logger(__name__)

CONSUMER_HEADER = "x-consumer"
REQUEUED_HEADER = "x-requeued"
# What a dead-lettering added; a requeued message starts over without them (a kept x-retry-count
# sent it straight back to the DLQ at its first failure). A quorum queue adds x-delivery-count to a
# message delivered again (the DLQ's, after `pur-dlq list` looked at it): that count is the queue's,
# not the message's.
_DEAD_LETTER_HEADERS = {RETRY_COUNT_HEADER, REASON_HEADER, "x-original-routing-key", CONSUMER_HEADER, "x-death",
                        DELIVERY_COUNT_HEADER}
DEPTH_INTERVAL_SECONDS = 15.0

DLQ_DEPTH = Gauge("consumer_dead_letter_messages", "Messages waiting in a dead-letter queue", ["queue"])


class CliError(Exception):
    """Ends the command with this one line on stderr and exit code 1."""


# ---- reading dead letters -------------------------------------------------------------------

def printable(text: str) -> str:
    """Escapes control, bidi and other invisible characters so a message cannot drive the terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def body_preview(body: bytes, limit: int) -> str:
    text = printable(body[:limit].decode("utf-8", "backslashreplace"))
    return text + (f" ... (+{len(body) - limit} bytes)" if len(body) > limit else "")


def _plain(value):
    """Header values as JSON-able, printable data."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {printable(str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, int | float | bool) or value is None else printable(str(value))


def describe(message: aio_pika.abc.AbstractIncomingMessage, queue: str, dlq: str) -> dict:
    headers = message.headers or {}
    reason, at = headers.get(REASON_HEADER), None
    if headers.get(CONSUMER_HEADER):
        at = message.timestamp  # the consumer's republish into the DLQ is stamped when it happens
    for death in headers.get("x-death") or []:
        # Dead-lettered by the broker itself (rejected, over a limit) rather than by our consumer.
        if isinstance(death, dict) and death.get("queue") == queue and reason is None:
            reason, at = f"broker: {death.get('reason')}", death.get("time")
    return {
        "dlq": dlq,
        "queue": queue,
        "message_id": _plain(message.message_id),
        "type": _plain(message.type),
        "reason": _plain(reason),
        "retry_count": _plain(headers.get(RETRY_COUNT_HEADER)),
        "requeued": _plain(headers.get(REQUEUED_HEADER)),
        "consumer": _plain(headers.get(CONSUMER_HEADER)),
        "dead_lettered_at": _plain(at.replace(tzinfo=at.tzinfo or timezone.utc) if isinstance(at, datetime) else at),
        "size": len(message.body),
    }


def requeue_copy(message: aio_pika.abc.AbstractIncomingMessage) -> aio_pika.Message:
    headers = {k: v for k, v in (message.headers or {}).items()
               if k not in _DEAD_LETTER_HEADERS and not k.startswith(("x-first-death-", "x-last-death-"))}
    headers[REQUEUED_HEADER] = int((message.headers or {}).get(REQUEUED_HEADER) or 0) + 1
    return aio_pika.Message(
        message.body, headers=headers, message_id=message.message_id, type=message.type,
        correlation_id=message.correlation_id, content_type=message.content_type,
        content_encoding=message.content_encoding, app_id=message.app_id, reply_to=message.reply_to,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT, timestamp=datetime.now(timezone.utc),
    )


class DeadLetters:
    """The DLQs of one service on one connection."""

    def __init__(self, url: str, namespace: str, service: str, queue_type: str = "classic") -> None:
        self.url, self.topology = url, Topology(namespace, queue_type)
        self.queues = [self.topology.queue(s, p) for s, p in SUBSCRIPTIONS if s == service]
        self.connection: aio_pika.abc.AbstractConnection | None = None

    async def __aenter__(self) -> DeadLetters:
        try:
            self.connection = await aio_pika.connect(self.url, timeout=10,
                                                     client_properties={"connection_name": "pur-dlq"})
        except (OSError, asyncio.TimeoutError, aiormq.exceptions.AMQPError) as exc:
            raise CliError(f"cannot connect to RabbitMQ at {mask(self.url)} ({type(exc).__name__})") from None
        return self

    async def __aexit__(self, *exc) -> None:
        with contextlib.suppress(Exception):
            await self.connection.close()

    def pairs(self) -> list[tuple[str, str]]:
        return [(q, self.topology.dead_letter_queue(q)) for q in self.queues]

    async def depth(self, dlq: str) -> int | None:
        """None when the DLQ was never declared (the service has not run with that queue yet)."""
        channel = await self.connection.channel()
        try:
            return (await channel.declare_queue(dlq, passive=True)).declaration_result.message_count
        except aiormq.exceptions.ChannelNotFoundEntity:
            return None
        finally:
            with contextlib.suppress(Exception):
                await channel.close()

    @contextlib.asynccontextmanager
    async def held(self, dlq: str, limit: int | None = None):
        """The DLQ's messages (up to its depth at the start, or `limit`), unacked; returned on exit
        unless acked. The channel confirms publishes and raises on an unroutable one."""
        depth = await self.depth(dlq)
        channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        try:
            messages = []
            if depth:
                queue = await channel.get_queue(dlq, ensure=False)
                wanted = depth if limit is None else min(depth, limit)
                while len(messages) < wanted and (m := await queue.get(no_ack=False, fail=False)) is not None:
                    messages.append(m)
            yield depth, channel, messages
        finally:
            with contextlib.suppress(Exception):
                await channel.close()


def mask(url: str) -> str:
    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


# ---- commands -------------------------------------------------------------------------------

def _selector(args) -> Callable[[dict], bool]:
    ids = set(args.message_ids or ())
    text = (args.reason_contains or "").lower()
    return lambda d: (not ids or d["message_id"] in ids) and (not text or text in (d["reason"] or "").lower())


async def cmd_list(dl: DeadLetters, args) -> int:
    report = []
    for queue, dlq in dl.pairs():
        async with dl.held(dlq, args.limit) as (depth, _, messages):
            report.append({"dlq": dlq, "depth": depth, "messages": [describe(m, queue, dlq) for m in messages]})
    if args.json:
        print(json.dumps({"service": args.service, "dlqs": report}, indent=2))
        return 0
    for entry in report:
        depth = "not declared" if entry["depth"] is None else f"depth {entry['depth']}"
        print(f"{entry['dlq']}: {depth}")
        for d in entry["messages"]:
            print(f"  {d['message_id'] or '-'}  {d['type'] or '-'}  retries={d['retry_count']}  "
                  f"requeued={d['requeued'] or 0}  consumer={d['consumer'] or '-'}  "
                  f"at={d['dead_lettered_at'] or '-'}  size={d['size']}  reason={d['reason'] or '-'}")
        if entry["depth"] and entry["depth"] > len(entry["messages"]):
            print(f"  ... {entry['depth'] - len(entry['messages'])} more (--limit)")
    return 0


async def cmd_show(dl: DeadLetters, args) -> int:
    found = []
    for queue, dlq in dl.pairs():
        async with dl.held(dlq) as (_, _, messages):
            for position, m in enumerate(messages, 1):
                d = describe(m, queue, dlq)
                if d["message_id"] in args.message_ids:
                    properties = {k: _plain(getattr(m, k)) for k in (
                        "content_type", "content_encoding", "correlation_id", "app_id", "timestamp",
                        "delivery_mode", "priority", "expiration", "reply_to", "redelivered")}
                    found.append({**d, "position": position, "properties": properties,
                                  "headers": _plain(dict(m.headers or {})),
                                  "body_preview": body_preview(m.body, args.bytes)})
    if not found:
        raise CliError(f"no dead letter with id {', '.join(map(printable, args.message_ids))}")
    if args.json:
        print(json.dumps(found, indent=2))
    for d in [] if args.json else found:
        print(f"message {d['message_id']} in {d['dlq']} (position {d['position']}), type {d['type']}")
        print(f"  reason: {d['reason']}")
        print(f"  dead-lettered at: {d['dead_lettered_at'] or 'unknown'}")
        print("  properties:")
        for k, v in d["properties"].items():
            print(f"    {k}: {v}")
        print("  headers:")
        for k, v in d["headers"].items():
            print(f"    {k}: {json.dumps(v)}")
        print(f"  body ({d['size']} bytes, first {args.bytes}):\n    {d['body_preview']}")
    return _missing(args.message_ids, found)


def _missing(ids, done: list[dict]) -> int:
    missing = sorted(set(ids or ()) - {d["message_id"] for d in done})
    if missing:
        print(f"pur-dlq: not found: {', '.join(map(printable, missing))}", file=sys.stderr)
    return 1 if missing or not done else 0


async def cmd_requeue(dl: DeadLetters, args) -> int:
    if not args.message_ids and not args.all:
        raise CliError("name MESSAGE_IDs or --all")
    chosen, done = _selector(args), []
    for queue, dlq in dl.pairs():
        async with dl.held(dlq) as (_, channel, messages):
            for m in messages:
                d = describe(m, queue, dlq)
                if not chosen(d):
                    continue
                try:
                    await channel.default_exchange.publish(requeue_copy(m), routing_key=queue, mandatory=True)
                except aiormq.exceptions.DeliveryError as exc:
                    raise CliError(f"could not requeue {d['message_id']} to {queue}: {exc}") from None
                await m.ack()  # only once the broker confirmed the copy: a crash in between duplicates, never loses
                done.append(d)
                print(f"requeued {d['message_id'] or '-'} ({d['type']}) {dlq} -> {queue}")
    if not done and not args.message_ids:
        raise CliError("nothing matched")
    return _missing(args.message_ids, done)


async def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError("refusing to purge without --yes (no terminal to confirm on)")
    # In a thread, so the connection keeps its heartbeats (and the held messages) while we wait.
    answer = await asyncio.to_thread(input, f"{question} [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise CliError("purge cancelled")


async def cmd_purge(dl: DeadLetters, args) -> int:
    if not args.message_ids and not args.reason_contains:
        depths = {dlq: await dl.depth(dlq) for _, dlq in dl.pairs()}
        total = sum(d or 0 for d in depths.values())
        if not total:
            raise CliError("nothing matched: the dead-letter queues are empty")
        await _confirm(f"Drop all {total} dead letters of {args.service} "
                       f"({', '.join(f'{q}: {d}' for q, d in depths.items() if d)})?", args.yes)
        for dlq, depth in depths.items():
            if depth:
                channel = await dl.connection.channel()
                result = await (await channel.get_queue(dlq, ensure=False)).purge()
                print(f"purged {result.message_count} from {dlq}")
                await channel.close()
        return 0
    chosen, done = _selector(args), []
    for queue, dlq in dl.pairs():
        async with dl.held(dlq) as (_, _, messages):
            matched = [(m, describe(m, queue, dlq)) for m in messages]
            matched = [(m, d) for m, d in matched if chosen(d)]
            if not matched:
                continue
            await _confirm(f"Drop {len(matched)} dead letters from {dlq}?", args.yes)
            for m, d in matched:
                await m.ack()
                done.append(d)
                print(f"purged {d['message_id'] or '-'} ({d['type']}) from {dlq}")
    if not done and not args.message_ids:
        raise CliError("nothing matched")
    return _missing(args.message_ids, done)


# ---- entry point ----------------------------------------------------------------------------

def service_settings(service: str) -> BaseSettings:
    """The broker URL and namespace as the service reads them (`<SERVICE>_RABBITMQ_URL`, .env)."""

    class Settings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix=f"{service.upper()}_", env_file=".env", extra="ignore")
        rabbitmq_url: str = ServiceSettings.model_fields["rabbitmq_url"].default
        events_namespace: str = ServiceSettings.model_fields["events_namespace"].default
        queue_type: str = ServiceSettings.model_fields["queue_type"].default

    return Settings()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pur-dlq", description="List, show, requeue and purge a service's dead letters.")
    p.add_argument("--rabbitmq-url", help="default: <SERVICE>_RABBITMQ_URL, as the service reads it")
    p.add_argument("--namespace", help="default: <SERVICE>_EVENTS_NAMESPACE, else 'pur'")
    p.add_argument("service", choices=sorted({s for s, _ in SUBSCRIPTIONS}))
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="depth and one line per dead letter (non-destructive)")
    ls.add_argument("--limit", type=int, default=1000, help="messages shown per DLQ (default 1000)")
    show = sub.add_parser("show", help="headers, properties and a body preview")
    show.add_argument("message_ids", nargs="+", metavar="MESSAGE_ID")
    show.add_argument("--bytes", type=int, default=512, help="body preview length (default 512)")
    for cmd in (ls, show):
        cmd.add_argument("--json", action="store_true")
    requeue = sub.add_parser("requeue", help="back to the original queue, retry count reset")
    purge = sub.add_parser("purge", help="drop dead letters (all of them without MESSAGE_IDs)")
    for cmd in (requeue, purge):
        cmd.add_argument("message_ids", nargs="*", metavar="MESSAGE_ID")
        cmd.add_argument("--reason-contains", metavar="TEXT", help="only those whose reason contains TEXT")
    requeue.add_argument("--all", action="store_true", help="every dead letter (or every matching one)")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return p


COMMANDS = {"list": cmd_list, "show": cmd_show, "requeue": cmd_requeue, "purge": cmd_purge}


async def run(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = service_settings(args.service)
    url = args.rabbitmq_url or settings.rabbitmq_url
    try:
        async with DeadLetters(url, args.namespace or settings.events_namespace, args.service,
                               settings.queue_type) as dl:
            return await COMMANDS[args.command](dl, args)
    except CliError as exc:
        print(f"pur-dlq: {exc}", file=sys.stderr)
    except (OSError, asyncio.TimeoutError, aiormq.exceptions.AMQPError) as exc:
        print(f"pur-dlq: RabbitMQ at {mask(url)} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    # The AMQP libraries log connection failures with tracebacks; the CLI says it in one line.
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    logging.getLogger("aio_pika").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(run(argv))
    except KeyboardInterrupt:  # held messages go back to the DLQ with the connection
        return 130


# ---- metric ---------------------------------------------------------------------------------

async def _depths_once(connection: aio_pika.abc.AbstractConnection, queues: Iterable[str]) -> None:
    for name in queues:
        channel = await connection.channel()
        try:
            result = await channel.declare_queue(name, passive=True)
            DLQ_DEPTH.labels(queue=name).set(result.declaration_result.message_count)
        except aiormq.exceptions.ChannelNotFoundEntity:
            pass  # not declared yet: the consumer declares it once the broker is up
        finally:
            with contextlib.suppress(Exception):
                await channel.close()


async def dlq_depth_loop(rabbitmq_url: str, queues: Iterable[str], interval: float | None = None) -> None:
    """Refresh `consumer_dead_letter_messages{queue}` every `interval` seconds until cancelled.

    During a broker outage the gauges keep their last values (durable queues keep their messages),
    one warning is logged, and the loop reconnects by itself.
    """
    queues = list(queues)
    connection, failing = None, False
    try:
        while queues:
            try:
                async with asyncio.timeout(10):
                    if connection is None:
                        connection = await aio_pika.connect(rabbitmq_url, client_properties={
                            "connection_name": "pur-dlq-depth"})
                    await _depths_once(connection, queues)
                if failing:
                    log.info("dlq_depth_available")
                    failing = False
            except Exception as exc:
                if not failing:
                    log.warning("dlq_depth_unavailable", error=type(exc).__name__)
                    failing = True
                with contextlib.suppress(Exception):
                    await connection.close()
                connection = None
            await asyncio.sleep(interval or DEPTH_INTERVAL_SECONDS)
    finally:
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


if __name__ == "__main__":
    raise SystemExit(main())
