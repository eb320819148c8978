# OHDSI-style functions over the rcdm Python API. Each takes connection details (or a path / URL, or an open
# connection from connectRcdm), checks its arguments in R, converts camelCase arguments to the Python API's
# snake_case, and returns plain R values: data.frames, named lists, character vectors.
#
# Returned data.frames are exact and plain (see rcdm.interop.frame_for_r and .fixFrame): the keyed-hash ids
# (radiology_occurrence_id, radiology_series_id, radiology_image_id, and any other *_id beyond 2^53) are
# character, *_date columns are Date, date-times are POSIXct in UTC, missing values are NA.

#' Create the R-CDM (and MI-CDM) tables
#'
#' Idempotent: the schema, tables, indexes and foreign keys are created only where missing.
#'
#' @param connectionDetails Connection details (\code{createRcdmConnectionDetails} or DatabaseConnector's), a
#'   DuckDB/SQLite file path or a SQLAlchemy URL, or an open connection from \code{connectRcdm}.
#' @param cdmDatabaseSchema Schema of the R-CDM tables (and of the OMOP CDM tables they refer to).
#' @param model "all" (the R-CDM and OHDSI MI-CDM tables, as in the quick tour), "rcdm" or "micdm".
#' @param indexes,foreignKeys Create indexes (default) and foreign keys (off, as in OHDSI's DDL).
#' @return A data.frame with one row per object (object, type, table, status "created" or "exists").
#' @examplesIf rcdmAvailable()
#' database <- tempfile(fileext = ".duckdb")
#' createRcdmTables(database, cdmDatabaseSchema = "cdm")
#' dropRcdmTables(database, cdmDatabaseSchema = "cdm")
#' @export
createRcdmTables <- function(connectionDetails, cdmDatabaseSchema, model = "all", indexes = TRUE,
                             foreignKeys = FALSE) {
  .checkText(cdmDatabaseSchema = cdmDatabaseSchema)
  .checkChoice(model, "model", c("all", "rcdm", "micdm"))
  .checkFlags(indexes = indexes, foreignKeys = foreignKeys)
  .withConnection(connectionDetails, function(connection) {
    .rowsToDataFrame(.pyCall(rcdmPython(convert = FALSE)$create_tables, connection, cdmDatabaseSchema,
                             model = model, indexes = indexes, foreign_keys = foreignKeys, .convert = FALSE))
  })
}

#' Drop the R-CDM (and MI-CDM) tables
#' @inheritParams createRcdmTables
#' @return The names of the dropped tables (character).
#' @examplesIf rcdmAvailable()
#' database <- tempfile(fileext = ".duckdb")
#' createRcdmTables(database, "cdm", model = "rcdm")
#' dropRcdmTables(database, "cdm", model = "rcdm")
#' @export
dropRcdmTables <- function(connectionDetails, cdmDatabaseSchema, model = "all") {
  .checkText(cdmDatabaseSchema = cdmDatabaseSchema)
  .checkChoice(model, "model", c("all", "rcdm", "micdm"))
  .withConnection(connectionDetails, function(connection) {
    as.character(unlist(.pyCall(rcdmPython(convert = FALSE)$drop_tables, connection, cdmDatabaseSchema,
                                model = model)))
  })
}

