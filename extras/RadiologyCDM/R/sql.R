# DatabaseConnector's three verbs over rcdm.db: executeSql, querySql and insertTable, under rcdm names.
#
# SQL is OHDSI SQL (SQL Server syntax with SqlRender's @parameters), rendered and translated to the
# connection's dialect by rcdm.db, as DatabaseConnector's renderTranslateExecuteSql / renderTranslateQuerySql
# do. Data frames go to Python without any NA in them: reticulate 1.28 turns NA into TRUE (logical) and
# -2147483648 (integer) before Python sees it, so each column crosses as its values with NA replaced by a
# placeholder plus a mask of where the NAs were (rcdm.interop.table_from_r turns masked values into NULL).

#' Run OHDSI SQL
#'
#' Renders the SQL with SqlRender's \code{@parameters}, translates it to the database's dialect and runs
#' every statement, committing each one as it runs (like DatabaseConnector's \code{renderTranslateExecuteSql};
#' the statements before a failing one stay committed).
#'
#' @param connectionDetails Connection details, a DuckDB/SQLite path or URL, or an open connection from
#'   \code{connectRcdm} (needed for temp tables to outlive the call).
#' @param sql OHDSI SQL: one or more statements separated by \code{;}, in SQL Server syntax.
#' @param ... Render parameters, by name, as for \code{SqlRender::render} (e.g. \code{cdm = "cdm"} for
#'   \code{@cdm}); vectors are joined with commas. A value holding NA is an error. A parameter the SQL never
#'   mentions gives the same warning as SqlRender. R matches a name that abbreviates \code{sql} or
#'   \code{connectionDetails} (\code{s}, \code{c}) to that argument, so avoid such parameter names.
#' @param bind A named list of single values for \code{:name} placeholders, bound by the driver and never
#'   spliced into the SQL (e.g. \code{bind = list(pid = 1)} for \code{WHERE person_id = :pid}). Numbers,
#'   strings, logicals, Dates and POSIXct (stored as UTC) are accepted; NA is an error.
#' @param progressBar Show a progress bar over the statements.
#' @param tempEmulationSchema Schema for emulated temp tables (Oracle, BigQuery, Snowflake, Spark), used when
#'   the connection is opened here; an open connection keeps the one it was opened with.
#' @return \code{NULL}, invisibly. A failing statement is an R error of class \code{rcdm_DatabaseError}
#'   naming the statement.
#' @examplesIf rcdmAvailable()
#' database <- tempfile(fileext = ".duckdb")
#' executeRcdmSql(database, "CREATE TABLE @schema.t (x INT); INSERT INTO @schema.t VALUES (1), (2);",
#'                schema = "main")
#' queryRcdmSql(database, "SELECT TOP 1 x FROM main.t ORDER BY x DESC;")
#' @export
executeRcdmSql <- function(connectionDetails, sql, ..., bind = NULL, progressBar = FALSE,
                           tempEmulationSchema = getOption("sqlRenderTempEmulationSchema")) {
  .checkSql(sql)
  .checkFlags(progressBar = progressBar)
  parameters <- .renderParameters(...)
  bind <- .bindValues(bind)
  .withConnection(connectionDetails, function(connection) {
    .pyCall(rcdmPython(convert = FALSE)$execute_sql, connection, sql, parameters = parameters,
            progress = progressBar, bind = bind, .convert = FALSE)
  }, tempEmulationSchema = tempEmulationSchema)
  invisible(NULL)
}

