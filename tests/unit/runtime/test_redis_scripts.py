"""The Lua scripts' shared parts are spliced in once, and every script reads whole."""

from __future__ import annotations

from importlib import resources

from celeriac.backends.redis_scripts import script

LUA = resources.files("celeriac.backends").joinpath("lua")


def test_every_include_is_spliced_and_no_marker_is_left() -> None:
    names = [p.name[:-4] for p in LUA.iterdir() if p.name.endswith(".lua")]
    assert {"requeue", "reclaim", "settle", "queue_stats", "fetch"} <= set(names)
    for name in names:
        assert "--#include" not in script(name), name


def test_the_shared_helpers_stand_once_in_the_files_and_whole_in_the_scripts() -> None:
    for name in ("requeue", "reclaim"):
        assert "local function lost_reason" not in LUA.joinpath(f"{name}.lua").read_text()
        text = script(name)
        assert text.count("local function lost_reason") == 1
        assert text.count("local function count_of") == 1
    for name in ("settle", "queue_stats"):
        assert script(name).count("local function stream_key") == 1
