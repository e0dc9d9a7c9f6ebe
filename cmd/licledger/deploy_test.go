package main

import (
	"flag"
	"io"
	"os"
	"regexp"
	"testing"
)

// The compose deployment configures serve through environment variables
// only; every LICLEDGER_ variable it sets must be one serve reads (a
// flag's variable, LICLEDGER_TOKENS or the NATS password), or one
// nats-auth.conf reads, or a replica would start with a default the
// operator thought they had changed.
func TestComposeUsesServeVariables(t *testing.T) {
	t.Parallel()
	known := map[string]bool{"LICLEDGER_TOKENS": true, "LICLEDGER_NATS_PASSWORD": true}
	fs, _, _ := serveFlags(io.Discard)
	env := regexp.MustCompile(`\(env (LICLEDGER_[A-Z_]+)\)`)
	fs.VisitAll(func(f *flag.Flag) {
		for _, m := range env.FindAllStringSubmatch(f.Usage, -1) {
			known[m[1]] = true
		}
	})
	auth, err := os.ReadFile("../../deploy/nats-auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`LICLEDGER_[A-Z_]+`)
	for _, v := range name.FindAllString(string(auth), -1) {
		known[v] = true
	}
	for _, file := range []string{"../../deploy/docker-compose.yml", "../../deploy/licledger.env.example"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		used := name.FindAllString(string(b), -1)
		if len(used) == 0 {
			t.Errorf("%s sets no LICLEDGER_ variable", file)
		}
		for _, v := range used {
			if !known[v] {
				t.Errorf("%s sets %s, which neither serve nor the NATS configuration reads", file, v)
			}
		}
	}
}
