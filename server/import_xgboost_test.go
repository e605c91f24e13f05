package server

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/artifact"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
)

// xgbTestdata is where the importer's golden XGBoost files are.
var xgbTestdata = filepath.Join("..", "model", "xgbimport", "testdata")

func readXGBTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(xgbTestdata, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImportXGBoostModelVersion imports an XGBoost model over gRPC, gates
// it with a backtest job, promotes it without force and scores a lead with
// factors through it.
func TestImportXGBoostModelVersion(t *testing.T) {
	t.Parallel()
	model := readXGBTestdata(t, "synth.model.json")
	// The reference is the rows the model learned from (the first 3,600,
	// in signed_up order), which bound its training window; the backtest
	// runs on the 400 later ones.
	table, later := splitRows(t, readXGBTestdata(t, "synth.csv"), 3600)
	forEachBackend(t, func(t *testing.T, st leadscore.Store) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "leads.csv"), later, 0o600); err != nil {
			t.Fatal(err)
		}
		conn := start(t, newServerWith(t, st, func(o *Options) { o.DataDir = dir }))
		registryClient := leadscorev1.NewModelRegistryServiceClient(conn)
		evalClient := leadscorev1.NewEvaluationServiceClient(conn)
		ctx := asActor(testContext(t), "dana")
		if _, err := registryClient.CreateModel(ctx, &leadscorev1.CreateModelRequest{ModelId: "xgb"}); err != nil {
			t.Fatal(err)
		}
		ref := &leadscorev1.ReferenceTable{Data: table, Label: "y", TimeColumn: "signed_up"}
		imp := func(edit func(r *leadscorev1.ImportModelVersionRequest)) (*leadscorev1.ImportModelVersionResponse, error) {
			r := &leadscorev1.ImportModelVersionRequest{
				Parent: "models/xgb", Artifact: model, ArtifactSha256: artifact.SHA256(model),
				Format: leadscorev1.SourceFormat_SOURCE_FORMAT_XGBOOST_JSON, Reference: ref, Calibration: "platt",
			}
			if edit != nil {
				edit(r)
			}
			return registryClient.ImportModelVersion(ctx, r)
		}

		for _, c := range []struct {
			name  string
			edit  func(r *leadscorev1.ImportModelVersionRequest)
			field string
		}{
			{"without_a_reference_table", func(r *leadscorev1.ImportModelVersionRequest) { r.Reference = nil }, "reference"},
			{"with_the_hash_of_another_file", func(r *leadscorev1.ImportModelVersionRequest) { r.ArtifactSha256 = strings.Repeat("0", 64) }, "artifact_sha256"},
			{"truncated_model", func(r *leadscorev1.ImportModelVersionRequest) {
				r.Artifact, r.ArtifactSha256 = model[:len(model)/2], ""
			}, "model"},
			{"reference_lacking_a_mapped_column", func(r *leadscorev1.ImportModelVersionRequest) {
				r.Reference = &leadscorev1.ReferenceTable{Data: dropColumn(t, table, "revenue"), Label: "y", TimeColumn: "signed_up"}
			}, "feature revenue"},
			{"unknown_calibration", func(r *leadscorev1.ImportModelVersionRequest) { r.Calibration = "magic" }, "calibration"},
		} {
			_, err := imp(c.edit)
			wantBadField(t, "import "+c.name, err, c.field)
		}

		created, err := imp(nil)
		if err != nil {
			t.Fatalf("import: %v", err)
		}
		v := created.GetModelVersion()
		if v.GetFamily() != leadscorev1.ModelFamily_MODEL_FAMILY_GBDT || v.GetVersion() != 1 || v.GetLineage().GetDataWindowEnd() == nil {
			t.Fatalf("imported version: got %v, want version 1 of family gbdt with a training window", v)
		}

		// Gate it with a backtest on the flat table and promote it.
		if _, err := evalClient.CreateGatePolicy(ctx, &leadscorev1.CreateGatePolicyRequest{PolicyId: "auc", GatePolicy: &leadscorev1.GatePolicy{
			Rules: []*leadscorev1.GateRule{{Metric: "roc_auc", MinValue: float(0.6)}},
		}}); err != nil {
			t.Fatal(err)
		}
		job := runJob(ctx, t, evalClient, &leadscorev1.EvaluationJob{
			Candidate: v.GetName(), GatePolicy: "gatePolicies/auc", Seed: 1,
			Data: &leadscorev1.DataSource{Source: &leadscorev1.DataSource_FlatTable{FlatTable: &leadscorev1.FlatTable{
				Path: "leads.csv", LabelColumn: "y", PositiveLabel: "yes", TimeColumn: "signed_up",
			}}},
		})
		e, err := evalClient.GetEvaluation(ctx, &leadscorev1.GetEvaluationRequest{Name: job.GetEvaluation()})
		if err != nil {
			t.Fatalf("get evaluation of %s: %v", job.GetName(), err)
		}
		if g := e.GetEvaluation().GetGate(); g.GetVerdict() != leadscorev1.GateVerdict_GATE_VERDICT_PASS {
			t.Fatalf("gate: got %v, want a pass (ROC AUC %.3f)", g, e.GetEvaluation().GetCandidateMetrics().GetRocAuc())
		}
		if _, err := registryClient.PromoteModelVersion(ctx, &leadscorev1.PromoteModelVersionRequest{Name: v.GetName()}); err != nil {
			t.Fatalf("promote the imported version: %v", err)
		}

		// Score through the champion, with factors per attribute.
		num := func(x float64) *leadscorev1.AttributeValue {
			return &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_NumberValue{NumberValue: x}}
		}
		str := func(s string) *leadscorev1.AttributeValue {
			return &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_StringValue{StringValue: s}}
		}
		lead := &leadscorev1.InlineLead{Attributes: map[string]*leadscorev1.AttributeValue{
			"visits": num(6), "revenue": num(250000), "score": num(1.2), "plan": str("enterprise"), "region": str("emea"), "source": str("event"),
		}}
		resp, err := leadscorev1.NewScoringServiceClient(conn).Score(ctx, &leadscorev1.ScoreRequest{
			Item:    &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: lead}},
			Options: &leadscorev1.ScoreOptions{Model: &leadscorev1.ModelSelector{Model: "models/xgb"}, Explain: true, MaxFactors: 10},
		})
		if err != nil {
			t.Fatalf("score: %v", err)
		}
		s := resp.GetScore()
		if s.GetModelVersion() != v.GetName() || s.GetAlias() != leadscore.AliasChampion || !(s.GetProbability() > 0 && s.GetProbability() < 1) {
			t.Errorf("score: got version %s alias %s probability %v, want %s through the champion", s.GetModelVersion(), s.GetAlias(), s.GetProbability(), v.GetName())
		}
		features := map[string]bool{}
		for _, f := range s.GetFactors() {
			features[f.GetFeature()] = true
		}
		// source is one-hot in the model (source_event, ...): its factor is
		// the attribute's, not a dummy's.
		for _, want := range []string{"attr.plan", "attr.source"} {
			if !features[want] {
				t.Errorf("factors: got %v, want one for %s", features, want)
			}
		}
		if len(resp.GetUnknownAttributes()) != 0 {
			t.Errorf("unknown attributes: got %v, want none", resp.GetUnknownAttributes())
		}
	})
}

// splitRows splits a CSV table after n rows, each part with the header.
func splitRows(t *testing.T, table []byte, n int) (first, rest []byte) {
	t.Helper()
	lines := strings.SplitAfter(string(table), "\n")
	if len(lines) < n+2 {
		t.Fatalf("the table has %d lines, fewer than %d rows", len(lines), n+1)
	}
	return []byte(strings.Join(lines[:n+1], "")), []byte(lines[0] + strings.Join(lines[n+1:], ""))
}

// dropColumn removes a column from a CSV table.
func dropColumn(t *testing.T, table []byte, column string) []byte {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(table)), "\n")
	drop := -1
	for i, h := range strings.Split(lines[0], ",") {
		if h == column {
			drop = i
		}
	}
	if drop < 0 {
		t.Fatalf("no column %s", column)
	}
	var out bytes.Buffer
	for _, line := range lines {
		cells := strings.Split(line, ",")
		out.WriteString(strings.Join(append(cells[:drop:drop], cells[drop+1:]...), ","))
		out.WriteByte('\n')
	}
	return out.Bytes()
}
