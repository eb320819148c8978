-- Finalize an ETL run (rcdm.etl.load.finalize), in one transaction, set-based. Batches insert images
-- numbered within the batch and studies counted within the batch (provisional), and record the (study,
-- series) pairs they touched in rcdm_etl_pending; this recounts those studies and renumbers those series
-- from all their images, writing only the values that change (series split by a batch boundary, studies
-- loaded over several batches or runs), then empties rcdm_etl_pending. Runs after the last batch of a run and
-- at the start of every run (to complete a run killed before its finalize); with nothing pending it changes
-- nothing.
{DEFAULT @cdm_database_schema = cdm}
{DEFAULT @restudy = TRUE}

DELETE FROM @cdm_database_schema.rcdm_etl_stage_count;
DELETE FROM @cdm_database_schema.rcdm_etl_stage_order;

-- 1. Counts of the pending studies, from the images themselves; only those that change are kept.
INSERT INTO @cdm_database_schema.rcdm_etl_stage_count (radiology_occurrence_id, count_of_images, count_of_series)
SELECT c.radiology_occurrence_id, c.count_of_images, c.count_of_series
FROM (
  SELECT radiology_occurrence_id, COUNT(*) AS count_of_images, COUNT(DISTINCT radiology_series_id) AS count_of_series
  FROM @cdm_database_schema.radiology_image
  WHERE radiology_occurrence_id IN (SELECT radiology_occurrence_id FROM @cdm_database_schema.rcdm_etl_pending)
  GROUP BY radiology_occurrence_id
) c
INNER JOIN @cdm_database_schema.radiology_occurrence o ON o.radiology_occurrence_id = c.radiology_occurrence_id
WHERE o.count_of_images IS NULL OR o.count_of_series IS NULL OR o.count_of_images <> c.count_of_images
  OR o.count_of_series <> c.count_of_series;

UPDATE @cdm_database_schema.radiology_occurrence
SET count_of_images = (SELECT c.count_of_images FROM @cdm_database_schema.rcdm_etl_stage_count c
    WHERE c.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id),
  count_of_series = (SELECT c.count_of_series FROM @cdm_database_schema.rcdm_etl_stage_count c
    WHERE c.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id)
WHERE radiology_occurrence_id IN (SELECT radiology_occurrence_id FROM @cdm_database_schema.rcdm_etl_stage_count);

-- 2. Totals and positions of the pending series, in InstanceNumber order (missing numbers last; ties broken
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
  WHERE radiology_series_id IN (SELECT radiology_series_id FROM @cdm_database_schema.rcdm_etl_pending)
) numbered
WHERE series_serial_number IS NULL OR series_total_number IS NULL OR series_serial_number <> new_serial
  OR series_total_number <> new_total;

UPDATE @cdm_database_schema.radiology_image
SET series_total_number = (SELECT w.series_total_number FROM @cdm_database_schema.rcdm_etl_stage_order w
    WHERE w.radiology_image_id = radiology_image.radiology_image_id),
  series_serial_number = (SELECT w.series_serial_number FROM @cdm_database_schema.rcdm_etl_stage_order w
    WHERE w.radiology_image_id = radiology_image.radiology_image_id)
WHERE radiology_image_id IN (SELECT radiology_image_id FROM @cdm_database_schema.rcdm_etl_stage_order);

-- 3. Studies that lost instances: their values merged again from the files they still have (as a load of those
--    files alone would: earliest date and datetime, smallest manufacturer and protocol; the modality list is
--    rebuilt by rcdm.etl.load.finalize). Left out when rcdm_etl_restudy is empty (@restudy FALSE): its joins
--    of rcdm_etl_file and radiology_image cost a scan of both even for no study.
{@restudy} ? {
UPDATE @cdm_database_schema.radiology_occurrence
SET radiology_occurrence_date = (SELECT MIN(f.study_date) FROM @cdm_database_schema.rcdm_etl_file f
    INNER JOIN @cdm_database_schema.radiology_image i ON i.radiology_image_id = f.radiology_image_id
    WHERE f.status = 'loaded' AND i.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id),
  radiology_occurrence_datetime = (SELECT MIN(f.study_datetime) FROM @cdm_database_schema.rcdm_etl_file f
    INNER JOIN @cdm_database_schema.radiology_image i ON i.radiology_image_id = f.radiology_image_id
    WHERE f.status = 'loaded' AND i.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id),
  manufacturer = (SELECT MIN(f.manufacturer) FROM @cdm_database_schema.rcdm_etl_file f
    INNER JOIN @cdm_database_schema.radiology_image i ON i.radiology_image_id = f.radiology_image_id
    WHERE f.status = 'loaded' AND i.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id),
  protocol_source_value = (SELECT MIN(f.protocol_source_value) FROM @cdm_database_schema.rcdm_etl_file f
    INNER JOIN @cdm_database_schema.radiology_image i ON i.radiology_image_id = f.radiology_image_id
    WHERE f.status = 'loaded' AND i.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id)
WHERE radiology_occurrence_id IN (SELECT radiology_occurrence_id FROM @cdm_database_schema.rcdm_etl_restudy);
}

-- 4. Pending studies left without any image (their files changed, were removed or moved to another study).
DELETE FROM @cdm_database_schema.radiology_occurrence
WHERE (radiology_occurrence_id IN (SELECT radiology_occurrence_id FROM @cdm_database_schema.rcdm_etl_pending)
    OR radiology_occurrence_id IN (SELECT radiology_occurrence_id FROM @cdm_database_schema.rcdm_etl_restudy))
  AND NOT EXISTS (SELECT 1 FROM @cdm_database_schema.radiology_image i
    WHERE i.radiology_occurrence_id = radiology_occurrence.radiology_occurrence_id);

DELETE FROM @cdm_database_schema.rcdm_etl_pending;
DELETE FROM @cdm_database_schema.rcdm_etl_restudy;
