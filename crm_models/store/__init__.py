"""The CRM store: schema, engine and sessions, repositories, seed."""
