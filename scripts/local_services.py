"""Print "yes" when RabbitMQ and PostgreSQL answer on 127.0.0.1 (used by the Makefile)."""
import socket

ok = True
for port in (5672, 5432):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        ok = False
if ok:
    print("yes")