#' Load DICOM headers into the R-CDM tables
#'
#' De-identified (person ids from a site mapping, UIDs as keyed hashes with the site secret), resumable and
#' idempotent. The warning that a new site secret was created, and the data-quality warnings of the run, are
#' R warnings; the run's report is an R message (\code{suppressMessages} hides it).
#'
#' @inheritParams createRcdmTables
#' @param paths Folders and/or files to load (a character vector).
#' @param personMap CSV file with the header \code{patient_id,person_id}.
#' @param personSource "cdm" to map through \code{person.person_source_value} instead.
#' @param secretFile The site secret for the keyed hashes (created on first use, with a warning; keep it
#'   safe). \code{NULL}: \code{~/.rcdm/site_secret}.
#' @param workers Header-reading processes (\code{NULL}: all cores).
#' @param batchSize Files a worker reads at a time.
#' @param commitRows Files loaded per transaction (consecutive batches are joined up to this many).
#' @param root Archive root; \code{file_path} is stored relative to it.
#' @param quiet \code{TRUE}: no report message (warnings are R warnings either way).
#' @return The run's summary as a named list (files_seen, loaded, quarantined, skipped, ...), invisibly.
#' @examplesIf rcdmAvailable()
#' folder <- tempfile("rcdm-")
#' sample <- writeRcdmSampleDicom(file.path(folder, "dicom"), patients = 2)
#' database <- file.path(folder, "site.duckdb")
#' createRcdmTables(database, "cdm")
#' summary <- runRcdmEtl(database, "cdm", sample$out_dir, personMap = sample$person_map,
#'                       secretFile = file.path(folder, "site_secret"), workers = 1, quiet = TRUE)
#' summary$loaded
#' @export
runRcdmEtl <- function(connectionDetails, cdmDatabaseSchema, paths, personMap = NULL, personSource = NULL,
                       secretFile = NULL, workers = NULL, batchSize = 5000, commitRows = 131072, root = NULL,
                       quiet = FALSE) {
  .checkText(cdmDatabaseSchema = cdmDatabaseSchema)
  .checkStrings(paths, "paths")
  .checkText(personMap = personMap, secretFile = secretFile, root = root,
             .null = c("personMap", "secretFile", "root"))
  if (!is.null(personSource)) .checkChoice(personSource, "personSource", "cdm")
  .checkWhole(workers = workers, batchSize = batchSize, commitRows = commitRows, .null = "workers")
  .checkFlags(quiet = quiet)
  # created here, so that the warning about a new secret is an R warning (run_etl would only print it)
  deid <- .rcdmModule("rcdm.dicom.deid")
  .pyCall(deid$load_or_create_secret, .expand(secretFile), .convert = FALSE)
  summary <- .withConnection(connectionDetails, function(connection) {
    # the options object of rcdm.options, the one definition the CLI and the README table share
    options <- .pyCall(.rcdmModule("rcdm.options")$EtlOptions, cdm_database_schema = cdmDatabaseSchema,
                       person_map = .expand(personMap), person_source = personSource,
                       secret_file = .expand(secretFile), workers = .asInt(workers), batch_size = .asInt(batchSize),
                       commit_rows = .asInt(commitRows), root = .expand(root), quiet = quiet, progress = FALSE,
                       .convert = FALSE)
    .pyCall(rcdmPython(convert = FALSE)$run_etl, as.list(path.expand(paths)), connection, options)
  })
  .warnDataQuality(summary)
  invisible(summary)
}

# R warnings (class rcdm_DataQualityWarning) for what a run could not load as it is.
.warnDataQuality <- function(summary) {
  byReason <- function(counts) {
    if (length(counts) == 0) return("")
    paste0(" (", paste(names(counts), unlist(counts), sep = ": ", collapse = ", "), ")")
  }
  found <- c(
    if (isTRUE(summary$quarantined > 0)) sprintf(
      "%d files quarantined%s: their reasons are in rcdm_etl_file", summary$quarantined,
      byReason(summary$quarantined_by_reason)),
    if (isTRUE(summary$unmapped_patient > 0)) sprintf(
      "%d files not loaded: their patients are not in the person map (they are retried on the next run)",
      summary$unmapped_patient),
    if (isTRUE(summary$invalid_dates > 0)) sprintf(
      "%d impossible DICOM dates stored as NULL", summary$invalid_dates)
  )
  for (text in found) {
    warning(structure(class = c("rcdm_DataQualityWarning", "rcdm_warning", "warning", "condition"),
                      list(message = text, call = NULL)))
  }
}

#' The mapping-quality report (the R-CDM paper's Tables 3 and 4)
#' @inheritParams createRcdmTables
#' @return A named list of data.frames: summary, columns, by_modality, by_year, files, quarantine, ...
#'   Counts and years are numbers (NA for an unknown year). A DuckDB/SQLite file that does not exist is an
#'   error (it is not created); the database is opened read-only.
#' @examplesIf rcdmAvailable()
#' database <- tempfile(fileext = ".duckdb")
#' createRcdmTables(database, "cdm")
#' getRcdmQualityReport(database, "cdm")$summary
#' @export
getRcdmQualityReport <- function(connectionDetails, cdmDatabaseSchema) {
  .checkText(cdmDatabaseSchema = cdmDatabaseSchema)
  .requireExistingDatabase(connectionDetails)
  .withConnection(connectionDetails, function(connection) {
    .frameForR(.pyCall(rcdmPython(convert = FALSE)$quality_report, connection, cdmDatabaseSchema,
                       .convert = FALSE))
  }, readOnly = TRUE)
}

