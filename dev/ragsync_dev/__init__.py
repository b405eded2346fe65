"""Development tools of ragsync: the demo shop generator, the reference receiver, the demo runners.

Not part of the runtime wheel: `pip install ./dev` (the bootstrap installs it into `.venv`).
"""
