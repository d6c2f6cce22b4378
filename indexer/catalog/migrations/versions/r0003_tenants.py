"""Tenants: each video belongs to the tenant whose API key uploaded it.

Every video made before this release belongs to the tenant `default` (the tenant of keys given
without one, and of a service without keys).

Revision ID: 0003_tenants
Revises: 0002_webhooks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_tenants"
down_revision = "0002_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(
            sa.Column("tenant", sa.String(64), nullable=False, server_default="default")
        )
        batch.create_index("ix_videos_tenant", ["tenant"])


def downgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.drop_index("ix_videos_tenant")
        batch.drop_column("tenant")
