-- rcdm ETL work tables, beside the R-CDM tables (rcdm.etl.load): rcdm_etl_stage_key holds the ids of a
-- batch's loaded images (looked up against the stored images and studies), rcdm_etl_stage_study the merged
-- values of the stored studies a batch adds images to (EtlLoadBatch.sql), rcdm_etl_stage_count and
-- rcdm_etl_stage_order the changed counts and series numbers of EtlFinalize.sql (rcdm_etl_pending, last, is
-- not a per-batch work table: see below). rcdm_etl_stage_image is no longer
-- written (kept so older schemas stay valid). They hold only de-identified values (keyed hashes, derived
-- values) and are emptied at the start of every batch and after a run. One ETL run per schema at a time
-- (rcdm.etl.lock), so one set of work tables is enough.
{DEFAULT @cdm_database_schema = cdm}

IF OBJECT_ID('@cdm_database_schema.rcdm_etl_stage_image', 'U') IS NULL
CREATE TABLE @cdm_database_schema.rcdm_etl_stage_image (
  seq INTEGER NOT NULL,
  file_key VARCHAR(64) NOT NULL,
  file_path VARCHAR(1024) NOT NULL,
  file_size BIGINT NULL,
  file_mtime_ns BIGINT NULL,
  status VARCHAR(20) NOT NULL,
  reason VARCHAR(255) NULL,
  person_id BIGINT NULL,
  radiology_image_id BIGINT NULL,
  radiology_occurrence_id BIGINT NULL,
  radiology_series_id BIGINT NULL,
  body_part_source_value VARCHAR(64) NULL,
  laterality_concept_id VARCHAR(20) NULL,
  laterality_source_value VARCHAR(20) NULL,
  anatomical_plane_concept_id VARCHAR(20) NULL,
  anatomical_plane_source_value VARCHAR(20) NULL,
  series_type_concept_id VARCHAR(20) NULL,
  series_type_source_value VARCHAR(50) NULL,
  image_resolution_rows INTEGER NULL,
  image_resolution_columns INTEGER NULL,
  ct_slice_thickness FLOAT NULL,
  modality VARCHAR(16) NULL,
  instance_number INTEGER NULL,
  radiology_series_source_value VARCHAR(64) NULL,
  radiology_image_source_value VARCHAR(64) NULL,
  run_id BIGINT NOT NULL,
  processed_at DATETIME NOT NULL
);

IF OBJECT_ID('@cdm_database_schema.rcdm_etl_stage_study', 'U') IS NULL
CREATE TABLE @cdm_database_schema.rcdm_etl_stage_study (
  radiology_occurrence_id BIGINT NOT NULL,
  person_id BIGINT NOT NULL,
  radiology_occurrence_date DATE NULL,
  radiology_occurrence_datetime DATETIME NULL,
  modality VARCHAR(50) NULL,
  manufacturer VARCHAR(64) NULL,
  protocol_source_value VARCHAR(255) NULL,
  radiology_occurrence_source_value VARCHAR(64) NULL,
  is_new INTEGER NOT NULL,
  CONSTRAINT xpk_rcdm_etl_stage_study PRIMARY KEY (radiology_occurrence_id)
);

IF OBJECT_ID('@cdm_database_schema.rcdm_etl_stage_order', 'U') IS NULL
CREATE TABLE @cdm_database_schema.rcdm_etl_stage_order (
  radiology_image_id BIGINT NOT NULL,
  series_total_number INTEGER NULL,
  series_serial_number INTEGER NULL,
  CONSTRAINT xpk_rcdm_etl_stage_order PRIMARY KEY (radiology_image_id)
);

IF OBJECT_ID('@cdm_database_schema.rcdm_etl_stage_key', 'U') IS NULL
CREATE TABLE @cdm_database_schema.rcdm_etl_stage_key (
  radiology_image_id BIGINT NOT NULL,
  radiology_occurrence_id BIGINT NOT NULL
);

IF OBJECT_ID('@cdm_database_schema.rcdm_etl_stage_count', 'U') IS NULL
CREATE TABLE @cdm_database_schema.rcdm_etl_stage_count (
  radiology_occurrence_id BIGINT NOT NULL,
  count_of_images INTEGER NULL,
  count_of_series INTEGER NULL,
  CONSTRAINT xpk_rcdm_etl_stage_count PRIMARY KEY (radiology_occurrence_id)
);

-- The (study, series) pairs batches loaded images into since the last finalize (EtlFinalize.sql recounts and
-- renumbers them, then empties the table). Not a per-batch work table: it survives a killed run, so the next
-- run's opening finalize completes it.
IF OBJECT_ID('@cdm_database_schema.rcdm_etl_pending', 'U') IS NULL
CREATE TABLE @cdm_database_schema.rcdm_etl_pending (
  radiology_occurrence_id BIGINT NOT NULL,
  radiology_series_id BIGINT NOT NULL
);

-- The file keys of the next batch (rcdm.etl.run: which files an earlier run recorded), filled and emptied in
-- one transaction.
IF OBJECT_ID('@cdm_database_schema.rcdm_etl_stage_file', 'U') IS NULL
CREATE TABLE @cdm_database_schema.rcdm_etl_stage_file (
  file_key BIGINT NOT NULL
);

-- The studies that lost instances since the last finalize (files changed, removed or re-mapped: rcdm.etl.load.
-- forget_files): EtlFinalize.sql merges their values again from the files they still have, then empties it.
-- Like rcdm_etl_pending, it survives a killed run.
IF OBJECT_ID('@cdm_database_schema.rcdm_etl_restudy', 'U') IS NULL
CREATE TABLE @cdm_database_schema.rcdm_etl_restudy (
  radiology_occurrence_id BIGINT NOT NULL
);
