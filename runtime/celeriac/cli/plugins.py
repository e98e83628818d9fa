"""Commands that other installed packages add to ``celeriac`` (entry point group
``celeriac.commands``; ``celeriac operator`` comes from the operator this way).

Why it exists: the runtime must never import the operator (nor kopf), yet ``celeriac
operator`` is one of its commands. A plugin is loaded only when its command is run or
listed in ``--help``; a plugin whose import fails becomes a command that says why and
exits 1, so a missing optional extra never breaks the other commands.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

import click

from celeriac.cli.errors import fail

#: The entry point group: ``name = "module:click_command"``.
GROUP = "celeriac.commands"


def _entry_points() -> dict[str, metadata.EntryPoint]:
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=GROUP):
        found.setdefault(ep.name, ep)
    return found


def _broken(name: str, ep: metadata.EntryPoint, exc: BaseException) -> click.Command:
    def run(**_: Any) -> None:
        fail(f"command {name!r} ({ep.value}) cannot be loaded: {type(exc).__name__}: {exc}"
             f" (is its package installed with its extra, e.g. pip install 'celeriac[{name}]'?)")

    return click.Command(name, callback=run, help=f"(unavailable: {type(exc).__name__})",
                         context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


class PluginGroup(click.Group):
    """A click group that also offers the commands of the ``celeriac.commands`` entry points.

    Built-in commands win over a plugin of the same name.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_entry_points()))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        ep = _entry_points().get(cmd_name)
        if ep is None:
            return None
        try:
            loaded = ep.load()
        except Exception as exc:  # an optional extra missing, or a broken plugin: say which
            return _broken(cmd_name, ep, exc)
        if not isinstance(loaded, click.Command):
            return _broken(cmd_name, ep, TypeError(f"{ep.value} is not a click command"))
        return loaded
