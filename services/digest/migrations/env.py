from digest_service.adapters.orm import metadata
from pur_kit.migrations import run_alembic_env

run_alembic_env(metadata)
