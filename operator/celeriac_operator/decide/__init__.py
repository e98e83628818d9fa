"""Pure decisions of the operator: no kopf, no Kubernetes client, no broker (tested as functions)."""

from __future__ import annotations
