package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3kms/s3kms/api"
	"github.com/s3kms/s3kms/api/kmip"
	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/internal/lifecycle"
	"github.com/s3kms/s3kms/internal/pki"
	"github.com/s3kms/s3kms/kms"
)

func newKMSCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "kms", Short: "Run the key management service"}
	cmd.AddCommand(newHSMCmd())
	var configFile string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the data-key and admin API over HTTPS with mutual TLS (and KMIP if configured)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadKMS(configFile)
			if err != nil {
				return err
			}
			logger := newLogger(cfg.Log, cmd.ErrOrStderr())
			rt, err := startKMS(cmd.Context(), cfg, logger)
			if err != nil {
				return err
			}
			logger.Info("kms listening", "addr", rt.Addr())
			if a := rt.KMIPAddr(); a != "" {
				logger.Info("kmip listening", "addr", a)
			}
			<-cmd.Context().Done()
			return rt.Shutdown(true)
		},
	}
	serve.Flags().StringVar(&configFile, "config", "", "configuration file (YAML); S3KMS_KMS_CONFIG_* variables override it (docs/config.md)")
	cmd.AddCommand(serve)
	return cmd
}

// newProtector builds the configured protector. A pkcs11 protector holds
// HSM sessions: close it (io.Closer) when the KMS stops.
func newProtector(c config.Protector) (kms.Protector, error) {
	if c.Kind == "pkcs11" {
		p, err := newPKCS11Protector(c)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	master, err := software.LoadMasterKey(c.MasterKeyFile, c.MasterKeyEnv)
	if err != nil {
		return nil, err
	}
	defer clear(master)
	// Previous master keys (master-key rotation): their roots still open.
	var previous [][]byte
	defer func() {
		for _, m := range previous {
			clear(m)
		}
	}()
	for _, f := range c.PreviousMasterKeyFiles {
		m, err := software.LoadMasterKey(f, "")
		if err != nil {
			return nil, fmt.Errorf("previous %w", err)
		}
		previous = append(previous, m)
	}
	for _, env := range c.PreviousMasterKeyEnvs {
		m, err := software.LoadMasterKey("", env)
		if err != nil {
			return nil, fmt.Errorf("previous %w", err)
		}
		previous = append(previous, m)
	}
	return software.New(master, previous...)
}

// buildPolicy turns the configured policies into a kms.Policy.
func buildPolicy(ps []config.Policy) (*kms.Policy, error) {
	var entries []kms.PolicyEntry
	for _, p := range ps {
		e := kms.PolicyEntry{Name: p.Name}
		for _, id := range p.Identities {
			e.Identities = append(e.Identities, kms.Identity(strings.ToLower(id)))
		}
		for _, f := range p.IdentityCerts {
			cert, err := pki.LoadCertificate(f)
			if err != nil {
				return nil, fmt.Errorf("policy %q: %w", p.Name, err)
			}
			e.Identities = append(e.Identities, kms.IdentityOf(cert))
		}
		for _, r := range p.Allow {
			rule := kms.Rule{Keys: r.Keys}
			for _, op := range r.Ops {
				rule.Ops = append(rule.Ops, kms.Op(op))
			}
			e.Allow = append(e.Allow, rule)
		}
		entries = append(entries, e)
	}
	return kms.NewPolicy(entries)
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// kmsRuntime is a running KMS.
type kmsRuntime struct {
	service   *kms.Service
	protector kms.Protector
	store     *database
	ln        net.Listener
	kmipLn    net.Listener // nil when KMIP is off
	hs        *http.Server
	kmipSrv   *kmip.Server // nil when KMIP is off
	stop      *stopper
	tls       *tlsFiles
	cancel    context.CancelFunc
	done      chan struct{}
	kmipDone  chan struct{}
	wg        sync.WaitGroup // background loops
}

// closeProtector closes a protector that holds resources (HSM sessions).
func closeProtector(p kms.Protector) {
	if c, ok := p.(io.Closer); ok {
		_ = c.Close()
	}
}

// startKMS opens the store, builds the service and serves the API.
func startKMS(ctx context.Context, cfg config.KMS, logger *slog.Logger) (_ *kmsRuntime, err error) {
	policy, err := buildPolicy(cfg.Policies)
	if err != nil {
		return nil, err
	}
	protector, err := newProtector(cfg.Protector)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			closeProtector(protector)
		}
	}()
	files := &tlsFiles{interval: cfg.TLS.ReloadInterval, logger: logger}
	tlsCfg, kmipTLS, err := files.kmsTLS(cfg.TLS)
	if err != nil {
		return nil, err
	}
	store, err := openDatabase(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			store.Close()
		}
	}()
	svc, err := kms.New(kms.Config{
		Store: store.keys, Audit: store.audit, Protector: protector, Policy: policy, Logger: logger,
		CacheSize: cfg.Cache.Size, CacheTTL: cfg.Cache.TTL,
		MinDeletionDays: cfg.Deletion.MinDays, MaxDeletionDays: cfg.Deletion.MaxDays,
	})
	if err != nil {
		return nil, err
	}
	stop := &stopper{cfg: cfg.Lifecycle, logger: logger}
	var checks []api.ReadyCheck
	if pc, ok := protector.(protectorChecker); ok {
		checks = append(checks, api.ReadyCheck{Name: "protector", Fn: pc.Check})
	}
	srv, err := api.NewServer(api.Config{Service: svc, Logger: logger, Ready: store.ping, Checks: checks,
		Draining: stop.drain.Draining, AccessLog: cfg.Log.Access})
	if err != nil {
		return nil, err
	}
	var kmipSrv *kmip.Server
	if cfg.KMIP.Listen != "" {
		if kmipSrv, err = kmip.NewServer(kmip.Config{Service: svc, TLSConfig: kmipTLS, Logger: logger,
			Registerer: srv.Registry(), AccessLog: cfg.Log.Access}); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	var kmipLn net.Listener
	if kmipSrv != nil {
		if kmipLn, err = net.Listen("tcp", cfg.KMIP.Listen); err != nil {
			ln.Close()
			return nil, fmt.Errorf("kmip: %w", err)
		}
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	rt := &kmsRuntime{service: svc, protector: protector, store: store, ln: ln, kmipLn: kmipLn, kmipSrv: kmipSrv,
		hs: api.NewHTTPServer(ln.Addr().String(), tlsCfg, stop.drain.Handler(srv.Handler()), logger), stop: stop, tls: files,
		cancel: cancel, done: make(chan struct{}), kmipDone: make(chan struct{})}
	go func() {
		defer close(rt.kmipDone)
		if kmipSrv == nil {
			return
		}
		// Shutdown stops it gracefully; Serve closes every KMIP
		// connection when rctx ends.
		if err := kmipSrv.Serve(rctx, kmipLn); err != nil {
			logger.Error("kmip server stopped", "err", err)
		}
	}()
	go func() {
		defer close(rt.done)
		// Shutdown drains in-flight requests.
		if err := rt.hs.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("kms server stopped", "err", err)
		}
	}()
	rt.wg.Go(func() { reapLoop(rctx, svc, logger) })
	files.start(rctx, &rt.wg)
	return rt, nil
}