#' The images of a cohort
#'
#' One row per image of the cohort's persons, filtered as asked; the database is opened read-only.
#'
#' @inheritParams createRcdmTables
#' @param cohortDefinitionId The cohort (e.g. from ATLAS): a whole number up to 2^53, or a string of digits
#'   for a 64-bit id.
#' @param cohortDatabaseSchema,cohortTable Where the cohort table is (default: the CDM schema, "cohort"), as
#'   in CohortGenerator.
#' @param modalities,bodyParts,contrast,planes,lateralities Character vectors to keep (e.g.
#'   \code{modalities = c("CT", "MR")}, \code{planes = "axial"}, \code{contrast = "pre"}); \code{NULL} keeps all.
#' @param protocolConceptIds Protocol concept ids to keep (numbers, or strings of digits).
#' @param includeDescendants Also keep the descendants of \code{protocolConceptIds}
#'   (through \code{vocabularyDatabaseSchema.concept_ancestor}).
#' @param vocabularyDatabaseSchema Vocabulary schema (default: the CDM schema).
#' @param minSliceThickness,maxSliceThickness Slice thickness bounds in mm.
#' @param windowStartDays,windowEndDays Keep studies from this many days after the anchor (negative: before).
#' @param windowAnchor "start" or "end" of the cohort entry.
#' @param firstStudyOnly Keep only each person's first matching study.
#' @return A data.frame, one row per image. The ids \code{radiology_occurrence_id}, \code{radiology_series_id}
#'   and \code{radiology_image_id} are keyed hashes up to 2^63, beyond what an R double holds exactly, so they
#'   are returned as character (exact; compare and join them as strings). \code{*_date} columns are
#'   \code{Date}, date-times \code{POSIXct} in UTC, text columns character vectors with NA for missing.
#'   A DuckDB/SQLite file that does not exist, or a missing cohort table, is an error.
#' @examplesIf rcdmAvailable()
#' folder <- tempfile("rcdm-")
#' sample <- writeRcdmSampleDicom(file.path(folder, "dicom"), patients = 2)
#' database <- file.path(folder, "site.duckdb")
#' createRcdmTables(database, "cdm")
#' runRcdmEtl(database, "cdm", sample$out_dir, personMap = sample$person_map,
#'            secretFile = file.path(folder, "site_secret"), workers = 1, quiet = TRUE)
#' persons <- queryRcdmSql(database, "SELECT DISTINCT person_id FROM cdm.radiology_occurrence;")
#' cohort <- data.frame(cohort_definition_id = 1, subject_id = persons$person_id,
#'                      cohort_start_date = as.Date("2000-01-01"), cohort_end_date = as.Date("2030-12-31"))
#' insertRcdmTable(database, "cohort", cohort, databaseSchema = "results")
#' images <- getCohortImages(database, 1, "cdm", cohortDatabaseSchema = "results", modalities = "CT")
#' table(images$anatomical_plane, useNA = "ifany")
#' @export
getCohortImages <- function(connectionDetails, cohortDefinitionId, cdmDatabaseSchema,
                            cohortDatabaseSchema = cdmDatabaseSchema, cohortTable = "cohort",
                            modalities = NULL, protocolConceptIds = NULL, includeDescendants = FALSE,
                            vocabularyDatabaseSchema = cdmDatabaseSchema, bodyParts = NULL, contrast = NULL,
                            planes = NULL, lateralities = NULL, minSliceThickness = NULL,
                            maxSliceThickness = NULL, windowStartDays = NULL, windowEndDays = NULL,
                            windowAnchor = "start", firstStudyOnly = FALSE) {
  .checkText(cdmDatabaseSchema = cdmDatabaseSchema, cohortDatabaseSchema = cohortDatabaseSchema,
             cohortTable = cohortTable, vocabularyDatabaseSchema = vocabularyDatabaseSchema)
  for (name in c("modalities", "bodyParts", "contrast", "planes", "lateralities")) {
    value <- get(name)
    if (!is.null(value)) .checkStrings(value, name)
  }
  if (!is.null(protocolConceptIds)) {
    if (length(protocolConceptIds) == 0) .usageError("`protocolConceptIds` must hold at least one id (or be NULL)")
    protocolConceptIds <- lapply(protocolConceptIds, .asId, name = "protocolConceptIds")
  }
  .checkFlags(includeDescendants = includeDescendants, firstStudyOnly = firstStudyOnly)
  .checkNumber(minSliceThickness = minSliceThickness, maxSliceThickness = maxSliceThickness,
               .null = c("minSliceThickness", "maxSliceThickness"))
  .checkWhole(windowStartDays = windowStartDays, windowEndDays = windowEndDays, .min = -.Machine$integer.max,
              .null = c("windowStartDays", "windowEndDays"))
  .checkChoice(windowAnchor, "windowAnchor", c("start", "end"))
  cohortDefinitionId <- .asId(cohortDefinitionId, "cohortDefinitionId")
  .requireExistingDatabase(connectionDetails)
  .withConnection(connectionDetails, function(connection) {
    .requireCohortTable(connection, cohortDatabaseSchema, cohortTable)
    criteria <- .pyCall(
      .rcdmModule("rcdm.options")$ImageCriteria, modalities = .asList(modalities),
      protocol_concept_ids = protocolConceptIds, include_descendants = includeDescendants,
      vocabulary_database_schema = vocabularyDatabaseSchema, body_parts = .asList(bodyParts),
      contrast = .asList(contrast), planes = .asList(planes), lateralities = .asList(lateralities),
      min_slice_thickness = minSliceThickness, max_slice_thickness = maxSliceThickness,
      window_start_days = .asInt(windowStartDays), window_end_days = .asInt(windowEndDays),
      window_anchor = windowAnchor, first_study_only = firstStudyOnly, .convert = FALSE)
    .frameForR(.pyCall(rcdmPython(convert = FALSE)$get_cohort_images, connection, cohortDefinitionId,
                       cdmDatabaseSchema, cohortDatabaseSchema, cohortTable, criteria, .convert = FALSE))
  }, readOnly = TRUE)
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
#' @examplesIf rcdmAvailable()
#' folder <- tempfile("rcdm-")
#' sample <- writeRcdmSampleDicom(file.path(folder, "dicom"), patients = 6)
#' database <- file.path(folder, "site.duckdb")
#' createRcdmTables(database, "cdm")
#' runRcdmEtl(database, "cdm", sample$out_dir, personMap = sample$person_map,
#'            secretFile = file.path(folder, "site_secret"), workers = 1, quiet = TRUE)
#' persons <- queryRcdmSql(database, "SELECT DISTINCT person_id FROM cdm.radiology_occurrence;")
#' insertRcdmTable(database, "cdm.cohort", data.frame(
#'   cohort_definition_id = 1, subject_id = persons$person_id,
#'   cohort_start_date = as.Date("2000-01-01"), cohort_end_date = as.Date("2030-12-31")))
#' spec <- list(name = "example", version = "1.0", min_cell_count = 5, cohorts = list(1),
#'              analyses = list(list(id = "by_modality", type = "counts", by = list("modality"))))
#' zip <- file.path(folder, "site.zip")
#' runRcdmStudy(database, spec, "cdm", outputFile = zip, siteName = "site1")$out
#' @export
runRcdmStudy <- function(connectionDetails, spec, cdmDatabaseSchema, cohortDatabaseSchema = cdmDatabaseSchema,
                         cohortTable = "cohort", outputFile = "site_results.zip", siteName = NULL,
                         approveCohortSql = NULL, minCellCount = NULL, auditLog = NULL, siteConfig = NULL,
                         vocabularyDatabaseSchema = cdmDatabaseSchema) {
  .checkText(cdmDatabaseSchema = cdmDatabaseSchema, cohortDatabaseSchema = cohortDatabaseSchema,
             cohortTable = cohortTable, outputFile = outputFile, siteName = siteName,
             approveCohortSql = approveCohortSql, auditLog = auditLog, siteConfig = siteConfig,
             vocabularyDatabaseSchema = vocabularyDatabaseSchema,
             .null = c("siteName", "approveCohortSql", "auditLog", "siteConfig"))
  .checkWhole(minCellCount = minCellCount, .null = "minCellCount")
  if (!is.list(spec)) .checkText(spec = spec)
  .requireExistingDatabase(connectionDetails)
  site <- .pyCall(.rcdmModule("rcdm.study_spec")$load_site_settings,
                  if (is.null(siteConfig)) NULL else path.expand(siteConfig),
                  min_cell_count = if (is.null(minCellCount)) NULL else as.integer(minCellCount),
                  audit_log = if (is.null(auditLog)) NULL else path.expand(auditLog), .convert = FALSE)
  options <- .pyCall(.rcdmModule("rcdm.options")$StudyOptions, cohort_database_schema = cohortDatabaseSchema,
                     cohort_table = cohortTable, vocabulary_database_schema = vocabularyDatabaseSchema,
                     site_name = siteName, out = path.expand(outputFile), approve_cohort_sql = approveCohortSql,
                     .convert = FALSE)
  .withConnection(connectionDetails, function(connection) {
    .pyCall(rcdmPython(convert = FALSE)$run_study, if (is.list(spec)) spec else path.expand(spec), connection,
            cdmDatabaseSchema, options, site)
  })
}

#' Merge the result zips of many sites
#' @param zipFiles The sites' result zips (all from the same study specification).
#' @param outputFolder Where the merged tables and the HTML report go.
#' @return A named list describing the merge.
#' @seealso \code{\link{runRcdmStudy}}, whose example writes a site zip.
#' @export
mergeRcdmStudyResults <- function(zipFiles, outputFolder) {
  .checkStrings(zipFiles, "zipFiles")
  .checkText(outputFolder = outputFolder)
  .pyCall(rcdmPython(convert = FALSE)$merge_results, as.list(path.expand(zipFiles)), path.expand(outputFolder))
}

#' Write a synthetic sample DICOM corpus (for tutorials and tests)
#'
#' Synthetic CT and MR headers (no real patient), a \code{person_map.csv} mapping their PatientIDs to person
#' ids 1001, 1002, ..., and a few files the ETL must skip or quarantine.
#' @param folder Where to write it.
#' @param patients How many patients.
#' @param seed Random seed (the corpus is deterministic for a seed).
#' @return A named list: out_dir, person_map (the CSV path), files, images, ...
#' @examplesIf rcdmAvailable()
#' sample <- writeRcdmSampleDicom(tempfile("dicom-"), patients = 2)
#' read.csv(sample$person_map)
#' @export
writeRcdmSampleDicom <- function(folder, patients = 6, seed = 0) {
  .checkText(folder = folder)
  .checkWhole(patients = patients)
  .checkWhole(seed = seed, .min = 0)
  sample <- .rcdmModule("rcdm.dicom.sample")
  .pyCall(sample$write_sample_corpus, path.expand(folder), n_patients = .asInt(patients), seed = .asInt(seed))
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
#' @return \code{loadRcdmPlaybook}: the rows loaded; the others: rows loaded per table (a named list).
#' @examplesIf rcdmAvailable()
#' database <- tempfile(fileext = ".duckdb")
#' createRcdmTables(database, "cdm")
#' fixtures <- rcdmVocabularyFixtures()
#' loadRcdmPlaybook(database, "cdm", file.path(fixtures, "LoincRsnaRadiologyPlaybook.csv"))
#' loadRcdmAthenaVocabulary(database, "cdm", fixtures)
#' @export
loadRcdmPlaybook <- function(connectionDetails, cdmDatabaseSchema, file) {
  .checkText(cdmDatabaseSchema = cdmDatabaseSchema, file = file)
  .withConnection(connectionDetails, function(connection) {
    .pyCall(rcdmPython(convert = FALSE)$load_playbook, connection, cdmDatabaseSchema, path.expand(file))
  })
}

#' @rdname loadRcdmPlaybook
#' @export
loadRcdmAthenaVocabulary <- function(connectionDetails, vocabularyDatabaseSchema, folder) {
  .checkText(vocabularyDatabaseSchema = vocabularyDatabaseSchema, folder = folder)
  .withConnection(connectionDetails, function(connection) {
    .pyCall(rcdmPython(convert = FALSE)$load_athena, connection, vocabularyDatabaseSchema, path.expand(folder))
  })
}

#' @rdname loadRcdmPlaybook
#' @export
loadRcdmSiteMappings <- function(connectionDetails, cdmDatabaseSchema, file) {
  .checkText(cdmDatabaseSchema = cdmDatabaseSchema, file = file)
  .withConnection(connectionDetails, function(connection) {
    .pyCall(rcdmPython(convert = FALSE)$load_stcm, connection, cdmDatabaseSchema, path.expand(file))
  })
}

#' Re-map every study to a protocol concept
#'
#' Run after the vocabulary or the site mappings change; reads no DICOM and is idempotent.
#' @inheritParams loadRcdmPlaybook
#' @return A named list of counts (studies, mapped_before, mapped_after, changed, ...).
#' @examplesIf rcdmAvailable()
#' database <- tempfile(fileext = ".duckdb")
#' createRcdmTables(database, "cdm")
#' fixtures <- rcdmVocabularyFixtures()
#' loadRcdmAthenaVocabulary(database, "vocab", fixtures)
#' loadRcdmPlaybook(database, "cdm", file.path(fixtures, "LoincRsnaRadiologyPlaybook.csv"))
#' remapRcdmProtocols(database, "cdm", vocabularyDatabaseSchema = "vocab")$studies
#' @export
remapRcdmProtocols <- function(connectionDetails, cdmDatabaseSchema, vocabularyDatabaseSchema = cdmDatabaseSchema) {
  .checkText(cdmDatabaseSchema = cdmDatabaseSchema, vocabularyDatabaseSchema = vocabularyDatabaseSchema)
  .requireExistingDatabase(connectionDetails)
  .withConnection(connectionDetails, function(connection) {
    .pyCall(rcdmPython(convert = FALSE)$remap, connection, cdmDatabaseSchema,
            vocabulary_database_schema = vocabularyDatabaseSchema)
  })
}

#' Export the unmapped protocol source values for Usagi
#'
#' Ranked by how many studies and images they cover, so the mapping team starts at the top. The database is
#' opened read-only.
#' @inheritParams createRcdmTables
#' @param outputFile The CSV to write (Usagi imports it directly).
#' @return The same rows as a data.frame. A DuckDB/SQLite file that does not exist is an error.
#' @examplesIf rcdmAvailable()
#' database <- tempfile(fileext = ".duckdb")
#' createRcdmTables(database, "cdm")
#' exportRcdmUnmapped(database, "cdm", tempfile(fileext = ".csv"))
#' @export
exportRcdmUnmapped <- function(connectionDetails, cdmDatabaseSchema, outputFile) {
  .checkText(cdmDatabaseSchema = cdmDatabaseSchema, outputFile = outputFile)
  .requireExistingDatabase(connectionDetails)
  .withConnection(connectionDetails, function(connection) {
    .frameForR(.pyCall(rcdmPython(convert = FALSE)$export_unmapped, connection, cdmDatabaseSchema,
                       path.expand(outputFile), .convert = FALSE))
  }, readOnly = TRUE)
}

#' The bundled vocabulary fixtures (a small playbook extract, CONCEPT.csv, a source_to_concept_map)
#' @return The folder holding them.
#' @examplesIf rcdmAvailable()
#' list.files(rcdmVocabularyFixtures())
#' @export
rcdmVocabularyFixtures <- function() {
  vocab <- .rcdmModule("rcdm.protocols.vocab_data")
  as.character(.pyCall(vocab$fixtures_dir, .convert = FALSE))
}

# --- helpers ------------------------------------------------------------------------------------------------

# list of Python dicts (rows) -> data.frame (through rcdm.interop, so ids stay exact)
.rowsToDataFrame <- function(rows) {
  if (reticulate::py_len(rows) == 0) return(data.frame())
  interop <- reticulate::import("rcdm.interop", convert = FALSE)
  .frameForR(interop$rows_for_r(rows))
}

# Plain R values for Python: NULL stays None; whole doubles where Python wants an int become integers.
.asInt <- function(x) {
  if (is.null(x)) return(NULL)
  if (is.numeric(x) && !anyNA(x) && all(x == round(x)) && all(abs(x) <= .Machine$integer.max)) {
    return(as.integer(x))
  }
  x
}

# A character vector as a Python list (also when it has one element); NULL stays None.
.asList <- function(x) if (is.null(x)) NULL else as.list(x)

# path.expand for an optional path.
.expand <- function(x) if (is.null(x)) NULL else path.expand(x)

# Stop with a clear error when the cohort table is missing (instead of the database's "no such table").
.requireCohortTable <- function(connection, cohortDatabaseSchema, cohortTable) {
  found <- .pyCall(rcdmPython(convert = FALSE)$exists_table, connection, cohortDatabaseSchema, cohortTable)
  if (!isTRUE(found)) {
    .usageError(sprintf(paste0("No cohort table %s.%s: generate cohorts into it with generateRcdmCohortSet() ",
                               "(or insertRcdmTable()), or name the right one with cohortDatabaseSchema and ",
                               "cohortTable"), cohortDatabaseSchema, cohortTable), class = "rcdm_MissingCohortTable")
  }
  invisible(TRUE)
}
