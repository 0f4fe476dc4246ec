package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/s3node"
)

// Root-key versions and rotation from the command line (issue 7):
//
//	s3kms admin key show (ID | --bucket NAME) [--config S3YAML]
//	s3kms admin key version deactivate|activate|destroy (ID | --bucket NAME) --version N [--config S3YAML] [--force]
//	s3kms admin key rotation (ID | --bucket NAME) (--period DURATION | --off) [--config S3YAML]
//
// With --config (the S3 node's configuration file) a command reads from
// the node's metadata database how many object versions and multipart
// uploads are still sealed under each version of the key: `show` lists
// the counts, and deactivate/destroy refuse a version that anything still
// depends on unless --force. KMS calls use the admin client (--cert), not
// the node's identity.

// sealedCounter is what these commands read from an S3 node's metadata
// store (s3node.SealedKeyStore).
type sealedCounter interface {
	// CountSealed returns, per version of KMS key keyID in ascending
	// order, how many object versions and uploads depend on it.
	CountSealed(ctx context.Context, keyID string) ([]s3node.SealedCount, error)
	// CountUnattributed returns how many SSE-S3/SSE-KMS rows have a sealed
	// key whose KMS key and version cannot be read.
	CountUnattributed(ctx context.Context) (objects, uploads int64, err error)
}

// keyTarget is how a command names its key: an id argument or a bucket
// (--bucket, which needs --config to find the bucket's key id), and the
// optional S3 node configuration.
type keyTarget struct {
	bucket, config string
}

func (kt *keyTarget) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&kt.bucket, "bucket", "", "the bucket whose root key to use (needs --config)")
	cmd.Flags().StringVar(&kt.config, "config", "", "S3 node configuration file (YAML): its database tells what is sealed under each version")
}

// resolve returns the key id, and the S3 node's database when --config is
// given (the caller closes it).
func (kt *keyTarget) resolve(ctx context.Context, args []string) (string, *s3Admin, error) {
	switch {
	case len(args) == 1 && kt.bucket != "":
		return "", nil, errors.New("give a key ID or --bucket, not both")
	case len(args) == 0 && kt.bucket == "":
		return "", nil, errors.New("give a key ID or --bucket NAME")
	case kt.bucket != "" && kt.config == "":
		return "", nil, errors.New("--bucket needs --config S3YAML (the S3 node's configuration) to find the bucket's key")
	}
	var a *s3Admin
	if kt.config != "" {
		var err error
		if a, err = openS3Admin(ctx, kt.config); err != nil {
			return "", nil, err
		}
	}
	if kt.bucket == "" {
		return args[0], a, nil
	}
	id, err := a.bucketKeyID(ctx, kt.bucket)
	if err != nil {
		a.Close()
		return "", nil, fmt.Errorf("bucket %q: %w", kt.bucket, err)
	}
	return id, a, nil
}

// sealedUnder is how many rows depend on one root-key version.
type sealedUnder struct {
	Version int   `json:"version"`
	Objects int64 `json:"objects"`
	Uploads int64 `json:"uploads"`
}

// keyShow is what `key show` prints: the key with its versions and, with
// --config, the number of rows sealed under each version.
type keyShow struct {
	wire.Key
	Sealed []sealedUnder `json:"sealed,omitempty"`
	// Unattributed counts rows whose sealed key names no readable key
	// version: while it is not zero the counts may be incomplete.
	UnattributedObjects int64 `json:"unattributed_objects,omitempty"`
	UnattributedUploads int64 `json:"unattributed_uploads,omitempty"`
}

// counts reads the rows sealed under each version of key id.
func counts(ctx context.Context, db sealedCounter, id string) (sealed []sealedUnder, unObjects, unUploads int64, err error) {
	cs, err := db.CountSealed(ctx, id)
	if err != nil {
		return nil, 0, 0, err
	}
	sealed = []sealedUnder{}
	for _, c := range cs {
		sealed = append(sealed, sealedUnder{Version: c.Version, Objects: c.Objects, Uploads: c.Uploads})
	}
	unObjects, unUploads, err = db.CountUnattributed(ctx)
	return sealed, unObjects, unUploads, err
}

func sealedAt(sealed []sealedUnder, version int) sealedUnder {
	for _, s := range sealed {
		if s.Version == version {
			return s
		}
	}
	return sealedUnder{Version: version}
}