// reapLoop destroys keys whose scheduled deletion date has passed and
// rotates keys whose automatic rotation is due, once a minute.
func reapLoop(ctx context.Context, svc *kms.Service, logger *slog.Logger) {
	ctx = kms.WithIdentity(ctx, "system")
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if n, err := svc.ReapDeletions(ctx); err != nil {
			logger.Warn("scheduled key deletion failed; will retry", "err", err)
		} else if n > 0 {
			logger.Info("destroyed keys after their waiting period", "count", n)
		}
		if n, err := svc.RotateDue(ctx); err != nil {
			logger.Warn("automatic key rotation failed; will retry", "err", err)
		} else if n > 0 {
			logger.Info("rotated keys automatically", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Addr is the address the API listens on.
func (rt *kmsRuntime) Addr() string { return rt.ln.Addr().String() }

// KMIPAddr is the address KMIP listens on, or "" when KMIP is off.
func (rt *kmsRuntime) KMIPAddr() string {
	if rt.kmipLn == nil {
		return ""
	}
	return rt.kmipLn.Addr().String()
}

// Close is Shutdown without shutdown_delay.
func (rt *kmsRuntime) Close() error { return rt.Shutdown(false) }

// Shutdown stops gracefully: readiness reports draining (for
// shutdown_delay if delay is set), then the listeners close and requests
// in flight and KMIP messages under way finish within shutdown_timeout;
// then the background loops stop, and the store and HSM sessions close.
// Audit records are written before each request answers (group commit),
// so none is pending once the requests are done.
func (rt *kmsRuntime) Shutdown(delay bool) error {
	rt.stop.stopServing(delay, func(ctx context.Context) bool {
		return lifecycle.ShutdownHTTP(ctx, rt.hs)
	}, func(ctx context.Context) bool {
		return rt.kmipSrv != nil && rt.kmipSrv.Shutdown(ctx) != nil
	})
	rt.cancel()
	<-rt.done
	<-rt.kmipDone
	rt.wg.Wait()
	_ = rt.service.Close()
	closeProtector(rt.protector)
	rt.store.Close()
	return nil
}

func newMigrateCmd() *cobra.Command {
	var configFile string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations of the configured store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.DefaultKMS()
			if err := config.Load(configFile, &cfg, os.LookupEnv); err != nil {
				return err
			}
			if _, err := config.ApplyEnv(&cfg, config.KMSEnvPrefix, os.Environ()); err != nil {
				return err
			}
			store, err := openDatabase(cmd.Context(), cfg.Store)
			if err != nil {
				return err
			}
			store.Close()
			fmt.Fprintln(cmd.OutOrStdout(), "migrations applied")
			return nil
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "KMS configuration file (YAML); S3KMS_KMS_CONFIG_* variables override it")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func newIdentityCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "identity CERT.pem",
		Short: "Print the KMS identity (SHA-256 of the public key) of a client certificate",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cert, err := pki.LoadCertificate(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), kms.IdentityOf(cert))
			return nil
		},
	}
}
