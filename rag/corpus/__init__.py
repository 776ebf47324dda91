"""Corpus files in: one loader per layout turns files into `Paper` records; the chunker."""
