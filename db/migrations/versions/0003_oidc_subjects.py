"""Link users to an OpenID Connect identity for single sign-on.

- users.oidc_issuer: the issuer URL (`iss`) of the provider that signs the
  user's ID tokens, NULL for a password-only user;
- users.oidc_subject: the provider's subject (`sub`) of the user, at most 255
  characters by OpenID Connect Core 1.0, NULL for a password-only user;
- a unique index on (tenant_id, oidc_issuer, oidc_subject), so one provider
  identity names at most one user of a tenant. Both databases treat NULLs as
  distinct in a unique index, so password-only users never collide.

The columns are added in place on SQLite and PostgreSQL. A unique index is
used in place of a unique constraint because SQLite cannot add a constraint
to an existing table without copying it.

Revision ID: 0003
Revises: 0002
Create Date: 2025-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SUBJECT_INDEX = "ix_users_tenant_id_oidc_issuer_oidc_subject"


def upgrade() -> None:
    op.add_column("users", sa.Column("oidc_issuer", sa.String(255), nullable=True))
    op.add_column("users", sa.Column("oidc_subject", sa.String(255), nullable=True))
    op.create_index(
        SUBJECT_INDEX,
        "users",
        ["tenant_id", "oidc_issuer", "oidc_subject"],
        unique=True,
    )


def downgrade() -> None:
    # The index goes first: SQLite refuses to drop a column that an index uses.
    op.drop_index(SUBJECT_INDEX, table_name="users")
    op.drop_column("users", "oidc_subject")
    op.drop_column("users", "oidc_issuer")
