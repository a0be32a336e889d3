"""The one package every CloudAct service shares: stubs, server bootstrap, errors, settings, storage."""
