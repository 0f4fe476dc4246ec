// Command s3kms is the one binary of s3kms: the KMS, the S3 node (to come),
// the admin client and the all-in-one development mode.
//
// This package only parses flags and configuration and wires packages
// together; the logic lives in kms, api, storage and hsm.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/s3kms/s3kms/internal/lifecycle"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "devel"

func main() {
	// The first SIGTERM or SIGINT stops gracefully, a second at once.
	ctx, stop := lifecycle.NotifyContext(context.Background(), func(s os.Signal) {
		fmt.Fprintf(os.Stderr, "s3kms: second signal (%v): exiting without waiting\n", s)
		os.Exit(130)
	})
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitError carries a process exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run executes the command line args and returns the exit code. Tests call
// it in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		fmt.Fprintln(stderr, "s3kms:", err)
		return 1
	}
	return 0
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "s3kms",
		Short:         "S3-compatible object storage with a key management service",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newDevCmd(),
		newKMSCmd(),
		newS3Cmd(),
		newAdminCmd(),
		newMigrateCmd(),
		newIdentityCmd(),
		newCertsCmd(),
		&cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			Run: func(cmd *cobra.Command, _ []string) {
				fmt.Fprintln(cmd.OutOrStdout(), "s3kms", version)
			},
		},
	)
	return root
}
