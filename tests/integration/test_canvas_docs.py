"""docs/canvas.md stays runnable: its Python blocks run in order against a real worker."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

DOC = Path(__file__).resolve().parents[2] / "docs" / "canvas.md"


def test_canvas_doc_examples_run(worker: Any, redis_url: str, monkeypatch: Any) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) > 5
    monkeypatch.setenv("CELERIAC_BROKER_URL", redis_url)
    module = types.ModuleType("canvas_demo")
    module.__file__ = "canvas_demo.py"
    monkeypatch.setitem(sys.modules, "canvas_demo", module)
    exec(compile(blocks[0], "canvas_demo.py", "exec"), module.__dict__)
    app = module.app
    w = worker(app, concurrency=4)
    try:
        namespace: dict[str, Any] = {}
        for i, block in enumerate(blocks[1:], start=1):
            exec(compile(block, f"docs/canvas.md block {i}", "exec"), namespace)
    finally:
        w.stop()
        app.close()
