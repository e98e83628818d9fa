from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from celeriac.config import Settings
from celeriac.config_docs import field_docs, render

DOC = Path(__file__).resolve().parents[3] / "docs" / "configuration.md"


def test_every_setting_has_a_docstring() -> None:
    docs = field_docs()
    missing = [f.name for f in fields(Settings) if not docs.get(f.name)]
    assert not missing, f"settings without a docstring: {missing}"


def test_reference_is_current() -> None:
    assert DOC.read_text() == render(), "run: python -m celeriac.config_docs docs/configuration.md"
