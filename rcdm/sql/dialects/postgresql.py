"""PostgreSQL: real TEMP tables, date arithmetic that keeps DATEs as DATEs."""

from rcdm.sql import transforms as t
from rcdm.sql import tsql_functions as f

NAME = "postgresql"
SQLGLOT_DIALECT = "postgres"
TEMP_TABLES = "native"
IF_EXISTS = "native"
ANALYZE = True
INDEXES = True
TRANSFORMS = (
    t.normalize_date_units,
    t.strip_dbo,
    t.select_into_to_ctas,
    t.temp_tables_native,
    t.analyze_temp_ctas,
    t.convert_to_cast,
    t.yyyymmdd_date_literals,
    t.string_plus_to_concat,
    t.dateadd_postgres,
    t.datediff_postgres,
    t.datefromparts_make_date,
    t.getdate_to_current_date,
    t.standard_types,
    t.variance_samp,
    f.isnumeric_regex,
    t.log_numeric,
    t.plain_key_columns,
    t.use_search_path,
    t.quote_reserved_postgres,
)
