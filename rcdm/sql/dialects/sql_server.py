"""SQL Server: OHDSI SQL is its own dialect, so statements are only checked and re-emitted."""

NAME = "sql server"
SQLGLOT_DIALECT = "tsql"
TEMP_TABLES = "hash"
IF_EXISTS = "object_id"
ANALYZE = False
INDEXES = True
TRANSFORMS = ()
