"""Alerting: the up/down state machine per website and alert, maintenance windows,
the connectivity guard, the durable outbox and the channels that deliver it."""
