# OHDSI-style functions over the rcdm Python API. Each takes connection details (or a path / URL, or an open
# connection from connectRcdm), converts camelCase arguments to the Python API's snake_case, and returns
# plain R values: data.frames, named lists, character vectors.

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
#' @param batchSize Files per batch (and per transaction).
#' @param root Archive root; \code{file_path} is stored relative to it.
#' @param quiet No progress bar and no printed report.
#' @return The run's summary as a named list (files_seen, loaded, quarantined, skipped, ...).
#' @export
runRcdmEtl <- function(connectionDetails, cdmDatabaseSchema, paths, personMap = NULL, personSource = NULL,
                       secretFile = NULL, workers = NULL, batchSize = 5000, root = NULL, quiet = TRUE) {
  .withConnection(connectionDetails, function(connection) {
    .rcdmCall(rcdmPython()$run_etl(as.list(paths), connection, cdmDatabaseSchema, person_map = personMap,
                                   person_source = personSource, secret_file = secretFile,
                                   workers = .asInt(workers), batch_size = .asInt(batchSize), root = root,
                                   quiet = quiet))
  })
}

#' The mapping-quality report (the R-CDM paper's Tables 3 and 4)
#' @inheritParams createRcdmTables
#' @return A named list of data.frames: summary, columns, by_modality, by_year, files, quarantine, ...
#' @export
getRcdmQualityReport <- function(connectionDetails, cdmDatabaseSchema) {
  .withConnection(connectionDetails, function(connection) {
    .rcdmCall(rcdmPython()$quality_report(connection, cdmDatabaseSchema))
  })
}

#' The images of a cohort
#'
#' @inheritParams createRcdmTables
#' @param cohortDefinitionId The cohort (e.g. from ATLAS).
#' @param cohortDatabaseSchema,cohortTable Where the cohort table is (default: the CDM schema, "cohort").
#' @param ... Filters: modalities, protocolConceptIds, includeDescendants, vocabularyDatabaseSchema,
#'   bodyParts, contrast, planes, lateralities, minSliceThickness, maxSliceThickness, windowStartDays,
#'   windowEndDays, windowAnchor ("start"/"end"), firstStudyOnly.
#' @return A data.frame, one row per image.
#' @export
getCohortImages <- function(connectionDetails, cohortDefinitionId, cdmDatabaseSchema,
                            cohortDatabaseSchema = cdmDatabaseSchema, cohortTable = "cohort", ...) {
  filters <- .snakeCaseNames(list(...))
  .withConnection(connectionDetails, function(connection) {
    args <- c(list(connection, .asInt(cohortDefinitionId), cdmDatabaseSchema,
                   cohort_database_schema = cohortDatabaseSchema, cohort_table = cohortTable), filters)
    .rcdmCall(do.call(rcdmPython()$get_cohort_images, args))
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
  .withConnection(connectionDetails, function(connection) {
    .rcdmCall(rcdmPython()$generate_cohort(connection, sql, .asInt(cohortDefinitionId), cdmDatabaseSchema,
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
#' @return A named list describing the run (the zip's path, the spec hash, ...).
#' @export
runRcdmStudy <- function(connectionDetails, spec, cdmDatabaseSchema, cohortDatabaseSchema = cdmDatabaseSchema,
                         cohortTable = "cohort", outputFile = "site_results.zip", siteName = NULL) {
  .withConnection(connectionDetails, function(connection) {
    .rcdmCall(rcdmPython()$run_study(spec, connection, cdmDatabaseSchema,
                                     cohort_database_schema = cohortDatabaseSchema, cohort_table = cohortTable,
                                     out = outputFile, site_name = siteName))
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

# list of Python dicts (rows) -> data.frame
.rowsToDataFrame <- function(rows) {
  if (length(rows) == 0) return(data.frame())
  do.call(rbind, lapply(rows, function(r) as.data.frame(r, stringsAsFactors = FALSE)))
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
  .withConnection(connectionDetails, function(connection) {
    .rcdmCall(rcdmPython()$remap(connection, cdmDatabaseSchema, vocabulary_database_schema = vocabularyDatabaseSchema))
  })
}

#' Export the unmapped protocol source values for Usagi
#'
#' Ranked by how many studies and images they cover, so the mapping team starts at the top.
#' @inheritParams createRcdmTables
#' @param outputFile The CSV to write (Usagi imports it directly).
#' @return The same rows as a data.frame.
#' @export
exportRcdmUnmapped <- function(connectionDetails, cdmDatabaseSchema, outputFile) {
  .withConnection(connectionDetails, function(connection) {
    .rcdmCall(rcdmPython()$export_unmapped(connection, cdmDatabaseSchema, outputFile))
  })
}

#' The bundled vocabulary fixtures (a small playbook extract, CONCEPT.csv, a source_to_concept_map)
#' @return The folder holding them.
#' @export
rcdmVocabularyFixtures <- function() {
  vocab <- reticulate::import("rcdm.protocols.vocab_data", convert = TRUE)
  .rcdmCall(as.character(vocab$fixtures_dir()))
}
