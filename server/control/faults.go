package control

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// Fault is a fault to inject into the Get Job API's next answers.
type Fault struct {
	ID uuid.UUID
	// KeyID and JobID restrict the fault to requests made with that API key
	// or for that job; uuid.Nil matches any. The handler applies a fault
	// with a JobID only to a request that finds the job (NamesJob).
	KeyID, JobID uuid.UUID
	// Remaining is how many answers the fault still takes.
	Remaining int
	// Status is the status to answer instead of the job (an ApiError body);
	// zero only adds Latency to the usual answer.
	Status int
	// RetryAfter is the Retry-After header to send with Status (seconds, or
	// an HTTP date); empty sends none.
	RetryAfter string
	// Latency is waited before answering.
	Latency time.Duration
}

// Faults are the faults to inject, in the order they were added. They live
// in the process, not in the store.
type Faults struct {
	mu     sync.Mutex
	faults []Fault
}

// Add adds f, giving it an id, and returns it.
func (fs *Faults) Add(f Fault) Fault {
	f.ID = uuid.New()
	if f.Remaining <= 0 {
		f.Remaining = 1
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults = append(fs.faults, f)
	return f
}

// Take returns what the faults do to an answer to a request made with keyID
// for jobID, counting the answer against each fault it applies: the first
// matching fault with a status gives its status and Retry-After; the
// latency is the longest of the matching faults'. False when none matches.
func (fs *Faults) Take(keyID, jobID uuid.UUID) (Fault, bool) {
	if fs == nil {
		return Fault{}, false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var (
		out     Fault
		matched bool
		kept    = fs.faults[:0]
	)
	for _, f := range fs.faults {
		applies := (f.KeyID == uuid.Nil || f.KeyID == keyID) && (f.JobID == uuid.Nil || f.JobID == jobID) &&
			(f.Status == 0 || out.Status == 0)
		if applies {
			matched = true
			out.Latency = max(out.Latency, f.Latency)
			if f.Status != 0 {
				out.ID, out.Status, out.RetryAfter = f.ID, f.Status, f.RetryAfter
			}
			f.Remaining--
		}
		if f.Remaining > 0 {
			kept = append(kept, f)
		}
	}
	clear(fs.faults[len(kept):])
	fs.faults = kept
	return out, matched
}

// NamesJob reports whether a fault still to happen is restricted to jobID.
func (fs *Faults) NamesJob(jobID uuid.UUID) bool {
	if fs == nil {
		return false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.faults {
		if f.JobID == jobID {
			return true
		}
	}
	return false
}

// List returns the faults still to happen.
func (fs *Faults) List() []Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]Fault(nil), fs.faults...)
}

// Remove forgets the fault with the given id.
func (fs *Faults) Remove(id uuid.UUID) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.faults {
		if f.ID == id {
			fs.faults = append(fs.faults[:i], fs.faults[i+1:]...)
			return
		}
	}
}

// Clear forgets every fault.
func (fs *Faults) Clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults = nil
}
