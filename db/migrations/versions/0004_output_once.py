"""A run records each of its files once: outputs are unique on (run, path).

A kill after the output row was written and before the run was marked finished used to
make the resume add a second row for the same file, after which the session could not be
pushed ("listed twice"). Duplicates already recorded are merged into the newest row (the
resumed render's file, which is what is on disk), then the constraint is added.

Revision ID: 0004_output_once
Revises: 0003_run_deliver_to
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_output_once"
down_revision: str | None = "0003_run_deliver_to"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "DELETE FROM outputs WHERE id NOT IN "
            "(SELECT MAX(id) FROM outputs GROUP BY run_id, path)"
        )
    )
    with op.batch_alter_table("outputs") as batch:
        batch.create_unique_constraint("uq_outputs_run_path", ["run_id", "path"])


def downgrade() -> None:
    with op.batch_alter_table("outputs") as batch:
        batch.drop_constraint("uq_outputs_run_path", type_="unique")
