# Connections: DatabaseConnector-style connection details, a file path for DuckDB, or a SQLAlchemy URL.

#' Connection details, as DatabaseConnector names them
#'
#' The same fields as \code{DatabaseConnector::createConnectionDetails}; objects made by DatabaseConnector
#' itself are accepted everywhere too.
#'
#' @param dbms The database platform, as SqlRender spells it: "postgresql", "sql server", "oracle",
#'   "redshift", "bigquery", "snowflake", "spark", "duckdb", "sqlite", "synapse".
#' @param server,user,password,port,extraSettings,connectionString As in DatabaseConnector.
#' @return A list of class \code{ConnectionDetails}.
#' @export
createRcdmConnectionDetails <- function(dbms, server = NULL, user = NULL, password = NULL, port = NULL,
                                        extraSettings = NULL, connectionString = NULL) {
  structure(
    list(dbms = dbms, server = server, user = user, password = password, port = port,
         extraSettings = extraSettings, connectionString = connectionString),
    class = "ConnectionDetails"
  )
}

# DatabaseConnector >= 5 keeps fields as functions (so passwords do not print); call them.
.field <- function(details, name) {
  value <- details[[name]]
  if (is.function(value)) value <- value()
  value
}

#' Connect to a database for rcdm
#'
#' @param connectionDetails Connection details (from \code{createRcdmConnectionDetails} or
#'   DatabaseConnector), or a character string: a DuckDB/SQLite file path or a SQLAlchemy URL.
#' @param tempEmulationSchema Schema for emulated temp tables (Oracle, BigQuery, Snowflake, Spark); defaults
#'   to \code{getOption("sqlRenderTempEmulationSchema")} as in OHDSI packages.
#' @return A Python \code{rcdm.db.Connection}; close it with \code{closeRcdmConnection}.
#' @export
connectRcdm <- function(connectionDetails, tempEmulationSchema = getOption("sqlRenderTempEmulationSchema")) {
  rcdm <- rcdmPython()
  if (is.character(connectionDetails)) {
    return(.rcdmCall(rcdm$connect(connectionDetails, temp_emulation_schema = tempEmulationSchema)))
  }
  if (!is.list(connectionDetails) || is.null(connectionDetails$dbms)) {
    stop("connectionDetails must be connection details (with a dbms) or a database path/URL", call. = FALSE)
  }
  port <- .field(connectionDetails, "port")
  .rcdmCall(rcdm$connect(
    dbms = .field(connectionDetails, "dbms"),
    server = .field(connectionDetails, "server"),
    user = .field(connectionDetails, "user"),
    password = .field(connectionDetails, "password"),
    port = if (is.null(port)) NULL else as.character(port),
    extra_settings = .field(connectionDetails, "extraSettings"),
    connection_string = .field(connectionDetails, "connectionString"),
    temp_emulation_schema = tempEmulationSchema
  ))
}

#' Close an rcdm connection
#' @param connection A connection from \code{connectRcdm}.
#' @export
closeRcdmConnection <- function(connection) {
  invisible(.rcdmCall(connection$close()))
}

# Open a connection for one call and close it afterwards; an open connection passed in is used as is (with
# the temp emulation schema it was opened with).
.withConnection <- function(connectionDetails, fun,
                            tempEmulationSchema = getOption("sqlRenderTempEmulationSchema")) {
  if (inherits(connectionDetails, "python.builtin.object")) {
    return(fun(connectionDetails))
  }
  connection <- connectRcdm(connectionDetails, tempEmulationSchema = tempEmulationSchema)
  on.exit(try(connection$close(), silent = TRUE), add = TRUE)
  fun(connection)
}
