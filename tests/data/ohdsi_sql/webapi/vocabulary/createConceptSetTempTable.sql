CREATE TABLE #@temp_table
(
    concept_code  varchar,
    vocabulary_id varchar
);