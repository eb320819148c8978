# Cohorts as CohortGenerator makes them: a cohort definition set (cohortId, cohortName, sql) generated into
# cohortDatabaseSchema.cohortTable, with the counts per cohort back.

#' Generate cohorts from a cohort definition set
#'
#' Runs each cohort's OHDSI SQL (as ATLAS exports it, with \code{@cdm_database_schema},
#' \code{@vocabulary_database_schema}, \code{@target_database_schema}, \code{@target_cohort_table} and
#' \code{@target_cohort_id}) into \code{cohortDatabaseSchema.cohortTable}, which is created if missing. A
#' re-run replaces a cohort's rows, never duplicates them. The names follow CohortGenerator's
#' \code{generateCohortSet}; the cohort table is the plain OHDSI one (cohort_definition_id, subject_id,
#' cohort_start_date, cohort_end_date).
#'
#' @inheritParams createRcdmTables
#' @param cohortDatabaseSchema,cohortTable Where the cohort table is (default: the CDM schema, "cohort").
#' @param cohortDefinitionSet A data.frame with the columns \code{cohortId} (whole numbers up to 2^53, or
#'   strings of digits for 64-bit ids), \code{cohortName} and \code{sql} (the SQL text, or a path to a
#'   \code{.sql} file), as CohortGenerator and \code{ROhdsiWebApi::exportCohortDefinitionSet} make it; other
#'   columns are ignored.
#' @param vocabularyDatabaseSchema Vocabulary schema (default: the CDM schema).
#' @param stopOnError \code{TRUE}: the first failing cohort is an R error (earlier cohorts stay generated).
#'   \code{FALSE}: a failing cohort gets \code{generationStatus = "FAILED"} and a warning, and the others run.
#' @return A data.frame with one row per cohort: cohortId, cohortName, generationStatus ("COMPLETE" or
#'   "FAILED"), cohortSubjects, cohortEntries and the seconds it took.
#' @examplesIf rcdmAvailable()
#' database <- tempfile(fileext = ".duckdb")
#' executeRcdmSql(database, paste(
#'   "CREATE TABLE @cdm.person (person_id BIGINT, year_of_birth INT);",
#'   "INSERT INTO @cdm.person VALUES (1, 1950), (2, 1990), (3, 1960);"), cdm = "main")
#' set <- data.frame(cohortId = c(1, 2), cohortName = c("born before 1970", "everyone"), sql = c(
#'   paste("INSERT INTO @target_database_schema.@target_cohort_table",
#'         "SELECT @target_cohort_id, person_id, CAST('2020-01-01' AS DATE), CAST('2020-12-31' AS DATE)",
#'         "FROM @cdm_database_schema.person WHERE year_of_birth < 1970;"),
#'   paste("INSERT INTO @target_database_schema.@target_cohort_table",
#'         "SELECT @target_cohort_id, person_id, CAST('2020-01-01' AS DATE), CAST('2020-12-31' AS DATE)",
#'         "FROM @cdm_database_schema.person;")))
#' generateRcdmCohortSet(database, "main", cohortDatabaseSchema = "results", cohortDefinitionSet = set)
#' getRcdmCohortCounts(database, cohortDatabaseSchema = "results")
#' @export
generateRcdmCohortSet <- function(connectionDetails, cdmDatabaseSchema, cohortDatabaseSchema = cdmDatabaseSchema,
                                  cohortTable = "cohort", cohortDefinitionSet,
                                  vocabularyDatabaseSchema = cdmDatabaseSchema, stopOnError = TRUE) {
  .checkText(cdmDatabaseSchema = cdmDatabaseSchema, cohortDatabaseSchema = cohortDatabaseSchema,
             cohortTable = cohortTable, vocabularyDatabaseSchema = vocabularyDatabaseSchema)
  .checkFlags(stopOnError = stopOnError)
  set <- .checkCohortDefinitionSet(cohortDefinitionSet)
  ids <- lapply(seq_len(nrow(set)), function(i) .asId(set$cohortId[[i]], sprintf("cohortDefinitionSet$cohortId[%d]", i)))
  .withConnection(connectionDetails, function(connection) {
    rows <- lapply(seq_len(nrow(set)), function(i) {
      result <- tryCatch(
        .pyCall(rcdmPython(convert = FALSE)$generate_cohort, connection, .sqlArgument(set$sql[[i]]), ids[[i]],
                cdmDatabaseSchema, cohortDatabaseSchema, target_cohort_table = cohortTable,
                vocabulary_database_schema = vocabularyDatabaseSchema),
        rcdm_error = function(e) {
          e$message <- sprintf("Cohort %s (%s): %s", set$cohortId[[i]], set$cohortName[[i]], conditionMessage(e))
          if (stopOnError) stop(e)
          warning(e$message, call. = FALSE)
          NULL
        })
      data.frame(cohortId = set$cohortId[[i]], cohortName = set$cohortName[[i]],
                 generationStatus = if (is.null(result)) "FAILED" else "COMPLETE",
                 cohortSubjects = if (is.null(result)) NA_real_ else as.numeric(result$persons),
                 cohortEntries = if (is.null(result)) NA_real_ else as.numeric(result$entries),
                 seconds = if (is.null(result)) NA_real_ else as.numeric(result$seconds),
                 stringsAsFactors = FALSE)
    })
    do.call(rbind, rows)
  })
}

