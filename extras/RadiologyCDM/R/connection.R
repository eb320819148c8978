# Connections: DatabaseConnector-style connection details, a file path for DuckDB, or a SQLAlchemy URL.

#' Connection details, as DatabaseConnector names them
#'
#' The same fields as \code{DatabaseConnector::createConnectionDetails}; objects made by DatabaseConnector
#' itself are accepted everywhere too, and so is a plain string: a DuckDB/SQLite file path or a SQLAlchemy URL.
#'
#' @param dbms The database platform, as SqlRender spells it: "postgresql", "sql server", "oracle",
#'   "redshift", "bigquery", "snowflake", "spark", "duckdb", "sqlite", "synapse".
#' @param server,user,password,port,extraSettings,connectionString As in DatabaseConnector.
#' @return A list of class \code{ConnectionDetails}.
#' @examples
#' details <- createRcdmConnectionDetails(dbms = "postgresql", server = "localhost/ohdsi", user = "me",
#'                                        password = Sys.getenv("PGPASSWORD"), port = 5432)
#' details$dbms
#' @export
createRcdmConnectionDetails <- function(dbms, server = NULL, user = NULL, password = NULL, port = NULL,
                                        extraSettings = NULL, connectionString = NULL) {
  .checkText(dbms = dbms)
  .checkText(server = server, user = user, extraSettings = extraSettings, connectionString = connectionString,
             .null = c("server", "user", "extraSettings", "connectionString"))
  if (!is.null(password) && (!is.character(password) || length(password) != 1 || is.na(password))) {
    .usageError("`password` must be a single string or NULL")
  }
  if (!is.null(port) && !(length(port) == 1 && !is.na(port) && (is.numeric(port) || is.character(port)))) {
    .usageError(sprintf("`port` must be a single number or NULL, not %s", .describe(port)))
  }
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
#' Most functions take connection details and open and close a connection themselves; an open connection is
#' needed for temp tables and saves reconnecting in a loop. Close it with \code{closeRcdmConnection} (e.g. in
#' \code{on.exit}).
#'
#' @param connectionDetails Connection details (from \code{createRcdmConnectionDetails} or
#'   DatabaseConnector), or a character string: a DuckDB/SQLite file path or a SQLAlchemy URL.
#' @param tempEmulationSchema Schema for emulated temp tables (Oracle, BigQuery, Snowflake, Spark); defaults
#'   to \code{getOption("sqlRenderTempEmulationSchema")} as in OHDSI packages.
#' @param readOnly Open the database so that it refuses writes: a DuckDB file is opened read-only, so other
#'   processes (another R session, the viewer) can read it at the same time; SQLite and PostgreSQL sessions
#'   refuse writes. The read-only functions (\code{queryRcdmSql}, \code{getCohortImages},
#'   \code{getRcdmQualityReport}, ...) open their own connections this way.
#' @return A Python \code{rcdm.db.Connection}.
#' @examplesIf rcdmAvailable()
#' database <- tempfile(fileext = ".duckdb")
#' connection <- connectRcdm(database)
#' queryRcdmSql(connection, "SELECT 1 AS one;")
#' closeRcdmConnection(connection)
#' @export
connectRcdm <- function(connectionDetails, tempEmulationSchema = getOption("sqlRenderTempEmulationSchema"),
                        readOnly = FALSE) {
  .checkText(tempEmulationSchema = tempEmulationSchema, .null = "tempEmulationSchema")
  .checkFlags(readOnly = readOnly)
  connect <- rcdmPython(convert = FALSE)$connect
  if (is.character(connectionDetails)) {
    .checkText(connectionDetails = connectionDetails)
    return(.pyCall(connect, path.expand(connectionDetails), temp_emulation_schema = tempEmulationSchema,
                   read_only = readOnly, .convert = FALSE))
  }
  if (!is.list(connectionDetails) || is.null(connectionDetails$dbms)) {
    .usageError("connectionDetails must be connection details (with a dbms) or a database path/URL")
  }
  port <- .field(connectionDetails, "port")
  .pyCall(connect,
    dbms = .field(connectionDetails, "dbms"),
    server = .field(connectionDetails, "server"),
    user = .field(connectionDetails, "user"),
    password = .field(connectionDetails, "password"),
    port = if (is.null(port)) NULL else as.character(port),
    extra_settings = .field(connectionDetails, "extraSettings"),
    connection_string = .field(connectionDetails, "connectionString"),
    temp_emulation_schema = tempEmulationSchema,
    read_only = readOnly,
    .convert = FALSE
  )
}

#' Close an rcdm connection
#' @param connection A connection from \code{connectRcdm}.
#' @return \code{NULL}, invisibly.
#' @examplesIf rcdmAvailable()
#' connection <- connectRcdm(tempfile(fileext = ".duckdb"))
#' closeRcdmConnection(connection)
#' @export
closeRcdmConnection <- function(connection) {
  if (!inherits(connection, "python.builtin.object")) {
    .usageError("`connection` must be a connection from connectRcdm()")
  }
  .pyCall(connection$close, .convert = FALSE)
  invisible(NULL)
}

# Open a connection for one call (read-only if the call only reads) and close it on exit, also after an
# error or an interrupt; an open connection passed in is used as is.
.withConnection <- function(connectionDetails, fun,
                            tempEmulationSchema = getOption("sqlRenderTempEmulationSchema"), readOnly = FALSE) {
  if (inherits(connectionDetails, "python.builtin.object")) {
    return(fun(connectionDetails))
  }
  connection <- tryCatch(
    connectRcdm(connectionDetails, tempEmulationSchema = tempEmulationSchema, readOnly = readOnly),
    rcdm_DatabaseError = function(e) {
      # DuckDB cannot open a file read-only in a process that has it open read-write (e.g. a connection from
      # connectRcdm() still open): read through a read-write connection then, as before
      if (!readOnly || !grepl("file handle conflict", conditionMessage(e), fixed = TRUE)) stop(e)
      connectRcdm(connectionDetails, tempEmulationSchema = tempEmulationSchema)
    })
  on.exit(try(connection$close(), silent = TRUE), add = TRUE)
  fun(connection)
}
