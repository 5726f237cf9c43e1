"""Evaluation drivers: ``math`` (sample, extract, verify) and ``agent`` (multi-turn episodes)."""
