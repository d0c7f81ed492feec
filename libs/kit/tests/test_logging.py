"""Log levels a person reading the logs (or an alert on error lines) relies on."""
import logging

import aiormq
import pytest
from pur_kit.logging import configure_logging


async def test_a_refused_broker_connection_is_logged_as_a_warning_not_an_error():
    """The caller retries and logs its own warning; a starting or restarting broker is no error."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("test", "INFO")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    logging.getLogger().addHandler(keep)
    try:
        with pytest.raises(aiormq.exceptions.AMQPConnectionError):
            await aiormq.connect("amqp://guest:guest@127.0.0.1:1/")
    finally:
        root.handlers[:] = handlers  # the test session's logging as it was
        root.setLevel(level)
    refused = [r for r in seen if r.name == "aiormq.connection" and "creating transport" in str(r.msg)]
    assert refused and {r.levelname for r in refused} == {"WARNING"}
