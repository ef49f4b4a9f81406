# syntax=docker/dockerfile:1
#
# Ping's container images, built from one multi-stage file:
#
#   docker build --target ping-gateway   -t ping-gateway:0.1.0   .
#   docker build --target ping-processor -t ping-processor:0.1.0 .
#   docker build --target pingctl        -t pingctl:0.1.0        .
#
# All three final stages share the `runtime` stage (Debian 12 slim, the
# runtime libraries of deploy/image/runtime-packages.txt, a non-root user and
# the three binaries), so the images share every layer but the last; they
# differ only in their ENTRYPOINT. Without --target the last stage,
# ping-gateway, is built.

# Base images pinned by digest (the multi-platform index), so a rebuild
# starts from the same bytes. These are Docker Hub's official debian:12 and
# debian:12-slim as built on 2026-08-24 (bookworm, `debian.sh ... '@1787529600'`),
# read from docker-library/repo-info (repos/debian/remote/12.md and
# 12-slim.md, commit cae117d8c88cf4f36d2e284cb10fc1a8851f18bc): the newest
# bookworm build listed there. To move to a newer build, take the index
# digest of the tag from `docker buildx imagetools inspect debian:12-slim`
# (or the same repo-info files) and replace both lines together.
ARG DEBIAN_IMAGE=debian:12@sha256:6ebd97fa83deb272194a2cf015b3d26a4d538e9ad3a7a79d544c8af5b0a01443
ARG DEBIAN_SLIM_IMAGE=debian:12-slim@sha256:88200866dfff7ea7f5cbcb6ec7c8a701889efe6fe859fe64d6990e4b07ea4171

# -- build: compilers and -dev packages, meson + ninja ------------------------
FROM ${DEBIAN_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
# The package list lives in one file, shared with the tests. Every package
# is pinned (PACKAGE=VERSION) to the Debian 12 version the tests ran with;
# scripts/pin-packages.sh rewrites the pins after a point release (Debian
# drops superseded versions from its mirrors: a build failing on a pin
# means "re-pin and re-test", never a silent upgrade).
COPY deploy/image/build-packages.txt /tmp/build-packages.txt
RUN apt-get update \
 && sed -e 's/#.*//' -e '/^base:/d' /tmp/build-packages.txt \
    | xargs -r apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The version shown by --version, ping_build_info and the consoles: from git
# when .git is in the context, else from these (scripts/version.sh), e.g.
#   --build-arg PING_VERSION=$(scripts/version.sh 0.1.0) \
#   --build-arg PING_REVISION=$(git rev-parse HEAD)
ARG PING_VERSION=
ARG PING_REVISION=
ENV PING_VERSION=${PING_VERSION} PING_REVISION=${PING_REVISION}
# Only the three shipped binaries are built (the test executables are
# configured but not compiled). ninja targets are output paths.
RUN meson setup build --buildtype=release \
      -Dconnectrpc:tests=false -Dkafka-devbroker:tests=disabled \
 && ninja -C build apps/ping-gateway apps/ping-processor apps/pingctl/pingctl \
 && mkdir -p /out \
 && install -m 0755 -s build/apps/ping-gateway build/apps/ping-processor \
      build/apps/pingctl/pingctl /out/

# -- runtime: slim base + runtime libraries only ------------------------------
FROM ${DEBIAN_SLIM_IMAGE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
# Exactly the packages tests/deploy/run.sh checks against `ldd` of the
# binaries, pinned like the build stage's; `base:` lines name packages
# debian:12-slim already has.
COPY deploy/image/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && sed -e 's/#.*//' -e '/^base:/d' /tmp/runtime-packages.txt \
    | xargs -r apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt
# A fixed numeric UID/GID, so that Kubernetes' runAsNonRoot can verify it
# (it cannot resolve user names) and the manifests can name it.
RUN groupadd --system --gid 10001 ping \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin ping
COPY --from=build /out/ /usr/local/bin/
USER 10001:10001
WORKDIR /tmp

# Signals: ENTRYPOINT uses the exec form, so the binary itself is PID 1 (no
# shell in between) and receives the SIGTERM of `docker stop` / the kubelet
# directly. The binaries block SIGTERM/SIGINT in every thread and wait for
# them with sigwait(), which works for PID 1 too (the kernel only drops
# signals to PID 1 that are neither handled nor blocked). They start no child
# processes, so no init (tini) is needed to reap zombies.

FROM runtime AS ping-processor
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/ping-processor"]

FROM runtime AS pingctl
ENTRYPOINT ["/usr/local/bin/pingctl"]

FROM runtime AS ping-gateway
EXPOSE 8080 9090 9464
ENTRYPOINT ["/usr/local/bin/ping-gateway"]
