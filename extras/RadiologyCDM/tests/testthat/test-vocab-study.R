test_that("protocol vocabularies load, remap and export from R", {
  skipIfNoRcdm()
  database <- tempfile(fileext = ".duckdb")
  sample <- sampleCorpus()
  createRcdmTables(database, "cdm")
  etlQuietly(database, "cdm", sample$out_dir, personMap = sample$person_map,
             secretFile = file.path(sample$dir, "site_secret"), workers = 1, root = sample$out_dir)
  fixtures <- rcdmVocabularyFixtures()
  expect_gt(loadRcdmPlaybook(database, "cdm", file.path(fixtures, "LoincRsnaRadiologyPlaybook.csv")), 100)
  loaded <- loadRcdmAthenaVocabulary(database, "cdm", fixtures)
  expect_gt(loaded$concept, 0)
  counts <- remapRcdmProtocols(database, "cdm")
  expect_equal(remapRcdmProtocols(database, "cdm")$changed, 0)  # idempotent
  unmapped <- exportRcdmUnmapped(database, "cdm", file.path(sample$dir, "unmapped.csv"))
  expect_s3_class(unmapped, "data.frame")
  expect_true(all(c("source_code", "source_name", "source_frequency") %in% names(unmapped)))
  expect_equal(nrow(read.csv(file.path(sample$dir, "unmapped.csv"))), nrow(unmapped))
  bad <- tempfile(fileext = ".csv")
  writeLines("not,a,playbook", bad)
  expect_error(loadRcdmPlaybook(database, "cdm", bad), "playbook|column|Playbook", class = "rcdm_error")
})

test_that("a network study runs at two sites and merges from R", {
  skipIfNoRcdm()
  sites <- c(tempfile(fileext = ".duckdb"), tempfile(fileext = ".duckdb"))
  zips <- character(0)
  for (i in seq_along(sites)) {
    sample <- sampleCorpus(patients = 6)
    createRcdmTables(sites[i], "cdm")
    etlQuietly(sites[i], "cdm", sample$out_dir, personMap = sample$person_map,
               secretFile = file.path(sample$dir, "site_secret"), workers = 1, root = sample$out_dir)
    writeCohort(sites[i], "cdm", 1)
    spec <- list(name = "r-study", version = "1.0", min_cell_count = 5, cohorts = list(1),
                 analyses = list(list(id = "by_modality", type = "counts", by = list("modality"))))
    zips[i] <- file.path(sample$dir, "site.zip")
    runRcdmStudy(sites[i], spec, "cdm", outputFile = zips[i], siteName = paste0("site", i),
                 auditLog = file.path(sample$dir, "releases.jsonl"), minCellCount = 5)
    expect_true(file.exists(zips[i]))
  }
  out <- tempfile("merged-")
  merged <- mergeRcdmStudyResults(zips, out)
  expect_true(file.exists(file.path(out, "report.html")))
  counts <- read.csv(file.path(out, "by_modality.csv"))
  expect_true(all(c("site1", "site2") %in% counts$site))
})
