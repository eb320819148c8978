-- Mapping quality of radiology_image (the paper's Table 4), in one pass over the table.
-- One row: row_count, series_count, ct_count (images whose own modality is CT), per column the number of rows
-- where the column is "mapped", and ct_slice_thickness_ct_mapped (CT images with a slice thickness):
--   identifiers, serial number: NOT NULL;
--   text (file path, source values, RadLex ids): NOT NULL and not blank (LEN(RTRIM(x)) > 0 also works on
--   Oracle, where '' is NULL);
--   *_concept_id (RadLex ids such as RID28833, stored as text): not blank and not '0' (OMOP: 0 = no concept);
--   counts and measures (series total, rows, columns, slice thickness): > 0.
-- Each count is named <column>_mapped (an alias never ends in _date: rcdm.db reads numeric *_date columns from
-- SQLite as dates). rcdm.report.COLUMN_RULES states the same rules; a test keeps both equal.
{DEFAULT @cdm_database_schema = cdm}

SELECT
  COUNT(*) AS row_count,
  COUNT(DISTINCT radiology_series_id) AS series_count,
  SUM(CASE WHEN modality = 'CT' THEN 1 ELSE 0 END) AS ct_count,
  SUM(CASE WHEN radiology_image_id IS NOT NULL THEN 1 ELSE 0 END) AS radiology_image_id_mapped,
  SUM(CASE WHEN radiology_occurrence_id IS NOT NULL THEN 1 ELSE 0 END) AS radiology_occurrence_id_mapped,
  SUM(CASE WHEN radiology_series_id IS NOT NULL THEN 1 ELSE 0 END) AS radiology_series_id_mapped,
  SUM(CASE WHEN LEN(RTRIM(file_path)) > 0 THEN 1 ELSE 0 END) AS file_path_mapped,
  SUM(CASE WHEN LEN(RTRIM(body_part_source_value)) > 0 THEN 1 ELSE 0 END) AS body_part_source_value_mapped,
  SUM(CASE WHEN LEN(RTRIM(laterality_concept_id)) > 0 AND laterality_concept_id <> '0' THEN 1 ELSE 0 END) AS laterality_concept_id_mapped,
  SUM(CASE WHEN LEN(RTRIM(laterality_source_value)) > 0 THEN 1 ELSE 0 END) AS laterality_source_value_mapped,
  SUM(CASE WHEN LEN(RTRIM(anatomical_plane_concept_id)) > 0 AND anatomical_plane_concept_id <> '0' THEN 1 ELSE 0 END) AS anatomical_plane_concept_id_mapped,
  SUM(CASE WHEN LEN(RTRIM(anatomical_plane_source_value)) > 0 THEN 1 ELSE 0 END) AS anatomical_plane_source_value_mapped,
  SUM(CASE WHEN LEN(RTRIM(series_type_concept_id)) > 0 AND series_type_concept_id <> '0' THEN 1 ELSE 0 END) AS series_type_concept_id_mapped,
  SUM(CASE WHEN LEN(RTRIM(series_type_source_value)) > 0 THEN 1 ELSE 0 END) AS series_type_source_value_mapped,
  SUM(CASE WHEN series_total_number > 0 THEN 1 ELSE 0 END) AS series_total_number_mapped,
  SUM(CASE WHEN series_serial_number IS NOT NULL THEN 1 ELSE 0 END) AS series_serial_number_mapped,
  SUM(CASE WHEN image_resolution_rows > 0 THEN 1 ELSE 0 END) AS image_resolution_rows_mapped,
  SUM(CASE WHEN image_resolution_columns > 0 THEN 1 ELSE 0 END) AS image_resolution_columns_mapped,
  SUM(CASE WHEN ct_slice_thickness > 0 THEN 1 ELSE 0 END) AS ct_slice_thickness_mapped,
  SUM(CASE WHEN modality = 'CT' AND ct_slice_thickness > 0 THEN 1 ELSE 0 END) AS ct_slice_thickness_ct_mapped,
  SUM(CASE WHEN LEN(RTRIM(modality)) > 0 THEN 1 ELSE 0 END) AS modality_mapped,
  SUM(CASE WHEN instance_number IS NOT NULL THEN 1 ELSE 0 END) AS instance_number_mapped,
  SUM(CASE WHEN LEN(RTRIM(radiology_series_source_value)) > 0 THEN 1 ELSE 0 END) AS radiology_series_source_value_mapped,
  SUM(CASE WHEN LEN(RTRIM(radiology_image_source_value)) > 0 THEN 1 ELSE 0 END) AS radiology_image_source_value_mapped
FROM @cdm_database_schema.radiology_image;
