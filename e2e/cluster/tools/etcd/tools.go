//go:build tools

// Package tools pins the etcd command that the e2e cluster builds.
package tools

import _ "go.etcd.io/etcd/server/v3"
