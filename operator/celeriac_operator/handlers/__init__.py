"""kopf handlers: thin functions that read the body, call a controller, map errors.

Why it exists: kopf registers handlers on import; importing this package (done by
``celeriac_operator/__init__.py``) registers every kind. The logic lives in ``decide/``
(pure) and in the controllers (``tracking``, ``scheduling``); a handler here only turns
their errors into kopf's ``PermanentError`` (a bad spec: never retried) or
``TemporaryError`` (the broker or the API blinked: retried with a delay).
"""

from __future__ import annotations
