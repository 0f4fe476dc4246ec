package s3api

import (
	"log/slog"

	"github.com/s3kms/s3kms/s3node"
)

// discardBlob handles the blob of a write whose metadata update failed
// with err. When err says the update was refused (EInvalid, ENotFound,
// EConflict: checked inside the transaction, which then rolled back), the
// blob is deleted at once. After any other failure (EUnavailable: the
// connection dropped, the database timed out or the client went away;
// EInternal) the outcome is unknown: the commit may have reached the
// database before its answer was lost, and deleting the blob would leave
// an object without data. The blob then stays for the orphan sweep, which
// removes it only if no metadata references it.
func (s *Server) discardBlob(rq *request, id string, err error) {
	switch s3node.ErrorCode(err) {
	case s3node.EInvalid, s3node.ENotFound, s3node.EConflict:
		s.deleteBlobs(rq, []string{id})
	default:
		s.log.LogAttrs(rq.r.Context(), slog.LevelDebug, "s3: metadata update failed, outcome unknown: blob left to the orphan sweep",
			slog.String("request_id", rq.requestID), slog.String("blob", id))
	}
}
