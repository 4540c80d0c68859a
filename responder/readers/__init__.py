"""Readers turn an artifact into Observations. They judge nothing and never touch the network."""
