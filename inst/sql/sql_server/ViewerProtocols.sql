-- Viewer, protocols page: studies and images per (protocol_concept_id, protocol_source_value), with the concept's
-- name from the OMOP vocabulary when @use_vocabulary is TRUE. rcdm.viewer.queries sums the rows per concept
-- (most frequent protocols) and lists the source values of studies with no concept (NULL or 0: unmapped).
-- Images are counted per study first (one pass over radiology_image), then joined to their study.
{DEFAULT @cdm_database_schema = cdm}
{DEFAULT @vocabulary_database_schema = cdm}
{DEFAULT @use_vocabulary = FALSE}

WITH study_images AS (
  SELECT radiology_occurrence_id, COUNT(*) AS image_count
  FROM @cdm_database_schema.radiology_image
  GROUP BY radiology_occurrence_id
),
protocol_counts AS (
  SELECT o.protocol_concept_id,
    o.protocol_source_value,
    COUNT(*) AS studies,
    SUM(COALESCE(i.image_count, 0)) AS images
  FROM @cdm_database_schema.radiology_occurrence o
  LEFT JOIN study_images i
    ON i.radiology_occurrence_id = o.radiology_occurrence_id
  GROUP BY o.protocol_concept_id, o.protocol_source_value
)
SELECT p.protocol_concept_id,
  p.protocol_source_value,
{@use_vocabulary} ? {
  c.concept_name,
  c.vocabulary_id,
} : {
  CAST(NULL AS VARCHAR(255)) AS concept_name,
  CAST(NULL AS VARCHAR(20)) AS vocabulary_id,
}
  p.studies,
  p.images
FROM protocol_counts p
{@use_vocabulary} ? {
LEFT JOIN @vocabulary_database_schema.concept c
  ON c.concept_id = p.protocol_concept_id
}
;
