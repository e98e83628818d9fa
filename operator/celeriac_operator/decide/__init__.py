"""Pure decisions of the operator: what to enqueue, what status to write, what to sync,
how to scale.

Why it exists: the reconcile logic is tested as plain functions, with no API server, no
broker and no clock (``now`` is passed in). Nothing here imports kopf, the kubernetes
client or the runtime's transports.
"""

from __future__ import annotations
