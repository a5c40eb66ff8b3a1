//go:build tools

// Package tools pins the CoreDNS command that e2e/images builds into the
// registry.k8s.io/coredns/coredns image of the test nodes.
package tools

import _ "github.com/coredns/coredns"
