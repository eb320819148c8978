# OHDSI-style functions over the rcdm Python API. Each takes connection details (or a path / URL, or an open
# connection from connectRcdm), converts camelCase arguments to the Python API's snake_case, and returns
# plain R values: data.frames, named lists, character vectors.
#
# Returned data.frames are exact and plain (see rcdm.interop.frame_for_r and .fixFrame): the keyed-hash ids
# (radiology_occurrence_id, radiology_series_id, radiology_image_id, and any other *_id beyond 2^53) are
# character, *_date columns are Date, date-times are POSIXct in UTC, missing values are NA.
# Arguments holding NA are refused with an R error naming the argument (reticulate would pass NA as TRUE).

#' Create the R-CDM (and MI-CDM) tables
#'
#' Idempotent: tables, indexes and foreign keys are created only where missing.
#'
#' @param connectionDetails Connection details, a DuckDB/SQLite path or URL, or an open connection.
#' @param cdmDatabaseSchema Schema of the R-CDM tables.
#' @param model "rcdm", "micdm" or "all".
#' @param indexes,foreignKeys Create indexes (default) and foreign keys (off, as in OHDSI's DDL).
#' @return A data.frame with one row per object (object, type, table, status).
#' @export
createRcdmTables <- function(connectionDetails, cdmDatabaseSchema, model = "rcdm", indexes = TRUE,
                             foreignKeys = FALSE) {
  .checkScalars(cdmDatabaseSchema = cdmDatabaseSchema, model = model, indexes = indexes,
                foreignKeys = foreignKeys)
  .withConnection(connectionDetails, function(connection) {
    rows <- .rcdmCall(rcdmPython()$create_tables(connection, cdmDatabaseSchema, model = model,
                                                 indexes = indexes, foreign_keys = foreignKeys))
    .rowsToDataFrame(rows)
  })
}

#' Drop the R-CDM (and MI-CDM) tables
#' @inheritParams createRcdmTables
#' @return The names of the dropped tables.
#' @export
dropRcdmTables <- function(connectionDetails, cdmDatabaseSchema, model = "rcdm") {
  .checkScalars(cdmDatabaseSchema = cdmDatabaseSchema, model = model)
  .withConnection(connectionDetails, function(connection) {
    unlist(.rcdmCall(rcdmPython()$drop_tables(connection, cdmDatabaseSchema, model = model)))
  })
}

#' Load DICOM headers into the R-CDM tables
#'
#' De-identified (person ids from a site mapping, UIDs as keyed hashes), resumable and idempotent.
#'
#' @inheritParams createRcdmTables
#' @param paths Folders and/or files to load.
#' @param personMap CSV file with the header \code{patient_id,person_id}.
#' @param personSource "cdm" to map through \code{person.person_source_value} instead.
#' @param secretFile The site secret for the keyed hashes (created on first use; keep it safe).
#' @param workers Header-reading processes (NULL: all cores).
#' @param batchSize Files a worker reads at a time.
#' @param commitRows Files loaded per transaction (consecutive batches are joined up to this many).
#' @param root Archive root; \code{file_path} is stored relative to it.
#' @param quiet No progress bar and no printed report.
#' @return The run's summary as a named list (files_seen, loaded, quarantined, skipped, ...).
#' @export
runRcdmEtl <- function(connectionDetails, cdmDatabaseSchema, paths, personMap = NULL, personSource = NULL,
                       secretFile = NULL, workers = NULL, batchSize = 5000, commitRows = 131072, root = NULL,
                       quiet = TRUE) {
  .noNA(paths, "paths")
  .checkScalars(cdmDatabaseSchema = cdmDatabaseSchema, personMap = personMap, personSource = personSource,
                secretFile = secretFile, workers = workers, batchSize = batchSize, commitRows = commitRows,
                root = root, quiet = quiet)
  .withConnection(connectionDetails, function(connection) {
    .rcdmCall(rcdmPython()$run_etl(as.list(paths), connection, cdmDatabaseSchema, person_map = personMap,
                                   person_source = personSource, secret_file = secretFile,
                                   workers = .asInt(workers), batch_size = .asInt(batchSize),
                                   commit_rows = .asInt(commitRows), root = root, quiet = quiet))
  })
}

