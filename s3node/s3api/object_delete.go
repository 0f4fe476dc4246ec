package s3api

import (
	"net/http"

	"github.com/s3kms/s3kms/s3node"
)

// deleteObject serves DeleteObject: 204 whether or not the key existed.
// With versionId it removes that version for good.
func (s *Server) deleteObject(rq *request) (*response, error) {
	ctx := rq.r.Context()
	var (
		res s3node.DeleteResult
		err error
	)
	if vid, ok := rq.r.URL.Query()["versionId"]; ok {
		res, err = s.meta.DeleteVersion(ctx, rq.bucketName, rq.key, vid[0])
	} else {
		res, err = s.meta.DeleteObject(ctx, rq.bucketName, rq.key)
	}
	if err != nil {
		return nil, err
	}
	s.deleteBlobs(rq, res.Unreferenced)
	resp := &response{status: http.StatusNoContent}
	if res.DeleteMarker {
		resp.setHeader("x-amz-delete-marker", "true")
	}
	if res.VersionID != "" && (res.VersionID != s3node.NullVersionID || res.DeleteMarker) {
		resp.setHeader("x-amz-version-id", res.VersionID)
	}
	return resp, nil
}
