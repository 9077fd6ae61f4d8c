"""Documents → chunks → index → retrieval.

This package knows nothing about chat: it turns files into chunks with metadata, indexes them in
Qdrant (dense and sparse vectors) and retrieves them for a query.
"""
