"""Tenant isolation in the service layer: load a row only for its own tenant.

A row of another tenant is reported exactly like a missing one (NotFound with
the same message), so a guessed id reveals nothing. The attempt itself is
recorded as a security event in the actor's tenant audit chain, in a
transaction of its own, because the caller's transaction usually rolls back
on the NotFound.

This check is the first wall, and row-level security on PostgreSQL is the
second. Under row-level security another tenant's row is invisible, so for
a missing row db.cross_tenant.is_row_of_another_tenant tells an attempt on
another tenant's row from an id that names no row.
"""

from __future__ import annotations

import re
from typing import TypeVar

from sqlalchemy.orm import Session

from core.audit import record_security_event
from core.errors import NotFound
from core.permissions import Actor
from db.cross_tenant import is_row_of_another_tenant

CROSS_TENANT_ACCESS = "security.cross_tenant_access"

ModelT = TypeVar("ModelT")


def get_owned(
    session: Session, actor: Actor, model: type[ModelT], object_id: object
) -> ModelT:
    """Return the row with this id if it belongs to the actor's tenant.

    `model` is a model with a `tenant_id` column. Raises NotFound for a
    missing id and, identically, for another tenant's row. The second case is
    also recorded as a security event.
    """
    object_type = describe_model(model)
    # Ids are integers; any other value, such as text from a URL, names no row.
    if not isinstance(object_id, int) or isinstance(object_id, bool):
        raise NotFound(object_type, object_id)
    row = session.get(model, object_id)
    if row is not None and row.tenant_id == actor.tenant_id:
        return row

    if row is not None or is_row_of_another_tenant(
        session, model.__tablename__, object_id
    ):
        record_security_event(
            session.get_bind(),
            actor,
            CROSS_TENANT_ACCESS,
            {"role": actor.role.value, "outcome": "rejected as not found"},
            object_type=object_type,
            object_id=object_id,
        )
    raise NotFound(object_type, object_id)


def describe_model(model: type) -> str:
    """Name a model in words for messages, e.g. PlanVersion as 'plan version'."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", model.__name__).lower()
