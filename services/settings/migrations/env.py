from pur_kit.migrations import run_alembic_env
from settings_service.adapters.orm import metadata

run_alembic_env(metadata)
