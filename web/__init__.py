"""The shop's web front (``python -m web``): the storefront page with its chat
widget, the widget's small API (history, ratings), and the agent console.
"""
