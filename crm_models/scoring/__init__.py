"""Customer scores: features as of a date, propensity and risk models, segments.

``train`` backtests, builds and promotes versioned, calibrated models and the
k-means segments; ``scorer.get_scorer()`` serves them from an in-memory feature
cache.
"""