func newKeyShowCmd(f *adminFlags) *cobra.Command {
	var kt keyTarget
	cmd := &cobra.Command{
		Use:   "show (ID | --bucket NAME) [--config S3YAML]",
		Short: "Show a key and its versions (with --config: what is still sealed under each)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			id, a, err := kt.resolve(ctx, args)
			if err != nil {
				return err
			}
			if a != nil {
				defer a.Close()
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			k, err := c.GetKey(ctx, id)
			if err != nil {
				return err
			}
			out := keyShow{Key: k}
			if a != nil {
				if out.Sealed, out.UnattributedObjects, out.UnattributedUploads, err = counts(ctx, a.db.meta, id); err != nil {
					return err
				}
			}
			return f.print(cmd.OutOrStdout(), out, func(w io.Writer) { printKeyShow(w, out) })
		},
	}
	kt.flags(cmd)
	return cmd
}

// printKeyShow prints a key with its versions, their states and, when
// counted, the rows sealed under each.
func printKeyShow(w io.Writer, k keyShow) {
	versions := k.Versions
	k.Versions = nil
	printKey(w, k.Key)
	if k.RotationPeriod != "" && k.NextRotation != nil {
		fmt.Fprintf(w, "Automatic rotation: every %s, next %s\n", k.RotationPeriod, k.NextRotation.Format(time.RFC3339))
	}
	if len(versions) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "VERSION\tSTATE\tPROTECTOR\tMASTER KEY\tCREATED\tDESTROYED"
	if k.Sealed != nil {
		head += "\tOBJECTS\tUPLOADS"
	}
	fmt.Fprintln(tw, head)
	for _, v := range versions {
		destroyed := "-"
		if v.DestroyedAt != nil {
			destroyed = v.DestroyedAt.Format(time.RFC3339)
		}
		state := v.State
		if v.Version == k.CurrentVersion {
			state += " (current)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s", v.Version, state, v.Protector, v.MasterKeyID, v.CreatedAt.Format(time.RFC3339), destroyed)
		if k.Sealed != nil {
			s := sealedAt(k.Sealed, v.Version)
			fmt.Fprintf(tw, "\t%d\t%d", s.Objects, s.Uploads)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if k.UnattributedObjects+k.UnattributedUploads > 0 {
		fmt.Fprintf(w, "warning: %d object versions and %d uploads have a sealed key whose key version cannot be read; the counts above may be incomplete\n",
			k.UnattributedObjects, k.UnattributedUploads)
	}
}

func newKeyVersionCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Deactivate, activate or destroy a root-key version",
		Long: `A deactivated version no longer decrypts or is rewrapped from (it can be
activated again); a destroyed one is erased for good. The current version
can be neither. deactivate and destroy check in the S3 node's database
(--config) that no object version or multipart upload is still sealed under
the version, and refuse otherwise; --force skips the check and says what
becomes unreadable.`,
	}
	cmd.AddCommand(
		versionAction(f, "deactivate", "Retire a version: what it sealed stops decrypting until activated again", true),
		versionAction(f, "activate", "Activate a deactivated version again", false),
		versionAction(f, "destroy", "Erase a deactivated version for good: what it sealed can never be read again", true),
	)
	return cmd
}

// versionAction is `key version <action>`; gated actions check that
// nothing is sealed under the version first.
func versionAction(f *adminFlags, action, short string, gated bool) *cobra.Command {
	var kt keyTarget
	var version int
	var force bool
	cmd := &cobra.Command{
		Use:   action + " (ID | --bucket NAME) --version N [--config S3YAML]",
		Short: short,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if version < 1 {
				return errors.New("--version N (1 or more) is required")
			}
			id, a, err := kt.resolve(ctx, args)
			if err != nil {
				return err
			}
			if a != nil {
				defer a.Close()
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			if gated {
				// The KMS refuses the current version anyway; saying so
				// before counting gives the reason that matters.
				k, err := c.GetKey(ctx, id)
				if err != nil {
					return err
				}
				if version == k.CurrentVersion {
					return fmt.Errorf("version %d is the current version of key %s: rotate the key first", version, id)
				}
				var db sealedCounter
				if a != nil {
					db = a.db.meta
				}
				if err := checkUnused(ctx, cmd.ErrOrStderr(), db, id, version, action, force); err != nil {
					return err
				}
			}
			var v wire.KeyVersion
			switch action {
			case "deactivate":
				v, err = c.SetVersionState(ctx, id, version, "deactivated")
			case "activate":
				v, err = c.SetVersionState(ctx, id, version, "active")
			default:
				v, err = c.DestroyVersion(ctx, id, version)
			}
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), v, func(w io.Writer) {
				fmt.Fprintf(w, "key %s version %d: %s\n", id, v.Version, v.State)
			})
		},
	}
	kt.flags(cmd)
	cmd.Flags().IntVar(&version, "version", 0, "the root-key version")
	if gated {
		cmd.Flags().BoolVar(&force, "force", false, "go ahead even if objects are still sealed under the version (or without --config): they become unreadable")
	}
	return cmd
}

