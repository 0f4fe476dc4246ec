package main

import (
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/s3kms/s3kms/internal/certs"
	"github.com/s3kms/s3kms/kms"
)

// newCertsCmd is `s3kms certs ca|server|client`: TLS material for a
// deployment (internal/certs). It prints file names and identities, never
// key material.
func newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Make a private CA, server and client certificates (ECDSA P-256)",
	}
	var r certs.Request
	var caDir string
	var ips []net.IP
	common := func(c *cobra.Command, nameDefault, nameHelp string) {
		c.Flags().StringVar(&r.Out, "out", "", "directory to write the files to (created 0700)")
		c.Flags().StringVar(&r.Name, "name", nameDefault, nameHelp)
		c.Flags().IntVar(&r.Days, "days", 0, "validity in days (default: 3650 for a CA, 365 otherwise)")
		c.Flags().BoolVar(&r.Force, "force", false, "replace existing files")
		_ = c.MarkFlagRequired("out")
	}
	leaf := func(c *cobra.Command) {
		c.Flags().StringVar(&caDir, "ca", "", "directory holding ca.crt and ca.key")
		_ = c.MarkFlagRequired("ca")
		_ = c.MarkFlagRequired("name")
	}

	ca := &cobra.Command{
		Use:   "ca --out DIR [--name CN]",
		Short: "Create a CA: DIR/ca.crt and DIR/ca.key (keep ca.key offline)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := certs.NewCA(r)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ca certificate: %s\nca key:         %s\n", f.Cert, f.Key)
			return nil
		},
	}
	common(ca, "s3kms CA", "common name of the CA")

	server := &cobra.Command{
		Use:   "server --ca DIR --name NAME --dns a,b --ip 1.2.3.4 --out DIR",
		Short: "Issue a server certificate: DIR/NAME.crt and DIR/NAME.key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r.IPs = ips
			f, _, err := certs.Server(caDir, r)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "certificate: %s\nkey:         %s\n", f.Cert, f.Key)
			return nil
		},
	}
	common(server, "", "common name and file name")
	leaf(server)
	server.Flags().StringSliceVar(&r.DNS, "dns", nil, "DNS names (comma-separated or repeated)")
	server.Flags().IPSliceVar(&ips, "ip", nil, "IP addresses (comma-separated or repeated)")

	client := &cobra.Command{
		Use:   "client --ca DIR --name NAME --out DIR",
		Short: "Issue a client certificate and print its KMS identity",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, cert, err := certs.Client(caDir, r)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "certificate: %s\nkey:         %s\nidentity:    %s\n", f.Cert, f.Key, kms.IdentityOf(cert))
			return nil
		},
	}
	common(client, "", "common name and file name")
	leaf(client)

	cmd.AddCommand(ca, server, client)
	return cmd
}
