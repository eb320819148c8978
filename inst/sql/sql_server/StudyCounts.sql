-- Study analysis "counts": persons, studies and images of #study_images (StudyImages.sql) per cohort and per
-- combination of the published categories in @dimensions (a comma-separated list of #study_images columns:
-- modality, protocol_concept_id, occurrence_year, anatomical_plane, contrast_phase; rcdm checks it).
-- Aggregated in the database: only counts leave it; rcdm suppresses small cells afterwards.
{DEFAULT @dimensions = modality}

SELECT cohort_definition_id,
  @dimensions,
  COUNT_BIG(DISTINCT subject_id) AS persons,
  COUNT_BIG(DISTINCT radiology_occurrence_id) AS studies,
  COUNT_BIG(DISTINCT radiology_image_id) AS images
FROM #study_images
GROUP BY cohort_definition_id,
  @dimensions
ORDER BY cohort_definition_id,
  @dimensions;
