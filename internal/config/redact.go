package config

import (
	"errors"
	"strconv"
	"strings"
)

// expansion is a scalar that held ${NAME} references: its text in the
// file and its value once expanded.
type expansion struct{ from, to string }

// redact returns err with the expanded values of exps in its message
// replaced by the text they were expanded from: configuration errors name
// variables, never their values (a PIN or a DSN with a password in a field
// of the wrong type). It covers the forms in which decoding errors quote
// a value: in back quotes, shortened by YAML to its first 7 bytes and
// "...", Go-quoted, and (for values of 8 bytes or more) bare.
func redact(err error, exps []expansion) error {
	if err == nil || len(exps) == 0 {
		return err
	}
	msg := err.Error()
	for _, e := range exps {
		if e.to == "" {
			continue
		}
		from := "`" + e.from + "`"
		msg = strings.ReplaceAll(msg, "`"+e.to+"`", from)
		if len(e.to) > 10 {
			msg = strings.ReplaceAll(msg, "`"+e.to[:7]+"...`", from)
		}
		msg = strings.ReplaceAll(msg, strconv.Quote(e.to), strconv.Quote(e.from))
		if len(e.to) >= 8 {
			msg = strings.ReplaceAll(msg, e.to, e.from)
		}
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}
