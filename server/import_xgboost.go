package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/model/xgbimport"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/trainer"
)

// convertXGBoost converts the XGBoost JSON model of an import request
// into a leadscore artifact, as `leadscore import-model` does.
func convertXGBoost(ctx context.Context, req *leadscorev1.ImportModelVersionRequest) ([]byte, error) {
	src := req.GetArtifact()
	if want := req.GetArtifactSha256(); want != "" {
		if got := fmt.Sprintf("%x", sha256.Sum256(src)); !strings.EqualFold(got, want) {
			return nil, leadscore.InvalidField("artifact_sha256", want, "does not match the model file's SHA-256 "+got)
		}
	}
	ref := req.GetReference()
	if len(ref.GetData()) == 0 || ref.GetLabel() == "" {
		return nil, leadscore.InvalidField("reference", "", "is required with an XGBoost model: a labelled table (data and label) fits the grid")
	}
	if n := len(ref.GetData()); n > MaxArtifactBytes {
		return nil, leadscore.InvalidField("reference.data", fmt.Sprintf("%d bytes", n), fmt.Sprintf("must be at most %d bytes (64 MiB)", MaxArtifactBytes))
	}
	table, err := dataset.ReadFlatTableFrom(ctx, bytes.NewReader(ref.GetData()), "reference.csv", dataset.FlatOptions{
		Label: ref.GetLabel(), PositiveLabels: ref.GetPositiveLabels(), TimeColumn: ref.GetTimeColumn(),
	})
	if err != nil {
		return nil, err
	}
	explicit := map[string]xgbimport.Input{}
	for i, fm := range req.GetFeatureMapping() {
		if fm.GetFeature() == "" || fm.GetAttribute() == "" {
			return nil, leadscore.InvalidField(fmt.Sprintf("feature_mapping[%d]", i), fm.GetFeature(), "needs a feature and an attribute")
		}
		in := xgbimport.Input{Attribute: fm.GetAttribute()}
		if fm.GetCategory() != "" {
			in.Encoding, in.Category = xgbimport.EncodingOneHot, fm.GetCategory()
		}
		explicit[fm.GetFeature()] = in
	}
	m, err := trainer.ImportXGBoost(ctx, bytes.NewReader(src), trainer.XGBoostImport{
		Limit: MaxArtifactBytes, Reference: table, Reading: table.Reading(), Mapping: explicit,
		SparseZeros: req.GetSparseZeros(), Calibration: req.GetCalibration(),
		DataStart: timeOf(req.GetDataWindowStart()), DataEnd: timeOf(req.GetDataWindowEnd()),
	})
	if err != nil {
		return nil, err
	}
	m.Metadata.Profile = table.Profile()
	return artifact.Marshal(m)
}

// timeOf is the time of a timestamp, zero when it is unset.
func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}
