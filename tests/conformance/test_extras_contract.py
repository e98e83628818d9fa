"""Transport capabilities beyond the core contract, identical on every transport:
counted hand-backs with history, dead-letter admin, publish-once, control channel,
chord joins and saved groups."""

from __future__ import annotations

import time
from typing import Any

from celeriac.backends.base import ChordJoin, Outgoing, ResultRecord, Settlement

Q = "xq"


def out(task_id: str, queue: str = Q) -> Outgoing:
    return Outgoing(queue=queue, task_id=task_id, content_type="application/json", body=b"{}")


def test_counted_hand_backs_dead_letter_with_history(make_backend: Any) -> None:
    b = make_backend(task_max_deliveries=2)
    b.publish([out("m")])
    b.fetch([Q], "w1", 1, 0)
    assert b.release_consumer([Q], "w1", count_delivery=True) == 1
    (d,) = b.fetch([Q], "w2", 1, 0)
    assert d.deliveries == 2
    assert b.release_consumer([Q], "w2", count_delivery=True) == 1
    assert b.fetch([Q], "w3", 1, 0) == []
    (dl,) = b.dead_letters(Q, 10)
    assert dl.task_id == "m" and dl.deliveries == 2 and "2 times" in dl.reason
    # each line names the holder and how it ended (a crash: the message may be poison)
    assert [line.split(" ", 1)[1] for line in dl.history] == ["w1 crashed", "w2 crashed"]
    assert "died 2 time(s)" in dl.reason and "poison" in dl.reason


def test_reclaim_writes_history(backend: Any) -> None:
    backend.publish([out("r")])
    backend.fetch([Q], "gone", 1, 0)
    time.sleep(0.25)
    assert backend.reclaim([Q], 0.2, 1) == 1
    (dl,) = backend.dead_letters(Q, 10)
    assert dl.task_id == "r" and len(dl.history) == 1
    assert dl.history[0].split(" ", 1)[1].startswith("lease expired")  # a node lost, not the message
    assert "lease expired 1 time(s)" in dl.reason and "poison" not in dl.reason


def test_dead_letter_requeue_and_purge(backend: Any) -> None:
    backend.publish([out("a"), out("b"), out("c")])
    got = backend.fetch([Q], "w", 3, 0)
    backend.settle([Settlement(d, dead_letter_reason="bad") for d in got])
    letters = {dl.task_id: dl for dl in backend.dead_letters(Q, 10)}
    assert sorted(letters) == ["a", "b", "c"]
    assert backend.dead_letter_requeue(Q, [letters["b"].message_id]) == 1
    (again,) = backend.fetch([Q], "w", 5, 0)
    assert again.task_id == "b" and again.deliveries == 1
    assert backend.dead_letter_purge(Q) == 2
    assert backend.dead_letters(Q, 10) == []
    backend.settle([Settlement(again, dead_letter_reason="still bad")])
    assert backend.dead_letter_requeue(Q) == 1
    assert [d.task_id for d in backend.fetch([Q], "w", 5, 0)] == ["b"]


def test_publish_once_until_ready(backend: Any) -> None:
    backend.publish_once([out("once")], 60)
    backend.publish_once([out("once")], 60)
    (d,) = backend.fetch([Q], "w", 5, 0)
    assert backend.fetch([Q], "w", 5, 0) == []
    backend.settle([Settlement(d, result=ResultRecord("once", "SUCCESS", b"1"))])
    backend.publish_once([out("once")], 60)
    assert [x.task_id for x in backend.fetch([Q], "w", 5, 0)] == ["once"]


def test_control_channel(backend: Any, make_backend: Any) -> None:
    sub = backend.control_subscribe()
    try:
        other = make_backend()
        assert other.control_publish({"command": "revoke", "task_ids": ["x"]}) >= 1
        got = None
        deadline = time.monotonic() + 10
        while got is None and time.monotonic() < deadline:
            got = sub.get(1.0)
        assert got == {"command": "revoke", "task_ids": ["x"]}
        assert sub.get(0.1) is None
    finally:
        sub.close()


def test_chord_join_fires_once(backend: Any) -> None:
    callback = (out("cb", queue="callbacks"),)
    joins = [ChordJoin("g1", i, 2, f"application/json\n{i}".encode(), callback=callback) for i in range(2)]
    backend.publish([out("h0"), out("h1")])
    h0, h1 = backend.fetch([Q], "w", 2, 0)
    backend.settle([Settlement(h0, chord=joins[0])])
    assert backend.fetch(["callbacks"], "w", 5, 0) == []
    backend.settle([Settlement(h1, chord=joins[1])])
    assert [d.task_id for d in backend.fetch(["callbacks"], "w", 5, 0)] == ["cb"]
    backend.settle([Settlement(None, chord=joins[1])])  # a redelivered header task
    assert backend.fetch(["callbacks"], "w", 5, 0) == []
    state = backend.get_chord("g1")
    assert state.values == {0: b"application/json\n0", 1: b"application/json\n1"} and state.failure is None


def test_chord_failure_fires_once(backend: Any) -> None:
    callback = (out("errcb", queue="callbacks"),)
    backend.settle([Settlement(None, chord=ChordJoin("g2", 0, 3, b'{"exc": "E"}', callback=callback,
                                                     failed=True))])
    backend.settle([Settlement(None, chord=ChordJoin("g2", 1, 3, b'{"exc": "F"}', callback=callback,
                                                     failed=True))])
    assert [d.task_id for d in backend.fetch(["callbacks"], "w", 5, 0)] == ["errcb"]
    assert backend.get_chord("g2").failure == b'{"exc": "E"}'


def test_saved_groups(backend: Any) -> None:
    assert backend.get_group("nope") is None
    backend.save_group("grp", b'{"results": ["a", "b"]}')
    assert backend.get_group("grp") == b'{"results": ["a", "b"]}'
    backend.forget_group("grp")
    assert backend.get_group("grp") is None
