"""The named test surfaces, each with its complete known set of critical points."""
