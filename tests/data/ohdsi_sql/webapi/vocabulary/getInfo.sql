select VOCABULARY_VERSION 
from @CDM_schema.vocabulary
where VOCABULARY_ID = 'None'
