"""Repositories: queries and inserts in domain terms, one module per aggregate.

Every function takes the caller's Session and, for tenant data, the tenant id,
and filters by it, so an id of another tenant's row finds nothing. They never
commit and never check permissions: the transaction and the checks belong to
the calling service.
"""
