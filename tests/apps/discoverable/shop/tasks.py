"""Tasks found by ``autodiscover_tasks`` (``shared_task``: no app imported here, as in a
reusable Django app)."""

from __future__ import annotations

from celeriac import shared_task


@shared_task(name="shop.checkout")
def checkout(order: int) -> str:
    return f"order {order} done"
