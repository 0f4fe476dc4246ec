package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/s3kms/s3kms/hsm/pkcs11"
	"github.com/s3kms/s3kms/internal/config"
)

// maxPINSize bounds how much of a PIN file is read.
const maxPINSize = 1024

// readPIN reads the HSM user PIN from file (mode 0600, like the software
// master key file) or from the environment variable env; exactly one is
// set. A trailing newline is removed. Errors never contain the PIN.
func readPIN(file, env string) (string, error) {
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", fmt.Errorf("HSM PIN: environment variable %s (protector.pin_env) is not set", env)
		}
		v = trimNewline(v)
		if v == "" {
			return "", fmt.Errorf("HSM PIN: environment variable %s (protector.pin_env) is empty", env)
		}
		return v, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("HSM PIN: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("HSM PIN: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("HSM PIN: %s is not a regular file", file)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("HSM PIN: %s is accessible by group or others (mode %04o); run: chmod 600 %s", file, perm, file)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxPINSize+1))
	if err != nil {
		return "", fmt.Errorf("HSM PIN: %w", err)
	}
	defer clear(b)
	if len(b) > maxPINSize {
		return "", fmt.Errorf("HSM PIN: %s is too large to hold a PIN", file)
	}
	if bytes.ContainsAny(b, "\x00") {
		return "", fmt.Errorf("HSM PIN: %s holds a NUL byte", file)
	}
	pin := trimNewline(string(b))
	if pin == "" {
		return "", fmt.Errorf("HSM PIN: %s is empty", file)
	}
	return pin, nil
}

// trimNewline removes one trailing "\n" or "\r\n".
func trimNewline(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

// pkcs11Config turns the protector section into a pkcs11.Config, reading
// the PIN.
func pkcs11Config(c config.Protector) (pkcs11.Config, error) {
	pin, err := readPIN(c.PINFile, c.PINEnv)
	if err != nil {
		return pkcs11.Config{}, err
	}
	id := c.MasterKeyID
	if id == "" {
		id = config.DefaultMasterKeyID
	}
	return pkcs11.Config{
		Module: c.Module, TokenLabel: c.TokenLabel, PIN: pin,
		MasterKeyID: id, PreviousMasterKeyIDs: c.PreviousMasterKeyIDs,
	}, nil
}

// newPKCS11Protector opens the pkcs11 protector with clear start-up
// errors.
func newPKCS11Protector(c config.Protector) (*pkcs11.Protector, error) {
	cfg, err := pkcs11Config(c)
	if err != nil {
		return nil, err
	}
	p, err := pkcs11.New(cfg)
	if err != nil {
		return nil, hsmStartError(err, cfg)
	}
	return p, nil
}

// hsmStartError says what to check for each kind of start-up failure.
func hsmStartError(err error, cfg pkcs11.Config) error {
	switch {
	case errors.Is(err, pkcs11.ErrModule):
		return fmt.Errorf("pkcs11 protector: check protector.module: %w", err)
	case errors.Is(err, pkcs11.ErrToken):
		hint := ""
		if strings.Contains(cfg.Module, "softhsm") {
			hint = fmt.Sprintf(" (SoftHSM2 reads its tokens from SOFTHSM2_CONF, now %q)", os.Getenv("SOFTHSM2_CONF"))
		}
		return fmt.Errorf("pkcs11 protector: check protector.token_label%s: %w", hint, err)
	case errors.Is(err, pkcs11.ErrPIN):
		return fmt.Errorf("pkcs11 protector: token %q refused the PIN (check protector.pin_file or pin_env): %w", cfg.TokenLabel, err)
	case errors.Is(err, pkcs11.ErrNoMaster):
		// err says the same less precisely.
		return fmt.Errorf("pkcs11 protector: no master key with CKA_ID %q in token %q: run `s3kms kms hsm init --config FILE` once to create it", cfg.MasterKeyID, cfg.TokenLabel)
	}
	return fmt.Errorf("pkcs11 protector: %w", err)
}

// initMaster creates the master key in the token unless it exists.
func initMaster(cfg pkcs11.Config) (created bool, err error) {
	created, err = pkcs11.InitMaster(cfg)
	if err != nil {
		return false, hsmStartError(err, cfg)
	}
	return created, nil
}

func newHSMCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "hsm", Short: "Manage the PKCS#11 HSM of the pkcs11 protector"}
	var configFile, masterID string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create the master key in the HSM token unless it exists",
		Long: `init creates the non-extractable master key object (CKA_ID
protector.master_key_id, or --master-key-id) in the token that the
configuration's pkcs11 protector section names. It never makes a second
one: if the key exists, init says so and changes nothing. Run it once
before the first start of the KMS, and to make a new master key before a
master-key rotation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pc, err := config.LoadPKCS11(configFile)
			if err != nil {
				return err
			}
			if masterID != "" {
				pc.MasterKeyID = masterID
			}
			cfg, err := pkcs11Config(pc)
			if err != nil {
				return err
			}
			created, err := initMaster(cfg)
			if err != nil {
				return err
			}
			state := "already present (unchanged)"
			if created {
				state = "created"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "master key %q in token %q: %s\n", cfg.MasterKeyID, cfg.TokenLabel, state)
			return nil
		},
	}
	initCmd.Flags().StringVar(&configFile, "config", "", "KMS configuration file (YAML) with a pkcs11 protector")
	initCmd.Flags().StringVar(&masterID, "master-key-id", "", "CKA_ID of the master key (default: protector.master_key_id)")
	_ = initCmd.MarkFlagRequired("config")
	cmd.AddCommand(initCmd)
	return cmd
}
