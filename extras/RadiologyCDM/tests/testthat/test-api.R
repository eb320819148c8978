# The SqlRender-shaped wrappers, Python conditions as R conditions, read-only connections, cohort sets.

test_that("renderRcdmSql has SqlRender's names and R semantics for vectors and NA", {
  skipIfNoRcdm()
  expect_equal(renderRcdmSql("SELECT * FROM @schema.t WHERE id IN (@ids);", schema = "cdm", ids = c(1, 2, 3)),
               "SELECT * FROM cdm.t WHERE id IN (1,2,3);")
  expect_equal(renderRcdmSql(c(a = "SELECT @x;", b = NA, c = "{@flag} ? {yes} : {no}"), x = "1", flag = TRUE),
               c(a = "SELECT 1;", b = NA, c = "yes"))
  expect_equal(renderRcdmSql("SELECT '@d';", d = as.Date("2020-02-29")), "SELECT '2020-02-29';")
  expect_equal(renderRcdmSql(character(0)), character(0))
  expect_warning(renderRcdmSql("SELECT 1;", unused = 1), "Parameter 'unused' not found in SQL",
                 class = "rcdm_SqlRenderWarning")
  expect_silent(renderRcdmSql("SELECT 1;", unused = 1, warnOnMissingParameters = FALSE))
})

test_that("translateRcdmSql and splitRcdmSql behave as SqlRender's", {
  skipIfNoRcdm()
  expect_equal(translateRcdmSql("SELECT TOP 5 x FROM t;", targetDialect = "postgresql"), "SELECT x FROM t LIMIT 5;")
  expect_equal(translateRcdmSql(c("SELECT TOP 1 x FROM t;", NA), "sqlite"), c("SELECT x FROM t LIMIT 1;", NA))
  temp <- translateRcdmSql("SELECT x INTO #t FROM y;", "oracle", tempEmulationSchema = "scratch")
  expect_match(temp, "scratch\\.")
  err <- tryCatch(translateRcdmSql("SELECT 1;", "no_such_dialect"), error = function(e) e)
  expect_s3_class(err, "rcdm_error")
  expect_s3_class(err, "rcdm_UnsupportedDialectError")
  expect_equal(splitRcdmSql("SELECT 1; -- a; comment\nSELECT ';' AS x;"), c("SELECT 1", "-- a; comment\nSELECT ';' AS x"))
  expect_true("postgresql" %in% listRcdmSupportedDialects()$dialect)
})

test_that("a Python error over 1,000 characters arrives whole and classed, not garbled", {
  skipIfNoRcdm()
  schema <- strrep("x", 3000)
  err <- tryCatch(createRcdmTables(tempfile(fileext = ".duckdb"), schema), error = function(e) e)
  expect_s3_class(err, "rcdm_IdentifierError")
  expect_s3_class(err, "rcdm_error")
  expect_false(grepl("basic_string", conditionMessage(err)))
  expect_match(err$fullMessage, paste0("Invalid cdm_database_schema '", schema, "'"), fixed = TRUE)
  expect_lte(nchar(conditionMessage(err)), 1000)  # R prints up to warning.length = 1000 characters
  expect_match(conditionMessage(err), "^Invalid cdm_database_schema 'xxx")
  expect_match(conditionMessage(err), "characters omitted")
  expect_match(conditionMessage(err), "underscores", fixed = TRUE)  # the end of the message is kept
})

