"""Providers as data: one package per provider (``cloudact_providers/<slug>/``), one registration each.

Each provider package holds everything specific to its source: its registration (``SPEC`` in its
``__init__.py``), credential models (``credential.py``), connector (``connector.py``), file formats,
declared (``formats.py``), and synthetic generator (``synthetic``); its SQL is under the
repository's ``sql/``. ``registry.py`` lists the providers and is what every service reads;
``spec.py`` says what a registration holds; ``rawselect/`` builds every provider's raw SELECT from
its declared formats; ``connector.py``, ``sqltext.py`` and ``fileerrors.py`` are the seam the
providers' code shares. Reading the registry imports no cloud SDK: a provider's SDK is imported by
its connector alone, on first use. See ``docs/architecture.md``.
"""
