"""Azure Synapse (dedicated SQL pool): T-SQL with distribution hints; SELECT INTO becomes CTAS WITH (DISTRIBUTION).

Dedicated pools enforce no keys and refuse FOREIGN KEY and enforced PRIMARY KEY constraints, so both are dropped.
"""

from rcdm.sql import transforms as t

NAME = "synapse"
SQLGLOT_DIALECT = "tsql"
TEMP_TABLES = "hash"
IF_EXISTS = "object_id"
ANALYZE = False
INDEXES = True
DISTRIBUTION = "synapse"
TRANSFORMS = (t.select_into_to_ctas, t.drop_key_constraints)
