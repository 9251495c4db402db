"""Compare two versions of a weekly forecast: added, removed, changed templates.

Templates are matched in two passes:

1. By the full key (weekday, start, end, depot, qualification). A key in both
   versions with another count is a count change; with the same count it is
   unchanged.
2. Among the templates left over, a removed and an added template with the
   same weekday, start and end pair up when each is the only leftover of its
   version at that time. The pair is one change of depot and/or
   qualification, and of count when that differs too. When several leftovers
   share a time on one side, no pairing is clearly right, so they stay added
   and removed.

Everything else is added (only in `after`) or removed (only in `before`).
"""

from __future__ import annotations

from dataclasses import dataclass

from solver.tours import Forecast, TourTemplate

_CHANGE_FIELDS = ("count", "depot", "qualification")


@dataclass(frozen=True)
class TemplateChange:
    """One template in both versions, with the names of the fields that differ."""

    before: TourTemplate
    after: TourTemplate
    fields: tuple[str, ...]


@dataclass(frozen=True)
class ForecastDiff:
    """Differences between two forecast versions, each part in template order."""

    added: tuple[TourTemplate, ...]
    removed: tuple[TourTemplate, ...]
    changed: tuple[TemplateChange, ...]

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    @property
    def summary(self) -> str:
        """Counts for a dispatcher, e.g. '2 added, 1 removed, 3 changed'."""
        return (
            f"{len(self.added)} added, {len(self.removed)} removed,"
            f" {len(self.changed)} changed"
        )


def diff_forecasts(before: Forecast, after: Forecast) -> ForecastDiff:
    """Compare two forecast versions template by template (see module docstring)."""
    before_by_key = {template.key: template for template in before.templates}
    after_by_key = {template.key: template for template in after.templates}

    # Pass 1: the same key in both versions.
    changed = [
        _change(before_by_key[key], after_by_key[key])
        for key in sorted(before_by_key.keys() & after_by_key.keys())
        if before_by_key[key].count != after_by_key[key].count
    ]
    removed = [
        template for key, template in before_by_key.items() if key not in after_by_key
    ]
    added = [
        template for key, template in after_by_key.items() if key not in before_by_key
    ]

    # Pass 2: the only removed and the only added template at one time.
    removed_by_time = _group_by_time(removed)
    added_by_time = _group_by_time(added)
    for time_key, removed_group in removed_by_time.items():
        added_group = added_by_time.get(time_key, [])
        if len(removed_group) == 1 and len(added_group) == 1:
            changed.append(_change(removed_group[0], added_group[0]))
            removed.remove(removed_group[0])
            added.remove(added_group[0])

    return ForecastDiff(
        added=tuple(sorted(added)),
        removed=tuple(sorted(removed)),
        changed=tuple(sorted(changed, key=lambda change: change.before)),
    )


def _group_by_time(
    templates: list[TourTemplate],
) -> dict[tuple[int, int, int], list[TourTemplate]]:
    groups: dict[tuple[int, int, int], list[TourTemplate]] = {}
    for template in templates:
        time_key = (template.day, template.start_minute, template.end_minute)
        groups.setdefault(time_key, []).append(template)
    return groups


def _change(before: TourTemplate, after: TourTemplate) -> TemplateChange:
    fields = tuple(
        name for name in _CHANGE_FIELDS if getattr(before, name) != getattr(after, name)
    )
    return TemplateChange(before=before, after=after, fields=fields)
