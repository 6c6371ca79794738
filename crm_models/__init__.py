"""The shop's data side: CRM store, customer scores, recommendations, feedback.

Everything here runs in the Python 3.11 environment and never imports rasa.
"""
