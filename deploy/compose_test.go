package deploy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/s3kms/s3kms/internal/config"
)

// TestCompose loads compose/compose.yaml with compose-go, which validates
// it against the compose specification's schema, and checks what the
// cluster needs: two KMS processes and two S3 nodes sharing one data
// volume, a one-shot init, health checks, non-root read-only services with
// a stop grace period above shutdown_timeout, and configuration files that
// load. No container engine runs here: `docker compose up` is not tested.
func TestCompose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts, err := cli.NewProjectOptions([]string{"compose/compose.yaml"},
		cli.WithWorkingDirectory("compose"),
		cli.WithEnv([]string{"S3KMS_PG_PASSWORD=dummy"}),
		cli.WithName("s3kms"),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := p.ServiceNames()
	slices.Sort(names)
	if want := []string{"init", "kms-a", "kms-b", "postgres", "s3-a", "s3-b"}; !slices.Equal(names, want) {
		t.Fatalf("services = %v, want %v", names, want)
	}
	for _, name := range names {
		s := p.Services[name]
		if s.Image == "" || strings.HasSuffix(s.Image, ":latest") || !strings.Contains(s.Image, ":") {
			t.Errorf("%s: image %q has no pinned tag", name, s.Image)
		}
		if name == "postgres" {
			continue
		}
		if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: read_only %v, cap_drop %v, security_opt %v", name, s.ReadOnly, s.CapDrop, s.SecurityOpt)
		}
		if name == "init" {
			continue
		}
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) == 0 {
			t.Errorf("%s: no health check", name)
		}
		if s.StopGracePeriod == nil || time.Duration(*s.StopGracePeriod) <= shutdownTimeout {
			t.Errorf("%s: stop_grace_period %v must exceed shutdown_timeout %v", name, s.StopGracePeriod, shutdownTimeout)
		}
		if d, ok := s.DependsOn["postgres"]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: does not wait for a healthy postgres", name)
		}
	}
	for _, n := range []string{"kms-a", "kms-b"} {
		if d := p.Services[n].DependsOn["init"]; d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: does not wait for init to complete", n)
		}
	}
	for _, n := range []string{"s3-a", "s3-b"} {
		var shared bool
		for _, v := range p.Services[n].Volumes {
			shared = shared || v.Source == "data" && v.Target == "/var/lib/s3kms/data"
		}
		if !shared {
			t.Errorf("%s: does not mount the shared volume data on the data directory", n)
		}
	}

	// The configurations the services mount load, with the environment
	// compose gives each service.
	for _, n := range []string{"kms-a", "s3-a"} {
		s := p.Services[n]
		if len(s.Configs) != 1 {
			t.Fatalf("%s: %d configs, want 1", n, len(s.Configs))
		}
		file := p.Configs[s.Configs[0].Source].File
		for k, v := range s.Environment {
			if v != nil {
				t.Setenv(k, *v)
			}
		}
		var err error
		if strings.HasPrefix(n, "kms") {
			var cfg config.KMS
			if cfg, err = config.LoadKMS(file); err == nil && cfg.Protector.MasterKeyFile != "/secrets/master.key" {
				t.Errorf("%s: master key file %q is not the one init.sh writes", n, cfg.Protector.MasterKeyFile)
			}
		} else {
			var cfg config.S3
			if cfg, err = config.LoadS3(file); err == nil && cfg.KMS.Endpoint != "https://kms:7373" {
				t.Errorf("%s: KMS endpoint %q", n, cfg.KMS.Endpoint)
			}
		}
		if err != nil {
			t.Errorf("%s: %s: %v", n, filepath.Base(file), err)
		}
	}
	if _, err := os.Stat("compose/init.sh"); err != nil {
		t.Error(err)
	}
}
