-- Mapping quality of radiology_occurrence (the paper's Table 3), in one pass over the table.
-- One row: row_count, person_count, and per column the number of rows where the column is "mapped":
--   identifiers, dates, visit link: NOT NULL;
--   text: NOT NULL and not blank (LEN(RTRIM(x)) > 0 also works on Oracle, where '' is NULL);
--   *_concept_id: NOT NULL and not 0 (OMOP: 0 = no matching concept);
--   counts: > 0.
-- Each count is named <column>_mapped (an alias never ends in _date: rcdm.db reads numeric *_date columns from
-- SQLite as dates). rcdm.report.COLUMN_RULES states the same rules; a test keeps both equal.
{DEFAULT @cdm_database_schema = cdm}

SELECT
  COUNT(*) AS row_count,
  COUNT(DISTINCT person_id) AS person_count,
  SUM(CASE WHEN radiology_occurrence_id IS NOT NULL THEN 1 ELSE 0 END) AS radiology_occurrence_id_mapped,
  SUM(CASE WHEN person_id IS NOT NULL THEN 1 ELSE 0 END) AS person_id_mapped,
  SUM(CASE WHEN radiology_occurrence_date IS NOT NULL THEN 1 ELSE 0 END) AS radiology_occurrence_date_mapped,
  SUM(CASE WHEN radiology_occurrence_datetime IS NOT NULL THEN 1 ELSE 0 END) AS radiology_occurrence_datetime_mapped,
  SUM(CASE WHEN LEN(RTRIM(modality)) > 0 THEN 1 ELSE 0 END) AS modality_mapped,
  SUM(CASE WHEN LEN(RTRIM(manufacturer)) > 0 THEN 1 ELSE 0 END) AS manufacturer_mapped,
  SUM(CASE WHEN protocol_concept_id <> 0 THEN 1 ELSE 0 END) AS protocol_concept_id_mapped,
  SUM(CASE WHEN LEN(RTRIM(protocol_source_value)) > 0 THEN 1 ELSE 0 END) AS protocol_source_value_mapped,
  SUM(CASE WHEN count_of_series > 0 THEN 1 ELSE 0 END) AS count_of_series_mapped,
  SUM(CASE WHEN count_of_images > 0 THEN 1 ELSE 0 END) AS count_of_images_mapped,
  SUM(CASE WHEN LEN(RTRIM(radiology_note)) > 0 THEN 1 ELSE 0 END) AS radiology_note_mapped,
  SUM(CASE WHEN visit_occurrence_id IS NOT NULL THEN 1 ELSE 0 END) AS visit_occurrence_id_mapped,
  SUM(CASE WHEN LEN(RTRIM(radiology_occurrence_source_value)) > 0 THEN 1 ELSE 0 END) AS radiology_occurrence_source_value_mapped
FROM @cdm_database_schema.radiology_occurrence;
