"""Detectors turn observations into candidates. `detect()` runs them in order; see `pipeline.py`."""
