"""Audit: the tenant's audit entries, filtered by action, and the chain check."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from app_pages._display import run_service
from app_pages._session import require_actor
from core.audit_log import list_audit_entries, verify_tenant_audit_chain

MAX_ENTRIES = 500

actor = require_actor()
st.title("Audit")

if st.button("Verify the audit chain", icon=":material/verified_user:"):
    chain = run_service(verify_tenant_audit_chain, actor)
    if chain.ok:
        st.success(
            f"The chain is intact: {chain.entry_count} entries, newest hash"
            f" {chain.last_hash}."
        )
    else:
        st.error(
            f"The chain is broken at entry {chain.broken_sequence}: {chain.message}"
            f" The {chain.entry_count} entries before it are intact."
        )

action = st.text_input(
    "Action",
    placeholder="all actions",
    help="Show only entries with exactly this action, such as plan.approve",
)
entries = run_service(
    list_audit_entries, actor, action=action.strip() or None, limit=MAX_ENTRIES
)
st.caption(f"{len(entries)} entries, newest first, at most {MAX_ENTRIES}.")
if not entries:
    st.stop()

st.dataframe(
    pd.DataFrame(
        {
            "sequence": [entry.sequence for entry in entries],
            "time (UTC)": [entry.occurred_at for entry in entries],
            "user id": [entry.actor_user_id for entry in entries],
            "action": [entry.action for entry in entries],
            "object": [f"{entry.object_type} {entry.object_id}" for entry in entries],
            "details": [json.dumps(entry.details, sort_keys=True) for entry in entries],
            "hash": [entry.entry_hash[:16] for entry in entries],
        }
    ),
    hide_index=True,
    width="stretch",
)
