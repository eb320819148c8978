-- Viewer, combinations page: images, series and studies per combination of image modality, body part,
-- anatomical plane, contrast phase and study protocol concept, most images first (the @top_n largest).
-- Plane and contrast phase are normalised as in GetCohortImages.sql (source value, else the RadLex id), so a
-- combination's values can be used as search filters.
{DEFAULT @cdm_database_schema = cdm}
{DEFAULT @top_n = 5000}

WITH image_facts AS (
  SELECT COALESCE(ri.modality, ro.modality) AS modality,
    UPPER(ri.body_part_source_value) AS body_part,
    CASE WHEN ri.anatomical_plane_source_value IS NOT NULL THEN LOWER(ri.anatomical_plane_source_value)
      WHEN ri.anatomical_plane_concept_id = 'RID10579' THEN 'axial'
      WHEN ri.anatomical_plane_concept_id = 'RID10570' THEN 'coronal'
      WHEN ri.anatomical_plane_concept_id = 'RID10574' THEN 'sagittal'
      ELSE NULL END AS anatomical_plane,
    CASE WHEN LOWER(ri.series_type_source_value) = 'pre' OR LOWER(ri.series_type_source_value) LIKE 'pre:%' THEN 'pre'
      WHEN LOWER(ri.series_type_source_value) = 'post' OR LOWER(ri.series_type_source_value) LIKE 'post:%' THEN 'post'
      WHEN ri.series_type_concept_id = 'RID28833' THEN 'pre'
      ELSE NULL END AS contrast_phase,
    ro.protocol_concept_id,
    ri.radiology_series_id,
    ri.radiology_occurrence_id
  FROM @cdm_database_schema.radiology_image ri
  INNER JOIN @cdm_database_schema.radiology_occurrence ro
    ON ro.radiology_occurrence_id = ri.radiology_occurrence_id
)
SELECT TOP @top_n modality,
  body_part,
  anatomical_plane,
  contrast_phase,
  protocol_concept_id,
  COUNT(DISTINCT radiology_occurrence_id) AS studies,
  COUNT(DISTINCT radiology_series_id) AS series,
  COUNT(*) AS images
FROM image_facts
GROUP BY modality, body_part, anatomical_plane, contrast_phase, protocol_concept_id
ORDER BY COUNT(*) DESC, modality, body_part, anatomical_plane, contrast_phase, protocol_concept_id;
