package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3kms/s3kms/internal/config"
	"github.com/s3kms/s3kms/internal/lifecycle"
	"github.com/s3kms/s3kms/kms/kmsclient"
	"github.com/s3kms/s3kms/kms/kmsclient/clientmetrics"
	"github.com/s3kms/s3kms/s3node"
	"github.com/s3kms/s3kms/s3node/credentials"
	"github.com/s3kms/s3kms/s3node/metatimeout"
	"github.com/s3kms/s3kms/s3node/s3api"
	"github.com/s3kms/s3kms/storage/blobfs"
)

func newS3Cmd() *cobra.Command {
	cmd := &cobra.Command{Use: "s3", Short: "Run and manage the S3 node"}
	var configFile string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Serve the S3 API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadS3(configFile)
			if err != nil {
				return err
			}
			logger := newLogger(cfg.Log, cmd.ErrOrStderr())
			rt, err := startS3(cmd.Context(), cfg, logger)
			if err != nil {
				return err
			}
			logger.Info("s3 node listening", "https", rt.Addr(), "http", rt.HTTPAddr())
			<-cmd.Context().Done()
			return rt.Shutdown(true)
		},
	}
	serve.Flags().StringVar(&configFile, "config", "", "configuration file (YAML); S3KMS_S3_CONFIG_* variables override it (docs/config.md)")
	cmd.AddCommand(serve, newUserCmd())
	return cmd
}

// The KMS client is the S3 node's key service.
var _ s3api.KeyService = (*kmsclient.Client)(nil)

func newKMSClient(c config.KMSClient, opts ...kmsclient.Option) (*kmsclient.Client, error) {
	tlsCfg, err := kmsclient.TLSConfigFromFiles(c.CAFile, c.Cert, c.Key)
	if err != nil {
		return nil, err
	}
	return kmsclient.NewMulti(c.URLs(), tlsCfg, append(kmsClientOptions(c), opts...)...)
}

