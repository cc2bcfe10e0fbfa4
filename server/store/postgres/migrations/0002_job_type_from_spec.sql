-- The job types are the contract's (openapi.yaml, checked in Go by
-- store.NewJob), not the database's: a type added to the spec must need no
-- migration. The lifecycle's checks stay.
ALTER TABLE jobs DROP CONSTRAINT jobs_type_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_type_not_empty CHECK (type <> '');
