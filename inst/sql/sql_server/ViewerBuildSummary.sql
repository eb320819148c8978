-- Viewer summary (rcdm viewer build-summary): a series-level copy of the searchable attributes, so the search
-- page counts series instead of images. One row per series and combination of image attributes (attributes are
-- normalised as in GetCohortImages.sql), with the number of images. Rebuild after each ETL load.
{DEFAULT @cdm_database_schema = cdm}
{DEFAULT @results_database_schema = cdm}

IF OBJECT_ID('@results_database_schema.rcdm_viewer_series', 'U') IS NOT NULL
  DROP TABLE @results_database_schema.rcdm_viewer_series;

SELECT ro.person_id,
  ro.radiology_occurrence_id,
  ro.radiology_occurrence_date,
  ro.modality AS study_modality,
  ro.protocol_concept_id,
  ro.protocol_source_value,
  f.radiology_series_id,
  COALESCE(f.modality, ro.modality) AS modality,
  f.body_part,
  f.anatomical_plane,
  f.contrast_phase,
  f.image_count
INTO @results_database_schema.rcdm_viewer_series
FROM (
  SELECT radiology_occurrence_id,
    radiology_series_id,
    modality,
    body_part,
    anatomical_plane,
    contrast_phase,
    COUNT(*) AS image_count
  FROM (
    SELECT ri.radiology_occurrence_id,
      ri.radiology_series_id,
      ri.modality,
      UPPER(ri.body_part_source_value) AS body_part,
      CASE WHEN ri.anatomical_plane_source_value IS NOT NULL THEN LOWER(ri.anatomical_plane_source_value)
        WHEN ri.anatomical_plane_concept_id = 'RID10579' THEN 'axial'
        WHEN ri.anatomical_plane_concept_id = 'RID10570' THEN 'coronal'
        WHEN ri.anatomical_plane_concept_id = 'RID10574' THEN 'sagittal'
        ELSE NULL END AS anatomical_plane,
      CASE WHEN LOWER(ri.series_type_source_value) = 'pre' OR LOWER(ri.series_type_source_value) LIKE 'pre:%' THEN 'pre'
        WHEN LOWER(ri.series_type_source_value) = 'post' OR LOWER(ri.series_type_source_value) LIKE 'post:%' THEN 'post'
        WHEN ri.series_type_concept_id = 'RID28833' THEN 'pre'
        ELSE NULL END AS contrast_phase
    FROM @cdm_database_schema.radiology_image ri
  ) image_facts
  GROUP BY radiology_occurrence_id,
    radiology_series_id,
    modality,
    body_part,
    anatomical_plane,
    contrast_phase
) f
INNER JOIN @cdm_database_schema.radiology_occurrence ro
  ON ro.radiology_occurrence_id = f.radiology_occurrence_id;

