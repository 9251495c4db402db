"""Results of the independent plan validator: one check per plan rule."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Violation:
    """One breach of a rule, naming who, when and by how much.

    `amount_minutes` is how far the plan is off the limit, such as minutes
    short of rest or minutes over the weekly limit. It is 0 where a rule has
    no measure, such as a tour assigned twice.
    """

    message: str
    driver: str = ""
    day: int = 0
    tour_ids: tuple[str, ...] = ()
    amount_minutes: int = 0


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one rule over the whole plan."""

    rule: str
    label: str
    violations: tuple[Violation, ...] = field(default=())
    checked: int = 0

    @property
    def passed(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """Return the result as plain data for checks.json."""
        return {
            "rule": self.rule,
            "label": self.label,
            "passed": self.passed,
            "checked": self.checked,
            "violations": [asdict(violation) for violation in self.violations],
        }
