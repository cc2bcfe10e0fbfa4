// Package jobjson writes the 200 body of the Get Job endpoint without
// reflection. It is the reference server's hot path, and the load
// benchmark's baseline server writes its bodies with it too, so that the two
// are compared on everything but the body encoding.
package jobjson

import (
	"encoding/hex"
	"encoding/json"

	"github.com/google/uuid"
)

// Append appends the JobResponseEnvelope
// {"data":{"error":…,"job_id":…,"result":…,"status":…,"type":…}} to b, as
// encoding/json writes the generated type (fields in the same order, a final
// newline), except that a result is copied as stored, without escaping <, >,
// &, U+2028 and U+2029 inside it (the stores keep results compacted, as
// encoding/json would write them: store.Transition.Normalized). An empty
// errMsg is a null error, an empty result a null result. typ and status must
// be plain ASCII words (the contract's enums); result must be valid JSON.
func Append(b []byte, id uuid.UUID, typ, status string, result []byte, errMsg string) []byte {
	b = append(b, `{"data":{"error":`...)
	if errMsg == "" {
		b = append(b, "null"...)
	} else {
		quoted, _ := json.Marshal(errMsg) // a string always marshals
		b = append(b, quoted...)
	}
	b = append(b, `,"job_id":"`...)
	b = AppendUUID(b, id)
	b = append(b, `","result":`...)
	if len(result) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, result...)
	}
	b = append(b, `,"status":"`...)
	b = append(b, status...)
	b = append(b, `","type":"`...)
	b = append(b, typ...)
	return append(b, "\"}}\n"...)
}

// AppendUUID appends the canonical form of id without allocating.
func AppendUUID(b []byte, id uuid.UUID) []byte {
	var buf [36]byte
	hex.Encode(buf[0:8], id[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], id[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], id[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], id[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], id[10:])
	return append(b, buf[:]...)
}
