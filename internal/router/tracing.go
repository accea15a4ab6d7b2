package router

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The standard OpenTelemetry variables that turn the OTLP exporter on without a flag.
const (
	// EnvOTLPEndpoint is the collector's base URL; traces go to its /v1/traces.
	EnvOTLPEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT"
	// EnvOTLPTracesEndpoint is the full URL traces are posted to; it wins over EnvOTLPEndpoint.
	EnvOTLPTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
)

// ServiceName is the service.name of the router's spans unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say
// otherwise.
const ServiceName = "marina-router"

// NewOTLPTracing returns a TracerProvider that batches spans and posts them over OTLP/HTTP (protobuf) to endpoint, a
// collector's base URL such as http://otel-collector:4318 (spans go to its /v1/traces). With endpoint empty it
// follows OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT, and returns nil when neither is set:
// tracing is off and costs nothing. The other OTEL_* variables (headers, timeout, sampler, resource) apply as the
// OpenTelemetry SDK defines them. Shut it down to send the spans still batched.
func NewOTLPTracing(ctx context.Context, endpoint string) (*sdktrace.TracerProvider, error) {
	var opts []otlptracehttp.Option
	switch {
	case endpoint != "":
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			return nil, fmt.Errorf("OTLP endpoint %q: want the collector's base URL, e.g. http://otel-collector:4318", endpoint)
		}
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
		opts = append(opts, otlptracehttp.WithEndpointURL(u.String()))
	case os.Getenv(EnvOTLPTracesEndpoint) == "" && os.Getenv(EnvOTLPEndpoint) == "":
		return nil, nil
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithAttributes(attribute.String("service.name", ServiceName)), resource.WithFromEnv(),
		resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("OTLP trace resource (check OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}
