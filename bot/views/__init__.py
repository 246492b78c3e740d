"""Block Kit views: pure functions from domain objects (and ``now``) to Slack payloads."""