#' Generate one cohort from ATLAS-exported OHDSI SQL
#'
#' \code{generateRcdmCohortSet} for a single cohort.
#'
#' @inheritParams generateRcdmCohortSet
#' @param sql The cohort's OHDSI SQL (text or a path to a \code{.sql} file).
#' @param cohortDefinitionId The id to write the cohort under (a whole number up to 2^53, or a string of
#'   digits for a 64-bit id).
#' @param cohortName A name for the cohort in the result.
#' @return A one-row data.frame as from \code{generateRcdmCohortSet}.
#' @examplesIf rcdmAvailable()
#' database <- tempfile(fileext = ".duckdb")
#' executeRcdmSql(database, "CREATE TABLE main.person (person_id BIGINT); INSERT INTO main.person VALUES (1);")
#' generateRcdmCohort(database, paste(
#'   "INSERT INTO @target_database_schema.@target_cohort_table",
#'   "SELECT @target_cohort_id, person_id, CAST('2020-01-01' AS DATE), CAST('2020-12-31' AS DATE)",
#'   "FROM @cdm_database_schema.person;"), cohortDefinitionId = 9007199254740992, cdmDatabaseSchema = "main")
#' @export
generateRcdmCohort <- function(connectionDetails, sql, cohortDefinitionId, cdmDatabaseSchema,
                               cohortDatabaseSchema = cdmDatabaseSchema, cohortTable = "cohort",
                               vocabularyDatabaseSchema = cdmDatabaseSchema, cohortName = "") {
  .checkText(sql = sql)
  if (!is.character(cohortName) || length(cohortName) != 1 || is.na(cohortName)) {
    .usageError(sprintf("`cohortName` must be a single string, not %s", .describe(cohortName)))
  }
  .asId(cohortDefinitionId, "cohortDefinitionId")
  set <- data.frame(cohortId = cohortDefinitionId, cohortName = cohortName, sql = sql, stringsAsFactors = FALSE)
  generateRcdmCohortSet(connectionDetails, cdmDatabaseSchema, cohortDatabaseSchema, cohortTable, set,
                        vocabularyDatabaseSchema = vocabularyDatabaseSchema)
}

#' Counts per cohort in a cohort table
#'
#' As CohortGenerator's \code{getCohortCounts}: one row per cohort id with its entries and distinct subjects.
#' The database is opened read-only.
#' @inheritParams generateRcdmCohortSet
#' @param cohortIds Only these cohorts (\code{NULL}: all); a cohort without rows is reported with 0.
#' @return A data.frame: cohortId (numeric, or character when an id is beyond 2^53), cohortEntries,
#'   cohortSubjects.
#' @seealso \code{\link{generateRcdmCohortSet}} (its example calls this one).
#' @export
getRcdmCohortCounts <- function(connectionDetails, cohortDatabaseSchema, cohortTable = "cohort", cohortIds = NULL) {
  .checkText(cohortDatabaseSchema = cohortDatabaseSchema, cohortTable = cohortTable)
  if (!is.null(cohortIds)) {
    if (length(cohortIds) == 0) .usageError("`cohortIds` must hold at least one id (or be NULL)")
    for (i in seq_along(cohortIds)) .asId(cohortIds[[i]], "cohortIds")
  }
  .requireExistingDatabase(connectionDetails)
  counts <- .withConnection(connectionDetails, function(connection) {
    .requireCohortTable(connection, cohortDatabaseSchema, cohortTable)
    queryRcdmSql(connection, paste(
      "SELECT cohort_definition_id AS cohort_id, COUNT(*) AS cohort_entries,",
      "COUNT(DISTINCT subject_id) AS cohort_subjects FROM @schema.@table",
      "GROUP BY cohort_definition_id ORDER BY cohort_definition_id;"), schema = cohortDatabaseSchema,
      table = cohortTable, snakeCaseToCamelCase = TRUE)
  }, readOnly = TRUE)
  if (is.null(cohortIds)) return(counts)
  wanted <- as.character(if (is.numeric(cohortIds)) sprintf("%.0f", cohortIds) else cohortIds)
  have <- as.character(if (is.numeric(counts$cohortId)) sprintf("%.0f", counts$cohortId) else counts$cohortId)
  rows <- match(wanted, have)
  data.frame(cohortId = cohortIds, cohortEntries = ifelse(is.na(rows), 0, counts$cohortEntries[rows]),
             cohortSubjects = ifelse(is.na(rows), 0, counts$cohortSubjects[rows]))
}

# The cohort definition set as a data.frame with cohortId, cohortName (filled in when missing) and sql.
.checkCohortDefinitionSet <- function(set) {
  if (!is.data.frame(set)) {
    .usageError(sprintf("`cohortDefinitionSet` must be a data.frame (cohortId, cohortName, sql), not %s",
                        class(set)[1]))
  }
  missing <- setdiff(c("cohortId", "sql"), names(set))
  if (length(missing) > 0) {
    .usageError(sprintf("`cohortDefinitionSet` needs the column(s) %s (it has: %s)", paste(missing, collapse = ", "),
                        paste(names(set), collapse = ", ")))
  }
  if (nrow(set) == 0) .usageError("`cohortDefinitionSet` has no rows")
  if (!("cohortName" %in% names(set))) set$cohortName <- as.character(set$cohortId)
  if (!is.character(set$sql) || anyNA(set$sql) || any(!nzchar(trimws(set$sql)))) {
    .usageError("`cohortDefinitionSet$sql` must be character, without NA or empty SQL")
  }
  ids <- vapply(set$cohortId, function(x) paste(format(x, scientific = FALSE), collapse = ""), "")
  if (anyDuplicated(ids)) .usageError(sprintf("`cohortDefinitionSet$cohortId` repeats %s", ids[duplicated(ids)][1]))
  set$cohortName <- as.character(set$cohortName)
  set
}

# A .sql path stays a path (expanded); SQL text stays text.
.sqlArgument <- function(sql) {
  if (!grepl("\n", sql) && grepl("\\.sql\\s*$", sql, ignore.case = TRUE)) path.expand(trimws(sql)) else sql
}