#' Run one OHDSI SQL query and return its rows
#'
#' Renders and translates the query like \code{executeRcdmSql}, runs it and returns a data.frame, like
#' DatabaseConnector's \code{renderTranslateQuerySql}.
#'
#' @inheritParams executeRcdmSql
#' @param sql One OHDSI SQL statement (a trailing \code{;} is fine); a script is an error.
#' @param snakeCaseToCamelCase Give the columns camelCase names (\code{person_id} becomes \code{personId}).
#' @return A data.frame. Column names are lower case on every database (DatabaseConnector's \code{querySql}
#'   gives upper case). Values are plain R vectors, as from the other wrappers: numbers are numeric (double),
#'   the keyed-hash ids (\code{radiology_occurrence_id}, \code{radiology_series_id},
#'   \code{radiology_image_id}) and any other \code{*_id} beyond 2^53 are character (exact), \code{*_date}
#'   columns are \code{Date}, other date-times POSIXct in UTC, text is character; missing values are NA.
#'   A DuckDB/SQLite file that does not exist is an error (it is not created).
#' @examplesIf rcdmAvailable()
#' database <- tempfile(fileext = ".duckdb")
#' createRcdmTables(database, "cdm")
#' queryRcdmSql(database, "SELECT modality, COUNT(*) AS n FROM @cdm.radiology_occurrence GROUP BY modality;",
#'              cdm = "cdm")
#' queryRcdmSql(database, "SELECT COUNT(*) AS n FROM cdm.radiology_occurrence WHERE person_id = :pid;",
#'              bind = list(pid = 1001), snakeCaseToCamelCase = TRUE)
#' @export
queryRcdmSql <- function(connectionDetails, sql, ..., bind = NULL, snakeCaseToCamelCase = FALSE,
                         tempEmulationSchema = getOption("sqlRenderTempEmulationSchema")) {
  .checkSql(sql)
  .checkFlags(snakeCaseToCamelCase = snakeCaseToCamelCase)
  parameters <- .renderParameters(...)
  bind <- .bindValues(bind)
  .requireExistingDatabase(connectionDetails)
  result <- .withConnection(connectionDetails, function(connection) {
    .frameForR(.pyCall(rcdmPython(convert = FALSE)$query_sql, connection, sql, parameters = parameters,
                       bind = bind, .convert = FALSE))
  }, tempEmulationSchema = tempEmulationSchema, readOnly = TRUE)
  if (snakeCaseToCamelCase) names(result) <- .snakeCaseToCamelCase(names(result))
  result
}

