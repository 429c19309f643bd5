"""Accounts, API keys and the principals they authenticate."""
