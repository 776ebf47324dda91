"""Performance benchmarks for paperchat: `python -m lab.bench [--sizes seed,10k,100k] [--out DIR]`.

Every figure is measured beside its reference in the same run (ingest vs the raw
SentenceTransformer.encode floor, `paperchat ask` cold start vs the torch import floor,
filtered vs unfiltered search). Heavy steps run in subprocesses (`lab.bench.worker`) so
each one reports its own peak RSS (VmHWM) and cold-load time.

Synthetic collections (10k, 100k, ...) recombine seed sentences; their chunk vectors are the
L2-normalised mean of the real MiniLM vectors of their sentences (see `lab.bench.synth`).
"""

from __future__ import annotations

APPROXIMATION = (
    "Synthetic abstracts recombine whole seed-corpus sentences (fixed-seed RNG; titles "
    "recombined from seed title heads and tails; authors drawn from the seed author pool; "
    "years 2015-2025). Each distinct seed sentence is embedded once with the real model; a "
    "synthetic chunk's vector is the L2-normalised mean of its sentences' vectors (the title "
    "is not embedded), not a real MiniLM embedding of the chunk text. Retrieval cost and memory "
    "are representative; synthetic relevance scores are not."
)
