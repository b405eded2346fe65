"""ragsync.documents: pure functions that turn Magento values into clean, hashed documents.

- :mod:`~ragsync.documents.model`: the Document, its canonical JSON and hash, Problem, ReadBatch;
- :mod:`~ragsync.documents.directives`: ``{{store}}``, ``{{media}}``, ``{{block}}``... rendering;
- :mod:`~ragsync.documents.markdown`: Magento and Page Builder HTML to Markdown;
- :mod:`~ragsync.documents.cms_types`: CMS page document types;
- :mod:`~ragsync.documents.text`: strict UTF-8, size limit, prices;
- :mod:`~ragsync.documents.render`: the Markdown ``content`` of each document type;
- :mod:`~ragsync.documents.prices`: prices converted to a display currency and written for a locale;
- :mod:`~ragsync.documents.words`: the words ragsync adds to ``content``, per language.

Only the model is re-exported here, so that importing the package does not load the HTML
converter's native extension for callers that only need documents (queue, delivery, receiver).
"""

from ragsync.documents.model import Document, Problem, ReadBatch

__all__ = ["Document", "Problem", "ReadBatch"]
