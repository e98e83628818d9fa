"""Pools: how a worker process runs the deliveries its consumer fetched.

``solo`` runs them inline, ``threads`` in a thread pool, ``asyncio`` as coroutines on an
event loop; ``prefork`` is a supervisor of processes that each run a solo consumer
(see :mod:`celeriac.worker.pools.prefork`).
"""

from __future__ import annotations
