"""The agent console: login, the ticket queue, one conversation with the customer's
profile, replies delivered to the widget, private notes, claim/release and close.

``python -m web.console.agents add NAME`` creates an agent.
"""
