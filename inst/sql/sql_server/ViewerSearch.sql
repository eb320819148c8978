-- Viewer, search page: the images that match the filters, as counts (@output = counts), one page of studies
-- (@output = studies) or the image manifest (@output = images).
-- Filter VALUES are never rendered into the text: each filter is switched on by a TRUE/FALSE parameter and its
-- value is a bound placeholder (:modality, :body_part, ...) that the driver binds (rcdm.db.query_sql's bind=).
-- Rendered values are only validated integers (@offset, @page_size) and schema/table names checked as
-- identifiers. Plane and contrast phase match as in GetCohortImages.sql (source value, else the RadLex id).
-- No patient identifiers: persons appear as person_id only.
{DEFAULT @cdm_database_schema = cdm}
{DEFAULT @cohort_database_schema = cdm}
{DEFAULT @cohort_table = cohort}
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

WITH matching_images AS (
  SELECT ro.person_id,
    ro.radiology_occurrence_id,
    ro.radiology_occurrence_date,
    ro.modality AS study_modality,
    ro.protocol_concept_id,
    ro.protocol_source_value,
    ri.radiology_series_id,
    ri.radiology_image_id{@output == images} ? {,
    COALESCE(ri.modality, ro.modality) AS modality,
    ri.body_part_source_value,
    CASE WHEN ri.anatomical_plane_source_value IS NOT NULL THEN LOWER(ri.anatomical_plane_source_value)
      WHEN ri.anatomical_plane_concept_id = 'RID10579' THEN 'axial'
      WHEN ri.anatomical_plane_concept_id = 'RID10570' THEN 'coronal'
      WHEN ri.anatomical_plane_concept_id = 'RID10574' THEN 'sagittal'
      ELSE NULL END AS anatomical_plane,
    CASE WHEN ri.series_type_source_value IS NOT NULL THEN LOWER(ri.series_type_source_value)
      WHEN ri.series_type_concept_id = 'RID28833' THEN 'pre'
      ELSE NULL END AS contrast_phase,
    ri.series_serial_number,
    ri.file_path}
  FROM @cdm_database_schema.radiology_occurrence ro
  INNER JOIN @cdm_database_schema.radiology_image ri
    ON ri.radiology_occurrence_id = ro.radiology_occurrence_id
  WHERE 1 = 1
{@filter_modality} ? {  AND COALESCE(ri.modality, ro.modality) = :modality
}
{@filter_protocol} ? {  AND ro.protocol_concept_id = :protocol_concept_id
}
{@filter_body_part} ? {  AND UPPER(ri.body_part_source_value) = :body_part
}
{@filter_date_from} ? {  AND ro.radiology_occurrence_date >= :date_from
}
{@filter_date_to} ? {  AND ro.radiology_occurrence_date <= :date_to
}
{@filter_plane} ? {  AND (LOWER(ri.anatomical_plane_source_value) = :plane
    OR (ri.anatomical_plane_source_value IS NULL AND ri.anatomical_plane_concept_id = :plane_concept_id))
}
{@filter_contrast} ? {  AND (LOWER(ri.series_type_source_value) = :contrast
    OR (ri.series_type_source_value IS NULL AND ri.series_type_concept_id = :contrast_concept_id))
}
{@filter_cohort} ? {  AND ro.person_id IN (
    SELECT c.subject_id
    FROM @cohort_database_schema.@cohort_table c
    WHERE c.cohort_definition_id = :cohort_definition_id)
}
)
{@output == counts} ? {
SELECT COUNT(DISTINCT person_id) AS persons,
  COUNT(DISTINCT radiology_occurrence_id) AS studies,
  COUNT(DISTINCT radiology_series_id) AS series,
  COUNT(*) AS images
FROM matching_images;
}
{@output == studies} ? {
SELECT person_id,
  radiology_occurrence_id,
  radiology_occurrence_date,
  study_modality AS modality,
  protocol_concept_id,
  protocol_source_value,
  COUNT(DISTINCT radiology_series_id) AS series,
  COUNT(*) AS images
FROM matching_images
GROUP BY person_id, radiology_occurrence_id, radiology_occurrence_date, study_modality, protocol_concept_id,
  protocol_source_value
ORDER BY radiology_occurrence_date DESC, radiology_occurrence_id
OFFSET @offset ROWS FETCH NEXT @page_size ROWS ONLY;
}
{@output == images} ? {
SELECT person_id,
  radiology_occurrence_id,
  radiology_occurrence_date,
  protocol_concept_id,
  protocol_source_value,
  radiology_series_id,
  radiology_image_id,
  modality,
  body_part_source_value,
  anatomical_plane,
  contrast_phase,
  series_serial_number,
  file_path
FROM matching_images
ORDER BY person_id, radiology_occurrence_date, radiology_occurrence_id, radiology_series_id,
  series_serial_number, radiology_image_id
OFFSET 0 ROWS FETCH NEXT @page_size ROWS ONLY;
}
