package s3api

import (
	"context"
	"errors"
	"fmt"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
	"github.com/s3kms/s3kms/s3node/sigv4"
)

// authenticate verifies the request's SigV4 signature (header or
// presigned) and sets rq.auth and rq.user. Anonymous requests are refused
// (sigv4.ErrNoAuth renders as AccessDenied): this node has no public
// buckets.
func (s *Server) authenticate(rq *request) error {
	var id Identity
	res, err := sigv4.Verify(rq.r.Context(), rq.r, s.credentials(&id), sigv4.Options{Region: s.region, Now: s.now})
	if errors.Is(err, sigv4.ErrNoAuth) && s.isPostForm(rq.r) {
		// A browser-form upload signs its policy, not the request:
		// postObject authenticates it. rq.auth stays nil.
		return nil
	}
	if err != nil {
		return err
	}
	rq.auth, rq.user = res, id
	return nil
}

// authorizeBucket loads the addressed bucket into rq.bucket and checks
// that the caller owns it: another user's bucket is AccessDenied.
func (s *Server) authorizeBucket(rq *request) error {
	b, err := s.meta.GetBucket(rq.r.Context(), rq.bucketName)
	if err != nil {
		if s3node.ErrorCode(err) == s3node.EInvalid {
			// A name no bucket can have.
			return s3err.New(s3err.NoSuchBucket)
		}
		return err
	}
	if b.Owner != rq.user.CanonicalID {
		return s3err.New(s3err.AccessDenied)
	}
	rq.bucket = b
	return nil
}

// credentials adapts Users to sigv4.Credentials, remembering the identity
// of the key that was looked up.
func (s *Server) credentials(id *Identity) sigv4.Credentials {
	return sigv4.CredentialsFunc(func(ctx context.Context, accessKeyID string) ([]byte, error) {
		ident, secret, err := s.users.LookupUser(ctx, accessKeyID)
		if err != nil {
			if s3node.ErrorReason(err) == s3node.NoSuchUser {
				return nil, fmt.Errorf("%w: %w", sigv4.ErrUnknownAccessKey, err)
			}
			return nil, err
		}
		*id = ident
		return secret, nil
	})
}
