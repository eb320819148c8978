-- Indexes of the ETL bookkeeping tables (quarantine listing, per-run summaries).
{DEFAULT @cdm_database_schema = cdm}

CREATE INDEX idx_rcdm_etl_file_status ON @cdm_database_schema.rcdm_etl_file (status);
CREATE INDEX idx_rcdm_etl_file_run_id ON @cdm_database_schema.rcdm_etl_file (run_id);
