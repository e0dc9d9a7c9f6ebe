package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/licledger/licledger/adapters/licensefile"
	"github.com/licledger/licledger/domain"
)

// defaultMachineIDFile is systemd's machine identity, stable across
// reboots and distinct per installation.
const defaultMachineIDFile = "/etc/machine-id"

func init() {
	register("request-code", "print a platform's request code (from its id and its nodes' machine ids)", runRequestCode)
}

// machineIDFlag collects a repeatable string flag.
type machineIDFlag []string

func (m *machineIDFlag) String() string     { return strings.Join(*m, ",") }
func (m *machineIDFlag) Set(s string) error { *m = append(*m, s); return nil }

func runRequestCode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("request-code", flag.ContinueOnError)
	fs.SetOutput(stderr)
	platform := fs.String("platform", "", "platform id (required)")
	var files, values machineIDFlag
	fs.Var(&files, "machine-id-file", "file holding a management node's machine id (repeatable; default "+defaultMachineIDFile+" when no machine id is given)")
	fs.Var(&values, "machine-id", "a management node's machine id (repeatable), e.g. the second node's /etc/machine-id")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *platform == "" {
		return domain.Errorf(domain.EINVALID, "--platform is required")
	}
	if len(files) == 0 && len(values) == 0 {
		files = machineIDFlag{defaultMachineIDFile}
	}
	ids := append([]string(nil), values...)
	for _, f := range files {
		id, err := licensefile.ReadMachineID(f)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	code, err := licensefile.RequestCode(*platform, ids)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, code)
	return nil
}
