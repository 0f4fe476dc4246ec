package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3kms/s3kms/api/wire"
	"github.com/s3kms/s3kms/kms"
	"github.com/s3kms/s3kms/kms/kmsclient"
)

// newAdminMasterCmd is `s3kms admin master`: master-key rotation (see
// docs/master-key-rotation.md).
func newAdminMasterCmd(f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "master", Short: "Master-key rotation: status and re-wrapping of root keys"}
	status := &cobra.Command{
		Use:   "status",
		Short: "Show how many root key versions each master key wraps",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			st, err := c.MasterStatus(cmd.Context())
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), st, func(w io.Writer) { printMasterStatus(w, st) })
		},
	}

	var batch int
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Re-wrap every root key version under the current master key",
		Long: `rotate re-wraps, batch by batch, every root key version that is not under
the KMS's current master key, until none remains. It can be interrupted and
run again (it continues where it stopped), and several runs at once are
safe. The KMS must have the old master key configured as a previous one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client(kmsclient.WithCallTimeout(90 * time.Second))
			if err != nil {
				return err
			}
			out := wire.RotateMasterResponse{}
			last := -1
			for {
				r, err := c.RotateMaster(cmd.Context(), batch)
				if err != nil {
					return fmt.Errorf("after %d versions re-wrapped: %w", out.Done, err)
				}
				out.Current, out.Remaining = r.Current, r.Remaining
				out.Done += r.Done
				if !f.json {
					fmt.Fprintf(cmd.OutOrStdout(), "re-wrapped %d versions under %s (%d in all), %d remaining\n",
						r.Done, r.Current, out.Done, r.Remaining)
				}
				if r.Remaining == 0 {
					break
				}
				// A run that rewraps nothing while nothing else does is
				// stuck; with a concurrent run, remaining still falls.
				if r.Done == 0 && last >= 0 && r.Remaining >= last {
					return fmt.Errorf("no progress: %d versions remain under other master keys", r.Remaining)
				}
				last = r.Remaining
			}
			return f.print(cmd.OutOrStdout(), out, func(w io.Writer) {
				fmt.Fprintf(w, "done: every root key version is under master key %s\n", out.Current)
			})
		},
	}
	rotate.Flags().IntVar(&batch, "batch", kms.DefaultMasterBatch, fmt.Sprintf("versions re-wrapped per request (1 to %d)", kms.MaxMasterBatch))
	cmd.AddCommand(status, rotate)
	return cmd
}

func printMasterStatus(w io.Writer, st wire.MasterStatus) {
	ids := make([]string, 0, len(st.Versions))
	for id := range st.Versions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MASTER KEY\tVERSIONS\t")
	for _, id := range ids {
		mark := ""
		if id == st.Current {
			mark = "current"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", id, st.Versions[id], mark)
	}
	tw.Flush()
}
