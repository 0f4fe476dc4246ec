package backup

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/internal/pgtest"
	"github.com/s3kms/s3kms/internal/pki"
)

// site is where a deployment keeps its state: the two databases and the
// data directory. The restore makes a second site.
type site struct {
	kmsDSN, s3DSN, dataDir string
}

// rig is the deployment's fixed part: binary, TLS material, master key and
// configuration files. Addresses, databases and the data directory come
// from the environment (S3KMS_KMS_CONFIG_*, S3KMS_S3_CONFIG_*).
type rig struct {
	t               testing.TB
	bin, dir        string
	kmsConf, s3Conf string
	caFile          string
	adminEnv        []string
	kmsAddr, s3Addr string
	site            site
	kmsProc, s3Proc *proc
	access, secret  string
	s3              *s3.Client
}

func newRig(t testing.TB) *rig {
	t.Helper()
	r := &rig{t: t, bin: s3kmsBinary(t), dir: t.TempDir()}
	set, err := pki.OpenSet(filepath.Join(r.dir, "tls"), "backup drill CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"admin", "s3node"} {
		if _, err := set.Ensure(c, nil, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{"kms", "s3"} {
		if _, err := set.Ensure(s, []string{"127.0.0.1", "localhost"}, false); err != nil {
			t.Fatal(err)
		}
	}
	r.caFile = set.CAFile()
	kmsCert, kmsKey := set.Files("kms")
	adminCert, adminKey := set.Files("admin")
	nodeCert, nodeKey := set.Files("s3node")
	s3Cert, s3Key := set.Files("s3")
	// The master key is the one thing a backup does not contain.
	master := filepath.Join(r.dir, "master.key")
	if err := software.GenerateMasterKeyFile(master); err != nil {
		t.Fatal(err)
	}
	r.kmsConf = filepath.Join(r.dir, "kms.yaml")
	writeFile(t, r.kmsConf, `
tls: {cert: `+kmsCert+`, key: `+kmsKey+`, client_ca: `+r.caFile+`}
store: {driver: postgres}
protector: {kind: software, master_key_file: `+master+`}
policies:
  - name: admin
    identity_certs: [`+adminCert+`]
    allow: [{ops: ["*"], keys: ["*"]}]
  - name: s3node
    identity_certs: [`+nodeCert+`]
    allow:
      - {ops: [create, generate, decrypt, rewrap, read, delete], keys: ["bucket/*"]}
      - {ops: [generate, decrypt, rewrap, read], keys: ["*"]}
      - {ops: [encrypt, decrypt], keys: ["s3node/*"]}
`)
	r.s3Conf = filepath.Join(r.dir, "s3.yaml")
	writeFile(t, r.s3Conf, `
tls: {cert: `+s3Cert+`, key: `+s3Key+`}
store: {driver: postgres}
kms: {ca_file: `+r.caFile+`, cert: `+nodeCert+`, key: `+nodeKey+`}
`)
	r.adminEnv = []string{"S3KMS_CA_FILE=" + r.caFile, "S3KMS_CLIENT_CERT=" + adminCert, "S3KMS_CLIENT_KEY=" + adminKey}
	return r
}

// env is the environment of every s3kms process of the rig on its site.
func (r *rig) env() []string {
	env := append(os.Environ(), r.adminEnv...)
	return append(env,
		"HOME="+r.dir,
		"S3KMS_KMS_ENDPOINT=https://"+r.kmsAddr,
		"S3KMS_KMS_CONFIG_LISTEN="+r.kmsAddr,
		"S3KMS_KMS_CONFIG_STORE_DSN="+r.site.kmsDSN,
		"S3KMS_S3_CONFIG_LISTEN="+r.s3Addr,
		"S3KMS_S3_CONFIG_KMS_ENDPOINT=https://"+r.kmsAddr,
		"S3KMS_S3_CONFIG_STORE_DSN="+r.site.s3DSN,
		"S3KMS_S3_CONFIG_DATA_DIR="+r.site.dataDir,
	)
}

// start runs the KMS and the S3 node on s and waits until both answer.
func (r *rig) start(s site, label string) {
	t := r.t
	t.Helper()
	r.site = s
	r.kmsAddr, r.s3Addr = freeAddr(t), freeAddr(t)
	r.kmsProc, r.s3Proc = nil, nil
	r.kmsProc = startProc(t, "kms serve ("+label+")", r.bin, filepath.Join(r.dir, label+"-kms.log"), r.env(), "kms", "serve", "--config", r.kmsConf)
	r.waitFor("the KMS", func() error { _, err := r.run("admin", "key", "list"); return err })
	if r.access == "" {
		// First start: the key that seals S3 users' secrets, a user, and a
		// named key for SSE-KMS.
		for _, k := range []string{"s3node/users", "drill-key"} {
			if _, err := r.run("admin", "key", "create", k); err != nil {
				t.Fatal(err)
			}
		}
		out, err := r.run("s3", "user", "create", "--config", r.s3Conf, "--name", "drill", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var user map[string]string
		if err := json.Unmarshal([]byte(out), &user); err != nil {
			t.Fatalf("s3 user create: %v\n%s", err, out)
		}
		r.access, r.secret = user["access_key_id"], user["secret_access_key"]
	}
	r.s3Proc = startProc(t, "s3 serve ("+label+")", r.bin, filepath.Join(r.dir, label+"-s3.log"), r.env(), "s3", "serve", "--config", r.s3Conf)
	r.s3 = r.client()
	r.waitFor("the S3 node", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := r.s3.ListBuckets(ctx, nil)
		return err
	})
}

// stop ends both services (SIGTERM).
func (r *rig) stop() {
	r.s3Proc.stop(r.t)
	r.kmsProc.stop(r.t)
}

func (r *rig) client() *s3.Client {
	pemData, err := os.ReadFile(r.caFile)
	if err != nil {
		r.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemData)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("https://" + r.s3Addr), UsePathStyle: true,
		HTTPClient: &http.Client{Transport: tr},
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: r.access, SecretAccessKey: r.secret}, nil
		}),
	})
}

