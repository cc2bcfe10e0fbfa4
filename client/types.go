package client

import "github.com/polyjobs/polyjobs/generated/api"

// JobType is the kind of an asynchronous job; it names the job in the request
// path together with its id. Its Valid method reports whether it is known.
type JobType = api.JobType

// The job types the API serves, by name. JobTypes lists them all, including
// any added to openapi.yaml without a name here.
const (
	JobTypeCreateModel     = api.JobTypeCreateModel
	JobTypeUpdateModel     = api.JobTypeUpdateModel
	JobTypePreviewModel    = api.JobTypePreviewModel
	JobTypeSampleModel     = api.JobTypeSampleModel
	JobTypeExportLogs      = api.JobTypeExportLogs
	JobTypeConnectionProxy = api.JobTypeConnectionProxy
)

// JobTypes returns every job type the API serves, in the contract's order.
func JobTypes() []JobType { return api.JobTypeValues() }

// JobStatus is where a job is in its lifecycle: created and running may
// change, done and failed are terminal.
type JobStatus = api.JobStatus

// The statuses of a job.
const (
	JobStatusCreated = api.JobStatusCreated
	JobStatusRunning = api.JobStatusRunning
	JobStatusDone    = api.JobStatusDone
	JobStatusFailed  = api.JobStatusFailed
)

// APIVersion is a dated version of the Polytomic API, sent in the
// X-Polytomic-Version header. Its Valid method reports whether it is known.
type APIVersion = api.APIVersion

// The API versions this package knows, by name. Versions lists them all.
const (
	APIVersion20210523 = api.APIVersion20210523
	APIVersion20221212 = api.APIVersion20221212
	APIVersion20230425 = api.APIVersion20230425
	APIVersion20240208 = api.APIVersion20240208
	APIVersion20250918 = api.APIVersion20250918
)

// DefaultVersion is the API version a Client sends unless WithVersion says
// otherwise: the newest this package knows, the last of Versions. Pinning it,
// rather than sending no header, keeps a program's behaviour fixed when
// Polytomic releases a newer version. Treat it as a constant.
var DefaultVersion = newest(api.APIVersionValues())

// Versions returns the API versions this package knows, oldest first, as the
// contract lists them.
func Versions() []APIVersion { return api.APIVersionValues() }

// newest returns the last of versions, which the contract lists oldest first.
func newest(versions []APIVersion) APIVersion { return versions[len(versions)-1] }
