"""The beat: periodic tasks from a registry in the broker, fired exactly once by a leader.

Re-exports only. ``registry`` is ``app.schedules`` (the runtime API), ``records`` the
registry's JSON format, ``lease`` the fenced leader lease, ``scheduler`` the loop and
``cli`` the ``celeriac beat`` and ``celeriac schedule`` commands. Guarantees and examples:
``docs/beat.md``.
"""

from __future__ import annotations

from celeriac.beat.lease import Lease
from celeriac.beat.records import EntryState, Stored
from celeriac.beat.registry import SCHEDULE_HEADER, ScheduleNotFound, Schedules
from celeriac.beat.scheduler import Beat

__all__ = ["SCHEDULE_HEADER", "Beat", "EntryState", "Lease", "ScheduleNotFound", "Schedules", "Stored"]
