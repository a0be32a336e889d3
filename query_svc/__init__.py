"""query_svc: answers cost questions from an organisation's FOCUS 1.3 table (Polars + cache)."""

from query_svc.model import AnswerSource, CostQuery, CostResult, CostRow, DimensionFilter, Grain, Metric
from query_svc.service import QueryService

__all__ = ["AnswerSource", "CostQuery", "CostResult", "CostRow", "DimensionFilter", "Grain", "Metric", "QueryService"]
