-- Viewer, search page: what matches the filters, as counts (@output = counts), one page of studies
-- (@output = studies: the page's studies are chosen first, then only they are aggregated) or the image manifest (@output = images, always from radiology_image: it needs file_path).
-- With @use_summary = TRUE, counts and studies read the series-level summary @results_database_schema.
-- rcdm_viewer_series (built by ViewerBuildSummary.sql: one row per series and image attributes, with its image
-- count) instead of radiology_image, which makes them many times faster on large databases.
-- Filter VALUES are never rendered into the text: each filter is switched on by a TRUE/FALSE parameter and its
-- value is a bound placeholder (:modality, :body_part, ...) that the driver binds (rcdm.db.query_sql's bind=).
-- Rendered values are only validated integers (@offset, @page_size) and schema/table names checked as
-- identifiers. Plane and contrast phase are normalised as in GetCohortImages.sql (source value, else the
-- RadLex id). No patient identifiers: persons appear as person_id only.
{DEFAULT @cdm_database_schema = cdm}
{DEFAULT @results_database_schema = cdm}
{DEFAULT @cohort_database_schema = cdm}
{DEFAULT @cohort_table = cohort}
{DEFAULT @use_summary = FALSE}
{DEFAULT @output = counts}
{DEFAULT @offset = 0}
{DEFAULT @page_size = 25}
{DEFAULT @filter_modality = FALSE}
{DEFAULT @filter_protocol = FALSE}
{DEFAULT @filter_body_part = FALSE}
{DEFAULT @filter_date_from = FALSE}
{DEFAULT @filter_date_to = FALSE}
{DEFAULT @filter_plane = FALSE}
{DEFAULT @filter_contrast = FALSE}
{DEFAULT @filter_cohort = FALSE}

WITH candidate_rows AS (
{@use_summary & @output != images} ? {
  SELECT person_id,
    radiology_occurrence_id,
    radiology_occurrence_date,
    study_modality,
    protocol_concept_id,
    protocol_source_value,
    radiology_series_id,
    image_count,
    modality,
    body_part,
    anatomical_plane,
    contrast_phase
  FROM @results_database_schema.rcdm_viewer_series
} : {
  SELECT ro.person_id,
    ro.radiology_occurrence_id,
    ro.radiology_occurrence_date,
    ro.modality AS study_modality,
    ro.protocol_concept_id,
    ro.protocol_source_value,
    ri.radiology_series_id,
    1 AS image_count,
    COALESCE(ri.modality, ro.modality) AS modality,
    UPPER(ri.body_part_source_value) AS body_part,
    CASE WHEN ri.anatomical_plane_source_value IS NOT NULL THEN LOWER(ri.anatomical_plane_source_value)
      WHEN ri.anatomical_plane_concept_id = 'RID10579' THEN 'axial'
      WHEN ri.anatomical_plane_concept_id = 'RID10570' THEN 'coronal'
      WHEN ri.anatomical_plane_concept_id = 'RID10574' THEN 'sagittal'
      ELSE NULL END AS anatomical_plane,
    CASE WHEN LOWER(ri.series_type_source_value) = 'pre' OR LOWER(ri.series_type_source_value) LIKE 'pre:%' THEN 'pre'
      WHEN LOWER(ri.series_type_source_value) = 'post' OR LOWER(ri.series_type_source_value) LIKE 'post:%' THEN 'post'
      WHEN ri.series_type_concept_id = 'RID28833' THEN 'pre'
      ELSE NULL END AS contrast_phase{@output == images} ? {,
    ro.radiology_occurrence_datetime,
    ri.radiology_image_id,
    ri.file_path,
    ri.body_part_source_value,
    ri.laterality_source_value AS laterality,
    ri.anatomical_plane_concept_id,
    ri.series_type_concept_id,
    ri.laterality_concept_id,
    ri.ct_slice_thickness,
    ri.series_serial_number,
    ri.series_total_number,
    ri.instance_number,
    ri.image_resolution_rows,
    ri.image_resolution_columns}
  FROM @cdm_database_schema.radiology_occurrence ro
  INNER JOIN @cdm_database_schema.radiology_image ri
    ON ri.radiology_occurrence_id = ro.radiology_occurrence_id
}
),
matching AS (
  SELECT *
  FROM candidate_rows m
  WHERE 1 = 1
{@filter_modality} ? {  AND m.modality = :modality
}
{@filter_protocol} ? {  AND m.protocol_concept_id = :protocol_concept_id
}
{@filter_body_part} ? {  AND m.body_part = :body_part
}
{@filter_date_from} ? {  AND m.radiology_occurrence_date >= :date_from
}
{@filter_date_to} ? {  AND m.radiology_occurrence_date <= :date_to
}
{@filter_plane} ? {  AND m.anatomical_plane = :plane
}
{@filter_contrast} ? {  AND m.contrast_phase = :contrast
}
{@filter_cohort} ? {  AND m.person_id IN (
    SELECT c.subject_id
    FROM @cohort_database_schema.@cohort_table c
    WHERE c.cohort_definition_id = :cohort_definition_id)
}
)
{@output == counts} ? {
SELECT COUNT(DISTINCT person_id) AS persons,
  COUNT(DISTINCT radiology_occurrence_id) AS studies,
  COUNT(DISTINCT radiology_series_id) AS series,
  SUM(image_count) AS images
FROM matching;
}
{@output == studies} ? {,
page_studies AS (
  SELECT DISTINCT radiology_occurrence_id,
    radiology_occurrence_date
  FROM matching
  ORDER BY radiology_occurrence_date DESC, radiology_occurrence_id
  OFFSET @offset ROWS FETCH NEXT @page_size ROWS ONLY
)
SELECT m.person_id,
  m.radiology_occurrence_id,
  m.radiology_occurrence_date,
  m.study_modality AS modality,
  m.protocol_concept_id,
  m.protocol_source_value,
  COUNT(DISTINCT m.radiology_series_id) AS series,
  SUM(m.image_count) AS images
FROM matching m
INNER JOIN page_studies p
  ON p.radiology_occurrence_id = m.radiology_occurrence_id
GROUP BY m.person_id, m.radiology_occurrence_id, m.radiology_occurrence_date, m.study_modality,
  m.protocol_concept_id, m.protocol_source_value
ORDER BY m.radiology_occurrence_date DESC, m.radiology_occurrence_id;
}
{@output == images} ? {
SELECT person_id,
  radiology_occurrence_id,
  radiology_occurrence_date,
  radiology_occurrence_datetime,
  study_modality,
  protocol_concept_id,
  protocol_source_value,
  radiology_series_id,
  radiology_image_id,
  file_path,
  modality,
  body_part_source_value,
  anatomical_plane,
  contrast_phase,
  laterality,
  anatomical_plane_concept_id,
  series_type_concept_id,
  laterality_concept_id,
  ct_slice_thickness,
  series_serial_number,
  series_total_number,
  instance_number,
  image_resolution_rows,
  image_resolution_columns
FROM matching
ORDER BY person_id, radiology_occurrence_date, radiology_occurrence_id, radiology_series_id,
  series_serial_number, radiology_image_id
OFFSET 0 ROWS FETCH NEXT @page_size ROWS ONLY;
}
