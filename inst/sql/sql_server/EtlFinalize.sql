-- Finalize an ETL run (rcdm.etl.load.finalize), in one transaction, set-based: batches insert images with
-- series_serial_number NULL ("series not numbered yet"); this recounts every study holding such an image,
-- then numbers every such series. Runs after the last batch of a run and at the start of every run (to
-- complete a run killed before its finalize); with nothing pending it changes nothing.
{DEFAULT @cdm_database_schema = cdm}

DELETE FROM @cdm_database_schema.rcdm_etl_stage_count;
DELETE FROM @cdm_database_schema.rcdm_etl_stage_order;

-- 1. Counts of the touched studies, from the images themselves (one grouped pass, right whatever the order).
INSERT INTO @cdm_database_schema.rcdm_etl_stage_count (radiology_occurrence_id, count_of_images, count_of_series)
SELECT radiology_occurrence_id, COUNT(*), COUNT(DISTINCT radiology_series_id)
FROM @cdm_database_schema.radiology_image
WHERE radiology_occurrence_id IN (
  SELECT radiology_occurrence_id FROM @cdm_database_schema.radiology_image WHERE series_serial_number IS NULL
)
GROUP BY radiology_occurrence_id;

UPDATE @cdm_database_schema.radiology_occurrence
SET count_of_images = (SELECT c.count_of_images FROM @cdm_database_schema.rcdm_etl_stage_count c
    WHERE c.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id),
  count_of_series = (SELECT c.count_of_series FROM @cdm_database_schema.rcdm_etl_stage_count c
    WHERE c.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id)
WHERE radiology_occurrence_id IN (SELECT radiology_occurrence_id FROM @cdm_database_schema.rcdm_etl_stage_count);

-- 2. Totals and positions of the touched series, in InstanceNumber order (missing numbers last; ties broken
--    by the hashed SOP UID, so the order does not depend on the load order); only rows that change are kept.
INSERT INTO @cdm_database_schema.rcdm_etl_stage_order (radiology_image_id, series_total_number, series_serial_number)
SELECT radiology_image_id, new_total, new_serial
FROM (
  SELECT radiology_image_id, series_total_number, series_serial_number,
    COUNT(*) OVER (PARTITION BY radiology_series_id) AS new_total,
    ROW_NUMBER() OVER (PARTITION BY radiology_series_id
      ORDER BY CASE WHEN instance_number IS NULL THEN 1 ELSE 0 END, instance_number, radiology_image_source_value)
      AS new_serial
  FROM @cdm_database_schema.radiology_image
  WHERE radiology_series_id IN (
    SELECT radiology_series_id FROM @cdm_database_schema.radiology_image WHERE series_serial_number IS NULL
  )
) numbered
WHERE series_serial_number IS NULL OR series_total_number IS NULL OR series_serial_number <> new_serial
  OR series_total_number <> new_total;

UPDATE @cdm_database_schema.radiology_image
SET series_total_number = (SELECT w.series_total_number FROM @cdm_database_schema.rcdm_etl_stage_order w
    WHERE w.radiology_image_id = radiology_image.radiology_image_id),
  series_serial_number = (SELECT w.series_serial_number FROM @cdm_database_schema.rcdm_etl_stage_order w
    WHERE w.radiology_image_id = radiology_image.radiology_image_id)
WHERE radiology_image_id IN (SELECT radiology_image_id FROM @cdm_database_schema.rcdm_etl_stage_order);
