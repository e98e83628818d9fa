"""A Django-like app with tasks."""
