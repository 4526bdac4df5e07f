"""Accounts: sign-in and personal API tokens."""
