"""Sanitized copies: the same format back, every occurrence of every finding's value replaced by its marker."""
