-- rcdm's ETL bookkeeping, beside the R-CDM tables: one row per run, and one row per file the ETL has seen.
-- rcdm_etl_file makes re-runs cheap and exact (a file already loaded, skipped or quarantined and unchanged
-- since is not read again) and is the quarantine list (status 'quarantined', with the reason and the time).
-- It holds no patient data: paths are relative to the archive root, reasons are fixed codes plus detail.
-- file_key is the first 63 bits of the keyed hash (HMAC-SHA256 with the site secret) of the file's real relative
-- path (rcdm.etl.transform.file_ids): the path cannot be recovered from it, and a BIGINT key costs far less to
-- insert and look up than the 64-character hex digest older schemas hold (the ETL converts those in place on
-- its next run: rcdm.etl.load.upgrade_file_keys). file_path is de-identified (rcdm.etl.transform.sanitize_path:
-- UIDs, accession numbers, PatientIDs, names and birth dates in names replaced); the real path is only in the
-- site's path index (rcdm.etl.path_index). header_checksum is a keyed 63-bit hash of the header (a rerun
-- compares it with size and mtime to find a file rewritten in place); its sign tells its definition (positive:
-- version 1 of rcdm 0.1.0, negative: version 2; rcdm.dicom.identity.header_checksum). study_date, study_datetime,
-- manufacturer and protocol_source_value are the study-level values the file's instance gave (de-identified,
-- as in radiology_occurrence): when a study loses instances (files changed or gone) its values are merged
-- again from the files it still has (EtlFinalize.sql). These five columns are added to older tables by the ETL.
{DEFAULT @cdm_database_schema = cdm}

IF OBJECT_ID('@cdm_database_schema.rcdm_etl_run', 'U') IS NULL
CREATE TABLE @cdm_database_schema.rcdm_etl_run (
  run_id BIGINT NOT NULL,
  started_at DATETIME NOT NULL,
  finished_at DATETIME NULL,
  status VARCHAR(20) NOT NULL,
  rcdm_version VARCHAR(20) NULL,
  summary VARCHAR(MAX) NULL,
  CONSTRAINT xpk_rcdm_etl_run PRIMARY KEY (run_id)
);

--HINT DISTRIBUTE_ON_KEY(file_key)
IF OBJECT_ID('@cdm_database_schema.rcdm_etl_file', 'U') IS NULL
CREATE TABLE @cdm_database_schema.rcdm_etl_file (
  file_key BIGINT NOT NULL,
  file_path VARCHAR(1024) NOT NULL,
  file_size BIGINT NULL,
  file_mtime_ns BIGINT NULL,
  status VARCHAR(20) NOT NULL,
  reason VARCHAR(255) NULL,
  radiology_image_id BIGINT NULL,
  run_id BIGINT NOT NULL,
  processed_at DATETIME NOT NULL,
  header_checksum BIGINT NULL,
  study_date DATE NULL,
  study_datetime DATETIME NULL,
  manufacturer VARCHAR(64) NULL,
  protocol_source_value VARCHAR(255) NULL,
  CONSTRAINT xpk_rcdm_etl_file PRIMARY KEY (file_key)
);

-- The person each patient was mapped to when its files loaded (patient_key: the keyed hash of the PatientID,
-- as staged): a run whose person map says otherwise re-maps those patients (rcdm.etl.persons).
--HINT DISTRIBUTE_ON_KEY(person_id)
IF OBJECT_ID('@cdm_database_schema.rcdm_etl_person', 'U') IS NULL
CREATE TABLE @cdm_database_schema.rcdm_etl_person (
  patient_key VARCHAR(64) NOT NULL,
  person_id BIGINT NOT NULL,
  CONSTRAINT xpk_rcdm_etl_person PRIMARY KEY (patient_key)
);
