"""Packages laid out as Django apps, for ``app.autodiscover_tasks`` tests: ``shop`` has a
``tasks`` module, ``blog`` has none."""