// s3Runtime is a running S3 node.
type s3Runtime struct {
	store   *database
	users   *credentials.Users
	servers []*http.Server
	lns     []net.Listener
	adminLn net.Listener // the admin API's, or nil
	stop    *stopper
	tls     *tlsFiles
	// ready answers /-/readyz and the admin /readyz; it reports draining
	// once stop.drain is set.
	ready  *s3api.Readiness
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startS3(ctx context.Context, cfg config.S3, logger *slog.Logger) (_ *s3Runtime, err error) {
	reg := newRegistry()
	kcMetrics, err := clientmetrics.New(reg)
	if err != nil {
		return nil, err
	}
	sweepM, err := newSweepMetrics(reg)
	if err != nil {
		return nil, err
	}
	files := &tlsFiles{interval: cfg.TLS.ReloadInterval, logger: logger}
	kc, err := files.kmsClient(cfg.KMS, kmsclient.WithObserver(kcMetrics), kmsclient.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	data, err := blobfs.New(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	store, err := openDatabase(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			store.close()
		}
	}()
	// Requests get 503 rather than hang on a database that stops answering.
	meta := metatimeout.Wrap(store.meta, cfg.MetadataTimeout)
	users := credentials.New(credentials.Config{Store: meta, Sealer: kc, KeyID: cfg.UsersKey, TTL: cfg.UsersCacheTTL})
	proxies, err := cfg.Encryption.Proxies()
	if err != nil {
		return nil, err
	}
	// stop.drain is the readiness hook: it reports draining once the
	// node stops (the node's Readiness reads it).
	stop := &stopper{cfg: cfg.Lifecycle, logger: logger}
	ready := s3Readiness(store, kc, data, logger).DrainingFrom(stop.drain.Draining)
	srv, err := s3api.New(s3api.Config{
		Registerer: reg, AccessLog: cfg.Log.Access, Readiness: ready,
		Meta: meta, Data: data, Users: users, Region: cfg.Region, Domain: cfg.Domain, Logger: logger,
		KMS: kc, DefaultKMSKeyID: cfg.Encryption.DefaultKMSKeyID, EncryptByDefault: cfg.Encryption.DefaultSSES3,
		TrustedProxies: proxies, AllowSSECOverHTTP: cfg.Encryption.AllowSSECOverHTTP,
		BucketKeyDeletionDays: cfg.Encryption.BucketKeyDeletionDays, BucketKeyTTL: cfg.Encryption.BucketKeyTTL,
	})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	rt := &s3Runtime{store: store, users: users, cancel: cancel, stop: stop, tls: files, ready: ready}
	defer func() {
		if err != nil {
			_ = rt.Close()
		}
	}()
	errLog := slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	serve := func(addr string, tlsCfg *tls.Config) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		// No read or write timeout: objects are streamed for as long as
		// they take. Slow or idle clients are bounded by the header and
		// idle timeouts.
		hs := &http.Server{
			Handler: rt.stop.drain.Handler(srv.Handler()), TLSConfig: tlsCfg, ErrorLog: errLog,
			ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		}
		rt.servers = append(rt.servers, hs)
		rt.lns = append(rt.lns, ln)
		rt.wg.Add(1)
		go func() {
			defer rt.wg.Done()
			var err error
			if tlsCfg != nil {
				err = hs.ServeTLS(ln, "", "")
			} else {
				err = hs.Serve(ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				logger.Error("s3 server stopped", "addr", addr, "err", err)
			}
		}()
		return nil
	}
	if cfg.Listen != "" {
		r, err := files.load("s3 https", cfg.TLS.Cert, cfg.TLS.Key, "")
		if err != nil {
			return nil, err
		}
		if err := serve(cfg.Listen, r.ServerConfig(&tls.Config{MinVersion: tls.VersionTLS12})); err != nil {
			return nil, err
		}
	} else {
		rt.lns = append(rt.lns, nil)
		rt.servers = append(rt.servers, nil)
	}
	if cfg.HTTPListen != "" {
		if err := serve(cfg.HTTPListen, nil); err != nil {
			return nil, err
		}
	}
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		sweepLoop(rctx, data, store.index, cfg.SweepInterval, cfg.SweepGrace, logger, sweepM)
	}()
	if err := rt.startRewrap(rctx, cfg, store.meta, kc, files, logger, reg); err != nil {
		return nil, err
	}
	files.start(rctx, &rt.wg)
	return rt, nil
}

// sweepLoop removes orphan blobs (left by crashes between the data write
// and the metadata commit) once they are older than grace, every interval.
func sweepLoop(ctx context.Context, data *blobfs.Store, index s3node.BlobIndex, interval, grace time.Duration, logger *slog.Logger, m *sweepMetrics) {
	if interval <= 0 { // a config that skipped Validate
		interval = config.DefaultS3().SweepInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		st, err := data.Sweep(ctx, index.BlobReferenced, grace)
		if ctx.Err() == nil {
			m.observe(st, err)
		}
		if err != nil && ctx.Err() == nil {
			logger.Warn("blob sweep failed; will retry", "err", err)
		} else if st.Blobs+st.Temps > 0 {
			logger.Info("swept orphan blobs", "blobs", st.Blobs, "temps", st.Temps, "bytes", st.Bytes)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Addr is the HTTPS address, or "".
func (rt *s3Runtime) Addr() string {
	if len(rt.lns) > 0 && rt.lns[0] != nil {
		return rt.lns[0].Addr().String()
	}
	return ""
}

// HTTPAddr is the plain-HTTP address, or "".
func (rt *s3Runtime) HTTPAddr() string {
	if len(rt.lns) > 1 && rt.lns[1] != nil {
		return rt.lns[1].Addr().String()
	}
	return ""
}

// Close is Shutdown without shutdown_delay.
func (rt *s3Runtime) Close() error { return rt.Shutdown(false) }

// Shutdown stops gracefully: it reports draining (for shutdown_delay if
// delay is set; rt.stop.drain is the hook for readiness), closes the
// listeners and waits up to shutdown_timeout for requests in flight,
// cutting what is left; then it stops the background loops (the sweeper;
// the rewrap worker hands its job's lease back) and closes the database.
func (rt *s3Runtime) Shutdown(delay bool) error {
	rt.stop.stopServing(delay, func(ctx context.Context) bool {
		return lifecycle.ShutdownHTTP(ctx, rt.servers...)
	})
	rt.cancel()
	rt.wg.Wait()
	rt.store.close()
	return nil
}

// newUserCmd manages S3 users directly through the node's configuration
// (metadata database and KMS).
func newUserCmd() *cobra.Command {
	var configFile string
	var asJSON bool
	cmd := &cobra.Command{Use: "user", Short: "Create, list and delete S3 users (secret keys sealed by the KMS)"}
	cmd.PersistentFlags().StringVar(&configFile, "config", "", "S3 node configuration file (YAML)")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")
	_ = cmd.MarkPersistentFlagRequired("config")
	open := func(ctx context.Context) (*credentials.Users, func(), error) {
		cfg, err := config.LoadS3(configFile)
		if err != nil {
			return nil, nil, err
		}
		kc, err := newKMSClient(cfg.KMS)
		if err != nil {
			return nil, nil, err
		}
		st, err := openDatabase(ctx, cfg.Store)
		if err != nil {
			return nil, nil, err
		}
		return credentials.New(credentials.Config{Store: st.users, Sealer: kc, KeyID: cfg.UsersKey}), st.close, nil
	}
	var name, accessKey string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a user; prints its secret key once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			users, done, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			c, err := users.Create(cmd.Context(), accessKey, name)
			if err != nil {
				return err
			}
			f := &adminFlags{json: asJSON}
			return f.print(cmd.OutOrStdout(), map[string]string{
				"access_key_id": c.AccessKeyID, "secret_access_key": c.SecretAccessKey,
				"canonical_id": c.CanonicalID, "display_name": c.DisplayName,
			}, func(w io.Writer) {
				fmt.Fprintf(w, "access_key_id: %s\nsecret_access_key: %s\n", c.AccessKeyID, c.SecretAccessKey)
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "display name")
	create.Flags().StringVar(&accessKey, "access-key", "", "access key id (random if empty)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			users, done, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			us, err := users.List(cmd.Context())
			if err != nil {
				return err
			}
			type row struct {
				AccessKeyID string    `json:"access_key_id"`
				DisplayName string    `json:"display_name"`
				CanonicalID string    `json:"canonical_id"`
				CreatedAt   time.Time `json:"created_at"`
			}
			rows := []row{}
			for _, u := range us {
				rows = append(rows, row{u.AccessKeyID, u.DisplayName, u.CanonicalID, u.CreatedAt})
			}
			f := &adminFlags{json: asJSON}
			return f.print(cmd.OutOrStdout(), rows, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ACCESS KEY\tNAME\tCREATED")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", r.AccessKeyID, r.DisplayName, r.CreatedAt.Format(time.RFC3339))
				}
				tw.Flush()
			})
		},
	}
	del := &cobra.Command{
		Use:   "delete ACCESS_KEY_ID",
		Short: "Delete a user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			users, done, err := open(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			return users.Delete(cmd.Context(), args[0])
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}