#' The mapping-quality report (the R-CDM paper's Tables 3 and 4)
#' @inheritParams createRcdmTables
#' @return A named list of data.frames: summary, columns, by_modality, by_year, files, quarantine, ...
#'   Counts and years are numbers (NA for an unknown year). A DuckDB/SQLite file that does not exist is an
#'   error (it is not created).
#' @export
getRcdmQualityReport <- function(connectionDetails, cdmDatabaseSchema) {
  .checkScalars(cdmDatabaseSchema = cdmDatabaseSchema)
  .requireExistingDatabase(connectionDetails)
  .withConnection(connectionDetails, function(connection) {
    .frameForR(.rcdmCall(rcdmPython(convert = FALSE)$quality_report(connection, cdmDatabaseSchema)))
  })
}

#' The images of a cohort
#'
#' @inheritParams createRcdmTables
#' @param cohortDefinitionId The cohort (e.g. from ATLAS).
#' @param cohortDatabaseSchema,cohortTable Where the cohort table is (default: the CDM schema, "cohort").
#' @param ... Filters: modalities, protocolConceptIds, includeDescendants, vocabularyDatabaseSchema,
#'   bodyParts, contrast, planes, lateralities, minSliceThickness, maxSliceThickness, windowStartDays,
#'   windowEndDays, windowAnchor ("start"/"end"), firstStudyOnly. A filter holding NA (e.g.
#'   \code{modalities = c("CT", NA)} or \code{firstStudyOnly = NA}) is an error, not dropped.
#' @return A data.frame, one row per image. The ids \code{radiology_occurrence_id}, \code{radiology_series_id}
#'   and \code{radiology_image_id} are keyed hashes up to 2^63, beyond what an R double holds exactly, so they
#'   are returned as character (exact; compare and join them as strings). \code{*_date} columns are
#'   \code{Date}, date-times \code{POSIXct} in UTC, text columns character vectors with NA for missing.
#'   A DuckDB/SQLite file that does not exist is an error (it is not created).
#' @export
getCohortImages <- function(connectionDetails, cohortDefinitionId, cdmDatabaseSchema,
                            cohortDatabaseSchema = cdmDatabaseSchema, cohortTable = "cohort", ...) {
  cohortDefinitionId <- .asId(cohortDefinitionId, "cohortDefinitionId")
  .checkScalars(cdmDatabaseSchema = cdmDatabaseSchema, cohortDatabaseSchema = cohortDatabaseSchema,
                cohortTable = cohortTable)
  extra <- list(...)
  for (name in names(extra)) .noNA(extra[[name]], name)
  filters <- .snakeCaseNames(extra)
  .requireExistingDatabase(connectionDetails)
  .withConnection(connectionDetails, function(connection) {
    args <- c(list(connection, cohortDefinitionId, cdmDatabaseSchema,
                   cohort_database_schema = cohortDatabaseSchema, cohort_table = cohortTable), filters)
    .frameForR(.rcdmCall(do.call(rcdmPython(convert = FALSE)$get_cohort_images, args)))
  })
}

#' Generate a cohort from ATLAS-exported OHDSI SQL
#'
#' @inheritParams createRcdmTables
#' @param sql The cohort's OHDSI SQL (text or a file path).
#' @param cohortDefinitionId The id to write the cohort under.
#' @param targetDatabaseSchema,targetCohortTable Where the cohort table is (created if missing).
#' @param vocabularyDatabaseSchema Vocabulary schema (default: the CDM schema).
#' @return A named list of counts (persons, entries).
#' @export
generateRcdmCohort <- function(connectionDetails, sql, cohortDefinitionId, cdmDatabaseSchema,
                               targetDatabaseSchema = cdmDatabaseSchema, targetCohortTable = "cohort",
                               vocabularyDatabaseSchema = cdmDatabaseSchema) {
  cohortDefinitionId <- .asId(cohortDefinitionId, "cohortDefinitionId")
  .checkScalars(sql = sql, cdmDatabaseSchema = cdmDatabaseSchema, targetDatabaseSchema = targetDatabaseSchema,
                targetCohortTable = targetCohortTable, vocabularyDatabaseSchema = vocabularyDatabaseSchema)
  .withConnection(connectionDetails, function(connection) {
    .rcdmCall(rcdmPython()$generate_cohort(connection, sql, cohortDefinitionId, cdmDatabaseSchema,
                                           target_database_schema = targetDatabaseSchema,
                                           target_cohort_table = targetCohortTable,
                                           vocabulary_database_schema = vocabularyDatabaseSchema))
  })
}

