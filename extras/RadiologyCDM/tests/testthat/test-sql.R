# executeRcdmSql, queryRcdmSql and insertRcdmTable: DatabaseConnector's verbs, NA stored as NULL.

test_that("a data.frame with NA in every column type round-trips through DuckDB", {
  skipIfNoRcdm()
  database <- tempfile(fileext = ".duckdb")
  checkRoundTrip(database, "main")
  executeRcdmSql(database, "CREATE SCHEMA scratch;")
  checkRoundTrip(database, "scratch")
})

test_that("the same through an open connection, and reticulate's NA conversion is what insertRcdmTable avoids", {
  skipIfNoRcdm()
  conn <- connectRcdm(tempfile(fileext = ".duckdb"))
  on.exit(closeRcdmConnection(conn))
  checkRoundTrip(conn, "main")
  # What the Python API gets from an R data.frame directly (why insertRcdmTable exists); reticulate 1.28 can
  # convert a data.frame only with numpy 1.x
  skip_if(numpyMajor() >= 2, "reticulate converts data.frames to pandas only with numpy 1.x")
  rcdmPython()$insert_table(conn, "main", "direct", data.frame(i = c(1L, NA), l = c(TRUE, NA)),
                            create_table = TRUE)
  direct <- queryRcdmSql(conn, "SELECT COUNT(i) AS i, COUNT(l) AS l FROM main.direct;")
  expect_equal(c(direct$i, direct$l), c(2, 2))  # NA arrived as -2147483648 and TRUE, not NULL
})

test_that("executeRcdmSql renders, translates and runs scripts; queryRcdmSql returns data.frames", {
  skipIfNoRcdm()
  database <- tempfile(fileext = ".duckdb")
  executeRcdmSql(database, paste(
    "CREATE TABLE @schema.@table (person_id BIGINT, start_date DATE, value_as_number FLOAT);",
    "INSERT INTO @schema.@table VALUES (1, DATEFROMPARTS(2020, 1, 31), 2.5), (2, NULL, NULL);",
    "INSERT INTO @schema.@table SELECT person_id + 10, DATEADD(day, 1, start_date), value_as_number",
    "FROM @schema.@table WHERE person_id IN (@ids);"), schema = "main", table = "r_exec", ids = c(1, 2))
  rows <- queryRcdmSql(database, "SELECT * FROM main.r_exec ORDER BY person_id;")
  expect_equal(rows$person_id, c(1, 2, 11, 12))
  expect_equal(rows$start_date, as.Date(c("2020-01-31", NA, "2020-02-01", NA)))
  expect_equal(rows$value_as_number, c(2.5, NA, 2.5, NA))
  top <- queryRcdmSql(database,
                      "SELECT TOP 1 person_id FROM main.r_exec WHERE start_date >= :d ORDER BY person_id DESC",
                      bind = list(d = as.Date("2020-02-01")))
  expect_equal(top$person_id, 11)
  named <- queryRcdmSql(database, "SELECT person_id, value_as_number FROM main.r_exec WHERE person_id = :p;",
                        bind = list(p = 1), snakeCaseToCamelCase = TRUE)
  expect_equal(names(named), c("personId", "valueAsNumber"))
  expect_equal(named$valueAsNumber, 2.5)
  executeRcdmSql(database, "DROP TABLE @schema.r_exec;", schema = "main")
  gone <- queryRcdmSql(database, "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name = 'r_exec';")
  expect_equal(gone$n, 0)
  expect_warning(queryRcdmSql(database, "SELECT 1 AS one;", unused = 2), "Parameter 'unused' not found in SQL")
  expect_invisible(executeRcdmSql(database, "SELECT 1;"))
})

test_that("temp tables live on an open connection", {
  skipIfNoRcdm()
  conn <- connectRcdm(tempfile(fileext = ".duckdb"))
  on.exit(closeRcdmConnection(conn))
  insertRcdmTable(conn, "#r_temp", data.frame(x = c(1L, NA, 3L)))
  expect_equal(queryRcdmSql(conn, "SELECT SUM(x) AS s, COUNT(*) - COUNT(x) AS n_null FROM #r_temp;")$s, 4)
  insertRcdmTable(conn, "r_temp2", data.frame(y = "a"), tempTable = TRUE)
  expect_equal(queryRcdmSql(conn, "SELECT y FROM #r_temp2;")$y, "a")
  executeRcdmSql(conn, "SELECT x INTO #r_copy FROM #r_temp WHERE x IS NOT NULL;")
  expect_equal(queryRcdmSql(conn, "SELECT COUNT(*) AS n FROM #r_copy;")$n, 2)
})

