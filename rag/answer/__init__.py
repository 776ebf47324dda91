"""Answering: evidence, the extractive and LLM backends, the claim check, comparison."""