#' Insert a data.frame into a database table
#'
#' The arguments and their meaning follow DatabaseConnector's \code{insertTable}: by default the table is
#' dropped if it exists and created from the data's column types; \code{dropTableIfExists = FALSE,
#' createTable = FALSE} appends to an existing table (columns are matched by name). rcdm always uses the
#' database's bulk path (DuckDB's Arrow scan, PostgreSQL's COPY, ...), so DatabaseConnector's
#' \code{bulkLoad} and \code{useMppBulkLoad} have no counterpart.
#'
#' Every \code{NA} is stored as \code{NULL}, whatever the column type. Created columns get these types
#' (OHDSI SQL, translated to the dialect): integer \code{INT}; numeric (double) \code{FLOAT}; logical
#' \code{INT} holding 1/0, as DatabaseConnector stores it; character and factor \code{VARCHAR} (their text,
#' not the factor codes); Date \code{DATE}; POSIXct/POSIXlt \code{DATETIME}, the instant in UTC;
#' \code{bit64::integer64} \code{BIGINT}. 64-bit ids that R holds as character, as \code{queryRcdmSql} and
#' \code{getCohortImages} return them (the keyed-hash \code{radiology_*_id} columns, or any \code{*_id}
#' column of whole numbers with a value beyond 2^53), are stored as the \code{BIGINT}s they are.
#' List, complex, raw, matrix and difftime columns are refused with an error of class
#' \code{rcdm_ColumnTypeError}.
#'
#' @inheritParams executeRcdmSql
#' @param tableName The table. \code{"schema.table"} is read as \code{databaseSchema = "schema"}; a name
#'   starting with \code{#} means \code{tempTable = TRUE}, as in DatabaseConnector.
#' @param data A data.frame (or tibble) with at least one column; names are the column names (letters,
#'   digits and underscores).
#' @param databaseSchema The schema of the table (required unless \code{tempTable = TRUE}); created if
#'   missing when the table is created.
#' @param createTable Create the table from the data's column types? If \code{FALSE}, append to the existing
#'   table.
#' @param dropTableIfExists Drop the table first if it exists? As in DatabaseConnector, \code{TRUE} implies
#'   \code{createTable = TRUE} (a warning says so when \code{createTable = FALSE} was given).
#' @param tempTable Create a temp table (\code{#tableName} in OHDSI SQL). It lives as long as the connection,
#'   so \code{connectionDetails} must then be an open connection from \code{connectRcdm}.
#' @param progressBar Show a progress bar (backends that load in batches).
#' @param camelCaseToSnakeCase Convert the column names from camelCase to snake_case first.
#' @return The number of rows inserted, invisibly.
#' @examplesIf rcdmAvailable()
#' database <- tempfile(fileext = ".duckdb")
#' cohort <- data.frame(cohort_definition_id = 1L, subject_id = c(1, 2),
#'                      cohort_start_date = as.Date("2020-01-01"), cohort_end_date = as.Date(NA))
#' insertRcdmTable(database, "cohort", cohort, databaseSchema = "results")
#' queryRcdmSql(database, "SELECT * FROM results.cohort;")
#' @export
insertRcdmTable <- function(connectionDetails, tableName, data, databaseSchema = NULL, createTable = TRUE,
                            dropTableIfExists = TRUE, tempTable = FALSE, progressBar = FALSE,
                            camelCaseToSnakeCase = FALSE,
                            tempEmulationSchema = getOption("sqlRenderTempEmulationSchema")) {
  .checkFlags(createTable = createTable, dropTableIfExists = dropTableIfExists, tempTable = tempTable,
              progressBar = progressBar, camelCaseToSnakeCase = camelCaseToSnakeCase)
  .checkText(tableName = tableName)
  if (!is.null(databaseSchema)) .checkText(databaseSchema = databaseSchema)
  if (startsWith(tableName, "#")) {
    tableName <- substring(tableName, 2)
    tempTable <- TRUE
  }
  if (is.null(databaseSchema) && !tempTable && grepl(".", tableName, fixed = TRUE)) {
    databaseSchema <- sub("\\.[^.]*$", "", tableName)
    tableName <- sub("^.*\\.", "", tableName)
  }
  if (tempTable && !is.null(databaseSchema)) {
    .usageError("A temp table has no schema: give databaseSchema = NULL with tempTable = TRUE")
  }
  if (!tempTable && is.null(databaseSchema)) {
    .usageError(paste0("insertRcdmTable needs databaseSchema (or tableName = \"schema.table\") unless ",
                       "tempTable = TRUE"))
  }
  if (tempTable && !inherits(connectionDetails, "python.builtin.object")) {
    .usageError(paste0("tempTable = TRUE needs an open connection from connectRcdm(): a temp table is dropped ",
                       "when its connection closes, and insertRcdmTable closes the connections it opens"))
  }
  if (dropTableIfExists && !createTable) {
    warning(paste0("dropTableIfExists = TRUE drops and re-creates the table although createTable = FALSE ",
                   "(as DatabaseConnector does); set dropTableIfExists = FALSE to append"), call. = FALSE)
  }
  rcdmPython()  # a clear error when rcdm is missing, before the data is converted
  arrow <- .arrowFromFrame(data, camelCaseToSnakeCase)
  rows <- .withConnection(connectionDetails, function(connection) {
    if ((createTable || dropTableIfExists) && !tempTable) {
      .pyCall(.rcdmModule("rcdm.db")$create_schema, connection, databaseSchema)
    }
    .pyCall(rcdmPython(convert = FALSE)$insert_table, connection, databaseSchema, tableName, arrow,
            create_table = createTable, drop_table_if_exists = dropTableIfExists,
            temp_table = tempTable, progress = progressBar)
  }, tempEmulationSchema = tempEmulationSchema)
  invisible(rows)
}

# --- data.frame -> Arrow table, NA-safe ------------------------------------------------------------------

