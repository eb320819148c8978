test_that("create, load, report and extract on DuckDB from R", {
  skipIfNoRcdm()
  database <- tempfile(fileext = ".duckdb")
  checkWorkflow(database, "cdm")
})

test_that("re-creating the tables is a no-op and reports what exists", {
  skipIfNoRcdm()
  database <- tempfile(fileext = ".duckdb")
  createRcdmTables(database, "cdm", model = "all")
  again <- createRcdmTables(database, "cdm", model = "all")
  expect_true(all(again$status == "exists"))
  expect_equal(sort(dropRcdmTables(database, "cdm", model = "all")),
               sort(c("image_feature", "image_occurrence", "radiology_image", "radiology_occurrence")))
})

test_that("Python errors reach R as R errors with the same message", {
  skipIfNoRcdm()
  err <- tryCatch(createRcdmTables(tempfile(fileext = ".duckdb"), "cdm; DROP TABLE person"),
                  error = function(e) e)
  expect_s3_class(err, "rcdm_error")
  expect_s3_class(err, "rcdm_IdentifierError")
  expect_match(conditionMessage(err), "Invalid cdm_database_schema 'cdm; DROP TABLE person'", fixed = TRUE)
  expect_error(connectRcdm(list(server = "x")), "connectionDetails must be")
})

test_that("the Python API takes plain R values through reticulate::import", {
  skipIfNoRcdm()
  rcdm <- reticulate::import("rcdm")
  expect_equal(rcdm$render("SELECT @a FROM @b;", a = 1, b = "t"), "SELECT 1 FROM t;")
  expect_equal(rcdm$translate("SELECT TOP 5 x FROM t;", "postgresql"), "SELECT x FROM t LIMIT 5;")
  # data.frames cross as pandas only where reticulate reads numpy's arrays (reticulate 1.28: numpy 1.x);
  # the RadiologyCDM wrappers send columns without numpy and work with both
  skip_if(numpyMajor() >= 2, "reticulate converts data.frames to pandas only with numpy 1.x")
  conn <- rcdm$connect(tempfile(fileext = ".duckdb"))
  on.exit(conn$close())
  rcdm$insert_table(conn, "main", "r_frame", data.frame(a = c(1L, 2L), b = c("x", "y"),
                                                        d = as.Date(c("2020-01-01", "2021-02-03"))),
                    create_table = TRUE)
  back <- rcdm$query_sql(conn, "SELECT a, b, d FROM main.r_frame ORDER BY a;")
  expect_s3_class(back, "data.frame")
  expect_equal(back$a, c(1, 2))
  expect_equal(back$b, c("x", "y"))
  # DATE columns are datetime.date objects (an object column): with numpy 1.x reticulate hands them over as a
  # list of Python dates (the RadiologyCDM wrappers send real Dates)
  d <- if (is.list(back$d)) vapply(back$d, function(x) format(x), "") else back$d
  expect_equal(as.Date(d), as.Date(c("2020-01-01", "2021-02-03")))
})

test_that("the ETL's worker processes start from R (the README's call, default workers)", {
  skipIfNoRcdm()
  database <- tempfile(fileext = ".duckdb")
  sample <- sampleCorpus(patients = 3)
  summary <- etlQuietly(database, "cdm", sample$out_dir, personMap = sample$person_map,
                        secretFile = file.path(sample$dir, "site_secret"), workers = 2)
  expect_equal(summary$loaded, length(sample$images))
})
