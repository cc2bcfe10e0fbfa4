package client

import "github.com/polyjobs/polyjobs/generated"

// JobType is the kind of an asynchronous job; it names the job in the request
// path together with its id. Its Valid method reports whether it is known.
type JobType = generated.JobType

// The job types the API serves.
const (
	JobTypeCreateModel     = generated.JobTypeCreateModel
	JobTypeUpdateModel     = generated.JobTypeUpdateModel
	JobTypePreviewModel    = generated.JobTypePreviewModel
	JobTypeSampleModel     = generated.JobTypeSampleModel
	JobTypeExportLogs      = generated.JobTypeExportLogs
	JobTypeConnectionProxy = generated.JobTypeConnectionProxy
)

// JobTypes returns every job type the API serves, in the contract's order.
func JobTypes() []JobType {
	return []JobType{
		JobTypeCreateModel, JobTypeUpdateModel, JobTypePreviewModel,
		JobTypeSampleModel, JobTypeExportLogs, JobTypeConnectionProxy,
	}
}

// JobStatus is where a job is in its lifecycle: created and running may
// change, done and failed are terminal.
type JobStatus = generated.JobStatus

// The statuses of a job.
const (
	JobStatusCreated = generated.JobStatusCreated
	JobStatusRunning = generated.JobStatusRunning
	JobStatusDone    = generated.JobStatusDone
	JobStatusFailed  = generated.JobStatusFailed
)

// APIVersion is a dated version of the Polytomic API, sent in the
// X-Polytomic-Version header. Its Valid method reports whether it is known.
type APIVersion = generated.APIVersion

// The API versions this package knows.
const (
	APIVersion20210523 = generated.APIVersion20210523
	APIVersion20221212 = generated.APIVersion20221212
	APIVersion20230425 = generated.APIVersion20230425
	APIVersion20240208 = generated.APIVersion20240208
	APIVersion20250918 = generated.APIVersion20250918
)

// DefaultVersion is the API version a Client sends unless WithVersion says
// otherwise: the newest this package knows. Pinning it, rather than sending no
// header, keeps a program's behaviour fixed when Polytomic releases a newer
// version.
const DefaultVersion = APIVersion20250918

// Versions returns the API versions this package knows, oldest first.
func Versions() []APIVersion {
	return []APIVersion{
		APIVersion20210523, APIVersion20221212, APIVersion20230425,
		APIVersion20240208, APIVersion20250918,
	}
}
