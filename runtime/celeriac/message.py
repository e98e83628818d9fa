"""The task message (field names after Celery's message protocol v2) and its validation.

Pure: turns dicts into :class:`Message` and back; knows nothing of brokers or serializers.
The wire format is documented in ``docs/protocol.md`` with a JSON Schema.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field, replace
from typing import Any

from celeriac.errors import DecodeError

#: Fields a message may carry. Anything else is kept in ``extra`` and passed along.
FIELDS = (
    "task",
    "id",
    "args",
    "kwargs",
    "eta",
    "expires",
    "retries",
    "root_id",
    "parent_id",
    "group",
    "group_index",
    "timelimit",
    "callbacks",
    "errbacks",
    "chain",
    "chord",
    "priority",
    "queue",
    "headers",
    "ignore_result",
    "reply_to",
)
FIELD_SET = frozenset(FIELDS)


#: The RFC 4122 variant digit (10xx) for each random hex digit.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def _format_uuid4(h: str) -> str:
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def new_id() -> str:
    """A fresh task id: UUID4 text, as Celery's (three times cheaper than ``uuid.uuid4()``)."""
    return _format_uuid4(os.urandom(16).hex())


def new_ids(n: int) -> list[str]:
    """``n`` fresh task ids from one read of the random source (the bulk path)."""
    h = os.urandom(16 * n).hex()
    return [_format_uuid4(h[i:i + 32]) for i in range(0, 32 * n, 32)]


def to_iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


#: Bounds of the fields a worker reads (docs/protocol.md, "Bounds"); a message that breaks
#: one is dead-lettered with the reason, before any task code runs.
MAX_ID_LEN = 255  #: task ids, group ids, root/parent ids: also key names and delayed members
MAX_NAME_LEN = 1024  #: task and queue names
MAX_RETRIES = 2**31 - 1
MAX_LIMIT_S = 1e9  #: longest time limit (about 31 years)
MAX_CHORD_SIZE = 10**7
MAX_NESTING = 32  #: deepest nesting of signatures (chains in chords in groups...)
MIN_EPOCH_S = 0.0
MAX_EPOCH_S = 253402300799.0  #: 9999-12-31T23:59:59Z, the last instant a datetime holds


