"""Every transport plays every role of the contract (``celeriac.backends.base.ROLES``).

The roles' behaviour is tested method by method in the other files of this suite; this
file checks that each transport declares each role whole, covers the methods no other
file calls (``publish_with_events``, ``recent_events``, the schedule store), and that no
runtime module outside the transports probes a transport for methods or reaches a
Redis client.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

from celeriac.backends import base
from celeriac.backends.base import Outgoing

RUNTIME = Path(__file__).resolve().parents[2] / "runtime" / "celeriac"
Q = "roles"


def _out(task_id: str) -> Outgoing:
    return Outgoing(queue=Q, task_id=task_id, content_type="application/json", body=b"{}")


def test_every_role_is_implemented_whole(backend: Any) -> None:
    for role in (*base.ROLES, base.Backend):
        assert isinstance(backend, role), f"{type(backend).__name__} is not a {role.__name__}"
        for name, member in vars(role).items():
            if inspect.isfunction(member):
                assert callable(getattr(type(backend), name, None)), f"{role.__name__}.{name} missing"
    declared = {n for role in base.ROLES for n, m in vars(role).items() if inspect.isfunction(m)}
    assert {"publish", "settle", "get_result", "dead_letter_requeue", "control_subscribe", "workers",
            "recent_events", "schedule_commit", "beat_acquire"} <= declared


def test_publish_with_events_and_recent_events(backend: Any) -> None:
    backend.publish_with_events([_out("pe1"), _out("pe2")], [
        {"type": "task-sent", "uuid": "pe1"}, {"type": "task-sent", "uuid": "pe2"}])
    backend.publish_with_events([], [{"type": "task-sent", "uuid": "pe3"}])
    assert [d.task_id for d in backend.fetch([Q], "c", 10, 0)] == ["pe1", "pe2"]
    recent = backend.recent_events(2)  # about 2: Redis may keep a batch of events in one entry
    assert [e["uuid"] for _i, e in recent][-2:] == ["pe2", "pe3"]
    assert recent[-1][0] == backend.last_event_id()
    assert [e["uuid"] for _i, e in backend.recent_events(100)] == ["pe1", "pe2", "pe3"]


def test_schedule_store(backend: Any) -> None:
    cursor = backend.schedule_wait("", 0.0)
    backend.schedule_put("every", '{"task": "t"}')
    assert backend.schedule_wait(cursor, 5.0) != cursor
    assert backend.schedule_read() == {"every": ('{"task": "t"}', None)}
    token = backend.beat_acquire("a", 30.0)
    assert token is not None and backend.beat_acquire("b", 30.0) is None
    assert backend.beat_renew("a", token, 30.0) and not backend.beat_renew("b", token, 30.0)
    assert backend.schedule_commit("every", fence=("a", token), expect_state=None, new_state='{"n": 1}',
                                   publish=[_out("fired")]) == 1
    assert backend.schedule_commit("every", fence=("b", token), expect_state='{"n": 1}',
                                   new_state='{"n": 2}') == -1
    assert backend.schedule_read(["every"]) == {"every": ('{"task": "t"}', '{"n": 1}')}
    assert [d.task_id for d in backend.fetch([Q], "c", 10, 0)] == ["fired"]
    backend.beat_release("a", token)
    assert backend.beat_acquire("b", 30.0) is not None
    assert backend.schedule_delete("every") and not backend.schedule_delete("every")
    assert backend.schedule_commit("every", fence=None, expect_state=None, new_state="{}") == -2


def test_no_runtime_module_probes_a_transport() -> None:
    """No ``getattr``/``hasattr`` on a broker or backend, no Redis client outside the
    Redis transport modules (the issue's "no back doors")."""
    probe = re.compile(r"(getattr|hasattr)\([^)]*(broker|backend)")
    client = re.compile(r"\.client\b|import redis|from redis")
    offenders = []
    for path in RUNTIME.rglob("*.py"):
        text = path.read_text()
        rel = path.relative_to(RUNTIME).as_posix()
        if probe.search(text):
            offenders.append(f"{rel}: probes a transport")
        if not rel.startswith("backends/redis") and client.search(text):
            offenders.append(f"{rel}: touches a Redis client")
    assert offenders == []