test_that("the ETL's site-secret and data-quality warnings are R warnings; Python prints nothing itself", {
  skipIfNoRcdm()
  sample <- sampleCorpus(patients = 2)
  database <- file.path(sample$dir, "site.duckdb")
  secret <- file.path(sample$dir, "site_secret")
  warnings <- list()
  messages <- character(0)
  summary <- withCallingHandlers(
    runRcdmEtl(database, "cdm", sample$out_dir, personMap = sample$person_map, secretFile = secret, workers = 1),
    warning = function(w) {
      warnings[[length(warnings) + 1]] <<- w
      invokeRestart("muffleWarning")
    },
    message = function(m) {
      messages <<- c(messages, conditionMessage(m))
      invokeRestart("muffleMessage")
    })
  classes <- vapply(warnings, function(w) class(w)[1], "")
  expect_true("rcdm_MissingSecretWarning" %in% classes)
  expect_match(conditionMessage(warnings[[which(classes == "rcdm_MissingSecretWarning")]]),
               "created a new site secret")
  quality <- vapply(warnings[classes == "rcdm_DataQualityWarning"], conditionMessage, "")
  expect_true(any(grepl("2 files quarantined \\(missing_uid: 1, truncated: 1\\)", quality)))
  expect_true(any(grepl("impossible DICOM dates", quality)))
  expect_match(paste(messages, collapse = ""), "files seen")  # the report, as an R message
  expect_equal(summary$loaded, length(sample$images))
  # a second run: the secret exists, so no secret warning; quiet = TRUE: no report
  again <- withCallingHandlers(
    runRcdmEtl(database, "cdm", sample$out_dir, personMap = sample$person_map, secretFile = secret, workers = 1,
               quiet = TRUE),
    message = function(m) stop("unexpected message: ", conditionMessage(m)),
    rcdm_MissingSecretWarning = function(w) stop("the secret was created again"),
    rcdm_DataQualityWarning = function(w) invokeRestart("muffleWarning"))
  expect_equal(again$loaded, 0)

  # at the file-descriptor level too: a separate R process whose stdout and stderr must stay empty
  script <- tempfile(fileext = ".R")
  writeLines(c(
    "suppressPackageStartupMessages(library(RadiologyCDM))",
    sprintf("s <- writeRcdmSampleDicom(%s, patients = 2)", deparse(file.path(sample$dir, "other"))),
    sprintf("db <- %s", deparse(file.path(sample$dir, "other.duckdb"))),
    "invisible(createRcdmTables(db, 'cdm'))",
    sprintf(paste("invisible(suppressMessages(suppressWarnings(runRcdmEtl(db, 'cdm', s$out_dir,",
                  "personMap = s$person_map, secretFile = %s, workers = 2))))"),
            deparse(file.path(sample$dir, "other_secret"))),
    "invisible(getRcdmQualityReport(db, 'cdm'))",
    "invisible(queryRcdmSql(db, 'SELECT COUNT(*) AS n FROM cdm.radiology_image;'))"), script)
  out <- system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", script), stdout = TRUE, stderr = TRUE)
  expect_identical(out, character(0))
})

test_that("read-only calls let a second R session read the same DuckDB file", {
  skipIfNoRcdm()
  sample <- sampleCorpus(patients = 2)
  database <- file.path(sample$dir, "site.duckdb")
  createRcdmTables(database, "cdm")
  etlQuietly(database, "cdm", sample$out_dir, personMap = sample$person_map,
             secretFile = file.path(sample$dir, "site_secret"), workers = 1)
  reader <- connectRcdm(database, readOnly = TRUE)
  on.exit(closeRcdmConnection(reader))
  expect_gt(queryRcdmSql(reader, "SELECT COUNT(*) AS n FROM cdm.radiology_image;")$n, 0)
  err <- tryCatch(executeRcdmSql(reader, "DELETE FROM cdm.radiology_image;"), error = function(e) e)
  expect_s3_class(err, "rcdm_error")  # the read-only connection refuses writes
  script <- tempfile(fileext = ".R")
  writeLines(c("suppressPackageStartupMessages(library(RadiologyCDM))",
               sprintf("db <- %s", deparse(database)),
               "cat('images', queryRcdmSql(db, 'SELECT COUNT(*) AS n FROM cdm.radiology_image;')$n, '\\n')",
               "cat('report', getRcdmQualityReport(db, 'cdm')$summary$images, '\\n')"), script)
  out <- system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", script), stdout = TRUE, stderr = TRUE)
  n <- length(sample$images)
  expect_true(any(grepl(paste("images", n), out)), info = paste(out, collapse = "\n"))
  expect_true(any(grepl(paste("report", n), out)), info = paste(out, collapse = "\n"))
})

