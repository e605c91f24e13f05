package server

import (
	"context"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// registerMetrics registers scoring's own metrics. Scores are counted in
// per-version atomic counters on the request path and read by the metric
// callbacks, so counting costs a scored lead no allocation:
//   - leadscore_scores_total{model_version,cell,tier}: leads scored;
//   - leadscore_shadow_items_total{outcome}: shadow items offered, dropped,
//     scored and failed;
//   - leadscore_shadow_agreement{figure}: cell_agreement, rank_correlation
//     and mean_difference over the recent pairs;
//   - rpc.server.call.duration{rpc.service,rpc.method,rpc.grpc.status_code}
//     for every call but health checks, recorded by the interceptors with
//     attribute sets cached per method and code (observeCall).
func (s *Server) registerMetrics(mp metric.MeterProvider) error {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter("github.com/leadscore/leadscore/server")
	var err error
	s.callDuration, err = meter.Float64Histogram("rpc.server.call.duration",
		metric.WithUnit("s"),
		metric.WithDescription("The duration of each call handled, by rpc service, method and gRPC status code (health checks left out)."),
		metric.WithExplicitBucketBoundaries(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err != nil {
		return err
	}
	_, err = meter.Int64ObservableCounter("leadscore_scores_total",
		metric.WithDescription("Leads scored, by model version, grid cell and tier."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for _, sm := range s.models.all() {
				for c := range sm.counts {
					for t := range sm.counts[c] {
						if n := sm.counts[c][t].Load(); n > 0 {
							o.Observe(n, metric.WithAttributes(
								attribute.String("model_version", sm.name),
								attribute.String("cell", cellNames[c]),
								attribute.String("tier", (leadscore.TierVeryGood+leadscore.Tier(t)).String()),
							))
						}
					}
				}
			}
			return nil
		}))
	if err != nil || s.shadow == nil {
		return err
	}
	sh := s.shadow
	if _, err := meter.Int64ObservableCounter("leadscore_shadow_items_total",
		metric.WithDescription("Items sampled for challenger shadow scoring, by outcome: offered, dropped (queue full), scored, failed."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for name, n := range map[string]int64{
				"offered": sh.offered.Load(), "dropped": sh.dropped.Load(),
				"scored": sh.scored.Load(), "failed": sh.failed.Load(),
			} {
				o.Observe(n, metric.WithAttributes(attribute.String("outcome", name)))
			}
			return nil
		})); err != nil {
		return err
	}
	_, err = meter.Float64ObservableGauge("leadscore_shadow_agreement",
		metric.WithDescription("Champion vs challenger over the recent shadow pairs: cell agreement share, Spearman rank correlation and mean probability difference (challenger minus champion), by figure."),
		metric.WithFloat64Callback(func(_ context.Context, o metric.Float64Observer) error {
			sum := sh.summary()
			if sum.Pairs == 0 {
				return nil
			}
			o.Observe(sum.CellAgreement, metric.WithAttributes(attribute.String("figure", "cell_agreement")))
			o.Observe(sum.RankCorrelation, metric.WithAttributes(attribute.String("figure", "rank_correlation")))
			o.Observe(sum.MeanDifference, metric.WithAttributes(attribute.String("figure", "mean_difference")))
			return nil
		}))
	return err
}

// callKey names one attribute set of rpc.server.call.duration.
type callKey struct {
	method string
	code   codes.Code
}

// observeCall records one call's duration. The attribute set of a method
// and code is built once and cached, so a call costs no allocation here.
func (s *Server) observeCall(ctx context.Context, method string, code codes.Code, elapsed time.Duration) {
	if s.callDuration == nil || method == healthpb.Health_Check_FullMethodName || method == healthpb.Health_Watch_FullMethodName {
		return
	}
	key := callKey{method, code}
	opt, ok := s.callAttrs.Load(key)
	if !ok {
		service, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
		opt, _ = s.callAttrs.LoadOrStore(key, metric.WithAttributeSet(attribute.NewSet(
			attribute.String("rpc.system", "grpc"),
			attribute.String("rpc.service", service),
			attribute.String("rpc.method", name),
			attribute.Int("rpc.grpc.status_code", int(code)),
		)))
	}
	s.callDuration.Record(ctx, elapsed.Seconds(), opt.(metric.RecordOption))
}
