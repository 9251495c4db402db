"""Add server-side sign-in sessions and the users' TOTP columns.

- users.totp_secret: the Base32 secret of the user's authenticator app, NULL
  until the user enrols one;
- users.totp_last_step: the newest TOTP time step accepted, which rejects a
  second use of the same code;
- user_sessions: one row per sign-in, holding the SHA-256 hash of the session
  token (never the token), the user, when it was opened, last used and
  revoked, and whether the sign-in passed the TOTP step.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("users", sa.Column("totp_secret", sa.String(64), nullable=True))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))

    op.create_table(
        "user_sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column(
            "tenant_id",
            ID,
            sa.ForeignKey("tenants.id", name="fk_user_sessions_tenant_id"),
            nullable=False,
        ),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("mfa_verified", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_user_sessions"),
        sa.UniqueConstraint("token_sha256", name="uq_user_sessions_token_sha256"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name="fk_user_sessions_tenant_id_user_id",
        ),
    )
    op.create_index("ix_user_sessions_tenant_id", "user_sessions", ["tenant_id"])
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_table("user_sessions")
    # SQLite 3.35 and later drop a column in place, so no table copy is needed.
    op.drop_column("users", "totp_last_step")
    op.drop_column("users", "totp_secret")
