//go:build tools

// Package tools pins the kwok command that the e2e cluster builds.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
