"""Oracle: temp tables emulated in temp_emulation_schema, CTAS, FROM DUAL, PL/SQL blocks for IF [NOT] EXISTS."""

from rcdm.sql import transforms as t

NAME = "oracle"
SQLGLOT_DIALECT = "oracle"
TEMP_TABLES = "emulated"
IF_EXISTS = "plsql"
ANALYZE = False
INDEXES = True
TRANSFORMS = (
    t.normalize_date_units,
    t.select_into_to_ctas,
    t.temp_tables_emulated,
    t.drop_before_create_emulated,
    t.convert_to_cast,
    t.yyyymmdd_date_literals,
    t.string_plus_to_concat,
    t.dateadd_oracle,
    t.datediff_oracle,
    t.datefromparts_to_date,
    t.date_parts_extract,
    t.getdate_to_current_date,
    t.cast_date_oracle,
    t.standard_types,
    t.oracle_types,
    t.variance_samp,
    t.left_right_substr,
    t.uuid_oracle,
    t.plain_key_columns,
    t.from_dual,
)
