# syntax=docker/dockerfile:1
#
# tickroom as a small static image: one binary for every role
# (`tickroom run`, `tickroom gateway -nats …`, `tickroom feed NAME -nats …`).
#
#   docker build -t tickroom:local .
#   docker run --rm -p 8080:8080 tickroom:local run -addr :8080   # all-in-one

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# CGO off: a static binary that runs on distroless/static (no libc).
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/tickroom ./cmd/tickroom \
 && mkdir -p /out/data

# busybox's static wget, only for container health checks (distroless has
# no shell and no HTTP client).
FROM busybox:1.37-musl AS wget

# distroless/static: CA certificates, tzdata, /etc/passwd with "nonroot"
# (uid 65532), nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=wget /bin/wget /usr/bin/wget
COPY --from=build /out/tickroom /usr/local/bin/tickroom
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
# The all-in-one mode keeps its JetStream store and session key here;
# gateways on external NATS keep nothing.
ENV TICKROOM_DATA=/data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/tickroom"]
CMD ["run"]
