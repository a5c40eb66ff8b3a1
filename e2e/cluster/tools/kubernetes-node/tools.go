//go:build tools

// Package tools pins the node-side Kubernetes commands the e2e cluster
// builds for its real nodes (kubelet, kube-proxy) and the agnhost test
// server its pods run; same k8s.io/kubernetes version as the control plane,
// a module of its own so adding a node tool does not rebuild the control
// plane's cache entry.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/test/images/agnhost"
)
