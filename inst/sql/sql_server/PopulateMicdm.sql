-- Fill the OHDSI MI-CDM image_occurrence table from the R-CDM tables: one row per series.
-- image_occurrence_id = radiology_series_id; image_study_uid / image_series_uid = the keyed hashes rcdm stores
-- (radiology_occurrence_source_value / radiology_series_source_value), never real UIDs; procedure_occurrence_id
-- = 0 (MI-CDM requires a value; rcdm links no procedure_occurrence row); wadors_uri and local_path NULL.
-- modality_concept_id / anatomic_site_concept_id: a valid site mapping in source_to_concept_map
-- (source_vocabulary_id RCDM_MODALITY / RCDM_BODY_PART, source_code = the DICOM Modality / BodyPartExamined
-- value) wins; else the concept whose vocabulary_id = 'DICOM' and concept_code = that value (looked up, never
-- hard-coded: the DICOM vocabulary is not final); else 0.
-- Series whose study has no date or no hashed Study UID cannot be stored (NOT NULL in MI-CDM) and are skipped.
-- Idempotent: the rows made before (ids that are radiology_series_ids) are deleted first.
{DEFAULT @cdm_database_schema = cdm}
{DEFAULT @vocabulary_database_schema = cdm}
{DEFAULT @has_concept = TRUE}
{DEFAULT @has_stcm = FALSE}

DELETE FROM @cdm_database_schema.image_occurrence
WHERE image_occurrence_id IN (SELECT radiology_series_id FROM @cdm_database_schema.radiology_image);

INSERT INTO @cdm_database_schema.image_occurrence (image_occurrence_id, person_id, visit_occurrence_id,
  procedure_occurrence_id, wadors_uri, local_path, image_occurrence_date, image_study_uid, image_series_uid,
  modality_concept_id, anatomic_site_concept_id)
SELECT s.radiology_series_id, o.person_id, o.visit_occurrence_id, 0, NULL, NULL, o.radiology_occurrence_date,
  o.radiology_occurrence_source_value, s.series_uid,
  COALESCE({@has_stcm} ? {sm.concept_id, }{@has_concept} ? {dm.concept_id, }0, 0),
  COALESCE({@has_stcm} ? {sb.concept_id, }{@has_concept} ? {db.concept_id, }0, 0)
FROM (
  SELECT radiology_series_id, MIN(radiology_occurrence_id) AS radiology_occurrence_id, MIN(modality) AS modality,
    MIN(body_part_source_value) AS body_part, MIN(radiology_series_source_value) AS series_uid
  FROM @cdm_database_schema.radiology_image
  GROUP BY radiology_series_id
) s
INNER JOIN @cdm_database_schema.radiology_occurrence o ON o.radiology_occurrence_id = s.radiology_occurrence_id
{@has_concept} ? {
LEFT JOIN (
  SELECT concept_code, MIN(concept_id) AS concept_id FROM @vocabulary_database_schema.concept
  WHERE vocabulary_id = 'DICOM' AND invalid_reason IS NULL GROUP BY concept_code
) dm ON dm.concept_code = s.modality
LEFT JOIN (
  SELECT concept_code, MIN(concept_id) AS concept_id FROM @vocabulary_database_schema.concept
  WHERE vocabulary_id = 'DICOM' AND invalid_reason IS NULL GROUP BY concept_code
) db ON db.concept_code = s.body_part
}
{@has_stcm} ? {
LEFT JOIN (
  SELECT source_code, MIN(target_concept_id) AS concept_id FROM @cdm_database_schema.source_to_concept_map
  WHERE source_vocabulary_id = 'RCDM_MODALITY' AND invalid_reason IS NULL GROUP BY source_code
) sm ON sm.source_code = s.modality
LEFT JOIN (
  SELECT source_code, MIN(target_concept_id) AS concept_id FROM @cdm_database_schema.source_to_concept_map
  WHERE source_vocabulary_id = 'RCDM_BODY_PART' AND invalid_reason IS NULL GROUP BY source_code
) sb ON sb.source_code = s.body_part
}
WHERE o.radiology_occurrence_date IS NOT NULL
  AND o.radiology_occurrence_source_value IS NOT NULL
  AND s.series_uid IS NOT NULL;
