-- Every status change notifies the channel polyjobs_jobs with the job's id,
-- whoever makes it (a replica, an admin command, SQL by hand): replicas
-- listen, to wake the requests waiting for that job. NOTIFY is delivered at
-- commit, and only on a change of status, since each notifying commit takes
-- a global lock.
CREATE FUNCTION polyjobs_notify_job_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('polyjobs_jobs', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify_status
    AFTER UPDATE OF status ON jobs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION polyjobs_notify_job_status();
