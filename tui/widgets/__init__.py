"""Widgets of the operator console, grouped by area (tables, frame, charts, changes...)."""
