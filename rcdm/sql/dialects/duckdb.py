"""DuckDB: real TEMP tables, PostgreSQL-like date arithmetic with TO_DAYS / TO_MONTHS."""

from rcdm.sql import transforms as t
from rcdm.sql import tsql_functions as f

NAME = "duckdb"
SQLGLOT_DIALECT = "duckdb"
TEMP_TABLES = "native"
IF_EXISTS = "native"
ANALYZE = True
INDEXES = True
TRANSFORMS = (
    t.normalize_date_units,
    t.strip_dbo,
    t.select_into_to_ctas,
    t.temp_tables_native,
    t.convert_to_cast,
    t.yyyymmdd_date_literals,
    t.string_plus_to_concat,
    t.concat_date_yyyymmdd,
    t.dateadd_duckdb,
    t.datediff_duckdb,
    t.getdate_to_current_date,
    t.standard_types,
    t.unsized_strings,
    t.variance_samp,
    f.isnumeric_regex,
    t.plain_key_columns,
    t.drop_alter_constraints,
)
