# syntax=docker/dockerfile:1
# marina's images for Docker/BuildKit users (make image builds the same two without Docker, reproducibly):
#   docker build --platform linux/amd64 --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t marina-serve .          # the model server (the last stage)
#   docker build --platform linux/amd64 --target marina -t marina .       # CLI, controller, router (static)
# Bases are pinned by exact version tags. Distroless publishes no version tags: pin its images by digest in your
# build (--build-arg DISTROLESS_CC=gcr.io/distroless/cc-debian12@sha256:…) if a moving :nonroot is not acceptable.
# linux/amd64 only: the ONNX Runtime taken from onnxruntime-node is its linux x64 build.
ARG DISTROLESS_CC=gcr.io/distroless/cc-debian12:nonroot
ARG DISTROLESS_STATIC=gcr.io/distroless/static-debian12:nonroot

# ONNX Runtime 1.30.0 out of the npm package onnxruntime-node, checked against the sha256 hack/onnxruntime.sh pins.
FROM node:22.12.0-bookworm-slim AS onnxruntime
COPY hack/onnxruntime.sh /src/hack/onnxruntime.sh
RUN MARINA_CACHE=/cache bash /src/hack/onnxruntime.sh

# Both binaries, built as make image builds them: no build paths, no VCS stamp, version and commit from build args.
# Debian 12's glibc, as in distroless cc-debian12, so marina-serve needs no newer symbol versions than it has.
FROM golang:1.26.8-bookworm AS build
ARG VERSION=dev
ARG COMMIT=
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN ldflags="-s -w -X github.com/marina-dev/marina/internal/cli.version=${VERSION} -X github.com/marina-dev/marina/internal/cli.commit=${COMMIT}" \
 && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "$ldflags" -o /out/marina ./cmd/marina \
 && CGO_ENABLED=1 go build -trimpath -buildvcs=false -ldflags "$ldflags" -o /out/marina-serve ./cmd/marina-serve

# marina: the static binary (CLI, controller, router; also the init container that runs marina model pull).
FROM ${DISTROLESS_STATIC} AS marina
COPY --from=build /out/marina /usr/bin/marina
USER 65532:65532
ENTRYPOINT ["/usr/bin/marina"]

# marina-serve: the model server with ONNX Runtime; distroless cc has glibc, libgcc and libstdc++.
FROM ${DISTROLESS_CC} AS marina-serve
COPY --from=onnxruntime /cache/onnxruntime/1.30.0/libonnxruntime.so.1 /usr/lib/x86_64-linux-gnu/libonnxruntime.so.1
COPY --from=build /out/marina-serve /usr/bin/marina-serve
ENV ONNXRUNTIME_LIB=/usr/lib/x86_64-linux-gnu/libonnxruntime.so.1
USER 65532:65532
ENTRYPOINT ["/usr/bin/marina-serve"]
