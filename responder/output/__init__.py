"""Renderings of scan reports: a table for people, JSON and SARIF for machines. Never a secret value."""
