"""Azure Synapse Analytics: SQL Server's driver and URLs (pyodbc), its own translation target. A
``mssql+pyodbc`` URL means SQL Server unless ``dbms="synapse"`` says otherwise."""

from __future__ import annotations

import dataclasses

from rcdm.db.backends.sql_server import BACKEND as SQL_SERVER
from rcdm.sql.dialects import synapse as target

BACKEND = dataclasses.replace(SQL_SERVER, dialect=target.NAME, label="Azure Synapse", url_schemes=(),
                              jdbc_schemes=())
