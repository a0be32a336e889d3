"""The one raw-SELECT builder: each provider declares its export files, one builder makes the SELECT.

A provider's ``formats.py`` declares a ``FileFormat``: the raw table, how its files are read
(``Reading``: containers by file name, CSV delimiter, the wording of a refused file), and how to tell
its layouts apart (``detect``). Each ``Layout`` declares how headers fill raw columns (``routes``:
``Named``, ``Variants``, ``Fold``, ``Paths``), the columns a file must have, the raw columns read
another way than by their type (``values``, e.g. ``JsonMap``), text parsers where ``TRY_CAST`` is
not enough, what is derived (``billing_period`` ...) and the row checks (``Missing`` ...). Its
``build_raw_select`` is then one line: ``rawselect.build_raw_select(FORMAT, con, path, ...)``.

Everything else is shared, here, once: reading the file (CSV, Parquet, newline-delimited JSON,
gzip; a ragged CSV row or mixed line endings never fail a file), typed parsing with a per-row
quarantine reason instead of failing the file, ISO 4217 currency codes (``Currencies``), MAP and
``extra_columns`` folding, lineage, row numbers, the source record of a quarantined row, and errors
that name the source object (never the local path, never DuckDB's SQL excerpts). The SQL is built as
sqlglot expressions (``rawselect.sql``): no value is pasted into SQL text by hand.
"""

from cloudact_providers.rawselect.build import PIPELINE_COLUMNS, build_raw_select, finish, pipeline_columns
from cloudact_providers.rawselect.currency import Currencies
from cloudact_providers.rawselect.model import (
    Derive,
    FileFormat,
    Layout,
    Missing,
    MissingAll,
    RowCheck,
    Within,
    constant,
    month_of,
    utc_month,
    utc_month_of,
)
from cloudact_providers.rawselect.reading import (
    Container,
    Field,
    Reading,
    Source,
    SourceFile,
    lenient_scan_needed,
    optimism_refused,
    read_file,
    scan_leniently,
)
from cloudact_providers.rawselect.routes import (
    NORMALIZED,
    SLASHED,
    Fold,
    Named,
    Paths,
    Route,
    Routed,
    Variants,
    normalize_header,
    slashed_snake,
    snake,
)
from cloudact_providers.rawselect.values import JsonMap, Row, TextParser, ValueRule, parse_decimal

__all__ = [
    "NORMALIZED",
    "PIPELINE_COLUMNS",
    "SLASHED",
    "Container",
    "Currencies",
    "Derive",
    "Field",
    "FileFormat",
    "Fold",
    "JsonMap",
    "Layout",
    "Missing",
    "MissingAll",
    "Named",
    "Paths",
    "Reading",
    "Route",
    "Routed",
    "Row",
    "RowCheck",
    "Source",
    "SourceFile",
    "TextParser",
    "ValueRule",
    "Variants",
    "Within",
    "build_raw_select",
    "constant",
    "finish",
    "lenient_scan_needed",
    "month_of",
    "normalize_header",
    "optimism_refused",
    "parse_decimal",
    "pipeline_columns",
    "read_file",
    "scan_leniently",
    "slashed_snake",
    "snake",
    "utc_month",
    "utc_month_of",
]
