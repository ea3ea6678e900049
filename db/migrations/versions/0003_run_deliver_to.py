"""Runs remember where the command line's --out also put the result, for a resume to use.

Revision ID: 0003_run_deliver_to
Revises: 0002_run_plan
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_run_deliver_to"
down_revision: str | None = "0002_run_plan"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Existing rows get NULL: none was recorded, so a resume of one delivers nowhere extra.
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("deliver_to", sa.String(1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("deliver_to")
