"""Custom actions of the shop assistant, served by rasa-sdk.

One module per action family; services (store sessions, scorer, recommender, policy
file) are built lazily by :mod:`actions.services`. Nothing here connects to anything
at import time.
"""
