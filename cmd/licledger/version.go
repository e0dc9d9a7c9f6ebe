package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func init() {
	register("version", "print the build version", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		fs := flag.NewFlagSet("version", flag.ContinueOnError)
		fs.SetOutput(stderr)
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		v := version
		if bi, ok := debug.ReadBuildInfo(); ok {
			fmt.Fprintf(stdout, "licledger %s (%s)\n", v, bi.GoVersion)
			return nil
		}
		fmt.Fprintf(stdout, "licledger %s\n", v)
		return nil
	})
}
