"""The outbox: what a change owes Slack and webhooks, queued in its transaction, sent once."""
