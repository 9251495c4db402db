"""Check a plan of named drivers against each driver's own limits.

These checks come on top of solver.validate, which checks the plan rules.
Like it, they read only the plan's tours and the driver profiles and share
no code with the optimiser (solver.assign), so a fault there cannot hide
itself here. One result per rule:

- driver: every roster names a driver of the pool, and each driver at most
  once;
- qualification: every tour's qualification is one the driver holds, and
  with drivers kept at their home depot, every tour with a depot is at it;
- availability: no tour overlaps a time the driver is unavailable;
- personal_weekly_hours: the driver's tour time stays within their own limit;
- cross_week_rest: the first tour of the week starts at least the rest time
  after the driver's last block of the previous week.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from solver.checks import CheckResult, Violation
from solver.drivers import DriverProfile
from solver.plan import Plan
from solver.rules import RuleSettings

DRIVER_RULES = (
    "driver",
    "qualification",
    "availability",
    "personal_weekly_hours",
    "cross_week_rest",
)
LABELS = {
    "driver": "Every roster names one driver of the pool",
    "qualification": "Tours only for drivers qualified for them",
    "availability": "No tour while the driver is unavailable",
    "personal_weekly_hours": "Weekly time within the driver's own limit",
    "cross_week_rest": "Rest after the previous week's last block",
}


def validate_driver_rules(
    plan: Plan,
    drivers: Sequence[DriverProfile],
    rules: RuleSettings,
    stay_at_home_depot: bool = False,
) -> list[CheckResult]:
    """Return one result per driver rule, in the order of DRIVER_RULES."""
    by_id = {driver.driver_id: driver for driver in drivers}
    found: dict[str, list[Violation]] = {rule: [] for rule in DRIVER_RULES}
    checked = Counter()
    names = Counter(roster.driver for roster in plan.rosters)
    for roster in plan.rosters:
        checked["driver"] += 1
        driver = by_id.get(roster.driver)
        if driver is None:
            found["driver"].append(
                Violation(
                    f"roster of {roster.driver} names no driver of the pool",
                    driver=roster.driver,
                )
            )
            continue
        if names[roster.driver] > 1:
            found["driver"].append(
                Violation(
                    f"driver {roster.driver} has {names[roster.driver]} rosters",
                    driver=roster.driver,
                )
            )
        tours = sorted(roster.tours, key=lambda tour: tour.week_start)
        for tour in tours:
            checked["qualification"] += 1
            checked["availability"] += 1
            if tour.qualification and tour.qualification not in driver.qualifications:
                found["qualification"].append(
                    Violation(
                        f"driver {driver.driver_id} lacks {tour.qualification}"
                        f" for tour {tour.tour_id}",
                        driver=driver.driver_id,
                        day=tour.day,
                        tour_ids=(tour.tour_id,),
                    )
                )
            if stay_at_home_depot and tour.depot and tour.depot != driver.home_depot:
                found["qualification"].append(
                    Violation(
                        f"driver {driver.driver_id} of depot"
                        f" {driver.home_depot or 'none'} has tour {tour.tour_id}"
                        f" at depot {tour.depot}",
                        driver=driver.driver_id,
                        day=tour.day,
                        tour_ids=(tour.tour_id,),
                    )
                )
            for start, end in driver.unavailable:
                overlap = min(end, tour.week_end) - max(start, tour.week_start)
                if overlap > 0:
                    found["availability"].append(
                        Violation(
                            f"driver {driver.driver_id} is unavailable for"
                            f" {overlap} min of tour {tour.tour_id}",
                            driver=driver.driver_id,
                            day=tour.day,
                            tour_ids=(tour.tour_id,),
                            amount_minutes=overlap,
                        )
                    )
        checked["personal_weekly_hours"] += 1
        limit = driver.max_weekly_minutes
        total = sum(tour.duration_minutes for tour in tours)
        if limit is not None and total > limit:
            found["personal_weekly_hours"].append(
                Violation(
                    f"driver {driver.driver_id} works {total} min,"
                    f" {total - limit} min over their limit of {limit} min",
                    driver=driver.driver_id,
                    amount_minutes=total - limit,
                )
            )
        if driver.previous_week_end is not None and tours:
            checked["cross_week_rest"] += 1
            rest = tours[0].week_start - driver.previous_week_end
            if rest < rules.min_rest_minutes:
                found["cross_week_rest"].append(
                    Violation(
                        f"driver {driver.driver_id} rests {rest} min between last"
                        f" week's last block and tour {tours[0].tour_id};"
                        f" {rules.min_rest_minutes} min required",
                        driver=driver.driver_id,
                        day=tours[0].day,
                        tour_ids=(tours[0].tour_id,),
                        amount_minutes=rules.min_rest_minutes - rest,
                    )
                )
    return [
        CheckResult(
            rule=rule,
            label=LABELS[rule],
            violations=tuple(found[rule]),
            checked=checked[rule],
        )
        for rule in DRIVER_RULES
    ]
