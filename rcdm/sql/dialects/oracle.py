"""Oracle: temp tables emulated in temp_emulation_schema, CTAS, FROM DUAL, PL/SQL blocks for IF [NOT] EXISTS."""

from rcdm.sql import dates
from rcdm.sql import transforms as t
from rcdm.sql import tsql_functions as f
from rcdm.sql.cte_insert import cte_inside_insert

NAME = "oracle"
SQLGLOT_DIALECT = "oracle"
TEMP_TABLES = "emulated"
IF_EXISTS = "plsql"
ANALYZE = False
INDEXES = True
TRANSFORMS = (
    t.normalize_date_units,
    t.strip_dbo,
    t.select_into_to_ctas,
    t.split_alter_add,
    t.temp_tables_emulated,
    t.drop_before_create_emulated,
    t.convert_to_cast,
    f.string_bytes,
    t.yyyymmdd_date_literals,
    t.string_plus_to_concat,
    dates.yyyymmdd_strings,
    f.concat_strings,
    t.dateadd_oracle,
    t.datediff_oracle,
    t.datefromparts_to_date,
    t.date_parts_extract,
    dates.eomonth_oracle,
    f.md5_oracle,
    f.isnumeric_regex,
    t.getdate_to_sysdate,
    t.cast_date_oracle,
    t.standard_types,
    t.oracle_types,
    f.uniqueidentifier_text,
    t.variance_samp,
    t.left_right_substr,
    t.uuid_oracle,
    t.plain_key_columns,
    f.try_cast_oracle,
    f.use_schema_oracle,
    t.values_to_union,
    t.from_dual,
    cte_inside_insert,
)
