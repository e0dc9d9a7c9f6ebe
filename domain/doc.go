// Package domain is the middle of the ledger: events, commands, rules and
// the entitlement evaluator, in the standard library only. Nothing here
// reads the clock or does I/O: every instant is passed in, every fact
// comes from events.
//
// Each aggregate follows the same shape: Decide functions validate a
// command against the folded state at an instant and return new events
// (or a *Error with a code and a stable Reason); Evolve functions fold one
// event into the state; query functions derive answers from the state.
// For platforms (rules R1–R22 of rules.md): DecidePlatform,
// EvolvePlatform, PlatformEntitlement, with PlatformAsOf to fold a log's
// prefix and MarshalEntitlement to print the answer in canonical bytes.
// Where the rules are silent, the decision is written in the doc comment
// of the code that makes it (and listed in README.md).
package domain
