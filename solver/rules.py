"""Plan rules of one tenant or scenario, with the product defaults.

A block is one driver's work on one day: one, two or three tours that do not
overlap, of one of these kinds:

- single: one tour;
- double, regular: a gap of 30 to 60 min between the tours, span (first start
  to last end) at most 14 h;
- double, split: a gap of 240 to 360 min, span at most 16 h;
- triple, chained: both gaps 30 to 60 min, span at most 16 h.

A roster is one driver's week, at most one block per day. It must also keep:

- at least 11 h of rest between the real end of one day's block and the start
  of the next calendar day's block;
- at most 55 h of tour time in the week;
- no triple block on the calendar day after a triple block (fatigue).

A roster under 40 h of tour time counts as part-time. All durations are whole
minutes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class RuleSettings:
    """Limits that make a block and a roster valid, all in minutes."""

    min_regular_gap_minutes: int = 30
    max_regular_gap_minutes: int = 60
    max_regular_span_minutes: int = 14 * 60
    min_split_gap_minutes: int = 240
    max_split_gap_minutes: int = 360
    max_split_span_minutes: int = 16 * 60
    min_chain_gap_minutes: int = 30
    max_chain_gap_minutes: int = 60
    max_triple_span_minutes: int = 16 * 60
    min_rest_minutes: int = 11 * 60
    max_weekly_minutes: int = 55 * 60
    forbid_triple_after_triple: bool = True
    part_time_below_minutes: int = 40 * 60

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type == "bool":
                if not isinstance(value, bool):
                    raise ValueError(
                        f"rule setting {field.name} must be true or false,"
                        f" got {value!r}"
                    )
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(
                    f"rule setting {field.name} must be a whole number of minutes"
                    f" of 0 or more, got {value!r}"
                )
        for kind in ("regular", "split", "chain"):
            low = getattr(self, f"min_{kind}_gap_minutes")
            high = getattr(self, f"max_{kind}_gap_minutes")
            if low > high:
                raise ValueError(
                    f"rule setting min_{kind}_gap_minutes ({low}) is larger than"
                    f" max_{kind}_gap_minutes ({high})"
                )

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a plain dictionary, for JSON and storage."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RuleSettings:
        """Build settings from a dictionary, rejecting unknown names."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown rule setting {', '.join(unknown)};"
                f" known settings are {', '.join(sorted(known))}"
            )
        return replace(cls(), **values)
