# Profile Update Requests: `make run` runs everything locally, `make test` runs every test.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SERVICES := settings sis_sync requests digest
PACKAGES := libs/contracts libs/kit $(addprefix services/,$(SERVICES))
STAMP := $(VENV)/.installed

# Use the RabbitMQ/PostgreSQL on this machine when they answer and nothing else was configured;
# otherwise the tests start them with testcontainers (needs Docker).
LOCAL_SERVICES := $(shell $(PY) scripts/local_services.py 2>/dev/null)
ifneq ($(LOCAL_SERVICES),)
export RABBITMQ_URL ?= amqp://guest:guest@127.0.0.1:5672/
export DATABASE_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
endif

.PHONY: install test test-unit test-integration run schemas docs bench lock clean compose-smoke test-containers i18n

$(STAMP): constraints.txt $(foreach p,$(PACKAGES),$(wildcard $(p)/pyproject.toml))
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt $(foreach p,$(PACKAGES),$(if $(wildcard $(p)/pyproject.toml),-e $(p)$(if $(findstring kit,$(p)),[testing]))) playwright aiosmtpd
	touch $@

# axe-core for tests/ui, pinned by its package-lock.json (without npm those checks skip, or fail in CI)
UI_NODE := tests/ui/node_modules/.package-lock.json
$(UI_NODE): tests/ui/package-lock.json
	if command -v npm >/dev/null; then npm ci --prefix tests/ui --no-audit --no-fund --silent; else echo "npm is missing: tests/ui skips"; fi

install: $(STAMP) $(UI_NODE)

test: install  ## every test: unit, integration (real broker and database), browser, end-to-end
	$(BIN)/python -m pytest -q

test-unit: install
	$(BIN)/python -m pytest -q libs/contracts/tests $(foreach s,$(SERVICES),$(wildcard services/$(s)/tests/unit))

test-integration: install
	$(BIN)/python -m pytest -q libs/kit/tests $(foreach s,$(SERVICES),$(wildcard services/$(s)/tests/integration)) tests/integration

run: install  ## everything locally: migrate, start the four services and an SMTP sink, seed a demo
	$(BIN)/python scripts/run_local.py

schemas: install  ## export the event JSON Schemas into libs/contracts/schemas
	$(BIN)/python -m pur_contracts export

docs: install  ## regenerate the AsyncAPI documents under docs/asyncapi
	$(BIN)/python scripts/gen_asyncapi.py

compose-smoke: install  ## build the images, `docker-compose up`, the smoke check through the published ports, `down -v`
	deploy/compose/run-smoke.sh

# The broker/database tests, the end-to-end test and the PgBouncer story against containers the tests start themselves
# (testcontainers): RABBITMQ_URL/DATABASE_URL unset whatever answers locally, REQUIRE_SERVICES=1, and
# --forbid-skips fails the run on any skip. Uses the images of deploy/local-images/build.sh when
# they exist (no Ryuk then: it is one more image to pull, and the plugin removes its containers
# itself), the official ones otherwise; PUR_TEST_RABBITMQ_IMAGE / PUR_TEST_POSTGRES_IMAGE override.
CONTAINER_TESTS := libs/kit/tests tests/integration/test_end_to_end.py tests/integration/test_pgbouncer.py
LOCAL_RABBITMQ_IMAGE := pur-local/rabbitmq:3.10-management
LOCAL_POSTGRES_IMAGE := pur-local/postgres:15
test-containers: install
	@uselocal=; \
	if [ -z "$${PUR_TEST_RABBITMQ_IMAGE:-}" ] && docker image inspect $(LOCAL_RABBITMQ_IMAGE) >/dev/null 2>&1; then \
	  export PUR_TEST_RABBITMQ_IMAGE=$(LOCAL_RABBITMQ_IMAGE); uselocal=1; fi; \
	if [ -z "$${PUR_TEST_POSTGRES_IMAGE:-}" ] && docker image inspect $(LOCAL_POSTGRES_IMAGE) >/dev/null 2>&1; then \
	  export PUR_TEST_POSTGRES_IMAGE=$(LOCAL_POSTGRES_IMAGE); uselocal=1; fi; \
	if [ -n "$$uselocal" ]; then export TESTCONTAINERS_RYUK_DISABLED=$${TESTCONTAINERS_RYUK_DISABLED:-true}; fi; \
	echo "test-containers: RabbitMQ $${PUR_TEST_RABBITMQ_IMAGE:-rabbitmq:3.13-management}, PostgreSQL $${PUR_TEST_POSTGRES_IMAGE:-postgres:16-alpine}, Ryuk disabled: $${TESTCONTAINERS_RYUK_DISABLED:-no}"; \
	env -u RABBITMQ_URL -u DATABASE_URL REQUIRE_SERVICES=1 $(BIN)/python -m pytest -q -rs --forbid-skips $(CONTAINER_TESTS)

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The requests pages' translations: re-extract messages.pot, then merge it into the Spanish .po
# (new strings come empty, changed ones fuzzy: tests/unit/test_catalogue.py fails until translated).
REQUESTS_LOCALE := src/requests_service/locale
i18n: install  ## re-extract the requests pages' strings and update the Spanish catalogue
	cd services/requests && ../../$(BIN)/pybabel -q extract -F babel.cfg --add-location=file --sort-output --no-wrap \
	  --project=pur-requests -o $(REQUESTS_LOCALE)/messages.pot . && \
	  ../../$(BIN)/pybabel -q update -i $(REQUESTS_LOCALE)/messages.pot -d $(REQUESTS_LOCALE) -l es --no-wrap --ignore-obsolete

lock:  ## refresh constraints.txt from the current virtualenv
	$(BIN)/pip freeze --exclude-editable | grep -v '^pur-' > constraints.txt

clean:
	rm -rf $(VENV)