test_that("read-only calls still work while this session holds the file open read-write", {
  skipIfNoRcdm()
  database <- tempfile(fileext = ".duckdb")
  createRcdmTables(database, "cdm")
  writer <- connectRcdm(database)
  on.exit(closeRcdmConnection(writer))
  executeRcdmSql(writer, "CREATE TABLE cdm.z (x INT); INSERT INTO cdm.z VALUES (1);")
  expect_equal(queryRcdmSql(database, "SELECT x FROM cdm.z;")$x, 1)
  expect_equal(nrow(getRcdmQualityReport(database, "cdm")$summary), 1)
  executeRcdmSql(writer, "INSERT INTO cdm.z VALUES (2);")
  expect_equal(queryRcdmSql(database, "SELECT x FROM cdm.z ORDER BY x;")$x, c(1, 2))
})

test_that("connections a call opens are closed on exit, also after an error", {
  skipIfNoRcdm()
  database <- tempfile(fileext = ".duckdb")
  createRcdmTables(database, "cdm")
  expect_error(queryRcdmSql(database, "SELECT * FROM cdm.no_such_table;"), class = "rcdm_DatabaseError")
  # a writer in another process gets the file: nothing here holds it open
  script <- tempfile(fileext = ".R")
  writeLines(c("suppressPackageStartupMessages(library(RadiologyCDM))",
               sprintf("executeRcdmSql(%s, 'CREATE TABLE cdm.written (x INT);')", deparse(database)),
               "cat('written\\n')"), script)
  out <- system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", script), stdout = TRUE, stderr = TRUE)
  expect_true(any(grepl("^written", out)), info = paste(out, collapse = "\n"))
})

test_that("getCohortImages without a cohort table says what to do", {
  skipIfNoRcdm()
  database <- tempfile(fileext = ".duckdb")
  createRcdmTables(database, "cdm")
  expect_error(getCohortImages(database, 123, "cdm"), "No cohort table cdm.cohort: generate cohorts",
               class = "rcdm_MissingCohortTable")
})

test_that("insertRcdmTable creates a missing schema; loadRcdmCdmCsv loads Eunomia CSVs", {
  skipIfNoRcdm()
  database <- tempfile(fileext = ".duckdb")
  insertRcdmTable(database, "my_cohort", data.frame(subject_id = 1), databaseSchema = "scratch")
  expect_equal(queryRcdmSql(database, "SELECT subject_id FROM scratch.my_cohort;")$subject_id, 1)
  gibleed <- system.file("extdata", "GiBleed_subset.zip", package = "RadiologyCDM")
  loaded <- loadRcdmCdmCsv(database, "cdm", gibleed, tables = c("person", "observation_period"))
  expect_equal(names(loaded), c("person", "observation_period"))
  expect_equal(unname(loaded[["person"]]), 2694)
  expect_error(loadRcdmCdmCsv(database, "cdm", gibleed, tables = "person"), class = "rcdm_error")  # exists
  expect_equal(loadRcdmCdmCsv(database, "cdm", gibleed, tables = "person", overwrite = TRUE)[["person"]], 2694)
})

