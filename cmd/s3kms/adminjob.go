package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/s3kms/s3kms/s3node/rewrap"
)

// jobStore opens the S3 node of configFile for a job command: its rewrap
// job store, and the admin handle to close.
func jobStore(ctx context.Context, configFile string) (*s3Admin, rewrap.Store, error) {
	if configFile == "" {
		return nil, nil, errors.New("--config (the S3 node's configuration) is required")
	}
	a, err := openS3Admin(ctx, configFile)
	if err != nil {
		return nil, nil, err
	}
	st, ok := a.db.meta.(rewrap.Store)
	if !ok {
		a.Close()
		return nil, nil, fmt.Errorf("the metadata store %T keeps no rewrap jobs", a.db.meta)
	}
	return a, st, nil
}

// newAdminKeyRotateCmd is `admin key rotate (ID | --bucket NAME)
// [--config S3YAML] [--wait]`: rotate in the KMS (admin identity), then
// record a rewrap job in the S3 node's database.
func newAdminKeyRotateCmd(f *adminFlags) *cobra.Command {
	var bucket, configFile string
	var wait bool
	var poll time.Duration
	cmd := &cobra.Command{
		Use:   "rotate (ID | --bucket NAME)",
		Short: "Add a root version that new data keys use at once; with --config, re-seal existing object keys under it",
		Long: `rotate adds a root-key version to a key in the KMS. With --config (an S3
node's configuration), it then records a rewrap job in the node's database:
the S3 nodes re-seal every object and upload key still sealed under an older
version (` + "`s3kms admin job list|show`" + `). Without --config, the nodes' sweepers start
the job within their sweep interval. --wait prints progress to stderr and
returns when the job ends (exit status 1 if it failed).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if (len(args) == 1) == (bucket != "") {
				return errors.New("give a key ID or --bucket NAME")
			}
			if (bucket != "" || wait) && configFile == "" {
				return errors.New("--bucket and --wait need --config (the S3 node's configuration)")
			}
			var a *s3Admin
			var st rewrap.Store
			keyID := ""
			if len(args) == 1 {
				keyID = args[0]
			}
			if configFile != "" {
				var err error
				if a, st, err = jobStore(ctx, configFile); err != nil {
					return err
				}
				defer a.Close()
				if bucket != "" {
					if keyID, err = a.bucketKeyID(ctx, bucket); err != nil {
						return err
					}
				}
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			k, err := c.RotateKey(ctx, keyID)
			if err != nil {
				return err
			}
			if st == nil {
				return f.print(cmd.OutOrStdout(), k, func(w io.Writer) { printKey(w, k) })
			}
			j, created, err := rewrap.CreateJob(ctx, st, keyID, k.CurrentVersion)
			if err != nil {
				return fmt.Errorf("key %s rotated to version %d, but recording its rewrap job failed (the sweepers will start one): %w", keyID, k.CurrentVersion, err)
			}
			if !wait {
				return f.print(cmd.OutOrStdout(), j, func(w io.Writer) {
					verb := "created"
					if !created {
						verb = "raised to version " + strconv.Itoa(k.CurrentVersion) + ":"
					}
					fmt.Fprintf(w, "key %s rotated to version %d; rewrap job %d %s %d rows to re-seal\n", keyID, k.CurrentVersion, j.ID, verb, j.Total)
				})
			}
			end, err := waitJob(ctx, st, j.ID, poll, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if perr := f.print(cmd.OutOrStdout(), end, func(w io.Writer) { printJob(w, end) }); perr != nil {
				return perr
			}
			if end.State != rewrap.Done {
				return fmt.Errorf("rewrap job %d %s: %s", end.ID, end.State, end.LastError)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&bucket, "bucket", "", "rotate the root key of this bucket (needs --config)")
	cmd.Flags().StringVar(&configFile, "config", "", "S3 node configuration file (YAML): record a rewrap job")
	cmd.Flags().BoolVar(&wait, "wait", false, "show progress and return when the rewrap job ends")
	cmd.Flags().DurationVar(&poll, "poll", time.Second, "progress interval with --wait")
	return cmd
}

// waitJob polls job id until it ends, printing a progress line to w.
func waitJob(ctx context.Context, st rewrap.JobStore, id int64, poll time.Duration, w io.Writer) (rewrap.Job, error) {
	start := time.Now()
	var first int64 = -1
	for {
		j, err := st.GetJob(ctx, id)
		if err != nil {
			return rewrap.Job{}, err
		}
		if first < 0 {
			first = j.Done
		}
		fmt.Fprintf(w, "\r%s", progressLine(j, j.Done-first, time.Since(start)))
		if !j.State.Active() {
			fmt.Fprintln(w)
			return j, nil
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(w)
			return rewrap.Job{}, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// progressLine is "job 3 running: 1200/5000 rows, 410 rows/s, ETA 9s",
// the rate from the rows done since the wait began (delta over elapsed).
func progressLine(j rewrap.Job, delta int64, elapsed time.Duration) string {
	s := fmt.Sprintf("job %d %s: %d/%d rows", j.ID, j.State, j.Done, j.Total)
	if j.Skipped+j.Failed > 0 {
		s += fmt.Sprintf(" (%d skipped, %d failed)", j.Skipped, j.Failed)
	}
	if elapsed < time.Second || delta <= 0 {
		return s + "   "
	}
	rate := float64(delta) / elapsed.Seconds()
	s += fmt.Sprintf(", %.0f rows/s", rate)
	if left := j.Total - j.Done; j.State.Active() && left > 0 {
		s += ", ETA " + (time.Duration(float64(left)/rate) * time.Second).Round(time.Second).String()
	}
	return s + "   "
}

// newAdminJobCmd is `admin job list|show JOBID --config S3YAML [--json]`.
func newAdminJobCmd(f *adminFlags) *cobra.Command {
	var configFile string
	cmd := &cobra.Command{Use: "job", Short: "Show the S3 nodes' rewrap jobs (key rotation)"}
	cmd.PersistentFlags().StringVar(&configFile, "config", "", "S3 node configuration file (YAML)")
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List rewrap jobs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, st, err := jobStore(cmd.Context(), configFile)
			if err != nil {
				return err
			}
			defer a.Close()
			jobs, err := st.ListJobs(cmd.Context(), limit)
			if err != nil {
				return err
			}
			if jobs == nil {
				jobs = []rewrap.Job{}
			}
			return f.print(cmd.OutOrStdout(), jobs, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tKEY\tTARGET\tSTATE\tDONE/TOTAL\tSKIPPED\tFAILED\tCREATED")
				for _, j := range jobs {
					fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%d/%d\t%d\t%d\t%s\n", j.ID, j.KeyID, j.TargetVersion, j.State,
						j.Done, j.Total, j.Skipped, j.Failed, j.CreatedAt.Format(time.RFC3339))
				}
				tw.Flush()
			})
		},
	}
	list.Flags().IntVar(&limit, "limit", 100, "at most this many jobs")
	show := &cobra.Command{
		Use:   "show JOBID",
		Short: "Show a rewrap job",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("job id %q is not a number", args[0])
			}
			a, st, err := jobStore(cmd.Context(), configFile)
			if err != nil {
				return err
			}
			defer a.Close()
			j, err := st.GetJob(cmd.Context(), id)
			if err != nil {
				return err
			}
			return f.print(cmd.OutOrStdout(), j, func(w io.Writer) { printJob(w, j) })
		},
	}
	cmd.AddCommand(list, show)
	return cmd
}

// printJob writes j as text.
func printJob(w io.Writer, j rewrap.Job) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format(time.RFC3339)
	}
	fmt.Fprintf(tw, "ID:\t%d\n", j.ID)
	fmt.Fprintf(tw, "Key:\t%s\n", j.KeyID)
	fmt.Fprintf(tw, "Target version:\t%d\n", j.TargetVersion)
	fmt.Fprintf(tw, "State:\t%s\n", j.State)
	fmt.Fprintf(tw, "Rows:\t%d done of %d, %d skipped (changed concurrently), %d failed\n", j.Done, j.Total, j.Skipped, j.Failed)
	fmt.Fprintf(tw, "Passes:\t%d\n", j.Pass)
	if j.State.Active() {
		fmt.Fprintf(tw, "Lease:\t%s until %s\n", j.LeaseOwner, ts(j.LeaseExpires))
	}
	fmt.Fprintf(tw, "Created:\t%s\n", ts(j.CreatedAt))
	fmt.Fprintf(tw, "Started:\t%s\n", ts(j.StartedAt))
	fmt.Fprintf(tw, "Finished:\t%s\n", ts(j.FinishedAt))
	if j.LastError != "" {
		fmt.Fprintf(tw, "Last error:\t%s\n", j.LastError)
	}
	tw.Flush()
}
