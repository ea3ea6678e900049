"""Runs keep their plan and the extra facts of their result (e.g. a blend's tree).

Revision ID: 0002_run_plan
Revises: 0001_initial
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002_run_plan"
down_revision: str | None = "0001_initial"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Existing rows get an empty object: they were recorded before plans were kept.
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column("plan", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch.add_column(
            sa.Column("extra", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("extra")
        batch.drop_column("plan")
