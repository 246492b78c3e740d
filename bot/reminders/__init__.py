"""Reminders: the notices each lead owes (the plan) and the sweep that sends them once."""
