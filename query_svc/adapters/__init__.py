"""Outside systems only query_svc uses: the in-memory result cache."""

from query_svc.adapters.cache import ResultCache, TTLResultCache

__all__ = ["ResultCache", "TTLResultCache"]
