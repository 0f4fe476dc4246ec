package rewrap

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/s3kms/s3kms/s3node"
)

// maxListed bounds GET /v1/jobs.
const maxListed = 1000

// JobList is the body of GET /v1/jobs.
type JobList struct {
	Jobs []Job `json:"jobs"`
}

// apiError is the body of an error answer of the admin API.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// statuses is the admin API's one table from s3node error codes to HTTP
// statuses; any other code is a 500 whose detail goes to the log only.
var statuses = map[s3node.Code]int{
	s3node.ENotFound:    http.StatusNotFound,
	s3node.EInvalid:     http.StatusBadRequest,
	s3node.EUnavailable: http.StatusServiceUnavailable,
}

// Handler serves the node's read-only job API over jobs: GET /v1/jobs
// (?limit=N, newest first, default 100) and GET /v1/jobs/{id}, in JSON.
// Authentication (mutual TLS) is the server's.
func Handler(jobs JobStore, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fail := func(w http.ResponseWriter, r *http.Request, err error) {
		status, ok := statuses[s3node.ErrorCode(err)]
		msg := err.Error()
		if !ok {
			log.LogAttrs(r.Context(), slog.LevelError, "rewrap admin API", slog.String("path", r.URL.Path), slog.String("error", msg))
			status, msg = http.StatusInternalServerError, "internal error"
		}
		writeJSON(w, status, apiError{Code: http.StatusText(status), Message: msg})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		limit := 100
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > maxListed {
				fail(w, r, s3node.Errorf(s3node.EInvalid, "", "limit must be 1 to %d", maxListed))
				return
			}
			limit = n
		}
		list, err := jobs.ListJobs(r.Context(), limit)
		if err != nil {
			fail(w, r, err)
			return
		}
		if list == nil {
			list = []Job{}
		}
		writeJSON(w, http.StatusOK, JobList{Jobs: list})
	})
	mux.HandleFunc("GET /v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			fail(w, r, s3node.Errorf(s3node.EInvalid, "", "job id %q is not a number", r.PathValue("id")))
			return
		}
		j, err := jobs.GetJob(r.Context(), id)
		if err != nil {
			fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, j)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
