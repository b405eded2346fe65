"""ragsync: keep a RAG backend in step with a Magento 2 store.

The package is importable as Airflow plugin-folder code (Airflow puts ``plugins/``
on ``sys.path``) and as an installed distribution (``pip install .``).
"""

from __future__ import annotations

__version__ = "0.1.0"
USER_AGENT = "Magento-RagSync/1.0"
