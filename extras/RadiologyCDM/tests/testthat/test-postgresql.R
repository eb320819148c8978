test_that("create, load, report and extract on PostgreSQL from R", {
  skipIfNoRcdm()
  details <- postgresDetails()
  if (is.null(details)) {
    if (nzchar(Sys.getenv("CI"))) fail("CI must run the PostgreSQL tests: RCDM_TEST_POSTGRES_URL is not set")
    skip("no PostgreSQL server (set RCDM_TEST_POSTGRES_URL)")
  }
  conn <- connectRcdm(details)
  rcdmPython()$execute_sql(conn, "DROP SCHEMA IF EXISTS r_test CASCADE;")
  closeRcdmConnection(conn)
  checkWorkflow(details, "r_test")
})

test_that("a data.frame with NA in every column type round-trips through PostgreSQL", {
  skipIfNoRcdm()
  details <- postgresDetails()
  if (is.null(details)) {
    if (nzchar(Sys.getenv("CI"))) fail("CI must run the PostgreSQL tests: RCDM_TEST_POSTGRES_URL is not set")
    skip("no PostgreSQL server (set RCDM_TEST_POSTGRES_URL)")
  }
  executeRcdmSql(details, "DROP SCHEMA IF EXISTS @schema CASCADE; CREATE SCHEMA @schema;", schema = "r_sql_test")
  checkRoundTrip(details, "r_sql_test")
  conn <- connectRcdm(details)
  on.exit(closeRcdmConnection(conn))
  insertRcdmTable(conn, "#r_temp", data.frame(x = c(1L, NA), s = c(NA, "b")))
  temp <- queryRcdmSql(conn, "SELECT COUNT(x) AS x, COUNT(s) AS s, COUNT(*) AS n FROM #r_temp;")
  expect_equal(unlist(temp), c(x = 1, s = 1, n = 2))
  executeRcdmSql(conn, "DROP SCHEMA @schema CASCADE;", schema = "r_sql_test")
})
