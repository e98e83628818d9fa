"""A Django-like app without a tasks module."""
