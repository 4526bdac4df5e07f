"""REST API of accounts: the user's own API tokens."""
