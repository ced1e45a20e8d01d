"""Reliability suites: closed loops under injected faults, a bad-input corpus, secret hygiene.

- :mod:`tests.reliability.faults`: the fault plans and the client-side AWS fault injector.
- :mod:`tests.reliability.loops`: the EMR and Databricks closed-loop drivers (core functions only).
- :mod:`tests.reliability.suite`: runs the plans, counts outcomes, renders the figures table.
- ``python -m tests.reliability [--loops N] [--write-docs]``: the full run (``make reliability``).
- :mod:`tests.reliability.secret_scan`: the pytest plugin that fails a session leaking a known secret.
"""
