# Shared set-up: a sample DICOM corpus per test file, and the PostgreSQL server the Python tests started.

sampleCorpus <- function(patients = 4) {
  dir <- tempfile("rcdm-r-")
  dir.create(dir)
  sample <- writeRcdmSampleDicom(file.path(dir, "dicom"), patients = patients)
  sample$dir <- dir
  sample
}

# Connection details for the PostgreSQL server named by RCDM_TEST_POSTGRES_URL (set by the Python test
# runner); NULL when there is none.
postgresDetails <- function() {
  url <- Sys.getenv("RCDM_TEST_POSTGRES_URL")
  if (!nzchar(url)) return(NULL)
  parts <- regmatches(url, regexec("^[a-z+]+://([^@:/]+)@([^:/]+):([0-9]+)/(.+)$", url))[[1]]
  createRcdmConnectionDetails(dbms = "postgresql", server = paste0(parts[3], "/", parts[5]), user = parts[2],
                              port = as.numeric(parts[4]))
}

# A cohort holding every person with a study, written through insert_table with an R data.frame.
writeCohort <- function(connectionDetails, schema, cohortId) {
  conn <- connectRcdm(connectionDetails)
  on.exit(closeRcdmConnection(conn))
  rcdm <- rcdmPython()
  persons <- rcdm$query_sql(conn, paste0("SELECT DISTINCT person_id FROM ", schema, ".radiology_occurrence"))
  cohort <- data.frame(cohort_definition_id = cohortId, subject_id = persons$person_id,
                       cohort_start_date = as.Date("2000-01-01"), cohort_end_date = as.Date("2030-12-31"))
  rcdm$insert_table(conn, schema, "cohort", cohort, drop_table_if_exists = TRUE)
  nrow(cohort)
}

# The whole R workflow against one database: create, load, report, cohort, extract.
checkWorkflow <- function(connectionDetails, schema) {
  sample <- sampleCorpus()
  created <- createRcdmTables(connectionDetails, schema)
  expect_s3_class(created, "data.frame")
  expect_true(all(c("radiology_occurrence", "radiology_image") %in% created$object))

  summary <- runRcdmEtl(connectionDetails, schema, sample$out_dir, personMap = sample$person_map,
                        secretFile = file.path(sample$dir, "site_secret"), workers = 1, root = sample$out_dir)
  expect_equal(summary$files_seen, summary$loaded + summary$quarantined + summary$skipped)
  expect_equal(summary$loaded, length(sample$images))

  report <- getRcdmQualityReport(connectionDetails, schema)
  expect_s3_class(report$columns, "data.frame")
  expect_true(all(c("person_id", "ct_slice_thickness") %in% report$columns$column))
  expect_equal(report$summary$images, length(sample$images))

  persons <- writeCohort(connectionDetails, schema, 123)
  images <- getCohortImages(connectionDetails, 123, schema)  # 123 arrives in Python as a double
  expect_s3_class(images, "data.frame")
  expect_equal(nrow(images), length(sample$images))
  expect_equal(length(unique(images$person_id)), persons)
  ct <- getCohortImages(connectionDetails, 123, schema, modalities = "CT", planes = c("axial", "coronal"))
  expect_true(nrow(ct) > 0 && nrow(ct) < nrow(images))
  expect_true(all(ct$modality == "CT"))
}
