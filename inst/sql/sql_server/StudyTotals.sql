-- Study analysis "totals": persons, studies and images of #study_images (StudyImages.sql) per cohort: the margin
-- every other analysis adds up to, published so the merge can show each site's size.
SELECT cohort_definition_id,
  COUNT_BIG(DISTINCT subject_id) AS persons,
  COUNT_BIG(DISTINCT radiology_occurrence_id) AS studies,
  COUNT_BIG(DISTINCT radiology_image_id) AS images
FROM #study_images
GROUP BY cohort_definition_id
ORDER BY cohort_definition_id;