#' Run a network study at this site
#'
#' Only aggregate, small-cell-suppressed results are written to \code{outputFile} (a zip).
#'
#' @inheritParams getCohortImages
#' @param spec The study specification: a JSON/YAML file path or a named list.
#' @param outputFile The zip to write.
#' @param siteName A name for this site in the results.
#' @param approveCohortSql The spec hash, given after reviewing the spec's cohort SQL files (rcdm study show);
#'   without it a spec with cohort SQL runs nothing.
#' @param minCellCount The site's minimum cell count (default 5); a spec can raise it, never lower it.
#' @param auditLog The site's release log (default: RCDM_STUDY_AUDIT_LOG or ~/.local/state/rcdm/).
#' @param siteConfig A site settings file (YAML/JSON: min_cell_count, audit_log).
#' @return A named list describing the run (the zip's path, the spec hash, ...).
#' @export
runRcdmStudy <- function(connectionDetails, spec, cdmDatabaseSchema, cohortDatabaseSchema = cdmDatabaseSchema,
                         cohortTable = "cohort", outputFile = "site_results.zip", siteName = NULL,
                         approveCohortSql = NULL, minCellCount = NULL, auditLog = NULL, siteConfig = NULL) {
  .checkScalars(cdmDatabaseSchema = cdmDatabaseSchema, cohortDatabaseSchema = cohortDatabaseSchema,
                cohortTable = cohortTable, outputFile = outputFile, siteName = siteName,
                approveCohortSql = approveCohortSql, auditLog = auditLog, siteConfig = siteConfig)
  .requireExistingDatabase(connectionDetails)
  rcdmPython()
  site <- .rcdmCall(reticulate::import("rcdm.study_spec")$load_site_settings(
    siteConfig, min_cell_count = if (is.null(minCellCount)) NULL else as.integer(minCellCount),
    audit_log = auditLog))
  .withConnection(connectionDetails, function(connection) {
    .rcdmCall(rcdmPython()$run_study(spec, connection, cdmDatabaseSchema,
                                     cohort_database_schema = cohortDatabaseSchema, cohort_table = cohortTable,
                                     out = outputFile, site_name = siteName, site = site,
                                     approve_cohort_sql = approveCohortSql))
  })
}

#' Merge the result zips of many sites
#' @param zipFiles The sites' result zips (all from the same study specification).
#' @param outputFolder Where the merged tables and the HTML report go.
#' @return A named list describing the merge.
#' @export
mergeRcdmStudyResults <- function(zipFiles, outputFolder) {
  .rcdmCall(rcdmPython()$merge_results(as.list(zipFiles), outputFolder))
}

#' Write a synthetic sample DICOM corpus (for tutorials and tests)
#' @param folder Where to write it.
#' @param patients How many patients.
#' @param seed Random seed (the corpus is deterministic for a seed).
#' @return A named list: out_dir, person_map (the CSV path), files, images, ...
#' @export
writeRcdmSampleDicom <- function(folder, patients = 6, seed = 0) {
  sample <- reticulate::import("rcdm.dicom.sample", convert = TRUE)
  .rcdmCall(sample$write_sample_corpus(folder, n_patients = .asInt(patients), seed = .asInt(seed)))
}

# list of Python dicts (rows) -> data.frame (through rcdm.interop, so ids stay exact)
.rowsToDataFrame <- function(rows) {
  if (length(rows) == 0) return(data.frame())
  interop <- reticulate::import("rcdm.interop", convert = FALSE)
  .frameForR(interop$rows_for_r(rows))
}

# Each named argument must be NULL or a single non-NA value.
.checkScalars <- function(...) {
  args <- list(...)
  for (name in names(args)) {
    x <- args[[name]]
    if (is.null(x)) next
    if (is.atomic(x) && length(x) != 1) {
      stop(sprintf("`%s` must be a single value, not length %d", name, length(x)), call. = FALSE)
    }
    .noNA(x, name)
  }
  invisible(NULL)
}

