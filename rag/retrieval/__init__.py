"""Finding papers: hybrid (dense + BM25) retrieval, also as a llama-index retriever."""
