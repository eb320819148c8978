-- Files the ETL has seen, by status and reason (rcdm_etl_file): loaded, duplicate, skipped, quarantined,
-- unmapped_patient. rcdm.report derives the per-status totals and the quarantine list from these rows.
{DEFAULT @cdm_database_schema = cdm}

SELECT
  status,
  reason,
  COUNT(*) AS files
FROM @cdm_database_schema.rcdm_etl_file
GROUP BY status, reason;
