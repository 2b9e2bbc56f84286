"""Public pages of provenance: the trace pages (``views``), the provenance page of a document
(``/d/<ID>``) and the parallel reading of a translation (``/d/<ID>/parallel/<ID>``) in
``document_views``. They import ``archive`` (citations, URL display); ``archive`` never imports them."""
