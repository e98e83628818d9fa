"""The first examples a newcomer copies must run as written (only the broker swapped for
``memory://``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), re.S)


def test_beat_md_first_example_runs() -> None:
    code = _blocks(ROOT / "docs" / "beat.md")[0]
    code = re.sub(r'broker="redis://[^"]*"', 'broker="memory://beat-doc"', code)
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/beat.md", "exec"), namespace)
    app = namespace["app"]
    assert set(app.conf.beat_schedule) == {"add-every-30s", "report", "cleanup", "migrate"}  # type: ignore[attr-defined]


def test_readme_says_where_the_console_script_is_and_how_to_run_the_classic_example() -> None:
    text = (ROOT / "README.md").read_text()
    assert ".venv/bin/celeriac" in text
    assert "cd examples/classic" in text and "-A tasks worker" in text


def test_test_script_says_what_it_installs() -> None:
    text = (ROOT / "scripts" / "test.sh").read_text()
    assert "prometheus" in text.lower() and "podman" in text.lower() and "why" in text.lower()
