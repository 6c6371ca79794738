"""The benchmark: customer models and recommendations next to their baselines.

``python -m crm_models.bench [--quick]`` writes ``reports/bench.md`` and
``reports/bench.json`` (see ``run`` for what is measured).
"""
