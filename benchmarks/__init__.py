"""Benchmarks: ``python -m benchmarks NAME [--json]``. Never run in CI; they print JSON, never fail.

Each benchmark is a module ``benchmarks/<name>.py`` with ``run(args) -> dict`` and optionally
``add_arguments(parser)``. The last line printed is one JSON object.
"""
