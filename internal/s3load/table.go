package s3load

import (
	"fmt"
	"strings"
	"text/tabwriter"
)

// Row is the result of one phase of a comparison: an operation on objects
// of one size in one encryption mode.
type Row struct {
	Size string // as given, e.g. "64KiB"
	Op   Op     // OpPut or OpGet
	Mode Mode
	Res  Result
	// Counted tells that Res.KMS holds counted calls (in-process node).
	Counted bool
}

// stats returns the row's stats for its operation.
func (r Row) stats() Stats {
	if r.Op == OpGet {
		return r.Res.Get
	}
	return r.Res.Put
}

// Table renders rows as a table with, for every row, the ratio of its
// throughput to that of the ModeNone row of the same size and operation
// (measured in the same run) and the KMS calls per operation of the timed
// phase: total, then GenerateDataKey / Decrypt / CreateBucketKey.
func Table(rows []Row) string {
	none := map[string]float64{}
	for _, r := range rows {
		if r.Mode == ModeNone {
			none[r.Size+"/"+string(r.Op)] = r.stats().MiBps
		}
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "size\top\tmode\tMiB/s\tops/s\tp50\tp99\tratio\tKMS/op\tgen/dec/bkt per op\terr\t")
	for _, r := range rows {
		st := r.stats()
		ratio := "-"
		if base := none[r.Size+"/"+string(r.Op)]; base > 0 {
			ratio = fmt.Sprintf("%.2f", st.MiBps/base)
		}
		kms, detail := "-", "-"
		if r.Counted && st.Ops > 0 {
			per := func(n int64) float64 { return float64(n) / float64(st.Ops) }
			kms = fmt.Sprintf("%.2f", per(r.Res.KMS.Total()))
			detail = fmt.Sprintf("%.2f/%.2f/%.2f", per(r.Res.KMS.GenerateDataKey), per(r.Res.KMS.Decrypt), per(r.Res.KMS.CreateBucketKey))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%.1f\t%.1f\t%v\t%v\t%s\t%s\t%s\t%d\t\n", r.Size, strings.ToUpper(string(r.Op)), r.Mode,
			st.MiBps, st.OpsPerSec, round(st.P50), round(st.P99), ratio, kms, detail, st.Errors+st.Mismatches)
	}
	w.Flush()
	return b.String()
}
