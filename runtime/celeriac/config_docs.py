"""Render the configuration reference (``docs/configuration.md``) from :class:`Settings`.

The field docstrings in ``config.py`` are the one source; ``python -m celeriac.config_docs``
rewrites the file and a test checks it is current.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import sys
from dataclasses import MISSING, fields

from celeriac import config

HEADER = """# Configuration reference

Generated from `runtime/celeriac/config.py` by `python -m celeriac.config_docs`; do not edit.

Settings are read (later wins) from the defaults, `config_source=` / `app.config_from_object()`,
a YAML file (`app.config_from_yaml()` or `CELERIAC_CONFIG_FILE`), and `CELERIAC_<NAME>`
environment variables (lists as `a,b` or JSON, mappings as JSON). Celery's old names are
accepted too: they are listed next to each setting.

| setting | default | Celery's old name | meaning |
|---|---|---|---|
"""


def field_docs() -> dict[str, str]:
    """The docstring written under each field of :class:`Settings`."""
    tree = ast.parse(inspect.getsource(config.Settings))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in itertools.pairwise(body):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(nxt, ast.Expr) \
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def render() -> str:
    docs = field_docs()
    legacy: dict[str, list[str]] = {}
    for old, new in config.LEGACY_NAMES.items():
        legacy.setdefault(new, []).append(f"`{old}`")
    rows = []
    for f in fields(config.Settings):
        if f.default is not MISSING:
            default = repr(f.default)
        elif f.default_factory is not MISSING:
            default = repr(f.default_factory())
        else:
            default = ""
        rows.append(f"| `{f.name}` | `{default}` | {', '.join(legacy.get(f.name, [])) or ''} | "
                    f"{docs.get(f.name, '').replace('|', '/')} |")
    return HEADER + "\n".join(rows) + "\n"


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else "docs/configuration.md"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(render())


if __name__ == "__main__":
    main()
