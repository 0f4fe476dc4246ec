package deploy

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/s3kms/s3kms/internal/pgtest"
)

// softhsmModule is the module examples/kms-pkcs11.yaml names.
const softhsmModule = "/usr/lib/softhsm/libsofthsm2.so"

// TestSystemdExecStartPKCS11 runs s3kms-kms.service with the drop-in
// pkcs11.conf on examples/kms-pkcs11.yaml installed as /etc/s3kms/kms.yaml
// and kms-pkcs11.env.example as its environment file, as deploy/README.md
// says: a SoftHSM2 token in the drop-in's SOFTHSM2_CONF (moved into the
// sandbox), `s3kms kms hsm init` once, then the unit's ExecStart, which
// must become ready and stop on KillSignal within TimeoutStopSec.
func TestSystemdExecStartPKCS11(t *testing.T) {
	if _, err := os.Stat(softhsmModule); err != nil {
		t.Fatalf("SoftHSM2 module %s missing: apt-get install softhsm2 (%v)", softhsmModule, err)
	}
	util := needTool(t, "softhsm2-util", "apt-get install softhsm2")
	bin := s3kmsBinary(t)
	pg := pgtest.Shared(t)
	sb := newSandbox(t)
	tlsDir := filepath.Join(sb.root, "etc", "s3kms", "tls")
	makeTLS(t, bin, tlsDir)
	// The token, where the drop-in's SOFTHSM2_CONF and ReadWritePaths
	// (/etc/softhsm, /var/lib/softhsm/tokens) put it.
	tokens := sb.rewrite("/var/lib/softhsm/tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := sb.rewrite("/etc/softhsm/softhsm2.conf")
	writeFile(t, conf, "directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n")
	pin := "pin-" + randomHex(t)
	init := exec.Command(util, "--init-token", "--free", "--label", "s3kms", "--pin", pin, "--so-pin", "so-"+pin)
	init.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	real := map[string]string{"S3KMS_KMS_DSN": pg.CreateDatabase(t), "S3KMS_HSM_PIN": pin}
	kms := unitService(t, sb, bin, "s3kms-kms.service", []string{"pkcs11.conf"}, "examples/kms-pkcs11.yaml", real)

	// `s3kms kms hsm init --config /etc/s3kms/kms.yaml` in the service's
	// environment, once before the first start.
	hsmInit := exec.Command(bin, "kms", "hsm", "init", "--config", kms.args[len(kms.args)-1])
	hsmInit.Env = kms.env
	if out, err := hsmInit.CombinedOutput(); err != nil {
		t.Fatalf("s3kms kms hsm init: %v\n%s", err, out)
	}
	kms.start(t)
	waitHTTP(t, kms, caClient(t, tlsDir), "https://localhost:"+sb.ports["7373"]+"/readyz", http.StatusOK)
	kms.terminate(t)
}
