"""Test harness: real RabbitMQ and PostgreSQL, isolated per run (see plugin.py)."""
from .helpers import EventSpy, TcpProxy, connections_refused, drain_queue, free_port, wait_until

__all__ = ["EventSpy", "TcpProxy", "connections_refused", "drain_queue", "free_port", "wait_until"]
