//go:build linux

package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Buckets of a histogram: latencies are counted in microseconds, exactly below
// 2·histSub µs, above that in buckets of relative width at most 1/histSub,
// up to 2^histMaxExp µs (values beyond are counted in the last bucket).
const (
	histSubBits = 7
	histSub     = 1 << histSubBits // sub-buckets per power of two
	histMaxExp  = 40               // 2^40 µs is about 12 days
	histBuckets = 2*histSub + (histMaxExp-1-histSubBits)*histSub
)

// histogram counts latencies with a bounded memory (about 34 KiB) whatever
// the number of requests, at a resolution better than 1 %. It is safe for
// concurrent use.
type histogram struct {
	counts [histBuckets]atomic.Uint64
	maxUS  atomic.Int64
}

// record counts one latency.
func (h *histogram) record(d time.Duration) {
	us := max(d.Microseconds(), 0)
	h.counts[bucketOf(uint64(us))].Add(1)
	for {
		m := h.maxUS.Load()
		if us <= m || h.maxUS.CompareAndSwap(m, us) {
			return
		}
	}
}

// add adds the counts of o to h. Neither may be recorded into meanwhile.
func (h *histogram) add(o *histogram) {
	for i := range o.counts {
		if n := o.counts[i].Load(); n > 0 {
			h.counts[i].Add(n)
		}
	}
	h.maxUS.Store(max(h.maxUS.Load(), o.maxUS.Load()))
}

// count returns the number of latencies recorded.
func (h *histogram) count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// quantile returns the latency below or at which a fraction q of the
// latencies fall: the upper bound of its bucket, never more than the largest
// latency recorded. It returns 0 for an empty histogram.
func (h *histogram) quantile(q float64) time.Duration {
	rank := max(uint64(math.Ceil(q*float64(h.count()))), 1)
	var seen uint64
	for i := range h.counts {
		if seen += h.counts[i].Load(); seen >= rank {
			return time.Duration(min(bucketUpper(i), h.maxUS.Load())) * time.Microsecond
		}
	}
	return h.max()
}

// max returns the largest latency recorded.
func (h *histogram) max() time.Duration { return time.Duration(h.maxUS.Load()) * time.Microsecond }

// latency summarizes a histogram, in milliseconds.
type latency struct {
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
}

// summary summarizes h.
func (h *histogram) summary() latency {
	return latency{P50MS: msOf(h.quantile(0.50)), P99MS: msOf(h.quantile(0.99)), MaxMS: msOf(h.max())}
}

// msOf converts a duration to milliseconds.
func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// bucketOf returns the bucket of a latency of us microseconds.
func bucketOf(us uint64) int {
	if us < 2*histSub {
		return int(us)
	}
	us = min(us, 1<<histMaxExp-1)
	shift := bits.Len64(us) - 1 - histSubBits // at least 1
	return 2*histSub + (shift-1)*histSub + int(us>>shift) - histSub
}

// bucketUpper returns the largest latency, in microseconds, of bucket i.
func bucketUpper(i int) int64 {
	if i < 2*histSub {
		return int64(i)
	}
	r := i - 2*histSub
	shift := r/histSub + 1
	return (int64(r%histSub+histSub)+1)<<shift - 1
}