// checkUnused returns nil if no object version or upload in db depends on
// version of key id, or if force is set, in which case it writes to
// stderr what becomes unreadable. db is nil without --config.
func checkUnused(ctx context.Context, stderr io.Writer, db sealedCounter, id string, version int, action string, force bool) error {
	what := "until the version is activated again"
	if action == "destroy" {
		what = "for good"
	}
	if db == nil {
		if !force {
			return fmt.Errorf("cannot tell whether objects are still sealed under version %d of key %s: give --config S3YAML (the S3 node's configuration), or --force", version, id)
		}
		fmt.Fprintf(stderr, "warning: --force without --config: every object version and upload, in any S3 node, still sealed under version %d of key %s becomes unreadable %s\n", version, id, what)
		return nil
	}
	sealed, unObjects, unUploads, err := counts(ctx, db, id)
	if err != nil {
		return err
	}
	s := sealedAt(sealed, version)
	var problems []string
	if s.Objects+s.Uploads > 0 {
		problems = append(problems, fmt.Sprintf("%d object versions and %d multipart uploads are still sealed under version %d of key %s", s.Objects, s.Uploads, version, id))
	}
	if unObjects+unUploads > 0 {
		problems = append(problems, fmt.Sprintf("%d object versions and %d uploads have a sealed key whose key version cannot be read, so the count may be incomplete", unObjects, unUploads))
	}
	if len(problems) == 0 {
		return nil
	}
	if !force {
		msg := problems[0]
		if len(problems) > 1 {
			msg += "; " + problems[1]
		}
		return fmt.Errorf("refusing to %s: %s; rewrap them first (s3kms admin key rotate … --wait) or use --force", action, msg)
	}
	for _, p := range problems {
		fmt.Fprintf(stderr, "warning: --force: %s\n", p)
	}
	if s.Objects+s.Uploads > 0 {
		fmt.Fprintf(stderr, "warning: --force: those %d object versions and %d uploads become unreadable %s\n", s.Objects, s.Uploads, what)
	}
	return nil
}

func newKeyRotationCmd(f *adminFlags) *cobra.Command {
	var kt keyTarget
	var period time.Duration
	var off bool
	cmd := &cobra.Command{
		Use:   "rotation (ID | --bucket NAME) (--period DURATION | --off)",
		Short: "Set a key's automatic rotation period (e.g. 8760h) or turn it off",
		Long: `The KMS rotates the key a period from now, then every period; the S3 nodes
then rewrap what the older version sealed. The period is at least 1m.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if off == cmd.Flags().Changed("period") {
				return errors.New("give --period DURATION or --off")
			}
			if off {
				period = 0
			} else if period <= 0 {
				return errors.New("--period must be positive; use --off to turn automatic rotation off")
			}
			id, a, err := kt.resolve(ctx, args)
			if err != nil {
				return err
			}
			if a != nil {
				a.Close()
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			k, err := c.SetRotation(ctx, id, period)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), k, func(w io.Writer) {
				if k.RotationPeriod == "" || k.NextRotation == nil {
					fmt.Fprintf(w, "key %s: automatic rotation off\n", id)
					return
				}
				fmt.Fprintf(w, "key %s: rotates every %s, next %s\n", id, k.RotationPeriod, k.NextRotation.Format(time.RFC3339))
			})
		},
	}
	kt.flags(cmd)
	cmd.Flags().DurationVar(&period, "period", 0, "rotation period, e.g. 8760h (a year)")
	cmd.Flags().BoolVar(&off, "off", false, "turn automatic rotation off")
	return cmd
}
