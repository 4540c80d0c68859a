"""Ticketing sources: the connectors (zendesk, jira, folder) and the core that sweeps and cleans tickets."""