// run runs the s3kms binary on the rig's site and returns its stdout.
func (r *rig) run(args ...string) (string, error) {
	return runCmd(r.env(), r.bin, args...)
}

func (r *rig) waitFor(what string, f func() error) {
	r.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		err := f()
		if err == nil {
			return
		}
		for _, p := range []*proc{r.kmsProc, r.s3Proc} {
			if p != nil && p.exited() {
				r.t.Fatalf("waiting for %s: %s exited; log:\n%s", what, p.name, p.logTail())
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// object is one object of the drill and what it must read back as.
type object struct {
	key  string
	sse  string // "", "AES256", "aws:kms", "SSE-C"
	body []byte
}

// customerKey is the SSE-C key of the drill's SSE-C object.
var customerKey = bytes.Repeat([]byte{0x5c}, 32)

func sseC(key []byte) (alg, k, sum *string) {
	h := md5.Sum(key)
	return aws.String("AES256"), aws.String(base64.StdEncoding.EncodeToString(key)), aws.String(base64.StdEncoding.EncodeToString(h[:]))
}

func (r *rig) put(ctx context.Context, bucket string, o object) {
	r.t.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.key), Body: bytes.NewReader(o.body)}
	switch o.sse {
	case "AES256":
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	case "aws:kms":
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String("drill-key")
	case "SSE-C":
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = sseC(customerKey)
	}
	if _, err := r.s3.PutObject(ctx, in); err != nil {
		r.t.Fatalf("put %s (%s): %v", o.key, o.sse, err)
	}
}

func (r *rig) get(ctx context.Context, bucket string, o object) ([]byte, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.key)}
	if o.sse == "SSE-C" {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = sseC(customerKey)
	}
	out, err := r.s3.GetObject(ctx, in)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRestoreDrill is the guide's back-up and restore, end to end.
