"""Feedback from live conversations: event consumer, outcomes, masking, reports."""
