"""Shared helpers, one of each job.

Validators, the rng resolver, the formatter, atomic I/O, figure reuse. Nothing here knows
about accounts or scenarios.
"""
