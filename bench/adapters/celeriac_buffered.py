"""celeriac with ``task_publish_buffer`` on: only the enqueue scenario differs.

Why it exists: the default ``delay()`` returns after Redis confirmed the write (one round
trip each); the buffered producer returns at once and writes in batches. Reported as its
own system so the default figure stays the headline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from adapters.celeriac import CeleriacAdapter


class CeleriacBufferedAdapter(CeleriacAdapter):
    name: ClassVar[str] = "celeriac_buffered"
    buffered: ClassVar[bool] = True

    @classmethod
    def kinds(cls, scenario: str) -> Sequence[str]:
        return ("-",) if scenario == "enqueue" else ()
