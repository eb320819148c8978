test_that("create, load, report and extract on PostgreSQL from R", {
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
