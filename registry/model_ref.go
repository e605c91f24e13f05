package registry

import (
	"context"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// ResolvedModel is the model a reference names, loaded, with where it came
// from.
type ResolvedModel struct {
	// Name is how reports name the model: the version's resource name
	// ("models/default/versions/7"), or the artifact file's path.
	Name  string
	Model *model.Model
	// Version is the registered version; nil for an artifact file.
	Version *leadscore.ModelVersion
	// Alias is the alias the reference went through, such as "champion";
	// "" for a version or a file.
	Alias string
}

// LoadModel loads the model a reference names ("name@alias",
// "name/versions/N", "models/name/versions/N" or an artifact file) exactly
// as a backtest loads its candidate, so that every command reads a
// reference alike. A registry reference needs a store; field names the
// reference in errors.
func (r *Registry) LoadModel(ctx context.Context, field, ref string) (*ResolvedModel, error) {
	parsed, err := ParseReference(field, ref)
	if err != nil {
		return nil, err
	}
	res, err := r.resolveModel(ctx, field, ref)
	if err != nil {
		return nil, err
	}
	return &ResolvedModel{Name: res.name, Model: res.model, Version: res.version, Alias: parsed.Alias.Alias}, nil
}
