"""Google BigQuery: emulated temp tables, lower-case names, no indexes or enforced keys, DELETE for TRUNCATE."""

from rcdm.sql import dates
from rcdm.sql import transforms as t
from rcdm.sql import tsql_functions as f
from rcdm.sql.cte_insert import cte_inside_insert

NAME = "bigquery"
SQLGLOT_DIALECT = "bigquery"
TEMP_TABLES = "emulated"
IF_EXISTS = "native"
ANALYZE = False
INDEXES = False
TRANSFORMS = (
    t.normalize_date_units,
    t.date_units_bigquery,
    t.plain_key_columns,
    t.select_into_to_ctas,
    t.temp_tables_emulated,
    t.create_or_replace_emulated,
    t.convert_to_cast,
    t.yyyymmdd_date_literals,
    t.string_plus_to_concat,
    dates.yyyymmdd_strings,
    f.concat_strings,
    t.datediff_on_dates,
    dates.date_operands_bigquery,
    f.isnumeric_regex,
    f.integer_power_bigquery,
    t.getdate_to_current_date,
    t.standard_types,
    t.unsized_strings,
    t.variance_samp,
    t.drop_indexes,
    t.drop_key_constraints,
    t.truncate_to_delete,
    t.lower_identifiers,
    cte_inside_insert,
)
