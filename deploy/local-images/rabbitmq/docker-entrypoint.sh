#!/bin/sh
# The parts of the official image's entrypoint that callers rely on: RABBITMQ_DEFAULT_USER,
# RABBITMQ_DEFAULT_PASS and RABBITMQ_DEFAULT_VHOST (testcontainers sets them) become the broker's
# default user and vhost, created at first start.
set -eu
conf=/etc/rabbitmq/conf.d/20-default-user.conf
: >"$conf"
if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then echo "default_user = $RABBITMQ_DEFAULT_USER" >>"$conf"; fi
if [ -n "${RABBITMQ_DEFAULT_PASS:-}" ]; then echo "default_pass = $RABBITMQ_DEFAULT_PASS" >>"$conf"; fi
if [ -n "${RABBITMQ_DEFAULT_VHOST:-}" ]; then echo "default_vhost = $RABBITMQ_DEFAULT_VHOST" >>"$conf"; fi
exec "$@"
