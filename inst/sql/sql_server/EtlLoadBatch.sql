-- Merge the stored studies a batch adds images to (rcdm_etl_stage_study, filled by rcdm.etl.load only when
-- the batch has such studies). Runs inside the batch's transaction; the values were computed
-- order-independently by rcdm.etl.load.decide (earliest date, sorted modalities, smallest texts). The
-- batch's images, new studies and rcdm_etl_file rows are bulk-inserted by rcdm.etl.load itself; counts and
-- series numbers are left to EtlFinalize.sql. Portable SQL only: correlated-subquery UPDATEs run on every
-- dialect, Oracle and SQLite too.
{DEFAULT @cdm_database_schema = cdm}

UPDATE @cdm_database_schema.radiology_occurrence
SET radiology_occurrence_date = (SELECT s.radiology_occurrence_date FROM @cdm_database_schema.rcdm_etl_stage_study s
    WHERE s.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id),
  radiology_occurrence_datetime = (SELECT s.radiology_occurrence_datetime FROM @cdm_database_schema.rcdm_etl_stage_study s
    WHERE s.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id),
  modality = (SELECT s.modality FROM @cdm_database_schema.rcdm_etl_stage_study s
    WHERE s.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id),
  manufacturer = (SELECT s.manufacturer FROM @cdm_database_schema.rcdm_etl_stage_study s
    WHERE s.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id),
  protocol_source_value = (SELECT s.protocol_source_value FROM @cdm_database_schema.rcdm_etl_stage_study s
    WHERE s.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id)
WHERE radiology_occurrence_id IN (
  SELECT radiology_occurrence_id FROM @cdm_database_schema.rcdm_etl_stage_study WHERE is_new = 0
);
