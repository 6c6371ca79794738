"""Hand-off to people: staffed hours, ticket priority, agents, the console's store work.

Modules:
    hours       when people answer in the chat (the policy file's ``contact.staffed``)
    priority    a ticket's priority from the customer's scores and the wait
    agents      agent accounts with salted scrypt password hashes
    tickets     the queue, claims, replies, notes and closing, logged as agent events
    feedback    thumbs and end ratings from the widget
    context     everything the console shows next to a conversation
    next_step   the suggested next step for the agent
"""
