"""Snowflake: emulated temp tables (session TEMPORARY tables in the emulation schema, as SqlRender), no indexes;
sqlglot handles most functions."""

from rcdm.sql import dates, temp_tables
from rcdm.sql import transforms as t
from rcdm.sql import tsql_functions as f
from rcdm.sql.cte_insert import cte_inside_insert

NAME = "snowflake"
SQLGLOT_DIALECT = "snowflake"
TEMP_TABLES = "emulated"
IF_EXISTS = "native"
ANALYZE = False
INDEXES = False
TRANSFORMS = (
    t.normalize_date_units,
    t.strip_dbo,
    t.plain_key_columns,
    t.select_into_to_ctas,
    t.temp_tables_emulated,
    temp_tables.temporary_emulated_snowflake,
    t.convert_to_cast,
    f.try_cast_snowflake,
    f.string_bytes,
    t.yyyymmdd_date_literals,
    t.string_plus_to_concat,
    dates.yyyymmdd_strings,
    f.concat_strings,
    t.datediff_on_dates,
    f.isnumeric_regex,
    t.getdate_to_current_date,
    t.standard_types,
    f.uniqueidentifier_text,
    t.variance_samp,
    t.drop_indexes,
    cte_inside_insert,
)
