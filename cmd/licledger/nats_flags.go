package main

import (
	"flag"
	"os"
	"strings"

	"github.com/licledger/licledger/domain"
	"github.com/licledger/licledger/eventstore"
)

// natsAuthFlags are the credentials a command presents to a NATS server
// given with --nats URL: the ledger's own user for serve on an external
// server, an auditor's or billing system's for the read-only commands
// (audit verify, billing tail, rebuild, projections verify). Same names
// and environment variables everywhere. A password is never a flag (it
// would show in ps): it comes from a file or LICLEDGER_NATS_PASSWORD.
type natsAuthFlags struct {
	user, passwordFile, creds, nkey string
}

func (n *natsAuthFlags) register(fs *flag.FlagSet) {
	e := &envFlags{fs: fs}
	e.str(&n.user, "nats-user", "LICLEDGER_NATS_USER", "", "with --nats: the NATS user to sign in as; its password from --nats-password-file or LICLEDGER_NATS_PASSWORD")
	e.str(&n.passwordFile, "nats-password-file", "LICLEDGER_NATS_PASSWORD_FILE", "", "with --nats-user: file holding the NATS password (one line)")
	e.str(&n.creds, "nats-creds", "LICLEDGER_NATS_CREDS", "", "with --nats: NATS credentials file (user JWT and nkey seed, as `nsc` writes it)")
	e.str(&n.nkey, "nats-nkey", "LICLEDGER_NATS_NKEY", "", "with --nats: file holding the NATS user's nkey seed (SU...)")
}

// credentials resolves the flags for a connection to natsURL ("" for the
// embedded store, which takes none). Errors are EINVALID and never quote
// a password.
func (n *natsAuthFlags) credentials(natsURL string) (eventstore.Credentials, error) {
	c := eventstore.Credentials{User: n.user, CredsFile: n.creds, NKeyFile: n.nkey}
	envPassword, inEnv := os.LookupEnv("LICLEDGER_NATS_PASSWORD")
	switch {
	case n.passwordFile != "" && inEnv:
		return c, domain.Errorf(domain.EINVALID, "give the NATS password once: --nats-password-file or LICLEDGER_NATS_PASSWORD")
	case n.passwordFile != "":
		b, err := os.ReadFile(n.passwordFile)
		if err != nil {
			return c, domain.Errorf(domain.EINVALID, "read the NATS password file: %v", err)
		}
		c.Password = strings.TrimRight(string(b), "\r\n")
		if c.Password == "" {
			return c, domain.Errorf(domain.EINVALID, "NATS password file %s is empty", n.passwordFile)
		}
	case inEnv:
		c.Password = envPassword
	}
	if natsURL == "" && !c.IsZero() {
		return c, domain.Errorf(domain.EINVALID, "--nats-user, --nats-password-file, --nats-creds, --nats-nkey (and their LICLEDGER_ variables) sign in to a NATS server given with --nats URL; the embedded store needs none")
	}
	return c, nil
}
