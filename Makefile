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

.PHONY: install test test-unit test-integration run schemas docs bench lock clean

$(STAMP): constraints.txt $(foreach p,$(PACKAGES),$(wildcard $(p)/pyproject.toml))
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt $(foreach p,$(PACKAGES),$(if $(wildcard $(p)/pyproject.toml),-e $(p)$(if $(findstring kit,$(p)),[testing]))) playwright aiosmtpd
	touch $@

install: $(STAMP)

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

bench: install
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lock:  ## refresh constraints.txt from the current virtualenv
	$(BIN)/pip freeze --exclude-editable | grep -v '^pur-' > constraints.txt

clean:
	rm -rf $(VENV)
