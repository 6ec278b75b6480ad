"""Billabled: time tracking and billing for agencies, with a public Integration API."""

__version__ = "0.1.0"
