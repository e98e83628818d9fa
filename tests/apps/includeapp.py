"""An app whose tasks live in another module, named by ``include=[...]`` (the banner must
list them)."""

from __future__ import annotations

import os

from celeriac import Celeriac

app = Celeriac("includeapp", include=["includetasks"])
if os.environ.get("INCLUDEAPP_BAD_CONCURRENCY"):
    app.conf.worker_concurrency = "two"  # type: ignore[assignment]  # what a newcomer wrote