def parse_time(value: Any, name: str = "time") -> dt.datetime | None:
    """Parse an ISO-8601 string (or epoch seconds) into an aware UTC datetime.

    Raises :class:`DecodeError` naming the field for anything else, including numbers that
    are not finite or fall outside years 1970-9999 and strings with a year out of range.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, bool):
        raise DecodeError(f"field {name!r} must be an ISO-8601 string, got bool")
    elif isinstance(value, int | float):
        seconds = float(value)
        if not (MIN_EPOCH_S <= seconds <= MAX_EPOCH_S):  # also false for NaN
            raise DecodeError(f"field {name!r} is out of range: {value!r} (epoch seconds "
                              f"{MIN_EPOCH_S:.0f}-{MAX_EPOCH_S:.0f})")
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    elif isinstance(value, str):
        if len(value) > 64:
            raise DecodeError(f"field {name!r} is not an ISO-8601 time: {value[:64]!r}...")
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise DecodeError(f"field {name!r} is not an ISO-8601 time: {value!r}") from None
    else:
        raise DecodeError(f"field {name!r} must be an ISO-8601 string, got {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:  # an offset can push a year-9999 or year-1 time out of what timestamp() handles
        parsed.timestamp()
    except (OverflowError, ValueError, OSError):
        raise DecodeError(f"field {name!r} is out of range: {value!r}") from None
    return parsed


def _text_field(data: dict[str, Any], name: str, limit: int = MAX_ID_LEN) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DecodeError(f"field {name!r} must be a string, got {type(value).__name__}")
    if len(value) > limit:
        raise DecodeError(f"field {name!r} is longer than {limit} characters")
    return value


def _int_field(value: Any, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise DecodeError(f"field {name!r} must be an integer {low}-{high}, got {type(value).__name__}")
    if not low <= value <= high:
        raise DecodeError(f"field {name!r} is out of range: {value} (allowed {low}-{high})")
    return value


def _limit(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise DecodeError(f"field {name!r} must be a number of seconds or null, got {type(value).__name__}")
    if not 0 <= value <= MAX_LIMIT_S:  # also false for NaN
        raise DecodeError(f"field {name!r} is out of range: {value!r} (allowed 0-{MAX_LIMIT_S:.0f} s)")
    return float(value)


def _check_kwargs(value: Any, name: str) -> None:
    if not isinstance(value, dict):
        raise DecodeError(f"field {name!r} must be an object, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise DecodeError(f"field {name!r} has a key that is not a string: {key!r}")


def check_signature(data: Any, where: str, depth: int = 0) -> None:
    """Check the shape of a signature read from a message (``callbacks``, ``chain``...).

    Raises :class:`DecodeError` naming where the bad part is.
    """
    if depth > MAX_NESTING:
        raise DecodeError(f"{where}: signatures nested deeper than {MAX_NESTING}")
    if not isinstance(data, dict):
        raise DecodeError(f"{where} must be a signature object, got {type(data).__name__}")
    kind = data.get("subtask_type")
    kwargs = data.get("kwargs", {})
    _check_kwargs(kwargs, f"{where}.kwargs")
    options = data.get("options", {})
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise DecodeError(f"{where}.options must be an object, got {type(options).__name__}")
    for key in ("link", "link_error"):
        linked = options.get(key)
        if linked is not None:
            if not isinstance(linked, list):
                raise DecodeError(f"{where}.options.{key} must be an array of signatures")
            for i, sig in enumerate(linked):
                check_signature(sig, f"{where}.options.{key}[{i}]", depth + 1)
    if options.get("task_id") is not None:
        _text_field(options, "task_id")
    if options.get("priority") is not None:
        _int_field(options["priority"], f"{where}.options.priority", 0, 9)
    if options.get("chord") is not None:
        check_chord(options["chord"], f"{where}.options.chord", depth + 1)
    if kind is None:
        task = data.get("task")
        if not isinstance(task, str) or not task or len(task) > MAX_NAME_LEN:
            raise DecodeError(f"{where}.task must be a non-empty string (at most {MAX_NAME_LEN} characters)")
        if not isinstance(data.get("args", []), list | tuple):
            raise DecodeError(f"{where}.args must be an array")
        return
    if kind in ("chain", "group"):
        tasks = kwargs.get("tasks")
        if not isinstance(tasks, list):
            raise DecodeError(f"{where}: a {kind} needs kwargs.tasks, an array of signatures")
        for i, sig in enumerate(tasks):
            check_signature(sig, f"{where}.kwargs.tasks[{i}]", depth + 1)
    elif kind == "chord":
        check_signature(kwargs.get("header"), f"{where}.kwargs.header", depth + 1)
        if kwargs.get("body"):
            check_signature(kwargs["body"], f"{where}.kwargs.body", depth + 1)
    elif kind == "chunks":
        check_signature(kwargs.get("task"), f"{where}.kwargs.task", depth + 1)
        if not isinstance(kwargs.get("it"), list):
            raise DecodeError(f"{where}.kwargs.it must be an array")
        _int_field(kwargs.get("n"), f"{where}.kwargs.n", 1, MAX_CHORD_SIZE)
    else:
        raise DecodeError(f"{where}: unknown subtask_type {kind!r}")


def check_chord(data: Any, where: str = "chord", depth: int = 0) -> None:
    """Check a chord membership ``{id, size, index, callback[, added]}`` (``added``: this
    member was added by ``Task.add_to_chord``, the ``added``-th one; ``size`` then counts it)."""
    if not isinstance(data, dict):
        raise DecodeError(f"field {where!r} must be an object, got {type(data).__name__}")
    chord_id = data.get("id")
    if not isinstance(chord_id, str) or not chord_id or len(chord_id) > MAX_ID_LEN:
        raise DecodeError(f"field '{where}.id' must be a non-empty string (at most {MAX_ID_LEN} characters)")
    size = _int_field(data.get("size"), f"{where}.size", 1, MAX_CHORD_SIZE)
    _int_field(data.get("index", 0), f"{where}.index", 0, size - 1)
    _int_field(data.get("added", 0), f"{where}.added", 0, size - 1)
    check_signature(data.get("callback"), f"{where}.callback", depth + 1)


def _signatures(data: dict[str, Any], name: str) -> list[dict[str, Any]] | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, list):
        raise DecodeError(f"field {name!r} must be an array of signatures, got {type(value).__name__}")
    for i, sig in enumerate(value):
        check_signature(sig, f"{name}[{i}]")
    return value


@dataclass(frozen=True, slots=True)
class Message:
    """One task invocation as it travels from producer to worker."""

    task: str
    id: str
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    eta: str | None = None
    expires: str | None = None
    retries: int = 0
    root_id: str | None = None
    parent_id: str | None = None
    group: str | None = None
    group_index: int | None = None
    timelimit: tuple[float | None, float | None] = (None, None)
    callbacks: list[dict[str, Any]] | None = None
    errbacks: list[dict[str, Any]] | None = None
    chain: list[dict[str, Any]] | None = None
    chord: dict[str, Any] | None = None
    priority: int | None = None
    queue: str | None = None
    headers: dict[str, Any] | None = None
    ignore_result: bool = False
    reply_to: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The wire dict: ``None`` and empty optional fields are left out to keep it small."""
        out: dict[str, Any] = {"task": self.task, "id": self.id, "args": self.args, "kwargs": self.kwargs}
        if self.retries:
            out["retries"] = self.retries
        for name in ("eta", "expires", "root_id", "parent_id", "group", "group_index", "callbacks",
                     "errbacks", "chain", "chord", "priority", "queue", "headers", "reply_to"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.timelimit != (None, None):
            out["timelimit"] = list(self.timelimit)
        if self.ignore_result:
            out["ignore_result"] = True
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Message:
        """Validate a decoded body against the bounds of docs/protocol.md.

        Raises :class:`DecodeError` naming the bad field; never anything else.
        """
        if not isinstance(data, dict):
            raise DecodeError(f"message body must be an object, got {type(data).__name__}")
        task = data.get("task")
        if not isinstance(task, str) or not task or len(task) > MAX_NAME_LEN:
            raise DecodeError(f"field 'task' is required and must be a non-empty string "
                              f"(at most {MAX_NAME_LEN} characters)")
        task_id = data.get("id")
        if not isinstance(task_id, str) or not task_id:
            raise DecodeError("field 'id' is required and must be a non-empty string")
        if len(task_id) > MAX_ID_LEN or "\n" in task_id or "\r" in task_id:
            raise DecodeError(f"field 'id' must be at most {MAX_ID_LEN} characters without line breaks")
        args = data.get("args", [])
        if not isinstance(args, list | tuple):
            raise DecodeError(f"field 'args' must be an array, got {type(args).__name__}")
        kwargs = data.get("kwargs", {})
        _check_kwargs(kwargs, "kwargs")
        retries = data.get("retries")
        retries = 0 if retries is None else _int_field(retries, "retries", 0, MAX_RETRIES)
        timelimit = data.get("timelimit")
        if timelimit is None or (isinstance(timelimit, list | tuple) and not timelimit):
            timelimit = (None, None)
        if not isinstance(timelimit, list | tuple) or len(timelimit) != 2:
            raise DecodeError("field 'timelimit' must be [hard, soft]")
        hard, soft = _limit(timelimit[0], "timelimit[0]"), _limit(timelimit[1], "timelimit[1]")
        priority = data.get("priority")
        if priority is not None:
            _int_field(priority, "priority", 0, 9)
        for name in ("eta", "expires"):
            if data.get(name) is not None:
                parse_time(data[name], name)
        group_index = data.get("group_index")
        if group_index is not None:
            _int_field(group_index, "group_index", 0, MAX_CHORD_SIZE)
        chord = data.get("chord")
        if chord is not None:
            check_chord(chord)
        ignore_result = data.get("ignore_result", False)
        if ignore_result is not None and not isinstance(ignore_result, bool | int):
            raise DecodeError(f"field 'ignore_result' must be a boolean, got {type(ignore_result).__name__}")
        headers = data.get("headers")
        if headers is not None and not isinstance(headers, dict):
            raise DecodeError(f"field 'headers' must be an object, got {type(headers).__name__}")
        unknown = data.keys() - FIELD_SET
        if unknown:
            for key in unknown:
                if not isinstance(key, str):
                    raise DecodeError(f"message body has a key that is not a string: {key!r}")
            headers = dict(headers or {}, **{k: data[k] for k in unknown})
        return cls(
            task=task,
            id=task_id,
            args=list(args),
            kwargs=kwargs,
            eta=data.get("eta"),
            expires=data.get("expires"),
            retries=retries,
            root_id=_text_field(data, "root_id"),
            parent_id=_text_field(data, "parent_id"),
            group=_text_field(data, "group"),
            group_index=group_index,
            timelimit=(hard, soft),
            callbacks=_signatures(data, "callbacks"),
            errbacks=_signatures(data, "errbacks"),
            chain=_signatures(data, "chain"),
            chord=chord,
            priority=priority,
            queue=_text_field(data, "queue", MAX_NAME_LEN),
            headers=headers,
            ignore_result=bool(ignore_result),
            reply_to=_text_field(data, "reply_to"),
        )

    def replace(self, **changes: Any) -> Message:
        return replace(self, **changes)

    def eta_time(self) -> dt.datetime | None:
        return parse_time(self.eta, "eta")

    def expires_time(self) -> dt.datetime | None:
        return parse_time(self.expires, "expires")
