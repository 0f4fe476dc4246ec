package s3api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestBucketLifecycle(t *testing.T) { forEachBackend(t, testBucketLifecycle) }

func testBucketLifecycle(t *testing.T, e *env) {
	ctx := context.Background()
	c, cb := e.client(alice()), e.client(bob())

	mustCreateBucket(t, c, "photos")
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("photos")})
	wantCode(t, err, "BucketAlreadyOwnedByYou", http.StatusConflict)
	_, err = cb.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("photos")})
	wantCode(t, err, "BucketAlreadyExists", http.StatusConflict)

	for _, name := range []string{"ab", "Upper", "under_score", "-lead", "trail-", "a..b", "192.168.1.1", "xn--abc", strings.Repeat("a", 64)} {
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
		wantCode(t, err, "InvalidBucketName", http.StatusBadRequest)
	}
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("elsewhere"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}})
	wantCode(t, err, "InvalidArgument", http.StatusBadRequest)

	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("photos")})
	if err != nil || loc.LocationConstraint != "" {
		t.Fatalf("GetBucketLocation = %v, %v; want empty (us-east-1)", loc, err)
	}

	mustCreateBucket(t, c, "alpha.b-1")
	mustCreateBucket(t, cb, "bobs")
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range lb.Buckets {
		names = append(names, *b.Name)
		if b.CreationDate == nil || b.CreationDate.IsZero() {
			t.Errorf("bucket %s has no creation date", *b.Name)
		}
	}
	if got := strings.Join(names, ","); got != "alpha.b-1,photos" {
		t.Errorf("ListBuckets = %s, want alpha.b-1,photos", got)
	}
	if lb.Owner == nil || aws.ToString(lb.Owner.ID) != "alice-canonical" {
		t.Errorf("owner = %+v", lb.Owner)
	}

	// Another user's bucket.
	_, err = cb.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("photos")})
	wantCode(t, err, "", http.StatusForbidden)
	_, err = cb.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")})
	wantCode(t, err, "AccessDenied", http.StatusForbidden)

	mustPut(t, c, "photos", "cat.jpg", []byte("meow"))
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")})
	wantCode(t, err, "BucketNotEmpty", http.StatusConflict)
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("photos"), Key: aws.String("cat.jpg")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("photos")})
	wantCode(t, err, "", http.StatusNotFound)
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("photos")})
	wantCode(t, err, "NoSuchBucket", http.StatusNotFound)
}

func TestAuthFailures(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	mustCreateBucket(t, e.client(alice()), "mine")
	mustPut(t, e.client(alice()), "mine", "k", []byte("v"))

	wrong := &aws.Credentials{AccessKeyID: aliceKey, SecretAccessKey: "not-the-secret"}
	unknown := &aws.Credentials{AccessKeyID: "AKIANOBODY000000000", SecretAccessKey: "x"}
	for _, tc := range []struct {
		name   string
		client *s3.Client
		code   string
		status int
	}{
		{"wrong secret", e.client(wrong), "SignatureDoesNotMatch", http.StatusForbidden},
		{"unknown key", e.client(unknown), "InvalidAccessKeyId", http.StatusForbidden},
		{"other user", e.client(bob()), "AccessDenied", http.StatusForbidden},
		{"anonymous", e.client(nil), "AccessDenied", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mine"), Key: aws.String("k")})
			wantCode(t, err, tc.code, tc.status)
			_, err = tc.client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("mine"), Key: aws.String("k2"), Body: strings.NewReader("x")})
			wantCode(t, err, tc.code, tc.status)
			_, err = tc.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("mine")})
			wantCode(t, err, tc.code, tc.status)
		})
	}
	// Nothing was written.
	_, err := e.client(alice()).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("mine"), Key: aws.String("k2")})
	wantCode(t, err, "", http.StatusNotFound)
}

func TestValidBucketName(t *testing.T) {
	for name, want := range map[string]bool{
		"abc": true, "a-b.c1": true, "1bucket": true, "ab": false, "ABC": false, "a_b": false,
		"a.-b": false, "a-.b": false, "10.0.0.1": false, "bucket-s3alias": false, "sthree-x": false,
		strings.Repeat("x", 63): true, strings.Repeat("x", 64): false,
	} {
		if got := validBucketName(name); got != want {
			t.Errorf("validBucketName(%q) = %v, want %v", name, got, want)
		}
	}
}
