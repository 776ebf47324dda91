"""The index: the Chroma collection (one module talks to Chroma), catalog, BM25, writer."""
