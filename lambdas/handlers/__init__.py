"""Lambda entry points: thin adapters from an AWS event to one domain step.

Each module exposes `lambda_handler`; they share `_runtime` (Powertools objects, settings,
adapters built once per cold start) and `_events` (parser models of the events).
"""
