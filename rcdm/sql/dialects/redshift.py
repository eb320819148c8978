"""Amazon Redshift: PostgreSQL-like; temp tables are native, no indexes, DISTKEY from --HINT DISTRIBUTE_ON_KEY."""

from rcdm.sql import redshift_tables as r
from rcdm.sql import transforms as t
from rcdm.sql import tsql_functions as f
from rcdm.sql.cte_insert import cte_inside_insert

NAME = "redshift"
SQLGLOT_DIALECT = "redshift"
TEMP_TABLES = "native"
IF_EXISTS = "native"
ANALYZE = True
INDEXES = False
DISTRIBUTION = "distkey"
TRANSFORMS = (
    t.normalize_date_units,
    t.strip_dbo,
    t.window_frames_redshift,
    t.plain_key_columns,
    t.select_into_to_ctas,
    t.split_alter_add,
    t.temp_tables_native,
    t.convert_to_cast,
    t.yyyymmdd_date_literals,
    t.string_plus_to_concat,
    t.datediff_on_dates,
    f.isnumeric_regex,
    t.datefromparts_redshift,
    t.getdate_to_current_date,
    t.standard_types,
    f.uniqueidentifier_text,
    t.variance_samp,
    t.logarithms_double_redshift,
    t.drop_indexes,
    t.distribute_on_key,
    r.distribution_redshift,
    t.use_search_path,
    r.quote_reserved_redshift,
    cte_inside_insert,
)
