"""Shared plumbing every stage may use: errors, console output, tables, TOML files.

Imports nothing else of hub_core (the bottom layer). Never imports torch.
"""
