"""Configuration written the way a Celery 3/4 user wrote it: old upper-case names."""

from __future__ import annotations

import os

# The broker: none by default, so the example runs on the embedded SQLite file (named after
# the app: ~/.local/share/celeriac/tasks.db). BROKER_URL=redis://... or CELERIAC_BROKER_URL
# (the environment overrides the module) run the same file on Redis.
BROKER_URL = os.environ.get("BROKER_URL") or None
CELERY_RESULT_BACKEND = "rpc"  # results kept by the broker's own store

CELERY_QUEUES = {"add": {"routing_key": "add"}}
CELERY_ROUTES = {"tasks.add": {"queue": "add", "routing_key": "add"}}

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_RESULT_EXPIRES = 60 * 60
CELERY_TIMEZONE = "Asia/Shanghai"
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
