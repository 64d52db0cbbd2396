"""Hypothesis strategies for schedules of calls: durations, outcomes, cancel points, timeouts.

Every time value is a whole number or a multiple of 1/64, so sums and comparisons of them are
exact in floating point: on `trio.testing.MockClock` "finished within the timeout" is then a
question with an exact answer. A `Schedule` is plain data (attrs, frozen) that the conformance
kit plays against a runner; build your own with the strategies here or by hand.
"""

from __future__ import annotations

from ._scenario_specs import BASE_EXCEPTION_KINDS as BASE_EXCEPTION_KINDS
from ._scenario_specs import PROPAGATING_KINDS as PROPAGATING_KINDS
from ._scenario_specs import RETURNED_KINDS as RETURNED_KINDS
from ._scenario_specs import AbandonSpec as AbandonSpec
from ._scenario_specs import BaseExceptionSpec as BaseExceptionSpec
from ._scenario_specs import ConsumerSpec as ConsumerSpec
from ._scenario_specs import ContextSpec as ContextSpec
from ._scenario_specs import GatedSpec as GatedSpec
from ._scenario_specs import NestedCall as NestedCall
from ._scenario_specs import NestedSpec as NestedSpec
from ._scenario_specs import ReclaimSpec as ReclaimSpec
from ._scenario_specs import ReturnedSpec as ReturnedSpec
from ._scenario_specs import WaitingSpec as WaitingSpec
from ._scenario_specs import abandon_specs as abandon_specs
from ._scenario_specs import base_exception_specs as base_exception_specs
from ._scenario_specs import context_specs as context_specs
from ._scenario_specs import gated_specs as gated_specs
from ._scenario_specs import nested_calls as nested_calls
from ._scenario_specs import nested_specs as nested_specs
from ._scenario_specs import reclaim_specs as reclaim_specs
from ._scenario_specs import returned_specs as returned_specs
from ._scenario_specs import waiting_specs as waiting_specs
from ._schedule_specs import CRASH_KINDS as CRASH_KINDS
from ._schedule_specs import FRACTION as FRACTION
from ._schedule_specs import CallSpec as CallSpec
from ._schedule_specs import Schedule as Schedule
from ._schedule_specs import WaitSpec as WaitSpec
from ._schedule_specs import call_specs as call_specs
from ._schedule_specs import cancel_points as cancel_points
from ._schedule_specs import durations as durations
from ._schedule_specs import outcomes as outcomes
from ._schedule_specs import schedules as schedules
from ._schedule_specs import ticks as ticks
from ._schedule_specs import timeouts as timeouts

__all__ = [
    "BASE_EXCEPTION_KINDS",
    "CRASH_KINDS",
    "FRACTION",
    "PROPAGATING_KINDS",
    "RETURNED_KINDS",
    "AbandonSpec",
    "BaseExceptionSpec",
    "CallSpec",
    "ConsumerSpec",
    "ContextSpec",
    "GatedSpec",
    "NestedCall",
    "NestedSpec",
    "ReclaimSpec",
    "ReturnedSpec",
    "Schedule",
    "WaitSpec",
    "WaitingSpec",
    "abandon_specs",
    "base_exception_specs",
    "call_specs",
    "context_specs",
    "gated_specs",
    "nested_calls",
    "nested_specs",
    "reclaim_specs",
    "returned_specs",
    "waiting_specs",
    "cancel_points",
    "durations",
    "outcomes",
    "schedules",
    "ticks",
    "timeouts",
]
