"""Datasets: the registry of pinned sources (``sources.json``), download (``fetch``) and checks."""
