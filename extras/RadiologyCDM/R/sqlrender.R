# SqlRender's functions under rcdm names, with SqlRender's argument names and R semantics: vectorised over
# `sql` (an NA element gives NA), vectors as parameters joined with commas, NA parameters refused.

#' Render OHDSI SQL parameters, as SqlRender::render
#'
#' Replaces \code{@name} with the value of \code{name}, evaluates \code{\{@a == 1\} ? \{...\} : \{...\}}
#' conditions and \code{@name} defaults declared with \code{\{DEFAULT @name = value\}}, exactly as SqlRender.
#'
#' @param sql OHDSI SQL: a character vector; each element is rendered (an NA element gives NA).
#' @param warnOnMissingParameters Warn when a parameter is not found in the SQL (an R warning of class
#'   \code{rcdm_SqlRenderWarning}).
#' @param ... Parameters by name. A vector is joined with commas (\code{ids = c(1, 2)} gives \code{1,2}, for
#'   \code{IN (@ids)}); logicals give TRUE/FALSE, Dates and factors their text. A value holding NA is an error
#'   (there is no SQL text for it).
#' @return A character vector like \code{sql}.
#' @examplesIf rcdmAvailable()
#' renderRcdmSql("SELECT * FROM @schema.person WHERE person_id IN (@ids);", schema = "cdm", ids = c(1, 2, 3))
#' renderRcdmSql("SELECT * FROM t {@limited} ? {WHERE x < 10};", limited = TRUE)
#' @export
renderRcdmSql <- function(sql, warnOnMissingParameters = TRUE, ...) {
  .checkSqlVector(sql)
  .checkFlags(warnOnMissingParameters = warnOnMissingParameters)
  parameters <- .renderParameters(...)
  render <- rcdmPython(convert = FALSE)$render
  if (warnOnMissingParameters && any(!is.na(sql))) {
    # one warning per parameter found in none of the elements (not one per element that lacks it)
    .pyCall(render, paste(sql[!is.na(sql)], collapse = "\n"), parameters = parameters, .convert = FALSE)
  }
  .vectorise(sql, function(text) .pyCall(render, text, warn_on_missing_parameters = FALSE,
                                         parameters = parameters))
}

#' Translate OHDSI SQL to a database dialect, as SqlRender::translate
#'
#' @param sql OHDSI SQL (SQL Server syntax): a character vector; each element is translated (NA gives NA).
#' @param targetDialect "postgresql", "oracle", "sql server", "redshift", "bigquery", "snowflake", "spark",
#'   "duckdb", "sqlite", "synapse" (see \code{listRcdmSupportedDialects()}).
#' @param tempEmulationSchema Schema for emulated temp tables (Oracle, BigQuery, Snowflake, Spark); defaults
#'   to \code{getOption("sqlRenderTempEmulationSchema")} as in SqlRender.
#' @return A character vector like \code{sql}. SQL that cannot be translated is an R error of class
#'   \code{rcdm_TranslationError} naming the statement and line.
#' @examplesIf rcdmAvailable()
#' translateRcdmSql("SELECT TOP 10 * FROM person;", targetDialect = "postgresql")
#' translateRcdmSql("SELECT DATEADD(day, 1, start_date) FROM #tmp;", "oracle", tempEmulationSchema = "scratch")
#' @export
translateRcdmSql <- function(sql, targetDialect, tempEmulationSchema = getOption("sqlRenderTempEmulationSchema")) {
  .checkSqlVector(sql)
  .checkText(targetDialect = targetDialect)
  .checkText(tempEmulationSchema = tempEmulationSchema, .null = "tempEmulationSchema")
  translate <- rcdmPython(convert = FALSE)$translate
  .vectorise(sql, function(text) .pyCall(translate, text, targetDialect, temp_emulation_schema = tempEmulationSchema))
}

#' Split an OHDSI SQL script into statements, as SqlRender::splitSql
#'
#' Splits at the \code{;} that end statements, not those inside strings, comments or \code{BEGIN ... END}
#' blocks.
#' @param sql One OHDSI SQL script (a single string).
#' @return A character vector of statements, without their closing \code{;}.
#' @examplesIf rcdmAvailable()
#' splitRcdmSql("SELECT 1; -- a comment; still a comment\nSELECT ';' AS x;")
#' @export
splitRcdmSql <- function(sql) {
  .checkSql(sql)
  as.character(unlist(.pyCall(rcdmPython(convert = FALSE)$split_sql, sql)))
}

#' The SQL dialects rcdm translates to, as SqlRender::listSupportedDialects
#' @return A data.frame with the column dialect (the names \code{translateRcdmSql} and
#'   \code{createRcdmConnectionDetails} take).
#' @examplesIf rcdmAvailable()
#' listRcdmSupportedDialects()
#' @export
listRcdmSupportedDialects <- function() {
  data.frame(dialect = as.character(unlist(.pyCall(rcdmPython(convert = FALSE)$list_supported_dialects))),
             stringsAsFactors = FALSE)
}

#' Load OMOP CDM tables from CSV files (e.g. Eunomia's GiBleed)
#'
#' One \code{<table>.csv} per table with a header row, in a folder or a zip, as Eunomia distributes them.
#' Column types come from Eunomia's \code{_schema.tsv} when present, otherwise from the data and the OMOP
#' column names. Each table streams through the database's bulk path.
#'
#' @inheritParams createRcdmTables
#' @param source A folder or a zip of CSV files.
#' @param tables The tables to load (\code{NULL}: every CSV).
#' @param overwrite Replace tables that exist (otherwise an existing table is an error).
#' @return The rows loaded per table, as a named numeric vector.
#' @examplesIf rcdmAvailable()
#' gibleed <- system.file("extdata", "GiBleed_subset.zip", package = "RadiologyCDM")
#' database <- tempfile(fileext = ".duckdb")
#' loadRcdmCdmCsv(database, "cdm", gibleed, tables = c("person", "observation_period"))
#' @export
loadRcdmCdmCsv <- function(connectionDetails, cdmDatabaseSchema, source, tables = NULL, overwrite = FALSE) {
  .checkText(cdmDatabaseSchema = cdmDatabaseSchema, source = source)
  if (!is.null(tables)) .checkStrings(tables, "tables")
  .checkFlags(overwrite = overwrite)
  loaded <- .withConnection(connectionDetails, function(connection) {
    .pyCall(rcdmPython(convert = FALSE)$load_cdm_csv, connection, cdmDatabaseSchema, path.expand(source),
            tables = .asList(tables), overwrite = overwrite)
  })
  vapply(loaded, as.numeric, numeric(1))
}

# `sql` for the vectorised wrappers: a character vector (NA elements allowed).
.checkSqlVector <- function(sql) {
  if (!is.character(sql)) .usageError(sprintf("`sql` must be character, not %s", class(sql)[1]))
  invisible(sql)
}

# fun() over each non-NA element of a character vector; NA stays NA, names stay.
.vectorise <- function(sql, fun) {
  out <- rep(NA_character_, length(sql))
  for (i in which(!is.na(sql))) out[i] <- fun(sql[[i]])
  names(out) <- names(sql)
  out
}
