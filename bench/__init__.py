"""Benchmarks of the platform, each figure a ratio against a baseline measured in the same run.

Run them with ``make bench`` or ``python -m bench [NAME ...]``; results go to the terminal and
into ``docs/BENCHMARKS.md``. See ``python -m bench --help`` for the list.
"""