func TestRestoreDrill(t *testing.T) {
	pgDump, pgRestore := tool(t, "pg_dump"), tool(t, "pg_restore")
	tool(t, "psql") // scripts/check-blobs.sh
	ctx := context.Background()
	began := time.Now()
	go buildBinary()
	// The cluster to restore into starts while the original is used.
	type started struct {
		c   *pgtest.Cluster
		err error
	}
	dstCh := make(chan started, 1)
	go func() {
		c, err := pgtest.NewCluster()
		dstCh <- started{c, err}
	}()
	t.Cleanup(func() {
		if d := <-dstCh; d.c != nil {
			_ = d.c.Close()
		}
	})
	src := pgtest.Shared(t)
	r := newRig(t)
	orig := site{kmsDSN: src.CreateDatabase(t), s3DSN: src.CreateDatabase(t), dataDir: filepath.Join(r.dir, "data")}
	r.start(orig, "original")
	t.Logf("build, PostgreSQL cluster, KMS and S3 node started in %v", time.Since(began).Round(time.Millisecond))

	const bucket = "drill"
	if _, err := r.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	objects := []object{
		{key: "plain.bin", body: randomBytes(t, 10<<10)},
		{key: "sse-s3.bin", sse: "AES256", body: randomBytes(t, 200<<10)},
		{key: "sse-kms.bin", sse: "aws:kms", body: randomBytes(t, 100<<10)},
		{key: "sse-c.bin", sse: "SSE-C", body: randomBytes(t, 50<<10)},
		{key: "dir/with space/ünïcode.txt", sse: "AES256", body: []byte("a key with a path\n")},
	}
	for _, o := range objects {
		r.put(ctx, bucket, o)
	}
	// A multipart SSE-S3 object, and an upload left open: its part must be
	// in the backup too, and the upload completable after the restore.
	part1, part2 := randomBytes(t, 5<<20), randomBytes(t, 1<<20)
	mp := object{key: "multipart.bin", sse: "AES256", body: append(append([]byte{}, part1...), part2...)}
	r.multipart(ctx, bucket, mp.key, part1, part2)
	objects = append(objects, mp)
	openUpload, err := r.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String("open-upload.bin"), ServerSideEncryption: types.ServerSideEncryptionAes256})
	if err != nil {
		t.Fatal(err)
	}
	openPart1 := randomBytes(t, 5<<20)
	up1, err := r.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("open-upload.bin"),
		UploadId: openUpload.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(openPart1)})
	if err != nil {
		t.Fatal(err)
	}

	// Back up as docs/operations.md says: the S3 metadata database, then
	// the data directory, then the KMS database.
	backup := filepath.Join(r.dir, "backup")
	if err := os.Mkdir(backup, 0o700); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	mustRun(t, nil, pgDump, "--format=custom", "--file="+filepath.Join(backup, "s3.dump"), orig.s3DSN)
	// Written after the metadata dump, before the data copy: its blob is
	// in the backup, its row is not. The restore must not show it, and
	// its blob is an orphan the sweeper removes.
	late := object{key: "late.bin", sse: "AES256", body: randomBytes(t, 1<<10)}
	r.put(ctx, bucket, late)
	mustRun(t, nil, "cp", "-a", orig.dataDir, filepath.Join(backup, "data"))
	mustRun(t, nil, pgDump, "--format=custom", "--file="+filepath.Join(backup, "kms.dump"), orig.kmsDSN)
	t.Logf("backup (2 pg_dump, cp -a of %d objects' data) took %v", len(objects)+2, time.Since(began).Round(time.Millisecond))
	r.stop()

	// Restore into a new PostgreSQL cluster and a new directory.
	began = time.Now()
	d := <-dstCh
	dstCh <- d // for the cleanup
	if d.err != nil {
		t.Fatal(d.err)
	}
	dst := d.c
	restored := site{kmsDSN: dst.CreateDatabase(t), s3DSN: dst.CreateDatabase(t), dataDir: filepath.Join(r.dir, "restored", "data")}
	mustRun(t, nil, pgRestore, "--no-owner", "--exit-on-error", "--dbname="+restored.kmsDSN, filepath.Join(backup, "kms.dump"))
	mustRun(t, nil, pgRestore, "--no-owner", "--exit-on-error", "--dbname="+restored.s3DSN, filepath.Join(backup, "s3.dump"))
	if err := os.MkdirAll(filepath.Dir(restored.dataDir), 0o700); err != nil {
		t.Fatal(err)
	}
	mustRun(t, nil, "cp", "-a", filepath.Join(backup, "data"), restored.dataDir)
	out := mustRun(t, nil, "../../scripts/check-blobs.sh", restored.s3DSN, restored.dataDir)
	if !strings.Contains(out, "8 blobs referenced, 0 missing") {
		t.Errorf("check-blobs.sh: %s", out)
	}
	t.Logf("restore (new cluster, 2 pg_restore, cp -a, check-blobs.sh) took %v", time.Since(began).Round(time.Millisecond))

	// A dump made before migration 0011 (functions without their
	// search_path) does not restore with plain pg_restore; the guide's
	// workaround restores it in sections.
	psql := tool(t, "psql")
	mustRun(t, nil, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", orig.s3DSN, "-c",
		"ALTER FUNCTION s3_sealed_kms_key_id(text, bytea) RESET search_path; ALTER FUNCTION s3_sealed_kms_key_version(text, bytea) RESET search_path")
	oldDump := filepath.Join(backup, "s3-before-0011.dump")
	mustRun(t, nil, pgDump, "--format=custom", "--file="+oldDump, orig.s3DSN)
	if _, err := runCmd(nil, pgRestore, "--no-owner", "--exit-on-error", "--dbname="+dst.CreateDatabase(t), oldDump); err == nil ||
		!strings.Contains(err.Error(), "s3_sealed_kms_offset") {
		t.Errorf("pg_restore of a dump without migration 0011: %v, want the s3_sealed_kms_offset error", err)
	}
	oldDB := dst.CreateDatabase(t)
	mustRun(t, nil, pgRestore, "--no-owner", "--exit-on-error", "--section=pre-data", "--dbname="+oldDB, oldDump)
	mustRun(t, nil, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", oldDB, "-c",
		"ALTER FUNCTION s3_sealed_kms_key_id(text, bytea) SET search_path = public; ALTER FUNCTION s3_sealed_kms_key_version(text, bytea) SET search_path = public")
	mustRun(t, nil, pgRestore, "--no-owner", "--exit-on-error", "--section=data", "--section=post-data", "--dbname="+oldDB, oldDump)
	if out := mustRun(t, nil, "../../scripts/check-blobs.sh", oldDB, restored.dataDir); !strings.Contains(out, " blobs referenced, 0 missing") {
		t.Errorf("check-blobs.sh after the sectioned restore: %s", out)
	}

	// A blob missing from the data directory is reported.
	victim := filepath.Join(r.dir, "victim")
	mustRun(t, nil, "cp", "-a", restored.dataDir, victim)
	id := strings.TrimSpace(mustRun(t, nil, psql, "-X", "-At", restored.s3DSN, "-c", "SELECT blob_id FROM s3_objects WHERE blob_id IS NOT NULL LIMIT 1"))
	if err := os.Remove(filepath.Join(victim, id[:2], id)); err != nil {
		t.Fatal(err)
	}
	if out, err := runCmd(nil, "../../scripts/check-blobs.sh", restored.s3DSN, victim); err == nil || !strings.Contains(out, "1 missing") {
		t.Errorf("check-blobs.sh on a data directory missing a blob: %v\n%s", err, out)
	}

	// The same master key, new databases and directory: everything reads
	// back, the user's secret (sealed by the KMS) included.
	began = time.Now()
	r.start(restored, "restored")
	t.Logf("services started on the restored site in %v", time.Since(began).Round(time.Millisecond))
	for _, o := range objects {
		got, err := r.get(ctx, bucket, o)
		if err != nil {
			t.Errorf("get %s (%s) after restore: %v", o.key, o.sse, err)
			continue
		}
		if !bytes.Equal(got, o.body) {
			t.Errorf("%s (%s): %d bytes read back differ from the %d written", o.key, o.sse, len(got), len(o.body))
		}
	}
	if _, err := r.get(ctx, bucket, late); !isNotFound(err) {
		t.Errorf("get %s, written after the metadata dump: %v, want NoSuchKey", late.key, err)
	}
	// The open upload completes.
	up2, err := r.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("open-upload.bin"),
		UploadId: openUpload.UploadId, PartNumber: aws.Int32(2), Body: bytes.NewReader(part2)})
	if err != nil {
		t.Fatalf("upload part after restore: %v", err)
	}
	if _, err := r.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String("open-upload.bin"), UploadId: openUpload.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: up1.ETag}, {PartNumber: aws.Int32(2), ETag: up2.ETag}}},
	}); err != nil {
		t.Fatalf("complete the upload after restore: %v", err)
	}
	completed := object{key: "open-upload.bin", body: append(append([]byte{}, openPart1...), part2...)}
	if got, err := r.get(ctx, bucket, completed); err != nil || !bytes.Equal(got, completed.body) {
		t.Errorf("upload completed after restore: err %v, equal %v", err, bytes.Equal(got, completed.body))
	}
	// New writes work on the restored site.
	r.put(ctx, bucket, object{key: "after.bin", sse: "aws:kms", body: []byte("after the restore")})
}

func (r *rig) multipart(ctx context.Context, bucket, key string, parts ...[]byte) {
	t := r.t
	t.Helper()
	up, err := r.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String(key), ServerSideEncryption: types.ServerSideEncryptionAes256})
	if err != nil {
		t.Fatal(err)
	}
	var done []types.CompletedPart
	for i, p := range parts {
		n := aws.Int32(int32(i + 1))
		out, err := r.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(key),
			UploadId: up.UploadId, PartNumber: n, Body: bytes.NewReader(p)})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{PartNumber: n, ETag: out.ETag})
	}
	if _, err := r.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatal(err)
	}
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	return errors.As(err, &nsk)
}

// mustRun runs a command and returns its stdout; it fails the test with
// the command's output otherwise.
func mustRun(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runCmd(env, name, args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

func runCmd(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String(), nil
}

// proc is a running s3kms process whose output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProc(t testing.TB, name, bin, logPath string, env []string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process with SIGTERM (SIGKILL after 30 s) if it runs.
func (p *proc) stop(t testing.TB) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("%s did not stop on SIGTERM", p.name)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
