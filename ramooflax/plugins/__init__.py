"""Analyses built on the client API (DESIGN.md §6): boot_trace, ..."""
