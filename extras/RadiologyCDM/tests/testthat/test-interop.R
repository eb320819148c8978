# R interop: exact 63-bit ids, plain vectors with NA, numeric years, Dates, NA arguments, missing files.

interopDatabase <- local({
  cache <- NULL
  function() {
    if (is.null(cache)) {
      database <- tempfile(fileext = ".duckdb")
      sample <- sampleCorpus(patients = 3)
      createRcdmTables(database, "cdm")
      etlQuietly(database, "cdm", sample$out_dir, personMap = sample$person_map,
                 secretFile = file.path(sample$dir, "site_secret"), workers = 1, root = sample$out_dir)
      writeCohort(database, "cdm", 7)
      cache <<- database
    }
    cache
  }
})

test_that("hashed 63-bit ids come back to R as exact character strings", {
  skipIfNoRcdm()
  database <- interopDatabase()
  images <- getCohortImages(database, 7, "cdm")
  for (column in c("radiology_occurrence_id", "radiology_series_id", "radiology_image_id")) {
    expect_type(images[[column]], "character")
  }
  conn <- connectRcdm(database)
  on.exit(closeRcdmConnection(conn))
  exact <- queryRcdmSql(conn, "SELECT CAST(radiology_image_id AS VARCHAR) AS id FROM cdm.radiology_image")$id
  expect_setequal(images$radiology_image_id, exact)
  expect_true(any(nchar(images$radiology_image_id) >= 17))  # beyond 2^53, where doubles lose digits
  expect_type(images$person_id, "double")
})

test_that("text columns with missing values are character vectors with NA, also when empty", {
  skipIfNoRcdm()
  database <- interopDatabase()
  images <- getCohortImages(database, 7, "cdm")
  for (column in c("anatomical_plane", "contrast_phase", "laterality", "series_type_source_value")) {
    expect_type(images[[column]], "character")
  }
  expect_true(anyNA(images$anatomical_plane))
  expect_false(any(is.nan(images$ct_slice_thickness)))
  none <- getCohortImages(database, 7, "cdm", modalities = "XX")
  expect_equal(nrow(none), 0)
  expect_type(none$anatomical_plane, "character")
  expect_type(none$radiology_image_id, "character")
  expect_type(none$instance_number, "double")
  expect_s3_class(none$radiology_occurrence_date, "Date")
})

test_that("the quality report's years are plain numbers", {
  skipIfNoRcdm()
  report <- getRcdmQualityReport(interopDatabase(), "cdm")
  expect_type(report$by_year$year, "double")
  expect_true(all(report$by_year$year >= 1900 | is.na(report$by_year$year)))
  expect_equal(sum(report$by_year$studies), report$summary$studies)
  expect_null(attr(report$by_year, "pandas.index"))
})

test_that("dates are Dates and date-times are POSIXct in UTC", {
  skipIfNoRcdm()
  images <- getCohortImages(interopDatabase(), 7, "cdm")
  expect_s3_class(images$radiology_occurrence_date, "Date")
  expect_s3_class(images$cohort_start_date, "Date")
  expect_equal(unique(images$cohort_start_date), as.Date("2000-01-01"))
  expect_s3_class(images$radiology_occurrence_datetime, "POSIXct")
  expect_equal(attr(images$radiology_occurrence_datetime, "tzone"), "UTC")
  expect_equal(as.Date(images$radiology_occurrence_datetime, tz = "UTC"), images$radiology_occurrence_date)
})

test_that("NA arguments are refused with an error naming the argument", {
  skipIfNoRcdm()
  database <- interopDatabase()
  expect_error(getCohortImages(database, NA, "cdm"), "`cohortDefinitionId`")
  expect_error(getCohortImages(database, NA_integer_, "cdm"), "`cohortDefinitionId`")
  expect_error(getCohortImages(database, 2^53 + 2, "cdm"), "`cohortDefinitionId`")
  expect_equal(nrow(getCohortImages(database, 3e9, "cdm")), 0)  # beyond 2^31, as BIGINT cohort ids may be
  expect_error(getCohortImages(database, 1.5, "cdm"), "`cohortDefinitionId`")
  expect_error(getCohortImages(database, 7, "cdm", firstStudyOnly = NA), "`firstStudyOnly`")
  expect_error(getCohortImages(database, 7, "cdm", modalities = c("CT", NA)), "`modalities`")
  expect_error(getCohortImages(database, 7, NA_character_), "`cdmDatabaseSchema`")
  expect_error(createRcdmTables(tempfile(fileext = ".duckdb"), "cdm", indexes = NA), "`indexes`")
  expect_error(generateRcdmCohort(database, "SELECT 1", NA, "cdm"), "`cohortDefinitionId`")
})

test_that("read-only wrappers refuse a DuckDB file that does not exist instead of creating it", {
  skipIfNoRcdm()
  missing <- tempfile(fileext = ".duckdb")
  expect_error(getRcdmQualityReport(missing, "cdm"), "No database at")
  expect_error(getCohortImages(missing, 1, "cdm"), "No database at")
  expect_error(exportRcdmUnmapped(missing, "cdm", tempfile(fileext = ".csv")), "No database at")
  expect_error(remapRcdmProtocols(missing, "cdm"), "No database at")
  expect_error(runRcdmStudy(missing, list(), "cdm"), "No database at")
  expect_false(file.exists(missing))
})

test_that("createRcdmTables rows and unmapped exports are plain data.frames", {
  skipIfNoRcdm()
  database <- interopDatabase()
  created <- createRcdmTables(database, "cdm")
  expect_type(created$object, "character")
  expect_true(all(created$status == "exists"))
  unmapped <- exportRcdmUnmapped(database, "cdm", tempfile(fileext = ".csv"))
  expect_s3_class(unmapped, "data.frame")
  expect_type(unmapped$studies, "double")
})
