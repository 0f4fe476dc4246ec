package s3api

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/s3err"
	"github.com/s3kms/s3kms/s3node/sigv4"
)

func TestToS3Error(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code s3err.Code
	}{
		{s3err.New(s3err.NoSuchKey), s3err.NoSuchKey},
		{fmt.Errorf("wrapped: %w", s3err.New(s3err.BadDigest)), s3err.BadDigest},
		{sigv4.ErrNoAuth, s3err.AccessDenied},
		{&sigv4.Error{Code: "SignatureDoesNotMatch", Status: 403}, s3err.SignatureDoesNotMatch},
		{&sigv4.Error{Code: "MalformedTrailerError", Status: 400}, s3err.InvalidRequest},
		{&sigv4.Error{Code: "InvalidToken", Status: 400}, s3err.InvalidRequest},
		{s3node.Errorf(s3node.ENotFound, s3node.NoSuchBucket, "x"), s3err.NoSuchBucket},
		{s3node.Errorf(s3node.ENotFound, s3node.NoSuchKey, "x"), s3err.NoSuchKey},
		{s3node.Errorf(s3node.ENotFound, s3node.NoSuchVersion, "x"), s3err.NoSuchVersion},
		{s3node.Errorf(s3node.ENotFound, s3node.NoSuchUpload, "x"), s3err.NoSuchUpload},
		{s3node.Errorf(s3node.ENotFound, s3node.NoSuchBlob, "x"), s3err.InternalError},
		{s3node.Errorf(s3node.EConflict, s3node.BucketNotEmpty, "x"), s3err.BucketNotEmpty},
		{s3node.Errorf(s3node.EConflict, s3node.BucketAlreadyExists, "x"), s3err.BucketAlreadyExists},
		{s3node.Errorf(s3node.EInvalid, s3node.InvalidPart, "x"), s3err.InvalidPart},
		{s3node.Errorf(s3node.EInvalid, s3node.InvalidPartOrder, "x"), s3err.InvalidPartOrder},
		{s3node.Errorf(s3node.EInvalid, s3node.EntityTooSmall, "x"), s3err.EntityTooSmall},
		{s3node.Errorf(s3node.EInvalid, "", "x"), s3err.InvalidArgument},
		{s3node.Wrap(s3node.EUnavailable, errors.New("db down"), "x"), s3err.ServiceUnavailable},
		{s3node.Wrap(s3node.EInternal, errors.New("bug"), "x"), s3err.InternalError},
		{io.ErrUnexpectedEOF, s3err.IncompleteBody},
		{errors.New("anything"), s3err.InternalError},
	} {
		if got := toS3Error(tc.err); got.Code != tc.code {
			t.Errorf("toS3Error(%v) = %s, want %s", tc.err, got.Code, tc.code)
		}
	}
	// Internal details stay out of the message.
	if e := toS3Error(s3node.Wrap(s3node.EInternal, errors.New("secret detail"), "x")); e.Message != s3err.New(s3err.InternalError).Message {
		t.Errorf("internal message leaked: %q", e.Message)
	}
}

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		h             string
		size          int64
		start, length int64
		ok, invalid   bool
	}{
		{"bytes=0-0", 10, 0, 1, true, false},
		{"bytes=9-", 10, 9, 1, true, false},
		{"bytes=-3", 10, 7, 3, true, false},
		{"bytes=-30", 10, 0, 10, true, false},
		{"bytes=2-100", 10, 2, 8, true, false},
		{"bytes=10-", 10, 0, 0, false, true},
		{"bytes=-0", 10, 0, 0, false, true},
		{"bytes=0-", 0, 0, 0, false, true},
		{"bytes=3-1", 10, 0, 0, false, false},
		{"bytes=0-1,3-4", 10, 0, 0, false, false},
		{"bytes=x-1", 10, 0, 0, false, false},
		{"items=0-1", 10, 0, 0, false, false},
	} {
		start, length, ok, err := parseRange(tc.h, tc.size)
		if (err != nil) != tc.invalid || ok != tc.ok || start != tc.start || length != tc.length {
			t.Errorf("parseRange(%q, %d) = %d, %d, %v, %v", tc.h, tc.size, start, length, ok, err)
		}
	}
}