checkCohortSet <- function(connectionDetails, cdm, results) {
  gibleed <- system.file("extdata", "GiBleed_subset.zip", package = "RadiologyCDM")
  loadRcdmCdmCsv(connectionDetails, cdm, gibleed, overwrite = TRUE)
  everyone <- paste("INSERT INTO @target_database_schema.@target_cohort_table",
                    "SELECT @target_cohort_id, person_id, observation_period_start_date, observation_period_end_date",
                    "FROM @cdm_database_schema.observation_period;")
  set <- data.frame(
    cohortId = c("1", "9007199254740993", "9223372036854775807"),
    cohortName = c("GI bleed", "everyone (id beyond 2^53)", "everyone (largest 64-bit id)"),
    sql = c(system.file("cohorts", "GiBleed.sql", package = "RadiologyCDM"), everyone, everyone),
    stringsAsFactors = FALSE)
  generated <- generateRcdmCohortSet(connectionDetails, cdm, cohortDatabaseSchema = results,
                                     cohortTable = "my_cohort", cohortDefinitionSet = set)
  expect_equal(generated$cohortId, set$cohortId)
  expect_equal(generated$generationStatus, rep("COMPLETE", 3))
  observed <- queryRcdmSql(connectionDetails, paste("SELECT COUNT(DISTINCT person_id) AS persons, COUNT(*) AS periods",
                                                    "FROM @cdm.observation_period;"), cdm = cdm)
  expect_equal(generated$cohortSubjects, c(479, observed$persons, observed$persons))
  expect_equal(generated$cohortEntries[2:3], rep(observed$periods, 2))
  counts <- getRcdmCohortCounts(connectionDetails, results, "my_cohort")
  expect_setequal(as.character(counts$cohortId), set$cohortId)  # 64-bit ids exact, as character
  expect_equal(getRcdmCohortCounts(connectionDetails, results, "my_cohort", cohortIds = c(1, 5))$cohortSubjects,
               c(479, 0))
  # numeric ids up to 2^53 are exact too
  one <- generateRcdmCohort(connectionDetails, everyone, 2^53, cdm, cohortDatabaseSchema = results,
                            cohortTable = "my_cohort")
  expect_equal(one$cohortEntries, observed$periods)
  ids <- queryRcdmSql(connectionDetails, paste("SELECT DISTINCT CAST(cohort_definition_id AS VARCHAR(20)) AS id",
                                               "FROM @r.my_cohort ORDER BY 1;"), r = results)$id
  expect_setequal(ids, c("1", "9007199254740992", "9007199254740993", "9223372036854775807"))
  # a failing cohort: an R error naming it, or with stopOnError = FALSE a FAILED row and a warning
  bad <- rbind(set[1, ], data.frame(cohortId = "2", cohortName = "broken", sql = "SELECT * FROM @nope;"))
  expect_error(generateRcdmCohortSet(connectionDetails, cdm, results, "my_cohort", bad), "Cohort 2 \\(broken\\)")
  expect_warning(status <- generateRcdmCohortSet(connectionDetails, cdm, results, "my_cohort", bad,
                                                 stopOnError = FALSE), "Cohort 2 \\(broken\\)")
  expect_equal(status$generationStatus, c("COMPLETE", "FAILED"))
}

test_that("a cohort definition set generates on DuckDB, with counts per cohort and 64-bit ids", {
  skipIfNoRcdm()
  checkCohortSet(tempfile(fileext = ".duckdb"), "cdm", "results")
})

test_that("a cohort definition set generates on PostgreSQL", {
  skipIfNoRcdm()
  details <- postgresDetailsOrSkip()
  executeRcdmSql(details, "DROP SCHEMA IF EXISTS r_gib CASCADE; DROP SCHEMA IF EXISTS r_gib_results CASCADE;")
  on.exit(executeRcdmSql(details, "DROP SCHEMA IF EXISTS r_gib CASCADE; DROP SCHEMA IF EXISTS r_gib_results CASCADE;"))
  checkCohortSet(details, "r_gib", "r_gib_results")
  expect_equal(renderRcdmSql("SELECT @x", x = 1), "SELECT 1")
  expect_equal(queryRcdmSql(details, translateRcdmSql("SELECT TOP 1 1 AS one;", "postgresql"))$one, 1)
})
