-- Apply one staged batch (rcdm_etl_stage_image, rcdm_etl_stage_study) to the R-CDM tables. Runs inside the
-- batch's transaction, after rcdm.etl.load has decided every file's status: 'loaded' rows are new images, or
-- reloads of the same file (same SOP instance, same path: replaced); duplicates and person conflicts are
-- already marked. Portable SQL only: correlated-subquery UPDATEs run on every dialect, Oracle and SQLite too.
{DEFAULT @cdm_database_schema = cdm}

-- 1. Images: a reloaded file replaces its row, then every 'loaded' row is inserted.
DELETE FROM @cdm_database_schema.radiology_image
WHERE radiology_image_id IN (
  SELECT radiology_image_id FROM @cdm_database_schema.rcdm_etl_stage_image WHERE status = 'loaded'
);

INSERT INTO @cdm_database_schema.radiology_image (
  radiology_image_id, radiology_occurrence_id, radiology_series_id, file_path, body_part_source_value,
  laterality_concept_id, laterality_source_value, anatomical_plane_concept_id, anatomical_plane_source_value,
  series_type_concept_id, series_type_source_value, series_total_number, series_serial_number,
  image_resolution_rows, image_resolution_columns, ct_slice_thickness, modality, instance_number,
  radiology_series_source_value, radiology_image_source_value
)
SELECT radiology_image_id, radiology_occurrence_id, radiology_series_id, file_path, body_part_source_value,
  laterality_concept_id, laterality_source_value, anatomical_plane_concept_id, anatomical_plane_source_value,
  series_type_concept_id, series_type_source_value, NULL, NULL,
  image_resolution_rows, image_resolution_columns, ct_slice_thickness, modality, instance_number,
  radiology_series_source_value, radiology_image_source_value
FROM @cdm_database_schema.rcdm_etl_stage_image
WHERE status = 'loaded';

-- 2. Studies: new ones inserted (protocol_concept_id 0 until the vocabulary maps it), known ones merged
--    (values computed order-independently by rcdm.etl.load: earliest date, sorted modalities, min texts).
INSERT INTO @cdm_database_schema.radiology_occurrence (
  radiology_occurrence_id, person_id, radiology_occurrence_date, radiology_occurrence_datetime, modality,
  manufacturer, protocol_concept_id, protocol_source_value, count_of_series, count_of_images,
  radiology_occurrence_source_value
)
SELECT radiology_occurrence_id, person_id, radiology_occurrence_date, radiology_occurrence_datetime, modality,
  manufacturer, 0, protocol_source_value, 0, 0, radiology_occurrence_source_value
FROM @cdm_database_schema.rcdm_etl_stage_study
WHERE is_new = 1;

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

-- 3. Counts of the studies the batch touched, from the images themselves (right whatever the run order).
UPDATE @cdm_database_schema.radiology_occurrence
SET count_of_images = (SELECT COUNT(*) FROM @cdm_database_schema.radiology_image i
    WHERE i.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id),
  count_of_series = (SELECT COUNT(DISTINCT i.radiology_series_id) FROM @cdm_database_schema.radiology_image i
    WHERE i.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id)
WHERE radiology_occurrence_id IN (SELECT radiology_occurrence_id FROM @cdm_database_schema.rcdm_etl_stage_study);

-- 4. Series totals and positions of the series the batch touched, in InstanceNumber order (missing numbers
--    last; ties broken by the hashed SOP UID, so the order does not depend on the load order).
DELETE FROM @cdm_database_schema.rcdm_etl_stage_order;

INSERT INTO @cdm_database_schema.rcdm_etl_stage_order (radiology_image_id, series_total_number, series_serial_number)
SELECT radiology_image_id,
  COUNT(*) OVER (PARTITION BY radiology_series_id),
  ROW_NUMBER() OVER (PARTITION BY radiology_series_id
    ORDER BY CASE WHEN instance_number IS NULL THEN 1 ELSE 0 END, instance_number, radiology_image_source_value)
FROM @cdm_database_schema.radiology_image
WHERE radiology_series_id IN (
  SELECT radiology_series_id FROM @cdm_database_schema.rcdm_etl_stage_image WHERE status = 'loaded'
);

UPDATE @cdm_database_schema.radiology_image
SET series_total_number = (SELECT w.series_total_number FROM @cdm_database_schema.rcdm_etl_stage_order w
    WHERE w.radiology_image_id = radiology_image.radiology_image_id),
  series_serial_number = (SELECT w.series_serial_number FROM @cdm_database_schema.rcdm_etl_stage_order w
    WHERE w.radiology_image_id = radiology_image.radiology_image_id)
WHERE radiology_image_id IN (SELECT radiology_image_id FROM @cdm_database_schema.rcdm_etl_stage_order);

-- 5. One rcdm_etl_file row per file of the batch (a file seen before gets its new status).
DELETE FROM @cdm_database_schema.rcdm_etl_file
WHERE file_key IN (SELECT file_key FROM @cdm_database_schema.rcdm_etl_stage_image);

INSERT INTO @cdm_database_schema.rcdm_etl_file (
  file_key, file_path, file_size, file_mtime_ns, status, reason, radiology_image_id, run_id, processed_at
)
SELECT file_key, file_path, file_size, file_mtime_ns, status, reason,
  CASE WHEN status IN ('loaded', 'duplicate') THEN radiology_image_id ELSE NULL END, run_id, processed_at
FROM @cdm_database_schema.rcdm_etl_stage_image;
