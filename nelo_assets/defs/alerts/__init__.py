"""Alerts to a Slack-compatible webhook, all sent through one notifier (notifier.py): failed runs
through Dagster's run-failure sensor (runs.py), and ours where Dagster has no equivalent: check
failures (checks.py) and pipeline health (health.py)."""