test_that("64-bit ids: character ids from queries and bit64 integer64 are stored as exact BIGINTs", {
  skipIfNoRcdm()
  database <- tempfile(fileext = ".duckdb")
  ids <- c("9223372036854775807", "1234567890123456789", "-42")
  insertRcdmTable(database, "main.r_ids", data.frame(radiology_series_id = ids, other_id = c("7", "8", NA),
                                                     note_id = c("x", "1", NA)))
  back <- queryRcdmSql(database, "SELECT * FROM main.r_ids;")
  expect_identical(back$radiology_series_id, ids)  # BIGINT, back as exact character
  types <- queryRcdmSql(database, paste("SELECT column_name, data_type FROM information_schema.columns",
                                        "WHERE table_name = 'r_ids' ORDER BY ordinal_position;"))
  expect_equal(types$data_type, c("BIGINT", "VARCHAR", "VARCHAR"))  # small / non-numeric ids stay text
  # again from what came back: the same table
  insertRcdmTable(database, "main.r_ids2", back)
  expect_identical(queryRcdmSql(database, "SELECT * FROM main.r_ids2;"), back)

  # bit64::integer64 keeps 8-byte integers in a double's bits (NA is INT64_MIN); built here without bit64
  skip_if(.Platform$endian != "little")
  bits <- writeBin(c(1L, 1073741824L, 5L, 0L, 0L, NA_integer_), raw())  # 2^62 + 1, 5, NA
  big <- structure(readBin(bits, "double", n = 3), class = "integer64")
  insertRcdmTable(database, "main.r_int64", data.frame(row_id = 1:3, big = I(big)))
  exact <- queryRcdmSql(database, paste("SELECT CAST(big AS VARCHAR) AS big FROM main.r_int64 ORDER BY row_id;"))
  expect_identical(exact$big, c("4611686018427387905", "5", NA))
})

test_that("insertRcdmTable follows DatabaseConnector's argument rules", {
  skipIfNoRcdm()
  database <- tempfile(fileext = ".duckdb")
  insertRcdmTable(database, "r_args", data.frame(a = 1:2), databaseSchema = "main")
  insertRcdmTable(database, "r_args", data.frame(a = 3L), databaseSchema = "main")  # dropped and re-created
  expect_equal(queryRcdmSql(database, "SELECT a FROM main.r_args;")$a, 3)
  expect_warning(insertRcdmTable(database, "r_args", data.frame(a = 4L), databaseSchema = "main",
                                 createTable = FALSE), "dropTableIfExists = TRUE drops")
  expect_equal(queryRcdmSql(database, "SELECT a FROM main.r_args;")$a, 4)
  insertRcdmTable(database, "main.r_args", data.frame(a = 5L), createTable = FALSE, dropTableIfExists = FALSE)
  expect_equal(queryRcdmSql(database, "SELECT a FROM main.r_args ORDER BY a;")$a, c(4, 5))
  insertRcdmTable(database, "main.r_camel", data.frame(personId = 1L, startDate = as.Date("2020-01-01")),
                  camelCaseToSnakeCase = TRUE)
  expect_equal(names(queryRcdmSql(database, "SELECT * FROM main.r_camel;")), c("person_id", "start_date"))
  empty <- insertRcdmTable(database, "main.r_empty", data.frame(a = integer(0), b = character(0)))
  expect_equal(empty, 0)
  expect_equal(nrow(queryRcdmSql(database, "SELECT * FROM main.r_empty;")), 0)
  one <- insertRcdmTable(database, "main.r_one", data.frame(a = NA, b = NA_character_, d = as.Date(NA)))
  expect_equal(queryRcdmSql(database, "SELECT COUNT(a) + COUNT(b) + COUNT(d) AS n FROM main.r_one;")$n, 0)
})

