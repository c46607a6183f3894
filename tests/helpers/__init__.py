"""Helpers shared by the test modules (no tests here).

``tests/`` is on ``sys.path`` when pytest runs (conftest import mode ``prepend``), so a test
imports these as ``from helpers.world import World``; no test module imports another test module.

- ``helpers.world``: a synthetic news world written straight into the database (trends, alerts, digest).
- ``helpers.alerts_history``: the 45-day history with injected events that the alerts and digest tests read.
- ``helpers.jobs``: job functions and config files for the scheduler tests.
- ``helpers.models``: the out-of-the-box classifier, fitted once per session, and installing it.
- ``helpers.polling``: waiting, with a deadline, for what another process or thread does.
- ``helpers.shared_data``: paths under ../shared/data, or a skip where it is absent.
"""
