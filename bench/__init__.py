"""Benchmarks of the running system against the raw limits of its components (issue 7).

`python -m bench` runs them against the local system (deploy/local) and writes
bench/results/latest.json.
"""
