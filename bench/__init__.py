"""vcbox benchmark runner (`python -m bench`, `make bench`): prints figures, not a test suite.

Each figure is a module of this package with NAME, TITLE and run(options) -> Result,
registered in bench.__main__.FIGURES. Shared pieces (a real server subprocess, an admin
session, wrk and its output) live in bench.harness.
"""
