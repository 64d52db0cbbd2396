"""The kit's own promises: optional dependency, picklable calls, a reference model that is right."""

from __future__ import annotations

import pathlib
import pickle
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_runners import ConcurrentTaskRunner, StateType
from trio_runners.testing import ConformanceError, Report, RunnerConformance
from trio_runners.testing import strategies as kit_strategies
from trio_runners.testing._calls import SyncCall
from trio_runners.testing._log import FileCallLog
from trio_runners.testing.reference import ReferenceModel
from trio_runners.testing.strategies import CallSpec, Schedule, schedules


def test_importing_trio_runners_does_not_import_hypothesis() -> None:
    code = (
        "import sys, trio_runners, trio_runners.testing\n"
        "assert 'hypothesis' not in sys.modules and 'pytest' not in sys.modules\n"
        "trio_runners.testing.RunnerConformance\n"
        "assert 'hypothesis' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sync_calls_pickle_for_process_and_dask_runners(tmp_path: pathlib.Path) -> None:
    call = SyncCall(FileCallLog(f"{tmp_path}/trace"), 3, 0.0, fails=False)
    assert pickle.loads(pickle.dumps(call)) == call


def test_model_admits_fifo_and_frees_slots_at_the_exact_instant() -> None:
    model = ReferenceModel(max_workers=2)
    a, b, c, d = (model.submit(duration, False) for duration in (1.0, 2.0, 0.0, 1.0))
    assert [model.calls[i].started_at for i in (a, b, c, d)] == [0.0, 0.0, None, None]
    model.advance(1.0)
    # a ends at 1; c (zero duration) is admitted and ends at 1; then d is admitted at 1.
    assert model.calls[c].finished_at == 1.0
    assert model.calls[d].started_at == 1.0
    assert model.statistics().running == 2


def test_model_cancel_of_a_queued_call_means_it_never_starts() -> None:
    model = ReferenceModel(max_workers=1)
    first, queued = model.submit(1.0, False), model.submit(1.0, True)
    assert model.cancel(queued) is True
    assert model.cancel(queued) is False
    model.advance(5.0)
    assert model.calls[queued].started_at is None
    assert model.calls[queued].outcome is StateType.CANCELLED
    assert model.calls[first].outcome is StateType.COMPLETED


def test_model_sequential_keys_are_unknown_until_their_turn() -> None:
    model = ReferenceModel(sequential=True)
    running, later = model.submit(1.0, False), model.submit(1.0, True)
    assert model.cancel(later) is KeyError
    assert model.cancel_all() == 1
    assert model.calls[running].outcome is StateType.CANCELLED
    assert model.calls[later].started_at == 0.0
    model.advance(1.0)
    assert model.calls[later].outcome is StateType.FAILED
    assert model.release(later) is None
    assert model.release(later) is KeyError
    assert model.statistics().retained == 1


def test_check_property_runs_a_custom_check_and_reports_its_violations() -> None:
    class Kit(RunnerConformance):
        runner_factory = ConcurrentTaskRunner
        hypothesis_settings = settings(max_examples=10)

    reports: list[Report] = []

    def record(report: Report) -> list[str]:
        reports.append(report)
        return []

    Kit().check_property("custom", schedules(max_calls=2), record)
    assert reports
    assert all(all(r.final[i] is not None for i in range(r.n)) for r in reports)
    with pytest.raises(ConformanceError, match="custom violated"):
        Kit().check_property("custom", schedules(max_calls=2), lambda report: ["always"])


def test_model_backpressure_frees_room_when_a_queued_call_is_cancelled() -> None:
    model = ReferenceModel(max_workers=1, max_pending=2)
    a, b, c = (model.submit(10.0, False) for _ in range(3))
    assert [model.calls[i].accepted for i in (a, b, c)] == [True, True, True]
    assert model.submit_blocks()
    d = model.submit(1.0, False)
    assert not model.calls[d].accepted
    model.cancel(b)
    assert model.calls[d].accepted  # hole 1 of issue 12: room is freed at once
    assert model.pending() == 2
    model.advance(10.0)
    assert model.calls[c].started_at == 10.0
    assert model.statistics().queued == 1


def test_report_names_the_call_log_and_the_lifecycle_trace_apart() -> None:
    class Kit(RunnerConformance):
        runner_factory = ConcurrentTaskRunner

    schedule = Schedule(calls=(CallSpec(1.0, False, 0.0, None),))
    report = Kit().play(schedule)
    kinds = [event.kind for event in report.log]
    assert kinds[:2] == ["submit", "start"], kinds  # the kit's call log
    assert {event["event"] for event in report.lifecycle} >= {"submitted", "started"}
    with pytest.warns(DeprecationWarning, match=r"Report\.log"):
        assert report.trace == report.log  # the old name still reads the call log


SPEC_STRATEGIES = ["gated_specs", "waiting_specs", "base_exception_specs", "context_specs"]


@pytest.mark.parametrize("name", [*SPEC_STRATEGIES, "returned_specs"])
@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_a_spec_strategy_refuses_a_max_calls_that_allows_no_call(name: str, bad: object) -> None:
    @settings(max_examples=1, database=None)
    @given(st.data())
    def draw(data: st.DataObject) -> None:
        data.draw(getattr(kit_strategies, name)(max_calls=bad))

    with pytest.raises(ValueError, match=rf"{name}\(max_calls=\.\.\.\) must be an int"):
        draw()


def _calls_in(spec: object) -> int:
    if isinstance(spec, kit_strategies.ContextSpec):
        return sum(map(len, spec.submitters))
    if isinstance(spec, kit_strategies.GatedSpec):
        return spec.calls
    if isinstance(spec, kit_strategies.WaitingSpec):
        return len(spec.durations)
    assert isinstance(spec, kit_strategies.BaseExceptionSpec | kit_strategies.ReturnedSpec)
    return len(spec.calls)


@pytest.mark.parametrize("name", [*SPEC_STRATEGIES, "returned_specs"])
@given(max_calls=st.integers(1, 9), data=st.data())
@settings(max_examples=40, deadline=None)
def test_a_spec_strategy_draws_one_to_max_calls_calls(
    name: str, max_calls: int, data: st.DataObject
) -> None:
    spec = data.draw(getattr(kit_strategies, name)(max_calls=max_calls))
    assert 1 <= _calls_in(spec) <= max_calls
