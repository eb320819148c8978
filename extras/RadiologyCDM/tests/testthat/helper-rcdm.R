# Shared set-up: a sample DICOM corpus per test file, and the PostgreSQL server the Python tests started.

# Tests that need the rcdm Python package skip, with this message, where reticulate's Python lacks it (the
# tests of R-side argument checks still run).
skipIfNoRcdm <- function() {
  if (!rcdmAvailable()) {
    skip(paste0("the Python package rcdm is not available to reticulate (set RETICULATE_PYTHON to a Python ",
                "with rcdm installed)"))
  }
}

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

# postgresDetails(), or a skip (a failure in CI, which must run the PostgreSQL tests).
postgresDetailsOrSkip <- function() {
  details <- postgresDetails()
  if (is.null(details)) {
    if (nzchar(Sys.getenv("CI"))) fail("CI must run the PostgreSQL tests: RCDM_TEST_POSTGRES_URL is not set")
    skip("no PostgreSQL server (set RCDM_TEST_POSTGRES_URL)")
  }
  details
}

# A cohort holding every person with a study, written through insertRcdmTable with an R data.frame.
writeCohort <- function(connectionDetails, schema, cohortId) {
  conn <- connectRcdm(connectionDetails)
  on.exit(closeRcdmConnection(conn))
  persons <- queryRcdmSql(conn, paste0("SELECT DISTINCT person_id FROM ", schema, ".radiology_occurrence"))
  cohort <- data.frame(cohort_definition_id = cohortId, subject_id = persons$person_id,
                       cohort_start_date = as.Date("2000-01-01"), cohort_end_date = as.Date("2030-12-31"))
  insertRcdmTable(conn, "cohort", cohort, databaseSchema = schema, dropTableIfExists = TRUE)
  nrow(cohort)
}

# The whole R workflow against one database: create, load, report, cohort, extract.
checkWorkflow <- function(connectionDetails, schema) {
  sample <- sampleCorpus()
  created <- createRcdmTables(connectionDetails, schema)
  expect_s3_class(created, "data.frame")
  expect_true(all(c("radiology_occurrence", "radiology_image") %in% created$object))

  summary <- etlQuietly(connectionDetails, schema, sample$out_dir, personMap = sample$person_map,
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

# A data.frame with an NA in every column type insertRcdmTable stores, next to values that must survive as
# they are (the string "NA", the empty string, the smallest R integer, dates before 1970, a leap day).
naFrame <- function() {
  data.frame(
    row_id = 1:4,
    int_value = c(1L, NA, -2147483647L, 0L),
    num_value = c(1.5, NA, NaN, -1e300),
    flag = c(TRUE, NA, FALSE, TRUE),
    label = c("a", NA, "NA", ""),
    category = factor(c("x", NA, "y", "x")),
    visit_date = as.Date(c("2020-02-29", NA, "1960-05-06", "2038-01-20")),
    visit_time = as.POSIXct(c("2020-01-02 03:04:05.25", NA, "1969-12-31 23:59:59", "2000-01-01 00:00:00"),
                            tz = "America/New_York"),
    radiology_image_id = c("9223372036854775807", NA, "-9223372036854775807", "4611686018427387905"),
    stringsAsFactors = FALSE
  )
}

# naFrame() through insertRcdmTable and back through queryRcdmSql: every NA a NULL in the database (not TRUE
# or -2147483648), column types from the R types, and the values back as R values.
checkRoundTrip <- function(connectionDetails, schema) {
  data <- naFrame()
  expect_equal(insertRcdmTable(connectionDetails, "r_na_frame", data, databaseSchema = schema), nrow(data))

  nulls <- queryRcdmSql(connectionDetails, paste0(
    "SELECT ", paste0("COUNT(*) - COUNT(", names(data), ") AS nulls_", seq_along(data), collapse = ", "),
    " FROM @schema.r_na_frame;"), schema = schema)
  expect_equal(unname(unlist(nulls)), c(0, 1, 2, 1, 1, 1, 1, 1, 1))
  notNull <- queryRcdmSql(connectionDetails, paste0(
    "SELECT COUNT(*) AS n FROM @schema.r_na_frame WHERE row_id = 2 AND (",
    paste0(setdiff(names(data), "row_id"), " IS NOT NULL", collapse = " OR "), ");"), schema = schema)
  expect_equal(notNull$n, 0)  # the row of NAs is a row of NULLs

  types <- queryRcdmSql(connectionDetails, paste(
    "SELECT column_name, data_type FROM information_schema.columns",
    "WHERE LOWER(table_schema) = LOWER(:schema) AND LOWER(table_name) = 'r_na_frame';"),
    bind = list(schema = schema))
  type <- stats::setNames(tolower(types$data_type), types$column_name)
  expect_match(type[["int_value"]], "^int")
  expect_match(type[["flag"]], "int")
  expect_match(type[["num_value"]], "double|float")
  expect_match(type[["label"]], "char")
  expect_match(type[["category"]], "char")
  expect_equal(type[["visit_date"]], "date")
  expect_match(type[["visit_time"]], "^timestamp")
  expect_equal(type[["radiology_image_id"]], "bigint")

  back <- queryRcdmSql(connectionDetails, "SELECT * FROM @schema.r_na_frame ORDER BY row_id;", schema = schema)
  expect_equal(names(back), names(data))
  expect_equal(back$int_value, c(1, NA, -2147483647, 0))
  expect_equal(back$num_value, c(1.5, NA, NA, -1e300))
  expect_equal(back$flag, c(1, NA, 0, 1))
  expect_identical(back$label, c("a", NA, "NA", ""))
  expect_identical(back$category, c("x", NA, "y", "x"))
  expect_s3_class(back$visit_date, "Date")
  expect_equal(back$visit_date, data$visit_date)
  expect_s3_class(back$visit_time, "POSIXct")
  expect_equal(as.numeric(back$visit_time), as.numeric(data$visit_time), tolerance = 1e-9)
  ids <- queryRcdmSql(connectionDetails, paste(
    "SELECT CAST(radiology_image_id AS VARCHAR(30)) AS id FROM @schema.r_na_frame ORDER BY row_id;"),
    schema = schema)
  expect_identical(ids$id, data$radiology_image_id)  # exact beyond 2^53, NA a NULL

  # append keeps the table and its types
  more <- data[1:2, ]
  more$row_id <- 5:6
  expect_equal(insertRcdmTable(connectionDetails, "r_na_frame", more, databaseSchema = schema,
                               createTable = FALSE, dropTableIfExists = FALSE), 2)
  all <- queryRcdmSql(connectionDetails, "SELECT row_id, flag FROM @schema.r_na_frame ORDER BY row_id;",
                      schema = schema)
  expect_equal(all$row_id, 1:6)
  expect_equal(all$flag, c(1, NA, 0, 1, 1, NA))
  executeRcdmSql(connectionDetails, "DROP TABLE @schema.r_na_frame;", schema = schema)
}

# runRcdmEtl without its report and with the expected warnings about the sample's junk files and the new
# site secret muffled (test-api.R checks that they arrive).
etlQuietly <- function(...) {
  withCallingHandlers(runRcdmEtl(..., quiet = TRUE),
                      rcdm_warning = function(w) invokeRestart("muffleWarning"))
}

# The major version of numpy in reticulate's Python: reticulate 1.28 (Debian 12) converts data.frames to and from
# pandas only with numpy 1.x, which is why the wrappers never let a numpy array cross.
numpyMajor <- function() {
  reticulate::py_eval("int(__import__('numpy').__version__.split('.')[0])")
}
