-- Protocol coverage: studies with a protocol concept (protocol_concept_id not NULL and not 0), and the images
-- of those studies, out of all studies and all images that belong to a study. One pass over each table.
{DEFAULT @cdm_database_schema = cdm}

SELECT
  COUNT(*) AS studies,
  SUM(CASE WHEN o.protocol_concept_id <> 0 THEN 1 ELSE 0 END) AS studies_mapped,
  SUM(COALESCE(i.image_count, 0)) AS images,
  SUM(CASE WHEN o.protocol_concept_id <> 0 THEN COALESCE(i.image_count, 0) ELSE 0 END) AS images_mapped
FROM @cdm_database_schema.radiology_occurrence o
LEFT JOIN (
  SELECT radiology_occurrence_id, COUNT(*) AS image_count
  FROM @cdm_database_schema.radiology_image
  GROUP BY radiology_occurrence_id
) i ON i.radiology_occurrence_id = o.radiology_occurrence_id;
