"""``@app.task(pydantic=True)``: arguments validated into Pydantic models, results dumped.

Why it exists: Celery 5.5 users type task parameters with Pydantic models and pass plain
dicts (what JSON carries); the task must receive the model, and a model it returns must
travel as JSON. This module wraps the task's function once, when the task is created:
parameters annotated with a ``BaseModel`` subclass (or ``Optional`` of one) are validated
with ``model_validate`` (``strict`` and ``context`` as the task options say); a returned
model whose class matches the return annotation is dumped with ``model_dump(mode="json")``.
Pydantic is imported only for such tasks (the ``pydantic`` extra).
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from celeriac.errors import ConfigurationError


def _model_of(annotation: Any, base: type) -> type | None:
    """The model class an annotation names: ``Model`` or ``Model | None``."""
    if isinstance(annotation, type):
        return annotation if issubclass(annotation, base) else None
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _model_of(members[0], base)
    return None


def wrap(fun: Callable[..., Any], task_name: str, *, strict: bool, context: Mapping[str, Any] | None,
         dump_kwargs: Mapping[str, Any] | None, app: Any) -> Callable[..., Any]:
    """``fun`` with Pydantic validation of its model arguments and dumping of its model result.

    Raises:
        ConfigurationError: pydantic is not installed.
    """
    try:
        import pydantic
    except ModuleNotFoundError as exc:  # pragma: no cover - the test extra installs it
        raise ConfigurationError("pydantic=True needs pydantic: pip install 'celeriac[pydantic]'") from exc
    base = pydantic.BaseModel
    signature = inspect.signature(fun)
    try:
        hints = typing.get_type_hints(fun)
    except (NameError, AttributeError, TypeError):
        hints = {}
    models: dict[str, type] = {}
    for name, param in signature.parameters.items():
        model = _model_of(hints.get(name, param.annotation), base)
        if model is not None:
            models[name] = model
    returns = _model_of(hints.get("return", signature.return_annotation), base)
    ctx = {**(context or {}), "celery_app": app, "celery_task_name": task_name}
    dump = {"mode": "json", **(dump_kwargs or {})}

    def convert(args: tuple[Any, ...], kwargs: dict[str, Any]) -> inspect.BoundArguments:
        bound = signature.bind(*args, **kwargs)
        for name, model in models.items():
            if name in bound.arguments and bound.arguments[name] is not None:
                bound.arguments[name] = model.model_validate(  # type: ignore[attr-defined]
                    bound.arguments[name], strict=strict, context=ctx)
        return bound

    def dumped(value: Any) -> Any:
        if returns is not None and isinstance(value, returns) and isinstance(value, base):
            return value.model_dump(**dump)
        return value

    if inspect.iscoroutinefunction(fun):
        @functools.wraps(fun)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            bound = convert(args, kwargs)
            return dumped(await fun(*bound.args, **bound.kwargs))
        return run_async

    @functools.wraps(fun)
    def run(*args: Any, **kwargs: Any) -> Any:
        bound = convert(args, kwargs)
        return dumped(fun(*bound.args, **bound.kwargs))
    return run
