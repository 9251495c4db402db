"""Scenarios: checked variations, runs on the worker's queue, the cache and sweeps.

Tests that run the worker use a database of their own (private_workbench),
because the worker claims queued jobs of every tenant.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import plans, scenarios, worker
from core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from core.named_planning import DriverPool
from core.permissions import Role
from core.scenario_inputs import ScenarioInputs, input_hash, inputs_json, read_inputs
from core.scenarios import checked_variation
from db.models import Driver, ScenarioRun, SolveJob, utc_now
from db.repositories import audit_log, forecasts, jobs
from solver.drivers import DriverPreferences, DriverProfile
from solver.rules import RuleSettings
from solver.tours import Forecast, TourTemplate
from tests.integration.services.driver_helpers import (  # noqa: F401
    ANNA,
    BEN,
    add_driver,
    driver_keys,
)
from tests.integration.services.helpers import generated_forecast, import_week

TIME_LIMIT_SECONDS = 20.0
RESULT_KEYS = {
    "kpis",
    "lower_bound",
    "gap",
    "solve_status",
    "seconds",
    "rosters",
    "uncovered",
    "coverage",
    "explanations",
}
FULL_VARIATION = {
    "rules": {"max_weekly_minutes": 2880, "forbid_triple_after_triple": False},
    "demand": {
        "scale": [
            {"weekdays": [2, 1, 1], "start_band": ["05:00", "09:00"], "percent": 150}
        ],
        "add_templates": [
            {"day": 5, "start": "06:00", "end": "10:30", "count": 3},
        ],
        "remove_templates": [{"day": 3, "start": "22:00", "end": "01:30"}],
    },
    "pool": {
        "remove_drivers": [7, 3, 7],
        "add_generic": [
            {"count": 2, "qualifications": ["ADR"], "max_weekly_hours": 48}
        ],
        "grant": [{"driver_ids": [3], "qualification": "ADR"}],
    },
}


def audit_actions(database, tenant_id: int) -> list[str]:
    with database.session_factory() as session:
        return [entry.action for entry in audit_log.list_entries(session, tenant_id)]


def job_count(database, tenant_id: int) -> int:
    with database.session_factory() as session:
        return session.scalar(
            select(func.count())
            .select_from(SolveJob)
            .where(SolveJob.tenant_id == tenant_id)
        )


# --- Checking variations ----------------------------------------------------------


class TestCheckedVariation:
    def test_every_part_is_checked_and_made_canonical(self):
        checked = checked_variation(FULL_VARIATION)

        assert checked["rules"] == {
            "forbid_triple_after_triple": False,
            "max_weekly_minutes": 2880,
        }
        assert checked["demand"]["scale"] == [
            {"weekdays": [1, 2], "start_band": ["05:00", "09:00"], "percent": 150}
        ]
        assert checked["demand"]["add_templates"] == [
            {
                "day": 5,
                "start": "06:00",
                "end": "10:30",
                "depot": "",
                "qualification": "",
                "count": 3,
            }
        ]
        assert checked["demand"]["remove_templates"][0]["end"] == "01:30"
        assert checked["pool"] == {
            "remove_drivers": [3, 7],
            "add_generic": [
                {"count": 2, "qualifications": ["ADR"], "max_weekly_hours": 48}
            ],
            "grant": [{"driver_ids": [3], "qualification": "ADR"}],
        }

    def test_empty_parts_are_left_out(self):
        assert checked_variation({"rules": {}, "demand": {"scale": []}}) == {}

    @pytest.mark.parametrize(
        ("variation", "path"),
        [
            ([], "variation"),
            ({"weather": {}}, "weather"),
            ({"rules": {"max_weekly_hours": 48}}, "rules.max_weekly_hours"),
            ({"rules": {"max_weekly_minutes": -1}}, "rules.max_weekly_minutes"),
            (
                {"rules": {"forbid_triple_after_triple": 1}},
                "rules.forbid_triple_after_triple",
            ),
            ({"rules": {"min_regular_gap_minutes": 90}}, "rules"),
            ({"demand": {"scale": [{"percent": -5}]}}, "demand.scale[0].percent"),
            ({"demand": {"scale": [{"weekdays": [1]}]}}, "demand.scale[0].percent"),
            (
                {
                    "demand": {
                        "scale": [{"percent": 100}, {"weekdays": [8], "percent": 1}]
                    }
                },
                "demand.scale[1].weekdays[0]",
            ),
            (
                {
                    "demand": {
                        "scale": [{"start_band": ["09:00", "05:00"], "percent": 9}]
                    }
                },
                "demand.scale[0].start_band",
            ),
            (
                {
                    "demand": {
                        "scale": [{"start_band": ["9 Uhr", "10:00"], "percent": 9}]
                    }
                },
                "demand.scale[0].start_band[0]",
            ),
            (
                {
                    "demand": {
                        "add_templates": [{"day": 1, "start": "06:00", "end": "07:00"}]
                    }
                },
                "demand.add_templates[0].count",
            ),
            (
                {
                    "demand": {
                        "add_templates": [
                            {"day": 1, "start": "06:00", "end": "06:00", "count": 1}
                        ]
                    }
                },
                "demand.add_templates[0].end",
            ),
            (
                {
                    "demand": {
                        "remove_templates": [
                            {"day": 9, "start": "06:00", "end": "7:00"}
                        ]
                    }
                },
                "demand.remove_templates[0].day",
            ),
            ({"pool": {"remove_drivers": ["D001"]}}, "pool.remove_drivers[0]"),
            ({"pool": {"add_generic": [{"count": 0}]}}, "pool.add_generic[0].count"),
            (
                {"pool": {"add_generic": [{"count": 1, "max_weekly_hours": 200}]}},
                "pool.add_generic[0].max_weekly_hours",
            ),
            (
                {"pool": {"grant": [{"driver_ids": [1], "qualification": " "}]}},
                "pool.grant[0].qualification",
            ),
            (
                {"pool": {"grant": [{"qualification": "ADR"}]}},
                "pool.grant[0].driver_ids",
            ),
        ],
    )
    def test_error_names_the_path(self, variation, path):
        with pytest.raises(InvalidInput) as error:
            checked_variation(variation)

        assert error.value.field == path


# --- Creating, listing and isolation ------------------------------------------------


@pytest.fixture
def tenant(make_tenant):
    return make_tenant()


@pytest.fixture
def dispatcher(tenant):
    return tenant.actor(Role.DISPATCHER)


@pytest.fixture
def base_version(workbench, dispatcher):
    return import_week(dispatcher).forecast_version_id


class TestCreateScenario:
    def test_stores_the_checked_variation_and_audits(
        self, workbench, tenant, dispatcher, base_version
    ):
        view = scenarios.create_scenario(
            dispatcher,
            " Friday peak ",
            base_version,
            {"demand": {"scale": [{"weekdays": [5], "percent": 120}]}},
        )

        listed = scenarios.list_scenarios(tenant.actor(Role.VIEWER))
        assert view.name == "Friday peak"
        assert view.week_anchor.isoweekday() == 1
        assert view.variation == {
            "demand": {"scale": [{"weekdays": [5], "start_band": None, "percent": 120}]}
        }
        assert view.runs == ()
        assert [item.scenario_id for item in listed] == [view.scenario_id]
        assert audit_actions(workbench, dispatcher.tenant_id)[-1] == "scenario.created"

    def test_name_is_unique_per_tenant(self, dispatcher, base_version):
        scenarios.create_scenario(dispatcher, "peak", base_version, {})

        with pytest.raises(Conflict):
            scenarios.create_scenario(dispatcher, "peak", base_version, {})

    def test_removed_template_must_be_in_the_base(self, dispatcher, base_version):
        variation = {
            "demand": {
                "remove_templates": [{"day": 4, "start": "06:00", "end": "07:00"}]
            }
        }

        with pytest.raises(InvalidInput) as error:
            scenarios.create_scenario(dispatcher, "gone", base_version, variation)

        assert error.value.field == "demand.remove_templates[0]"
        assert scenarios.list_scenarios(dispatcher) == []

    def test_week_without_tours_is_refused(self, dispatcher, base_version):
        with pytest.raises(InvalidInput) as error:
            scenarios.create_scenario(
                dispatcher,
                "empty",
                base_version,
                {"demand": {"scale": [{"percent": 0}]}},
            )

        assert error.value.field == "demand"

    def test_pool_names_active_drivers_only(
        self,
        dispatcher,
        tenant,
        base_version,
        driver_keys,  # noqa: F811
    ):
        add_driver(tenant, ANNA)
        variation = {"pool": {"remove_drivers": [999999]}}

        with pytest.raises(InvalidInput) as error:
            scenarios.create_scenario(dispatcher, "pool", base_version, variation)

        assert error.value.field == "pool.remove_drivers[0]"

    def test_viewer_may_not_create(self, tenant, base_version):
        with pytest.raises(PermissionDenied):
            scenarios.create_scenario(tenant.actor(Role.VIEWER), "x", base_version, {})

    def test_another_tenants_objects_are_not_found(
        self, workbench, make_tenant, dispatcher, base_version
    ):
        scenario = scenarios.create_scenario(dispatcher, "mine", base_version, {})
        run = scenarios.run_scenario(dispatcher, scenario.scenario_id)
        intruder = make_tenant().actor(Role.DISPATCHER)

        with pytest.raises(NotFound):
            scenarios.run_scenario(intruder, scenario.scenario_id)
        with pytest.raises(NotFound):
            scenarios.get_scenario_run(intruder, run.run_id)
        with pytest.raises(NotFound):
            scenarios.create_scenario(intruder, "theirs", base_version, {})
        assert scenarios.list_scenarios(intruder) == []
        assert (
            audit_actions(workbench, intruder.tenant_id).count(
                "security.cross_tenant_access"
            )
            == 3
        )


class TestRunScenario:
    def test_run_is_queued_once_and_audited(self, workbench, dispatcher, base_version):
        scenario = scenarios.create_scenario(dispatcher, "queued", base_version, {})

        first = scenarios.run_scenario(dispatcher, scenario.scenario_id)
        again = scenarios.run_scenario(dispatcher, scenario.scenario_id)

        assert first.status == "queued"
        assert again.run_id == first.run_id
        assert first.result is None
        assert first.cached is False
        assert job_count(workbench, dispatcher.tenant_id) == 1
        assert plans.list_solve_jobs(dispatcher) == []
        assert audit_actions(workbench, dispatcher.tenant_id)[-2:] == [
            "scenario.run_requested",
            "scenario.run_requested",
        ]

    def test_plan_solve_ignores_scenario_jobs(
        self, workbench, dispatcher, base_version
    ):
        scenario = scenarios.create_scenario(dispatcher, "queued", base_version, {})
        run = scenarios.run_scenario(dispatcher, scenario.scenario_id)

        job = plans.request_solve(dispatcher, base_version)

        with workbench.session_factory() as session:
            scenario_job = session.scalars(
                select(SolveJob).where(SolveJob.scenario_run_id == run.run_id)
            ).one()
            plan_job = session.get(SolveJob, job.job_id)
            assert plan_job.scenario_run_id is None
        assert job.job_id != scenario_job.id
        assert [listed.job_id for listed in plans.list_solve_jobs(dispatcher)] == [
            job.job_id
        ]

    def test_audit_entries_carry_no_driver_ids(
        self,
        workbench,
        tenant,
        dispatcher,
        base_version,
        driver_keys,  # noqa: F811
    ):
        anna = add_driver(tenant, ANNA)
        variation = {"pool": {"remove_drivers": [anna]}}
        variation["pool"]["add_generic"] = [{"count": 2}]
        scenario = scenarios.create_scenario(
            dispatcher, "pool", base_version, variation
        )
        scenarios.run_scenario(dispatcher, scenario.scenario_id)

        with workbench.session_factory() as session:
            created = audit_log.list_entries(
                session, dispatcher.tenant_id, "scenario.created"
            )
            requested = audit_log.list_entries(
                session, dispatcher.tenant_id, "scenario.run_requested"
            )
            details = [entry.details for entry in (*created, *requested)]
        assert details[0]["pool_changes"] == {"add_generic": 1, "remove_drivers": 1}
        assert details[1]["named_drivers"] is True
        assert set(details[0]) == {
            "base_forecast_version_id",
            "changed_rules",
            "demand_changes",
            "pool_changes",
        }
        assert set(details[1]) == {
            "scenario_id",
            "input_hash",
            "cached_from_run_id",
            "queued_before",
            "named_drivers",
            "explain",
            "time_limit_seconds",
        }

    def test_sweep_name_of_another_base(self, dispatcher, base_version):
        other_version = import_week(
            dispatcher, generated_forecast()
        ).forecast_version_id

        first = scenarios.sweep_setting(
            dispatcher, base_version, "max_weekly_minutes", [2880]
        )
        second = scenarios.sweep_setting(
            dispatcher, other_version, "max_weekly_minutes", [2880.0]
        )

        assert first[0].scenario_name == "sweep max_weekly_minutes=2880"
        assert second[0].scenario_name == (
            f"sweep max_weekly_minutes=2880 (forecast version {other_version})"
        )
        assert second[0].scenario_id != first[0].scenario_id

    def test_time_limit_is_checked(self, dispatcher, base_version):
        scenario = scenarios.create_scenario(dispatcher, "limit", base_version, {})

        with pytest.raises(InvalidInput) as error:
            scenarios.run_scenario(dispatcher, scenario.scenario_id, 0)

        assert error.value.field == "time_limit_seconds"


# --- Through the worker ---------------------------------------------------------


@pytest.fixture
def private_tenant(make_private_tenant):
    return make_private_tenant()


@pytest.fixture
def private_dispatcher(private_tenant):
    return private_tenant.actor(Role.DISPATCHER)


@pytest.fixture
def generated_version(private_dispatcher):
    return import_week(private_dispatcher, generated_forecast()).forecast_version_id


def run_worker_until_empty() -> int:
    ran = 0
    while worker.run_one_job("worker-scenarios"):
        ran += 1
    return ran


class TestWorker:
    def test_result_is_stored_and_base_unchanged(
        self, private_workbench, private_dispatcher, generated_version
    ):
        actor = private_dispatcher
        plans.request_solve(
            actor, generated_version, time_limit_seconds=TIME_LIMIT_SECONDS
        )
        run_worker_until_empty()
        versions_before = plans.list_plan_versions(actor)
        with private_workbench.session_factory() as session:
            forecast_before = forecasts.load_forecast(
                session, actor.tenant_id, generated_version
            )
        scenario = scenarios.create_scenario(
            actor,
            "48 h week",
            generated_version,
            {
                "rules": {"max_weekly_minutes": 2880},
                "demand": {"scale": [{"weekdays": [1, 2], "percent": 150}]},
            },
        )

        queued = scenarios.run_scenario(actor, scenario.scenario_id, TIME_LIMIT_SECONDS)
        ran = run_worker_until_empty()
        run = scenarios.get_scenario_run(actor, queued.run_id)

        with private_workbench.session_factory() as session:
            forecast_after = forecasts.load_forecast(
                session, actor.tenant_id, generated_version
            )
        assert ran == 1
        assert run.status == "succeeded"
        assert run.error is None
        assert run.finished_at is not None
        assert run.progress["phase"] == "finished"
        assert set(run.result) == RESULT_KEYS
        result = run.result
        assert {"drivers", "open_tours", "status_text", "tours_covered"} <= set(
            result["kpis"]
        )
        assert result["kpis"]["drivers"] == len(
            {row["driver"] for row in result["rosters"]}
        )
        assert len(result["coverage"]) == 7 * 48
        assert len(result["explanations"]["shadow_prices"]) == 7
        assert all(len(row) == 24 for row in result["explanations"]["shadow_prices"])
        assert {cost["rule"] for cost in result["explanations"]["rule_costs"]} >= {
            "weekly_hours",
            "rest",
        }
        weekly: dict[str, int] = {}
        for row in result["rosters"]:
            weekly[row["driver"]] = weekly.get(row["driver"], 0) + row["minutes"]
        assert max(weekly.values()) <= 2880
        scaled_tours = sum(row["tours"] for row in result["coverage"])
        assert scaled_tours > 0
        assert forecast_after == forecast_before
        assert plans.list_plan_versions(actor) == versions_before
        assert "scenario.run_succeeded" in audit_actions(
            private_workbench, actor.tenant_id
        )

    def test_stored_inputs_alone_reproduce_the_run(
        self, private_workbench, private_dispatcher, generated_version
    ):
        actor = private_dispatcher
        scenario = scenarios.create_scenario(
            actor, "again", generated_version, {"rules": {"max_weekly_minutes": 2880}}
        )
        queued = scenarios.run_scenario(actor, scenario.scenario_id, TIME_LIMIT_SECONDS)
        with private_workbench.session_factory() as session:
            stored = session.get(ScenarioRun, queued.run_id).inputs

        inputs = read_inputs(stored)

        assert inputs.forecast == Forecast.from_templates(
            generated_forecast().templates
        )
        assert inputs.rules.max_weekly_minutes == 2880
        assert inputs.pool is None
        assert inputs.time_limit_seconds == TIME_LIMIT_SECONDS

    def test_identical_inputs_reuse_the_result(
        self, private_workbench, private_dispatcher, generated_version
    ):
        actor = private_dispatcher
        variation = {"rules": {"max_weekly_minutes": 2880}}
        first = scenarios.create_scenario(actor, "first", generated_version, variation)
        second = scenarios.create_scenario(
            actor, "second", generated_version, variation
        )
        planned = scenarios.run_scenario(actor, first.scenario_id, TIME_LIMIT_SECONDS)
        run_worker_until_empty()
        jobs_before = job_count(private_workbench, actor.tenant_id)

        cached = scenarios.run_scenario(actor, second.scenario_id, TIME_LIMIT_SECONDS)
        other_limit = scenarios.run_scenario(actor, second.scenario_id, 30.0)

        planned = scenarios.get_scenario_run(actor, planned.run_id)
        assert cached.status == "succeeded"
        assert cached.cached is True
        assert cached.result["cached_from_run_id"] == planned.run_id
        assert cached.result["kpis"] == planned.result["kpis"]
        assert cached.progress is None
        assert other_limit.cached is False
        assert other_limit.status == "queued"
        assert job_count(private_workbench, actor.tenant_id) == jobs_before + 1

    def test_sweep_of_three_points(
        self, private_workbench, private_dispatcher, generated_version
    ):
        actor = private_dispatcher
        values = [2400, 2880, 3300]

        queued = scenarios.sweep_setting(
            actor, generated_version, "max_weekly_minutes", values, TIME_LIMIT_SECONDS
        )
        ran = run_worker_until_empty()
        again = scenarios.sweep_setting(
            actor, generated_version, "max_weekly_minutes", values, TIME_LIMIT_SECONDS
        )

        names = [run.scenario_name for run in again]
        assert ran == 3
        assert [run.status for run in queued] == ["queued"] * 3
        assert names == [f"sweep max_weekly_minutes={value}" for value in values]
        assert [run.scenario_id for run in again] == [run.scenario_id for run in queued]
        assert all(run.cached for run in again)
        assert len(scenarios.list_scenarios(actor)) == 3
        drivers = [run.result["kpis"]["drivers"] for run in again]
        assert drivers[0] >= drivers[1] >= drivers[2]

    def test_sweep_checks_setting_and_values(
        self, private_dispatcher, generated_version
    ):
        with pytest.raises(InvalidInput) as unknown:
            scenarios.sweep_setting(
                private_dispatcher, generated_version, "weather", [1]
            )
        with pytest.raises(InvalidInput) as fraction:
            scenarios.sweep_setting(
                private_dispatcher, generated_version, "max_weekly_minutes", [1, 2.5]
            )

        assert unknown.value.field == "setting"
        assert fraction.value.field == "values[1]"

    def test_failing_run_marks_run_and_job_failed(
        self, private_workbench, private_dispatcher, generated_version, monkeypatch
    ):
        def broken(inputs, on_progress=None):
            raise RuntimeError("the engine stopped")

        monkeypatch.setattr(worker, "solve_inputs", broken)
        actor = private_dispatcher
        scenario = scenarios.create_scenario(actor, "broken", generated_version, {})
        queued = scenarios.run_scenario(actor, scenario.scenario_id, TIME_LIMIT_SECONDS)

        run_worker_until_empty()
        run = scenarios.get_scenario_run(actor, queued.run_id)

        with private_workbench.session_factory() as session:
            job = session.scalars(
                select(SolveJob).where(SolveJob.scenario_run_id == queued.run_id)
            ).one()
            job_status, job_error = job.status.value, job.error
        assert run.status == "failed"
        assert run.result is None
        assert "the engine stopped" in run.error
        assert job_status == "failed"
        assert job_error == run.error
        assert "scenario.run_failed" in audit_actions(
            private_workbench, actor.tenant_id
        )

    def test_pool_variation_plans_named_and_generic_drivers(
        self,
        private_workbench,
        private_tenant,
        private_dispatcher,
        driver_keys,  # noqa: F811
    ):
        anna = add_driver(private_tenant, ANNA, qualifications=())
        ben = add_driver(private_tenant, BEN)
        small = Forecast.from_templates(
            [
                TourTemplate(
                    day=2,
                    start_minute=360,
                    end_minute=630,
                    count=2,
                    qualification="ADR",
                )
            ]
        )
        version = import_week(private_dispatcher, small).forecast_version_id
        with private_workbench.session_factory() as session:
            drivers_before = session.scalars(select(Driver).order_by(Driver.id)).all()
            drivers_before = [
                (row.id, tuple(row.qualifications)) for row in drivers_before
            ]
        variation = {
            "pool": {
                "remove_drivers": [ben],
                "grant": [{"driver_ids": [anna], "qualification": "ADR"}],
                "add_generic": [{"count": 1, "qualifications": ["ADR"]}],
            }
        }
        scenario = scenarios.create_scenario(
            private_dispatcher, "pool", version, variation
        )

        queued = scenarios.run_scenario(
            private_dispatcher, scenario.scenario_id, TIME_LIMIT_SECONDS
        )
        run_worker_until_empty()
        run = scenarios.get_scenario_run(private_dispatcher, queued.run_id)

        with private_workbench.session_factory() as session:
            drivers_after = session.scalars(select(Driver).order_by(Driver.id)).all()
            drivers_after = [
                (row.id, tuple(row.qualifications)) for row in drivers_after
            ]
        rostered = {row["driver"] for row in run.result["rosters"]}
        assert run.status == "succeeded"
        assert rostered == {str(anna), "generic-1"}
        assert run.result["kpis"]["named_drivers"] is True
        assert run.result["kpis"]["open_tours"] == 0
        assert drivers_after == drivers_before

    def test_run_without_explanations(
        self, private_workbench, private_dispatcher, generated_version
    ):
        actor = private_dispatcher
        scenario = scenarios.create_scenario(actor, "plain", generated_version, {})
        explained = scenarios.run_scenario(actor, scenario.scenario_id, 20.0)
        plain = scenarios.run_scenario(actor, scenario.scenario_id, 20.0, explain=False)

        run_worker_until_empty()
        plain = scenarios.get_scenario_run(actor, plain.run_id)

        assert plain.run_id != explained.run_id
        assert plain.status == "succeeded"
        assert plain.result["explanations"] is None
        assert set(plain.result) == RESULT_KEYS

    def test_stop_queues_the_run_again(
        self, private_workbench, private_dispatcher, generated_version
    ):
        actor = private_dispatcher
        scenario = scenarios.create_scenario(actor, "stopped", generated_version, {})
        queued = scenarios.run_scenario(actor, scenario.scenario_id, TIME_LIMIT_SECONDS)
        stop = threading.Event()
        stop.set()

        worker.run_one_job("worker-a", stop_event=stop)
        released = scenarios.get_scenario_run(actor, queued.run_id)
        worker.run_one_job("worker-b")
        finished = scenarios.get_scenario_run(actor, queued.run_id)

        assert released.status == "queued"
        assert released.result is None
        assert finished.status == "succeeded"

    def test_stale_job_fails_its_run(
        self, private_workbench, private_dispatcher, generated_version
    ):
        actor = private_dispatcher
        scenario = scenarios.create_scenario(actor, "stale", generated_version, {})
        queued = scenarios.run_scenario(actor, scenario.scenario_id, TIME_LIMIT_SECONDS)
        with private_workbench.session_factory() as session, session.begin():
            jobs.claim_next(session, "worker-that-dies")

        later = utc_now() + worker.STALE_AFTER + timedelta(seconds=1)
        failed_ids = worker.requeue_or_fail_stale_jobs(now=later)
        run = scenarios.get_scenario_run(actor, queued.run_id)

        assert len(failed_ids) == 1
        assert run.status == "failed"
        assert run.error == worker.STALE_JOB_ERROR
        assert run.finished_at is not None

    def test_generic_pool_without_drivers(
        self, private_workbench, private_dispatcher, generated_version
    ):
        actor = private_dispatcher
        generic = {
            "count": 40,
            "qualifications": ["ADR", "KUEHL"],
            "max_weekly_hours": 48,
        }
        variation = {"pool": {"add_generic": [generic]}}
        scenario = scenarios.create_scenario(
            actor, "hired", generated_version, variation
        )

        queued = scenarios.run_scenario(actor, scenario.scenario_id, TIME_LIMIT_SECONDS)
        run_worker_until_empty()
        run = scenarios.get_scenario_run(actor, queued.run_id)

        rostered = {row["driver"] for row in run.result["rosters"]}
        assert run.status == "succeeded"
        assert rostered
        assert all(driver.startswith("generic-") for driver in rostered)
        assert run.result["kpis"]["driver_pool"] == 40
        assert run.result["kpis"]["open_tours"] == 0
        weekly: dict[str, int] = {}
        for row in run.result["rosters"]:
            weekly[row["driver"]] = weekly.get(row["driver"], 0) + row["minutes"]
        assert max(weekly.values()) <= 48 * 60


class TestStoredInputs:
    def test_pool_inputs_survive_json(self):
        profile = DriverProfile(
            driver_id="12",
            qualifications=frozenset({"ADR", "KUEHL"}),
            home_depot="Nord",
            max_weekly_minutes=2880,
            min_weekly_minutes=600,
            unavailable=((0, 360), (1440, 1800)),
            previous_week_end=-120,
            preferences=DriverPreferences(
                start="early", start_weight=3, days_off=frozenset({6, 7})
            ),
        )
        inputs = ScenarioInputs(
            forecast=generated_forecast(),
            rules=RuleSettings(max_weekly_minutes=2880),
            pool=DriverPool((profile,), stay_at_home_depot=True),
            time_limit_seconds=30.0,
            explain=False,
        )

        stored = json.loads(json.dumps(inputs_json(inputs)))

        assert read_inputs(stored) == inputs

    def test_hash_ignores_key_order(self):
        inputs = inputs_json(
            ScenarioInputs(generated_forecast(), RuleSettings(), None, 60.0)
        )
        reordered = dict(reversed(list(inputs.items())))

        assert input_hash(reordered) == input_hash(inputs)
        assert input_hash({**inputs, "time_limit_seconds": 61.0}) != input_hash(inputs)