test_that("bad input is refused with classed R errors before anything reaches the database", {
  skipIfNoRcdm()
  database <- tempfile(fileext = ".duckdb")
  ok <- data.frame(a = 1L)
  expectColumnError <- function(data, pattern) {
    err <- tryCatch(insertRcdmTable(database, "main.r_bad", data), error = function(e) e)
    expect_s3_class(err, "rcdm_ColumnTypeError")
    expect_s3_class(err, "rcdm_error")
    expect_match(conditionMessage(err), pattern)
  }
  listColumn <- data.frame(a = 1:2)
  listColumn$b <- list(1, "x")
  expectColumnError(listColumn, "Column `b` is a list column")
  expectColumnError(data.frame(a = 1:2, z = complex(real = 1:2, imaginary = 1)), "Column `z` is a complex vector")
  expectColumnError(data.frame(t = as.difftime(c(1, 2), units = "hours")), "difftime.*as.numeric")
  expectColumnError(data.frame(d = as.Date("2020-01-01") + c(0, Inf)), "infinite")
  matrixColumn <- data.frame(a = 1:2)
  matrixColumn$m <- matrix(1:4, 2)
  expectColumnError(matrixColumn, "Column `m` is a matrix")

  expect_error(insertRcdmTable(database, "main.r_bad", list(a = 1)), "must be a data.frame", class = "rcdm_UsageError")
  expect_error(insertRcdmTable(database, "main.r_bad", data.frame()), "at least one column", class = "rcdm_UsageError")
  expect_error(insertRcdmTable(database, "main.r_bad", data.frame(a = 1, A = 2)), "unique", class = "rcdm_UsageError")
  expect_error(insertRcdmTable(database, "r_bad", ok), "needs databaseSchema", class = "rcdm_UsageError")
  expect_error(insertRcdmTable(database, "r_bad", ok, tempTable = TRUE), "open connection",
               class = "rcdm_UsageError")
  expect_error(insertRcdmTable(database, "#r_bad", ok, databaseSchema = "main"), "temp table has no schema",
               class = "rcdm_UsageError")
  expect_error(insertRcdmTable(database, "r_bad", ok, "main", createTable = NA), "`createTable` must be TRUE or FALSE",
               class = "rcdm_UsageError")
  expect_error(insertRcdmTable(database, c("a", "b"), ok, "main"), "`tableName` must be a single",
               class = "rcdm_UsageError")
  expect_error(insertRcdmTable(database, "r_bad", ok, "main; DROP TABLE x"), class = "rcdm_IdentifierError")
  expect_error(insertRcdmTable(database, "r_bad", data.frame(`a b` = 1, check.names = FALSE), "main"),
               "Invalid column name", class = "rcdm_IdentifierError")

  expect_error(executeRcdmSql(database, c("SELECT 1;", "SELECT 2;")), "`sql` must be a single string",
               class = "rcdm_UsageError")
  expect_error(executeRcdmSql(database, "SELECT @a;", NA), "must be named", class = "rcdm_UsageError")
  expect_error(executeRcdmSql(database, "SELECT @a;", a = c(1, NA)), "`a` must not be NA", class = "rcdm_UsageError")
  expect_error(queryRcdmSql(database, "SELECT :a AS a;", bind = list(a = NA)), "`bind\\$a`",
               class = "rcdm_UsageError")
  expect_error(queryRcdmSql(database, "SELECT :a AS a;", bind = list(1)), "named list", class = "rcdm_UsageError")
  expect_error(queryRcdmSql(database, "SELECT 1 AS a; SELECT 2 AS b;"), "one statement", class = "rcdm_UsageError")
  err <- tryCatch(executeRcdmSql(database, "SELECT 1; SELECT * FROM main.no_such_table;"), error = function(e) e)
  expect_s3_class(err, "rcdm_DatabaseError")
  expect_match(conditionMessage(err), "Statement 2 of 2 failed")
  expect_error(queryRcdmSql(tempfile(fileext = ".duckdb"), "SELECT 1 AS a;"), "No database at")
})

test_that("an R error inside a Python call keeps its own message after an earlier Python error", {
  skipIfNoRcdm()
  database <- tempfile(fileext = ".duckdb")
  expect_error(executeRcdmSql(database, "SELECT * FROM main.missing_table;"), class = "rcdm_DatabaseError")
  err <- tryCatch(RadiologyCDM:::.rcdmCall(stop("a plain R error")), error = function(e) e)
  expect_false(inherits(err, "rcdm_DatabaseError"))
  expect_equal(conditionMessage(err), "a plain R error")
})

test_that("100,000 rows with NAs go in quickly (the NA handling is vectorised)", {
  skipIfNoRcdm()
  n <- 100000
  missing <- seq(1, n, by = 10)
  data <- data.frame(i = seq_len(n), d = runif(n), l = rep(c(TRUE, FALSE), length.out = n),
                     s = sprintf("value %d", seq_len(n)), day = as.Date("2000-01-01") + seq_len(n) %% 10000,
                     seen_at = as.POSIXct("2000-01-01", tz = "UTC") + seq_len(n), stringsAsFactors = FALSE)
  for (name in names(data)) data[[name]][missing] <- NA
  database <- tempfile(fileext = ".duckdb")
  elapsed <- system.time(insertRcdmTable(database, "main.r_big", data))[["elapsed"]]
  expect_lt(elapsed, 30)
  nulls <- queryRcdmSql(database, paste("SELECT COUNT(*) AS n, COUNT(i) AS i, COUNT(d) AS d, COUNT(l) AS l,",
                                        "COUNT(s) AS s, COUNT(day) AS day, COUNT(seen_at) AS seen_at FROM main.r_big;"))
  expect_equal(unlist(nulls), c(n = n, i = n - length(missing), d = n - length(missing), l = n - length(missing),
                                s = n - length(missing), day = n - length(missing), seen_at = n - length(missing)))
})

test_that("a render parameter that R takes for `sql` is reported, not run", {
  skipIfNoRcdm()
  expect_error(executeRcdmSql(tempfile(fileext = ".duckdb"), "SELECT 1 FROM @s.t;", s = "main"),
               "taken by R for that argument", class = "rcdm_UsageError")
})
