package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/api/wire"
)

// TestKeyVersionCLI walks a bucket's root key through rotation and the
// retirement of its first version with `s3kms admin key show|version|
// rotation` against `s3kms dev`: the counts come from the S3 node's real
// database (--config), deactivate and destroy refuse while objects are
// sealed under the version, --force says what becomes unreadable, and
// objects read back or not as the version's state says.
func TestKeyVersionCLI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := startDev(t, dir)
	conf := filepath.Join(dir, "s3.yaml")
	c := devS3(t, env)
	const b = "rot"
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
		t.Fatal(err)
	}
	put := func(key string) {
		t.Helper()
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(b), Key: aws.String(key),
			Body: strings.NewReader("body of " + key), ServerSideEncryption: types.ServerSideEncryptionAes256})
		if err != nil {
			t.Fatalf("PUT %s: %v", key, err)
		}
	}
	get := func(key string) error {
		t.Helper()
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b), Key: aws.String(key)})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		body, err := io.ReadAll(out.Body)
		if err == nil && string(body) != "body of "+key {
			t.Fatalf("GET %s: %q", key, body)
		}
		return err
	}
	show := func() keyShow {
		t.Helper()
		var k keyShow
		adminJSON(t, env, &k, "key", "show", "--bucket", b, "--config", conf)
		return k
	}
	put("a")
	put("b")
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("u"),
		ServerSideEncryption: types.ServerSideEncryptionAes256})
	if err != nil {
		t.Fatal(err)
	}
	k := show()
	id := k.ID
	if !strings.HasPrefix(id, "bucket/") || len(k.Versions) != 1 || k.Versions[0].State != "active" ||
		len(k.Sealed) != 1 || k.Sealed[0] != (sealedUnder{Version: 1, Objects: 2, Uploads: 1}) {
		t.Fatalf("show before rotation: %+v", k)
	}
	if _, errOut, code := admin(t, env, "key", "rotate", id); code != 0 {
		t.Fatalf("rotate: %s", errOut)
	}
	put("c")

	steps := []struct {
		name     string
		args     []string
		ok       bool
		contains string // in stdout+stderr
		readA    bool   // GET a works afterwards
	}{
		{"show text", []string{"key", "show", "--bucket", b, "--config", conf}, true, "OBJECTS", true},
		{"bucket without config", []string{"key", "show", "--bucket", b}, false, "--bucket needs --config", true},
		{"deactivate in use", []string{"key", "version", "deactivate", "--bucket", b, "--config", conf, "--version", "1"}, false,
			"2 object versions and 1 multipart uploads are still sealed under version 1", true},
		{"deactivate without config", []string{"key", "version", "deactivate", id, "--version", "1"}, false, "give --config", true},
		{"deactivate current", []string{"key", "version", "deactivate", id, "--config", conf, "--version", "2"}, false, "current version", true},
		{"no version", []string{"key", "version", "deactivate", id, "--config", conf}, false, "--version N", true},
		{"delete b, abort u", nil, true, "", true},
		{"deactivate with force", []string{"key", "version", "deactivate", "--bucket", b, "--config", conf, "--version", "1", "--force"}, true,
			"1 object versions and 0 uploads become unreadable until the version is activated again", false},
		{"activate", []string{"key", "version", "activate", id, "--version", "1"}, true, "version 1: active", true},
		{"destroy active", []string{"key", "version", "destroy", id, "--config", conf, "--version", "1", "--force"}, false, "deactivate it before destroying it", true},
		{"delete a", nil, true, "", false},
		{"deactivate unused", []string{"key", "version", "deactivate", id, "--config", conf, "--version", "1"}, true, "version 1: deactivated", false},
		{"destroy unused", []string{"key", "version", "destroy", "--bucket", b, "--config", conf, "--version", "1"}, true, "version 1: destroyed", false},
		{"activate destroyed", []string{"key", "version", "activate", id, "--version", "1"}, false, "destroyed", false},
		{"rotation period", []string{"key", "rotation", "--bucket", b, "--config", conf, "--period", "8760h"}, true, "rotates every 8760h0m0s", false},
		{"rotation both", []string{"key", "rotation", id, "--period", "1h", "--off"}, false, "--period DURATION or --off", false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			switch st.name {
			case "delete b, abort u":
				if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String("b")}); err != nil {
					t.Fatal(err)
				}
				if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(b), Key: aws.String("u"), UploadId: up.UploadId}); err != nil {
					t.Fatal(err)
				}
			case "delete a":
				if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b), Key: aws.String("a")}); err != nil {
					t.Fatal(err)
				}
			default:
				out, errOut, code := admin(t, env, st.args...)
				if (code == 0) != st.ok || !strings.Contains(out+errOut, st.contains) {
					t.Fatalf("admin %v: exit %d, want ok=%v and %q in\n%s%s", st.args, code, st.ok, st.contains, out, errOut)
				}
			}
			if st.readA {
				if err := get("a"); err != nil {
					t.Errorf("GET a (version 1): %v", err)
				}
			} else if st.name == "deactivate with force" {
				if err := get("a"); err == nil {
					t.Error("GET a succeeds with version 1 deactivated")
				}
			}
			if err := get("c"); err != nil {
				t.Errorf("GET c (version 2): %v", err)
			}
		})
	}
	k = show()
	if len(k.Versions) != 2 || k.Versions[0].State != "destroyed" || k.Versions[1].State != "active" ||
		len(k.Sealed) != 1 || k.Sealed[0] != (sealedUnder{Version: 2, Objects: 1}) ||
		k.RotationPeriod != "8760h0m0s" || k.NextRotation == nil {
		t.Fatalf("show at the end: %+v", k)
	}
	out, _, _ := admin(t, env, "key", "show", id, "--config", conf)
	for _, want := range []string{"destroyed", "active (current)", "Automatic rotation: every 8760h0m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("show text lacks %q:\n%s", want, out)
		}
	}
	var off wire.Key
	adminJSON(t, env, &off, "key", "rotation", id, "--off")
	if off.ID != id || off.RotationPeriod != "" || off.NextRotation != nil {
		t.Errorf("rotation --off: %+v", off)
	}
}
