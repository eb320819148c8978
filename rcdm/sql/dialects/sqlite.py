"""SQLite: temp tables as temp.t, dates as ISO 'YYYY-MM-DD' text, no ALTER TABLE ADD CONSTRAINT."""

from rcdm.sql import transforms as t
from rcdm.sql import tsql_functions as f

NAME = "sqlite"
SQLGLOT_DIALECT = "sqlite"
TEMP_TABLES = "sqlite"
IF_EXISTS = "native"
ANALYZE = True
INDEXES = True
TRANSFORMS = (
    t.normalize_date_units,
    t.strip_dbo,
    t.select_into_to_ctas,
    t.temp_tables_sqlite,
    t.truncate_to_delete,
    t.convert_to_cast,
    t.yyyymmdd_date_literals,
    t.string_plus_to_concat,
    t.concat_date_yyyymmdd,
    t.concat_sqlite,
    t.dateadd_sqlite,
    t.datediff_sqlite,
    t.datefromparts_sqlite,
    t.eomonth_sqlite,
    t.date_parts_sqlite,
    t.getdate_to_current_date,
    t.standard_types,
    f.uniqueidentifier_text,
    t.left_right_substr,
    t.uuid_sqlite,
    t.rand_sqlite,
    t.isnumeric_glob,
    t.variance_sqlite,
    t.refuse_md5,
    t.plain_key_columns,
    t.sqlite_index_schema,
    t.drop_alter_constraints,
    t.drop_alter_column,
    t.unnest_set_operands,
    t.values_to_union,
    t.split_alter_add,
)
