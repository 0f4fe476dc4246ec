package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3kms/s3kms/api"
	"github.com/s3kms/s3kms/api/kmip"
	"github.com/s3kms/s3kms/hsm/software"
	"github.com/s3kms/s3kms/internal/config"
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
			return rt.Close()
		},
	}
	serve.Flags().StringVar(&configFile, "config", "", "configuration file (YAML)")
	_ = serve.MarkFlagRequired("config")
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
	cancel    context.CancelFunc
	done      chan struct{}
	kmipDone  chan struct{}
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
	tlsCfg, err := api.TLSConfig(cfg.TLS.Cert, cfg.TLS.Key, cfg.TLS.ClientCA)
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
	var checks []api.ReadyCheck
	if pc, ok := protector.(protectorChecker); ok {
		checks = append(checks, api.ReadyCheck{Name: "protector", Fn: pc.Check})
	}
	srv, err := api.NewServer(api.Config{Service: svc, Logger: logger, Ready: store.ping, Checks: checks, AccessLog: cfg.Log.Access})
	if err != nil {
		return nil, err
	}
	var kmipSrv *kmip.Server
	if cfg.KMIP.Listen != "" {
		if kmipSrv, err = kmip.NewServer(kmip.Config{Service: svc, TLSConfig: tlsCfg, Logger: logger,
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
	rt := &kmsRuntime{service: svc, protector: protector, store: store, ln: ln, kmipLn: kmipLn,
		cancel: cancel, done: make(chan struct{}), kmipDone: make(chan struct{})}
	go func() {
		defer close(rt.kmipDone)
		if kmipSrv == nil {
			return
		}
		// Serve closes every KMIP connection when rctx ends.
		if err := kmipSrv.Serve(rctx, kmipLn); err != nil {
			logger.Error("kmip server stopped", "err", err)
		}
	}()
	go func() {
		defer close(rt.done)
		// ServeListener drains in-flight requests when rctx ends.
		if err := api.ServeListener(rctx, ln, tlsCfg, srv.Handler(), logger); err != nil {
			logger.Error("kms server stopped", "err", err)
		}
	}()
	go reapLoop(rctx, svc, logger)
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

// Close drains in-flight requests and releases everything.
func (rt *kmsRuntime) Close() error {
	rt.cancel()
	<-rt.done
	<-rt.kmipDone
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
			store, err := openDatabase(cmd.Context(), cfg.Store)
			if err != nil {
				return err
			}
			store.Close()
			fmt.Fprintln(cmd.OutOrStdout(), "migrations applied")
			return nil
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "configuration file (YAML)")
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
