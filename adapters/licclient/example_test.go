package licclient_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/licledger/licledger/adapters/httpclient"
	"github.com/licledger/licledger/adapters/licclient"
)

// A product's licensing: start the client with the license key the
// customer entered, run while the state says so, check periodically in
// the background, deactivate on a clean shutdown. ledgerURL and
// exampleLicenseKey come from the product's configuration.
func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	dir, _ := os.MkdirTemp("", "product-")
	defer os.RemoveAll(dir)

	hc, err := httpclient.New(ledgerURL, httpclient.WithUserAgent("acme-product/5.2.0"))
	if err != nil {
		log.Fatal(err)
	}
	lc, err := licclient.New(licclient.Config{
		Client:         hc,
		LicenseKey:     exampleLicenseKey,
		ProductVersion: "5.2.0",
		StateFile:      filepath.Join(dir, "license.json"), // the last signed answer, for restarts and outages
		OnChange: func(s licclient.Status) {
			switch s.State {
			case licclient.Degraded:
				log.Printf("licence server unreachable; %v left", s.TimeLeft)
			case licclient.Expired, licclient.Refused:
				log.Printf("licence %s (%s): stopping", s.State, s.Reason)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	st, err := lc.Start(ctx)
	if err != nil {
		log.Print(err) // a stored answer that did not verify; the status still says what to do
	}
	if st.State != licclient.Active && st.State != licclient.Degraded {
		fmt.Println("not licensed:", st.State, st.Reason)
		return
	}
	fmt.Printf("licensed: %s, plan %s for %d devices, answer valid for %s\n",
		st.State, st.Answer.Plan.Name, st.Answer.Plan.Devices, st.TimeLeft.Round(time.Hour))
	go lc.Run(ctx) // periodic checks with jitter; backs off when the ledger is away

	// ... the product runs, looking at lc.Status() (or OnChange) ...

	stop()
	if err := lc.Close(context.Background()); err != nil { // frees the seat at once
		log.Print(err)
	}
	fmt.Println("seat freed")
	// Output:
	// licensed: active, plan team for 50 devices, answer valid for 24h0m0s
	// seat freed
}
