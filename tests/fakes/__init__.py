"""Fake ticketing peers: real HTTP servers on 127.0.0.1 that keep state, for tests and benchmarks."""
