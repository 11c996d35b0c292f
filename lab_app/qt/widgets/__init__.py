"""Shared widgets. Each one exports PNG through ``export_png(path)``."""