# A pyarrow Table (a Python object) holding the data.frame's columns, every NA a NULL.
.arrowFromFrame <- function(data, camelCaseToSnakeCase = FALSE) {
  if (!is.data.frame(data)) {
    .usageError(sprintf("`data` must be a data.frame, not %s", paste(class(data), collapse = "/")))
  }
  columns <- names(data)
  if (length(columns) == 0) .usageError("`data` must have at least one column")
  if (camelCaseToSnakeCase) columns <- .camelCaseToSnakeCase(columns)
  if (anyNA(columns) || any(!nzchar(columns))) .usageError("Every column of `data` needs a name")
  twice <- unique(columns[duplicated(tolower(columns))])
  if (length(twice) > 0) {
    .usageError(sprintf("Column names must be unique (ignoring case): %s", paste(twice, collapse = ", ")))
  }
  parts <- lapply(seq_along(columns), function(i) .columnForPython(data[[i]], columns[i], nrow(data)))
  interop <- reticulate::import("rcdm.interop", convert = FALSE)
  .rcdmCall(interop$table_from_r(as.list(columns), lapply(parts, `[[`, "kind"),
                                 lapply(parts, `[[`, "values"), lapply(parts, `[[`, "missing")))
}

# One column as list(kind, values, missing): the values with NA replaced by a placeholder (packed by
# .packForPython), and a byte mask (1 = NA) saying where the NAs were.
.columnForPython <- function(x, name, rows) {
  unsupported <- function(what, hint = "") {
    .columnTypeError(sprintf("Column `%s` is %s, which insertRcdmTable cannot store%s", name, what, hint))
  }
  if (!is.null(dim(x))) unsupported("a matrix or data.frame column", ": give it as separate columns")
  if (is.list(x)) unsupported("a list column", ": make it an atomic vector (e.g. one value per row) first")
  if (!is.atomic(x) || is.null(x)) unsupported(sprintf("of class %s", paste(class(x), collapse = "/")))
  if (length(x) != rows) unsupported(sprintf("of length %d in a data.frame of %d rows", length(x), rows))
  if (inherits(x, "integer64")) {  # bit64: 8-byte integers in a double's bits, NA as INT64_MIN
    return(list(kind = "integer64", values = writeBin(unclass(x), raw()), missing = NULL))
  }
  if (inherits(x, "difftime")) {
    unsupported("a difftime", ": convert it with as.numeric(x, units = \"days\") (or the units you mean)")
  }
  if (is.complex(x) || is.raw(x)) unsupported(paste("a", typeof(x), "vector"))
  missing <- is.na(x)
  if (is.factor(x)) x <- as.character(x)
  if (inherits(x, "POSIXlt")) x <- as.POSIXct(x)
  if (inherits(x, "POSIXct")) {
    kind <- "datetime"
    x <- as.double(unclass(x))
  } else if (inherits(x, "Date")) {
    kind <- "date"
    x <- as.double(unclass(x))
  } else if (is.character(x)) {
    kind <- "character"
    x <- enc2utf8(as.vector(x))
  } else if (is.logical(x)) {
    kind <- "logical"
    x <- as.vector(x)
  } else if (is.integer(x)) {
    kind <- "integer"
    x <- as.vector(x)
  } else if (is.double(x)) {
    kind <- "double"
    x <- as.double(x)
  } else {
    unsupported(sprintf("of class %s", paste(class(x), collapse = "/")))
  }
  if (kind %in% c("date", "datetime") && any(is.infinite(x))) {
    unsupported(sprintf("a %s holding an infinite value", if (kind == "date") "Date" else "date-time"))
  }
  if (any(missing)) x[missing] <- switch(kind, character = "", logical = FALSE, integer = 0L, 0)
  list(kind = kind, values = .packForPython(x, kind), missing = writeBin(as.integer(missing), raw(), size = 1))
}

