package s3api

import (
	"net/http"

	"github.com/s3kms/s3kms/s3node"
)

// deleteObject serves DeleteObject: 204 whether or not the key existed.
// With versionId it removes that version for good.
func (s *Server) deleteObject(rq *request) (*response, error) {
	vid, err := versionParam(rq.r.URL.Query())
	if err != nil {
		return nil, err
	}
	res, err := s.deleteOne(rq, rq.key, vid)
	if err != nil {
		return nil, err
	}
	resp := &response{status: http.StatusNoContent}
	if res.DeleteMarker {
		resp.setHeader("x-amz-delete-marker", "true")
	}
	if id := versionHeader(rq.bucket, res.VersionID); id != "" {
		resp.setHeader("x-amz-version-id", id)
	}
	return resp, nil
}

// deleteOne deletes key (version vid, "" for none) as DeleteObject does and
// removes the blobs that became unreferenced. Deleting a version that does
// not exist succeeds, as AWS: the result then echoes vid.
func (s *Server) deleteOne(rq *request, key, vid string) (s3node.DeleteResult, error) {
	ctx := rq.r.Context()
	var (
		res s3node.DeleteResult
		err error
	)
	if vid != "" {
		res, err = s.meta.DeleteVersion(ctx, rq.bucketName, key, vid)
		if s3node.ErrorReason(err) == s3node.NoSuchVersion {
			return s3node.DeleteResult{VersionID: vid}, nil
		}
	} else {
		res, err = s.meta.DeleteObject(ctx, rq.bucketName, key)
	}
	if err != nil {
		return res, err
	}
	s.deleteBlobs(rq, res.Unreferenced)
	return res, nil
}
