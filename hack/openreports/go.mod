// Pins the OpenReports API (openreports.io Report CRD) that the reports tests
// and the benchmark install: crd.sh downloads this module through the Go
// module proxy, checks it against go.sum, and copies its CRD into a cache.
module security-baseline-operator/hack/openreports

go 1.26.0

require github.com/openreports/reports-api v0.2.1
