"""Offline learning jobs: retraining (and, with #4, evaluation and the quality gate)."""
