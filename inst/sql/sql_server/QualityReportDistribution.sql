-- Studies and images per study modality and study year (of radiology_occurrence_date), in one query:
-- rcdm.report sums the rows by modality and by year. Images are counted per study first (one pass over
-- radiology_image), then joined to their study; images whose study is missing are not counted here.
{DEFAULT @cdm_database_schema = cdm}

SELECT
  o.modality AS modality,
  YEAR(o.radiology_occurrence_date) AS occurrence_year,
  COUNT(*) AS studies,
  SUM(COALESCE(i.image_count, 0)) AS images
FROM @cdm_database_schema.radiology_occurrence o
LEFT JOIN (
  SELECT radiology_occurrence_id, COUNT(*) AS image_count
  FROM @cdm_database_schema.radiology_image
  GROUP BY radiology_occurrence_id
) i ON i.radiology_occurrence_id = o.radiology_occurrence_id
GROUP BY o.modality, YEAR(o.radiology_occurrence_date);
