"""Test harness: real RabbitMQ and PostgreSQL, isolated per run (see plugin.py)."""
from .helpers import EventSpy, free_port, wait_until

__all__ = ["EventSpy", "free_port", "wait_until"]
