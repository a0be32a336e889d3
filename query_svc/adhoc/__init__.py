"""ExecuteSql: one read-only SQL query over one org's FOCUS table and the seed views over it.

``views`` loads the views defined in ``sql/views``; ``guard`` decides whether a query may run (sqlglot,
then DuckDB's own parser); ``engine`` runs it on a fresh, locked DuckDB connection that holds that
one org's data; ``service`` adds limits, deadlines and the table version.
"""

from query_svc.adhoc.model import SqlColumn, SqlEvent, SqlHeader, SqlLimits, SqlRows, SqlSummary
from query_svc.adhoc.service import SqlService

__all__ = ["SqlColumn", "SqlEvent", "SqlHeader", "SqlLimits", "SqlRows", "SqlService", "SqlSummary"]
