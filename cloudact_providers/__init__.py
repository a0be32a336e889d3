"""Providers as data: one package per provider (``cloudact_providers/<slug>/``), one registration each.

Each provider package holds what every service may know about it without importing its cloud SDK:
today its credential models (``credential.py``); ``registry.py`` lists the providers. Connectors,
file parsers and the rest move next to them in a later step.
"""