# list(minSliceThickness = 1) -> list(min_slice_thickness = 1); whole doubles become integers.
.snakeCaseNames <- function(args) {
  if (length(args) == 0) return(list())
  names(args) <- tolower(gsub("([A-Z])", "_\\1", names(args)))
  lapply(args, function(x) if (is.numeric(x) && length(x) == 1) .asInt(x) else x)
}

#' Load the protocol vocabularies
#'
#' \code{loadRcdmPlaybook} loads the LOINC/RSNA Radiology Playbook (\code{LoincRsnaRadiologyPlaybook.csv});
#' \code{loadRcdmAthenaVocabulary} loads Athena's tab-separated \code{CONCEPT.csv} (and
#' \code{CONCEPT_RELATIONSHIP.csv}, \code{CONCEPT_ANCESTOR.csv} when present) from a folder;
#' \code{loadRcdmSiteMappings} loads \code{source_to_concept_map} rows (e.g. exported from Usagi), which always
#' win. A malformed file changes nothing.
#'
#' @inheritParams createRcdmTables
#' @param file,folder The file or folder to load.
#' @param vocabularyDatabaseSchema Schema of the OMOP vocabulary tables.
#' @return Rows loaded.
#' @export
loadRcdmPlaybook <- function(connectionDetails, cdmDatabaseSchema, file) {
  .withConnection(connectionDetails, function(connection) {
    .rcdmCall(rcdmPython()$load_playbook(connection, cdmDatabaseSchema, file))
  })
}

#' @rdname loadRcdmPlaybook
#' @export
loadRcdmAthenaVocabulary <- function(connectionDetails, vocabularyDatabaseSchema, folder) {
  .withConnection(connectionDetails, function(connection) {
    .rcdmCall(rcdmPython()$load_athena(connection, vocabularyDatabaseSchema, folder))
  })
}

#' @rdname loadRcdmPlaybook
#' @export
loadRcdmSiteMappings <- function(connectionDetails, cdmDatabaseSchema, file) {
  .withConnection(connectionDetails, function(connection) {
    .rcdmCall(rcdmPython()$load_stcm(connection, cdmDatabaseSchema, file))
  })
}

#' Re-map every study to a protocol concept
#'
#' Run after the vocabulary or the site mappings change; reads no DICOM and is idempotent.
#' @inheritParams loadRcdmPlaybook
#' @return A named list of counts (studies, mapped_before, mapped_after, changed, ...).
#' @export
remapRcdmProtocols <- function(connectionDetails, cdmDatabaseSchema, vocabularyDatabaseSchema = cdmDatabaseSchema) {
  .checkScalars(cdmDatabaseSchema = cdmDatabaseSchema, vocabularyDatabaseSchema = vocabularyDatabaseSchema)
  .requireExistingDatabase(connectionDetails)
  .withConnection(connectionDetails, function(connection) {
    .rcdmCall(rcdmPython()$remap(connection, cdmDatabaseSchema, vocabulary_database_schema = vocabularyDatabaseSchema))
  })
}

#' Export the unmapped protocol source values for Usagi
#'
#' Ranked by how many studies and images they cover, so the mapping team starts at the top.
#' @inheritParams createRcdmTables
#' @param outputFile The CSV to write (Usagi imports it directly).
#' @return The same rows as a data.frame. A DuckDB/SQLite file that does not exist is an error.
#' @export
exportRcdmUnmapped <- function(connectionDetails, cdmDatabaseSchema, outputFile) {
  .checkScalars(cdmDatabaseSchema = cdmDatabaseSchema, outputFile = outputFile)
  .requireExistingDatabase(connectionDetails)
  .withConnection(connectionDetails, function(connection) {
    .frameForR(.rcdmCall(rcdmPython(convert = FALSE)$export_unmapped(connection, cdmDatabaseSchema, outputFile)))
  })
}

#' The bundled vocabulary fixtures (a small playbook extract, CONCEPT.csv, a source_to_concept_map)
#' @return The folder holding them.
#' @export
rcdmVocabularyFixtures <- function() {
  vocab <- reticulate::import("rcdm.protocols.vocab_data", convert = TRUE)
  .rcdmCall(as.character(vocab$fixtures_dir()))
}
