package server

import (
	"strconv"
	"strings"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
)

// Conversions between the registry's domain types and their messages.

// modelProto converts a model with its aliases.
func modelProto(m leadscore.Model, aliases []leadscore.Alias) *leadscorev1.Model {
	out := &leadscorev1.Model{
		Name:          leadscore.ModelName(m.ID),
		Description:   m.Description,
		LatestVersion: m.LatestVersion,
		CreateTime:    timestamp(m.CreatedAt),
		Etag:          leadscore.RevisionETag(m.Revision),
	}
	// The model's update time covers its aliases too, as the API says: a
	// promotion is a change of the model people care about.
	updated := m.UpdatedAt
	for _, a := range aliases {
		out.Aliases = append(out.Aliases, aliasProto(a))
		if a.UpdatedAt.After(updated) {
			updated = a.UpdatedAt
		}
	}
	out.UpdateTime = timestamp(updated)
	return out
}

// familyProto converts a model family name.
func familyProto(family string) leadscorev1.ModelFamily {
	switch model.Family(family) {
	case model.FamilyPoints:
		return leadscorev1.ModelFamily_MODEL_FAMILY_POINTS
	case model.FamilyLogistic:
		return leadscorev1.ModelFamily_MODEL_FAMILY_LOGISTIC
	case model.FamilyGBDT:
		return leadscorev1.ModelFamily_MODEL_FAMILY_GBDT
	}
	return leadscorev1.ModelFamily_MODEL_FAMILY_UNSPECIFIED
}

// versionStateProto converts a version state.
func versionStateProto(s leadscore.VersionState) leadscorev1.ModelVersionState {
	switch s {
	case leadscore.VersionActive:
		return leadscorev1.ModelVersionState_MODEL_VERSION_STATE_ACTIVE
	case leadscore.VersionArchived:
		return leadscorev1.ModelVersionState_MODEL_VERSION_STATE_ARCHIVED
	}
	return leadscorev1.ModelVersionState_MODEL_VERSION_STATE_UNSPECIFIED
}

// versionProto converts a version.
func versionProto(v leadscore.ModelVersion) *leadscorev1.ModelVersion {
	out := &leadscorev1.ModelVersion{
		Name:              v.Ref().Name(),
		Version:           v.Version,
		Family:            familyProto(v.Family),
		ArtifactSha256:    v.ArtifactSHA256,
		ArtifactSizeBytes: v.ArtifactSize,
		Lineage: &leadscorev1.Lineage{
			DataWindowStart: timestamp(v.Lineage.DataStart),
			DataWindowEnd:   timestamp(v.Lineage.DataEnd),
			DataSha256:      v.Lineage.DataSHA256,
			Parameters:      v.Lineage.Parameters,
			TrainerVersion:  v.Lineage.TrainerVersion,
			Seed:            v.Lineage.Seed,
			DataSource:      v.Lineage.DataSource,
			DataFiles:       v.Lineage.DataFiles,
			Options:         v.Lineage.Options,
		},
		ValidationMetrics: v.Lineage.ValidationMetrics,
		Description:       v.Description,
		Tags:              v.Tags,
		State:             versionStateProto(v.State),
		Creator:           v.CreatedBy,
		CreateTime:        timestamp(v.CreatedAt),
		Etag:              v.ETag(),
	}
	if job := v.Lineage.TrainingJob; job != "" {
		out.Lineage.TrainingJob = "trainingJobs/" + job
	}
	for _, f := range v.Features {
		out.Features = append(out.Features, &leadscorev1.FeatureInfo{Name: f.Name, Kind: f.Kind, Group: f.Group})
	}
	return out
}

// aliasProto converts an alias.
func aliasProto(a leadscore.Alias) *leadscorev1.Alias {
	return &leadscorev1.Alias{
		Name:            a.Ref().Name(),
		ModelVersion:    leadscore.VersionRef{Model: a.Model, Version: a.Version}.Name(),
		HistorySequence: a.Seq,
		UpdateTime:      timestamp(a.UpdatedAt),
		Etag:            leadscore.RevisionETag(a.Revision),
	}
}

// aliasKindProto converts the kind of an alias move.
func aliasKindProto(k leadscore.AliasChangeKind) leadscorev1.AliasChangeKind {
	switch k {
	case leadscore.AliasPromote:
		return leadscorev1.AliasChangeKind_ALIAS_CHANGE_KIND_PROMOTE
	case leadscore.AliasForce:
		return leadscorev1.AliasChangeKind_ALIAS_CHANGE_KIND_FORCE
	case leadscore.AliasRollback:
		return leadscorev1.AliasChangeKind_ALIAS_CHANGE_KIND_ROLLBACK
	case leadscore.AliasDelete:
		return leadscorev1.AliasChangeKind_ALIAS_CHANGE_KIND_DELETE
	}
	return leadscorev1.AliasChangeKind_ALIAS_CHANGE_KIND_UNSPECIFIED
}

// historyEntryProto converts an alias history entry.
func historyEntryProto(c leadscore.AliasChange) *leadscorev1.AliasHistoryEntry {
	ref := leadscore.AliasRef{Model: c.Model, Alias: c.Alias}
	out := &leadscorev1.AliasHistoryEntry{
		Name:       ref.Name() + "/history/" + strconv.FormatInt(c.Seq, 10),
		Sequence:   c.Seq,
		Kind:       aliasKindProto(c.Kind),
		Actor:      c.Actor,
		Reason:     c.Reason,
		RequestId:  c.RequestID,
		CreateTime: timestamp(c.CreatedAt),
	}
	if c.FromVersion != 0 {
		out.FromModelVersion = leadscore.VersionRef{Model: c.Model, Version: c.FromVersion}.Name()
	}
	if c.ToVersion != 0 {
		out.ToModelVersion = leadscore.VersionRef{Model: c.Model, Version: c.ToVersion}.Name()
	}
	if c.Evaluation != "" {
		out.Evaluation = evaluationName(c.Evaluation)
	}
	return out
}

// evaluationName returns "evaluations/{id}".
func evaluationName(id string) string { return "evaluations/" + id }

// parseEvaluationName reads "evaluations/{id}".
func parseEvaluationName(field, name string) (string, error) {
	id, ok := strings.CutPrefix(name, "evaluations/")
	if !ok || strings.Contains(id, "/") {
		return "", leadscore.InvalidField(field, name, "must have the form evaluations/{evaluation_id}")
	}
	if err := leadscore.ValidateID(field, id); err != nil {
		return "", err
	}
	return id, nil
}
