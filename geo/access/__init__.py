"""Who may do what, where: users, passwords, tokens, roles, territory, throttles and rate limits."""
