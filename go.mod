module github.com/licledger/licledger

go 1.26

require (
	github.com/mattn/go-sqlite3 v1.14.53
	github.com/nats-io/nats-server/v2 v2.15.2
	github.com/nats-io/nats.go v1.55.0
	github.com/oklog/ulid/v2 v2.1.2
	github.com/prometheus/client_golang v1.25.0
	github.com/sstallion/go-hid v0.15.0
	github.com/synadia-io/orbit.go/jetstreamext v0.3.2
)
