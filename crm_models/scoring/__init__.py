"""Customer scores: features as of a date, propensity and risk models, segments.

``train`` builds and promotes versioned models; ``scorer.get_scorer()`` serves them.
"""
