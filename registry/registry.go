package registry

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/model"
)

// The limits of what callers may write into the registry.
const (
	// MaxDescription is the longest description of a model or version.
	MaxDescription = 4096
	// MaxReason is the longest reason given for an alias move.
	MaxReason = 2048
	// MaxTags is the most tags a version may carry.
	MaxTags = 64
	// MaxTagValue is the longest tag value.
	MaxTagValue = 256
	// MaxActor is the longest actor name.
	MaxActor = 256
)

// Registry applies leadscore's rules to a registry store.
type Registry struct {
	store leadscore.RegistryStore
	now   func() time.Time
}

// Option configures a Registry.
type Option func(*Registry)

// WithClock makes the registry read the time from now, for tests that need
// a known order of events.
func WithClock(now func() time.Time) Option { return func(r *Registry) { r.now = now } }

// New returns a registry over store.
func New(store leadscore.RegistryStore, opts ...Option) *Registry {
	r := &Registry{store: store, now: time.Now}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Store returns the registry's store, for reads that need no rules.
func (r *Registry) Store() leadscore.RegistryStore { return r.store }

func (r *Registry) clock() time.Time { return r.now().UTC().Truncate(time.Microsecond) }

// CreateModel creates a model named id.
func (r *Registry) CreateModel(ctx context.Context, id, description string) (leadscore.Model, error) {
	if err := leadscore.ValidateSlug("model_id", id); err != nil {
		return leadscore.Model{}, err
	}
	if err := checkText("description", description, MaxDescription); err != nil {
		return leadscore.Model{}, err
	}
	now := r.clock()
	return r.store.CreateModel(ctx, leadscore.Model{ID: id, Description: description, Revision: 1, CreatedAt: now, UpdatedAt: now})
}

// UpdateModelDescription changes a model's description; expectRevision, when
// not 0, is the revision the caller last read.
func (r *Registry) UpdateModelDescription(ctx context.Context, id string, expectRevision int64, description string) (leadscore.Model, error) {
	if err := checkText("description", description, MaxDescription); err != nil {
		return leadscore.Model{}, err
	}
	return r.store.UpdateModelDescription(ctx, id, expectRevision, description, r.clock())
}

// NewVersion is an artifact to register as a version.
type NewVersion struct {
	Model    string
	Artifact []byte
	// SHA256, when set, is the checksum the caller computed; bytes that do
	// not match it are refused.
	SHA256      string
	Description string
	Tags        map[string]string
	Actor       string
	TrainingJob string
	// Source says where a trained artifact's data came from and how it
	// was trained, for its lineage; zero for an imported artifact.
	Source    TrainingSource
	RequestID string
	// CreateModel creates the model when it does not exist yet.
	CreateModel bool
}

// RegisterVersion validates an artifact completely (framing, checksum,
// every parameter, as a serving process would load it) and registers it as
// the model's next version, with its lineage read from the artifact.
func (r *Registry) RegisterVersion(ctx context.Context, nv NewVersion) (leadscore.ModelVersion, *model.Model, error) {
	if err := leadscore.ValidateSlug("model", nv.Model); err != nil {
		return leadscore.ModelVersion{}, nil, err
	}
	if err := checkText("description", nv.Description, MaxDescription); err != nil {
		return leadscore.ModelVersion{}, nil, err
	}
	if err := checkTags(nv.Tags); err != nil {
		return leadscore.ModelVersion{}, nil, err
	}
	if err := checkActor(nv.Actor); err != nil {
		return leadscore.ModelVersion{}, nil, err
	}
	if nv.RequestID != "" {
		if err := leadscore.ValidateID("request_id", nv.RequestID); err != nil {
			return leadscore.ModelVersion{}, nil, err
		}
	}
	if len(nv.Artifact) == 0 {
		return leadscore.ModelVersion{}, nil, leadscore.InvalidField("artifact", "", "is required")
	}
	sum := artifact.SHA256(nv.Artifact)
	if nv.SHA256 != "" && !strings.EqualFold(nv.SHA256, sum) {
		return leadscore.ModelVersion{}, nil, leadscore.InvalidField("artifact_sha256", nv.SHA256, "does not match the artifact bytes, whose SHA-256 is "+sum)
	}
	m, err := artifact.Unmarshal(nv.Artifact)
	if err != nil {
		return leadscore.ModelVersion{}, nil, err
	}
	if nv.CreateModel {
		if _, err := r.store.GetModel(ctx, nv.Model); leadscore.ErrorCode(err) == leadscore.ENOTFOUND {
			if _, err := r.CreateModel(ctx, nv.Model, ""); err != nil && leadscore.ErrorCode(err) != leadscore.ECONFLICT {
				return leadscore.ModelVersion{}, nil, err
			}
		} else if err != nil {
			return leadscore.ModelVersion{}, nil, err
		}
	}
	v, err := r.store.CreateModelVersion(ctx, leadscore.NewModelVersion{
		Model:          nv.Model,
		Family:         string(m.Family),
		Artifact:       nv.Artifact,
		ArtifactSHA256: sum,
		Features:       Features(m),
		Lineage:        nv.Source.lineage(LineageOf(m, nv.TrainingJob)),
		Description:    nv.Description,
		Tags:           nv.Tags,
		CreatedBy:      nv.Actor,
		CreatedAt:      r.clock(),
		RequestID:      nv.RequestID,
	})
	if err != nil {
		return leadscore.ModelVersion{}, nil, err
	}
	return v, m, nil
}

// Features lists a model's features as the registry shows them.
func Features(m *model.Model) []leadscore.FeatureInfo {
	var out []leadscore.FeatureInfo
	for _, f := range m.Spec.Features() {
		out = append(out, leadscore.FeatureInfo{Name: f.Name, Kind: string(f.Kind), Group: string(f.Group)})
	}
	return out
}

// TrainingSource is what a version's lineage records of its training
// beyond the artifact's own metadata.
type TrainingSource struct {
	// Kind is "store_history", "history_files" or "flat_table".
	Kind string
	// Files are the files read, by the names the caller gave them.
	Files []DataFile
	// Options are the options as requested.
	Options map[string]string
}

func (s TrainingSource) lineage(l leadscore.Lineage) leadscore.Lineage {
	l.DataSource = s.Kind
	for _, f := range s.Files {
		if l.DataFiles == nil {
			l.DataFiles = map[string]string{}
		}
		l.DataFiles[f.Path] = f.SHA256
	}
	l.Options = maps.Clone(s.Options)
	return l
}

// LineageOf reads a version's lineage from its artifact's metadata.
func LineageOf(m *model.Model, trainingJob string) leadscore.Lineage {
	md := m.Metadata
	return leadscore.Lineage{
		TrainingJob:       trainingJob,
		DataStart:         md.DataStart.UTC(),
		DataEnd:           md.DataEnd.UTC(),
		DataSHA256:        md.DataSHA256,
		Parameters:        maps.Clone(md.Parameters),
		TrainerVersion:    md.TrainerVersion,
		Seed:              md.Seed,
		ValidationMetrics: maps.Clone(md.ValidationMetrics),
	}
}

// LoadVersion reads a version's artifact, checks its bytes against the
// stored checksum and loads it completely.
func (r *Registry) LoadVersion(ctx context.Context, ref leadscore.VersionRef) (*model.Model, string, error) {
	data, sum, err := r.store.ModelVersionArtifact(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	if got := artifact.SHA256(data); got != sum {
		return nil, "", leadscore.Errorf(leadscore.EINTERNAL, "%s: the stored artifact's SHA-256 is %s, not the registered %s", ref.Name(), got, sum)
	}
	m, err := artifact.Unmarshal(data)
	if err != nil {
		return nil, "", fmt.Errorf("load %s: %w", ref.Name(), err)
	}
	return m, sum, nil
}

// UpdateVersion changes a version's description and tags.
func (r *Registry) UpdateVersion(ctx context.Context, ref leadscore.VersionRef, u leadscore.VersionUpdate) (leadscore.ModelVersion, error) {
	if u.Description != nil {
		if err := checkText("description", *u.Description, MaxDescription); err != nil {
			return leadscore.ModelVersion{}, err
		}
	}
	if u.SetTags {
		if err := checkTags(u.Tags); err != nil {
			return leadscore.ModelVersion{}, err
		}
	}
	if u.State != nil && *u.State != leadscore.VersionActive && *u.State != leadscore.VersionArchived {
		return leadscore.ModelVersion{}, leadscore.InvalidField("state", *u.State, "must be active or archived")
	}
	return r.store.UpdateModelVersion(ctx, ref, u)
}

// SetVersionState archives or unarchives a version.
func (r *Registry) SetVersionState(ctx context.Context, ref leadscore.VersionRef, state leadscore.VersionState) (leadscore.ModelVersion, error) {
	return r.UpdateVersion(ctx, ref, leadscore.VersionUpdate{State: &state})
}

func checkText(field, s string, max int) error {
	if len(s) > max {
		return leadscore.InvalidField(field, fmt.Sprintf("%d bytes", len(s)), fmt.Sprintf("must be at most %d bytes", max))
	}
	if strings.ContainsRune(s, 0) || !utf8.ValidString(s) {
		return leadscore.InvalidField(field, s, "must be valid UTF-8 text without NUL characters")
	}
	return nil
}

func checkTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return leadscore.InvalidField("tags", len(tags), fmt.Sprintf("at most %d tags are allowed", MaxTags))
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if err := leadscore.ValidateKey("tags."+k, k); err != nil {
			return err
		}
		if err := checkText("tags."+k, tags[k], MaxTagValue); err != nil {
			return err
		}
	}
	return nil
}

func checkActor(actor string) error {
	if strings.TrimSpace(actor) == "" {
		return leadscore.InvalidField("actor", actor, "is required: every registry change records who made it")
	}
	return checkText("actor", actor, MaxActor)
}

// CheckDescription checks a version's description as registering it
// would, so that a request can be refused before work is done for it.
func CheckDescription(field, description string) error {
	return checkText(field, description, MaxDescription)
}
