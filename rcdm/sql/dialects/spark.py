"""Spark (Databricks): emulated temp tables, no indexes or key constraints."""

from rcdm.sql import dates
from rcdm.sql import transforms as t
from rcdm.sql import tsql_functions as f

NAME = "spark"
SQLGLOT_DIALECT = "spark"
TEMP_TABLES = "emulated"
IF_EXISTS = "native"
ANALYZE = False
INDEXES = False
TRANSFORMS = (
    t.normalize_date_units,
    t.strip_dbo,
    t.plain_key_columns,
    t.select_into_to_ctas,
    t.split_alter_add,
    t.temp_tables_emulated,
    t.drop_before_create_emulated,
    t.convert_to_cast,
    t.yyyymmdd_date_literals,
    t.date_units_spark,  # after the literals: its DATE_TRUNC would hide a 'YYYYMMDD' operand from them
    t.string_plus_to_concat,
    dates.yyyymmdd_strings,
    f.concat_strings,
    t.datediff_on_dates,
    f.isnumeric_regex,
    t.getdate_to_current_date,
    t.standard_types,
    t.variance_samp,
    t.drop_indexes,
    t.drop_key_constraints,
    t.delete_all_to_truncate,
)
