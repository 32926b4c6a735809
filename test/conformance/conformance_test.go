// Package conformance runs the Gateway API's upstream conformance suite
// (sigs.k8s.io/gateway-api/conformance) against a running skiff: see
// run.sh, which starts one, maps the suite's echo server image to the
// suite's own echo-basic program, and passes the flags.
package conformance

import (
	"testing"

	"sigs.k8s.io/gateway-api/conformance"
)

func TestConformance(t *testing.T) { conformance.RunConformance(t) }
