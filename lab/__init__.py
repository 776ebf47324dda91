"""Lab shells, not installed with the package: tuning, recording, scale benchmarks."""
