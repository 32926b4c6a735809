// Command skiff runs a single-node Kubernetes cluster for machine learning.
package main

import (
	"os"

	"github.com/skiff-dev/skiff/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
