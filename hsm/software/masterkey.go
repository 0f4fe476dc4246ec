package software

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxKeyFileSize bounds how much of a master key file is read: the longest
// accepted form is 64 hex digits and a line ending.
const maxKeyFileSize = 128

// LoadMasterKey reads the 32-byte master key from file or, if file is
// empty, from the environment variable named envVar. Giving both a file
// and a set variable is an error, so the source is never ambiguous.
//
// Accepted forms: exactly 32 raw bytes (file only); 64 hex digits; or
// standard base64 of 32 bytes. Surrounding white space (a trailing
// newline) is ignored in the text forms. A 32-byte file made only of
// printable ASCII is refused: it is a pass phrase, not a random key.
//
// The file must not be accessible by group or others (mode & 0o077 == 0);
// otherwise LoadMasterKey refuses it and says to chmod 600. Symbolic links
// are followed (Kubernetes mounts secrets as links; set defaultMode 0400).
//
// Errors never contain key material. The caller should wipe the returned
// key once New has taken it.
func LoadMasterKey(file, envVar string) ([]byte, error) {
	envVal := ""
	if envVar != "" {
		envVal = os.Getenv(envVar)
	}
	switch {
	case file != "" && envVal != "":
		return nil, fmt.Errorf("master key: both file %s and environment variable %s are set; use one", file, envVar)
	case file != "":
		return loadKeyFile(file)
	case envVal != "":
		key, err := parseTextKey([]byte(envVal))
		if err != nil {
			return nil, fmt.Errorf("master key: environment variable %s: %w", envVar, err)
		}
		return key, nil
	case envVar != "":
		return nil, fmt.Errorf("master key: no file given and environment variable %s is not set", envVar)
	}
	return nil, errors.New("master key: no file or environment variable given")
}

func loadKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("master key: %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("master key: %s is accessible by group or others (mode %04o); run: chmod 600 %s", path, perm, path)
	}
	buf := make([]byte, maxKeyFileSize+1)
	defer clear(buf)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if n > maxKeyFileSize {
		return nil, fmt.Errorf("master key: %s is too large to be a key file", path)
	}
	key, err := parseKeyFile(buf[:n])
	if err != nil {
		return nil, fmt.Errorf("master key: %s: %w", path, err)
	}
	return key, nil
}

// parseKeyFile accepts 32 raw bytes, or the text forms of parseTextKey.
func parseKeyFile(b []byte) ([]byte, error) {
	if len(b) == MasterKeySize {
		if isPrintable(b) {
			return nil, errors.New("32 printable characters look like a pass phrase, not a random key; use 64 hex digits (s3kms can generate a key file)")
		}
		return bytes.Clone(b), nil
	}
	return parseTextKey(b)
}

// parseTextKey accepts 64 hex digits or standard base64 of 32 bytes.
func parseTextKey(b []byte) ([]byte, error) {
	t := bytes.TrimSpace(b)
	key := make([]byte, MasterKeySize)
	switch len(t) {
	case hex.EncodedLen(MasterKeySize):
		if _, err := hex.Decode(key, t); err == nil {
			return key, nil
		}
	case base64.StdEncoding.EncodedLen(MasterKeySize):
		dec := make([]byte, base64.StdEncoding.DecodedLen(len(t)))
		n, err := base64.StdEncoding.Decode(dec, t)
		if err == nil && n == MasterKeySize {
			copy(key, dec)
			clear(dec)
			return key, nil
		}
		clear(dec)
	}
	clear(key)
	return nil, errors.New("not a 256-bit key: want 64 hex digits, base64 of 32 bytes, or (in a file) 32 raw bytes")
}

func isPrintable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// GenerateMasterKeyFile writes a new random master key to path as 64 hex
// digits and a newline, with mode 0600. It never overwrites: if path
// exists it fails.
func GenerateMasterKeyFile(path string) (err error) {
	key := make([]byte, MasterKeySize)
	defer clear(key)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	text := make([]byte, hex.EncodedLen(MasterKeySize)+1)
	defer clear(text)
	hex.Encode(text, key)
	text[len(text)-1] = '\n'

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("master key: %w", cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if _, err := f.Write(text); err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("master key: %w", err)
	}
	return nil
}
