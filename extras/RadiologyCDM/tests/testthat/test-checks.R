# Argument checks happen in R, before Python starts: these run with or without rcdm.

test_that("argument types are checked in R and errors name the R argument", {
  db <- tempfile(fileext = ".duckdb")
  expect_error(getCohortImages(db, 1, "cdm", firstStudyOnly = "yes"), "`firstStudyOnly` must be TRUE or FALSE",
               class = "rcdm_UsageError")
  expect_error(getCohortImages(db, 1, "cdm", modality = "CT"), "unused argument \\(modality")
  expect_error(getCohortImages(db, 1, "cdm", windowAnchor = "middle"), "`windowAnchor` must be one of")
  expect_error(getCohortImages(db, 1, "cdm", minSliceThickness = "thin"), "`minSliceThickness`")
  expect_error(getCohortImages(db, 1, "cdm", planes = c("axial", NA)), "`planes`")
  expect_error(getCohortImages(db, 1.5, "cdm"), "`cohortDefinitionId`", class = "rcdm_UsageError")
  expect_error(getCohortImages(db, "12x", "cdm"), "`cohortDefinitionId`")
  expect_error(getCohortImages(db, "99999999999999999999", "cdm"), "`cohortDefinitionId`")  # beyond 64 bits
  expect_error(createRcdmTables(db, "cdm", model = "everything"), "`model` must be one of \"all\"")
  expect_error(createRcdmTables(db, c("a", "b")), "`cdmDatabaseSchema` must be a single")
  expect_error(runRcdmEtl(db, "cdm", paths = character(0)), "`paths`")
  expect_error(runRcdmEtl(db, "cdm", "x", workers = 0), "`workers` must be a single whole number")
  expect_error(runRcdmEtl(db, "cdm", "x", quiet = "no"), "`quiet` must be TRUE or FALSE")
  expect_error(generateRcdmCohortSet(db, "cdm", cohortDefinitionSet = list(cohortId = 1)), "must be a data.frame")
  expect_error(generateRcdmCohortSet(db, "cdm", cohortDefinitionSet = data.frame(cohortId = 1)),
               "needs the column\\(s\\) sql")
  expect_error(generateRcdmCohortSet(db, "cdm", cohortDefinitionSet = data.frame(cohortId = c(1, 1), sql = "x")),
               "repeats 1")
  expect_error(generateRcdmCohort(db, "SELECT 1;", NA, "cdm"), "`cohortDefinitionId`")
  expect_error(renderRcdmSql(1), "`sql` must be character")
  expect_error(renderRcdmSql("SELECT @a", a = NA), "`a` must not be NA")
  expect_error(renderRcdmSql("SELECT @a", warnOnMissingParameters = "no"), "`warnOnMissingParameters`")
  expect_error(translateRcdmSql("SELECT 1", target_dialect = "postgresql"), "unused argument")
  expect_error(splitRcdmSql(c("SELECT 1", "SELECT 2")), "`sql` must be a single string")
  expect_error(loadRcdmCdmCsv(db, "cdm", "x.zip", tables = NA_character_), "`tables`")
  expect_error(connectRcdm(db, readOnly = NA), "`readOnly` must be TRUE or FALSE")
  expect_error(createRcdmConnectionDetails(dbms = NA), "`dbms`")
  expect_false(file.exists(db))  # nothing was created by a refused call
})

test_that("library(RadiologyCDM) does not start Python", {
  rscript <- file.path(R.home("bin"), "Rscript")
  out <- system2(rscript, c("-e", shQuote(paste(
    "library(RadiologyCDM);",
    "cat('started:', reticulate::py_available(initialize = FALSE), '\\n')"))), stdout = TRUE, stderr = TRUE)
  expect_true(any(grepl("started: FALSE", out, fixed = TRUE)), info = paste(out, collapse = "\n"))
})

test_that("without rcdm every function says what to install", {
  # tests/test_r_package.py runs R CMD check with a Python without rcdm too, where the rest of this test runs
  if (rcdmAvailable()) return(expect_true(rcdmAvailable()))
  db <- tempfile(fileext = ".duckdb")
  for (call in list(quote(createRcdmTables(db, "cdm")), quote(writeRcdmSampleDicom(tempfile())),
                    quote(getRcdmQualityReport(db, "cdm")), quote(insertRcdmTable(db, "main.t", data.frame(a = 1))),
                    quote(renderRcdmSql("SELECT 1")), quote(rcdmVocabularyFixtures()))) {
    err <- tryCatch(eval(call), error = function(e) e)
    expect_s3_class(err, "rcdm_PythonMissing")
    expect_match(conditionMessage(err), "The Python package 'rcdm' is not available to reticulate", fixed = TRUE)
  }
})