# A column's values as a form reticulate 1.28 converts without numpy (numpy 2 safe): numbers as little-endian
# raw bytes (a Python bytearray), text as one string joined by \x1f (a list when a value holds that byte).
.packForPython <- function(x, kind) {
  switch(kind,
    integer = writeBin(x, raw(), size = 4, endian = "little"),
    logical = writeBin(as.integer(x), raw(), size = 1),
    character = if (any(grepl("\x1f", x, fixed = TRUE))) as.list(x) else paste(x, collapse = "\x1f"),
    writeBin(as.double(x), raw(), size = 8, endian = "little")
  )
}

# --- arguments ---------------------------------------------------------------------------------------------

.checkSql <- function(sql) {
  if (!is.character(sql) || length(sql) != 1 || is.na(sql)) {
    .usageError(sprintf("`sql` must be a single string, not %s",
                        if (is.character(sql)) sprintf("%d strings", length(sql)) else class(sql)[1]))
  }
  invisible(sql)
}

# SqlRender parameters from `...`: named, no NA; factors, Dates and date-times as their text. NULL when none.
.renderParameters <- function(...) {
  args <- list(...)
  if (length(args) == 0) return(NULL)
  if (is.null(names(args)) || any(!nzchar(names(args)))) {
    .usageError(paste0("Render parameters in `...` must be named (e.g. cdm = \"cdm\" for @cdm); a name that ",
                       "starts `sql` or `connectionDetails` (s =, c =) is taken by R for that argument"))
  }
  .mapNamed(args, function(name, x) {
    if (is.null(x)) return(NULL)
    if (!is.atomic(x)) .usageError(sprintf("Render parameter `%s` must be a vector, not a %s", name, class(x)[1]))
    if (anyNA(x)) .usageError(sprintf("Render parameter `%s` must not be NA", name))
    if (is.factor(x) || inherits(x, "Date") || inherits(x, "POSIXt")) x <- as.character(x)
    if (length(x) == 1) x else as.list(x)
  })
}

# Values for :name placeholders: a named list of single non-NA values, converted to the Python values the
# driver binds (whole numbers as int, Dates as date, date-times as naive UTC datetime).
.bindValues <- function(bind) {
  if (is.null(bind) || length(bind) == 0) return(NULL)
  if (!is.list(bind) || is.null(names(bind)) || any(!nzchar(names(bind)))) {
    .usageError("`bind` must be a named list, e.g. list(pid = 1) for :pid")
  }
  datetime <- reticulate::import("datetime", convert = FALSE)
  builtins <- reticulate::import_builtins(convert = FALSE)
  .mapNamed(bind, function(name, x) {
    if (!is.atomic(x) || length(x) != 1 || is.na(x)) {
      .usageError(sprintf("`bind$%s` must be a single value, not NA, a vector or a list", name))
    }
    if (is.factor(x)) x <- as.character(x)
    if (inherits(x, "Date")) return(datetime$date$fromisoformat(format(x)))
    if (inherits(x, "POSIXt")) {
      return(datetime$datetime$fromisoformat(format(x, "%Y-%m-%dT%H:%M:%OS6", tz = "UTC")))
    }
    if (is.double(x) && x == round(x) && abs(x) <= 2^53) return(builtins$int(sprintf("%.0f", x)))
    if (is.character(x) || is.numeric(x) || is.logical(x)) return(x)
    .usageError(sprintf("`bind$%s` of class %s cannot be bound", name, class(x)[1]))
  })
}

# lapply over a named list, giving the function each name and value; the result keeps the names.
.mapNamed <- function(args, fun) {
  out <- lapply(seq_along(args), function(i) fun(names(args)[i], args[[i]]))
  names(out) <- names(args)
  out
}

# SqlRender's camelCaseToSnakeCase and snakeCaseToCamelCase.
.camelCaseToSnakeCase <- function(x) tolower(gsub("([A-Z])", "_\\1", x))

.snakeCaseToCamelCase <- function(x) {
  x <- tolower(x)
  for (letter in letters) x <- gsub(paste0("_", letter), toupper(letter), x, fixed = TRUE)
  gsub("_([0-9])", "\\1", x)
}
