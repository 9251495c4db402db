"""Add TOTP enrolment and recovery codes.

- users.totp_pending_secret: the Base32 secret shown during enrolment, NULL
  when no enrolment is under way. It becomes users.totp_secret only when the
  user confirms it with a valid code;
- recovery_codes: one row per one-time recovery code of a user, holding only
  a SHA-256 hex digest of the code, when it was created and when it was used.
  A code is unique per user, and its row refers to a user of the same tenant.

The column is added in place on SQLite and PostgreSQL.

Revision ID: 0004
Revises: 0003
Create Date: 2025-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("totp_pending_secret", sa.String(64), nullable=True)
    )

    op.create_table(
        "recovery_codes",
        sa.Column("id", ID, nullable=False),
        sa.Column(
            "tenant_id",
            ID,
            sa.ForeignKey("tenants.id", name="fk_recovery_codes_tenant_id"),
            nullable=False,
        ),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("code_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("used_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_recovery_codes"),
        sa.UniqueConstraint(
            "tenant_id",
            "user_id",
            "code_sha256",
            name="uq_recovery_codes_tenant_id_user_id_code_sha256",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name="fk_recovery_codes_tenant_id_user_id",
        ),
    )
    op.create_index("ix_recovery_codes_tenant_id", "recovery_codes", ["tenant_id"])
    op.create_index("ix_recovery_codes_user_id", "recovery_codes", ["user_id"])


def downgrade() -> None:
    op.drop_table("recovery_codes")
    op.drop_column("users", "totp_pending_secret")
