package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/kmsclient"
)

// adminFlags locate the KMS and the administrator's certificate.
type adminFlags struct {
	endpoint, caFile, certFile, keyFile string
	json                                bool
}

func newAdminCmd() *cobra.Command {
	f := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Administer the KMS through its admin REST and data-key APIs",
		Long: `admin is a client of the KMS's HTTPS API. It reads the endpoint and the
client certificate from flags or from S3KMS_KMS_ENDPOINT, S3KMS_CA_FILE,
S3KMS_CLIENT_CERT and S3KMS_CLIENT_KEY (source the dev.env that
` + "`s3kms dev`" + ` writes). Every command takes --json.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.endpoint, "endpoint", os.Getenv("S3KMS_KMS_ENDPOINT"), "KMS URL, e.g. https://127.0.0.1:7373 [S3KMS_KMS_ENDPOINT]")
	pf.StringVar(&f.caFile, "ca-file", os.Getenv("S3KMS_CA_FILE"), "CA certificate of the KMS [S3KMS_CA_FILE]")
	pf.StringVar(&f.certFile, "cert", os.Getenv("S3KMS_CLIENT_CERT"), "client certificate [S3KMS_CLIENT_CERT]")
	pf.StringVar(&f.keyFile, "key", os.Getenv("S3KMS_CLIENT_KEY"), "client private key [S3KMS_CLIENT_KEY]")
	pf.BoolVar(&f.json, "json", false, "print JSON")
	// `admin user` is `s3 user`: users live in the S3 node's database.
	cmd.AddCommand(newAdminKeyCmd(f), newAdminDataKeyCmd(f), newAdminAuditCmd(f), newAdminMasterCmd(f), newUserCmd(), newAdminJobCmd(f))
	return cmd
}

func (f *adminFlags) client(opts ...kmsclient.Option) (*kmsclient.Client, error) {
	var missing []string
	for _, m := range []struct{ v, name string }{
		{f.endpoint, "--endpoint (S3KMS_KMS_ENDPOINT)"}, {f.caFile, "--ca-file (S3KMS_CA_FILE)"},
		{f.certFile, "--cert (S3KMS_CLIENT_CERT)"}, {f.keyFile, "--key (S3KMS_CLIENT_KEY)"},
	} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing %s; with `s3kms dev` running, `source DIR/dev.env` sets them all", strings.Join(missing, ", "))
	}
	tlsCfg, err := kmsclient.TLSConfigFromFiles(f.caFile, f.certFile, f.keyFile)
	if err != nil {
		return nil, err
	}
	return kmsclient.New(f.endpoint, tlsCfg, opts...)
}

// print writes v as JSON with --json, else calls text.
func (f *adminFlags) print(w io.Writer, v any, text func(w io.Writer)) error {
	if f.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(w)
	return nil
}

func newAdminKeyCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Manage keys"}

	var create wire.CreateKeyRequest
	var preActive bool
	createCmd := &cobra.Command{
		Use:   "create ID",
		Short: "Create a key (a named key for SSE-KMS/KMIP by default)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			req := create
			req.ID = args[0]
			if preActive {
				req.State = string(kms.StatePreActive)
			}
			k, err := c.CreateKey(cmd.Context(), req)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), k, func(w io.Writer) { printKey(w, k) })
		},
	}
	createCmd.Flags().StringVar(&create.Purpose, "purpose", string(kms.PurposeNamed), "named or bucket-root")
	createCmd.Flags().BoolVar(&create.Exportable, "exportable", false, "allow the key material to be exported (KMIP Get)")
	createCmd.Flags().StringVar(&create.Description, "description", "", "free text")
	createCmd.Flags().BoolVar(&preActive, "pre-active", false, "create the key pre-active (activate it later)")

	var after string
	var limit int
	listCmd := &cobra.Command{
		Use:   "list",
		Short: "List keys (all pages unless --limit is given)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var keys []wire.Key
			cursor := after
			for {
				page, err := c.ListKeys(cmd.Context(), cursor, limit)
				if err != nil {
					return err
				}
				keys = append(keys, page.Keys...)
				cursor = page.Next
				if cursor == "" || limit > 0 {
					break
				}
			}
			out := wire.ListKeysResponse{Keys: keys}
			if limit > 0 {
				out.Next = cursor
			}
			if out.Keys == nil {
				out.Keys = []wire.Key{}
			}
			return f.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tPURPOSE\tSTATE\tENABLED\tVERSION\tCREATED")
				for _, k := range keys {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\t%s\n", k.ID, k.Purpose, stateText(k), k.Enabled, k.CurrentVersion, k.CreatedAt.Format(time.RFC3339))
				}
				tw.Flush()
				if limit > 0 && cursor != "" {
					fmt.Fprintf(w, "more: --after %s\n", cursor)
				}
			})
		},
	}
	listCmd.Flags().StringVar(&after, "after", "", "start after this key id")
	listCmd.Flags().IntVar(&limit, "limit", 0, "return one page of at most this many keys")

	keyAction := func(use, short string, do func(c *kmsclient.Client, cmd *cobra.Command, id string) (wire.Key, error)) *cobra.Command {
		return &cobra.Command{
			Use:   use + " ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := f.client()
				if err != nil {
					return err
				}
				k, err := do(c, cmd, args[0])
				if err != nil {
					return err
				}
				return f.print(cmd.OutOrStdout(), k, func(w io.Writer) { printKey(w, k) })
			},
		}
	}
	var days int
	schedule := keyAction("schedule-deletion", "Schedule the destruction of a key after a waiting period", func(c *kmsclient.Client, cmd *cobra.Command, id string) (wire.Key, error) {
		return c.ScheduleDeletion(cmd.Context(), id, days)
	})
	schedule.Flags().IntVar(&days, "days", 30, "waiting period in days (7 to 30)")

	// show, version and rotation: adminversion.go; rotate: adminjob.go
	// (it also records the rewrap job).
	cmd.AddCommand(createCmd, listCmd, newKeyShowCmd(f), newKeyVersionCmd(f), newKeyRotationCmd(f),
		newAdminKeyRotateCmd(f),
		keyAction("disable", "Refuse every cryptographic use of a key until enabled", func(c *kmsclient.Client, cmd *cobra.Command, id string) (wire.Key, error) {
			return c.DisableKey(cmd.Context(), id)
		}),
		keyAction("enable", "Enable a disabled key", func(c *kmsclient.Client, cmd *cobra.Command, id string) (wire.Key, error) {
			return c.EnableKey(cmd.Context(), id)
		}),
		keyAction("activate", "Activate a pre-active key", func(c *kmsclient.Client, cmd *cobra.Command, id string) (wire.Key, error) {
			return c.ActivateKey(cmd.Context(), id)
		}),
		keyAction("deactivate", "Deactivate a key: it decrypts but protects no new data", func(c *kmsclient.Client, cmd *cobra.Command, id string) (wire.Key, error) {
			return c.DeactivateKey(cmd.Context(), id)
		}),
		schedule,
		keyAction("cancel-deletion", "Cancel a scheduled deletion (the key stays disabled)", func(c *kmsclient.Client, cmd *cobra.Command, id string) (wire.Key, error) {
			return c.CancelDeletion(cmd.Context(), id)
		}),
		keyAction("destroy", "Destroy a non-active key's material now", func(c *kmsclient.Client, cmd *cobra.Command, id string) (wire.Key, error) {
			return c.DestroyKey(cmd.Context(), id)
		}),
	)
	return cmd
}

func stateText(k wire.Key) string {
	if k.DeletionDate != nil {
		return k.State + " (deletion " + k.DeletionDate.Format(time.RFC3339) + ")"
	}
	return k.State
}

func printKey(w io.Writer, k wire.Key) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ID:\t%s\n", k.ID)
	fmt.Fprintf(tw, "Purpose:\t%s\n", k.Purpose)
	fmt.Fprintf(tw, "State:\t%s\n", stateText(k))
	fmt.Fprintf(tw, "Enabled:\t%v\n", k.Enabled)
	fmt.Fprintf(tw, "Exportable:\t%v\n", k.Exportable)
	fmt.Fprintf(tw, "Current version:\t%d\n", k.CurrentVersion)
	if k.Description != "" {
		fmt.Fprintf(tw, "Description:\t%s\n", k.Description)
	}
	fmt.Fprintf(tw, "Owner:\t%s\n", k.Owner)
	fmt.Fprintf(tw, "Created:\t%s\n", k.CreatedAt.Format(time.RFC3339))
	tw.Flush()
	if len(k.Versions) > 0 {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tPROTECTOR\tMASTER KEY\tCREATED\tDESTROYED")
		for _, v := range k.Versions {
			destroyed := "-"
			if v.DestroyedAt != nil {
				destroyed = v.DestroyedAt.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", v.Version, v.Protector, v.MasterKeyID, v.CreatedAt.Format(time.RFC3339), destroyed)
		}
		tw.Flush()
	}
}

// parseContext parses "k=v,k2=v2" into an encryption context.
func parseContext(s string) (map[string]string, error) {
	ec := map[string]string{}
	if s == "" {
		return ec, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--context: %q is not key=value", kv)
		}
		if _, dup := ec[k]; dup {
			return nil, fmt.Errorf("--context: key %q given twice", k)
		}
		ec[k] = v
	}
	return ec, nil
}

func newAdminDataKeyCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "datakey", Short: "Generate and decrypt data keys (for testing and diagnosis)"}
	var genCtx string
	gen := &cobra.Command{
		Use:   "generate ID",
		Short: "Generate a data key under a key; prints it in plaintext and sealed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ec, err := parseContext(genCtx)
			if err != nil {
				return err
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			dk, err := c.GenerateDataKey(cmd.Context(), args[0], ec)
			if err != nil {
				return err
			}
			defer dk.Wipe()
			out := wire.GenerateDataKeyResponse{KeyID: dk.KeyID, KeyVersion: dk.KeyVersion, Plaintext: dk.Plaintext, Ciphertext: dk.Sealed}
			return f.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				fmt.Fprintf(w, "key_id: %s\nkey_version: %d\nplaintext: %s\nciphertext: %s\n", dk.KeyID, dk.KeyVersion,
					base64.StdEncoding.EncodeToString(dk.Plaintext), base64.StdEncoding.EncodeToString(dk.Sealed))
			})
		},
	}
	gen.Flags().StringVar(&genCtx, "context", "", "encryption context as k=v,k2=v2")

	var decCtx, ciphertext string
	dec := &cobra.Command{
		Use:   "decrypt ID",
		Short: "Decrypt a sealed data key made under key ID",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ec, err := parseContext(decCtx)
			if err != nil {
				return err
			}
			blob, err := base64.StdEncoding.DecodeString(ciphertext)
			if err != nil {
				return errors.New("--ciphertext is not valid base64")
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			dk, err := c.Decrypt(cmd.Context(), blob, ec)
			if err != nil {
				return err
			}
			defer dk.Wipe()
			if dk.KeyID != args[0] {
				return fmt.Errorf("the ciphertext was made under key %q, not %q", dk.KeyID, args[0])
			}
			out := wire.DecryptResponse{KeyID: dk.KeyID, KeyVersion: dk.KeyVersion, Plaintext: dk.Plaintext}
			return f.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				fmt.Fprintf(w, "key_id: %s\nkey_version: %d\nplaintext: %s\n", dk.KeyID, dk.KeyVersion, base64.StdEncoding.EncodeToString(dk.Plaintext))
			})
		},
	}
	dec.Flags().StringVar(&decCtx, "context", "", "encryption context as k=v,k2=v2 (as given when generating)")
	dec.Flags().StringVar(&ciphertext, "ciphertext", "", "sealed data key, base64")
	_ = dec.MarkFlagRequired("ciphertext")
	cmd.AddCommand(gen, dec)
	return cmd
}

func newAdminAuditCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read the audit log"}
	var filter kms.AuditFilter
	list := &cobra.Command{
		Use:   "list",
		Short: "List audit events, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			page, err := c.ListAudit(cmd.Context(), filter)
			if err != nil {
				return err
			}
			if page.Events == nil {
				page.Events = []wire.AuditEvent{}
			}
			return f.print(cmd.OutOrStdout(), page, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tTIME\tIDENTITY\tOPERATION\tKEY\tVERSION\tRESULT")
				for _, e := range page.Events {
					id := e.Identity
					if len(id) > 12 {
						id = id[:12] + "…"
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", e.ID, e.Time.Format(time.RFC3339), id, e.Operation, e.KeyID, e.KeyVersion, e.Result)
				}
				tw.Flush()
			})
		},
	}
	list.Flags().StringVar(&filter.KeyID, "key", "", "only events of this key")
	list.Flags().StringVar(&filter.Identity, "identity", "", "only events of this identity")
	list.Flags().Int64Var(&filter.Before, "before", 0, "only events with an id below this")
	list.Flags().IntVar(&filter.Limit, "limit", 50, "at most this many events")
	cmd.AddCommand(list)
	return cmd
}
