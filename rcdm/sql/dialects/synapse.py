"""Azure Synapse (dedicated SQL pool): T-SQL with distribution hints; SELECT INTO becomes CTAS WITH (DISTRIBUTION)."""

from rcdm.sql import transforms as t

NAME = "synapse"
SQLGLOT_DIALECT = "tsql"
TEMP_TABLES = "hash"
IF_EXISTS = "object_id"
ANALYZE = False
INDEXES = True
DISTRIBUTION = "synapse"
TRANSFORMS = (t.select_into_to_ctas,)
