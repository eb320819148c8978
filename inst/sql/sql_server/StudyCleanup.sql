-- Study analyses, last step: drop the temp tables holding person-level rows (StudyImages.sql, StudyValues.sql).
IF OBJECT_ID('tempdb..#study_values', 'U') IS NOT NULL DROP TABLE #study_values;
IF OBJECT_ID('tempdb..#study_bins', 'U') IS NOT NULL DROP TABLE #study_bins;
IF OBJECT_ID('tempdb..#study_images', 'U') IS NOT NULL DROP TABLE #study_images;
