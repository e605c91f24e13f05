package server

import (
	"context"

	"github.com/leadscore/leadscore"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// registerMetrics registers scoring's own metrics. Scores are counted in
// per-version atomic counters on the request path and read by the metric
// callbacks, so counting costs a scored lead no allocation:
//   - leadscore_scores_total{model_version,cell,tier}: leads scored;
//   - leadscore_shadow_items_total{outcome}: shadow items offered, dropped,
//     scored and failed;
//   - leadscore_shadow_cell_agreement, leadscore_shadow_rank_correlation and
//     leadscore_shadow_mean_difference over the recent pairs.
//
// Latency per rpc comes from the OpenTelemetry gRPC instrumentation
// (rpc.server.duration).
func (s *Server) registerMetrics(mp metric.MeterProvider) error {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	meter := mp.Meter("github.com/leadscore/leadscore/server")
	_, err := meter.Int64ObservableCounter("leadscore_scores_total",
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
