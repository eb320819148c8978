-- The OHDSI cohort table (as CohortGenerator creates it): one row per cohort entry of a person.
-- Created only where missing; rcdm.cohort.generate_cohort runs it before a cohort definition.
{DEFAULT @cohort_database_schema = scratch}
{DEFAULT @cohort_table = cohort}

IF OBJECT_ID('@cohort_database_schema.@cohort_table', 'U') IS NULL
CREATE TABLE @cohort_database_schema.@cohort_table (
  cohort_definition_id BIGINT NOT NULL,
  subject_id BIGINT NOT NULL,
  cohort_start_date DATE NOT NULL,
  cohort_end_date DATE NOT NULL
);
